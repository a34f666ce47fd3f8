//! What a task carries into its plan besides its branch and base: the branch name from the
//! template, claude's arguments, the environment of its setup and session, and its `copy`
//! entries checked against the repository.

use std::path::{Path, PathBuf};

use crate::agent;
use crate::error::Error;
use crate::git;
use crate::preflight::branch_template::RunStamp;
use crate::preflight::branch_template::Template;
use crate::preflight::taskfile;
use crate::preflight::taskfile::Task;
use crate::process::task_env;
use crate::process::task_env::TaskIdentity;
use crate::state::StateDir;
use crate::task::copy;

/// The template in force and where it came from, for messages.
pub struct BranchTemplate {
    pub template: Template,
    origin: Origin,
}

enum Origin {
    Flag,
    File,
    Default,
}

impl BranchTemplate {
    /// `--branch-template`, else the tasks file's `branch_template`, else `task/{name}`.
    pub fn choose(flag: Option<&Template>, file: Option<Template>) -> BranchTemplate {
        match (flag, file) {
            (Some(flag), _) => BranchTemplate {
                template: flag.clone(),
                origin: Origin::Flag,
            },
            (None, Some(file)) => BranchTemplate {
                template: file,
                origin: Origin::File,
            },
            (None, None) => BranchTemplate {
                template: Template::default(),
                origin: Origin::Default,
            },
        }
    }

    /// Every task's branch, in order; an error names the template and the first branch git
    /// would refuse.
    pub fn branches(
        &self,
        file: &str,
        tasks: &[Task],
        stamp: &RunStamp,
    ) -> Result<Vec<String>, Error> {
        let text = self.template.text();
        tasks
            .iter()
            .map(|task| {
                self.template
                    .branch(&task.name, stamp)
                    .map_err(|reason| match self.origin {
                        Origin::Flag => {
                            Error::usage(format!("--branch-template `{text}` {reason}"))
                                .with_hint(TEMPLATE_HINT)
                        }
                        Origin::File | Origin::Default => Error::Tasks {
                            file: file.to_string(),
                            task: None,
                            field: Some("branch_template".to_string()),
                            message: format!("{} {reason}", taskfile::quote_value(text)),
                            hint: Some(TEMPLATE_HINT.to_string()),
                        },
                    })
            })
            .collect()
    }
}

const TEMPLATE_HINT: &str = "keep the template's fixed parts to letters, digits, '-', '_', '.' and '/', e.g. 'nightly/{date}/{name}'";

/// The refs under which existing branches can stand in these branches' way: each branch's
/// first component (`refs/heads/task` for `task/NAME`), once each.
pub fn ref_patterns(branches: &[String]) -> Vec<String> {
    let mut patterns: Vec<String> = branches
        .iter()
        .map(|b| format!("refs/heads/{}", b.split('/').next().unwrap_or(b)))
        .collect();
    patterns.sort();
    patterns.dedup();
    patterns
}

/// Each `copy` entry of task `index` exists in the repository, stays inside it, and changes
/// nothing git tracks in the task's base (`base`: its name and commit). `copy` is for what git
/// does not track: a tracked file would bring the main checkout's uncommitted version into the
/// worktree, and porch would commit it as the session's work.
pub fn check_copies(
    file: &str,
    index: usize,
    task: &Task,
    repo: &Path,
    (base, base_commit): (&str, &str),
) -> Result<(), Error> {
    let refuse = |entry: &Path, reason: String, hint: &str| Error::Tasks {
        file: file.to_string(),
        task: Some(taskfile::task_label(index, Some(&task.name))),
        field: Some("copy".to_string()),
        message: format!(
            "{} {reason}",
            taskfile::quote_value(&entry.display().to_string())
        ),
        hint: Some(hint.to_string()),
    };
    let mut paths = Vec::with_capacity(task.copy.len());
    for entry in &task.copy {
        let path = copy::check_entry(repo, &entry.display().to_string()).map_err(|reason| {
            refuse(entry, reason, "name files or directories that exist in the repository's main checkout, relative to its root")
        })?;
        paths.push(path);
    }
    if paths.is_empty() {
        return Ok(());
    }
    let asked: Vec<String> = paths.iter().flat_map(|p| copy::paths_to_ask(p)).collect();
    let tracked = git::tracked_at(repo, base_commit, &asked).map_err(|err| {
        Error::setup(
            format!("git cannot say what {base} tracks: {err}"),
            "check the repository with `git ls-tree`",
        )
    })?;
    for (entry, path) in task.copy.iter().zip(&paths) {
        if let Some(reason) = copy::changes_tracked(path, &tracked) {
            return Err(refuse(
                entry,
                format!(
                    "{reason} in {base}: the copy would bring REPO's version of it (uncommitted changes included) into the worktree, and porch would commit it as the session's work"
                ),
                COPY_TRACKED_HINT,
            ));
        }
    }
    Ok(())
}

const COPY_TRACKED_HINT: &str = "copy is for what git does not track (.env, node_modules): leave tracked files to git, which checks them out in every worktree, and name only untracked files inside a tracked directory (e.g. \"config/local.toml\")";

/// claude's arguments for a task: the run's permission mode unless the task has its own, and
/// for `porch resume` the session to continue.
/// With a run budget (`--max-cost-usd`), `--max-budget-usd` is always given, the smaller of it
/// and the task's own: each session lowers it further to what is left when it starts.
pub fn claude_arguments(
    task: &Task,
    run_permission_mode: &str,
    resume: Option<&str>,
    run_budget: Option<f64>,
) -> Vec<String> {
    agent::arguments(&agent::Settings {
        permission_mode: task
            .permission_mode
            .clone()
            .unwrap_or_else(|| run_permission_mode.to_string()),
        model: task.model.clone(),
        max_turns: task.max_turns,
        max_budget_usd: match (task.max_budget_usd, run_budget) {
            (Some(own), Some(run)) => Some(own.min(run)),
            (own, run) => own.or(run),
        },
        append_system_prompt: task.append_system_prompt.clone(),
        disallowed_tools: task.disallowed_tools.clone(),
        allowed_tools: task.allowed_tools.clone(),
        args: task.args.clone(),
        resume: resume.map(String::from),
    })
}

/// The environment of a task's setup and session: `PORCH_*`, then its own `env`.
pub fn environment(identity: &TaskIdentity, task: &Task) -> Vec<(String, String)> {
    task_env::porch_vars(identity)
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .chain(task.env.iter().cloned())
        .collect()
}

/// Where a task's worktree and log go under the worktree root and the state directory.
pub fn paths(worktree_root: &Path, state: &StateDir, slot: &str) -> (PathBuf, PathBuf) {
    (worktree_root.join(slot), state.log(slot))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refs_are_looked_up_under_each_branchs_first_part() {
        let branches = ["task/a", "task/b", "nightly/20261201/a", "solo"].map(String::from);
        assert_eq!(
            ref_patterns(&branches),
            ["refs/heads/nightly", "refs/heads/solo", "refs/heads/task"]
        );
    }

    #[test]
    fn a_tasks_own_permission_mode_wins() {
        let task = Task {
            permission_mode: Some("plan".into()),
            ..Task::default()
        };
        assert_eq!(
            claude_arguments(&task, "acceptEdits", None, None)[5],
            "plan"
        );
        let resumed = claude_arguments(&Task::default(), "acceptEdits", Some("s-1"), None);
        assert_eq!(resumed[5..], ["acceptEdits", "--resume", "s-1"]);
    }

    #[test]
    fn with_a_run_budget_every_session_gets_a_budget_the_smaller_one() {
        // (the task's max_budget_usd, --max-cost-usd, claude's --max-budget-usd)
        let cases = [
            (None, None, None),
            (Some(2.5), None, Some("2.5")),
            (None, Some(10.0), Some("10")),
            (Some(2.5), Some(10.0), Some("2.5")),
            (Some(2.5), Some(1.0), Some("1")),
        ];
        for (own, run, given) in cases {
            let task = Task {
                max_budget_usd: own,
                ..Task::default()
            };
            let args = claude_arguments(&task, "acceptEdits", None, run);
            let at = args.iter().position(|a| a == "--max-budget-usd");
            let value = at.map(|i| args[i + 1].as_str());
            assert_eq!(value, given, "own {own:?}, run {run:?}");
        }
    }

    #[test]
    fn the_environment_is_porchs_then_the_tasks() {
        let task = Task {
            env: vec![("API_KEY".into(), "k".into())],
            ..Task::default()
        };
        let identity = TaskIdentity {
            name: "a",
            index: 0,
            worktree: Path::new("/w/a"),
            branch: "task/a",
            base_commit: "c0ffee",
            run_id: "r",
            port: 40_000,
            group: None,
        };
        let env = environment(&identity, &task);
        assert_eq!(env.first().map(|(k, _)| k.as_str()), Some("PORCH_TASK"));
        assert_eq!(env.last(), Some(&("API_KEY".to_string(), "k".to_string())));
        assert_eq!(env.len(), 9);
    }
}
