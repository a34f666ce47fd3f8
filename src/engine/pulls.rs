//! Pull requests for a run's succeeded tasks (`porch pr`, `porch run --pr`): each branch pushed
//! (never forced), then its pull request opened with gh, or brought up to date when the branch
//! has one. Stacked along `depends_on`: a task with one dependency is based on that task's
//! branch, pushed first, so each pull request shows its own change only.

use std::path::Path;

use crate::git::github::Gh;
use crate::git::github::Proposal;
use crate::git::remote;
use crate::process::task_env::Redactor;
use crate::results::PullRequest;
use crate::results::TaskResult;
use crate::results::pull_request;
use crate::results::pull_request::About;
use crate::task::plan::PullRequests as Settings;

/// What the pull requests are made of, for each task of the run (in the results' order).
pub struct Source<'a> {
    /// Every task's result.
    pub tasks: &'a [TaskResult],
    /// Each task's prompt.
    pub prompts: Vec<String>,
    /// Each task's dependencies, as indices into `tasks`.
    pub depends_on: Vec<Vec<usize>>,
    /// Each task's `env` values, hidden in what gh is given.
    pub redactors: Vec<&'a Redactor>,
    pub run_id: &'a str,
}

/// How one task's pull request went.
pub type Outcome = Result<PullRequest, String>;

/// The tasks that get a pull request: every succeeded one (of a repeat group, its winner), or
/// the ones named (a group's name means its winner). Unnamed, the tasks `porch merge` takes; a
/// name only narrows them, where merge's also takes a rival that lost or work its reviewer
/// did not approve: a pull request is opened for others to merge, so it is never for work porch
/// would not merge itself.
pub fn chosen(tasks: &[TaskResult], names: &[String]) -> Result<Vec<usize>, String> {
    let fit = TaskResult::merged_unnamed;
    let named = |t: &TaskResult, name: &String| t.name == *name || t.group.as_ref() == Some(name);
    for name in names {
        if !tasks.iter().any(|t| named(t, name)) {
            return Err(format!("the run has no task `{name}`"));
        }
        if !tasks.iter().any(|t| named(t, name) && fit(t)) {
            return Err(format!(
                "task `{name}` did not succeed, or its review did not approve it: it gets no pull request"
            ));
        }
    }
    Ok((0..tasks.len())
        .filter(|&i| fit(&tasks[i]))
        .filter(|&i| names.is_empty() || names.iter().any(|name| named(&tasks[i], name)))
        .collect())
}

/// Pushes and opens (or updates) the pull request of each task of `chosen`, dependencies
/// first; `say` gets a line per task. Returns each task's outcome, in the order made.
pub fn open(
    repo: &Path,
    settings: &Settings,
    source: &Source,
    chosen: &[usize],
    say: &mut dyn FnMut(String),
) -> Vec<(usize, Outcome)> {
    let gh = Gh::new(repo);
    let remote = remote::resolve(repo, &settings.remote, &remote::current_dir());
    let mut order = chosen.to_vec();
    order.sort_by_key(|&i| depth(&source.depends_on, i));
    let mut made: Vec<(usize, Outcome)> = Vec::with_capacity(order.len());
    for index in order {
        let task = &source.tasks[index];
        let outcome = open_one(repo, &gh, &remote, settings, source, index, &made);
        let shown = remote::shown(&remote);
        say(match &outcome {
            Ok(pr) => format!("pr: {}: {} (pushed to {shown})", task.name, pr.url),
            Err(why) => format!("pr: {}: failed: {why}", task.name),
        });
        made.push((index, outcome));
    }
    made
}

/// How many dependencies deep a task is: 0 for one without any.
fn depth(depends_on: &[Vec<usize>], index: usize) -> usize {
    (depends_on[index].iter())
        .map(|&d| 1 + depth(depends_on, d))
        .max()
        .unwrap_or(0)
}

fn open_one(
    repo: &Path,
    gh: &Gh,
    remote: &str,
    settings: &Settings,
    source: &Source,
    index: usize,
    made: &[(usize, Outcome)],
) -> Outcome {
    let task = &source.tasks[index];
    let deps = &source.depends_on[index];
    let base = match deps.as_slice() {
        [only] => {
            let branch = &source.tasks[*only].branch;
            push_base(repo, remote, branch, *only, made)?;
            branch.clone()
        }
        _ => run_base(settings, source, index),
    };
    let builds_on: Vec<String> = if deps.len() > 1 {
        deps.iter().map(|&d| named(source, d, made)).collect()
    } else {
        Vec::new()
    };
    remote::push_branch(repo, remote, &task.branch).map_err(|err| {
        format!(
            "push: {}",
            remote::one_line(&remote::shown_in(&err.to_string(), remote))
        )
    })?;
    let redactor = source.redactors[index];
    let title = pull_request::title(task, &source.prompts[index]);
    let about = About {
        task,
        prompt: &source.prompts[index],
        run_id: source.run_id,
        builds_on: &builds_on,
    };
    let body = pull_request::body(&about);
    let (title, body) = (redactor.redact(&title), redactor.redact(&body));
    let proposal = Proposal {
        head: &task.branch,
        base: &base,
        title: &title,
        body: &body,
        draft: settings.draft,
    };
    match gh.find(&task.branch)? {
        Some(existing) => {
            gh.edit(&proposal)?;
            // `gh pr edit` cannot change a draft; `--ready` means ready, whoever opened it.
            if !settings.draft {
                gh.ready(&task.branch)?;
            }
            Ok(existing)
        }
        None => gh.create(&proposal),
    }
}

/// A dependency's branch is the base: pushed here unless its own pull request was made just
/// now; refused when that failed, since the base would not exist at the remote.
fn push_base(
    repo: &Path,
    remote: &str,
    branch: &str,
    dependency: usize,
    made: &[(usize, Outcome)],
) -> Result<(), String> {
    match made.iter().find(|(i, _)| *i == dependency) {
        Some((_, Ok(_))) => Ok(()),
        Some((_, Err(_))) => Err(format!(
            "its base {branch} (the task it depends on) got no pull request"
        )),
        None => remote::push_branch(repo, remote, branch).map_err(|err| {
            format!(
                "its base {branch} could not be pushed: {}",
                remote::one_line(&remote::shown_in(&err.to_string(), remote))
            )
        }),
    }
}

/// The base of a task with no dependency, or several: `--base`, else the base branch of the
/// task, or of the first task its first dependency leads back to.
fn run_base(settings: &Settings, source: &Source, index: usize) -> String {
    if let Some(base) = &settings.base {
        return base.clone();
    }
    let mut at = index;
    while let Some(&first) = source.depends_on[at].first() {
        at = first;
    }
    source.tasks[at].base_branch.clone()
}

/// A dependency as a body names it: its pull request, else its branch.
fn named(source: &Source, dependency: usize, made: &[(usize, Outcome)]) -> String {
    let task = &source.tasks[dependency];
    let opened = made.iter().find_map(|(i, o)| match o {
        Ok(pr) if *i == dependency => Some(pr.clone()),
        _ => None,
    });
    match opened.or_else(|| task.pr.clone()) {
        Some(pr) => format!("#{} ({})", pr.number, task.branch),
        None => format!("`{}`", task.branch),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::Status;

    #[test]
    fn succeeded_tasks_and_winners_are_chosen() {
        let mut tasks = vec![
            TaskResult::example("a", Status::Succeeded),
            TaskResult::example("b", Status::Failed),
            TaskResult::example("r-1", Status::Succeeded),
            TaskResult::example("r-2", Status::Succeeded),
        ];
        tasks[2].group = Some("r".into());
        tasks[2].winner = Some(false);
        tasks[3].group = Some("r".into());
        tasks[3].winner = Some(true);
        assert_eq!(chosen(&tasks, &[]), Ok(vec![0, 3]));
        assert_eq!(chosen(&tasks, &["r".into()]), Ok(vec![3]));
        // A group with no winner yet (its run was killed before it ended): as `porch merge`,
        // none of its rivals.
        let mut undecided = tasks.clone();
        undecided[2].winner = None;
        undecided[3].winner = None;
        assert_eq!(chosen(&undecided, &[]), Ok(vec![0]));
        let failed = chosen(&tasks, &["b".into()]).unwrap_err();
        assert!(failed.contains("did not succeed"), "{failed}");
        let unknown = chosen(&tasks, &["zz".into()]).unwrap_err();
        assert!(unknown.contains("no task `zz`"), "{unknown}");
    }

    #[test]
    fn of_reviewed_tasks_only_the_approved_are_chosen() {
        use crate::results::Review;
        use crate::results::Verdict;
        let reviewed = |name: &str, verdict| TaskResult {
            review: Some(Review {
                verdict,
                ..Review::default()
            }),
            ..TaskResult::example(name, Status::Succeeded)
        };
        let tasks = vec![
            reviewed("a", Some(Verdict::Approve)),
            reviewed("b", Some(Verdict::RequestChanges)),
            reviewed("c", None),
            TaskResult::example("d", Status::Succeeded),
        ];
        assert_eq!(chosen(&tasks, &[]), Ok(vec![0, 3]));
        let rejected = chosen(&tasks, &["b".into()]).unwrap_err();
        assert!(
            rejected.contains("its review did not approve it"),
            "{rejected}"
        );
    }

    #[test]
    fn dependencies_come_first() {
        let deps = vec![vec![1], vec![2], vec![], vec![0, 2]];
        let depths: Vec<usize> = (0..4).map(|i| depth(&deps, i)).collect();
        assert_eq!(depths, [2, 1, 0, 3]);
    }
}
