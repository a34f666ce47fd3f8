//! The rules of a run's schedule: which task may start now, under `-j`, `--stagger` and a
//! signal to porch. Pure: the caller passes the time in and carries out the decisions (threads,
//! results), so each rule is tested without a clock or a thread.

use std::time::{Duration, Instant};

/// Where one task is in the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Not started yet: waits for a free slot and the stagger.
    Waiting,
    Running,
    /// Ended, whatever its outcome, or never ran because the system refused it a thread.
    Finished,
    /// Never started: porch was asked to stop first.
    Skipped,
}

#[derive(Debug)]
pub struct Scheduler {
    /// One per task, in tasks-file order: the order in which they start.
    states: Vec<State>,
    /// How many tasks may run at once (`-j`).
    jobs: usize,
    /// The least time between two starts (`--stagger`).
    stagger: Option<Duration>,
    last_start: Option<Instant>,
    /// porch was asked to stop: nothing starts any more.
    stopping: bool,
}

impl Scheduler {
    /// `initial`: each task's state before the run starts, waiting unless it is carried over.
    pub fn new(initial: Vec<State>, jobs: usize, stagger: Option<Duration>) -> Scheduler {
        Scheduler {
            states: initial,
            jobs,
            stagger,
            last_start: None,
            stopping: false,
        }
    }

    /// The task that may start at `now`, if any: the first waiting one, when a slot is free
    /// and the stagger since the last start has passed.
    pub fn ready(&self, now: Instant) -> Option<usize> {
        if self.stopping || self.running() >= self.jobs || !self.stagger_wait(now).is_zero() {
            return None;
        }
        self.states.iter().position(|s| *s == State::Waiting)
    }

    /// `index` runs from `now` on: it holds a slot, and the next start waits for the stagger.
    pub fn started(&mut self, index: usize, now: Instant) {
        self.states[index] = State::Running;
        self.last_start = Some(now);
    }

    /// The system refused `index` a thread: it ends without running and holds no slot, but
    /// counts as a start for the stagger, as porch tried to start it.
    pub fn refused(&mut self, index: usize, now: Instant) {
        self.states[index] = State::Finished;
        self.last_start = Some(now);
    }

    /// `index` ended: its slot is free for the next task.
    pub fn finished(&mut self, index: usize) {
        self.states[index] = State::Finished;
    }

    /// porch was asked to stop: no waiting task will start. Returns the tasks this skipped;
    /// `None` when porch was stopping already.
    pub fn on_signal(&mut self) -> Option<Vec<usize>> {
        if std::mem::replace(&mut self.stopping, true) {
            return None;
        }
        let mut skipped = Vec::new();
        for (index, state) in self.states.iter_mut().enumerate() {
            if *state == State::Waiting {
                *state = State::Skipped;
                skipped.push(index);
            }
        }
        Some(skipped)
    }

    /// How long until the stagger lets the next waiting task start, when the stagger is what
    /// holds it back; `None` when nothing waits for the stagger (only a finished task or a
    /// signal can change what starts next).
    pub fn next_wake(&self, now: Instant) -> Option<Duration> {
        let waiting = !self.stopping && self.states.contains(&State::Waiting);
        let free_slot = self.running() < self.jobs;
        let wait = self.stagger_wait(now);
        (waiting && free_slot && !wait.is_zero()).then_some(wait)
    }

    pub fn running(&self) -> usize {
        self.states.iter().filter(|s| **s == State::Running).count()
    }

    /// Nothing runs and nothing waits: the run is over.
    pub fn is_done(&self) -> bool {
        !self
            .states
            .iter()
            .any(|s| matches!(s, State::Waiting | State::Running))
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
    use super::State::{Finished, Running, Skipped, Waiting};
    use super::*;

    const SECOND: Duration = Duration::from_secs(1);

    /// A scheduler whose tasks are in `states`, the last start `since_start` before `now`.
    fn scheduler(
        states: &[State],
        jobs: usize,
        stagger: Option<Duration>,
        since_start: Option<Duration>,
    ) -> (Scheduler, Instant) {
        let now = Instant::now() + 10 * SECOND;
        let scheduler = Scheduler {
            states: states.to_vec(),
            jobs,
            stagger,
            last_start: since_start.map(|since| now - since),
            stopping: false,
        };
        (scheduler, now)
    }

    #[test]
    fn tasks_start_in_file_order() {
        let cases: &[(&[State], Option<usize>)] = &[
            (&[Waiting, Waiting, Waiting], Some(0)),
            (&[Running, Waiting, Waiting], Some(1)),
            (&[Finished, Skipped, Waiting], Some(2)),
            (&[Finished, Running, Finished], None),
            (&[], None),
        ];
        for (states, expected) in cases {
            let (s, now) = scheduler(states, 10, None, None);
            assert_eq!(s.ready(now), *expected, "states {states:?}");
        }
    }

    #[test]
    fn no_more_than_jobs_tasks_run_at_once() {
        let cases: &[(&[State], usize, Option<usize>)] = &[
            (&[Running, Waiting], 1, None),
            (&[Running, Running, Waiting], 2, None),
            (&[Running, Waiting], 2, Some(1)),
            // Finished and skipped tasks hold no slot.
            (&[Finished, Skipped, Waiting], 1, Some(2)),
        ];
        for (states, jobs, expected) in cases {
            let (s, now) = scheduler(states, *jobs, None, None);
            assert_eq!(s.ready(now), *expected, "states {states:?}, -j {jobs}");
        }
    }

    #[test]
    fn a_finished_task_frees_its_slot() {
        let (mut s, now) = scheduler(&[Running, Waiting], 1, None, None);
        assert_eq!(s.ready(now), None);
        s.finished(0);
        assert_eq!(s.ready(now), Some(1));
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
            let (s, now) = scheduler(&[Running, Waiting], 10, Some(SECOND), since_start);
            assert_eq!(
                s.ready(now).is_some(),
                starts,
                "{since_start:?} after the last"
            );
        }
    }

    #[test]
    fn without_a_stagger_every_free_slot_fills_at_once() {
        let (mut s, now) = scheduler(&[Waiting, Waiting, Waiting], 10, None, None);
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
            &[Running, Waiting],
            10,
            Some(Duration::ZERO),
            Some(Duration::ZERO),
        );
        assert_eq!(s.ready(now), Some(1));
        assert_eq!(s.next_wake(now), None);
    }

    #[test]
    fn a_start_holds_the_next_one_back_for_the_stagger() {
        let (mut s, now) = scheduler(&[Waiting, Waiting], 10, Some(SECOND), None);
        s.started(0, now);
        assert_eq!(s.ready(now), None);
        assert_eq!(s.next_wake(now), Some(SECOND));
        assert_eq!(s.ready(now + SECOND), Some(1));
    }

    #[test]
    fn a_refused_start_counts_for_the_stagger_but_holds_no_slot() {
        let (mut s, now) = scheduler(&[Waiting, Waiting], 1, Some(SECOND), None);
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
            states: &'static [State],
            jobs: usize,
            since_start: Option<Duration>,
            wake: Option<Duration>,
        }
        let cases = [
            Case {
                rule: "the stagger holds a task back",
                states: &[Running, Waiting],
                jobs: 2,
                since_start: Some(half),
                wake: Some(half),
            },
            Case {
                rule: "no slot is free",
                states: &[Running, Waiting],
                jobs: 1,
                since_start: Some(half),
                wake: None,
            },
            Case {
                rule: "nothing waits",
                states: &[Running, Finished],
                jobs: 2,
                since_start: Some(half),
                wake: None,
            },
            Case {
                rule: "the stagger has passed",
                states: &[Running, Waiting],
                jobs: 2,
                since_start: Some(2 * SECOND),
                wake: None,
            },
            Case {
                rule: "nothing started yet",
                states: &[Waiting, Waiting],
                jobs: 2,
                since_start: None,
                wake: None,
            },
        ];
        for case in cases {
            let (s, now) = scheduler(case.states, case.jobs, Some(SECOND), case.since_start);
            assert_eq!(s.next_wake(now), case.wake, "{}", case.rule);
        }
        let (s, now) = scheduler(&[Running, Waiting], 2, None, Some(Duration::ZERO));
        assert_eq!(s.next_wake(now), None, "no stagger");
    }

    #[test]
    fn a_signal_skips_every_waiting_task_and_leaves_the_others() {
        let (mut s, _) = scheduler(&[Finished, Running, Waiting, Waiting], 2, None, None);
        assert_eq!(s.on_signal(), Some(vec![2, 3]));
        assert_eq!(s.states, [Finished, Running, Skipped, Skipped]);
    }

    #[test]
    fn a_second_signal_is_no_news() {
        let (mut s, _) = scheduler(&[Running, Waiting], 1, None, None);
        assert_eq!(s.on_signal(), Some(vec![1]));
        assert_eq!(s.on_signal(), None);
    }

    #[test]
    fn after_a_signal_nothing_starts_even_in_a_free_slot() {
        let (mut s, now) = scheduler(&[Running, Waiting], 1, None, None);
        s.on_signal();
        s.finished(0);
        assert_eq!(s.ready(now), None);
        assert_eq!(s.next_wake(now), None);
    }

    #[test]
    fn the_run_is_done_when_nothing_runs_or_waits() {
        let cases: &[(&[State], bool)] = &[
            (&[Finished, Skipped], true),
            (&[], true),
            (&[Finished, Running], false),
            (&[Finished, Waiting], false),
        ];
        for (states, done) in cases {
            let (s, _) = scheduler(states, 1, None, None);
            assert_eq!(s.is_done(), *done, "states {states:?}");
        }
    }

    #[test]
    fn running_counts_only_running_tasks() {
        let (s, _) = scheduler(
            &[Running, Finished, Running, Waiting, Skipped],
            4,
            None,
            None,
        );
        assert_eq!(s.running(), 2);
    }
}
