//! One task, start to end, on its own thread: worktree, agent, outcome, commit, diff stats,
//! cleanup. Whatever happens, it returns a `TaskResult`; a task never ends the run.

pub mod base;
pub mod budget;
pub mod check;
pub mod copy;
pub mod plan;
pub mod prepare;
mod review;
pub mod slots;
pub mod unsaved;
mod usage_window;
pub mod verdict;

use std::borrow::Cow;
use std::collections::BTreeSet;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::time::SystemTime;
use std::time::{Duration, Instant};

use crossbeam_channel::Sender;

use crate::agent;
use crate::agent::ResultEvent;
use crate::agent::session;
use crate::agent::session::Launch;
use crate::agent::session::Session;
use crate::agent::session::StartFailure;
use crate::agent::session::StopReason;
use crate::git;
use crate::git::BranchDiff;
use crate::git::DiffStats;
use crate::git::LeaveOut;
use crate::git::remote;
use crate::output::events::Event;
use crate::output::printer;
use crate::output::printer::Message;
use crate::output::printer::Tone;
use crate::process::child::Limit;
use crate::process::groups;
use crate::process::shutdown;
use crate::process::step::Step;
use crate::process::task_env::Redactor;
use crate::results::Attempt;
use crate::results::Phase;
use crate::results::Push;
use crate::results::ReadDiff;
use crate::results::Status;
use crate::results::TaskResult;
use crate::task::base::Base;
use crate::task::budget::Budget;
use crate::task::check::CheckVerdict;
use crate::task::plan::Plan;
use crate::task::plan::TaskPlan;
use crate::task::prepare::Preparation;
use crate::task::prepare::Unready;
use crate::task::slots::Slots;
use crate::task::usage_window::AfterRefusal;
use crate::util::duration;
use crate::util::timestamp;

pub struct Context<'a> {
    pub plan: &'a Plan,
    pub printer: Sender<Message>,
    /// Unique to this porch process: part of every session marker.
    pub run_id: String,
    /// Where a task asks the scheduler for a slot to start its session again.
    pub slots: Slots,
    /// `winner` of each task as the results stand (`rivals::winners`), kept up to date as
    /// rivals end: a task that depends on a repeated one starts from its winner's branch.
    pub winners: std::sync::Mutex<Vec<Option<bool>>>,
    /// `--max-cost-usd`: what the run's sessions have spent, and what one may spend now.
    pub budget: Budget,
}

pub fn result_template(plan: &TaskPlan, status: Status) -> TaskResult {
    let base = (plan.base_branch.as_str(), plan.base_commit.as_str());
    TaskResult {
        description: plan.task.description.clone(),
        worktree: plan.worktree.display().to_string(),
        group: plan.task.group.clone(),
        depends_on: plan.task.depends_on.clone(),
        ..TaskResult::new(&plan.task.name, status, &plan.branch, base)
    }
}

struct Task<'a> {
    ctx: &'a Context<'a>,
    index: usize,
    plan: &'a TaskPlan,
    /// What the branch starts from: preflight's base, or made from the tasks it depends on.
    base: Base,
    /// The plan's environment, with `PORCH_BASE` the commit actually used.
    env: Vec<(String, String)>,
    /// How long setup ran: the session gets what is left of the task's timeout.
    setup_took: std::cell::Cell<Duration>,
    /// How long the task waited for a slot between its sessions (a retry's backoff, a rate
    /// limit, a usage window's reset): no work, so not counted against its timeout.
    waited: std::cell::Cell<Duration>,
    started: Instant,
}

impl Task<'_> {
    /// `PORCH_SESSION`'s value: unique to this porch process and task.
    fn marker(&self) -> String {
        format!("{}-{}", self.ctx.run_id, self.index)
    }

    /// What the task's timeout leaves the session: it covers setup and session together.
    fn session_timeout(&self) -> Option<Limit> {
        let setup_took = self.setup_took.get();
        self.plan
            .timeout
            .map(|limit| Limit::after(limit, setup_took))
    }

    /// What the task's timeout leaves the check and the reviewer, which run last: time spent
    /// waiting for a slot is not the task's work.
    fn time_left(&self) -> Option<Limit> {
        let used = self.started.elapsed().saturating_sub(self.waited.get());
        self.plan.timeout.map(|limit| Limit::after(limit, used))
    }

    /// Waits until the scheduler gives the task a slot again, not before `not_before`; false
    /// when it never will (a signal, a usage window porch stopped waiting for). The wait is
    /// kept off the task's timeout.
    fn wait_for_slot(&self, not_before: Instant) -> bool {
        let asked = Instant::now();
        let granted = self.ctx.slots.wait_for_slot(self.index, not_before);
        self.waited.set(self.waited.get() + asked.elapsed());
        granted
    }

    /// The task's environment for a step: `PORCH_*`, its `env`, and the session marker.
    fn step_env(&self) -> Vec<(String, String)> {
        let mut env = self.env.clone();
        env.push((agent::SESSION_MARKER_VAR.to_string(), self.marker()));
        env
    }

    fn note(&self, tone: Tone, text: impl Into<String>) {
        let text = self.plan.redactor.redact(&text.into()).into_owned();
        printer::note(&self.ctx.printer, self.index, tone, text);
    }

    /// claude's arguments for a session starting now: with a run budget, `--max-budget-usd`
    /// is at most what is left of it.
    fn session_arguments(&self) -> Vec<String> {
        match self.ctx.budget.left() {
            Some(left) => budget::capped_arguments(&self.plan.claude_args, left),
            None => self.plan.claude_args.clone(),
        }
    }

    fn launch<'a>(&'a self, attempt: u32, restarted: bool, args: &'a [String]) -> Launch<'a> {
        let run = self.ctx.plan;
        Launch {
            program: &run.agent,
            args,
            env: &self.env,
            redactor: &self.plan.redactor,
            prompt: &self.plan.task.prompt,
            worktree: &self.plan.worktree,
            log: &self.plan.log,
            attempt,
            marker: self.marker(),
            resuming: self.plan.resume.is_some(),
            timeout: self.session_timeout(),
            idle_timeout: run.settings.idle_timeout,
            keep_leftovers: run.settings.keep_leftovers,
            task_index: self.index,
            printer: &self.ctx.printer,
            api_reports: Some(self.ctx.slots.api_reports()),
            usage_reports: Some(self.ctx.slots.usage_reports()),
            stop_unanswered: Some(self.ctx.slots.stop_flag(self.index)),
            restarted,
        }
    }
}

/// The event of a task's attempt starting.
pub fn started(plan: &TaskPlan, index: usize, attempt: u32) -> Event {
    Event::TaskStarted {
        task: index,
        branch: plan.branch.clone(),
        worktree: plan.worktree.display().to_string(),
        attempt,
    }
}

pub fn run(ctx: &Context, index: usize) -> TaskResult {
    let plan = &ctx.plan.tasks[index];
    let started = Instant::now();
    let mut result = result_template(plan, Status::Failed);
    result.started_at = Some(timestamp::rfc3339(SystemTime::now()));
    let winners = (ctx.winners.lock()).map(|w| w.clone()).unwrap_or_default();
    match base::base_of(ctx.plan, index, &winners) {
        Ok(base) => {
            // Preflight's base is in the results already; one made now is not.
            if base.commit != plan.base_commit {
                ctx.slots.record_base(index, &base);
            }
            let task = Task {
                ctx,
                index,
                plan,
                env: with_base(&plan.env, &base.commit),
                base,
                setup_took: std::cell::Cell::new(Duration::ZERO),
                waited: std::cell::Cell::new(Duration::ZERO),
                started,
            };
            run_inner(&task, &mut result);
            carry_earlier(plan, &mut result);
            result.base_branch = task.base.branch;
            result.base_commit = task.base.commit;
        }
        // Nothing was made: no worktree, no branch.
        Err(error) => {
            let error = format!("not started: {error}");
            let shown = plan.redactor.redact(&error).into_owned();
            printer::note(&ctx.printer, index, Tone::Bad, shown);
            result.error = Some(error);
        }
    }
    // Added to: a task resumed for its review alone carries its earlier time.
    result.duration_ms += started.elapsed().as_millis() as u64;
    result.ended_at = Some(timestamp::rfc3339(SystemTime::now()));
    hide_env_values(&plan.redactor, &mut result);
    result
}

/// A task resumed to run again keeps what its earlier runs made of it: their attempts before
/// its own (numbered after them), and their cost in its own, as one resumed for its review
/// alone keeps its earlier result. What this run spent is the budget's alone.
fn carry_earlier(plan: &TaskPlan, result: &mut TaskResult) {
    let Some(resume) = plan.resume.as_ref().filter(|r| r.review_only.is_none()) else {
        return;
    };
    let before = resume.earlier_attempts.len() as u32;
    for attempt in &mut result.attempts {
        attempt.attempt += before;
    }
    (result.attempts).splice(0..0, resume.earlier_attempts.iter().cloned());
    if let Some(earlier) = resume.earlier_cost_usd {
        result.cost_usd = Some(result.cost_usd.unwrap_or(0.0) + earlier);
    }
}

/// What the result says in words (claude's, a tool's, porch's about what it found) with the
/// task's `env` values hidden: the real text decided the task; the results only show it.
/// Names porch acts on later (branch, worktree, log, session) are left as they are.
fn hide_env_values(redactor: &Redactor, result: &mut TaskResult) {
    let hide = |text: &mut String| {
        if let Cow::Owned(hidden) = redactor.redact(text) {
            *text = hidden;
        }
    };
    let errors = result.attempts.iter_mut().filter_map(|a| a.error.as_mut());
    let push_error = result.push.as_mut().and_then(|p| p.error.as_mut());
    let review = result.review.as_mut().into_iter().flat_map(|r| {
        let comments = (r.comments.iter_mut()).flat_map(|c| [&mut c.file, &mut c.body]);
        let retried = (r.retried.iter_mut()).filter_map(|retried| retried.error.as_mut());
        std::iter::once(&mut r.summary)
            .chain(r.error.as_mut())
            .chain(comments)
            .chain(retried)
    });
    (result.result.iter_mut())
        .chain(result.description.as_mut())
        .chain(result.error.as_mut())
        .chain(result.warnings.iter_mut())
        .chain(result.ignored_files.iter_mut())
        .chain(result.nested_repositories.iter_mut())
        .chain(errors)
        .chain(push_error)
        .chain(review)
        .for_each(hide);
}

/// `env` with `PORCH_BASE` saying `commit`.
fn with_base(env: &[(String, String)], commit: &str) -> Vec<(String, String)> {
    let mut env = env.to_vec();
    for (name, value) in &mut env {
        if name == "PORCH_BASE" {
            *value = commit.to_string();
        }
    }
    env
}

fn run_inner(task: &Task, result: &mut TaskResult) {
    let plan = task.plan;
    let repo = &task.ctx.plan.repo;
    if shutdown::requested().is_some() {
        base::release(task.ctx.plan, task.index);
        skip_not_started(result);
        return;
    }
    let cancelled = || shutdown::requested().is_some();
    let made = match &plan.resume {
        None => repo.add_worktree(
            &plan.worktree,
            &plan.branch,
            &task.base.commit,
            task.ctx.plan.registration,
            &cancelled,
        ),
        Some(_) => repo
            .reenter_worktree(&plan.worktree, &plan.branch)
            .map(|()| true),
    };
    // The branch holds a merged base now, or was not made: the temporary ref's job is done.
    base::release(task.ctx.plan, task.index);
    match made {
        Ok(true) => {}
        Ok(false) => {
            skip_not_started(result);
            return;
        }
        Err(err) => {
            result.error = Some(format!("could not create the worktree: {err}"));
            task.note(Tone::Bad, format!("could not create the worktree: {err}"));
            return;
        }
    }
    result.worktree_kept = true;
    let note = match &plan.resume {
        None => format!(
            "worktree {} on {} from {}",
            plan.worktree.display(),
            plan.branch,
            task.base.branch
        ),
        Some(resume) => format!(
            "resuming in worktree {} on {}{}",
            plan.worktree.display(),
            plan.branch,
            match (&resume.review_only, &resume.session_id) {
                (Some(_), _) => REVIEW_ONLY.to_string(),
                (None, Some(session)) => format!(", continuing session {session}"),
                (None, None) => String::new(),
            }
        ),
    };
    task.note(Tone::Dim, note);
    if let Some(earlier) = plan.resume.as_ref().and_then(|r| r.review_only.as_deref()) {
        return review_again(task, earlier, result);
    }

    if !prepare_worktree(task, result) {
        // Signalled during the copy or setup: no session ran, nothing in the worktree is work.
        if result.status == Status::Interrupted && plan.resume.is_none() {
            discard_unstarted(task, result);
        }
        return;
    }

    let Some(session) = run_attempts(task, result) else {
        return;
    };

    let may_remove = keep_work(task, &session, result);
    check_work(task, result);
    review::review_work(task, result);
    push_branch(task, result);

    if task.ctx.plan.settings.cleanup && result.worktree_kept && may_remove {
        remove_worktree(task, result);
    }
}

/// What a task interrupted during its review is told when it is resumed.
const REVIEW_ONLY: &str = ": its session succeeded and its work is committed and checked; only \
     its review runs again";

/// A task interrupted during its review, resumed: its earlier result, its review made again on
/// the committed work, then the push that follows a review. No session, setup or check runs.
fn review_again(task: &Task, earlier: &TaskResult, result: &mut TaskResult) {
    let _ = task.ctx.plan.state.start_log(&task.plan.log, false);
    let attempts = (task.plan.resume.as_ref()).map(|r| r.earlier_attempts.clone());
    *result = TaskResult {
        status: Status::Succeeded,
        error: None,
        review: None,
        started_at: result.started_at.take(),
        worktree_kept: true,
        attempts: attempts.unwrap_or_default(),
        ..earlier.clone()
    };
    review::review_work(task, result);
    push_branch(task, result);
}

/// Starts the task's log, copies what the task asks for into the worktree and runs its setup.
/// False when the session must not start: the result then says why.
fn prepare_worktree(task: &Task, result: &mut TaskResult) -> bool {
    let plan = task.plan;
    // The log is started here, before setup writes to it, its user's alone.
    let _ = task
        .ctx
        .plan
        .state
        .start_log(&plan.log, plan.resume.is_none());
    let marker = task.marker();
    let mut env = task.env.clone();
    env.push((agent::SESSION_MARKER_VAR.to_string(), marker.clone()));
    let preparation = Preparation {
        repo_root: &task.ctx.plan.repo.toplevel,
        worktree: &plan.worktree,
        copy: &plan.task.copy,
        setup: plan.task.setup.as_deref(),
        env: &env,
        redactor: &plan.redactor,
        marker: &groups::Marker::new(agent::SESSION_MARKER_VAR, &marker),
        timeout: plan.timeout,
        log: &plan.log,
        task_index: task.index,
        printer: &task.ctx.printer,
    };
    let setup_started = Instant::now();
    let prepared = prepare::prepare(&preparation);
    task.setup_took.set(setup_started.elapsed());
    if plan.task.setup.is_some() {
        result.setup = Some(Phase::ending_now(setup_started.elapsed()));
    }
    let unready = match prepared {
        Ok(()) => return true,
        Err(unready) => unready,
    };
    match unready {
        Unready::Failed(error) => result.error = Some(error),
        Unready::Interrupted(signal) => {
            result.status = Status::Interrupted;
            result.error = Some(format!(
                "interrupted during setup: porch received {}",
                groups::describe_signal(signal)
            ));
        }
    }
    result.log = plan.log.exists().then(|| plan.log.display().to_string());
    false
}

/// porch was signalled after the task's worktree was made but before its session started: the
/// worktree holds no work, and left in place it and its branch would block the next run of the
/// same tasks. Removes both; the task is skipped.
fn discard_unstarted(task: &Task, result: &mut TaskResult) {
    let plan = task.plan;
    let repo = &task.ctx.plan.repo;
    repo.discard_worktree(&plan.worktree, &plan.branch, &task.base.commit);
    skip_not_started(result);
    result.worktree_kept = plan.worktree.exists();
    task.note(
        Tone::Dim,
        "porch was signalled before the session started: removed its worktree and branch",
    );
}

/// The run's budget was spent by other sessions between this task's start and its session's:
/// like a task porch was signalled before, it leaves no worktree or branch.
fn discard_over_budget(task: &Task, result: &mut TaskResult) {
    let plan = task.plan;
    let repo = &task.ctx.plan.repo;
    repo.discard_worktree(&plan.worktree, &plan.branch, &task.base.commit);
    result.status = Status::Skipped;
    result.error = Some("not started: the run's budget is spent (--max-cost-usd)".to_string());
    result.worktree_kept = plan.worktree.exists();
    task.note(
        Tone::Dim,
        "the run's budget was spent before the session started: removed its worktree and branch",
    );
}

/// A task porch was signalled before it started: nothing of it exists.
fn skip_not_started(result: &mut TaskResult) {
    let signal = shutdown::requested().unwrap_or(libc::SIGINT);
    result.status = Status::Skipped;
    result.error = Some(format!(
        "not started: porch received {}",
        groups::describe_signal(signal)
    ));
}

/// Runs the agent, and again after a transient API error while `--retries` allows. The last
/// attempt's outcome becomes the task's, with every attempt listed and their costs added up.
/// Returns that attempt's session, or `None` when the agent could not be started at all.
fn run_attempts(task: &Task, result: &mut TaskResult) -> Option<Session> {
    let mut tally = Tally::default();
    let mut attempt = 1;
    let mut restarted = false;
    loop {
        if attempt == 1 && !restarted && task.ctx.budget.is_spent() && task.plan.resume.is_none() {
            discard_over_budget(task, result);
            return None;
        }
        let session = start_session(task, (attempt, restarted), &mut tally, result)?;
        // Refused by a usage window: started again after its reset, spending no retry.
        if let Some(window) = session.log.usage_refusal().cloned() {
            match usage_window::after_refusal(task, attempt, &session, &window, &mut tally, result)
            {
                AfterRefusal::Again {
                    attempt: next,
                    restarted: again,
                } => {
                    (attempt, restarted) = (next, again);
                    continue;
                }
                AfterRefusal::Discarded => return None,
                AfterRefusal::End(outcome) => {
                    return Some(conclude_attempts(task, *outcome, session, tally, result));
                }
            }
        }
        // Stopped before the API answered it: it did nothing, so it is no attempt.
        if session.stopped == Some(StopReason::RateLimited)
            && !task.ctx.budget.is_spent()
            && task.wait_for_slot(Instant::now())
        {
            restarted = true;
            continue;
        }
        let mut outcome = judge_attempt(task, attempt, &session, &mut tally);
        if session.stopped == Some(StopReason::RateLimited) {
            usage_window::skip_if_refused(task, &mut outcome, "not started again");
        }
        // Attempts a usage window ended spent no retry.
        let retries_spent = attempt - 1 - tally.usage_ended;
        if wants_retry(task, retries_spent + 1, &session, &outcome) {
            match prepare_retry(task, attempt, retries_spent, &session) {
                Retry::Go { saved_work } => {
                    tally.keep_saved_work(saved_work);
                    attempt += 1;
                    restarted = false;
                    printer::event(&task.ctx.printer, started(task.plan, task.index, attempt));
                    continue;
                }
                Retry::No => {}
                Retry::Interrupted(signal) => {
                    outcome.status = Status::Interrupted;
                    outcome.error = Some(verdict::interrupted_before_retry(
                        signal,
                        outcome.error.as_deref(),
                    ));
                }
                Retry::Refused => {
                    usage_window::skip_if_refused(task, &mut outcome, "not retried");
                }
            }
        }
        return Some(conclude_attempts(task, outcome, session, tally, result));
    }
}

/// Starts the session of `attempt` (`restarted` when a limit stopped it before it did
/// anything); `None` when it could not start, with why recorded in `result`.
fn start_session(
    task: &Task,
    (attempt, restarted): (u32, bool),
    tally: &mut Tally,
    result: &mut TaskResult,
) -> Option<Session> {
    let args = task.session_arguments();
    match session::run(&task.launch(attempt, restarted, &args)) {
        Ok(session) => Some(session),
        // Signalled between the checkout and the start: the worktree holds nothing yet, and
        // left in place it would block the next run of the same tasks.
        Err(StartFailure::Interrupted(_)) if attempt == 1 && task.plan.resume.is_none() => {
            discard_unstarted(task, result);
            None
        }
        Err(failure) => {
            record_start_failure(task, failure, result);
            // Earlier attempts ran: their cost and output are the task's all the same.
            let log = ((attempt > 1 || restarted) && task.plan.log.exists())
                .then(|| task.plan.log.display().to_string());
            std::mem::take(tally).settle(result, log);
            None
        }
    }
}

/// The last attempt's outcome becomes the task's result, with what every attempt adds up to.
fn conclude_attempts(
    task: &Task,
    outcome: TaskResult,
    mut session: Session,
    mut tally: Tally,
    result: &mut TaskResult,
) -> Session {
    // What was recorded before the session: the outcome knows only the session.
    let (started_at, setup) = (result.started_at.take(), result.setup.take());
    *result = TaskResult {
        started_at,
        setup,
        ..outcome
    };
    let log = session
        .log_written
        .then(|| task.plan.log.display().to_string());
    // Ignored files outlive a retry's reset: what earlier attempts wrote counts too.
    session.log.written.append(&mut tally.written);
    tally.settle(result, log);
    session
}

fn record_start_failure(task: &Task, failure: StartFailure, result: &mut TaskResult) {
    match failure {
        StartFailure::Interrupted(signal) => {
            result.status = Status::Interrupted;
            result.error = Some(format!(
                "interrupted before the session started: porch received {}",
                groups::describe_signal(signal)
            ));
        }
        failure => {
            let message = failure.to_string();
            task.note(Tone::Bad, message.clone());
            result.error = Some(message);
        }
    }
}

/// The outcome of one attempt, as if it were the task's, and its line in the tally.
fn judge_attempt(task: &Task, attempt: u32, session: &Session, tally: &mut Tally) -> TaskResult {
    if let Some(text) = leftovers_note(&session.leftovers, session.leftovers_kept) {
        task.note(Tone::Dim, text);
    }
    let mut outcome = result_template(task.plan, Status::Failed);
    outcome.worktree_kept = true;
    record_session(session, &mut outcome);
    tally.add(attempt, &outcome, session);
    (task.ctx.budget).record(task.index, tally.cost.unwrap_or(0.0));
    outcome
}

fn wants_retry(task: &Task, attempt: u32, session: &Session, outcome: &TaskResult) -> bool {
    let transient = session
        .log
        .result
        .as_ref()
        .is_some_and(ResultEvent::is_transient);
    let may = verdict::may_retry(
        outcome.status,
        transient,
        attempt,
        task.ctx.plan.settings.retries,
        shutdown::requested().is_some(),
    );
    if may && task.ctx.budget.is_spent() {
        task.note(
            Tone::Bad,
            "not retrying: the run's budget is spent (--max-cost-usd)",
        );
        return false;
    }
    may
}

/// What the attempts so far add up to: part of the task's result however the last one ends.
#[derive(Default)]
struct Tally {
    attempts: Vec<Attempt>,
    cost: Option<f64>,
    leftovers: usize,
    /// The paths every attempt's file tools wrote.
    written: BTreeSet<String>,
    /// Attempts a usage window ended: they spend no retry.
    usage_ended: u32,
}

impl Tally {
    fn add(&mut self, attempt: u32, outcome: &TaskResult, session: &Session) {
        self.leftovers += session.leftovers.len();
        self.written.extend(session.log.written.iter().cloned());
        if let Some(spent) = outcome.cost_usd {
            self.cost = Some(self.cost.unwrap_or(0.0) + spent);
        }
        let phase = Phase::ending_now(Duration::from_millis(session.duration_ms));
        self.attempts.push(Attempt {
            attempt,
            run_id: None,
            status: outcome.status,
            exit_code: outcome.exit_code,
            signal: outcome.signal,
            duration_ms: session.duration_ms,
            session_id: outcome.session_id.clone(),
            cost_usd: outcome.cost_usd,
            error: outcome.error.clone(),
            saved_work: None,
            usage_limit: None,
            started_at: phase.started_at,
            ended_at: phase.ended_at,
        });
    }

    /// The last attempt ended because the `kind` usage window refused it.
    fn ended_by_usage(&mut self, kind: &str) {
        if let Some(last) = self.attempts.last_mut() {
            last.usage_limit = Some(kind.to_string());
            self.usage_ended += 1;
        }
    }

    /// Where the last attempt's work was set aside before the next one.
    fn keep_saved_work(&mut self, reference: Option<String>) {
        if let Some(last) = self.attempts.last_mut() {
            last.saved_work = reference;
        }
    }

    fn settle(self, result: &mut TaskResult, log: Option<String>) {
        result.attempts = self.attempts;
        result.cost_usd = self.cost;
        result.leftover_processes = self.leftovers;
        result.log = log;
    }
}

enum Retry {
    /// The worktree is back at the base; the failed attempt's work is under `saved_work`, if
    /// it left any.
    Go { saved_work: Option<String> },
    /// The worktree could not be put back to the base: stay with the failed attempt.
    No,
    /// porch was signalled during the backoff: the failed attempt's work stays in the worktree,
    /// to be committed on the branch like any interrupted task's.
    Interrupted(i32),
    /// No session starts again in this run (`Slots::refusal`): the failed attempt's work stays,
    /// as after a signal.
    Refused,
}

/// Waits out the backoff, then sets the failed attempt's work aside and resets the worktree.
/// `retries_spent`: the retries made before this one.
fn prepare_retry(task: &Task, attempt: u32, retries_spent: u32, session: &Session) -> Retry {
    let backoff = verdict::backoff(task.ctx.plan.settings.retry_backoff, retries_spent + 1);
    let wait = verdict::retry_wait(backoff, random_fraction(), session.log.last_retry_delay);
    // Attempts a usage window ended are numbered too, but spent no retry.
    let free = attempt - 1 - retries_spent;
    task.note(
        Tone::Bad,
        format!(
            "transient API error; attempt {} of {} in {} (or once a slot is free)",
            attempt + 1,
            task.ctx.plan.settings.retries + 1 + free,
            duration::format(wait)
        ),
    );
    if !task.wait_for_slot(Instant::now() + wait) {
        return match shutdown::requested() {
            None if task.ctx.slots.refusal().is_some() => Retry::Refused,
            signal => Retry::Interrupted(signal.unwrap_or(libc::SIGINT)),
        };
    }
    match set_aside_attempt(task, attempt) {
        Ok(saved_work) => Retry::Go { saved_work },
        Err(err) => {
            // Without a clean worktree the next attempt would build on a failed one's
            // leftovers; better to stop here and keep the work where it is.
            task.note(Tone::Bad, format!("not retrying: {err}"));
            Retry::No
        }
    }
}

/// A number in [0, 1), different in every call: std's hasher is seeded at random.
pub fn random_fraction() -> f64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(Instant::now().elapsed().as_nanos());
    (hasher.finish() >> 11) as f64 / (1u64 << 53) as f64
}

/// What porch did with the processes a session left running, naming them; `None` when it
/// left none.
fn leftovers_note(leftovers: &[groups::Process], kept: bool) -> Option<String> {
    let count = leftovers.len();
    let what = match count {
        0 => return None,
        1 => "process",
        _ => "processes",
    };
    let mut named: Vec<String> = leftovers
        .iter()
        .take(NAMED_LEFTOVERS)
        .map(|p| format!("{} (pid {})", p.name, p.pid))
        .collect();
    if count > NAMED_LEFTOVERS {
        named.push(format!("{} more", count - NAMED_LEFTOVERS));
    }
    let named = named.join(", ");
    Some(if kept {
        format!("left {count} {what} the session started running (--keep-leftovers): {named}")
    } else {
        format!("ended {count} {what} the session left running: {named}")
    })
}

/// How many leftover processes a `[porch]` line names; the rest are counted.
const NAMED_LEFTOVERS: usize = 8;

/// Keeps what a failed attempt did under `refs/porch/attempts/<task>/<n>` and puts the worktree
/// back to the base, so the next attempt starts clean and nothing the agent wrote is lost.
fn set_aside_attempt(task: &Task, attempt: u32) -> Result<Option<String>, git::GitError> {
    let plan = task.plan;
    // A resumed task starts again from where the resume started, and numbers its saved
    // attempts after the earlier run's.
    let (restart, earlier) = match &plan.resume {
        Some(resume) => (&resume.start_commit, resume.earlier_attempts.len() as u32),
        None => (&task.base.commit, 0),
    };
    let number = attempt + earlier;
    let reference = format!("{}/{}/{number}", git::ATTEMPTS_REFS, plan.slot);
    let message = format!(
        "porch: what attempt {attempt} of task {} left\n",
        plan.task.name
    );
    // A repository the agent created cannot be added (it may have no commit yet); like the
    // final commit, the saved attempt leaves it out, and it stays in the worktree.
    let nested = unsaved::nested_repositories(&plan.worktree)?;
    let copies = copied_paths(plan);
    let leave_out = LeaveOut {
        repositories: (nested.iter())
            .filter(|n| n.left_out())
            .map(|n| n.path.as_str())
            .collect(),
        paths: copies.iter().map(String::as_str).collect(),
    };
    let saved = git::snapshot(
        &plan.worktree,
        restart,
        &reference,
        &message,
        &task.ctx.plan.identity,
        &leave_out,
    )?;
    if saved {
        task.note(
            Tone::Dim,
            format!("kept what attempt {attempt} wrote as {reference}"),
        );
    }
    git::restart_branch(&plan.worktree, &plan.branch, restart, &leave_out.paths).map_err(
        |err| {
            if saved {
                err.with_note(format!("(attempt {attempt}'s work is kept as {reference})"))
            } else {
                err
            }
        },
    )?;
    Ok(saved.then_some(reference))
}

/// Records what the session said and how it ended, and the verdict on it.
fn record_session(session: &Session, result: &mut TaskResult) {
    result.exit_code = session.status.code();
    result.signal = session.status.signal();
    result.session_id = session.log.session_id.clone();
    if let Some(event) = &session.log.result {
        record_result(event, result);
    }
    let verdict =
        verdict::judge_session(session.status, session.log.result.as_ref(), session.stopped);
    result.status = verdict.status;
    result.error = verdict.error;
    result.warnings.extend(verdict.warning);
}

fn record_result(event: &ResultEvent, result: &mut TaskResult) {
    result.cost_usd = event.total_cost_usd;
    result.num_turns = event.num_turns;
    result.result = event.result.clone();
    result.permission_denials = event.permission_denials;
}

/// Commits what the worktree holds on the task branch, then records what the branch holds
/// against its base. The work of a failed session is kept too: it may be most of the job.
/// Returns whether the worktree may be removed afterwards (`--cleanup`).
fn keep_work(task: &Task, session: &Session, result: &mut TaskResult) -> bool {
    clear_stale_index_lock(task, session, result);
    let before = find_nested_repositories(task, result);
    let nested = before.as_ref().map(|b| &b.nested);
    let copies = copied_paths(task.plan);
    let leave_out = LeaveOut {
        repositories: (nested.into_iter().flatten())
            .filter(|n| n.left_out())
            .map(|n| n.path.as_str())
            .collect(),
        paths: copies.iter().map(String::as_str).collect(),
    };
    let made_commit = commit_work(task, session, result, &leave_out);
    // HEAD was at the base before porch's commit: the branch holds that commit alone, or none.
    let from_base =
        before.as_ref().and_then(|b| b.head_commit.as_deref()) == Some(&task.base.commit);
    let known_commits = made_commit.filter(|_| from_base).map(u64::from);
    let plan = task.plan;
    let diff = git::branch_diff(
        &plan.worktree,
        &task.base.commit,
        &plan.branch,
        known_commits,
    );
    let held = diff
        .as_ref()
        .map(|d| held_paths(&d.raw))
        .unwrap_or_default();
    let ignored = record_ignored_writes(task, &session.log.written, &held, result);
    let mut stats = record_diff_stats(&diff, result);
    remember_diff(task, &diff, result);
    let no_links = leave_out_committed_links(task, result, &diff, &mut stats);
    let copies_ignored = copies_left_uncommitted(task, &copies, result);
    let may_remove = made_commit.is_some()
        && nested.is_some_and(|n| n.is_empty())
        && ignored
        && no_links
        && copies_ignored;
    task.note(Tone::Dim, branch_summary(&task.plan.branch, &stats));
    let denied = denial_warning(
        result.permission_denials,
        stats.files_changed == 0,
        &task.ctx.plan.settings.permission_mode,
    );
    if let Some(warning) = denied {
        task.note(Tone::Bad, warning.clone());
        result.warnings.push(warning);
    }
    may_remove
}

/// The task's `copy` entries, relative to the worktree's root. They are setup material from
/// the user's checkout (`.env` keys among them), never the session's work: porch commits none
/// of them, even one the session changed, and keeps them through a retry's reset.
fn copied_paths(plan: &TaskPlan) -> Vec<String> {
    (plan.task.copy.iter())
        .map(|path| path.to_string_lossy().into_owned())
        .collect()
}

/// The copies git does not ignore were left out of the commit, so the worktree holds files no
/// branch has: each is named in a warning, and the worktree is kept (`--cleanup`). Returns
/// whether it may go: every copy is ignored, or gone.
fn copies_left_uncommitted(task: &Task, copies: &[String], result: &mut TaskResult) -> bool {
    let entries: Vec<&str> = copies.iter().map(String::as_str).collect();
    let text = match git::untracked_files(&task.plan.worktree, &entries) {
        Ok(files) => {
            let left: Vec<&str> = (entries.iter().copied())
                .filter(|entry| files.iter().any(|file| is_at_or_below(file, entry)))
                .collect();
            if left.is_empty() {
                return true;
            }
            format!(
                "not committed: {}, copied from the repository by `copy` (porch never commits a \
                 copy); git does not ignore it, so the worktree is kept: add it to .gitignore",
                left.join(", ")
            )
        }
        Err(err) => format!("kept the worktree: could not ask git about the copies: {err}"),
    };
    task.note(Tone::Bad, text.clone());
    result.warnings.push(text);
    false
}

/// `file` is `entry`, or inside the directory `entry`.
fn is_at_or_below(file: &str, entry: &str) -> bool {
    let entry = entry.trim_end_matches('/');
    file.strip_prefix(entry)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

/// Removes an `index.lock` the session's git left in the worktree (killed on a timeout while it
/// held it), which would make porch's commit fail. Only once every process of the session is
/// gone: with `--keep-leftovers`, one still running may hold it for real.
fn clear_stale_index_lock(task: &Task, session: &Session, result: &mut TaskResult) {
    if session.leftovers_kept && !session.leftovers.is_empty() {
        return;
    }
    let text = match git::remove_stale_index_lock(&task.plan.worktree) {
        Ok(false) => return,
        Ok(true) => "removed the index.lock the session left in its worktree: \
                     its git was ended while holding it, and every process of the session is gone"
            .to_string(),
        Err(err) => format!("could not remove the index.lock the session left: {err}"),
    };
    task.note(Tone::Dim, text.clone());
    result.warnings.push(text);
}

/// Runs the task's `check` on the committed work of a successful session. A failing check
/// fails the task; the work stays committed on the branch either way.
fn check_work(task: &Task, result: &mut TaskResult) {
    let Some(argv) = task.plan.task.check.as_deref() else {
        return;
    };
    if result.status != Status::Succeeded {
        return;
    }
    let plan = task.plan;
    let env = task.step_env();
    let step = Step {
        label: "check",
        argv,
        worktree: &plan.worktree,
        env: &env,
        redactor: &plan.redactor,
        marker: &groups::Marker::new(agent::SESSION_MARKER_VAR, &task.marker()),
        timeout: task.time_left(),
        sweep_after_success: true,
        log: &plan.log,
        task_index: task.index,
        printer: &task.ctx.printer,
    };
    let checked = check::run(&step);
    result.check = Some(checked.run);
    if result.log.is_none() && plan.log.exists() {
        result.log = Some(plan.log.display().to_string());
    }
    match checked.verdict {
        CheckVerdict::Passed => task.note(Tone::Good, "check passed"),
        CheckVerdict::Failed(error) => {
            task.note(Tone::Bad, error.clone());
            result.status = Status::Failed;
            result.error = Some(error);
        }
        CheckVerdict::Interrupted(error) => {
            result.status = Status::Interrupted;
            result.error = Some(error);
        }
    }
}

/// `--push`: the branch, its work committed and checked, goes to the remote. A failed push is
/// the push's failure, not the task's: the work is on the branch here either way.
fn push_branch(task: &Task, result: &mut TaskResult) {
    let Some(remote) = task.ctx.plan.settings.push.as_deref() else {
        return;
    };
    let branch = &task.plan.branch;
    let shown = remote::shown(remote);
    let push_started = Instant::now();
    let outcome = match remote::push_branch(&task.ctx.plan.repo.toplevel, remote, branch) {
        Ok(()) => {
            let unreviewed = unreviewed(result)
                .map(|why| format!(", unreviewed: {why}; `porch resume` reviews it"))
                .unwrap_or_default();
            task.note(Tone::Dim, format!("pushed {branch} to {shown}{unreviewed}"));
            Push {
                remote: shown,
                ok: true,
                error: None,
                ..Push::default()
            }
        }
        Err(err) => {
            let error = remote::one_line(&remote::shown_in(&err.to_string(), remote));
            task.note(
                Tone::Bad,
                format!("could not push {branch} to {shown}: {error}"),
            );
            Push {
                remote: shown,
                ok: false,
                error: Some(error),
                ..Push::default()
            }
        }
    };
    let phase = Phase::ending_now(push_started.elapsed());
    result.push = Some(Push {
        started_at: phase.started_at,
        ended_at: phase.ended_at,
        ..outcome
    });
}

/// Why a branch pushed has no verdict its required review should have given: `--push` delivers
/// the work whatever became of the task (`porch merge` and `porch pr` take approved work only),
/// but the user is told it was not approved.
fn unreviewed(result: &TaskResult) -> Option<&'static str> {
    let review = result.review.as_ref()?;
    if !review.required || review.verdict.is_some() || review.skipped.is_some() {
        return None;
    }
    Some(match result.status {
        Status::Interrupted | Status::TimedOut => "its review was interrupted",
        Status::Skipped => "its review did not start",
        _ => "its review has no verdict",
    })
}

/// Commits on the task branch, unless the session left it. Returns whether porch made a commit
/// (`Some(false)`: nothing to commit), or `None` when it could not commit, and the worktree,
/// which holds work that is on no branch, must stay.
fn commit_work(
    task: &Task,
    session: &Session,
    result: &mut TaskResult,
    leave_out: &LeaveOut,
) -> Option<bool> {
    let plan = task.plan;
    let committed = match git::worktree_head(&plan.worktree) {
        // The session switched branches or detached HEAD: a commit would land where nobody
        // looks, or nowhere. The work stays in the worktree, which is kept, and is reported.
        Ok(head) if head != format!("ref: refs/heads/{}", plan.branch) => {
            let text = left_the_branch(&head, &plan.branch, &plan.worktree);
            task.note(Tone::Bad, text.clone());
            result.warnings.push(text);
            return None;
        }
        Ok(_) => {
            let message =
                commit_message(&plan.task, session.log.session_id.as_deref(), result.status);
            // The title comes from the task's description or prompt, which may quote a value.
            let message = plan.redactor.redact(&message).into_owned();
            git::commit_all(&plan.worktree, &message, &task.ctx.plan.identity, leave_out)
        }
        Err(err) => Err(err),
    };
    let err = match committed {
        Ok(made) => return Some(made),
        Err(err) => err,
    };
    // The session may have deleted its worktree: then there is nowhere to send the user.
    let text = if plan.worktree.exists() {
        format!(
            "could not commit the work: {err}; it is still in {}",
            plan.worktree.display()
        )
    } else {
        format!(
            "could not commit the work: the worktree {} no longer exists (the session deleted it)",
            plan.worktree.display()
        )
    };
    task.note(Tone::Bad, text.clone());
    result.status = Status::Failed;
    result.error = Some(match result.error.take() {
        Some(earlier) => format!("{earlier}; {text}"),
        None => text,
    });
    None
}

/// The repositories inside the worktree whose work the branch cannot hold, each warned about
/// and listed in the result, with where HEAD is; `None` when git could not say (the worktree
/// is then kept).
fn find_nested_repositories(task: &Task, result: &mut TaskResult) -> Option<unsaved::BeforeCommit> {
    let worktree = &task.plan.worktree;
    let before = match unsaved::before_commit(worktree) {
        Ok(before) => before,
        Err(err) => {
            let text =
                format!("kept the worktree: could not look for repositories inside it: {err}");
            task.note(Tone::Bad, text.clone());
            result.warnings.push(text);
            return None;
        }
    };
    for entry in &before.nested {
        let text = entry.warning(worktree);
        task.note(Tone::Bad, text.clone());
        result.warnings.push(text);
        if !result.nested_repositories.contains(&entry.path) {
            result.nested_repositories.push(entry.path.clone());
        }
    }
    Some(before)
}

/// Links the session itself committed to commits found only in this worktree: warned about,
/// listed, and taken out of the counts, which say what the branch holds as work. Returns
/// whether the worktree may go: not while it holds what they point at, nor when git could not say.
fn leave_out_committed_links(
    task: &Task,
    result: &mut TaskResult,
    diff: &Result<BranchDiff, git::GitError>,
    stats: &mut DiffStats,
) -> bool {
    let plan = task.plan;
    let (links, counts) = match diff {
        Ok(diff) => unsaved::committed_links(&plan.worktree, &diff.raw),
        Err(err) => {
            let text = format!(
                "kept the worktree: could not check the branch for links to commits: {err}"
            );
            task.note(Tone::Bad, text.clone());
            result.warnings.push(text);
            return false;
        }
    };
    for link in &links {
        let text = link.warning(&plan.worktree);
        task.note(Tone::Bad, text.clone());
        result.warnings.push(text);
        if !result.nested_repositories.contains(&link.path) {
            result.nested_repositories.push(link.path.clone());
        }
    }
    stats.files_changed = stats.files_changed.saturating_sub(counts.files);
    stats.insertions = stats.insertions.saturating_sub(counts.insertions);
    stats.deletions = stats.deletions.saturating_sub(counts.deletions);
    result.files_changed = stats.files_changed;
    result.insertions = stats.insertions;
    result.deletions = stats.deletions;
    links.is_empty()
}

/// The paths the branch holds a file at (`raw`: its diff against the base): a file git tracks
/// is not one it ignores, so git need not be asked about them.
fn held_paths(raw: &str) -> BTreeSet<String> {
    (git::raw_entries(raw).into_iter())
        .filter(|(_, after)| after.is_some())
        .map(|(path, _)| path)
        .collect()
}

/// Records the files the session wrote that git ignores, which no commit holds (`held`: paths
/// the branch holds, which git need not be asked about). Returns whether the worktree may go:
/// not while it holds them, nor when git could not say.
fn record_ignored_writes(
    task: &Task,
    written: &BTreeSet<String>,
    held: &BTreeSet<String>,
    result: &mut TaskResult,
) -> bool {
    let worktree = &task.plan.worktree;
    match unsaved::ignored_writes(worktree, written, held) {
        Ok(ignored) => {
            if let Some(text) = unsaved::ignored_warning(&ignored, worktree) {
                task.note(Tone::Bad, text.clone());
                result.warnings.push(text);
            }
            // The results show these names with `env` values hidden; `porch clean` looks for
            // the real ones, kept where only the user reads them.
            let state = &task.ctx.plan.state;
            if let Err(err) = state.record_ignored(&task.plan.slot, &ignored) {
                let text = format!("could not keep the names of the ignored files: {err}");
                task.note(Tone::Bad, text.clone());
                result.warnings.push(text);
            }
            result.ignored_files = ignored;
            result.ignored_files.is_empty()
        }
        Err(err) => {
            let text = format!(
                "kept the worktree: could not ask git which written files it ignores: {err}"
            );
            task.note(Tone::Bad, text.clone());
            result.warnings.push(text);
            false
        }
    }
}

/// Keeps the diff just read, with the commit it was read at, for the run's conflicts step:
/// read from the ref's file, since one more git process a task is what this saves.
fn remember_diff(task: &Task, diff: &Result<BranchDiff, git::GitError>, result: &mut TaskResult) {
    let common_dir = &task.ctx.plan.repo.common_dir;
    result.read_diff = match diff {
        Ok(diff) => git::loose_branch_commit(common_dir, &task.plan.branch).map(|head| ReadDiff {
            head,
            raw: diff.raw.clone(),
        }),
        Err(_) => None,
    };
}

/// Records in the result what the branch holds against the base; nothing when git cannot say.
fn record_diff_stats(
    diff: &Result<BranchDiff, git::GitError>,
    result: &mut TaskResult,
) -> DiffStats {
    match diff {
        Ok(BranchDiff { stats, .. }) => {
            result.commits = stats.commits;
            result.files_changed = stats.files_changed;
            result.insertions = stats.insertions;
            result.deletions = stats.deletions;
            *stats
        }
        Err(err) => {
            result
                .warnings
                .push(format!("could not read the branch's diff stats: {err}"));
            DiffStats::default()
        }
    }
}

/// `head` is what the worktree's HEAD holds: `ref: refs/heads/NAME`, or a commit when detached.
fn left_the_branch(head: &str, branch: &str, worktree: &Path) -> String {
    let now_on = head
        .strip_prefix("ref: refs/heads/")
        .map_or_else(|| format!("commit {head}"), |b| format!("branch {b}"));
    format!(
        "the session left the worktree on {now_on} instead of {branch}: porch committed nothing, and the work is in {}",
        worktree.display()
    )
}

fn branch_summary(branch: &str, stats: &DiffStats) -> String {
    if stats.files_changed == 0 {
        return format!("{branch} holds no changes");
    }
    format!(
        "{branch} holds {} commit{}: {} file{} changed, +{} -{}",
        stats.commits,
        if stats.commits == 1 { "" } else { "s" },
        stats.files_changed,
        if stats.files_changed == 1 { "" } else { "s" },
        stats.insertions,
        stats.deletions
    )
}

/// Tool calls claude's permission mode refused. When nothing changed, they are the likely reason,
/// and the warning says what to do about it.
fn denial_warning(denied: u64, changed_nothing: bool, permission_mode: &str) -> Option<String> {
    let calls = match denied {
        0 => return None,
        1 => "tool call",
        _ => "tool calls",
    };
    Some(if changed_nothing {
        format!(
            "the session changed nothing and claude denied {denied} {calls} in permission mode {permission_mode}: \
             rerun with --permission-mode acceptEdits, or list the tools in the task's allowed_tools"
        )
    } else {
        format!("claude denied {denied} {calls} in permission mode {permission_mode}")
    })
}

/// The title is the task's description, else the first line of its prompt; the trailers say
/// which task and session the work is from and how it ended.
fn commit_message(task: &plan::Task, session_id: Option<&str>, status: Status) -> String {
    let title = task
        .description
        .as_deref()
        .or_else(|| task.prompt.lines().find(|l| !l.trim().is_empty()))
        .unwrap_or_default()
        .trim();
    let title: String = title.chars().take(72).collect();
    let status = match status {
        Status::Succeeded => "succeeded",
        Status::TimedOut => "timed out",
        Status::Interrupted => "interrupted",
        _ => "failed",
    };
    let name = &task.name;
    format!(
        "{name}: {title}\n\nWork of the claude session that porch ran for task {name:?}.\n\nPorch-Task: {name}\nPorch-Session: {}\nPorch-Status: {status}\n",
        session_id.unwrap_or("unknown"),
    )
}

fn remove_worktree(task: &Task, result: &mut TaskResult) {
    let worktree = &task.plan.worktree;
    match git::is_dirty(worktree) {
        Ok(false) => match task.ctx.plan.repo.remove_worktree(worktree) {
            Ok(()) => {
                result.worktree_kept = false;
                remove_empty_parents(worktree, &task.plan.slot);
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

/// A branch template's slot (`nightly/20261201/docs`) leaves directories above the worktree:
/// those that are empty once it is gone are removed too, up to the worktree root. Removing a
/// directory that is not empty fails, so another run's worktree is never touched.
fn remove_empty_parents(worktree: &std::path::Path, slot: &str) {
    let depth = std::path::Path::new(slot).components().count();
    for parent in worktree.ancestors().skip(1).take(depth.saturating_sub(1)) {
        if std::fs::remove_dir(parent).is_err() {
            break;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(description: Option<&str>, prompt: &str) -> plan::Task {
        plan::Task {
            name: "fix-login".into(),
            prompt: prompt.into(),
            description: description.map(String::from),
            ..plan::Task::default()
        }
    }

    fn title(message: &str) -> &str {
        message.lines().next().unwrap_or_default()
    }

    #[test]
    fn a_file_belongs_to_a_copy_entry_that_is_it_or_holds_it() {
        // (the file git lists, the copy entry, whether the file is the entry's)
        let cases = [
            (".env", ".env", true),
            ("config/local.toml", "config", true),
            ("config/local.toml", "config/", true),
            (".env.local", ".env", false),
            ("configs/x", "config", false),
        ];
        for (file, entry, belongs) in cases {
            assert_eq!(is_at_or_below(file, entry), belongs, "{file} in {entry}");
        }
    }

    /// description × prompt → the commit's title line.
    #[test]
    fn the_commit_title_is_the_description_else_the_prompts_first_line() {
        let long = "x".repeat(100);
        let rows = [
            (
                Some("Fix the login form"),
                "Do it.",
                "fix-login: Fix the login form",
            ),
            (Some("  padded  "), "Do it.", "fix-login: padded"),
            (
                None,
                "Make the tests pass.\nThen stop.",
                "fix-login: Make the tests pass.",
            ),
            (
                None,
                "\n   \n  Second line first.  \nmore",
                "fix-login: Second line first.",
            ),
            (None, "", "fix-login: "),
        ];
        for (description, prompt, expected) in rows {
            let message = commit_message(&task(description, prompt), Some("s1"), Status::Succeeded);
            assert_eq!(title(&message), expected, "{description:?} {prompt:?}");
        }
        let message = commit_message(&task(None, &long), None, Status::Failed);
        assert_eq!(title(&message), format!("fix-login: {}", "x".repeat(72)));
    }

    #[test]
    fn the_commit_trailers_name_task_session_and_outcome() {
        let message = commit_message(&task(Some("Fix"), "p"), Some("s-42"), Status::TimedOut);
        assert_eq!(
            message,
            "fix-login: Fix\n\nWork of the claude session that porch ran for task \"fix-login\".\n\n\
             Porch-Task: fix-login\nPorch-Session: s-42\nPorch-Status: timed out\n"
        );
    }

    /// The task's status → the `Porch-Status` trailer; no session id → `unknown`.
    #[test]
    fn the_status_trailer_says_how_the_session_ended() {
        let rows = [
            (Status::Succeeded, "succeeded"),
            (Status::Failed, "failed"),
            (Status::TimedOut, "timed out"),
            (Status::Interrupted, "interrupted"),
        ];
        for (status, trailer) in rows {
            let message = commit_message(&task(None, "p"), None, status);
            assert!(
                message.ends_with(&format!(
                    "Porch-Session: unknown\nPorch-Status: {trailer}\n"
                )),
                "{message}"
            );
        }
    }

    #[test]
    fn leaving_the_branch_names_where_the_worktree_is_now() {
        let rows = [
            ("ref: refs/heads/main", "branch main"),
            ("ref: refs/heads/task/other", "branch task/other"),
            ("0123abcd", "commit 0123abcd"),
        ];
        for (head, now_on) in rows {
            assert_eq!(
                left_the_branch(head, "task/x", Path::new("/w/x")),
                format!(
                    "the session left the worktree on {now_on} instead of task/x: \
                     porch committed nothing, and the work is in /w/x"
                )
            );
        }
    }

    #[test]
    fn the_branch_summary_counts_commits_and_files() {
        let stats = |commits, files_changed, insertions, deletions| DiffStats {
            commits,
            files_changed,
            insertions,
            deletions,
        };
        let rows = [
            (stats(0, 0, 0, 0), "task/x holds no changes"),
            // Commits that cancel out change nothing.
            (stats(2, 0, 0, 0), "task/x holds no changes"),
            (
                stats(1, 1, 3, 0),
                "task/x holds 1 commit: 1 file changed, +3 -0",
            ),
            (
                stats(2, 5, 40, 7),
                "task/x holds 2 commits: 5 files changed, +40 -7",
            ),
        ];
        for (stats, text) in rows {
            assert_eq!(branch_summary("task/x", &stats), text);
        }
    }

    /// denials × whether the session changed anything → the warning.
    #[test]
    fn denied_tool_calls_are_reported_with_a_way_out_when_nothing_changed() {
        let rows = [
            (0, true, None),
            (0, false, None),
            (
                1,
                false,
                Some("claude denied 1 tool call in permission mode default"),
            ),
            (
                3,
                false,
                Some("claude denied 3 tool calls in permission mode default"),
            ),
            (
                2,
                true,
                Some(
                    "the session changed nothing and claude denied 2 tool calls in permission \
                     mode default: rerun with --permission-mode acceptEdits, or list the tools \
                     in the task's allowed_tools",
                ),
            ),
        ];
        for (denied, changed_nothing, warning) in rows {
            assert_eq!(
                denial_warning(denied, changed_nothing, "default").as_deref(),
                warning,
                "{denied} denied, changed nothing: {changed_nothing}"
            );
        }
    }

    #[test]
    fn leftover_processes_are_reported_as_ended_or_kept() {
        let processes = |n: i32| -> Vec<groups::Process> {
            (1..=n)
                .map(|pid| groups::Process {
                    pid,
                    name: "sleep".to_string(),
                })
                .collect()
        };
        // (processes, kept, the note)
        let rows = [
            (0, false, None),
            (0, true, None),
            (
                1,
                false,
                Some("ended 1 process the session left running: sleep (pid 1)"),
            ),
            (
                2,
                false,
                Some("ended 2 processes the session left running: sleep (pid 1), sleep (pid 2)"),
            ),
            (
                1,
                true,
                Some(
                    "left 1 process the session started running (--keep-leftovers): sleep (pid 1)",
                ),
            ),
        ];
        for (count, kept, note) in rows {
            assert_eq!(leftovers_note(&processes(count), kept).as_deref(), note);
        }
        let many = leftovers_note(&processes(10), false).unwrap();
        assert!(
            many.starts_with("ended 10 processes") && many.ends_with("sleep (pid 8), 2 more"),
            "{many}"
        );
    }
}
