//! A temporary git repository with a hermetic environment, and what porch left in it.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::Value;

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

    pub fn home(&self) -> PathBuf {
        self.path().join("home")
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

    /// Writes `tasks.json` from (name, prompt) pairs and returns its path.
    pub fn tasks(&self, tasks: &[(&str, &str)]) -> PathBuf {
        self.tasks_in("tasks.json", tasks)
    }

    /// Writes a tasks file named `file_name` from (name, prompt) pairs and returns its path.
    pub fn tasks_in(
        &self,
        file_name: &str,
        tasks: &[(impl AsRef<str>, impl AsRef<str>)],
    ) -> PathBuf {
        let list: Vec<Value> = tasks
            .iter()
            .map(|(name, prompt)| serde_json::json!({"name": name.as_ref(), "prompt": prompt.as_ref()}))
            .collect();
        let path = self.path().join(file_name);
        let text = serde_json::to_string_pretty(&serde_json::json!({ "tasks": list })).unwrap();
        std::fs::write(&path, text).unwrap();
        path
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

    /// The commit a revision names, according to git.
    pub fn rev(&self, revision: &str) -> String {
        self.git(&["rev-parse", "--verify", revision])
            .trim()
            .to_string()
    }

    /// `git show REV:PATH`: a file as a commit holds it.
    pub fn show(&self, revision: &str, path: &str) -> String {
        self.git(&["show", &format!("{revision}:{path}")])
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

    /// The hermetic environment (see `hermetic`) with this sandbox's HOME.
    pub fn env<'c>(&self, cmd: &'c mut Command) -> &'c mut Command {
        hermetic(cmd, &self.home())
    }

    /// The results file, which must exist and be valid JSON.
    pub fn results(&self) -> Value {
        let text = std::fs::read_to_string(self.results_path()).expect("the results file exists");
        serde_json::from_str(&text).expect("the results file is valid JSON")
    }

    /// The results file as it is now, or None while it is missing or (never, if porch writes it
    /// atomically) half-written.
    pub fn results_now(&self) -> Option<Value> {
        let text = std::fs::read_to_string(self.results_path()).ok()?;
        serde_json::from_str(&text).ok()
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

/// The environment every command in a test gets: no user or system git config, no git
/// identity, a private HOME, no colour, nothing that points git elsewhere, stdin from /dev/null.
pub fn hermetic<'c>(cmd: &'c mut Command, home: &Path) -> &'c mut Command {
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
        "PORCH_WORKTREE_DIR",
        "PORCH_JOBS",
        "PORCH_PORT_BASE",
        "NO_COLOR",
        "EMAIL",
    ] {
        cmd.env_remove(var);
    }
    cmd.env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("HOME", home)
        .env("LC_ALL", "C")
        .stdin(Stdio::null())
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

/// The status of the task with this name ("" if it has none).
pub fn status(results: &Value, name: &str) -> String {
    task(results, name)["status"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// Every task's status, in the results file's order.
pub fn statuses(results: &Value) -> Vec<String> {
    results["tasks"]
        .as_array()
        .expect("tasks is a list")
        .iter()
        .map(|t| t["status"].as_str().unwrap_or_default().to_string())
        .collect()
}

pub fn path_str(path: &Path) -> &str {
    path.to_str().expect("test paths are UTF-8")
}
