//! Between task threads and the scheduler, once a task runs: a task that must start its
//! session again (a retry, or a session porch stopped for a rate limit) asks for a slot and
//! waits until the scheduler grants one under the current concurrency limit; sessions report
//! what they learn about the API and the usage windows; the scheduler says how long a usage
//! window holds every start, asks a session to stop, or refuses every slot once no session may
//! start any more; a task tells the base it decided
//! on, and waits until the results hold it.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};

use crate::agent::ApiEvent;
use crate::agent::usage::UsageWindow;
use crate::process::shutdown;
use crate::task::base::Base;

/// A task asks to start its session again, not before `not_before`.
#[derive(Debug, Clone, Copy)]
pub struct SlotRequest {
    pub task: usize,
    pub not_before: Instant,
}

/// One task's session reported this about the API.
pub type ApiReport = (usize, ApiEvent);

/// One task's session reported this about a usage window.
pub type UsageReport = (usize, UsageWindow);

/// The base a task decided on when it started (from the tasks it depends on), and where the
/// scheduler says it is recorded.
pub struct BaseReport {
    pub task: usize,
    pub base: Base,
    pub recorded: Sender<()>,
}

pub struct Slots {
    requests: Sender<SlotRequest>,
    grants: Vec<(Sender<()>, Receiver<()>)>,
    stop: Vec<AtomicBool>,
    api_reports: Sender<ApiReport>,
    usage_reports: Sender<UsageReport>,
    /// Why no session starts again in this run, once that is so.
    refusal: Mutex<Option<String>>,
    /// Until when a usage window holds every start, as the scheduler last said.
    held_until: Mutex<Option<Instant>>,
    bases: Sender<BaseReport>,
}

/// What the scheduler reads: slot requests, API reports, usage reports and the bases tasks
/// decided on.
pub struct Inbox {
    pub requests: Receiver<SlotRequest>,
    pub api_reports: Receiver<ApiReport>,
    pub usage_reports: Receiver<UsageReport>,
    pub bases: Receiver<BaseReport>,
}

/// How often a task waiting for a slot looks for a signal to porch.
const SIGNAL_POLL: Duration = Duration::from_millis(100);

impl Slots {
    pub fn new(tasks: usize) -> (Slots, Inbox) {
        let (requests, requests_rx) = crossbeam_channel::unbounded();
        let (api_reports, api_rx) = crossbeam_channel::unbounded();
        let (usage_reports, usage_rx) = crossbeam_channel::unbounded();
        let (bases, bases_rx) = crossbeam_channel::unbounded();
        let slots = Slots {
            requests,
            grants: (0..tasks).map(|_| crossbeam_channel::bounded(1)).collect(),
            stop: (0..tasks).map(|_| AtomicBool::new(false)).collect(),
            api_reports,
            usage_reports,
            refusal: Mutex::new(None),
            held_until: Mutex::new(None),
            bases,
        };
        let inbox = Inbox {
            requests: requests_rx,
            api_reports: api_rx,
            usage_reports: usage_rx,
            bases: bases_rx,
        };
        (slots, inbox)
    }

    /// Asks for a slot for `task` and waits for it. False when porch is asked to stop first, or
    /// no session may start any more (`refusal` says why).
    pub fn wait_for_slot(&self, task: usize, not_before: Instant) -> bool {
        self.stop[task].store(false, Ordering::Relaxed);
        if self.refusal().is_some()
            || self
                .requests
                .send(SlotRequest { task, not_before })
                .is_err()
        {
            return false;
        }
        loop {
            let answer = self.grants[task].1.recv_timeout(SIGNAL_POLL);
            if shutdown::requested().is_some() || self.refusal().is_some() {
                return false;
            }
            match answer {
                Ok(()) => return true,
                Err(RecvTimeoutError::Timeout) => {}
                Err(_) => return false,
            }
        }
    }

    /// No session starts again in this run, for `reason`: every task waiting for a slot, and
    /// every one that asks later, is refused it.
    pub fn refuse_all(&self, reason: String) {
        let mut refusal = self.refusal.lock().unwrap_or_else(|p| p.into_inner());
        refusal.get_or_insert(reason);
    }

    /// Why no session starts again, once `refuse_all` said so.
    pub fn refusal(&self) -> Option<String> {
        (self.refusal.lock().unwrap_or_else(|p| p.into_inner())).clone()
    }

    /// The scheduler holds every start until `until` (`None`: no longer) for a usage window:
    /// a session a task starts without asking for a slot (a reviewer) waits for one meanwhile.
    pub fn hold(&self, until: Option<Instant>) {
        *self.held_until.lock().unwrap_or_else(|p| p.into_inner()) = until;
    }

    /// A usage window holds every start at `now`.
    pub fn is_held(&self, now: Instant) -> bool {
        let held_until = self.held_until.lock().unwrap_or_else(|p| p.into_inner());
        held_until.is_some_and(|until| now < until)
    }

    /// The scheduler lets `task` start its session again.
    pub fn grant(&self, task: usize) {
        let _ = self.grants[task].0.try_send(());
    }

    /// The scheduler asks `task`'s session to stop (it honours this only while the API has not
    /// answered it, and it has not printed its result).
    pub fn ask_to_stop(&self, task: usize) {
        // Release: the session that sees the request sees the result that caused it, if it was
        // its own (`agent::session`'s watch, which loads it with Acquire).
        self.stop[task].store(true, Ordering::Release);
    }

    /// Read by the session's watcher.
    pub fn stop_flag(&self, task: usize) -> &AtomicBool {
        &self.stop[task]
    }

    /// Tells the scheduler the base `task` starts from, and waits until the results file holds
    /// it: a porch killed during the session must leave a record of what the branch's work is
    /// measured against (`porch resume` counts it from there).
    pub fn record_base(&self, task: usize, base: &Base) {
        let (recorded, written) = crossbeam_channel::bounded(1);
        let report = BaseReport {
            task,
            base: base.clone(),
            recorded,
        };
        if self.bases.send(report).is_ok() {
            // An error only means the scheduler is gone: nothing is left to wait for.
            let _ = written.recv();
        }
    }

    /// Where a session sends what it learns about the API.
    pub fn api_reports(&self) -> Sender<ApiReport> {
        self.api_reports.clone()
    }

    /// Where a session sends what it learns about the usage windows.
    pub fn usage_reports(&self) -> Sender<UsageReport> {
        self.usage_reports.clone()
    }
}
