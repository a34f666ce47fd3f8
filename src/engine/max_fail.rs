//! `--max-fail N`: how many of the run's tasks count as failed, and what a task not started
//! because of them says (pure).

use std::collections::BTreeMap;

use crate::results::Status;
use crate::results::TaskResult;
use crate::task::plan::MaxFail;

/// How many tasks failed or timed out. A repeated task counts once, and only when every attempt
/// has ended and none succeeded: a failed attempt is what rivals are for. Skipped and interrupted
/// tasks are not failures of their own (a dependency that failed is counted already).
pub fn failures(tasks: &[TaskResult]) -> usize {
    let failed = |status| matches!(status, Status::Failed | Status::TimedOut);
    let mut groups: BTreeMap<&str, Vec<Status>> = BTreeMap::new();
    let mut count = 0;
    for task in tasks {
        match &task.group {
            Some(group) => groups.entry(group).or_default().push(task.status),
            None => count += usize::from(failed(task.status)),
        }
    }
    let lost = |attempts: &Vec<Status>| {
        let ended = !(attempts.iter()).any(|s| matches!(s, Status::Pending | Status::Running));
        let none_won = !attempts.contains(&Status::Succeeded);
        ended && none_won && attempts.iter().any(|s| failed(*s))
    };
    count + groups.values().filter(|attempts| lost(attempts)).count()
}

/// The limit is reached: the count of failures it takes, or more.
pub fn reached(limit: MaxFail, tasks: &[TaskResult]) -> Option<usize> {
    let failed = failures(tasks);
    (failed >= limit.tasks).then_some(failed)
}

/// "1 task failed, --max-fail 1": why nothing more starts.
pub fn reason(limit: MaxFail, failed: usize) -> String {
    let tasks = if failed == 1 { "task" } else { "tasks" };
    format!("{failed} {tasks} failed, {}", limit.flag())
}

#[cfg(test)]
mod tests {
    use super::*;
    use Status::{Failed, Interrupted, Pending, Running, Skipped, Succeeded, TimedOut};

    fn task(name: &str, status: Status, group: Option<&str>) -> TaskResult {
        TaskResult {
            group: group.map(String::from),
            ..TaskResult::example(name, status)
        }
    }

    #[test]
    fn failed_and_timed_out_tasks_count_skipped_and_interrupted_ones_do_not() {
        let tasks = [
            task("a", Failed, None),
            task("b", TimedOut, None),
            task("c", Skipped, None),
            task("d", Interrupted, None),
            task("e", Succeeded, None),
            task("f", Running, None),
        ];
        assert_eq!(failures(&tasks), 2);
    }

    #[test]
    fn a_repeated_task_counts_once_when_none_of_its_attempts_can_win_any_more() {
        // (the attempts' statuses, whether the group counts as one failure)
        let cases: [(&[Status], usize); 5] = [
            (&[Failed, Running], 0),
            (&[Failed, Pending], 0),
            (&[Failed, Succeeded], 0),
            (&[Failed, TimedOut], 1),
            (&[Failed, Skipped], 1),
        ];
        for (attempts, count) in cases {
            let tasks: Vec<TaskResult> = (attempts.iter().enumerate())
                .map(|(i, s)| task(&format!("fix-{i}"), *s, Some("fix")))
                .collect();
            assert_eq!(failures(&tasks), count, "{attempts:?}");
        }
    }

    #[test]
    fn the_limit_is_reached_at_its_count_and_said_as_given() {
        let tasks = [task("a", Failed, None), task("b", Failed, None)];
        let three = MaxFail {
            tasks: 3,
            fail_fast: false,
        };
        let two = MaxFail { tasks: 2, ..three };
        let fast = MaxFail {
            tasks: 1,
            fail_fast: true,
        };
        assert_eq!(reached(three, &tasks), None);
        assert_eq!(reached(two, &tasks), Some(2));
        assert_eq!(reason(two, 2), "2 tasks failed, --max-fail 2");
        assert_eq!(reason(fast, 1), "1 task failed, --fail-fast");
    }
}
