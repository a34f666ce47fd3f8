//! Everything checked before the repository is touched: the tasks file, the repository, the
//! agent, where worktrees, logs and results go. The outcome is a `Plan`; an error here means
//! exit 2 with nothing created.

pub mod branch_template;
mod existing;
mod jobs;
pub mod options;
pub mod proposal;
pub mod recorded;
mod resume;
mod selection;
mod settings;
pub mod shard;
pub mod taskfile;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use crate::agent;
use crate::engine::dependencies::Dependencies;
use crate::error::Error;
use crate::error::IoContext;
use crate::git;
use crate::git::Repo;
use crate::git::RunConfig;
use crate::git::WorktreeEntry;
use crate::git::remote;
use crate::preflight::branch_template::RunStamp;
use crate::preflight::options::OutputMode;
use crate::preflight::options::RunArgs;
use crate::preflight::recorded::RecordedSettings;
use crate::preflight::taskfile::Task;
use crate::preflight::taskfile::TaskFile;
use crate::process::task_env;
use crate::process::task_env::Redactor;
use crate::process::task_env::TaskIdentity;
use crate::results::Shard;
use crate::state::StateDir;
use crate::state::lock::RunLock;
use crate::sys::atomic_file::Destination;
use crate::sys::atomic_file::destination;
use crate::sys::bounded_read;
use crate::sys::writable;
use crate::task::plan::DEFAULT_REMOTE;
use crate::task::plan::Hooks;
pub use crate::task::plan::Plan;
use crate::task::plan::PullRequests;
use crate::task::plan::RunSettings;
pub use crate::task::plan::TaskPlan;
pub use crate::task::plan::TasksSource;
use existing::{Existing, Place};
pub use resume::{Resumption, plan_resume, stored_task_file, stored_task_list};

pub struct Environment {
    pub home: Option<PathBuf>,
    pub path: Option<std::ffi::OsString>,
}

impl Environment {
    pub fn from_process() -> Environment {
        Environment {
            home: std::env::var_os("HOME")
                .filter(|h| !h.is_empty())
                .map(PathBuf::from),
            path: std::env::var_os("PATH"),
        }
    }
}

/// The plan of `porch run`. An error never quotes a value of the tasks file's `env`: it may
/// be a key, and porch never writes one.
pub fn plan(args: &RunArgs, env: &Environment) -> Result<Plan, Error> {
    let (name, bytes) = read_tasks(&args.tasks)?;
    let hidden = env_values_in(&bytes);
    plan_read(args, env, name, bytes).map_err(|err| hide_env_values(err, &hidden))
}

/// Every `env` value a tasks file's bytes hold (in `defaults` and in each task), read
/// leniently: an error found before the file is checked must not show them either.
pub fn env_values_in(bytes: &[u8]) -> Redactor {
    let Ok(file) = serde_json::from_slice::<serde_json::Value>(bytes) else {
        return Redactor::default();
    };
    let tasks = file.get("tasks").and_then(|t| t.as_array());
    let holders =
        std::iter::once(file.get("defaults")).chain(tasks.into_iter().flatten().map(Some));
    let values: Vec<(String, String)> = (holders.flatten())
        .filter_map(|holder| holder.get("env")?.as_object())
        .flatten()
        .filter_map(|(name, value)| Some((name.clone(), value.as_str()?.to_string())))
        .collect();
    Redactor::new(&values)
}

/// `err` with the values `hidden` holds shown as `[env NAME]`.
pub fn hide_env_values(err: Error, hidden: &Redactor) -> Error {
    err.hiding(|text| hidden.redact(text).into_owned())
}

fn plan_read(
    args: &RunArgs,
    env: &Environment,
    name: String,
    bytes: Vec<u8>,
) -> Result<Plan, Error> {
    let file = parse_tasks(&args.tasks, &name, &bytes)?;
    let source = TasksSource { name, bytes };
    let source_name = source.name.clone();
    let stamp = RunStamp::new(SystemTime::now(), std::process::id());
    let template =
        settings::BranchTemplate::choose(args.branch_template.as_ref(), file.branch_template);
    let tasks_file_order = file.tasks.iter().map(|t| t.name.clone()).collect();
    let tasks =
        selection::select_shard(&source_name, file.tasks, &args.only, &args.skip, args.shard)?;
    let tasks = selection::expand_repeats(tasks);
    let branches = template.branches(&source_name, &tasks, &stamp)?;
    check_port_room(args, tasks.len())?;
    let setting = decide_setting(args, env)?;
    let (repo, layout) = (&setting.repo, &setting.layout);
    let facts = ask_git(repo, &branches)?;
    let existing = Existing {
        task_refs: &facts.task_refs,
        registered: &facts.registered,
    };
    if let Some(blocked) = existing.blocked_branch(&branches) {
        return Err(existing::blocked_branch_error(&repo.toplevel, &blocked));
    }
    let run = RunEquipment {
        args,
        run_id: &stamp.id,
    };
    let tasks = plan_tasks(
        &source_name,
        tasks.into_iter().zip(branches).collect(),
        repo,
        layout,
        &existing,
        &run,
    )?;
    finish_plan(
        args,
        Decided {
            setting,
            config: facts.config,
            run_id: stamp.id,
            tasks,
            source,
            resumed_from: None,
            resumed_lock: None,
            tasks_file_order,
            shard: args.shard,
            hooks: file.hooks,
            merge_check: file.merge_check,
        },
    )
}

/// Where a run runs, decided alike for `porch run` and `porch resume`.
struct Setting {
    repo: Repo,
    /// `--push`: the remote, checked.
    push: Option<String>,
    agent: PathBuf,
    layout: Layout,
}

/// The repository, the remote, the agent and where porch's files go, each checked in that
/// order. Errors name REPO as given; git answers with its real path (links and `..` resolved).
fn decide_setting(args: &RunArgs, env: &Environment) -> Result<Setting, Error> {
    let repo = Repo::open(&args.repo)?;
    let push = push_remote(args, &repo)?;
    let agent = agent::resolve_program(args.agent_given(), env.path.as_deref())?;
    let layout = decide_layout(args, env, &repo)?;
    Ok(Setting {
        repo,
        push,
        agent,
        layout,
    })
}

/// What `porch run` and `porch resume` decide each their own way; `finish_plan` makes the rest
/// of the `Plan` from the options, the same for both.
struct Decided {
    setting: Setting,
    config: RunConfig,
    run_id: String,
    tasks: Vec<TaskPlan>,
    source: TasksSource,
    resumed_from: Option<String>,
    resumed_lock: Option<RunLock>,
    tasks_file_order: Vec<String>,
    shard: Option<Shard>,
    /// The tasks file's `on_finish` and `on_task_finish`; the flags win.
    hooks: Hooks,
    merge_check: Option<Vec<String>>,
}

/// The checks every plan's tasks pass last, then the `Plan` of them and the run's options.
fn finish_plan(args: &RunArgs, mut decided: Decided) -> Result<Plan, Error> {
    let source_name = &decided.source.name;
    link_dependencies(source_name, &mut decided.tasks)?;
    let Setting { repo, layout, .. } = &decided.setting;
    check_git_merges(source_name, repo, &decided.tasks)?;
    check_creatable_outputs(args, layout, repo)?;
    let to_run = (decided.tasks.iter())
        .filter(|p| p.carried.is_none())
        .count();
    let (jobs, jobs_note) = jobs::choose_jobs(args.jobs, to_run, jobs::available_memory());
    let worktree_dir = (args.settings.worktree_dir.as_ref())
        .and(decided.setting.layout.worktree_root.parent())
        .map(Path::to_path_buf);
    if args.pr {
        pr_remote_reachable(args, &decided.setting.repo)?;
    }
    let recorded = RecordedSettings::of(args, decided.setting.push.as_deref());
    Ok(Plan {
        recorded_settings: recorded.to_json(),
        repo: decided.setting.repo,
        agent: decided.setting.agent,
        settings: RunSettings {
            output: decided.setting.layout.output,
            worktree_dir,
            push: decided.setting.push,
            ..args.settings.clone()
        },
        state: decided.setting.layout.state,
        jobs,
        jobs_note,
        identity: decided.config.identity,
        registration: decided.config.registration,
        run_id: decided.run_id,
        tasks: decided.tasks,
        source: decided.source,
        resumed_from: decided.resumed_from,
        resumed_lock: decided.resumed_lock,
        tasks_file_order: decided.tasks_file_order,
        shard: decided.shard,
        pull_requests: args.pr.then(|| PullRequests {
            remote: (args.remote.clone()).unwrap_or_else(|| DEFAULT_REMOTE.to_string()),
            draft: true,
            base: None,
        }),
        merge_check: decided.merge_check,
        hooks: Hooks {
            on_finish: (shell(&args.on_finish).or(decided.hooks.on_finish))
                .filter(|_| !args.no_on_finish),
            on_task_finish: (shell(&args.on_task_finish).or(decided.hooks.on_task_finish))
                .filter(|_| !args.no_on_task_finish),
        },
    })
}

/// `--port-base` leaves a block of ports for each of `tasks` tasks.
fn check_port_room(args: &RunArgs, tasks: usize) -> Result<(), Error> {
    task_env::check_port_base(args.port_base, tasks).map_err(|reason| {
        Error::usage(format!("--port-base {}: {reason}", args.port_base))
            .with_hint("give a lower --port-base, or leave it out for 40000")
    })
}

/// `--on-finish CMD` as a command: `sh -c CMD`.
fn shell(command: &Option<String>) -> Option<Vec<String>> {
    let command = command.as_ref()?;
    Some(vec!["sh".to_string(), "-c".to_string(), command.clone()])
}

/// `--push REMOTE` made ready for git (a path made absolute) and checked: git must reach it
/// before anything is created.
fn push_remote(args: &RunArgs, repo: &Repo) -> Result<Option<String>, Error> {
    let Some(asked) = &args.settings.push else {
        return Ok(None);
    };
    let remote = remote::resolve(&repo.toplevel, asked, &remote::current_dir());
    remote::reach(&repo.toplevel, &remote).map_err(|err| {
        Error::usage(format!(
            "--push {}: git cannot reach it: {}",
            remote::shown(asked),
            remote::shown_in(&err.reason(), &remote)
        ))
        .with_hint(format!(
            "name a remote of {} (`git remote -v` lists them), a URL or the path of a repository",
            repo.toplevel.display()
        ))
    })?;
    Ok(Some(remote))
}

/// `--pr`: git must reach the remote before anything is created, as with `--push`.
fn pr_remote_reachable(args: &RunArgs, repo: &Repo) -> Result<(), Error> {
    let asked = args.remote.as_deref().unwrap_or(DEFAULT_REMOTE);
    let remote = remote::resolve(&repo.toplevel, asked, &remote::current_dir());
    remote::reach(&repo.toplevel, &remote).map_err(|err| {
        Error::usage(format!(
            "--pr: git cannot reach the remote {}: {}",
            remote::shown(asked),
            remote::shown_in(&err.reason(), &remote)
        ))
        .with_hint("name a remote with --remote (`git remote -v` lists them), or add `origin`")
    })
}

/// The tasks file `arg` (a path, or `-`), read as `name`: its `prompt_file`s are found beside it.
fn parse_tasks(arg: &str, name: &str, bytes: &[u8]) -> Result<TaskFile, Error> {
    let dir = taskfile::prompt_dir(arg);
    taskfile::parse(&taskfile::Source { name, dir: &dir }, bytes)
}

/// Where this run's files go, decided before anything is created.
struct Layout {
    /// `WORKTREE_DIR/<repo name>`: the tasks' worktrees and the state directory.
    worktree_root: PathBuf,
    state: StateDir,
    /// `-o FILE`, made absolute.
    output: Option<PathBuf>,
}

fn decide_layout(args: &RunArgs, env: &Environment, repo: &Repo) -> Result<Layout, Error> {
    let worktree_dir =
        crate::state::worktree_dir(args.settings.worktree_dir.as_deref(), env.home.as_deref())?;
    check_creatable(&worktree_dir, "the worktree directory")?;
    if worktree_dir.to_str().is_none() {
        return Err(Error::setup(
            format!(
                "the worktree directory {} has a path that is not valid UTF-8 (shown with U+FFFD for each byte that is not)",
                worktree_dir.display()
            ),
            "porch keeps paths as UTF-8 text: name one that is with --worktree-dir DIR or PORCH_WORKTREE_DIR",
        ));
    }
    let worktree_root = crate::state::worktree_root(&worktree_dir, repo);
    refuse_root_in_work_tree(&worktree_root, repo)?;
    let output = match &args.settings.output {
        Some(path) => {
            let path = std::path::absolute(path).context("resolve", path)?;
            check_output(&path)?;
            Some(path)
        }
        None => None,
    };
    Ok(Layout {
        state: StateDir::in_root(&worktree_root),
        worktree_root,
        output,
    })
}

/// Worktrees and `.porch/` inside the user's checkout would be work of theirs to git, and a
/// task named like one of its directories would collide with it; a root holding the checkout
/// could put a task's worktree on it.
fn refuse_root_in_work_tree(root: &Path, repo: &Repo) -> Result<(), Error> {
    for work_tree in work_trees(repo) {
        let Some(how) = crate::state::layout::overlap(root, &work_tree) else {
            continue;
        };
        return Err(Error::setup(
            format!(
                "the worktree directory {} {how} the repository's work tree {}",
                root.display(),
                work_tree.display()
            ),
            "give --worktree-dir a directory outside the repository, e.g. the default ~/worktrees",
        ));
    }
    Ok(())
}

/// REPO's work tree and, when REPO is a linked worktree, the main one.
fn work_trees(repo: &Repo) -> Vec<PathBuf> {
    let mut trees = vec![repo.toplevel.clone()];
    if repo.common_dir.file_name().is_some_and(|n| n == ".git")
        && let Some(main) = repo.common_dir.parent()
        && main != repo.toplevel
    {
        trees.push(crate::state::real_path(main));
    }
    trees
}

/// What git says about the repository before the run: what already stands in the tasks' way,
/// and what its configuration says for the run (the identity to add, who registers worktrees).
struct RepoFacts {
    registered: Vec<WorktreeEntry>,
    task_refs: Vec<String>,
    config: RunConfig,
}

/// Three independent questions to git, asked at once: each is a process start.
fn ask_git(repo: &Repo, branches: &[String]) -> Result<RepoFacts, Error> {
    let (registered, task_refs, config) = std::thread::scope(|scope| {
        let registered = scope.spawn(|| {
            repo.worktrees().map_err(|e| {
                Error::setup(
                    e.to_string(),
                    "check the repository with `git worktree list`",
                )
            })
        });
        let task_refs = scope.spawn(|| existing_task_refs(repo, branches));
        let config = git::run_config(&repo.toplevel);
        let lost = || Error::setup("a thread asking git a question failed", "run porch again");
        (
            registered.join().unwrap_or_else(|_| Err(lost())),
            task_refs.join().unwrap_or_else(|_| Err(lost())),
            config,
        )
    });
    Ok(RepoFacts {
        registered: registered?,
        task_refs: task_refs?,
        config,
    })
}

/// What every task's plan takes from the run.
struct RunEquipment<'a> {
    args: &'a RunArgs,
    run_id: &'a str,
}

impl RunEquipment<'_> {
    /// Gives task number `index` what its setup and session get: claude's arguments, the
    /// environment (`PORCH_*` and its `env`) and the redactor of its `env` values.
    fn equip(&self, plan: &mut TaskPlan, index: usize) {
        let port_base = self.args.port_base;
        let identity = TaskIdentity {
            name: &plan.task.name,
            index,
            worktree: &plan.worktree,
            branch: &plan.branch,
            base_commit: &plan.base_commit,
            run_id: self.run_id,
            port: task_env::first_port(port_base, index).unwrap_or(port_base),
            group: plan.task.group.as_deref(),
        };
        plan.env = settings::environment(&identity, &plan.task);
        let resume = plan.resume.as_ref().and_then(|r| r.session_id.as_deref());
        plan.claude_args = settings::claude_arguments(
            &plan.task,
            &self.args.settings.permission_mode,
            resume,
            self.args.settings.max_cost_usd,
        );
        plan.redactor = Arc::new(Redactor::new(&plan.task.env));
    }
}

/// Each task's base commit, worktree, log, claude arguments and environment, from its branch.
/// Every task is looked at before an error about leftovers, so that one error lists all of them.
fn plan_tasks(
    source_name: &str,
    tasks: Vec<(Task, String)>,
    repo: &Repo,
    layout: &Layout,
    existing: &Existing,
    run: &RunEquipment,
) -> Result<Vec<TaskPlan>, Error> {
    let mut base_commits = BaseCommits::new(repo);
    let mut plans = Vec::with_capacity(tasks.len());
    let mut conflicts = Vec::new();
    for (index, (task, branch)) in tasks.into_iter().enumerate() {
        let base_branch = base_branch_for(task.base_branch.as_deref(), repo.branch.as_deref());
        let Some(base_commit) = base_commits.resolve(&base_branch) else {
            return Err(unknown_base(source_name, index, &task, &base_branch, repo));
        };
        let base = (base_branch.as_str(), base_commit.as_str());
        settings::check_copies(source_name, index, &task, &repo.toplevel, base)?;
        let slot = branch_template::slot(&branch).to_string();
        let (worktree, log) = settings::paths(&layout.worktree_root, &layout.state, &slot);
        if let Some(outer) = existing.enclosing_worktree(&worktree) {
            let task = (index, task.name.as_str());
            return Err(existing::nested_worktree_error(
                source_name,
                task,
                &worktree,
                outer,
            ));
        }
        let occupied = worktree.symlink_metadata().is_ok();
        let names = (branch.as_str(), slot.as_str());
        if let Some(mut conflict) =
            existing.conflict_for(index, &task.name, names, &worktree, occupied)
        {
            conflict.never_checked_out = (conflict.registered.iter())
                .filter(|dir| git::is_half_made_worktree(dir))
                .cloned()
                .collect();
            conflicts.push(conflict);
        }
        let mut plan = TaskPlan {
            timeout: task.timeout.or(run.args.timeout),
            slot,
            log,
            task,
            branch,
            base_branch,
            base_commit,
            worktree,
            claude_args: Vec::new(),
            env: Vec::new(),
            redactor: Arc::default(),
            resume: None,
            carried: None,
            depends_on: Vec::new(),
        };
        run.equip(&mut plan, index);
        plans.push(plan);
    }
    refuse_what_is_in_the_way(source_name, repo, layout, run, &plans, &conflicts)?;
    Ok(plans)
}

/// Worktrees of the run one inside another, then everything earlier runs left in the tasks'
/// way, in one error that says first how to go on with the run that left it.
fn refuse_what_is_in_the_way(
    source_name: &str,
    repo: &Repo,
    layout: &Layout,
    run: &RunEquipment,
    plans: &[TaskPlan],
    conflicts: &[existing::Conflict],
) -> Result<(), Error> {
    let places: Vec<Place> = (plans.iter().enumerate())
        .map(|(index, plan)| Place {
            index,
            name: &plan.task.name,
            worktree: &plan.worktree,
        })
        .collect();
    if let Some((inner, outer)) = existing::nested_in_run(&places) {
        return Err(existing::nested_in_run_error(source_name, inner, outer));
    }
    if conflicts.is_empty() {
        return Ok(());
    }
    let worktree_dir = (run.args.settings.worktree_dir.as_ref()).and(layout.worktree_root.parent());
    let earlier = existing::earlier_run(repo, &layout.state, worktree_dir, conflicts);
    Err(existing::conflict_error(
        source_name,
        &repo.toplevel,
        conflicts,
        earlier.as_ref(),
    ))
}

/// Each task's `depends_on` as indices into the plan. A task that depends on others and starts
/// afresh gets their branches as its base; the commit is made once they have succeeded. The
/// tasks file and `--only`/`--skip` were checked already: an error here is a stored run's.
fn link_dependencies(source_name: &str, plans: &mut [TaskPlan]) -> Result<(), Error> {
    let names: Vec<String> = plans.iter().map(|p| p.task.name.clone()).collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let lists: Vec<Vec<String>> = (plans.iter())
        .map(|p| with_rivals(&p.task.depends_on, plans))
        .collect();
    let graph = Dependencies::resolve(&names, &lists).map_err(|problem| {
        let (message, hint) = problem.explain(&names);
        let task = names[problem.task()];
        Error::setup(
            format!("{source_name}: task `{task}`: depends_on: {message}"),
            hint,
        )
    })?;
    for index in 0..plans.len() {
        let of = graph.of(index).to_vec();
        let afresh = plans[index].resume.is_none() && plans[index].carried.is_none();
        if afresh && !of.is_empty() {
            plans[index].base_branch = bases_given(plans, &of).join(" + ");
            plans[index].base_commit = String::new();
        }
        plans[index].depends_on = of;
    }
    Ok(())
}

/// What the tasks `of` (a task's dependencies) give it to start from, one each: a branch, or a
/// repeated task's winner for all its rivals.
fn bases_given(plans: &[TaskPlan], of: &[usize]) -> Vec<String> {
    let mut bases: Vec<String> = Vec::new();
    for &d in of {
        let base = match &plans[d].task.group {
            Some(group) => format!("the winner of {group}"),
            None => plans[d].branch.clone(),
        };
        if !bases.contains(&base) {
            bases.push(base);
        }
    }
    bases
}

/// A task that starts from several tasks' branches gets them merged by `git merge-tree
/// --write-tree`, which git has since 2.38: an older git is refused before anything is made,
/// not found out when the task's dependencies have done their work.
fn check_git_merges(source_name: &str, repo: &Repo, plans: &[TaskPlan]) -> Result<(), Error> {
    let merging = plans.iter().find(|plan| {
        let afresh = plan.resume.is_none() && plan.carried.is_none();
        afresh && bases_given(plans, &plan.depends_on).len() > 1
    });
    let Some(plan) = merging else {
        return Ok(());
    };
    match git::version(&repo.toplevel) {
        Some((major, minor)) if (major, minor) < (2, 38) => Err(Error::setup(
            format!(
                "{source_name}: task `{}`: depends_on: porch merges the branches of the tasks it \
                 depends on with `git merge-tree --write-tree`, which git {major}.{minor} lacks",
                plan.task.name
            ),
            "install git 2.38 or later, or let the task depend on one task",
        )),
        _ => Ok(()),
    }
}

/// A `depends_on` list with each repeated task's name replaced by its rivals' names: the
/// dependant waits for all of them, and starts from the winner's branch.
fn with_rivals(depends_on: &[String], plans: &[TaskPlan]) -> Vec<String> {
    let mut names = Vec::new();
    for name in depends_on {
        let rivals: Vec<String> = (plans.iter())
            .filter(|p| p.task.group.as_ref() == Some(name))
            .map(|p| p.task.name.clone())
            .collect();
        if rivals.is_empty() {
            names.push(name.clone());
        } else {
            names.extend(rivals);
        }
    }
    names
}

/// The branch a task starts from: its own `base_branch`, else the branch checked out in REPO,
/// else (a detached HEAD) `HEAD`.
fn base_branch_for(asked: Option<&str>, checked_out: Option<&str>) -> String {
    asked.or(checked_out).unwrap_or("HEAD").to_string()
}

/// Base branches resolved to commits, each asked of git once however many tasks name it.
struct BaseCommits<'a> {
    repo: &'a Repo,
    resolved: HashMap<String, Option<String>>,
}

impl<'a> BaseCommits<'a> {
    /// `HEAD` and the branch checked out are known without asking: REPO's commit.
    fn new(repo: &'a Repo) -> BaseCommits<'a> {
        let mut resolved = HashMap::new();
        resolved.insert("HEAD".to_string(), Some(repo.head.clone()));
        if let Some(branch) = &repo.branch {
            resolved.insert(branch.clone(), Some(repo.head.clone()));
        }
        BaseCommits { repo, resolved }
    }

    fn resolve(&mut self, branch: &str) -> Option<String> {
        self.resolved
            .entry(branch.to_string())
            .or_insert_with(|| self.repo.resolve_base(branch))
            .clone()
    }
}

/// Everything porch will create in the state directory is checked here, so that a failure to
/// create it is an error before anything exists, not after.
fn check_creatable_outputs(args: &RunArgs, layout: &Layout, repo: &Repo) -> Result<(), Error> {
    check_creatable(&layout.state.logs_dir(), "the worktree directory")?;
    check_creatable(&layout.state.runs_dir(), "the results directory")?;
    let link = layout.state.latest_link();
    if link.is_dir() {
        return Err(Error::setup(
            format!(
                "{} is a directory, where porch links the latest results",
                link.display()
            ),
            "remove it: porch keeps every run's results beside it",
        ));
    }
    if let Some(output) = &args.settings.output {
        refuse_overwriting_tasks(&args.tasks, output)?;
    }
    if let Some(junit) = &args.settings.junit {
        crate::results::junit::check_path(junit, &args.tasks)?;
    }
    if let Some(report) = &args.settings.report {
        crate::results::junit::check_report_path(report, &args.tasks, "--report")?;
    }
    let outputs = [
        ("-o", args.settings.output.as_deref()),
        ("--junit", args.settings.junit.as_deref()),
        ("--report", args.settings.report.as_deref()),
    ];
    for (flag, path) in outputs {
        if let Some(path) = path {
            refuse_overwriting_tracked(repo, flag, path)?;
            refuse_stdout_twice(args.output_mode, flag, path)?;
        }
    }
    let reports = [
        ("--junit", args.settings.junit.as_deref(), "porch-junit.xml"),
        (
            "--report",
            args.settings.report.as_deref(),
            "porch-report.html",
        ),
    ];
    let written = [("-o", args.settings.output.as_deref(), "the results")]
        .into_iter()
        .chain((reports.iter()).map(|&(flag, path, _)| (flag, path, "the other report")));
    let file = |p: &Path| matches!(destination(p), Destination::File(_));
    for (first, (flag, earlier, what)) in written.enumerate() {
        for &(report_flag, report, example) in reports.iter().skip(first) {
            let (Some(earlier), Some(report)) = (earlier, report) else {
                continue;
            };
            if file(earlier) && resolved(earlier).is_some_and(|e| Some(e) == resolved(report)) {
                return Err(Error::setup(
                    format!(
                        "{flag} and {report_flag} name the same file, {}: the report would replace {what}",
                        earlier.display()
                    ),
                    format!("give {report_flag} another path, e.g. {report_flag} {example}"),
                ));
            }
        }
    }
    Ok(())
}

/// With `--json` or `--events`, stdout is a document a script parses: a file porch would also
/// write there (`-o /dev/stdout`, or the file stdout is redirected into) would break it.
fn refuse_stdout_twice(mode: OutputMode, flag: &str, path: &Path) -> Result<(), Error> {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let mode_flag = match mode {
        OutputMode::Json => "--json",
        OutputMode::Events => "--events",
        OutputMode::Stream | OutputMode::Quiet => return Ok(()),
    };
    let (Ok(file), Ok(stdout)) = (std::fs::metadata(path), std::fs::metadata("/dev/stdout")) else {
        return Ok(());
    };
    // A terminal or /dev/null takes both without harm: nothing parses it.
    let same = file.dev() == stdout.dev() && file.ino() == stdout.ino();
    if !same || file.file_type().is_char_device() {
        return Ok(());
    }
    Err(Error::usage(format!(
        "{flag} {} is porch's standard output, where {mode_flag} writes: it would get both",
        path.display()
    ))
    .with_hint(format!(
        "give {flag} a file of its own; {mode_flag} alone already puts the run on stdout"
    )))
}

/// A path with its directory's links and `..` resolved, whether or not the file exists yet.
fn resolved(path: &Path) -> Option<PathBuf> {
    if let Ok(real) = path.canonicalize() {
        return Some(real);
    }
    let name = path.file_name()?;
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    Some(dir.canonicalize().ok()?.join(name))
}

/// porch's own files must never replace a file of the user's work: an output inside the
/// repository is fine (an untracked `results.json`), one git tracks is refused.
fn refuse_overwriting_tracked(repo: &Repo, flag: &str, path: &Path) -> Result<(), Error> {
    let Some(real) = resolved(path) else {
        return Ok(());
    };
    if !real.starts_with(&repo.toplevel) || !real.is_file() {
        return Ok(());
    }
    if git::is_tracked(&repo.toplevel, &real.to_string_lossy()) {
        return Err(Error::setup(
            format!(
                "{flag} {} is a file the repository tracks: porch would overwrite it",
                path.display()
            ),
            format!("give {flag} a path outside the repository, or one git does not track"),
        ));
    }
    Ok(())
}

/// The most a tasks file may hold: far beyond any file of tasks (a prompt longer than a
/// `prompt_file` may hold would be a strange thing to inline), and a bound on what porch reads
/// into memory (and stores for `porch resume`) when the tasks come from a stream.
const TASKS_FILE_LIMIT: u64 = 64 * 1024 * 1024;

/// The tasks as bytes, from a path or from stdin (`-`). A path may be a FIFO or a device
/// (`porch run <(jq … all.json) .`): the user named it, so porch waits for its writer as `cat`
/// would (Ctrl-C ends the wait: porch catches no signal before the run starts), but reads at
/// most `TASKS_FILE_LIMIT`, so `/dev/zero` is an error rather than the machine's memory.
fn read_tasks(arg: &str) -> Result<(String, Vec<u8>), Error> {
    let too_large = |name: &str| {
        Error::setup(
            format!(
                "the tasks file {name} holds more than {}, the most porch reads",
                bounded_read::limit_text(TASKS_FILE_LIMIT)
            ),
            "name the JSON tasks file itself; put long prompts in prompt_file files",
        )
    };
    if arg == "-" {
        let stdin = Path::new("<stdin>");
        let read = bounded_read::read_capped(std::io::stdin().lock(), TASKS_FILE_LIMIT);
        return match read.context("read the tasks from", stdin)? {
            Some(bytes) => Ok(("<stdin>".to_string(), bytes)),
            None => Err(too_large("<stdin>")),
        };
    }
    let path = Path::new(arg);
    let read = std::fs::File::open(path).and_then(|file| {
        let meta = file.metadata()?;
        if meta.is_dir() {
            return Err(std::io::Error::from(std::io::ErrorKind::IsADirectory));
        }
        if meta.is_file() && meta.len() > TASKS_FILE_LIMIT {
            return Ok(None);
        }
        bounded_read::read_capped(file, TASKS_FILE_LIMIT)
    });
    match read {
        Ok(Some(bytes)) => Ok((arg.to_string(), bytes)),
        Ok(None) => Err(too_large(arg)),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Err(Error::setup(
            format!("the tasks file {arg} does not exist"),
            "check the path, or create a sample with `porch init`",
        )),
        Err(_) if path.is_dir() => Err(Error::setup(
            format!("the tasks file {arg} is a directory"),
            "name the JSON tasks file itself",
        )),
        Err(err) => Err(err).context("read the tasks file", path),
    }
}

/// The nearest existing ancestor must be a writable directory, so creating `path` later works.
fn check_creatable(path: &Path, what: &str) -> Result<(), Error> {
    let cannot = |probe: &Path, why: &str, hint: &str| {
        Error::setup(
            format!(
                "{what} {} cannot be created: {} {why}",
                path.display(),
                probe.display()
            ),
            hint,
        )
    };
    // A dangling link exists too: creating the directory would fail there.
    let Some(probe) = path.ancestors().find(|p| p.symlink_metadata().is_ok()) else {
        return Ok(());
    };
    match std::fs::metadata(probe) {
        Ok(meta) if meta.is_dir() && writable(probe) => Ok(()),
        Ok(meta) if meta.is_dir() => Err(cannot(
            probe,
            "is not writable",
            "choose another with --worktree-dir, or fix the permissions",
        )),
        Ok(_) => Err(cannot(
            probe,
            "is a file",
            "choose another with --worktree-dir",
        )),
        Err(_) => Err(cannot(
            probe,
            "is a symbolic link to nothing",
            "point the link somewhere that exists, or choose another --worktree-dir",
        )),
    }
}

fn check_output(path: &Path) -> Result<(), Error> {
    if path.is_dir() {
        return Err(Error::setup(
            format!("the results file {} is a directory", path.display()),
            "give -o a file path, e.g. -o results.json",
        ));
    }
    let file = match destination(path) {
        Destination::File(file) => file,
        // A device or FIFO is written through: it is what must be writable, not its directory.
        Destination::Stream(_) if writable(path) => return Ok(()),
        Destination::Stream(_) => {
            return Err(Error::setup(
                format!("the results file {} is not writable", path.display()),
                "give -o a path porch may write",
            ));
        }
    };
    let parent = file.parent().unwrap_or(Path::new("/"));
    if !parent.is_dir() {
        return Err(Error::setup(
            format!(
                "the results file {} cannot be written: {} is not a directory",
                path.display(),
                parent.display()
            ),
            "create the directory first, or give -o another path",
        ));
    }
    if !writable(parent) {
        return Err(Error::setup(
            format!(
                "the results file {} cannot be written: {} is not writable",
                path.display(),
                parent.display()
            ),
            "give -o a path in a writable directory",
        ));
    }
    Ok(())
}

fn unknown_base(file: &str, index: usize, task: &Task, base: &str, repo: &Repo) -> Error {
    let list = git::branch_names(&repo.toplevel, 12).unwrap_or_default();
    let message = if task.base_branch.is_some() {
        format!(
            "{} is not a branch of {}, nor a revision git makes a commit of (`git rev-parse --verify {}`)",
            taskfile::quote_value(base),
            repo.toplevel.display(),
            crate::util::quote::word(&format!("{base}^{{commit}}"))
        )
    } else {
        format!("the default base {base:?} (checked out in REPO) does not name a commit")
    };
    Error::Tasks {
        file: file.to_string(),
        task: Some(taskfile::task_label(index, Some(&task.name))),
        field: Some("base_branch".to_string()),
        message,
        hint: Some(match remote_namesakes(repo, base).as_slice() {
            [] if list.is_empty() => {
                "name an existing branch, or a tag, a commit id, `main~2`".to_string()
            }
            [] => format!(
                "name an existing branch: {}; or a tag, a commit id, `main~2`",
                list.join(", ")
            ),
            remote => format!(
                "a remote-tracking branch has that name, which porch does not guess: write {}",
                remote.join(" or ")
            ),
        }),
    }
}

/// Remote-tracking branches named like `base` (`origin/dev` for `dev`), short names.
fn remote_namesakes(repo: &Repo, base: &str) -> Vec<String> {
    git::remote_tracking_namesakes(&repo.toplevel, base).unwrap_or_default()
}

/// Existing refs that can stand in a task's way, full names: the branches under each task
/// branch's first part (`task` and `task/...` by default), and the attempts earlier runs set
/// aside under `refs/porch/attempts/`.
fn existing_task_refs(repo: &Repo, branches: &[String]) -> Result<Vec<String>, Error> {
    let patterns = settings::ref_patterns(branches);
    let mut asked: Vec<&str> = patterns.iter().map(String::as_str).collect();
    asked.push(git::ATTEMPTS_REFS);
    git::ref_names(&repo.toplevel, &asked).map_err(|e| {
        Error::setup(
            e.to_string(),
            "check the repository with `git for-each-ref`",
        )
    })
}

/// `-o tasks.json` would replace the tasks with the results.
fn refuse_overwriting_tasks(tasks: &str, output: &Path) -> Result<(), Error> {
    if tasks == "-" {
        return Ok(());
    }
    let same = match (std::fs::canonicalize(tasks), std::fs::canonicalize(output)) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    };
    if same {
        return Err(Error::setup(
            format!("the results file {} is the tasks file", output.display()),
            "give -o another path, e.g. -o results.json",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_base_a_task_starts_from() {
        // (the task's base_branch, the branch checked out in REPO, the base, the rule)
        let cases: &[(Option<&str>, Option<&str>, &str, &str)] = &[
            (
                Some("dev"),
                Some("main"),
                "dev",
                "the task's own base_branch comes first",
            ),
            (Some("dev"), None, "dev", "even on a detached HEAD"),
            (
                None,
                Some("main"),
                "main",
                "else the branch checked out in REPO",
            ),
            (None, None, "HEAD", "else REPO's detached HEAD"),
        ];
        for &(asked, checked_out, base, rule) in cases {
            assert_eq!(base_branch_for(asked, checked_out), base, "{rule}");
        }
    }

    #[test]
    fn a_directory_can_be_created_below_the_nearest_existing_directory() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("file");
        std::fs::write(&file, "").unwrap();
        let dangling = dir.path().join("dangling");
        std::os::unix::fs::symlink(dir.path().join("nowhere"), &dangling).unwrap();
        // (the directory to create, the reason it cannot be, if any)
        let cases: [(PathBuf, Option<&str>); 5] = [
            (dir.path().to_path_buf(), None),
            (dir.path().join("new"), None),
            (dir.path().join("new/deeper/still"), None),
            (file.join("below"), Some("is a file")),
            (
                dangling.join("below"),
                Some("is a symbolic link to nothing"),
            ),
        ];
        for (path, reason) in cases {
            let checked = check_creatable(&path, "the worktree directory");
            match reason {
                None => assert!(checked.is_ok(), "{}: {checked:?}", path.display()),
                Some(reason) => {
                    let message = checked.unwrap_err().to_string();
                    assert!(message.contains(reason), "{message}");
                    assert!(message.starts_with("the worktree directory "), "{message}");
                }
            }
        }
    }

    #[test]
    fn paths_are_resolved_as_far_as_they_exist() {
        let dir = tempfile::tempdir().unwrap();
        let real = std::fs::canonicalize(dir.path()).unwrap();
        std::fs::create_dir(real.join("wt")).unwrap();
        std::os::unix::fs::symlink(real.join("wt"), real.join("link")).unwrap();
        // (the path given, the path porch uses, the rule)
        let cases = [
            (
                real.join("wt/new/x"),
                real.join("wt/new/x"),
                "a plain path stays",
            ),
            (
                real.join("link/x"),
                real.join("wt/x"),
                "a symbolic link is followed",
            ),
            (
                real.join("wt/../wt/x"),
                real.join("wt/x"),
                "`..` that exists is resolved",
            ),
            (
                real.join("new/../wt"),
                real.join("wt"),
                "and so is `..` past what does not",
            ),
            (
                real.join("link/./new/y/.."),
                real.join("wt/new"),
                "`.` goes, `..` takes a step back",
            ),
        ];
        for (given, used, rule) in cases {
            assert_eq!(crate::state::real_path(&given), used, "{rule}");
        }
    }

    #[test]
    fn a_missing_tasks_file_or_a_directory_is_named_with_a_hint() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.json");
        let cases = [
            (missing.to_str().unwrap(), "does not exist"),
            (dir.path().to_str().unwrap(), "is a directory"),
        ];
        for (arg, says) in cases {
            let err = read_tasks(arg).unwrap_err();
            assert_eq!(err.to_string(), format!("the tasks file {arg} {says}"));
            assert!(err.hint().is_some(), "{arg}");
        }
    }

    #[test]
    fn the_results_never_replace_the_tasks_file() {
        let dir = tempfile::tempdir().unwrap();
        let tasks = dir.path().join("tasks.json");
        std::fs::write(&tasks, "[]").unwrap();
        let tasks_arg = tasks.to_str().unwrap();
        let same_file = dir.path().join(".").join("tasks.json");
        // (the tasks argument, -o, refused)
        let cases: [(&str, PathBuf, bool); 4] = [
            (tasks_arg, tasks.clone(), true),
            (tasks_arg, same_file, true),
            (tasks_arg, dir.path().join("results.json"), false),
            ("-", tasks.clone(), false),
        ];
        for (arg, output, refused) in cases {
            let checked = refuse_overwriting_tasks(arg, &output);
            assert_eq!(checked.is_err(), refused, "{arg} -o {}", output.display());
        }
    }
}
