//! The results file: its schema (documented in README.md, kept stable) and its atomic write.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;

use crate::error::{Error, IoContext};

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

/// Writes `bytes` to `path` so that a reader sees the old file or the new one, never half:
/// a temporary file beside it, fsync, rename.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let temp = dir.join(format!(".{file_name}.{}.tmp", std::process::id()));
    let written = (|| {
        let mut file = File::create(&temp)?;
        file.write_all(bytes)?;
        file.sync_all()
    })();
    if let Err(err) = written {
        let _ = std::fs::remove_file(&temp);
        return Err(err).context("write", &temp);
    }
    std::fs::rename(&temp, path)
        .inspect_err(|_| {
            let _ = std::fs::remove_file(&temp);
        })
        .context("replace", path)
}

/// Points `link` at `target` (relative to the link's directory), replacing what was there in
/// one rename.
pub fn point_link(link: &Path, target: &Path) -> Result<(), Error> {
    let dir = link.parent().unwrap_or(Path::new("."));
    let relative = target.strip_prefix(dir).unwrap_or(target);
    let temp = dir.join(format!(".results-link.{}.tmp", std::process::id()));
    let _ = std::fs::remove_file(&temp);
    std::os::unix::fs::symlink(relative, &temp).context("create", &temp)?;
    std::fs::rename(&temp, link).context("replace", link)
}

pub fn write_results(path: &Path, results: &Results) -> Result<(), Error> {
    let mut json = serde_json::to_vec_pretty(results).expect("results serialise");
    json.push(b'\n');
    write_atomic(path, &json)
}

/// `20261125T192103Z`: a UTC time for file names, sorting in time order.
pub fn compact_timestamp(time: SystemTime) -> String {
    rfc3339(time)
        .split('.')
        .next()
        .unwrap_or_default()
        .replace(['-', ':'], "")
        + "Z"
}

/// RFC 3339 in UTC with milliseconds, e.g. `2026-11-25T19:21:03.042Z`.
pub fn rfc3339(time: SystemTime) -> String {
    let since = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (year, month, day) = civil_from_days(days as i64);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        since.subsec_millis()
    )
}

/// Howard Hinnant's days-to-civil algorithm: days since 1970-01-01 to (year, month, day).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn timestamps() {
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            rfc3339(UNIX_EPOCH + Duration::from_millis(951_782_400_042)),
            "2000-02-29T00:00:00.042Z"
        );
        assert_eq!(
            rfc3339(UNIX_EPOCH + Duration::from_secs(1_795_634_463)),
            "2026-11-25T19:21:03.000Z"
        );
    }

    #[test]
    fn compact_timestamps_name_files() {
        assert_eq!(
            compact_timestamp(UNIX_EPOCH + Duration::from_secs(1_795_634_463)),
            "20261125T192103Z"
        );
    }

    #[test]
    fn atomic_write_replaces_and_leaves_no_temp() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.json");
        write_atomic(&path, b"one").unwrap();
        write_atomic(&path, b"two").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"two");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
