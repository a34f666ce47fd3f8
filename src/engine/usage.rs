//! Waiting out a subscription's usage window (pure: the caller passes the time in). A window
//! that is used up refuses every session until it resets, so porch starts none until then, and
//! then goes on as it was; a wait longer than `--max-wait` is not waited.
//!
//! One wait lasts from the first refusal until a session is answered after the reset: sessions
//! refused while porch waits are part of it (a later reset makes it longer), and so are
//! sessions refused again after the reset (the window did not open yet: porch waits again, at
//! least `REPEAT_FLOOR`, doubling). `--max-wait` bounds the whole of it.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::agent::usage::UsageWindow;
use crate::results::UsageLimitWait;
use crate::util::duration;
use crate::util::timestamp;

/// Waited after `resetsAt`: it is whole seconds, and the server's clock may be behind ours.
pub const RESET_MARGIN: Duration = Duration::from_secs(1);
/// The most jitter added to a wait (and never more than a twentieth of it), so that porch runs
/// sharing one subscription (shards on several machines) do not all start at the same second.
pub const JITTER_LIMIT: Duration = Duration::from_secs(30);
/// The wait when the CLI did not say when the window resets: then porch tries again.
pub const UNKNOWN_RESET_WAIT: Duration = Duration::from_secs(5 * 60);
/// The least wait when sessions are refused again after the reset, doubling each time (up to
/// `UNKNOWN_RESET_WAIT`): the refused sessions must not start again in a tight loop.
pub const REPEAT_FLOOR: Duration = Duration::from_secs(10);

/// What porch does about a refusal.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Decision {
    /// porch waits until `until`, `wait` from now: news, to be said.
    Wait { until: Instant, wait: Duration },
    /// porch waits already, as long or longer: nothing to say.
    Waiting,
    /// The wait would pass `--max-wait` (`wait` from now): porch starts no more sessions.
    GiveUp { wait: Duration },
}

#[derive(Debug, Clone)]
struct Wait {
    kind: String,
    resets_at: Option<u64>,
    since: Instant,
    until: Instant,
    /// Refusals after `until` had passed: the reset did not open the window.
    repeats: u32,
}

/// The run's usage waits: the one going on, those done, and whether porch gave up.
#[derive(Debug)]
pub struct UsageWaits {
    max_wait: Duration,
    current: Option<Wait>,
    done: Vec<(Wait, Duration)>,
    /// The windows whose `allowed_warning` porch has told of: once each.
    warned: Vec<String>,
    exhausted: bool,
}

impl UsageWaits {
    pub fn new(max_wait: Duration) -> UsageWaits {
        UsageWaits {
            max_wait,
            current: None,
            done: Vec::new(),
            warned: Vec::new(),
            exhausted: false,
        }
    }

    /// A session was refused by `window` at `now` (`wall` on the system clock, which
    /// `resetsAt` is on). `random` in [0, 1) picks the jitter.
    pub fn refused(
        &mut self,
        window: &UsageWindow,
        now: Instant,
        wall: SystemTime,
        random: f64,
    ) -> Decision {
        if self.exhausted {
            return Decision::Waiting;
        }
        let reset_in = window.resets_at.map(|at| {
            let at = UNIX_EPOCH + Duration::from_secs(at);
            at.duration_since(wall).unwrap_or_default()
        });
        let fresh = Wait {
            kind: window.kind.clone(),
            resets_at: window.resets_at,
            since: now,
            until: now,
            repeats: 0,
        };
        let wait = match self.current.take() {
            // Refused while porch waits: a session that started before the wait began.
            Some(wait) if now < wait.until => wait,
            // After the reset, a window that resets later: the last one did reset, and this
            // one was used up since.
            Some(wait) if later(window.resets_at, wait.resets_at) => {
                let waited = wait.until - wait.since;
                self.done.push((wait, waited));
                fresh
            }
            // The window did not open at its reset.
            Some(wait) => Wait {
                repeats: wait.repeats + 1,
                ..wait
            },
            None => fresh,
        };
        let until = now + planned(reset_in, wait.repeats, random);
        if until <= wait.until {
            self.current = Some(wait);
            return Decision::Waiting;
        }
        let wait = Wait {
            kind: window.kind.clone(),
            resets_at: window.resets_at,
            until,
            ..wait
        };
        if until.saturating_duration_since(wait.since) > self.max_wait {
            self.exhausted = true;
            let waited = now.saturating_duration_since(wait.since);
            if !waited.is_zero() {
                self.done.push((wait, waited));
            }
            return Decision::GiveUp { wait: until - now };
        }
        self.current = Some(wait);
        Decision::Wait {
            until,
            wait: until - now,
        }
    }

    /// The API answered a session at `now`: after the reset, the wait is over. True when this
    /// ended one.
    pub fn answered(&mut self, now: Instant) -> bool {
        match self.current.take() {
            Some(wait) if now >= wait.until => {
                let waited = wait.until - wait.since;
                self.done.push((wait, waited));
                true
            }
            other => {
                self.current = other;
                false
            }
        }
    }

    /// Until when no session may start; `None` when porch does not wait.
    pub fn hold_until(&self) -> Option<Instant> {
        self.current.as_ref().map(|wait| wait.until)
    }

    /// porch gave up waiting (`--max-wait`): no session starts any more.
    pub fn is_exhausted(&self) -> bool {
        self.exhausted
    }

    /// An `allowed_warning` for `window`: true the first time the run hears of that window.
    pub fn warned(&mut self, window: &UsageWindow) -> bool {
        if self.warned.contains(&window.kind) {
            return false;
        }
        self.warned.push(window.kind.clone());
        true
    }

    pub fn max_wait(&self) -> Duration {
        self.max_wait
    }

    /// Every wait so far, the one going on included (what it has waited at `now`), as the
    /// results record them.
    pub fn records(&self, now: Instant) -> Vec<UsageLimitWait> {
        let current = self.current.as_ref().map(|wait| {
            let waited = now.min(wait.until).saturating_duration_since(wait.since);
            (wait, waited)
        });
        (self.done.iter().map(|(wait, waited)| (wait, *waited)))
            .chain(current)
            .map(|(wait, waited)| UsageLimitWait {
                kind: wait.kind.clone(),
                resets_at: (wait.resets_at)
                    .map(|at| timestamp::rfc3339(UNIX_EPOCH + Duration::from_secs(at))),
                waited_ms: waited.as_millis() as u64,
                started_at: Some(timestamp::rfc3339(
                    SystemTime::now()
                        .checked_sub(now.saturating_duration_since(wait.since))
                        .unwrap_or(UNIX_EPOCH),
                )),
            })
            .collect()
    }
}

/// The `[porch]` line of a wait: "usage limit (five_hour) reached; waiting until 15:00 UTC,
/// 2h13m", `wait` from `wall`.
pub fn waiting(kind: &str, wait: Duration, wall: SystemTime) -> String {
    let clock = timestamp::clock_utc(wall + wait, wall);
    format!(
        "usage limit ({kind}) reached; waiting until {clock}, {}",
        wait_text(wait)
    )
}

/// Why a wait `wait` from `wall` is not waited: it would pass `--max-wait`.
pub fn too_long(kind: &str, wait: Duration, wall: SystemTime, max_wait: Duration) -> String {
    let clock = timestamp::clock_utc(wall + wait, wall);
    format!(
        "the {kind} usage limit is reached until {clock}, {} from now, longer than --max-wait ({})",
        wait_text(wait),
        duration::format(max_wait)
    )
}

/// "usage limit (five_hour) 93% used, resets 15:00 UTC; porch goes on": an `allowed_warning`,
/// which changes nothing.
pub fn warning(window: &UsageWindow) -> String {
    let mut text = format!("usage limit ({})", window.kind);
    if let Some(used) = window.utilization {
        text.push_str(&format!(" {:.0}% used", used * 100.0));
    }
    if let Some(at) = window.resets_at {
        let at = UNIX_EPOCH + Duration::from_secs(at);
        let now = SystemTime::now();
        text.push_str(&format!(", resets {}", timestamp::clock_utc(at, now)));
    }
    text + "; porch goes on"
}

/// A wait as a `[porch]` line says it: whole seconds, whole minutes from an hour on.
fn wait_text(wait: Duration) -> String {
    let secs = wait.as_secs();
    let shown = if secs >= 3600 { secs - secs % 60 } else { secs };
    duration::format(Duration::from_secs(shown.max(1)))
}

/// A reset the CLI gave that is later than the one porch waited for.
fn later(reset: Option<u64>, than: Option<u64>) -> bool {
    matches!((reset, than), (Some(reset), Some(than)) if reset > than)
}

/// How long porch waits for a window that resets in `reset_in` (`None`: not said), refused
/// `repeats` times after an earlier reset: to the reset, `RESET_MARGIN`, and jitter.
fn planned(reset_in: Option<Duration>, repeats: u32, random: f64) -> Duration {
    let mut wait = reset_in.unwrap_or(UNKNOWN_RESET_WAIT);
    if repeats > 0 {
        let floor = REPEAT_FLOOR.saturating_mul(1 << (repeats - 1).min(10));
        wait = wait.max(floor.min(UNKNOWN_RESET_WAIT));
    }
    let jitter = JITTER_LIMIT.min(wait / 20).mul_f64(random.clamp(0.0, 1.0));
    wait + RESET_MARGIN + jitter
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::usage::UsageStatus;

    const SECOND: Duration = Duration::from_secs(1);
    const HOUR: Duration = Duration::from_secs(3600);
    /// The wall clock of the tests: 2026-11-25T19:21:03Z.
    const WALL: u64 = 1_795_634_463;

    fn wall(after: Duration) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(WALL) + after
    }

    /// A `rejected` window of `kind` that resets `reset_in` after the tests' wall clock.
    fn rejected(kind: &str, reset_in: Option<Duration>) -> UsageWindow {
        UsageWindow {
            status: UsageStatus::Rejected,
            kind: kind.to_string(),
            resets_at: reset_in.map(|d| WALL + d.as_secs()),
            utilization: Some(1.0),
        }
    }

    #[test]
    fn the_wait_is_to_the_reset_and_a_margin_plus_jitter_of_at_most_a_twentieth() {
        // (reset in, repeats, random, planned wait)
        let cases = [
            (Some(HOUR), 0, 0.0, HOUR + RESET_MARGIN),
            (Some(HOUR), 0, 0.5, HOUR + RESET_MARGIN + 15 * SECOND),
            (
                Some(2 * SECOND),
                0,
                0.99,
                2 * SECOND + RESET_MARGIN + SECOND / 10 * 99 / 100,
            ),
            (Some(Duration::ZERO), 0, 0.0, RESET_MARGIN),
            (None, 0, 0.0, UNKNOWN_RESET_WAIT + RESET_MARGIN),
            // Refused again after the reset: at least the floor, doubling.
            (Some(Duration::ZERO), 1, 0.0, REPEAT_FLOOR + RESET_MARGIN),
            (
                Some(Duration::ZERO),
                3,
                0.0,
                4 * REPEAT_FLOOR + RESET_MARGIN,
            ),
            (Some(HOUR), 3, 0.0, HOUR + RESET_MARGIN),
            (
                Some(Duration::ZERO),
                30,
                0.0,
                UNKNOWN_RESET_WAIT + RESET_MARGIN,
            ),
        ];
        for (reset_in, repeats, random, wait) in cases {
            assert_eq!(
                planned(reset_in, repeats, random),
                wait,
                "{reset_in:?} {repeats} {random}"
            );
        }
    }

    #[test]
    fn the_first_refusal_starts_a_wait_later_ones_before_the_reset_join_it() {
        let mut waits = UsageWaits::new(6 * HOUR);
        let now = Instant::now();
        let first = waits.refused(
            &rejected("five_hour", Some(HOUR)),
            now,
            wall(Duration::ZERO),
            0.0,
        );
        let until = now + HOUR + RESET_MARGIN;
        assert_eq!(
            first,
            Decision::Wait {
                until,
                wait: HOUR + RESET_MARGIN
            }
        );
        assert_eq!(waits.hold_until(), Some(until));
        // Another session refused by the same window a second later: nothing new.
        let later = now + SECOND;
        let same = rejected("five_hour", Some(HOUR));
        assert_eq!(
            waits.refused(&same, later, wall(SECOND), 0.0),
            Decision::Waiting
        );
        // A window that resets later makes the wait longer, and is news.
        let weekly = rejected("seven_day", Some(2 * HOUR + SECOND));
        let longer = waits.refused(&weekly, later, wall(SECOND), 0.0);
        assert_eq!(
            longer,
            Decision::Wait {
                until: later + 2 * HOUR + RESET_MARGIN,
                wait: 2 * HOUR + RESET_MARGIN
            }
        );
        let records = waits.records(later);
        assert_eq!(records.len(), 1, "one wait: {records:?}");
        assert_eq!(
            records[0].kind, "seven_day",
            "named by the window it waits for"
        );
    }

    #[test]
    fn an_answer_after_the_reset_ends_the_wait_and_records_it() {
        let mut waits = UsageWaits::new(6 * HOUR);
        let now = Instant::now();
        waits.refused(
            &rejected("five_hour", Some(HOUR)),
            now,
            wall(Duration::ZERO),
            0.0,
        );
        let until = now + HOUR + RESET_MARGIN;
        // An answer read before the reset came from a session served before the refusal.
        assert!(!waits.answered(now + SECOND));
        assert_eq!(waits.hold_until(), Some(until));
        assert!(waits.answered(until + 5 * SECOND));
        assert_eq!(waits.hold_until(), None);
        let records = waits.records(until + HOUR);
        assert_eq!(records.len(), 1);
        assert_eq!(records[0].kind, "five_hour");
        assert_eq!(
            records[0].resets_at.as_deref(),
            Some("2026-11-25T20:21:03.000Z")
        );
        assert_eq!(
            records[0].waited_ms,
            (HOUR + RESET_MARGIN).as_millis() as u64
        );
        // The next refusal is a new wait.
        let next = waits.refused(
            &rejected("five_hour", Some(HOUR)),
            until + HOUR,
            wall(2 * HOUR),
            0.0,
        );
        assert!(matches!(next, Decision::Wait { .. }), "{next:?}");
        assert_eq!(waits.records(until + HOUR).len(), 2);
    }

    /// Waits bounded by `max_wait`, in which a window resetting in 2 s refused a session at the
    /// returned instant.
    fn refused_for_two_seconds(max_wait: Duration) -> (UsageWaits, Instant) {
        let mut waits = UsageWaits::new(max_wait);
        let now = Instant::now();
        let window = rejected("five_hour", Some(2 * SECOND));
        waits.refused(&window, now, wall(Duration::ZERO), 0.0);
        (waits, now)
    }

    #[test]
    fn refused_again_after_the_reset_waits_again_within_the_same_wait() {
        let (mut waits, now) = refused_for_two_seconds(HOUR);
        let after_reset = now + 4 * SECOND;
        // The CLI still says the reset is now: porch waits the floor, not a tight loop.
        let again = waits.refused(
            &rejected("five_hour", Some(Duration::ZERO)),
            after_reset,
            wall(4 * SECOND),
            0.0,
        );
        assert_eq!(
            again,
            Decision::Wait {
                until: after_reset + REPEAT_FLOOR + RESET_MARGIN,
                wait: REPEAT_FLOOR + RESET_MARGIN
            }
        );
        let records = waits.records(after_reset);
        assert_eq!(records.len(), 1, "one wait: {records:?}");
        assert_eq!(records[0].waited_ms, 4_000);
    }

    #[test]
    fn refused_after_the_reset_by_a_window_used_up_again_is_a_new_wait() {
        let (mut waits, now) = refused_for_two_seconds(HOUR);
        let after_reset = now + 4 * SECOND;
        let used_up_again = rejected("five_hour", Some(7 * SECOND));
        assert_eq!(
            waits.refused(&used_up_again, after_reset, wall(4 * SECOND), 0.0),
            Decision::Wait {
                until: after_reset + 3 * SECOND + RESET_MARGIN,
                wait: 3 * SECOND + RESET_MARGIN
            },
            "no floor: the window did reset"
        );
        let waited: Vec<u64> = (waits.records(after_reset + HOUR).iter())
            .map(|r| r.waited_ms)
            .collect();
        assert_eq!(waited, [3_000, 4_000]);
    }

    #[test]
    fn a_wait_past_max_wait_is_not_waited_and_nothing_starts_any_more() {
        let mut waits = UsageWaits::new(HOUR);
        let now = Instant::now();
        let weekly = rejected("seven_day", Some(48 * HOUR));
        assert_eq!(
            waits.refused(&weekly, now, wall(Duration::ZERO), 0.0),
            Decision::GiveUp {
                wait: 48 * HOUR + RESET_MARGIN
            }
        );
        assert!(waits.is_exhausted());
        assert_eq!(waits.hold_until(), None);
        assert!(waits.records(now).is_empty(), "nothing was waited");
        // Later refusals change nothing.
        assert_eq!(
            waits.refused(&weekly, now, wall(Duration::ZERO), 0.0),
            Decision::Waiting
        );
    }

    #[test]
    fn max_wait_bounds_the_whole_wait_repeats_included() {
        let mut waits = UsageWaits::new(30 * SECOND);
        let now = Instant::now();
        let soon = |after| rejected("five_hour", Some(after));
        assert!(matches!(
            waits.refused(&soon(20 * SECOND), now, wall(Duration::ZERO), 0.0),
            Decision::Wait { .. }
        ));
        let after_reset = now + 22 * SECOND;
        let again = waits.refused(&soon(Duration::ZERO), after_reset, wall(22 * SECOND), 0.0);
        assert_eq!(
            again,
            Decision::GiveUp {
                wait: REPEAT_FLOOR + RESET_MARGIN
            }
        );
        let records = waits.records(after_reset);
        assert_eq!(records.len(), 1);
        assert_eq!(records[0].waited_ms, 22_000);
    }

    #[test]
    fn a_signal_during_the_wait_records_what_was_waited() {
        let mut waits = UsageWaits::new(6 * HOUR);
        let now = Instant::now();
        waits.refused(&rejected("five_hour", None), now, wall(Duration::ZERO), 0.0);
        let records = waits.records(now + 90 * SECOND);
        assert_eq!(records.len(), 1);
        assert_eq!(records[0].resets_at, None);
        assert_eq!(records[0].waited_ms, 90_000);
    }

    #[test]
    fn the_lines_say_until_when_in_utc_and_how_long() {
        let wall = wall(Duration::ZERO);
        assert_eq!(
            waiting("five_hour", 2 * HOUR + 13 * 60 * SECOND + 59 * SECOND, wall),
            "usage limit (five_hour) reached; waiting until 21:35 UTC, 2h13m"
        );
        assert_eq!(
            waiting("five_hour", SECOND / 2, wall),
            "usage limit (five_hour) reached; waiting until 19:21 UTC, 1s"
        );
        assert_eq!(
            too_long("seven_day", 62 * HOUR + 30 * SECOND, wall, 6 * HOUR),
            "the seven_day usage limit is reached until 2026-11-28 09:21 UTC, 62h from now, \
             longer than --max-wait (6h)"
        );
    }

    #[test]
    fn each_window_warns_once() {
        let mut waits = UsageWaits::new(HOUR);
        let warning = |kind: &str| UsageWindow {
            status: UsageStatus::Warning,
            utilization: Some(0.93),
            ..rejected(kind, Some(HOUR))
        };
        assert!(waits.warned(&warning("five_hour")));
        assert!(!waits.warned(&warning("five_hour")));
        assert!(waits.warned(&warning("seven_day")));
    }
}
