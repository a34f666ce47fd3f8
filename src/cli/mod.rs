//! The command line: lexopt arguments in, a `Command` out. No I/O happens here, so the parser is
//! unit-tested on plain string lists.

pub mod after;
pub mod completions;

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use lexopt::prelude::*;

use crate::agent::PERMISSION_MODES;
use crate::cli::after::Parsed;
use crate::cli::completions::Shell;
use crate::error::Error;
use crate::preflight::branch_template::Template;
use crate::preflight::options::{
    CleanArgs, ColorChoice, LogsArgs, MergeArgs, MergeResultsArgs, OutputMode, ResumeArgs, RunArgs,
    StatusArgs,
};
use crate::process::task_env::DEFAULT_PORT_BASE;

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
    Logs(LogsArgs),
    Merge(MergeArgs),
    Clean(CleanArgs),
    Resume(ResumeArgs),
    MergeResults(MergeResultsArgs),
    Help(HelpTopic),
    Version,
    /// `porch completions SHELL`: the completion script for SHELL.
    Completions(Shell),
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum HelpTopic {
    Main,
    Run,
    Init,
    List,
    After(after::Topic),
    /// The tasks file's format: `porch help tasks`.
    Tasks,
    Completions,
}

pub const MAIN_HELP: &str = "\
porch: run many headless Claude Code sessions in parallel, one git worktree and branch per task

Usage:
  porch run [OPTIONS] TASKS [REPO]   run every task of TASKS (a JSON file, or - for stdin)
  porch init [FILE]                  write a sample tasks file (default tasks.json)
  porch list [REPO]                  show the repository's worktrees, porch's marked
  porch status [REPO]                what the latest run left: statuses, branches, worktrees
  porch logs TASK [REPO]             a task's whole session output (--raw, --follow)
  porch resume [REPO]                run again what the latest run did not finish
  porch merge [REPO] [TASK...]       merge the run's succeeded branches into porch/merge/RUN
  porch clean [REPO]                 remove the run's worktrees (--branches: and branches)
  porch merge-results A.json B.json  join shards' results (run --shard K/N) into one
  porch help [COMMAND]               show help for a command
  porch help tasks                   the tasks file: every field, defaults, branch templates
  porch completions SHELL            print a completion script for bash, zsh or fish

Options:
  -h, --help       show this help
  -V, --version    show porch's version

Exit codes: 0 every task succeeded; 1 a task failed, timed out or was skipped, or the results
file could not be written; 2 bad usage or configuration (nothing was created); 130, 143, 129
stopped by SIGINT, SIGTERM, SIGHUP (results written).

Run `porch help run` for the options of `run`, `porch help tasks` for the tasks file, and
`porch help COMMAND` for any other command.";

pub const RUN_HELP: &str = "\
porch run: start one claude session per task, each in its own worktree on branch task/NAME

Usage:
  porch run [OPTIONS] TASKS [REPO]
  porch run [OPTIONS] --tasks TASKS --repo REPO

Arguments:
  TASKS    the tasks file (JSON), or - to read it from standard input
  REPO     any directory inside the git work tree to run against [default: .]

Options:
      --worktree-dir DIR      where worktrees go, as DIR/<repo name>/<task name>
                              [default: ~/worktrees]
      --permission-mode MODE  claude's permission mode: acceptEdits, auto, bypassPermissions,
                              default, dontAsk or plan [default: acceptEdits]
      --cleanup               remove each worktree once its work is committed (the branch stays)
  -o, --output FILE           write the results JSON to FILE (never a file git tracks)
                              [default: a file per run in DIR/<repo name>/.porch/runs/,
                              linked as .porch/results.json]
      --junit FILE            also write a JUnit XML report to FILE at the end: a testcase
                              per task, failures with their reason and the log's last lines
      --claude PATH           the agent executable [env: PORCH_CLAUDE] [default: claude on PATH]
      --color WHEN            auto, always or never [default: auto; NO_COLOR turns it off]
  -q, --quiet                 print only the summary (and errors), not the sessions' lines
      --json                  print only the results JSON on stdout, when the run ends
                              (porch's notes go to stderr)
      --events                print JSON Lines on stdout: each line, tool call and task start
                              and end as it happens (see README: Output for scripts)
  -j, --jobs N                run at most N sessions at once; the rest wait in file order
                              [default: all tasks, capped at ~300 MB of available memory each]
      --stagger DURATION      pause between session starts, e.g. 2s [default: none]
      --timeout DURATION      end a session that runs longer: status timed_out (a task's
                              \"timeout\" field overrides it) [default: none]
      --idle-timeout DURATION end a session that prints nothing for that long: timed_out
      --keep-leftovers        leave processes a session started running after it exits
                              (by default porch ends them and reports how many)
      --retries N             start a session again, from a clean worktree, when it failed
                              with a transient API error (429, 5xx, overloaded, unreachable)
                              [default: 0]; what a failed attempt wrote is kept under
                              refs/porch/attempts/NAME/N
      --retry-backoff DURATION  pause before the first retry, doubled for each next one
                              [default: 10s]
      --max-cost-usd X        the run's budget in dollars: each session (every attempt) gets
                              what is left as claude's --max-budget-usd; once it is spent, no
                              session or retry starts and the tasks not started are skipped
      --branch-template TEMPLATE  each task's branch, from {name}, {run}, {date}, {time};
                              e.g. 'nightly/{date}/{name}' [default: the tasks file's
                              branch_template, else task/{name}]
      --port-base N           task N's block of 10 ports starts at this + 10 x N, given as
                              PORCH_PORT [default: 40000]
      --only NAME,...         run only these tasks of the file (a repeated task's name
                              means all its attempts)
      --skip NAME,...         run every task of the file but these
      --shard K/N             run only the K-th of N disjoint slices of the tasks file, the
                              same on every machine (a task and its depends_on stay together)
      --push REMOTE           push each task's branch to REMOTE (a remote, URL or path) once
                              its work is committed; a failed push is reported, exit code 1
  -h, --help                  show this help

Tasks file:
  {\"defaults\": {\"model\": \"sonnet\"},
   \"tasks\": [{\"name\": \"add-auth\", \"prompt\": \"Add login to the API\",
              \"allowed_tools\": [\"Read\", \"Edit\"], \"setup\": [\"npm\", \"ci\"]}]}
  name and prompt (or prompt_file) are required. `porch help tasks` describes every field;
  `porch init` writes an example to start from. Durations are written 90s, 10m, 1h30m, 500ms.

Signals:
  SIGINT (Ctrl-C), SIGTERM, SIGHUP: no new sessions start; running ones are ended (SIGTERM,
  then SIGKILL after a grace period), their work is committed, the results are written with
  status interrupted (skipped for tasks never started), and porch exits 130, 143 or 129.
  A second Ctrl-C ends the sessions at once.

Exit codes: 0 every task succeeded; 1 a task failed, timed out or was skipped, or the results
file could not be written; 2 bad usage or configuration (nothing was created); 130, 143, 129
stopped by SIGINT, SIGTERM, SIGHUP.";

pub const INIT_HELP: &str = "\
porch init: write a sample tasks file to start from

Usage:
  porch init [OPTIONS] [FILE]

Arguments:
  FILE    where to write it [default: tasks.json]

Options:
  -f, --force    overwrite FILE if it exists
  -h, --help     show this help";

pub const LIST_HELP: &str = "\
porch list: show the repository's worktrees; porch's (branch task/NAME) are marked with their
task name and whether they hold uncommitted changes

Usage:
  porch list [REPO]
  porch list --repo REPO

Arguments:
  REPO    any directory inside the git work tree [default: .]

Options:
      --repo REPO    the same as the REPO argument
  -h, --help         show this help";

pub const COMPLETIONS_HELP: &str = "\
porch completions: print a shell completion script for porch's commands, flags and values

Usage:
  porch completions bash|zsh|fish

Install:
  bash   porch completions bash > ~/.local/share/bash-completion/completions/porch
         (or add `source <(porch completions bash)` to ~/.bashrc)
  zsh    porch completions zsh > ~/.zfunc/_porch, with fpath=(~/.zfunc $fpath) before
         compinit in ~/.zshrc
  fish   porch completions fish > ~/.config/fish/completions/porch.fish

Options:
  -h, --help    show this help";

pub fn help_text(topic: HelpTopic) -> &'static str {
    match topic {
        HelpTopic::Main => MAIN_HELP,
        HelpTopic::Run => RUN_HELP,
        HelpTopic::Init => INIT_HELP,
        HelpTopic::List => LIST_HELP,
        HelpTopic::After(topic) => after::help_text(topic),
        HelpTopic::Tasks => crate::preflight::taskfile::HELP,
        HelpTopic::Completions => COMPLETIONS_HELP,
    }
}

pub fn parse<I>(args: I) -> Result<Command, Error>
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
    match arg {
        Short('h') | Long("help") => Ok(Command::Help(HelpTopic::Main)),
        Short('V') | Long("version") => Ok(Command::Version),
        Value(command) => match command.string()?.as_str() {
            "run" => parse_run(&mut parser),
            "init" => parse_init(&mut parser),
            "list" => parse_list(&mut parser),
            "status" => after(after::parse_status(&mut parser)?, Command::Status),
            "logs" => after(after::parse_logs(&mut parser)?, Command::Logs),
            "merge" => after(after::parse_merge(&mut parser)?, Command::Merge),
            "clean" => after(after::parse_clean(&mut parser)?, Command::Clean),
            "resume" => after(after::parse_resume(&mut parser)?, Command::Resume),
            "merge-results" => after(
                after::parse_merge_results(&mut parser)?,
                Command::MergeResults,
            ),
            "help" => parse_help(&mut parser),
            "completions" => parse_completions(&mut parser),
            other => Err(Error::usage(format!("unknown command `{other}`")).with_hint(COMMANDS)),
        },
        _ => Err(arg.unexpected().into()),
    }
}

const COMMANDS: &str = "the commands are run, init, list, status, logs, resume, merge, clean, merge-results, completions and help";

fn parse_completions(parser: &mut lexopt::Parser) -> Result<Command, Error> {
    const USAGE: &str = "usage: porch completions bash|zsh|fish";
    let mut shell = None;
    while let Some(arg) = parser.next()? {
        match arg {
            Short('h') | Long("help") => return Ok(Command::Help(HelpTopic::Completions)),
            Value(value) if shell.is_none() => {
                let name = value.string()?;
                let known = Shell::from_name(&name).ok_or_else(|| {
                    Error::usage(format!("no completions for the shell `{name}`")).with_hint(
                        format!("porch has them for {}", completions::SHELLS.join(", ")),
                    )
                })?;
                shell = Some(known);
            }
            _ => return Err(Error::from(arg.unexpected()).with_hint(USAGE)),
        }
    }
    shell
        .map(Command::Completions)
        .ok_or_else(|| Error::usage("no shell named").with_hint(USAGE))
}

fn after<T>(parsed: Parsed<T>, command: fn(T) -> Command) -> Result<Command, Error> {
    Ok(match parsed {
        Parsed::Args(args) => command(args),
        Parsed::Help(topic) => Command::Help(HelpTopic::After(topic)),
    })
}

fn parse_help(parser: &mut lexopt::Parser) -> Result<Command, Error> {
    let topic = match parser.next()? {
        None => HelpTopic::Main,
        Some(Value(v)) => help_topic(&v.string()?)?,
        Some(arg) => return Err(arg.unexpected().into()),
    };
    Ok(Command::Help(topic))
}

/// The help `porch help NAME` shows.
fn help_topic(name: &str) -> Result<HelpTopic, Error> {
    match name {
        "run" => Ok(HelpTopic::Run),
        "init" => Ok(HelpTopic::Init),
        "list" => Ok(HelpTopic::List),
        "tasks" => Ok(HelpTopic::Tasks),
        "completions" => Ok(HelpTopic::Completions),
        "help" => Ok(HelpTopic::Main),
        other => after::topic(other).map(HelpTopic::After).ok_or_else(|| {
            Error::usage(format!("no help for unknown command `{other}`")).with_hint(COMMANDS)
        }),
    }
}

pub fn parse_run(parser: &mut lexopt::Parser) -> Result<Command, Error> {
    let mut tasks: Option<String> = None;
    let mut repo: Option<PathBuf> = None;
    let mut worktree_dir = None;
    let mut permission_mode = None;
    let mut cleanup = false;
    let mut output = None;
    let mut junit = None;
    let mut claude = None;
    let mut color = None;
    let mut jobs = None;
    let mut stagger = None;
    let mut timeout = None;
    let mut idle_timeout = None;
    let mut keep_leftovers = false;
    let (mut quiet, mut json, mut events) = (false, false, false);
    let mut retries = None;
    let mut retry_backoff = None;
    let mut max_cost_usd = None;
    let mut branch_template = None;
    let mut port_base = None;
    let mut only = None;
    let mut skip = None;
    let mut shard = None;
    let mut push = None;
    let mut positionals: Vec<OsString> = Vec::new();

    while let Some(arg) = parser.next()? {
        match arg {
            Short('h') | Long("help") => return Ok(Command::Help(HelpTopic::Run)),
            Long("tasks") => set_once(&mut tasks, "--tasks", parser.value()?.string()?)?,
            Long("repo") => set_once(&mut repo, "--repo", PathBuf::from(parser.value()?))?,
            Long("worktree-dir") => set_once(
                &mut worktree_dir,
                "--worktree-dir",
                nonempty_path(parser, "--worktree-dir")?,
            )?,
            Long("permission-mode") => {
                let mode = parser.value()?.string()?;
                if !PERMISSION_MODES.contains(&mode.as_str()) {
                    return Err(Error::usage(format!(
                        "--permission-mode `{mode}` is not one of claude's permission modes"
                    ))
                    .with_hint(format!("use one of: {}", PERMISSION_MODES.join(", "))));
                }
                set_once(&mut permission_mode, "--permission-mode", mode)?;
            }
            Long("cleanup") => cleanup = true,
            Short('o') | Long("output") => {
                set_once(&mut output, "--output", nonempty_path(parser, "--output")?)?
            }
            Long("junit") => set_once(&mut junit, "--junit", nonempty_path(parser, "--junit")?)?,
            Long("claude") => {
                let value = parser.value()?;
                if value.is_empty() {
                    return Err(Error::usage("--claude needs a path to the agent executable")
                        .with_hint("give the path of the claude CLI, or leave --claude out to use claude on PATH"));
                }
                set_once(&mut claude, "--claude", value)?;
            }
            Long("color") | Long("colour") => {
                let choice = match parser.value()?.string()?.as_str() {
                    "auto" => ColorChoice::Auto,
                    "always" => ColorChoice::Always,
                    "never" => ColorChoice::Never,
                    other => {
                        return Err(Error::usage(format!("--color `{other}` is not a choice"))
                            .with_hint("use auto, always or never"));
                    }
                };
                set_once(&mut color, "--color", choice)?;
            }
            Short('j') | Long("jobs") => {
                let text = parser.value()?.string()?;
                let n = text
                    .parse::<usize>()
                    .ok()
                    .filter(|&n| (1..=4096).contains(&n))
                    .ok_or_else(|| {
                        Error::usage(format!("--jobs `{text}` is not a number of sessions"))
                            .with_hint("give a whole number from 1 to 4096, e.g. -j 4")
                    })?;
                set_once(&mut jobs, "--jobs", n)?;
            }
            Long("stagger") => set_once(&mut stagger, "--stagger", duration(parser, "--stagger")?)?,
            Long("timeout") => set_once(&mut timeout, "--timeout", duration(parser, "--timeout")?)?,
            Long("idle-timeout") => set_once(
                &mut idle_timeout,
                "--idle-timeout",
                duration(parser, "--idle-timeout")?,
            )?,
            Long("keep-leftovers") => keep_leftovers = true,
            Short('q') | Long("quiet") => quiet = true,
            Long("json") => json = true,
            Long("events") => events = true,
            Long("retries") => {
                let text = parser.value()?.string()?;
                let n = text
                    .parse::<u32>()
                    .ok()
                    .filter(|&n| n <= 20)
                    .ok_or_else(|| {
                        Error::usage(format!("--retries `{text}` is not a number of retries"))
                            .with_hint("give a whole number from 0 to 20")
                    })?;
                set_once(&mut retries, "--retries", n)?;
            }
            Long("retry-backoff") => set_once(
                &mut retry_backoff,
                "--retry-backoff",
                duration(parser, "--retry-backoff")?,
            )?,
            Long("max-cost-usd") => {
                let text = parser.value()?.string()?;
                let dollars = (text.parse::<f64>().ok())
                    // Below a millionth of a dollar, porch (and claude) would write it as 0.
                    .filter(|d| d.is_finite() && *d >= 0.000_001)
                    .ok_or_else(|| {
                        Error::usage(format!(
                            "--max-cost-usd `{text}` is not an amount of dollars"
                        ))
                        .with_hint(
                            "give a number of at least 0.000001, e.g. --max-cost-usd 5 or 2.50",
                        )
                    })?;
                set_once(&mut max_cost_usd, "--max-cost-usd", dollars)?;
            }
            Long("branch-template") => {
                let text = parser.value()?.string()?;
                let template = Template::parse(&text).map_err(|reason| {
                    Error::usage(format!("--branch-template `{text}` {reason}")).with_hint(
                        "write e.g. 'nightly/{date}/{name}'; the placeholders are {name} (required), {run}, {date} and {time}",
                    )
                })?;
                set_once(&mut branch_template, "--branch-template", template)?;
            }
            Long("port-base") => {
                let text = parser.value()?.string()?;
                let base = text
                    .parse::<u16>()
                    .ok()
                    .filter(|&n| n >= 1)
                    .ok_or_else(|| {
                        Error::usage(format!("--port-base `{text}` is not a port"))
                            .with_hint("give a port from 1 to 65535, e.g. --port-base 40000")
                    })?;
                set_once(&mut port_base, "--port-base", base)?;
            }
            Long("only") => set_once(&mut only, "--only", task_names(parser, "--only")?)?,
            Long("skip") => set_once(&mut skip, "--skip", task_names(parser, "--skip")?)?,
            Long("shard") => {
                let text = parser.value()?.string()?;
                let parsed = crate::preflight::shard::parse(&text).map_err(|reason| {
                    Error::usage(format!("--shard `{text}` {reason}")).with_hint(
                        "write K/N with 1 <= K <= N, e.g. --shard 2/4 for the second of four",
                    )
                })?;
                set_once(&mut shard, "--shard", parsed)?;
            }
            Long("push") => {
                let remote = parser.value()?.string()?;
                if remote.is_empty() || remote.starts_with('-') {
                    return Err(Error::usage(format!("--push `{remote}` is not a remote"))
                        .with_hint("name a remote of the repository (git remote -v), a URL or a path to a repository"));
                }
                set_once(&mut push, "--push", remote)?;
            }
            Value(value) => positionals.push(value),
            _ => return Err(Error::from(arg.unexpected()).with_hint("see `porch run --help`")),
        }
    }

    let mut positionals = positionals.into_iter();
    if tasks.is_none()
        && let Some(value) = positionals.next()
    {
        tasks = Some(os_string(value, "TASKS")?);
    }
    if repo.is_none()
        && let Some(value) = positionals.next()
    {
        repo = Some(PathBuf::from(value));
    }
    if let Some(extra) = positionals.next() {
        return Err(
            Error::usage(format!("unexpected argument `{}`", extra.to_string_lossy()))
                .with_hint("usage: porch run [OPTIONS] TASKS [REPO]"),
        );
    }
    let Some(tasks) = tasks else {
        return Err(Error::usage("no tasks file given").with_hint(
            "usage: porch run [OPTIONS] TASKS [REPO]; `porch init` writes a sample tasks.json",
        ));
    };
    if tasks.is_empty() {
        return Err(Error::usage("the tasks file path is empty")
            .with_hint("name a JSON file, or - to read standard input"));
    }
    let repo = repo.unwrap_or_else(|| PathBuf::from("."));
    if repo.as_os_str().is_empty() {
        return Err(Error::usage("the repository path is empty")
            .with_hint("name a directory inside a git work tree, or leave REPO out for ."));
    }
    if json && events {
        return Err(Error::usage("--json and --events cannot be used together").with_hint(
            "use --json for the results once the run ends, or --events for each event as it happens",
        ));
    }
    let output_mode = match (json, events, quiet) {
        (true, _, _) => OutputMode::Json,
        (_, true, _) => OutputMode::Events,
        (_, _, true) => OutputMode::Quiet,
        _ => OutputMode::Stream,
    };
    if only.is_some() && skip.is_some() {
        return Err(Error::usage("--only and --skip cannot be used together")
            .with_hint("name the tasks to run with --only, or the ones to leave out with --skip"));
    }

    Ok(Command::Run(Box::new(RunArgs {
        tasks,
        repo,
        worktree_dir,
        permission_mode: permission_mode.unwrap_or_else(|| "acceptEdits".to_string()),
        cleanup,
        output,
        junit,
        claude,
        color: color.unwrap_or(ColorChoice::Auto),
        output_mode,
        jobs,
        stagger,
        timeout,
        idle_timeout,
        keep_leftovers,
        retries: retries.unwrap_or(0),
        retry_backoff: retry_backoff.unwrap_or(Duration::from_secs(10)),
        max_cost_usd,
        branch_template,
        port_base: port_base.unwrap_or(DEFAULT_PORT_BASE),
        only: only.unwrap_or_default(),
        skip: skip.unwrap_or_default(),
        shard,
        push,
    })))
}

/// `--only`/`--skip`'s value: task names separated by commas. Whether they name tasks is for
/// preflight, which has read the tasks file.
fn task_names(parser: &mut lexopt::Parser, flag: &str) -> Result<Vec<String>, Error> {
    let text = parser.value()?.string()?;
    let names: Vec<String> = text.split(',').map(|n| n.trim().to_string()).collect();
    if names.iter().any(String::is_empty) {
        return Err(
            Error::usage(format!("{flag} `{text}` holds an empty name")).with_hint(format!(
                "give task names separated by commas, e.g. {flag} fix-login,add-auth"
            )),
        );
    }
    Ok(names)
}

fn parse_init(parser: &mut lexopt::Parser) -> Result<Command, Error> {
    let mut file = None;
    let mut force = false;
    while let Some(arg) = parser.next()? {
        match arg {
            Short('h') | Long("help") => return Ok(Command::Help(HelpTopic::Init)),
            Short('f') | Long("force") => force = true,
            Value(value) if file.is_none() => file = Some(PathBuf::from(value)),
            _ => {
                return Err(
                    Error::from(arg.unexpected()).with_hint("usage: porch init [--force] [FILE]")
                );
            }
        }
    }
    Ok(Command::Init {
        file: file.unwrap_or_else(|| PathBuf::from("tasks.json")),
        force,
    })
}

fn parse_list(parser: &mut lexopt::Parser) -> Result<Command, Error> {
    let mut repo = None;
    while let Some(arg) = parser.next()? {
        match arg {
            Short('h') | Long("help") => return Ok(Command::Help(HelpTopic::List)),
            Long("repo") if repo.is_none() => repo = Some(PathBuf::from(parser.value()?)),
            Value(value) if repo.is_none() => repo = Some(PathBuf::from(value)),
            _ => return Err(Error::from(arg.unexpected()).with_hint("usage: porch list [REPO]")),
        }
    }
    Ok(Command::List {
        repo: repo.unwrap_or_else(|| PathBuf::from(".")),
    })
}

/// Shared with `cli_after`: every command refuses a repeated flag the same way.
pub fn set_once<T>(slot: &mut Option<T>, flag: &str, value: T) -> Result<(), Error> {
    if slot.is_some() {
        return Err(Error::usage(format!("{flag} was given more than once"))
            .with_hint(format!("give {flag} once")));
    }
    *slot = Some(value);
    Ok(())
}

pub fn nonempty_path(parser: &mut lexopt::Parser, flag: &str) -> Result<PathBuf, Error> {
    let value = parser.value()?;
    if value.is_empty() {
        return Err(
            Error::usage(format!("{flag} needs a path, got an empty string")).with_hint(format!(
                "give {flag} a path, or leave it out for the default"
            )),
        );
    }
    Ok(PathBuf::from(value))
}

fn duration(parser: &mut lexopt::Parser, flag: &str) -> Result<Duration, Error> {
    let text = parser.value()?.string()?;
    crate::util::duration::parse(&text).map_err(|reason| {
        Error::usage(format!("{flag} `{text}`: {reason}"))
            .with_hint("write durations like 90s, 10m or 1h30m")
    })
}

fn os_string(value: OsString, what: &str) -> Result<String, Error> {
    value.into_string().map_err(|raw| {
        Error::usage(format!(
            "{what} `{}` is not valid UTF-8",
            raw.to_string_lossy()
        ))
        .with_hint("porch reads this path as UTF-8: rename the file, or pass it on stdin as -")
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::Shard;

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
        assert_eq!(run.permission_mode, "acceptEdits");
        assert!(!run.cleanup);
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
        assert_eq!(run.stagger, Some(Duration::from_secs(2)));
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
            run_args(&["run", "t.json", "--permission-mode", "plan"]).permission_mode == "plan"
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
        assert_eq!(run.push.as_deref(), Some("origin"));
        let run = run_args(&["run", "t"]);
        assert_eq!((run.shard, run.push), (None, None));
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
    fn merge_results_takes_files_and_an_output() {
        assert_eq!(
            parse(["merge-results", "a.json", "-o", "all.json", "b.json"]).unwrap(),
            Command::MergeResults(MergeResultsArgs {
                files: vec![PathBuf::from("a.json"), PathBuf::from("b.json")],
                output: Some(PathBuf::from("all.json")),
                allow_missing: false,
            })
        );
        assert_eq!(
            parse(["merge-results", "--allow-missing", "a.json"]).unwrap(),
            Command::MergeResults(MergeResultsArgs {
                files: vec![PathBuf::from("a.json")],
                output: None,
                allow_missing: true,
            })
        );
        assert_eq!(
            parse(["help", "merge-results"]).unwrap(),
            Command::Help(HelpTopic::After(after::Topic::MergeResults))
        );
        assert_eq!(usage_error(&["merge-results"]), "no results files to merge");
        assert!(usage_error(&["merge-results", "a.json", "--frob"]).contains("--frob"));
    }

    #[test]
    fn help_and_version() {
        assert_eq!(parse(["--help"]).unwrap(), Command::Help(HelpTopic::Main));
        assert_eq!(
            parse(["help", "run"]).unwrap(),
            Command::Help(HelpTopic::Run)
        );
        assert_eq!(
            parse(["run", "--help"]).unwrap(),
            Command::Help(HelpTopic::Run)
        );
        assert_eq!(parse(["-V"]).unwrap(), Command::Version);
    }

    #[test]
    fn every_command_has_help_and_help_names_the_commands_otherwise() {
        let cases = [
            ("run", HelpTopic::Run),
            ("init", HelpTopic::Init),
            ("list", HelpTopic::List),
            ("help", HelpTopic::Main),
            ("status", HelpTopic::After(after::Topic::Status)),
            ("clean", HelpTopic::After(after::Topic::Clean)),
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
        assert_eq!(err.hint().as_deref(), Some(COMMANDS));
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
        assert_eq!(run_args(&["run", "t"]).max_cost_usd, None);
        let run = run_args(&["run", "t", "--max-cost-usd", "2.5"]);
        assert_eq!(run.max_cost_usd, Some(2.5));
        let run = run_args(&["run", "t", "--max-cost-usd", "0.000001"]);
        assert_eq!(run.max_cost_usd, Some(0.000_001));
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
