//! After the tasks: what escaped the sessions ended, winners and conflicts found, the last
//! results written, the JUnit report, what stdout gets, and the exit code.

use std::path::Path;
use std::time::Duration;

use crossbeam_channel::Sender;

use crate::agent::log::rendered_tail;
use crate::engine::conflicts;
use crate::engine::hooks;
use crate::engine::progress::Progress;
use crate::engine::pulls;
use crate::error::Error;
use crate::git;
use crate::output::events::Event;
use crate::output::mode::OutputMode;
use crate::output::printer;
use crate::output::printer::Message;
use crate::process::groups;
use crate::process::shutdown;
use crate::results::Results;
use crate::results::Status;
use crate::results::TaskResult;
use crate::results::junit;
use crate::results::report;
use crate::results::report::TAIL_LINES;
use crate::results::report::TaskExtras;
use crate::results::rivals;
use crate::results::summary;
use crate::results::summary::MergeCheck;
use crate::results::summary::RunCommand;
use crate::state::runs::RunChoice;
use crate::sys::atomic_file::write_atomic;
use crate::task::plan::Plan;

/// Ends the run once every task has: the last results written while the printer still runs
/// (with `-o /dev/stdout` they go to the same place), then `run_finished`, then what stdout
/// gets. Returns the exit code.
pub fn conclude(
    plan: &Plan,
    mut progress: Progress,
    events: Sender<Message>,
    printer_thread: printer::PrinterThread,
    mode: OutputMode,
    color: bool,
) -> u8 {
    printer::drain(&events);
    record_dropped_lines(plan, &mut progress.results);
    rivals::pick_winners(&mut progress.results.tasks);
    look_for_conflicts(plan, &mut progress.results);
    let pulls_ok = open_pull_requests(plan, &mut progress.results);
    let (results_json, final_write) = progress.finish();
    let junit_write = write_junit(plan, &progress.results);
    let statuses = progress.results.tasks.iter().map(|t| t.status);
    let code = exit_code(
        final_write.is_ok() && junit_write.is_ok(),
        shutdown::requested(),
        statuses,
    );
    let code = after_pushes(code, &progress.results.tasks);
    let code = if code == 0 && !pulls_ok { 1 } else { code };
    let code = write_report(plan, &progress.results, code);
    let results_file = plan.results_file();
    let finished = Event::RunFinished {
        exit_code: code,
        summary: progress.results.summary.clone(),
        results: results_file.display().to_string(),
    };
    printer::event(&events, finished);
    drop(events);
    let stdout_alive = printer_thread.finish();
    report_dropped_lines(plan);
    let delivered =
        stdout_alive && print_outcome(plan, &progress.results, &results_json, mode, color);
    let code = after_machine_output(code, mode, delivered, &results_file);
    report_write_failures(&final_write, progress.failed_update.as_ref());
    if let Err(err) = &junit_write {
        crate::sys::console::print_stderr(&format!(
            "porch: error: the JUnit report could not be written: {err}\nhint: {}\n",
            err.hint()
                .as_deref()
                .unwrap_or("the results file has every task's outcome; `porch status` shows them")
        ));
    }
    hooks::run_finished(plan, code, &progress.results, mode);
    code
}

/// Every task is done: what escaped its session and was adopted by porch is ended, and said on
/// stderr, since no task could be charged with it. With `--keep-leftovers` it is left running,
/// as what the sessions left is.
pub fn end_orphans(keep: bool) {
    if keep {
        return;
    }
    let count = groups::end_orphans(Duration::from_secs(2));
    if count > 0 {
        crate::sys::console::print_stderr(&format!(
            "porch: ended {count} process(es) that escaped their session (adopted by porch as orphans; no task could be charged with them)\n"
        ));
    }
}

/// Which succeeded branches collide, once every task has ended; not after a signal to porch,
/// which asks it to stop.
fn look_for_conflicts(plan: &Plan, results: &mut Results) {
    if let Some(signal) = shutdown::requested() {
        results.conflicts_note = Some(format!(
            "not looked for: porch received {}",
            groups::describe_signal(signal)
        ));
        return;
    }
    let mut found = conflicts::find(&plan.repo.toplevel, &results.tasks);
    conflicts::hide_env_values(&mut found.conflicts, plan);
    results.conflicts = found.conflicts;
    results.conflicts_note = found.note;
}

/// `--pr`: each succeeded task's pull request, once every task has ended (not after a signal
/// to porch, which asks it to stop), stored in its result. Returns whether none failed.
fn open_pull_requests(plan: &Plan, results: &mut Results) -> bool {
    let Some(settings) = &plan.pull_requests else {
        return true;
    };
    if shutdown::requested().is_some() {
        return true;
    }
    let Ok(chosen) = pulls::chosen(&results.tasks, &[]) else {
        return true;
    };
    let source = pulls::Source {
        tasks: &results.tasks,
        prompts: plan.tasks.iter().map(|t| t.task.prompt.clone()).collect(),
        depends_on: plan.tasks.iter().map(|t| t.depends_on.clone()).collect(),
        redactors: plan.tasks.iter().map(|t| &*t.redactor).collect(),
        run_id: &plan.run_id,
    };
    let made = pulls::open(
        &plan.repo.toplevel,
        settings,
        &source,
        &chosen,
        &mut |line| {
            crate::sys::console::print_stderr(&format!("porch: {line}\n"));
        },
    );
    let mut ok = true;
    for (index, outcome) in made {
        match outcome {
            Ok(pr) => results.tasks[index].pr = Some(pr),
            Err(_) => ok = false,
        }
    }
    ok
}

/// `--junit`: the report of the finished run, each failed task with its log's last lines.
fn write_junit(plan: &Plan, results: &Results) -> Result<(), Error> {
    let Some(path) = &plan.settings.junit else {
        return Ok(());
    };
    let tails: Vec<Vec<String>> = results
        .tasks
        .iter()
        .map(|task| match &task.log {
            Some(log) if junit::is_failure(task.status) => {
                rendered_tail(Path::new(log), Path::new(&task.worktree), junit::TAIL_LINES)
            }
            _ => Vec::new(),
        })
        .collect();
    junit::write(path, results, &tails)
}

/// `--report`: the run's HTML page, with the exit code as it stands. A page that cannot be
/// written is said on stderr and turns an exit code 0 into 1.
fn write_report(plan: &Plan, results: &Results, code: u8) -> u8 {
    let Some(path) = &plan.settings.report else {
        return code;
    };
    let extras = report_extras(&plan.repo.toplevel, results);
    let page = report::render(results, &extras, Some(code), None);
    match write_atomic(path, page.as_bytes()) {
        Ok(()) => code,
        Err(err) => {
            crate::sys::console::print_stderr(&format!(
                "porch: error: the report could not be written: {err}\n\
                 hint: `porch report -o FILE` writes it again from the stored run\n"
            ));
            code.max(1)
        }
    }
}

/// Each task's diff stat against its base and its log's last lines, for the HTML report; what
/// cannot be read any more (a branch deleted, a log removed) is left empty.
pub fn report_extras(repo: &Path, results: &Results) -> Vec<TaskExtras> {
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

/// Each task run now gets the count of its lines the terminal did not get; a carried task
/// keeps its earlier run's.
fn record_dropped_lines(plan: &Plan, results: &mut Results) {
    for (index, task) in results.tasks.iter_mut().enumerate() {
        if plan.tasks.get(index).is_some_and(|t| t.carried.is_none()) {
            task.dropped_lines = printer::dropped_lines_of(index);
        }
    }
}

/// Lines the terminal did not get (it fell behind: `printer::offer`), said on stderr.
fn report_dropped_lines(plan: &Plan) {
    let dropped = printer::dropped_lines();
    if dropped > 0 {
        crate::sys::console::print_stderr(&format!(
            "porch: {dropped} line(s) of output not shown: stdout fell behind; every task's log has them: {}\n",
            plan.state.logs_dir().display()
        ));
    }
}

/// `--push`: a branch that did not reach the remote turns a run that was otherwise all well
/// into exit code 1; any other code already says more.
fn after_pushes(code: u8, tasks: &[TaskResult]) -> u8 {
    let push_failed = tasks.iter().any(|t| t.push.as_ref().is_some_and(|p| !p.ok));
    if code == 0 && push_failed { 1 } else { code }
}

/// `--json` and `--events` are what a script reads: when stdout lost them (closed, full), a run
/// that was otherwise all well exits 1, and stderr says where the results are.
fn after_machine_output(code: u8, mode: OutputMode, delivered: bool, results: &Path) -> u8 {
    let flag = match mode {
        OutputMode::Json => "--json",
        OutputMode::Events => "--events",
        OutputMode::Stream | OutputMode::Quiet => return code,
    };
    if delivered {
        return code;
    }
    crate::sys::console::print_stderr(&format!(
        "porch: error: what {flag} writes did not all reach standard output (closed or full)\n\
         hint: the results file has the run: {}\n",
        results.display()
    ));
    if code == 0 { 1 } else { code }
}

/// What stdout gets once the run is over: the summary, the results for `--json` (`json`, as
/// the last write wrote them), or nothing more for `--events`, whose `run_finished` was its
/// last line. Returns whether stdout took all of it, and all the printer wrote before it.
fn print_outcome(
    plan: &Plan,
    results: &Results,
    json: &str,
    mode: OutputMode,
    color: bool,
) -> bool {
    match mode {
        OutputMode::Stream | OutputMode::Quiet => {
            let out = &mut std::io::stdout().lock();
            let choice = RunChoice {
                repo: plan.repo.toplevel.clone(),
                worktree_dir: plan.settings.worktree_dir.clone(),
                run: None,
            };
            let command =
                |subcommand: &str, words: &[&str]| choice.command(subcommand, &plan.run_id, words);
            let merge_check = merge_check(plan, results);
            let next = (&command as RunCommand, &merge_check);
            summary::print(out, results, &plan.results_file(), next, color);
            true
        }
        OutputMode::Json => crate::sys::console::print_stdout(json) && !printer::stdout_failed(),
        OutputMode::Events => !printer::stdout_failed(),
    }
}

/// What a merge of the run would check: the tasks file's `merge_check`, else the one `check`
/// the succeeded tasks share, if they share one.
fn merge_check(plan: &Plan, results: &Results) -> MergeCheck {
    if plan.merge_check.is_some() {
        return MergeCheck::FromFile;
    }
    let succeeded = |name: &str| (results.tasks.iter()).any(|t| t.name == name && t.succeeded());
    let checks: std::collections::BTreeSet<&Vec<String>> = (plan.tasks.iter())
        .filter(|t| succeeded(&t.task.name))
        .filter_map(|t| t.task.check.as_ref())
        .collect();
    match checks.into_iter().collect::<Vec<_>>().as_slice() {
        [check] => MergeCheck::Shared(crate::util::quote::command(check)),
        _ => MergeCheck::None,
    }
}

/// The tasks ran and their branches hold the work, but a script cannot learn that from a
/// results file that is missing or stale: a failed last write is an error, never a quiet
/// success.
fn report_write_failures(final_write: &Result<(), Error>, failed_update: Option<&Error>) {
    match (final_write, failed_update) {
        (Err(err), _) => crate::sys::console::print_stderr(&format!(
            "porch: error: the results file could not be written: {err}\nhint: {}\n",
            err.hint()
                .as_deref()
                .unwrap_or("the work is on the task branches (`porch list` shows them); fix the cause and run again with -o")
        )),
        (Ok(()), Some(err)) => crate::sys::console::print_stderr(&format!(
            "porch: warning: the results file could not be updated during the run: {err}\n"
        )),
        (Ok(()), None) => {}
    }
}

/// 1 when the results file could not be written at the end; else 128 + N after signal N; else
/// 0 when every task succeeded and 1 when one did not.
fn exit_code(
    final_write_ok: bool,
    signal: Option<i32>,
    statuses: impl IntoIterator<Item = Status>,
) -> u8 {
    if !final_write_ok {
        return 1;
    }
    if let Some(signal) = signal {
        return u8::try_from(128 + signal).unwrap_or(u8::MAX);
    }
    let all_succeeded = statuses.into_iter().all(|s| s == Status::Succeeded);
    if all_succeeded { 0 } else { 1 }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Status::{Failed, Interrupted, Skipped, Succeeded, TimedOut};

    struct Case {
        rule: &'static str,
        final_write_ok: bool,
        signal: Option<i32>,
        statuses: &'static [Status],
        code: u8,
    }

    fn check(cases: &[Case]) {
        for case in cases {
            let statuses = case.statuses.iter().copied();
            let code = exit_code(case.final_write_ok, case.signal, statuses);
            assert_eq!(code, case.code, "{}", case.rule);
        }
    }

    #[test]
    fn zero_only_when_every_task_succeeded() {
        check(&[
            Case {
                rule: "every task succeeded",
                final_write_ok: true,
                signal: None,
                statuses: &[Succeeded, Succeeded],
                code: 0,
            },
            Case {
                rule: "one task failed",
                final_write_ok: true,
                signal: None,
                statuses: &[Succeeded, Failed],
                code: 1,
            },
            Case {
                rule: "one task timed out",
                final_write_ok: true,
                signal: None,
                statuses: &[TimedOut, Succeeded],
                code: 1,
            },
        ]);
    }

    #[test]
    fn a_signal_gives_128_plus_its_number() {
        check(&[
            Case {
                rule: "SIGINT",
                final_write_ok: true,
                signal: Some(libc::SIGINT),
                statuses: &[Interrupted, Skipped],
                code: 130,
            },
            Case {
                rule: "SIGTERM",
                final_write_ok: true,
                signal: Some(libc::SIGTERM),
                statuses: &[Interrupted],
                code: 143,
            },
            Case {
                rule: "SIGHUP after every task succeeded",
                final_write_ok: true,
                signal: Some(libc::SIGHUP),
                statuses: &[Succeeded],
                code: 129,
            },
        ]);
    }

    #[test]
    fn a_failed_last_write_gives_1_whatever_else_happened() {
        check(&[
            Case {
                rule: "every task succeeded",
                final_write_ok: false,
                signal: None,
                statuses: &[Succeeded],
                code: 1,
            },
            Case {
                rule: "after a signal",
                final_write_ok: false,
                signal: Some(libc::SIGTERM),
                statuses: &[Skipped],
                code: 1,
            },
        ]);
    }

    #[test]
    fn a_failed_push_gives_1_where_all_else_gave_0() {
        let pushed = |ok| TaskResult {
            push: Some(crate::results::Push {
                remote: "origin".into(),
                ok,
                error: None,
                ..Default::default()
            }),
            ..TaskResult::example("t", Succeeded)
        };
        let unpushed = TaskResult::example("u", Succeeded);
        // (the code without pushes, the tasks, the code)
        let cases = [
            (0, vec![pushed(true), unpushed.clone()], 0),
            (0, vec![pushed(true), pushed(false)], 1),
            (1, vec![pushed(false)], 1),
            (130, vec![pushed(false)], 130),
            (0, vec![unpushed], 0),
        ];
        for (code, tasks, expected) in cases {
            assert_eq!(after_pushes(code, &tasks), expected, "{code} {tasks:?}");
        }
    }
}
