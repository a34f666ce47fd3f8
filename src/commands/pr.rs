//! `porch pr`: a stored run's succeeded branches pushed and a pull request opened (or updated)
//! for each with gh, stacked along `depends_on`; each pull request stored back into the run's
//! results under its lock.

use std::process::ExitCode;

use serde_json::Value;

use crate::engine::pulls;
use crate::engine::pulls::Outcome;
use crate::engine::pulls::Source;
use crate::error::Error;
use crate::preflight::options::PrArgs;
use crate::preflight::stored_task_list;
use crate::process::task_env::Redactor;
use crate::results::Results;
use crate::results::TaskResult;
use crate::state::runs::Location;
use crate::state::runs::StoredRun;
use crate::task::plan::DEFAULT_REMOTE;
use crate::task::plan::PullRequests;
use crate::task::plan::Task;

pub fn pr(args: &PrArgs) -> Result<ExitCode, Error> {
    let holder = format!("porch pr (pid {})", std::process::id());
    let hint = "wait for it to end (`porch status` shows its tasks), then open the pull requests";
    // Held to the end: the pull requests are stored back into the run's results.
    let (location, _lock, run) = args.choice.claim(&holder, hint)?;
    let results: Results = serde_json::from_slice(&run.bytes).map_err(|err| {
        Error::setup(
            format!("{} is not a porch results file: {err}", run.path.display()),
            "name a run porch wrote (`porch status` shows the latest)",
        )
    })?;
    let chosen = pulls::chosen(&results.tasks, &args.tasks).map_err(|why| {
        Error::usage(format!("run {}: {why}", run.id))
            .with_hint("`porch status` shows each task and how it ended")
    })?;
    if chosen.is_empty() {
        return Err(Error::setup(
            format!(
                "run {} has no succeeded task to open a pull request for",
                run.id
            ),
            "`porch status` shows what each task did; `porch resume` re-runs what failed",
        ));
    }
    let tasks = stored_task_list(&location, &run, &args.choice)?;
    let files: Vec<Option<&Task>> = (results.tasks.iter())
        .map(|result| task_of(&tasks, result))
        .collect();
    let redactors: Vec<Redactor> = (files.iter())
        .map(|task| Redactor::new(task.map_or(&[][..], |t| &t.env)))
        .collect();
    let source = Source {
        tasks: &results.tasks,
        prompts: (files.iter())
            .map(|task| task.map(|t| t.prompt.clone()).unwrap_or_default())
            .collect(),
        depends_on: (files.iter())
            .map(|task| dependencies(&results.tasks, task.map_or(&[][..], |t| &t.depends_on)))
            .collect(),
        redactors: redactors.iter().collect(),
        run_id: &run.id,
    };
    let settings = PullRequests {
        remote: (args.remote.clone()).unwrap_or_else(|| DEFAULT_REMOTE.to_string()),
        draft: args.draft,
        base: args.base.clone(),
    };
    let repo = &location.repo.toplevel;
    let made = pulls::open(repo, &settings, &source, &chosen, &mut |line| {
        crate::sys::console::print_stdout(&format!("{line}\n"));
    });
    store(&location, &run, &made)?;
    let failed = made.iter().filter(|(_, outcome)| outcome.is_err()).count();
    crate::sys::console::print_stdout(&format!(
        "{} of {} pull request(s) opened or updated\n",
        made.len() - failed,
        made.len()
    ));
    Ok(if failed > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// A result's task in the tasks file: by its name, or a repeated task's by its group's.
fn task_of<'t>(tasks: &'t [Task], result: &TaskResult) -> Option<&'t Task> {
    let name = result.group.as_deref().unwrap_or(&result.name);
    tasks.iter().find(|t| t.name == name)
}

/// `depends_on` as indices of the results: a task, or a repeated task's winner.
fn dependencies(results: &[TaskResult], names: &[String]) -> Vec<usize> {
    names
        .iter()
        .filter_map(|name| {
            let own = results.iter().position(|t| t.name == *name);
            own.or_else(|| {
                (results.iter())
                    .position(|t| t.group.as_deref() == Some(name) && t.winner == Some(true))
            })
        })
        .collect()
}

/// Each pull request made, stored into the task's result as `pr`; every other field is kept
/// as it was, those a newer porch wrote too.
fn store(location: &Location, run: &StoredRun, made: &[(usize, Outcome)]) -> Result<(), Error> {
    let Ok(mut document) = serde_json::from_slice::<Value>(&run.bytes) else {
        return Ok(());
    };
    let Some(tasks) = document.get_mut("tasks").and_then(Value::as_array_mut) else {
        return Ok(());
    };
    for (index, outcome) in made {
        if let (Ok(pr), Some(Value::Object(task))) = (outcome, tasks.get_mut(*index)) {
            let pr = serde_json::to_value(pr).expect("a pull request serialises");
            task.insert("pr".to_string(), pr);
        }
    }
    let mut json = serde_json::to_string_pretty(&document).expect("JSON serialises");
    json.push('\n');
    location.rewrite(run, &json)
}
