//! `porch run`: one thread per task, one printer thread, results written as tasks finish.

use std::ffi::OsStr;
use std::io::IsTerminal;
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::thread::Scope;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crossbeam_channel::Sender;

use crate::agent::ApiEvent;
use crate::commands::logs;
use crate::engine::conflicts;
use crate::engine::dependencies::Dependencies;
use crate::engine::rules::{Blocked, Scheduler};
use crate::error::{Error, IoContext};
use crate::output::events::Event;
use crate::output::printer::{self, Look, Message, Show, Tone};
use crate::preflight::options::{ColorChoice, OutputMode, RunArgs};
use crate::preflight::{self, Environment};
use crate::process::groups;
use crate::process::shutdown;
use crate::results::junit;
use crate::results::rivals;
use crate::results::summary;
use crate::results::{self, Counts, Results, SCHEMA_VERSION, Status, TaskResult};
use crate::state::runs;
use crate::sys::atomic_file;
use crate::task::budget::Budget;
use crate::task::plan::Plan;
use crate::task::slots::{Inbox, Slots};
use crate::task::{self, Context};
use crate::util::sha256;
use crate::util::timestamp;

pub fn run(args: &RunArgs) -> Result<ExitCode, Error> {
    let plan = preflight::plan(args, &Environment::from_process())?;
    execute(plan, args.color, args.output_mode)
}

/// Every task is done: what escaped its session and was adopted by porch is ended, and said on
/// stderr, since no task could be charged with it. With `--keep-leftovers` it is left running,
/// as what the sessions left is.
fn end_orphans(keep: bool) {
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

/// `--junit`: the report of the finished run, each failed task with its log's last lines.
fn write_junit(plan: &Plan, results: &Results) -> Result<(), Error> {
    let Some(path) = &plan.junit else {
        return Ok(());
    };
    let tails: Vec<Vec<String>> = results
        .tasks
        .iter()
        .map(|task| match &task.log {
            Some(log) if junit::is_failure(task.status) => {
                logs::rendered_tail(Path::new(log), Path::new(&task.worktree), junit::TAIL_LINES)
            }
            _ => Vec::new(),
        })
        .collect();
    junit::write(path, results, &tails)
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
            plan.state_dir.join("logs").display()
        ));
    }
}

/// Runs a checked plan: `porch run`'s, or `porch resume`'s (whose carried tasks are not run).
pub fn execute(plan: Plan, color: ColorChoice, mode: OutputMode) -> Result<ExitCode, Error> {
    let (look, color) = look(&plan, color, mode);

    // Before anything is created, so that a refused thread is an error with nothing to undo.
    let (printer, printer_thread) = spawn_printer(look)?;

    // From here on porch creates things, so from here on a signal must let it clean up.
    shutdown::install();
    groups::adopt_orphans();
    let started_at = SystemTime::now();
    let mut progress = match prepare(&plan, started_at) {
        Ok(progress) => progress,
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
        budget: Budget::new(plan.max_cost_usd, plan.tasks.len()),
    };
    schedule(&ctx, &inbox, &mut progress);
    drop(ctx);
    end_orphans(plan.keep_leftovers);

    // The stream first: with `-o /dev/stdout`, the final write goes to the same place.
    printer::drain(&events);
    record_dropped_lines(&plan, &mut progress.results);
    rivals::pick_winners(&mut progress.results.tasks);
    look_for_conflicts(&plan, &mut progress.results);
    let final_write = progress.finish();
    let junit_write = write_junit(&plan, &progress.results);
    let statuses = progress.results.tasks.iter().map(|t| t.status);
    let code = exit_code(
        final_write.is_ok() && junit_write.is_ok(),
        shutdown::requested(),
        statuses,
    );
    let code = after_pushes(code, &progress.results.tasks);
    let finished = Event::RunFinished {
        exit_code: code,
        summary: progress.results.summary.clone(),
        results: plan.output.display().to_string(),
    };
    printer::event(&events, finished);
    drop(events);
    let stdout_alive = printer_thread.finish();
    report_dropped_lines(&plan);
    let delivered = stdout_alive && print_outcome(&plan, &progress.results, mode, color);
    let code = after_machine_output(code, mode, delivered, &plan.output);
    report_write_failures(&final_write, progress.failed_update.as_ref());
    if let Err(err) = &junit_write {
        crate::sys::console::print_stderr(&format!(
            "porch: error: the JUnit report could not be written: {err}\nhint: {}\n",
            err.hint()
                .as_deref()
                .unwrap_or("the results file has every task's outcome; `porch status` shows them")
        ));
    }
    Ok(ExitCode::from(code))
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

/// What stdout gets once the run is over: the summary, the results for `--json`, or nothing
/// more for `--events`, whose `run_finished` was its last line. Returns whether stdout took
/// all of it, and all the printer wrote before it.
fn print_outcome(plan: &Plan, results: &Results, mode: OutputMode, color: bool) -> bool {
    match mode {
        OutputMode::Stream | OutputMode::Quiet => {
            let logs = plan.state_dir.join("logs");
            let out = &mut std::io::stdout().lock();
            summary::print(out, results, &logs, &plan.output, color);
            true
        }
        OutputMode::Json => {
            crate::sys::console::print_stdout(&results::to_json(results))
                && !printer::stdout_failed()
        }
        OutputMode::Events => !printer::stdout_failed(),
    }
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

/// Creates the state directory and the owner file, and writes the first results file.
fn prepare(plan: &Plan, started_at: SystemTime) -> Result<Progress, Error> {
    let progress = Progress {
        output: plan.output.clone(),
        results: first_results(plan, started_at),
        clock: Instant::now(),
        failed_update: None,
    };
    let layout = StateLayout {
        state_dir: &plan.state_dir,
        repo_dir: &plan.repo.common_dir,
        latest_results: plan.latest_results.as_deref(),
        tasks_source: &plan.source.bytes,
    };
    create_state(&layout, progress)
}

/// What porch keeps outside the worktrees.
struct StateLayout<'a> {
    state_dir: &'a Path,
    /// The repository's git directory, written in the owner file.
    repo_dir: &'a Path,
    latest_results: Option<&'a Path>,
    /// The tasks file as read, kept for `porch resume`.
    tasks_source: &'a [u8],
}

/// On a failure, removes what it created: the error means exit 2, and exit 2 means nothing was
/// created. Everything it creates is new (directories that were missing, the owner file, this
/// run's copy of the tasks file and results file), so it can be removed without losing
/// anything of an earlier run.
fn create_state(layout: &StateLayout, mut progress: Progress) -> Result<Progress, Error> {
    let mut created = Created::default();
    match create_state_steps(layout, &mut progress, &mut created) {
        Ok(()) => Ok(progress),
        Err(err) => {
            created.undo();
            Err(err)
        }
    }
}

fn create_state_steps(
    layout: &StateLayout,
    progress: &mut Progress,
    created: &mut Created,
) -> Result<(), Error> {
    created.dir_all(&layout.state_dir.join("logs"))?;
    let owner = layout.state_dir.join(crate::state::OWNER_FILE);
    if !owner.exists() {
        let repo_dir = layout.repo_dir.display().to_string();
        created.file(&owner, || {
            atomic_file::write_atomic(&owner, repo_dir.as_bytes())
        })?;
    }
    let run_id = progress.results.run_id.clone();
    let stored_tasks = runs::stored_tasks_path(layout.state_dir, &run_id);
    if let Some(dir) = stored_tasks.parent() {
        created.dir_all(dir)?;
    }
    created.file(&stored_tasks, || {
        runs::store_tasks(layout.state_dir, &run_id, layout.tasks_source)
    })?;
    let output = progress.output.clone();
    if let Some(dir) = output.parent() {
        created.dir_all(dir)?;
    }
    // Written before any agent starts, so even a porch killed with SIGKILL leaves a valid file
    // naming every worktree and branch it was about to create.
    created.file(&output, || progress.write())?;
    // Last, as nothing can undo it: it replaces the link to an earlier run's results.
    if let Some(link) = layout.latest_results {
        atomic_file::point_link(link, &output)?;
    }
    Ok(())
}

/// What `prepare` created, so that a failure can remove it again.
#[derive(Debug, Default)]
struct Created {
    /// Outermost first.
    dirs: Vec<PathBuf>,
    files: Vec<PathBuf>,
}

impl Created {
    /// `create_dir_all`, remembering every directory that did not exist before.
    fn dir_all(&mut self, dir: &Path) -> Result<(), Error> {
        let missing: Vec<PathBuf> = dir
            .ancestors()
            .take_while(|d| d.symlink_metadata().is_err())
            .map(Path::to_path_buf)
            .collect();
        // Remembered even on a failure: the outer ones may exist by then.
        self.dirs.extend(missing.into_iter().rev());
        std::fs::create_dir_all(dir).context("create", dir)
    }

    /// Writes `path` with `write`, remembering it when it did not exist before.
    fn file(
        &mut self,
        path: &Path,
        write: impl FnOnce() -> Result<(), Error>,
    ) -> Result<(), Error> {
        let existed = path.symlink_metadata().is_ok();
        write()?;
        if !existed {
            self.files.push(path.to_path_buf());
        }
        Ok(())
    }

    /// Removes what was created, innermost first. A directory that holds something porch did
    /// not create here (another run's files, meanwhile) stays.
    fn undo(self) {
        for file in self.files.iter().rev() {
            let _ = std::fs::remove_file(file);
        }
        for dir in self.dirs.iter().rev() {
            let _ = std::fs::remove_dir(dir);
        }
    }
}

/// Every task pending, or carried from the run it resumes: what the results file says before
/// any task starts.
fn first_results(plan: &Plan, started_at: SystemTime) -> Results {
    Results {
        version: SCHEMA_VERSION,
        run_id: plan.run_id.clone(),
        resumed_from: plan.resumed_from.clone(),
        tasks_file: plan.source.name.clone(),
        tasks_file_hash: sha256::hex_digest(&plan.source.bytes),
        tasks_file_order: plan.tasks_file_order.clone(),
        shard: plan.shard,
        repo: plan.repo.toplevel.display().to_string(),
        started_at: timestamp::rfc3339(started_at),
        finished_at: None,
        duration_ms: 0,
        summary: Counts::default(),
        rate_limit_events: 0,
        lowest_concurrency: plan.jobs,
        final_concurrency: plan.jobs,
        budget_usd: plan.max_cost_usd,
        spent_usd: 0.0,
        tasks: plan
            .tasks
            .iter()
            .map(|t| {
                t.carried
                    .clone()
                    .unwrap_or_else(|| task::result_template(t, Status::Pending))
            })
            .collect(),
        conflicts: Vec::new(),
        conflicts_note: None,
    }
}

/// Unique to this porch process: part of every session marker.
fn run_id(started_at: SystemTime) -> String {
    let since_epoch = started_at.duration_since(UNIX_EPOCH).unwrap_or_default();
    format!("{}-{}", std::process::id(), since_epoch.as_nanos())
}

/// The results file through the run.
#[derive(Debug)]
struct Progress {
    output: PathBuf,
    results: Results,
    clock: Instant,
    /// The first write during the run that failed. Only the last write decides the exit code:
    /// it is the file a script reads; one before it is only warned about.
    failed_update: Option<Error>,
}

impl Progress {
    fn write(&mut self) -> Result<(), Error> {
        self.results.summarise();
        self.results.duration_ms = self.clock.elapsed().as_millis() as u64;
        results::write_results(&self.output, &self.results)
    }

    /// A write during the run: a failure is kept for a warning at the end.
    fn update(&mut self) {
        if let Err(err) = self.write() {
            self.failed_update.get_or_insert(err);
        }
    }

    /// The last write, when every task has ended.
    fn finish(&mut self) -> Result<(), Error> {
        self.results.finished_at = Some(timestamp::rfc3339(SystemTime::now()));
        self.write()
    }
}

/// How often the scheduler looks for a signal to porch when no task ends.
const SIGNAL_POLL: Duration = Duration::from_millis(100);

type Finished = (usize, TaskResult);

/// Starts tasks as the scheduler lets them, and records each as it ends, until nothing runs
/// or waits.
fn schedule(ctx: &Context, inbox: &Inbox, progress: &mut Progress) {
    let plan = ctx.plan;
    // From the first results: a task carried over is not run again, it starts with its outcome.
    let initial = progress.results.tasks.iter().map(|t| t.status).collect();
    let dependencies = (plan.tasks.iter()).map(|t| t.depends_on.clone()).collect();
    let groups: Vec<Option<&str>> = (plan.tasks.iter())
        .map(|t| t.task.group.as_deref())
        .collect();
    let dependencies = Dependencies::from_indices(dependencies).with_groups(&groups);
    let mut scheduler = Scheduler::new(initial, dependencies, plan.jobs, plan.stagger);
    let mut announced = Announced::new(&progress.results);
    std::thread::scope(|scope| {
        let (finished_tx, finished_rx) = crossbeam_channel::unbounded::<Finished>();
        loop {
            announced.announce(&ctx.printer, &progress.results);
            if let Some(signal) = shutdown::requested() {
                stop_starting(&mut scheduler, progress, signal);
            }
            if skip_blocked(&mut scheduler, progress) {
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
                recv(finished_rx) -> finished => if let Ok((index, result)) = finished {
                    scheduler.finished(index, result.status);
                    let attempt = result.group.is_some();
                    progress.results.tasks[index] = result;
                    if attempt && let Ok(mut winners) = ctx.winners.lock() {
                        *winners = rivals::winners(&progress.results.tasks);
                    }
                    progress.results.spent_usd = ctx.budget.spent();
                    progress.update();
                },
                recv(inbox.requests) -> request => if let Ok(request) = request {
                    scheduler.wants_again(request.task, request.not_before);
                },
                recv(inbox.api_reports) -> report => if let Ok((index, event)) = report {
                    react(ctx, &mut scheduler, progress, index, event);
                },
                default(wake) => {},
            }
        }
    });
    announced.announce(&ctx.printer, &progress.results);
}

/// Which tasks' ends were told to the printer (`task_finished`): each once, however it came
/// to its end (its thread, a signal before it started, a refused thread).
struct Announced(Vec<bool>);

impl Announced {
    /// Tasks final before the run starts (carried by a resume) did not end in this run.
    fn new(results: &Results) -> Announced {
        Announced(results.tasks.iter().map(|t| is_final(t.status)).collect())
    }

    fn announce(&mut self, printer: &Sender<Message>, results: &Results) {
        for (index, task) in results.tasks.iter().enumerate() {
            if !self.0[index] && is_final(task.status) {
                self.0[index] = true;
                let result = Box::new(task.clone());
                printer::event(
                    printer,
                    Event::TaskFinished {
                        task: index,
                        result,
                    },
                );
            }
        }
    }
}

fn is_final(status: Status) -> bool {
    !matches!(status, Status::Pending | Status::Running)
}

/// What porch does about what a session said about the API: a `[porch]` line when the limit
/// moves, the limit in the results, and a stop for each session shed.
fn react(
    ctx: &Context,
    scheduler: &mut Scheduler,
    progress: &mut Progress,
    index: usize,
    event: ApiEvent,
) {
    let reaction = scheduler.observe(index, event);
    if let Some(change) = reaction.change {
        printer::note(&ctx.printer, index, Tone::Bad, change.describe());
    }
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

/// Colour when asked for. With `auto`, only on a terminal, and never when `NO_COLOR` is set to
/// anything but the empty string (no-color.org) or `TERM` is `dumb`.
fn color_wanted(
    choice: ColorChoice,
    no_color: Option<&OsStr>,
    term: Option<&OsStr>,
    stdout_is_terminal: bool,
) -> bool {
    match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            no_color.is_none_or(OsStr::is_empty)
                && term.is_none_or(|t| t != "dumb")
                && stdout_is_terminal
        }
    }
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

    fn progress(output: PathBuf) -> Progress {
        let results = Results {
            version: SCHEMA_VERSION,
            run_id: "1".into(),
            tasks_file: "tasks.json".into(),
            repo: "/src/shop".into(),
            duration_ms: 0,
            lowest_concurrency: 1,
            final_concurrency: 1,
            tasks: Vec::new(),
            ..Results::default()
        };
        Progress {
            output,
            results,
            clock: Instant::now(),
            failed_update: None,
        }
    }

    /// Every path under `root`, relative to it, sorted.
    fn tree(root: &Path) -> Vec<String> {
        let mut paths = Vec::new();
        let mut dirs = vec![root.to_path_buf()];
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() && !path.is_symlink() {
                    dirs.push(path.clone());
                }
                let relative = path.strip_prefix(root).unwrap();
                paths.push(relative.display().to_string());
            }
        }
        paths.sort();
        paths
    }

    #[test]
    fn preparing_creates_the_state_directory_owner_file_tasks_copy_results_and_link() {
        let tmp = tempfile::tempdir().unwrap();
        let state_dir = tmp.path().join("worktrees/shop/.porch");
        let link = state_dir.join("results.json");
        let layout = StateLayout {
            state_dir: &state_dir,
            repo_dir: Path::new("/src/shop/.git"),
            latest_results: Some(&link),
            tasks_source: b"[]",
        };
        create_state(&layout, progress(state_dir.join("runs/1.json"))).unwrap();
        let porch = "worktrees/shop/.porch";
        let expected = [
            "",
            "/logs",
            "/repo",
            "/results.json",
            "/runs",
            "/runs/1.json",
            "/tasks",
            "/tasks/1.json",
        ];
        let mut expected: Vec<String> = expected.iter().map(|p| format!("{porch}{p}")).collect();
        expected.extend(["worktrees".into(), "worktrees/shop".into()]);
        expected.sort();
        assert_eq!(tree(tmp.path()), expected);
        let owner = std::fs::read_to_string(state_dir.join("repo")).unwrap();
        assert_eq!(owner, "/src/shop/.git");
        let results = std::fs::read_to_string(&link).unwrap();
        assert!(results.contains(r#""repo": "/src/shop""#), "{results}");
        let tasks = std::fs::read_to_string(state_dir.join("tasks/1.json")).unwrap();
        assert_eq!(tasks, "[]");
    }

    #[test]
    fn a_failed_results_write_leaves_nothing_created() {
        let tmp = tempfile::tempdir().unwrap();
        // -o names a directory that appeared after preflight: the rename onto it fails.
        let output = tmp.path().join("out/results.json");
        std::fs::create_dir_all(output.join("taken")).unwrap();
        let before = tree(tmp.path());
        let state_dir = tmp.path().join("worktrees/shop/.porch");
        let layout = StateLayout {
            state_dir: &state_dir,
            repo_dir: Path::new("/src/shop/.git"),
            latest_results: None,
            tasks_source: b"[]",
        };
        let err = create_state(&layout, progress(output)).unwrap_err();
        assert!(err.to_string().contains("results.json"), "{err}");
        assert_eq!(tree(tmp.path()), before);
    }

    #[test]
    fn a_failed_link_leaves_nothing_created_and_what_was_there_alone() {
        let tmp = tempfile::tempdir().unwrap();
        let state_dir = tmp.path().join("shop/.porch");
        // An earlier run's owner file, and a directory where the link goes.
        std::fs::create_dir_all(state_dir.join("results.json/taken")).unwrap();
        std::fs::write(state_dir.join("repo"), "/src/shop/.git").unwrap();
        let before = tree(tmp.path());
        let link = state_dir.join("results.json");
        let layout = StateLayout {
            state_dir: &state_dir,
            repo_dir: Path::new("/elsewhere/.git"),
            latest_results: Some(&link),
            tasks_source: b"[]",
        };
        create_state(&layout, progress(state_dir.join("runs/1.json"))).unwrap_err();
        assert_eq!(tree(tmp.path()), before);
        let owner = std::fs::read_to_string(state_dir.join("repo")).unwrap();
        assert_eq!(owner, "/src/shop/.git");
    }

    #[test]
    fn colour_when_asked_and_on_a_terminal_unless_told_not_to() {
        use ColorChoice::{Always, Auto, Never};
        let (none, empty, one, dumb, xterm) = (
            None,
            Some(OsStr::new("")),
            Some(OsStr::new("1")),
            Some(OsStr::new("dumb")),
            Some(OsStr::new("xterm-256color")),
        );
        // (rule, --color, NO_COLOR, TERM, stdout is a terminal, colour)
        let cases = [
            ("always, whatever else", Always, one, dumb, false, true),
            ("never, even on a terminal", Never, none, xterm, true, false),
            ("auto on a terminal", Auto, none, xterm, true, true),
            ("auto without TERM", Auto, none, none, true, true),
            ("auto into a pipe", Auto, none, xterm, false, false),
            ("auto with NO_COLOR set", Auto, one, xterm, true, false),
            ("auto with NO_COLOR empty", Auto, empty, xterm, true, true),
            ("auto on a dumb terminal", Auto, none, dumb, true, false),
        ];
        for (rule, choice, no_color, term, terminal, colour) in cases {
            assert_eq!(
                color_wanted(choice, no_color, term, terminal),
                colour,
                "{rule}"
            );
        }
    }
}
