//! The one way tests build and run porch, and what a run printed, with assertions that show
//! the command, its directory, its status, stdout and stderr when they fail.

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Output, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::{Sandbox, fixture_agent, hermetic, send_signal};

pub const PORCH: &str = env!("CARGO_BIN_EXE_porch");
/// How long a porch run in the background may take before the test calls it hung.
pub const RUN_DEADLINE: Duration = Duration::from_secs(180);

impl Sandbox {
    /// `porch ARGS` with the hermetic environment, in the sandbox directory.
    pub fn porch(&self, args: &[&str]) -> Porch {
        Porch {
            args: args.iter().map(OsString::from).collect(),
            worktree_dir: None,
            output: None,
            env: Vec::new(),
            home: self.home(),
            cwd: self.path().to_path_buf(),
            scratch: self.path().to_path_buf(),
            stdin: None,
            umask: None,
        }
    }

    /// `porch run ARGS` with the fixture agent (`PORCH_CLAUDE`), and the sandbox's worktree
    /// directory and results file given after ARGS, so a test can still give its own first to
    /// provoke an error.
    pub fn porch_run(&self, args: &[&str]) -> Porch {
        let mut porch = self.porch(&["run"]);
        porch
            .args(args)
            .agent(fixture_agent())
            .worktree_dir(self.worktree_dir())
            .output(self.results_path());
        porch
    }

    /// `porch run TASKS REPO` on this sandbox's repository, as `porch_run` gives it.
    pub fn porch_run_tasks(&self, tasks: &Path) -> Porch {
        let mut porch = self.porch_run(&[]);
        porch.arg(tasks).arg(self.repo());
        porch
    }

    /// `porch run` on a tasks file `{"tasks": TASKS}`, with `extra` options, run to its end.
    pub fn run_tasks_json(&self, tasks: &serde_json::Value, extra: &[&str]) -> Run {
        let file = self.tasks_json(&serde_json::json!({ "tasks": tasks }));
        self.porch_run_tasks(&file).args(extra).run()
    }
}

/// A porch command being built: see `Sandbox::porch` and `Sandbox::porch_run`. `run` runs it to
/// its end with pipes for stdout and stderr; `spawn` starts it in the background.
pub struct Porch {
    args: Vec<OsString>,
    worktree_dir: Option<PathBuf>,
    output: Option<PathBuf>,
    /// What the test changed in the environment, applied over the hermetic one.
    env: Vec<(OsString, Option<OsString>)>,
    home: PathBuf,
    cwd: PathBuf,
    /// Where `spawn` puts the files that take porch's stdout and stderr.
    scratch: PathBuf,
    stdin: Option<Vec<u8>>,
    /// Set by a shell that then becomes porch (`exec`): the test's own umask is whatever the
    /// machine gave it.
    umask: Option<u32>,
}

impl Porch {
    pub fn arg(&mut self, arg: impl AsRef<OsStr>) -> &mut Porch {
        self.args.push(arg.as_ref().to_os_string());
        self
    }

    pub fn args<I, S>(&mut self, args: I) -> &mut Porch
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        for arg in args {
            self.arg(arg);
        }
        self
    }

    pub fn env(&mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> &mut Porch {
        let value = Some(value.as_ref().to_os_string());
        self.env.push((key.as_ref().to_os_string(), value));
        self
    }

    pub fn env_remove(&mut self, key: impl AsRef<OsStr>) -> &mut Porch {
        self.env.push((key.as_ref().to_os_string(), None));
        self
    }

    /// The agent porch starts, through `PORCH_CLAUDE`.
    pub fn agent(&mut self, program: impl AsRef<OsStr>) -> &mut Porch {
        self.env("PORCH_CLAUDE", program)
    }

    /// Has the fixture agent record each run's argv and prompt in `dir` (see `recorded_argv`).
    pub fn record_agent_runs(&mut self, dir: &Path) -> &mut Porch {
        self.env("FAKE_CLAUDE_ARGS_DIR", dir)
    }

    /// `--worktree-dir DIR`, after the other arguments.
    pub fn worktree_dir(&mut self, dir: impl Into<PathBuf>) -> &mut Porch {
        self.worktree_dir = Some(dir.into());
        self
    }

    /// `--output FILE`, after the other arguments.
    pub fn output(&mut self, file: impl Into<PathBuf>) -> &mut Porch {
        self.output = Some(file.into());
        self
    }

    /// No `--worktree-dir`: the test gives its own among the arguments, or none.
    pub fn without_worktree_dir(&mut self) -> &mut Porch {
        self.worktree_dir = None;
        self
    }

    /// No `--output`: the test gives its own among the arguments, or none.
    pub fn without_output(&mut self) -> &mut Porch {
        self.output = None;
        self
    }

    pub fn current_dir(&mut self, dir: impl Into<PathBuf>) -> &mut Porch {
        self.cwd = dir.into();
        self
    }

    /// Writes `input` to porch's stdin (from a thread, so a large input cannot block), instead
    /// of /dev/null.
    pub fn stdin(&mut self, input: impl Into<Vec<u8>>) -> &mut Porch {
        self.stdin = Some(input.into());
        self
    }

    /// Runs porch with this umask.
    pub fn umask(&mut self, mask: u32) -> &mut Porch {
        self.umask = Some(mask);
        self
    }

    /// The arguments in order, `--worktree-dir` and `--output` last.
    fn all_args(&self) -> Vec<OsString> {
        let mut all = self.args.clone();
        if let Some(dir) = &self.worktree_dir {
            all.extend([OsString::from("--worktree-dir"), dir.into()]);
        }
        if let Some(file) = &self.output {
            all.extend([OsString::from("--output"), file.into()]);
        }
        all
    }

    pub fn command(&self) -> Command {
        let mut cmd = match self.umask {
            Some(mask) => {
                let mut shell = Command::new("sh");
                let script = format!("umask {mask:03o} && exec \"$0\" \"$@\"");
                shell.args(["-c", &script, PORCH]);
                shell
            }
            None => Command::new(PORCH),
        };
        hermetic(&mut cmd, &self.home);
        cmd.current_dir(&self.cwd).args(self.all_args());
        for (key, value) in &self.env {
            match value {
                Some(value) => cmd.env(key, value),
                None => cmd.env_remove(key),
            };
        }
        if self.stdin.is_some() {
            cmd.stdin(Stdio::piped());
        }
        cmd
    }

    /// The command as a person would retype it: what the test set in the environment, then
    /// porch and its arguments (the hermetic environment is the same for every test).
    pub fn description(&self) -> String {
        let mut words: Vec<String> = self
            .env
            .iter()
            .map(|(key, value)| match value {
                Some(value) => format!("{}={value:?}", key.to_string_lossy()),
                None => format!("-u {}", key.to_string_lossy()),
            })
            .collect();
        if let Some(mask) = self.umask {
            words.insert(0, format!("umask {mask:03o} &&"));
        }
        words.push("porch".to_string());
        words.extend(self.all_args().iter().map(|arg| format!("{arg:?}")));
        words.join(" ")
    }

    /// Starts porch, with a thread writing its stdin if the test gave some.
    fn start(&self, stdout: Stdio, stderr: Stdio) -> (Child, Option<JoinHandle<()>>) {
        let mut child = self
            .command()
            .stdout(stdout)
            .stderr(stderr)
            .spawn()
            .expect("porch starts");
        let writer = self.stdin.clone().map(|input| {
            let mut stdin = child.stdin.take().expect("stdin is piped");
            // porch may exit before reading it all (a refused file): that is not the test's error.
            std::thread::spawn(move || {
                let _ = stdin.write_all(&input);
            })
        });
        (child, writer)
    }

    /// Runs porch to its end, stdout and stderr through pipes.
    pub fn run(&self) -> Run {
        let (child, writer) = self.start(Stdio::piped(), Stdio::piped());
        let output = child.wait_with_output().expect("porch can be waited for");
        if let Some(writer) = writer {
            writer.join().unwrap();
        }
        Run {
            output,
            description: self.description(),
            cwd: self.cwd.clone(),
        }
    }

    /// Starts porch in the background, its stdout and stderr going to files named after
    /// `label` in the sandbox (no pipe can fill up and block it).
    pub fn spawn(&self, label: &str) -> Spawned {
        let stdout = self.scratch.join(format!("porch-{label}.stdout"));
        let (child, stderr) = self.spawn_with_stdout(label, File::create(&stdout).unwrap().into());
        Spawned::new(self, child, Some(stdout), stderr)
    }

    /// Starts porch in the background with its stdout a pipe the test reads (and may close);
    /// stderr goes to a file as with `spawn`.
    pub fn spawn_piping_stdout(&self, label: &str) -> (Spawned, ChildStdout) {
        let (mut child, stderr) = self.spawn_with_stdout(label, Stdio::piped());
        let stdout = child.stdout.take().expect("stdout is piped");
        (Spawned::new(self, child, None, stderr), stdout)
    }

    fn spawn_with_stdout(&self, label: &str, stdout: Stdio) -> (Child, PathBuf) {
        let stderr = self.scratch.join(format!("porch-{label}.stderr"));
        let (child, _writer) = self.start(stdout, File::create(&stderr).unwrap().into());
        (child, stderr)
    }
}

/// What a porch run printed and how it ended.
pub struct Run {
    pub output: Output,
    pub description: String,
    pub cwd: PathBuf,
}

impl Run {
    pub fn code(&self) -> Option<i32> {
        self.output.status.code()
    }

    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.output.stdout).into_owned()
    }

    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.output.stderr).into_owned()
    }

    #[track_caller]
    pub fn expect_code(&self, code: i32) -> &Run {
        assert_eq!(self.code(), Some(code), "exit code\n{self}");
        self
    }

    #[track_caller]
    pub fn expect_stderr(&self, needle: &str) -> &Run {
        assert!(
            self.stderr().contains(needle),
            "stderr lacks {needle:?}\n{self}"
        );
        self
    }

    #[track_caller]
    pub fn expect_stdout(&self, needle: &str) -> &Run {
        assert!(
            self.stdout().contains(needle),
            "stdout lacks {needle:?}\n{self}"
        );
        self
    }

    /// porch did not panic: a panic message on stderr, or the exit code 101 a panic gives.
    #[track_caller]
    pub fn expect_no_panic(&self) -> &Run {
        assert!(
            !self.stderr().contains("panicked") && self.code() != Some(101),
            "porch panicked\n{self}"
        );
        self
    }
}

impl std::fmt::Display for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "command: {}\ncwd: {}\nstatus: {}\n--- stdout\n{}\n--- stderr\n{}",
            self.description,
            self.cwd.display(),
            self.output.status,
            self.stdout(),
            self.stderr()
        )
    }
}

/// A porch process started in the background (`Porch::spawn`). Dropped while still running (a
/// failed test), it is killed; the test's `Reaper`, declared before it and so dropped after it,
/// ends what its sessions started.
pub struct Spawned {
    child: Child,
    /// None when the test reads stdout through a pipe.
    stdout: Option<PathBuf>,
    stderr: PathBuf,
    description: String,
    cwd: PathBuf,
    waited: bool,
}

impl Spawned {
    fn new(porch: &Porch, child: Child, stdout: Option<PathBuf>, stderr: PathBuf) -> Spawned {
        Spawned {
            child,
            stdout,
            stderr,
            description: porch.description(),
            cwd: porch.cwd.clone(),
            waited: false,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// What porch has printed on stdout so far ("" when the test reads stdout itself).
    pub fn stdout_text(&self) -> String {
        let bytes = self
            .stdout
            .as_ref()
            .and_then(|path| std::fs::read(path).ok());
        String::from_utf8_lossy(&bytes.unwrap_or_default()).into_owned()
    }

    /// What porch has printed on stderr so far.
    pub fn stderr_text(&self) -> String {
        String::from_utf8_lossy(&std::fs::read(&self.stderr).unwrap_or_default()).into_owned()
    }

    pub fn signal(&self, signal: &str) {
        send_signal(self.pid(), signal);
    }

    /// Waits for porch to exit (panicking if it has not after `deadline`) and returns what it
    /// printed, as `Porch::run` would have.
    #[track_caller]
    pub fn wait_within(&mut self, deadline: Duration) -> Run {
        let start = Instant::now();
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            if start.elapsed() >= deadline {
                panic!(
                    "porch has not exited after {deadline:?}\ncommand: {}\ncwd: {}\n--- stdout\n{}\n--- stderr\n{}",
                    self.description,
                    self.cwd.display(),
                    self.stdout_text(),
                    self.stderr_text()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        self.waited = true;
        let read = |path: &PathBuf| std::fs::read(path).unwrap_or_default();
        Run {
            output: Output {
                status,
                stdout: self.stdout.as_ref().map(read).unwrap_or_default(),
                stderr: read(&self.stderr),
            },
            description: self.description.clone(),
            cwd: self.cwd.clone(),
        }
    }

    #[track_caller]
    pub fn wait(&mut self) -> Run {
        self.wait_within(RUN_DEADLINE)
    }
}

impl Drop for Spawned {
    fn drop(&mut self) {
        if !self.waited {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
