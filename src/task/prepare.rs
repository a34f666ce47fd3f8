//! Makes a new worktree ready for its session: the task's `copy` from the main checkout, then
//! its `setup` command. Either failing keeps the session from starting.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crossbeam_channel::Sender;

use crate::git;
use crate::output::printer;
use crate::output::printer::Message;
use crate::output::printer::Tone;
use crate::process::child::Limit;
use crate::process::groups::Marker;
use crate::process::step;
use crate::process::step::Step;
use crate::process::step::StepEnd;
use crate::task::copy;

/// What one task needs made ready, and where to report.
pub struct Preparation<'a> {
    /// The main checkout, where `copy` takes from.
    pub repo_root: &'a Path,
    pub worktree: &'a Path,
    pub copy: &'a [PathBuf],
    pub setup: Option<&'a [String]>,
    /// The task's environment for setup: `PORCH_*`, the session marker, its `env`.
    pub env: &'a [(String, String)],
    pub redactor: &'a std::sync::Arc<crate::process::task_env::Redactor>,
    pub marker: &'a Marker,
    /// What the task's timeout allows setup.
    pub timeout: Option<Duration>,
    pub log: &'a Path,
    pub task_index: usize,
    pub printer: &'a Sender<Message>,
}

/// Why a worktree is not ready.
#[derive(Debug, PartialEq)]
pub enum Unready {
    /// The task's error, e.g. "setup failed: exited with code 3".
    Failed(String),
    /// porch was told to stop during setup (the signal's number).
    Interrupted(i32),
}

/// Copies, then runs setup. Does nothing when the task has neither.
pub fn prepare(prep: &Preparation) -> Result<(), Unready> {
    copy_all(prep)?;
    let Some(argv) = prep.setup else {
        return Ok(());
    };
    let step = Step {
        label: "setup",
        argv,
        worktree: prep.worktree,
        env: prep.env,
        redactor: prep.redactor,
        marker: prep.marker,
        timeout: prep.timeout.map(Limit::whole),
        sweep_after_success: false,
        log: prep.log,
        task_index: prep.task_index,
        printer: prep.printer,
    };
    match step::run_to_end(&step).end {
        StepEnd::Succeeded => Ok(()),
        StepEnd::Failed(how) => {
            let error = format!("setup failed: {how}");
            note(
                prep,
                Tone::Bad,
                format!("{error}; the session does not start"),
            );
            Err(Unready::Failed(error))
        }
        StepEnd::Interrupted(signal) => Err(Unready::Interrupted(signal)),
    }
}

fn copy_all(prep: &Preparation) -> Result<(), Unready> {
    if prep.copy.is_empty() {
        return Ok(());
    }
    refuse_tracked_copies(prep)?;
    let mut total = copy::Copied::default();
    for path in prep.copy {
        let copied = copy::copy(prep.repo_root, prep.worktree, path).map_err(|err| {
            let error = format!("could not copy {} into the worktree: {err}", path.display());
            note(prep, Tone::Bad, error.clone());
            Unready::Failed(error)
        })?;
        total.files += copied.files;
        total.cloned += copied.cloned;
    }
    let shared = match total.cloned {
        0 => String::new(),
        n => format!(", {n} copy-on-write"),
    };
    let paths: Vec<String> = prep.copy.iter().map(|p| p.display().to_string()).collect();
    note(
        prep,
        Tone::Dim,
        format!(
            "copied {} ({} files{shared})",
            paths.join(", "),
            total.files
        ),
    );
    Ok(())
}

/// Preflight checked `copy` against the base it knew; a task that starts from the branches of
/// the tasks it depends on (or a resumed one, from its own) is asked again against the commit
/// its worktree holds: a copy must never replace what git tracks there.
fn refuse_tracked_copies(prep: &Preparation) -> Result<(), Unready> {
    let asked: Vec<String> = prep
        .copy
        .iter()
        .flat_map(|p| copy::paths_to_ask(p))
        .collect();
    let fail = |error: String| {
        note(prep, Tone::Bad, error.clone());
        Unready::Failed(error)
    };
    let tracked = git::tracked_at(prep.worktree, "HEAD", &asked)
        .map_err(|err| fail(format!("could not ask git what the worktree tracks: {err}")))?;
    for path in prep.copy {
        if let Some(reason) = copy::changes_tracked(path, &tracked) {
            return Err(fail(format!(
                "did not copy {}: it {reason} on the task's branch, and the copy would replace it",
                path.display()
            )));
        }
    }
    Ok(())
}

fn note(prep: &Preparation, tone: Tone, text: String) {
    let text = prep.redactor.redact(&text).into_owned();
    printer::note(prep.printer, prep.task_index, tone, text);
}
