//! Every command's options as the user gave them, before anything is checked: what `cli`
//! parses into, and the commands and `preflight` start from. Data only, and the bounds it holds.

use std::ffi::OsStr;
use std::ffi::OsString;
use std::ops::RangeInclusive;
use std::path::PathBuf;
use std::time::Duration;

pub use crate::output::mode::ColorChoice;
pub use crate::output::mode::OutputMode;
use crate::preflight::branch_template::Template;
use crate::results::Shard;
use crate::state::runs::RunChoice;
use crate::task::budget;
use crate::task::plan::RunSettings;

/// A value and what gave it (`--claude`, `PORCH_CLAUDE`), for the messages that name it.
#[derive(Debug, Clone, PartialEq)]
pub struct Sourced<T> {
    pub value: T,
    pub from: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RunArgs {
    /// A path, or `-` for standard input.
    pub tasks: String,
    pub repo: PathBuf,
    /// The settings the `Plan` carries on.
    pub settings: RunSettings,
    /// `--claude`, else `PORCH_CLAUDE`; `claude` on PATH is looked at later, not here.
    pub claude: Option<Sourced<OsString>>,
    pub color: ColorChoice,
    /// `--quiet`, `--json`, `--events`.
    pub output_mode: OutputMode,
    /// `-j`: at most this many sessions at once. `None`: all, capped by available memory.
    pub jobs: Option<usize>,
    /// How `-j` was given, as a hint shows it (`-j 4`, `PORCH_JOBS=4`): said by `--dry-run`.
    pub jobs_given: Option<String>,
    pub timeout: Option<Duration>,
    /// `--branch-template`, over the tasks file's `branch_template`.
    pub branch_template: Option<Template>,
    /// `--port-base`: task N's ports start at this + 10 × N.
    pub port_base: u16,
    /// `--only`: the tasks of the file to run; empty: all.
    pub only: Vec<String>,
    /// `--skip`: the tasks of the file not to run.
    pub skip: Vec<String>,
    /// `--shard K/N`: only the K-th of N slices of the tasks file.
    pub shard: Option<Shard>,
    /// `--dry-run`: the plan printed, nothing created (`porch run` only).
    pub dry_run: bool,
    /// `--pr`: pull requests for the succeeded tasks at the end.
    pub pr: bool,
    /// `--remote NAME`: where `--pr` pushes [default: origin].
    pub remote: Option<String>,
    /// `--on-finish CMD`: run with `sh -c` once the run has ended.
    pub on_finish: Option<String>,
    /// `--on-task-finish CMD`: run with `sh -c` as each task ends.
    pub on_task_finish: Option<String>,
    /// `porch resume --no-on-finish`: no `on_finish` hook, neither the run's recorded one nor
    /// its tasks file's.
    pub no_on_finish: bool,
    /// `porch resume --no-on-task-finish`: no `on_task_finish` hook either way.
    pub no_on_task_finish: bool,
}

impl RunArgs {
    /// The agent executable given, and by what, as `agent::resolve_program` takes them.
    pub fn agent_given(&self) -> Option<(&OsStr, &str)> {
        self.claude
            .as_ref()
            .map(|c| (c.value.as_os_str(), c.from.as_str()))
    }
}

#[derive(Debug, PartialEq)]
pub struct StatusArgs {
    pub choice: RunChoice,
    pub json: bool,
}

/// `porch report`: which run, and where its page goes (stdout without `-o`).
#[derive(Debug, PartialEq)]
pub struct ReportArgs {
    pub choice: RunChoice,
    pub output: Option<PathBuf>,
}

#[derive(Debug, PartialEq)]
pub struct LogsArgs {
    pub choice: RunChoice,
    pub task: String,
    pub raw: bool,
    pub follow: bool,
}

#[derive(Debug, PartialEq)]
pub struct MergeArgs {
    pub choice: RunChoice,
    /// An existing branch to merge into, instead of a new `porch/merge/<run id>`.
    pub into: Option<String>,
    /// Only these tasks (or repeat groups); all succeeded ones when empty.
    pub tasks: Vec<String>,
    /// `--check CMD`: run with `sh -c` after each merge; overrides the tasks file's
    /// `merge_check`.
    pub check: Option<String>,
    /// `--resolve`: a claude session resolves a branch's conflicts.
    pub resolve: bool,
    /// `--json`: what happened, as JSON on stdout.
    pub json: bool,
    /// `--timeout`: the longest a check, or a resolver's session, may run.
    pub timeout: Option<Duration>,
    /// `--max-cost-usd`: what the resolver sessions may spend together.
    pub max_cost_usd: Option<f64>,
    /// `--claude`: the resolver's executable.
    pub claude: Option<Sourced<OsString>>,
    /// `--permission-mode`: the resolver's.
    pub permission_mode: Option<String>,
}

#[derive(Debug, PartialEq)]
pub struct PrArgs {
    pub choice: RunChoice,
    /// `--remote NAME` [default: origin].
    pub remote: Option<String>,
    /// `--ready` not given.
    pub draft: bool,
    /// `--base BRANCH`: the base of a task without dependencies.
    pub base: Option<String>,
    /// Only these tasks (or repeat groups); all succeeded ones when empty.
    pub tasks: Vec<String>,
}

#[derive(Debug, PartialEq)]
pub struct CleanArgs {
    pub choice: RunChoice,
    pub all: bool,
    pub branches: bool,
    pub dry_run: bool,
    pub force: bool,
    pub keep_runs: usize,
}

#[derive(Debug, PartialEq)]
pub struct ResumeArgs {
    pub choice: RunChoice,
    /// `porch run`'s options (its TASKS is the run's stored tasks, not read from here).
    pub run: Box<RunArgs>,
    /// The settings the resume was given (a flag, or its variable): the run's recorded ones
    /// stand in for the others.
    pub given: Vec<Recordable>,
}

/// A setting a run records, which `porch resume` takes from the record unless it is given one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recordable {
    PermissionMode,
    Timeout,
    IdleTimeout,
    Retries,
    RetryBackoff,
    MaxCostUsd,
    /// `--max-fail` or `--fail-fast`.
    MaxFail,
    MaxWait,
    Jobs,
    Stagger,
    Push,
    PortBase,
    OnFinish,
    OnTaskFinish,
    Remote,
    /// The switches: recorded on, they stay on unless the resume is given `--no-…`.
    Cleanup,
    KeepLeftovers,
    Pr,
}

#[derive(Debug, PartialEq)]
pub struct MergeResultsArgs {
    /// The results files of the shards, in the order given.
    pub files: Vec<PathBuf>,
    /// `-o FILE`: where the merged results go instead of stdout.
    pub output: Option<PathBuf>,
    /// `--allow-missing`: a shard of K/N without a results file is a warning, not exit 1.
    pub allow_missing: bool,
}

/// How long porch waits for a usage window to reset unless told otherwise: a five-hour window
/// used up refuses sessions for at most five hours, so a run (a nightly one) outlives it, with
/// room for the margin and jitter; a weekly window's days are not waited, the run ends and says
/// why.
pub const DEFAULT_MAX_WAIT: Duration = Duration::from_secs(6 * 3600);

/// The bounds of a run's flags, which hold a value given on the command line (`cli/run.rs`)
/// and one read back from a run's record (`preflight/recorded.rs`) alike.
pub const RETRIES: RangeInclusive<u64> = 0..=20;
pub const JOBS: RangeInclusive<u64> = 1..=4096;
pub const PORTS: RangeInclusive<u64> = 1..=65535;
pub const MAX_FAIL: RangeInclusive<u64> = 1..=u64::MAX;

/// `--max-cost-usd`'s value holds: an amount of dollars porch (and claude) would not write as 0.
pub fn is_cost_limit(dollars: f64) -> bool {
    dollars.is_finite() && !budget::is_nothing(dollars)
}

/// How many results files `porch clean` keeps under `.porch/runs/` unless told otherwise.
pub const DEFAULT_KEEP_RUNS: usize = 50;
/// `porch plan`'s `--timeout` when none is given: its sessions, together. Planning reads the
/// repository and writes nothing; one that runs this long is lost, not working.
pub const PLAN_TIMEOUT: Duration = Duration::from_secs(20 * 60);

/// Where `porch plan` reads its goal.
#[derive(Debug, PartialEq)]
pub enum Goal {
    /// GOAL on the command line.
    Text(String),
    /// GOAL `-`: standard input.
    Stdin,
    /// `--goal-file FILE`.
    File(PathBuf),
}

#[derive(Debug, PartialEq)]
pub struct PlanArgs {
    pub goal: Goal,
    pub repo: PathBuf,
    /// `-o FILE`: the tasks file to write [default: tasks.json].
    pub output: PathBuf,
    /// `--force`: replace FILE if it exists.
    pub force: bool,
    /// `--max-tasks N`: the most tasks the plan may have.
    pub max_tasks: usize,
    /// `--model`: claude's model for the planning session.
    pub model: Option<String>,
    /// `--timeout`: how long the planning sessions may take together.
    pub timeout: Duration,
    /// `--max-cost-usd`: what the planning sessions may spend together; none: no limit.
    pub max_cost_usd: Option<f64>,
    /// `--max-wait`: the longest porch waits for a usage window that refused the session.
    pub max_wait: Duration,
    /// `--claude`, else `PORCH_CLAUDE`; `claude` on PATH is looked at later, not here.
    pub claude: Option<Sourced<OsString>>,
}
