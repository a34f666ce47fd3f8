//! Waiting on files and processes, signals, and ending whatever a test started.
//!
//! Every wait is on a file or a process, with a generous deadline; nothing asserts how long
//! something took. "A process is gone" means `/proc/PID` is missing or the process is a zombie:
//! PID 1 on some machines reaps orphans lazily, so a killed orphan can linger as a zombie that
//! `kill -0` still reaches.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::Sandbox;

/// How long to wait for something that normally takes well under a second.
pub const DEADLINE: Duration = Duration::from_secs(60);
/// How long processes get to disappear: porch's grace periods take a few seconds.
pub const GONE_DEADLINE: Duration = Duration::from_secs(30);

/// The process is gone: no `/proc/PID`, or a zombie (dead, only waiting to be reaped).
pub fn is_gone(pid: u32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return true;
    };
    // "PID (comm) S ...": the name may hold spaces and parentheses, the state follows the last ')'.
    let Some(end) = stat.rfind(')') else {
        return true;
    };
    matches!(
        stat[end + 1..].trim_start().chars().next(),
        None | Some('Z') | Some('X') | Some('x')
    )
}

/// Polls `check` until it holds; panics naming `what` if it still does not after `deadline`.
#[track_caller]
pub fn wait_until(what: &str, deadline: Duration, mut check: impl FnMut() -> bool) {
    let start = Instant::now();
    while !check() {
        assert!(
            start.elapsed() < deadline,
            "gave up after {deadline:?} waiting until {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// porch's time limits (a task's, which covers its setup, session and check; the idle timeout;
/// a hook's) run from the moment it starts the process, and nothing can hold that clock: on a
/// busy machine a limit can pass before the fixture or script has done what the test checks
/// (written its work, its pid files), and such a run proves nothing either way. So a test of a
/// limit runs `checked` with the limit `first_secs`, and while the fixture was not ready in time
/// (`checked` returns false, having asserted nothing), again in a new sandbox with double the
/// limit.
pub fn with_a_limit_the_fixture_beats(first_secs: u64, mut checked: impl FnMut(&str) -> bool) {
    let limits: Vec<u64> = (0..5).map(|doubling| first_secs << doubling).collect();
    for secs in &limits {
        if checked(&format!("{secs}s")) {
            return;
        }
    }
    panic!("the fixture was never ready before the limit, with limits of {limits:?} seconds");
}

/// Waits for a pid file (written atomically by the fixture or a directive) and reads it.
#[track_caller]
pub fn read_pid(path: &Path) -> u32 {
    wait_until(&format!("{} exists", path.display()), DEADLINE, || {
        path.exists()
    });
    let text = std::fs::read_to_string(path).unwrap();
    text.trim()
        .parse()
        .unwrap_or_else(|_| panic!("{} holds {text:?}, not a pid", path.display()))
}

/// Waits until the process is gone; panics naming `what` if it outlives `GONE_DEADLINE`.
#[track_caller]
pub fn assert_gone(pid: u32, what: &str) {
    wait_until(
        &format!("{what} (pid {pid}) is gone"),
        GONE_DEADLINE,
        || is_gone(pid),
    );
}

/// A shell command that writes the pid of the shell running it to `path`, atomically.
pub fn own_pid_to(path: &Path) -> String {
    let p = path.display();
    format!("echo $$ > {p}.tmp && mv {p}.tmp {p}")
}

/// `kill -SIGNAL PID` through the kill(1) command, so the tests need no unsafe code.
#[track_caller]
pub fn send_signal(pid: u32, signal: &str) {
    let status = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .stdin(Stdio::null())
        .status()
        .expect("kill(1) runs");
    assert!(status.success(), "kill -{signal} {pid} failed");
}

/// SIGKILL, ignoring a process that is already gone.
pub fn sigkill_quietly(pid: u32) {
    let _ = Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// Writes an executable script.
pub fn write_script(path: &Path, text: &str) -> PathBuf {
    // Written by another process, never opened for writing in this one: a test thread that
    // forks while this one holds the script open for writing lends its child that descriptor
    // until the child execs, and executing the script meanwhile fails with "Text file busy".
    let dir = path.parent().unwrap();
    std::fs::create_dir_all(dir).unwrap();
    let source = dir.join(format!(
        ".{}.text",
        path.file_name().unwrap().to_string_lossy()
    ));
    std::fs::write(&source, text).unwrap();
    let installed = std::process::Command::new("install")
        .arg("-m")
        .arg("755")
        .arg(&source)
        .arg(path)
        .status()
        .expect("install(1) from coreutils runs");
    assert!(installed.success(), "install {}", path.display());
    path.to_path_buf()
}

/// Kills, when dropped (and on `kill_all`), every process whose working directory is inside
/// the sandbox: the agents, their Bash tools and background processes all run in a worktree
/// there, and no other test or program uses that directory. So nothing a test started outlives
/// it, even when an assertion fails half-way, and nothing else is touched. Declare it before
/// anything that starts processes, so it is dropped after them.
pub struct Reaper {
    root: PathBuf,
}

impl Reaper {
    pub fn new(sandbox: &Sandbox) -> Reaper {
        Reaper {
            root: std::fs::canonicalize(sandbox.path()).unwrap(),
        }
    }

    pub fn processes(&self) -> Vec<u32> {
        let own = std::process::id();
        let mut found = Vec::new();
        for entry in std::fs::read_dir("/proc").unwrap().flatten() {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|n| n.parse::<u32>().ok())
            else {
                continue;
            };
            let Ok(cwd) = std::fs::read_link(format!("/proc/{pid}/cwd")) else {
                continue;
            };
            if pid != own && cwd.starts_with(&self.root) && !is_gone(pid) {
                found.push(pid);
            }
        }
        found
    }

    pub fn kill_all(&self) {
        for _ in 0..100 {
            let found = self.processes();
            if found.is_empty() {
                return;
            }
            for pid in found {
                sigkill_quietly(pid);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Reaper {
    fn drop(&mut self) {
        self.kill_all();
    }
}

/// Puts a `git` script first on PATH for porch: `body` is shell run before the real git, which
/// it can reach as "$real"; `$dir` holds the `-C` directory of the call.
pub fn fake_git(sandbox: &Sandbox, body: &str) -> std::ffi::OsString {
    let path = std::env::var_os("PATH").unwrap();
    let real_git = std::env::split_paths(&path)
        .map(|dir| dir.join("git"))
        .find(|p| p.is_file())
        .expect("git on PATH");
    let bin = sandbox.path().join("bin");
    write_script(
        &bin.join("git"),
        &format!(
            "#!/bin/sh\nreal='{}'\ndir=''; prev=''\nfor a in \"$@\"; do [ \"$prev\" = -C ] && dir=$a; prev=$a; done\n{body}\nexec \"$real\" \"$@\"\n",
            real_git.display()
        ),
    );
    std::env::join_paths(std::iter::once(bin).chain(std::env::split_paths(&path))).unwrap()
}

/// A `fake_git` body: the real git, but saying it is 2.30, which has no `merge-tree
/// --write-tree`.
pub const GIT_2_30: &str =
    "for arg; do [ \"$arg\" = --version ] && { echo 'git version 2.30.9'; exit 0; }; done";

/// The lines of a file that sessions append to (empty when nothing wrote it yet).
pub fn file_lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(String::from)
        .collect()
}
