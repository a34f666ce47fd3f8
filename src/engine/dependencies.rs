//! `depends_on` between tasks: the graph, checked once (unknown names, a task on itself,
//! cycles), and when a task may start: once every task it depends on has succeeded; never,
//! once one of them ended any other way.

use crate::results::Status;

/// For each task, in tasks-file order, the indices of the tasks it depends on, in the order
/// its `depends_on` lists them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Dependencies {
    of: Vec<Vec<usize>>,
    /// For each task, the rivals of its repeat group, itself included; empty for a task run
    /// once. A task that depends on a repeated task depends on every rival, as a group.
    rivals: Vec<Vec<usize>>,
}

/// What is wrong with the `depends_on` lists; `task` is the index of the task whose list says it.
#[derive(Debug, Clone, PartialEq)]
pub enum Problem {
    Unknown {
        task: usize,
        name: String,
    },
    Itself {
        task: usize,
    },
    Twice {
        task: usize,
        name: String,
    },
    /// The tasks of the cycle in order, the first one again at the end: a → b → a.
    Cycle {
        task: usize,
        path: Vec<usize>,
    },
}

impl Problem {
    pub fn task(&self) -> usize {
        match self {
            Problem::Unknown { task, .. }
            | Problem::Itself { task }
            | Problem::Twice { task, .. }
            | Problem::Cycle { task, .. } => *task,
        }
    }

    /// The message and the hint, with the tasks' names.
    pub fn explain(&self, names: &[&str]) -> (String, String) {
        match self {
            Problem::Unknown { name, .. } => {
                let mut known: Vec<&str> = names.to_vec();
                known.sort_unstable();
                (
                    format!("{name:?} is not the name of a task in this file"),
                    format!("name tasks of this file: {}", known.join(", ")),
                )
            }
            Problem::Itself { task } => (
                format!("{:?} depends on itself", names[*task]),
                "remove the task's own name from its depends_on".to_string(),
            ),
            Problem::Twice { name, .. } => (
                format!("{name:?} is listed twice"),
                "list each dependency once".to_string(),
            ),
            Problem::Cycle { path, .. } => {
                let cycle: Vec<&str> = path.iter().map(|&i| names[i]).collect();
                (
                    format!("a cycle: {}", cycle.join(" → ")),
                    "a task starts only after the tasks it depends on: remove one dependency of the cycle".to_string(),
                )
            }
        }
    }
}

/// When a task may start, as far as its dependencies go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Readiness {
    /// Every dependency succeeded (or it has none).
    Ready,
    /// A dependency has not ended yet.
    Waiting,
    /// This dependency ended without succeeding: the task never starts.
    Blocked { dependency: usize },
}

impl Dependencies {
    /// The graph of `depends_on` lists given by name, one list per task in file order.
    pub fn resolve(names: &[&str], depends_on: &[Vec<String>]) -> Result<Dependencies, Problem> {
        let mut of = Vec::with_capacity(depends_on.len());
        for (task, list) in depends_on.iter().enumerate() {
            let mut indices: Vec<usize> = Vec::with_capacity(list.len());
            for name in list {
                let Some(index) = names.iter().position(|n| n == name) else {
                    let name = name.clone();
                    return Err(Problem::Unknown { task, name });
                };
                if index == task {
                    return Err(Problem::Itself { task });
                }
                if indices.contains(&index) {
                    let name = name.clone();
                    return Err(Problem::Twice { task, name });
                }
                indices.push(index);
            }
            of.push(indices);
        }
        let rivals = vec![Vec::new(); of.len()];
        let dependencies = Dependencies { of, rivals };
        match dependencies.find_cycle() {
            Some(path) => Err(Problem::Cycle {
                task: path[0],
                path,
            }),
            None => Ok(dependencies),
        }
    }

    /// The graph as preflight resolved it: for each task, the indices of those it depends on.
    pub fn from_indices(of: Vec<Vec<usize>>) -> Dependencies {
        let rivals = vec![Vec::new(); of.len()];
        Dependencies { of, rivals }
    }

    /// The same graph, each task knowing its repeat group (`groups[i]`: task i's group name,
    /// none for a task run once). A dependant of a group's rivals waits for all of them, and
    /// needs one to succeed (the winner, whose branch it starts from), not all.
    pub fn with_groups(mut self, groups: &[Option<&str>]) -> Dependencies {
        self.rivals = (groups.iter())
            .map(|group| match group {
                None => Vec::new(),
                Some(name) => (0..groups.len())
                    .filter(|&i| groups[i] == Some(*name))
                    .collect(),
            })
            .collect();
        self
    }

    /// No task depends on another.
    #[cfg(test)]
    pub fn none(tasks: usize) -> Dependencies {
        Dependencies::from_indices(vec![Vec::new(); tasks])
    }

    pub fn of(&self, task: usize) -> &[usize] {
        &self.of[task]
    }

    /// Whether `task` may start, given every task's status now.
    pub fn readiness(&self, task: usize, statuses: &[Status]) -> Readiness {
        let mut waiting = false;
        for &dependency in &self.of[task] {
            match self.outcome(dependency, statuses) {
                Status::Succeeded => {}
                Status::Pending | Status::Running => waiting = true,
                Status::Failed | Status::TimedOut | Status::Interrupted | Status::Skipped => {
                    return Readiness::Blocked { dependency };
                }
            }
        }
        if waiting {
            Readiness::Waiting
        } else {
            Readiness::Ready
        }
    }

    /// How `dependency` counts for a task that depends on it: its status; for a rival of a
    /// repeat group, running while any rival is, succeeded once all ended and one succeeded
    /// (the winner is among them), else its own ending.
    fn outcome(&self, dependency: usize, statuses: &[Status]) -> Status {
        let rivals = &self.rivals[dependency];
        if rivals.is_empty() {
            return statuses[dependency];
        }
        let of_rivals = |wanted: &[Status]| rivals.iter().any(|&r| wanted.contains(&statuses[r]));
        if of_rivals(&[Status::Pending, Status::Running]) {
            Status::Running
        } else if of_rivals(&[Status::Succeeded]) {
            Status::Succeeded
        } else {
            statuses[dependency]
        }
    }

    /// The first cycle a depth-first walk in file order meets, as a path that ends where it
    /// starts; `None` when there is none.
    fn find_cycle(&self) -> Option<Vec<usize>> {
        #[derive(Clone, Copy, PartialEq)]
        enum Mark {
            New,
            OnPath,
            Done,
        }
        let mut marks = vec![Mark::New; self.of.len()];
        for root in 0..self.of.len() {
            if marks[root] != Mark::New {
                continue;
            }
            // The walk's path, each task with the position of the next dependency to visit.
            let mut path: Vec<(usize, usize)> = vec![(root, 0)];
            marks[root] = Mark::OnPath;
            while let Some((task, next)) = path.last_mut() {
                let task = *task;
                let Some(&dependency) = self.of[task].get(*next) else {
                    marks[task] = Mark::Done;
                    path.pop();
                    continue;
                };
                *next += 1;
                match marks[dependency] {
                    Mark::New => {
                        marks[dependency] = Mark::OnPath;
                        path.push((dependency, 0));
                    }
                    Mark::OnPath => {
                        let start = path.iter().position(|(t, _)| *t == dependency)?;
                        let mut cycle: Vec<usize> = path[start..].iter().map(|(t, _)| *t).collect();
                        cycle.push(dependency);
                        return Some(cycle);
                    }
                    Mark::Done => {}
                }
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Status::{Failed, Interrupted, Pending, Running, Skipped, Succeeded, TimedOut};

    /// Tasks named a, b, c, … with the given `depends_on` lists.
    fn resolve(lists: &[&[&str]]) -> Result<Dependencies, Problem> {
        let names = ["a", "b", "c", "d", "e"];
        let depends_on: Vec<Vec<String>> = lists
            .iter()
            .map(|l| l.iter().map(|s| s.to_string()).collect())
            .collect();
        Dependencies::resolve(&names[..lists.len()], &depends_on)
    }

    fn explained(lists: &[&[&str]]) -> (usize, String) {
        let problem = resolve(lists).unwrap_err();
        let names = ["a", "b", "c", "d", "e"];
        (problem.task(), problem.explain(&names[..lists.len()]).0)
    }

    #[test]
    fn names_become_indices_in_the_order_listed() {
        let deps = resolve(&[&[], &["a"], &["b", "a"], &["c"]]).unwrap();
        let lists: Vec<&[usize]> = (0..4).map(|t| deps.of(t)).collect();
        assert_eq!(lists, [&[][..], &[0], &[1, 0], &[2]]);
        assert_eq!(resolve(&[&["b"], &[]]).unwrap().of(0), [1], "a later task");
    }

    #[test]
    fn bad_lists_are_refused_naming_the_task_and_the_problem() {
        let cases: &[(&[&[&str]], usize, &str)] = &[
            (
                &[&[], &["x"]],
                1,
                "\"x\" is not the name of a task in this file",
            ),
            (&[&[], &["b"]], 1, "\"b\" depends on itself"),
            (&[&[], &["a", "a"]], 1, "\"a\" is listed twice"),
            (&[&["b"], &["a"]], 0, "a cycle: a → b → a"),
            (&[&["b"], &["c"], &["a"]], 0, "a cycle: a → b → c → a"),
            (&[&[], &["c"], &["d"], &["b"]], 1, "a cycle: b → c → d → b"),
            (&[&["b"], &["c"], &["b"]], 1, "a cycle: b → c → b"),
        ];
        for (lists, task, message) in cases {
            assert_eq!(
                explained(lists),
                (*task, message.to_string()),
                "depends_on {lists:?}"
            );
        }
    }

    #[test]
    fn an_unknown_name_hints_at_the_known_ones() {
        let names = ["b", "a"];
        let problem = Dependencies::resolve(&names, &[vec![], vec!["c".to_string()]]).unwrap_err();
        assert_eq!(problem.explain(&names).1, "name tasks of this file: a, b");
    }

    #[test]
    fn a_diamond_is_no_cycle() {
        assert!(resolve(&[&[], &["a"], &["a"], &["b", "c"]]).is_ok());
    }

    #[test]
    fn a_task_is_ready_once_every_dependency_succeeded() {
        // d depends on a, b and c; (their statuses, d's readiness)
        let cases: &[([Status; 3], Readiness)] = &[
            ([Succeeded, Succeeded, Succeeded], Readiness::Ready),
            ([Succeeded, Running, Succeeded], Readiness::Waiting),
            ([Pending, Succeeded, Pending], Readiness::Waiting),
            (
                [Succeeded, Failed, Pending],
                Readiness::Blocked { dependency: 1 },
            ),
            (
                [Running, Succeeded, TimedOut],
                Readiness::Blocked { dependency: 2 },
            ),
            (
                [Skipped, Running, Running],
                Readiness::Blocked { dependency: 0 },
            ),
            (
                [Interrupted, Succeeded, Succeeded],
                Readiness::Blocked { dependency: 0 },
            ),
        ];
        let deps = resolve(&[&[], &[], &[], &["a", "b", "c"]]).unwrap();
        for (statuses, readiness) in cases {
            let all = [statuses[0], statuses[1], statuses[2], Pending];
            assert_eq!(deps.readiness(3, &all), *readiness, "{statuses:?}");
        }
        assert_eq!(
            deps.readiness(0, &[Pending; 4]),
            Readiness::Ready,
            "no dependencies"
        );
        assert_eq!(
            Dependencies::none(2).readiness(1, &[Failed, Pending]),
            Readiness::Ready
        );
    }

    #[test]
    fn a_dependant_of_a_repeat_group_waits_for_every_rival_and_needs_one_to_succeed() {
        // fix-1, fix-2, fix-3 are rivals of fix, x runs once; d depends on all four.
        // (the rivals' statuses, x's, d's readiness)
        let cases: &[([Status; 3], Status, Readiness)] = &[
            ([Failed, Succeeded, Failed], Succeeded, Readiness::Ready),
            (
                [Succeeded, Succeeded, Succeeded],
                Succeeded,
                Readiness::Ready,
            ),
            // A rival still runs: the winner is not known yet, even if one succeeded.
            ([Succeeded, Running, Failed], Succeeded, Readiness::Waiting),
            ([Failed, Failed, Pending], Succeeded, Readiness::Waiting),
            // No rival succeeded: no winner to start from.
            (
                [Failed, TimedOut, Failed],
                Succeeded,
                Readiness::Blocked { dependency: 0 },
            ),
            // The task run once still has to succeed itself.
            (
                [Succeeded, Failed, Failed],
                Failed,
                Readiness::Blocked { dependency: 3 },
            ),
        ];
        let deps =
            Dependencies::from_indices(vec![vec![], vec![], vec![], vec![], vec![0, 1, 2, 3]])
                .with_groups(&[Some("fix"), Some("fix"), Some("fix"), None, None]);
        for (rivals, single, readiness) in cases {
            let all = [rivals[0], rivals[1], rivals[2], *single, Pending];
            assert_eq!(deps.readiness(4, &all), *readiness, "{rivals:?} {single:?}");
        }
    }
}
