//! `--push REMOTE`: the remote a run pushes each task's branch to, checked before anything is
//! created, and the push itself. Through `git::command`, so no hook runs and git never prompts.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::git;
use crate::git::GitError;
use crate::git::GitErrorKind;
use crate::process::bounded;
use crate::process::bounded::Ended;
use crate::process::child;
use crate::process::child::Child;
use crate::process::child::Tail;

/// How long one push may take. A remote that stops answering mid-push would otherwise hold up
/// the task, and the run's end, for as long as git and its transport wait (ssh's and curl's
/// own timeouts, which may be none).
const PUSH_TIMEOUT: Duration = Duration::from_secs(10 * 60);
/// How many of git's last lines on stderr a failed push keeps, for its error.
const ERROR_LINES: usize = 50;

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
    run_limited(repo, &["push", "--quiet", remote, &refspec], PUSH_TIMEOUT)
}

/// Runs git as a `Child`, ended once it outlasts `limit`. porch's own signals do not end it:
/// a push after porch was signalled still takes the work where it was meant to go.
fn run_limited(repo: &Path, args: &[&str], limit: Duration) -> Result<(), GitError> {
    let what = git::describe(args);
    let mut command = git::command(repo);
    command.args(args);
    let child =
        Child::spawn(command, None, None, false).map_err(|err| GitError::spawn(&what, &err))?;
    let said = Tail::new(ERROR_LINES);
    let kind = match bounded::watch(child, limit, child::discard(), said.sink()) {
        Ok(Ended::Exited(status)) if status.success() => return Ok(()),
        Ok(Ended::Exited(status)) => GitErrorKind::Failed {
            status,
            stderr: said.lines().join("\n"),
        },
        Ok(Ended::TimedOut(limit)) => GitErrorKind::TimedOut(limit),
        Err(err) => GitErrorKind::Io(format!("could not wait for git: {err}")),
    };
    Err(GitError::new(what, kind))
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
    fn git_that_outlasts_its_limit_is_ended_and_said_to_have_timed_out() {
        let dir = tempfile::tempdir().unwrap();
        let limit = Duration::from_millis(200);
        let args = ["-c", "alias.nap=!sleep 600", "nap"];
        let error = run_limited(dir.path(), &args, limit).unwrap_err();
        assert_eq!(error.kind, GitErrorKind::TimedOut(limit), "{error}");
        assert!(
            error
                .to_string()
                .ends_with("failed: timed out after 200ms: porch ended it"),
            "{error}"
        );
        // A limit it stays under leaves it alone.
        let ok = ["-c", "alias.ok=!true", "ok"];
        run_limited(dir.path(), &ok, Duration::from_secs(600)).unwrap();
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
