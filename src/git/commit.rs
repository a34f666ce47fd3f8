//! Commits of the agents' work: who commits, what is staged, the task's commit, a failed
//! attempt's work kept under a ref, a commit of a tree, and a branch started again.

use std::path::Path;

use crate::git::GitError;
use crate::git::failure;
use crate::git::output;
use crate::git::query;
use crate::git::refs;
use crate::git::run;
use crate::git::run_with_input;

/// What a commit of the worktree must not hold.
#[derive(Debug, Default)]
pub struct LeaveOut<'a> {
    /// Repositories inside the worktree not to add (`unsaved::nested_repositories`): a link to
    /// a commit nobody else has is not work, and one without a commit makes `git add` fail.
    pub repositories: Vec<&'a str>,
    /// Paths taken back out of the index after `git add`, whatever the session staged: the
    /// task's copies. Not excluded from `add` itself, which fails when told of an ignored path.
    pub paths: Vec<&'a str>,
}

/// Stages everything the worktree holds (honouring `.gitignore`). In a sparse checkout, work
/// outside the sparse-checkout definition is staged too (`--sparse`; without it `add --all`
/// fails and nothing is committed, not even the work inside); files the checkout leaves out
/// stay as they are, not deleted. `--sparse` only where the worktree is sparse: git before 2.34
/// does not know it. The setting is asked only when `add` fails, so that the usual worktree
/// costs no git process for it. What `leave_out` names is then reset to what HEAD holds, so
/// that neither `add` nor the session's own staging puts it in the commit.
fn stage_all(dir: &Path, leave_out: &LeaveOut) -> Result<(), GitError> {
    let excludes: Vec<String> = (leave_out.repositories.iter())
        .map(|path| format!(":(exclude,literal){path}"))
        .collect();
    let add = |sparse: bool| {
        let mut add = vec!["add", "--all"];
        if sparse {
            add.push("--sparse");
        }
        if !excludes.is_empty() {
            add.extend(["--", "."]);
            add.extend(excludes.iter().map(String::as_str));
        }
        run(dir, &add)
    };
    if let Err(err) = add(false) {
        let sparse = run(dir, &["config", "--type=bool", "core.sparseCheckout"]);
        if !sparse.is_ok_and(|value| value == "true") {
            return Err(err);
        }
        add(true)?;
    }
    let left: Vec<&str> = (leave_out.repositories.iter())
        .chain(&leave_out.paths)
        .copied()
        .collect();
    if left.is_empty() {
        return Ok(());
    }
    let literal = literal_pathspecs(&left);
    let mut reset = vec!["reset", "--quiet", "--"];
    reset.extend(literal.iter().map(String::as_str));
    run(dir, &reset).map(drop)
}

/// Paths as pathspecs that mean exactly these paths (and what is below them), whatever
/// characters they hold.
fn literal_pathspecs(paths: &[&str]) -> Vec<String> {
    paths
        .iter()
        .map(|path| format!(":(literal){path}"))
        .collect()
}

/// The files at or below `paths` (relative to `dir`) that git neither tracks nor ignores:
/// what `git add --all` would add, were it not left out.
pub fn untracked_files(dir: &Path, paths: &[&str]) -> Result<Vec<String>, GitError> {
    if paths.is_empty() {
        return Ok(Vec::new());
    }
    let literal = literal_pathspecs(paths);
    let mut args = vec!["ls-files", "-z", "--others", "--exclude-standard", "--"];
    args.extend(literal.iter().map(String::as_str));
    let out = output(dir, &args)?;
    if !out.status.success() {
        return Err(failure(&args, &out));
    }
    let listed = String::from_utf8_lossy(&out.stdout);
    Ok(listed
        .split('\0')
        .filter(|path| !path.is_empty())
        .map(String::from)
        .collect())
}

/// Commits everything the worktree holds (honouring `.gitignore`). Returns whether there was
/// anything to commit. No hook runs (see `command`) and signing is off: the point is that the
/// agent's work is never left behind because of a lint hook or a missing key on a server.
/// `leave_out` names paths (relative to `dir`) the commit must not hold.
pub fn commit_all(
    dir: &Path,
    message: &str,
    identity: &[String],
    leave_out: &LeaveOut,
) -> Result<bool, GitError> {
    stage_all(dir, leave_out)?;
    let mut args: Vec<&str> = identity.iter().map(String::as_str).collect();
    args.extend([
        "-c",
        "commit.gpgsign=false",
        "commit",
        "--quiet",
        "--no-verify",
        "--file",
        "-",
    ]);
    let out = run_with_input(dir, &args, message.as_bytes())?;
    if out.status.success() {
        return Ok(true);
    }
    // Asked only now, since most sessions change something: one git call fewer per task.
    if query(dir, &["diff", "--cached", "--quiet"])? {
        return Ok(false);
    }
    Err(failure(&args, &out))
}

/// Records everything the worktree holds (commits the agent made, changes it did not commit)
/// as a commit under `reference`, without moving the branch. Returns false when the worktree
/// holds nothing beyond `base_commit`.
pub fn snapshot(
    dir: &Path,
    base_commit: &str,
    reference: &str,
    message: &str,
    identity: &[String],
    leave_out: &LeaveOut,
) -> Result<bool, GitError> {
    stage_all(dir, leave_out)?;
    let head = refs::head_commit(dir)?;
    let staged = !query(dir, &["diff", "--cached", "--quiet"])?;
    let commit = if staged {
        let tree = run(dir, &["write-tree"])?;
        commit_tree(dir, &tree, &[head.as_str()], message, identity)?
    } else {
        head
    };
    if commit == base_commit {
        return Ok(false);
    }
    // An earlier run's saved attempt is never overwritten.
    refs::create_ref(dir, reference, &commit)?;
    Ok(true)
}

/// A commit of `tree` with `parents`, unsigned as porch's commits of the agents' work are (a
/// missing key must not stop a task), touching no branch, index or work tree.
pub(super) fn commit_tree(
    dir: &Path,
    tree: &str,
    parents: &[&str],
    message: &str,
    identity: &[String],
) -> Result<String, GitError> {
    let mut args: Vec<&str> = identity.iter().map(String::as_str).collect();
    args.extend(["commit-tree", "--no-gpg-sign", tree]);
    for parent in parents {
        args.extend(["-p", parent]);
    }
    args.extend(["-m", message.trim_end()]);
    run(dir, &args)
}

/// Puts the worktree back on `branch`, reset to `commit`, and removes new files (ignored ones
/// stay: build caches are not work; so do the paths in `keep`, what `copy` put there before
/// the first attempt). `checkout -B`, not `reset`: if the session switched to another branch,
/// that branch must not be rewound.
pub fn restart_branch(
    dir: &Path,
    branch: &str,
    commit: &str,
    keep: &[&str],
) -> Result<(), GitError> {
    let args = [
        "checkout",
        "--quiet",
        "--force",
        "--no-track",
        "-B",
        branch,
        commit,
        "--",
    ];
    run(dir, &args)?;
    let kept: Vec<String> = keep.iter().map(|path| ignore_pattern(path)).collect();
    let mut clean = vec!["clean", "-fdq"];
    for pattern in &kept {
        clean.extend(["-e", pattern.as_str()]);
    }
    run(dir, &clean).map(drop)
}

/// A `.gitignore` pattern that matches exactly `path` from the top of the work tree: anchored
/// by a leading `/`, its wildcards, backslashes and trailing spaces escaped.
fn ignore_pattern(path: &str) -> String {
    let mut pattern = String::from("/");
    for c in path.trim_end_matches('/').chars() {
        if matches!(c, '\\' | '*' | '?' | '[' | ' ') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What a retry's `git clean` keeps (the task's copies) is exactly what it was told, even
    /// where the names hold what `.gitignore` reads as wildcards or escapes.
    #[test]
    fn a_clean_keeps_exactly_the_paths_it_is_told_to() {
        let dir = tempfile::tempdir().unwrap();
        run(dir.path(), &["init", "-q"]).unwrap();
        let kept = [
            "a b.env",
            "lit*eral",
            "q?",
            "[x]",
            "back\\slash",
            "trail ",
            "dir/sub",
        ];
        let removed = [
            "litXYeral",
            "qq",
            "x",
            "backslash",
            "trail",
            "dir/other",
            "sub",
        ];
        for path in kept.iter().chain(&removed) {
            let file = dir.path().join(path);
            std::fs::create_dir_all(file.parent().unwrap()).unwrap();
            std::fs::write(&file, "").unwrap();
        }
        let patterns: Vec<String> = kept.iter().map(|p| ignore_pattern(p)).collect();
        let mut clean = vec!["clean", "-fdq"];
        for pattern in &patterns {
            clean.extend(["-e", pattern.as_str()]);
        }
        run(dir.path(), &clean).unwrap();
        for path in kept {
            assert!(dir.path().join(path).exists(), "{path:?} is kept");
        }
        for path in removed {
            assert!(!dir.path().join(path).exists(), "{path:?} is removed");
        }
    }
}
