//! `--push REMOTE`: the remote a run pushes each task's branch to, checked before anything is
//! created, and the push itself. Through `git::run`, so no hook runs and git never prompts.

use std::path::{Path, PathBuf};

use crate::git::{self, GitError};

/// The remote as git is given it: a remote of the repository, a URL, or a path made absolute
/// (git runs in the repository, the user gave it from the current directory).
pub fn resolve(repo: &Path, remote: &str, cwd: &Path) -> String {
    let configured = git::run(repo, &["remote"])
        .map(|names| names.lines().any(|name| name == remote))
        .unwrap_or(false);
    if configured || looks_like_url(remote) {
        return remote.to_string();
    }
    let path = cwd.join(remote);
    match path.canonicalize() {
        Ok(real) => real.display().to_string(),
        Err(_) => remote.to_string(),
    }
}

/// `scheme://…` or scp-like `host:path` (a colon before any slash), as git tells them apart.
fn looks_like_url(remote: &str) -> bool {
    if remote.contains("://") {
        return true;
    }
    match (remote.find(':'), remote.find('/')) {
        (Some(colon), Some(slash)) => colon < slash,
        (Some(_), None) => true,
        _ => false,
    }
}

/// Whether git can reach the remote: it lists the remote's branches.
pub fn reach(repo: &Path, remote: &str) -> Result<(), GitError> {
    git::run(repo, &["ls-remote", "--heads", remote]).map(drop)
}

/// Pushes `refs/heads/BRANCH` to the same name on the remote. Never forced: a remote branch
/// holding other work is git's refusal, reported, not overwritten.
pub fn push_branch(repo: &Path, remote: &str, branch: &str) -> Result<(), GitError> {
    let refspec = format!("refs/heads/{branch}:refs/heads/{branch}");
    git::run(repo, &["push", "--quiet", remote, &refspec]).map(drop)
}

/// The remote as porch shows it in results, summaries and errors: a password or token in a
/// URL (`https://user:token@host/…`) is replaced by `***`.
pub fn shown(remote: &str) -> String {
    let Some((scheme, rest)) = remote.split_once("://") else {
        return remote.to_string();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{scheme}://***@{}", &rest[at + 1..]),
        None => remote.to_string(),
    }
}

/// `text` (git's words) with the remote as given replaced by how porch shows it.
pub fn shown_in(text: &str, remote: &str) -> String {
    if shown(remote) == remote {
        text.to_string()
    } else {
        text.replace(remote, &shown(remote))
    }
}

/// git's several lines about a refused push (`remote: …`, `To …`, ` ! [remote rejected] …`) as
/// one line for the summary and the results, without the padding remote hooks print.
pub fn one_line(text: &str) -> String {
    let parts: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .collect();
    parts.join("; ")
}

/// The current directory, for `resolve`; `.` if it cannot be read.
pub fn current_dir() -> PathBuf {
    std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refused_push_reads_as_one_line() {
        let git = "`git push` failed (exit status: 1): remote: no pushes here        \n\
                   To /tmp/rej.git\n ! [remote rejected] task/a -> task/a (pre-receive hook declined)\n\
                   error: failed to push some refs to '/tmp/rej.git'\n";
        assert_eq!(
            one_line(git),
            "`git push` failed (exit status: 1): remote: no pushes here; To /tmp/rej.git; \
             ! [remote rejected] task/a -> task/a (pre-receive hook declined); \
             error: failed to push some refs to '/tmp/rej.git'"
        );
    }

    #[test]
    fn urls_are_told_from_paths_as_git_tells_them() {
        let cases = [
            ("https://github.com/me/shop.git", true),
            ("ssh://git@host/shop.git", true),
            ("git@github.com:me/shop.git", true),
            ("host:shop", true),
            ("../shop.git", false),
            ("/srv/git/shop.git", false),
            ("./a:b", false),
            ("shop.git", false),
        ];
        for (remote, url) in cases {
            assert_eq!(looks_like_url(remote), url, "{remote}");
        }
    }

    #[test]
    fn credentials_in_a_url_are_never_shown() {
        let cases = [
            (
                "https://me:ghp_secret@github.com/me/shop.git",
                "https://***@github.com/me/shop.git",
            ),
            ("https://token@host/a@b", "https://***@host/a@b"),
            (
                "https://github.com/me/shop.git",
                "https://github.com/me/shop.git",
            ),
            ("git@github.com:me/shop.git", "git@github.com:me/shop.git"),
            ("origin", "origin"),
        ];
        for (remote, shown_as) in cases {
            assert_eq!(shown(remote), shown_as, "{remote}");
        }
    }
}
