//! How many sessions may run at once while the API rate-limits: additive increase, as TCP does
//! with its congestion window, and a decrease to what the API is seen to take. Pure: the
//! scheduler reports what the sessions tell (a rate limit, an answer from the API) and asks how
//! many may run and whether a start must wait.
//!
//! The rules, and why (docs/design.md, "Rate limits", has the measurements):
//! - The limit starts at `-j` (or the memory cap): a run the API does not limit behaves exactly
//!   as it did without adaptation.
//! - A rate-limit signal (an `api_retry` event or a failed result with status 429, 529 or none,
//!   the API unreachable) lowers the limit to the sessions running that the API is not refusing
//!   (answered, or whose request may be in flight), and never below 1. Halving was tried: with
//!   the real CLI nothing says a session is served until its first answer arrives, so sessions
//!   started together and refused one after another halved it once each (8 → 4 → 2 → 1) below
//!   what the API served. Lowered to what is not refused, a burst of refusals from one round
//!   lowers it once, to the same place, however many there are.
//! - Each session the API serves after the last change counts; when as many have been served
//!   as the limit allows at once (one round), the limit grows by one, up to `-j`.

use std::time::{Duration, Instant};

use crate::agent::ApiEvent;

/// The limit grows by this once a round of sessions has been served without a signal.
pub const INCREASE_STEP: usize = 1;

/// What a session told about the API.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Signal {
    /// The API refused or could not be reached: HTTP status (429, 529), or `None` when
    /// unreachable.
    RateLimited { status: Option<u16> },
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

/// The changes of the limit that reports arriving together made, each with the task whose
/// report made it, as the `[porch]` lines say them: falls in a row as one (a burst of refusals
/// lowers it step by step, `6 → 5`, `5 → 4`, … said `6 → 3`), with the cause and task of the
/// last; a raise as it is.
pub fn coalesce_falls(changes: Vec<(usize, Change)>) -> Vec<(usize, Change)> {
    let mut said: Vec<(usize, Change)> = Vec::new();
    for (index, change) in changes {
        let fall = |c: &Change| matches!(c.cause, Cause::RateLimited(_));
        match said.last_mut() {
            Some((last_index, last)) if fall(last) && fall(&change) => {
                *last_index = index;
                (last.to, last.cause) = (change.to, change.cause);
            }
            _ => said.push((index, change)),
        }
    }
    said
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

    /// What a session said. `standing` is how many running sessions the API is not refusing
    /// now (answered since their last rate limit, or whose request may be in flight).
    pub fn observe(&mut self, signal: Signal, standing: usize) -> Option<Change> {
        match signal {
            Signal::RateLimited { status } => self.rate_limited(status, standing),
            Signal::Served => self.served(),
        }
    }

    fn rate_limited(&mut self, status: Option<u16>, standing: usize) -> Option<Change> {
        self.events += 1;
        let to = standing.clamp(1, self.limit);
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
}

/// What the API has told about each task's running session, and the limit it adds up to.
///
/// A session the API has not answered yet has done nothing: no tool ran, nothing was written,
/// nothing was spent. When the limit falls below the sessions running, such sessions that wait
/// in a retry (refused: their last event is an `api_retry`) are stopped ("shed", newest in file
/// order first) and start again when a slot is free, instead of waiting out the CLI's retries
/// and failing with a 429 that costs a retry. One whose request may be in flight is left to
/// run: it may be the one the API is serving; refused, it is shed then.
#[derive(Debug)]
pub struct Governor {
    limit: AdaptiveLimit,
    sessions: Vec<SessionState>,
}

#[derive(Debug, Clone, Copy, Default)]
struct SessionState {
    /// Holds a slot: its session runs (or is about to).
    running: bool,
    /// Waits for a slot to start its session again, not before this.
    queued: Option<Instant>,
    /// What the API did with its request since its start or its last retry.
    api: Api,
    ever_answered: bool,
    /// Asked to stop: it no longer counts against the limit.
    shedding: bool,
}

/// What the API did with a running session's request since its start or its last retry.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
enum Api {
    /// Nothing said yet: its request may be in flight.
    #[default]
    InFlight,
    /// Answered: the API is serving it.
    Answered,
    /// Its last word about the API was a retry or giving up: no request of it is in flight.
    Refused,
}

/// What porch does about an event: say the limit moved, stop these sessions.
#[derive(Debug, Default, PartialEq)]
pub struct Reaction {
    pub change: Option<Change>,
    pub shed: Vec<usize>,
}

impl Governor {
    pub fn new(tasks: usize, ceiling: usize) -> Governor {
        Governor {
            limit: AdaptiveLimit::new(ceiling),
            sessions: vec![SessionState::default(); tasks],
        }
    }

    pub fn limit(&self) -> &AdaptiveLimit {
        &self.limit
    }

    /// A session of task `index` starts (first start, retry or restart).
    pub fn started(&mut self, index: usize) {
        self.sessions[index] = SessionState {
            running: true,
            ..SessionState::default()
        };
    }

    /// Task `index`'s session ended.
    pub fn ended(&mut self, index: usize) {
        self.sessions[index] = SessionState::default();
    }

    /// Task `index`'s session ended and the task waits for a slot to start it again.
    pub fn queue(&mut self, index: usize, not_before: Instant) {
        self.sessions[index] = SessionState {
            queued: Some(not_before),
            ..SessionState::default()
        };
    }

    /// Tasks waiting for a slot to start their session again.
    pub fn queued(&self) -> usize {
        self.sessions.iter().filter(|s| s.queued.is_some()).count()
    }

    /// The first task, in file order, waiting to start its session again whose wait is over.
    pub fn next_queued(&self, now: Instant) -> Option<usize> {
        self.sessions
            .iter()
            .position(|s| s.queued.is_some_and(|at| at <= now))
    }

    /// How long until a queued task's wait is over; `None` when none waits.
    pub fn next_wake(&self, now: Instant) -> Option<Duration> {
        self.sessions
            .iter()
            .filter_map(|s| s.queued)
            .map(|at| at.saturating_duration_since(now))
            .min()
    }

    pub fn observe(&mut self, index: usize, event: ApiEvent) -> Reaction {
        let Some(session) = self.sessions.get_mut(index).filter(|s| s.running) else {
            return Reaction::default(); // from a session that has ended since
        };
        if event == ApiEvent::Answered {
            let first = session.api != Api::Answered;
            session.api = Api::Answered;
            session.ever_answered = true;
            session.shedding = false;
            let change = first
                .then(|| self.limit.observe(Signal::Served, self.standing()))
                .flatten();
            return Reaction {
                change,
                shed: Vec::new(),
            };
        }
        session.api = Api::Refused;
        if !event.is_rate_limit() {
            return Reaction::default();
        }
        let signal = Signal::RateLimited {
            status: event.status(),
        };
        let change = self.limit.observe(signal, self.standing());
        Reaction {
            change,
            shed: self.shed_over_limit(),
        }
    }

    /// Sessions running that the API is not refusing now: served, or whose request may be in
    /// flight. Not those being shed.
    fn standing(&self) -> usize {
        self.sessions
            .iter()
            .filter(|s| s.running && !s.shedding && s.api != Api::Refused)
            .count()
    }

    /// Picks the sessions to stop so that no more run than the limit allows, among those the
    /// API never answered, the last in file order first: those that wait in a retry; then,
    /// while a session the API has answered waits in one (it may hold work, and would fail once
    /// the CLI gives up), those whose request may be in flight, to give it their place.
    fn shed_over_limit(&mut self) -> Vec<usize> {
        let counted = self
            .sessions
            .iter()
            .filter(|s| s.running && !s.shedding)
            .count();
        let excess = counted.saturating_sub(self.limit.limit());
        let working_refused = (self.sessions.iter())
            .any(|s| s.running && !s.shedding && s.ever_answered && s.api == Api::Refused);
        let passes: &[bool] = if working_refused {
            &[false, true]
        } else {
            &[false]
        };
        let mut shed = Vec::new();
        for &in_flight_too in passes {
            for (index, session) in self.sessions.iter_mut().enumerate().rev() {
                if shed.len() == excess {
                    return shed;
                }
                let idle = !session.ever_answered && (session.api == Api::Refused || in_flight_too);
                if session.running && !session.shedding && idle {
                    session.shedding = true;
                    shed.push(index);
                }
            }
        }
        shed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn falls_that_came_together_are_said_once_and_raises_as_they_are() {
        let fall = |from, to, status| Change {
            from,
            to,
            cause: Cause::RateLimited(status),
        };
        let raise = |from, to| Change {
            from,
            to,
            cause: Cause::Raised,
        };
        let burst = vec![
            (0, fall(6, 5, Some(429))),
            (3, fall(5, 4, Some(429))),
            (1, fall(4, 3, Some(529))),
            (2, raise(3, 4)),
            (4, fall(4, 2, None)),
        ];
        assert_eq!(
            coalesce_falls(burst),
            vec![
                (1, fall(6, 3, Some(529))),
                (2, raise(3, 4)),
                (4, fall(4, 2, None)),
            ]
        );
        let raises = vec![(0, raise(1, 2)), (1, raise(2, 3))];
        assert_eq!(coalesce_falls(raises.clone()), raises);
        assert_eq!(coalesce_falls(Vec::new()), Vec::new());
    }

    const LIMIT_429: Signal = Signal::RateLimited { status: Some(429) };

    /// Feeds `signals` (each with the number of sessions served at that moment) to a limit
    /// starting at `ceiling`; returns the limit after each.
    fn limits_after(ceiling: usize, signals: &[(Signal, usize)]) -> Vec<usize> {
        let mut limit = AdaptiveLimit::new(ceiling);
        signals
            .iter()
            .map(|(signal, served)| {
                limit.observe(*signal, *served);
                limit.limit()
            })
            .collect()
    }

    #[test]
    fn a_rate_limit_lowers_the_limit_to_the_sessions_not_refused_but_not_below_one() {
        // (ceiling, sessions not refused at the signal, limit after it)
        let cases = [
            (24, 0, 1),
            (24, 3, 3),
            (24, 20, 20),
            (6, 3, 3),
            (6, 5, 5),
            (2, 0, 1),
            (1, 0, 1),
            (1, 5, 1),
            // More sessions standing than the limit allows (started before it fell): no rise.
            (4, 9, 4),
        ];
        for (ceiling, standing, expected) in cases {
            assert_eq!(
                limits_after(ceiling, &[(LIMIT_429, standing)]),
                [expected],
                "-j {ceiling}, {standing} not refused"
            );
        }
    }

    #[test]
    fn a_burst_of_refusals_from_one_round_lowers_the_limit_once_to_what_the_api_takes() {
        // The real CLI: 8 sessions start together, the API takes 2; the 6 others are refused
        // one after another before any first answer. Halving went 8 → 4 → 2 → 1.
        let burst: Vec<(Signal, usize)> =
            (2..8).rev().map(|standing| (LIMIT_429, standing)).collect();
        assert_eq!(limits_after(8, &burst), [7, 6, 5, 4, 3, 2]);
        // A refusal repeated by a session already counted lowers nothing more.
        assert_eq!(limits_after(8, &[(LIMIT_429, 2), (LIMIT_429, 2)]), [2, 2]);
        let unreachable = Signal::RateLimited { status: None };
        assert_eq!(
            limits_after(8, &[(unreachable, 3), (unreachable, 0)]),
            [3, 1],
            "nothing served: down to one"
        );
    }

    #[test]
    fn the_limit_grows_by_one_per_round_of_sessions_served_up_to_the_ceiling() {
        let served = (Signal::Served, 0);
        let mut signals = vec![(LIMIT_429, 4), (LIMIT_429, 2)]; // 8 → 4 → 2
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
        let change = limit.observe(LIMIT_429, 3).unwrap();
        assert_eq!(
            change.describe(),
            "rate limited (429): 6 → 3 sessions at once"
        );
        let overloaded = Signal::RateLimited { status: Some(529) };
        let change = limit.observe(overloaded, 1).unwrap();
        assert_eq!(
            change.describe(),
            "rate limited (529): 3 → 1 session at once"
        );
        let change = limit.observe(Signal::Served, 1).unwrap();
        assert_eq!(
            change.describe(),
            "1 session served without a rate limit: 1 → 2 sessions at once"
        );
        let unreachable = Signal::RateLimited { status: None };
        let change = limit.observe(unreachable, 0).unwrap();
        assert_eq!(
            change.describe(),
            "the API is unreachable: 2 → 1 session at once"
        );
        assert_eq!(limit.observe(unreachable, 0), None, "at 1 already");
    }

    #[test]
    fn lowest_and_events_count_every_signal() {
        let mut limit = AdaptiveLimit::new(4);
        for (signal, standing) in [(LIMIT_429, 2), (LIMIT_429, 0), (LIMIT_429, 0)] {
            limit.observe(signal, standing);
        }
        for _ in 0..3 {
            limit.observe(Signal::Served, 0);
        }
        assert_eq!((limit.events(), limit.lowest(), limit.limit()), (3, 1, 3));
    }

    const RETRY_429: ApiEvent = ApiEvent::Retrying {
        status: Some(429),
        delay: None,
    };

    /// Sessions `running` started under `-j ceiling`, the ones in `answered` answered.
    fn governor(ceiling: usize, running: &[usize], answered: &[usize]) -> Governor {
        let mut governor = Governor::new(8, ceiling);
        for &index in running {
            governor.started(index);
        }
        for &index in answered {
            governor.observe(index, ApiEvent::Answered);
        }
        governor
    }

    #[test]
    fn a_task_waiting_to_start_again_is_ready_once_its_wait_is_over() {
        let second = Duration::from_secs(1);
        let now = Instant::now();
        let mut g = governor(2, &[0, 1], &[]);
        g.queue(1, now + second); // its session failed: it waits to retry
        assert_eq!(g.queued(), 1);
        assert_eq!(g.next_queued(now), None, "not before its backoff");
        assert_eq!(g.next_wake(now), Some(second));
        assert_eq!(g.next_queued(now + second), Some(1));
        g.started(1);
        assert_eq!((g.queued(), g.next_wake(now)), (0, None));
    }

    #[test]
    fn sessions_refused_before_any_answer_are_shed_down_to_the_limit_newest_first() {
        // (running, answered, refused before, who is rate limited now, limit after, shed)
        type Case = (
            &'static [usize],
            &'static [usize],
            &'static [usize],
            usize,
            usize,
            &'static [usize],
        );
        let cases: &[Case] = &[
            // 6 running under -j 6, 2 served, 3 refused and now 5: 3 → 2 are left standing.
            (
                &[0, 1, 2, 3, 4, 5],
                &[0, 1],
                &[2, 3, 4],
                5,
                2,
                &[5, 4, 3, 2],
            ),
            // Only 5 refused: the others' requests may be in flight; they stay.
            (&[0, 1, 2, 3, 4, 5], &[0, 1], &[], 5, 5, &[5]),
            // Served sessions are never shed, even when that leaves more than the limit.
            (&[0, 1, 2, 3], &[0, 1, 2], &[], 3, 3, &[3]),
            (&[0, 1, 2, 3], &[0, 1, 2, 3], &[], 3, 3, &[]),
            // Under the limit after the fall: nothing to shed.
            (&[0], &[], &[], 0, 1, &[]),
        ];
        for (running, answered, refused, limited, limit, shed) in cases {
            let mut g = governor(6, running, answered);
            for &index in *refused {
                g.sessions[index].api = Api::Refused;
            }
            let reaction = g.observe(*limited, RETRY_429);
            assert_eq!(
                (g.limit().limit(), reaction.shed.as_slice()),
                (*limit, *shed),
                "running {running:?}, answered {answered:?}, refused {refused:?}"
            );
        }
    }

    #[test]
    fn sessions_started_together_and_refused_one_by_one_leave_what_the_api_takes() {
        // The real CLI: 8 start, the API takes 0 and 1 and answers neither for seconds.
        let mut g = governor(8, &[0, 1, 2, 3, 4, 5, 6, 7], &[]);
        let mut shed = Vec::new();
        for index in [7, 2, 5, 3, 6, 4] {
            shed.extend(g.observe(index, RETRY_429).shed);
        }
        assert_eq!(g.limit().limit(), 2, "not 1: two requests are in flight");
        assert_eq!(
            shed,
            [7, 2, 5, 3, 6, 4],
            "each refused one goes as it is refused"
        );
        // A second refusal of one being shed changes nothing.
        assert_eq!(g.observe(4, RETRY_429), Reaction::default());
        assert_eq!(g.limit().limit(), 2);
    }

    #[test]
    fn a_refused_session_that_holds_work_gets_the_place_of_one_that_did_nothing_yet() {
        // 0 and 1 were answered; 2 started when the limit rose to 3 and its request may hold
        // the place 0's next request is refused for.
        let mut g = governor(8, &[0, 1, 2], &[0, 1]);
        let reaction = g.observe(0, RETRY_429);
        assert_eq!((g.limit().limit(), reaction.shed), (2, vec![2]));
        // Without a refused session that holds work, one in flight is left alone.
        let mut g = governor(8, &[0, 1, 2, 3], &[0]);
        assert_eq!(g.observe(3, RETRY_429).shed, [3]);
        assert_eq!((g.limit().limit(), g.sessions[2].shedding), (3, false));
    }

    #[test]
    fn a_session_being_shed_is_not_shed_twice_nor_counted() {
        let mut g = governor(6, &[0, 1, 2, 3, 4, 5], &[0]);
        for index in [3, 4] {
            g.sessions[index].api = Api::Refused;
        }
        assert_eq!(g.observe(5, RETRY_429).shed, [5, 4, 3]); // 6 → 3 standing
        // One more refused: 3 → 2, and it goes.
        assert_eq!(g.observe(2, RETRY_429).shed, [2]);
        assert_eq!(g.observe(2, RETRY_429).shed, Vec::<usize>::new());
        assert_eq!(g.limit().limit(), 2);
    }

    #[test]
    fn only_rate_limits_lower_the_limit() {
        let others = [
            ApiEvent::Retrying {
                status: Some(500),
                delay: None,
            },
            ApiEvent::GaveUp { status: Some(400) },
        ];
        for event in others {
            let mut g = governor(4, &[0, 1, 2, 3], &[]);
            assert_eq!(g.observe(0, event), Reaction::default(), "{event:?}");
            assert_eq!(g.limit().limit(), 4);
        }
        let mut g = governor(4, &[0, 1, 2], &[]);
        let gave_up = g.observe(0, ApiEvent::GaveUp { status: Some(529) });
        assert_eq!(gave_up.change.map(|c| c.to), Some(2));
    }

    #[test]
    fn the_first_answer_after_each_retry_counts_as_served_and_events_of_ended_sessions_none() {
        let mut g = governor(2, &[0, 1], &[]);
        g.observe(0, RETRY_429); // 2 → 1
        g.observe(0, ApiEvent::Answered); // one round at 1: 1 → 2
        assert_eq!(g.limit().limit(), 2);
        g.observe(0, RETRY_429); // 2 → 1 (none served)
        g.observe(0, ApiEvent::Answered);
        g.observe(0, ApiEvent::Answered); // the same answer, not a second session
        assert_eq!(g.limit().limit(), 2, "one round of one: 1 → 2");
        g.ended(1);
        assert_eq!(g.observe(1, RETRY_429), Reaction::default());
        assert_eq!(g.limit().events(), 2);
    }
}
