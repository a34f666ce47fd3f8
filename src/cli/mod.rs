//! The command line: lexopt arguments and the environment's defaults in, a `Command` out, all
//! made from one table of commands and flags. The parser does no I/O (beyond asking whether
//! `porch merge`'s first argument is a directory), so it is unit-tested on plain string lists;
//! only `complete::answer`, for the completion scripts, reads files.

pub mod after;
pub mod complete;
pub mod completions;
pub mod flags;
pub mod help;
pub mod lex;
pub mod plan;
pub mod run;
pub mod table;

use std::ffi::OsString;
use std::path::PathBuf;

use lexopt::prelude::*;

use crate::cli::completions::Shell;
use crate::cli::flags::Opt;
use crate::cli::flags::SHELLS;
use crate::cli::lex::Given;
use crate::cli::lex::Lexed;
use crate::cli::table::Name;
use crate::error::Error;
use crate::preflight::options::CleanArgs;
use crate::preflight::options::LogsArgs;
use crate::preflight::options::MergeArgs;
use crate::preflight::options::MergeResultsArgs;
use crate::preflight::options::PrArgs;
use crate::preflight::options::ReportArgs;
use crate::preflight::options::ResumeArgs;
use crate::preflight::options::RunArgs;
use crate::preflight::options::StatusArgs;

pub use crate::cli::lex::Env;

#[derive(Debug, PartialEq)]
pub enum Command {
    Run(Box<RunArgs>),
    Init {
        file: PathBuf,
        force: bool,
    },
    List {
        repo: PathBuf,
    },
    Status(StatusArgs),
    Report(ReportArgs),
    Logs(LogsArgs),
    Merge(MergeArgs),
    Clean(CleanArgs),
    Resume(ResumeArgs),
    MergeResults(MergeResultsArgs),
    Pr(PrArgs),
    Plan(Box<crate::preflight::options::PlanArgs>),
    Help(HelpTopic),
    Version,
    /// `porch completions SHELL`: the completion script for SHELL.
    Completions(Shell),
    /// `porch __complete tasks …`: the task names a completion script offers.
    CompleteTasks(complete::Request),
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum HelpTopic {
    Main,
    Command(Name),
    /// The tasks file's format: `porch help tasks`.
    Tasks,
}

pub fn help_text(topic: HelpTopic) -> String {
    match topic {
        HelpTopic::Main | HelpTopic::Command(Name::Help) => help::main_help(),
        HelpTopic::Command(name) => help::command_help(table::spec(name)),
        HelpTopic::Tasks => crate::preflight::taskfile::HELP.to_string(),
    }
}

/// The command `args` (without the program's name) ask for; `env` gives the flags' defaults.
pub fn parse<I>(args: I, env: &Env) -> Result<Command, Error>
where
    I: IntoIterator,
    I::Item: Into<OsString>,
{
    let mut parser = lexopt::Parser::from_iter(
        std::iter::once(OsString::from("porch")).chain(args.into_iter().map(Into::into)),
    );
    let Some(arg) = parser.next()? else {
        return Err(Error::usage("no command given")
            .with_hint("try `porch run TASKS [REPO]`, or `porch --help`"));
    };
    let word = match arg {
        Short('h') | Long("help") => return Ok(Command::Help(HelpTopic::Main)),
        Short('V') | Long("version") => return Ok(Command::Version),
        Value(word) => word.string()?,
        _ => return Err(arg.unexpected().into()),
    };
    if word == complete::WORD {
        let rest = parser.raw_args()?.collect();
        return Ok(Command::CompleteTasks(complete::request(rest, env)));
    }
    let spec = table::find(&word).ok_or_else(|| {
        Error::usage(format!("unknown command `{word}`")).with_hint(table::commands_hint())
    })?;
    match lex::lex(&mut parser, spec, env)? {
        Lexed::Help => Ok(Command::Help(HelpTopic::Command(spec.name))),
        Lexed::Given(given) => command(&given),
    }
}

fn command(given: &Given) -> Result<Command, Error> {
    match given.spec.name {
        Name::Run => run::run(given),
        Name::Resume => run::resume(given),
        Name::Status => after::status(given),
        Name::Report => after::report(given),
        Name::Logs => after::logs(given),
        Name::Merge => after::merge(given),
        Name::Clean => after::clean(given),
        Name::MergeResults => after::merge_results(given),
        Name::Pr => after::pr(given),
        Name::Init => init(given),
        Name::Plan => plan::plan(given),
        Name::List => list(given),
        Name::Help => help(given),
        Name::Completions => completions(given),
    }
}

fn init(given: &Given) -> Result<Command, Error> {
    let mut positionals = given.positionals.iter().cloned();
    let file = positionals.next().map(PathBuf::from);
    given.refuse_extra(positionals.next())?;
    Ok(Command::Init {
        file: file.unwrap_or_else(|| PathBuf::from("tasks.json")),
        force: given.switch(Opt::Overwrite),
    })
}

fn list(given: &Given) -> Result<Command, Error> {
    let mut positionals = given.positionals.iter().cloned();
    let repo = given.os(Opt::Repo).or_else(|| positionals.next());
    given.refuse_extra(positionals.next())?;
    Ok(Command::List {
        repo: PathBuf::from(repo.unwrap_or_else(|| ".".into())),
    })
}

/// `porch help [COMMAND]`: a command, `tasks`, or porch's own help.
fn help(given: &Given) -> Result<Command, Error> {
    let mut positionals = given.positionals.iter().map(|w| w.to_string_lossy());
    let topic = match positionals.next().as_deref() {
        None | Some("help") => HelpTopic::Main,
        Some("tasks") => HelpTopic::Tasks,
        Some(word) => table::find(word)
            .map(|spec| HelpTopic::Command(spec.name))
            .ok_or_else(|| {
                Error::usage(format!("no help for unknown command `{word}`"))
                    .with_hint(table::commands_hint())
            })?,
    };
    given.refuse_extra(positionals.next().map(|w| w.into_owned().into()))?;
    Ok(Command::Help(topic))
}

fn completions(given: &Given) -> Result<Command, Error> {
    let mut positionals = given.positionals.iter().map(|w| w.to_string_lossy());
    let Some(name) = positionals.next() else {
        return Err(Error::usage("no shell named").with_hint(given.spec.usage_hint()));
    };
    let shell = Shell::from_name(&name).ok_or_else(|| {
        Error::usage(format!("no completions for the shell `{name}`"))
            .with_hint(format!("porch has them for {}", SHELLS.join(", ")))
    })?;
    given.refuse_extra(positionals.next().map(|w| w.into_owned().into()))?;
    Ok(Command::Completions(shell))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::preflight::branch_template::Template;
    use crate::preflight::options::ColorChoice;
    use crate::preflight::options::OutputMode;
    use crate::preflight::options::Recordable;
    use crate::results::Shard;
    use std::time::Duration;

    fn parse<I>(args: I) -> Result<Command, Error>
    where
        I: IntoIterator,
        I::Item: Into<OsString>,
    {
        super::parse(args, &Env::default())
    }

    fn run_args(args: &[&str]) -> RunArgs {
        match parse(args.iter().copied()) {
            Ok(Command::Run(run)) => *run,
            other => panic!("expected a run command, got {other:?}"),
        }
    }

    fn usage_error(args: &[&str]) -> String {
        match parse(args.iter().copied()) {
            Err(err) => err.to_string(),
            Ok(command) => panic!("expected an error, got {command:?}"),
        }
    }

    #[test]
    fn positional_and_flag_spellings_agree() {
        let positional = run_args(&["run", "t.json", "/repo"]);
        let flags = run_args(&["run", "--tasks", "t.json", "--repo", "/repo"]);
        assert_eq!(positional, flags);
        assert_eq!(positional.tasks, "t.json");
        assert_eq!(positional.repo, PathBuf::from("/repo"));
    }

    #[test]
    fn defaults() {
        let run = run_args(&["run", "-"]);
        assert_eq!(run.tasks, "-");
        assert_eq!(run.repo, PathBuf::from("."));
        assert_eq!(run.settings.permission_mode, "acceptEdits");
        assert!(!run.settings.cleanup);
        assert_eq!(run.color, ColorChoice::Auto);
        assert_eq!(run.jobs, None);
        let run = run_args(&[
            "run",
            "t",
            "-j",
            "3",
            "--timeout",
            "1h30m",
            "--stagger",
            "2s",
        ]);
        assert_eq!(run.jobs, Some(3));
        assert_eq!(run.timeout, Some(Duration::from_secs(5400)));
        assert_eq!(run.settings.stagger, Some(Duration::from_secs(2)));
    }

    #[test]
    fn output_modes_json_and_events_exclude_each_other_and_quiet_goes_with_either() {
        use OutputMode::{Events, Json, Quiet, Stream};
        let cases: [(&[&str], OutputMode); 7] = [
            (&[], Stream),
            (&["-q"], Quiet),
            (&["--quiet"], Quiet),
            (&["--json"], Json),
            (&["--json", "--quiet"], Json),
            (&["--events"], Events),
            (&["-q", "--events"], Events),
        ];
        for (flags, mode) in cases {
            let args: Vec<&str> = ["run", "t.json"].iter().chain(flags).copied().collect();
            assert_eq!(run_args(&args).output_mode, mode, "{flags:?}");
        }
        let err = parse(["run", "t.json", "--events", "--json"]).unwrap_err();
        assert!(err.to_string().contains("--json and --events"), "{err}");
        assert!(
            err.hint().is_some_and(|h| h.contains("--events")),
            "{err:?}"
        );
    }

    #[test]
    fn permission_mode_is_checked_and_lists_choices() {
        let message = usage_error(&["run", "t.json", "--permission-mode", "confirmEdits"]);
        assert!(message.contains("confirmEdits"), "{message}");
        assert!(
            run_args(&["run", "t.json", "--permission-mode", "plan"])
                .settings
                .permission_mode
                == "plan"
        );
    }

    #[test]
    fn missing_tasks_and_extra_arguments_are_errors() {
        assert!(usage_error(&["run"]).contains("no tasks file"));
        assert!(usage_error(&["run", "a", "b", "c"]).contains("unexpected argument `c`"));
        assert!(usage_error(&["run", "a", "--bogus"]).contains("--bogus"));
        assert!(usage_error(&["frobnicate"]).contains("unknown command"));
        assert!(usage_error(&[]).contains("no command"));
        assert!(usage_error(&["run", "a", "-o", "x", "-o", "y"]).contains("more than once"));
        assert!(usage_error(&["run", "a", "-j", "0"]).contains("--jobs `0`"));
        assert!(usage_error(&["run", "a", "--timeout", "10"]).contains("no unit"));
    }

    #[test]
    fn shard_and_push_are_read_and_nonsense_refused() {
        let run = run_args(&["run", "t", "--shard", "2/4", "--push", "origin"]);
        assert_eq!(run.shard, Some(Shard { index: 2, count: 4 }));
        assert_eq!(run.settings.push.as_deref(), Some("origin"));
        let run = run_args(&["run", "t"]);
        assert_eq!((run.shard, run.settings.push), (None, None));
        // (arguments, the message)
        let cases: [(&[&str], &str); 5] = [
            (
                &["--shard", "0/4"],
                "--shard `0/4` needs two whole numbers from 1, K/N",
            ),
            (&["--shard", "5/4"], "--shard `5/4` names shard 5 of only 4"),
            (
                &["--shard", "1/2", "--shard", "2/2"],
                "--shard was given more than once",
            ),
            (&["--push", ""], "--push `` is not a remote"),
            (&["--push", "--force"], "--push `--force` is not a remote"),
        ];
        for (args, message) in cases {
            let mut all = vec!["run", "t"];
            all.extend(args);
            assert_eq!(usage_error(&all), message, "{args:?}");
        }
    }

    #[test]
    fn help_and_version() {
        assert_eq!(parse(["--help"]).unwrap(), Command::Help(HelpTopic::Main));
        assert_eq!(
            parse(["help", "run"]).unwrap(),
            Command::Help(HelpTopic::Command(Name::Run))
        );
        assert_eq!(
            parse(["run", "--help"]).unwrap(),
            Command::Help(HelpTopic::Command(Name::Run))
        );
        assert_eq!(parse(["-V"]).unwrap(), Command::Version);
    }

    #[test]
    fn every_command_has_help_and_help_names_the_commands_otherwise() {
        let cases = [
            ("run", HelpTopic::Command(Name::Run)),
            ("init", HelpTopic::Command(Name::Init)),
            ("list", HelpTopic::Command(Name::List)),
            ("help", HelpTopic::Main),
            ("status", HelpTopic::Command(Name::Status)),
            ("report", HelpTopic::Command(Name::Report)),
            ("clean", HelpTopic::Command(Name::Clean)),
            ("merge-results", HelpTopic::Command(Name::MergeResults)),
        ];
        for (name, topic) in cases {
            assert_eq!(
                parse(["help", name]).unwrap(),
                Command::Help(topic),
                "{name}"
            );
        }
        let err = parse(["help", "frobnicate"]).unwrap_err();
        assert_eq!(err.to_string(), "no help for unknown command `frobnicate`");
        assert_eq!(
            err.hint().as_deref(),
            Some(
                "the commands are run, init, plan, list, status, report, logs, resume, merge, pr, clean, merge-results, completions and help"
            )
        );
    }

    #[test]
    fn init_and_list() {
        assert_eq!(
            parse(["init"]).unwrap(),
            Command::Init {
                file: PathBuf::from("tasks.json"),
                force: false
            }
        );
        assert_eq!(
            parse(["init", "--force", "x.json"]).unwrap(),
            Command::Init {
                file: PathBuf::from("x.json"),
                force: true
            }
        );
        assert_eq!(
            parse(["list", "r"]).unwrap(),
            Command::List {
                repo: PathBuf::from("r")
            }
        );
    }

    #[test]
    fn branch_template_and_port_base() {
        let run = run_args(&["run", "t"]);
        assert_eq!((run.branch_template, run.port_base), (None, 40_000));
        let run = run_args(&[
            "run",
            "t",
            "--branch-template",
            "nightly/{date}/{name}",
            "--port-base",
            "50000",
        ]);
        assert_eq!(
            run.branch_template.as_ref().map(Template::text),
            Some("nightly/{date}/{name}")
        );
        assert_eq!(run.port_base, 50_000);
        // (arguments, a part of the message)
        let cases: &[(&[&str], &str)] = &[
            (
                &["--branch-template", "nightly/{date}"],
                "--branch-template `nightly/{date}` does not contain {name}",
            ),
            (
                &["--branch-template", "x/{nmae}"],
                "unknown placeholder {nmae}",
            ),
            (&["--port-base", "0"], "--port-base `0` is not a port"),
            (
                &["--port-base", "70000"],
                "--port-base `70000` is not a port",
            ),
        ];
        for (args, message) in cases {
            let mut all = vec!["run", "t"];
            all.extend_from_slice(args);
            let err = usage_error(&all);
            assert!(err.contains(message), "{args:?}: {err}");
        }
    }

    #[test]
    fn max_cost_usd_is_an_amount_of_dollars_given_once() {
        assert_eq!(run_args(&["run", "t"]).settings.max_cost_usd, None);
        let run = run_args(&["run", "t", "--max-cost-usd", "2.5"]);
        assert_eq!(run.settings.max_cost_usd, Some(2.5));
        let run = run_args(&["run", "t", "--max-cost-usd", "0.000001"]);
        assert_eq!(run.settings.max_cost_usd, Some(0.000_001));
        // (the value, a part of the message)
        let cases = [
            ("0", "--max-cost-usd `0` is not an amount of dollars"),
            ("-1", "--max-cost-usd `-1` is not an amount of dollars"),
            ("$5", "--max-cost-usd `$5` is not an amount of dollars"),
            ("inf", "--max-cost-usd `inf` is not an amount of dollars"),
            // Less than porch (and claude) would write as anything but 0.
            (
                "5e-324",
                "--max-cost-usd `5e-324` is not an amount of dollars",
            ),
        ];
        for (value, message) in cases {
            let err = usage_error(&["run", "t", "--max-cost-usd", value]);
            assert!(err.contains(message), "{value}: {err}");
        }
        let twice = usage_error(&["run", "t", "--max-cost-usd", "1", "--max-cost-usd", "2"]);
        assert!(
            twice.contains("--max-cost-usd was given more than once"),
            "{twice}"
        );
    }

    fn env(pairs: &[(&str, &str)]) -> Env {
        Env::from_vars(pairs.iter().map(|(k, v)| (k.into(), v.into())))
    }

    #[test]
    fn the_environment_gives_defaults_every_command_of_the_flag_takes() {
        let machine = env(&[
            ("PORCH_WORKTREE_DIR", "/machine/wt"),
            ("PORCH_JOBS", "3"),
            ("PORCH_PORT_BASE", "50000"),
            ("PORCH_CLAUDE", "/opt/claude"),
        ]);
        let Ok(Command::Run(run)) = super::parse(["run", "t"], &machine) else {
            panic!("a run")
        };
        assert_eq!(
            run.settings.worktree_dir,
            Some(PathBuf::from("/machine/wt"))
        );
        assert_eq!((run.jobs, run.port_base), (Some(3), 50_000));
        assert_eq!(
            run.agent_given(),
            Some(("/opt/claude".as_ref(), "PORCH_CLAUDE"))
        );
        let flags = [
            "run",
            "t",
            "-j",
            "5",
            "--worktree-dir",
            "/w",
            "--claude",
            "/c",
        ];
        let Ok(Command::Run(run)) = super::parse(flags, &machine) else {
            panic!("a run")
        };
        assert_eq!(
            (run.jobs, run.settings.worktree_dir.as_deref()),
            (Some(5), Some(std::path::Path::new("/w")))
        );
        assert_eq!(run.agent_given(), Some(("/c".as_ref(), "--claude")));
        let wt = Some(PathBuf::from("/machine/wt"));
        let choice = |args: &[&str]| match super::parse(args.iter().copied(), &machine) {
            Ok(Command::Status(a)) => a.choice,
            Ok(Command::Logs(a)) => a.choice,
            Ok(Command::Merge(a)) => a.choice,
            Ok(Command::Clean(a)) => a.choice,
            Ok(Command::Resume(a)) => {
                assert_eq!(a.run.jobs, Some(3));
                a.choice
            }
            other => panic!("{args:?}: {other:?}"),
        };
        for args in [
            &["status"][..],
            &["logs", "t"],
            &["merge"],
            &["clean"],
            &["resume"],
        ] {
            assert_eq!(choice(args).worktree_dir, wt, "{args:?}");
        }
    }

    #[test]
    fn resume_turns_off_what_the_run_recorded_with_its_no_flags() {
        let resume = |args: &[&str]| match parse(args.iter().copied()) {
            Ok(Command::Resume(a)) => a,
            other => panic!("{args:?}: {other:?}"),
        };
        let plain = resume(&["resume"]);
        assert!(plain.given.is_empty(), "{:?}", plain.given);
        assert!(!plain.run.no_on_finish && !plain.run.no_on_task_finish);
        let off = resume(&[
            "resume",
            "--no-cleanup",
            "--no-keep-leftovers",
            "--no-push",
            "--no-pr",
            "--no-on-finish",
            "--no-on-task-finish",
        ]);
        for setting in [
            Recordable::Cleanup,
            Recordable::KeepLeftovers,
            Recordable::Push,
            Recordable::Pr,
            Recordable::OnFinish,
            Recordable::OnTaskFinish,
        ] {
            assert!(off.given.contains(&setting), "{setting:?}: {:?}", off.given);
        }
        let run = &off.run;
        assert!(!run.settings.cleanup && !run.settings.keep_leftovers && !run.pr);
        assert_eq!(run.settings.push, None);
        assert!(run.no_on_finish && run.no_on_task_finish);
        for (on, off) in [
            ("--cleanup", "--no-cleanup"),
            ("--pr", "--no-pr"),
            ("--on-finish=x", "--no-on-finish"),
            ("--push=origin", "--no-push"),
        ] {
            let err = usage_error(&["resume", on, off]);
            let on = on.split('=').next().unwrap();
            assert!(
                err.starts_with(&format!("{on} and {off} cannot be used together")),
                "{err}"
            );
        }
        // `porch run` has nothing recorded to turn off.
        assert!(usage_error(&["run", "t", "--no-cleanup"]).contains("--no-cleanup"));
    }

    #[test]
    fn a_bad_variable_is_refused_unless_the_flag_is_given_and_an_empty_one_is_unset() {
        let bad = env(&[("PORCH_JOBS", "0"), ("PORCH_PORT_BASE", "")]);
        let err = super::parse(["run", "t"], &bad).unwrap_err();
        assert_eq!(
            err.to_string(),
            "PORCH_JOBS `0` is not a number of sessions"
        );
        assert_eq!(
            err.hint().as_deref(),
            Some("give a whole number from 1 to 4096, e.g. PORCH_JOBS=4")
        );
        let Ok(Command::Run(run)) = super::parse(["run", "t", "-j", "2"], &bad) else {
            panic!("the flag wins")
        };
        assert_eq!((run.jobs, run.port_base), (Some(2), 40_000));
    }

    #[test]
    fn help_for_the_tasks_file() {
        assert_eq!(
            parse(["help", "tasks"]).unwrap(),
            Command::Help(HelpTopic::Tasks)
        );
        let help = help_text(HelpTopic::Tasks);
        for field in crate::preflight::taskfile::TASK_FIELDS {
            assert!(
                help.contains(&format!("\n  {field} ")),
                "{field} is described"
            );
        }
    }
}
