//! Refs: porch's own namespaces; refs made (never over one that exists), moved, deleted and
//! listed; branches deleted; the commit a revision names, where a branch started, and what a
//! branch holds that is merged nowhere.

use std::path::Path;

use crate::git::GitError;
use crate::git::Repo;
use crate::git::run;

pub const BRANCH_PREFIX: &str = "task/";
/// Where `--retries` keeps what a failed attempt wrote: `refs/porch/attempts/<task>/<n>`.
pub const ATTEMPTS_REFS: &str = "refs/porch/attempts";
/// Where the merged base of a task with several dependencies lives until its branch holds it.
pub const BASES_REFS: &str = "refs/porch/bases";

/// Makes `reference` point at `commit`; fails if it exists (the empty old value), so nothing
/// another run or an earlier attempt left there is ever overwritten.
pub fn create_ref(dir: &Path, reference: &str, commit: &str) -> Result<(), GitError> {
    run(dir, &["update-ref", reference, commit, ""]).map(drop)
}

/// Makes `reference` point at `commit`, whatever it pointed at.
pub fn set_ref(dir: &Path, reference: &str, commit: &str) -> Result<(), GitError> {
    run(dir, &["update-ref", reference, commit]).map(drop)
}

/// Moves `reference` from `old` to `new`; fails if it no longer points at `old`.
pub fn move_ref(dir: &Path, reference: &str, new: &str, old: &str) -> Result<(), GitError> {
    run(dir, &["update-ref", reference, new, old]).map(drop)
}

pub fn delete_ref(dir: &Path, reference: &str) -> Result<(), GitError> {
    run(dir, &["update-ref", "-d", reference]).map(drop)
}

impl Repo {
    /// Deletes a branch, whatever it holds, under the lock (`branch -D` reads every worktree).
    pub fn delete_branch(&self, branch: &str) -> Result<(), GitError> {
        let _lock = self.lock()?;
        delete_branch_unlocked(&self.toplevel, branch)
    }
}

/// `git branch -D`; the caller holds the lock.
pub(super) fn delete_branch_unlocked(toplevel: &Path, branch: &str) -> Result<(), GitError> {
    run(toplevel, &["branch", "-D", "--", branch]).map(drop)
}

/// The commit checked out in `dir`.
pub fn head_commit(dir: &Path) -> Result<String, GitError> {
    run(dir, &["rev-parse", "HEAD"])
}

/// The commit `rev` names, as `dir`'s repository resolves it; `None` when it names none.
pub fn commit_of(dir: &Path, rev: &str) -> Option<String> {
    let spec = format!("{rev}^{{commit}}");
    let args = [
        "rev-parse",
        "--verify",
        "--quiet",
        "--end-of-options",
        &spec,
    ];
    run(dir, &args).ok()
}

/// The commit `branch` started from, found in its history when nothing recorded it: the
/// parent of the first commit only `branch` has, against the branches it was made from
/// (`from`). Made from several, it starts at porch's merge of them, which is that first
/// commit itself. With no commit of its own, its tip. None when git cannot say.
pub fn branch_start(dir: &Path, branch: &str, from: &[&str]) -> Option<String> {
    let head = format!("refs/heads/{branch}");
    let mut args = vec![
        "rev-list",
        "--topo-order",
        "--reverse",
        "--parents",
        &head,
        "--not",
    ];
    args.extend(from);
    args.push("--");
    let own = run(dir, &args).ok()?;
    let Some(first) = own.lines().next() else {
        return run(dir, &["rev-parse", "--verify", "--quiet", &head]).ok();
    };
    let mut ids = first.split(' ');
    let commit = ids.next()?;
    let parents: Vec<&str> = ids.collect();
    if from.len() > 1 && parents.len() > 1 {
        Some(commit.to_string())
    } else {
        parents.first().map(|parent| parent.to_string())
    }
}

/// Whether `reference` (a full name) exists in `dir`'s repository.
pub fn ref_exists(dir: &Path, reference: &str) -> bool {
    run(dir, &["rev-parse", "--verify", "--quiet", reference]).is_ok()
}

/// The commit each of `references` (full names) points at, in one `for-each-ref`; a reference
/// that does not exist is absent from the map.
pub fn ref_commits(
    dir: &Path,
    references: &[&str],
) -> Result<std::collections::HashMap<String, String>, GitError> {
    let mut args = vec!["for-each-ref", "--format=%(objectname) %(refname)"];
    args.extend(references);
    Ok(lines(&run(dir, &args)?)
        .iter()
        .filter_map(|line| line.split_once(' '))
        .filter(|(_, name)| references.contains(name))
        .map(|(commit, name)| (name.to_string(), commit.to_string()))
        .collect())
}

/// The commit `refs/heads/BRANCH` holds, read from its loose file in the git common directory
/// without starting git; `None` when git keeps it elsewhere (packed, reftable) or the file
/// says something else: the caller then asks git.
pub fn loose_branch_commit(common_dir: &Path, branch: &str) -> Option<String> {
    let text = std::fs::read_to_string(common_dir.join("refs/heads").join(branch)).ok()?;
    let commit = text.trim();
    (commit.len() >= 40 && commit.bytes().all(|b| b.is_ascii_hexdigit()))
        .then(|| commit.to_string())
}

/// The full names of the refs `patterns` match (`for-each-ref` patterns: a prefix, or a glob).
pub fn ref_names(dir: &Path, patterns: &[&str]) -> Result<Vec<String>, GitError> {
    let mut args = vec!["for-each-ref", "--format=%(refname)"];
    args.extend(patterns);
    Ok(lines(&run(dir, &args)?))
}

/// The short names of at most `most` branches, in git's order.
pub fn branch_names(dir: &Path, most: usize) -> Result<Vec<String>, GitError> {
    let count = format!("--count={most}");
    let args = [
        "for-each-ref",
        &count,
        "--format=%(refname:short)",
        "refs/heads/",
    ];
    Ok(lines(&run(dir, &args)?))
}

/// The remote-tracking branches named like the branch `name` (`origin/dev` for `dev`), short.
pub fn remote_tracking_namesakes(dir: &Path, name: &str) -> Result<Vec<String>, GitError> {
    let pattern = format!("refs/remotes/*/{name}");
    let args = ["for-each-ref", "--format=%(refname:short)", &pattern];
    Ok(lines(&run(dir, &args)?))
}

/// Whether a remote-tracking branch of `dir`'s repository holds `commit` (it was fetched from
/// somewhere that has it). A commit the repository does not have is on none of them.
pub fn on_remote_tracking_branch(dir: &Path, commit: &str) -> bool {
    let args = [
        "for-each-ref",
        "--count=1",
        "--format=%(refname)",
        "--contains",
        commit,
        "refs/remotes/",
    ];
    run(dir, &args).is_ok_and(|refs| !refs.is_empty())
}

/// How many commits `reference` holds that are neither in `base` nor on a branch `also_in`
/// matches (a glob of full names), as git counts them.
pub fn unmerged_commits(
    dir: &Path,
    reference: &str,
    base: &str,
    also_in: &str,
) -> Result<String, GitError> {
    let glob = format!("--glob={also_in}");
    let args = ["rev-list", "--count", reference, "--not", base, &glob];
    run(dir, &args).map(|count| count.trim().to_string())
}

fn lines(text: &str) -> Vec<String> {
    text.lines().map(String::from).collect()
}
