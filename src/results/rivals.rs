//! The rivals of a repeated task: which one of a group wins. Pure, on the results.
//!
//! Of the rivals that succeeded (their check passed, when they have one), the winner is one
//! its reviewer approved (when the task has a `review`), then the one that changed the fewest
//! lines (insertions and deletions), then the fastest, then the first in file order. The user's own `check` says which rivals work; among those, the
//! smallest change is the easiest to review and the least likely to have wandered off.

use crate::results::Status;
use crate::results::TaskResult;
use crate::results::approved_or_unreviewed;

/// Sets `winner` on every rival of every group: true for exactly one of those that
/// succeeded, false for the others (all of them when none succeeded). Tasks run once keep
/// `winner` null.
pub fn pick_winners(tasks: &mut [TaskResult]) {
    let winners = winners(tasks);
    for (task, winner) in tasks.iter_mut().zip(winners) {
        task.winner = winner;
    }
}

/// For each task, `winner` as `pick_winners` sets it: a task that depends on a repeated task
/// starts from the winner's branch once every rival has ended.
pub fn winners(tasks: &[TaskResult]) -> Vec<Option<bool>> {
    let mut winners: Vec<Option<bool>> = vec![None; tasks.len()];
    let mut groups: Vec<&str> = Vec::new();
    for task in tasks {
        if let Some(group) = task.group.as_deref()
            && !groups.contains(&group)
        {
            groups.push(group);
        }
    }
    for group in groups {
        let members: Vec<usize> = (0..tasks.len())
            .filter(|&i| tasks[i].group.as_deref() == Some(group))
            .collect();
        // A task that already started from one rival's branch (`depends_on` the group)
        // holds that rival's work: it stays the winner, even when `porch resume` makes
        // another rival pass, or merging the winner and the dependant takes both rivals.
        let built_on = (members.iter().copied())
            .find(|&i| tasks[i].status == Status::Succeeded && is_base_of_another(tasks, i, group));
        let best = built_on.or_else(|| {
            (members.iter().copied())
                .filter(|&i| tasks[i].status == Status::Succeeded)
                .min_by_key(|&i| {
                    let task = &tasks[i];
                    let rejected = !approved_or_unreviewed(task);
                    (
                        rejected,
                        task.insertions + task.deletions,
                        task.duration_ms,
                        i,
                    )
                })
        });
        for i in members {
            winners[i] = Some(Some(i) == best);
        }
    }
    winners
}

/// Whether a task outside `group` started from rival `rival`'s branch: its base names it
/// (alone, or among several: `task/a + task/g-2`).
fn is_base_of_another(tasks: &[TaskResult], rival: usize, group: &str) -> bool {
    let branch = &tasks[rival].branch;
    tasks.iter().any(|task| {
        task.group.as_deref() != Some(group)
            && task.status != Status::Skipped
            && task.base_branch.split(" + ").any(|base| base == branch)
    })
}

/// A group and how its rivals ended, for the summary.
#[derive(Debug, Clone)]
pub struct GroupOutcome<'a> {
    pub group: &'a str,
    pub rivals: usize,
    pub succeeded: usize,
    /// The winning rival; none when no rival succeeded.
    pub winner: Option<&'a TaskResult>,
}

/// Every group of `tasks`, in file order.
pub fn outcomes(tasks: &[TaskResult]) -> Vec<GroupOutcome<'_>> {
    let mut outcomes: Vec<GroupOutcome> = Vec::new();
    for task in tasks {
        let Some(group) = task.group.as_deref() else {
            continue;
        };
        let index = match outcomes.iter().position(|o| o.group == group) {
            Some(index) => index,
            None => {
                outcomes.push(GroupOutcome {
                    group,
                    rivals: 0,
                    succeeded: 0,
                    winner: None,
                });
                outcomes.len() - 1
            }
        };
        let outcome = &mut outcomes[index];
        outcome.rivals += 1;
        outcome.succeeded += usize::from(task.status == Status::Succeeded);
        if task.winner == Some(true) {
            outcome.winner = Some(task);
        }
    }
    outcomes
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A rival of `group`: its status, lines changed and time.
    fn rival(name: &str, group: &str, status: Status, lines: u64, ms: u64) -> TaskResult {
        TaskResult {
            group: Some(group.to_string()),
            insertions: lines,
            duration_ms: ms,
            ..TaskResult::example(name, status)
        }
    }

    fn winners(tasks: &[TaskResult]) -> Vec<(&str, Option<bool>)> {
        tasks.iter().map(|t| (t.name.as_str(), t.winner)).collect()
    }

    /// A rival's status, lines changed and milliseconds.
    type Try = (Status, u64, u64);

    #[test]
    fn a_rival_a_dependant_started_from_stays_the_winner() {
        // g-2 won the first run and `x` started from its branch; a resume made g-1 pass with a
        // smaller change. x holds g-2's work, so g-2 stays the winner.
        let dependant = |status: Status| TaskResult {
            base_branch: "task/g-2".to_string(),
            ..TaskResult::example("x", status)
        };
        let group = || {
            let mut first = rival("g-1", "g", Status::Succeeded, 1, 1);
            first.branch = "task/g-1".to_string();
            let mut second = rival("g-2", "g", Status::Succeeded, 9, 9);
            second.branch = "task/g-2".to_string();
            vec![first, second]
        };
        // (the dependant's status, the winner)
        let cases = [
            (Status::Succeeded, "g-2"),
            (Status::Failed, "g-2"),
            // Skipped: it never started, so it holds nothing; the usual rule decides.
            (Status::Skipped, "g-1"),
        ];
        for (status, expected) in cases {
            let mut tasks = group();
            tasks.push(dependant(status));
            pick_winners(&mut tasks);
            let won: Vec<&str> = (tasks.iter())
                .filter(|t| t.winner == Some(true))
                .map(|t| t.name.as_str())
                .collect();
            assert_eq!(won, [expected], "dependant {status:?}");
        }
    }

    #[test]
    fn an_approved_rival_wins_over_a_smaller_one_its_reviewer_rejected() {
        use crate::results::Review;
        use crate::results::Verdict;
        let reviewed = |name: &str, lines: u64, verdict: Verdict| TaskResult {
            review: Some(Review {
                verdict: Some(verdict),
                ..Review::default()
            }),
            ..rival(name, "g", Status::Succeeded, lines, 1)
        };
        let mut tasks = vec![
            reviewed("g-1", 1, Verdict::RequestChanges),
            reviewed("g-2", 30, Verdict::Approve),
            reviewed("g-3", 20, Verdict::Approve),
        ];
        pick_winners(&mut tasks);
        assert_eq!(
            winners(&tasks),
            [
                ("g-1", Some(false)),
                ("g-2", Some(false)),
                ("g-3", Some(true))
            ]
        );
        // None approved: the usual rule among those that succeeded.
        tasks[1].review.as_mut().unwrap().verdict = Some(Verdict::RequestChanges);
        tasks[2].review.as_mut().unwrap().verdict = Some(Verdict::RequestChanges);
        pick_winners(&mut tasks);
        assert_eq!(tasks[0].winner, Some(true));
    }

    #[test]
    fn the_winner_succeeded_then_changed_least_then_was_fastest_then_came_first() {
        use Status::*;
        // (the group's rivals: status, lines changed, ms; the winner's name or none)
        let cases: [(&[Try], Option<&str>); 6] = [
            // Only one succeeded: it wins, however big.
            (
                &[(Failed, 1, 1), (Succeeded, 90, 9), (TimedOut, 0, 1)],
                Some("g-2"),
            ),
            // Fewest lines wins over fastest.
            (&[(Succeeded, 20, 1), (Succeeded, 5, 9)], Some("g-2")),
            // Equal lines: the fastest.
            (
                &[(Succeeded, 5, 9), (Succeeded, 5, 3), (Succeeded, 7, 1)],
                Some("g-2"),
            ),
            // Equal in both: the first in file order.
            (&[(Succeeded, 5, 3), (Succeeded, 5, 3)], Some("g-1")),
            // No change at all is the smallest change.
            (&[(Succeeded, 3, 1), (Succeeded, 0, 5)], Some("g-2")),
            // Nothing succeeded: no winner.
            (&[(Failed, 1, 1), (Interrupted, 1, 1)], None),
        ];
        for (rivals, expected) in cases {
            let mut tasks: Vec<TaskResult> = (rivals.iter().enumerate())
                .map(|(i, &(status, lines, ms))| {
                    rival(&format!("g-{}", i + 1), "g", status, lines, ms)
                })
                .collect();
            pick_winners(&mut tasks);
            let won: Vec<&str> = (tasks.iter())
                .filter(|t| t.winner == Some(true))
                .map(|t| t.name.as_str())
                .collect();
            assert_eq!(won, expected.into_iter().collect::<Vec<_>>(), "{rivals:?}");
            assert!(
                tasks.iter().all(|t| t.winner.is_some()),
                "every rival is told: {rivals:?}"
            );
        }
    }

    #[test]
    fn deletions_count_as_changed_lines_too() {
        let mut tasks = vec![
            rival("g-1", "g", Status::Succeeded, 2, 1),
            TaskResult {
                deletions: 3,
                ..rival("g-2", "g", Status::Succeeded, 0, 1)
            },
        ];
        pick_winners(&mut tasks);
        assert_eq!(winners(&tasks), [("g-1", Some(true)), ("g-2", Some(false))]);
    }

    #[test]
    fn groups_are_judged_apart_and_tasks_run_once_are_not_judged() {
        let mut tasks = vec![
            TaskResult::example("solo", Status::Succeeded),
            rival("a-1", "a", Status::Succeeded, 9, 1),
            rival("b-1", "b", Status::Succeeded, 1, 1),
            rival("a-2", "a", Status::Succeeded, 4, 1),
            rival("b-2", "b", Status::Succeeded, 2, 1),
        ];
        pick_winners(&mut tasks);
        assert_eq!(
            winners(&tasks),
            [
                ("solo", None),
                ("a-1", Some(false)),
                ("b-1", Some(true)),
                ("a-2", Some(true)),
                ("b-2", Some(false)),
            ]
        );
        let outcomes = outcomes(&tasks);
        let seen: Vec<(&str, usize, usize, Option<&str>)> = (outcomes.iter())
            .map(|o| {
                let winner = o.winner.map(|w| w.name.as_str());
                (o.group, o.rivals, o.succeeded, winner)
            })
            .collect();
        assert_eq!(seen, [("a", 2, 2, Some("a-2")), ("b", 2, 2, Some("b-1"))]);
    }
}
