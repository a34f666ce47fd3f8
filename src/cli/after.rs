//! The command lines of what comes after a run: status, logs, resume, merge and clean, with
//! their help. `cli` dispatches here; like it, no I/O happens here (beyond asking whether
//! `porch merge`'s first argument is a directory).

use std::ffi::OsString;
use std::path::PathBuf;

use lexopt::prelude::*;

use crate::cli::{self, Command, nonempty_path, set_once};
use crate::error::Error;
use crate::preflight::options::{
    CleanArgs, DEFAULT_KEEP_RUNS, LogsArgs, MergeArgs, MergeResultsArgs, ResumeArgs, StatusArgs,
};
use crate::state::runs::RunChoice;

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Topic {
    Status,
    Logs,
    Merge,
    Clean,
    Resume,
    MergeResults,
}

pub const STATUS_HELP: &str = "\
porch status: what a run left: each task's status, branch, commits and files against its
base, check, whether its worktree is still there and clean, and how to continue its session

Usage:
  porch status [OPTIONS] [REPO]

Arguments:
  REPO    any directory inside the git work tree [default: .]

Options:
      --run ID            the run to show: an id from .porch/runs/, or a results file's path
                          [default: the run started last]
      --worktree-dir DIR  the --worktree-dir the run was given [default: ~/worktrees]
      --json              print the run's results file as stored
  -h, --help              show this help";

pub const LOGS_HELP: &str = "\
porch logs: a task's whole session output, rendered as it was on screen

Usage:
  porch logs [OPTIONS] TASK [REPO]

Arguments:
  TASK    the task's name
  REPO    any directory inside the git work tree [default: .]

Options:
      --repo REPO         the same as the REPO argument
      --run ID            the run: an id from .porch/runs/, or a results file's path
                          [default: the run started last]
      --worktree-dir DIR  the --worktree-dir the run was given [default: ~/worktrees]
      --raw               the log byte for byte, as claude printed it (stream-json; stderr
                          lines marked [stderr], porch's notes [porch])
  -f, --follow            keep printing while the task runs; stop when it has finished
  -h, --help              show this help";

pub const MERGE_HELP: &str = "\
porch merge: merge a run's succeeded branches into one branch, in tasks-file order, each with
a merge commit naming its task; of a repeated task only the winner. Works in a worktree of
its own: your checkout is not touched. A branch that conflicts is skipped (its files named)
and the others go on.

Usage:
  porch merge [OPTIONS] [REPO] [TASK...]

Arguments:
  REPO    any directory inside the git work tree [default: .]
  TASK    merge only these tasks (a repeated task's name means its winner) [default: all
          that succeeded]

Options:
      --repo REPO         the same as the REPO argument
      --run ID            the run: an id from .porch/runs/, or a results file's path
                          [default: the run started last]
      --worktree-dir DIR  the --worktree-dir the run was given [default: ~/worktrees]
      --into BRANCH       merge into this existing branch, which must not be checked out
                          anywhere with uncommitted changes [default: a new branch
                          porch/merge/RUN made from the base]
  -h, --help              show this help

Exit codes: 0 every branch merged; 1 a branch was skipped; 2 bad usage, nothing merged.";

pub const CLEAN_HELP: &str = "\
porch clean: remove the worktrees porch made for a run, and with --branches their branches

Usage:
  porch clean [OPTIONS] [REPO]

Arguments:
  REPO    any directory inside the git work tree [default: .]

Options:
      --repo REPO         the same as the REPO argument
      --run ID            the run to clean [default: the run started last]
      --all               every stored run
      --worktree-dir DIR  the --worktree-dir the runs were given [default: ~/worktrees]
      --branches          also delete the task branches, the attempts --retries saved, and
                          a merged base a killed run left (refs/porch/bases/)
      --dry-run           only say what would be removed and what kept
      --force             remove worktrees with uncommitted changes and delete branches whose
                          commits are on no base branch or porch/merge/ branch
      --keep-runs N       keep the newest N results files under .porch/runs/ [default: 50]
  -h, --help              show this help

Without --force, a worktree with uncommitted changes or with ignored files a session wrote
(a .env.local), and a branch holding commits that are not merged into its base branch or a
porch/merge/ branch are kept, and porch says so, naming them.";

pub const RESUME_HELP: &str = "\
porch resume: run again the tasks of a run that did not succeed, from the tasks as that run
stored them, each in its existing worktree and branch, continuing its claude session (claude
--resume) where it had one. Succeeded tasks are not touched. The new run's results hold every
task: the resumed ones' new outcomes, the others' as they were.

Usage:
  porch resume [OPTIONS] [REPO]

Arguments:
  REPO    any directory inside the git work tree [default: .]

Options:
      --run ID            the run to resume: an id from .porch/runs/, or a results file's path
                          [default: the run started last]
      --worktree-dir DIR  the --worktree-dir the run was given [default: ~/worktrees]
  and every option of `porch run` (see `porch help run`): --timeout, -j, --retries, --claude,
  --permission-mode, --cleanup, -o, ...
  -h, --help              show this help

Exit codes: as `porch run`: 0 every task succeeded; 1 one did not; 2 bad usage (nothing run).";

pub const MERGE_RESULTS_HELP: &str = "\
porch merge-results: join the results files of shards of one tasks file (porch run --shard
K/N on many machines) into one results object, with one summary

Usage:
  porch merge-results [OPTIONS] RESULTS.json...

Arguments:
  RESULTS.json    results files written by porch run (-o FILE, or .porch/runs/ID.json)

Options:
  -o, --output FILE    write the merged results to FILE instead of standard output
      --allow-missing  merge without the shards of K/N that no file holds, with a warning
                       [default: a missing shard is exit 1]
  -h, --help           show this help

The merged results go to standard output (or FILE), the summary to standard error. Refused,
naming the files: results of different tasks files (tasks_file_hash) or schema versions, a
task in two files, a file that cannot be read.

Exit codes: 0 every task succeeded (and every --push); 1 one did not, or a shard is missing
(without --allow-missing; the merge is written all the same); 2 refused, nothing written.";

pub fn help_text(topic: Topic) -> &'static str {
    match topic {
        Topic::MergeResults => MERGE_RESULTS_HELP,
        Topic::Resume => RESUME_HELP,
        Topic::Status => STATUS_HELP,
        Topic::Logs => LOGS_HELP,
        Topic::Merge => MERGE_HELP,
        Topic::Clean => CLEAN_HELP,
    }
}

pub fn topic(command: &str) -> Option<Topic> {
    match command {
        "status" => Some(Topic::Status),
        "logs" => Some(Topic::Logs),
        "merge" => Some(Topic::Merge),
        "clean" => Some(Topic::Clean),
        "resume" => Some(Topic::Resume),
        "merge-results" => Some(Topic::MergeResults),
        _ => None,
    }
}

/// What one command of this module was asked: the command itself, or its help.
#[derive(Debug, PartialEq)]
pub enum Parsed<T> {
    Args(T),
    Help(Topic),
}

/// An argument, owned, so that the options every command shares are read in one place.
enum Token {
    Flag(String),
    Value(OsString),
}

/// The options status, logs, merge and clean share, and the positionals they collect.
#[derive(Default)]
struct Common {
    repo: Option<PathBuf>,
    worktree_dir: Option<PathBuf>,
    run: Option<String>,
    positionals: Vec<OsString>,
}

impl Common {
    /// Takes the token if it is a shared option or a positional; `Ok(false)` otherwise.
    fn take(&mut self, token: &Token, parser: &mut lexopt::Parser) -> Result<bool, Error> {
        let Token::Flag(flag) = token else {
            if let Token::Value(value) = token {
                self.positionals.push(value.clone());
            }
            return Ok(true);
        };
        match flag.as_str() {
            "--repo" => set_once(&mut self.repo, "--repo", nonempty_path(parser, "--repo")?)?,
            "--worktree-dir" => set_once(
                &mut self.worktree_dir,
                "--worktree-dir",
                nonempty_path(parser, "--worktree-dir")?,
            )?,
            "--run" => {
                let run = parser.value()?.string()?;
                if run.is_empty() {
                    return Err(Error::usage("--run needs a run id, got an empty string")
                        .with_hint("`ls .porch/runs` under the worktree directory lists the ids"));
                }
                set_once(&mut self.run, "--run", run)?
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// REPO from `--repo` or the first positional; what is left are the command's own.
    fn finish(mut self, usage: &str) -> Result<(RunChoice, Vec<OsString>), Error> {
        let mut rest = std::mem::take(&mut self.positionals).into_iter();
        let repo = match self.repo {
            Some(repo) => repo,
            None => rest.next().map(PathBuf::from).unwrap_or_else(|| ".".into()),
        };
        if repo.as_os_str().is_empty() {
            return Err(Error::usage("the repository path is empty").with_hint(usage.to_string()));
        }
        let choice = RunChoice {
            repo,
            worktree_dir: self.worktree_dir,
            run: self.run,
        };
        Ok((choice, rest.collect()))
    }
}

/// Task names are letters, digits, `-`, `_` and `.`: never bytes that are not UTF-8.
const TASK_NAMES_HINT: &str = "name a task as `porch status` lists it";

fn next_token(parser: &mut lexopt::Parser) -> Result<Option<Token>, Error> {
    Ok(match parser.next()? {
        None => None,
        Some(Short(c)) => Some(Token::Flag(format!("-{c}"))),
        Some(Long(name)) => Some(Token::Flag(format!("--{name}"))),
        Some(Value(value)) => Some(Token::Value(value)),
    })
}

fn unexpected(flag: &str, usage: &str) -> Error {
    Error::usage(format!("invalid option '{flag}'")).with_hint(usage.to_string())
}

pub fn parse_merge_results(parser: &mut lexopt::Parser) -> Result<Parsed<MergeResultsArgs>, Error> {
    const USAGE: &str = "usage: porch merge-results [-o FILE] [--allow-missing] RESULTS.json...";
    let mut files = Vec::new();
    let mut output = None;
    let mut allow_missing = false;
    while let Some(arg) = parser.next()? {
        match arg {
            Short('h') | Long("help") => return Ok(Parsed::Help(Topic::MergeResults)),
            Long("allow-missing") => allow_missing = true,
            Short('o') | Long("output") => {
                set_once(&mut output, "--output", nonempty_path(parser, "--output")?)?
            }
            Value(file) if !file.is_empty() => files.push(PathBuf::from(file)),
            Value(_) => {
                return Err(Error::usage("a results file's path is empty").with_hint(USAGE));
            }
            _ => return Err(Error::from(arg.unexpected()).with_hint(USAGE)),
        }
    }
    if files.is_empty() {
        return Err(Error::usage("no results files to merge").with_hint(
            "porch merge-results A.json B.json ... > all.json, one results file per shard",
        ));
    }
    Ok(Parsed::Args(MergeResultsArgs {
        files,
        output,
        allow_missing,
    }))
}

pub fn parse_status(parser: &mut lexopt::Parser) -> Result<Parsed<StatusArgs>, Error> {
    const USAGE: &str = "usage: porch status [--run ID] [--worktree-dir DIR] [--json] [REPO]";
    let mut common = Common::default();
    let mut json = false;
    while let Some(token) = next_token(parser)? {
        if let Token::Flag(flag) = &token {
            match flag.as_str() {
                "-h" | "--help" => return Ok(Parsed::Help(Topic::Status)),
                "--json" => {
                    json = true;
                    continue;
                }
                _ => {}
            }
        }
        if !common.take(&token, parser)? {
            return Err(unexpected(flag_of(&token), USAGE));
        }
    }
    let (choice, rest) = common.finish(USAGE)?;
    refuse_extra(&rest, USAGE)?;
    Ok(Parsed::Args(StatusArgs { choice, json }))
}

pub fn parse_logs(parser: &mut lexopt::Parser) -> Result<Parsed<LogsArgs>, Error> {
    const USAGE: &str = "usage: porch logs [--run ID] [--raw] [--follow] TASK [REPO]";
    let mut common = Common::default();
    let (mut raw, mut follow) = (false, false);
    while let Some(token) = next_token(parser)? {
        if let Token::Flag(flag) = &token {
            match flag.as_str() {
                "-h" | "--help" => return Ok(Parsed::Help(Topic::Logs)),
                "--raw" => raw = true,
                "-f" | "--follow" => follow = true,
                _ if common.take(&token, parser)? => {}
                _ => return Err(unexpected(flag, USAGE)),
            }
        } else {
            common.take(&token, parser)?;
        }
    }
    // TASK comes first: take it before `finish` reads REPO from the positionals.
    let mut positionals = std::mem::take(&mut common.positionals).into_iter();
    let Some(task) = positionals.next() else {
        return Err(Error::usage("no task named").with_hint(USAGE));
    };
    let task = task.into_string().map_err(|raw| {
        Error::usage(format!(
            "TASK `{}` is not valid UTF-8",
            raw.to_string_lossy()
        ))
        .with_hint(TASK_NAMES_HINT)
    })?;
    common.positionals = positionals.collect();
    let (choice, rest) = common.finish(USAGE)?;
    refuse_extra(&rest, USAGE)?;
    Ok(Parsed::Args(LogsArgs {
        choice,
        task,
        raw,
        follow,
    }))
}

pub fn parse_merge(parser: &mut lexopt::Parser) -> Result<Parsed<MergeArgs>, Error> {
    const USAGE: &str = "usage: porch merge [--run ID] [--into BRANCH] [REPO] [TASK...]";
    let mut common = Common::default();
    let mut into = None;
    while let Some(token) = next_token(parser)? {
        if let Token::Flag(flag) = &token {
            match flag.as_str() {
                "-h" | "--help" => return Ok(Parsed::Help(Topic::Merge)),
                "--into" => {
                    let branch = parser.value()?.string()?;
                    if branch.is_empty() {
                        return Err(Error::usage("--into needs a branch name")
                            .with_hint("name an existing branch, or leave --into out"));
                    }
                    set_once(&mut into, "--into", branch)?;
                }
                _ if common.take(&token, parser)? => {}
                _ => return Err(unexpected(flag, USAGE)),
            }
        } else {
            common.take(&token, parser)?;
        }
    }
    // The first positional is REPO only when it is written as a path to a directory (`.`,
    // `../shop`, `~/src/shop/`): `porch merge docs` names the task `docs`, even with a docs/
    // directory at hand.
    if common.repo.is_none()
        && let Some(first) = common.positionals.first()
        && !is_repo_path(first)
    {
        common.repo = Some(PathBuf::from("."));
    }
    let (choice, rest) = common.finish(USAGE)?;
    let tasks = rest
        .into_iter()
        .map(|t| {
            t.into_string().map_err(|raw| {
                Error::usage(format!(
                    "TASK `{}` is not valid UTF-8",
                    raw.to_string_lossy()
                ))
                .with_hint(TASK_NAMES_HINT)
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Parsed::Args(MergeArgs {
        choice,
        into,
        tasks,
    }))
}

pub fn parse_clean(parser: &mut lexopt::Parser) -> Result<Parsed<CleanArgs>, Error> {
    const USAGE: &str = "usage: porch clean [--run ID | --all] [--branches] [--dry-run] [--force] [--keep-runs N] [REPO]";
    let mut common = Common::default();
    let (mut all, mut branches, mut dry_run, mut force) = (false, false, false, false);
    let mut keep_runs = None;
    while let Some(token) = next_token(parser)? {
        if let Token::Flag(flag) = &token {
            match flag.as_str() {
                "-h" | "--help" => return Ok(Parsed::Help(Topic::Clean)),
                "--all" => all = true,
                "--branches" => branches = true,
                "--dry-run" | "-n" => dry_run = true,
                "--force" => force = true,
                "--keep-runs" => {
                    let text = parser.value()?.string()?;
                    let n = text
                        .parse::<usize>()
                        .ok()
                        .filter(|&n| n >= 1)
                        .ok_or_else(|| {
                            Error::usage(format!("--keep-runs `{text}` is not a number of runs"))
                                .with_hint("give a whole number from 1 up, e.g. --keep-runs 20")
                        })?;
                    set_once(&mut keep_runs, "--keep-runs", n)?;
                }
                _ if common.take(&token, parser)? => {}
                _ => return Err(unexpected(flag, USAGE)),
            }
        } else {
            common.take(&token, parser)?;
        }
    }
    if all && common.run.is_some() {
        return Err(Error::usage("--run and --all were both given")
            .with_hint("clean one run with --run ID, or every run with --all"));
    }
    let (choice, rest) = common.finish(USAGE)?;
    refuse_extra(&rest, USAGE)?;
    Ok(Parsed::Args(CleanArgs {
        choice,
        all,
        branches,
        dry_run,
        force,
        keep_runs: keep_runs.unwrap_or(DEFAULT_KEEP_RUNS),
    }))
}

/// What `porch run` takes as TASKS when `porch resume` hands it its options: never read, since
/// a resume runs the tasks its run stored.
const STORED_TASKS: &str = "(the run's stored tasks)";

/// `porch resume [REPO] [--run ID] [run options]`: `--run` is taken out, the rest is parsed by
/// `porch run`'s own parser, so every option of `run` means the same here.
pub fn parse_resume(parser: &mut lexopt::Parser) -> Result<Parsed<ResumeArgs>, Error> {
    let mut run = None;
    let mut rest: Vec<OsString> = Vec::new();
    let mut raw = parser.raw_args()?.collect::<Vec<_>>().into_iter();
    while let Some(arg) = raw.next() {
        match arg.to_str() {
            Some("-h" | "--help") => return Ok(Parsed::Help(Topic::Resume)),
            Some("--run") => {
                let id = raw
                    .next()
                    .and_then(|v| v.into_string().ok())
                    .filter(|v| !v.is_empty())
                    .ok_or_else(|| {
                        Error::usage("--run needs a run id")
                            .with_hint("`porch status` names the latest run")
                    })?;
                set_once(&mut run, "--run", id)?;
            }
            Some(text) if text.starts_with("--run=") => {
                set_once(&mut run, "--run", text["--run=".len()..].to_string())?;
            }
            Some("--") => {
                rest.push(arg);
                rest.extend(raw.by_ref());
            }
            _ => rest.push(arg),
        }
    }
    let args = ["porch", "--tasks", STORED_TASKS]
        .into_iter()
        .map(OsString::from)
        .chain(rest);
    let run_args = match cli::parse_run(&mut lexopt::Parser::from_iter(args))? {
        Command::Run(run_args) => run_args,
        _ => return Ok(Parsed::Help(Topic::Resume)),
    };
    if !run_args.only.is_empty() || !run_args.skip.is_empty() || run_args.shard.is_some() {
        return Err(
            Error::usage("porch resume takes no --only, --skip or --shard")
                .with_hint("it runs again every task of the run that did not succeed"),
        );
    }
    let choice = RunChoice {
        repo: run_args.repo.clone(),
        worktree_dir: run_args.worktree_dir.clone(),
        run,
    };
    Ok(Parsed::Args(ResumeArgs {
        choice,
        run: run_args,
    }))
}

fn is_repo_path(arg: &OsString) -> bool {
    let text = arg.to_string_lossy();
    (text == "." || text == ".." || text.contains('/')) && PathBuf::from(arg).is_dir()
}

fn flag_of(token: &Token) -> &str {
    match token {
        Token::Flag(flag) => flag,
        Token::Value(_) => "",
    }
}

fn refuse_extra(rest: &[OsString], usage: &str) -> Result<(), Error> {
    match rest.first() {
        Some(extra) => Err(Error::usage(format!(
            "unexpected argument `{}`",
            extra.to_string_lossy()
        ))
        .with_hint(usage.to_string())),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parser(args: &[&str]) -> lexopt::Parser {
        lexopt::Parser::from_iter(std::iter::once("porch").chain(args.iter().copied()))
    }

    fn choice(repo: &str, run: Option<&str>) -> RunChoice {
        RunChoice {
            repo: PathBuf::from(repo),
            worktree_dir: None,
            run: run.map(String::from),
        }
    }

    #[test]
    fn status_takes_repo_run_and_json() {
        let table = [
            (vec![], choice(".", None), false),
            (vec!["r"], choice("r", None), false),
            (vec!["--repo", "r", "--json"], choice("r", None), true),
            (vec!["--run", "X", "r"], choice("r", Some("X")), false),
        ];
        for (args, expected, json) in table {
            let parsed = parse_status(&mut parser(&args)).unwrap();
            assert_eq!(
                parsed,
                Parsed::Args(StatusArgs {
                    choice: expected,
                    json
                }),
                "{args:?}"
            );
        }
    }

    #[test]
    fn logs_needs_a_task_first_then_repo() {
        let Parsed::Args(logs) = parse_logs(&mut parser(&["a", "r", "--raw", "-f"])).unwrap()
        else {
            panic!("not args")
        };
        assert_eq!(logs.task, "a");
        assert_eq!(logs.choice.repo, PathBuf::from("r"));
        assert!(logs.raw && logs.follow);
        let message = parse_logs(&mut parser(&["--raw"])).unwrap_err().to_string();
        assert!(message.contains("no task named"), "{message}");
        let message = parse_logs(&mut parser(&["a", "r", "x"]))
            .unwrap_err()
            .to_string();
        assert!(message.contains("unexpected argument `x`"), "{message}");
    }

    #[test]
    fn merge_reads_tasks_after_repo_and_into() {
        let dir = std::env::temp_dir();
        let dir = dir.to_str().unwrap();
        let Parsed::Args(merge) =
            parse_merge(&mut parser(&[dir, "a", "b", "--into", "dev"])).unwrap()
        else {
            panic!("not args")
        };
        assert_eq!(merge.choice.repo, PathBuf::from(dir));
        assert_eq!(merge.tasks, ["a", "b"]);
        assert_eq!(merge.into.as_deref(), Some("dev"));
        // A first positional not written as a path to a directory is a task name; REPO is `.`.
        for first in ["no-such-dir-x", "src", "./no-such-dir-x"] {
            let Parsed::Args(merge) = parse_merge(&mut parser(&[first, "b"])).unwrap() else {
                panic!("not args")
            };
            assert_eq!(merge.choice.repo, PathBuf::from("."), "{first}");
            assert_eq!(merge.tasks, [first, "b"]);
        }
    }

    #[test]
    fn clean_flags_and_their_bad_values() {
        let Parsed::Args(clean) = parse_clean(&mut parser(&["--all", "--branches"])).unwrap()
        else {
            panic!("not args")
        };
        assert!(clean.all && clean.branches && !clean.force && !clean.dry_run);
        assert_eq!(clean.keep_runs, DEFAULT_KEEP_RUNS);
        for (args, says) in [
            (vec!["--all", "--run", "x"], "both given"),
            (vec!["--keep-runs", "0"], "--keep-runs `0`"),
            (vec!["--keep-runs", "many"], "--keep-runs `many`"),
            (vec!["--bogus"], "--bogus"),
            (vec!["--run", ""], "--run needs a run id"),
            (vec!["--run", "a", "--run", "b"], "more than once"),
        ] {
            let message = parse_clean(&mut parser(&args)).unwrap_err().to_string();
            assert!(message.contains(says), "{args:?}: {message}");
        }
    }

    #[test]
    fn resume_takes_its_run_and_every_run_option() {
        let Parsed::Args(resume) = parse_resume(&mut parser(&[
            "r",
            "--run",
            "X",
            "-j",
            "2",
            "--timeout",
            "5m",
            "--worktree-dir",
            "/w",
        ]))
        .unwrap() else {
            panic!("not args")
        };
        assert_eq!(
            resume.choice,
            RunChoice {
                repo: PathBuf::from("r"),
                worktree_dir: Some(PathBuf::from("/w")),
                run: Some("X".to_string()),
            }
        );
        assert_eq!(resume.run.jobs, Some(2));
        assert_eq!(
            resume.run.timeout,
            Some(std::time::Duration::from_secs(300))
        );
        let Parsed::Args(plain) = parse_resume(&mut parser(&["--run=Y"])).unwrap() else {
            panic!("not args")
        };
        assert_eq!(plain.choice.repo, PathBuf::from("."));
        assert_eq!(plain.choice.run.as_deref(), Some("Y"));
        for (args, says) in [
            (vec!["--run"], "--run needs a run id"),
            (vec!["--run", "a", "--run", "b"], "more than once"),
            (vec!["--jobs", "0"], "--jobs `0`"),
            (vec!["r", "extra"], "unexpected argument `extra`"),
        ] {
            let message = parse_resume(&mut parser(&args)).unwrap_err().to_string();
            assert!(message.contains(says), "{args:?}: {message}");
        }
        assert_eq!(
            parse_resume(&mut parser(&["--timeout", "1m", "-h"])).unwrap(),
            Parsed::Help(Topic::Resume)
        );
    }

    #[test]
    fn every_command_has_help() {
        for (command, topic) in [
            ("status", Topic::Status),
            ("logs", Topic::Logs),
            ("merge", Topic::Merge),
            ("clean", Topic::Clean),
            ("resume", Topic::Resume),
        ] {
            assert_eq!(super::topic(command), Some(topic));
            assert!(help_text(topic).starts_with(&format!("porch {command}:")));
        }
        assert_eq!(
            parse_clean(&mut parser(&["-h"])).unwrap(),
            Parsed::Help(Topic::Clean)
        );
    }
}
