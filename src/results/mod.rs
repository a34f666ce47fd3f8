//! The results file: its schema (documented in README.md, kept stable), counted and written.

pub mod junit;
pub mod pull_request;
pub mod report;
pub mod rivals;
pub mod summary;

use std::path::Path;
use std::time::Duration;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::sys::atomic_file::Destination;
use crate::sys::atomic_file::destination;
use crate::sys::atomic_file::write_atomic;
use crate::util::timestamp;

/// Bumped only when a field changes meaning or goes away; new fields do not bump it.
pub const SCHEMA_VERSION: u32 = 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Waiting for a free slot (`-j`); only in a results file written while the run goes on.
    #[default]
    Pending,
    /// Started, not finished; only in a results file written while the run goes on.
    Running,
    Succeeded,
    Failed,
    /// Ended by `--timeout`, the task's `timeout` or `--idle-timeout`.
    TimedOut,
    /// Ended because porch received SIGINT, SIGTERM or SIGHUP.
    Interrupted,
    /// Never started, because porch was interrupted first.
    Skipped,
}

/// `--shard K/N`: the slice of the tasks file a run ran, `index` from 1 to `count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shard {
    pub index: u32,
    pub count: u32,
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// `--push REMOTE`: how pushing a task's branch went.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Push {
    /// As given to `--push` (a path made absolute), a password in a URL replaced by `***`.
    pub remote: String,
    pub ok: bool,
    /// Why git refused, when it did.
    pub error: Option<String>,
    /// When the push started and ended (RFC 3339).
    pub started_at: Option<String>,
    pub ended_at: Option<String>,
}

/// A task's pull request (`porch pr`, `porch run --pr`), as gh names it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PullRequest {
    pub url: String,
    pub number: u64,
}

/// What `porch merge` did with a run's branches, recorded in the run's results (`merge`) and
/// printed by `porch merge --json`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct MergeRecord {
    /// The branch merged into: `porch/merge/<run id>`, or `--into`'s.
    pub branch: String,
    /// The branch's commit once the merge was done; null when nothing was merged.
    pub commit: Option<String>,
    /// When the merge ended (RFC 3339).
    pub ended_at: String,
    /// Every branch merged, in the order merged (a resolved one too).
    pub merged: Vec<MergedBranch>,
    /// The branches whose conflicts a resolver session settled.
    pub resolved: Vec<ResolvedBranch>,
    /// The branches not merged: a conflict, a branch gone, a failed resolution.
    pub skipped: Vec<SkippedBranch>,
    /// The branches merged, then taken out again because the check failed with them.
    pub backed_out: Vec<BackedOutBranch>,
    /// The check failed on the commit the merge starts from, before any branch was merged:
    /// then nothing was merged and every list is empty. Null when it passed or there was none.
    pub base_check_failure: Option<BaseCheckFailure>,
}

/// A merge check that failed before any branch was merged: the base is red, or the check
/// cannot run, and no branch is to blame.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct BaseCheckFailure {
    pub reason: String,
    /// The check's exit code; null when it did not exit by itself (a timeout, a signal).
    pub check_exit: Option<i32>,
    /// The check's last lines, oldest first.
    pub last_lines: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct MergedBranch {
    pub task: String,
    pub branch: String,
    /// Its merge commit; null when the target held it already.
    pub commit: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ResolvedBranch {
    pub task: String,
    /// The files that conflicted.
    pub files: Vec<String>,
    pub cost_usd: f64,
    pub session_id: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SkippedBranch {
    pub task: String,
    pub reason: String,
    /// The files that conflicted, if it was a conflict.
    pub files: Vec<String>,
    /// What a resolver session that did not settle it cost, and its id; null without one.
    pub cost_usd: Option<f64>,
    pub session_id: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct BackedOutBranch {
    pub task: String,
    pub reason: String,
    /// The check's exit code; null when it did not exit by itself (a timeout, a signal).
    pub check_exit: Option<i32>,
    /// The check's last lines, oldest first.
    pub last_lines: Vec<String>,
}

/// Read back by `porch merge-results`: every field has a default, so results of older porch
/// versions read too.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Results {
    pub version: u32,
    /// The results file's name without `.json`: what `--run ID` names.
    pub run_id: String,
    /// The run whose unfinished tasks `porch resume` ran again; null for a `porch run`.
    pub resumed_from: Option<String>,
    /// The tasks file as given (a path, or `<stdin>`); porch keeps a copy beside the results.
    pub tasks_file: String,
    /// SHA-256 of the tasks file's bytes: shards of one file have the same.
    pub tasks_file_hash: String,
    /// Every task name of the tasks file, in its order, before `--only`, `--skip` and
    /// `--shard`: what `porch merge-results` orders shards' tasks by.
    pub tasks_file_order: Vec<String>,
    /// `--shard K/N`; null without.
    pub shard: Option<Shard>,
    pub repo: String,
    /// The agent executable the run was given (`--claude`, `PORCH_CLAUDE`) when it is not
    /// `claude` on PATH: a command that runs the tasks again must give it too.
    pub claude: Option<String>,
    pub started_at: String,
    pub finished_at: Option<String>,
    pub duration_ms: u64,
    pub summary: Counts,
    /// Rate-limit signals the sessions gave (api_retry events and results with 429, 529 or
    /// an unreachable API).
    pub rate_limit_events: u64,
    /// The concurrency limit at its lowest and at the end: `-j` unless the API rate-limited.
    pub lowest_concurrency: usize,
    pub final_concurrency: usize,
    /// Each time porch waited for a subscription's usage window to reset, in order (the one
    /// going on included, while the run goes on).
    pub usage_limit_waits: Vec<UsageLimitWait>,
    /// `--max-cost-usd`, or null.
    pub budget_usd: Option<f64>,
    /// What this run's sessions cost, every attempt (a resume's carried tasks not included):
    /// what the budget is held against.
    pub spent_usd: f64,
    pub tasks: Vec<TaskResult>,
    /// Pairs of succeeded branches that change a common file, and whether git merges them
    /// cleanly; found when every task has ended (empty until then).
    pub conflicts: Vec<Conflict>,
    /// Why `conflicts` was not looked for, or not for every pair; null when it was.
    pub conflicts_note: Option<String>,
}

/// A wait for a usage window to reset: its sessions were refused until then.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct UsageLimitWait {
    /// The window (`rateLimitType`): `five_hour`, `seven_day`, …; `unknown` when not said.
    #[serde(rename = "type")]
    pub kind: String,
    /// When the window said it resets (RFC 3339); null when it did not say.
    pub resets_at: Option<String>,
    /// How long porch started no session: to the reset, a margin and jitter; what it had
    /// waited when `--max-wait` or a signal ended the wait.
    pub waited_ms: u64,
    /// When porch began to wait (RFC 3339).
    pub started_at: Option<String>,
}

/// Two succeeded branches that change a common file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Conflict {
    /// The two tasks, in tasks-file order.
    pub tasks: [String; 2],
    /// When they conflict, the files git cannot merge; when they merge, the files both change.
    pub files: Vec<String>,
    pub clean: bool,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Counts {
    pub total: usize,
    pub succeeded: usize,
    pub failed: usize,
    pub timed_out: usize,
    pub interrupted: usize,
    pub skipped: usize,
    pub cost_usd: f64,
    /// The tasks' `dropped_lines`, added up.
    pub dropped_lines: u64,
}

/// Read back by `porch resume`, which carries the tasks it does not run again into its own
/// results: every field has a default, so results of older porch versions read too.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct TaskResult {
    pub name: String,
    pub description: Option<String>,
    pub status: Status,
    pub branch: String,
    pub base_branch: String,
    pub base_commit: String,
    pub worktree: String,
    /// Whether the worktree is still on disk after the run (false after `--cleanup`).
    pub worktree_kept: bool,
    pub log: Option<String>,
    /// The tasks whose branches this one's starts from (`depends_on`).
    pub depends_on: Vec<String>,
    /// When porch began the task (its base, worktree, setup) and when it was done with it
    /// (RFC 3339); null for a task that never started.
    pub started_at: Option<String>,
    pub ended_at: Option<String>,
    /// The task's `setup`, when it ran.
    pub setup: Option<Phase>,
    pub exit_code: Option<i32>,
    pub signal: Option<i32>,
    pub duration_ms: u64,
    pub session_id: Option<String>,
    pub cost_usd: Option<f64>,
    pub num_turns: Option<u64>,
    pub result: Option<String>,
    pub error: Option<String>,
    pub permission_denials: u64,
    pub leftover_processes: usize,
    /// Lines of the task's output the terminal did not get because it fell behind (a pager
    /// left open, a pipe nobody reads); the log has them.
    pub dropped_lines: u64,
    pub commits: u64,
    pub files_changed: u64,
    pub insertions: u64,
    pub deletions: u64,
    pub warnings: Vec<String>,
    /// Files the session wrote with its file tools that git ignores: in the worktree only,
    /// which is therefore kept even with `--cleanup`. Relative to the worktree.
    pub ignored_files: Vec<String>,
    /// Repositories inside the worktree whose work is not on the branch (one the session
    /// created, a submodule at a commit found only there, or with uncommitted changes); the
    /// worktree is kept. Relative to the worktree.
    pub nested_repositories: Vec<String>,
    /// Every start of the agent for this task, the last one included; more than one with
    /// `--retries` after transient API errors.
    pub attempts: Vec<Attempt>,
    /// The task's `check`, when it ran: after a successful session and its commit.
    pub check: Option<CheckRun>,
    /// `--push`: whether the branch reached the remote; null without `--push`, or when the
    /// task's session never ran (nothing to push).
    pub push: Option<Push>,
    /// For a rival of a repeated task (`NAME-k`): `NAME`; null for a task run once.
    pub group: Option<String>,
    /// For a rival of a repeated task: whether porch picked it as its group's best (see
    /// `rivals`); null for a task run once, and while the run goes on.
    pub winner: Option<bool>,
    /// The task's pull request (`porch pr`, `porch run --pr`); null until one is opened.
    pub pr: Option<PullRequest>,
    /// The task's `review`, when its reviewer ran: after the session succeeded and the check
    /// passed. Null without a review.
    pub review: Option<Review>,
    /// The branch's diff as the task read it at its end, kept for the run's conflicts step
    /// (one git process fewer a branch); never written to the results file.
    #[serde(skip)]
    pub read_diff: Option<ReadDiff>,
}

/// What a branch changed against its base (`git diff --raw -z`, unabbreviated, no renames)
/// when it was at `head`: still true while the branch is there.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReadDiff {
    pub head: String,
    pub raw: String,
}

/// What a task's reviewer said, and what it cost.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Review {
    /// Null when the review itself failed (`error` says why).
    pub verdict: Option<Verdict>,
    pub summary: String,
    pub comments: Vec<ReviewComment>,
    pub cost_usd: Option<f64>,
    pub session_id: Option<String>,
    /// Whether the verdict decides the task's status (`review.required`).
    pub required: bool,
    /// Why there is no verdict: the reviewer failed, or its answer was refused.
    pub error: Option<String>,
    /// Why no reviewer was started, the review being no failure: the branch changes nothing.
    pub skipped: Option<String>,
    /// The reviewers that ended with a transient API error and were started again
    /// (`--retries`), first to last; the one that answered is the review's own.
    pub retried: Vec<RetriedReviewer>,
}

/// A reviewer a transient API error ended, started again: what it cost (the task's too) and why.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RetriedReviewer {
    pub session_id: Option<String>,
    pub cost_usd: Option<f64>,
    pub error: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Approve,
    RequestChanges,
}

/// One remark of a reviewer, on a file and perhaps a line of it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ReviewComment {
    pub file: String,
    pub line: Option<u64>,
    pub body: String,
}

impl Review {
    pub fn approved(&self) -> bool {
        self.verdict == Some(Verdict::Approve)
    }

    /// The summary table's cell: `approved`, `changes` (requested), `skipped` (nothing to
    /// review), `failed`.
    pub fn cell(&self) -> &'static str {
        match self.verdict {
            Some(Verdict::Approve) => "approved",
            Some(Verdict::RequestChanges) => "changes",
            None if self.error.is_none() && self.skipped.is_some() => "skipped",
            None => "failed",
        }
    }

    /// What the reviewer said in one line, the `[review]` line's and the report's: `approved: `,
    /// `changes requested: ` and the summary, or `nothing to review: ` or `no verdict: ` and why.
    pub fn headline(&self) -> String {
        let (verdict, text) = match (&self.verdict, &self.error, &self.skipped) {
            (Some(Verdict::Approve), ..) => ("approved", self.summary.as_str()),
            (Some(Verdict::RequestChanges), ..) => ("changes requested", self.summary.as_str()),
            (None, None, Some(why)) => ("nothing to review", why.as_str()),
            (None, error, _) => ("no verdict", error.as_deref().unwrap_or("unknown")),
        };
        format!("{verdict}: {text}")
    }
}

/// A remark as porch shows it everywhere: `file:line: body`, or `file: body` without a line.
impl std::fmt::Display for ReviewComment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{line}: {}", self.file, self.body),
            None => write!(f, "{}: {}", self.file, self.body),
        }
    }
}

/// What `porch merge` and `porch pr` take of a run with reviews: a task the reviewer approved,
/// or one without a review. A verdict of `request_changes` that was not `required` leaves the
/// task succeeded, but not approved; so does a review skipped for a branch that changes
/// nothing, which has nothing to merge, and of rivals never wins over an approved one.
pub fn approved_or_unreviewed(task: &TaskResult) -> bool {
    task.review.as_ref().is_none_or(Review::approved)
}

/// How the task's `check` command ended.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct CheckRun {
    /// Null when it could not start or a signal ended it.
    pub exit_code: Option<i32>,
    pub duration_ms: u64,
    /// When it started and ended (RFC 3339).
    pub started_at: Option<String>,
    pub ended_at: Option<String>,
}

/// A step of a task that took time, when it started and ended (RFC 3339).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Phase {
    pub started_at: Option<String>,
    pub ended_at: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Attempt {
    /// Counted over every run of the task: a resumed task's attempts follow its earlier ones.
    pub attempt: u32,
    /// The run that made this attempt, when an earlier one did (`porch resume` keeps a task's
    /// earlier attempts); null for the run whose results these are.
    pub run_id: Option<String>,
    pub status: Status,
    pub exit_code: Option<i32>,
    pub signal: Option<i32>,
    pub duration_ms: u64,
    pub session_id: Option<String>,
    pub cost_usd: Option<f64>,
    pub error: Option<String>,
    /// The ref that keeps what a retried attempt wrote, when it wrote anything.
    pub saved_work: Option<String>,
    /// The usage window that ended this attempt (`five_hour`, …): the task was started
    /// again after the window reset, without spending a retry. Null for any other end.
    pub usage_limit: Option<String>,
    /// When the session started and ended (RFC 3339).
    pub started_at: Option<String>,
    pub ended_at: Option<String>,
}

impl Phase {
    /// A step that took `took` and has just ended.
    pub fn ending_now(took: Duration) -> Phase {
        let now = SystemTime::now();
        Phase {
            started_at: Some(timestamp::rfc3339(now.checked_sub(took).unwrap_or(now))),
            ended_at: Some(timestamp::rfc3339(now)),
        }
    }
}

impl Attempt {
    /// Made by the run whose results hold it, not carried from an earlier run by a resume.
    pub fn of_this_run(&self) -> bool {
        self.run_id.is_none()
    }
}

impl Results {
    pub fn summarise(&mut self) {
        self.summary = count(&self.tasks);
    }
}

/// How many tasks ended how, and what they cost together.
pub fn count(tasks: &[TaskResult]) -> Counts {
    let mut summary = Counts {
        total: tasks.len(),
        ..Counts::default()
    };
    for task in tasks {
        match task.status {
            Status::Succeeded => summary.succeeded += 1,
            Status::Failed => summary.failed += 1,
            Status::TimedOut => summary.timed_out += 1,
            Status::Interrupted => summary.interrupted += 1,
            Status::Skipped => summary.skipped += 1,
            Status::Pending | Status::Running => {}
        }
        summary.cost_usd += task.cost_usd.unwrap_or(0.0);
        summary.dropped_lines += task.dropped_lines;
    }
    summary.cost_usd = (summary.cost_usd * 1e6).round() / 1e6;
    summary
}

/// Writes the results' JSON (`to_json`), atomically. A device or FIFO (`-o /dev/stdout`, a named
/// pipe) gets only the finished results: it cannot be re-read, so the snapshots written during
/// the run would reach its reader as a series of documents.
pub fn write_results(path: &Path, json: &str, finished: bool) -> Result<(), Error> {
    let is_stream = matches!(destination(path), Destination::Stream(_));
    if is_stream && !finished {
        return Ok(());
    }
    write_atomic(path, json.as_bytes())
}

/// Whether a JSON object is shaped as a results file: a `version` and a `tasks` list. The
/// readers' fields all have defaults, so without this `{}` would read as a run that never ended.
pub fn has_results_shape(object: &serde_json::Map<String, serde_json::Value>) -> bool {
    object.contains_key("version") && object.get("tasks").is_some_and(serde_json::Value::is_array)
}

/// Results as a results file holds them (porch's own, or shards' joined by `porch
/// merge-results`): what `--json` prints, byte for byte.
pub fn to_json(results: &impl Serialize) -> String {
    let mut json = serde_json::to_string_pretty(results).expect("results serialise");
    json.push('\n');
    json
}

impl Status {
    /// The status as the results file spells it.
    pub fn name(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Running => "running",
            Status::Succeeded => "succeeded",
            Status::Failed => "failed",
            Status::TimedOut => "timed_out",
            Status::Interrupted => "interrupted",
            Status::Skipped => "skipped",
        }
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl TaskResult {
    pub fn succeeded(&self) -> bool {
        self.status == Status::Succeeded
    }

    /// Whether `porch merge` and `porch pr` take it unnamed: succeeded, its group's winner if
    /// it has a group, and approved if it was reviewed.
    pub fn merged_unnamed(&self) -> bool {
        self.succeeded()
            && (self.group.is_none() || self.winner == Some(true))
            && approved_or_unreviewed(self)
    }

    /// The summary's and `porch status`'s word for the task's review: what the reviewer said
    /// (`Review::cell`), `ended` when porch ended the task before it said anything (a signal,
    /// the task's timeout: `porch resume` reviews again), `-` without a review.
    pub fn review_cell(&self) -> &'static str {
        match &self.review {
            None => "-",
            Some(review)
                if review.verdict.is_none()
                    && matches!(self.status, Status::Interrupted | Status::TimedOut) =>
            {
                "ended"
            }
            Some(review) => review.cell(),
        }
    }

    /// Whether the check ran and passed, failed (with its exit code, -1 without one), or there
    /// was none.
    pub fn check_outcome(&self) -> Option<Result<(), i64>> {
        match self.check.as_ref()?.exit_code {
            Some(0) => Some(Ok(())),
            Some(code) => Some(Err(code.into())),
            None => Some(Err(-1)),
        }
    }

    /// A task's result with what its plan says and nothing done yet: every count zero, every
    /// outcome empty.
    pub fn new(name: &str, status: Status, branch: &str, base: (&str, &str)) -> TaskResult {
        TaskResult {
            name: name.to_string(),
            status,
            branch: branch.to_string(),
            base_branch: base.0.to_string(),
            base_commit: base.1.to_string(),
            ..TaskResult::default()
        }
    }

    /// A task on `task/NAME` from `main` that did nothing worth counting: tests set what they
    /// look at.
    #[cfg(test)]
    pub fn example(name: &str, status: Status) -> TaskResult {
        TaskResult {
            worktree: format!("/wt/shop/{name}"),
            worktree_kept: true,
            ..TaskResult::new(name, status, &format!("task/{name}"), ("main", "0123abcd"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counted(tasks: Vec<TaskResult>) -> Counts {
        let mut results = Results {
            version: SCHEMA_VERSION,
            run_id: String::new(),
            tasks_file: String::new(),
            repo: "/src/shop".to_string(),
            duration_ms: 0,
            lowest_concurrency: 1,
            final_concurrency: 1,
            tasks,
            ..Results::default()
        };
        results.summarise();
        results.summary
    }

    #[test]
    fn every_task_is_counted_once_by_how_it_ended() {
        let statuses = [
            Status::Succeeded,
            Status::Succeeded,
            Status::Failed,
            Status::TimedOut,
            Status::Interrupted,
            Status::Skipped,
            Status::Pending,
            Status::Running,
        ];
        let tasks = statuses
            .iter()
            .map(|&status| TaskResult::example("t", status))
            .collect();
        let counts = counted(tasks);
        assert_eq!(
            counts.total, 8,
            "pending and running tasks are in the total"
        );
        assert_eq!(
            [
                counts.succeeded,
                counts.failed,
                counts.timed_out,
                counts.interrupted,
                counts.skipped
            ],
            [2, 1, 1, 1, 1],
            "and in no other count"
        );
    }

    #[test]
    fn a_results_file_has_a_version_and_a_tasks_list() {
        let shaped = |text: &str| {
            let value: serde_json::Value = serde_json::from_str(text).unwrap();
            value.as_object().is_some_and(has_results_shape)
        };
        assert!(shaped(r#"{"version": 1, "tasks": []}"#));
        for text in [
            "{}",
            "[]",
            r#"{"tasks": []}"#,
            r#"{"version": 1, "tasks": {}}"#,
        ] {
            assert!(!shaped(text), "{text} is no results file");
        }
    }

    #[test]
    fn the_cost_is_the_sum_to_a_millionth_of_a_dollar() {
        let cost = |usd| TaskResult {
            cost_usd: usd,
            ..TaskResult::example("t", Status::Succeeded)
        };
        let counts = counted(vec![
            cost(Some(0.1)),
            cost(Some(0.2)),
            cost(None),
            cost(Some(0.000_000_4)),
        ]);
        assert_eq!(counts.cost_usd, 0.3, "a task without a cost adds nothing");
    }
}
