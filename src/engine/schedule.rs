//! The scheduling loop: tasks started as the rules let them, each on its own thread, and each
//! end, rate limit, budget and signal to porch acted on as it comes.

use std::panic::AssertUnwindSafe;
use std::thread::Scope;
use std::time::{Duration, Instant, SystemTime};

use crossbeam_channel::Sender;

use crate::agent::ApiEvent;
use crate::agent::usage::UsageStatus;
use crate::agent::usage::UsageWindow;
use crate::engine::concurrency;
use crate::engine::concurrency::Cause;
use crate::engine::concurrency::Change;
use crate::engine::dependencies::Dependencies;
use crate::engine::hooks::TaskHooks;
use crate::engine::max_fail;
use crate::engine::progress::Announced;
use crate::engine::progress::Progress;
use crate::engine::rules::Blocked;
use crate::engine::rules::Scheduler;
use crate::engine::usage;
use crate::engine::usage::Decision;
use crate::engine::usage::UsageWaits;
use crate::output::events::Event;
use crate::output::events::UsageLimit;
use crate::output::printer;
use crate::output::printer::Tone;
use crate::process::groups;
use crate::process::shutdown;
use crate::results::Status;
use crate::results::TaskResult;
use crate::results::rivals;
use crate::task;
use crate::task::Context;
use crate::task::budget::Budget;
use crate::task::plan::MaxFail;
use crate::task::plan::Plan;
use crate::task::slots::BaseReport;
use crate::task::slots::Inbox;

/// How often the scheduler looks for a signal to porch when no task ends.
const SIGNAL_POLL: Duration = Duration::from_millis(100);

type Finished = (usize, TaskResult);

/// Starts tasks as the scheduler lets them, and records each as it ends, until nothing runs
/// or waits.
pub fn schedule(ctx: &Context, inbox: &Inbox, progress: &mut Progress) {
    let plan = ctx.plan;
    let mut scheduler = scheduler_for(plan, progress);
    let mut usage = UsageWaits::new(plan.settings.max_wait);
    let hooks = TaskHooks::new(plan, &ctx.printer);
    let mut announced = Announced::new(&progress.results, hooks);
    std::thread::scope(|scope| {
        let (finished_tx, finished_rx) = crossbeam_channel::unbounded::<Finished>();
        loop {
            announced.announce(&ctx.printer, &progress.results);
            if let Some(signal) = shutdown::requested() {
                stop_starting(&mut scheduler, progress, signal);
            }
            if skip_blocked(&mut scheduler, progress)
                | stop_for_failures(plan.settings.max_fail, &mut scheduler, progress)
            {
                progress.update();
            }
            if ctx.budget.is_spent() && stop_for_budget(&ctx.budget, &mut scheduler, progress) {
                progress.update();
            }
            if start_ready(scope, ctx, &mut scheduler, progress, &finished_tx) {
                progress.update();
            }
            if scheduler.is_done() {
                break;
            }
            // Wake for a finished task, the next staggered start, or a signal to porch.
            let wake = scheduler
                .next_wake(Instant::now())
                .map_or(SIGNAL_POLL, |wait| wait.min(SIGNAL_POLL));
            crossbeam_channel::select! {
                recv(finished_rx) -> finished => if let Ok(first) = finished {
                    // A task the signal ended may end before the loop looks at signals: it
                    // ran when the signal came, and is counted so.
                    if let Some(signal) = shutdown::requested() {
                        stop_starting(&mut scheduler, progress, signal);
                    }
                    // Tasks that ended together are recorded in one write of the results.
                    for (index, result) in std::iter::once(first).chain(finished_rx.try_iter()) {
                        record_end(ctx, &mut scheduler, progress, index, result);
                    }
                    progress.update();
                },
                recv(inbox.requests) -> request => if let Ok(request) = request {
                    // A refused session's window, read before it ended, is acted on first.
                    for (index, window) in inbox.usage_reports.try_iter() {
                        react_to_usage(ctx, &mut scheduler, &mut usage, progress, index, &window);
                    }
                    if !usage.is_exhausted() {
                        scheduler.wants_again(request.task, request.not_before);
                    }
                },
                recv(inbox.api_reports) -> report => if let Ok(report) = report {
                    // With the reports that came with it: a burst of refusals is one line.
                    let waiting = inbox.api_reports.try_iter().take(API_REPORTS_AT_ONCE);
                    let reports = std::iter::once(report).chain(waiting);
                    react_to_api(ctx, &mut scheduler, &mut usage, progress, reports);
                },
                recv(inbox.usage_reports) -> report => if let Ok((index, window)) = report {
                    react_to_usage(ctx, &mut scheduler, &mut usage, progress, index, &window);
                },
                recv(inbox.bases) -> report => if let Ok(first) = report {
                    let reports = std::iter::once(first).chain(inbox.bases.try_iter());
                    record_bases(progress, reports.collect());
                },
                default(wake) => {},
            }
        }
    });
    progress.results.usage_limit_waits = usage.records(Instant::now());
    announced.announce(&ctx.printer, &progress.results);
    announced.wait_for_hooks();
}

/// Records the bases tasks reported. Each task waits until its base is written: one write
/// answers every task that reported meanwhile, instead of one write (and its fsync) each.
fn record_bases(progress: &mut Progress, reports: Vec<BaseReport>) {
    for report in &reports {
        let task = &mut progress.results.tasks[report.task];
        task.base_branch = report.base.branch.clone();
        task.base_commit = report.base.commit.clone();
    }
    progress.update();
    for report in reports {
        let _ = report.recorded.send(());
    }
}

/// Records the end of task `index`: the scheduler frees its place, the results hold it, and a
/// rival's end may change its group's winner.
fn record_end(
    ctx: &Context,
    scheduler: &mut Scheduler,
    progress: &mut Progress,
    index: usize,
    result: TaskResult,
) {
    scheduler.finished(index, result.status);
    let rival = result.group.is_some();
    progress.results.tasks[index] = result;
    if rival && let Ok(mut winners) = ctx.winners.lock() {
        *winners = rivals::winners(&progress.results.tasks);
    }
    progress.results.spent_usd = ctx.budget.spent();
}

/// The rules for `plan`'s tasks, each from its status in the first results: pending, or the
/// outcome of a task a resume carries over, which is not run again.
fn scheduler_for(plan: &Plan, progress: &Progress) -> Scheduler {
    let initial = progress.results.tasks.iter().map(|t| t.status).collect();
    let dependencies = (plan.tasks.iter()).map(|t| t.depends_on.clone()).collect();
    let groups: Vec<Option<&str>> = (plan.tasks.iter())
        .map(|t| t.task.group.as_deref())
        .collect();
    let dependencies = Dependencies::from_indices(dependencies).with_groups(&groups);
    Scheduler::new(initial, dependencies, plan.jobs, plan.settings.stagger)
}

/// What porch does about a usage window a session told of: a `rejected` one holds every start
/// until its reset, or, past `--max-wait`, ends the starts; an `allowed_warning` is said once.
fn react_to_usage(
    ctx: &Context,
    scheduler: &mut Scheduler,
    usage: &mut UsageWaits,
    progress: &mut Progress,
    index: usize,
    window: &UsageWindow,
) {
    match window.status {
        UsageStatus::Allowed => return,
        UsageStatus::Warning => {
            if usage.warned(window) {
                printer::note(&ctx.printer, index, Tone::Dim, usage::warning(window));
            }
            return;
        }
        UsageStatus::Rejected => {}
    }
    let (now, wall) = (Instant::now(), SystemTime::now());
    let decision = usage.refused(window, now, wall, task::random_fraction());
    let (wait, gave_up) = match decision {
        Decision::Waiting => return,
        Decision::Wait { until, wait } => {
            hold_starts(ctx, scheduler, Some(until));
            (wait, false)
        }
        Decision::GiveUp { wait } => (wait, true),
    };
    let kind = &window.kind;
    let text = if gave_up {
        let reason = usage::too_long(kind, wait, wall, usage.max_wait());
        give_up(ctx, scheduler, progress, &reason);
        format!("{reason}: starting no more sessions; the tasks not done are skipped")
    } else {
        usage::waiting(kind, wait, wall)
    };
    printer::note(&ctx.printer, index, Tone::Bad, text);
    let event = UsageLimit {
        task: index,
        kind: kind.clone(),
        resets_at: window.resets_at,
        wait,
        until: now + wait,
        gave_up,
    };
    printer::event(&ctx.printer, Event::UsageLimit(event));
    progress.results.usage_limit_waits = usage.records(now);
    progress.update();
}

/// porch waits no longer for the usage window: every task waiting for a slot is refused it,
/// every pending one skipped, for `reason`.
fn give_up(ctx: &Context, scheduler: &mut Scheduler, progress: &mut Progress, reason: &str) {
    ctx.slots.refuse_all(reason.to_string());
    for index in scheduler.on_usage_exhausted().unwrap_or_default() {
        let task = &mut progress.results.tasks[index];
        task.status = Status::Skipped;
        task.error = Some(format!("not started: {reason}"));
    }
}

/// Holds every start until `until` (a usage window's reset): the scheduler's, and the
/// reviewers', which ask the slots.
fn hold_starts(ctx: &Context, scheduler: &mut Scheduler, until: Option<Instant>) {
    scheduler.hold(until);
    ctx.slots.hold(until);
}

/// The most API reports read together, so that a stream of them cannot hold the loop.
const API_REPORTS_AT_ONCE: usize = 256;

/// What porch does about API reports read together: each acted on, and a `[porch]` line for
/// each change of the limit they made, falls in a row said as one.
fn react_to_api(
    ctx: &Context,
    scheduler: &mut Scheduler,
    usage: &mut UsageWaits,
    progress: &mut Progress,
    reports: impl Iterator<Item = (usize, ApiEvent)>,
) {
    let mut changes = Vec::new();
    for (index, event) in reports {
        if event == ApiEvent::Answered && usage.answered(Instant::now()) {
            hold_starts(ctx, scheduler, usage.hold_until());
        }
        let change = react(ctx, scheduler, progress, index, event);
        changes.extend(change.map(|change| (index, change)));
    }
    say_changes(ctx, changes);
}

/// A `[porch]` line for each change of the limit that reports read together made, falls in a
/// row said as one.
fn say_changes(ctx: &Context, changes: Vec<(usize, Change)>) {
    for (index, change) in concurrency::coalesce_falls(changes) {
        // A limit raised again is good news: not drawn as a problem, and not one for `-q`.
        let tone = match change.cause {
            Cause::Raised => Tone::Dim,
            Cause::RateLimited(_) => Tone::Bad,
        };
        printer::note(&ctx.printer, index, tone, change.describe());
    }
}

/// What porch does about what a session said about the API: the limit in the results, the
/// event, and a stop for each session shed. Returns the change of the limit, for a `[porch]`
/// line.
fn react(
    ctx: &Context,
    scheduler: &mut Scheduler,
    progress: &mut Progress,
    index: usize,
    event: ApiEvent,
) -> Option<Change> {
    let reaction = scheduler.observe(index, event);
    for shed in reaction.shed {
        ctx.slots.ask_to_stop(shed);
    }
    let limit = scheduler.limit();
    if let ApiEvent::Retrying { status, .. } | ApiEvent::GaveUp { status } = event
        && event.is_rate_limit()
    {
        let limit = limit.limit();
        let limited = Event::RateLimited {
            task: index,
            status,
            limit,
        };
        printer::event(&ctx.printer, limited);
    }
    let results = &mut progress.results;
    results.rate_limit_events = limit.events();
    results.lowest_concurrency = limit.lowest();
    results.final_concurrency = limit.limit();
    reaction.change
}

/// Starts, each on its own thread, every task the scheduler lets start now. True when it
/// started or tried to start any.
fn start_ready<'scope>(
    scope: &'scope Scope<'scope, '_>,
    ctx: &'scope Context,
    scheduler: &mut Scheduler,
    progress: &mut Progress,
    finished: &Sender<Finished>,
) -> bool {
    let mut started_any = false;
    while let Some(index) = scheduler.ready_again(Instant::now()) {
        scheduler.restarted(index);
        ctx.slots.grant(index);
    }
    while let Some(index) = scheduler.ready(Instant::now()) {
        started_any = true;
        let finished = finished.clone();
        let spawned = std::thread::Builder::new()
            .name(format!("task-{}", ctx.plan.tasks[index].task.name))
            .spawn_scoped(scope, move || {
                let _ = finished.send((index, run_task_guarded(ctx, index)));
            });
        let task = &mut progress.results.tasks[index];
        match spawned {
            Ok(_) => {
                scheduler.started(index, Instant::now());
                task.status = Status::Running;
            }
            Err(err) => {
                scheduler.refused(index, Instant::now());
                task.status = Status::Failed;
                task.error = Some(format!("not started: the system refused a thread: {err}"));
            }
        }
    }
    started_any
}

/// Marks skipped every pending task a dependency of which ended without succeeding, naming
/// it and how it ended. True when it skipped any.
fn skip_blocked(scheduler: &mut Scheduler, progress: &mut Progress) -> bool {
    let blocked = scheduler.skip_blocked();
    for Blocked {
        task,
        dependency,
        ended,
    } in &blocked
    {
        let how = match ended {
            Status::TimedOut => "timed out",
            Status::Interrupted => "was interrupted",
            Status::Skipped => "was skipped",
            _ => "failed",
        };
        let error = match &progress.results.tasks[*dependency].group {
            Some(group) => format!(
                "not started: it depends on `{group}`, a repeated task none of whose attempts succeeded"
            ),
            None => {
                let name = &progress.results.tasks[*dependency].name;
                format!("not started: it depends on `{name}`, which {how}")
            }
        };
        let result = &mut progress.results.tasks[*task];
        result.status = Status::Skipped;
        result.error = Some(error);
    }
    !blocked.is_empty()
}

/// The run's budget is spent: every waiting task is skipped, saying so. True when this is news.
fn stop_for_budget(budget: &Budget, scheduler: &mut Scheduler, progress: &mut Progress) -> bool {
    let Some(skipped) = scheduler.on_budget_spent() else {
        return false;
    };
    let spent = budget.spent();
    let limit = budget.limit().unwrap_or_default();
    progress.results.spent_usd = spent;
    let error = format!(
        "not started: the run's budget is spent (${spent:.4} of --max-cost-usd {})",
        crate::task::budget::dollars(limit)
    );
    let waiting = match skipped.len() {
        0 => "no task was waiting".to_string(),
        n => format!("{n} waiting task(s) skipped"),
    };
    crate::sys::console::print_stderr(&format!(
        "porch: the run's budget is spent (${spent:.4} of ${limit:.4}): starting no more sessions; {waiting}\n"
    ));
    for index in skipped {
        let task = &mut progress.results.tasks[index];
        task.status = Status::Skipped;
        task.error = Some(error.clone());
    }
    true
}

/// As many tasks failed as `--max-fail` allows: every waiting task is skipped, saying so, and
/// the running ones finish. True when this is news. Asked after `skip_blocked` (`|`, not `||`:
/// both are asked), so that a dependant of a failed task keeps that reason.
fn stop_for_failures(
    limit: Option<MaxFail>,
    scheduler: &mut Scheduler,
    progress: &mut Progress,
) -> bool {
    let Some(limit) = limit else {
        return false;
    };
    let Some(failed) = max_fail::reached(limit, &progress.results.tasks) else {
        return false;
    };
    let running = scheduler.running();
    let Some(skipped) = scheduler.on_max_fail() else {
        return false;
    };
    let reason = max_fail::reason(limit, failed);
    crate::sys::console::print_stderr(&format!(
        "porch: {reason}: starting no more sessions; {} waiting task(s) skipped, {running} running go on\n",
        skipped.len()
    ));
    for index in skipped {
        let task = &mut progress.results.tasks[index];
        task.status = Status::Skipped;
        task.error = Some(format!("not started: {reason}"));
    }
    true
}

/// On the first signal: says what porch does now, and marks every waiting task skipped.
fn stop_starting(scheduler: &mut Scheduler, progress: &mut Progress, signal: i32) {
    let running = scheduler.running();
    let Some(skipped) = scheduler.on_signal() else {
        return;
    };
    announce_shutdown(signal, running);
    for index in skipped {
        let task = &mut progress.results.tasks[index];
        task.status = Status::Skipped;
        task.error = Some(format!(
            "not started: porch received {}",
            groups::describe_signal(signal)
        ));
    }
}

fn announce_shutdown(signal: i32, running: usize) {
    let again = if signal == libc::SIGINT {
        "; press Ctrl-C again to kill them at once"
    } else {
        ""
    };
    crate::sys::console::print_stderr(&format!(
        "porch: received {}: starting no more sessions, ending {running} running (their work is committed){again}\n",
        groups::describe_signal(signal)
    ));
}

/// A bug in porch that panics one task's thread must not take the others' results with it.
fn run_task_guarded(ctx: &Context, index: usize) -> TaskResult {
    // On the task's thread, before anything the task prints: its lines follow its start.
    printer::event(
        &ctx.printer,
        task::started(&ctx.plan.tasks[index], index, 1),
    );
    std::panic::catch_unwind(AssertUnwindSafe(|| task::run(ctx, index))).unwrap_or_else(|panic| {
        let what = panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        let plan = &ctx.plan.tasks[index];
        let mut result = task::result_template(plan, Status::Failed);
        // What is on disk is still there: say so, so nobody thinks it gone.
        result.worktree_kept = plan.worktree.exists();
        result.log = plan.log.exists().then(|| plan.log.display().to_string());
        result.error = Some(format!(
            "porch failed internally ({what}); please report this"
        ));
        result
    })
}
