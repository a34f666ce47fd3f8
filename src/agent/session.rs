//! One agent process from start to end: its output streamed to the printer and the task's
//! log, and its end, whether it exits, times out, goes silent, hangs after its result or porch
//! is signalled; then whatever it left running.

use std::fmt;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::ExitStatus;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crossbeam_channel::Sender;

use crate::agent;
use crate::agent::ApiEvent;
use crate::agent::SessionLog;
use crate::agent::usage::UsageWindow;
use crate::output::printer;
use crate::output::printer::Line;
use crate::output::printer::Message;
use crate::output::printer::Origin;
use crate::output::printer::Tone;
use crate::process::child;
use crate::process::child::Child;
use crate::process::child::Clock;
use crate::process::child::Leftovers;
use crate::process::child::Limit;
use crate::process::child::Sink;
use crate::process::groups;
use crate::process::shutdown;
use crate::process::task_env::Redactor;
use crate::util::duration;

/// Longest line kept from an agent. A result event larger than this is lost (and the task
/// reported as having none); anything else is cut in the log and on the terminal.
const LINE_LIMIT: usize = 16 * 1024 * 1024;

/// Everything needed to start one agent process for one task.
pub struct Launch<'a> {
    pub program: &'a Path,
    /// claude's arguments (`agent::arguments`).
    pub args: &'a [String],
    /// The task's environment: `PORCH_*` and its `env`.
    pub env: &'a [(String, String)],
    /// Hides the task's `env` values in what the agent prints.
    pub redactor: &'a Arc<Redactor>,
    pub prompt: &'a str,
    pub worktree: &'a Path,
    pub log: &'a Path,
    pub attempt: u32,
    /// `PORCH_SESSION`'s value: unique to this porch run and task.
    pub marker: String,
    /// `porch resume`: the log says so before the first attempt (the session to continue is
    /// in `args`, as `--resume`).
    pub resuming: bool,
    pub timeout: Option<Limit>,
    pub idle_timeout: Option<Duration>,
    pub keep_leftovers: bool,
    pub task_index: usize,
    pub printer: &'a Sender<Message>,
    /// Where the session's readers send what they learn about the API, as it happens.
    pub api_reports: Option<Sender<(usize, ApiEvent)>>,
    /// Where they send what the stream says about the usage windows.
    pub usage_reports: Option<Sender<(usize, UsageWindow)>>,
    /// Set by the scheduler to stop a session the API has not answered yet (a rate limit).
    pub stop_unanswered: Option<&'a AtomicBool>,
    /// The session starts again after porch stopped it for a rate limit.
    pub restarted: bool,
}

impl Launch<'_> {
    fn note(&self, tone: Tone, text: impl Into<String>) {
        let text = self.redactor.redact(&text.into()).into_owned();
        printer::note(self.printer, self.task_index, tone, text);
    }
}

/// Why porch ended a session that had not ended by itself.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum StopReason {
    Timeout(Duration),
    Idle(Duration),
    /// It printed its result event but did not exit within this long of it: `RESULT_EXIT_GRACE`,
    /// or less when its timeout or idle timeout came first.
    HungAfterResult(Duration),
    Interrupted(i32),
    /// The API rate-limits and had not answered it yet: it starts again when a slot is free.
    RateLimited,
}

impl child::Reason for StopReason {
    fn is_porch_signal(&self) -> bool {
        matches!(self, StopReason::Interrupted(_))
    }
}

/// Why a session did not run to its end: porch was signalled before the agent started, or the
/// agent could not be started or watched.
#[derive(Debug)]
pub enum StartFailure {
    Interrupted(i32),
    Spawn {
        program: PathBuf,
        error: io::Error,
    },
    /// A thread to feed, read or wait for the agent; the agent was ended.
    Thread(io::Error),
    Wait(io::Error),
}

impl fmt::Display for StartFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StartFailure::Interrupted(signal) => write!(
                f,
                "interrupted before the session started: porch received {}",
                groups::describe_signal(*signal)
            ),
            StartFailure::Spawn { program, error } => write!(
                f,
                "could not start the agent {}: {error}",
                program.display()
            ),
            StartFailure::Thread(error) => {
                write!(f, "could not start a thread to watch the agent: {error}")
            }
            StartFailure::Wait(error) => write!(f, "could not wait for the agent: {error}"),
        }
    }
}

impl std::error::Error for StartFailure {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            StartFailure::Spawn { error, .. }
            | StartFailure::Thread(error)
            | StartFailure::Wait(error) => Some(error),
            StartFailure::Interrupted(_) => None,
        }
    }
}

pub struct Session {
    pub status: ExitStatus,
    pub duration_ms: u64,
    pub log: SessionLog,
    pub stopped: Option<StopReason>,
    /// What the session left running: ended, or with `leftovers_kept` left.
    pub leftovers: Vec<groups::Process>,
    pub leftovers_kept: bool,
    pub log_written: bool,
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
    let marker = groups::Marker::new(agent::SESSION_MARKER_VAR, &launch.marker);
    let mut child = spawn(launch, &marker)?;
    let shared = Shared::new(launch, child.clock());
    let stdout = reader(launch, Origin::Agent, &shared);
    let stderr = reader(launch, Origin::Stderr, &shared);
    child
        .read_output(LINE_LIMIT, stdout, stderr)
        .map_err(StartFailure::Thread)?;
    let (status, stopped) = watch(launch, &mut child, &shared)?;
    // What the agent left running holds its pipes open: `finish` ends it before waiting for
    // them, or with `--keep-leftovers` after a session that ended by itself, only counts it.
    let keep = launch.keep_leftovers && stopped.is_none();
    let finished = child.finish(if keep {
        Leftovers::Count
    } else {
        Leftovers::End
    });
    if !finished.drained {
        let who = if keep {
            "a process the session left running"
        } else {
            "a process outside the session"
        };
        launch.note(
            Tone::Dim,
            format!("{who} still holds the session's output open; porch stopped reading it"),
        );
    }
    Ok(Session {
        status,
        duration_ms: shared.clock.wall_ms(),
        log: shared.finish(),
        stopped,
        leftovers: finished.leftovers,
        leftovers_kept: keep,
        log_written: shared.log_written,
    })
}

/// Starts the agent in a process group of its own, the prompt on its stdin, unless porch has
/// been signalled.
fn spawn(launch: &Launch, marker: &groups::Marker) -> Result<Child, StartFailure> {
    let mut command = agent::command(
        launch.program,
        launch.args,
        launch.worktree,
        &launch.marker,
        launch.env,
    );
    child::in_own_group(&mut command);
    if let Some(signal) = shutdown::requested() {
        return Err(StartFailure::Interrupted(signal));
    }
    let prompt = Some(launch.prompt.to_string());
    Child::spawn(command, prompt, Some(marker), true).map_err(|error| StartFailure::Spawn {
        program: launch.program.to_path_buf(),
        error,
    })
}

/// How long a session may take to exit after printing its result event.
pub const RESULT_EXIT_GRACE: Duration = Duration::from_secs(5);

/// Waits for the agent to exit, ending it when `why_stop` says so. Returns its exit status and
/// why porch ended it, if porch did.
fn watch(
    launch: &Launch,
    child: &mut Child,
    shared: &Shared,
) -> Result<(ExitStatus, Option<StopReason>), StartFailure> {
    let limits = Limits {
        timeout: launch.timeout,
        idle_timeout: launch.idle_timeout,
    };
    let decide = || {
        // Asked before the moment is read: a result read before porch asked (the one that
        // made it ask, say) is then in the moment.
        let asked_to_stop = launch
            .stop_unanswered
            .is_some_and(|flag| flag.load(Ordering::Acquire));
        let moment = shared.moment(shutdown::requested());
        // A session that printed its result (one that gave up on a rate limit) is judged by
        // it: stopped, it would start again or not by whether it had exited first.
        let shed = asked_to_stop && !shared.ever_answered() && moment.since_result.is_none();
        let reason = why_stop(&moment, &limits).or(shed.then_some(StopReason::RateLimited));
        if let Some(reason) = reason {
            // A session shed before the API answered starts again: news, not a problem
            // (dimmed, and not for `-q`'s stderr).
            let tone = match reason {
                StopReason::RateLimited => Tone::Dim,
                _ => Tone::Bad,
            };
            launch.note(tone, describe_stop(reason, true));
        }
        reason
    };
    child.wait(decide).map_err(StartFailure::Wait)
}

/// What the watching thread knows about a running session at one moment.
#[derive(Debug, Clone, Copy)]
struct Moment {
    /// The first signal porch received, if any.
    porch_signal: Option<i32>,
    /// Since the session started.
    elapsed: Duration,
    /// Since its last line of output (or its start).
    silent: Duration,
    /// Since its result event, once it printed one.
    since_result: Option<Duration>,
}

impl Moment {
    /// From the session's clock and what the readers stored in `Activity` (milliseconds since
    /// the start; the result's time plus one, or 0 for none yet).
    fn at(
        elapsed: Duration,
        last_output_ms: u64,
        result_at_ms: u64,
        porch_signal: Option<i32>,
    ) -> Moment {
        let since = |ms: u64| elapsed.saturating_sub(Duration::from_millis(ms));
        Moment {
            porch_signal,
            elapsed,
            silent: since(last_output_ms),
            since_result: result_at_ms.checked_sub(1).map(since),
        }
    }
}

/// The session's time limits (`--timeout` or the task's, `--idle-timeout`).
#[derive(Debug, Clone, Copy)]
struct Limits {
    timeout: Option<Limit>,
    idle_timeout: Option<Duration>,
}

/// Whether porch ends a session now, and why. In this order: porch was signalled; the session
/// reached its timeout; it printed nothing for its idle timeout; it printed its result and has
/// not exited within `RESULT_EXIT_GRACE`. A session that printed its result is judged by it
/// (`HungAfterResult`) whichever limit ends it, even a timeout shorter than the grace: its work
/// is done, only its exit is missing.
fn why_stop(moment: &Moment, limits: &Limits) -> Option<StopReason> {
    if let Some(signal) = moment.porch_signal {
        return Some(StopReason::Interrupted(signal));
    }
    let limit = if let Some(limit) = limits.timeout.filter(|limit| moment.elapsed >= limit.left) {
        Some(StopReason::Timeout(limit.set))
    } else {
        limits
            .idle_timeout
            .filter(|limit| moment.silent >= *limit)
            .map(StopReason::Idle)
    };
    match moment.since_result {
        Some(since) if limit.is_some() || since >= RESULT_EXIT_GRACE => {
            Some(StopReason::HungAfterResult(since.min(RESULT_EXIT_GRACE)))
        }
        Some(_) => None,
        None => limit,
    }
}

pub fn describe_stop(reason: StopReason, ending: bool) -> String {
    let what = match reason {
        StopReason::Timeout(limit) => format!("timed out after {}", duration::format(limit)),
        StopReason::Idle(limit) => format!(
            "printed nothing for {} (--idle-timeout)",
            duration::format(limit)
        ),
        StopReason::HungAfterResult(waited) => format!(
            "claude printed its result but did not exit within {}",
            duration::format(waited)
        ),
        StopReason::Interrupted(signal) => {
            format!("porch received {}", groups::describe_signal(signal))
        }
        StopReason::RateLimited => {
            "rate limited before the API answered it; it starts again when a slot is free"
                .to_string()
        }
    };
    if ending {
        format!("{what}: ending the session")
    } else {
        what
    }
}

/// The task's log: everything the agent printed, whole. Later attempts append to it.
fn open_log(path: &Path, attempt: u32, resuming: bool, restarted: bool) -> Option<BufWriter<File>> {
    let dir = path.parent()?;
    std::fs::create_dir_all(dir).ok()?;
    // The task started the log (its setup may have written to it), or it is the earlier run's
    // (`porch resume`): every attempt appends.
    // Private like every log porch makes (a resolver's log is made here): it holds the code.
    let mut file = (File::options().create(true).append(true))
        .mode(0o600)
        .open(path)
        .ok()?;
    if restarted {
        let _ = writeln!(
            file,
            "[porch] attempt {attempt}, started again: a rate limit or a usage limit stopped it before it did anything"
        );
    } else if attempt == 1 && resuming {
        let _ = writeln!(file, "[porch] resumed");
    } else if attempt > 1 {
        let _ = writeln!(file, "[porch] attempt {attempt}");
    }
    Some(BufWriter::new(file))
}

/// What the reader threads and the watching thread share.
#[derive(Clone)]
struct Shared {
    log_file: Arc<Mutex<Option<BufWriter<File>>>>,
    log_written: bool,
    session_log: Arc<Mutex<SessionLog>>,
    clock: Arc<Clock>,
    activity: Arc<Activity>,
}

impl Shared {
    /// Opens the session's log; `clock` is its agent's.
    fn new(launch: &Launch, clock: Arc<Clock>) -> Shared {
        let log_file = open_log(
            launch.log,
            launch.attempt,
            launch.resuming,
            launch.restarted,
        );
        Shared {
            log_written: log_file.is_some(),
            log_file: Arc::new(Mutex::new(log_file)),
            session_log: Arc::new(Mutex::new(SessionLog::default())),
            clock,
            activity: Arc::new(Activity::default()),
        }
    }

    /// The API has answered the session at least once: it may have done work.
    fn ever_answered(&self) -> bool {
        self.session_log
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .ever_answered()
    }

    fn moment(&self, porch_signal: Option<i32>) -> Moment {
        Moment::at(
            self.clock.elapsed(),
            self.activity.last_output_ms.load(Ordering::Relaxed),
            self.activity.result_at_ms.load(Ordering::Relaxed),
            porch_signal,
        )
    }

    /// Flushes the log file and returns what the stream told.
    fn finish(&self) -> SessionLog {
        if let Some(file) = self
            .log_file
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_mut()
        {
            let _ = file.flush();
        }
        self.session_log
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

/// What reads one of the agent's pipes.
fn reader(launch: &Launch, origin: Origin, shared: &Shared) -> Sink {
    let reader = Reader {
        origin,
        shared: shared.clone(),
        printer: launch.printer.clone(),
        task_index: launch.task_index,
        worktree: launch.worktree.to_path_buf(),
        redactor: Arc::clone(launch.redactor),
        api_reports: launch.api_reports.clone(),
        usage_reports: launch.usage_reports.clone(),
    };
    Box::new(move |raw, dropped, drained| reader.line(raw, dropped, drained))
}

/// One of the agent's output pipes, read line by line into the log and the printer.
struct Reader {
    origin: Origin,
    shared: Shared,
    printer: Sender<Message>,
    task_index: usize,
    worktree: PathBuf,
    redactor: Arc<Redactor>,
    api_reports: Option<Sender<(usize, ApiEvent)>>,
    usage_reports: Option<Sender<(usize, UsageWindow)>>,
}

impl Reader {
    /// One line of the pipe. Without a printer the log is still written and the pipe still
    /// drained, so the agent is never blocked on it.
    fn line(&self, raw: &[u8], dropped: usize, drained: bool) {
        self.shared
            .activity
            .last_output_ms
            .store(self.shared.clock.now_ms(), Ordering::Relaxed);
        // Valid UTF-8 is the rule: checking it first is faster than the lossy conversion.
        let text = match std::str::from_utf8(raw) {
            Ok(text) => std::borrow::Cow::Borrowed(text),
            Err(_) => String::from_utf8_lossy(raw),
        };
        // A task's `env` values never reach the log, the terminal or the results; what the
        // stream tells porch (the paths the agent wrote) is read from the real line.
        let hidden = match self.redactor.redact(&text) {
            std::borrow::Cow::Owned(hidden) => Some(hidden),
            std::borrow::Cow::Borrowed(_) => None,
        };
        let logged = hidden.as_deref().map_or(raw, str::as_bytes);
        self.log(logged, dropped, drained);
        let rendered = self.render(&text, hidden.as_deref());
        self.print(rendered, dropped);
    }

    /// The line, whole, in the task's log; `[stderr] ` before what came on stderr. `drained`:
    /// the pipe has nothing more waiting, so the log is flushed: `porch logs --follow` sees a
    /// quiet session's lines at once, and a flooding one costs no extra writes.
    fn log(&self, raw: &[u8], dropped: usize, drained: bool) {
        let mut log_file = self
            .shared
            .log_file
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let Some(file) = log_file.as_mut() else {
            return;
        };
        if self.origin == Origin::Stderr {
            let _ = file.write_all(b"[stderr] ");
        }
        let _ = file.write_all(raw);
        if dropped > 0 {
            let _ = write!(file, " [porch: {dropped} more bytes dropped]");
        }
        let _ = file.write_all(b"\n");
        if drained {
            let _ = file.flush();
        }
    }

    /// What the terminal shows for a line: stdout is the stream-json, read into the session's
    /// log (noting when its result came); stderr is shown as it is. `hidden`: the line with
    /// the task's `env` values hidden, when it holds any.
    fn render(&self, text: &str, hidden: Option<&str>) -> Vec<agent::Rendered> {
        if self.origin != Origin::Agent {
            return vec![agent::Rendered::new(Tone::Plain, hidden.unwrap_or(text))];
        }
        let mut log = self
            .shared
            .session_log
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let had_result = log.result.is_some();
        let mut lines = agent::observe_line(&mut log, text, &self.worktree);
        if let Some(hidden) = hidden {
            // Shown from the hidden line, so that no clipping cuts a value before it is hidden.
            lines = agent::observe_line(&mut SessionLog::default(), hidden, &self.worktree);
        }
        for line in &mut lines {
            line.hide(&self.redactor);
        }
        if !had_result && log.result.is_some() {
            self.shared
                .activity
                .result_at_ms
                .store(self.shared.clock.now_ms() + 1, Ordering::Relaxed);
        }
        for event in log.take_api_events() {
            if let Some(reports) = &self.api_reports {
                let _ = reports.send((self.task_index, event));
            }
        }
        for window in log.take_usage() {
            if let Some(reports) = &self.usage_reports {
                let _ = reports.send((self.task_index, window));
            }
        }
        lines
    }

    /// Offers the lines to the printer, while there is one; a printer behind drops them.
    fn print(&self, rendered: Vec<agent::Rendered>, dropped: usize) {
        for line in rendered {
            let text = if dropped > 0 {
                format!("{} … ({dropped} more bytes)", line.text)
            } else {
                line.text
            };
            let shown = Line {
                task: self.task_index,
                origin: self.origin,
                tone: line.tone,
                text,
            };
            let message = match line.tool {
                Some(call) => Message::ToolCall(shown, call),
                None => Message::Line(shown),
            };
            if !printer::offer(&self.printer, message) {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NONE: Limits = Limits {
        timeout: None,
        idle_timeout: None,
    };

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    /// A session `elapsed` seconds in, silent for `silent`, its result `since_result` ago.
    fn moment(elapsed: u64, silent: u64, since_result: Option<u64>) -> Moment {
        Moment {
            porch_signal: None,
            elapsed: secs(elapsed),
            silent: secs(silent),
            since_result: since_result.map(secs),
        }
    }

    #[test]
    fn why_porch_stops_a_session() {
        let timeout = |n| Limits {
            timeout: Some(Limit::whole(secs(n))),
            ..NONE
        };
        let idle = |n| Limits {
            idle_timeout: Some(secs(n)),
            ..NONE
        };
        let both = Limits {
            timeout: Some(Limit::whole(secs(60))),
            idle_timeout: Some(secs(10)),
        };
        let signalled = Moment {
            porch_signal: Some(libc::SIGINT),
            ..moment(1, 0, None)
        };
        use StopReason::*;
        let rules = [
            // Without limits, a session runs as long as it works.
            (moment(86_400, 0, None), NONE, None),
            (moment(86_400, 86_400, None), NONE, None),
            // --timeout counts from the start, output or not.
            (moment(59, 0, None), timeout(60), None),
            (moment(60, 0, None), timeout(60), Some(Timeout(secs(60)))),
            // --idle-timeout counts from the last line.
            (moment(100, 9, None), idle(10), None),
            (moment(100, 10, None), idle(10), Some(Idle(secs(10)))),
            // When both are due, the timeout is the reason given.
            (moment(60, 10, None), both, Some(Timeout(secs(60)))),
            (moment(59, 10, None), both, Some(Idle(secs(10)))),
            // After its result, a session has RESULT_EXIT_GRACE (5 s) to exit.
            (moment(30, 4, Some(4)), NONE, None),
            (moment(30, 5, Some(5)), NONE, Some(HungAfterResult(secs(5)))),
            (moment(30, 9, Some(9)), NONE, Some(HungAfterResult(secs(5)))),
            // A limit that comes after its result still judges it by its result, whether the
            // limit is shorter than the grace or longer.
            (
                moment(60, 5, Some(5)),
                timeout(60),
                Some(HungAfterResult(secs(5))),
            ),
            (
                moment(2, 1, Some(1)),
                timeout(2),
                Some(HungAfterResult(secs(1))),
            ),
            (moment(1, 0, Some(0)), timeout(2), None),
            (
                moment(30, 10, Some(10)),
                idle(10),
                Some(HungAfterResult(secs(5))),
            ),
            (
                moment(30, 2, Some(2)),
                idle(2),
                Some(HungAfterResult(secs(2))),
            ),
            (moment(30, 1, Some(1)), idle(2), None),
            // A signal to porch ends every session, before any other reason.
            (signalled, NONE, Some(Interrupted(libc::SIGINT))),
            (
                Moment {
                    porch_signal: Some(libc::SIGTERM),
                    ..moment(60, 10, Some(10))
                },
                both,
                Some(Interrupted(libc::SIGTERM)),
            ),
        ];
        for (moment, limits, reason) in rules {
            assert_eq!(why_stop(&moment, &limits), reason, "{moment:?} {limits:?}");
        }
    }

    #[test]
    fn what_setup_left_of_the_timeout_ends_a_session_told_as_the_timeout_set() {
        let left_by_setup = Limits {
            timeout: Some(Limit::after(secs(3), secs(1))),
            ..NONE
        };
        assert_eq!(why_stop(&moment(1, 0, None), &left_by_setup), None);
        assert_eq!(
            why_stop(&moment(2, 0, None), &left_by_setup),
            Some(StopReason::Timeout(secs(3)))
        );
    }

    #[test]
    fn a_moment_is_measured_from_what_the_readers_stored() {
        let elapsed = Duration::from_millis(10_000);
        let cases = [
            // Nothing printed yet: silent since the start, no result.
            ((0, 0), (secs(10), None)),
            // Last line at 4 s, result read at 6 s (stored as 6001).
            ((4_000, 6_001), (secs(6), Some(secs(4)))),
            // A result read at 0 ms is stored as 1, and still counts.
            ((0, 1), (secs(10), Some(secs(10)))),
            // A reader's clock a moment ahead of the watcher's: no underflow.
            ((12_000, 12_001), (Duration::ZERO, Some(Duration::ZERO))),
        ];
        for ((last_output_ms, result_at_ms), (silent, since_result)) in cases {
            let moment = Moment::at(elapsed, last_output_ms, result_at_ms, Some(2));
            assert_eq!(moment.elapsed, elapsed);
            assert_eq!(moment.porch_signal, Some(2));
            assert_eq!(
                (moment.silent, moment.since_result),
                (silent, since_result),
                "last output {last_output_ms} ms, result {result_at_ms}"
            );
        }
    }

    #[test]
    fn how_a_stop_is_told() {
        use StopReason::*;
        let cases = [
            (Timeout(secs(90)), "timed out after 1m30s"),
            (Idle(secs(300)), "printed nothing for 5m (--idle-timeout)"),
            (
                HungAfterResult(secs(5)),
                "claude printed its result but did not exit within 5s",
            ),
            (
                HungAfterResult(Duration::from_millis(800)),
                "claude printed its result but did not exit within 800ms",
            ),
            (
                Interrupted(libc::SIGINT),
                "porch received signal 2 (SIGINT)",
            ),
        ];
        for (reason, told) in cases {
            assert_eq!(describe_stop(reason, false), told);
            assert_eq!(
                describe_stop(reason, true),
                format!("{told}: ending the session")
            );
        }
    }

    #[test]
    fn a_start_failure_says_what_failed_and_keeps_its_cause() {
        use std::error::Error as _;
        let not_found = || io::Error::from(io::ErrorKind::NotFound);
        let cases = [
            (
                StartFailure::Interrupted(libc::SIGTERM),
                "interrupted before the session started: porch received signal 15 (SIGTERM)",
                false,
            ),
            (
                StartFailure::Spawn {
                    program: PathBuf::from("/opt/claude"),
                    error: not_found(),
                },
                "could not start the agent /opt/claude: entity not found",
                true,
            ),
            (
                StartFailure::Thread(not_found()),
                "could not start a thread to watch the agent: entity not found",
                true,
            ),
            (
                StartFailure::Wait(not_found()),
                "could not wait for the agent: entity not found",
                true,
            ),
        ];
        for (failure, message, has_source) in cases {
            assert_eq!(failure.to_string(), message);
            assert_eq!(failure.source().is_some(), has_source, "{message}");
        }
    }

    #[test]
    fn attempts_append_to_the_log_the_task_started_later_ones_under_a_header() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("logs").join("task.log");
        let write = |attempt, line: &str| {
            let mut log = open_log(&path, attempt, false, false).expect("the log opens");
            writeln!(log, "{line}").unwrap();
        };
        // The task starts the log (setup's output goes first); the session never empties it.
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, "[setup] ready\n").unwrap();
        write(1, "first");
        write(2, "second");
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "[setup] ready\nfirst\n[porch] attempt 2\nsecond\n"
        );
    }
}
