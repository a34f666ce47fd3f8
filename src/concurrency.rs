//! How many sessions may run at once while the API rate-limits: additive increase,
//! multiplicative decrease (AIMD), as TCP does with its congestion window. Pure: the scheduler
//! reports what the sessions tell (a rate limit, an answer from the API) and asks how many may
//! run and whether a start must wait.
//!
//! The rules, and why:
//! - The limit starts at `-j` (or the memory cap): a run the API does not limit behaves exactly
//!   as it did without adaptation.
//! - A rate-limit signal (an `api_retry` event or a failed result with status 429, 529 or none,
//!   the API unreachable) halves the limit, but never below the number of sessions the API is
//!   serving at that moment (they prove that much capacity; idling their slots would only slow
//!   the run) and never below 1. Twenty sessions hitting the limit at once thus bring it down in
//!   a few halvings to what the API serves, not to 1.
//! - After a signal, no session starts until the delay the CLI reported (`retry_delay_ms`) has
//!   passed: that is when the API said to come back.
//! - Each session the API serves after the last change counts; when as many have been served
//!   as the limit allows at once (one round), the limit grows by one, up to `-j`.

// Wired into the scheduler once its reshaping (issue 7) has landed.
#![cfg_attr(not(test), allow(dead_code))]

use std::time::{Duration, Instant};

/// A signal divides the limit by this.
pub const DECREASE_DIVISOR: usize = 2;
/// The limit grows by this once a round of sessions has been served without a signal.
pub const INCREASE_STEP: usize = 1;

/// What a session told about the API.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Signal {
    /// The API refused or could not be reached: HTTP status (429, 529), or `None` when
    /// unreachable; the delay the CLI waits before its own retry, if it said.
    RateLimited {
        status: Option<u16>,
        delay: Option<Duration>,
    },
    /// The API answered a session's request.
    Served,
}

/// The limit moved: a `[porch]` line says so.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Change {
    pub from: usize,
    pub to: usize,
    /// The HTTP status that lowered it (`None`: unreachable); `Raised` when it grew.
    pub cause: Cause,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cause {
    RateLimited(Option<u16>),
    Raised,
}

impl Change {
    /// "rate limited (429): 6 → 3 sessions at once".
    pub fn describe(&self) -> String {
        let why = match self.cause {
            Cause::RateLimited(Some(status)) => format!("rate limited ({status})"),
            Cause::RateLimited(None) => "the API is unreachable".to_string(),
            Cause::Raised => format!("{} served without a rate limit", sessions(self.from)),
        };
        format!("{why}: {} → {} at once", self.from, sessions(self.to))
    }
}

fn sessions(n: usize) -> String {
    format!("{n} session{}", if n == 1 { "" } else { "s" })
}

#[derive(Debug)]
pub struct AdaptiveLimit {
    /// `-j`: the limit never grows past it.
    ceiling: usize,
    limit: usize,
    lowest: usize,
    /// Rate-limit signals seen, whether or not they moved the limit.
    events: u64,
    /// Sessions served since the limit last changed.
    served_since_change: usize,
    /// No session starts before this: the delay the API asked for.
    hold_until: Option<Instant>,
}

impl AdaptiveLimit {
    pub fn new(ceiling: usize) -> AdaptiveLimit {
        let ceiling = ceiling.max(1);
        AdaptiveLimit {
            ceiling,
            limit: ceiling,
            lowest: ceiling,
            events: 0,
            served_since_change: 0,
            hold_until: None,
        }
    }

    /// How many sessions may run at once now.
    pub fn limit(&self) -> usize {
        self.limit
    }

    pub fn lowest(&self) -> usize {
        self.lowest
    }

    pub fn events(&self) -> u64 {
        self.events
    }

    /// What a session said. `served` is how many running sessions the API is serving now
    /// (answered since their last rate limit).
    pub fn observe(&mut self, signal: Signal, served: usize, now: Instant) -> Option<Change> {
        match signal {
            Signal::RateLimited { status, delay } => self.rate_limited(status, delay, served, now),
            Signal::Served => self.served(),
        }
    }

    fn rate_limited(
        &mut self,
        status: Option<u16>,
        delay: Option<Duration>,
        served: usize,
        now: Instant,
    ) -> Option<Change> {
        self.events += 1;
        if let Some(until) = delay.and_then(|d| now.checked_add(d)) {
            self.hold_until = Some(self.hold_until.map_or(until, |held| held.max(until)));
        }
        let to = (self.limit / DECREASE_DIVISOR)
            .max(served)
            .clamp(1, self.limit);
        self.change(to, Cause::RateLimited(status))
    }

    fn served(&mut self) -> Option<Change> {
        self.served_since_change += 1;
        if self.limit >= self.ceiling || self.served_since_change < self.limit {
            return None;
        }
        let to = (self.limit + INCREASE_STEP).min(self.ceiling);
        self.change(to, Cause::Raised)
    }

    fn change(&mut self, to: usize, cause: Cause) -> Option<Change> {
        // A signal that leaves the limit where it is still starts a new round: the sessions
        // served before it no longer say the limit may grow.
        self.served_since_change = 0;
        if to == self.limit {
            return None;
        }
        let from = std::mem::replace(&mut self.limit, to);
        self.lowest = self.lowest.min(to);
        Some(Change { from, to, cause })
    }

    /// How long a start must still wait for the delay the API asked for; zero when none.
    pub fn hold(&self, now: Instant) -> Duration {
        self.hold_until
            .map_or(Duration::ZERO, |until| until.saturating_duration_since(now))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMIT_429: Signal = Signal::RateLimited {
        status: Some(429),
        delay: None,
    };

    /// Feeds `signals` (each with the number of sessions served at that moment) to a limit
    /// starting at `ceiling`; returns the limit after each.
    fn limits_after(ceiling: usize, signals: &[(Signal, usize)]) -> Vec<usize> {
        let mut limit = AdaptiveLimit::new(ceiling);
        let now = Instant::now();
        signals
            .iter()
            .map(|(signal, served)| {
                limit.observe(*signal, *served, now);
                limit.limit()
            })
            .collect()
    }

    #[test]
    fn a_rate_limit_halves_the_limit_but_not_below_what_the_api_serves_nor_below_one() {
        // (ceiling, sessions served at the signal, limit after it)
        let cases = [
            (24, 0, 12),
            (24, 3, 12),
            (24, 20, 20),
            (6, 3, 3),
            (6, 0, 3),
            (3, 0, 1),
            (2, 0, 1),
            (1, 0, 1),
            (1, 5, 1),
            // Serving more than the limit allows (sessions started before it fell): no rise.
            (4, 9, 4),
        ];
        for (ceiling, served, expected) in cases {
            assert_eq!(
                limits_after(ceiling, &[(LIMIT_429, served)]),
                [expected],
                "-j {ceiling}, {served} served"
            );
        }
    }

    #[test]
    fn a_burst_of_signals_settles_on_what_the_api_serves() {
        // 24 sessions start, the API serves 3: the others' retries come one after another.
        let burst = vec![(LIMIT_429, 3); 6];
        assert_eq!(limits_after(24, &burst), [12, 6, 3, 3, 3, 3]);
        let unreachable = Signal::RateLimited {
            status: None,
            delay: None,
        };
        assert_eq!(
            limits_after(8, &[(unreachable, 0); 4]),
            [4, 2, 1, 1],
            "nothing served: down to one"
        );
    }

    #[test]
    fn the_limit_grows_by_one_per_round_of_sessions_served_up_to_the_ceiling() {
        let served = (Signal::Served, 0);
        let mut signals = vec![(LIMIT_429, 0), (LIMIT_429, 0)]; // 8 → 4 → 2
        signals.extend([served; 9]);
        assert_eq!(
            limits_after(8, &signals),
            // two served at 2 → 3; three at 3 → 4; four at 4 → 5
            [4, 2, 2, 3, 3, 3, 4, 4, 4, 4, 5]
        );
        assert_eq!(
            limits_after(2, &[(LIMIT_429, 0), served, served, served]),
            [1, 2, 2, 2],
            "never past -j"
        );
    }

    #[test]
    fn a_signal_starts_a_new_round() {
        // At 3, two served, then a signal that leaves 3 (3 served): the count starts again.
        let served = (Signal::Served, 0);
        let signals = [
            (LIMIT_429, 3),
            served,
            served,
            (LIMIT_429, 3),
            served,
            served,
            served,
        ];
        assert_eq!(limits_after(6, &signals), [3, 3, 3, 3, 3, 3, 4]);
    }

    #[test]
    fn the_changes_say_what_moved_the_limit() {
        let mut limit = AdaptiveLimit::new(6);
        let now = Instant::now();
        let change = limit.observe(LIMIT_429, 0, now).unwrap();
        assert_eq!(
            change.describe(),
            "rate limited (429): 6 → 3 sessions at once"
        );
        let overloaded = Signal::RateLimited {
            status: Some(529),
            delay: None,
        };
        let change = limit.observe(overloaded, 0, now).unwrap();
        assert_eq!(
            change.describe(),
            "rate limited (529): 3 → 1 session at once"
        );
        let change = limit.observe(Signal::Served, 1, now).unwrap();
        assert_eq!(
            change.describe(),
            "1 session served without a rate limit: 1 → 2 sessions at once"
        );
        let unreachable = Signal::RateLimited {
            status: None,
            delay: None,
        };
        let change = limit.observe(unreachable, 0, now).unwrap();
        assert_eq!(
            change.describe(),
            "the API is unreachable: 2 → 1 session at once"
        );
        assert_eq!(limit.observe(unreachable, 0, now), None, "at 1 already");
    }

    #[test]
    fn lowest_and_events_count_every_signal() {
        let mut limit = AdaptiveLimit::new(4);
        let now = Instant::now();
        for (signal, served) in [(LIMIT_429, 0), (LIMIT_429, 0), (LIMIT_429, 0)] {
            limit.observe(signal, served, now);
        }
        for _ in 0..3 {
            limit.observe(Signal::Served, 0, now);
        }
        assert_eq!((limit.events(), limit.lowest(), limit.limit()), (3, 1, 3));
    }

    #[test]
    fn starts_wait_for_the_longest_delay_the_api_asked_for() {
        let second = Duration::from_secs(1);
        let mut limit = AdaptiveLimit::new(4);
        let now = Instant::now();
        assert_eq!(limit.hold(now), Duration::ZERO, "no signal yet");
        let after = |delay| Signal::RateLimited {
            status: Some(429),
            delay: Some(delay),
        };
        limit.observe(after(2 * second), 0, now);
        limit.observe(after(second), 0, now);
        assert_eq!(
            limit.hold(now),
            2 * second,
            "the shorter delay does not shorten it"
        );
        assert_eq!(limit.hold(now + second), second);
        assert_eq!(limit.hold(now + 3 * second), Duration::ZERO);
        limit.observe(Signal::Served, 1, now);
        assert_eq!(limit.hold(now), 2 * second, "an answer does not lift it");
    }
}
