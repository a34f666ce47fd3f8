//! One agent process from start to end: its output streamed to the printer and the task's
//! log, and its end, whether it exits, times out, goes silent, hangs after its result or porch
//! is signalled; then whatever it left running.

use std::fs::File;
use std::io::{BufReader, BufWriter, Write};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crossbeam_channel::Sender;

use crate::agent::{self, SessionLog};
use crate::duration;
use crate::line_reader::read_capped_line;
use crate::printer::{self, Line, Origin, Tone};
use crate::proc;
use crate::shutdown;

/// Longest line kept from an agent. A result event larger than this is lost (and the task
/// reported as having none); anything else is cut in the log and on the terminal.
const LINE_LIMIT: usize = 16 * 1024 * 1024;
/// How long leftover processes get between SIGTERM and SIGKILL.
const LEFTOVER_GRACE: Duration = Duration::from_secs(2);
/// How long to wait for the output pipes to close once the agent and its leftovers are gone.
/// Only a process that escaped both the group and the marker can hold them longer.
const PIPE_DRAIN_DEADLINE: Duration = Duration::from_secs(5);

/// Everything needed to start one agent process for one task.
pub struct Launch<'a> {
    pub program: &'a Path,
    pub permission_mode: &'a str,
    pub allowed_tools: &'a [String],
    pub prompt: &'a str,
    pub worktree: &'a Path,
    pub log: &'a Path,
    pub attempt: u32,
    /// `PORCH_SESSION`'s value: unique to this porch run and task.
    pub marker: String,
    pub timeout: Option<Duration>,
    pub idle_timeout: Option<Duration>,
    pub keep_leftovers: bool,
    pub task_index: usize,
    pub printer: &'a Sender<Line>,
}

impl Launch<'_> {
    fn note(&self, tone: Tone, text: impl Into<String>) {
        printer::note(self.printer, self.task_index, tone, text.into());
    }
}

/// Ends the agent's process group if the supervising thread unwinds (a bug in porch), so that
/// no claude goes on running, and spending, unseen.
struct GroupGuard {
    pgid: u32,
    armed: bool,
}

impl Drop for GroupGuard {
    fn drop(&mut self) {
        if self.armed {
            proc::signal_group(self.pgid, libc::SIGKILL);
        }
    }
}

fn spawn_thread<T: Send + 'static>(
    name: &str,
    body: impl FnOnce() -> T + Send + 'static,
) -> std::io::Result<std::thread::JoinHandle<T>> {
    std::thread::Builder::new()
        .name(name.to_string())
        .spawn(body)
}

/// Why porch ended a session that had not ended by itself.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum StopReason {
    Timeout(Duration),
    Idle(Duration),
    /// It printed its result event but did not exit.
    HungAfterResult,
    Interrupted(i32),
}

pub enum StartFailure {
    Error(String),
    Interrupted(i32),
}

pub struct Session {
    pub status: ExitStatus,
    pub duration_ms: u64,
    pub log: SessionLog,
    pub stopped: Option<StopReason>,
    pub leftovers: usize,
    pub leftovers_kept: bool,
    pub log_written: bool,
}

/// Time since the session started, in milliseconds, shared with the reader threads.
struct Clock {
    start: Instant,
}

impl Clock {
    fn now_ms(&self) -> u64 {
        self.start.elapsed().as_millis() as u64
    }
}

/// What the reader threads tell the waiting thread: when output last came, when the result did.
#[derive(Default)]
struct Activity {
    last_output_ms: AtomicU64,
    /// 0 until the result event is read, then the time it was read plus one.
    result_at_ms: AtomicU64,
}

/// Starts claude in the worktree, streams its output to the printer and the log, and waits for
/// it, ending it on a timeout, an idle timeout, a hang after its result or a signal to porch.
/// Returns once the agent has exited and what it left running has been dealt with.
pub fn run(launch: &Launch) -> Result<Session, StartFailure> {
    let marker = proc::Marker::new(agent::SESSION_MARKER_VAR, &launch.marker);
    let mut command = agent::command(
        launch.program,
        launch.permission_mode,
        launch.allowed_tools,
        launch.worktree,
        &launch.marker,
    );
    command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    if let Some(signal) = shutdown::requested() {
        return Err(StartFailure::Interrupted(signal));
    }
    let mut child = command.spawn().map_err(|err| {
        StartFailure::Error(format!(
            "could not start the agent {}: {err}",
            launch.program.display()
        ))
    })?;
    let pgid = child.id();
    let mut guard = GroupGuard { pgid, armed: true };
    let clock = Arc::new(Clock {
        start: Instant::now(),
    });
    let activity = Arc::new(Activity::default());

    let log_file = open_log(launch.log, launch.attempt);
    let log_written = log_file.is_some();
    let log_file = Arc::new(Mutex::new(log_file));
    let session_log = Arc::new(Mutex::new(SessionLog::default()));
    let (done_tx, done_rx) = crossbeam_channel::bounded::<()>(2);
    let (Some(stdin), Some(stdout), Some(stderr)) =
        (child.stdin.take(), child.stdout.take(), child.stderr.take())
    else {
        unreachable!("all three were piped above");
    };
    let shared = Shared {
        log_file: Arc::clone(&log_file),
        session_log: Arc::clone(&session_log),
        clock: Arc::clone(&clock),
        activity: Arc::clone(&activity),
    };
    let prompt = launch.prompt.to_string();
    let (exit_tx, exit_rx) = crossbeam_channel::bounded(1);
    // A writer thread, because a prompt larger than the pipe buffer would block until the agent
    // reads it; an agent that exits without reading gets EPIPE, which is not porch's error. A
    // waiter thread, so the agent's exit can be waited for with a deadline.
    let threads = (|| {
        spawn_thread("prompt", move || {
            let mut stdin = stdin;
            let _ = stdin.write_all(prompt.as_bytes());
        })?;
        let readers = [
            spawn_reader(
                launch,
                stdout,
                Origin::Agent,
                shared.clone(),
                done_tx.clone(),
            )?,
            spawn_reader(launch, stderr, Origin::Stderr, shared, done_tx)?,
        ];
        spawn_thread("wait", move || {
            let _ = exit_tx.send(child.wait());
        })?;
        Ok::<_, std::io::Error>(readers)
    })();
    let readers = match threads {
        Ok(readers) => readers,
        Err(err) => {
            // The guard ends the agent; what it may have started is swept like any leftover.
            drop(guard);
            proc::end_leftovers(pgid, &marker, Duration::ZERO);
            return Err(StartFailure::Error(format!(
                "could not start a thread to watch the agent: {err}"
            )));
        }
    };
    let mut stopper = Stopper {
        pgid,
        reason: None,
        stage: 0,
        since: Instant::now(),
    };
    let status = loop {
        match exit_rx.recv_timeout(POLL_INTERVAL) {
            Ok(Ok(status)) => break status,
            Ok(Err(err)) => {
                return Err(StartFailure::Error(format!(
                    "could not wait for the agent: {err}"
                )));
            }
            Err(crossbeam_channel::RecvTimeoutError::Timeout) => {}
            Err(crossbeam_channel::RecvTimeoutError::Disconnected) => {
                return Err(StartFailure::Error(
                    "lost track of the agent process".to_string(),
                ));
            }
        }
        if stopper.reason.is_none() {
            if let Some(reason) = why_stop(launch, &clock, &activity) {
                stopper.start(reason);
                launch.note(Tone::Bad, describe_stop(reason, true));
            }
        } else {
            stopper.escalate();
        }
    };

    guard.armed = false;
    // What the agent left running holds its pipes open; end it before waiting for them.
    let keep = launch.keep_leftovers && stopper.reason.is_none();
    let leftovers = if keep {
        proc::marked_processes(&marker).len()
    } else {
        let grace = if shutdown::urgent() {
            Duration::ZERO
        } else {
            LEFTOVER_GRACE
        };
        proc::end_leftovers(pgid, &marker, grace)
    };

    let deadline = Instant::now() + PIPE_DRAIN_DEADLINE;
    let mut open = readers.len();
    while open > 0 && done_rx.recv_deadline(deadline).is_ok() {
        open -= 1;
    }
    if open > 0 {
        let who = if keep {
            "a process the session left running"
        } else {
            "a process outside the session"
        };
        launch.note(
            Tone::Dim,
            format!("{who} still holds the session's output open; porch stopped reading it"),
        );
    } else {
        for reader in readers {
            let _ = reader.join();
        }
    }
    if let Some(file) = log_file.lock().unwrap_or_else(|p| p.into_inner()).as_mut() {
        let _ = file.flush();
    }
    let log = session_log
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    Ok(Session {
        status,
        duration_ms: clock.now_ms(),
        log,
        stopped: stopper.reason,
        leftovers,
        leftovers_kept: keep,
        log_written,
    })
}

/// How often the waiting thread looks at the clock and at porch's signals.
pub const POLL_INTERVAL: Duration = Duration::from_millis(100);
/// Between the first SIGTERM, the second, and SIGKILL. claude ignores the first SIGTERM while a
/// Bash tool runs (it kills the tool and carries on), so one signal is never enough.
const STOP_GRACE: Duration = Duration::from_secs(3);
/// How long a session may take to exit after printing its result event.
pub const RESULT_EXIT_GRACE: Duration = Duration::from_secs(5);

fn why_stop(launch: &Launch, clock: &Clock, activity: &Activity) -> Option<StopReason> {
    if let Some(signal) = shutdown::requested() {
        return Some(StopReason::Interrupted(signal));
    }
    let elapsed = clock.start.elapsed();
    if let Some(limit) = launch.timeout.filter(|limit| elapsed >= *limit) {
        return Some(StopReason::Timeout(limit));
    }
    let since = |ms: u64| elapsed.saturating_sub(Duration::from_millis(ms));
    let silent = since(activity.last_output_ms.load(Ordering::Relaxed));
    if let Some(limit) = launch.idle_timeout.filter(|limit| silent >= *limit) {
        return Some(StopReason::Idle(limit));
    }
    let result_at = activity.result_at_ms.load(Ordering::Relaxed);
    if result_at > 0 && since(result_at - 1) >= RESULT_EXIT_GRACE {
        return Some(StopReason::HungAfterResult);
    }
    None
}

pub fn describe_stop(reason: StopReason, ending: bool) -> String {
    let what = match reason {
        StopReason::Timeout(limit) => format!("timed out after {}", duration::format(limit)),
        StopReason::Idle(limit) => format!(
            "printed nothing for {} (--idle-timeout)",
            duration::format(limit)
        ),
        StopReason::HungAfterResult => format!(
            "claude printed its result but did not exit within {}",
            duration::format(RESULT_EXIT_GRACE)
        ),
        StopReason::Interrupted(signal) => {
            format!("porch received {}", proc::describe_signal(signal))
        }
    };
    if ending {
        format!("{what}: ending the session")
    } else {
        what
    }
}

/// Ends a session for real: SIGTERM to its group, a grace period, SIGTERM again, another grace
/// period, SIGKILL. A second signal to porch skips the grace periods.
struct Stopper {
    pgid: u32,
    reason: Option<StopReason>,
    stage: u8,
    since: Instant,
}

impl Stopper {
    fn start(&mut self, reason: StopReason) {
        self.reason = Some(reason);
        self.stage = 0;
        self.since = Instant::now();
        proc::signal_group(self.pgid, libc::SIGTERM);
        self.escalate();
    }

    fn escalate(&mut self) {
        let urgent = matches!(self.reason, Some(StopReason::Interrupted(_))) && shutdown::urgent();
        if self.stage >= 2 || !(urgent || self.since.elapsed() >= STOP_GRACE) {
            return;
        }
        self.stage = if urgent { 2 } else { self.stage + 1 };
        self.since = Instant::now();
        let signal = if self.stage == 2 {
            libc::SIGKILL
        } else {
            libc::SIGTERM
        };
        proc::signal_group(self.pgid, signal);
    }
}

/// The task's log: everything the agent printed, whole. Later attempts append to it.
fn open_log(path: &Path, attempt: u32) -> Option<BufWriter<File>> {
    let dir = path.parent()?;
    std::fs::create_dir_all(dir).ok()?;
    let file = if attempt == 1 {
        File::create(path).ok()?
    } else {
        let mut file = File::options().append(true).open(path).ok()?;
        let _ = writeln!(file, "[porch] attempt {attempt}");
        file
    };
    Some(BufWriter::new(file))
}

#[derive(Clone)]
struct Shared {
    log_file: Arc<Mutex<Option<BufWriter<File>>>>,
    session_log: Arc<Mutex<SessionLog>>,
    clock: Arc<Clock>,
    activity: Arc<Activity>,
}

fn spawn_reader(
    launch: &Launch,
    pipe: impl std::io::Read + Send + 'static,
    origin: Origin,
    shared: Shared,
    done: Sender<()>,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    let printer = launch.printer.clone();
    let index = launch.task_index;
    let worktree = launch.worktree.to_path_buf();
    spawn_thread("read", move || {
        let mut reader = BufReader::with_capacity(64 * 1024, pipe);
        let mut raw = Vec::new();
        while let Ok(Some(dropped)) = read_capped_line(&mut reader, &mut raw, LINE_LIMIT) {
            shared
                .activity
                .last_output_ms
                .store(shared.clock.now_ms(), Ordering::Relaxed);
            if let Some(file) = shared
                .log_file
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .as_mut()
            {
                if origin == Origin::Stderr {
                    let _ = file.write_all(b"[stderr] ");
                }
                let _ = file.write_all(&raw);
                if dropped > 0 {
                    let _ = write!(file, " [porch: {dropped} more bytes dropped]");
                }
                let _ = file.write_all(b"\n");
            }
            // Valid UTF-8 is the rule: checking it first is faster than the lossy conversion.
            let text = match std::str::from_utf8(&raw) {
                Ok(text) => std::borrow::Cow::Borrowed(text),
                Err(_) => String::from_utf8_lossy(&raw),
            };
            let rendered = match origin {
                Origin::Agent => {
                    let mut log = shared.session_log.lock().unwrap_or_else(|p| p.into_inner());
                    let had_result = log.result.is_some();
                    let lines = agent::observe_line(&mut log, &text, &worktree);
                    if !had_result && log.result.is_some() {
                        shared
                            .activity
                            .result_at_ms
                            .store(shared.clock.now_ms() + 1, Ordering::Relaxed);
                    }
                    lines
                }
                _ => vec![agent::Rendered {
                    tone: Tone::Plain,
                    text: text.into_owned(),
                }],
            };
            for line in rendered {
                let text = if dropped > 0 {
                    format!("{} … ({dropped} more bytes)", line.text)
                } else {
                    line.text
                };
                if printer
                    .send(Line {
                        task: index,
                        origin,
                        tone: line.tone,
                        text,
                    })
                    .is_err()
                {
                    break;
                }
            }
        }
        let _ = done.send(());
    })
}
