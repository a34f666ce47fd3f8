//! Worktrees: registered and checked out, entered again, repaired, removed, pruned and listed;
//! a linked worktree's HEAD and index lock, read from the files git keeps.

use std::path::{Path, PathBuf};

use crate::git::ANOTHER_RUN;
use crate::git::GitError;
use crate::git::GitErrorKind;
use crate::git::Registration;
use crate::git::Repo;
use crate::git::refs;
use crate::git::registry;
use crate::git::run;
use crate::git::run_bytes;

impl Repo {
    /// Registers a worktree on a new branch, then checks it out, so the expensive part (writing
    /// the files) runs in parallel. porch writes the registry entry itself where `registration`
    /// allows, many at once; otherwise `git worktree add --no-checkout` registers it under the
    /// lock, one at a time. On failure, nothing is left: no branch, no registry entry, no
    /// directory. Returns false, with nothing left either, when `cancelled` says so before the
    /// registration or after the checkout: porch was signalled.
    pub fn add_worktree(
        &self,
        dir: &Path,
        branch: &str,
        base_commit: &str,
        registration: Registration,
        cancelled: &dyn Fn() -> bool,
    ) -> Result<bool, GitError> {
        let reference = format!("refs/heads/{branch}");
        // Asked before the branch is claimed too, so that a directory in the way is the error
        // it always was, with no branch made and removed for it.
        already_there(dir)?;
        // Claimed outside the lock: `update-ref` reads no worktree's files, so it cannot race
        // with a `worktree add`, and its empty old value makes it fail if the branch exists,
        // with nothing to undo. Outside, 64 claims run at once instead of one after the other.
        // (Not by `worktree add -b`, which starts a `git branch` of its own under the lock.)
        refs::create_ref(&self.toplevel, &reference, base_commit)
            .map_err(|err| err.with_note(ANOTHER_RUN))?;
        let by_porch = registration == Registration::Porch;
        if by_porch && cancelled() {
            self.unclaim(&reference);
            return Ok(false);
        }
        // Where porch cannot, git registers it (and says in its own words what is wrong).
        let registered = by_porch && registry::register(&self.common_dir, dir, &reference);
        if !registered && !self.register_with_git(dir, branch, base_commit, cancelled)? {
            return Ok(false);
        }
        if let Err(err) = run(dir, &["reset", "--quiet", "--hard"]) {
            self.discard_worktree(dir, branch, base_commit);
            return Err(err);
        }
        if cancelled() {
            self.discard_worktree(dir, branch, base_commit);
            return Ok(false);
        }
        Ok(true)
    }

    /// `git worktree add --no-checkout` of the claimed `branch`, under the lock. False, with the
    /// branch given back, when porch was signalled while this thread waited for the lock.
    fn register_with_git(
        &self,
        dir: &Path,
        branch: &str,
        base_commit: &str,
        cancelled: &dyn Fn() -> bool,
    ) -> Result<bool, GitError> {
        let unclaim = || self.unclaim(&format!("refs/heads/{branch}"));
        let _lock = self.lock().inspect_err(|_| unclaim())?;
        // Asked again under the lock: a signal that came while this thread waited for it
        // (behind every other task's registration) must not leave a worktree and branch.
        if cancelled() {
            unclaim();
            return Ok(false);
        }
        // Asked again under the lock, so that on failure everything at these names is ours
        // to remove: another porch run that got here first keeps its worktree.
        if let Err(err) = already_there(dir) {
            unclaim();
            return Err(err);
        }
        let dir_str = dir.to_string_lossy();
        let args = ["worktree", "add", "--no-checkout", "--", &dir_str, branch];
        // It reads every entry before it makes anything of its own.
        let added = again_past_entries_being_written(|| run(&self.toplevel, &args));
        if let Err(err) = added {
            self.undo_add(dir, branch, base_commit, false);
            return Err(err);
        }
        Ok(true)
    }

    /// Deletes a branch `add_worktree` claimed. It was just made from nothing by this thread:
    /// until its worktree exists, nobody else can have moved it, so it goes whatever it points at.
    fn unclaim(&self, reference: &str) {
        let _ = refs::delete_ref(&self.toplevel, reference);
    }

    /// Registers a worktree at `commit` on a detached HEAD, under the lock (`porch merge`'s).
    pub fn add_detached_worktree(&self, dir: &Path, commit: &str) -> Result<(), GitError> {
        let dir_text = dir.to_string_lossy();
        let _lock = self.lock()?;
        run(
            &self.toplevel,
            &[
                "worktree", "add", "--quiet", "--detach", "--", &dir_text, commit,
            ],
        )
        .map(drop)
    }

    /// Removes a worktree `add_worktree` made and its branch, for a task whose session never
    /// started: nothing in them is work. The branch stays if it moved or is checked out
    /// elsewhere (see `undo_add`).
    pub fn discard_worktree(&self, dir: &Path, branch: &str, base_commit: &str) {
        let _lock = self.lock();
        self.undo_add(dir, branch, base_commit, true);
    }

    /// Removes what a failed `add_worktree` may have left, and only that: the names were free
    /// when the lock was taken, but a git process outside porch's lock may have taken them
    /// since. So a directory is removed only if it is ours (`registered`) or holds nothing but
    /// the `.git` file of a half-made worktree, and the branch only if it still points at the
    /// base and no worktree has it checked out. Best effort: the caller reports the original
    /// error, and `porch list` shows anything left.
    fn undo_add(&self, dir: &Path, branch: &str, base_commit: &str, registered: bool) {
        if registered {
            let _ = remove(&self.toplevel, dir, true);
        } else if is_half_made_worktree(dir) {
            let _ = std::fs::remove_dir_all(dir);
        }
        let _ = prune(&self.toplevel);
        let checked_out = self
            .worktrees()
            .map(|list| list.iter().any(|w| w.branch.as_deref() == Some(branch)))
            .unwrap_or(true);
        let reference = format!("refs/heads/{branch}");
        let at_base = self
            .resolve_commit(&reference)
            .is_some_and(|c| c == base_commit);
        if at_base && !checked_out {
            let _ = refs::delete_branch_unlocked(&self.toplevel, branch);
        }
    }

    /// Makes sure `dir` is a worktree on the existing `branch` (`porch resume`): left as it is
    /// when it is one, registered again (under the lock) when it was removed.
    /// A worktree porch was killed in before its checkout (registered, nothing but `.git` in
    /// it, no index yet) is checked out now: a session there would commit the deletion of every
    /// file. A directory holding only the `.git` of a registration that never finished (its
    /// entry missing, or another worktree's) goes.
    pub fn reenter_worktree(&self, dir: &Path, branch: &str) -> Result<(), GitError> {
        if worktree_head(dir).is_ok_and(|head| head == format!("ref: refs/heads/{branch}")) {
            let never_checked_out = is_half_made_worktree(dir)
                && admin_dir(dir, "read").is_ok_and(|admin| !admin.join("index").exists());
            if never_checked_out {
                run(dir, &["reset", "--quiet", "--hard"])?;
            }
            return Ok(());
        }
        let dir_text = dir.to_string_lossy();
        let _lock = self.lock()?;
        prune(&self.toplevel)?;
        if is_half_made_worktree(dir) && !is_registered_at(dir) {
            let _ = std::fs::remove_dir_all(dir);
        }
        run(
            &self.toplevel,
            &["worktree", "add", "--quiet", "--", &dir_text, branch],
        )
        .map(drop)
    }

    /// Points the worktrees at `dirs` and this repository at each other again after the
    /// repository moved (`git worktree repair`), under the lock: until then git finds neither
    /// from the other. git repairs the links of the repository's other worktrees as well.
    pub fn repair_worktrees(&self, dirs: &[&Path]) -> Result<(), GitError> {
        let dirs: Vec<String> = dirs
            .iter()
            .map(|d| d.to_string_lossy().into_owned())
            .collect();
        let mut args = vec!["worktree", "repair", "--"];
        args.extend(dirs.iter().map(String::as_str));
        let _lock = self.lock()?;
        run(&self.toplevel, &args).map(drop)
    }

    /// Removes a worktree whose work is committed. git itself refuses when it holds changes.
    pub fn remove_worktree(&self, dir: &Path) -> Result<(), GitError> {
        let _lock = self.lock()?;
        remove(&self.toplevel, dir, false)
    }

    /// Removes a worktree whatever it holds (`porch clean --force`, porch's own merge worktree).
    pub fn force_remove_worktree(&self, dir: &Path) -> Result<(), GitError> {
        let _lock = self.lock()?;
        remove(&self.toplevel, dir, true)
    }

    /// Removes the registry entries a porch killed while registering left half-built.
    pub fn sweep_abandoned_registrations(&self) {
        registry::sweep_abandoned(&self.common_dir);
    }

    /// Forgets the worktrees whose directories are gone, under the lock when it can be taken.
    pub fn prune_worktrees(&self) -> Result<(), GitError> {
        let _lock = self.lock();
        prune(&self.toplevel)
    }

    pub fn worktrees(&self) -> Result<Vec<WorktreeEntry>, GitError> {
        let args = ["worktree", "list", "--porcelain", "-z"];
        let listed = again_past_entries_being_written(|| run_bytes(&self.toplevel, &args))?;
        Ok(parse_worktree_list(&String::from_utf8_lossy(&listed)))
    }
}

/// Runs `git_call` (a git command that reads every entry of `worktrees/` before it does
/// anything) again while it fails on an entry being written: a `git worktree add` outside
/// porch writes its entry's files one after the other, and a git that reads one still empty
/// dies ("failed to read .git/worktrees/<id>/commondir"). Read again, the entry is whole or gone.
fn again_past_entries_being_written<T>(
    mut git_call: impl FnMut() -> Result<T, GitError>,
) -> Result<T, GitError> {
    let mut answer = git_call();
    for _ in 0..10 {
        if !answer.as_ref().is_err_and(read_an_entry_being_written) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
        answer = git_call();
    }
    answer
}

/// git's words for an entry of `worktrees/` it read while another git was writing it.
fn read_an_entry_being_written(err: &GitError) -> bool {
    matches!(&err.kind, GitErrorKind::Failed { stderr, .. }
        if stderr.contains("failed to read") && stderr.contains("worktrees/"))
}

/// Whether the entry `dir`'s `.git` names is registered to `dir`. A porch killed while it
/// numbered a taken id leaves a `.git` naming another worktree's entry.
fn is_registered_at(dir: &Path) -> bool {
    let Ok(admin) = admin_dir(dir, "read") else {
        return false;
    };
    let named = std::fs::read_to_string(admin.join("gitdir"));
    let real = std::fs::canonicalize(dir.join(".git"));
    matches!((named, real), (Ok(named), Ok(real)) if Path::new(named.trim_end()) == real)
}

/// `git worktree remove`, `--force` or not; the caller holds the lock.
pub(super) fn remove(toplevel: &Path, dir: &Path, force: bool) -> Result<(), GitError> {
    let dir = dir.to_string_lossy();
    let args: &[&str] = if force {
        &["worktree", "remove", "--force", "--", &dir]
    } else {
        &["worktree", "remove", "--", &dir]
    };
    again_past_entries_being_written(|| run(toplevel, args)).map(drop)
}

/// `git worktree prune`; the caller holds the lock.
pub(super) fn prune(toplevel: &Path) -> Result<(), GitError> {
    run(toplevel, &["worktree", "prune"]).map(drop)
}

/// An empty directory, or one holding only the `.git` file `git worktree add` writes first.
pub fn is_half_made_worktree(dir: &Path) -> bool {
    match std::fs::read_dir(dir) {
        Ok(entries) => entries
            .flatten()
            .all(|e| e.file_name() == ".git" && e.path().is_file()),
        Err(_) => false,
    }
}

#[derive(Debug, Default, Clone, PartialEq)]
pub struct WorktreeEntry {
    pub path: PathBuf,
    pub head: Option<String>,
    /// Short name, without `refs/heads/`.
    pub branch: Option<String>,
    pub bare: bool,
    pub prunable: bool,
}

fn parse_worktree_list(text: &str) -> Vec<WorktreeEntry> {
    let mut entries = Vec::new();
    let mut current: Option<WorktreeEntry> = None;
    for field in text.split('\0') {
        if field.is_empty() {
            if let Some(entry) = current.take() {
                entries.push(entry);
            }
            continue;
        }
        let (key, value) = field.split_once(' ').unwrap_or((field, ""));
        if key == "worktree" {
            if let Some(entry) = current.take() {
                entries.push(entry);
            }
            current = Some(WorktreeEntry {
                path: PathBuf::from(value),
                ..Default::default()
            });
            continue;
        }
        let Some(entry) = current.as_mut() else {
            continue;
        };
        match key {
            "HEAD" => entry.head = Some(value.to_string()),
            "branch" => {
                entry.branch = Some(
                    value
                        .strip_prefix("refs/heads/")
                        .unwrap_or(value)
                        .to_string(),
                )
            }
            "bare" => entry.bare = true,
            "prunable" => entry.prunable = true,
            _ => {}
        }
    }
    entries.extend(current);
    entries
}

/// What a linked worktree's HEAD holds: `ref: refs/heads/NAME`, or a commit id when detached.
/// Read from the files git keeps, not by starting git: it is asked once per task. A repository
/// whose refs are in a reftable keeps a placeholder in that file, and HEAD in the table: there
/// git is asked.
pub fn worktree_head(dir: &Path) -> Result<String, GitError> {
    let admin = admin_dir(dir, "read the HEAD of")?;
    let head = std::fs::read_to_string(admin.join("HEAD"))
        .map(|h| h.trim().to_string())
        .map_err(|e| GitError::io(format!("read the HEAD of {}", dir.display()), &e))?;
    if head != REFTABLE_PLACEHOLDER {
        return Ok(head);
    }
    match run(dir, &["symbolic-ref", "--quiet", "HEAD"]) {
        Ok(reference) => Ok(format!("ref: {reference}")),
        Err(_) => run(dir, &["rev-parse", "--verify", "HEAD"]),
    }
}

/// What the `HEAD` file of a reftable repository holds, for git versions that look for one.
const REFTABLE_PLACEHOLDER: &str = "ref: refs/heads/.invalid";

/// Refuses a worktree directory that exists: another run's, or something of the user's.
fn already_there(dir: &Path) -> Result<(), GitError> {
    if dir.symlink_metadata().is_err() {
        return Ok(());
    }
    let dir_str = dir.to_string_lossy();
    Err(GitError::new(
        format!("git worktree add {}", crate::util::quote::word(&dir_str)),
        GitErrorKind::Refused(format!("{dir_str} already exists")),
    )
    .with_note(ANOTHER_RUN))
}

/// A linked worktree's own git directory (`<common dir>/worktrees/<id>`), from its `.git` file.
/// `doing` says what porch was about, for the error.
fn admin_dir(dir: &Path, doing: &str) -> Result<PathBuf, GitError> {
    let fail = |message: &dyn std::fmt::Display| {
        GitError::io(format!("{doing} {}", dir.display()), message)
    };
    let dot_git = std::fs::read_to_string(dir.join(".git")).map_err(|e| fail(&e))?;
    let admin = dot_git
        .trim()
        .strip_prefix("gitdir: ")
        .ok_or_else(|| fail(&format!("{}/.git is not a worktree link", dir.display())))?;
    let admin = Path::new(admin);
    Ok(if admin.is_absolute() {
        admin.to_path_buf()
    } else {
        dir.join(admin)
    })
}

/// Removes the `index.lock` in the worktree's own git directory, if there is one; returns
/// whether there was. git's lock is the file's existence, so one left by a killed git (a
/// session ended while its `git add` ran) makes every later git command there fail. Only for a
/// caller who knows that no process that could hold it is left.
pub fn remove_stale_index_lock(dir: &Path) -> Result<bool, GitError> {
    let lock = admin_dir(dir, "find the index lock of")?.join("index.lock");
    match std::fs::remove_file(&lock) {
        Ok(()) => Ok(true),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(err) => Err(GitError::io(format!("remove {}", lock.display()), &err)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worktree_list_porcelain() {
        let text = "worktree /r\0HEAD abc\0branch refs/heads/main\0\0worktree /w/x\0HEAD def\0branch refs/heads/task/x\0prunable gitdir file points to non-existent location\0\0worktree /w/y\0HEAD 123\0detached\0\0";
        let entries = parse_worktree_list(text);
        assert_eq!(entries.len(), 3);
        assert_eq!(entries[0].branch.as_deref(), Some("main"));
        assert_eq!(entries[1].branch.as_deref(), Some("task/x"));
        assert!(entries[1].prunable);
        assert_eq!(entries[2].branch, None);
        assert_eq!(entries[2].head.as_deref(), Some("123"));
    }
}
