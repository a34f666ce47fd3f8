//! What `preflight` decided and the task flow carries out: the run's `Plan`, each task's
//! `TaskPlan`, and the `Task` as its file describes it. Data only, so the layers below planning
//! read it without importing the planner.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::git::Registration;
use crate::git::Repo;
use crate::process::task_env::Redactor;
use crate::results::Attempt;
use crate::results::Shard;
use crate::results::TaskResult;
use crate::state::StateDir;
use crate::state::lock::RunLock;

/// A task as the tasks file describes it, its defaults applied. `preflight/taskfile.rs` reads
/// and checks it, but it lives here: each `TaskPlan` carries one into the task flow (layer 5),
/// which may not import from the planner above it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Task {
    pub name: String,
    /// The prompt's text, from `prompt` or read from `prompt_file`.
    pub prompt: String,
    pub description: Option<String>,
    pub allowed_tools: Vec<String>,
    pub base_branch: Option<String>,
    pub timeout: Option<Duration>,
    pub model: Option<String>,
    pub max_turns: Option<u64>,
    pub max_budget_usd: Option<f64>,
    pub append_system_prompt: Option<String>,
    /// Overrides `--permission-mode` for this task.
    pub permission_mode: Option<String>,
    pub disallowed_tools: Vec<String>,
    /// Extra claude arguments, after porch's own.
    pub args: Vec<String>,
    /// Extra environment variables for setup, session and check, in the file's order. The
    /// values may be secrets: they never go to the results, the logs or the terminal.
    pub env: Vec<(String, String)>,
    /// Paths relative to the repository's root, copied from the main checkout.
    pub copy: Vec<PathBuf>,
    /// A command and its arguments, run in the worktree before the session.
    pub setup: Option<Vec<String>>,
    /// A command and its arguments, run in the worktree after a successful session and its
    /// commit: whether the branch works.
    pub check: Option<Vec<String>>,
    /// How many rivals of the task to run (`repeat`); none or 1: the task runs once.
    pub repeat: Option<u32>,
    /// For a rival of a repeated task (`NAME-k`): the task's name as written, `NAME`. Set
    /// when the run's tasks are expanded, never read from the file.
    pub group: Option<String>,
    /// Names of tasks of the file that must succeed before this one starts; it starts from
    /// their branches.
    pub depends_on: Vec<String>,
    /// `review`: a reviewer session after the check passed; none without.
    pub review: Option<Review>,
}

/// A task's `review`: `true`, or the object that says how.
#[derive(Debug, Clone, PartialEq)]
pub struct Review {
    /// What the reviewer is told besides the task, the diff and the check, verbatim.
    pub prompt: Option<String>,
    /// claude's `--model` for the reviewer [default: the task's model].
    pub model: Option<String>,
    /// Whether `request_changes` fails the task [default: true]; false: recorded and shown.
    pub required: bool,
}

impl Review {
    /// The reviewer's model: its own, else the task's.
    pub fn model_for(&self, task: &Task) -> Option<String> {
        self.model.clone().or_else(|| task.model.clone())
    }
}

/// `--max-fail N` (`--fail-fast`: 1): once this many tasks have failed, nothing new starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MaxFail {
    pub tasks: usize,
    /// Given as `--fail-fast`, and named so in what porch says.
    pub fail_fast: bool,
}

impl MaxFail {
    /// The flag as the user gave it: `--fail-fast`, or `--max-fail 3`.
    pub fn flag(&self) -> String {
        match self.fail_fast {
            true => "--fail-fast".to_string(),
            false => format!("--max-fail {}", self.tasks),
        }
    }
}

/// The settings of a run that `porch run` and `porch resume` take alike: `cli` reads them into
/// `RunArgs`, and the `Plan` carries them on as given, but for the paths and the remote
/// preflight resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct RunSettings {
    /// `--worktree-dir` as given. In a `Plan`, resolved, and none for the default: the commands
    /// porch prints for after the run give it, so that they find the run.
    pub worktree_dir: Option<PathBuf>,
    pub permission_mode: String,
    pub cleanup: bool,
    /// `-o FILE`: the results written there as well (in a `Plan`, made absolute).
    pub output: Option<PathBuf>,
    /// `--junit`: the JUnit XML report written at the end.
    pub junit: Option<PathBuf>,
    /// `--report`: the run's HTML report written at the end.
    pub report: Option<PathBuf>,
    pub stagger: Option<Duration>,
    pub idle_timeout: Option<Duration>,
    pub keep_leftovers: bool,
    /// How many times a session that failed with a transient API error is started again.
    pub retries: u32,
    /// The pause before the first retry; it doubles for each further one.
    pub retry_backoff: Duration,
    /// `--max-cost-usd`: what the run's sessions may spend together, in dollars.
    pub max_cost_usd: Option<f64>,
    /// `--max-fail N`, `--fail-fast`: how many failed tasks stop the run's starts.
    pub max_fail: Option<MaxFail>,
    /// `--max-wait`: the longest the run waits for a usage window to reset.
    pub max_wait: Duration,
    /// `--push REMOTE`: each task's branch is pushed there once its work is committed (in a
    /// `Plan`, resolved: a path is absolute).
    pub push: Option<String>,
}

/// A validated run: every path decided, every base resolved to a commit.
#[derive(Debug)]
pub struct Plan {
    pub repo: Repo,
    pub agent: PathBuf,
    /// The run's settings, with the paths and the remote resolved.
    pub settings: RunSettings,
    /// `WORKTREE_DIR/<repo name>/.porch`: logs, and every run's results file, named by its id
    /// (concurrent runs never overwrite each other's), the latest linked.
    pub state: StateDir,
    /// This run's id: its results file's name without `.json` (also with `-o`).
    pub run_id: String,
    pub tasks: Vec<TaskPlan>,
    /// How many sessions may run at once.
    pub jobs: usize,
    /// Said to the user when porch chose a lower `jobs` than the number of tasks.
    pub jobs_note: Option<String>,
    /// `-c user.name=… -c user.email=…` for what the repository does not configure.
    pub identity: Vec<String>,
    /// Who registers the tasks' worktrees: porch itself where the repository's layout allows.
    pub registration: Registration,
    /// The tasks file as read, kept beside the results so `porch resume` runs the same tasks.
    pub source: TasksSource,
    /// `porch resume`: the run whose unfinished tasks this one runs again.
    pub resumed_from: Option<String>,
    /// `porch resume`: that run's lock, taken before it was read and held to the end, so
    /// nothing else resumes, cleans or merges it meanwhile.
    pub resumed_lock: Option<RunLock>,
    /// Every task name of the tasks file in its order, before any selection.
    pub tasks_file_order: Vec<String>,
    /// `--shard K/N`: the slice of the tasks file this run runs.
    pub shard: Option<Shard>,
    /// `--pr`: pull requests for the succeeded tasks at the end.
    pub pull_requests: Option<PullRequests>,
    /// `--on-finish`, `--on-task-finish` (or the tasks file's).
    pub hooks: Hooks,
    /// The tasks file's `merge_check`, which the summary's `porch merge` runs.
    pub merge_check: Option<Vec<String>>,
    /// The run's settings as `preflight/recorded.rs` records them (JSON), stored with the run
    /// for `porch resume`.
    pub recorded_settings: String,
}

/// How pull requests are made (`porch pr`, `porch run --pr`).
#[derive(Debug, Clone, PartialEq)]
pub struct PullRequests {
    /// As given (`origin` unless told); resolved like `--push`'s.
    pub remote: String,
    pub draft: bool,
    /// The base of a task without dependencies [default: the task's own base branch].
    pub base: Option<String>,
}

/// The remote pull requests are pushed to when `--remote` is not given.
pub const DEFAULT_REMOTE: &str = "origin";

/// Commands run when the run, or a task, has ended: a command and its arguments, no shell
/// (`--on-finish CMD` is `sh -c CMD`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Hooks {
    pub on_finish: Option<Vec<String>>,
    pub on_task_finish: Option<Vec<String>>,
}

impl Plan {
    /// The results file the user reads: `-o FILE`, else the state directory's.
    pub fn results_file(&self) -> PathBuf {
        (self.settings.output.clone()).unwrap_or_else(|| self.state.results_file(&self.run_id))
    }
}

/// The tasks file as porch read it: its name for messages (a path, or `<stdin>`) and its bytes.
#[derive(Debug, Clone)]
pub struct TasksSource {
    pub name: String,
    pub bytes: Vec<u8>,
}

/// A task `porch resume` runs again: its branch exists from the earlier run, its worktree may.
#[derive(Debug, Clone)]
pub struct Resume {
    /// The earlier session, continued with `claude --resume`; none: a fresh session.
    pub session_id: Option<String>,
    /// The branch's commit when the resume starts: where a retry starts again from.
    pub start_commit: String,
    /// The attempts earlier runs made, each marked with its run: the task's result keeps them
    /// before its own, which are numbered after them (a retry's saved attempt too).
    pub earlier_attempts: Vec<Attempt>,
    /// What earlier runs spent on the task: part of its cost, not of this run's budget.
    pub earlier_cost_usd: Option<f64>,
    /// The task's prompt as the tasks file gives it: the session is sent a continuation, the
    /// reviewer is shown the task.
    pub task_prompt: String,
    /// The earlier result of a task interrupted during its review (its session succeeded, its
    /// work committed and checked): only the review runs again, on that result.
    pub review_only: Option<Box<TaskResult>>,
}

#[derive(Debug)]
pub struct TaskPlan {
    pub task: Task,
    pub branch: String,
    /// The base as the user named it (or the branch checked out in REPO); for a task with
    /// `depends_on`, its dependencies' branches (`task/a + task/b`).
    pub base_branch: String,
    /// The commit the branch starts from, fixed before any task starts; empty for a task with
    /// `depends_on`, whose base is made when its dependencies have succeeded.
    pub base_commit: String,
    /// The tasks of this plan it depends on (`depends_on`), as indices, in the order listed.
    pub depends_on: Vec<usize>,
    pub worktree: PathBuf,
    pub log: PathBuf,
    /// The task's own `timeout`, else `--timeout`.
    pub timeout: Option<Duration>,
    /// The branch without a leading `task/`: where the worktree, the log and saved attempts go
    /// below porch's directories.
    pub slot: String,
    /// claude's arguments (`agent::arguments`), the task's settings over the run's.
    pub claude_args: Vec<String>,
    /// The environment of the task's setup and session: `PORCH_*` and its `env`.
    pub env: Vec<(String, String)>,
    /// Hides the task's `env` values in what its setup and session print.
    pub redactor: Arc<Redactor>,
    /// `porch resume`: the task is run again in its existing branch and worktree.
    pub resume: Option<Resume>,
    /// `porch resume`: the task is not run again; its result from the earlier run, as it was.
    pub carried: Option<TaskResult>,
}
