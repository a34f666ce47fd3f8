//! The summary a person reads when the run ends: one row per task, what parallelism saved,
//! and how to review each branch.

use std::io::Write;
use std::path::Path;

use crate::results::Results;
use crate::results::Status;
use crate::results::TaskResult;
use crate::results::approved_or_unreviewed;
use crate::results::rivals;
use crate::util::clip;
use crate::util::duration::short_ms as format_duration_ms;
use crate::util::quote;
use crate::util::table;
use crate::util::table::Layout;

/// A porch command about the run, as the user pastes it: the subcommand and its words (a task)
/// made `porch SUBCOMMAND --run ID … WORDS REPO`.
pub type RunCommand<'a> = &'a dyn Fn(&str, &[&str]) -> String;

/// The check a merge of the run would run, as the next steps say it.
#[derive(Debug, Clone, PartialEq)]
pub enum MergeCheck {
    /// None known: a plain `porch merge`.
    None,
    /// The tasks file's `merge_check`, which `porch merge` runs by itself.
    FromFile,
    /// No `merge_check`, but the succeeded tasks share a `check`: this, for `--check`.
    Shared(String),
}

/// Prints the summary of `results`; `results_file` is the results file written, `command`
/// makes the commands of what to do next, `merge_check` says what the merge would check.
pub fn print(
    out: &mut impl Write,
    results: &Results,
    results_file: &Path,
    (command, merge_check): (RunCommand, &MergeCheck),
    color: bool,
) {
    let text = render(
        results,
        results_file,
        (command, merge_check),
        Paint { color },
    );
    let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
}

/// The summary of results merged from several runs (`porch merge-results`): the table and the
/// totals, without the review commands, whose paths are on the machines that ran the shards.
pub fn print_merged(out: &mut impl Write, results: &Results) {
    let mut text = String::from("\n");
    text.push_str(&table(&results.tasks, Paint { color: false }));
    text.push('\n');
    for line in totals(results).into_iter().chain(pushes(&results.tasks)) {
        text.push_str(&line);
        text.push('\n');
    }
    let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
}

fn render(
    results: &Results,
    results_file: &Path,
    (command, merge_check): (RunCommand, &MergeCheck),
    paint: Paint,
) -> String {
    let mut text = String::from("\n");
    text.push_str(&table(&results.tasks, paint));
    text.push('\n');
    let mut after_table = groups(&results.tasks);
    after_table.extend(collisions(results));
    for line in &after_table {
        text.push_str(line);
        text.push('\n');
    }
    if !after_table.is_empty() {
        text.push('\n');
    }
    let dropped = dropped_lines(&results.tasks);
    for line in totals(results)
        .into_iter()
        .chain(pushes(&results.tasks))
        .chain(dropped)
    {
        text.push_str(&line);
        text.push('\n');
    }
    text.push('\n');
    let review = review_hints(results);
    for line in review
        .iter()
        .chain(&next_steps(results, (command, merge_check), results_file))
    {
        text.push_str(line);
        text.push('\n');
    }
    text
}

/// ANSI colour, or plain text when `color` is off.
#[derive(Clone, Copy)]
struct Paint {
    color: bool,
}

impl Paint {
    fn paint(self, code: &str, text: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }
}

const HEADER: [&str; 7] = ["STATUS", "TASK", "TIME", "TURNS", "COST", "FILES", "BRANCH"];

/// The header and one row per task, in columns, each row followed by the task's error and
/// warnings.
fn table(tasks: &[TaskResult], paint: Paint) -> String {
    let lines = if tasks.iter().any(|t| t.review.is_some()) {
        let rows: Vec<[String; 8]> = tasks.iter().map(reviewed_row).collect();
        table::lines(COLUMNS, REVIEWED_HEADER, &rows)
    } else {
        let rows: Vec<[String; 7]> = tasks.iter().map(row).collect();
        table::lines(COLUMNS, HEADER, &rows)
    };
    let mut lines = lines.into_iter();
    let header = lines.next().unwrap_or_default();
    let mut text = format!("{}\n", paint.paint("1", &header));
    for (task, line) in tasks.iter().zip(lines) {
        text.push_str(&format!("{}\n", paint.paint(row_color(task), &line)));
        text.push_str(&task_detail(task, paint));
    }
    text
}

/// The table's columns: two spaces in, one apart.
const COLUMNS: Layout = Layout {
    indent: "  ",
    gap: " ",
};

fn row(task: &TaskResult) -> [String; 7] {
    [
        status_word(task).to_string(),
        task.name.clone(),
        format_duration_ms(task.duration_ms),
        task.num_turns.map_or("-".into(), |n| n.to_string()),
        task.cost_usd.map_or("-".into(), |c| format!("${c:.4}")),
        format!(
            "{} (+{} -{})",
            task.files_changed, task.insertions, task.deletions
        ),
        task.branch.clone(),
    ]
}

/// A run with reviews has a column saying what each reviewer said, after the status.
const REVIEWED_HEADER: [&str; 8] = [
    "STATUS", "REVIEW", "TASK", "TIME", "TURNS", "COST", "FILES", "BRANCH",
];

fn reviewed_row(task: &TaskResult) -> [String; 8] {
    let [status, name, time, turns, cost, files, branch] = row(task);
    let review = task.review_cell();
    [
        status,
        review.to_string(),
        name,
        time,
        turns,
        cost,
        files,
        branch,
    ]
}

/// Green when it went well, yellow when it succeeded with warnings, red otherwise.
fn row_color(task: &TaskResult) -> &'static str {
    match task.status {
        Status::Succeeded if task.warnings.is_empty() => "32",
        Status::Succeeded => "33",
        _ => "31",
    }
}

/// The task's error and warnings, each on one indented line.
fn task_detail(task: &TaskResult, paint: Paint) -> String {
    let mut text = String::new();
    // The agent's words: shown as the live stream shows them, never obeyed by the terminal.
    if let Some(error) = &task.error {
        let line = format!("error: {}", clip::visible(&clip::one_line(error, 300)));
        text.push_str(&format!("      {}\n", paint.paint("31", &line)));
    }
    if let Some(push) = task.push.as_ref().filter(|p| !p.ok) {
        let reason = push.error.as_deref().unwrap_or("git refused");
        let line = format!(
            "push: {} did not reach {}: {}",
            task.branch,
            push.remote,
            clip::visible(&clip::one_line(reason, 300))
        );
        text.push_str(&format!("      {}\n", paint.paint("31", &line)));
    }
    for warning in &task.warnings {
        let line = format!("warning: {}", clip::visible(&clip::one_line(warning, 300)));
        text.push_str(&format!("      {}\n", paint.paint("33", &line)));
    }
    text
}

/// Each repeat group with its winner, or that it has none.
fn groups(tasks: &[TaskResult]) -> Vec<String> {
    let outcomes = rivals::outcomes(tasks);
    if outcomes.is_empty() {
        return Vec::new();
    }
    let mut lines = vec!["rival attempts:".to_string()];
    for outcome in outcomes {
        let of = format!(
            "{} of {} attempts succeeded",
            outcome.succeeded, outcome.rivals
        );
        let line = match outcome.winner {
            Some(winner) => format!(
                "  {}: {} won ({} lines changed, {}); {of}",
                outcome.group,
                winner.name,
                winner.insertions + winner.deletions,
                format_duration_ms(winner.duration_ms)
            ),
            None => format!(
                "  {}: no winner, none of {} attempts succeeded",
                outcome.group, outcome.rivals
            ),
        };
        lines.push(line);
    }
    lines
}

/// The pairs of branches that do not merge, each with its files; how many more overlap but
/// merge; and why conflicts were not looked for, when they were not.
fn collisions(results: &Results) -> Vec<String> {
    let conflicting: Vec<_> = results.conflicts.iter().filter(|c| !c.clean).collect();
    let clean = results.conflicts.len() - conflicting.len();
    let mut lines = Vec::new();
    if !conflicting.is_empty() {
        lines.push("branches that conflict:".to_string());
    }
    for conflict in conflicting {
        let [a, b] = &conflict.tasks;
        let files = clip::one_line(&conflict.files.join(", "), 200);
        lines.push(format!("  {a} and {b}: {}", clip::visible(&files)));
    }
    if clean > 0 {
        lines.push(format!(
            "{clean} pair(s) of branches change a common file and merge cleanly"
        ));
    }
    if let Some(note) = &results.conflicts_note {
        let note = clip::one_line(note, 300);
        lines.push(format!("conflicts: {}", clip::visible(&note)));
    }
    lines
}

/// How many tasks ended how, what they cost, and the time parallelism saved.
fn totals(results: &Results) -> [String; 2] {
    let summary = &results.summary;
    let mut counts = vec![format!(
        "{} of {} tasks succeeded",
        summary.succeeded, summary.total
    )];
    for (count, what) in [
        (summary.failed, "failed"),
        (summary.timed_out, "timed out"),
        (summary.interrupted, "interrupted"),
        (summary.skipped, "skipped"),
    ] {
        if count > 0 {
            counts.push(format!("{count} {what}"));
        }
    }
    let mut outcome = format!("{}; cost ${:.4}", counts.join(", "), summary.cost_usd);
    if let Some(budget) = results.budget_usd {
        let spent = results.spent_usd;
        outcome.push_str(&format!("; spent ${spent:.4} / ${budget:.4} budget"));
    }
    let wall = format_duration_ms(results.duration_ms);
    let time = if results.tasks.len() > 1 {
        let task_time: u64 = results.tasks.iter().map(|t| t.duration_ms).sum();
        format!(
            "wall time {wall} for {} of task time: running in parallel saved {}",
            format_duration_ms(task_time),
            format_duration_ms(task_time.saturating_sub(results.duration_ms))
        )
    } else {
        format!("wall time {wall}")
    };
    [outcome, time]
}

/// How many lines the terminal did not get, and whose, when it fell behind.
fn dropped_lines(tasks: &[TaskResult]) -> Option<String> {
    let whose: Vec<String> = tasks
        .iter()
        .filter(|t| t.dropped_lines > 0)
        .map(|t| format!("{} {}", t.name, t.dropped_lines))
        .collect();
    if whose.is_empty() {
        return None;
    }
    let total: u64 = tasks.iter().map(|t| t.dropped_lines).sum();
    Some(format!(
        "{total} line(s) of output not shown: the terminal fell behind ({}); the logs have every line",
        whose.join(", ")
    ))
}

/// `--push`: how many branches reached the remote, when any task pushed.
fn pushes(tasks: &[TaskResult]) -> Option<String> {
    let pushes: Vec<_> = tasks.iter().filter_map(|t| t.push.as_ref()).collect();
    let first = pushes.first()?;
    let reached = pushes.iter().filter(|p| p.ok).count();
    let failed = pushes.len() - reached;
    let mut line = format!(
        "pushed {reached} of {} branches to {}",
        pushes.len(),
        first.remote
    );
    if failed > 0 {
        line.push_str(&format!(
            "; {failed} push(es) FAILED (see above): exit code 1"
        ));
    }
    Some(line)
}

/// How many tasks the summary lists commands for, one line each; past this, `porch status`
/// does, so that a run of forty tasks ends with its failures on the screen, not a page of
/// commands.
const REVIEW_LIMIT: usize = 5;

/// The commands to review each branch that has commits and to resume each session whose
/// worktree is kept, when they are for at most `REVIEW_LIMIT` tasks; else a line counting
/// them. Every word is quoted for the shell, and what a shell leaves as it is (a session id
/// is the agent's) is made visible.
fn review_hints(results: &Results) -> Vec<String> {
    let diffs: Vec<String> = (results.tasks.iter())
        .filter(|t| t.commits > 0)
        .map(|t| {
            let base = (t.base_branch.as_str(), t.base_commit.as_str());
            format!("  {}", diff_command(&results.repo, base, &t.branch))
        })
        .collect();
    let resumable: Vec<&TaskResult> = (results.tasks.iter())
        .filter(|t| t.worktree_kept && t.session_id.is_some())
        .collect();
    let tasks = (results.tasks.iter())
        .filter(|t| t.commits > 0 || (t.worktree_kept && t.session_id.is_some()))
        .count();
    if tasks == 0 {
        return Vec::new();
    }
    if tasks > REVIEW_LIMIT {
        return vec![format!(
            "review: {} branch(es) with commits, {} session(s) to continue: `porch status` \
             lists the commands for each",
            diffs.len(),
            resumable.len()
        )];
    }
    let mut lines = vec!["review:".to_string()];
    lines.extend(diffs);
    for task in resumable {
        if let Some(session) = &task.session_id {
            lines.push(format!("  {}", resume_command(&task.worktree, session)));
        }
    }
    visible(lines)
}

/// `git -C REPO diff BASE...BRANCH`: what a task's branch holds against what it started from,
/// `base` as the results name it (its branch, its commit).
pub fn diff_command(repo: &str, base: (&str, &str), branch: &str) -> String {
    let (base_branch, base_commit) = base;
    // A detached HEAD moves on, and so does a revision counted from a branch or HEAD
    // (`main~2`); the commit the branch started from does not. Several dependencies'
    // branches (`task/a + task/b`) are no revision: their merge commit is.
    let not_a_revision = base_branch == "HEAD" || base_branch.contains([' ', '~', '^', ':', '@']);
    let base = if not_a_revision && !base_commit.is_empty() {
        base_commit
    } else {
        base_branch
    };
    let range = format!("{base}...{branch}");
    quote::command(&["git", "-C", repo, "diff", &range])
}

/// `cd WORKTREE && claude --resume SESSION`: the session continued where it stopped.
pub fn resume_command(worktree: &str, session: &str) -> String {
    format!(
        "{} && {}",
        quote::command(&["cd", worktree]),
        quote::command(&["claude", "--resume", session])
    )
}

/// What to do next, each with the command that does it; then where the results are. The log
/// named is that of the first task that did not succeed, else the first task's.
fn next_steps(
    results: &Results,
    (porch, merge_check): (RunCommand, &MergeCheck),
    results_file: &Path,
) -> Vec<String> {
    let tasks = &results.tasks;
    let failed = tasks.iter().find(|t| t.status != Status::Succeeded);
    let mut steps = vec![("every task's branch, diff, session", porch("status", &[]))];
    if let Some(task) = failed.or(tasks.first()) {
        steps.push(("a task's whole output", porch("logs", &[&task.name])));
    }
    // What `porch merge` takes: succeeded, and approved when reviewed.
    if (tasks.iter()).any(|t| t.status == Status::Succeeded && approved_or_unreviewed(t)) {
        steps.push(match merge_check {
            MergeCheck::None => ("merge what succeeded", porch("merge", &[])),
            MergeCheck::FromFile => (
                "merge what succeeded (runs merge_check)",
                porch("merge", &[]),
            ),
            // The check each task passed, run after each merge: whether they work together.
            MergeCheck::Shared(check) => (
                "merge what succeeded, checked",
                porch("merge", &["--check", check]),
            ),
        });
    }
    if failed.is_some() {
        // The resume takes the run's agent and settings from what the run recorded.
        steps.push(("run again what did not succeed", porch("resume", &[])));
    }
    let width = steps
        .iter()
        .map(|(what, _)| what.len() + 1)
        .max()
        .unwrap_or(0);
    let mut lines = vec!["next:".to_string()];
    for (what, command) in steps {
        lines.push(format!("  {:<width$} {command}", format!("{what}:")));
    }
    lines.push(format!("results: {}", results_file.display()));
    visible(lines)
}

fn visible(lines: Vec<String>) -> Vec<String> {
    (lines.into_iter())
        .map(|line| clip::visible(&line).into_owned())
        .collect()
}

fn status_word(task: &TaskResult) -> &'static str {
    match task.status {
        Status::Succeeded if task.warnings.is_empty() => "ok",
        Status::Succeeded => "ok!",
        Status::Failed => "FAILED",
        Status::Running => "running",
        Status::Pending => "pending",
        Status::TimedOut => "TIMED OUT",
        Status::Interrupted => "INTERRUPTED",
        Status::Skipped => "skipped",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::Conflict;

    fn task(name: &str, status: Status) -> TaskResult {
        TaskResult::example(name, status)
    }

    fn results(tasks: Vec<TaskResult>, duration_ms: u64) -> Results {
        let mut results = Results {
            version: 1,
            run_id: "20261201T204626Z-1481".to_string(),
            tasks_file: "tasks.json".to_string(),
            repo: "/src/shop".to_string(),
            duration_ms,
            lowest_concurrency: 1,
            final_concurrency: 1,
            tasks,
            ..Results::default()
        };
        results.summarise();
        results
    }

    const PLAIN: Paint = Paint { color: false };

    #[test]
    fn how_each_outcome_is_shown() {
        let warned = TaskResult {
            warnings: vec!["left 2 processes".to_string()],
            ..task("t", Status::Succeeded)
        };
        // (the task, its status word, its row colour: green, yellow or red)
        let cases = [
            (task("t", Status::Succeeded), "ok", "32"),
            (warned, "ok!", "33"),
            (task("t", Status::Failed), "FAILED", "31"),
            (task("t", Status::TimedOut), "TIMED OUT", "31"),
            (task("t", Status::Interrupted), "INTERRUPTED", "31"),
            (task("t", Status::Skipped), "skipped", "31"),
        ];
        for (task, word, color) in cases {
            assert_eq!(status_word(&task), word, "{:?}", task.status);
            assert_eq!(row_color(&task), color, "{:?}", task.status);
        }
    }

    #[test]
    fn the_table_has_a_column_per_field_and_the_problems_under_each_row() {
        let done = TaskResult {
            duration_ms: 61_000,
            num_turns: Some(12),
            cost_usd: Some(0.25),
            files_changed: 3,
            insertions: 40,
            deletions: 2,
            ..task("add-auth", Status::Succeeded)
        };
        let failed = TaskResult {
            duration_ms: 1_500,
            error: Some("exit status 1:\n  API   overloaded".to_string()),
            warnings: vec!["1 permission denial".to_string()],
            ..task("fix", Status::Failed)
        };
        assert_eq!(
            table(&[done, failed], PLAIN),
            "  STATUS TASK     TIME  TURNS COST    FILES      BRANCH\n\
             \x20 ok     add-auth 1m01s 12    $0.2500 3 (+40 -2) task/add-auth\n\
             \x20 FAILED fix      1.5s  -     -       0 (+0 -0)  task/fix\n\
             \x20     error: exit status 1: API overloaded\n\
             \x20     warning: 1 permission denial\n"
        );
    }

    #[test]
    fn a_run_with_reviews_shows_what_each_reviewer_said() {
        use crate::results::Review;
        use crate::results::Verdict;
        let review = |verdict| {
            Some(Review {
                verdict,
                ..Review::default()
            })
        };
        let tasks = [
            TaskResult {
                review: review(Some(Verdict::Approve)),
                ..task("a", Status::Succeeded)
            },
            TaskResult {
                review: review(Some(Verdict::RequestChanges)),
                ..task("b", Status::Failed)
            },
            TaskResult {
                review: review(None),
                ..task("c", Status::Failed)
            },
            task("d", Status::Failed),
        ];
        let text = table(&tasks, PLAIN);
        let cells: Vec<(&str, &str)> = (text.lines())
            .filter(|l| !l.trim_start().starts_with("error"))
            .map(|l| {
                let mut words = l.split_whitespace();
                (words.next().unwrap(), words.next().unwrap())
            })
            .collect();
        assert_eq!(
            cells,
            [
                ("STATUS", "REVIEW"),
                ("ok", "approved"),
                ("FAILED", "changes"),
                ("FAILED", "failed"),
                ("FAILED", "-")
            ],
            "{text}"
        );
    }

    #[test]
    fn colour_is_added_only_when_asked_for() {
        let tasks = [task("t", Status::Succeeded)];
        let coloured = table(&tasks, Paint { color: true });
        assert!(coloured.starts_with("\x1b[1m  STATUS"), "{coloured:?}");
        assert!(coloured.contains("\x1b[32m  ok "), "{coloured:?}");
        assert!(!table(&tasks, PLAIN).contains('\x1b'));
    }

    #[test]
    fn pushes_are_counted_and_a_failed_one_is_shown_under_its_task() {
        let pushed = |name: &str, error: Option<&str>| TaskResult {
            push: Some(crate::results::Push {
                remote: "origin".to_string(),
                ok: error.is_none(),
                error: error.map(String::from),
                ..Default::default()
            }),
            ..task(name, Status::Succeeded)
        };
        let tasks = [
            pushed("a", None),
            pushed(
                "b",
                Some("! [remote rejected] task/b (pre-receive hook declined)"),
            ),
            task("c", Status::Skipped),
        ];
        assert_eq!(
            pushes(&tasks).as_deref(),
            Some("pushed 1 of 2 branches to origin; 1 push(es) FAILED (see above): exit code 1")
        );
        assert_eq!(
            pushes(&tasks[..1]).as_deref(),
            Some("pushed 1 of 1 branches to origin")
        );
        assert_eq!(pushes(&tasks[2..]), None, "no line without --push");
        assert_eq!(
            task_detail(&tasks[1], PLAIN),
            "      push: task/b did not reach origin: ! [remote rejected] task/b (pre-receive hook declined)\n"
        );
        assert_eq!(
            task_detail(&tasks[0], PLAIN),
            "",
            "a push that worked is no problem"
        );
    }

    #[test]
    fn lines_the_terminal_did_not_get_are_counted_by_task_only_when_there_are_any() {
        let mut busy = task("busy", Status::Succeeded);
        busy.dropped_lines = 120;
        let mut chatty = task("chatty", Status::Failed);
        chatty.dropped_lines = 3;
        let quiet = task("quiet", Status::Succeeded);
        assert_eq!(dropped_lines(std::slice::from_ref(&quiet)), None);
        assert_eq!(
            dropped_lines(&[busy, quiet, chatty]).as_deref(),
            Some(
                "123 line(s) of output not shown: the terminal fell behind (busy 120, chatty 3); the logs have every line"
            )
        );
    }

    #[test]
    fn totals_name_only_the_outcomes_that_happened() {
        let one = results(vec![task("a", Status::Succeeded)], 2_000);
        assert_eq!(
            totals(&one),
            ["1 of 1 tasks succeeded; cost $0.0000", "wall time 2.0s"]
        );
        let many = results(
            vec![
                TaskResult {
                    duration_ms: 30_000,
                    cost_usd: Some(0.5),
                    ..task("a", Status::Succeeded)
                },
                TaskResult {
                    duration_ms: 20_000,
                    ..task("b", Status::TimedOut)
                },
                task("c", Status::Skipped),
            ],
            31_000,
        );
        assert_eq!(
            totals(&many),
            [
                "1 of 3 tasks succeeded, 1 timed out, 1 skipped; cost $0.5000",
                "wall time 31.0s for 50.0s of task time: running in parallel saved 19.0s",
            ]
        );
    }

    #[test]
    fn with_a_budget_the_totals_say_what_was_spent_of_it() {
        let mut run = results(vec![task("a", Status::Succeeded)], 2_000);
        run.budget_usd = Some(0.05);
        run.spent_usd = 0.06;
        assert_eq!(
            totals(&run)[0],
            "1 of 1 tasks succeeded; cost $0.0000; spent $0.0600 / $0.0500 budget"
        );
    }

    #[test]
    fn review_hints_name_branches_with_commits_and_sessions_to_resume() {
        let committed = TaskResult {
            commits: 2,
            session_id: Some("s-1".to_string()),
            ..task("a", Status::Succeeded)
        };
        let detached = TaskResult {
            commits: 1,
            base_branch: "HEAD".to_string(),
            worktree_kept: false,
            session_id: Some("s-2".to_string()),
            ..task("b", Status::Succeeded)
        };
        let nothing = task("c", Status::Failed);
        let merged_base = TaskResult {
            commits: 1,
            base_branch: "task/a + task/b".to_string(),
            worktree_kept: false,
            ..task("d", Status::Succeeded)
        };
        let counted_back = TaskResult {
            commits: 1,
            base_branch: "HEAD~0".to_string(),
            worktree_kept: false,
            ..task("e", Status::Succeeded)
        };
        let tasks = vec![committed, detached, nothing, merged_base, counted_back];
        let results = results(tasks, 0);
        let hints = review_hints(&results);
        assert_eq!(
            hints,
            [
                "review:",
                "  git -C /src/shop diff main...task/a",
                // A detached HEAD moves on: the diff starts at the commit the branch began at.
                "  git -C /src/shop diff 0123abcd...task/b",
                // Several dependencies' branches are no revision; their merge commit is.
                "  git -C /src/shop diff 0123abcd...task/d",
                // A revision counted from HEAD or a branch moves with it.
                "  git -C /src/shop diff 0123abcd...task/e",
                // Only a kept worktree can be resumed in.
                "  cd /wt/shop/a && claude --resume s-1",
            ]
        );
    }

    #[test]
    fn review_hints_quote_every_word_and_show_the_agents_controls() {
        let odd = TaskResult {
            commits: 1,
            base_branch: "it's".to_string(),
            worktree: "/home/me/my projects/wt/a".to_string(),
            session_id: Some("s 1\x1b]0;title\x07".to_string()),
            ..task("a", Status::Succeeded)
        };
        let mut results = results(vec![odd], 0);
        results.repo = "/home/me/my projects/shop".to_string();
        let hints = review_hints(&results);
        assert_eq!(
            hints[1..3],
            [
                r"  git -C '/home/me/my projects/shop' diff 'it'\''s...task/a'",
                r"  cd '/home/me/my projects/wt/a' && claude --resume 's 1\x1b]0;title\x07'",
            ]
        );
    }

    #[test]
    fn the_agents_error_text_cannot_drive_the_terminal() {
        let failed = TaskResult {
            error: Some("boom\x1b[2J\x1b]0;pwned\x07 done".to_string()),
            warnings: vec!["w\x1b[31m".to_string()],
            ..task("a", Status::Failed)
        };
        let detail = task_detail(&failed, PLAIN);
        assert_eq!(
            detail,
            "      error: boom\\x1b[2J\\x1b]0;pwned\\x07 done\n      warning: w\\x1b[31m\n"
        );
    }

    #[test]
    fn each_group_is_shown_with_its_winner_or_none() {
        let rival = |name: &str, group: &str, status, winner| TaskResult {
            group: Some(group.to_string()),
            winner: Some(winner),
            insertions: 4,
            deletions: 2,
            duration_ms: 1_200,
            ..task(name, status)
        };
        let tasks = [
            task("solo", Status::Succeeded),
            rival("fix-1", "fix", Status::Failed, false),
            rival("fix-2", "fix", Status::Succeeded, true),
            rival("fix-3", "fix", Status::Succeeded, false),
            rival("lint-1", "lint", Status::Failed, false),
            rival("lint-2", "lint", Status::TimedOut, false),
        ];
        assert_eq!(
            groups(&tasks),
            [
                "rival attempts:",
                "  fix: fix-2 won (6 lines changed, 1.2s); 2 of 3 attempts succeeded",
                "  lint: no winner, none of 2 attempts succeeded",
            ]
        );
        assert!(groups(&tasks[..1]).is_empty(), "no group, no lines");
        let results = results(tasks.to_vec(), 0);
        let text = render(
            &results,
            Path::new("/r.json"),
            (&example_command, &MergeCheck::None),
            PLAIN,
        );
        let parts: Vec<&str> = text.split("\n\n").collect();
        assert_eq!(parts.len(), 4, "table, groups, totals, next: {text}");
        assert_eq!(parts[1], groups(&results.tasks).join("\n"));
    }

    #[test]
    fn conflicting_pairs_are_named_with_their_files_and_clean_ones_counted() {
        let pair = |a: &str, b: &str, files: &[&str], clean| Conflict {
            tasks: [a.to_string(), b.to_string()],
            files: files.iter().map(|f| f.to_string()).collect(),
            clean,
        };
        let mut results = results(vec![task("a", Status::Succeeded)], 0);
        assert!(
            collisions(&results).is_empty(),
            "nothing overlaps: no lines"
        );
        results.conflicts = vec![
            pair("a", "b", &["src/x.rs", "README.md"], false),
            pair("a", "c", &["README.md"], true),
            pair("b", "fix-2", &["src/y.rs"], false),
        ];
        assert_eq!(
            collisions(&results),
            [
                "branches that conflict:",
                "  a and b: src/x.rs, README.md",
                "  b and fix-2: src/y.rs",
                "1 pair(s) of branches change a common file and merge cleanly",
            ]
        );
        results.conflicts = Vec::new();
        results.conflicts_note = Some("not looked for: git 2.30 has no …".to_string());
        assert_eq!(
            collisions(&results),
            ["conflicts: not looked for: git 2.30 has no …"]
        );
    }

    #[test]
    fn the_summary_is_the_table_the_totals_and_the_hints_apart_by_blank_lines() {
        let results = results(vec![task("a", Status::Succeeded)], 0);
        let text = render(
            &results,
            Path::new("/r.json"),
            (&example_command, &MergeCheck::None),
            PLAIN,
        );
        let parts: Vec<&str> = text.split("\n\n").collect();
        assert_eq!(parts.len(), 3, "{text}");
        assert_eq!(
            parts[0],
            format!("\n{}", table(&results.tasks, PLAIN).trim_end())
        );
        assert_eq!(parts[1], totals(&results).join("\n"));
        let hints = review_hints(&results).into_iter();
        let next = next_steps(
            &results,
            (&example_command, &MergeCheck::None),
            Path::new("/r.json"),
        );
        assert_eq!(
            parts[2],
            hints.chain(next).collect::<Vec<_>>().join("\n") + "\n"
        );
    }

    #[test]
    fn past_a_handful_of_tasks_the_commands_for_each_are_left_to_porch_status() {
        let committed = |name: &str| TaskResult {
            commits: 1,
            session_id: Some(format!("s-{name}")),
            ..task(name, Status::Succeeded)
        };
        let few: Vec<TaskResult> = (1..=REVIEW_LIMIT)
            .map(|i| committed(&format!("t{i}")))
            .collect();
        let hints = review_hints(&results(few, 0));
        assert_eq!(hints.len(), 1 + 2 * REVIEW_LIMIT, "{hints:#?}");
        let many: Vec<TaskResult> = (1..=40).map(|i| committed(&format!("t{i}"))).collect();
        assert_eq!(
            review_hints(&results(many, 0)),
            [
                "review: 40 branch(es) with commits, 40 session(s) to continue: `porch status` \
              lists the commands for each"
            ]
        );
        assert!(review_hints(&results(vec![task("a", Status::Failed)], 0)).is_empty());
    }

    /// `porch SUBCOMMAND --run R1 WORDS /src/shop`, as the engine's `RunChoice::command` makes
    /// them.
    fn example_command(subcommand: &str, words: &[&str]) -> String {
        let mut all = vec!["porch", subcommand, "--run", "R1"];
        all.extend(words);
        all.push("/src/shop");
        quote::command(&all)
    }

    #[test]
    fn the_next_steps_name_a_failed_task_and_what_there_is_to_merge_or_resume() {
        let tasks = vec![
            task("a", Status::Succeeded),
            task("fix login", Status::Failed),
        ];
        let run = results(tasks, 0);
        assert_eq!(
            next_steps(
                &run,
                (&example_command, &MergeCheck::None),
                Path::new("/wt/shop/.porch/runs/R1.json")
            ),
            [
                "next:",
                "  every task's branch, diff, session: porch status --run R1 /src/shop",
                "  a task's whole output:              porch logs --run R1 'fix login' /src/shop",
                "  merge what succeeded:               porch merge --run R1 /src/shop",
                "  run again what did not succeed:     porch resume --run R1 /src/shop",
                "results: /wt/shop/.porch/runs/R1.json",
            ]
        );
        let all_well = results(vec![task("a", Status::Succeeded)], 0);
        let next = next_steps(
            &all_well,
            (&example_command, &MergeCheck::None),
            Path::new("/r.json"),
        );
        assert_eq!(
            next[2],
            "  a task's whole output:              porch logs --run R1 a /src/shop"
        );
        assert!(
            !next.iter().any(|l| l.contains("porch resume")),
            "{next:#?}"
        );
    }
}
