//! One child process porch runs for a task (the agent, `setup`, `check`, a push), from start to
//! end: started as the leader of a process group of its own, its stdout and stderr read line by
//! line on two threads in bounded memory, waited for with a poll that ends it when its caller
//! says (a time limit, porch's own signal): SIGTERM, a grace, SIGTERM, a grace, SIGKILL to the
//! group. Then what it left running is swept and its pipes are drained.

use std::collections::VecDeque;
use std::io::{self, BufReader, Write};
use std::os::unix::process::CommandExt;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};

use crate::process::groups;
use crate::process::groups::Lineage;
use crate::process::groups::Marker;
use crate::process::groups::Process;
use crate::process::groups::Registration;
use crate::process::shutdown;
use crate::process::suspend;
use crate::sys;
use crate::sys::line_reader::read_capped_line;

/// How often the waiting thread looks at the clock and at porch's signals.
pub const POLL_INTERVAL: Duration = Duration::from_millis(100);
/// Between the first SIGTERM, the second, and SIGKILL. claude ignores the first SIGTERM while a
/// Bash tool runs (it kills the tool and carries on), so one signal is never enough.
const STOP_GRACE: Duration = Duration::from_secs(3);
/// How long leftover processes get between SIGTERM and SIGKILL.
const LEFTOVER_GRACE: Duration = Duration::from_secs(2);
/// How long to wait for the output pipes to close once the child and its leftovers are gone.
/// Only a process that escaped both the group and the marker can hold them longer.
const DRAIN_DEADLINE: Duration = Duration::from_secs(5);

/// Puts the child `command` starts in a process group of its own, so that one `kill(-pgid)`
/// reaches it and what stayed in its group, and makes a porch killed with SIGKILL take it
/// along. The task thread spawning it stays with it until it has exited (`Child` SIGKILLs the
/// group when dropped before), so the signal never fires early.
pub fn in_own_group(command: &mut Command) {
    match sys::exec_shim::through_shim(command) {
        Some(shim) => *command = shim,
        None => sys::die_with_parent(command),
    }
    command.process_group(0);
}

/// A time limit: as the user set it, which is how running out of it is told, and what of it
/// this child has. A task's timeout covers its setup, session and check: each gets what the
/// ones before it left.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limit {
    pub set: Duration,
    pub left: Duration,
}

impl Limit {
    /// All of the limit, for the first child under it.
    pub fn whole(set: Duration) -> Limit {
        Limit { set, left: set }
    }

    /// What remains after `used` of it.
    pub fn after(set: Duration, used: Duration) -> Limit {
        Limit {
            set,
            left: set.saturating_sub(used),
        }
    }
}

/// Time since a child started, shared with its reader threads. Time porch spent stopped
/// (Ctrl-Z, when the child was stopped too) does not count: time limits measure work.
pub struct Clock {
    start: Instant,
    paused_before: Duration,
}

impl Clock {
    fn start() -> Clock {
        Clock {
            start: Instant::now(),
            paused_before: suspend::paused_total(),
        }
    }

    /// Running time, without the time stopped.
    pub fn elapsed(&self) -> Duration {
        let paused = suspend::paused_total().saturating_sub(self.paused_before);
        self.start.elapsed().saturating_sub(paused)
    }

    pub fn now_ms(&self) -> u64 {
        self.elapsed().as_millis() as u64
    }

    /// Wall time since the start, the time stopped included: what a duration reports.
    pub fn wall_ms(&self) -> u64 {
        self.start.elapsed().as_millis() as u64
    }
}

/// Why porch ends a child; all the escalation needs to know of it.
pub trait Reason: Copy {
    /// porch was signalled: a second signal then skips the grace periods.
    fn is_porch_signal(&self) -> bool;
}

/// Why porch ended a child other than the agent.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Stop {
    /// porch received this signal.
    Interrupted(i32),
    /// It reached its limit (as set).
    TimedOut(Duration),
}

impl Reason for Stop {
    fn is_porch_signal(&self) -> bool {
        matches!(self, Stop::Interrupted(_))
    }
}

impl Stop {
    /// Whether a child that ran `clock` under `limit` is ended now, and why: porch's signal
    /// (when `on_signal`) before its time.
    pub fn due(clock: &Clock, limit: Option<Limit>, on_signal: bool) -> Option<Stop> {
        if let Some(signal) = shutdown::requested().filter(|_| on_signal) {
            return Some(Stop::Interrupted(signal));
        }
        let limit = limit.filter(|limit| clock.elapsed() >= limit.left)?;
        Some(Stop::TimedOut(limit.set))
    }
}

/// Where ending a child stands: the signal last sent to its group.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Stage {
    FirstTerm,
    SecondTerm,
    Kill,
}

impl Stage {
    fn signal(self) -> i32 {
        match self {
            Stage::FirstTerm | Stage::SecondTerm => libc::SIGTERM,
            Stage::Kill => libc::SIGKILL,
        }
    }
}

/// The step after `stage`, `waited` after it, if one is due: SIGTERM, `STOP_GRACE`, SIGTERM
/// again, `STOP_GRACE`, SIGKILL. A child ended because porch was signalled goes straight to
/// SIGKILL once porch is signalled a second time; one ended for another reason keeps its pace.
fn next_stage(stage: Stage, for_signal: bool, waited: Duration, twice: bool) -> Option<Stage> {
    match stage {
        Stage::Kill => None,
        _ if twice && for_signal => Some(Stage::Kill),
        _ if waited < STOP_GRACE => None,
        Stage::FirstTerm => Some(Stage::SecondTerm),
        Stage::SecondTerm => Some(Stage::Kill),
    }
}

/// Ends a child for real, one `Stage` after the other (`next_stage`).
struct Stopper<R> {
    reason: R,
    stage: Stage,
    since: Instant,
}

impl<R: Reason> Stopper<R> {
    fn start(pgid: u32, reason: R) -> Stopper<R> {
        let mut stopper = Stopper {
            reason,
            stage: Stage::FirstTerm,
            since: Instant::now(),
        };
        groups::signal_group(pgid, Stage::FirstTerm.signal());
        // A second signal may already have come: then SIGKILL follows at once.
        stopper.escalate(pgid);
        stopper
    }

    fn escalate(&mut self, pgid: u32) {
        let (for_signal, waited) = (self.reason.is_porch_signal(), self.since.elapsed());
        if let Some(next) = next_stage(self.stage, for_signal, waited, shutdown::urgent()) {
            self.stage = next;
            self.since = Instant::now();
            groups::signal_group(pgid, next.signal());
        }
    }
}

/// What a reader does with each line of one pipe: the line (at most the line limit, without
/// its newline), how many bytes of it were dropped, and whether the pipe has nothing more
/// waiting now (a moment to flush).
pub type Sink = Box<dyn FnMut(&[u8], usize, bool) + Send>;

/// A sink for a pipe whose output nobody needs: it is read all the same, so the child never
/// blocks on it.
pub fn discard() -> Sink {
    Box::new(|_, _, _| {})
}

/// The last lines of a child's output, for an error that says why it failed.
#[derive(Clone)]
pub struct Tail {
    lines: Arc<Mutex<VecDeque<String>>>,
    keep: usize,
}

impl Tail {
    pub fn new(keep: usize) -> Tail {
        Tail {
            lines: Arc::new(Mutex::new(VecDeque::with_capacity(keep))),
            keep,
        }
    }

    pub fn push(&self, line: String) {
        let mut lines = self.lines.lock().unwrap_or_else(|p| p.into_inner());
        if lines.len() == self.keep {
            lines.pop_front();
        }
        lines.push_back(line);
    }

    /// A sink that keeps each line of a pipe here, as text.
    pub fn sink(&self) -> Sink {
        let tail = self.clone();
        Box::new(move |line, _, _| tail.push(String::from_utf8_lossy(line).into_owned()))
    }

    /// Oldest first.
    pub fn lines(&self) -> Vec<String> {
        let lines = self.lines.lock().unwrap_or_else(|p| p.into_inner());
        lines.iter().cloned().collect()
    }
}

/// What to do with what a child left running once it exited.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Leftovers {
    /// End it: its group, its marked processes, its recorded tree.
    End,
    /// Only count it (`--keep-leftovers`).
    Count,
    /// Leave it to a later sweep (setup's dev server serves the session), or to the run's end.
    Leave,
}

/// How a child's end went after it exited.
pub struct Finished {
    /// What it left running, found by `Leftovers::End` or `Count`.
    pub leftovers: Vec<Process>,
    /// Both pipes closed within `DRAIN_DEADLINE`; else a process porch did not end holds one.
    pub drained: bool,
}

/// A running child. Dropped before it exited (an error, or a bug unwinding), it SIGKILLs its
/// group: nothing porch started goes on running, and spending, unseen.
pub struct Child {
    pgid: u32,
    process: Option<std::process::Child>,
    input: Option<String>,
    /// The marker its processes inherit: with one, Ctrl-Z reaches it and its leftovers are
    /// found by it.
    marker: Option<Marker>,
    lineage: Option<Lineage>,
    registration: Option<Registration>,
    clock: Arc<Clock>,
    exits: Option<Receiver<io::Result<ExitStatus>>>,
    readers_done: Option<Receiver<()>>,
    /// Wall time from its start to its exit, once it exited.
    ran: Option<Duration>,
}

impl Drop for Child {
    fn drop(&mut self) {
        if self.ran.is_none() {
            groups::signal_group(self.pgid, libc::SIGKILL);
        }
    }
}

impl Child {
    /// Starts `command`, which must lead a process group of its own (`in_own_group`, or git's
    /// `setsid`), with stdout and stderr piped and `input` on stdin (null without). With a
    /// `marker`, it is registered for Ctrl-Z until `finish`; with `lineage`, its process tree is
    /// recorded at every poll.
    pub fn spawn(
        mut command: Command,
        input: Option<String>,
        marker: Option<&Marker>,
        lineage: bool,
    ) -> io::Result<Child> {
        let stdin = if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        };
        sys::exec_shim::check_program(&command)?;
        let process = command
            .stdin(stdin)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?;
        let pgid = process.id();
        Ok(Child {
            pgid,
            process: Some(process),
            input,
            lineage: lineage.then(|| Lineage::new(pgid)),
            // Ctrl-Z stops it with porch, and while it runs no other session claims what it
            // leaves behind (see `groups::register_session`).
            registration: marker.map(|marker| groups::register_session(pgid, marker)),
            marker: marker.cloned(),
            clock: Arc::new(Clock::start()),
            exits: None,
            readers_done: None,
            ran: None,
        })
    }

    /// Its clock, for the sinks that time what it prints.
    pub fn clock(&self) -> Arc<Clock> {
        Arc::clone(&self.clock)
    }

    /// Starts the threads around it: a writer for its input (a prompt larger than the pipe
    /// buffer would block until it is read; a child that exits without reading gets EPIPE,
    /// not porch's error), a reader per pipe, each line up to `line_limit` bytes given to its
    /// sink, and a waiter, so that its exit can be waited for with a deadline. When a thread
    /// cannot start, the child is killed and what it started swept.
    pub fn read_output(&mut self, line_limit: usize, stdout: Sink, stderr: Sink) -> io::Result<()> {
        let started = self.start_threads(line_limit, [stdout, stderr]);
        if started.is_err() {
            groups::signal_group(self.pgid, libc::SIGKILL);
            if let Some(marker) = &self.marker {
                groups::end_leftovers(self.pgid, marker, self.lineage.as_mut(), Duration::ZERO);
            }
        }
        started
    }

    fn start_threads(&mut self, line_limit: usize, sinks: [Sink; 2]) -> io::Result<()> {
        let Some(mut process) = self.process.take() else {
            unreachable!("the output is read once");
        };
        if let (Some(input), Some(mut stdin)) = (self.input.take(), process.stdin.take()) {
            spawn_thread("write", move || {
                let _ = stdin.write_all(input.as_bytes());
            })?;
        }
        let (Some(stdout), Some(stderr)) = (process.stdout.take(), process.stderr.take()) else {
            unreachable!("both were piped by spawn");
        };
        let pipes: [Box<dyn io::Read + Send>; 2] = [Box::new(stdout), Box::new(stderr)];
        let (done_tx, done_rx) = crossbeam_channel::bounded(2);
        self.readers_done = Some(done_rx);
        for (pipe, sink) in pipes.into_iter().zip(sinks) {
            spawn_reader(pipe, line_limit, sink, done_tx.clone())?;
        }
        let (exit_tx, exits) = crossbeam_channel::bounded(1);
        spawn_thread("wait", move || {
            let _ = exit_tx.send(process.wait());
        })?;
        self.exits = Some(exits);
        Ok(())
    }

    /// Waits for the child to exit, asking `why_stop` at each poll whether to end it; once it
    /// says why, it is ended (`next_stage`) and no longer asked. Returns the exit status and
    /// why porch ended it, if porch did; an error when it could not be waited for (it is then
    /// killed when dropped).
    pub fn wait<R: Reason>(
        &mut self,
        mut why_stop: impl FnMut() -> Option<R>,
    ) -> io::Result<(ExitStatus, Option<R>)> {
        let Some(exits) = self.exits.take() else {
            unreachable!("`read_output` started the waiter");
        };
        let mut stopper: Option<Stopper<R>> = None;
        loop {
            match exits.recv_timeout(POLL_INTERVAL) {
                Ok(Ok(status)) => {
                    self.ran = Some(self.clock.start.elapsed());
                    return Ok((status, stopper.map(|stopper| stopper.reason)));
                }
                Ok(Err(err)) => return Err(err),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => {
                    return Err(io::Error::other("the thread waiting for it went away"));
                }
            }
            // While it lives, what it started shows under it: what escapes later is still
            // known as its own.
            if let Some(lineage) = self.lineage.as_mut() {
                lineage.record();
            }
            match stopper.as_mut() {
                Some(stopper) => stopper.escalate(self.pgid),
                None => stopper = why_stop().map(|reason| Stopper::start(self.pgid, reason)),
            }
        }
    }

    /// Wall time from its start to its exit (`wait`): how long it ran, not porch's cleanup
    /// after it.
    pub fn ran(&self) -> Duration {
        self.ran.unwrap_or_else(|| self.clock.start.elapsed())
    }

    /// Deals with what the exited child left running (which holds its pipes open, so before
    /// waiting for them), takes it off Ctrl-Z's list, and gives the readers `DRAIN_DEADLINE`
    /// to read what is buffered; a pipe still open after that is left to whoever holds it.
    pub fn finish(mut self, leftovers: Leftovers) -> Finished {
        let found = match (&self.marker, leftovers) {
            (Some(marker), Leftovers::End) => {
                let grace = if shutdown::urgent() {
                    Duration::ZERO
                } else {
                    LEFTOVER_GRACE
                };
                groups::end_leftovers(self.pgid, marker, self.lineage.as_mut(), grace)
            }
            (Some(marker), Leftovers::Count) => {
                let marked = groups::marked_processes(marker);
                let lineage = self.lineage.as_mut();
                lineage.map_or_else(Vec::new, |lineage| lineage.alive_now(&marked))
            }
            _ => Vec::new(),
        };
        self.registration = None;
        let deadline = Instant::now() + DRAIN_DEADLINE;
        let mut open = 2;
        if let Some(done) = &self.readers_done {
            while open > 0 && done.recv_deadline(deadline).is_ok() {
                open -= 1;
            }
        }
        Finished {
            leftovers: found,
            drained: open == 0,
        }
    }
}

fn spawn_thread(name: &str, body: impl FnOnce() + Send + 'static) -> io::Result<()> {
    std::thread::Builder::new()
        .name(name.to_string())
        .spawn(body)
        .map(drop)
}

/// Reads one pipe until it closes, each line to `sink`; then says so on `done`.
fn spawn_reader(
    pipe: Box<dyn io::Read + Send>,
    line_limit: usize,
    mut sink: Sink,
    done: Sender<()>,
) -> io::Result<()> {
    spawn_thread("read", move || {
        let mut reader = BufReader::with_capacity(64 * 1024, pipe);
        let mut line = Vec::new();
        while let Ok(Some(dropped)) = read_capped_line(&mut reader, &mut line, line_limit) {
            sink(&line, dropped, reader.buffer().is_empty());
        }
        // What the sink holds (a log file) is let go before the child is said to be read.
        drop(sink);
        let _ = done.send(());
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    #[test]
    fn ending_a_child_escalates_sigterm_sigterm_sigkill_three_seconds_apart() {
        use Stage::*;
        let steps = [
            // (stage, ended for porch's signal, seconds since it, porch signalled twice) →
            // next stage
            (FirstTerm, false, 0, false, None),
            (FirstTerm, false, 2, false, None),
            (FirstTerm, false, 3, false, Some(SecondTerm)),
            (SecondTerm, false, 2, false, None),
            (SecondTerm, false, 3, false, Some(Kill)),
            (Kill, false, 3600, false, None),
            (FirstTerm, true, 0, false, None),
            (FirstTerm, true, 3, false, Some(SecondTerm)),
            (SecondTerm, true, 3, false, Some(Kill)),
            // A second signal to porch: SIGKILL now, whatever the grace left.
            (FirstTerm, true, 0, true, Some(Kill)),
            (SecondTerm, true, 0, true, Some(Kill)),
            (Kill, true, 0, true, None),
            // ...but only for children porch is ending because it was signalled.
            (FirstTerm, false, 0, true, None),
            (SecondTerm, false, 3, true, Some(Kill)),
        ];
        for (stage, for_signal, waited, twice, next) in steps {
            assert_eq!(
                next_stage(stage, for_signal, secs(waited), twice),
                next,
                "{stage:?} for a signal: {for_signal}, after {waited}s, signalled twice: {twice}"
            );
        }
    }

    #[test]
    fn only_the_last_stage_kills() {
        assert_eq!(Stage::FirstTerm.signal(), libc::SIGTERM);
        assert_eq!(Stage::SecondTerm.signal(), libc::SIGTERM);
        assert_eq!(Stage::Kill.signal(), libc::SIGKILL);
    }

    #[test]
    fn a_limit_keeps_what_was_set_and_gives_what_is_left() {
        assert_eq!(Limit::whole(secs(2)), Limit::after(secs(2), Duration::ZERO));
        let left = Limit::after(secs(2), Duration::from_millis(1_500));
        assert_eq!((left.set, left.left), (secs(2), Duration::from_millis(500)));
        let spent = Limit::after(secs(2), secs(3));
        assert_eq!((spent.set, spent.left), (secs(2), Duration::ZERO));
    }

    #[test]
    fn a_tail_keeps_the_last_lines_oldest_first() {
        let tail = Tail::new(2);
        assert!(tail.lines().is_empty());
        for line in ["a", "b", "c"] {
            tail.push(line.to_string());
        }
        assert_eq!(tail.lines(), ["b", "c"]);
    }
}
