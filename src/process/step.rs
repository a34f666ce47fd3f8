//! A command porch runs for a task besides the agent (`setup`, `check`), from start to end:
//! started without a shell in the worktree as a `Child` (its own process group, stdin null);
//! every line it prints shown with the task's prefix and kept in the task's log; ended like a
//! session when the task's time runs out or porch is told to stop.

use std::fs::File;
use std::io::Write;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Command, ExitStatus};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crossbeam_channel::Sender;

use crate::output::printer;
use crate::output::printer::Line;
use crate::output::printer::Message;
use crate::output::printer::Origin;
use crate::output::printer::Tone;
use crate::process::child;
use crate::process::child::Child;
use crate::process::child::Leftovers;
use crate::process::child::Limit;
use crate::process::child::Sink;
use crate::process::child::Stop;
use crate::process::child::Tail;
use crate::process::env::REPO_ENV_VARS;
use crate::process::groups;
use crate::process::shutdown;
use crate::process::task_env::Redactor;
use crate::util::duration;

/// Longest line kept from a step; the rest of it is dropped.
const LINE_LIMIT: usize = 1024 * 1024;
/// How many of a step's last lines `Ran` keeps, for an error that shows why it failed.
const TAIL_LINES: usize = 10;

/// One command to run for a task.
pub struct Step<'a> {
    /// `setup`, `check`: names the step in messages, on the terminal and in the log.
    pub label: &'static str,
    pub argv: &'a [String],
    pub worktree: &'a Path,
    /// The task's environment: `PORCH_*`, the session marker, the task's `env`.
    pub env: &'a [(String, String)],
    /// Hides the task's `env` values in what the step prints.
    pub redactor: &'a Arc<Redactor>,
    /// The session marker, for sweeping what a failed step left running.
    pub marker: &'a groups::Marker,
    pub timeout: Option<Limit>,
    /// Whether what it leaves running is ended even when it succeeds: nothing after `check`
    /// would end it, while setup's dev server serves the session, whose sweep ends it.
    pub sweep_after_success: bool,
    pub log: &'a Path,
    pub task_index: usize,
    pub printer: &'a Sender<Message>,
}

/// How a step ended.
#[derive(Debug, Clone, PartialEq)]
pub enum StepEnd {
    Succeeded,
    /// Why, as a phrase: "exited with code 1", "was killed by signal 9 (SIGKILL)", "could not
    /// be started: …", "timed out after 5m".
    Failed(String),
    /// porch was told to stop (the signal's number).
    Interrupted(i32),
}

/// How a step ended, with what a caller reports about it (`check`).
#[derive(Debug)]
pub struct Ran {
    pub end: StepEnd,
    /// The step's exit code; `None` when it did not start or a signal ended it.
    pub exit_code: Option<i32>,
    /// From its start to its exit: porch's cleanup after it does not count.
    pub ran: Duration,
    /// Its last lines of output (both streams, redacted), oldest first.
    pub last_lines: Vec<String>,
}

impl Ran {
    fn without_output(end: StepEnd) -> Ran {
        Ran {
            end,
            exit_code: None,
            ran: Duration::ZERO,
            last_lines: Vec::new(),
        }
    }
}

/// Runs the step to its end: how it ended, its exit code and the last lines it printed. What
/// it leaves running after success is left to the session's sweep (it carries the same
/// marker), unless `sweep_after_success`: a dev server started by setup serves the session.
pub fn run_to_end(step: &Step) -> Ran {
    if let Some(signal) = shutdown::requested() {
        return Ran::without_output(StepEnd::Interrupted(signal));
    }
    let not_started =
        |why: String| Ran::without_output(StepEnd::Failed(format!("could not be started: {why}")));
    let log = match File::options().create(true).append(true).open(step.log) {
        Ok(file) => Arc::new(Mutex::new(file)),
        Err(err) => {
            return not_started(format!("cannot open the log {}: {err}", step.log.display()));
        }
    };
    let mut child = match Child::spawn(command(step), None, Some(step.marker), false) {
        Ok(child) => child,
        Err(err) => return not_started(format!("{}: {err}", step.argv[0])),
    };
    let tail = Tail::new(TAIL_LINES);
    let (stdout, stderr) = (sink(step, &log, &tail), sink(step, &log, &tail));
    if let Err(err) = child.read_output(LINE_LIMIT, stdout, stderr) {
        return not_started(format!("no thread to read it: {err}"));
    }
    let clock = child.clock();
    let (end, exit_code) = match child.wait(|| Stop::due(&clock, step.timeout, true)) {
        Ok((status, stopped)) => (ended(status, stopped), status.code()),
        Err(err) => (
            StepEnd::Failed(format!("could not be waited for: {err}")),
            None,
        ),
    };
    // A step that failed or was interrupted leaves the task: its leftovers are ended here.
    let leftovers = if end != StepEnd::Succeeded || step.sweep_after_success {
        Leftovers::End
    } else {
        Leftovers::Leave
    };
    let ran = child.ran();
    child.finish(leftovers);
    Ran {
        end,
        exit_code,
        ran,
        last_lines: tail.lines(),
    }
}

fn command(step: &Step) -> Command {
    let mut command = Command::new(&step.argv[0]);
    command.args(&step.argv[1..]).current_dir(step.worktree);
    child::in_own_group(&mut command);
    // They would point the step's git at another repository than the worktree.
    for var in REPO_ENV_VARS {
        command.env_remove(var);
    }
    command.envs(step.env.iter().map(|(k, v)| (k, v)));
    command
}

/// How a step ended: as it exited, unless porch ended it.
fn ended(status: ExitStatus, stopped: Option<Stop>) -> StepEnd {
    match stopped {
        None => judge_exit(status),
        Some(Stop::Interrupted(signal)) => StepEnd::Interrupted(signal),
        Some(Stop::TimedOut(limit)) => {
            StepEnd::Failed(format!("timed out after {}", duration::format(limit)))
        }
    }
}

/// A step succeeded when it exited 0.
pub fn judge_exit(status: ExitStatus) -> StepEnd {
    match (status.code(), status.signal()) {
        (Some(0), _) => StepEnd::Succeeded,
        (Some(code), _) => StepEnd::Failed(format!("exited with code {code}")),
        (None, Some(signal)) => {
            StepEnd::Failed(format!("was killed by {}", groups::describe_signal(signal)))
        }
        (None, None) => StepEnd::Failed("ended without an exit code".to_string()),
    }
}

/// What a reader does with each line the step prints: the log, the tail, the terminal.
fn sink(step: &Step, log: &Arc<Mutex<File>>, tail: &Tail) -> Sink {
    let (log, tail) = (Arc::clone(log), tail.clone());
    let printer = step.printer.clone();
    let redactor = Arc::clone(step.redactor);
    let (task, label) = (step.task_index, step.label);
    Box::new(move |raw, dropped, _| {
        let mut text = redactor.redact(&String::from_utf8_lossy(raw)).into_owned();
        if dropped > 0 {
            text.push_str(&format!(" … ({dropped} more bytes)"));
        }
        if let Ok(mut file) = log.lock() {
            let _ = writeln!(file, "[{label}] {text}");
        }
        tail.push(text.clone());
        let line = Line {
            task,
            origin: Origin::Step(label),
            tone: Tone::Plain,
            text,
        };
        // The log has the line: a terminal that fell behind must not hold up the step.
        printer::offer(&printer, line);
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    fn status_of(script: &str) -> ExitStatus {
        Command::new("sh").args(["-c", script]).status().unwrap()
    }

    #[test]
    fn a_step_succeeds_only_when_it_exits_0() {
        // (what the step does, how it ends)
        let cases = [
            ("exit 0", StepEnd::Succeeded),
            ("exit 1", StepEnd::Failed("exited with code 1".into())),
            ("exit 127", StepEnd::Failed("exited with code 127".into())),
            (
                "kill -9 $$",
                StepEnd::Failed("was killed by signal 9 (SIGKILL)".into()),
            ),
            (
                "kill -15 $$",
                StepEnd::Failed("was killed by signal 15 (SIGTERM)".into()),
            ),
        ];
        for (script, end) in cases {
            assert_eq!(judge_exit(status_of(script)), end, "{script}");
        }
    }
}
