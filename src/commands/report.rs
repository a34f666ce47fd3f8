//! `porch report`: a stored run as one self-contained HTML page, each task's diff stat asked of
//! git now and its log's last lines read back.

use std::path::Path;
use std::process::ExitCode;

use crate::agent::log::rendered_tail;
use crate::error::Error;
use crate::git;
use crate::preflight::options::ReportArgs;
use crate::results::Results;
use crate::results::report::{self, TAIL_LINES, TaskExtras};
use crate::sys::atomic_file::write_atomic;

pub fn report(args: &ReportArgs) -> Result<ExitCode, Error> {
    let (location, run) = args.choice.load()?;
    let results: Results = serde_json::from_slice(&run.bytes).map_err(|err| {
        Error::setup(
            format!("{}: not a porch results file: {err}", run.path.display()),
            "name a results file porch wrote (.porch/runs/ID.json, or run -o FILE)",
        )
    })?;
    let extras = task_extras(&location.repo.toplevel, &results);
    let page = report::render(&results, &extras, None);
    match &args.output {
        Some(path) => write_atomic(path, page.as_bytes())?,
        None => {
            crate::sys::console::print_stdout(&page);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Each task's diff stat against its base and its log's last lines; what cannot be read any
/// more (a branch deleted, a log removed) is left empty.
pub fn task_extras(repo: &Path, results: &Results) -> Vec<TaskExtras> {
    (results.tasks.iter())
        .map(|task| TaskExtras {
            diff_stat: git::diff_stat_text(repo, &task.base_commit, &task.branch)
                .unwrap_or_default(),
            log_tail: match &task.log {
                Some(log) => rendered_tail(Path::new(log), Path::new(&task.worktree), TAIL_LINES),
                None => Vec::new(),
            },
        })
        .collect()
}
