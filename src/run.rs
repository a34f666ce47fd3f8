//! `porch run`: one thread per task, one printer thread, results written as tasks finish.

use std::io::IsTerminal;
use std::panic::AssertUnwindSafe;
use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::atomic_file;
use crate::cli::{ColorChoice, RunArgs};
use crate::error::{Error, IoContext};
use crate::preflight::{self, Environment, Plan};
use crate::printer;
use crate::proc;
use crate::report::{self, Counts, Results, SCHEMA_VERSION, Status};
use crate::runs;
use crate::shutdown;
use crate::summary;
use crate::task::{self, Context};
use crate::timestamp;

pub fn run(args: &RunArgs) -> Result<ExitCode, Error> {
    let plan = preflight::plan(args, &Environment::from_process())?;
    execute(plan, args.color)
}

/// Runs a checked plan: `porch run`'s, or `porch resume`'s (whose carried tasks are not run).
pub fn execute(plan: Plan, color: ColorChoice) -> Result<ExitCode, Error> {
    let color = use_color(color);

    // From here on porch creates things, so from here on a signal must let it clean up.
    shutdown::install();
    std::fs::create_dir_all(plan.state_dir.join("logs")).context("create", &plan.state_dir)?;
    let owner = plan.state_dir.join(preflight::OWNER_FILE);
    if !owner.exists() {
        let path = plan.repo.common_dir.display().to_string();
        atomic_file::write_atomic(&owner, path.as_bytes())?;
    }
    if let Some(dir) = plan.output.parent() {
        std::fs::create_dir_all(dir).context("create", dir)?;
    }
    let started_at = SystemTime::now();
    let clock = Instant::now();
    let mut results = Results {
        version: SCHEMA_VERSION,
        run_id: plan.run_id.clone(),
        resumed_from: plan.resumed_from.clone(),
        tasks_file: plan.source.name.clone(),
        repo: plan.repo.toplevel.display().to_string(),
        started_at: timestamp::rfc3339(started_at),
        finished_at: None,
        duration_ms: 0,
        summary: Counts::default(),
        tasks: plan
            .tasks
            .iter()
            .map(|t| {
                t.carried
                    .clone()
                    .unwrap_or_else(|| task::result_template(t, Status::Pending))
            })
            .collect(),
    };
    results.summarise();
    runs::store_tasks(&plan.state_dir, &results.run_id, &plan.source.bytes)?;
    // Written before any agent starts, so even a porch killed with SIGKILL leaves a valid file
    // naming every worktree and branch it was about to create.
    report::write_results(&plan.output, &results)?;
    if let Some(link) = &plan.latest_results {
        atomic_file::point_link(link, &plan.output)?;
    }
    if let Some(note) = &plan.jobs_note {
        crate::console::print_stderr(&format!("porch: {note}\n"));
    }

    let names = plan.tasks.iter().map(|t| t.task.name.clone()).collect();
    let (printer, printer_thread) = printer::spawn(names, color);
    let run_id = format!(
        "{}-{}",
        std::process::id(),
        started_at
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos()
    );
    let ctx = Context {
        plan: &plan,
        printer,
        run_id,
    };
    // A write that fails during the run is reported, but only the last write decides the exit
    // code: it is the file a script reads.
    let mut progress_failure: Option<Error> = None;
    std::thread::scope(|scope| {
        let (finished_tx, finished_rx) = crossbeam_channel::unbounded();
        let mut next = 0;
        let mut running = 0;
        let mut last_start: Option<Instant> = None;
        let mut announced_signal = false;
        loop {
            if let Some(signal) = shutdown::requested() {
                if !announced_signal {
                    announced_signal = true;
                    announce_shutdown(signal, running);
                }
                for index in next..plan.tasks.len() {
                    if plan.tasks[index].carried.is_some() {
                        continue;
                    }
                    results.tasks[index].status = Status::Skipped;
                    results.tasks[index].error = Some(format!(
                        "not started: porch received {}",
                        proc::describe_signal(signal)
                    ));
                }
                next = plan.tasks.len();
            }
            let mut started_any = false;
            while next < plan.tasks.len() && running < plan.jobs {
                if plan.tasks[next].carried.is_some() {
                    next += 1;
                    continue;
                }
                if let (Some(stagger), Some(last)) = (plan.stagger, last_start)
                    && last.elapsed() < stagger
                {
                    break;
                }
                let index = next;
                let ctx = &ctx;
                let finished_tx = finished_tx.clone();
                let spawned = std::thread::Builder::new()
                    .name(format!("task-{}", plan.tasks[index].task.name))
                    .spawn_scoped(scope, move || {
                        let result = run_task_guarded(ctx, index);
                        let _ = finished_tx.send((index, result));
                    });
                next += 1;
                last_start = Some(Instant::now());
                started_any = true;
                if let Err(err) = spawned {
                    let task = &mut results.tasks[index];
                    task.status = Status::Failed;
                    task.error = Some(format!("not started: the system refused a thread: {err}"));
                    continue;
                }
                results.tasks[index].status = Status::Running;
                running += 1;
            }
            if started_any && let Err(err) = write_progress(&plan, &mut results, clock) {
                progress_failure.get_or_insert(err);
            }
            if running == 0 && next >= plan.tasks.len() {
                break;
            }
            // Wake for a finished task, the next staggered start, or a signal to porch.
            let wake = match (plan.stagger, last_start) {
                (Some(stagger), Some(last)) if next < plan.tasks.len() && running < plan.jobs => {
                    stagger.saturating_sub(last.elapsed()).min(SCHEDULER_POLL)
                }
                _ => SCHEDULER_POLL,
            };
            if let Ok((index, result)) = finished_rx.recv_timeout(wake) {
                results.tasks[index] = result;
                running -= 1;
                if let Err(err) = write_progress(&plan, &mut results, clock) {
                    progress_failure.get_or_insert(err);
                }
            }
        }
    });
    drop(ctx);
    let stdout_alive = printer_thread.finish();

    results.finished_at = Some(timestamp::rfc3339(SystemTime::now()));
    let final_write = write_progress(&plan, &mut results, clock);

    if stdout_alive {
        let logs = plan.state_dir.join("logs");
        summary::print(
            &mut std::io::stdout().lock(),
            &results,
            &logs,
            &plan.output,
            color,
        );
    }
    if let Err(err) = final_write {
        // The tasks ran and their branches hold the work, but a script cannot learn that from a
        // results file that is missing or stale: so this is a failure, never a quiet success.
        crate::console::print_stderr(&format!(
            "porch: error: the results file could not be written: {err}\n"
        ));
        return Ok(ExitCode::from(1));
    }
    if let Some(err) = progress_failure {
        crate::console::print_stderr(&format!(
            "porch: warning: the results file could not be updated during the run: {err}\n"
        ));
    }
    if let Some(signal) = shutdown::requested() {
        return Ok(ExitCode::from(128 + signal as u8));
    }
    let all_succeeded = results.tasks.iter().all(|t| t.status == Status::Succeeded);
    Ok(if all_succeeded {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

const SCHEDULER_POLL: Duration = Duration::from_millis(100);

fn write_progress(plan: &Plan, results: &mut Results, clock: Instant) -> Result<(), Error> {
    results.summarise();
    results.duration_ms = clock.elapsed().as_millis() as u64;
    report::write_results(&plan.output, results)
}

fn announce_shutdown(signal: i32, running: usize) {
    let again = if signal == libc::SIGINT {
        "; press Ctrl-C again to kill them at once"
    } else {
        ""
    };
    crate::console::print_stderr(&format!(
        "porch: received {}: starting no more sessions, ending {running} running (their work is committed){again}\n",
        proc::describe_signal(signal)
    ));
}

/// A bug in porch that panics one task's thread must not take the others' results with it.
fn run_task_guarded(ctx: &Context, index: usize) -> report::TaskResult {
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

fn use_color(choice: ColorChoice) -> bool {
    match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
                && std::env::var_os("TERM").is_none_or(|t| t != "dumb")
                && std::io::stdout().is_terminal()
        }
    }
}
