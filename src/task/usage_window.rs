//! A session a subscription's usage window refused: the task waits for a slot, which the
//! scheduler grants after the window's reset, and starts its session again without spending a
//! retry. When porch gives up waiting (`--max-wait`) or is signalled meanwhile, the task ends,
//! skipped or interrupted, with what its session wrote kept like any task's. A reviewer waits
//! the same way, before it starts while a window holds every start, and after one refused it.

use std::time::Instant;

use crate::agent::session::Session;
use crate::agent::usage::UsageWindow;
use crate::output::printer;
use crate::output::printer::Tone;
use crate::process::groups;
use crate::process::shutdown;
use crate::results::Status;
use crate::results::TaskResult;
use crate::task::Tally;
use crate::task::Task;

/// What the task does after its session was refused.
pub(super) enum AfterRefusal {
    /// It starts its session again as `attempt`; `restarted`: the same attempt, since the one
    /// refused did nothing.
    Again { attempt: u32, restarted: bool },
    /// It ends with this outcome; what the session wrote is committed as after any session.
    End(Box<TaskResult>),
    /// It ends having done nothing: its worktree and branch are gone, `result` says why.
    Discarded,
}

/// Waits for the window's reset and says how the task goes on. A session the API answered
/// before the refusal may have written work and spent money: it is an attempt (marked with the
/// window), and its work is set aside as a retry's would be before the next one starts. One
/// refused at once did nothing and is no attempt.
pub(super) fn after_refusal(
    task: &Task,
    attempt: u32,
    session: &Session,
    window: &UsageWindow,
    tally: &mut Tally,
    result: &mut TaskResult,
) -> AfterRefusal {
    let worked = session.log.ever_answered().then(|| {
        let outcome = super::judge_attempt(task, attempt, session, tally);
        tally.ended_by_usage(&window.kind);
        outcome
    });
    if task.wait_for_slot(Instant::now()) {
        return match worked {
            None => AfterRefusal::Again {
                attempt,
                restarted: true,
            },
            Some(outcome) => start_afresh(task, attempt, outcome, tally),
        };
    }
    let (status, error) = match no_slot(task) {
        NoSlot::GaveUp(reason) => (
            Status::Skipped,
            format!("its session was refused: {reason}"),
        ),
        NoSlot::Signalled(signal) => (
            Status::Interrupted,
            format!(
                "interrupted while waiting for the {} usage limit to reset: porch received {}",
                window.kind,
                groups::describe_signal(signal)
            ),
        ),
    };
    if tally.attempts.is_empty() && task.plan.resume.is_none() {
        discard(task, result, status, error);
        return AfterRefusal::Discarded;
    }
    let mut outcome = worked.unwrap_or_else(|| super::judge_attempt(task, attempt, session, tally));
    outcome.status = status;
    outcome.error = Some(error);
    AfterRefusal::End(Box::new(outcome))
}

/// Why the scheduler gives a waiting task no slot (a session or a reviewer).
pub(super) enum NoSlot {
    /// porch stopped waiting for a usage window (`--max-wait`): the reason.
    GaveUp(String),
    /// porch was signalled while the task waited.
    Signalled(i32),
}

/// Why the task was given no slot: porch gave up on a usage window, or else was signalled.
pub(super) fn no_slot(task: &Task) -> NoSlot {
    match task.ctx.slots.refusal() {
        Some(reason) => NoSlot::GaveUp(reason),
        None => NoSlot::Signalled(shutdown::requested().unwrap_or(libc::SIGINT)),
    }
}

/// Lets a reviewer start: at once, unless a usage window holds every start (another session
/// was refused and porch waits for the reset) or `refused` (this task's reviewer was): then
/// the task waits for a slot as a refused session does, which the scheduler grants after the
/// reset. Once porch gave up waiting, no reviewer starts.
pub(super) fn clear_for_reviewer(task: &Task, refused: bool) -> Result<(), NoSlot> {
    let slots = &task.ctx.slots;
    let clear = slots.refusal().is_none()
        && ((!refused && !slots.is_held(Instant::now())) || task.wait_for_slot(Instant::now()));
    if clear { Ok(()) } else { Err(no_slot(task)) }
}

/// A session that ended for another reason and waited for a slot to start again, refused it
/// because porch gave up waiting for a usage window: the task is skipped, saying why (`what`:
/// what did not happen), with its attempt's error after it.
pub(super) fn skip_if_refused(task: &Task, outcome: &mut TaskResult, what: &str) {
    let Some(reason) = task.ctx.slots.refusal() else {
        return;
    };
    let error = match &outcome.error {
        Some(earlier) => format!("{what}: {reason}; the attempt had ended: {earlier}"),
        None => format!("{what}: {reason}"),
    };
    outcome.status = Status::Skipped;
    outcome.error = Some(error);
}

/// The refused attempt's work set aside under its ref and the worktree back at the start, as
/// before a retry; the next attempt starts.
fn start_afresh(task: &Task, attempt: u32, outcome: TaskResult, tally: &mut Tally) -> AfterRefusal {
    match super::set_aside_attempt(task, attempt) {
        Ok(saved_work) => {
            tally.keep_saved_work(saved_work);
            let next = attempt + 1;
            printer::event(
                &task.ctx.printer,
                super::started(task.plan, task.index, next),
            );
            AfterRefusal::Again {
                attempt: next,
                restarted: false,
            }
        }
        Err(err) => {
            // Without a clean worktree the next attempt would build on this one's leftovers.
            task.note(Tone::Bad, format!("not starting again: {err}"));
            AfterRefusal::End(Box::new(outcome))
        }
    }
}

/// Nothing of the task's was done: its worktree and branch would only block the next run of
/// the same tasks.
fn discard(task: &Task, result: &mut TaskResult, status: Status, error: String) {
    let plan = task.plan;
    let repo = &task.ctx.plan.repo;
    repo.discard_worktree(&plan.worktree, &plan.branch, &task.base.commit);
    result.status = if status == Status::Interrupted {
        Status::Skipped
    } else {
        status
    };
    result.error = Some(error);
    result.worktree_kept = plan.worktree.exists();
    task.note(
        Tone::Dim,
        "its session was refused before it did anything: removed its worktree and branch",
    );
}
