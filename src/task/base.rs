//! What a task's branch starts from: the run's base; the branch of the one task it depends on;
//! or, with several, a merge of their branches, made on a temporary ref so that no user's
//! branch is touched. Decided when the task starts, once its dependencies have succeeded.

use crate::git;
use crate::git::Merged;
use crate::task::plan::Plan;

/// A commit a branch starts from, and how people know it.
#[derive(Debug, Clone, PartialEq)]
pub struct Base {
    /// A branch, or `task/a + task/b` for a merge of several.
    pub branch: String,
    pub commit: String,
}

/// Task `index`'s base. A task that depends on none, or that `porch resume` continues in its
/// own branch, has the one preflight fixed. Of a repeated task it depends on, only the winner
/// (`winners[i]`, for each task of the plan, as `rivals` picked once every rival ended)
/// gives its branch. The error says why it cannot start: a dependency's branch is gone, a
/// group has no winner, or the branches conflict (naming them and the files).
pub fn base_of(plan: &Plan, index: usize, winners: &[Option<bool>]) -> Result<Base, String> {
    let task = &plan.tasks[index];
    if task.depends_on.is_empty() || task.resume.is_some() {
        return Ok(Base {
            branch: task.base_branch.clone(),
            commit: task.base_commit.clone(),
        });
    }
    let parts = (givers(plan, &task.depends_on, winners)?.into_iter())
        .map(|dependency| contribution(plan, dependency))
        .collect::<Result<Vec<Base>, String>>()?;
    if let [one] = parts.as_slice() {
        return Ok(one.clone());
    }
    let label = joined(&parts);
    let commits: Vec<&str> = parts.iter().map(|p| p.commit.as_str()).collect();
    let message = format!("porch: the base of task {}: {label}\n", task.task.name);
    let toplevel = &plan.repo.toplevel;
    let reference = temporary_ref(plan, index);
    let merged = git::merge_commits(toplevel, &commits, &reference, &message, &plan.identity)
        .map_err(|err| format!("could not merge {label}: {err}"))?;
    match merged {
        Merged::Commit(commit) => Ok(Base {
            branch: label,
            commit,
        }),
        Merged::Conflict { at, files } => Err(format!(
            "the branches it depends on conflict: merging {} into {} conflicts in {}",
            parts[at].branch,
            joined(&parts[..at]),
            files.join(", ")
        )),
    }
}

/// The dependencies whose branches the task starts from: each task run once, and of each
/// repeat group the winner.
fn givers(
    plan: &Plan,
    depends_on: &[usize],
    winners: &[Option<bool>],
) -> Result<Vec<usize>, String> {
    let mut givers = Vec::with_capacity(depends_on.len());
    for &dependency in depends_on {
        let Some(group) = &plan.tasks[dependency].task.group else {
            givers.push(dependency);
            continue;
        };
        let members = || {
            (depends_on.iter().copied())
                .filter(|&d| plan.tasks[d].task.group.as_ref() == Some(group))
        };
        if members().next() != Some(dependency) {
            continue;
        }
        let winner = members().find(|&d| winners.get(d) == Some(&Some(true)));
        givers.push(winner.ok_or_else(|| format!("no attempt of `{group}` won"))?);
    }
    Ok(givers)
}

/// What a task it depends on gives the task: that task's branch, at its commit now. The one
/// place a dependency becomes a commit.
fn contribution(plan: &Plan, dependency: usize) -> Result<Base, String> {
    let task = &plan.tasks[dependency];
    let branch = &task.branch;
    let commit = (plan.repo)
        .resolve_commit(&format!("refs/heads/{branch}"))
        .ok_or_else(|| {
            format!(
                "{branch}, the branch of task `{}` it depends on, is gone",
                task.task.name
            )
        })?;
    Ok(Base {
        branch: branch.clone(),
        commit,
    })
}

/// Removes the temporary ref of task `index`'s merged base, if it has one: once its branch
/// exists, the branch holds the merge; when it was not made, nothing needs it.
pub fn release(plan: &Plan, index: usize) {
    if plan.tasks[index].depends_on.len() > 1 {
        let reference = temporary_ref(plan, index);
        let _ = git::delete_ref(&plan.repo.toplevel, &reference);
    }
}

fn temporary_ref(plan: &Plan, index: usize) -> String {
    format!("{}/{}", git::BASES_REFS, plan.tasks[index].slot)
}

fn joined(parts: &[Base]) -> String {
    let branches: Vec<&str> = parts.iter().map(|p| p.branch.as_str()).collect();
    branches.join(" + ")
}
