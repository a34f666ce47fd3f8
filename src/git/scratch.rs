//! A detached worktree at the repository's HEAD, in a private temporary directory, for a session
//! that only reads (`porch plan`): no branch, and removed with its registration when dropped,
//! whether the caller succeeded, failed, was signalled or panicked.

use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::git::GitError;
use crate::git::GitErrorKind;
use crate::git::Repo;
use crate::git::run;

pub struct Scratch {
    repo: Repo,
    /// The private directory that holds the worktree, removed last.
    root: PathBuf,
    dir: PathBuf,
    removed: bool,
}

impl Scratch {
    /// Checks out the commit `repo` has checked out (`repo.head`) in `<temp>/porch-plan-…/<repo
    /// name>`, detached. The name keeps the repository's, which claude shows the model as its
    /// working directory. On failure nothing is left.
    pub fn create(repo: &Repo, temp: &Path) -> Result<Scratch, GitError> {
        let root = private_dir(temp)?;
        let mut scratch = Scratch {
            repo: repo.clone(),
            dir: root.join(&repo.name),
            root,
            removed: false,
        };
        // Registered under porch's lock, as every worktree porch adds: a `porch run` on the same
        // repository may be adding its own. The files are written outside it.
        let registered = repo.lock().and_then(|_lock| {
            let dir = scratch.dir.to_string_lossy().into_owned();
            let args = ["worktree", "add", "--detach", "--no-checkout", "--quiet"];
            run(
                &repo.toplevel,
                &[&args[..], &["--", &dir, &repo.head]].concat(),
            )
        });
        let checked_out =
            registered.and_then(|_| run(&scratch.dir, &["reset", "--quiet", "--hard"]));
        match checked_out {
            Ok(_) => Ok(scratch),
            Err(err) => {
                scratch.remove_now();
                Err(err)
            }
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Removes the worktree, its registration and the directory around it. Best effort: git
    /// forgets a worktree whose directory is gone at the next prune, which runs here too.
    fn remove_now(&mut self) {
        if std::mem::replace(&mut self.removed, true) {
            return;
        }
        let dir = self.dir.to_string_lossy().into_owned();
        let toplevel = &self.repo.toplevel;
        // Removed even when the lock cannot be had: a leftover worktree is the worse outcome.
        let lock = self.repo.lock();
        if run(toplevel, &["worktree", "remove", "--force", "--", &dir]).is_err() {
            let _ = std::fs::remove_dir_all(&self.dir);
            let _ = run(toplevel, &["worktree", "prune"]);
        }
        drop(lock);
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        self.remove_now();
    }
}

/// A new directory only this user can enter, under `temp`: its name is porch's process id and
/// the time, and `create` (not `create_all`) fails rather than share one that exists.
fn private_dir(temp: &Path) -> Result<PathBuf, GitError> {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let root = temp.join(format!("porch-plan-{}-{nanos:09}", std::process::id()));
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(&root)
        .map_err(|err| {
            GitError::new(
                format!("create {}", root.display()),
                GitErrorKind::Io(err.to_string()),
            )
        })?;
    Ok(root)
}
