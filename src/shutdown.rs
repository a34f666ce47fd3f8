//! SIGINT, SIGTERM and SIGHUP: porch stops starting sessions, ends the running ones, keeps
//! their work, writes the results and exits 128 + the signal.
//!
//! The handler only stores the signal in atomics; the task threads and the scheduler poll them.
//! The signals are caught, never ignored or blocked: a caught signal resets to its default in
//! the children at exec, while an ignored one or a blocked mask would be inherited by claude.

use std::sync::atomic::{AtomicI32, AtomicUsize, Ordering};

static FIRST_SIGNAL: AtomicI32 = AtomicI32::new(0);
static SIGNAL_COUNT: AtomicUsize = AtomicUsize::new(0);

extern "C" fn on_signal(signal: libc::c_int) {
    // Only atomics here: anything else is not async-signal-safe.
    let _ = FIRST_SIGNAL.compare_exchange(0, signal, Ordering::SeqCst, Ordering::SeqCst);
    SIGNAL_COUNT.fetch_add(1, Ordering::SeqCst);
}

pub fn install() {
    for signal in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
        // SAFETY: a zeroed sigaction is a valid "no flags, empty mask" value; the handler only
        // touches atomics; SA_RESTART keeps blocking reads and waits from failing with EINTR.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
            action.sa_flags = libc::SA_RESTART;
            libc::sigemptyset(&mut action.sa_mask);
            libc::sigaction(signal, &action, std::ptr::null_mut());
        }
    }
}

/// The first signal porch received, if any.
pub fn requested() -> Option<i32> {
    match FIRST_SIGNAL.load(Ordering::SeqCst) {
        0 => None,
        signal => Some(signal),
    }
}

/// A second signal: end sessions now, without grace periods.
pub fn urgent() -> bool {
    SIGNAL_COUNT.load(Ordering::SeqCst) >= 2
}
