//! `porch run --dry-run`: the plan preflight made, shown as text or as one JSON document
//! (`--json`), and nothing created: no worktree, branch, state directory or results file.

use std::process::ExitCode;

use serde::Serialize;

use crate::preflight::options::OutputMode;
use crate::preflight::options::RunArgs;
use crate::results::Shard;
use crate::task::budget::dollars;
use crate::task::plan::Plan;
use crate::task::plan::TaskPlan;
use crate::util::clip;
use crate::util::duration;
use crate::util::quote;

/// The version of the JSON shape `--dry-run --json` prints: a field is only ever added.
const PREVIEW_VERSION: u32 = 1;

/// Prints the plan; exit code 0, since every check passed to get here.
pub fn show(plan: &Plan, args: &RunArgs) -> ExitCode {
    let preview = preview(plan, args);
    let text = match args.output_mode {
        OutputMode::Json => format!("{}\n", to_json(&preview)),
        _ => render(&preview),
    };
    // A `copy` path or a base may hold an `env` value, which porch never writes.
    let hidden = crate::preflight::env_values_in(&plan.source.bytes);
    crate::sys::console::print_stdout(&hidden.redact(&text));
    ExitCode::SUCCESS
}

/// What a run of the plan would do.
#[derive(Debug, Serialize)]
struct Preview {
    version: u32,
    tasks_file: String,
    /// How many tasks the file holds, before `--only`, `--skip`, `--shard` and `repeat`.
    tasks_in_file: usize,
    shard: Option<Shard>,
    repo: String,
    agent: String,
    /// The id this preview made; a real run makes its own (`{run}` in a branch template).
    run_id: String,
    results: String,
    jobs: Jobs,
    max_fail: Option<usize>,
    max_cost_usd: Option<f64>,
    /// `--max-wait`: the longest wait for a usage window to reset.
    max_wait_ms: u64,
    push: Option<String>,
    /// `--pr`: pull requests opened at the end; null without.
    pull_requests: Option<PullRequestsPlanned>,
    /// The hooks, as the commands porch runs (`--on-finish CMD` is `sh -c CMD`).
    on_finish: Option<Vec<String>>,
    on_task_finish: Option<Vec<String>>,
    cleanup: bool,
    /// `porch resume`: the run it resumes, and its tasks kept as they were; null and empty
    /// for `porch run`.
    resumes: Option<String>,
    carried: Vec<String>,
    /// In the order they would start.
    tasks: Vec<Planned>,
}

#[derive(Debug, Serialize)]
struct PullRequestsPlanned {
    remote: String,
    draft: bool,
    base: Option<String>,
}

#[derive(Debug, Serialize)]
struct Jobs {
    sessions: usize,
    why: String,
}

/// One task as it would run.
#[derive(Debug, Serialize)]
struct Planned {
    name: String,
    /// The attempt's repeated task (`repeat`), else null.
    group: Option<String>,
    branch: String,
    worktree: String,
    base_branch: String,
    /// Null for a task that starts from the tasks it depends on: made once they succeeded.
    base_commit: Option<String>,
    depends_on: Vec<String>,
    model: Option<String>,
    permission_mode: String,
    timeout_ms: Option<u64>,
    max_turns: Option<u64>,
    max_budget_usd: Option<f64>,
    copy: Vec<String>,
    setup: Option<Vec<String>>,
    check: Option<Vec<String>>,
    /// The task's `review`: its reviewer's model and whether its verdict decides the task.
    review: Option<PlannedReview>,
    port: Option<u16>,
    /// `porch resume`: the claude session it continues; null for a fresh one, and for a task
    /// whose review alone runs again.
    continues_session: Option<String>,
    /// `porch resume`: interrupted during its review, the task starts no session, only a
    /// reviewer on its committed work.
    review_only: bool,
}

#[derive(Debug, Serialize)]
struct PlannedReview {
    model: Option<String>,
    required: bool,
}

fn preview(plan: &Plan, args: &RunArgs) -> Preview {
    let dependencies: Vec<Vec<usize>> = plan.tasks.iter().map(|t| t.depends_on.clone()).collect();
    let tasks = start_order(&dependencies)
        .into_iter()
        .filter(|&index| plan.tasks[index].carried.is_none())
        .map(|index| planned(plan, args, &plan.tasks[index]))
        .collect();
    let carried = (plan.tasks.iter())
        .filter(|t| t.carried.is_some())
        .map(|t| t.task.name.clone())
        .collect();
    Preview {
        version: PREVIEW_VERSION,
        tasks_file: plan.source.name.clone(),
        tasks_in_file: plan.tasks_file_order.len(),
        shard: plan.shard,
        repo: plan.repo.toplevel.display().to_string(),
        agent: plan.agent.display().to_string(),
        run_id: plan.run_id.clone(),
        results: plan.results_file().display().to_string(),
        jobs: Jobs {
            sessions: plan.jobs,
            why: jobs_why(
                args.jobs_given.as_deref(),
                args.jobs,
                plan.tasks.len(),
                plan.jobs_note.as_deref(),
            ),
        },
        max_fail: plan.settings.max_fail.map(|m| m.tasks),
        max_cost_usd: plan.settings.max_cost_usd,
        max_wait_ms: plan.settings.max_wait.as_millis() as u64,
        push: plan.settings.push.clone(),
        pull_requests: (plan.pull_requests.as_ref()).map(|p| PullRequestsPlanned {
            remote: p.remote.clone(),
            draft: p.draft,
            base: p.base.clone(),
        }),
        on_finish: plan.hooks.on_finish.clone(),
        on_task_finish: plan.hooks.on_task_finish.clone(),
        cleanup: plan.settings.cleanup,
        resumes: plan.resumed_from.clone(),
        carried,
        tasks,
    }
}

fn planned(plan: &Plan, args: &RunArgs, task: &TaskPlan) -> Planned {
    let spec = &task.task;
    let words = |path: &std::path::PathBuf| path.display().to_string();
    Planned {
        name: spec.name.clone(),
        group: spec.group.clone(),
        branch: task.branch.clone(),
        worktree: task.worktree.display().to_string(),
        base_branch: task.base_branch.clone(),
        base_commit: (!task.base_commit.is_empty()).then(|| task.base_commit.clone()),
        depends_on: (task.depends_on.iter())
            .map(|&d| plan.tasks[d].task.name.clone())
            .collect(),
        model: spec.model.clone(),
        permission_mode: (spec.permission_mode.clone())
            .unwrap_or_else(|| args.settings.permission_mode.clone()),
        timeout_ms: task.timeout.map(|t| t.as_millis() as u64),
        max_turns: spec.max_turns,
        max_budget_usd: spec.max_budget_usd,
        copy: spec.copy.iter().map(words).collect(),
        setup: spec.setup.clone(),
        check: spec.check.clone(),
        review: spec.review.as_ref().map(|review| PlannedReview {
            model: review.model_for(spec),
            required: review.required,
        }),
        port: (task.env.iter())
            .find(|(name, _)| name == "PORCH_PORT")
            .and_then(|(_, value)| value.parse().ok()),
        continues_session: (task.resume.as_ref())
            .filter(|r| r.review_only.is_none())
            .and_then(|r| r.session_id.clone()),
        review_only: (task.resume.as_ref()).is_some_and(|r| r.review_only.is_some()),
    }
}

/// The order tasks start in when each takes as long as the others: file order, each after
/// what it depends on (the scheduler starts the first ready task of the file when a slot
/// frees).
fn start_order(dependencies: &[Vec<usize>]) -> Vec<usize> {
    let count = dependencies.len();
    let mut placed = vec![false; count];
    let mut order = Vec::with_capacity(count);
    while order.len() < count {
        let ready = (0..count)
            .find(|&index| !placed[index] && dependencies[index].iter().all(|&d| placed[d]));
        // preflight refused cycles; were one left, the rest follow in file order.
        let next = ready.or_else(|| (0..count).find(|&i| !placed[i]));
        let Some(next) = next else { break };
        placed[next] = true;
        order.push(next);
    }
    order
}

/// How many sessions run at once, and why that many.
/// `given`: `-j` as given (`-j 4`, `PORCH_JOBS=4`); `note`: what preflight said when memory
/// capped the sessions.
fn jobs_why(
    given: Option<&str>,
    asked: Option<usize>,
    to_run: usize,
    note: Option<&str>,
) -> String {
    match (given, asked) {
        (Some(given), Some(asked)) if asked > to_run => {
            format!("{given}, but there are only {to_run} tasks to run")
        }
        (Some(given), _) => given.to_string(),
        (None, _) => match note {
            Some(note) => note.to_string(),
            None => "no -j: every task at once, as available memory allows".to_string(),
        },
    }
}

fn to_json(preview: &Preview) -> String {
    serde_json::to_string_pretty(preview).unwrap_or_default()
}

/// The plan as a person reads it: the run's facts, then each task in start order.
fn render(preview: &Preview) -> String {
    let mut text = match &preview.resumes {
        None => String::from(
            "porch run --dry-run: every check passed; nothing was created. A run would do this:\n\n",
        ),
        Some(id) => format!(
            "porch resume --dry-run: every check passed; nothing was created. The resume of run {id} would do this:\n\n"
        ),
    };
    for (key, value) in run_facts(preview) {
        text.push_str(&format!("{key:<11} {}\n", clip::visible(&value)));
    }
    text.push_str("\nin start order:\n");
    for (position, task) in preview.tasks.iter().enumerate() {
        text.push_str(&format!("{:>3}. {}\n", position + 1, task.name));
        for (key, value) in task_facts(task) {
            text.push_str(&format!("       {key:<9} {}\n", clip::visible(&value)));
        }
    }
    text
}

fn run_facts(preview: &Preview) -> Vec<(&'static str, String)> {
    let shard = (preview.shard).map_or(String::new(), |shard| format!(" (shard {shard})"));
    let tasks = format!(
        "{} to run{shard}, from the {} of {}",
        preview.tasks.len(),
        preview.tasks_in_file,
        preview.tasks_file
    );
    let mut facts = vec![
        ("tasks", tasks),
        ("repository", preview.repo.clone()),
        ("agent", preview.agent.clone()),
        ("results", preview.results.clone()),
        (
            "sessions",
            format!("{} at once: {}", preview.jobs.sessions, preview.jobs.why),
        ),
    ];
    // A branch template with `{run}`: the names hold this preview's id, not the run's.
    if (preview.tasks.iter()).any(|t| t.branch.contains(&preview.run_id)) {
        let id = format!("{} (this preview's; a run makes its own)", preview.run_id);
        facts.push(("run id", id));
    }
    if let Some(max_fail) = preview.max_fail {
        let when = format!("nothing new starts once {max_fail} task(s) failed");
        facts.push(("max fail", when));
    }
    if let Some(budget) = preview.max_cost_usd {
        facts.push(("budget", format!("${} for the run", dollars(budget))));
    }
    if !preview.carried.is_empty() {
        let kept = format!("{} (kept as they were)", preview.carried.join(", "));
        facts.push(("carried", kept));
    }
    let max_wait = duration::format(std::time::Duration::from_millis(preview.max_wait_ms));
    facts.push((
        "max wait",
        format!("{max_wait} for a usage window to reset"),
    ));
    if let Some(push) = &preview.push {
        facts.push(("push", push.clone()));
    }
    if let Some(pulls) = &preview.pull_requests {
        let kind = if pulls.draft { "draft" } else { "ready" };
        let base = (pulls.base.as_ref()).map_or(String::new(), |b| format!(", based on {b}"));
        let what = format!(
            "{kind} pull requests pushed to {}{base}, at the end",
            pulls.remote
        );
        facts.push(("pr", what));
    }
    for (key, hook) in [
        ("on finish", &preview.on_finish),
        ("task hook", &preview.on_task_finish),
    ] {
        if let Some(argv) = hook {
            facts.push((key, quote::command(argv)));
        }
    }
    if preview.cleanup {
        facts.push((
            "cleanup",
            "each worktree removed once its work is committed".into(),
        ));
    }
    facts
}

fn task_facts(task: &Planned) -> Vec<(&'static str, String)> {
    let base = match &task.base_commit {
        Some(commit) => format!("{} ({})", task.base_branch, clip::short_commit(commit)),
        None => format!(
            "{} once the tasks it waits for have succeeded",
            task.base_branch
        ),
    };
    let mut facts = vec![
        ("branch", format!("{}, from {base}", task.branch)),
        ("worktree", task.worktree.clone()),
    ];
    if !task.depends_on.is_empty() {
        facts.push(("after", task.depends_on.join(", ")));
    }
    if let Some(group) = &task.group {
        facts.push(("rival of", format!("the other attempts of {group}")));
    }
    facts.push(("settings", settings(task)));
    if !task.copy.is_empty() {
        facts.push(("copy", task.copy.join(", ")));
    }
    if let Some(setup) = &task.setup {
        facts.push(("setup", quote::command(setup)));
    }
    if let Some(check) = &task.check {
        facts.push(("check", quote::command(check)));
    }
    if let Some(session) = &task.continues_session {
        facts.push(("continues", format!("claude session {session}")));
    }
    if task.review_only {
        facts.push((
            "resumes",
            "its review alone: its session succeeded, its work is committed and checked".into(),
        ));
    }
    if let Some(review) = &task.review {
        let model = review.model.as_deref().unwrap_or("claude's default");
        let decides = match review.required {
            true => "request_changes fails the task",
            false => "the verdict is recorded only",
        };
        facts.push((
            "review",
            format!("a read-only reviewer, model {model}; {decides}"),
        ));
    }
    facts
}

/// The model, permission mode, timeout, turns and budget a session of the task gets.
fn settings(task: &Planned) -> String {
    let model = task.model.as_deref().unwrap_or("claude's default");
    let mut parts = vec![
        format!("model {model}"),
        format!("permission mode {}", task.permission_mode),
    ];
    if let Some(ms) = task.timeout_ms {
        let limit = duration::format(std::time::Duration::from_millis(ms));
        parts.push(format!("timeout {limit}"));
    }
    if let Some(turns) = task.max_turns {
        parts.push(format!("max turns {turns}"));
    }
    if let Some(budget) = task.max_budget_usd {
        parts.push(format!("budget ${} a session", dollars(budget)));
    }
    if let Some(port) = task.port {
        parts.push(format!("PORCH_PORT {port}"));
    }
    parts.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn how_many_at_once_and_why() {
        let capped = "running at most 3 sessions at once: 900 MiB of memory is available";
        /// -j as given, -j, the tasks to run, the memory note, what the plan says.
        type Case<'a> = (
            Option<&'a str>,
            Option<usize>,
            usize,
            Option<&'a str>,
            &'a str,
        );
        let cases: [Case; 4] = [
            (Some("-j 4"), Some(4), 10, None, "-j 4"),
            (
                Some("PORCH_JOBS=8"),
                Some(8),
                3,
                None,
                "PORCH_JOBS=8, but there are only 3 tasks to run",
            ),
            (None, None, 10, Some(capped), capped),
            (
                None,
                None,
                3,
                None,
                "no -j: every task at once, as available memory allows",
            ),
        ];
        for (given, asked, tasks, note, why) in cases {
            assert_eq!(jobs_why(given, asked, tasks, note), why, "{given:?}");
        }
    }

    #[test]
    fn tasks_start_in_file_order_each_after_what_it_depends_on() {
        // (each task's dependencies, the start order)
        let cases: [(Vec<Vec<usize>>, Vec<usize>); 4] = [
            (vec![vec![], vec![], vec![]], vec![0, 1, 2]),
            (vec![vec![1], vec![], vec![]], vec![1, 0, 2]),
            (vec![vec![2], vec![0], vec![]], vec![2, 0, 1]),
            (vec![vec![], vec![0, 3], vec![], vec![]], vec![0, 2, 3, 1]),
        ];
        for (dependencies, order) in cases {
            assert_eq!(start_order(&dependencies), order, "{dependencies:?}");
        }
    }
}
