//! One run, `porch run`'s or `porch resume`'s: its state made, which task starts when (order,
//! concurrency, dependencies), its results kept, what the branches share, and its exit code.

pub mod concurrency;
pub mod conflicts;
pub mod dependencies;
pub mod finish;
mod hooks;
mod max_fail;
pub mod merge_queue;
mod progress;
pub mod pulls;
pub mod resolver;
pub mod rules;
mod schedule;
pub mod usage;

use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use crossbeam_channel::Sender;

use crate::engine::progress::Progress;
use crate::error::Error;
use crate::output::events::Event;
use crate::output::mode::ColorChoice;
use crate::output::mode::OutputMode;
use crate::output::mode::color_wanted;
use crate::output::printer;
use crate::output::printer::Look;
use crate::output::printer::Message;
use crate::output::printer::Show;
use crate::process::groups;
use crate::process::shutdown;
use crate::results::Results;
use crate::results::rivals;
use crate::state::create::RunFiles;
use crate::state::lock::RunLock;
use crate::task::Context;
use crate::task::budget::Budget;
use crate::task::plan::Plan;
use crate::task::slots::Slots;

/// Runs a checked plan: `porch run`'s, or `porch resume`'s (whose carried tasks are not run).
pub fn run(plan: Plan, color: ColorChoice, mode: OutputMode) -> Result<ExitCode, Error> {
    let (look, color) = look(&plan, color, mode);

    // Before anything is created, so that a refused thread is an error with nothing to undo.
    let (printer, printer_thread) = spawn_printer(look)?;

    // From here on porch creates things, so from here on a signal must let it clean up.
    shutdown::install();
    groups::adopt_orphans();
    let started_at = SystemTime::now();
    let mut progress = Progress::new(&plan, started_at);
    // Held to the end: while it is, the run is going on for every other porch.
    let _lock = match create_state(&plan, &mut progress) {
        Ok(lock) => lock,
        Err(err) => {
            printer_thread.finish();
            return Err(err);
        }
    };
    if let Some(note) = &plan.jobs_note {
        crate::sys::console::print_stderr(&format!("porch: {note}\n"));
    }
    printer::event(&printer, run_started(&plan, &progress.results));

    let (slots, inbox) = Slots::new(plan.tasks.len());
    let events = printer.clone();
    let ctx = Context {
        plan: &plan,
        printer,
        run_id: run_id(started_at),
        slots,
        winners: std::sync::Mutex::new(rivals::winners(&progress.results.tasks)),
        budget: Budget::new(plan.settings.max_cost_usd, plan.tasks.len()),
    };
    schedule::schedule(&ctx, &inbox, &mut progress);
    drop(ctx);
    finish::end_orphans(plan.settings.keep_leftovers);
    let code = finish::conclude(&plan, progress, events, printer_thread, mode, color);
    Ok(ExitCode::from(code))
}

/// The run's files in the state directory, and its first results, before any task starts.
fn create_state(plan: &Plan, progress: &mut Progress) -> Result<RunLock, Error> {
    let files = RunFiles {
        run_id: &plan.run_id,
        repo_dir: &plan.repo.common_dir,
        tasks_source: &plan.source.bytes,
        settings: plan.recorded_settings.as_bytes(),
        output: plan.settings.output.as_deref(),
    };
    plan.state.create_for_run(&files, || progress.write())
}

/// Unique to this porch process: part of every session marker.
fn run_id(started_at: SystemTime) -> String {
    let since_epoch = started_at.duration_since(UNIX_EPOCH).unwrap_or_default();
    format!("{}-{}", std::process::id(), since_epoch.as_nanos())
}

/// The `run_started` event: the run's id, its tasks, and the ones a resume carries over.
fn run_started(plan: &Plan, results: &Results) -> Event {
    let carried = plan
        .tasks
        .iter()
        .enumerate()
        .filter(|(_, t)| t.carried.is_some())
        .map(|(index, _)| index)
        .collect();
    Event::RunStarted {
        run_id: results.run_id.clone(),
        tasks_file: results.tasks_file.clone(),
        jobs: plan.jobs,
        carried,
    }
}

fn spawn_printer(look: Look) -> Result<(Sender<Message>, printer::PrinterThread), Error> {
    printer::spawn(look).map_err(|err| {
        Error::setup(
            format!("the system refused a thread for the printer, so nothing was started: {err}"),
            "too many threads or processes may be running (see ulimit -u); run porch again when fewer are",
        )
    })
}

/// How the printer writes, and whether the summary is coloured. One rule for escape codes:
/// where `color_wanted` allows none, none is written, neither colour nor the status line;
/// the status line needs a terminal besides, as it moves the cursor.
fn look(plan: &Plan, choice: ColorChoice, mode: OutputMode) -> (Look, bool) {
    let terminal = std::io::stdout().is_terminal();
    let color = color_wanted(
        choice,
        std::env::var_os("NO_COLOR").as_deref(),
        std::env::var_os("TERM").as_deref(),
        terminal,
    );
    let show = match mode {
        OutputMode::Stream => Show::Stream {
            status_line: color && terminal,
        },
        OutputMode::Quiet | OutputMode::Json => Show::Quiet,
        OutputMode::Events => Show::Events,
    };
    let names = plan.tasks.iter().map(|t| t.task.name.clone()).collect();
    (Look { names, color, show }, color)
}
