//! The `.porch` state directory: every path under it, how it is made, its run locks, and the runs stored there.

pub mod create;
pub mod layout;
pub mod lock;
pub mod runs;

use std::path::{Component, Path, PathBuf};

use crate::error::Error;
use crate::git::Repo;

/// `WORKTREE_DIR/<repo>/.porch`: all porch keeps of a repository outside its worktrees. The
/// only place that knows the names under it; everything in it is its user's alone (0600 files,
/// 0700 directories), since the logs hold all the agents read and printed.
#[derive(Debug, Clone, PartialEq)]
pub struct StateDir {
    dir: PathBuf,
}

impl StateDir {
    /// The state directory of a worktree root (`WORKTREE_DIR/<repo>`).
    pub fn in_root(root: &Path) -> StateDir {
        StateDir {
            dir: root.join(".porch"),
        }
    }

    /// The state directory a results file lies in (`ROOT/.porch/runs/ID.json`), if it lies in
    /// one: a run named by its file is found with its state even after the repository moved,
    /// which changes the root porch would choose now.
    pub fn of_results_file(path: &Path) -> Option<StateDir> {
        let runs = real_path(path.parent()?);
        let state = StateDir::in_root(runs.parent()?.parent()?);
        (state.runs_dir() == runs).then_some(state)
    }

    /// The state directory a task's log lies in, if it lies in one's `logs/`.
    pub fn of_log(log: &Path) -> Option<StateDir> {
        (log.ancestors().skip(1))
            .map(StateDir::in_root)
            .find(|state| log.starts_with(state.logs_dir()))
    }

    /// The directory itself, to name it to the user.
    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// Which repository the worktree root belongs to: its git common directory.
    pub fn owner_file(&self) -> PathBuf {
        self.dir.join("repo")
    }

    /// Each task's setup and session output, every attempt: `logs/<slot>.log`.
    pub fn logs_dir(&self) -> PathBuf {
        self.dir.join("logs")
    }

    /// Where a task writes its whole output (the slot is its branch without `task/`).
    pub fn log(&self, slot: &str) -> PathBuf {
        self.logs_dir().join(format!("{slot}.log"))
    }

    /// One results file per run, named by its id, so concurrent runs never write the same file.
    pub fn runs_dir(&self) -> PathBuf {
        self.dir.join("runs")
    }

    pub fn results_file(&self, run_id: &str) -> PathBuf {
        self.runs_dir().join(format!("{run_id}.json"))
    }

    /// The link to the latest run's results file.
    pub fn latest_link(&self) -> PathBuf {
        self.dir.join("results.json")
    }

    /// The tasks file each run read, byte for byte, for `porch resume`.
    pub fn tasks_dir(&self) -> PathBuf {
        self.dir.join("tasks")
    }

    pub fn stored_tasks(&self, run_id: &str) -> PathBuf {
        self.tasks_dir().join(format!("{run_id}.json"))
    }

    /// The settings each run was given, for `porch resume` and `porch merge --resolve`.
    pub fn settings_dir(&self) -> PathBuf {
        self.dir.join("settings")
    }

    pub fn recorded_settings(&self, run_id: &str) -> PathBuf {
        self.settings_dir().join(format!("{run_id}.json"))
    }

    /// The run locks: one file per run, locked while a porch works on that run.
    pub fn locks_dir(&self) -> PathBuf {
        self.dir.join("locks")
    }

    pub fn lock_file(&self, run_id: &str) -> PathBuf {
        self.locks_dir().join(format!("{run_id}.lock"))
    }

    /// The real names of the ignored files a task's session wrote into the worktree of `slot`
    /// (the results show them with `env` values hidden): what `porch clean` looks for.
    pub fn ignored_record(&self, slot: &str) -> PathBuf {
        self.dir.join("ignored").join(format!("{slot}.json"))
    }

    /// Where `porch merge` makes its worktree.
    pub fn merge_dir(&self) -> PathBuf {
        self.dir.join("merge")
    }

    /// Where `porch merge` (process `pid`) merges run `run_id`'s branches.
    pub fn merge_worktree(&self, run_id: &str, pid: u32) -> PathBuf {
        self.merge_dir().join(format!("{run_id}-{pid}"))
    }

    /// The merge worktrees of run `run_id` there are. With the run's lock held none is in use:
    /// each is what a `porch merge` killed before removing it left.
    pub fn merge_worktrees(&self, run_id: &str) -> Vec<PathBuf> {
        let Ok(entries) = std::fs::read_dir(self.merge_dir()) else {
            return Vec::new();
        };
        let prefix = format!("{run_id}-");
        (entries.flatten())
            .filter(|entry| entry.file_type().is_ok_and(|t| t.is_dir()))
            .filter(|entry| {
                let name = entry.file_name().to_string_lossy().into_owned();
                (name.strip_prefix(&prefix))
                    .is_some_and(|pid| !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit()))
            })
            .map(|entry| entry.path())
            .collect()
    }

    /// A `porch merge --resolve` session's log: the task's conflict, for the run.
    pub fn resolver_log(&self, run_id: &str, task: &str) -> PathBuf {
        self.merge_dir()
            .join(format!("{run_id}.{task}.resolver.log"))
    }

    /// Every resolver log of run `run_id` there is.
    pub fn resolver_logs(&self, run_id: &str) -> Vec<PathBuf> {
        let Ok(entries) = std::fs::read_dir(self.merge_dir()) else {
            return Vec::new();
        };
        let prefix = format!("{run_id}.");
        (entries.flatten())
            .map(|entry| entry.file_name().to_string_lossy().into_owned())
            .filter(|name| name.starts_with(&prefix) && name.ends_with(".resolver.log"))
            .map(|name| self.merge_dir().join(name))
            .collect()
    }
}

/// `--worktree-dir` as given (`~` expanded), else `~/worktrees`, made real: where `porch run`
/// puts worktrees and where the commands after it find them.
pub fn worktree_dir(asked: Option<&Path>, home: Option<&Path>) -> Result<PathBuf, Error> {
    layout::worktree_dir(asked, home).map(|dir| real_path(&dir))
}

/// `DIR/<repo name>`, or with a hash when another repository of that name owns it: see
/// `layout::root_rule`. `porch run` and the commands after it find the same directory.
pub fn worktree_root(worktree_dir: &Path, repo: &Repo) -> PathBuf {
    let usual = StateDir::in_root(&worktree_dir.join(&repo.name));
    let owner = std::fs::read_to_string(usual.owner_file()).ok();
    layout::root_rule(worktree_dir, &repo.name, &repo.common_dir, owner.as_deref())
}

/// `path` made absolute with every symbolic link and `..` resolved, as far as it exists; the
/// rest, which porch creates later, is appended with `..` taken lexically. Porch's paths then
/// are git's: a worktree reached through a link is never taken for two.
pub fn real_path(path: &Path) -> PathBuf {
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let mut real = PathBuf::new();
    // One component at a time, so that a `..` steps back from where a link led, as the kernel
    // does, and a path that exists again after a `..` is resolved too.
    for part in absolute.components() {
        match part {
            Component::CurDir => {}
            Component::ParentDir => {
                real.pop();
            }
            part => {
                real.push(part);
                if let Ok(resolved) = std::fs::canonicalize(&real) {
                    real = resolved;
                }
            }
        }
    }
    real
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_path_of_a_run_is_under_the_state_directory() {
        let state = StateDir::in_root(Path::new("/wt/shop"));
        let id = "20261125T192103Z-4242";
        let paths = [
            (state.dir.clone(), "/wt/shop/.porch"),
            (state.owner_file(), "/wt/shop/.porch/repo"),
            (
                state.results_file(id),
                "/wt/shop/.porch/runs/20261125T192103Z-4242.json",
            ),
            (state.latest_link(), "/wt/shop/.porch/results.json"),
            (
                state.stored_tasks(id),
                "/wt/shop/.porch/tasks/20261125T192103Z-4242.json",
            ),
            (
                state.recorded_settings(id),
                "/wt/shop/.porch/settings/20261125T192103Z-4242.json",
            ),
            (
                state.lock_file(id),
                "/wt/shop/.porch/locks/20261125T192103Z-4242.lock",
            ),
            (state.log("nightly/a"), "/wt/shop/.porch/logs/nightly/a.log"),
            (state.merge_dir(), "/wt/shop/.porch/merge"),
            (
                state.resolver_log(id, "docs"),
                "/wt/shop/.porch/merge/20261125T192103Z-4242.docs.resolver.log",
            ),
        ];
        for (path, expected) in paths {
            assert_eq!(path, PathBuf::from(expected));
        }
    }

    #[test]
    fn a_runs_resolver_logs_are_found_and_no_other_runs() {
        let root = tempfile::tempdir().unwrap();
        let state = StateDir::in_root(root.path());
        std::fs::create_dir_all(state.merge_dir()).unwrap();
        for name in [
            "r-1.a.resolver.log",
            "r-1.b.resolver.log",
            "r-11.a.resolver.log",
            "r-1-9",
        ] {
            std::fs::write(state.merge_dir().join(name), "").unwrap();
        }
        let mut found = state.resolver_logs("r-1");
        found.sort();
        assert_eq!(
            found,
            [
                state.resolver_log("r-1", "a"),
                state.resolver_log("r-1", "b")
            ]
        );
        assert!(
            StateDir::in_root(Path::new("/nonexistent"))
                .resolver_logs("r-1")
                .is_empty()
        );
    }

    #[test]
    fn a_runs_merge_worktrees_are_its_own_directories_named_for_a_pid() {
        let root = tempfile::tempdir().unwrap();
        let state = StateDir::in_root(root.path());
        for dir in ["r-1-77", "r-1-78", "r-11-77", "r-1-x", "r-1-"] {
            std::fs::create_dir_all(state.merge_dir().join(dir)).unwrap();
        }
        std::fs::write(state.merge_dir().join("r-1-79"), "").unwrap();
        let mut found = state.merge_worktrees("r-1");
        found.sort();
        assert_eq!(
            found,
            [
                state.merge_worktree("r-1", 77),
                state.merge_worktree("r-1", 78)
            ]
        );
    }

    #[test]
    fn a_results_file_under_runs_names_its_state_directory() {
        let file = |path: &str| StateDir::of_results_file(Path::new(path));
        let state = StateDir::in_root(Path::new("/nonexistent/wt/shop"));
        assert_eq!(
            file("/nonexistent/wt/shop/.porch/runs/r-1.json"),
            Some(state)
        );
        assert_eq!(file("/nonexistent/ci/results.json"), None);
        assert_eq!(file("/nonexistent/wt/shop/runs/r-1.json"), None);
        let log = |path: &str| StateDir::of_log(Path::new(path));
        let state = StateDir::in_root(Path::new("/wt/shop"));
        assert_eq!(log("/wt/shop/.porch/logs/a.log"), Some(state.clone()));
        assert_eq!(log("/wt/shop/.porch/logs/nightly/a.log"), Some(state));
        assert_eq!(log("/var/log/a.log"), None);
    }
}
