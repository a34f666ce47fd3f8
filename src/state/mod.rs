//! The `.porch` state directory and where a run's files go: its layout, and the runs stored in it.

pub mod layout;
pub mod runs;

use std::path::{Component, Path, PathBuf};

use crate::git::Repo;

/// Written in the state directory: which repository `DIR/<name>` belongs to.
pub const OWNER_FILE: &str = "repo";

/// `DIR/<repo name>`, or with a hash when another repository of that name owns it: see
/// `layout::worktree_root`. `porch run` and the commands after it find the same directory.
pub fn worktree_root(worktree_dir: &Path, repo: &Repo) -> PathBuf {
    let owner_file = worktree_dir
        .join(&repo.name)
        .join(".porch")
        .join(OWNER_FILE);
    let owner = std::fs::read_to_string(owner_file).ok();
    layout::worktree_root(worktree_dir, &repo.name, &repo.common_dir, owner.as_deref())
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
