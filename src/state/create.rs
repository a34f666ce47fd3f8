//! What porch makes in the state directory, its user's alone whatever the umask: 0700
//! directories, 0600 files. A run's files (owner file, lock, tasks copy, first results, link)
//! are made before any task starts and removed again when making them fails: an error then
//! means exit 2 with nothing created.

use std::fs::{DirBuilder, File};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::error::Error;
use crate::error::IoContext;
use crate::state::StateDir;
use crate::state::lock::RunLock;
use crate::state::lock::run_holder;
use crate::sys::atomic_file;

/// What a run keeps in the state directory, besides its logs.
pub struct RunFiles<'a> {
    pub run_id: &'a str,
    /// The repository's git directory, written in the owner file.
    pub repo_dir: &'a Path,
    /// The tasks file as read, kept for `porch resume`.
    pub tasks_source: &'a [u8],
    /// The run's settings as recorded, kept for `porch resume`.
    pub settings: &'a [u8],
    /// `-o FILE`: the results are written there too, under the umask as any tool's output.
    pub output: Option<&'a Path>,
}

impl StateDir {
    /// Makes a run's files; `write_results` writes its first results, to the state directory's
    /// file and to `-o`'s. Returns the run's lock, to hold while the run goes on. On a failure,
    /// removes what it made: all of it is new (directories that were missing, the owner file,
    /// this run's files), so nothing of an earlier run is lost.
    pub fn create_for_run(
        &self,
        files: &RunFiles,
        write_results: impl FnOnce() -> Result<(), Error>,
    ) -> Result<RunLock, Error> {
        let mut created = Created::default();
        match self.create_run_files(files, write_results, &mut created) {
            Ok(lock) => {
                self.close_to_others();
                Ok(lock)
            }
            Err(err) => {
                created.undo();
                Err(err)
            }
        }
    }

    fn create_run_files(
        &self,
        files: &RunFiles,
        write_results: impl FnOnce() -> Result<(), Error>,
        created: &mut Created,
    ) -> Result<RunLock, Error> {
        let id = files.run_id;
        created.dir_all(&self.logs_dir(), &self.dir)?;
        created.dir_all(&self.locks_dir(), &self.dir)?;
        // Before the results exist: a run whose results can be read is one whose lock says
        // whether it goes on.
        let lock = created.files(&[&self.lock_file(id)], || {
            self.lock_run(id, &run_holder(id))?
                .map_err(|busy| busy.into_error("run porch again"))
        })?;
        let owner = self.owner_file();
        if !owner.exists() {
            let repo_dir = files.repo_dir.display().to_string();
            created.files(&[&owner], || {
                atomic_file::write_private(&owner, repo_dir.as_bytes())
            })?;
        }
        created.dir_all(&self.tasks_dir(), &self.dir)?;
        created.files(&[&self.stored_tasks(id)], || {
            self.store_tasks(id, files.tasks_source)
        })?;
        created.dir_all(&self.settings_dir(), &self.dir)?;
        let settings = self.recorded_settings(id);
        created.files(&[&settings], || {
            atomic_file::write_private(&settings, files.settings)
        })?;
        created.dir_all(&self.runs_dir(), &self.dir)?;
        let record = self.results_file(id);
        let mut results = vec![record.as_path()];
        if let Some(output) = files.output {
            if let Some(dir) = output.parent() {
                created.dir_all(dir, &self.dir)?;
            }
            results.push(output);
        }
        // Written before any agent starts, so even a porch killed with SIGKILL leaves a valid
        // file naming every worktree and branch it was about to create.
        created.files(&results, write_results)?;
        // Last, as nothing can undo it: it replaces the link to an earlier run's results.
        atomic_file::point_link(&self.latest_link(), &record)?;
        Ok(lock)
    }

    /// Creates `dir` and what is missing above it: private at and below the state directory,
    /// as the umask says above it (the worktree root holds the user's code).
    pub fn create_private_dir(&self, dir: &Path) -> Result<(), Error> {
        Created::default().dir_all(dir, &self.dir)
    }

    /// Keeps the real names of the ignored files the session in the worktree of `slot` wrote
    /// (none: the record goes), private to its user: they may hold an `env` value.
    pub fn record_ignored(&self, slot: &str, names: &[String]) -> Result<(), Error> {
        let path = self.ignored_record(slot);
        if names.is_empty() {
            return match std::fs::remove_file(&path) {
                Err(err) if err.kind() != std::io::ErrorKind::NotFound => {
                    Err(err).context("remove", &path)
                }
                _ => Ok(()),
            };
        }
        if let Some(dir) = path.parent() {
            self.create_private_dir(dir)?;
        }
        let json = serde_json::to_vec(names).unwrap_or_default();
        atomic_file::write_private(&path, &json)
    }

    /// The real names `record_ignored` kept for `slot`; `None` when it kept none (a run by an
    /// older porch, or a session that wrote no ignored file).
    pub fn recorded_ignored(&self, slot: &str) -> Option<Vec<String>> {
        let bytes = std::fs::read(self.ignored_record(slot)).ok()?;
        serde_json::from_slice(&bytes).ok()
    }

    /// Keeps the tasks file as read, for `porch resume`.
    fn store_tasks(&self, id: &str, bytes: &[u8]) -> Result<(), Error> {
        let path = self.stored_tasks(id);
        let written = File::options()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&path)
            .and_then(|mut file| file.write_all(bytes));
        written.context("write", &path)
    }

    /// Starts a task's log: empty for a task run afresh, kept for a resumed one, whose earlier
    /// output is the start of its story. Every session attempt appends to it.
    pub fn start_log(&self, log: &Path, fresh: bool) -> Result<(), Error> {
        if let Some(dir) = log.parent() {
            self.create_private_dir(dir)?;
        }
        File::options()
            .write(true)
            .create(true)
            .truncate(fresh)
            .mode(0o600)
            .open(log)
            .map(drop)
            .context("create", log)
    }

    /// A state directory an older porch made is open to others: closed, and all in it with it.
    fn close_to_others(&self) {
        let open = std::fs::metadata(&self.dir).is_ok_and(|m| m.permissions().mode() & 0o077 != 0);
        if open {
            let _ = std::fs::set_permissions(&self.dir, std::fs::Permissions::from_mode(0o700));
        }
    }
}

/// What a run's creation made, so that a failure can remove it again.
#[derive(Debug, Default)]
struct Created {
    /// Outermost first.
    dirs: Vec<PathBuf>,
    files: Vec<PathBuf>,
}

impl Created {
    /// Creates `dir` and what is missing above it, remembering each directory it made: 0700 at
    /// and below `private_from`, as the umask says above it.
    fn dir_all(&mut self, dir: &Path, private_from: &Path) -> Result<(), Error> {
        let missing: Vec<&Path> = dir
            .ancestors()
            .take_while(|d| d.symlink_metadata().is_err())
            .collect();
        for missing in missing.into_iter().rev() {
            let mut builder = DirBuilder::new();
            if missing.starts_with(private_from) {
                builder.mode(0o700);
            }
            match builder.create(missing) {
                Ok(()) => self.dirs.push(missing.to_path_buf()),
                // Another porch made it meanwhile: it is not this run's to remove.
                Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(err) => return Err(err).context("create", missing),
            }
        }
        Ok(())
    }

    /// Runs `make`, remembering which of `paths` did not exist before it, even when it fails
    /// (it may have made one before failing on the next).
    fn files<T>(
        &mut self,
        paths: &[&Path],
        make: impl FnOnce() -> Result<T, Error>,
    ) -> Result<T, Error> {
        let new = paths.iter().filter(|p| p.symlink_metadata().is_err());
        self.files
            .extend(new.map(|p| p.to_path_buf()).collect::<Vec<_>>());
        make()
    }

    /// Removes what was created, innermost first. A directory that holds something porch did
    /// not create here (another run's files, meanwhile) stays.
    fn undo(self) {
        for file in self.files.iter().rev() {
            let _ = std::fs::remove_file(file);
        }
        for dir in self.dirs.iter().rev() {
            let _ = std::fs::remove_dir(dir);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every path under `root`, relative to it, sorted.
    fn tree(root: &Path) -> Vec<String> {
        let mut paths = Vec::new();
        let mut dirs = vec![root.to_path_buf()];
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() && !path.is_symlink() {
                    dirs.push(path.clone());
                }
                let relative = path.strip_prefix(root).unwrap();
                paths.push(relative.display().to_string());
            }
        }
        paths.sort();
        paths
    }

    fn run_files(output: Option<&Path>) -> RunFiles<'_> {
        RunFiles {
            run_id: "1",
            repo_dir: Path::new("/src/shop/.git"),
            tasks_source: b"[]",
            settings: b"{}",
            output,
        }
    }

    /// The first results, as the run writes them: the state directory's file, then `-o`'s.
    fn write_first(state: &StateDir, output: Option<&Path>) -> Result<(), Error> {
        let json = r#"{"repo": "/src/shop"}"#;
        state.record_results("1", json)?;
        match output {
            Some(output) => atomic_file::write_atomic(output, json.as_bytes()),
            None => Ok(()),
        }
    }

    #[test]
    fn a_run_makes_the_owner_file_lock_tasks_copy_settings_results_and_link_all_private() {
        let tmp = tempfile::tempdir().unwrap();
        let state = StateDir::in_root(&tmp.path().join("worktrees/shop"));
        let _lock = state
            .create_for_run(&run_files(None), || write_first(&state, None))
            .unwrap();
        let porch = "worktrees/shop/.porch";
        let expected = [
            "",
            "/locks",
            "/locks/1.lock",
            "/logs",
            "/repo",
            "/results.json",
            "/runs",
            "/runs/1.json",
            "/settings",
            "/settings/1.json",
            "/tasks",
            "/tasks/1.json",
        ];
        let mut expected: Vec<String> = expected.iter().map(|p| format!("{porch}{p}")).collect();
        expected.extend(["worktrees".into(), "worktrees/shop".into()]);
        expected.sort();
        assert_eq!(tree(tmp.path()), expected);
        let owner = std::fs::read_to_string(state.owner_file()).unwrap();
        assert_eq!(owner, "/src/shop/.git");
        let results = std::fs::read_to_string(state.latest_link()).unwrap();
        assert!(results.contains(r#""repo": "/src/shop""#), "{results}");
        let tasks = std::fs::read_to_string(state.stored_tasks("1")).unwrap();
        assert_eq!(tasks, "[]");
        let settings = std::fs::read_to_string(state.recorded_settings("1")).unwrap();
        assert_eq!(settings, "{}");
        for path in tree(&state.dir) {
            let meta = std::fs::symlink_metadata(state.dir.join(&path)).unwrap();
            let mode = meta.permissions().mode();
            let private = if meta.is_dir() { 0o700 } else { 0o600 };
            assert!(
                meta.is_symlink() || mode & 0o777 == private,
                "{path}: {mode:o}"
            );
        }
    }

    #[test]
    fn a_failed_results_write_leaves_nothing_created() {
        let tmp = tempfile::tempdir().unwrap();
        // -o names a directory that appeared after preflight: the rename onto it fails.
        let output = tmp.path().join("out/results.json");
        std::fs::create_dir_all(output.join("taken")).unwrap();
        let before = tree(tmp.path());
        let state = StateDir::in_root(&tmp.path().join("worktrees/shop"));
        let err = state
            .create_for_run(&run_files(Some(&output)), || {
                write_first(&state, Some(&output))
            })
            .unwrap_err();
        assert!(err.to_string().contains("results.json"), "{err}");
        assert_eq!(tree(tmp.path()), before);
    }

    #[test]
    fn a_failed_link_leaves_nothing_created_and_what_was_there_alone() {
        let tmp = tempfile::tempdir().unwrap();
        let state = StateDir::in_root(&tmp.path().join("shop"));
        // An earlier run's owner file, and a directory where the link goes.
        std::fs::create_dir_all(state.latest_link().join("taken")).unwrap();
        std::fs::write(state.owner_file(), "/src/shop/.git").unwrap();
        let before = tree(tmp.path());
        let files = RunFiles {
            repo_dir: Path::new("/elsewhere/.git"),
            ..run_files(None)
        };
        state
            .create_for_run(&files, || write_first(&state, None))
            .unwrap_err();
        assert_eq!(tree(tmp.path()), before);
        let owner = std::fs::read_to_string(state.owner_file()).unwrap();
        assert_eq!(owner, "/src/shop/.git");
    }

    #[test]
    fn a_log_is_private_and_a_resumed_one_keeps_what_it_holds() {
        let tmp = tempfile::tempdir().unwrap();
        let state = StateDir::in_root(tmp.path());
        let log = state.log("nightly/a");
        state.start_log(&log, true).unwrap();
        std::fs::write(&log, "earlier\n").unwrap();
        state.start_log(&log, false).unwrap();
        assert_eq!(std::fs::read_to_string(&log).unwrap(), "earlier\n");
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&log), 0o600);
        assert_eq!(mode(log.parent().unwrap()), 0o700);
        assert_eq!(mode(&state.logs_dir()), 0o700);
        state.start_log(&log, true).unwrap();
        assert_eq!(std::fs::read_to_string(&log).unwrap(), "");
    }
}
