//! Every command, written once: its words, usage, arguments, which flags it takes with what
//! description, and its help's prose. The parser, `--help` and the completion scripts are all
//! made from this table, so a flag a command does not take is never offered for it.

use crate::cli::flags::Completes;
use crate::cli::flags::Opt;
use crate::cli::flags::SHELLS;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Name {
    Run,
    Init,
    Plan,
    List,
    Status,
    Report,
    Logs,
    Resume,
    Merge,
    Clean,
    MergeResults,
    Pr,
    Help,
    Completions,
}

/// A flag a command takes, and what it means there.
#[derive(Debug)]
pub struct Takes {
    pub opt: Opt,
    pub about: &'static str,
}

/// A positional argument: its name in the help, what it is, what completes it.
#[derive(Debug)]
pub struct Argument {
    pub name: &'static str,
    pub about: &'static str,
    pub completes: Completes,
}

/// Flags of another command that this one refuses by name, and why.
#[derive(Debug)]
pub struct Refused {
    pub opts: &'static [Opt],
    pub hint: &'static str,
}

#[derive(Debug)]
pub struct Spec {
    pub name: Name,
    pub word: &'static str,
    /// The lines `porch --help` lists this command with: usage, then what it does.
    pub overview: &'static [(&'static str, &'static str)],
    /// The help's first paragraph.
    pub about: &'static str,
    pub usage: &'static [&'static str],
    /// In order; the last one repeats when its name ends in `...`.
    pub arguments: &'static [Argument],
    /// The flags, in groups that commands share, in the order the help lists them.
    pub flags: &'static [&'static [Takes]],
    pub refused: Option<Refused>,
    /// The help's paragraphs after the options.
    pub notes: &'static [&'static str],
}

impl Spec {
    pub fn takes(&self) -> impl Iterator<Item = &'static Takes> + use<> {
        let groups: &'static [&'static [Takes]] = self.flags;
        groups.iter().flat_map(|group| group.iter())
    }

    /// `usage: …`, the hint of an error in the command's arguments.
    pub fn usage_hint(&self) -> String {
        format!("usage: {}", self.usage[0])
    }

    /// The hint of a flag the command does not know.
    pub fn options_hint(&self) -> String {
        format!("see `porch {} --help`", self.word)
    }
}

pub fn spec(name: Name) -> &'static Spec {
    COMMANDS
        .iter()
        .find(|s| s.name == name)
        .expect("every command is in the table")
}

pub fn find(word: &str) -> Option<&'static Spec> {
    COMMANDS.iter().find(|s| s.word == word)
}

/// `porch help`'s topics besides the commands.
pub const TOPICS: [&str; 1] = ["tasks"];

/// The hint of an unknown command: `the commands are run, init, … and help`.
pub fn commands_hint() -> String {
    let words: Vec<&str> = COMMANDS.iter().map(|s| s.word).collect();
    format!("the commands are {}", listed(&words, "and"))
}

/// `a, b and c` (`last` is `and` or `or`).
pub fn listed<S: AsRef<str>>(words: &[S], last: &str) -> String {
    match words {
        [] => String::new(),
        [only] => only.as_ref().to_string(),
        [rest @ .., end] => {
            let rest: Vec<&str> = rest.iter().map(AsRef::as_ref).collect();
            format!("{} {last} {}", rest.join(", "), end.as_ref())
        }
    }
}

const HELP: Takes = Takes {
    opt: Opt::Help,
    about: "show this help",
};
const REPO: Takes = Takes {
    opt: Opt::Repo,
    about: "the same as the REPO argument",
};
const ONLY_HELP: &[Takes] = &[HELP];

/// `porch`'s own flags, before a command.
pub const TOP_FLAGS: &[Takes] = &[
    HELP,
    Takes {
        opt: Opt::Version,
        about: "show porch's version",
    },
];

const REPO_ARGUMENT: Argument = Argument {
    name: "REPO",
    about: "any directory inside the git work tree [default: .]",
    completes: Completes::Directories,
};

/// What a run is given besides its settings.
const RUN_INPUT: &[Takes] = &[
    Takes {
        opt: Opt::Tasks,
        about: "the same as the TASKS argument",
    },
    REPO,
    Takes {
        opt: Opt::WorktreeDir,
        about: "where worktrees go, as DIR/<repo name>/<task name>\n[default: ~/worktrees]",
    },
];

/// What `porch run` and `porch resume` both take: how the sessions run.
const RUN_SETTINGS: &[Takes] = &[
    Takes {
        opt: Opt::PermissionMode,
        about: "claude's permission mode: acceptEdits, auto, bypassPermissions,\n\
                default, dontAsk or plan [default: acceptEdits]",
    },
    Takes {
        opt: Opt::Cleanup,
        about: "remove each worktree once its work is committed (the branch stays)",
    },
    Takes {
        opt: Opt::Output,
        about: "write the results JSON to FILE (never a file git tracks)\n\
                [default: a file per run in DIR/<repo name>/.porch/runs/,\n\
                linked as .porch/results.json]",
    },
    Takes {
        opt: Opt::Junit,
        about: "also write a JUnit XML report to FILE at the end: a testcase\n\
                per task, failures with their reason and the log's last lines",
    },
    Takes {
        opt: Opt::Report,
        about: "also write the run's HTML report to FILE at the end (as porch\n\
                report writes it: timeline, tasks, conflicts, logs' last lines)",
    },
    Takes {
        opt: Opt::Claude,
        about: "the agent executable [default: claude on PATH]",
    },
    Takes {
        opt: Opt::Color,
        about: "auto, always or never [default: auto; NO_COLOR turns it off]",
    },
    Takes {
        opt: Opt::Quiet,
        about: "print only the summary (and errors), not the sessions' lines",
    },
    Takes {
        opt: Opt::Json,
        about: "print only the results JSON on stdout, when the run ends\n\
                (porch's notes go to stderr)",
    },
    Takes {
        opt: Opt::Events,
        about: "print JSON Lines on stdout: each line, tool call and task start\n\
                and end as it happens (see README: Output for scripts)",
    },
    Takes {
        opt: Opt::Jobs,
        about: "run at most N sessions at once; the rest wait in file order\n\
                [default: all tasks, capped at ~300 MB of available memory each]",
    },
    Takes {
        opt: Opt::Stagger,
        about: "pause between session starts, e.g. 2s [default: none]",
    },
    Takes {
        opt: Opt::Timeout,
        about: "end a session that runs longer: status timed_out (a task's\n\
                \"timeout\" field overrides it) [default: none]",
    },
    Takes {
        opt: Opt::IdleTimeout,
        about: "end a session that prints nothing for that long: timed_out",
    },
    Takes {
        opt: Opt::KeepLeftovers,
        about: "leave processes a session started running after it exits\n\
                (by default porch ends them and reports how many)",
    },
    Takes {
        opt: Opt::Retries,
        about: "start a session again, from a clean worktree, when it failed\n\
                with a transient API error (429, 5xx, overloaded, unreachable)\n\
                [default: 0]; what a failed attempt wrote is kept under\n\
                refs/porch/attempts/NAME/N. A reviewer too, as many times",
    },
    Takes {
        opt: Opt::RetryBackoff,
        about: "pause before the first retry, doubled for each next one\n[default: 10s]",
    },
    Takes {
        opt: Opt::MaxCostUsd,
        about: "the run's budget in dollars: each session (every attempt) gets\n\
                what is left as claude's --max-budget-usd; once it is spent, no\n\
                session or retry starts and the tasks not started are skipped",
    },
    Takes {
        opt: Opt::MaxFail,
        about: "once N tasks have failed or timed out, start nothing new: the\n\
                tasks not started are skipped, the running ones finish (a\n\
                repeated task counts once, when none of its attempts succeeded)",
    },
    Takes {
        opt: Opt::FailFast,
        about: "the same as --max-fail 1",
    },
    Takes {
        opt: Opt::MaxWait,
        about: "when a subscription's usage window (five-hour, weekly) refuses\n\
                sessions, wait for its reset at most this long, else skip the\n\
                tasks not done [default: 6h, one five-hour window]",
    },
    Takes {
        opt: Opt::BranchTemplate,
        about: "each task's branch, from {name}, {run}, {date}, {time};\n\
                e.g. 'nightly/{date}/{name}' [default: the tasks file's\n\
                branch_template, else task/{name}]",
    },
    Takes {
        opt: Opt::PortBase,
        about: "task N's block of 10 ports starts at this + 10 x N, given as\n\
                PORCH_PORT [default: 40000]",
    },
    Takes {
        opt: Opt::Push,
        about: "push each task's branch to REMOTE (a remote, URL or path) once\n\
                its work is committed; a failed push is reported, exit code 1",
    },
];

/// A run only shown, not made.
const RUN_PREVIEW: &[Takes] = &[Takes {
    opt: Opt::DryRun,
    about: "check what a run checks, then print the plan (tasks in start\n\
            order, branches, worktrees, settings, -j and why, hooks, --pr)\n\
            and create nothing; with --json, as one JSON document. Exit 0 or 2",
}];

/// Which tasks of the file a run runs.
const RUN_SELECTION: &[Takes] = &[
    Takes {
        opt: Opt::Only,
        about: "run only these tasks of the file (a repeated task's name\n\
                means all its attempts)",
    },
    Takes {
        opt: Opt::Skip,
        about: "run every task of the file but these",
    },
    Takes {
        opt: Opt::Shard,
        about: "run only the K-th of N disjoint slices of the tasks file, the\n\
                same on every machine (a task and its depends_on stay together)",
    },
];

const THE_RUN: &str = "the run: an id from .porch/runs/, or a results file's path\n\
                       [default: the run started last]";
const RUNS_WORKTREE_DIR: Takes = Takes {
    opt: Opt::WorktreeDir,
    about: "the --worktree-dir the run was given [default: ~/worktrees]",
};
/// REPO, `--run` and `--worktree-dir`: which stored run a command reads.
const THE_RUN_CHOICE: &[Takes] = &[
    REPO,
    Takes {
        opt: Opt::Run,
        about: THE_RUN,
    },
    RUNS_WORKTREE_DIR,
];

const EXIT_CODES: &str = "\
Exit codes: 0 every task succeeded; 1 a task failed, timed out or was skipped, or the results
file could not be written; 2 bad usage or configuration (nothing was created); 130, 143, 129
stopped by SIGINT, SIGTERM, SIGHUP (results written).";

pub const COMMANDS: &[Spec] = &[
    Spec {
        name: Name::Run,
        word: "run",
        overview: &[(
            "porch run [OPTIONS] TASKS [REPO]",
            "run every task of TASKS (a JSON file, or - for stdin)",
        )],
        about: "porch run: start one claude session per task, each in its own worktree on branch task/NAME",
        usage: &[
            "porch run [OPTIONS] TASKS [REPO]",
            "porch run [OPTIONS] --tasks TASKS --repo REPO",
        ],
        arguments: &[
            Argument {
                name: "TASKS",
                about: "the tasks file (JSON), or - to read it from standard input",
                completes: Completes::Files,
            },
            Argument {
                about: "any directory inside the git work tree to run against [default: .]",
                ..REPO_ARGUMENT
            },
        ],
        flags: &[
            RUN_INPUT,
            RUN_SETTINGS,
            WHEN_DONE,
            RUN_SELECTION,
            RUN_PREVIEW,
            ONLY_HELP,
        ],
        refused: None,
        notes: &[TASKS_FILE_NOTE, SIGNALS_NOTE, EXIT_CODES],
    },
    Spec {
        name: Name::Init,
        word: "init",
        overview: &[(
            "porch init [FILE]",
            "write a sample tasks file (default tasks.json)",
        )],
        about: "porch init: write a sample tasks file to start from",
        usage: &["porch init [OPTIONS] [FILE]"],
        arguments: &[Argument {
            name: "FILE",
            about: "where to write it [default: tasks.json]",
            completes: Completes::Files,
        }],
        flags: &[
            &[Takes {
                opt: Opt::Overwrite,
                about: "overwrite FILE if it exists",
            }],
            ONLY_HELP,
        ],
        refused: None,
        notes: &[],
    },
    PLAN,
    Spec {
        name: Name::List,
        word: "list",
        overview: &[(
            "porch list [REPO]",
            "show the repository's worktrees, porch's marked",
        )],
        about: "porch list: show the repository's worktrees; porch's (branch task/NAME) are marked with their\n\
                task name and whether they hold uncommitted changes",
        usage: &["porch list [REPO]", "porch list --repo REPO"],
        arguments: &[REPO_ARGUMENT],
        flags: &[&[REPO], ONLY_HELP],
        refused: None,
        notes: &[],
    },
    Spec {
        name: Name::Status,
        word: "status",
        overview: &[(
            "porch status [REPO]",
            "what the latest run left: statuses, branches, worktrees",
        )],
        about: "porch status: what a run left: each task's status, branch, commits and files against its\n\
                base, check, whether its worktree is still there and clean, and how to continue its session",
        usage: &["porch status [OPTIONS] [REPO]"],
        arguments: &[REPO_ARGUMENT],
        flags: &[
            &[
                REPO,
                Takes {
                    opt: Opt::Run,
                    about: "the run to show: an id from .porch/runs/, or a results file's path\n\
                            [default: the run started last]",
                },
                RUNS_WORKTREE_DIR,
                Takes {
                    opt: Opt::Json,
                    about: "print the run's results file as stored",
                },
            ],
            ONLY_HELP,
        ],
        refused: None,
        notes: &[],
    },
    Spec {
        name: Name::Report,
        word: "report",
        overview: &[(
            "porch report [REPO]",
            "a run as one HTML page: timeline, tasks, conflicts, logs",
        )],
        about: "porch report: a run as one self-contained HTML page (no script, no external file): its\n\
                header, a timeline of every task's sessions, the tasks' table, the conflicts, and each\n\
                task's diff stat and last log lines",
        usage: &["porch report [OPTIONS] [REPO]"],
        arguments: &[REPO_ARGUMENT],
        flags: &[
            THE_RUN_CHOICE,
            &[Takes {
                opt: Opt::Output,
                about: "write the page to FILE instead of standard output",
            }],
            ONLY_HELP,
        ],
        refused: None,
        notes: &[],
    },
    Spec {
        name: Name::Logs,
        word: "logs",
        overview: &[(
            "porch logs TASK [REPO]",
            "a task's whole session output (--raw, --follow)",
        )],
        about: "porch logs: a task's whole session output, rendered as it was on screen",
        usage: &["porch logs [OPTIONS] TASK [REPO]"],
        arguments: &[
            Argument {
                name: "TASK",
                about: "the task's name",
                completes: Completes::Tasks,
            },
            REPO_ARGUMENT,
        ],
        flags: &[
            THE_RUN_CHOICE,
            &[
                Takes {
                    opt: Opt::Raw,
                    about: "the log byte for byte, as claude printed it (stream-json; stderr\n\
                            lines marked [stderr], porch's notes [porch])",
                },
                Takes {
                    opt: Opt::Follow,
                    about: "keep printing while the task runs; stop when it has finished",
                },
            ],
            ONLY_HELP,
        ],
        refused: None,
        notes: &[],
    },
    Spec {
        name: Name::Resume,
        word: "resume",
        overview: &[(
            "porch resume [REPO]",
            "run again what the latest run did not finish",
        )],
        about: "porch resume: run again the tasks of a run that did not succeed, from the tasks as that run\n\
                stored them, each in its existing worktree and branch, continuing its claude session (claude\n\
                --resume) where it had one. Succeeded tasks are not touched. The new run's results hold every\n\
                task: the resumed ones' new outcomes, the others' as they were.",
        usage: &["porch resume [OPTIONS] [REPO]"],
        arguments: &[REPO_ARGUMENT],
        flags: &[
            &[
                REPO,
                Takes {
                    opt: Opt::Run,
                    about: "the run to resume: an id from .porch/runs/, or a results file's path\n\
                            [default: the run started last]",
                },
                RUNS_WORKTREE_DIR,
            ],
            RUN_SETTINGS,
            RUN_PREVIEW,
            WHEN_DONE,
            RECORDED_OFF,
            ONLY_HELP,
        ],
        refused: Some(Refused {
            opts: &[Opt::Only, Opt::Skip, Opt::Shard],
            hint: "it runs again every task of the run that did not succeed",
        }),
        notes: &[
            "The run's settings are the defaults: a run records its agent and the settings above, but for\n\
--worktree-dir (it finds the run), --branch-template (its branches stay), --color, --quiet, --json,\n\
--events, -o, --junit, --report and a --push URL with a password. Each given here, or its PORCH_*\n\
variable, wins over the record. A switch, a push or a hook the run was given stays, unless
turned off by its --no-… flag.",
            "Exit codes: as `porch run`: 0 every task succeeded; 1 one did not; 2 bad usage (nothing run).",
        ],
    },
    Spec {
        name: Name::Merge,
        word: "merge",
        overview: &[(
            "porch merge [REPO] [TASK...]",
            "merge the run's succeeded branches into porch/merge/RUN",
        )],
        about: "porch merge: merge a run's succeeded branches into one branch, dependencies before their\n\
                dependants, then in tasks-file order, each with a merge commit naming its task; of a repeated\n\
                task only the winner. Works in a worktree of its own: your checkout is not touched. A branch\n\
                that conflicts is skipped (its files named), or with --resolve handed to a claude session;\n\
                with a check, a branch whose merge makes it fail is backed out. The others go on.",
        usage: &["porch merge [OPTIONS] [REPO] [TASK...]"],
        arguments: &[
            Argument {
                completes: Completes::RepoOrTask,
                ..REPO_ARGUMENT
            },
            Argument {
                name: "TASK...",
                about: "merge only these tasks (a repeated task's name means its winner) [default: all\n\
                        that succeeded]",
                completes: Completes::Tasks,
            },
        ],
        flags: &[
            THE_RUN_CHOICE,
            &[Takes {
                opt: Opt::Into,
                about: "merge into this existing branch, which must not be checked out\n\
                            anywhere with uncommitted changes [default: a new branch\n\
                            porch/merge/RUN made from the base]",
            }],
            &[
                Takes {
                    opt: Opt::Check,
                    about: "run CMD with sh -c in the merge worktree on the start, then\n\
                            after each merge; a branch whose merge makes it fail is backed\n\
                            out; failing on the start, nothing is merged [default: the\n\
                            tasks file's merge_check]",
                },
                Takes {
                    opt: Opt::Resolve,
                    about: "give a branch that conflicts to a claude session, shown both\n\
                            tasks' prompts; merged if no conflict is left and the check passes",
                },
                Takes {
                    opt: Opt::Json,
                    about: "print what happened as JSON on stdout: merged, resolved,\n\
                            skipped, backed_out",
                },
                Takes {
                    opt: Opt::Timeout,
                    about: "end a check or a resolver session that runs longer [default:\n\
                            10m for a check, none for a session]",
                },
                Takes {
                    opt: Opt::MaxCostUsd,
                    about: "what the resolver sessions may spend together; each gets what\n\
                            is left as claude's --max-budget-usd",
                },
                Takes {
                    opt: Opt::Claude,
                    about: "the resolver's executable [default: the run's, else claude on PATH]",
                },
                Takes {
                    opt: Opt::PermissionMode,
                    about: "the resolver's permission mode: acceptEdits, auto or\n\
                            bypassPermissions [default: the merged task's permission_mode\n\
                            when it can edit, else the run's when it can, else acceptEdits]",
                },
            ],
            ONLY_HELP,
        ],
        refused: None,
        notes: &[
            "The merge is recorded with the run: `porch status` shows what was merged, resolved, skipped\n\
and backed out.",
            "Exit codes: 0 every branch merged; 1 a branch was skipped or backed out, or the check failed\n\
on the start (nothing merged); 2 bad usage, nothing merged.",
        ],
    },
    PR,
    Spec {
        name: Name::Clean,
        word: "clean",
        overview: &[(
            "porch clean [REPO]",
            "remove the run's worktrees (--branches: and branches)",
        )],
        about: "porch clean: remove the worktrees porch made for a run, and with --branches their branches",
        usage: &["porch clean [OPTIONS] [REPO]"],
        arguments: &[REPO_ARGUMENT],
        flags: &[CLEAN_FLAGS, ONLY_HELP],
        refused: None,
        notes: &[CLEAN_NOTE],
    },
    Spec {
        name: Name::MergeResults,
        word: "merge-results",
        overview: &[(
            "porch merge-results A.json B.json",
            "join shards' results (run --shard K/N) into one",
        )],
        about: "porch merge-results: join the results files of shards of one tasks file (porch run --shard\n\
                K/N on many machines) into one results object, with one summary",
        usage: &["porch merge-results [OPTIONS] RESULTS.json..."],
        arguments: &[Argument {
            name: "RESULTS.json...",
            about: "results files written by porch run (-o FILE, or .porch/runs/ID.json)",
            completes: Completes::Files,
        }],
        flags: &[
            &[
                Takes {
                    opt: Opt::Output,
                    about: "write the merged results to FILE instead of standard output",
                },
                Takes {
                    opt: Opt::AllowMissing,
                    about: "merge without the shards of K/N that no file holds, with a warning\n\
                            [default: a missing shard is exit 1]",
                },
            ],
            ONLY_HELP,
        ],
        refused: None,
        notes: MERGE_RESULTS_NOTES,
    },
    Spec {
        name: Name::Completions,
        word: "completions",
        overview: &[(
            "porch completions SHELL",
            "print a completion script for bash, zsh or fish",
        )],
        about: "porch completions: print a shell completion script for porch's commands, flags and values",
        usage: &["porch completions bash|zsh|fish"],
        arguments: &[Argument {
            name: "SHELL",
            about: "bash, zsh or fish",
            completes: Completes::Words(&SHELLS),
        }],
        flags: &[ONLY_HELP],
        refused: None,
        notes: &[COMPLETIONS_NOTE],
    },
    Spec {
        name: Name::Help,
        word: "help",
        overview: &[
            ("porch help [COMMAND]", "show help for a command"),
            (
                "porch help tasks",
                "the tasks file: every field, defaults, branch templates",
            ),
        ],
        about: "",
        usage: &["porch help [COMMAND]"],
        arguments: &[Argument {
            name: "COMMAND",
            about: "a command, or tasks",
            completes: Completes::Topics,
        }],
        flags: &[ONLY_HELP],
        refused: None,
        notes: &[],
    },
];

/// `porch resume`'s flags that turn off what the run recorded and no value given takes back.
const RECORDED_OFF: &[Takes] = &[
    Takes {
        opt: Opt::NoCleanup,
        about: "keep the worktrees, though the run was given --cleanup",
    },
    Takes {
        opt: Opt::NoKeepLeftovers,
        about: "end the processes a session leaves, though the run was given\n\
                --keep-leftovers",
    },
    Takes {
        opt: Opt::NoPush,
        about: "push nothing, though the run was given --push",
    },
    Takes {
        opt: Opt::NoPr,
        about: "open no pull requests, though the run was given --pr",
    },
    Takes {
        opt: Opt::NoOnFinish,
        about: "run no --on-finish hook: neither the run's nor its tasks file's\n\
                on_finish, nor in a resume of this resume",
    },
    Takes {
        opt: Opt::NoOnTaskFinish,
        about: "run no --on-task-finish hook: neither the run's nor its tasks\n\
                file's on_task_finish, nor in a resume of this resume",
    },
];

/// What `porch run` and `porch resume` do when they are done: pull requests, hooks.
const WHEN_DONE: &[Takes] = &[
    Takes {
        opt: Opt::Pr,
        about: "at the end, push each succeeded task's branch and open a draft pull\n\
                request for it with gh (as `porch pr` does)",
    },
    Takes {
        opt: Opt::Remote,
        about: "the remote --pr pushes to [default: origin]",
    },
    Takes {
        opt: Opt::OnFinish,
        about: "run CMD (with sh -c) once the run has ended, also after Ctrl-C, with\n\
                PORCH_RESULTS, PORCH_EXIT_CODE, PORCH_RUN_ID and PORCH_SUMMARY\n\
                [default: the tasks file's on_finish]",
    },
    Takes {
        opt: Opt::OnTaskFinish,
        about: "run CMD (with sh -c) as each task ends, with PORCH_TASK,\n\
                PORCH_TASK_STATUS, PORCH_BRANCH and PORCH_RESULTS\n\
                [default: the tasks file's on_task_finish]",
    },
];

const PR: Spec = Spec {
    name: Name::Pr,
    word: "pr",
    overview: &[(
        "porch pr [REPO] [TASK...]",
        "push succeeded branches, open a draft pull request each",
    )],
    about: "porch pr: push each succeeded task's branch (of a repeated task, the winner's) and open a pull\n\
            request for it with the GitHub CLI (gh), a draft unless --ready; a branch that has one gets\n\
            it updated instead. A task that depends on one other is based on that task's branch.",
    usage: &["porch pr [OPTIONS] [REPO] [TASK...]"],
    arguments: &[
        Argument {
            completes: Completes::RepoOrTask,
            ..REPO_ARGUMENT
        },
        Argument {
            name: "TASK...",
            about: "only these tasks (a repeated task's name means its winner) [default: all\n\
                    that succeeded]",
            completes: Completes::Tasks,
        },
    ],
    flags: &[
        THE_RUN_CHOICE,
        &[
            Takes {
                opt: Opt::Remote,
                about: "the remote to push to, where gh finds the pull requests [default: origin]",
            },
            Takes {
                opt: Opt::Draft,
                about: "open draft pull requests (the default)",
            },
            Takes {
                opt: Opt::Ready,
                about: "open pull requests ready for review, and mark drafts already\n\
                        open ready (gh pr ready)",
            },
            Takes {
                opt: Opt::Base,
                about: "the base of a task without dependencies [default: its base branch]",
            },
        ],
        ONLY_HELP,
    ],
    refused: None,
    notes: &[
        "gh is found on PATH, or as PORCH_GH; it must be logged in (`gh auth status`). Values of a\n\
task's env never reach a pull request.",
        "Exit codes: 0 every pull request was opened or updated; 1 one was not (push or gh failed);\n\
2 bad usage, nothing done.",
    ],
};

const PLAN: Spec = Spec {
    name: Name::Plan,
    word: "plan",
    overview: &[(
        "porch plan GOAL [REPO]",
        "split a goal into tasks: claude writes tasks.json",
    )],
    about: "porch plan: split a goal into tasks and write the tasks file, from one claude session that\n\
            reads the repository and can change nothing",
    usage: &[
        "porch plan [OPTIONS] GOAL [REPO]",
        "porch plan [OPTIONS] --goal-file FILE [REPO]",
    ],
    arguments: &[
        Argument {
            name: "GOAL",
            about: "what the tasks should achieve, sent to the session as it is; - reads it\n\
                    from standard input",
            completes: Completes::Nothing,
        },
        Argument {
            about: "any directory inside the git work tree to plan for [default: .]",
            ..REPO_ARGUMENT
        },
    ],
    flags: &[
        &[
            Takes {
                opt: Opt::GoalFile,
                about: "read the goal from FILE (- for standard input) instead of GOAL",
            },
            Takes {
                opt: Opt::Output,
                about: "the tasks file to write [default: tasks.json]",
            },
            Takes {
                opt: Opt::Force,
                about: "replace FILE if it exists",
            },
            Takes {
                opt: Opt::MaxTasks,
                about: "the most tasks the plan may have, 1 to 30 [default: 8]",
            },
            Takes {
                opt: Opt::Model,
                about: "claude's --model for the planning session",
            },
            Takes {
                opt: Opt::Timeout,
                about: "end the planning session when it and a sent-back correction\n\
                        have run this long together: nothing is written [default: 20m]",
            },
            Takes {
                opt: Opt::MaxCostUsd,
                about: "what the planning sessions may spend together, in dollars: the\n\
                        first gets it as claude's --max-budget-usd, a correction what is\n\
                        left [default: no limit]",
            },
            Takes {
                opt: Opt::MaxWait,
                about: "when a subscription's usage window refuses the session, wait for\n\
                        its reset at most this long, then ask again; else exit 1, saying\n\
                        when it resets [default: 6h]",
            },
            Takes {
                opt: Opt::Claude,
                about: "the agent executable [default: claude on PATH]",
            },
        ],
        ONLY_HELP,
    ],
    refused: None,
    notes: &[PLAN_NOTE, PLAN_REVIEW_NOTE, PLAN_EXIT_CODES],
};

const PLAN_NOTE: &str = "\
The session runs in a detached worktree of REPO's HEAD in the temporary directory, removed
afterwards: REPO keeps no branch, worktree or file of it. It may only read and search that
worktree (Read, Grep, Glob; nothing outside it), and answers through claude's --json-schema
with a tasks file that gives each task only name, description, prompt, depends_on and check.
porch checks the plan as `porch run` checks a tasks file; a plan it refuses is sent back once,
in the same session, with the reason. FILE is written only for a plan porch accepts.";

const PLAN_REVIEW_NOTE: &str = "\
A plan is model output shaped by what the repository says, and `porch run` runs each task's
check: porch prints every command the plan runs. Read them, and the prompts, before the run.";

const PLAN_EXIT_CODES: &str = "\
Exit codes: 0 the tasks file was written; 1 the session failed, timed out, ran out of budget,
its plan stayed invalid, or a usage window resets later than --max-wait (nothing written);
2 bad usage: no goal, an empty one, REPO not a repository, FILE exists; 130, 143, 129 stopped
by SIGINT, SIGTERM, SIGHUP (nothing written).";

const CLEAN_FLAGS: &[Takes] = &[
    REPO,
    Takes {
        opt: Opt::Run,
        about: "the run to clean [default: the run started last]",
    },
    Takes {
        opt: Opt::All,
        about: "every stored run",
    },
    Takes {
        opt: Opt::WorktreeDir,
        about: "the --worktree-dir the runs were given [default: ~/worktrees]",
    },
    Takes {
        opt: Opt::Branches,
        about: "also delete the task branches, the attempts --retries saved, and\n\
                a merged base a killed run left (refs/porch/bases/)",
    },
    Takes {
        opt: Opt::DryRun,
        about: "only say what would be removed and what kept",
    },
    Takes {
        opt: Opt::Force,
        about: "remove worktrees with uncommitted changes and delete branches whose\n\
                commits are on no base branch or porch/merge/ branch",
    },
    Takes {
        opt: Opt::KeepRuns,
        about: "keep the newest N results files under .porch/runs/ [default: 50]",
    },
];

const CLEAN_NOTE: &str = "\
Without --force, a worktree with uncommitted changes or with ignored files a session wrote
(a .env.local), and a branch holding commits that are not merged into its base branch or a
porch/merge/ branch are kept, and porch says so, naming them.";

const TASKS_FILE_NOTE: &str = "\
Tasks file:
  {\"defaults\": {\"model\": \"sonnet\"},
   \"tasks\": [{\"name\": \"add-auth\", \"prompt\": \"Add login to the API\",
              \"allowed_tools\": [\"Read\", \"Edit\"], \"setup\": [\"npm\", \"ci\"]}]}
  name and prompt (or prompt_file) are required. `porch help tasks` describes every field;
  `porch init` writes an example to start from. Durations are written 90s, 10m, 1h30m, 500ms.";

const SIGNALS_NOTE: &str = "\
Signals:
  SIGINT (Ctrl-C), SIGTERM, SIGHUP: no new sessions start; running ones are ended (SIGTERM,
  then SIGKILL after a grace period), their work is committed, the results are written with
  status interrupted (skipped for tasks never started), and porch exits 130, 143 or 129.
  A second Ctrl-C ends the sessions at once.";

const MERGE_RESULTS_NOTES: &[&str] = &[
    "The merged results go to standard output (or FILE), the summary to standard error. Refused,
naming the files: results of different tasks files (tasks_file_hash) or schema versions, a
task in two files, a file that cannot be read.",
    "Exit codes: 0 every task succeeded (and every --push); 1 one did not, or a shard is missing
(without --allow-missing; the merge is written all the same); 2 refused, nothing written.",
];

const COMPLETIONS_NOTE: &str = "\
Install:
  bash   porch completions bash > ~/.local/share/bash-completion/completions/porch
         (or add `source <(porch completions bash)` to ~/.bashrc)
  zsh    porch completions zsh > ~/.zfunc/_porch, with fpath=(~/.zfunc $fpath) before
         compinit in ~/.zshrc
  fish   porch completions fish > ~/.config/fish/completions/porch.fish";

/// `porch --help`'s text around the list of commands and porch's own flags.
pub const MAIN_ABOUT: &str = "porch: run many headless Claude Code sessions in parallel, one git worktree and branch per task";

pub const MAIN_NOTES: &[&str] = &[
    EXIT_CODES,
    "Run `porch help run` for the options of `run`, `porch help tasks` for the tasks file, and
`porch help COMMAND` for any other command.",
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::flags::flag;

    /// A command reads a spelling as one flag: no two of its flags share one.
    #[test]
    fn no_command_takes_two_flags_spelled_alike() {
        for spec in COMMANDS {
            let mut seen: Vec<String> = Vec::new();
            for takes in spec.takes() {
                let f = flag(takes.opt);
                let mut spellings: Vec<String> =
                    f.aliases.iter().map(|a| format!("--{a}")).collect();
                spellings.push(f.name());
                spellings.extend(f.short.map(|c| format!("-{c}")));
                for spelling in spellings {
                    assert!(!seen.contains(&spelling), "porch {} {spelling}", spec.word);
                    seen.push(spelling);
                }
            }
        }
    }
}
