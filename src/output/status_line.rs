//! The live line under the stream on a terminal: how many tasks run, wait, are done and failed,
//! what the finished ones cost, how long the run has taken, and while a usage window holds the
//! run, how long until porch goes on. Kept from the run's events by the printer thread, which
//! redraws it.

use std::time::{Duration, Instant};

use crate::output::events::Event;
use crate::results::Status;
use crate::util::duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Queued,
    Running,
    Done,
    Failed,
}

/// Each task's state as the events say.
#[derive(Debug)]
pub struct Board {
    states: Vec<State>,
    cost_usd: f64,
    /// The usage window porch waits for, and until when.
    usage_wait: Option<(String, Instant)>,
}

impl Board {
    pub fn new(tasks: usize) -> Board {
        Board {
            states: vec![State::Queued; tasks],
            cost_usd: 0.0,
            usage_wait: None,
        }
    }

    pub fn observe(&mut self, event: &Event) {
        match event {
            // A resume carries tasks that succeeded in the run it resumes.
            Event::RunStarted { carried, .. } => {
                for &task in carried {
                    self.set(task, State::Done);
                }
            }
            Event::TaskStarted { task, .. } => self.set(*task, State::Running),
            Event::TaskFinished { task, result } => {
                let state = match result.status {
                    Status::Succeeded => State::Done,
                    _ => State::Failed,
                };
                self.set(*task, state);
                self.cost_usd += result.cost_usd.unwrap_or(0.0);
            }
            Event::UsageLimit(limit) => {
                self.usage_wait = (!limit.gave_up).then(|| (limit.kind.clone(), limit.until));
            }
            Event::RateLimited { .. } | Event::RunFinished { .. } => {}
        }
    }

    fn set(&mut self, task: usize, state: State) {
        if let Some(slot) = self.states.get_mut(task) {
            *slot = state;
        }
    }

    fn count(&self, state: State) -> usize {
        self.states.iter().filter(|&&s| s == state).count()
    }

    /// The line, cut to fit `columns`: a line as wide as the terminal would wrap on some
    /// terminals, and erasing it would then leave its first part behind.
    pub fn render(&self, elapsed: Duration, now: Instant, columns: usize) -> String {
        let mut line = format!(
            "[porch] {} running · {} queued · {} done · {} failed · ${:.2} · {}",
            self.count(State::Running),
            self.count(State::Queued),
            self.count(State::Done),
            self.count(State::Failed),
            self.cost_usd,
            elapsed_text(elapsed),
        );
        if let Some((kind, until)) = &self.usage_wait
            && *until > now
        {
            let left = until.duration_since(now) + Duration::from_millis(999);
            line.push_str(&format!(
                " · usage limit ({kind}): waiting {}",
                elapsed_text(left)
            ));
        }
        let fits = columns.saturating_sub(1);
        if line.chars().count() <= fits {
            return line;
        }
        line.chars().take(fits).collect()
    }
}

/// Whole seconds: `0s`, `59s`, `1m1s`, `1h2m`; tenths would flicker.
fn elapsed_text(elapsed: Duration) -> String {
    match elapsed.as_secs() {
        0 => "0s".to_string(),
        secs => duration::format(Duration::from_secs(secs)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::TaskResult;

    fn started(task: usize) -> Event {
        Event::TaskStarted {
            task,
            branch: String::new(),
            worktree: String::new(),
            attempt: 1,
        }
    }

    fn finished(task: usize, status: Status, cost_usd: Option<f64>) -> Event {
        let result = TaskResult {
            cost_usd,
            ..TaskResult::example("t", status)
        };
        Event::TaskFinished {
            task,
            result: Box::new(result),
        }
    }

    #[test]
    fn counts_follow_the_events_and_cost_adds_up_the_finished_tasks() {
        let mut board = Board::new(5);
        let second = Duration::from_secs(1);
        let events = [
            (
                started(0),
                "[porch] 1 running · 4 queued · 0 done · 0 failed · $0.00 · 1s",
            ),
            (
                started(1),
                "[porch] 2 running · 3 queued · 0 done · 0 failed · $0.00 · 1s",
            ),
            (
                finished(0, Status::Succeeded, Some(0.25)),
                "[porch] 1 running · 3 queued · 1 done · 0 failed · $0.25 · 1s",
            ),
            (
                finished(1, Status::TimedOut, Some(0.5)),
                "[porch] 0 running · 3 queued · 1 done · 1 failed · $0.75 · 1s",
            ),
            (
                finished(2, Status::Skipped, None),
                "[porch] 0 running · 2 queued · 1 done · 2 failed · $0.75 · 1s",
            ),
        ];
        for (event, line) in events {
            board.observe(&event);
            assert_eq!(
                board.render(second, Instant::now(), 200),
                line,
                "after {event:?}"
            );
        }
    }

    #[test]
    fn carried_tasks_are_done_and_unknown_tasks_change_nothing() {
        let mut board = Board::new(2);
        board.observe(&Event::RunStarted {
            run_id: String::new(),
            tasks_file: String::new(),
            jobs: 1,
            carried: vec![1, 7],
        });
        board.observe(&started(9));
        assert_eq!(
            board.render(Duration::from_millis(61_900), Instant::now(), 200),
            "[porch] 0 running · 1 queued · 1 done · 0 failed · $0.00 · 1m1s"
        );
    }

    #[test]
    fn while_a_usage_window_holds_the_run_the_line_counts_down_to_its_reset() {
        let mut board = Board::new(1);
        let now = Instant::now();
        let limit = |gave_up| {
            Event::UsageLimit(crate::output::events::UsageLimit {
                task: 0,
                kind: "five_hour".into(),
                resets_at: None,
                wait: Duration::from_secs(7980),
                until: now + Duration::from_secs(7980),
                gave_up,
            })
        };
        board.observe(&limit(false));
        let line = |board: &Board, at| board.render(Duration::from_secs(5), at, 200);
        let held = "[porch] 0 running · 1 queued · 0 done · 0 failed · $0.00 · 5s";
        // Whole seconds, rounded up: it never says 0s while porch still waits.
        let cases = [
            (now, " · usage limit (five_hour): waiting 2h13m"),
            (
                now + Duration::from_millis(7_979_500),
                " · usage limit (five_hour): waiting 1s",
            ),
            (now + Duration::from_secs(7980), ""),
        ];
        for (at, tail) in cases {
            assert_eq!(line(&board, at), format!("{held}{tail}"));
        }
        board.observe(&limit(true));
        assert_eq!(
            line(&board, now),
            held,
            "porch does not wait when it gives up"
        );
    }

    #[test]
    fn the_line_is_cut_one_column_short_of_the_terminal() {
        let board = Board::new(1);
        let line = board.render(Duration::ZERO, Instant::now(), 20);
        assert_eq!(line, "[porch] 0 running ·");
        assert_eq!(line.chars().count(), 19);
        assert_eq!(board.render(Duration::ZERO, Instant::now(), 0), "");
    }
}
