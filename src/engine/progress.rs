//! What a run's results say as it goes: every task pending or carried at the start, each end
//! recorded as it comes, each write (the state directory's file, and `-o`'s), and which ends
//! the printer was told.

use std::path::PathBuf;
use std::time::{Instant, SystemTime};

use crossbeam_channel::Sender;

use crate::engine::hooks::TaskHooks;
use crate::error::Error;
use crate::output::events::Event;
use crate::output::printer;
use crate::output::printer::Message;
use crate::results;
use crate::results::Counts;
use crate::results::Results;
use crate::results::SCHEMA_VERSION;
use crate::results::Status;
use crate::state::StateDir;
use crate::task;
use crate::task::plan::Plan;
use crate::util::sha256;
use crate::util::timestamp;

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
        claude: given_agent(plan),
        started_at: timestamp::rfc3339(started_at),
        finished_at: None,
        duration_ms: 0,
        summary: Counts::default(),
        rate_limit_events: 0,
        lowest_concurrency: plan.jobs,
        final_concurrency: plan.jobs,
        usage_limit_waits: Vec::new(),
        budget_usd: plan.settings.max_cost_usd,
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

/// The agent the run was given, unless it is the one `claude` on PATH finds: what a printed
/// `porch resume` must name to run the same.
fn given_agent(plan: &Plan) -> Option<String> {
    let path = std::env::var_os("PATH");
    let default = crate::agent::resolve_program(None, path.as_deref()).ok();
    (default.as_ref() != Some(&plan.agent)).then(|| plan.agent.display().to_string())
}

/// The results file through the run.
#[derive(Debug)]
pub struct Progress {
    /// Where every run's results are kept, whatever else `-o` asks.
    state: StateDir,
    /// `-o FILE`: written as well.
    output: Option<PathBuf>,
    pub results: Results,
    clock: Instant,
    /// The first write during the run that failed. Only the last write decides the exit code:
    /// it is the file a script reads; one before it is only warned about.
    pub failed_update: Option<Error>,
}

impl Progress {
    pub fn new(plan: &Plan, started_at: SystemTime) -> Progress {
        Progress {
            state: plan.state.clone(),
            output: plan.settings.output.clone(),
            results: first_results(plan, started_at),
            clock: Instant::now(),
            failed_update: None,
        }
    }

    pub fn write(&mut self) -> Result<(), Error> {
        self.write_json().1
    }

    /// The results as JSON, written to the state directory's file and to `-o`'s: the text,
    /// and how the writes went.
    fn write_json(&mut self) -> (String, Result<(), Error>) {
        self.results.summarise();
        self.results.duration_ms = self.clock.elapsed().as_millis() as u64;
        let json = results::to_json(&self.results);
        let recorded = self.state.record_results(&self.results.run_id, &json);
        let given = match &self.output {
            Some(path) => {
                let finished = self.results.finished_at.is_some();
                results::write_results(path, &json, finished)
            }
            None => Ok(()),
        };
        (json, recorded.and(given))
    }

    /// A write during the run: a failure is kept for a warning at the end.
    pub fn update(&mut self) {
        if let Err(err) = self.write() {
            self.failed_update.get_or_insert(err);
        }
    }

    /// The last write, when every task has ended: the text `--json` prints as well, and how
    /// the writes went.
    pub fn finish(&mut self) -> (String, Result<(), Error>) {
        self.results.finished_at = Some(timestamp::rfc3339(SystemTime::now()));
        self.write_json()
    }
}

/// Which tasks' ends were told to the printer (`task_finished`): each once, however it came
/// to its end (its thread, a signal before it started, a refused thread); each end also told to
/// the task hook, when there is one.
pub struct Announced {
    told: Vec<bool>,
    hooks: Option<TaskHooks>,
}

impl Announced {
    /// Tasks final before the run starts (carried by a resume) did not end in this run.
    pub fn new(results: &Results, hooks: Option<TaskHooks>) -> Announced {
        Announced {
            told: results.tasks.iter().map(|t| is_final(t.status)).collect(),
            hooks,
        }
    }

    pub fn announce(&mut self, printer: &Sender<Message>, results: &Results) {
        for (index, task) in results.tasks.iter().enumerate() {
            if !self.told[index] && is_final(task.status) {
                self.told[index] = true;
                if let Some(hooks) = self.hooks.as_mut() {
                    hooks.task_ended(index, task);
                }
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

    /// Waits for the task hooks still running: the run ends after them.
    pub fn wait_for_hooks(self) {
        if let Some(hooks) = self.hooks {
            hooks.wait();
        }
    }
}

fn is_final(status: Status) -> bool {
    !matches!(status, Status::Pending | Status::Running)
}
