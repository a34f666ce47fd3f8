//! The command lines of `porch run` and `porch resume`, which share every setting of a run.

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use crate::agent::PERMISSION_MODES;
use crate::cli::Command;
use crate::cli::flags::COLOR_CHOICES;
use crate::cli::flags::Opt;
use crate::cli::flags::flag;
use crate::cli::lex::Given;
use crate::cli::table::listed;
use crate::error::Error;
use crate::preflight::branch_template::Template;
use crate::preflight::options::ColorChoice;
use crate::preflight::options::DEFAULT_MAX_WAIT;
use crate::preflight::options::JOBS;
use crate::preflight::options::MAX_FAIL;
use crate::preflight::options::OutputMode;
use crate::preflight::options::PORTS;
use crate::preflight::options::RETRIES;
use crate::preflight::options::Recordable;
use crate::preflight::options::ResumeArgs;
use crate::preflight::options::RunArgs;
use crate::preflight::options::Sourced;
use crate::preflight::options::is_cost_limit;
use crate::process::task_env::DEFAULT_PORT_BASE;
use crate::state::runs::RunChoice;
use crate::task::plan::MaxFail;
use crate::task::plan::RunSettings;

/// What `porch run` takes as TASKS when `porch resume` builds a run's settings: never read,
/// since a resume runs the tasks its run stored.
const STORED_TASKS: &str = "(the run's stored tasks)";

pub fn run(given: &Given) -> Result<Command, Error> {
    let mut positionals = given.positionals.iter().cloned();
    let tasks = match given.string(Opt::Tasks)? {
        Some((tasks, _)) => Some(tasks),
        None => positionals.next().map(utf8_tasks).transpose()?,
    };
    let repo = given.os(Opt::Repo).or_else(|| positionals.next());
    given.refuse_extra(positionals.next())?;
    let Some(tasks) = tasks else {
        return Err(Error::usage("no tasks file given").with_hint(format!(
            "{}; `porch init` writes a sample tasks.json",
            given.spec.usage_hint()
        )));
    };
    if tasks.is_empty() {
        return Err(Error::usage("the tasks file path is empty")
            .with_hint("name a JSON file, or - to read standard input"));
    }
    let mut args = settings(given, tasks, repo)?;
    args.only = task_names(given, Opt::Only)?;
    args.skip = task_names(given, Opt::Skip)?;
    if !args.only.is_empty() && !args.skip.is_empty() {
        return Err(Error::usage("--only and --skip cannot be used together")
            .with_hint("name the tasks to run with --only, or the ones to leave out with --skip"));
    }
    args.dry_run = dry_run(given, args.output_mode)?;
    args.shard = given.checked(
        Opt::Shard,
        |text| crate::preflight::shard::parse(text).map_err(|reason| format!(" {reason}")),
        "write K/N with 1 <= K <= N, e.g. --shard 2/4 for the second of four",
    )?;
    Ok(Command::Run(Box::new(args)))
}

/// `porch resume [REPO] [--run ID] [run settings]`.
pub fn resume(given: &Given) -> Result<Command, Error> {
    let mut positionals = given.positionals.iter().cloned();
    let repo = given.os(Opt::Repo).or_else(|| positionals.next());
    given.refuse_extra(positionals.next())?;
    let run = given.text(
        Opt::Run,
        "a run id",
        "`porch status` names the latest run; `ls .porch/runs` under the worktree directory lists the ids",
    )?;
    let mut args = settings(given, STORED_TASKS.to_string(), repo)?;
    args.dry_run = dry_run(given, args.output_mode)?;
    turned_on_and_off(given)?;
    args.no_on_finish = given.switch(Opt::NoOnFinish);
    args.no_on_task_finish = given.switch(Opt::NoOnTaskFinish);
    let choice = RunChoice {
        repo: args.repo.clone(),
        worktree_dir: args.settings.worktree_dir.clone(),
        run,
    };
    Ok(Command::Resume(ResumeArgs {
        choice,
        run: Box::new(args),
        given: (RECORDED.iter())
            .filter(|(ons, off, _)| ons.iter().chain(off).any(|&opt| given.has(opt)))
            .map(|&(_, _, setting)| setting)
            .collect(),
    }))
}

/// The flags of the settings a run records: given to `porch resume` (or their variables), they
/// win over the record. A switch, a push and a hook have a `--no-…` flag too, which turns off
/// what the run recorded, as no value given could: it wins as well, and cannot be given with
/// the flag that turns the setting on.
const RECORDED: [(&[Opt], Option<Opt>, Recordable); 18] = [
    (&[Opt::PermissionMode], None, Recordable::PermissionMode),
    (&[Opt::Timeout], None, Recordable::Timeout),
    (&[Opt::IdleTimeout], None, Recordable::IdleTimeout),
    (&[Opt::Retries], None, Recordable::Retries),
    (&[Opt::RetryBackoff], None, Recordable::RetryBackoff),
    (&[Opt::MaxCostUsd], None, Recordable::MaxCostUsd),
    (&[Opt::MaxFail, Opt::FailFast], None, Recordable::MaxFail),
    (&[Opt::MaxWait], None, Recordable::MaxWait),
    (&[Opt::Jobs], None, Recordable::Jobs),
    (&[Opt::Stagger], None, Recordable::Stagger),
    (&[Opt::PortBase], None, Recordable::PortBase),
    (&[Opt::Remote], None, Recordable::Remote),
    (&[Opt::Cleanup], Some(Opt::NoCleanup), Recordable::Cleanup),
    (
        &[Opt::KeepLeftovers],
        Some(Opt::NoKeepLeftovers),
        Recordable::KeepLeftovers,
    ),
    (&[Opt::Push], Some(Opt::NoPush), Recordable::Push),
    (&[Opt::Pr], Some(Opt::NoPr), Recordable::Pr),
    (
        &[Opt::OnFinish],
        Some(Opt::NoOnFinish),
        Recordable::OnFinish,
    ),
    (
        &[Opt::OnTaskFinish],
        Some(Opt::NoOnTaskFinish),
        Recordable::OnTaskFinish,
    ),
];

/// A `--no-…` flag given with the flag that turns its setting on.
fn turned_on_and_off(given: &Given) -> Result<(), Error> {
    for &(ons, off, _) in &RECORDED {
        let Some(off) = off.filter(|&off| given.has(off)) else {
            continue;
        };
        if let Some(&on) = ons.iter().find(|&&on| given.has(on)) {
            let (off, on) = (flag(off).name(), flag(on).name());
            return Err(
                Error::usage(format!("{on} and {off} cannot be used together")).with_hint(format!(
                    "give {on} to have it, {off} to turn off what the run recorded"
                )),
            );
        }
    }
    Ok(())
}

/// `--dry-run`, which has nothing to show as `--events`.
fn dry_run(given: &Given, mode: OutputMode) -> Result<bool, Error> {
    let dry_run = given.switch(Opt::DryRun);
    if dry_run && mode == OutputMode::Events {
        return Err(Error::usage("--dry-run and --events cannot be used together")
            .with_hint("--dry-run prints the plan, and nothing happens to show as events; add --json for the plan as JSON"));
    }
    Ok(dry_run)
}

fn utf8_tasks(value: OsString) -> Result<String, Error> {
    value.into_string().map_err(|raw| {
        Error::usage(format!(
            "TASKS `{}` is not valid UTF-8",
            raw.to_string_lossy()
        ))
        .with_hint("porch reads this path as UTF-8: rename the file, or pass it on stdin as -")
    })
}

/// Every option of a run, `porch run`'s and `porch resume`'s alike.
fn settings(given: &Given, tasks: String, repo: Option<OsString>) -> Result<RunArgs, Error> {
    let repo = PathBuf::from(repo.unwrap_or_else(|| ".".into()));
    if repo.as_os_str().is_empty() {
        return Err(Error::usage("the repository path is empty")
            .with_hint("name a directory inside a git work tree, or leave REPO out for ."));
    }
    let color = given.choice(
        Opt::Color,
        "a choice",
        &format!("use {}", listed(&COLOR_CHOICES, "or")),
    )?;
    let color = match color {
        Some("always") => ColorChoice::Always,
        Some("never") => ColorChoice::Never,
        _ => ColorChoice::Auto,
    };
    Ok(RunArgs {
        tasks,
        repo,
        settings: run_settings(given)?,
        claude: claude(given)?,
        color,
        output_mode: output_mode(given)?,
        jobs: given.number(Opt::Jobs, JOBS, "a number of sessions", "4")?,
        jobs_given: (given.raw(Opt::Jobs))
            .map(|(value, origin)| origin.example(&value.to_string_lossy())),
        timeout: given.duration(Opt::Timeout)?,
        branch_template: given.checked(
            Opt::BranchTemplate,
            |text| Template::parse(text).map_err(|reason| format!(" {reason}")),
            "write e.g. 'nightly/{date}/{name}'; the placeholders are {name} (required), {run}, {date} and {time}",
        )?,
        port_base: given
            .number(Opt::PortBase, PORTS, "a port", "40000")?
            .unwrap_or(DEFAULT_PORT_BASE),
        only: Vec::new(),
        skip: Vec::new(),
        shard: None,
        dry_run: false,
        pr: given.switch(Opt::Pr),
        remote: given.text(Opt::Remote, "a remote", "name a remote, e.g. --remote origin")?,
        on_finish: given.text(Opt::OnFinish, "a command", HOOK_HINT)?,
        on_task_finish: given.text(Opt::OnTaskFinish, "a command", HOOK_HINT)?,
        no_on_finish: false,
        no_on_task_finish: false,
    })
}

/// The settings a run's `Plan` carries on.
fn run_settings(given: &Given) -> Result<RunSettings, Error> {
    let permission_mode = given.choice(
        Opt::PermissionMode,
        "one of claude's permission modes",
        &format!("use one of: {}", PERMISSION_MODES.join(", ")),
    )?;
    Ok(RunSettings {
        worktree_dir: given.path(Opt::WorktreeDir)?,
        permission_mode: permission_mode.unwrap_or("acceptEdits").to_string(),
        cleanup: given.switch(Opt::Cleanup),
        output: given.path(Opt::Output)?,
        junit: given.path(Opt::Junit)?,
        report: given.path(Opt::Report)?,
        stagger: given.duration(Opt::Stagger)?,
        idle_timeout: given.duration(Opt::IdleTimeout)?,
        keep_leftovers: given.switch(Opt::KeepLeftovers),
        retries: given
            .number(Opt::Retries, RETRIES, "a number of retries", "2")?
            .unwrap_or(0),
        retry_backoff: given
            .duration(Opt::RetryBackoff)?
            .unwrap_or(Duration::from_secs(10)),
        max_cost_usd: max_cost_usd(given)?,
        max_fail: max_fail(given)?,
        max_wait: given.duration(Opt::MaxWait)?.unwrap_or(DEFAULT_MAX_WAIT),
        push: push(given)?,
    })
}

/// The hint of an empty `--on-finish` or `--on-task-finish`.
const HOOK_HINT: &str =
    "give a shell command, e.g. --on-finish 'notify-send porch \"$PORCH_SUMMARY\"'";

pub fn claude(given: &Given) -> Result<Option<Sourced<OsString>>, Error> {
    let value = given.path(Opt::Claude)?;
    let origin = given.raw(Opt::Claude).map(|(_, origin)| origin.to_string());
    Ok(value.zip(origin).map(|(path, from)| Sourced {
        value: path.into_os_string(),
        from,
    }))
}

fn output_mode(given: &Given) -> Result<OutputMode, Error> {
    let (quiet, json, events) = (
        given.switch(Opt::Quiet),
        given.switch(Opt::Json),
        given.switch(Opt::Events),
    );
    if json && events {
        return Err(Error::usage("--json and --events cannot be used together").with_hint(
            "use --json for the results once the run ends, or --events for each event as it happens",
        ));
    }
    Ok(match (json, events, quiet) {
        (true, _, _) => OutputMode::Json,
        (_, true, _) => OutputMode::Events,
        (_, _, true) => OutputMode::Quiet,
        _ => OutputMode::Stream,
    })
}

pub fn max_cost_usd(given: &Given) -> Result<Option<f64>, Error> {
    given.checked(
        Opt::MaxCostUsd,
        |text| {
            text.parse::<f64>()
                .ok()
                .filter(|d| is_cost_limit(*d))
                .ok_or_else(|| " is not an amount of dollars".to_string())
        },
        "give a number of at least 0.000001, e.g. --max-cost-usd 5 or 2.50",
    )
}

/// `--max-fail N`, or `--fail-fast` for 1: one of them.
fn max_fail(given: &Given) -> Result<Option<MaxFail>, Error> {
    let tasks = given.number(Opt::MaxFail, MAX_FAIL, "a number of tasks", "3")?;
    match (tasks, given.switch(Opt::FailFast)) {
        (Some(_), true) => Err(
            Error::usage("--max-fail and --fail-fast cannot be used together")
                .with_hint("--fail-fast is --max-fail 1: give one of them"),
        ),
        (Some(tasks), false) => Ok(Some(MaxFail {
            tasks,
            fail_fast: false,
        })),
        (None, true) => Ok(Some(MaxFail {
            tasks: 1,
            fail_fast: true,
        })),
        (None, false) => Ok(None),
    }
}

fn push(given: &Given) -> Result<Option<String>, Error> {
    given.checked(
        Opt::Push,
        |remote| match remote.is_empty() || remote.starts_with('-') {
            true => Err(" is not a remote".to_string()),
            false => Ok(remote.to_string()),
        },
        "name a remote of the repository (git remote -v), a URL or a path to a repository",
    )
}

/// `--only`/`--skip`'s value: task names separated by commas. Whether they name tasks is for
/// preflight, which has read the tasks file.
fn task_names(given: &Given, opt: Opt) -> Result<Vec<String>, Error> {
    let Some((text, origin)) = given.string(opt)? else {
        return Ok(Vec::new());
    };
    let names: Vec<String> = text.split(',').map(|n| n.trim().to_string()).collect();
    if names.iter().any(String::is_empty) {
        let example = origin.example("fix-login,add-auth");
        return Err(
            Error::usage(format!("{origin} `{text}` holds an empty name")).with_hint(format!(
                "give task names separated by commas, e.g. {example}"
            )),
        );
    }
    Ok(names)
}
