//! The results file: its schema (documented in README.md, kept stable), counted and written.

use std::path::Path;

use serde::Serialize;

use crate::atomic_file::write_atomic;
use crate::error::Error;

/// Bumped only when a field changes meaning or goes away; new fields do not bump it.
pub const SCHEMA_VERSION: u32 = 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Waiting for a free slot (`-j`); only in a results file written while the run goes on.
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

#[derive(Debug, Clone, Serialize)]
pub struct Results {
    pub version: u32,
    pub repo: String,
    pub started_at: String,
    pub finished_at: Option<String>,
    pub duration_ms: u64,
    pub summary: Counts,
    pub tasks: Vec<TaskResult>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Counts {
    pub total: usize,
    pub succeeded: usize,
    pub failed: usize,
    pub timed_out: usize,
    pub interrupted: usize,
    pub skipped: usize,
    pub cost_usd: f64,
}

#[derive(Debug, Clone, Serialize)]
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
    pub commits: u64,
    pub files_changed: u64,
    pub insertions: u64,
    pub deletions: u64,
    pub warnings: Vec<String>,
    /// Every start of the agent for this task, the last one included; more than one with
    /// `--retries` after transient API errors.
    pub attempts: Vec<Attempt>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Attempt {
    pub attempt: u32,
    pub status: Status,
    pub exit_code: Option<i32>,
    pub signal: Option<i32>,
    pub duration_ms: u64,
    pub session_id: Option<String>,
    pub cost_usd: Option<f64>,
    pub error: Option<String>,
    /// The ref that keeps what a retried attempt wrote, when it wrote anything.
    pub saved_work: Option<String>,
}

impl Results {
    pub fn summarise(&mut self) {
        let mut summary = Counts {
            total: self.tasks.len(),
            ..Counts::default()
        };
        for task in &self.tasks {
            match task.status {
                Status::Succeeded => summary.succeeded += 1,
                Status::Failed => summary.failed += 1,
                Status::TimedOut => summary.timed_out += 1,
                Status::Interrupted => summary.interrupted += 1,
                Status::Skipped => summary.skipped += 1,
                Status::Pending | Status::Running => {}
            }
            summary.cost_usd += task.cost_usd.unwrap_or(0.0);
        }
        summary.cost_usd = (summary.cost_usd * 1e6).round() / 1e6;
        self.summary = summary;
    }
}

pub fn write_results(path: &Path, results: &Results) -> Result<(), Error> {
    let mut json = serde_json::to_vec_pretty(results).expect("results serialise");
    json.push(b'\n');
    write_atomic(path, &json)
}
