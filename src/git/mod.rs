//! Every git call porch makes, and the lock that serialises the ones touching the shared
//! repository.

pub mod github;
pub mod remote;
pub mod scratch;

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Output, Stdio};

use crate::error::Error;
use crate::process::env::REPO_ENV_VARS;

pub const BRANCH_PREFIX: &str = "task/";
/// Where `--retries` keeps what a failed attempt wrote: `refs/porch/attempts/<task>/<n>`.
pub const ATTEMPTS_REFS: &str = "refs/porch/attempts";

/// Said of a name porch found taken while claiming it.
const ANOTHER_RUN: &str = "(another porch run on this repository?)";

/// A git step that failed: what porch ran (or did beside git), and why it failed.
#[derive(Debug, Clone)]
pub struct GitError {
    /// `git worktree add …`, or what porch did beside git (`lock <path>`).
    pub command: String,
    pub kind: GitErrorKind,
    /// What the failure means to the caller, said after the reason.
    pub note: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum GitErrorKind {
    /// git could not be started: not installed, not on PATH, or not executable.
    Missing { not_found: bool, detail: String },
    /// git ran and exited unsuccessfully.
    Failed { status: ExitStatus, stderr: String },
    /// A file porch uses beside git (the lock, a worktree's HEAD), or a process that could not be
    /// started for a reason other than git missing.
    Io(String),
    /// porch refused before asking git: something is in the way.
    Refused(String),
    /// git outlasted the limit porch gives it (a push), and porch ended it.
    TimedOut(std::time::Duration),
}

impl GitError {
    fn new(command: impl Into<String>, kind: GitErrorKind) -> GitError {
        GitError {
            command: command.into(),
            kind,
            note: None,
        }
    }

    fn spawn(command: impl Into<String>, err: &std::io::Error) -> GitError {
        use std::io::ErrorKind;
        let kind = match err.kind() {
            ErrorKind::NotFound | ErrorKind::PermissionDenied => GitErrorKind::Missing {
                not_found: err.kind() == ErrorKind::NotFound,
                detail: err.to_string(),
            },
            _ => GitErrorKind::Io(err.to_string()),
        };
        GitError::new(command, kind)
    }

    /// git itself cannot be run: no point asking it anything else.
    pub fn is_missing(&self) -> bool {
        matches!(self.kind, GitErrorKind::Missing { .. })
    }

    pub fn with_note(self, note: impl Into<String>) -> GitError {
        GitError {
            note: Some(note.into()),
            ..self
        }
    }

    /// Why it failed, in git's words where git said something, without the command.
    pub fn reason(&self) -> String {
        let reason = match &self.kind {
            GitErrorKind::Missing {
                not_found: true, ..
            } => "git is not installed or not on PATH".to_string(),
            GitErrorKind::Missing { detail, .. } => detail.clone(),
            GitErrorKind::Failed { status, stderr } if stderr.trim().is_empty() => {
                format!("exited with {status}")
            }
            GitErrorKind::Failed { stderr, .. } => stderr.trim().to_string(),
            GitErrorKind::Io(message) | GitErrorKind::Refused(message) => message.clone(),
            GitErrorKind::TimedOut(limit) => format!(
                "timed out after {}: porch ended it",
                crate::util::duration::format(*limit)
            ),
        };
        match &self.note {
            Some(note) => format!("{reason} {note}"),
            None => reason,
        }
    }
}

impl std::fmt::Display for GitError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "`{}` failed: {}", self.command, self.reason())
    }
}

impl std::error::Error for GitError {}

/// Settings on every git command porch runs, over whatever the repository, the user or the
/// agent configured. No hooks at all (`--no-verify` skips only pre-commit and commit-msg; a
/// prepare-commit-msg, post-commit or reference-transaction hook would still run, and with a
/// relative `core.hooksPath` the agent could write one), no fsmonitor daemon (a configured
/// command, run like a hook), no automatic maintenance (sixty commits at once would each start
/// one).
const GIT_OVERRIDES: [&str; 6] = [
    "-c",
    "core.hooksPath=/dev/null",
    "-c",
    "core.fsmonitor=false",
    "-c",
    "maintenance.auto=false",
];

/// A git command in `dir` that runs no hook and never reads the terminal: stdin is null, git
/// may not prompt, and it runs in a session of its own, without a controlling terminal, so
/// whatever it starts (a filter, a credential helper) that opens `/dev/tty` gets an error
/// instead of stopping porch with SIGTTIN forever. Being in its own process group also keeps
/// Ctrl-C at the terminal from reaching the `git add` or `git commit` that keeps the agents'
/// work: the signal is porch's to handle.
pub fn command(dir: &Path) -> Command {
    let mut cmd = Command::new("git");
    cmd.args(GIT_OVERRIDES)
        .arg("-C")
        .arg(dir)
        .stdin(Stdio::null())
        .env("GIT_TERMINAL_PROMPT", "0");
    crate::sys::in_new_session(&mut cmd);
    for var in REPO_ENV_VARS {
        cmd.env_remove(var);
    }
    cmd
}

/// The command as the user could run it again: shown in errors, so quoted like any other.
fn describe(args: &[&str]) -> String {
    format!("git {}", crate::util::quote::command(args))
}

fn output(dir: &Path, args: &[&str]) -> Result<Output, GitError> {
    command(dir)
        .args(args)
        .output()
        .map_err(|err| GitError::spawn(describe(args), &err))
}

/// Runs git and returns its trimmed stdout, or what it printed on stderr when it failed.
pub fn run(dir: &Path, args: &[&str]) -> Result<String, GitError> {
    let out = output(dir, args)?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim_end().to_string())
    } else {
        Err(failure(args, &out))
    }
}

/// Runs git for a yes/no answer: `Ok(true)` on exit 0, `Ok(false)` on exit 1.
fn query(dir: &Path, args: &[&str]) -> Result<bool, GitError> {
    let out = output(dir, args)?;
    match out.status.code() {
        Some(0) => Ok(true),
        Some(1) => Ok(false),
        _ => Err(failure(args, &out)),
    }
}

fn failure(args: &[&str], out: &Output) -> GitError {
    GitError::new(
        describe(args),
        GitErrorKind::Failed {
            status: out.status,
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        },
    )
}

/// The repository porch runs against, found from any directory inside its work tree.
#[derive(Debug, Clone)]
pub struct Repo {
    /// The top of the work tree that REPO is in.
    pub toplevel: PathBuf,
    /// The directory shared by all worktrees (`.git` of the main one): the lock lives here.
    pub common_dir: PathBuf,
    /// The directory name of the main work tree, used to keep two repos' worktrees apart.
    pub name: String,
    /// The commit checked out in REPO.
    pub head: String,
    /// The branch checked out in REPO; `None` on a detached HEAD.
    pub branch: Option<String>,
}

impl Repo {
    pub fn open(dir: &Path) -> Result<Repo, Error> {
        let shown = dir.display();
        let meta = std::fs::metadata(dir).map_err(|err| {
            Error::setup(
                format!("REPO {shown}: {err}"),
                "name a directory inside a git work tree",
            )
        })?;
        if !meta.is_dir() {
            return Err(Error::setup(
                format!("REPO {shown} is a file, not a directory"),
                "name a directory inside a git work tree",
            ));
        }
        // One git call answers everything in the usual case; only a failure needs the slower
        // questions of `why_not_a_repo`, to say precisely what is wrong.
        let answer = run(
            dir,
            &[
                "rev-parse",
                "--is-inside-work-tree",
                "--path-format=absolute",
                "--show-toplevel",
                "--git-common-dir",
                "HEAD",
                "--abbrev-ref",
                "HEAD",
            ],
        );
        let lines: Vec<&str> = answer
            .as_deref()
            .map(|a| a.lines().collect())
            .unwrap_or_default();
        if let [inside, toplevel, common_dir, head, branch] = lines[..]
            && inside == "true"
        {
            return Ok(Repo::new(
                PathBuf::from(toplevel),
                PathBuf::from(common_dir),
                head.to_string(),
                (branch != "HEAD").then(|| branch.to_string()),
            ));
        }
        Err(why_not_a_repo(dir, answer.err()))
    }

    fn new(toplevel: PathBuf, common_dir: PathBuf, head: String, branch: Option<String>) -> Repo {
        // The main work tree is the common dir's parent when it is `<top>/.git`; a REPO inside a
        // linked worktree must still name the repository, not that worktree.
        let main_tree = if common_dir.file_name().is_some_and(|n| n == ".git") {
            common_dir.parent().unwrap_or(&toplevel).to_path_buf()
        } else {
            toplevel.clone()
        };
        let name = main_tree
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| "repo".to_string());
        Repo {
            toplevel,
            common_dir,
            name,
            head,
            branch,
        }
    }

    /// The commit a branch (or any revision) names, or `None` when it names none.
    pub fn resolve_commit(&self, rev: &str) -> Option<String> {
        let spec = format!("{rev}^{{commit}}");
        run(
            &self.toplevel,
            &[
                "rev-parse",
                "--verify",
                "--quiet",
                "--end-of-options",
                &spec,
            ],
        )
        .ok()
    }

    /// The commit a task's `base_branch` names, in this order: the branch `refs/heads/NAME`,
    /// the remote-tracking branch `refs/remotes/NAME` (`origin/main`), then whatever revision
    /// git makes of NAME (a tag, a commit id, `HEAD~2`). git's own order would put a tag before
    /// a branch of the same name. `main` never means `origin/main`: with several remotes that
    /// would be a guess.
    pub fn resolve_base(&self, name: &str) -> Option<String> {
        base_candidates(name)
            .iter()
            .find_map(|rev| self.resolve_commit(rev))
    }

    /// Takes the lock that serialises repository-wide git operations (worktree add, remove,
    /// prune, branch delete) across threads *and* porch processes: concurrent ones race on the
    /// half-written `.git/worktrees/<id>/` entries of each other (see docs/design.md).
    pub fn lock(&self) -> Result<RepoLock, GitError> {
        let path = self.common_dir.join("porch.lock");
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|err| {
                GitError::new(
                    format!("open {}", path.display()),
                    GitErrorKind::Io(err.to_string()),
                )
            })?;
        file.lock().map_err(|err| {
            GitError::new(
                format!("lock {}", path.display()),
                GitErrorKind::Io(err.to_string()),
            )
        })?;
        Ok(RepoLock { _file: file })
    }

    /// Registers a worktree on a new branch under the lock, then checks it out outside it, so the
    /// expensive part (writing the files) runs in parallel. On failure, nothing is left: no
    /// branch, no registry entry, no directory. Returns false, with nothing left either, when
    /// `cancelled` says so once the lock is taken or after the checkout: porch was signalled.
    pub fn add_worktree(
        &self,
        dir: &Path,
        branch: &str,
        base_commit: &str,
        cancelled: &dyn Fn() -> bool,
    ) -> Result<bool, GitError> {
        let dir_str = dir.to_string_lossy();
        {
            let _lock = self.lock()?;
            // Asked again under the lock: a signal that came while this thread waited for it
            // (behind every other task's registration) must not leave a worktree and branch.
            if cancelled() {
                return Ok(false);
            }
            // Claimed under the lock, so that on failure everything at these names is ours to
            // remove: another porch run that got here first keeps its branch and worktree.
            if dir.symlink_metadata().is_ok() {
                return Err(GitError::new(
                    format!("git worktree add {}", crate::util::quote::word(&dir_str)),
                    GitErrorKind::Refused(format!("{dir_str} already exists")),
                )
                .with_note(ANOTHER_RUN));
            }
            // Created here rather than by `worktree add -b`, which starts a `git branch` of its
            // own: the empty old value makes it fail if the branch exists, with nothing to undo.
            let reference = format!("refs/heads/{branch}");
            run(&self.toplevel, &["update-ref", &reference, base_commit, ""])
                .map_err(|err| err.with_note(ANOTHER_RUN))?;
            let added = run(
                &self.toplevel,
                &["worktree", "add", "--no-checkout", "--", &dir_str, branch],
            );
            if let Err(err) = added {
                self.undo_add(dir, branch, base_commit, false);
                return Err(err);
            }
        }
        if let Err(err) = run(dir, &["reset", "--quiet", "--hard"]) {
            self.discard_worktree(dir, branch, base_commit);
            return Err(err);
        }
        if cancelled() {
            self.discard_worktree(dir, branch, base_commit);
            return Ok(false);
        }
        Ok(true)
    }

    /// Removes a worktree `add_worktree` made and its branch, for a task whose session never
    /// started: nothing in them is work. The branch stays if it moved or is checked out
    /// elsewhere (see `undo_add`).
    pub fn discard_worktree(&self, dir: &Path, branch: &str, base_commit: &str) {
        let _lock = self.lock();
        self.undo_add(dir, branch, base_commit, true);
    }

    /// Removes what a failed `add_worktree` may have left, and only that: the names were free
    /// when the lock was taken, but a git process outside porch's lock may have taken them
    /// since. So a directory is removed only if it is ours (`registered`) or holds nothing but
    /// the `.git` file of a half-made worktree, and the branch only if it still points at the
    /// base and no worktree has it checked out. Best effort: the caller reports the original
    /// error, and `porch list` shows anything left.
    fn undo_add(&self, dir: &Path, branch: &str, base_commit: &str, registered: bool) {
        let dir_str = dir.to_string_lossy();
        if registered {
            let _ = run(
                &self.toplevel,
                &["worktree", "remove", "--force", "--", &dir_str],
            );
        } else if is_half_made_worktree(dir) {
            let _ = std::fs::remove_dir_all(dir);
        }
        let _ = run(&self.toplevel, &["worktree", "prune"]);
        let checked_out = self
            .worktrees()
            .map(|list| list.iter().any(|w| w.branch.as_deref() == Some(branch)))
            .unwrap_or(true);
        let reference = format!("refs/heads/{branch}");
        let at_base = self
            .resolve_commit(&reference)
            .is_some_and(|c| c == base_commit);
        if at_base && !checked_out {
            let _ = run(&self.toplevel, &["branch", "-D", "--", branch]);
        }
    }

    /// Makes sure `dir` is a worktree on the existing `branch` (`porch resume`): left as it is
    /// when it is one, registered again (under the lock) when it was removed.
    pub fn reenter_worktree(&self, dir: &Path, branch: &str) -> Result<(), GitError> {
        if worktree_head(dir).is_ok_and(|head| head == format!("ref: refs/heads/{branch}")) {
            return Ok(());
        }
        let dir_text = dir.to_string_lossy();
        let _lock = self.lock()?;
        run(&self.toplevel, &["worktree", "prune"])?;
        run(
            &self.toplevel,
            &["worktree", "add", "--quiet", "--", &dir_text, branch],
        )
        .map(drop)
    }

    /// Points the worktrees at `dirs` and this repository at each other again after the
    /// repository moved (`git worktree repair`), under the lock: until then git finds neither
    /// from the other. git repairs the links of the repository's other worktrees as well.
    pub fn repair_worktrees(&self, dirs: &[&Path]) -> Result<(), GitError> {
        let mut args = vec![
            "worktree".to_string(),
            "repair".to_string(),
            "--".to_string(),
        ];
        args.extend(dirs.iter().map(|dir| dir.to_string_lossy().into_owned()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let _lock = self.lock()?;
        run(&self.toplevel, &args).map(drop)
    }

    /// Removes a worktree whose work is committed. git itself refuses when it holds changes.
    pub fn remove_worktree(&self, dir: &Path) -> Result<(), GitError> {
        let _lock = self.lock()?;
        run(
            &self.toplevel,
            &["worktree", "remove", "--", &dir.to_string_lossy()],
        )
        .map(drop)
    }

    pub fn worktrees(&self) -> Result<Vec<WorktreeEntry>, GitError> {
        let out = output(&self.toplevel, &["worktree", "list", "--porcelain", "-z"])?;
        if !out.status.success() {
            return Err(failure(&["worktree", "list", "--porcelain", "-z"], &out));
        }
        Ok(parse_worktree_list(&String::from_utf8_lossy(&out.stdout)))
    }
}

/// What is wrong with REPO when the one `rev-parse` that opens it failed (`answer`) or said
/// something unexpected: slower questions, asked only now, to say it precisely.
fn why_not_a_repo(dir: &Path, answer: Option<GitError>) -> Error {
    let shown = dir.display();
    let not_repo = |detail: &str| {
        Error::setup(
            format!("REPO {shown} is not inside a git work tree{detail}"),
            "run porch on a git checkout (`git init` and one commit make one)",
        )
    };
    if let Some(err) = &answer
        && err.is_missing()
    {
        return Error::setup(err.reason(), "install git, then run porch again");
    }
    let refusal = answer.as_ref().map(GitError::reason).unwrap_or_default();
    if let Some(owned) = dubious_ownership(&refusal) {
        return Error::setup(
            format!("git refuses to work in {owned}: another user owns the repository"),
            format!(
                "if you trust it, tell git so: {}",
                crate::util::quote::command(&[
                    "git",
                    "config",
                    "--global",
                    "--add",
                    "safe.directory",
                    owned
                ])
            ),
        );
    }
    match run(dir, &["rev-parse", "--is-inside-work-tree"]) {
        Ok(answer) if answer == "true" => {}
        Ok(_) => return not_repo(" (it is a bare repository or a .git directory)"),
        Err(err) => return not_repo(&format!(": {}", err.reason())),
    }
    let toplevel =
        run(dir, &["rev-parse", "--show-toplevel"]).unwrap_or_else(|_| shown.to_string());
    if run(dir, &["rev-parse", "--verify", "--quiet", "HEAD^{commit}"]).is_err() {
        return Error::setup(
            format!("the repository at {toplevel} has no commits yet"),
            "make a first commit (worktrees branch off a commit), then run porch again",
        );
    }
    not_repo(&format!(
        ": {}",
        answer.map_or_else(
            || "git gave an answer porch does not understand".to_string(),
            |e| e.reason()
        )
    ))
}

/// What a base branch name is tried as, in order (see `Repo::resolve_base`).
fn base_candidates(name: &str) -> [String; 3] {
    [
        format!("refs/heads/{name}"),
        format!("refs/remotes/{name}"),
        name.to_string(),
    ]
}

/// The repository git would not open because another user owns it (git's "detected dubious
/// ownership in repository at 'DIR'"), as git names it.
fn dubious_ownership(stderr: &str) -> Option<&str> {
    let rest = stderr
        .split("detected dubious ownership in repository at '")
        .nth(1)?;
    // The line ends with the quote: a `'` inside the path is not its end.
    rest.lines().next()?.strip_suffix('\'')
}

/// An empty directory, or one holding only the `.git` file `git worktree add` writes first.
pub fn is_half_made_worktree(dir: &Path) -> bool {
    match std::fs::read_dir(dir) {
        Ok(entries) => entries
            .flatten()
            .all(|e| e.file_name() == ".git" && e.path().is_file()),
        Err(_) => false,
    }
}

pub struct RepoLock {
    _file: File,
}

#[derive(Debug, Default, Clone, PartialEq)]
pub struct WorktreeEntry {
    pub path: PathBuf,
    pub head: Option<String>,
    /// Short name, without `refs/heads/`.
    pub branch: Option<String>,
    pub bare: bool,
    pub prunable: bool,
}

fn parse_worktree_list(text: &str) -> Vec<WorktreeEntry> {
    let mut entries = Vec::new();
    let mut current: Option<WorktreeEntry> = None;
    for field in text.split('\0') {
        if field.is_empty() {
            if let Some(entry) = current.take() {
                entries.push(entry);
            }
            continue;
        }
        let (key, value) = field.split_once(' ').unwrap_or((field, ""));
        if key == "worktree" {
            if let Some(entry) = current.take() {
                entries.push(entry);
            }
            current = Some(WorktreeEntry {
                path: PathBuf::from(value),
                ..Default::default()
            });
            continue;
        }
        let Some(entry) = current.as_mut() else {
            continue;
        };
        match key {
            "HEAD" => entry.head = Some(value.to_string()),
            "branch" => {
                entry.branch = Some(
                    value
                        .strip_prefix("refs/heads/")
                        .unwrap_or(value)
                        .to_string(),
                )
            }
            "bare" => entry.bare = true,
            "prunable" => entry.prunable = true,
            _ => {}
        }
    }
    entries.extend(current);
    entries
}

/// What a linked worktree's HEAD holds: `ref: refs/heads/NAME`, or a commit id when detached.
/// Read from the files git keeps, not by starting git: it is asked once per task.
pub fn worktree_head(dir: &Path) -> Result<String, GitError> {
    let admin = admin_dir(dir, "read the HEAD of")?;
    std::fs::read_to_string(admin.join("HEAD"))
        .map(|h| h.trim().to_string())
        .map_err(|e| {
            GitError::new(
                format!("read the HEAD of {}", dir.display()),
                GitErrorKind::Io(e.to_string()),
            )
        })
}

/// A linked worktree's own git directory (`<common dir>/worktrees/<id>`), from its `.git` file.
/// `doing` says what porch was about, for the error.
fn admin_dir(dir: &Path, doing: &str) -> Result<PathBuf, GitError> {
    let fail = |message: String| {
        GitError::new(
            format!("{doing} {}", dir.display()),
            GitErrorKind::Io(message),
        )
    };
    let dot_git = std::fs::read_to_string(dir.join(".git")).map_err(|e| fail(e.to_string()))?;
    let admin = dot_git
        .trim()
        .strip_prefix("gitdir: ")
        .ok_or_else(|| fail(format!("{}/.git is not a worktree link", dir.display())))?;
    let admin = Path::new(admin);
    Ok(if admin.is_absolute() {
        admin.to_path_buf()
    } else {
        dir.join(admin)
    })
}

/// Removes the `index.lock` in the worktree's own git directory, if there is one; returns
/// whether there was. git's lock is the file's existence, so one left by a killed git (a
/// session ended while its `git add` ran) makes every later git command there fail. Only for a
/// caller who knows that no process that could hold it is left.
pub fn remove_stale_index_lock(dir: &Path) -> Result<bool, GitError> {
    let lock = admin_dir(dir, "find the index lock of")?.join("index.lock");
    match std::fs::remove_file(&lock) {
        Ok(()) => Ok(true),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(err) => Err(GitError::new(
            format!("remove {}", lock.display()),
            GitErrorKind::Io(err.to_string()),
        )),
    }
}

/// Does the worktree hold changes git would commit (tracked or new, not ignored)?
pub fn is_dirty(dir: &Path) -> Result<bool, GitError> {
    run(dir, &["status", "--porcelain", "--untracked-files=all"]).map(|s| !s.is_empty())
}

/// Who commits the agent's work: the repository's identity where it has one, porch's otherwise,
/// so a commit works on a server where nobody configured git. As `-c key=value` arguments.
pub fn identity_overrides(dir: &Path) -> Vec<String> {
    let args = ["config", "--get-regexp", r"^user\.(name|email)$"];
    let configured = output(dir, &args)
        .map(|out| String::from_utf8_lossy(&out.stdout).into_owned())
        .unwrap_or_default();
    let mut overrides = Vec::new();
    for (key, fallback) in [("user.name", "porch"), ("user.email", "porch@localhost")] {
        let has = configured.lines().any(|l| {
            l.split_once(' ')
                .is_some_and(|(k, v)| k == key && !v.trim().is_empty())
        });
        if !has {
            overrides.push("-c".to_string());
            overrides.push(format!("{key}={fallback}"));
        }
    }
    overrides
}

/// Stages everything the worktree holds (honouring `.gitignore`). In a sparse checkout, work
/// outside the sparse-checkout definition is staged too (`--sparse`; without it `add --all`
/// fails and nothing is committed, not even the work inside); files the checkout leaves out
/// stay as they are, not deleted. `--sparse` only where the worktree is sparse: git before 2.34
/// does not know it.
fn stage_all(dir: &Path, leave_out: &[&str]) -> Result<(), GitError> {
    let mut add = vec!["add", "--all"];
    let sparse = run(dir, &["config", "--type=bool", "core.sparseCheckout"]);
    if sparse.is_ok_and(|value| value == "true") {
        add.push("--sparse");
    }
    let excludes: Vec<String> = leave_out
        .iter()
        .map(|path| format!(":(exclude,literal){path}"))
        .collect();
    if !excludes.is_empty() {
        add.extend(["--", "."]);
        add.extend(excludes.iter().map(String::as_str));
    }
    run(dir, &add).map(drop)
}

/// Commits everything the worktree holds (honouring `.gitignore`). Returns whether there was
/// anything to commit. No hook runs (see `command`) and signing is off: the point is that the
/// agent's work is never left behind because of a lint hook or a missing key on a server.
/// `leave_out` names paths (relative to `dir`) not to add: repositories whose link would point
/// at nothing (`unsaved::nested_repositories`).
pub fn commit_all(
    dir: &Path,
    message: &str,
    identity: &[String],
    leave_out: &[&str],
) -> Result<bool, GitError> {
    stage_all(dir, leave_out)?;
    let mut args: Vec<String> = identity.to_vec();
    args.extend(
        [
            "-c",
            "commit.gpgsign=false",
            "commit",
            "--quiet",
            "--no-verify",
            "--file",
            "-",
        ]
        .map(String::from),
    );
    let mut child = command(dir)
        .args(&args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|err| GitError::spawn("git commit", &err))?;
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(message.as_bytes());
    }
    let out = child
        .wait_with_output()
        .map_err(|err| GitError::new("git commit", GitErrorKind::Io(err.to_string())))?;
    if out.status.success() {
        return Ok(true);
    }
    // Asked only now, since most sessions change something: one git call fewer per task.
    if query(dir, &["diff", "--cached", "--quiet"])? {
        return Ok(false);
    }
    let arg_refs: Vec<&str> = args.iter().map(String::as_str).collect();
    Err(failure(&arg_refs, &out))
}

/// Records everything the worktree holds (commits the agent made, changes it did not commit)
/// as a commit under `reference`, without moving the branch. Returns false when the worktree
/// holds nothing beyond `base_commit`.
pub fn snapshot(
    dir: &Path,
    base_commit: &str,
    reference: &str,
    message: &str,
    identity: &[String],
    leave_out: &[&str],
) -> Result<bool, GitError> {
    stage_all(dir, leave_out)?;
    let head = run(dir, &["rev-parse", "HEAD"])?;
    let staged = !query(dir, &["diff", "--cached", "--quiet"])?;
    let commit = if staged {
        let tree = run(dir, &["write-tree"])?;
        let mut args = identity.to_vec();
        args.extend(
            [
                "commit-tree",
                tree.as_str(),
                "-p",
                head.as_str(),
                "-m",
                message.trim_end(),
            ]
            .map(String::from),
        );
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        run(dir, &refs)?
    } else {
        head
    };
    if commit == base_commit {
        return Ok(false);
    }
    // The empty old value makes git refuse to replace a ref that exists: an earlier run's
    // saved attempt is never overwritten.
    run(dir, &["update-ref", reference, &commit, ""])?;
    Ok(true)
}

/// Puts the worktree back on `branch`, reset to `commit`, and removes new files (ignored ones
/// stay: build caches are not work). `checkout -B`, not `reset`: if the session switched to
/// another branch, that branch must not be rewound.
pub fn restart_branch(dir: &Path, branch: &str, commit: &str) -> Result<(), GitError> {
    run(
        dir,
        &[
            "checkout",
            "--quiet",
            "--force",
            "--no-track",
            "-B",
            branch,
            commit,
            "--",
        ],
    )?;
    run(dir, &["clean", "-fdq"]).map(drop)
}

#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct DiffStats {
    pub commits: u64,
    pub files_changed: u64,
    pub insertions: u64,
    pub deletions: u64,
}

/// What `branch` holds that `base_commit` does not.
pub fn diff_stats(dir: &Path, base_commit: &str, branch: &str) -> Result<DiffStats, GitError> {
    let range = format!("{base_commit}..refs/heads/{branch}");
    let commits = run(dir, &["rev-list", "--count", &range, "--"])?
        .trim()
        .parse()
        .unwrap_or(0);
    let numstat = run(
        dir,
        &[
            "diff",
            "--numstat",
            "--no-renames",
            base_commit,
            &format!("refs/heads/{branch}"),
            "--",
        ],
    )?;
    let mut stats = DiffStats {
        commits,
        ..DiffStats::default()
    };
    for line in numstat.lines() {
        let mut fields = line.splitn(3, '\t');
        let (Some(added), Some(removed)) = (fields.next(), fields.next()) else {
            continue;
        };
        stats.files_changed += 1;
        // Binary files show "-": they count as changed files with no lines.
        stats.insertions += added.parse::<u64>().unwrap_or(0);
        stats.deletions += removed.parse::<u64>().unwrap_or(0);
    }
    Ok(stats)
}

/// `git diff --stat` of a task's branch against its base, as a person reads it; empty when the
/// branch changes nothing, an error when the branch or the base is gone.
pub fn diff_stat_text(dir: &Path, base_commit: &str, branch: &str) -> Result<String, GitError> {
    let branch = format!("refs/heads/{branch}");
    run(
        dir,
        &[
            "diff",
            "--stat=100",
            "--no-color",
            base_commit,
            &branch,
            "--",
        ],
    )
}

/// git's version as (major, minor), from `git --version`; none when it cannot be told.
pub fn version(dir: &Path) -> Option<(u32, u32)> {
    let text = run(dir, &["--version"]).ok()?;
    parse_version(&text)
}

/// `git version 2.47.3` (or `2.39.5 (Apple Git-154)`) as (2, 47).
fn parse_version(text: &str) -> Option<(u32, u32)> {
    let number = text
        .strip_prefix("git version ")?
        .split_whitespace()
        .next()?;
    let mut parts = number.split('.');
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    Some((major, minor))
}

/// The first git whose `merge-tree --write-tree` merges two branches without a work tree.
pub const MERGE_TREE_VERSION: (u32, u32) = (2, 38);

/// Every path `branch` changes against `base_commit`, both sides of a rename included, as git
/// spells them (NUL-separated, so that no name is quoted or split).
pub fn changed_paths(dir: &Path, base_commit: &str, branch: &str) -> Result<Vec<String>, GitError> {
    let head = format!("refs/heads/{branch}");
    let args = [
        "diff",
        "--name-only",
        "-z",
        "--no-renames",
        base_commit,
        head.as_str(),
        "--",
    ];
    let out = output(dir, &args)?;
    if !out.status.success() {
        return Err(failure(&args, &out));
    }
    Ok(nul_separated(&out.stdout).collect())
}

/// How a commit holds a path.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Tracked {
    File,
    Link,
    Directory,
    Submodule,
}

/// What `commit` holds at each of `paths` (relative to the repository's root) that it holds
/// anything at, as git spells the path. One `ls-tree` for all of them, without `-r`: each path
/// is found as itself (a directory as one entry, not its files), and a submodule's mode is
/// read from the tree without asking for its commit, which this repository may not have.
pub fn tracked_at(
    dir: &Path,
    commit: &str,
    paths: &[String],
) -> Result<Vec<(String, Tracked)>, GitError> {
    let mut args = vec!["ls-tree", "-z", "--full-tree", commit, "--"];
    args.extend(paths.iter().map(String::as_str));
    let out = output(dir, &args)?;
    if !out.status.success() {
        return Err(failure(&args, &out));
    }
    // Each entry: `MODE TYPE OBJECT<TAB>PATH`.
    let entries = nul_separated(&out.stdout).filter_map(|entry| {
        let (meta, path) = entry.split_once('\t')?;
        let kind = match meta.split(' ').next()? {
            "040000" => Tracked::Directory,
            "120000" => Tracked::Link,
            "160000" => Tracked::Submodule,
            _ => Tracked::File,
        };
        Some((path.to_string(), kind))
    });
    Ok(entries.collect())
}

/// The commit `branch` started from, found in its history when nothing recorded it: the
/// parent of the first commit only `branch` has, against the branches it was made from
/// (`from`). Made from several, it starts at porch's merge of them, which is that first
/// commit itself. With no commit of its own, its tip. None when git cannot say.
pub fn branch_start(dir: &Path, branch: &str, from: &[&str]) -> Option<String> {
    let head = format!("refs/heads/{branch}");
    let mut args = vec![
        "rev-list",
        "--topo-order",
        "--reverse",
        "--parents",
        &head,
        "--not",
    ];
    args.extend(from);
    args.push("--");
    let own = run(dir, &args).ok()?;
    let Some(first) = own.lines().next() else {
        return run(dir, &["rev-parse", "--verify", "--quiet", &head]).ok();
    };
    let mut ids = first.split(' ');
    let commit = ids.next()?;
    let parents: Vec<&str> = ids.collect();
    if from.len() > 1 && parents.len() > 1 {
        Some(commit.to_string())
    } else {
        parents.first().map(|parent| parent.to_string())
    }
}

/// What `to` changes against `from`, as (git's status letter, path): `A` a path `from` has
/// not, `D` one `to` has not, `M` and `T` one both have. Renames are an `A` and a `D`.
pub fn tree_changes(dir: &Path, from: &str, to: &str) -> Result<Vec<(char, String)>, GitError> {
    let args = [
        "diff",
        "--name-status",
        "-z",
        "--no-renames",
        from,
        to,
        "--",
    ];
    let out = output(dir, &args)?;
    if !out.status.success() {
        return Err(failure(&args, &out));
    }
    let fields: Vec<String> = nul_separated(&out.stdout).collect();
    Ok(fields
        .chunks(2)
        .filter_map(|pair| match pair {
            [status, path] => Some((status.chars().next()?, path.clone())),
            _ => None,
        })
        .collect())
}

/// The paths that conflict when the branches `a` and `b` are merged, from their merge base;
/// empty when they merge cleanly. git merges in memory (`merge-tree --write-tree`, git 2.38
/// and later): no work tree, index or ref is touched.
/// Whether branch `a`'s commit is in branch `b`'s history (`b` was built on `a`).
pub fn branch_contains(dir: &Path, b: &str, a: &str) -> Result<bool, GitError> {
    let (a, b) = (format!("refs/heads/{a}"), format!("refs/heads/{b}"));
    query(dir, &["merge-base", "--is-ancestor", &a, &b])
}

pub fn merge_conflicts(dir: &Path, a: &str, b: &str) -> Result<Vec<String>, GitError> {
    let (a, b) = (format!("refs/heads/{a}"), format!("refs/heads/{b}"));
    let args = [
        "merge-tree",
        "--write-tree",
        "--name-only",
        "--no-messages",
        "-z",
        a.as_str(),
        b.as_str(),
    ];
    let out = output(dir, &args)?;
    match out.status.code() {
        Some(0) => Ok(Vec::new()),
        // The tree's id first, then each conflicting path.
        Some(1) => {
            let mut paths: Vec<String> = nul_separated(&out.stdout).skip(1).collect();
            paths.dedup();
            Ok(paths)
        }
        _ => Err(failure(&args, &out)),
    }
}

/// The non-empty NUL-separated fields of git's `-z` output (a name that is not UTF-8 with
/// U+FFFD for what is not).
fn nul_separated(bytes: &[u8]) -> impl Iterator<Item = String> {
    bytes
        .split(|&b| b == 0)
        .filter(|field| !field.is_empty())
        .map(|field| String::from_utf8_lossy(field).into_owned())
}

/// Where the merged base of a task with several dependencies lives until its branch holds it.
pub const BASES_REFS: &str = "refs/porch/bases";

/// What merging several commits gave.
#[derive(Debug, Clone, PartialEq)]
pub enum Merged {
    /// A merge commit with every commit as a parent, in order.
    Commit(String),
    /// Merging commit number `at` into those before it conflicts in these files.
    Conflict { at: usize, files: Vec<String> },
}

/// Merges `commits` (two or more) without touching any branch, index or work tree: `git
/// merge-tree` merges the trees, `commit-tree` makes the commits, and the last, with every
/// commit as a parent, is kept under `reference` (never a user's branch) until the caller
/// removes it: an object no ref names could be pruned before the task's branch holds it.
pub fn merge_commits(
    dir: &Path,
    commits: &[&str],
    reference: &str,
    message: &str,
    identity: &[String],
) -> Result<Merged, GitError> {
    let Some((first, rest)) = commits.split_first() else {
        return Ok(Merged::Commit(String::new()));
    };
    let mut merged = first.to_string();
    let mut tree = String::new();
    for (done, next) in rest.iter().enumerate() {
        let args = [
            "merge-tree",
            "--write-tree",
            "--name-only",
            "--no-messages",
            "-z",
            merged.as_str(),
            next,
        ];
        let out = output(dir, &args)?;
        // The tree's id first, then each conflicting path.
        let mut fields = nul_separated(&out.stdout);
        tree = fields.next().unwrap_or_default();
        match out.status.code() {
            Some(0) => {}
            Some(1) => {
                let mut files: Vec<String> = fields.collect();
                files.dedup();
                let at = done + 1;
                return Ok(Merged::Conflict { at, files });
            }
            _ => return Err(failure(&args, &out)),
        }
        // The next commit is merged into one holding everything so far.
        if done + 1 < rest.len() {
            merged = commit_tree(dir, &tree, &[merged.as_str(), next], message, identity)?;
        }
    }
    let commit = commit_tree(dir, &tree, commits, message, identity)?;
    run(dir, &["update-ref", reference, &commit])?;
    Ok(Merged::Commit(commit))
}

fn commit_tree(
    dir: &Path,
    tree: &str,
    parents: &[&str],
    message: &str,
    identity: &[String],
) -> Result<String, GitError> {
    let mut args: Vec<String> = identity.to_vec();
    // Unsigned, as porch's commits of the agents' work: a missing key must not stop a task.
    args.extend(["commit-tree", "--no-gpg-sign", tree].map(String::from));
    for parent in parents {
        args.extend(["-p".to_string(), parent.to_string()]);
    }
    args.extend(["-m".to_string(), message.trim_end().to_string()]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    run(dir, &args)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gits_version_is_read_as_major_and_minor() {
        // (what `git --version` prints, what porch reads)
        let cases = [
            ("git version 2.47.3", Some((2, 47))),
            ("git version 2.39.5 (Apple Git-154)", Some((2, 39))),
            ("git version 2.38.0.windows.1", Some((2, 38))),
            ("git version 3.0", Some((3, 0))),
            ("hub version 2.14", None),
            ("git version two", None),
        ];
        for (text, expected) in cases {
            assert_eq!(parse_version(text), expected, "{text}");
        }
    }
    use std::os::unix::process::ExitStatusExt;

    fn exited(code: i32) -> ExitStatus {
        ExitStatus::from_raw(code << 8)
    }

    #[test]
    fn a_repository_of_another_user_is_told_apart() {
        let said = |dir: &str| {
            format!(
                "fatal: detected dubious ownership in repository at '{dir}'\n\
                 To add an exception for this directory, call:\n\n\
                 \tgit config --global --add safe.directory {dir}"
            )
        };
        // (what git said, the repository it refused, the rule)
        let cases = [
            (
                said("/srv/shop"),
                Some("/srv/shop"),
                "git names the repository",
            ),
            (
                said("/srv/it's"),
                Some("/srv/it's"),
                "a quote in the path is part of it",
            ),
            (
                "fatal: not a git repository (or any of the parent directories): .git".to_string(),
                None,
                "any other failure is not about ownership",
            ),
        ];
        for (stderr, owned, rule) in cases {
            assert_eq!(dubious_ownership(&stderr), owned, "{rule}");
        }
    }

    #[test]
    fn a_git_error_says_what_ran_and_why_it_failed() {
        use GitErrorKind::*;
        let missing = |not_found| Missing {
            not_found,
            detail: "Permission denied (os error 13)".into(),
        };
        let failed = |stderr: &str| Failed {
            status: exited(128),
            stderr: stderr.into(),
        };
        let rows = [
            (missing(true), "git is not installed or not on PATH", true),
            (missing(false), "Permission denied (os error 13)", true),
            (
                failed("fatal: bad revision\n"),
                "fatal: bad revision",
                false,
            ),
            (failed("  \n"), "exited with exit status: 128", false),
            (Io("Is a directory".into()), "Is a directory", false),
            (
                Refused("/w/x already exists".into()),
                "/w/x already exists",
                false,
            ),
        ];
        for (kind, reason, is_missing) in rows {
            let err = GitError::new("git status", kind);
            assert_eq!(err.reason(), reason);
            assert_eq!(err.to_string(), format!("`git status` failed: {reason}"));
            assert_eq!(err.is_missing(), is_missing, "{err}");
        }
    }

    #[test]
    fn a_note_follows_the_reason() {
        let err = GitError::new(
            "git update-ref refs/heads/task/x",
            GitErrorKind::Failed {
                status: exited(1),
                stderr: "fatal: reference already exists".into(),
            },
        )
        .with_note(ANOTHER_RUN);
        assert_eq!(
            err.to_string(),
            "`git update-ref refs/heads/task/x` failed: fatal: reference already exists \
             (another porch run on this repository?)"
        );
    }

    #[test]
    fn git_that_cannot_be_started_is_missing_and_nothing_else_is() {
        use std::io::{Error, ErrorKind};
        let rows = [
            (ErrorKind::NotFound, true),
            (ErrorKind::PermissionDenied, true),
            (ErrorKind::OutOfMemory, false),
            (ErrorKind::Interrupted, false),
        ];
        for (kind, missing) in rows {
            let err = GitError::spawn("git status", &Error::from(kind));
            assert_eq!(err.is_missing(), missing, "{kind:?}");
        }
    }

    /// A base name → the revisions tried for it, first match wins.
    #[test]
    fn a_base_is_a_branch_first_then_a_remote_tracking_branch_then_any_revision() {
        let rows = [
            ("main", ["refs/heads/main", "refs/remotes/main", "main"]),
            (
                "origin/dev",
                [
                    "refs/heads/origin/dev",
                    "refs/remotes/origin/dev",
                    "origin/dev",
                ],
            ),
            ("v1.0", ["refs/heads/v1.0", "refs/remotes/v1.0", "v1.0"]),
        ];
        for (name, tried) in rows {
            assert_eq!(base_candidates(name), tried.map(String::from), "{name}");
        }
    }

    #[test]
    fn worktree_list_porcelain() {
        let text = "worktree /r\0HEAD abc\0branch refs/heads/main\0\0worktree /w/x\0HEAD def\0branch refs/heads/task/x\0prunable gitdir file points to non-existent location\0\0worktree /w/y\0HEAD 123\0detached\0\0";
        let entries = parse_worktree_list(text);
        assert_eq!(entries.len(), 3);
        assert_eq!(entries[0].branch.as_deref(), Some("main"));
        assert_eq!(entries[1].branch.as_deref(), Some("task/x"));
        assert!(entries[1].prunable);
        assert_eq!(entries[2].branch, None);
        assert_eq!(entries[2].head.as_deref(), Some("123"));
    }
}
