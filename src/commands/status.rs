//! `porch status`: what a run left behind, asked of git now rather than remembered: each task's
//! status, what its branch holds against its base, its check, its worktree, and how to go on.

use std::path::Path;
use std::process::ExitCode;

use crate::error::Error;
use crate::git;
use crate::preflight::options::StatusArgs;
use crate::results::summary;
use crate::state::runs::{RunChoice, StoredRun, StoredTask};
use crate::util::table;
use crate::util::table::Layout;

pub fn status(args: &StatusArgs) -> Result<ExitCode, Error> {
    let (location, run) = args.choice.load()?;
    if args.json {
        let text = String::from_utf8_lossy(&run.bytes);
        let newline = if text.ends_with('\n') { "" } else { "\n" };
        crate::sys::console::print_stdout(&format!("{text}{newline}"));
        return Ok(ExitCode::SUCCESS);
    }
    let repo = &location.repo.toplevel;
    let rows = task_rows(repo, &run.results.tasks);
    crate::sys::console::print_stdout(&render(&run, &rows, &args.choice));
    Ok(ExitCode::SUCCESS)
}

/// One task as it is now.
struct Row {
    status: String,
    task: String,
    branch: String,
    ahead: String,
    files: String,
    check: String,
    worktree: WorktreeState,
    /// `cd WORKTREE && claude --resume SESSION`, when both still exist.
    resume: Option<String>,
    /// `git -C REPO diff BASE...BRANCH`, when the branch holds commits.
    review: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum WorktreeState {
    Clean,
    Dirty,
    Gone,
    Unknown,
}

impl WorktreeState {
    fn word(self) -> &'static str {
        match self {
            WorktreeState::Clean => "clean",
            WorktreeState::Dirty => "dirty (uncommitted changes)",
            WorktreeState::Gone => "removed",
            WorktreeState::Unknown => "unreadable",
        }
    }
}

/// How many tasks are asked about at once: each question is a few git processes.
const PARALLEL_QUESTIONS: usize = 8;

fn task_rows(repo: &Path, tasks: &[StoredTask]) -> Vec<Row> {
    let mut rows = Vec::with_capacity(tasks.len());
    for chunk in tasks.chunks(PARALLEL_QUESTIONS) {
        std::thread::scope(|scope| {
            let handles: Vec<_> = chunk
                .iter()
                .map(|task| scope.spawn(move || task_row(repo, task)))
                .collect();
            for (handle, task) in handles.into_iter().zip(chunk) {
                rows.push(handle.join().unwrap_or_else(|_| unknown_row(task)));
            }
        });
    }
    rows
}

fn task_row(repo: &Path, task: &StoredTask) -> Row {
    let base = (task.base_branch.as_str(), task.base_commit.as_str());
    let stats = git::diff_stats(repo, &task.base_commit, &task.branch);
    let review = (stats.as_ref().is_ok_and(|s| s.commits > 0))
        .then(|| summary::diff_command(&repo.to_string_lossy(), base, &task.branch));
    let (ahead, files) = match stats {
        Ok(stats) => (
            stats.commits.to_string(),
            format!(
                "{} (+{} -{})",
                stats.files_changed, stats.insertions, stats.deletions
            ),
        ),
        Err(_) if task.branch.is_empty() || task.base_commit.is_empty() => {
            ("-".to_string(), "-".to_string())
        }
        Err(_) => ("-".to_string(), "branch gone".to_string()),
    };
    let worktree = worktree_state(Path::new(&task.worktree));
    let resume = match (&task.session_id, worktree) {
        (Some(session), WorktreeState::Clean | WorktreeState::Dirty) => {
            Some(summary::resume_command(&task.worktree, session))
        }
        _ => None,
    };
    Row {
        status: task.status.to_string(),
        task: task_label(task),
        branch: task.branch.clone(),
        ahead,
        files,
        check: check_word(task),
        worktree,
        resume,
        review,
    }
}

fn unknown_row(task: &StoredTask) -> Row {
    Row {
        status: task.status.to_string(),
        task: task_label(task),
        branch: task.branch.clone(),
        ahead: "?".into(),
        files: "?".into(),
        check: check_word(task),
        worktree: WorktreeState::Unknown,
        resume: None,
        review: None,
    }
}

fn worktree_state(dir: &Path) -> WorktreeState {
    if dir.as_os_str().is_empty() || !dir.join(".git").exists() {
        return WorktreeState::Gone;
    }
    match git::is_dirty(dir) {
        Ok(true) => WorktreeState::Dirty,
        Ok(false) => WorktreeState::Clean,
        Err(_) => WorktreeState::Unknown,
    }
}

/// A repeated task's rival says which is the winner of its group.
fn task_label(task: &StoredTask) -> String {
    match (&task.group, task.winner) {
        (Some(_), Some(true)) => format!("{} (winner)", task.name),
        _ => task.name.clone(),
    }
}

/// How the check ended, then what the task's reviewer said, when it has one.
fn check_word(task: &StoredTask) -> String {
    let check = match task.check_outcome() {
        None => "-".to_string(),
        Some(Ok(())) => "passed".to_string(),
        Some(Err(code)) if code >= 0 => format!("failed ({code})"),
        Some(Err(_)) => "failed".to_string(),
    };
    match &task.review {
        Some(review) => format!("{check}, review {}", review.cell()),
        None => check,
    }
}

fn render(run: &StoredRun, rows: &[Row], choice: &RunChoice) -> String {
    let results = &run.results;
    let finished = match &results.finished_at {
        Some(at) => format!("finished {at}"),
        None => "not finished (running, or porch was killed)".to_string(),
    };
    let mut text = format!(
        "run {} of {}: started {}, {finished}\nresults: {}\n\n",
        run.id,
        results.repo,
        results.started_at,
        run.path.display()
    );
    let header = [
        "STATUS", "TASK", "BRANCH", "AHEAD", "FILES", "CHECK", "WORKTREE",
    ];
    let cells: Vec<[&str; 7]> = rows
        .iter()
        .map(|r| {
            [
                r.status.as_str(),
                r.task.as_str(),
                r.branch.as_str(),
                r.ahead.as_str(),
                r.files.as_str(),
                r.check.as_str(),
                r.worktree.word(),
            ]
        })
        .collect();
    text.push_str(&table::render(COLUMNS, header, &cells));

    let reviews: Vec<&str> = rows.iter().filter_map(|r| r.review.as_deref()).collect();
    if !reviews.is_empty() {
        text.push_str("\nreview a branch:\n");
        for line in reviews {
            text.push_str(&format!("  {line}\n"));
        }
    }
    let pulls: Vec<(&str, &str)> = (results.tasks.iter())
        .filter_map(|t| Some((t.name.as_str(), t.pr.as_ref()?.url.as_str())))
        .collect();
    if !pulls.is_empty() {
        text.push_str("\npull requests:\n");
        for (task, url) in pulls {
            text.push_str(&format!("  {task}  {url}\n"));
        }
    }
    let resumes: Vec<&str> = rows.iter().filter_map(|r| r.resume.as_deref()).collect();
    if !resumes.is_empty() {
        text.push_str("\ncontinue a session:\n");
        for line in resumes {
            text.push_str(&format!("  {line}\n"));
        }
    }
    text.push_str(&next_steps(run, choice));
    text
}

/// The porch commands that go on from here, as the user can paste them: every option that
/// found this run (`--worktree-dir`, a results file's path) again. The log shown is that of
/// the first task that did not succeed.
fn next_steps(run: &StoredRun, choice: &RunChoice) -> String {
    let tasks = &run.results.tasks;
    let run_word = choice.run_word(&run.id);
    let mut text = String::from("\n");
    if tasks.iter().any(|t| !t.succeeded()) {
        let resume = choice.command("resume", run_word, &[]);
        text.push_str(&format!("re-run what did not succeed: {resume}\n"));
    }
    if tasks.iter().any(StoredTask::succeeded) {
        let merge = choice.command("merge", run_word, &[]);
        text.push_str(&format!("merge what succeeded:       {merge}\n"));
    }
    let shown = tasks.iter().find(|t| !t.succeeded()).or(tasks.first());
    if let Some(task) = shown {
        let logs = choice.command("logs", run_word, &[&task.name]);
        text.push_str(&format!("a task's whole output:      {logs}\n"));
    }
    text
}

/// The table's columns: two spaces in, one apart.
const COLUMNS: Layout = Layout {
    indent: "  ",
    gap: " ",
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_and_winner_words() {
        let task = |json: &str| -> StoredTask { serde_json::from_str(json).unwrap() };
        for (json, check, label) in [
            (r#"{"name":"a"}"#, "-", "a"),
            (r#"{"name":"a","check":{"exit_code":0}}"#, "passed", "a"),
            (r#"{"name":"a","check":{"exit_code":2}}"#, "failed (2)", "a"),
            (
                r#"{"name":"f-2","group":"f","winner":true}"#,
                "-",
                "f-2 (winner)",
            ),
            (r#"{"name":"f-1","group":"f","winner":false}"#, "-", "f-1"),
            (
                r#"{"name":"a","check":{"exit_code":0},"review":{"verdict":"request_changes"}}"#,
                "passed, review changes",
                "a",
            ),
            (
                r#"{"name":"a","review":{"verdict":"approve"}}"#,
                "-, review approved",
                "a",
            ),
        ] {
            let task = task(json);
            assert_eq!(check_word(&task), check, "{json}");
            assert_eq!(task_label(&task), label, "{json}");
        }
    }
}
