//! The rules of a run's schedule: which task may start now, under `-j`, `--stagger`,
//! `depends_on` and a signal to porch. Pure: the caller passes the time in and carries out the decisions (threads,
//! results), so each rule is tested without a clock or a thread.

use std::time::{Duration, Instant};

use crate::agent::ApiEvent;
use crate::engine::concurrency::AdaptiveLimit;
use crate::engine::concurrency::Governor;
use crate::engine::concurrency::Reaction;
use crate::engine::dependencies::Dependencies;
use crate::engine::dependencies::Readiness;
use crate::results::Status;

/// A task that never starts: `dependency`, a task it depends on, ended `ended`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Blocked {
    pub task: usize,
    pub dependency: usize,
    pub ended: Status,
}

#[derive(Debug)]
pub struct Scheduler {
    /// One per task, in tasks-file order: the order in which they start. Pending until started,
    /// then running, then its outcome; skipped when porch was asked to stop first. The statuses
    /// of the results file, so that a rule about outcomes (start only once another task
    /// succeeded) reads them as they are.
    states: Vec<Status>,
    /// Which tasks each task waits for (`depends_on`).
    dependencies: Dependencies,
    /// How many tasks may run at once (`-j`).
    jobs: usize,
    /// The least time between two starts (`--stagger`).
    stagger: Option<Duration>,
    last_start: Option<Instant>,
    /// porch was asked to stop: nothing starts any more.
    stopping: bool,
    /// The run's budget (`--max-cost-usd`) is spent: nothing starts any more.
    spent: bool,
    /// As many tasks failed as `--max-fail` allows: nothing starts any more.
    failed_out: bool,
    /// How many may run at once under the API's rate limits (never more than `jobs`), and
    /// what the sessions said about the API.
    governor: Governor,
    /// A usage window is used up: no session starts before this (`engine/usage.rs`).
    held_until: Option<Instant>,
    /// porch gave up waiting for a usage window (`--max-wait`): nothing starts any more.
    exhausted: bool,
}

impl Scheduler {
    /// `initial`: each task's status before the run starts: pending, or the outcome of a task
    /// that `porch resume` carries over from the run it resumes.
    pub fn new(
        initial: Vec<Status>,
        dependencies: Dependencies,
        jobs: usize,
        stagger: Option<Duration>,
    ) -> Scheduler {
        Scheduler {
            governor: Governor::new(initial.len(), jobs),
            states: initial,
            dependencies,
            jobs,
            stagger,
            last_start: None,
            stopping: false,
            spent: false,
            failed_out: false,
            held_until: None,
            exhausted: false,
        }
    }

    /// The task that may start at `now`, if any: the first pending one whose dependencies
    /// have all succeeded, when a slot is free and the stagger since the last start has passed.
    pub fn ready(&self, now: Instant) -> Option<usize> {
        if self.stopping || self.spent || self.failed_out {
            return None;
        }
        if !self.has_room() || !self.stagger_wait(now).is_zero() {
            return None;
        }
        if self.held(now) {
            return None;
        }
        (0..self.states.len()).find(|&index| {
            self.states[index] == Status::Pending
                && self.dependencies.readiness(index, &self.states) == Readiness::Ready
        })
    }

    /// Pending tasks that will never start, because a task they depend on ended without
    /// succeeding: each becomes skipped, and so, in turn, do the tasks that depend on it.
    /// Returns them in the order skipped, each with the dependency that blocked it and how
    /// that one ended.
    pub fn skip_blocked(&mut self) -> Vec<Blocked> {
        let mut skipped = Vec::new();
        loop {
            let blocked = (0..self.states.len()).find_map(|index| {
                let pending = self.states[index] == Status::Pending;
                match self.dependencies.readiness(index, &self.states) {
                    Readiness::Blocked { dependency } if pending => Some(Blocked {
                        task: index,
                        dependency,
                        ended: self.states[dependency],
                    }),
                    _ => None,
                }
            });
            let Some(blocked) = blocked else {
                return skipped;
            };
            self.states[blocked.task] = Status::Skipped;
            skipped.push(blocked);
        }
    }

    /// A running task whose session porch stopped or that failed, waiting for a slot to start
    /// it again, whose wait is over, when a slot is free: the first in file order.
    pub fn ready_again(&self, now: Instant) -> Option<usize> {
        if !self.has_room() || self.held(now) {
            return None;
        }
        self.governor.next_queued(now)
    }

    /// `index`'s session starts again: it holds a slot.
    pub fn restarted(&mut self, index: usize) {
        self.governor.started(index);
    }

    /// `index`'s session ended and the task waits for a slot to start it again, not before
    /// `not_before`: it holds no slot meanwhile.
    pub fn wants_again(&mut self, index: usize, not_before: Instant) {
        self.governor.queue(index, not_before);
    }

    /// What a session said about the API: the limit may move, sessions may have to stop.
    pub fn observe(&mut self, index: usize, event: ApiEvent) -> Reaction {
        self.governor.observe(index, event)
    }

    pub fn limit(&self) -> &AdaptiveLimit {
        self.governor.limit()
    }

    /// A slot is free under `-j` and the concurrency limit.
    fn has_room(&self) -> bool {
        self.running() < self.jobs.min(self.governor.limit().limit())
    }

    /// `index` runs from `now` on: it holds a slot, and the next start waits for the stagger.
    pub fn started(&mut self, index: usize, now: Instant) {
        self.states[index] = Status::Running;
        self.last_start = Some(now);
        self.governor.started(index);
    }

    /// The system refused `index` a thread: it fails without running and holds no slot, but
    /// counts as a start for the stagger, as porch tried to start it.
    pub fn refused(&mut self, index: usize, now: Instant) {
        self.states[index] = Status::Failed;
        self.last_start = Some(now);
    }

    /// `index` ended with `outcome`: its slot is free for the next task.
    pub fn finished(&mut self, index: usize, outcome: Status) {
        self.states[index] = outcome;
        self.governor.ended(index);
    }

    /// porch was asked to stop: no pending task will start. Returns the tasks this skipped;
    /// `None` when porch was stopping already.
    pub fn on_signal(&mut self) -> Option<Vec<usize>> {
        if std::mem::replace(&mut self.stopping, true) {
            return None;
        }
        Some(self.skip_pending())
    }

    /// The run's budget is spent: no pending task will start. Returns the tasks this skipped;
    /// `None` when it was spent already.
    pub fn on_budget_spent(&mut self) -> Option<Vec<usize>> {
        if std::mem::replace(&mut self.spent, true) {
            return None;
        }
        Some(self.skip_pending())
    }

    /// As many tasks failed as `--max-fail` allows: no pending task will start. Returns the
    /// tasks this skipped; `None` when that was so already.
    pub fn on_max_fail(&mut self) -> Option<Vec<usize>> {
        if std::mem::replace(&mut self.failed_out, true) {
            return None;
        }
        Some(self.skip_pending())
    }

    /// A usage window is used up: nothing starts before `until` (`None`: no longer held).
    pub fn hold(&mut self, until: Option<Instant>) {
        self.held_until = until;
    }

    /// porch gave up waiting for a usage window: no pending task will start, nor any session
    /// again. Returns the tasks this skipped; `None` when it had given up already.
    pub fn on_usage_exhausted(&mut self) -> Option<Vec<usize>> {
        if std::mem::replace(&mut self.exhausted, true) {
            return None;
        }
        self.held_until = None;
        Some(self.skip_pending())
    }

    /// Held by a usage window at `now`, or given up on it.
    fn held(&self, now: Instant) -> bool {
        self.exhausted || self.held_until.is_some_and(|until| now < until)
    }

    fn skip_pending(&mut self) -> Vec<usize> {
        let mut skipped = Vec::new();
        for (index, state) in self.states.iter_mut().enumerate() {
            if *state == Status::Pending {
                *state = Status::Skipped;
                skipped.push(index);
            }
        }
        skipped
    }

    /// How long until the stagger lets the next pending task start, when the stagger is what
    /// holds it back; `None` when nothing waits for the stagger (only a finished task or a
    /// signal can change what starts next).
    pub fn next_wake(&self, now: Instant) -> Option<Duration> {
        let starting = !self.stopping && !self.spent && !self.failed_out;
        let pending = starting && self.states.contains(&Status::Pending);
        let free_slot = self.has_room();
        let wait = self.stagger_wait(now);
        let stagger = (pending && free_slot && !wait.is_zero()).then_some(wait);
        // While a usage window holds them, the queued wait for its reset, not their time.
        let held = self.held(now);
        let waiting = pending || self.governor.queued() > 0;
        // Without a free slot a queued task waits for one, which only a task's end or a raised
        // limit makes: both wake the scheduler. Its time alone would wake it at once, again and
        // again (a busy loop on one core while a rate limit lasted).
        let queued = self.governor.next_wake(now).filter(|_| !held && free_slot);
        let reset = (self.held_until)
            .filter(|_| held && waiting && !self.exhausted)
            .map(|until| until.saturating_duration_since(now));
        [stagger, queued, reset].into_iter().flatten().min()
    }

    /// Tasks holding a slot: running, less those waiting to start their session again.
    pub fn running(&self) -> usize {
        let running = self
            .states
            .iter()
            .filter(|s| **s == Status::Running)
            .count();
        running.saturating_sub(self.governor.queued())
    }

    /// Nothing runs and nothing is pending: the run is over.
    pub fn is_done(&self) -> bool {
        !self
            .states
            .iter()
            .any(|s| matches!(s, Status::Pending | Status::Running))
    }

    /// What is left of the stagger after the last start; zero when it has passed.
    fn stagger_wait(&self, now: Instant) -> Duration {
        match (self.stagger, self.last_start) {
            (Some(stagger), Some(last)) => {
                stagger.saturating_sub(now.saturating_duration_since(last))
            }
            _ => Duration::ZERO,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Status::{Failed, Pending, Running, Skipped, Succeeded, TimedOut};

    const SECOND: Duration = Duration::from_secs(1);

    /// A scheduler whose tasks are in `states`, the last start `since_start` before `now`.
    fn scheduler(
        states: &[Status],
        jobs: usize,
        stagger: Option<Duration>,
        since_start: Option<Duration>,
    ) -> (Scheduler, Instant) {
        let now = Instant::now() + 10 * SECOND;
        let scheduler = Scheduler {
            states: states.to_vec(),
            dependencies: Dependencies::none(states.len()),
            jobs,
            stagger,
            last_start: since_start.map(|since| now - since),
            stopping: false,
            spent: false,
            failed_out: false,
            governor: Governor::new(states.len(), jobs),
            held_until: None,
            exhausted: false,
        };
        (scheduler, now)
    }

    #[test]
    fn tasks_start_in_file_order() {
        let cases: &[(&[Status], Option<usize>)] = &[
            (&[Pending, Pending, Pending], Some(0)),
            (&[Running, Pending, Pending], Some(1)),
            (&[Succeeded, Skipped, Pending], Some(2)),
            (&[Failed, Running, Succeeded], None),
            (&[], None),
        ];
        for (states, expected) in cases {
            let (s, now) = scheduler(states, 10, None, None);
            assert_eq!(s.ready(now), *expected, "states {states:?}");
        }
    }

    #[test]
    fn a_task_carried_over_by_resume_never_starts_and_holds_no_slot() {
        let s = Scheduler::new(vec![Succeeded, Pending], Dependencies::none(2), 1, None);
        assert_eq!(s.ready(Instant::now()), Some(1));
        let s = Scheduler::new(vec![Succeeded], Dependencies::none(1), 1, None);
        assert!(s.is_done());
    }

    #[test]
    fn no_more_than_jobs_tasks_run_at_once() {
        let cases: &[(&[Status], usize, Option<usize>)] = &[
            (&[Running, Pending], 1, None),
            (&[Running, Running, Pending], 2, None),
            (&[Running, Pending], 2, Some(1)),
            // Ended and skipped tasks hold no slot.
            (&[Succeeded, Skipped, Pending], 1, Some(2)),
        ];
        for (states, jobs, expected) in cases {
            let (s, now) = scheduler(states, *jobs, None, None);
            assert_eq!(s.ready(now), *expected, "states {states:?}, -j {jobs}");
        }
    }

    #[test]
    fn a_finished_task_frees_its_slot() {
        let (mut s, now) = scheduler(&[Running, Pending], 1, None, None);
        assert_eq!(s.ready(now), None);
        s.finished(0, Succeeded);
        assert_eq!(s.ready(now), Some(1));
    }

    #[test]
    fn an_ended_task_keeps_its_outcome_a_refused_one_failed() {
        let (mut s, now) = scheduler(&[Running, Running, Pending], 3, None, None);
        s.finished(0, TimedOut);
        s.finished(1, Succeeded);
        s.refused(2, now);
        assert_eq!(s.states, [TimedOut, Succeeded, Failed]);
    }

    #[test]
    fn the_stagger_spaces_starts() {
        // (time since the last start, may the next start)
        let cases = [
            (None, true),
            (Some(Duration::ZERO), false),
            (Some(SECOND / 2), false),
            (Some(SECOND), true),
            (Some(2 * SECOND), true),
        ];
        for (since_start, starts) in cases {
            let (s, now) = scheduler(&[Running, Pending], 10, Some(SECOND), since_start);
            assert_eq!(
                s.ready(now).is_some(),
                starts,
                "{since_start:?} after the last"
            );
        }
    }

    #[test]
    fn without_a_stagger_every_free_slot_fills_at_once() {
        let (mut s, now) = scheduler(&[Pending, Pending, Pending], 10, None, None);
        let mut order = Vec::new();
        while let Some(index) = s.ready(now) {
            s.started(index, now);
            order.push(index);
        }
        assert_eq!(order, [0, 1, 2]);
    }

    #[test]
    fn a_zero_stagger_holds_nothing_back() {
        let (s, now) = scheduler(
            &[Running, Pending],
            10,
            Some(Duration::ZERO),
            Some(Duration::ZERO),
        );
        assert_eq!(s.ready(now), Some(1));
        assert_eq!(s.next_wake(now), None);
    }

    #[test]
    fn a_start_holds_the_next_one_back_for_the_stagger() {
        let (mut s, now) = scheduler(&[Pending, Pending], 10, Some(SECOND), None);
        s.started(0, now);
        assert_eq!(s.ready(now), None);
        assert_eq!(s.next_wake(now), Some(SECOND));
        assert_eq!(s.ready(now + SECOND), Some(1));
    }

    #[test]
    fn a_refused_start_counts_for_the_stagger_but_holds_no_slot() {
        let (mut s, now) = scheduler(&[Pending, Pending], 1, Some(SECOND), None);
        s.refused(0, now);
        assert_eq!(s.running(), 0);
        assert_eq!(s.ready(now), None);
        assert_eq!(s.ready(now + SECOND), Some(1));
    }

    #[test]
    fn the_wake_is_the_rest_of_the_stagger_only_when_the_stagger_holds_a_task_back() {
        let half = SECOND / 2;
        struct Case {
            rule: &'static str,
            states: &'static [Status],
            jobs: usize,
            since_start: Option<Duration>,
            wake: Option<Duration>,
        }
        let cases = [
            Case {
                rule: "the stagger holds a task back",
                states: &[Running, Pending],
                jobs: 2,
                since_start: Some(half),
                wake: Some(half),
            },
            Case {
                rule: "no slot is free",
                states: &[Running, Pending],
                jobs: 1,
                since_start: Some(half),
                wake: None,
            },
            Case {
                rule: "nothing waits",
                states: &[Running, Failed],
                jobs: 2,
                since_start: Some(half),
                wake: None,
            },
            Case {
                rule: "the stagger has passed",
                states: &[Running, Pending],
                jobs: 2,
                since_start: Some(2 * SECOND),
                wake: None,
            },
            Case {
                rule: "nothing started yet",
                states: &[Pending, Pending],
                jobs: 2,
                since_start: None,
                wake: None,
            },
        ];
        for case in cases {
            let (s, now) = scheduler(case.states, case.jobs, Some(SECOND), case.since_start);
            assert_eq!(s.next_wake(now), case.wake, "{}", case.rule);
        }
        let (s, now) = scheduler(&[Running, Pending], 2, None, Some(Duration::ZERO));
        assert_eq!(s.next_wake(now), None, "no stagger");
    }

    #[test]
    fn a_signal_skips_every_pending_task_and_leaves_the_others() {
        let (mut s, _) = scheduler(&[Failed, Running, Pending, Pending], 2, None, None);
        assert_eq!(s.on_signal(), Some(vec![2, 3]));
        assert_eq!(s.states, [Failed, Running, Skipped, Skipped]);
    }

    #[test]
    fn a_spent_budget_skips_every_pending_task_and_a_signal_after_it_is_still_news() {
        let (mut s, now) = scheduler(&[Succeeded, Running, Pending, Pending], 4, None, None);
        assert_eq!(s.on_budget_spent(), Some(vec![2, 3]));
        assert_eq!(s.states, [Succeeded, Running, Skipped, Skipped]);
        assert_eq!(s.on_budget_spent(), None);
        assert_eq!(s.on_signal(), Some(vec![]));
        let (mut s, _) = scheduler(&[Running, Pending], 1, None, None);
        s.on_budget_spent();
        s.finished(0, Succeeded);
        assert_eq!(s.ready(now), None, "nothing starts in the free slot");
    }

    #[test]
    fn too_many_failures_skip_every_pending_task_and_the_running_ones_go_on() {
        let (mut s, now) = scheduler(&[Failed, Running, Pending, Pending], 4, None, None);
        assert_eq!(s.on_max_fail(), Some(vec![2, 3]));
        assert_eq!(s.states, [Failed, Running, Skipped, Skipped]);
        assert_eq!(s.on_max_fail(), None, "said once");
        assert!(!s.is_done(), "the running task finishes");
        s.finished(1, Succeeded);
        assert!(s.is_done());
        let (mut s, _) = scheduler(&[Failed, Running, Pending], 1, None, None);
        s.on_max_fail();
        s.finished(1, Succeeded);
        assert_eq!(s.ready(now), None, "nothing starts in the free slot");
        assert_eq!(s.next_wake(now), None);
    }

    #[test]
    fn a_used_up_usage_window_holds_every_start_until_its_reset() {
        let (mut s, now) = scheduler(&[Running, Pending, Pending], 4, None, None);
        s.wants_again(0, now);
        let reset = now + 5 * SECOND;
        s.hold(Some(reset));
        assert_eq!(s.ready(now), None, "no first start");
        assert_eq!(s.ready_again(now), None, "no start again");
        assert_eq!(s.next_wake(now), Some(5 * SECOND));
        // At the reset, the same schedule goes on: the refused session first, then file order.
        assert_eq!(s.ready_again(reset), Some(0));
        assert_eq!(s.ready(reset), Some(1));
        assert_eq!(
            s.next_wake(reset),
            Some(Duration::ZERO),
            "the queued one starts now"
        );
        s.hold(None);
        assert_eq!(s.ready(now), Some(1));
    }

    #[test]
    fn given_up_on_a_usage_window_nothing_starts_and_the_pending_are_skipped() {
        let (mut s, now) = scheduler(&[Running, Running, Pending, Succeeded], 4, None, None);
        s.wants_again(1, now);
        s.hold(Some(now + SECOND));
        assert_eq!(s.on_usage_exhausted(), Some(vec![2]));
        assert_eq!(s.states, [Running, Running, Skipped, Succeeded]);
        assert_eq!(s.ready_again(now + 2 * SECOND), None);
        assert_eq!(s.next_wake(now + 2 * SECOND), None, "nothing to wake for");
        assert_eq!(s.on_usage_exhausted(), None, "once is news");
    }

    #[test]
    fn a_task_waiting_to_start_again_without_a_free_slot_is_no_reason_to_wake() {
        let (mut s, now) = scheduler(&[Running, Running], 1, None, None);
        s.wants_again(1, now);
        assert_eq!(s.running(), 1);
        assert_eq!(s.next_wake(now + SECOND), None, "only an end frees a slot");
        s.finished(0, Succeeded);
        assert_eq!(s.next_wake(now + SECOND), Some(Duration::ZERO));
    }

    #[test]
    fn a_second_signal_is_no_news() {
        let (mut s, _) = scheduler(&[Running, Pending], 1, None, None);
        assert_eq!(s.on_signal(), Some(vec![1]));
        assert_eq!(s.on_signal(), None);
    }

    #[test]
    fn after_a_signal_nothing_starts_even_in_a_free_slot() {
        let (mut s, now) = scheduler(&[Running, Pending], 1, None, None);
        s.on_signal();
        s.finished(0, Succeeded);
        assert_eq!(s.ready(now), None);
        assert_eq!(s.next_wake(now), None);
    }

    #[test]
    fn the_run_is_done_when_nothing_runs_or_waits() {
        let cases: &[(&[Status], bool)] = &[
            (&[Succeeded, Skipped], true),
            (&[], true),
            (&[Failed, Running], false),
            (&[Succeeded, Pending], false),
        ];
        for (states, done) in cases {
            let (s, _) = scheduler(states, 1, None, None);
            assert_eq!(s.is_done(), *done, "states {states:?}");
        }
    }

    #[test]
    fn running_counts_only_running_tasks() {
        let (s, _) = scheduler(&[Running, Failed, Running, Pending, Skipped], 4, None, None);
        assert_eq!(s.running(), 2);
    }

    /// A scheduler with `-j 10` whose tasks depend on the tasks `lists` name by index.
    fn with_dependencies(states: &[Status], lists: &[&[usize]]) -> (Scheduler, Instant) {
        let (mut s, now) = scheduler(states, 10, None, None);
        let lists = lists.iter().map(|l| l.to_vec()).collect();
        s.dependencies = Dependencies::from_indices(lists);
        (s, now)
    }

    #[test]
    fn a_task_starts_once_its_dependencies_succeeded_the_ready_ones_in_file_order() {
        // 0 depends on 1; 2 depends on 0 and 3; (the statuses, what starts next)
        let lists: &[&[usize]] = &[&[1], &[], &[0, 3], &[]];
        let cases: &[(&[Status], Option<usize>)] = &[
            (&[Pending, Pending, Pending, Pending], Some(1)),
            (&[Pending, Running, Pending, Pending], Some(3)),
            (&[Pending, Running, Pending, Running], None),
            (&[Pending, Succeeded, Pending, Running], Some(0)),
            (&[Succeeded, Succeeded, Pending, Running], None),
            (&[Succeeded, Succeeded, Pending, Succeeded], Some(2)),
        ];
        for (states, next) in cases {
            let (s, now) = with_dependencies(states, lists);
            assert_eq!(s.ready(now), *next, "states {states:?}");
        }
    }

    #[test]
    fn a_dependency_that_did_not_succeed_skips_its_dependants_and_theirs() {
        // 1 depends on 0, 2 on 1, 3 on nothing, 4 on 3 and 2.
        let lists: &[&[usize]] = &[&[], &[0], &[1], &[], &[3, 2]];
        let (mut s, _) = with_dependencies(&[TimedOut, Pending, Pending, Running, Pending], lists);
        let blocked = s.skip_blocked();
        let expected = [(1, 0, TimedOut), (2, 1, Skipped), (4, 2, Skipped)];
        let got: Vec<(usize, usize, Status)> = (blocked.iter())
            .map(|b| (b.task, b.dependency, b.ended))
            .collect();
        assert_eq!(got, expected);
        assert_eq!(s.states, [TimedOut, Skipped, Skipped, Running, Skipped]);
        assert!(s.skip_blocked().is_empty(), "once is enough");
        let (mut s, _) = with_dependencies(&[Running, Pending, Pending, Pending, Pending], lists);
        assert!(
            s.skip_blocked().is_empty(),
            "a running dependency blocks nothing"
        );
    }
}
