//! Between task threads and the scheduler, once a task runs: a task that must start its
//! session again (a retry, or a session porch stopped for a rate limit) asks for a slot and
//! waits until the scheduler grants one under the current concurrency limit; sessions report
//! what they learn about the API; the scheduler asks a session to stop.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};

use crate::agent::ApiEvent;
use crate::process::shutdown;

/// A task asks to start its session again, not before `not_before`.
#[derive(Debug, Clone, Copy)]
pub struct SlotRequest {
    pub task: usize,
    pub not_before: Instant,
}

/// One task's session reported this about the API.
pub type ApiReport = (usize, ApiEvent);

pub struct Slots {
    requests: Sender<SlotRequest>,
    grants: Vec<(Sender<()>, Receiver<()>)>,
    stop: Vec<AtomicBool>,
    api_reports: Sender<ApiReport>,
}

/// What the scheduler reads: slot requests and API reports.
pub struct Inbox {
    pub requests: Receiver<SlotRequest>,
    pub api_reports: Receiver<ApiReport>,
}

/// How often a task waiting for a slot looks for a signal to porch.
const SIGNAL_POLL: Duration = Duration::from_millis(100);

impl Slots {
    pub fn new(tasks: usize) -> (Slots, Inbox) {
        let (requests, requests_rx) = crossbeam_channel::unbounded();
        let (api_reports, api_rx) = crossbeam_channel::unbounded();
        let slots = Slots {
            requests,
            grants: (0..tasks).map(|_| crossbeam_channel::bounded(1)).collect(),
            stop: (0..tasks).map(|_| AtomicBool::new(false)).collect(),
            api_reports,
        };
        let inbox = Inbox {
            requests: requests_rx,
            api_reports: api_rx,
        };
        (slots, inbox)
    }

    /// Asks for a slot for `task` and waits for it. False when porch is asked to stop first.
    pub fn wait_for_slot(&self, task: usize, not_before: Instant) -> bool {
        self.stop[task].store(false, Ordering::Relaxed);
        if self
            .requests
            .send(SlotRequest { task, not_before })
            .is_err()
        {
            return false;
        }
        loop {
            match self.grants[task].1.recv_timeout(SIGNAL_POLL) {
                Ok(()) => return shutdown::requested().is_none(),
                Err(RecvTimeoutError::Timeout) if shutdown::requested().is_none() => {}
                Err(_) => return false,
            }
        }
    }

    /// The scheduler lets `task` start its session again.
    pub fn grant(&self, task: usize) {
        let _ = self.grants[task].0.try_send(());
    }

    /// The scheduler asks `task`'s session to stop (it honours this only while the API has not
    /// answered it).
    pub fn ask_to_stop(&self, task: usize) {
        self.stop[task].store(true, Ordering::Relaxed);
    }

    /// Read by the session's watcher.
    pub fn stop_flag(&self, task: usize) -> &AtomicBool {
        &self.stop[task]
    }

    /// Where a session sends what it learns about the API.
    pub fn api_reports(&self) -> Sender<ApiReport> {
        self.api_reports.clone()
    }
}
