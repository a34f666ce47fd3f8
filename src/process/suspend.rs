//! Ctrl-Z (SIGTSTP): porch stops its sessions, then itself, and continues them when it is
//! continued. The sessions run in process groups of their own, out of reach of the terminal's
//! SIGTSTP: without this they would go on working, and spending, while porch sits stopped.
//!
//! The handler (in `sys`) only records the request; a thread of this module acts on it. Time
//! spent stopped is counted (`paused_total`) so that sessions' time limits leave it out.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::process::groups;
use crate::sys;

/// How often the thread looks for a recorded SIGTSTP.
const POLL_INTERVAL: Duration = Duration::from_millis(100);

/// Milliseconds porch has spent stopped, since it started.
static PAUSED_MS: AtomicU64 = AtomicU64::new(0);

/// Catches SIGTSTP and starts the thread that acts on it. Without the thread (the system
/// refused one) SIGTSTP keeps its default: porch stops alone, as before.
pub fn install() {
    let watcher = std::thread::Builder::new()
        .name("suspend".into())
        .spawn(|| {
            loop {
                std::thread::sleep(POLL_INTERVAL);
                if sys::take_stop_request() {
                    suspend_everything();
                }
            }
        });
    if watcher.is_ok() {
        sys::catch_stop_requests();
    }
}

/// How long porch has been stopped, in all, since it started.
pub fn paused_total() -> Duration {
    Duration::from_millis(PAUSED_MS.load(Ordering::Relaxed))
}

/// Stops every running session (SIGSTOP to its group and to each process carrying its
/// marker), stops porch itself, and once porch is continued (SIGCONT), continues them.
///
/// SIGSTOP, not SIGTSTP, for both: claude or a tool may catch SIGTSTP and carry on, and the
/// kernel discards a SIGTSTP to an orphaned process group, which would leave porch running
/// while its sessions stood still.
fn suspend_everything() {
    let started = Instant::now();
    let stopped = groups::stop_sessions();
    sys::stop_self();
    // Here porch has been continued.
    groups::continue_processes(&stopped);
    PAUSED_MS.fetch_add(started.elapsed().as_millis() as u64, Ordering::Relaxed);
}
