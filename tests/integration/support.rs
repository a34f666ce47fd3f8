//! Shared test helpers: hermetic git repositories, a porch command builder, and assertions that
//! say what ran when they fail.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;

pub const PORCH: &str = env!("CARGO_BIN_EXE_porch");

pub fn fixture_agent() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join("claude")
}

/// A temporary directory holding a git repository (`repo/`), a worktree directory (`wt/`) and
/// a hermetic HOME, removed when dropped.
pub struct Sandbox {
    pub dir: tempfile::TempDir,
}

impl Sandbox {
    /// A repository with one commit on branch `main`.
    pub fn new() -> Sandbox {
        Sandbox::with_branch("main")
    }

    pub fn with_branch(branch: &str) -> Sandbox {
        let sandbox = Sandbox::empty();
        std::fs::create_dir_all(sandbox.repo()).unwrap();
        sandbox.git(&["init", "-q", "-b", branch]);
        std::fs::write(sandbox.repo().join("README.md"), "# test repo\n").unwrap();
        std::fs::write(sandbox.repo().join(".gitignore"), "ignored/\n*.log\n").unwrap();
        sandbox.git(&["add", "."]);
        sandbox.commit("initial");
        sandbox
    }

    /// Commits what is staged in the repository, as a test identity (the environment has none).
    pub fn commit(&self, message: &str) {
        self.git(&[
            "-c",
            "user.name=Test",
            "-c",
            "user.email=test@example.com",
            "commit",
            "-q",
            "-m",
            message,
        ]);
    }

    /// No repository yet, only the directories.
    pub fn empty() -> Sandbox {
        let dir = tempfile::Builder::new()
            .prefix("porch-test-")
            .tempdir()
            .unwrap();
        std::fs::create_dir_all(dir.path().join("home")).unwrap();
        Sandbox { dir }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn repo(&self) -> PathBuf {
        self.path().join("repo")
    }

    pub fn worktree_dir(&self) -> PathBuf {
        self.path().join("wt")
    }

    pub fn worktree(&self, task: &str) -> PathBuf {
        self.worktree_dir().join("repo").join(task)
    }

    pub fn results_path(&self) -> PathBuf {
        self.path().join("results.json")
    }

    /// Writes a tasks file from (name, prompt) pairs and returns its path.
    pub fn tasks(&self, tasks: &[(&str, &str)]) -> PathBuf {
        let list: Vec<Value> = tasks
            .iter()
            .map(|(name, prompt)| serde_json::json!({"name": name, "prompt": prompt}))
            .collect();
        self.tasks_json(&serde_json::json!({ "tasks": list }))
    }

    pub fn tasks_json(&self, value: &Value) -> PathBuf {
        self.tasks_text(&serde_json::to_string_pretty(value).unwrap())
    }

    pub fn tasks_text(&self, text: &str) -> PathBuf {
        let path = self.path().join("tasks.json");
        std::fs::write(&path, text).unwrap();
        path
    }

    /// Runs git in the repository with the hermetic environment; panics on failure.
    pub fn git(&self, args: &[&str]) -> String {
        self.git_in(&self.repo(), args)
    }

    pub fn git_in(&self, dir: &Path, args: &[&str]) -> String {
        let out = self
            .env(Command::new("git").arg("-C").arg(dir).args(args))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "git {args:?} in {} failed: {}",
            dir.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// git's own view of the repository's branches (short names).
    pub fn branches(&self) -> Vec<String> {
        self.git(&["for-each-ref", "--format=%(refname:short)", "refs/heads/"])
            .lines()
            .map(String::from)
            .collect()
    }

    /// git's own view of the registered worktrees (paths).
    pub fn worktrees(&self) -> Vec<String> {
        self.git(&["worktree", "list", "--porcelain"])
            .lines()
            .filter_map(|l| l.strip_prefix("worktree "))
            .map(String::from)
            .collect()
    }

    /// The environment every command in a test gets: no user or system git config, no git
    /// identity, a private HOME, no colour, and nothing that points git elsewhere.
    pub fn env<'c>(&self, cmd: &'c mut Command) -> &'c mut Command {
        for var in [
            "GIT_DIR",
            "GIT_WORK_TREE",
            "GIT_INDEX_FILE",
            "GIT_COMMON_DIR",
            "GIT_AUTHOR_NAME",
            "GIT_AUTHOR_EMAIL",
            "GIT_COMMITTER_NAME",
            "GIT_COMMITTER_EMAIL",
            "CLAUDECODE",
            "CLAUDE_CODE_ENTRYPOINT",
            "PORCH_CLAUDE",
            "NO_COLOR",
            "EMAIL",
        ] {
            cmd.env_remove(var);
        }
        cmd.env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("HOME", self.path().join("home"))
            .env("LC_ALL", "C")
            .stdin(Stdio::null())
    }

    /// `porch ARGS` with the fixture agent, the sandbox's worktree directory and results path
    /// already given (after ARGS, so a test can still give its own to provoke an error).
    pub fn porch_run(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(PORCH);
        self.env(&mut cmd);
        cmd.current_dir(self.path())
            .arg("run")
            .args(args)
            .arg("--worktree-dir")
            .arg(self.worktree_dir())
            .arg("--output")
            .arg(self.results_path())
            .env("PORCH_CLAUDE", fixture_agent());
        cmd
    }

    /// `porch ARGS` with only the hermetic environment.
    pub fn porch(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(PORCH);
        self.env(&mut cmd);
        cmd.current_dir(self.path()).args(args);
        cmd
    }

    pub fn results(&self) -> Value {
        let text = std::fs::read_to_string(self.results_path()).expect("the results file exists");
        serde_json::from_str(&text).expect("the results file is valid JSON")
    }

    /// Everything under the sandbox except the repository's own files, HOME and the tasks
    /// file: to check that a refused run created nothing.
    pub fn created_outside_repo(&self) -> Vec<String> {
        let mut found = Vec::new();
        for entry in std::fs::read_dir(self.path()).unwrap().flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if !["repo", "home", "tasks.json"].contains(&name.as_str()) {
                found.push(name);
            }
        }
        found
    }
}

/// The `run`th invocation (from 1) of the fixture agent in the worktree named `worktree`, as it
/// recorded it under FAKE_CLAUDE_ARGS_DIR=`dir`: its exact argv, in order.
pub fn recorded_argv(dir: &Path, worktree: &str, run: u32) -> Vec<String> {
    let path = dir.join(format!("{worktree}.{run}.argv"));
    let bytes = std::fs::read(&path)
        .unwrap_or_else(|err| panic!("the fixture recorded no {}: {err}", path.display()));
    let text = String::from_utf8(bytes).expect("test arguments are UTF-8");
    if text.is_empty() {
        return Vec::new();
    }
    let args = text
        .strip_suffix('\0')
        .unwrap_or_else(|| panic!("{} is not NUL-terminated: {text:?}", path.display()));
    args.split('\0').map(String::from).collect()
}

/// The prompt the `run`th invocation of the fixture agent in `worktree` read on stdin.
pub fn recorded_prompt(dir: &Path, worktree: &str, run: u32) -> Vec<u8> {
    let path = dir.join(format!("{worktree}.{run}.prompt"));
    std::fs::read(&path)
        .unwrap_or_else(|err| panic!("the fixture recorded no {}: {err}", path.display()))
}

/// The command line porch gives claude: `claude` and these, in this order.
pub fn expected_claude_argv(permission_mode: &str, allowed_tools: &[&str]) -> Vec<String> {
    let mut argv: Vec<String> = [
        "-p",
        "--output-format",
        "stream-json",
        "--verbose",
        "--permission-mode",
        permission_mode,
    ]
    .map(String::from)
    .to_vec();
    if !allowed_tools.is_empty() {
        argv.push("--allowedTools".to_string());
        argv.extend(allowed_tools.iter().map(|t| t.to_string()));
    }
    argv
}

/// The task in a results file with this name.
pub fn task<'a>(results: &'a Value, name: &str) -> &'a Value {
    results["tasks"]
        .as_array()
        .expect("tasks is a list")
        .iter()
        .find(|t| t["name"] == name)
        .unwrap_or_else(|| panic!("no task {name} in {results:#}"))
}

pub struct Run {
    pub output: Output,
    pub description: String,
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
        assert_eq!(self.code(), Some(code), "{}", self);
        self
    }

    #[track_caller]
    pub fn expect_stderr(&self, needle: &str) -> &Run {
        assert!(
            self.stderr().contains(needle),
            "stderr lacks {needle:?}\n{}",
            self
        );
        self
    }

    #[track_caller]
    pub fn expect_stdout(&self, needle: &str) -> &Run {
        assert!(
            self.stdout().contains(needle),
            "stdout lacks {needle:?}\n{}",
            self
        );
        self
    }
}

impl std::fmt::Display for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "command: {}\nstatus: {}\n--- stdout\n{}\n--- stderr\n{}",
            self.description,
            self.output.status,
            self.stdout(),
            self.stderr()
        )
    }
}

pub fn run(cmd: &mut Command) -> Run {
    let description = format!("{cmd:?}");
    let output = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .expect("porch starts");
    Run {
        output,
        description,
    }
}

/// Runs with `input` on stdin.
pub fn run_with_stdin(cmd: &mut Command, input: &[u8]) -> Run {
    use std::io::Write;
    let description = format!("{cmd:?}");
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("porch starts");
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let output = child.wait_with_output().unwrap();
    writer.join().unwrap();
    Run {
        output,
        description,
    }
}
