//! `porch resume`'s plan: an earlier run, its lock taken before it is read, and its tasks as it
//! stored them. Those that did not succeed run again in their own branches and worktrees,
//! continuing their claude session; the others are carried into the new results as they were.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use crate::error::Error;
use crate::git;
use crate::git::BRANCH_PREFIX;
use crate::git::Repo;
use crate::preflight::Decided;
use crate::preflight::Environment;
use crate::preflight::RunEquipment;
use crate::preflight::branch_template;
use crate::preflight::branch_template::RunStamp;
use crate::preflight::decide_setting;
use crate::preflight::finish_plan;
use crate::preflight::options::ResumeArgs;
use crate::preflight::options::RunArgs;
use crate::preflight::options::Sourced;
use crate::preflight::parse_tasks;
use crate::preflight::recorded::RecordedSettings;
use crate::preflight::taskfile::TaskFile;
use crate::results::Attempt;
use crate::results::Shard;
use crate::results::Status;
use crate::results::TaskResult;
use crate::results::Verdict;
use crate::state::StateDir;
use crate::state::lock::run_holder;
use crate::state::runs::Location;
use crate::state::runs::RunChoice;
use crate::state::runs::StoredRun;
use crate::task::plan::Plan;
use crate::task::plan::Resume;
use crate::task::plan::Task;
use crate::task::plan::TaskPlan;
use crate::task::plan::TasksSource;

/// What `porch resume` makes of the run it is given.
pub enum Resumption {
    /// Every task of run `id` succeeded: there is nothing to resume.
    Nothing { id: String },
    /// The plan, what to tell the user before it runs, and the options it was made from: the
    /// resume's own over the run's recorded settings.
    Plan {
        plan: Box<Plan>,
        /// What a dry run says too: where the repository moved from, the recorded hooks the
        /// resume runs, a push porch did not keep.
        remembered: String,
        /// What only a resume that runs says after it: which tasks run again.
        resuming: String,
        args: Box<RunArgs>,
    },
}

/// Takes the run's lock, then reads it: no other porch resumes, cleans or merges it from then
/// to the end of this run, and a later run that took over its branches is seen.
pub fn plan_resume(args: &ResumeArgs, env: &Environment) -> Result<Resumption, Error> {
    let stamp = RunStamp::new(SystemTime::now(), std::process::id());
    let holder = format!("{} (a resume of it)", run_holder(&stamp.id));
    let hint = "wait for it to finish (porch logs --follow TASK shows a task as it runs)";
    let (location, lock, earlier) = args.choice.claim(&holder, hint)?;
    refuse_if_taken_over(&location, &earlier, &args.choice)?;
    let moved = follow_a_move(&location, &earlier, args.run.dry_run)?;
    let results = earlier.results.tasks.clone();
    let unfinished: Vec<&str> = (results.iter())
        .filter(|t| t.status != Status::Succeeded)
        .map(|t| t.name.as_str())
        .collect();
    if unfinished.is_empty() {
        return Ok(Resumption::Nothing { id: earlier.id });
    }
    let (run_args, remembered) = remembered_settings(args, &location, &earlier)?;
    let remembered = moved.unwrap_or_default() + &remembered.unwrap_or_default();
    let resuming = format!(
        "porch: resuming run {}: {} ({} of {} tasks; the others are kept as they were)\n",
        earlier.id,
        unfinished.join(", "),
        unfinished.len(),
        results.len()
    );
    let source = stored_tasks(&location, &earlier, &args.choice)?;
    let hidden = super::env_values_in(&source.bytes);
    let groups = (earlier.results.tasks.iter())
        .filter_map(|t| Some((t.name.clone(), t.group.clone()?)))
        .collect();
    let earlier = Earlier {
        id: earlier.id.clone(),
        source,
        results,
        groups,
        shard: earlier.results.shard,
    };
    let mut plan = plan_earlier(&run_args, env, stamp, earlier)
        .map_err(|err| super::hide_env_values(err, &hidden))?;
    plan.resumed_lock = Some(lock);
    Ok(Resumption::Plan {
        plan: Box::new(plan),
        remembered,
        resuming,
        args: Box::new(run_args),
    })
}

/// The resume's options: those it was given, the run's recorded settings and agent for the
/// others (a run by an older porch recorded no settings: the defaults stand). Also what to tell
/// the user about them, if anything.
fn remembered_settings(
    args: &ResumeArgs,
    location: &Location,
    earlier: &StoredRun,
) -> Result<(RunArgs, Option<String>), Error> {
    let mut run = (*args.run).clone();
    if run.claude.is_none()
        && let Some(agent) = &earlier.results.claude
    {
        run.claude = Some(Sourced {
            value: agent.into(),
            from: format!("the agent of run {}", earlier.id),
        });
    }
    let path = location.state.recorded_settings(&earlier.id);
    let recorded = match RecordedSettings::read(&location.state, &earlier.id) {
        Ok(Some(recorded)) => recorded,
        Ok(None) => return Ok((run, None)),
        Err(err) => {
            let note = format!(
                "porch: warning: the settings of run {} cannot be read ({}: {err}): resuming with these flags and the defaults\n",
                earlier.id,
                path.display()
            );
            return Ok((run, Some(note)));
        }
    };
    recorded.check(&args.given).map_err(|refused| {
        Error::setup(
            format!(
                "{}: field `{}`: {}",
                path.display(),
                refused.field,
                refused.reason
            ),
            format!(
                "give the resume {} to run it otherwise, or correct the field (run {} recorded it as its {})",
                refused.flag, earlier.id, refused.flag
            ),
        )
    })?;
    let commands = recorded.commands_taken(&args.given);
    let mut note = recorded.apply(&mut run, &args.given).unwrap_or_default();
    if !commands.is_empty() {
        note.push_str(&format!(
            "porch: as run {} ran, this resume runs {} (recorded in {}; a flag given to the resume stands instead)\n",
            earlier.id,
            commands.join(" and "),
            path.display()
        ));
    }
    Ok((run, (!note.is_empty()).then_some(note)))
}

/// What `porch resume` read of the earlier run.
struct Earlier {
    pub id: String,
    /// The tasks file it ran, as it was.
    pub source: TasksSource,
    /// Its results, in tasks-file order.
    pub results: Vec<TaskResult>,
    /// The rivals of repeated tasks: `(NAME-k, NAME)`, found in the tasks file as NAME.
    pub groups: Vec<(String, String)>,
    /// The shard it ran (`--shard K/N`): the resume runs the same.
    pub shard: Option<Shard>,
}

/// The plan of run `stamp`, which runs again what `earlier` did not finish.
fn plan_earlier(
    args: &RunArgs,
    env: &Environment,
    stamp: RunStamp,
    earlier: Earlier,
) -> Result<Plan, Error> {
    let file = stored_file(&earlier.source, &earlier.id)?;
    let (tasks, hooks, merge_check) = (file.tasks, file.hooks, file.merge_check);
    super::check_port_room(args, earlier.results.len())?;
    let setting = decide_setting(args, env)?;
    let (repo, layout) = (&setting.repo, &setting.layout);
    let tasks_file_order = tasks.iter().map(|t| t.name.clone()).collect();
    let run = RunEquipment {
        args,
        run_id: &stamp.id,
    };
    let mut plans = Vec::with_capacity(earlier.results.len());
    for (index, previous) in earlier.results.into_iter().enumerate() {
        let task = task_of(&tasks, &previous, &earlier.groups, &earlier.id)?;
        let log =
            (previous.log.clone()).map_or_else(|| layout.state.log(&task.name), PathBuf::from);
        let mut plan = plan_task(repo, &earlier.id, task, previous, log, args)?;
        run.equip(&mut plan, index);
        plans.push(plan);
    }
    finish_plan(
        args,
        Decided {
            config: git::run_config(&repo.toplevel),
            setting,
            run_id: stamp.id,
            tasks: plans,
            source: earlier.source,
            resumed_from: Some(earlier.id),
            resumed_lock: None,
            tasks_file_order,
            shard: earlier.shard,
            hooks,
            merge_check,
        },
    )
}

/// The task a result belongs to: by its name, or for a repeated task's rival (`NAME-k`), the
/// task NAME, which runs under the rival's name.
fn task_of(
    tasks: &[Task],
    previous: &TaskResult,
    groups: &[(String, String)],
    run_id: &str,
) -> Result<Task, Error> {
    let group = groups
        .iter()
        .find(|(rival, _)| *rival == previous.name)
        .map(|(_, group)| group.as_str());
    tasks
        .iter()
        .find(|t| t.name == previous.name)
        .cloned()
        .or_else(|| {
            let mut task = tasks
                .iter()
                .find(|t| Some(t.name.as_str()) == group)?
                .clone();
            task.name = previous.name.clone();
            task.group = group.map(str::to_string);
            Some(task)
        })
        .ok_or_else(|| {
            Error::setup(
                format!(
                    "task `{}` of run {run_id} is not in the tasks it stored",
                    previous.name
                ),
                "run the tasks file again with `porch run`",
            )
        })
}

/// One task of the earlier run: carried when it succeeded; else run again, in its branch if
/// it has one (a task that never started has none, and starts afresh from its base).
fn plan_task(
    repo: &Repo,
    run_id: &str,
    mut task: Task,
    previous: TaskResult,
    log: PathBuf,
    args: &RunArgs,
) -> Result<TaskPlan, Error> {
    let branch = if previous.branch.is_empty() {
        format!("{BRANCH_PREFIX}{}", task.name)
    } else {
        previous.branch.clone()
    };
    let worktree = PathBuf::from(&previous.worktree);
    let tip = repo.resolve_commit(&format!("refs/heads/{branch}"));
    let mut base_commit = previous.base_commit.clone();
    if base_commit.is_empty() && tip.is_some() && previous.status != Status::Succeeded {
        base_commit = base_from_git(repo, &branch, &previous.base_branch);
    }
    let (resume, carried) = match (previous.status, tip) {
        (Status::Succeeded, _) => (None, Some(previous.clone())),
        (_, Some(start_commit)) => {
            let task_prompt = std::mem::take(&mut task.prompt);
            task.prompt = continuation_prompt(&previous, &task_prompt);
            let resume = Resume {
                session_id: previous.session_id.clone(),
                start_commit,
                earlier_attempts: earlier_attempts(&previous, run_id),
                earlier_cost_usd: previous.cost_usd,
                task_prompt,
                review_only: interrupted_in_review(&previous).then(|| Box::new(previous.clone())),
            };
            (Some(resume), None)
        }
        (_, None) if worktree.symlink_metadata().is_ok() => {
            return Err(Error::setup(
                format!(
                    "task `{}` of run {run_id}: its branch {branch} is gone but {} is still there",
                    task.name,
                    worktree.display()
                ),
                format!(
                    "remove it (git worktree remove --force {}), then resume again",
                    worktree.display()
                ),
            ));
        }
        (_, None) => (None, None),
    };
    Ok(TaskPlan {
        timeout: task.timeout.or(args.timeout),
        slot: branch_template::slot(&branch).to_string(),
        claude_args: Vec::new(),
        env: Vec::new(),
        redactor: Arc::default(),
        task,
        branch,
        base_branch: previous.base_branch,
        base_commit,
        worktree,
        log,
        resume,
        carried,
        depends_on: Vec::new(),
    })
}

/// The attempts the task's earlier runs made, each marked with the run that made it: run
/// `run_id` for those its results list as its own.
fn earlier_attempts(previous: &TaskResult, run_id: &str) -> Vec<Attempt> {
    let mut attempts = previous.attempts.clone();
    for attempt in &mut attempts {
        attempt.run_id.get_or_insert_with(|| run_id.to_string());
    }
    attempts
}

/// Whether porch was interrupted (a signal, the task's timeout) while the task's review ran,
/// or skipped it because a usage window outlasted `--max-wait` before a required review: its
/// session had succeeded, its work was committed and its check passed, as a review is only
/// started then. The work needs its review, not another paid session.
fn interrupted_in_review(previous: &TaskResult) -> bool {
    matches!(
        previous.status,
        Status::Interrupted | Status::TimedOut | Status::Skipped
    ) && previous
        .review
        .as_ref()
        .is_some_and(|r| r.verdict.is_none())
}

/// The commit a branch started from when the run that made it was killed before recording
/// it: found in git, from the branches it was made from (`task/a + task/b`, or its base
/// branch); empty when git cannot say.
fn base_from_git(repo: &Repo, branch: &str, base_branch: &str) -> String {
    let from: Vec<&str> = (base_branch.split(" + "))
        .filter(|name| !name.is_empty())
        .collect();
    if from.is_empty() {
        return String::new();
    }
    git::branch_start(&repo.toplevel, branch, &from).unwrap_or_default()
}

/// What a resumed session is told: that it continues, why the earlier one stopped, and the
/// task itself again; after a review that asked for changes, those changes.
fn continuation_prompt(previous: &TaskResult, prompt: &str) -> String {
    if let Some(changes) = requested_changes(previous) {
        return format!("{prompt}\n\n---\nporch: {changes}");
    }
    let status = previous.status.to_string();
    let why = match &previous.error {
        Some(error) => format!("{status}: {error}"),
        None => status,
    };
    let earlier = if previous.session_id.is_some() {
        "This continues your earlier session on this task"
    } else {
        "An earlier session worked on this task"
    };
    // The task first: its first line stays the commit's title.
    format!(
        "{prompt}\n\n---\nporch: {earlier}, which ended without finishing it ({why}). What it wrote is committed on this branch. Finish the task above."
    )
}

/// "A reviewer asked for these changes: …" with the summary and each comment, when the task
/// failed because its review asked for changes.
fn requested_changes(previous: &TaskResult) -> Option<String> {
    let review = previous.review.as_ref()?;
    if previous.status != Status::Failed
        || !review.required
        || review.verdict != Some(Verdict::RequestChanges)
    {
        return None;
    }
    let mut text = format!(
        "A reviewer asked for these changes to the work committed on this branch: {}\n",
        review.summary
    );
    for comment in &review.comments {
        text.push_str(&format!("- {comment}\n"));
    }
    text.push_str("Make these changes; the task above still stands.");
    Some(text)
}

/// A later run that uses one of the run's branches (a resume of it, or a run of the same task
/// names) holds newer work there: that run is the one to resume.
fn refuse_if_taken_over(
    location: &Location,
    earlier: &StoredRun,
    choice: &RunChoice,
) -> Result<(), Error> {
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
                    choice.command("resume", id, &[])
                ),
            ));
        }
    }
    Ok(())
}

/// Where the repository was when run `earlier` was made, if it moved since: the run
/// recorded another top directory, and no repository is there any more.
fn moved_from<'r>(repo: &Repo, earlier: &'r StoredRun) -> Option<&'r Path> {
    let was = Path::new(&earlier.results.repo);
    let moved = !was.as_os_str().is_empty() && was != repo.toplevel && !was.join(".git").exists();
    moved.then_some(was)
}

/// A run whose repository moved since: its worktrees are linked to the repository again
/// (git finds neither from the other after a move), and the user is told, from where to where
/// and where its state was found. A dry run only says that the resume would link them.
fn follow_a_move(
    location: &Location,
    earlier: &StoredRun,
    dry_run: bool,
) -> Result<Option<String>, Error> {
    let Some(was) = moved_from(&location.repo, earlier) else {
        return Ok(None);
    };
    let now = &location.repo.toplevel;
    let moved = format!(
        "the repository moved from {} to {} since run {}",
        was.display(),
        now.display(),
        earlier.id
    );
    let worktrees: Vec<&Path> = (earlier.results.tasks.iter())
        .map(|t| Path::new(&t.worktree))
        .filter(|dir| !dir.as_os_str().is_empty() && dir.join(".git").is_file())
        .collect();
    if dry_run {
        return Ok(Some(format!(
            "porch: {moved}: a resume would resume it from its state in {} and link its worktrees to the repository again\n",
            location.state.path().display()
        )));
    }
    if !worktrees.is_empty() {
        location.repo.repair_worktrees(&worktrees).map_err(|err| {
            let repair = ["git", "-C", &now.to_string_lossy(), "worktree", "repair"];
            Error::setup(
                format!("{moved}, and its worktrees could not be linked to it again: {err}"),
                format!(
                    "nothing was resumed: run {}, then resume again",
                    crate::util::quote::command(&repair)
                ),
            )
        })?;
    }
    Ok(Some(format!(
        "porch: {moved}: resuming it from its state in {}, its worktrees linked to the repository again\n",
        location.state.path().display()
    )))
}

/// The tasks file a run stored, read again. The tasks file's name is the path it was run
/// with: its prompt files are found beside it.
fn stored_file(source: &TasksSource, id: &str) -> Result<TaskFile, Error> {
    parse_tasks(&source.name, &source.name, &source.bytes).map_err(|err| {
        Error::setup(
            format!("the tasks run {id} stored no longer read: {err}"),
            "run the tasks file again with `porch run`",
        )
    })
}

/// The tasks of a stored run as its tasks file has them (a repeated task once, by its name).
pub fn stored_task_list(
    location: &Location,
    run: &StoredRun,
    choice: &RunChoice,
) -> Result<Vec<Task>, Error> {
    Ok(stored_task_file(location, run, choice)?.tasks)
}

/// The tasks file of a stored run as it read it: its tasks and its top-level settings.
pub fn stored_task_file(
    location: &Location,
    run: &StoredRun,
    choice: &RunChoice,
) -> Result<TaskFile, Error> {
    let source = stored_tasks(location, run, choice)?;
    stored_file(&source, &run.id)
}

/// The tasks file as the earlier run read it.
fn stored_tasks(
    location: &Location,
    earlier: &StoredRun,
    choice: &RunChoice,
) -> Result<TasksSource, Error> {
    let path = location.state.stored_tasks(&earlier.id);
    let bytes = std::fs::read(&path).map_err(|err| {
        Error::setup(
            format!(
                "run {} kept no copy of its tasks ({}: {err})",
                earlier.id,
                path.display()
            ),
            no_tasks_hint(location, earlier, choice),
        )
    })?;
    let name = earlier
        .results
        .tasks_file
        .clone()
        .unwrap_or_else(|| path.display().to_string());
    Ok(TasksSource { name, bytes })
}

/// What to do about a run whose copy of its tasks is not where porch looked: after a move,
/// resume it from its own state directory; a run by a porch older than the copies cannot be
/// resumed, but its branches still hold its work, and nothing needs deleting to go on.
fn no_tasks_hint(location: &Location, earlier: &StoredRun, choice: &RunChoice) -> String {
    let (id, tasks) = (earlier.id.as_str(), &earlier.results.tasks);
    if let Some(was) = moved_from(&location.repo, earlier) {
        let kept = (tasks.iter())
            .filter_map(|t| StateDir::of_log(Path::new(t.log.as_deref()?)))
            .map(|state| state.results_file(id))
            .find(|file| file.is_file());
        let moved = format!(
            "the repository moved from {} to {} since that run",
            was.display(),
            location.repo.toplevel.display()
        );
        return match kept {
            Some(file) => format!(
                "{moved}: resume it from its state directory: {}",
                choice.command("resume", &file.to_string_lossy(), &[])
            ),
            None => format!(
                "{moved}: give --run the run's results file in the .porch/runs/ directory of the worktree directory it had"
            ),
        };
    }
    format!(
        "a run by an older porch cannot be resumed; its branches still hold its work: {} shows them, {} merges what succeeded; to run its tasks again beside them, give `porch run` another --branch-template (e.g. 'again-{{run}}/{{name}}')",
        choice.command("status", id, &[]),
        choice.command("merge", id, &[])
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::preflight::taskfile;
    use crate::results::Review;

    /// (status, the review recorded) → whether the review alone runs again.
    #[test]
    fn only_a_task_interrupted_during_its_review_is_resumed_by_its_review_alone() {
        let pending = Some(Review {
            error: Some("the reviewer was ended".into()),
            ..Review::default()
        });
        let approved = Some(Review {
            verdict: Some(Verdict::Approve),
            ..Review::default()
        });
        let cases = [
            (Status::Interrupted, pending.clone(), true),
            (Status::TimedOut, pending.clone(), true),
            (Status::Skipped, pending.clone(), true),
            (Status::Skipped, None, false),
            (Status::Failed, pending, false),
            (Status::Interrupted, None, false),
            (Status::Interrupted, approved, false),
        ];
        for (status, review, expected) in cases {
            let previous = TaskResult {
                review: review.clone(),
                ..TaskResult::new("a", status, "task/a", ("main", "c0"))
            };
            assert_eq!(
                interrupted_in_review(&previous),
                expected,
                "{status} {review:?}"
            );
        }
    }

    #[test]
    fn a_result_finds_its_task_by_name_or_as_a_rival_of_its_group() {
        let tasks = taskfile::parse(
            &taskfile::Source {
                name: "t.json",
                dir: std::path::Path::new("."),
            },
            br#"{"tasks":[{"name":"a","prompt":"pa"},{"name":"fix","prompt":"pf"}]}"#,
        )
        .unwrap()
        .tasks;
        let groups = vec![("fix-2".to_string(), "fix".to_string())];
        // (the result's name, the task found: its name, prompt and group)
        for (name, found) in [
            ("a", Some(("a", "pa", None))),
            ("fix-2", Some(("fix-2", "pf", Some("fix")))),
            ("fix-3", None),
            ("gone", None),
        ] {
            let previous = TaskResult {
                name: name.to_string(),
                ..TaskResult::default()
            };
            let task = task_of(&tasks, &previous, &groups, "r");
            match found {
                Some((name, prompt, group)) => {
                    let task = task.unwrap();
                    let seen = (task.name.as_str(), task.prompt.as_str());
                    assert_eq!(seen, (name, prompt));
                    // The resumed rival keeps its group: PORCH_GROUP and the results say it.
                    assert_eq!(task.group.as_deref(), group, "{name}");
                }
                None => assert!(task.unwrap_err().to_string().contains("not in the tasks")),
            }
        }
    }

    #[test]
    fn a_resumed_session_is_told_why_and_given_the_task_again() {
        let previous = TaskResult {
            status: Status::Failed,
            error: Some("API Error: 529 Overloaded".into()),
            session_id: Some("s-1".into()),
            ..TaskResult::default()
        };
        let prompt = continuation_prompt(&previous, "Add login.");
        assert!(prompt.starts_with("Add login.\n\n---\n"), "{prompt}");
        assert!(
            prompt.contains("This continues your earlier session"),
            "{prompt}"
        );
        assert!(
            prompt.contains("(failed: API Error: 529 Overloaded)"),
            "{prompt}"
        );
        let fresh = TaskResult {
            status: Status::Interrupted,
            ..TaskResult::default()
        };
        let prompt = continuation_prompt(&fresh, "Add login.");
        assert!(prompt.contains("An earlier session"), "{prompt}");
        assert!(prompt.contains("(interrupted)"), "{prompt}");
    }

    #[test]
    fn after_a_required_review_asked_for_changes_the_session_is_given_them() {
        use crate::results::Review;
        use crate::results::ReviewComment;
        let rejected = |required| TaskResult {
            status: Status::Failed,
            error: Some("review requested changes: No test".into()),
            session_id: Some("s-1".into()),
            review: Some(Review {
                verdict: Some(Verdict::RequestChanges),
                summary: "No test".into(),
                comments: vec![
                    ReviewComment {
                        file: "a.rs".into(),
                        line: Some(3),
                        body: "test this".into(),
                    },
                    ReviewComment {
                        file: "b.rs".into(),
                        line: None,
                        body: "unused".into(),
                    },
                ],
                required,
                ..Review::default()
            }),
            ..TaskResult::default()
        };
        assert_eq!(
            continuation_prompt(&rejected(true), "Add login."),
            "Add login.\n\n---\nporch: A reviewer asked for these changes to the work committed \
             on this branch: No test\n- a.rs:3: test this\n- b.rs: unused\nMake these changes; \
             the task above still stands."
        );
        // A review that was not required failed nothing: the usual continuation.
        let prompt = continuation_prompt(&rejected(false), "Add login.");
        assert!(
            prompt.contains("which ended without finishing it"),
            "{prompt}"
        );
    }
}
