//! Merges: two branches merged in memory to learn what conflicts, several commits merged into
//! one base without touching a branch, and `porch merge`'s merges in a worktree of its own.

use std::path::Path;

use crate::git::GitError;
use crate::git::commit::commit_tree;
use crate::git::failure;
use crate::git::nul_separated;
use crate::git::output;
use crate::git::query;
use crate::git::refs;
use crate::git::run;

/// Whether branch `a`'s commit is in branch `b`'s history (`b` was built on `a`).
pub fn branch_contains(dir: &Path, b: &str, a: &str) -> Result<bool, GitError> {
    let (a, b) = (format!("refs/heads/{a}"), format!("refs/heads/{b}"));
    query(dir, &["merge-base", "--is-ancestor", &a, &b])
}

/// The branches whose commit is in branch `b`'s history (`b` itself among them): one walk of
/// that history, where asking `branch_contains` of each other branch is a git process apiece.
pub fn branches_in_history_of(dir: &Path, b: &str) -> Result<Vec<String>, GitError> {
    let merged = format!("--merged=refs/heads/{b}");
    let listed = run(
        dir,
        &[
            "for-each-ref",
            &merged,
            "--format=%(refname:lstrip=2)",
            "refs/heads/",
        ],
    )?;
    Ok(listed.lines().map(String::from).collect())
}

/// The paths that conflict when the branches `a` and `b` are merged, from their merge base;
/// empty when they merge cleanly. git merges in memory (`merge-tree --write-tree`, git 2.38
/// and later): no work tree, index or ref is touched.
pub fn merge_conflicts(dir: &Path, a: &str, b: &str) -> Result<Vec<String>, GitError> {
    let (a, b) = (format!("refs/heads/{a}"), format!("refs/heads/{b}"));
    Ok(merge_tree(dir, &a, &b)?.conflicts.unwrap_or_default())
}

/// What `git merge-tree --write-tree` made of two commits.
struct TreeMerge {
    /// The merged tree; with conflicts, the tree with their markers.
    tree: String,
    /// The conflicting paths; `None` when the commits merge cleanly.
    conflicts: Option<Vec<String>>,
}

/// Merges the trees of `a` and `b` from their merge base, in memory: only objects are written.
fn merge_tree(dir: &Path, a: &str, b: &str) -> Result<TreeMerge, GitError> {
    let args = [
        "merge-tree",
        "--write-tree",
        "--name-only",
        "--no-messages",
        "-z",
        a,
        b,
    ];
    let out = output(dir, &args)?;
    // The tree's id first, then each conflicting path.
    let mut fields = nul_separated(&out.stdout);
    let tree = fields.next().unwrap_or_default();
    let conflicts = match out.status.code() {
        Some(0) => None,
        Some(1) => {
            let mut paths: Vec<String> = fields.collect();
            paths.dedup();
            Some(paths)
        }
        _ => return Err(failure(&args, &out)),
    };
    Ok(TreeMerge { tree, conflicts })
}

/// What merging several commits gave.
#[derive(Debug, Clone, PartialEq)]
pub enum Merged {
    /// A merge commit with every commit as a parent, in order.
    Commit(String),
    /// Merging commit number `at` into those before it conflicts in these files.
    Conflict { at: usize, files: Vec<String> },
}

/// Merges `commits` (two or more) without touching any branch, index or work tree: `git
/// merge-tree` merges the trees, `commit-tree` makes the commits, and the last, with every
/// commit as a parent, is kept under `reference` (never a user's branch) until the caller
/// removes it: an object no ref names could be pruned before the task's branch holds it.
pub fn merge_commits(
    dir: &Path,
    commits: &[&str],
    reference: &str,
    message: &str,
    identity: &[String],
) -> Result<Merged, GitError> {
    let Some((first, rest)) = commits.split_first() else {
        return Ok(Merged::Commit(String::new()));
    };
    let mut merged = first.to_string();
    let mut tree = String::new();
    for (done, next) in rest.iter().enumerate() {
        let merge = merge_tree(dir, &merged, next)?;
        if let Some(files) = merge.conflicts {
            let at = done + 1;
            return Ok(Merged::Conflict { at, files });
        }
        tree = merge.tree;
        // The next commit is merged into one holding everything so far.
        if done + 1 < rest.len() {
            merged = commit_tree(dir, &tree, &[merged.as_str(), next], message, identity)?;
        }
    }
    let commit = commit_tree(dir, &tree, commits, message, identity)?;
    refs::set_ref(dir, reference, &commit)?;
    Ok(Merged::Commit(commit))
}

/// Merges `reference` into what `dir` has checked out with a merge commit of its own
/// (`--no-ff`), whose message is `paragraphs`, each a `-m`. No hook runs, and the commit is
/// unsigned. On a conflict the merge is left stopped: see `conflicted_files` and `abort_merge`.
pub fn merge_no_ff(
    dir: &Path,
    reference: &str,
    paragraphs: &[&str],
    identity: &[String],
) -> Result<(), GitError> {
    let mut args = committing(identity);
    args.extend(["merge", "--no-ff", "--no-edit", "--no-verify", "--quiet"]);
    for paragraph in paragraphs {
        args.extend(["-m", paragraph]);
    }
    args.push(reference);
    run(dir, &args).map(drop)
}

/// git's options before a command that commits: who commits, no signing, no maintenance.
fn committing(identity: &[String]) -> Vec<&str> {
    let mut args: Vec<&str> = identity.iter().map(String::as_str).collect();
    args.extend(["-c", "commit.gpgsign=false", "-c", "maintenance.auto=false"]);
    args
}

/// The files a stopped merge in `dir` left conflicting.
pub fn conflicted_files(dir: &Path) -> Result<Vec<String>, GitError> {
    let files = run(dir, &["diff", "--name-only", "--diff-filter=U"])?;
    Ok(files
        .lines()
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect())
}

/// Whether a merge is stopped in `dir`, waiting to be committed (it has a `MERGE_HEAD`).
pub fn merge_in_progress(dir: &Path) -> bool {
    refs::ref_exists(dir, "MERGE_HEAD")
}

/// Puts `dir` back where it was before a merge that stopped. Best effort: what cannot be undone
/// stays for the caller's next look.
pub fn abort_merge(dir: &Path) {
    let _ = run(dir, &["merge", "--abort"]);
    let _ = run(dir, &["reset", "--quiet", "--hard"]);
}

/// Moves what `dir` has checked out forward to `commit`, files and branch together; refused
/// unless it is a fast-forward and the worktree's changes allow it.
pub fn fast_forward(dir: &Path, commit: &str) -> Result<(), GitError> {
    run(dir, &["merge", "--ff-only", "--quiet", commit]).map(drop)
}

/// Commits the merge stopped in `dir` (its `MERGE_HEAD` a parent) once its conflicts are
/// resolved and staged (`stage_resolved`): the index as it is, so nothing else the worktree
/// holds (what a check left, another file the resolver touched) gets in; that is then dropped,
/// for the next merge to start clean. No hook runs, and the commit is unsigned.
pub fn commit_resolved_merge(
    dir: &Path,
    paragraphs: &[&str],
    identity: &[String],
) -> Result<(), GitError> {
    let mut args = committing(identity);
    args.extend(["commit", "--no-verify", "--quiet"]);
    for paragraph in paragraphs {
        args.extend(["-m", paragraph]);
    }
    run(dir, &args)?;
    run(dir, &["reset", "--quiet", "--hard"]).map(drop)
}

/// Stages what the resolver made of the conflicted `files` and tells which are still unmerged
/// in the index: a path the resolver could not settle (git refused to stage it) stays so.
pub fn stage_resolved(dir: &Path, files: &[String]) -> Result<Vec<String>, GitError> {
    let mut args = vec!["add", "--all", "--"];
    args.extend(files.iter().map(String::as_str));
    // A path git cannot stage is reported below as still unmerged.
    let _ = run(dir, &args);
    conflicted_files(dir)
}

/// Removes the files and directories in `dir` that git neither tracks nor ignores: what a
/// check left in the merge worktree, in the way of the next merge. Ignored ones (a build's
/// cache) stay.
pub fn remove_untracked(dir: &Path) -> Result<(), GitError> {
    run(dir, &["clean", "--quiet", "--force", "-d"]).map(drop)
}

/// Puts `dir` (a detached worktree) back on `commit`, its files included: a merge backed out.
pub fn reset_to(dir: &Path, commit: &str) -> Result<(), GitError> {
    run(dir, &["reset", "--quiet", "--hard", commit]).map(drop)
}
