//! `porch plan`: a goal in, a tasks file out. One claude session that can only read, in a
//! detached worktree of the repository's HEAD, answers with a plan through `--json-schema`; porch
//! checks it as `porch run` checks a tasks file, sends a refused plan back once in the same
//! session, and writes the accepted one. The repository is left as it was.

use std::cell::Cell;
use std::cell::RefCell;
use std::io::Read;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;
use std::time::Instant;
use std::time::SystemTime;

use crossbeam_channel::Sender;
use serde_json::Value;

use crate::agent;
use crate::agent::Settings;
use crate::agent::session;
use crate::agent::session::Launch;
use crate::agent::session::Session;
use crate::agent::session::StartFailure;
use crate::agent::session::StopReason;
use crate::agent::usage::UsageStatus;
use crate::agent::usage::UsageWindow;
use crate::engine::usage;
use crate::engine::usage::Decision;
use crate::engine::usage::UsageWaits;
use crate::error::Error;
use crate::git::Repo;
use crate::git::scratch::Scratch;
use crate::output::printer;
use crate::output::printer::Look;
use crate::output::printer::Message;
use crate::output::printer::Show;
use crate::output::printer::Tone;
use crate::preflight::Environment;
use crate::preflight::options::Goal;
use crate::preflight::options::PlanArgs;
use crate::preflight::proposal;
use crate::preflight::proposal::Accepted;
use crate::preflight::taskfile::TaskFile;
use crate::process::child::Limit;
use crate::process::shutdown;
use crate::process::task_env::Redactor;
use crate::sys::atomic_file;
use crate::sys::console;
use crate::task;
use crate::task::budget;
use crate::util::clip;
use crate::util::duration;
use crate::util::quote;
use crate::util::timestamp;

/// The longest goal read from a file or standard input, as for a task's `prompt_file`.
const GOAL_LIMIT: u64 = 1024 * 1024;
/// How often a wait for a usage window looks for a signal to porch.
const SIGNAL_POLL: Duration = Duration::from_millis(100);

pub fn plan(args: &PlanArgs) -> Result<ExitCode, Error> {
    let goal = read_goal(&args.goal)?;
    let repo = Repo::open(&args.repo)?;
    check_output(&args.output, args.force)?;
    let given = (args.claude.as_ref()).map(|c| (c.value.as_os_str(), c.from.as_str()));
    let program = agent::resolve_program(given, Environment::from_process().path.as_deref())?;
    shutdown::install();
    let scratch = Scratch::create(&repo, &std::env::temp_dir()).map_err(|err| {
        Error::setup(
            format!("could not make a worktree of {} to plan in: {err}", repo.toplevel.display()),
            "check that the repository is healthy (`git worktree list`) and the temporary directory writable (TMPDIR)",
        )
    })?;
    let look = Look {
        names: vec!["plan".to_string()],
        color: false,
        show: Show::Stream { status_line: false },
    };
    let (printer, printer_thread) = printer::spawn(look).map_err(|err| {
        Error::setup(
            format!("the system refused a thread for the printer, so nothing was started: {err}"),
            "too many threads or processes may be running (see ulimit -u); run porch again when fewer are",
        )
    })?;
    let talk = Talk {
        program: &program,
        worktree: scratch.dir(),
        printer: &printer,
        model: args.model.clone(),
        max_tasks: args.max_tasks,
        timeout: args.timeout,
        max_cost_usd: args.max_cost_usd,
        started: Instant::now(),
        usage: RefCell::new(UsageWaits::new(args.max_wait)),
        waited: Cell::new(Duration::ZERO),
    };
    let outcome = converse(&talk, &goal);
    printer::drain(&printer);
    drop(printer);
    printer_thread.finish();
    // Gone before porch says anything more, so that a pasted `porch run` finds nothing of it.
    drop(scratch);
    finish(args, outcome)
}

/// The goal as the user gave it, sent to the session verbatim.
fn read_goal(goal: &Goal) -> Result<String, Error> {
    let (text, from) = match goal {
        Goal::Text(text) => (text.clone(), "GOAL".to_string()),
        Goal::Stdin => (
            read_bounded(std::io::stdin().lock(), Path::new("<stdin>"))?,
            "standard input".to_string(),
        ),
        Goal::File(path) => {
            let file = std::fs::File::open(path).map_err(|err| {
                Error::setup(
                    format!("--goal-file {}: {err}", path.display()),
                    "name a file that holds the goal, e.g. --goal-file goal.md",
                )
            })?;
            (
                read_bounded(file, path)?,
                format!("--goal-file {}", path.display()),
            )
        }
    };
    if text.trim().is_empty() {
        return Err(Error::usage(format!("the goal is empty ({from})"))
            .with_hint("say what the tasks should achieve, e.g. porch plan 'Add a --json flag to every command'"));
    }
    Ok(text)
}

fn read_bounded(input: impl Read, path: &Path) -> Result<String, Error> {
    let mut bytes = Vec::new();
    input
        .take(GOAL_LIMIT + 1)
        .read_to_end(&mut bytes)
        .map_err(|err| {
            Error::setup(
                format!("{}: {err}", path.display()),
                "give the goal as text",
            )
        })?;
    if bytes.len() as u64 > GOAL_LIMIT {
        return Err(Error::usage(format!("the goal in {} is larger than 1 MiB", path.display()))
            .with_hint("say what the tasks should achieve in a few paragraphs; the session reads the repository itself"));
    }
    String::from_utf8(bytes).map_err(|_| {
        Error::usage(format!("the goal in {} is not UTF-8 text", path.display()))
            .with_hint("save the goal as UTF-8 text")
    })
}

/// FILE may be written: not a directory, in a directory that exists, and new unless `--force`.
fn check_output(output: &Path, force: bool) -> Result<(), Error> {
    let shown = output.display();
    if output.is_dir() {
        return Err(Error::setup(
            format!("-o {shown} is a directory"),
            "name a file, e.g. -o tasks.json",
        ));
    }
    let dir = output
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    if !dir.is_dir() {
        return Err(Error::setup(
            format!("-o {shown}: the directory {} does not exist", dir.display()),
            "create it first, or name a file in an existing directory",
        ));
    }
    if !force && output.symlink_metadata().is_ok() {
        return Err(Error::setup(
            format!("{shown} already exists; porch plan does not overwrite it"),
            "pass --force to replace it, or name another file with -o",
        ));
    }
    Ok(())
}

/// What every session of one plan shares.
struct Talk<'a> {
    program: &'a Path,
    worktree: &'a Path,
    printer: &'a Sender<Message>,
    model: Option<String>,
    max_tasks: usize,
    /// `--timeout`: every session of the plan together, from `started`.
    timeout: Duration,
    /// `--max-cost-usd`: every session of the plan together.
    max_cost_usd: Option<f64>,
    started: Instant,
    /// The waits for usage windows that refused a session, bounded by `--max-wait`; their
    /// time is not the sessions' (`--timeout`).
    usage: RefCell<UsageWaits>,
    waited: Cell<Duration>,
}

/// How a plan ended, and what its sessions cost together.
enum Outcome {
    Accepted {
        accepted: Box<Accepted>,
        cost: f64,
    },
    /// A session failed: claude's reason.
    Failed {
        reason: String,
        cost: f64,
    },
    /// The plan was refused, sent back, and refused again (or could not be sent back).
    Refused {
        refusals: Vec<String>,
        cost: f64,
    },
    /// A usage window refused a session and resets later than `--max-wait`: why, and what
    /// the user may do.
    NotWaited {
        reason: String,
        next: String,
        cost: f64,
    },
    Interrupted(i32),
}

/// The first session with the goal; if porch refuses its plan, one more in the same session
/// with the refusal.
fn converse(talk: &Talk, goal: &str) -> Outcome {
    let first = ask(talk, goal, None, 0.0);
    let mut cost = first.cost;
    let (session_id, proposal) = match first.end {
        End::Answered {
            session_id,
            proposal,
        } => (session_id, proposal),
        End::Failed(reason) => return Outcome::Failed { reason, cost },
        End::NotWaited { reason, next } => return not_waited(reason, next, cost),
        End::Interrupted(signal) => return Outcome::Interrupted(signal),
    };
    let refusal = match judge(proposal, talk.max_tasks) {
        Ok(accepted) => return Outcome::Accepted { accepted, cost },
        Err(refusal) => refusal,
    };
    let Some(session_id) = session_id else {
        let refusals = vec![refusal];
        return Outcome::Refused { refusals, cost };
    };
    printer::note(
        talk.printer,
        0,
        Tone::Bad,
        format!("porch refused the plan, sent back once: {refusal}"),
    );
    if talk.budget_left(cost).is_some_and(budget::is_nothing) {
        let reason = format!(
            "its plan was refused and the budget is spent (--max-cost-usd), so it was not sent back: {refusal}"
        );
        return Outcome::Failed { reason, cost };
    }
    let second = ask(
        talk,
        &proposal::correction(&refusal),
        Some(session_id),
        cost,
    );
    cost += second.cost;
    let proposal = match second.end {
        End::Answered { proposal, .. } => proposal,
        End::Failed(reason) => return Outcome::Failed { reason, cost },
        End::NotWaited { reason, next } => return not_waited(reason, next, cost),
        End::Interrupted(signal) => return Outcome::Interrupted(signal),
    };
    match judge(proposal, talk.max_tasks) {
        Ok(accepted) => Outcome::Accepted { accepted, cost },
        Err(again) => Outcome::Refused {
            refusals: vec![refusal, again],
            cost,
        },
    }
}

/// A session's answer checked: the accepted plan, or why porch refused it, as the session and
/// the user are told.
fn judge(proposal: Option<Value>, max_tasks: usize) -> Result<Box<Accepted>, String> {
    let Some(proposal) = proposal else {
        return Err(
            "the session gave no plan: it did not call the StructuredOutput tool".to_string(),
        );
    };
    proposal::accept(&proposal, max_tasks)
        .map(Box::new)
        .map_err(|err| match err.hint() {
            Some(hint) => format!("{err}\nhint: {hint}"),
            None => err.to_string(),
        })
}

/// One session's end.
struct Turn {
    cost: f64,
    end: End,
}

enum End {
    Answered {
        session_id: Option<String>,
        proposal: Option<Value>,
    },
    Failed(String),
    /// porch does not wait for the window: the reason, and what the user may do.
    NotWaited {
        reason: String,
        next: String,
    },
    Interrupted(i32),
}

/// A session a usage window refused, and what it cost.
struct Refused {
    cost: f64,
    window: UsageWindow,
}

fn not_waited(reason: String, next: String, cost: f64) -> Outcome {
    Outcome::NotWaited { reason, next, cost }
}

impl Talk<'_> {
    /// What the sessions may still spend after `spent`; none without `--max-cost-usd`.
    fn budget_left(&self, spent: f64) -> Option<f64> {
        budget::left_after(self.max_cost_usd, spent).map(budget::whole_millionths)
    }
}

/// Runs a session in the worktree: `prompt` on stdin, continuing `resume` if given; `spent` is
/// what the sessions before it cost. A session a usage window refused is run again once the
/// window resets, if that is within `--max-wait`; the cost is all of them together.
fn ask(talk: &Talk, prompt: &str, resume: Option<String>, spent: f64) -> Turn {
    let mut cost = 0.0;
    loop {
        let end = match ask_once(talk, prompt, resume.clone(), spent + cost) {
            Ok(turn) => {
                cost += turn.cost;
                turn.end
            }
            Err(refused) => {
                cost += refused.cost;
                match wait_for_reset(talk, &refused.window) {
                    Ok(()) => continue,
                    Err(end) => end,
                }
            }
        };
        return Turn { cost, end };
    }
}

/// Waits until the window that refused the session resets (a `[porch]` line says until when),
/// or says why not: the wait would pass `--max-wait`, or porch was signalled meanwhile.
fn wait_for_reset(talk: &Talk, window: &UsageWindow) -> Result<(), End> {
    let (now, wall) = (Instant::now(), SystemTime::now());
    let mut waits = talk.usage.borrow_mut();
    let until = match waits.refused(window, now, wall, task::random_fraction()) {
        Decision::Wait { until, wait } => {
            let text = usage::waiting(&window.kind, wait, wall);
            printer::note(talk.printer, 0, Tone::Bad, text);
            until
        }
        Decision::Waiting => waits.hold_until().unwrap_or(now),
        Decision::GiveUp { wait } => {
            let reason = usage::too_long(&window.kind, wait, wall, waits.max_wait());
            let resets = timestamp::clock_utc(wall + wait, wall);
            let enough = duration::format(Duration::from_secs(wait.as_secs().div_ceil(60) * 60));
            let next = format!(
                "run porch plan again after {resets}, or now with --max-wait {enough} to wait for it"
            );
            return Err(End::NotWaited { reason, next });
        }
    };
    drop(waits);
    while let Some(left) = until.checked_duration_since(Instant::now()) {
        if let Some(signal) = shutdown::requested() {
            return Err(End::Interrupted(signal));
        }
        std::thread::sleep(left.min(SIGNAL_POLL));
    }
    talk.waited.set(talk.waited.get() + now.elapsed());
    Ok(())
}

/// Runs one session in the worktree: `prompt` on stdin, continuing `resume` if given;
/// `spent` is what the sessions before it cost. `Err` when a usage window refused it.
fn ask_once(
    talk: &Talk,
    prompt: &str,
    resume: Option<String>,
    spent: f64,
) -> Result<Turn, Refused> {
    let budget = talk.budget_left(spent);
    let args = arguments(talk.model.clone(), talk.max_tasks, resume, budget);
    let (usage_tx, usage_rx) = crossbeam_channel::unbounded();
    let launch = Launch {
        program: talk.program,
        args: &args,
        env: &[],
        redactor: &Arc::new(Redactor::new(&[])),
        prompt,
        worktree: talk.worktree,
        // The terminal shows the session; the worktree and everything of the plan goes.
        log: Path::new("/dev/null"),
        attempt: 1,
        marker: format!("plan-{}", std::process::id()),
        resuming: false,
        timeout: Some(Limit::after(
            talk.timeout,
            talk.started.elapsed().saturating_sub(talk.waited.get()),
        )),
        idle_timeout: None,
        keep_leftovers: false,
        task_index: 0,
        printer: talk.printer,
        api_reports: None,
        usage_reports: Some(usage_tx),
        stop_unanswered: None,
        restarted: false,
    };
    let session = match session::run(&launch) {
        Ok(session) => session,
        Err(StartFailure::Interrupted(signal)) => {
            return Ok(Turn {
                cost: 0.0,
                end: End::Interrupted(signal),
            });
        }
        Err(failure) => {
            return Ok(Turn {
                cost: 0.0,
                end: End::Failed(failure.to_string()),
            });
        }
    };
    warn(talk, usage_rx.try_iter().map(|(_, window)| window));
    if let Some(window) = session
        .log
        .usage_refusal()
        .filter(|_| session.stopped.is_none())
    {
        let cost = (session.log.result.as_ref()).and_then(|r| r.total_cost_usd);
        return Err(Refused {
            cost: cost.unwrap_or(0.0),
            window: window.clone(),
        });
    }
    if session.log.ever_answered() {
        talk.usage.borrow_mut().answered(Instant::now());
    }
    Ok(turn_of(session))
}

/// How a session that no usage window refused ended, and what it cost.
fn turn_of(session: Session) -> Turn {
    let result = session.log.result;
    let cost = result
        .as_ref()
        .and_then(|r| r.total_cost_usd)
        .unwrap_or(0.0);
    let end = match (session.stopped, result) {
        (Some(StopReason::Interrupted(signal)), _) => End::Interrupted(signal),
        (Some(reason), _) => End::Failed(session::describe_stop(reason, false)),
        (None, None) => End::Failed(format!(
            "claude ended ({}) without a result",
            session.status
        )),
        (None, Some(result)) if result.is_error || !session.status.success() => {
            let why = result
                .error_text()
                .unwrap_or_else(|| format!("claude ended ({})", session.status));
            End::Failed(why)
        }
        (None, Some(result)) => End::Answered {
            session_id: session.log.session_id,
            proposal: result.structured_output,
        },
    };
    Turn { cost, end }
}

/// An `allowed_warning` the session's stream gave: one note per window.
fn warn(talk: &Talk, windows: impl Iterator<Item = UsageWindow>) {
    for window in windows {
        if window.status == UsageStatus::Warning && talk.usage.borrow_mut().warned(&window) {
            printer::note(talk.printer, 0, Tone::Dim, usage::warning(&window));
        }
    }
}

/// claude's arguments for a planning session: read-only, held to the plan's schema, told what
/// makes a good plan.
pub fn arguments(
    model: Option<String>,
    max_tasks: usize,
    resume: Option<String>,
    max_budget_usd: Option<f64>,
) -> Vec<String> {
    agent::answering_arguments(
        &proposal::schema(max_tasks),
        Settings {
            model,
            max_budget_usd,
            append_system_prompt: Some(proposal::system_prompt(max_tasks)),
            resume,
            ..Settings::default()
        },
    )
}

/// Writes the accepted plan and says what it holds, or says why there is none.
fn finish(args: &PlanArgs, outcome: Outcome) -> Result<ExitCode, Error> {
    match outcome {
        Outcome::Accepted { accepted, cost } => {
            write(&args.output, &accepted.text, args.force)?;
            console::print_stdout(&summary(&accepted.file, &args.output, &args.repo, cost));
            Ok(ExitCode::SUCCESS)
        }
        Outcome::Failed { reason, cost } => {
            console::print_stderr(&format!(
                "porch: the planning session failed: {reason}\nnothing was written (the session cost ${cost:.4})\n"
            ));
            Ok(ExitCode::from(1))
        }
        Outcome::Refused { refusals, cost } => {
            console::print_stderr(&refused(&refusals, cost));
            Ok(ExitCode::from(1))
        }
        Outcome::NotWaited { reason, next, cost } => {
            console::print_stderr(&format!(
                "porch: the planning session was refused: {reason}\n\
                 nothing was written (the session cost ${cost:.4}); {next}\n"
            ));
            Ok(ExitCode::from(1))
        }
        Outcome::Interrupted(signal) => {
            console::print_stderr("porch: planning interrupted; nothing was written\n");
            Ok(ExitCode::from(
                u8::try_from(signal).map_or(1, |s| s.saturating_add(128)),
            ))
        }
    }
}

fn write(output: &Path, text: &str, force: bool) -> Result<(), Error> {
    if force {
        return atomic_file::write_atomic(output, text.as_bytes());
    }
    if atomic_file::create_new(output, text.as_bytes())? {
        return Ok(());
    }
    Err(Error::setup(
        format!(
            "{} appeared while the plan was made; porch plan does not overwrite it",
            output.display()
        ),
        "pass --force to replace it, or name another file with -o",
    ))
}

/// Why no plan was written: each refusal, the first being what the session was sent back with.
fn refused(refusals: &[String], cost: f64) -> String {
    let mut text = String::from("porch: the plan was refused");
    match refusals {
        [only] => text.push_str(&format!(":\n{}\n", clip::visible(only))),
        [first, rest @ ..] => {
            text.push_str(&format!(" and sent back once:\n{}\n", clip::visible(first)));
            for again in rest {
                text.push_str(&format!(
                    "the corrected plan was refused too:\n{}\n",
                    clip::visible(again)
                ));
            }
        }
        [] => text.push('\n'),
    }
    text.push_str(&format!(
        "nothing was written (the session cost ${cost:.4})\n"
    ));
    text
}

/// Longest name column in the summary; longer names push their line's text along.
const NAME_WIDTH: usize = 24;
/// The width a task's line in the summary is cut to, or its prompt to `PROMPT_MIN` characters.
const LINE_WIDTH: usize = 100;
const PROMPT_MIN: usize = 30;

/// What porch prints once the plan is written: the tasks, every command it runs, and how to run it.
fn summary(file: &TaskFile, output: &Path, repo: &Path, cost: f64) -> String {
    let tasks = &file.tasks;
    let width = tasks
        .iter()
        .map(|t| t.name.len())
        .max()
        .unwrap_or(0)
        .min(NAME_WIDTH);
    let count = match tasks.len() {
        1 => "1 task".to_string(),
        n => format!("{n} tasks"),
    };
    let mut text = format!(
        "wrote {} with {count} (the plan cost ${cost:.4})\n\n",
        output.display()
    );
    for task in tasks {
        let after = match task.depends_on.as_slice() {
            [] => String::new(),
            names => format!("(after {}) ", names.join(", ")),
        };
        let room = LINE_WIDTH.saturating_sub(4 + width + after.chars().count());
        let prompt = clip::first_line(&task.prompt, room.max(PROMPT_MIN));
        text.push_str(&format!(
            "  {:<width$}  {after}{}\n",
            task.name,
            clip::visible(&prompt)
        ));
    }
    let checks: Vec<_> = tasks
        .iter()
        .filter_map(|t| Some((&t.name, t.check.as_ref()?)))
        .collect();
    if checks.is_empty() {
        text.push_str("\nThe plan runs no command of its own: no task has a check.\n");
    } else {
        text.push_str(
            "\nCommands the plan runs (each task's check, in its worktree after its session):\n",
        );
        for (name, check) in checks {
            text.push_str(&format!(
                "  {name:<width$}  {}\n",
                clip::visible(&quote::command(check))
            ));
        }
    }
    let run = quote::command(&[
        "porch",
        "run",
        &output.to_string_lossy(),
        &repo.to_string_lossy(),
    ]);
    text.push_str(&format!(
        "\nRead {} over, then run it:\n  {run}\n",
        output.display()
    ));
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn accepted(proposal: Value) -> TaskFile {
        proposal::accept(&proposal, 8).unwrap().file
    }

    #[test]
    fn the_summary_lists_tasks_every_command_and_the_run() {
        let file = accepted(json!({"tasks": [
            {"name": "parser", "prompt": "Add a parser.\nIn src/parse.rs.", "check": ["cargo", "test", "--lib"]},
            {"name": "docs", "prompt": "Document it", "depends_on": ["parser"]},
            {"name": "evil", "prompt": "x", "check": ["sh", "-c", "true\n\x1b[2Krm -rf ~"]}
        ]}));
        let text = summary(&file, Path::new("my plan.json"), Path::new("."), 0.12345);
        assert_eq!(
            text,
            "wrote my plan.json with 3 tasks (the plan cost $0.1235)\n\
             \n\
             \x20 parser  Add a parser.…\n\
             \x20 docs    (after parser) Document it\n\
             \x20 evil    x\n\
             \n\
             Commands the plan runs (each task's check, in its worktree after its session):\n\
             \x20 parser  cargo test --lib\n\
             \x20 evil    sh -c 'true\\x0a\\x1b[2Krm -rf ~'\n\
             \n\
             Read my plan.json over, then run it:\n\
             \x20 porch run 'my plan.json' .\n"
        );
        let file = accepted(json!({"tasks": [{"name": "one", "prompt": "p"}]}));
        let text = summary(&file, Path::new("t.json"), Path::new("/r"), 0.0);
        assert!(
            text.starts_with("wrote t.json with 1 task (the plan cost $0.0000)\n"),
            "{text}"
        );
        assert!(
            text.contains("\nThe plan runs no command of its own: no task has a check.\n"),
            "{text}"
        );
    }

    #[test]
    fn a_task_line_fits_a_hundred_columns() {
        let long = "word ".repeat(60);
        let file = accepted(json!({"tasks": [
            {"name": "first-task-name", "prompt": long},
            {"name": "second", "prompt": long, "depends_on": ["first-task-name"]}
        ]}));
        let text = summary(&file, Path::new("t.json"), Path::new("."), 0.0);
        let lines: Vec<&str> = text.lines().filter(|l| l.contains("word")).collect();
        assert_eq!(lines.len(), 2, "{text}");
        for line in lines {
            // The cut's `…` is the hundred-and-first.
            assert_eq!(line.chars().count(), 101, "{line}");
            assert!(line.ends_with('…'), "{line}");
        }
    }

    #[test]
    fn a_refusal_says_what_the_session_was_sent_back_with() {
        assert_eq!(
            refused(&["first".to_string()], 0.5),
            "porch: the plan was refused:\nfirst\nnothing was written (the session cost $0.5000)\n"
        );
        assert_eq!(
            refused(&["first".to_string(), "second\x07".to_string()], 1.0),
            "porch: the plan was refused and sent back once:\nfirst\n\
             the corrected plan was refused too:\nsecond\\x07\n\
             nothing was written (the session cost $1.0000)\n"
        );
    }

    #[test]
    fn the_session_is_read_only_and_continued_with_resume() {
        let first = arguments(None, 8, None, None);
        let head = "-p --output-format stream-json --verbose --permission-mode dontAsk";
        assert!(first.join(" ").starts_with(head), "{first:?}");
        let tail = &first[first.len() - 6..];
        assert_eq!(
            tail[..5],
            ["--tools", "Read", "Grep", "Glob", "--json-schema"]
        );
        assert_eq!(tail[5], proposal::schema(8).to_string());
        let second = arguments(Some("opus".into()), 8, Some("s-1".into()), Some(0.25));
        assert_eq!(
            second[6..12],
            [
                "--resume",
                "s-1",
                "--model",
                "opus",
                "--max-budget-usd",
                "0.25"
            ]
        );
        assert_eq!(second[12..], first[6..]);
    }

    #[test]
    fn no_structured_output_is_a_plan_to_send_back() {
        let refusal = judge(None, 8).unwrap_err();
        assert_eq!(
            refusal,
            "the session gave no plan: it did not call the StructuredOutput tool"
        );
        let refusal = judge(
            Some(json!({"tasks": [{"name": "a", "prompt": "p", "setup": ["x"]}]})),
            8,
        )
        .unwrap_err();
        assert!(refusal.starts_with("the plan: tasks[0] (\"a\"): field `setup`: not allowed in a plan\nhint: a plan gives"), "{refusal}");
    }
}
