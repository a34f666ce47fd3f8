//! `--on-finish` and `--on-task-finish` (or the tasks file's `on_finish`, `on_task_finish`):
//! commands that hear of the run's end and each task's. A task's hook runs on a thread of its
//! own, so the scheduler never waits for it; the run waits for them all before it ends. A hook
//! that fails or outlasts its limit is reported and changes nothing else.

use std::fs::File;
use std::io::Write;
use std::path::PathBuf;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::Sender;

use crate::output::mode::OutputMode;
use crate::output::printer;
use crate::output::printer::HOOK;
use crate::output::printer::Line;
use crate::output::printer::Message;
use crate::output::printer::Tone;
use crate::process::bounded;
use crate::process::bounded::Ended;
use crate::process::child::Sink;
use crate::process::env::REPO_ENV_VARS;
use crate::process::step::StepEnd;
use crate::process::step::judge_exit;
use crate::results::Results;
use crate::results::Status;
use crate::results::TaskResult;
use crate::task::plan::Plan;
use crate::util::duration;

/// How long a hook may run before porch ends it.
const HOOK_LIMIT: Duration = Duration::from_secs(60);
/// For tests only: another limit than `HOOK_LIMIT` (a duration: `500ms`, `2s`).
const LIMIT_VAR: &str = "PORCH_HOOK_TIMEOUT";

/// The limit of every hook: `HOOK_LIMIT`, unless `PORCH_HOOK_TIMEOUT` (for tests) says.
fn limit() -> Duration {
    std::env::var(LIMIT_VAR)
        .ok()
        .and_then(|text| duration::parse(&text).ok())
        .unwrap_or(HOOK_LIMIT)
}

/// Each task's hook as it ends, and the threads running them.
pub struct TaskHooks {
    argv: Vec<String>,
    dir: PathBuf,
    results: PathBuf,
    run_id: String,
    printer: Sender<Message>,
    running: Vec<JoinHandle<()>>,
}

impl TaskHooks {
    /// None without `--on-task-finish` or `on_task_finish`.
    pub fn new(plan: &Plan, printer: &Sender<Message>) -> Option<TaskHooks> {
        Some(TaskHooks {
            argv: plan.hooks.on_task_finish.clone()?,
            dir: plan.repo.toplevel.clone(),
            results: plan.results_file(),
            run_id: plan.run_id.clone(),
            printer: printer.clone(),
            running: Vec::new(),
        })
    }

    /// Starts the hook of task `index`, which has just ended.
    pub fn task_ended(&mut self, index: usize, task: &TaskResult) {
        let mut command = command(&self.argv, &self.dir);
        command
            .env("PORCH_TASK", &task.name)
            .env("PORCH_TASK_STATUS", status_word(task.status))
            .env("PORCH_BRANCH", &task.branch)
            .env("PORCH_RESULTS", &self.results)
            .env("PORCH_RUN_ID", &self.run_id);
        let printer = self.printer.clone();
        let log = task.log.clone();
        let spawned = std::thread::Builder::new()
            .name(format!("hook-{index}"))
            .spawn(move || {
                let shown = printer.clone();
                let log = log.and_then(|path| {
                    let file = File::options().append(true).open(path).ok()?;
                    Some(Arc::new(Mutex::new(file)))
                });
                let show = move |text: String| {
                    // The task's log keeps the line, as it keeps setup's and check's: the
                    // terminal may fall behind and drop it, and `--json` shows none.
                    if let Some(mut file) = log.as_ref().and_then(|log| log.lock().ok()) {
                        let _ = writeln!(file, "[hook] {text}");
                    }
                    let line = Line {
                        task: index,
                        origin: HOOK,
                        tone: Tone::Plain,
                        text,
                    };
                    printer::offer(&shown, line);
                };
                if let Some(why) = run(command, show) {
                    // Labelled as the hook's lines are, so it goes where they go: never an
                    // `--events` line after the task's `task_finished`.
                    let line = Line {
                        task: index,
                        origin: HOOK,
                        tone: Tone::Bad,
                        text: format!("--on-task-finish {why}"),
                    };
                    printer::send(&printer, line);
                }
            });
        match spawned {
            Ok(handle) => self.running.push(handle),
            Err(err) => printer::note(
                &self.printer,
                index,
                Tone::Bad,
                format!("--on-task-finish not run: no thread for it: {err}"),
            ),
        }
    }

    /// Waits for every hook started: the run ends after them.
    pub fn wait(self) {
        for handle in self.running {
            let _ = handle.join();
        }
    }
}

/// The run's hook, once its exit code is known; its lines go to stdout in the stream, and to
/// stderr under `--quiet`, `--json` and `--events`, whose stdout is only the summary, the
/// results or the events.
pub fn run_finished(plan: &Plan, code: u8, results: &Results, mode: OutputMode) {
    let Some(argv) = &plan.hooks.on_finish else {
        return;
    };
    let mut command = command(argv, &plan.repo.toplevel);
    command
        .env("PORCH_RESULTS", plan.results_file())
        .env("PORCH_EXIT_CODE", code.to_string())
        .env("PORCH_RUN_ID", &plan.run_id)
        .env("PORCH_SUMMARY", summary_line(results));
    let to_stdout = mode == OutputMode::Stream;
    let show = move |text: String| {
        let line = format!("[hook] {text}\n");
        if to_stdout {
            crate::sys::console::print_stdout(&line);
        } else {
            crate::sys::console::print_stderr(&line);
        }
    };
    if let Some(why) = run(command, show) {
        crate::sys::console::print_stderr(&format!("porch: warning: --on-finish {why}\n"));
    }
}

fn command(argv: &[String], dir: &std::path::Path) -> Command {
    let mut command = Command::new(&argv[0]);
    command.args(&argv[1..]).current_dir(dir);
    for var in REPO_ENV_VARS {
        command.env_remove(var);
    }
    command
}

/// Runs a hook to its end or its limit, each line it prints to `show`; why it failed, if it did.
fn run(command: Command, show: impl Fn(String) + Send + Clone + 'static) -> Option<String> {
    let program = command.get_program().to_string_lossy().into_owned();
    let (out, err) = (show.clone(), show);
    let stdout: Sink = Box::new(move |line, _, _| out(String::from_utf8_lossy(line).into_owned()));
    let stderr: Sink = Box::new(move |line, _, _| err(String::from_utf8_lossy(line).into_owned()));
    match bounded::run(command, None, limit(), stdout, stderr) {
        Err(err) => Some(format!("could not be started ({program}: {err})")),
        Ok(Ended::TimedOut(limit)) => Some(format!(
            "hook timed out after {}: porch ended it",
            duration::format(limit)
        )),
        Ok(Ended::Exited(status)) => match judge_exit(status) {
            StepEnd::Failed(why) => Some(format!("hook {why}")),
            // `judge_exit` tells only how it exited: never porch's own signal.
            StepEnd::Succeeded | StepEnd::Interrupted(_) => None,
        },
    }
}

/// `7 of 8 succeeded, 1 failed; $3.10; 14m`.
pub fn summary_line(results: &Results) -> String {
    let counts = &results.summary;
    let mut text = format!("{} of {} succeeded", counts.succeeded, counts.total);
    for (count, word) in [
        (counts.failed, "failed"),
        (counts.timed_out, "timed out"),
        (counts.interrupted, "interrupted"),
        (counts.skipped, "skipped"),
    ] {
        if count > 0 {
            text.push_str(&format!(", {count} {word}"));
        }
    }
    let took = Duration::from_secs(results.duration_ms / 1000);
    text.push_str(&format!(
        "; ${:.2}; {}",
        counts.cost_usd,
        duration::format(took)
    ));
    text
}

fn status_word(status: Status) -> String {
    serde_json::to_value(status)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::Counts;

    #[test]
    fn the_summary_line_says_what_ended_how_what_it_cost_and_how_long_it_took() {
        let results = Results {
            summary: Counts {
                total: 8,
                succeeded: 7,
                failed: 1,
                cost_usd: 3.1,
                ..Counts::default()
            },
            duration_ms: 14 * 60 * 1000 + 400,
            ..Results::default()
        };
        assert_eq!(
            summary_line(&results),
            "7 of 8 succeeded, 1 failed; $3.10; 14m"
        );
    }
}
