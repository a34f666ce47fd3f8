//! `porch status`: what a run left behind, asked of git now rather than remembered: each task's
//! status, what its branch holds against its base, its check, its worktree, and how to go on.

use std::path::Path;
use std::process::ExitCode;

use crate::commands::merge::MERGE_BRANCH_PREFIX;
use crate::error::Error;
use crate::git;
use crate::preflight::options::StatusArgs;
use crate::results::MergeRecord;
use crate::results::Status;
use crate::results::approved_or_unreviewed;
use crate::results::summary;
use crate::state::lock::Busy;
use crate::state::runs::RunChoice;
use crate::state::runs::StoredRun;
use crate::state::runs::StoredTask;
use crate::util::clip;
use crate::util::quote;
use crate::util::table;
use crate::util::table::Layout;

pub fn status(args: &StatusArgs) -> Result<ExitCode, Error> {
    let (location, run) = args.choice.load()?;
    if args.json {
        let text = String::from_utf8_lossy(&run.bytes);
        let newline = if text.ends_with('\n') { "" } else { "\n" };
        let kept = format!("the results file has the run: {}", run.path.display());
        let printed = crate::sys::console::print_json(&format!("{text}{newline}"), &kept);
        return Ok(if printed {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(1)
        });
    }
    let repo = &location.repo.toplevel;
    let merge_branch = format!("{MERGE_BRANCH_PREFIX}{}", run.id);
    let rows = task_rows(repo, &merge_branch, &run.results.tasks);
    let busy = location.state.run_holder_now(&run.id);
    let text = render(&run, &rows);
    let next = next_steps(&run, &rows, &args.choice, busy.as_ref());
    crate::sys::console::print_stdout(&format!("{text}{next}"));
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
    /// The task succeeded and its branch is in the run's merge branch or in its base branch.
    merged: bool,
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

fn task_rows(repo: &Path, merge_branch: &str, tasks: &[StoredTask]) -> Vec<Row> {
    let mut rows = Vec::with_capacity(tasks.len());
    for chunk in tasks.chunks(PARALLEL_QUESTIONS) {
        std::thread::scope(|scope| {
            let handles: Vec<_> = chunk
                .iter()
                .map(|task| scope.spawn(move || task_row(repo, merge_branch, task)))
                .collect();
            for (handle, task) in handles.into_iter().zip(chunk) {
                rows.push(handle.join().unwrap_or_else(|_| unknown_row(task)));
            }
        });
    }
    rows
}

fn task_row(repo: &Path, merge_branch: &str, task: &StoredTask) -> Row {
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
        merged: task.succeeded() && is_merged(repo, merge_branch, task),
    }
}

/// Whether a task's branch is in `porch merge`'s branch of the run, or in the branch it
/// started from (where `porch merge --into` usually puts it).
fn is_merged(repo: &Path, merge_branch: &str, task: &StoredTask) -> bool {
    let has = |into: &str| git::branch_contains(repo, into, &task.branch).unwrap_or(false);
    !task.branch.is_empty() && (has(merge_branch) || has(&task.base_branch))
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
        merged: false,
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
        Some(_) => format!("{check}, review {}", task.review_cell()),
        None => check,
    }
}

fn render(run: &StoredRun, rows: &[Row]) -> String {
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
            text.push_str(&format!("  {task}  {}\n", clip::visible(url)));
        }
    }
    if let Some(merge) = &results.merge {
        text.push_str(&format!("\n{}\n", merge_line(merge)));
    }
    let resumes: Vec<&str> = rows.iter().filter_map(|r| r.resume.as_deref()).collect();
    if !resumes.is_empty() {
        text.push_str("\ncontinue a session:\n");
        // The session id is the agent's: what a shell leaves as it is is made visible.
        for line in resumes {
            text.push_str(&format!("  {}\n", clip::visible(line)));
        }
    }
    text
}

/// The porch commands that go on from here, as the user can paste them: every option that
/// found this run (`--worktree-dir`, a results file's path) again. The log shown is that of
/// the first task that did not succeed. While another porch holds the run (`busy`), only
/// what follows it: resume and merge would be refused.
fn next_steps(run: &StoredRun, rows: &[Row], choice: &RunChoice, busy: Option<&Busy>) -> String {
    let tasks = &run.results.tasks;
    let run_word = choice.run_word(&run.id);
    let mut text = String::from("\n");
    if let Some(busy) = busy {
        text.push_str(&format!("{}\n", busy.what()));
        let running = tasks.iter().find(|t| t.status == Status::Running);
        if let Some(task) = running.or(tasks.first()) {
            let logs = choice.command("logs", run_word, &["--follow", &task.name]);
            text.push_str(&format!("follow a task:              {logs}\n"));
        }
        let status = choice.command("status", run_word, &[]);
        text.push_str(&format!("look again:                 {status}\n"));
        return text;
    }
    if tasks.iter().any(|t| !t.succeeded()) {
        let resume = choice.command("resume", run_word, &[]);
        text.push_str(&format!("re-run what did not succeed: {resume}\n"));
    }
    let recorded = (run.results.merge.as_ref()).filter(|m| m.commit.is_some());
    let unmerged: Vec<&StoredTask> = (rows.iter().zip(tasks))
        .filter(|(row, t)| t.succeeded() && !row.merged && approved_or_unreviewed(t))
        .map(|(_, t)| t)
        .collect();
    if let (false, Some(merge)) = (unmerged.is_empty(), recorded) {
        text.push_str(&after_the_merge(merge, &unmerged, choice, run_word));
    } else if !unmerged.is_empty() {
        let merge = choice.command("merge", run_word, &[]);
        text.push_str(&format!("merge what succeeded:       {merge}\n"));
    } else if rows.iter().any(|row| row.merged) {
        text.push_str("merged: every branch that succeeded is merged\n");
    }
    let shown = tasks.iter().find(|t| !t.succeeded()).or(tasks.first());
    if let Some(task) = shown {
        let logs = choice.command("logs", run_word, &[&task.name]);
        text.push_str(&format!("a task's whole output:      {logs}\n"));
    }
    text
}

/// What a recorded merge left for later: the tasks it was asked to merge and left out (the
/// merge line says why, and merging them again would leave them out again), and the ones it
/// was not asked to merge (a partial merge), with the command that merges those into it.
fn after_the_merge(
    merge: &MergeRecord,
    unmerged: &[&StoredTask],
    choice: &RunChoice,
    run_word: &str,
) -> String {
    let asked: Vec<&str> = (merge.merged.iter().map(|m| m.task.as_str()))
        .chain(merge.skipped.iter().map(|s| s.task.as_str()))
        .chain(merge.backed_out.iter().map(|b| b.task.as_str()))
        .collect();
    let (left_out, not_asked): (Vec<&StoredTask>, Vec<&StoredTask>) =
        (unmerged.iter()).partition(|t| asked.contains(&t.name.as_str()));
    // Of what it was not asked, what `porch merge` takes: a group's winner, approved work.
    let not_asked: Vec<&str> = (not_asked.iter())
        .filter(|t| t.merged_unnamed())
        .map(|t| t.name.as_str())
        .collect();
    let mut text = String::new();
    if !left_out.is_empty() {
        let names: Vec<&str> = left_out.iter().map(|t| t.name.as_str()).collect();
        text.push_str(&format!(
            "left out of {}: {} (see the merge above)\n",
            merge.branch,
            names.join(", ")
        ));
    }
    if !not_asked.is_empty() {
        // REPO is the first positional of merge: the task names go after it.
        let command = choice.command("merge", run_word, &["--into", &merge.branch]);
        text.push_str(&format!(
            "{:<28}{} (the merge above was not asked to)\n",
            "not merged yet:",
            not_asked.join(", ")
        ));
        text.push_str(&format!(
            "{:<28}{command} {}\n",
            "merge them too:",
            quote::command(&not_asked)
        ));
    }
    text
}

/// What `porch merge` did, in one line: "merged into porch/merge/R: a, b; b's conflict
/// resolved; c skipped (conflict in X)".
fn merge_line(merge: &MergeRecord) -> String {
    let names: Vec<&str> = merge.merged.iter().map(|m| m.task.as_str()).collect();
    let mut parts = vec![if let Some(failure) = &merge.base_check_failure {
        format!("merged nothing into {}: {}", merge.branch, failure.reason)
    } else if names.is_empty() {
        format!("merged nothing into {}", merge.branch)
    } else {
        format!("merged into {}: {}", merge.branch, names.join(", "))
    }];
    for resolved in &merge.resolved {
        parts.push(format!("{}'s conflict resolved", resolved.task));
    }
    for skipped in &merge.skipped {
        let why = match skipped.files.as_slice() {
            [] => skipped.reason.clone(),
            files => format!("conflict in {}", files.join(", ")),
        };
        parts.push(format!("{} skipped ({why})", skipped.task));
    }
    for backed in &merge.backed_out {
        let exit = backed
            .check_exit
            .map_or("failed".to_string(), |c| format!("exit {c}"));
        parts.push(format!("{} backed out (the check: {exit})", backed.task));
    }
    parts.join("; ")
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
            (
                r#"{"name":"a","status":"interrupted","check":{"exit_code":0},"review":{"error":"the reviewer was ended"}}"#,
                "passed, review ended",
                "a",
            ),
            (
                r#"{"name":"a","status":"failed","review":{"error":"the reviewer failed"}}"#,
                "-, review failed",
                "a",
            ),
            (
                r#"{"name":"a","status":"succeeded","review":{"skipped":"the branch changes nothing"}}"#,
                "-, review skipped",
                "a",
            ),
        ] {
            let task = task(json);
            assert_eq!(check_word(&task), check, "{json}");
            assert_eq!(task_label(&task), label, "{json}");
        }
    }
}
