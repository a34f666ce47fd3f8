//! `porch resume`: runs again what an earlier run did not finish, from the tasks that run
//! stored, in the same worktrees and branches, continuing each claude session where there was
//! one. The new run's results hold every task of the earlier one.

use std::path::Path;
use std::process::ExitCode;

use serde::Deserialize;

use crate::commands::run;
use crate::error::Error;
use crate::preflight::options::ResumeArgs;
use crate::preflight::{self, Earlier, Environment};
use crate::results::{Status, TaskResult};
use crate::state::runs::{self, Location, StoredRun};
use crate::task::plan::TasksSource;

pub fn resume(args: &ResumeArgs) -> Result<ExitCode, Error> {
    let (location, earlier) = args.choice.load()?;
    if runs::is_going_on(&earlier) {
        return Err(Error::setup(
            format!("run {} is still going on", earlier.id),
            "wait for it to finish (porch logs --follow TASK shows a task as it runs)",
        ));
    }
    refuse_if_taken_over(&location, &earlier)?;
    let results = earlier_results(&earlier)?;
    let unfinished: Vec<&str> = results
        .iter()
        .filter(|t| t.status != Status::Succeeded)
        .map(|t| t.name.as_str())
        .collect();
    if unfinished.is_empty() {
        crate::sys::console::print_stdout(&format!(
            "every task of run {} succeeded: nothing to resume\n",
            earlier.id
        ));
        return Ok(ExitCode::SUCCESS);
    }
    crate::sys::console::print_stderr(&format!(
        "porch: resuming run {}: {} ({} of {} tasks; the others are kept as they were)\n",
        earlier.id,
        unfinished.join(", "),
        unfinished.len(),
        results.len()
    ));
    let source = stored_tasks(&location.state_dir, &earlier)?;
    let groups = earlier
        .results
        .tasks
        .iter()
        .filter_map(|t| Some((t.name.clone(), t.group.clone()?)))
        .collect();
    let plan = preflight::plan_resume(
        &args.run,
        &Environment::from_process(),
        Earlier {
            id: earlier.id.clone(),
            source,
            results,
            groups,
            shard: earlier.results.shard,
        },
    )?;
    run::execute(plan, args.run.color, args.run.output_mode)
}

/// A later run that uses one of the run's branches (a resume of it, or a run of the same task
/// names) holds newer work there: that run is the one to resume.
fn refuse_if_taken_over(location: &Location, earlier: &StoredRun) -> Result<(), Error> {
    let ids = location.run_ids()?;
    let later = ids.iter().skip_while(|id| **id != earlier.id).skip(1);
    for id in later {
        let Ok(run) = location.load(id) else {
            continue;
        };
        let shared = earlier
            .results
            .tasks
            .iter()
            .find(|t| !t.succeeded() && run.results.tasks.iter().any(|u| u.branch == t.branch));
        if let Some(task) = shared {
            return Err(Error::setup(
                format!(
                    "run {id}, started after run {}, uses {} now",
                    earlier.id, task.branch
                ),
                format!(
                    "resume that run instead: {}",
                    crate::util::quote::command(&["porch", "resume", "--run", id.as_str()])
                ),
            ));
        }
    }
    Ok(())
}

/// The earlier run's task results, whole, to carry into the new results.
fn earlier_results(earlier: &StoredRun) -> Result<Vec<TaskResult>, Error> {
    #[derive(Deserialize)]
    struct Tasks {
        tasks: Vec<TaskResult>,
    }
    serde_json::from_slice::<Tasks>(&earlier.bytes)
        .map(|t| t.tasks)
        .map_err(|err| {
            Error::setup(
                format!("the results of run {} do not read: {err}", earlier.id),
                "`porch status --run ID --json` shows the file",
            )
        })
}

/// The tasks file as the earlier run read it.
fn stored_tasks(state_dir: &Path, earlier: &StoredRun) -> Result<TasksSource, Error> {
    let path = runs::stored_tasks_path(state_dir, &earlier.id);
    let bytes = std::fs::read(&path).map_err(|err| {
        Error::setup(
            format!(
                "run {} kept no copy of its tasks ({}: {err})",
                earlier.id,
                path.display()
            ),
            "a run by an older porch cannot be resumed: run its tasks file again with `porch run` (after `porch clean --branches --force --run ID`)",
        )
    })?;
    let name = earlier
        .results
        .tasks_file
        .clone()
        .unwrap_or_else(|| path.display().to_string());
    Ok(TasksSource { name, bytes })
}
