//! SIGINT, SIGTERM and SIGHUP: porch stops starting sessions, ends the running ones, keeps
//! their work, writes the results and exits 128 + the signal.
//!
//! The handler (in `sys`) only records the signal; the task threads and the scheduler poll it.
//! The signals are caught, never ignored or blocked: a caught signal resets to its default in
//! the children at exec, while an ignored one or a blocked mask would be inherited by claude.

use crate::sys;

/// Catches SIGINT, SIGTERM and SIGHUP, and Ctrl-Z (`suspend`).
pub fn install() {
    sys::record_signals(&[libc::SIGINT, libc::SIGTERM, libc::SIGHUP]);
    crate::process::suspend::install();
}

/// The first signal porch received, if any.
pub fn requested() -> Option<i32> {
    sys::signals_received().0
}

/// A second signal: end sessions now, without grace periods.
pub fn urgent() -> bool {
    is_urgent(sys::signals_received().1)
}

fn is_urgent(signals_received: usize) -> bool {
    signals_received >= 2
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_second_signal_makes_the_shutdown_urgent() {
        for (received, urgent) in [(0, false), (1, false), (2, true), (5, true)] {
            assert_eq!(is_urgent(received), urgent, "{received} signals received");
        }
    }
}
