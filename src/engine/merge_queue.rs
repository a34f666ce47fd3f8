//! `porch merge`'s queue: the order its branches are merged in (dependencies first, then file
//! order), the check run in the merge worktree after each merge, and the conflict markers a
//! resolution must not leave behind.

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::git;
use crate::process::child;
use crate::process::child::Child;
use crate::process::child::Leftovers;
use crate::process::child::Limit;
use crate::process::child::Sink;
use crate::process::child::Stop;
use crate::process::child::Tail;
use crate::process::env::REPO_ENV_VARS;
use crate::process::groups;
use crate::results::TaskResult;
use crate::util::duration;

/// How long a merge check may run unless `--timeout` says otherwise: a test suite, not a
/// session, and nobody is waiting on a hung one for ever.
pub const DEFAULT_CHECK_LIMIT: Duration = Duration::from_secs(10 * 60);
/// How many of a failed check's last lines are reported.
const QUOTED_LINES: usize = 5;
/// Longest line kept from a check; the rest of it is dropped.
const LINE_LIMIT: usize = 64 * 1024;

/// The tasks in the order they are merged: a task after every chosen task it depends on (a
/// repeated task's name meaning its winner), otherwise in the order given (file order).
/// A dependency that is not among `tasks` does not hold a task back.
pub fn queue_order(tasks: &[&TaskResult]) -> Vec<usize> {
    let position: HashMap<&str, usize> = (tasks.iter().enumerate())
        .flat_map(|(i, t)| {
            let group = t.group.as_deref().map(|g| (g, i));
            std::iter::once((t.name.as_str(), i)).chain(group)
        })
        .collect();
    let needs: Vec<Vec<usize>> = (tasks.iter())
        .map(|t| {
            (t.depends_on.iter())
                .filter_map(|name| position.get(name.as_str()).copied())
                .collect()
        })
        .collect();
    let mut placed = vec![false; tasks.len()];
    let mut order = Vec::with_capacity(tasks.len());
    while order.len() < tasks.len() {
        // The first task in file order whose dependencies are in; a cycle (which `porch run`
        // refuses) would leave none, and then file order decides.
        let ready = (0..tasks.len())
            .find(|&i| !placed[i] && needs[i].iter().all(|&d| placed[d] || d == i))
            .or_else(|| (0..tasks.len()).find(|&i| !placed[i]));
        let Some(next) = ready else { break };
        placed[next] = true;
        order.push(next);
    }
    order
}

/// Why a merge check did not pass.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckFailure {
    /// Its exit code; `None` when it did not start or porch ended it.
    pub exit_code: Option<i32>,
    /// How it ended: "exit 1", "timed out after 10m", "could not be started: …".
    pub how: String,
    /// Its last lines (both streams), oldest first.
    pub last_lines: Vec<String>,
    /// porch was told to stop while it ran (the signal).
    pub interrupted: Option<i32>,
}

/// Runs the merge check `argv` in `dir` as [`run_check`] does, then leaves `dir` clean for what
/// comes next: at HEAD when it passed (what a passing check rewrote, a formatter, a snapshot,
/// would stop the next merge), at `on_failure` when it failed.
pub fn check_and_reset(
    argv: &[String],
    dir: &Path,
    limit: Duration,
    on_failure: &str,
) -> Result<(), CheckFailure> {
    let checked = run_check(argv, dir, limit);
    let back_to = if checked.is_err() { on_failure } else { "HEAD" };
    let _ = git::reset_to(dir, back_to);
    let _ = git::remove_untracked(dir);
    checked
}

/// Runs the merge check `argv` in `dir` to its end, or its `limit`, or porch's signal.
pub fn run_check(argv: &[String], dir: &Path, limit: Duration) -> Result<(), CheckFailure> {
    let fail = |how: String| CheckFailure {
        exit_code: None,
        how,
        last_lines: Vec::new(),
        interrupted: None,
    };
    let mut command = Command::new(&argv[0]);
    command.args(&argv[1..]).current_dir(dir);
    // They would point the check's git at the repository rather than the merge worktree.
    for var in REPO_ENV_VARS {
        command.env_remove(var);
    }
    child::in_own_group(&mut command);
    let mut child = Child::spawn(command, None, None, false).map_err(|err| {
        // As a shell says it (127, 126), so that `./missing.sh` reads the same given as a
        // list or with --check.
        let (code, what) = match err.kind() {
            std::io::ErrorKind::NotFound => (127, "not found"),
            std::io::ErrorKind::PermissionDenied => (126, "permission denied"),
            _ => return fail(format!("could not be started: {}: {err}", argv[0])),
        };
        CheckFailure {
            exit_code: Some(code),
            how: format!("exit {code}"),
            last_lines: vec![format!("{}: {what}", argv[0])],
            interrupted: None,
        }
    })?;
    let tail = Tail::new(QUOTED_LINES * 2);
    let sink = |tail: &Tail| -> Sink {
        let tail = tail.clone();
        Box::new(move |line, _, _| tail.push(String::from_utf8_lossy(line).into_owned()))
    };
    (child.read_output(LINE_LIMIT, sink(&tail), sink(&tail)))
        .map_err(|err| fail(format!("could not be started: no thread to read it: {err}")))?;
    let clock = child.clock();
    let waited = child.wait(|| Stop::due(&clock, Some(Limit::whole(limit)), true));
    child.finish(Leftovers::End);
    let last_lines = quoted(&tail.lines());
    let (how, exit_code, interrupted) = match waited {
        Ok((status, None)) if status.success() => return Ok(()),
        Ok((status, None)) => match status.code() {
            Some(code) => (format!("exit {code}"), Some(code), None),
            None => (describe_end(status), None, None),
        },
        Ok((_, Some(Stop::TimedOut(set)))) => (
            format!("timed out after {}", duration::format(set)),
            None,
            None,
        ),
        Ok((_, Some(Stop::Interrupted(signal)))) => (
            format!("ended: porch received {}", groups::describe_signal(signal)),
            None,
            Some(signal),
        ),
        Err(err) => (format!("could not be waited for: {err}"), None, None),
    };
    Err(CheckFailure {
        exit_code,
        how,
        last_lines,
        interrupted,
    })
}

fn describe_end(status: std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match status.signal() {
        Some(signal) => format!("killed by {}", groups::describe_signal(signal)),
        None => format!("ended ({status})"),
    }
}

/// The last non-blank lines, right-trimmed.
fn quoted(lines: &[String]) -> Vec<String> {
    let kept: Vec<String> = (lines.iter())
        .map(|line| line.trim_end().to_string())
        .filter(|line| !line.is_empty())
        .collect();
    kept[kept.len().saturating_sub(QUOTED_LINES)..].to_vec()
}

/// The files of `files` (paths in `dir`) that still hold a conflict marker: a line that opens
/// (`<<<<<<< `), separates (`=======`, `||||||| `) or closes (`>>>>>>> `) a conflict.
pub fn leftover_markers(dir: &Path, files: &[String]) -> Vec<String> {
    (files.iter())
        .filter(|file| {
            // A file the resolver deleted holds no marker; one porch cannot read is not settled.
            match std::fs::read(dir.join(file)) {
                Ok(bytes) => has_markers(&String::from_utf8_lossy(&bytes)),
                Err(err) => err.kind() != std::io::ErrorKind::NotFound,
            }
        })
        .cloned()
        .collect()
}

fn has_markers(text: &str) -> bool {
    text.lines().any(|line| {
        let line = line.trim_end_matches('\r');
        line == "======="
            || ["<<<<<<<", ">>>>>>>", "|||||||"]
                .iter()
                .any(|marker| line == *marker || line.starts_with(&format!("{marker} ")))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(name: &str, group: Option<&str>, depends_on: &[&str]) -> TaskResult {
        TaskResult {
            name: name.to_string(),
            group: group.map(String::from),
            depends_on: depends_on.iter().map(|d| d.to_string()).collect(),
            ..TaskResult::default()
        }
    }

    #[test]
    fn dependencies_are_merged_before_their_dependants_then_file_order() {
        let tasks = [
            task("api", None, &["schema"]),
            task("docs", None, &[]),
            task("schema", None, &["fix"]),
            task("fix-1", Some("fix"), &[]),
            task("ui", None, &["api", "gone"]),
        ];
        let refs: Vec<&TaskResult> = tasks.iter().collect();
        let names: Vec<&str> = (queue_order(&refs).into_iter())
            .map(|i| tasks[i].name.as_str())
            .collect();
        assert_eq!(names, ["docs", "fix-1", "schema", "api", "ui"]);
    }

    #[test]
    fn a_cycle_falls_back_to_file_order() {
        let tasks = [task("a", None, &["b"]), task("b", None, &["a"])];
        let refs: Vec<&TaskResult> = tasks.iter().collect();
        assert_eq!(queue_order(&refs), [0, 1]);
    }

    #[test]
    fn markers_are_whole_lines_that_git_writes() {
        for (text, marked) in [
            ("<<<<<<< HEAD\na\n=======\nb\n>>>>>>> task/b\n", true),
            ("a\n=======\nb\n", true),
            ("a\n>>>>>>> task/b\r\n", true),
            ("a\n||||||| base\n", true),
            ("title\n========\n", false),
            ("x <<<<<<< y\n", false),
            ("a\nb\n", false),
        ] {
            assert_eq!(has_markers(text), marked, "{text:?}");
        }
    }

    #[test]
    fn a_failed_check_says_how_with_its_last_lines() {
        let dir = tempfile::tempdir().unwrap();
        let argv = [
            "sh",
            "-c",
            "for i in 1 2 3 4 5 6 7; do echo line $i; done; exit 4",
        ]
        .map(String::from);
        let failure = run_check(&argv, dir.path(), Duration::from_secs(60)).unwrap_err();
        assert_eq!(failure.exit_code, Some(4));
        assert_eq!(failure.how, "exit 4");
        assert_eq!(
            failure.last_lines,
            ["line 3", "line 4", "line 5", "line 6", "line 7"]
        );
        let passed = run_check(&["true".to_string()], dir.path(), Duration::from_secs(60));
        assert_eq!(passed, Ok(()));
    }

    #[test]
    fn a_check_that_is_not_there_fails_as_a_shell_says_it() {
        let dir = tempfile::tempdir().unwrap();
        let missing = ["./missing.sh".to_string()];
        let failure = run_check(&missing, dir.path(), Duration::from_secs(60)).unwrap_err();
        assert_eq!(failure.exit_code, Some(127));
        assert_eq!(failure.how, "exit 127");
        assert_eq!(failure.last_lines, ["./missing.sh: not found"]);
    }

    #[test]
    fn a_check_that_outlasts_its_limit_is_ended() {
        let dir = tempfile::tempdir().unwrap();
        let argv = ["sleep", "600"].map(String::from);
        let failure = run_check(&argv, dir.path(), Duration::from_millis(300)).unwrap_err();
        assert!(failure.how.starts_with("timed out after"), "{failure:?}");
    }
}
