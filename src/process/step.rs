//! A command porch runs for a task besides the agent (`setup`), from start to end: started
//! without a shell in the worktree, in its own process group, stdin null; every line it prints
//! shown with the task's prefix and kept in the task's log; ended like a session (SIGTERM,
//! SIGTERM, SIGKILL) when the task's time runs out or porch is told to stop.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{BufReader, Write};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crossbeam_channel::Sender;

use crate::output::printer::{self, Line, Message, Origin, Tone};
use crate::process::env::REPO_ENV_VARS;
use crate::process::groups;
use crate::process::shutdown;
use crate::process::task_env::Redactor;
use crate::sys;
use crate::sys::line_reader::read_capped_line;
use crate::util::duration;

/// Longest line kept from a step; the rest of it is dropped.
const LINE_LIMIT: usize = 1024 * 1024;
/// Between the first SIGTERM, the second, and SIGKILL: as for a session.
const STOP_GRACE: Duration = Duration::from_secs(3);
const POLL_INTERVAL: Duration = Duration::from_millis(100);
/// How long the output may stay open after the step exited (something it started in the
/// background holds it) before porch stops waiting for it.
const DRAIN_DEADLINE: Duration = Duration::from_secs(5);
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
    pub timeout: Option<Duration>,
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
    /// Its last lines of output (both streams, redacted), oldest first.
    pub last_lines: Vec<String>,
}

impl Ran {
    fn without_output(end: StepEnd) -> Ran {
        Ran {
            end,
            exit_code: None,
            last_lines: Vec::new(),
        }
    }
}

/// Runs the step to its end. What it leaves running after success is left to the session's
/// sweep (it carries the same marker): a dev server started by setup serves the session.
pub fn run(step: &Step) -> StepEnd {
    run_to_end(step).end
}

/// `run`, also telling the exit code and the last lines the step printed.
pub fn run_to_end(step: &Step) -> Ran {
    if let Some(signal) = shutdown::requested() {
        return Ran::without_output(StepEnd::Interrupted(signal));
    }
    let log = match File::options().create(true).append(true).open(step.log) {
        Ok(file) => Arc::new(Mutex::new(file)),
        Err(err) => {
            return Ran::without_output(StepEnd::Failed(format!(
                "could not be started: cannot open the log {}: {err}",
                step.log.display()
            )));
        }
    };
    let mut child = match command(step).spawn() {
        Ok(child) => child,
        Err(err) => {
            return Ran::without_output(StepEnd::Failed(format!(
                "could not be started: {}: {err}",
                step.argv[0]
            )));
        }
    };
    let pgid = child.id();
    // Ctrl-Z stops the step with porch, and while it runs no other session claims what it
    // leaves behind (see `groups::register_session`).
    let registration = groups::register_session(pgid, step.marker);
    let (done_tx, done_rx) = crossbeam_channel::bounded::<()>(2);
    let pipes: [Box<dyn std::io::Read + Send>; 2] = match (child.stdout.take(), child.stderr.take())
    {
        (Some(out), Some(err)) => [Box::new(out), Box::new(err)],
        _ => unreachable!("both were piped in `command`"),
    };
    let tail = Arc::new(Mutex::new(VecDeque::with_capacity(TAIL_LINES)));
    let mut readers = 0;
    for pipe in pipes {
        let sinks = Sinks {
            log: Arc::clone(&log),
            tail: Arc::clone(&tail),
            done: done_tx.clone(),
        };
        if spawn_reader(step, pipe, sinks).is_ok() {
            readers += 1;
        }
    }
    drop(done_tx);
    let (end, exit_code) = wait(step, &mut child, pgid);
    // A step that failed or was interrupted leaves the task: its leftovers are ended here.
    if end != StepEnd::Succeeded || step.sweep_after_success {
        let grace = if shutdown::urgent() {
            Duration::ZERO
        } else {
            STOP_GRACE
        };
        groups::end_leftovers(pgid, step.marker, None, grace);
    }
    drop(registration);
    let deadline = Instant::now() + DRAIN_DEADLINE;
    while readers > 0 && done_rx.recv_deadline(deadline).is_ok() {
        readers -= 1;
    }
    let last_lines = tail
        .lock()
        .map_or_else(|_| Vec::new(), |t| t.iter().cloned().collect());
    Ran {
        end,
        exit_code,
        last_lines,
    }
}

fn command(step: &Step) -> Command {
    let mut command = Command::new(&step.argv[0]);
    command
        .args(&step.argv[1..])
        .current_dir(step.worktree)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    // A porch killed with SIGKILL takes the step with it; the task thread spawning it waits
    // for it in `run`, so the signal never fires early.
    sys::die_with_parent(&mut command);
    // They would point the step's git at another repository than the worktree.
    for var in REPO_ENV_VARS {
        command.env_remove(var);
    }
    command.envs(step.env.iter().map(|(k, v)| (k, v)));
    command
}

/// Waits for the step to exit, ending it when its time runs out or porch is told to stop.
/// Returns how it ended and its exit code.
fn wait(step: &Step, child: &mut std::process::Child, pgid: u32) -> (StepEnd, Option<i32>) {
    let started = Instant::now();
    let mut stopping: Option<(StepEnd, Stopping)> = None;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => {
                let end = match stopping {
                    Some((why, _)) => why,
                    None => judge(status),
                };
                return (end, status.code());
            }
            Ok(None) => {}
            Err(err) => {
                return (
                    StepEnd::Failed(format!("could not be waited for: {err}")),
                    None,
                );
            }
        }
        match &mut stopping {
            Some((_, stop)) => stop.escalate(pgid),
            None => {
                if let Some(why) = why_stop(step, started) {
                    groups::signal_group(pgid, libc::SIGTERM);
                    stopping = Some((why, Stopping::new()));
                }
            }
        }
        std::thread::sleep(POLL_INTERVAL);
    }
}

fn why_stop(step: &Step, started: Instant) -> Option<StepEnd> {
    if let Some(signal) = shutdown::requested() {
        return Some(StepEnd::Interrupted(signal));
    }
    let limit = step.timeout.filter(|limit| started.elapsed() >= *limit)?;
    Some(StepEnd::Failed(format!(
        "timed out after {}",
        duration::format(limit)
    )))
}

/// The second SIGTERM, then SIGKILL, a grace period apart; at once when porch is told twice.
struct Stopping {
    since: Instant,
    sent: u8,
}

impl Stopping {
    fn new() -> Stopping {
        Stopping {
            since: Instant::now(),
            sent: 1,
        }
    }

    fn escalate(&mut self, pgid: u32) {
        if self.sent >= 3 || !(shutdown::urgent() || self.since.elapsed() >= STOP_GRACE) {
            return;
        }
        self.sent = if shutdown::urgent() { 3 } else { self.sent + 1 };
        self.since = Instant::now();
        let signal = if self.sent == 3 {
            libc::SIGKILL
        } else {
            libc::SIGTERM
        };
        groups::signal_group(pgid, signal);
    }
}

/// A step succeeded when it exited 0.
pub fn judge(status: ExitStatus) -> StepEnd {
    match (status.code(), status.signal()) {
        (Some(0), _) => StepEnd::Succeeded,
        (Some(code), _) => StepEnd::Failed(format!("exited with code {code}")),
        (None, Some(signal)) => {
            StepEnd::Failed(format!("was killed by {}", groups::describe_signal(signal)))
        }
        (None, None) => StepEnd::Failed("ended without an exit code".to_string()),
    }
}

/// Where a reader puts each line, and how it says it is done.
struct Sinks {
    log: Arc<Mutex<File>>,
    tail: Arc<Mutex<VecDeque<String>>>,
    done: Sender<()>,
}

fn spawn_reader(
    step: &Step,
    pipe: Box<dyn std::io::Read + Send>,
    sinks: Sinks,
) -> std::io::Result<()> {
    let Sinks { log, tail, done } = sinks;
    let printer = step.printer.clone();
    let redactor = Arc::clone(step.redactor);
    let (task, label) = (step.task_index, step.label);
    std::thread::Builder::new()
        .name(format!("{label}-read"))
        .spawn(move || {
            let mut reader = BufReader::new(pipe);
            let mut raw = Vec::new();
            while let Ok(Some(dropped)) = read_capped_line(&mut reader, &mut raw, LINE_LIMIT) {
                let mut text = redactor.redact(&String::from_utf8_lossy(&raw)).into_owned();
                if dropped > 0 {
                    text.push_str(&format!(" … ({dropped} more bytes)"));
                }
                if let Ok(mut file) = log.lock() {
                    let _ = writeln!(file, "[{label}] {text}");
                }
                if let Ok(mut tail) = tail.lock() {
                    if tail.len() == TAIL_LINES {
                        tail.pop_front();
                    }
                    tail.push_back(text.clone());
                }
                let line = Line {
                    task,
                    origin: Origin::Step(label),
                    tone: Tone::Plain,
                    text,
                };
                // The log has the line: a terminal that fell behind must not hold up the step.
                if !printer::offer(&printer, line) {
                    break;
                }
            }
            let _ = done.send(());
        })
        .map(|_| ())
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
            assert_eq!(judge(status_of(script)), end, "{script}");
        }
    }
}
