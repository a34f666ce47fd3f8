//! Everything checked before the repository is touched: the tasks file, the repository, the
//! agent, where worktrees, logs and results go. The outcome is a `Plan`; an error here means
//! exit 2 with nothing created.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::agent;
use crate::cli::RunArgs;
use crate::error::{Error, IoContext};
use crate::git::{self, BRANCH_PREFIX, Repo};
use crate::sys::writable;
use crate::taskfile::{self, Task};
use crate::timestamp;

/// A validated run: every path decided, every base resolved to a commit.
#[derive(Debug)]
pub struct Plan {
    pub repo: Repo,
    pub agent: PathBuf,
    pub permission_mode: String,
    pub cleanup: bool,
    /// `WORKTREE_DIR/<repo name>/.porch`: logs and the default results file.
    pub state_dir: PathBuf,
    pub output: PathBuf,
    /// Without `-o`, every run writes its own file under `.porch/runs/`, and this link (the
    /// state directory's `results.json`) names the latest: concurrent runs never overwrite
    /// each other's results.
    pub latest_results: Option<PathBuf>,
    pub tasks: Vec<TaskPlan>,
    /// How many sessions may run at once.
    pub jobs: usize,
    /// Said to the user when porch chose a lower `jobs` than the number of tasks.
    pub jobs_note: Option<String>,
    pub stagger: Option<Duration>,
    pub idle_timeout: Option<Duration>,
    pub keep_leftovers: bool,
    /// How many times a session that failed with a transient API error is started again.
    pub retries: u32,
    /// The pause before the first retry; it doubles for each further one.
    pub retry_backoff: Duration,
    /// `-c user.name=… -c user.email=…` for what the repository does not configure.
    pub identity: Vec<String>,
}

#[derive(Debug)]
pub struct TaskPlan {
    pub task: Task,
    pub branch: String,
    /// The base as the user named it (or the branch checked out in REPO).
    pub base_branch: String,
    /// The commit the branch starts from, fixed before any task starts.
    pub base_commit: String,
    pub worktree: PathBuf,
    pub log: PathBuf,
    /// The task's own `timeout`, else `--timeout`.
    pub timeout: Option<Duration>,
}

pub struct Environment {
    pub home: Option<PathBuf>,
    pub porch_claude: Option<std::ffi::OsString>,
    pub path: Option<std::ffi::OsString>,
}

impl Environment {
    pub fn from_process() -> Environment {
        Environment {
            home: std::env::var_os("HOME")
                .filter(|h| !h.is_empty())
                .map(PathBuf::from),
            porch_claude: std::env::var_os("PORCH_CLAUDE"),
            path: std::env::var_os("PATH"),
        }
    }
}

pub fn plan(args: &RunArgs, env: &Environment) -> Result<Plan, Error> {
    let (source_name, bytes) = read_tasks(&args.tasks)?;
    let tasks = taskfile::parse(&taskfile::Source { name: &source_name }, &bytes)?;

    let repo = Repo::open(&args.repo)?;
    let agent = agent::resolve_program(
        args.claude.as_deref(),
        env.porch_claude.as_deref(),
        env.path.as_deref(),
    )?;

    let worktree_dir = match &args.worktree_dir {
        Some(dir) => expand_tilde(dir, env.home.as_deref())?,
        None => match &env.home {
            Some(home) => home.join("worktrees"),
            None => {
                return Err(Error::setup(
                    "HOME is not set, so the default worktree directory ~/worktrees is unknown",
                    "pass --worktree-dir DIR",
                ));
            }
        },
    };
    let worktree_dir = std::path::absolute(&worktree_dir).context("resolve", &worktree_dir)?;
    check_creatable(&worktree_dir, "the worktree directory")?;
    let worktree_root = worktree_root(&worktree_dir, &repo);
    let state_dir = worktree_root.join(".porch");

    let output = match &args.output {
        Some(path) => {
            let path = std::path::absolute(path).context("resolve", path)?;
            check_output(&path)?;
            path
        }
        None => state_dir.join("runs").join(format!(
            "{}-{}.json",
            timestamp::compact_timestamp(std::time::SystemTime::now()),
            std::process::id()
        )),
    };
    let latest_results = args
        .output
        .is_none()
        .then(|| state_dir.join(LATEST_RESULTS));

    let current = repo.branch.clone();
    // Three independent questions to git, asked at once: each is a process start.
    let (registered, task_refs, identity) = std::thread::scope(|scope| {
        let registered = scope.spawn(|| {
            repo.worktrees().map_err(|e| {
                Error::setup(
                    e.to_string(),
                    "check the repository with `git worktree list`",
                )
            })
        });
        let task_refs = scope.spawn(|| existing_task_refs(&repo));
        let identity = git::identity_overrides(&repo.toplevel);
        let lost = || Error::setup("a thread asking git a question failed", "run porch again");
        (
            registered.join().unwrap_or_else(|_| Err(lost())),
            task_refs.join().unwrap_or_else(|_| Err(lost())),
            identity,
        )
    });
    let (registered, task_refs) = (registered?, task_refs?);
    if task_refs.iter().any(|r| r == "refs/heads/task") {
        let example = tasks.first().map_or("task/NAME".to_string(), |t| {
            format!("{BRANCH_PREFIX}{}", t.name)
        });
        return Err(Error::setup(
            format!(
                "the repository {} has a branch named `task`, so git cannot create {example} or any other task/NAME branch",
                repo.toplevel.display()
            ),
            format!(
                "rename that branch: git -C {} branch -m task OTHER-NAME",
                repo.toplevel.display()
            ),
        ));
    }
    let mut plans = Vec::with_capacity(tasks.len());
    let mut conflicts = Vec::new();
    let mut base_commits: std::collections::HashMap<String, Option<String>> = Default::default();
    base_commits.insert("HEAD".to_string(), Some(repo.head.clone()));
    if let Some(branch) = &current {
        base_commits.insert(branch.clone(), Some(repo.head.clone()));
    }
    for (index, task) in tasks.into_iter().enumerate() {
        let base_branch = match (&task.base_branch, &current) {
            (Some(base), _) => base.clone(),
            (None, Some(current)) => current.clone(),
            (None, None) => "HEAD".to_string(),
        };
        let resolved = base_commits
            .entry(base_branch.clone())
            .or_insert_with(|| repo.resolve_commit(&base_branch));
        let Some(base_commit) = resolved.clone() else {
            return Err(unknown_base(
                &source_name,
                index,
                &task,
                &base_branch,
                &repo,
            ));
        };
        let branch = format!("{BRANCH_PREFIX}{}", task.name);
        let worktree = worktree_root.join(&task.name);
        let conflict = Conflict {
            index,
            name: task.name.clone(),
            // `task/NAME` itself, or a branch below it (`task/NAME/x`): either blocks the branch.
            branches: task_refs
                .iter()
                .filter_map(|r| r.strip_prefix("refs/heads/"))
                .filter(|r| *r == branch || r.starts_with(&format!("{branch}/")))
                .map(String::from)
                .collect(),
            registered: registered
                .iter()
                .filter(|w| w.path == worktree || w.branch.as_deref() == Some(branch.as_str()))
                .map(|w| w.path.clone())
                .collect(),
            directory: worktree
                .symlink_metadata()
                .is_ok()
                .then(|| worktree.clone()),
            attempts: task_refs
                .iter()
                .filter(|r| r.starts_with(&format!("{}/{}/", git::ATTEMPTS_REFS, task.name)))
                .cloned()
                .collect(),
        };
        if !conflict.is_empty() {
            conflicts.push(conflict);
        }
        let log = state_dir.join("logs").join(format!("{}.log", task.name));
        let timeout = task.timeout.or(args.timeout);
        plans.push(TaskPlan {
            timeout,
            task,
            branch,
            base_branch,
            base_commit,
            worktree,
            log,
        });
    }
    if !conflicts.is_empty() {
        return Err(conflict_error(&source_name, &repo, &conflicts));
    }
    check_creatable(&state_dir.join("logs"), "the worktree directory")?;
    if let Some(link) = &latest_results {
        // Everything porch will create under .porch/ is checked here, so that a failure to
        // create it is an error before anything exists, not after.
        check_creatable(
            output.parent().unwrap_or(&state_dir),
            "the results directory",
        )?;
        if link.is_dir() {
            return Err(Error::setup(
                format!(
                    "{} is a directory, where porch links the latest results",
                    link.display()
                ),
                "remove it, or give -o a results file",
            ));
        }
    }
    if let Some(output) = &args.output {
        refuse_overwriting_tasks(&args.tasks, output)?;
    }

    let (jobs, jobs_note) = choose_jobs(args.jobs, plans.len(), available_memory());
    Ok(Plan {
        repo,
        agent,
        permission_mode: args.permission_mode.clone(),
        cleanup: args.cleanup,
        state_dir,
        output,
        latest_results,
        jobs,
        jobs_note,
        stagger: args.stagger,
        idle_timeout: args.idle_timeout,
        keep_leftovers: args.keep_leftovers,
        retries: args.retries,
        retry_backoff: args.retry_backoff,
        identity,
        tasks: plans,
    })
}

const LATEST_RESULTS: &str = "results.json";
/// Written in the state directory: which repository `DIR/<name>` belongs to.
pub const OWNER_FILE: &str = "repo";

/// `DIR/<repo name>`, unless another repository of the same name already uses it: then
/// `DIR/<repo name>-<hash of its git directory>`, so two checkouts called `shop` never share
/// worktrees, logs or results.
pub fn worktree_root(worktree_dir: &Path, repo: &Repo) -> PathBuf {
    let plain = worktree_dir.join(&repo.name);
    let owner = std::fs::read_to_string(plain.join(".porch").join(OWNER_FILE)).ok();
    match owner {
        Some(owner) if Path::new(owner.trim()) != repo.common_dir => worktree_dir.join(format!(
            "{}-{:08x}",
            repo.name,
            fnv1a(repo.common_dir.as_os_str().as_encoded_bytes()) as u32
        )),
        _ => plain,
    }
}

/// FNV-1a: a hash that stays the same across Rust releases, unlike std's.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &b| {
        (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// A claude session holds about 300 MB resident: more sessions than memory allows would swap or
/// meet the OOM killer, so without `-j` porch caps itself and says so.
const SESSION_MEMORY: u64 = 300 * 1024 * 1024;

fn choose_jobs(
    asked: Option<usize>,
    tasks: usize,
    available: Option<u64>,
) -> (usize, Option<String>) {
    if let Some(jobs) = asked {
        return (jobs.min(tasks).max(1), None);
    }
    let Some(available) = available else {
        return (tasks, None);
    };
    let fits = usize::try_from(available / SESSION_MEMORY)
        .unwrap_or(usize::MAX)
        .max(1);
    if fits >= tasks {
        return (tasks, None);
    }
    let note = format!(
        "running at most {fits} sessions at once: {} MiB of memory is available and a claude session takes about 300 MB (-j N overrides this)",
        available / (1024 * 1024)
    );
    (fits, Some(note))
}

/// `MemAvailable` from /proc/meminfo, in bytes; `None` where there is no such file.
fn available_memory() -> Option<u64> {
    let meminfo = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = meminfo.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

fn read_tasks(arg: &str) -> Result<(String, Vec<u8>), Error> {
    if arg == "-" {
        let mut bytes = Vec::new();
        std::io::stdin()
            .lock()
            .read_to_end(&mut bytes)
            .context("read the tasks from", Path::new("<stdin>"))?;
        return Ok(("<stdin>".to_string(), bytes));
    }
    let path = Path::new(arg);
    match std::fs::read(path) {
        Ok(bytes) => Ok((arg.to_string(), bytes)),
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

pub fn expand_tilde(path: &Path, home: Option<&Path>) -> Result<PathBuf, Error> {
    let Ok(rest) = path.strip_prefix("~") else {
        return Ok(path.to_path_buf());
    };
    match home {
        Some(home) => Ok(home.join(rest)),
        None => Err(Error::setup(
            format!(
                "--worktree-dir {} starts with ~ but HOME is not set",
                path.display()
            ),
            "give an absolute path",
        )),
    }
}

/// The nearest existing ancestor must be a writable directory, so creating `path` later works.
fn check_creatable(path: &Path, what: &str) -> Result<(), Error> {
    let mut probe = path;
    loop {
        match std::fs::metadata(probe) {
            Ok(meta) if meta.is_dir() => {
                return if writable(probe) {
                    Ok(())
                } else {
                    Err(Error::setup(
                        format!(
                            "{what} {} cannot be created: {} is not writable",
                            path.display(),
                            probe.display()
                        ),
                        "choose another with --worktree-dir, or fix the permissions",
                    ))
                };
            }
            Ok(_) => {
                return Err(Error::setup(
                    format!(
                        "{what} {} cannot be created: {} is a file",
                        path.display(),
                        probe.display()
                    ),
                    "choose another with --worktree-dir",
                ));
            }
            Err(_) if probe.symlink_metadata().is_ok() => {
                return Err(Error::setup(
                    format!(
                        "{what} {} cannot be created: {} is a symbolic link to nothing",
                        path.display(),
                        probe.display()
                    ),
                    "point the link somewhere that exists, or choose another --worktree-dir",
                ));
            }
            Err(_) => match probe.parent() {
                Some(parent) => probe = parent,
                None => return Ok(()),
            },
        }
    }
}

fn check_output(path: &Path) -> Result<(), Error> {
    if path.is_dir() {
        return Err(Error::setup(
            format!("the results file {} is a directory", path.display()),
            "give -o a file path, e.g. -o results.json",
        ));
    }
    let parent = path.parent().unwrap_or(Path::new("/"));
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
    let branches = git::run(
        &repo.toplevel,
        &[
            "for-each-ref",
            "--count=12",
            "--format=%(refname:short)",
            "refs/heads/",
        ],
    )
    .unwrap_or_default();
    let list: Vec<&str> = branches.lines().collect();
    let message = if task.base_branch.is_some() {
        format!(
            "{} is not a branch of {}",
            taskfile::quote_value(base),
            repo.toplevel.display()
        )
    } else {
        format!("the default base {base:?} (checked out in REPO) does not name a commit")
    };
    Error::Tasks {
        file: file.to_string(),
        task: Some(taskfile::task_label(index, Some(&task.name))),
        field: Some("base_branch".to_string()),
        message,
        hint: Some(if list.is_empty() {
            "name an existing branch".to_string()
        } else {
            format!("name an existing branch: {}", list.join(", "))
        }),
    }
}

/// What an earlier run (or anything else) left where a task's branch and worktree must go.
struct Conflict {
    index: usize,
    name: String,
    branches: Vec<String>,
    registered: Vec<PathBuf>,
    directory: Option<PathBuf>,
    /// Failed attempts an earlier `--retries` run kept; a new run would overwrite them.
    attempts: Vec<String>,
}

impl Conflict {
    fn is_empty(&self) -> bool {
        self.branches.is_empty()
            && self.registered.is_empty()
            && self.directory.is_none()
            && self.attempts.is_empty()
    }
}

/// Existing refs that can stand in a task's way, full names: the branches `task` and
/// `task/...`, and the attempts earlier runs set aside under `refs/porch/attempts/`.
fn existing_task_refs(repo: &Repo) -> Result<Vec<String>, Error> {
    git::run(
        &repo.toplevel,
        &[
            "for-each-ref",
            "--format=%(refname)",
            "refs/heads/task",
            git::ATTEMPTS_REFS,
        ],
    )
    .map(|out| out.lines().map(String::from).collect())
    .map_err(|e| {
        Error::setup(
            e.to_string(),
            "check the repository with `git for-each-ref`",
        )
    })
}

fn conflict_error(file: &str, repo: &Repo, conflicts: &[Conflict]) -> Error {
    let top = repo.toplevel.display();
    let mut found = Vec::new();
    let mut commands = Vec::new();
    let mut branches = Vec::new();
    for conflict in conflicts {
        for path in &conflict.registered {
            found.push(format!("the worktree {}", path.display()));
            commands.push(format!("git -C {top} worktree remove {}", path.display()));
        }
        if let Some(dir) = conflict
            .directory
            .as_ref()
            .filter(|d| !conflict.registered.contains(d))
        {
            found.push(format!(
                "the directory {} (where task/{}'s worktree goes)",
                dir.display(),
                conflict.name
            ));
            commands.push(format!("rm -r {}", dir.display()));
        }
        for branch in &conflict.branches {
            found.push(format!("the branch {branch}"));
            branches.push(branch.as_str());
        }
        for reference in &conflict.attempts {
            found.push(format!("the saved attempt {reference}"));
            commands.push(format!("git -C {top} update-ref -d {reference}"));
        }
    }
    if !branches.is_empty() {
        commands.push(format!("git -C {top} branch -D {}", branches.join(" ")));
    }
    let labels: Vec<String> = conflicts
        .iter()
        .map(|c| taskfile::task_label(c.index, Some(&c.name)))
        .collect();
    Error::Tasks {
        file: file.to_string(),
        task: Some(labels.join(", ")),
        field: Some("name".to_string()),
        message: format!(
            "{} already exist{} from an earlier run: {}",
            if found.len() == 1 { "this" } else { "these" },
            if found.len() == 1 { "s" } else { "" },
            found.join(", ")
        ),
        hint: Some(format!(
            "review that work and keep it under another name (rename the task), or remove it, which deletes it:\n  {}",
            commands.join("\n  ")
        )),
    }
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
