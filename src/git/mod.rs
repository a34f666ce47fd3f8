//! Every git call porch makes, each behind a function named for its job: the one git command
//! they all run through, what a failed one says, and the files that hold the calls by job.

mod commit;
mod config;
mod contents;
pub mod github;
mod merge;
mod refs;
mod registry;
pub mod remote;
mod repo;
pub mod scratch;
mod worktree;

use std::ffi::{OsStr, OsString};
use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, ExitStatus, Output, Stdio};

use crate::process::env::REPO_ENV_VARS;
use crate::sys::spawn::Input;
use crate::sys::spawn::Spawned;
use crate::sys::spawn::spawn_in_new_session;
use crate::sys::spawn::wait;

pub use commit::{LeaveOut, commit_all, restart_branch, snapshot, untracked_files};
pub use config::RunConfig;
pub use config::run_config;
pub use contents::patch;
pub use contents::{
    BranchDiff, DiffStats, Tracked, branch_diff, changed_entries, diff_stats, has_commit,
    ignored_paths, is_dirty, is_tracked, porcelain_status, raw_entries, tracked_at, tree_changes,
};
pub use merge::{
    Merged, abort_merge, branch_contains, branches_in_history_of, commit_resolved_merge,
    conflicted_files, fast_forward, merge_commits, merge_conflicts, merge_in_progress, merge_no_ff,
    remove_untracked, reset_to, stage_resolved,
};
pub use refs::{
    ATTEMPTS_REFS, BASES_REFS, BRANCH_PREFIX, branch_names, branch_start, create_ref, delete_ref,
    head_commit, loose_branch_commit, move_ref, on_remote_tracking_branch, ref_commits, ref_exists,
    ref_names, remote_tracking_namesakes, unmerged_commits,
};
pub use registry::Registration;
pub use repo::Repo;
pub use worktree::{WorktreeEntry, is_half_made_worktree, remove_stale_index_lock, worktree_head};

/// Said of a name porch found taken while claiming it.
const ANOTHER_RUN: &str = "(another porch run on this repository?)";

/// A git step that failed: what porch ran (or did beside git), and why it failed.
#[derive(Debug, Clone)]
pub struct GitError {
    /// `git worktree add …`, or what porch did beside git (`lock <path>`).
    pub command: String,
    pub kind: GitErrorKind,
    /// What the failure means to the caller, said after the reason.
    pub note: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum GitErrorKind {
    /// git could not be started: not installed, not on PATH, or not executable.
    Missing { not_found: bool, detail: String },
    /// git ran and exited unsuccessfully.
    Failed { status: ExitStatus, stderr: String },
    /// A file porch uses beside git (the lock, a worktree's HEAD), or a process that could not be
    /// started for a reason other than git missing.
    Io(String),
    /// porch refused before asking git: something is in the way.
    Refused(String),
    /// git outlasted the limit porch gives it (a push), and porch ended it.
    TimedOut(std::time::Duration),
}

impl GitError {
    fn new(command: impl Into<String>, kind: GitErrorKind) -> GitError {
        GitError {
            command: command.into(),
            kind,
            note: None,
        }
    }

    /// What porch did beside git (`lock <path>`), and the I/O error that stopped it.
    fn io(doing: impl Into<String>, err: &dyn std::fmt::Display) -> GitError {
        GitError::new(doing, GitErrorKind::Io(err.to_string()))
    }

    fn spawn(command: impl Into<String>, err: &std::io::Error) -> GitError {
        GitError::new(command, spawn_failure(err, dev_null_problem()))
    }

    /// git itself cannot be run: no point asking it anything else.
    pub fn is_missing(&self) -> bool {
        matches!(self.kind, GitErrorKind::Missing { .. })
    }

    pub fn with_note(self, note: impl Into<String>) -> GitError {
        GitError {
            note: Some(note.into()),
            ..self
        }
    }

    /// Why it failed, in git's words where git said something, without the command.
    pub fn reason(&self) -> String {
        let reason = match &self.kind {
            GitErrorKind::Missing {
                not_found: true, ..
            } => "git is not installed or not on PATH".to_string(),
            GitErrorKind::Missing { detail, .. } => detail.clone(),
            GitErrorKind::Failed { status, stderr } if stderr.trim().is_empty() => {
                format!("exited with {status}")
            }
            GitErrorKind::Failed { stderr, .. } => stderr.trim().to_string(),
            GitErrorKind::Io(message) | GitErrorKind::Refused(message) => message.clone(),
            GitErrorKind::TimedOut(limit) => format!(
                "timed out after {}: porch ended it",
                crate::util::duration::format(*limit)
            ),
        };
        match &self.note {
            Some(note) => format!("{reason} {note}"),
            None => reason,
        }
    }
}

impl std::fmt::Display for GitError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "`{}` failed: {}", self.command, self.reason())
    }
}

impl std::error::Error for GitError {}

/// Why git could not be started. Without a `/dev/null` no child starts at all (each gets it as
/// standard input), and the system says "not found" as if git were: `dev_null` is what is
/// wrong with it, if anything, so that porch names the real cause.
fn spawn_failure(err: &std::io::Error, dev_null: Option<String>) -> GitErrorKind {
    use std::io::ErrorKind;
    if let Some(problem) = dev_null {
        return GitErrorKind::Io(format!(
            "{problem}, and porch gives it to every command it starts as standard input"
        ));
    }
    match err.kind() {
        ErrorKind::NotFound | ErrorKind::PermissionDenied => GitErrorKind::Missing {
            not_found: err.kind() == ErrorKind::NotFound,
            detail: err.to_string(),
        },
        _ => GitErrorKind::Io(err.to_string()),
    }
}

/// What keeps `/dev/null` from being opened for reading and writing, if anything: a container
/// or chroot without `/dev`.
fn dev_null_problem() -> Option<String> {
    let opened = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null");
    opened
        .err()
        .map(|err| format!("/dev/null cannot be opened ({err})"))
}

/// Settings on every git command porch runs, over whatever the repository, the user or the
/// agent configured. No hooks at all (`--no-verify` skips only pre-commit and commit-msg; a
/// prepare-commit-msg, post-commit or reference-transaction hook would still run, and with a
/// relative `core.hooksPath` the agent could write one), no fsmonitor daemon (a configured
/// command, run like a hook), no automatic maintenance (sixty commits at once would each start
/// one).
const GIT_OVERRIDES: [&str; 6] = [
    "-c",
    "core.hooksPath=/dev/null",
    "-c",
    "core.fsmonitor=false",
    "-c",
    "maintenance.auto=false",
];

/// A git command in `dir` that runs no hook and never reads the terminal: stdin is null, git
/// may not prompt, and it runs in a session of its own, without a controlling terminal, so
/// whatever it starts (a filter, a credential helper) that opens `/dev/tty` gets an error
/// instead of stopping porch with SIGTTIN forever. Being in its own process group also keeps
/// Ctrl-C at the terminal from reaching the `git add` or `git commit` that keeps the agents'
/// work: the signal is porch's to handle. For a git call porch must be able to end (a push);
/// every other call goes through [`spawn`], which starts the same command without copying
/// porch.
fn command(dir: &Path) -> Command {
    let mut cmd = Command::new("git");
    cmd.args(arguments(dir, &[]))
        .stdin(Stdio::null())
        .env_clear()
        .envs(git_env());
    crate::sys::in_new_session(&mut cmd);
    cmd
}

/// git's arguments for a command in `dir`: porch's overrides, `-C dir`, then `args`.
fn arguments<'a>(dir: &'a Path, args: &'a [&'a str]) -> Vec<&'a OsStr> {
    let mut argv: Vec<&OsStr> = GIT_OVERRIDES.iter().map(OsStr::new).collect();
    argv.push(OsStr::new("-C"));
    argv.push(dir.as_os_str());
    argv.extend(args.iter().map(OsStr::new));
    argv
}

/// The environment of every git porch starts: porch's own, less what would point git at
/// another repository, with prompting off.
fn git_env() -> Vec<(OsString, OsString)> {
    let mut env: Vec<(OsString, OsString)> = std::env::vars_os()
        .filter(|(key, _)| {
            key != "GIT_TERMINAL_PROMPT" && !REPO_ENV_VARS.iter().any(|var| key == *var)
        })
        .collect();
    env.push(("GIT_TERMINAL_PROMPT".into(), "0".into()));
    env
}

/// Starts the git command [`command`] describes, with `posix_spawn` (sys/spawn.rs says why).
fn spawn(dir: &Path, args: &[&str], input: Input) -> std::io::Result<Spawned> {
    spawn_in_new_session(OsStr::new("git"), &arguments(dir, args), &git_env(), input)
}

/// Reads the child's output to its end (`input` written on a thread of its own meanwhile: git
/// answers as it reads, as `check-ignore --stdin` does, and with both pipes full each side
/// would wait for the other), then reaps it.
fn collect(mut child: Spawned, input: &[u8]) -> std::io::Result<Output> {
    let stdin = child.stdin.take();
    let mut stderr_pipe = child.stderr;
    let mut stdout = Vec::new();
    let read = std::thread::scope(|scope| {
        if let Some(mut stdin) = stdin {
            // Dropped at the end of the thread: git reads the end of its input.
            scope.spawn(move || stdin.write_all(input));
        }
        let stderr = scope.spawn(move || {
            let mut stderr = Vec::new();
            stderr_pipe.read_to_end(&mut stderr).map(|_| stderr)
        });
        let stdout_read = child.stdout.read_to_end(&mut stdout);
        let stderr_read = stderr.join().unwrap_or_else(|_| Ok(Vec::new()));
        stdout_read.and(stderr_read)
    });
    // Reaped whatever reading did: a child left unreaped would stay a zombie until porch ends.
    let status = wait(child.pid)?;
    Ok(Output {
        status,
        stdout,
        stderr: read?,
    })
}

/// The command as the user could run it again: shown in errors, so quoted like any other.
fn describe(args: &[&str]) -> String {
    format!("git {}", crate::util::quote::command(args))
}

fn output(dir: &Path, args: &[&str]) -> Result<Output, GitError> {
    let child =
        spawn(dir, args, Input::Null).map_err(|err| GitError::spawn(describe(args), &err))?;
    collect(child, &[]).map_err(|err| GitError::io(describe(args), &err))
}

/// Runs git and returns its trimmed stdout, or what it printed on stderr when it failed.
fn run(dir: &Path, args: &[&str]) -> Result<String, GitError> {
    let out = output(dir, args)?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim_end().to_string())
    } else {
        Err(failure(args, &out))
    }
}

/// Runs git and returns its stdout as it is (NUL-separated fields, names that are not UTF-8),
/// or what it printed on stderr when it failed.
fn run_bytes(dir: &Path, args: &[&str]) -> Result<Vec<u8>, GitError> {
    let out = output(dir, args)?;
    if out.status.success() {
        Ok(out.stdout)
    } else {
        Err(failure(args, &out))
    }
}

/// Runs git for a yes/no answer: `Ok(true)` on exit 0, `Ok(false)` on exit 1.
fn query(dir: &Path, args: &[&str]) -> Result<bool, GitError> {
    let out = output(dir, args)?;
    match out.status.code() {
        Some(0) => Ok(true),
        Some(1) => Ok(false),
        _ => Err(failure(args, &out)),
    }
}

fn failure(args: &[&str], out: &Output) -> GitError {
    GitError::new(
        describe(args),
        GitErrorKind::Failed {
            status: out.status,
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        },
    )
}

/// Runs git with `input` on its stdin, and returns how it ended and what it printed.
fn run_with_input(dir: &Path, args: &[&str], input: &[u8]) -> Result<Output, GitError> {
    let child =
        spawn(dir, args, Input::Piped).map_err(|err| GitError::spawn(describe(args), &err))?;
    collect(child, input).map_err(|err| GitError::io(describe(args), &err))
}

/// The non-empty NUL-separated fields of git's `-z` output (a name that is not UTF-8 with
/// U+FFFD for what is not).
fn nul_separated(bytes: &[u8]) -> impl Iterator<Item = String> {
    bytes
        .split(|&b| b == 0)
        .filter(|field| !field.is_empty())
        .map(|field| String::from_utf8_lossy(field).into_owned())
}

/// `git diff --stat` of a task's branch against its base, as a person reads it; empty when the
/// branch changes nothing, an error when the branch or the base is gone.
pub fn diff_stat_text(dir: &Path, base_commit: &str, branch: &str) -> Result<String, GitError> {
    let branch = format!("refs/heads/{branch}");
    run(
        dir,
        &[
            "diff",
            "--stat=100",
            "--no-color",
            base_commit,
            &branch,
            "--",
        ],
    )
}

/// git's version as (major, minor), from `git --version`; none when it cannot be told.
pub fn version(dir: &Path) -> Option<(u32, u32)> {
    let text = run(dir, &["--version"]).ok()?;
    parse_version(&text)
}

/// `git version 2.47.3` (or `2.39.5 (Apple Git-154)`) as (2, 47).
fn parse_version(text: &str) -> Option<(u32, u32)> {
    let number = text
        .strip_prefix("git version ")?
        .split_whitespace()
        .next()?;
    let mut parts = number.split('.');
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    Some((major, minor))
}

/// The first git whose `merge-tree --write-tree` merges two branches without a work tree.
pub const MERGE_TREE_VERSION: (u32, u32) = (2, 38);

#[cfg(test)]
mod tests {
    use super::*;

    /// Far more paths than a pipe holds, each ignored, so git answers while porch still
    /// writes: porch must read as it writes. Before, this never ended; the deadline only
    /// tells a hang from a slow machine.
    #[test]
    fn many_paths_on_stdin_are_answered_without_a_deadlock() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().to_path_buf();
        run(&dir, &["init", "-q"]).unwrap();
        std::fs::write(dir.join(".gitignore"), "*.tmp\n").unwrap();
        let paths: Vec<String> = (0..200_000)
            .map(|i| format!("some/deep/dir/file-{i:06}.tmp"))
            .collect();
        let (done, answered) = crossbeam_channel::bounded(1);
        let asking = dir.clone();
        std::thread::spawn(move || {
            let _ = done.send(crate::git::ignored_paths(&asking, paths.iter()));
        });
        let ignored = answered
            .recv_timeout(std::time::Duration::from_secs(300))
            .expect("git check-ignore answered")
            .unwrap();
        assert_eq!(ignored.len(), 200_000);
        assert_eq!(ignored[0], "some/deep/dir/file-000000.tmp");
    }

    #[test]
    fn without_dev_null_the_failure_names_it_not_a_missing_git() {
        let not_found = std::io::Error::from(std::io::ErrorKind::NotFound);
        let missing = "/dev/null cannot be opened (No such file or directory (os error 2))";
        let kind = spawn_failure(&not_found, Some(missing.to_string()));
        let err = GitError::new("git rev-parse", kind);
        assert!(!err.is_missing(), "{err}");
        assert_eq!(
            err.reason(),
            format!("{missing}, and porch gives it to every command it starts as standard input")
        );
        let kind = spawn_failure(&not_found, None);
        assert!(GitError::new("git rev-parse", kind).is_missing());
    }

    use std::os::unix::process::ExitStatusExt;

    fn exited(code: i32) -> ExitStatus {
        ExitStatus::from_raw(code << 8)
    }

    #[test]
    fn gits_version_is_read_as_major_and_minor() {
        // (what `git --version` prints, what porch reads)
        let cases = [
            ("git version 2.47.3", Some((2, 47))),
            ("git version 2.39.5 (Apple Git-154)", Some((2, 39))),
            ("git version 2.38.0.windows.1", Some((2, 38))),
            ("git version 3.0", Some((3, 0))),
            ("hub version 2.14", None),
            ("git version two", None),
        ];
        for (text, expected) in cases {
            assert_eq!(parse_version(text), expected, "{text}");
        }
    }

    #[test]
    fn a_git_error_says_what_ran_and_why_it_failed() {
        use GitErrorKind::*;
        let missing = |not_found| Missing {
            not_found,
            detail: "Permission denied (os error 13)".into(),
        };
        let failed = |stderr: &str| Failed {
            status: exited(128),
            stderr: stderr.into(),
        };
        let rows = [
            (missing(true), "git is not installed or not on PATH", true),
            (missing(false), "Permission denied (os error 13)", true),
            (
                failed("fatal: bad revision\n"),
                "fatal: bad revision",
                false,
            ),
            (failed("  \n"), "exited with exit status: 128", false),
            (Io("Is a directory".into()), "Is a directory", false),
            (
                Refused("/w/x already exists".into()),
                "/w/x already exists",
                false,
            ),
        ];
        for (kind, reason, is_missing) in rows {
            let err = GitError::new("git status", kind);
            assert_eq!(err.reason(), reason);
            assert_eq!(err.to_string(), format!("`git status` failed: {reason}"));
            assert_eq!(err.is_missing(), is_missing, "{err}");
        }
    }

    #[test]
    fn a_note_follows_the_reason() {
        let err = GitError::new(
            "git update-ref refs/heads/task/x",
            GitErrorKind::Failed {
                status: exited(1),
                stderr: "fatal: reference already exists".into(),
            },
        )
        .with_note(ANOTHER_RUN);
        assert_eq!(
            err.to_string(),
            "`git update-ref refs/heads/task/x` failed: fatal: reference already exists \
             (another porch run on this repository?)"
        );
    }

    #[test]
    fn git_that_cannot_be_started_is_missing_and_nothing_else_is() {
        use std::io::{Error, ErrorKind};
        let rows = [
            (ErrorKind::NotFound, true),
            (ErrorKind::PermissionDenied, true),
            (ErrorKind::OutOfMemory, false),
            (ErrorKind::Interrupted, false),
        ];
        for (kind, missing) in rows {
            let err = GitError::spawn("git status", &Error::from(kind));
            assert_eq!(err.is_missing(), missing, "{kind:?}");
        }
    }
}
