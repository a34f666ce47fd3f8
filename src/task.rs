//! One task, start to end, on its own thread: worktree, agent, outcome, commit, diff stats,
//! cleanup. Whatever happens, it returns a `TaskResult`; a task never ends the run.

use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;
use std::time::{Duration, Instant};

use crossbeam_channel::Sender;

use crate::agent::ResultEvent;
use crate::duration;
use crate::git;
use crate::preflight::{Plan, TaskPlan};
use crate::printer::{self, Line, Tone};
use crate::proc;
use crate::report::{Attempt, Status, TaskResult};
use crate::session::{
    self, Launch, POLL_INTERVAL, Session, StartFailure, StopReason, describe_stop,
};
use crate::shutdown;

pub struct Context<'a> {
    pub plan: &'a Plan,
    pub printer: Sender<Line>,
    /// Unique to this porch process: part of every session marker.
    pub run_id: String,
}

pub fn result_template(plan: &TaskPlan, status: Status) -> TaskResult {
    TaskResult {
        name: plan.task.name.clone(),
        description: plan.task.description.clone(),
        status,
        branch: plan.branch.clone(),
        base_branch: plan.base_branch.clone(),
        base_commit: plan.base_commit.clone(),
        worktree: plan.worktree.display().to_string(),
        worktree_kept: false,
        log: None,
        exit_code: None,
        signal: None,
        duration_ms: 0,
        session_id: None,
        cost_usd: None,
        num_turns: None,
        result: None,
        error: None,
        permission_denials: 0,
        leftover_processes: 0,
        commits: 0,
        files_changed: 0,
        insertions: 0,
        deletions: 0,
        warnings: Vec::new(),
        attempts: Vec::new(),
    }
}

struct Task<'a> {
    ctx: &'a Context<'a>,
    index: usize,
    plan: &'a TaskPlan,
}

impl Task<'_> {
    fn note(&self, tone: Tone, text: impl Into<String>) {
        printer::note(&self.ctx.printer, self.index, tone, text.into());
    }

    fn launch(&self, attempt: u32) -> Launch<'_> {
        let run = self.ctx.plan;
        Launch {
            program: &run.agent,
            permission_mode: &run.permission_mode,
            allowed_tools: &self.plan.task.allowed_tools,
            prompt: &self.plan.task.prompt,
            worktree: &self.plan.worktree,
            log: &self.plan.log,
            attempt,
            marker: format!("{}-{}", self.ctx.run_id, self.index),
            timeout: self.plan.timeout,
            idle_timeout: run.idle_timeout,
            keep_leftovers: run.keep_leftovers,
            task_index: self.index,
            printer: &self.ctx.printer,
        }
    }
}

pub fn run(ctx: &Context, index: usize) -> TaskResult {
    let plan = &ctx.plan.tasks[index];
    let task = Task { ctx, index, plan };
    let started = Instant::now();
    let mut result = result_template(plan, Status::Failed);
    run_inner(&task, &mut result);
    result.duration_ms = started.elapsed().as_millis() as u64;
    result
}

fn run_inner(task: &Task, result: &mut TaskResult) {
    let plan = task.plan;
    let repo = &task.ctx.plan.repo;
    if let Some(signal) = shutdown::requested() {
        result.status = Status::Skipped;
        result.error = Some(format!(
            "not started: porch received {}",
            proc::describe_signal(signal)
        ));
        return;
    }
    if let Err(err) = repo.add_worktree(&plan.worktree, &plan.branch, &plan.base_commit) {
        result.error = Some(format!("could not create the worktree: {err}"));
        task.note(Tone::Bad, format!("could not create the worktree: {err}"));
        return;
    }
    result.worktree_kept = true;
    task.note(
        Tone::Dim,
        format!(
            "worktree {} on {} from {}",
            plan.worktree.display(),
            plan.branch,
            plan.base_branch
        ),
    );

    let Some(session) = run_attempts(task, result) else {
        return;
    };

    let may_remove = keep_work(task, &session, result);

    if task.ctx.plan.cleanup && result.worktree_kept && may_remove {
        remove_worktree(task, result);
    }
}

/// Runs the agent, and again after a transient API error while `--retries` allows. The last
/// attempt's outcome becomes the task's, with every attempt listed and their costs added up.
/// Returns that attempt's session, or `None` when the agent could not be started at all.
fn run_attempts(task: &Task, result: &mut TaskResult) -> Option<Session> {
    let mut tally = Tally::default();
    for attempt in 1.. {
        let session = match session::run(&task.launch(attempt)) {
            Ok(session) => session,
            Err(failure) => {
                match failure {
                    StartFailure::Interrupted(signal) => {
                        result.status = Status::Interrupted;
                        result.error = Some(format!(
                            "interrupted before the session started: porch received {}",
                            proc::describe_signal(signal)
                        ));
                    }
                    StartFailure::Error(message) => {
                        task.note(Tone::Bad, message.clone());
                        result.error = Some(message);
                    }
                }
                // Earlier attempts ran: their cost and output are the task's all the same.
                let log = (attempt > 1 && task.plan.log.exists())
                    .then(|| task.plan.log.display().to_string());
                tally.settle(result, log);
                return None;
            }
        };
        note_leftovers(task, &session);
        tally.leftovers += session.leftovers;
        let mut outcome = result_template(task.plan, Status::Failed);
        outcome.worktree_kept = true;
        judge(&session, &mut outcome);
        if let Some(spent) = outcome.cost_usd {
            tally.cost = Some(tally.cost.unwrap_or(0.0) + spent);
        }
        tally.attempts.push(Attempt {
            attempt,
            status: outcome.status,
            exit_code: outcome.exit_code,
            signal: outcome.signal,
            duration_ms: session.duration_ms,
            session_id: outcome.session_id.clone(),
            cost_usd: outcome.cost_usd,
            error: outcome.error.clone(),
            saved_work: None,
        });
        let transient = session
            .log
            .result
            .as_ref()
            .is_some_and(ResultEvent::is_transient);
        let may_retry = outcome.status == Status::Failed
            && transient
            && attempt <= task.ctx.plan.retries
            && shutdown::requested().is_none();
        if may_retry {
            match prepare_retry(
                task,
                attempt,
                tally.attempts.last_mut().expect("just pushed"),
            ) {
                Retry::Go => continue,
                Retry::No => {}
                Retry::Interrupted(signal) => {
                    outcome.status = Status::Interrupted;
                    outcome.error = Some(format!(
                        "interrupted while waiting to retry: porch received {}; the attempt had failed: {}",
                        proc::describe_signal(signal),
                        outcome.error.as_deref().unwrap_or("transient API error")
                    ));
                }
            }
        }
        *result = outcome;
        let log = session
            .log_written
            .then(|| task.plan.log.display().to_string());
        tally.settle(result, log);
        return Some(session);
    }
    unreachable!("the attempts loop only ends by returning")
}

/// What the attempts so far add up to: part of the task's result however the last one ends.
#[derive(Default)]
struct Tally {
    attempts: Vec<Attempt>,
    cost: Option<f64>,
    leftovers: usize,
}

impl Tally {
    fn settle(self, result: &mut TaskResult, log: Option<String>) {
        result.attempts = self.attempts;
        result.cost_usd = self.cost;
        result.leftover_processes = self.leftovers;
        result.log = log;
    }
}

enum Retry {
    Go,
    /// The worktree could not be put back to the base: stay with the failed attempt.
    No,
    /// porch was signalled during the backoff: the failed attempt's work stays in the worktree,
    /// to be committed on the branch like any interrupted task's.
    Interrupted(i32),
}

/// Waits out the backoff, then sets the failed attempt's work aside and resets the worktree.
fn prepare_retry(task: &Task, attempt: u32, record: &mut Attempt) -> Retry {
    let backoff = task
        .ctx
        .plan
        .retry_backoff
        .saturating_mul(1 << (attempt - 1).min(6));
    task.note(
        Tone::Bad,
        format!(
            "transient API error; attempt {} of {} in {}",
            attempt + 1,
            task.ctx.plan.retries + 1,
            duration::format(backoff)
        ),
    );
    if !sleep_unless_interrupted(backoff) {
        return Retry::Interrupted(shutdown::requested().unwrap_or(libc::SIGINT));
    }
    match set_aside_attempt(task, attempt) {
        Ok(saved) => {
            record.saved_work = saved;
            Retry::Go
        }
        Err(err) => {
            // Without a clean worktree the next attempt would build on a failed one's
            // leftovers; better to stop here and keep the work where it is.
            task.note(Tone::Bad, format!("not retrying: {err}"));
            Retry::No
        }
    }
}

fn note_leftovers(task: &Task, session: &Session) {
    if session.leftovers == 0 {
        return;
    }
    let what = if session.leftovers == 1 {
        "process"
    } else {
        "processes"
    };
    let text = if session.leftovers_kept {
        format!(
            "left {} {what} the session started running (--keep-leftovers)",
            session.leftovers
        )
    } else {
        format!(
            "ended {} {what} the session left running",
            session.leftovers
        )
    };
    task.note(Tone::Dim, text);
}

/// Keeps what a failed attempt did under `refs/porch/attempts/<task>/<n>` and puts the worktree
/// back to the base, so the next attempt starts clean and nothing the agent wrote is lost.
fn set_aside_attempt(task: &Task, attempt: u32) -> Result<Option<String>, git::GitError> {
    let plan = task.plan;
    let reference = format!("{}/{}/{attempt}", git::ATTEMPTS_REFS, plan.task.name);
    let message = format!(
        "porch: what attempt {attempt} of task {} left\n",
        plan.task.name
    );
    let saved = git::snapshot(
        &plan.worktree,
        &plan.base_commit,
        &reference,
        &message,
        &task.ctx.plan.identity,
    )?;
    if saved {
        task.note(
            Tone::Dim,
            format!("kept what attempt {attempt} wrote as {reference}"),
        );
    }
    git::restart_branch(&plan.worktree, &plan.branch, &plan.base_commit).map_err(|err| {
        if saved {
            err.with_note(format!("(attempt {attempt}'s work is kept as {reference})"))
        } else {
            err
        }
    })?;
    Ok(saved.then_some(reference))
}

/// Sleeps, waking early (and returning false) when porch receives a signal.
fn sleep_unless_interrupted(duration: Duration) -> bool {
    let Some(deadline) = Instant::now().checked_add(duration) else {
        return false;
    };
    while Instant::now() < deadline {
        if shutdown::requested().is_some() {
            return false;
        }
        std::thread::sleep(POLL_INTERVAL.min(deadline.saturating_duration_since(Instant::now())));
    }
    shutdown::requested().is_none()
}

/// Succeeded only when claude exited 0 and its result event says `is_error: false`, or when it
/// said so and then hung until porch ended it.
fn judge(session: &Session, result: &mut TaskResult) {
    result.exit_code = session.status.code();
    result.signal = session.status.signal();
    result.session_id = session.log.session_id.clone();
    if let Some(event) = &session.log.result {
        record_result(event, result);
    }
    let exit = describe_exit(session.status);
    match session.stopped {
        Some(StopReason::Interrupted(_)) => {
            result.status = Status::Interrupted;
            result.error = Some(format!(
                "interrupted: {}",
                describe_stop(session.stopped.unwrap(), false)
            ));
            return;
        }
        Some(reason @ (StopReason::Timeout(_) | StopReason::Idle(_))) => {
            result.status = Status::TimedOut;
            result.error = Some(describe_stop(reason, false));
            return;
        }
        Some(StopReason::HungAfterResult) => {
            result.warnings.push(format!(
                "{}; porch ended it",
                describe_stop(StopReason::HungAfterResult, false)
            ));
        }
        None => {}
    }
    let ended_by_porch = session.stopped.is_some();
    match &session.log.result {
        Some(event) if !event.is_error && (session.status.success() || ended_by_porch) => {
            result.status = Status::Succeeded;
        }
        Some(event) if event.is_error => {
            let why = event.error_text().unwrap_or_else(|| {
                format!(
                    "claude reported an error ({})",
                    event.subtype.as_deref().unwrap_or("no detail")
                )
            });
            result.error = Some(format!("{why} ({exit})"));
        }
        Some(_) => result.error = Some(format!("claude {exit} after reporting success")),
        None => {
            result.error = Some(format!(
                "no result event: claude {exit} without reporting an outcome"
            ));
        }
    }
}

fn record_result(event: &ResultEvent, result: &mut TaskResult) {
    result.cost_usd = event.total_cost_usd;
    result.num_turns = event.num_turns;
    result.result = event.result.clone();
    result.permission_denials = event.permission_denials;
}

fn describe_exit(status: ExitStatus) -> String {
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exited with code {code}"),
        (None, Some(signal)) => format!("was killed by {}", proc::describe_signal(signal)),
        _ => "ended".to_string(),
    }
}

/// Commits what the worktree holds on the task branch, then records what the branch holds
/// against its base. The work of a failed session is kept too: it may be most of the job.
/// Returns whether the worktree may be removed afterwards (`--cleanup`).
fn keep_work(task: &Task, session: &Session, result: &mut TaskResult) -> bool {
    let plan = task.plan;
    let message = commit_message(plan, session, result.status);
    let expected = format!("ref: refs/heads/{}", plan.branch);
    let mut may_remove = true;
    let committed = match git::worktree_head(&plan.worktree) {
        // The session switched branches or detached HEAD: a commit would land where nobody
        // looks, or nowhere. The work stays in the worktree, which is kept, and is reported.
        Ok(head) if head != expected => {
            let text = format!(
                "the session left the worktree on {} instead of {}: porch committed nothing, and the work is in {}",
                head.strip_prefix("ref: refs/heads/")
                    .map_or_else(|| format!("commit {head}"), |b| format!("branch {b}")),
                plan.branch,
                plan.worktree.display()
            );
            task.note(Tone::Bad, text.clone());
            result.warnings.push(text);
            may_remove = false;
            Ok(false)
        }
        Ok(_) => git::commit_all(&plan.worktree, &message, &task.ctx.plan.identity),
        Err(err) => Err(err),
    };
    match committed {
        Ok(_) => {}
        Err(err) => {
            let text = format!(
                "could not commit the work: {err}; it is still in {}",
                plan.worktree.display()
            );
            task.note(Tone::Bad, text.clone());
            may_remove = false;
            result.status = Status::Failed;
            result.error = Some(match result.error.take() {
                Some(earlier) => format!("{earlier}; {text}"),
                None => text,
            });
        }
    }
    match git::diff_stats(&plan.worktree, &plan.base_commit, &plan.branch) {
        Ok(stats) => {
            result.commits = stats.commits;
            result.files_changed = stats.files_changed;
            result.insertions = stats.insertions;
            result.deletions = stats.deletions;
        }
        Err(err) => result
            .warnings
            .push(format!("could not read the branch's diff stats: {err}")),
    }
    if result.files_changed > 0 {
        task.note(
            Tone::Dim,
            format!(
                "{} holds {} commit{}: {} file{} changed, +{} -{}",
                plan.branch,
                result.commits,
                if result.commits == 1 { "" } else { "s" },
                result.files_changed,
                if result.files_changed == 1 { "" } else { "s" },
                result.insertions,
                result.deletions
            ),
        );
    } else {
        task.note(Tone::Dim, format!("{} holds no changes", plan.branch));
    }
    if result.permission_denials > 0 {
        let denied = result.permission_denials;
        let calls = if denied == 1 {
            "tool call"
        } else {
            "tool calls"
        };
        let warning = if result.files_changed == 0 {
            format!(
                "the session changed nothing and claude denied {denied} {calls} in permission mode {}: \
                 rerun with --permission-mode acceptEdits, or list the tools in the task's allowed_tools",
                task.ctx.plan.permission_mode
            )
        } else {
            format!(
                "claude denied {denied} {calls} in permission mode {}",
                task.ctx.plan.permission_mode
            )
        };
        task.note(Tone::Bad, warning.clone());
        result.warnings.push(warning);
    }
    may_remove
}

fn commit_message(plan: &TaskPlan, session: &Session, status: Status) -> String {
    let title = plan
        .task
        .description
        .as_deref()
        .or_else(|| plan.task.prompt.lines().find(|l| !l.trim().is_empty()))
        .unwrap_or_default()
        .trim();
    let title: String = title.chars().take(72).collect();
    let status = match status {
        Status::Succeeded => "succeeded",
        Status::TimedOut => "timed out",
        Status::Interrupted => "interrupted",
        _ => "failed",
    };
    format!(
        "{}: {title}\n\nWork of the claude session that porch ran for task {:?}.\n\nPorch-Task: {}\nPorch-Session: {}\nPorch-Status: {status}\n",
        plan.task.name,
        plan.task.name,
        plan.task.name,
        session.log.session_id.as_deref().unwrap_or("unknown"),
    )
}

fn remove_worktree(task: &Task, result: &mut TaskResult) {
    let worktree = &task.plan.worktree;
    match git::is_dirty(worktree) {
        Ok(false) => match task.ctx.plan.repo.remove_worktree(worktree) {
            Ok(()) => {
                result.worktree_kept = false;
                task.note(
                    Tone::Dim,
                    format!("removed the worktree; the work is on {}", task.plan.branch),
                );
            }
            Err(err) => result.warnings.push(format!("kept the worktree: {err}")),
        },
        Ok(true) => result
            .warnings
            .push("kept the worktree: it still holds uncommitted changes".to_string()),
        Err(err) => result.warnings.push(format!("kept the worktree: {err}")),
    }
}
