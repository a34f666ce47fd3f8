//! The repository porch runs against: opened from any directory inside it (or said precisely
//! why not), its revisions resolved to commits, and the lock that serialises the git calls that
//! touch what all its worktrees share.

use std::fs::File;
use std::path::{Path, PathBuf};

use crate::error::Error;
use crate::git::GitError;
use crate::git::refs;
use crate::git::run;
use crate::git::run_bytes;

/// The repository porch runs against, found from any directory inside its work tree.
#[derive(Debug, Clone)]
pub struct Repo {
    /// The top of the work tree that REPO is in.
    pub toplevel: PathBuf,
    /// The directory shared by all worktrees (`.git` of the main one): the lock lives here.
    pub common_dir: PathBuf,
    /// The directory name of the main work tree, used to keep two repos' worktrees apart.
    pub name: String,
    /// The commit checked out in REPO.
    pub head: String,
    /// The branch checked out in REPO; `None` on a detached HEAD.
    pub branch: Option<String>,
}

impl Repo {
    pub fn open(dir: &Path) -> Result<Repo, Error> {
        let shown = dir.display();
        let meta = std::fs::metadata(dir).map_err(|err| {
            Error::setup(
                format!("REPO {shown}: {err}"),
                "name a directory inside a git work tree",
            )
        })?;
        if !meta.is_dir() {
            return Err(Error::setup(
                format!("REPO {shown} is a file, not a directory"),
                "name a directory inside a git work tree",
            ));
        }
        // One git call answers everything in the usual case; only a failure needs the slower
        // questions of `why_not_a_repo`, to say precisely what is wrong.
        let answer = run_bytes(
            dir,
            &[
                "rev-parse",
                "--is-inside-work-tree",
                "--path-format=absolute",
                "--show-toplevel",
                "--git-common-dir",
                "HEAD",
                "--abbrev-ref",
                "HEAD",
            ],
        );
        let lines: Vec<&[u8]> = answer
            .as_deref()
            .map(|a| a.trim_ascii_end().split(|&b| b == b'\n').collect())
            .unwrap_or_default();
        if let [inside, toplevel, common_dir, head, branch] = lines[..]
            && inside == b"true"
        {
            let (Ok(toplevel_text), Ok(common_dir)) = (
                std::str::from_utf8(toplevel),
                std::str::from_utf8(common_dir),
            ) else {
                return Err(path_not_utf8(toplevel));
            };
            let text = |bytes| String::from_utf8_lossy(bytes).into_owned();
            return Ok(Repo::new(
                PathBuf::from(toplevel_text),
                PathBuf::from(common_dir),
                text(head),
                (branch != b"HEAD").then(|| text(branch)),
            ));
        }
        Err(why_not_a_repo(dir, answer.err()))
    }

    fn new(toplevel: PathBuf, common_dir: PathBuf, head: String, branch: Option<String>) -> Repo {
        // The main work tree is the common dir's parent when it is `<top>/.git`; a REPO inside a
        // linked worktree must still name the repository, not that worktree.
        let main_tree = if common_dir.file_name().is_some_and(|n| n == ".git") {
            common_dir.parent().unwrap_or(&toplevel).to_path_buf()
        } else {
            toplevel.clone()
        };
        let name = main_tree
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| "repo".to_string());
        Repo {
            toplevel,
            common_dir,
            name,
            head,
            branch,
        }
    }

    /// The commit a branch (or any revision) names, or `None` when it names none.
    pub fn resolve_commit(&self, rev: &str) -> Option<String> {
        refs::commit_of(&self.toplevel, rev)
    }

    /// The commit a task's `base_branch` names, in this order: the branch `refs/heads/NAME`,
    /// the remote-tracking branch `refs/remotes/NAME` (`origin/main`), then whatever revision
    /// git makes of NAME (a tag, a commit id, `HEAD~2`). git's own order would put a tag before
    /// a branch of the same name. `main` never means `origin/main`: with several remotes that
    /// would be a guess.
    pub fn resolve_base(&self, name: &str) -> Option<String> {
        base_candidates(name)
            .iter()
            .find_map(|rev| self.resolve_commit(rev))
    }

    /// Takes the lock that serialises repository-wide git operations (worktree add, remove,
    /// prune, branch delete) across threads *and* porch processes: concurrent ones race on the
    /// half-written `.git/worktrees/<id>/` entries of each other (see docs/design.md). The lock
    /// is a `flock` on the git common directory itself, so taking it creates no file: `porch
    /// plan` leaves the repository as it found it. git locks with `*.lock` files, never flock.
    pub fn lock(&self) -> Result<RepoLock, GitError> {
        let path = &self.common_dir;
        let file = File::open(path)
            .map_err(|err| GitError::io(format!("open {}", path.display()), &err))?;
        file.lock()
            .map_err(|err| GitError::io(format!("lock {}", path.display()), &err))?;
        Ok(RepoLock { _file: file })
    }
}

/// A repository whose path porch cannot write down: its results, logs and records name paths
/// as JSON text, which holds only UTF-8, and git would be sent what they name back.
fn path_not_utf8(toplevel: &[u8]) -> Error {
    Error::setup(
        format!(
            "the repository at {} has a path that is not valid UTF-8 (shown with U+FFFD for each byte that is not)",
            String::from_utf8_lossy(toplevel)
        ),
        "porch keeps paths as UTF-8 text: rename the directories so the path is UTF-8 (a symbolic link will not do: git names the real path)",
    )
}

/// What is wrong with REPO when the one `rev-parse` that opens it failed (`answer`) or said
/// something unexpected: slower questions, asked only now, to say it precisely.
fn why_not_a_repo(dir: &Path, answer: Option<GitError>) -> Error {
    let shown = dir.display();
    let not_repo = |detail: &str| {
        Error::setup(
            format!("REPO {shown} is not inside a git work tree{detail}"),
            "run porch on a git checkout (`git init` and one commit make one)",
        )
    };
    if let Some(err) = &answer
        && err.is_missing()
    {
        return Error::setup(err.reason(), "install git, then run porch again");
    }
    if let Some(err) = &answer
        && let crate::git::GitErrorKind::Io(why) = &err.kind
    {
        let hint = match crate::git::dev_null_problem() {
            Some(_) => {
                "porch needs /dev/null: in a container or chroot, mount /dev (or make the device: mknod -m 666 /dev/null c 1 3)"
            }
            None => "the system refused to start a process: see whether `git --version` runs",
        };
        return Error::setup(format!("git could not be started: {why}"), hint);
    }
    let refusal = answer.as_ref().map(GitError::reason).unwrap_or_default();
    if let Some(owned) = dubious_ownership(&refusal) {
        return Error::setup(
            format!("git refuses to work in {owned}: another user owns the repository"),
            format!(
                "if you trust it, tell git so: {}",
                crate::util::quote::command(&[
                    "git",
                    "config",
                    "--global",
                    "--add",
                    "safe.directory",
                    owned
                ])
            ),
        );
    }
    match run(dir, &["rev-parse", "--is-inside-work-tree"]) {
        Ok(answer) if answer == "true" => {}
        Ok(_) => return not_repo(" (it is a bare repository or a .git directory)"),
        Err(err) => return not_repo(&format!(": {}", err.reason())),
    }
    let toplevel =
        run(dir, &["rev-parse", "--show-toplevel"]).unwrap_or_else(|_| shown.to_string());
    if run(dir, &["rev-parse", "--verify", "--quiet", "HEAD^{commit}"]).is_err() {
        return Error::setup(
            format!("the repository at {toplevel} has no commits yet"),
            "make a first commit (worktrees branch off a commit), then run porch again",
        );
    }
    not_repo(&format!(
        ": {}",
        answer.map_or_else(
            || "git gave an answer porch does not understand".to_string(),
            |e| e.reason()
        )
    ))
}

/// What a base branch name is tried as, in order (see `Repo::resolve_base`).
fn base_candidates(name: &str) -> [String; 3] {
    [
        format!("refs/heads/{name}"),
        format!("refs/remotes/{name}"),
        name.to_string(),
    ]
}

/// The repository git would not open because another user owns it (git's "detected dubious
/// ownership in repository at 'DIR'"), as git names it.
fn dubious_ownership(stderr: &str) -> Option<&str> {
    let rest = stderr
        .split("detected dubious ownership in repository at '")
        .nth(1)?;
    // The line ends with the quote: a `'` inside the path is not its end.
    rest.lines().next()?.strip_suffix('\'')
}

pub struct RepoLock {
    _file: File,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_repository_of_another_user_is_told_apart() {
        let said = |dir: &str| {
            format!(
                "fatal: detected dubious ownership in repository at '{dir}'\n\
                 To add an exception for this directory, call:\n\n\
                 \tgit config --global --add safe.directory {dir}"
            )
        };
        // (what git said, the repository it refused, the rule)
        let cases = [
            (
                said("/srv/shop"),
                Some("/srv/shop"),
                "git names the repository",
            ),
            (
                said("/srv/it's"),
                Some("/srv/it's"),
                "a quote in the path is part of it",
            ),
            (
                "fatal: not a git repository (or any of the parent directories): .git".to_string(),
                None,
                "any other failure is not about ownership",
            ),
        ];
        for (stderr, owned, rule) in cases {
            assert_eq!(dubious_ownership(&stderr), owned, "{rule}");
        }
    }

    /// A base name → the revisions tried for it, first match wins.
    #[test]
    fn a_base_is_a_branch_first_then_a_remote_tracking_branch_then_any_revision() {
        let rows = [
            ("main", ["refs/heads/main", "refs/remotes/main", "main"]),
            (
                "origin/dev",
                [
                    "refs/heads/origin/dev",
                    "refs/remotes/origin/dev",
                    "origin/dev",
                ],
            ),
            ("v1.0", ["refs/heads/v1.0", "refs/remotes/v1.0", "v1.0"]),
        ];
        for (name, tried) in rows {
            assert_eq!(base_candidates(name), tried.map(String::from), "{name}");
        }
    }
}
