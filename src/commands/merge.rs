//! `porch merge`: a run's succeeded branches merged into one branch as a queue, dependencies
//! before their dependants and then in tasks-file order, each with a `--no-ff` merge commit
//! naming its task, in a worktree of porch's own so the user's checkout is never touched. A
//! branch that conflicts is skipped and named, or handed to a resolver session (`--resolve`);
//! one whose merge fails the check is backed out; the others go on (a check that fails on the
//! start already merges nothing: no branch is to blame). What happened is recorded with the run.

use std::collections::{BTreeSet, HashSet};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::SystemTime;

use crossbeam_channel::Sender;
use serde_json::Value;

use crate::agent;
use crate::engine::merge_queue;
use crate::engine::merge_queue::CheckFailure;
use crate::engine::merge_queue::DEFAULT_CHECK_LIMIT;
use crate::engine::resolver;
use crate::engine::resolver::Conflict;
use crate::engine::resolver::Resolution;
use crate::engine::resolver::Resolver;
use crate::engine::resolver::Side;
use crate::error::Error;
use crate::git;
use crate::git::Repo;
use crate::output::printer;
use crate::output::printer::Look;
use crate::output::printer::Message;
use crate::output::printer::Show;
use crate::preflight::Environment;
use crate::preflight::options::MergeArgs;
use crate::preflight::recorded::RecordedSettings;
use crate::preflight::stored_task_file;
use crate::preflight::taskfile::TaskFile;
use crate::process::groups;
use crate::process::shutdown;
use crate::results::BackedOutBranch;
use crate::results::BaseCheckFailure;
use crate::results::MergeRecord;
use crate::results::MergedBranch;
use crate::results::ResolvedBranch;
use crate::results::SkippedBranch;
use crate::state::StateDir;
use crate::state::runs::Location;
use crate::state::runs::StoredRun;
use crate::state::runs::StoredTask;
use crate::sys::spawn::on_path;
use crate::task::plan::Task;
use crate::task::unsaved;
use crate::util::clip;
use crate::util::quote;
use crate::util::timestamp;

/// Where a new merge branch goes: `porch/merge/<run id>`.
pub const MERGE_BRANCH_PREFIX: &str = "porch/merge/";

pub fn merge(args: &MergeArgs) -> Result<ExitCode, Error> {
    let holder = format!("porch merge (pid {})", std::process::id());
    let hint = "wait for it to end (`porch status` shows its tasks), then merge: its branches are still being written";
    // Held to the end: nothing resumes or cleans the run while its branches are merged, and
    // the merge is recorded in its results.
    let (location, _lock, run) = args.choice.claim(&holder, hint)?;
    let repo = &location.repo;
    let picked = merge_candidates(&run, &args.tasks)?;
    let setup = QueueSetup::read(args, &location, &run)?;
    let target = Target::choose(repo, &run, picked[0], args.into.as_deref())?;
    let scratch = Scratch::create(repo, &location.state, &run.id, &target.start)?;
    if setup.check.is_some() || setup.resolver.is_some() {
        // Caught from here to the end: a check or resolver porch ends is reported as such.
        shutdown::install();
    }
    if let Err(failure) = setup.check_base(&scratch, &target) {
        scratch.remove(repo);
        return red_base(args, &location, &run, &target, &failure);
    }
    let outcomes = setup.run_queue(&scratch, &location.state, &run, &picked)?;
    let merged = outcomes.iter().any(|(_, o)| o.changed());
    if merged && let Err(refused) = target.refuse_replacing(&scratch) {
        scratch.remove(repo);
        return Err(refused);
    }
    let finished =
        merged.then(|| (scratch.head()).and_then(|head| target.finish(repo, &head).map(|()| head)));
    scratch.remove(repo);
    let commit = finished.as_ref().and_then(|f| f.as_ref().ok().cloned());
    let outcomes = match &finished {
        // The merge commits are on no branch: the record says what the branch holds.
        Some(Err(err)) => not_put_on(&target.branch, err, outcomes),
        _ => outcomes,
    };
    let record = record(&target, &outcomes, commit);
    store(&location, &run, &record)?;
    let mut printed = true;
    if args.json {
        printed = print_json(&record, &run);
    } else {
        let report = render(&run, &target, &outcomes, &repo.toplevel);
        crate::sys::console::print_stdout(&report);
    }
    if let Some(Err(err)) = finished {
        crate::sys::console::print_stderr(&format!(
            "porch: error: the merged result could not be put on {}: {err}\nhint: the task branches are unchanged; run `porch merge` again (with --into, once the branch is where it was)\n",
            target.branch
        ));
        return Ok(ExitCode::from(1));
    }
    let all_in = outcomes.iter().all(|(_, o)| o.is_in());
    Ok(if all_in && printed {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// `--json`'s document on stdout; false when stdout did not take it all.
fn print_json(record: &MergeRecord, run: &StoredRun) -> bool {
    let mut json = serde_json::to_string_pretty(record).expect("JSON serialises");
    json.push('\n');
    let kept = format!(
        "the merge is recorded with the run: its results' `merge` field, in {}",
        run.path.display()
    );
    crate::sys::console::print_json(&json, &kept)
}

/// The check failed on the start, before any merge: no branch is to blame, so none is
/// merged. Recorded with the run, said on stderr; exit 1.
fn red_base(
    args: &MergeArgs,
    location: &Location,
    run: &StoredRun,
    target: &Target,
    failure: &CheckFailure,
) -> Result<ExitCode, Error> {
    let reason = if failure.interrupted.is_some() {
        format!(
            "the check did not finish on the start of the merge ({}), before any branch was merged ({})",
            target.start_name,
            failure_detail(failure)
        )
    } else {
        format!(
            "the check fails on the start of the merge ({}), before any branch is merged ({})",
            target.start_name,
            failure_detail(failure)
        )
    };
    let record = MergeRecord {
        branch: target.branch.clone(),
        commit: None,
        ended_at: timestamp::rfc3339(SystemTime::now()),
        base_check_failure: Some(BaseCheckFailure {
            reason: reason.clone(),
            check_exit: failure.exit_code,
            last_lines: failure.last_lines.clone(),
        }),
        ..MergeRecord::default()
    };
    store(location, run, &record)?;
    if args.json {
        print_json(&record, run);
    }
    let unchanged = if target.existing {
        format!("{} is unchanged", target.branch)
    } else {
        format!("{} was not made", target.branch)
    };
    let without = if args.check.is_some() {
        "leave --check out"
    } else {
        "--check CMD runs another check instead of the tasks file's merge_check"
    };
    crate::sys::console::print_stderr(&format!(
        "porch: error: {reason}\nhint: nothing was merged and {unchanged}: while the check fails without any branch, porch cannot tell which branch breaks it. Fix the base (or the check) and merge again, or merge without this check ({without})\n"
    ));
    Ok(ExitCode::from(1))
}

/// The outcomes of a merge whose result no branch holds: what was merged is skipped.
fn not_put_on<'r>(
    branch: &str,
    err: &git::GitError,
    outcomes: Vec<(&'r StoredTask, Outcome)>,
) -> Vec<(&'r StoredTask, Outcome)> {
    let reason = format!("merged, but the result could not be put on {branch}: {err}");
    (outcomes.into_iter())
        .map(|(task, outcome)| {
            let outcome = match outcome {
                Outcome::Merged(_) => Outcome::skipped(reason.clone()),
                Outcome::Resolved {
                    files, resolution, ..
                } => Outcome::Skipped {
                    reason: reason.clone(),
                    files,
                    resolution: Some(resolution),
                },
                other => other,
            };
            (task, outcome)
        })
        .collect()
}

/// The tasks to merge, in the order they are merged (dependencies first, then tasks-file
/// order): every succeeded one (of a repeat group, only the winner), or the ones named (a
/// group's name means its winner). The one place that decides which tasks `porch merge` takes.
fn merge_candidates<'r>(
    run: &'r StoredRun,
    names: &[String],
) -> Result<Vec<&'r StoredTask>, Error> {
    let tasks = &run.results.tasks;
    let chosen: Vec<&StoredTask> = if names.is_empty() {
        tasks.iter().filter(|t| t.merged_unnamed()).collect()
    } else {
        for name in names {
            named_task(run, name)?;
        }
        tasks
            .iter()
            .filter(|t| {
                names.iter().any(|n| {
                    *n == t.name || (t.group.as_deref() == Some(n) && t.winner == Some(true))
                })
            })
            .collect()
    };
    let unapproved: Vec<&str> = (tasks.iter())
        .filter(|t| t.succeeded() && !crate::results::approved_or_unreviewed(t))
        // A review skipped for an empty branch refused nothing: there was nothing to merge.
        .filter(|t| t.review.as_ref().is_none_or(|r| r.skipped.is_none()))
        .map(|t| t.name.as_str())
        .collect();
    if chosen.is_empty() && !unapproved.is_empty() {
        return Err(Error::setup(
            format!(
                "run {} has no task to merge: they succeeded, but no reviewer approved {}",
                run.id,
                unapproved.join(", ")
            ),
            format!(
                "name one to merge it anyway, as in `porch merge {}` (with the --run and REPO you gave)",
                unapproved[0]
            ),
        ));
    }
    if chosen.is_empty() {
        return Err(Error::setup(
            format!("run {} has no succeeded task to merge", run.id),
            "`porch status` shows what each task did; `porch resume` re-runs what failed",
        ));
    }
    let order = merge_queue::queue_order(&chosen);
    Ok(order.into_iter().map(|i| chosen[i]).collect())
}

/// A name given on the command line: a succeeded task, or a repeat group with a winner.
fn named_task<'r>(run: &'r StoredRun, name: &str) -> Result<&'r StoredTask, Error> {
    let tasks = &run.results.tasks;
    if let Some(task) = tasks.iter().find(|t| t.name == name) {
        if !task.succeeded() {
            return Err(Error::usage(format!(
                "task `{name}` of run {} did not succeed ({}), so porch does not merge it",
                run.id, task.status
            ))
            .with_hint(format!(
                "merge its branch yourself if you want it: git merge {}",
                task.branch
            )));
        }
        return Ok(task);
    }
    let group: Vec<&StoredTask> = tasks
        .iter()
        .filter(|t| t.group.as_deref() == Some(name))
        .collect();
    if group.is_empty() {
        run.task(name)?;
    }
    group
        .into_iter()
        .find(|t| t.winner == Some(true))
        .ok_or_else(|| {
            Error::usage(format!(
                "no attempt of the repeated task `{name}` succeeded, so it has no winner to merge"
            ))
            .with_hint("`porch status` shows each attempt; name one to merge it anyway")
        })
}

/// Refuses a `merge_check` whose program is a name that PATH does not hold: it could start
/// after no merge, and each branch would be backed out for it.
fn refuse_missing_program(program: &str, run: &StoredRun) -> Result<(), Error> {
    if program.contains('/') {
        // A path may name a file of the merged work (`./test.sh`), there only once merged.
        return Ok(());
    }
    let path = Environment::from_process().path.unwrap_or_default();
    if on_path(std::ffi::OsStr::new(program), Some(&path)).is_some() {
        return Ok(());
    }
    Err(Error::usage(format!(
        "{}: field `merge_check`: the program `{program}` is not on PATH",
        run.results
            .tasks_file
            .as_deref()
            .unwrap_or("the run's tasks file")
    ))
    .with_hint(
        "install it or fix the name (nothing was merged); or give the check with --check CMD",
    ))
}

/// The branch the merges end up on.
struct Target {
    branch: String,
    /// The commit the merges start from.
    start: String,
    /// How to show the start in `git log START..BRANCH`.
    start_name: String,
    /// An existing branch (`--into`): moved at the end, from `start` only.
    existing: bool,
    /// A worktree where the existing branch is checked out (clean): fast-forwarded at the end.
    checked_out_in: Option<PathBuf>,
}

impl Target {
    fn choose(
        repo: &Repo,
        run: &StoredRun,
        first: &StoredTask,
        into: Option<&str>,
    ) -> Result<Target, Error> {
        let Some(branch) = into else {
            let branch = format!("{MERGE_BRANCH_PREFIX}{}", run.id);
            if repo
                .resolve_commit(&format!("refs/heads/{branch}"))
                .is_some()
            {
                return Err(Error::setup(
                    format!(
                        "the branch {branch} exists: run {} was merged before",
                        run.id
                    ),
                    format!(
                        "look at it, then delete it ({}) to merge again, or add to it with --into {}",
                        quote::command(&["git", "branch", "-D", &branch]),
                        quote::word(&branch)
                    ),
                ));
            }
            // `task/a + task/b` (several dependencies) names no revision; the commit does.
            let no_revision = first.base_branch.is_empty()
                || first.base_branch == "HEAD"
                || first.base_branch.contains(' ');
            let start_name = if no_revision {
                clip::short_commit(&first.base_commit).to_string()
            } else {
                first.base_branch.clone()
            };
            return Ok(Target {
                branch,
                start: first.base_commit.clone(),
                start_name,
                existing: false,
                checked_out_in: None,
            });
        };
        let Some(start) = repo.resolve_commit(&format!("refs/heads/{branch}")) else {
            return Err(Error::usage(format!(
                "--into `{branch}` is not a branch of {}",
                repo.toplevel.display()
            ))
            .with_hint(
                "name an existing branch, or leave --into out for a new porch/merge/RUN branch",
            ));
        };
        let checked_out_in = checked_out_clean(repo, branch)?;
        Ok(Target {
            branch: branch.to_string(),
            start_name: clip::short_commit(&start).to_string(),
            start,
            existing: true,
            checked_out_in,
        })
    }

    /// Refuses a merged result that would put tracked files over files the checkout of the
    /// target holds and git does not track: its fast-forward replaces an ignored file (a
    /// `local.cfg`) without a word, and nothing else has a copy of it.
    fn refuse_replacing(&self, scratch: &Scratch) -> Result<(), Error> {
        let Some(checkout) = &self.checked_out_in else {
            return Ok(());
        };
        let compared = scratch.head().and_then(|head| {
            let changes = git::tree_changes(checkout, &self.start, &head)?;
            Ok(untracked_in_the_way(checkout, &changes))
        });
        let found = compared.map_err(|err| {
            Error::setup(
                format!(
                    "--into {}: cannot compare the merged result with {}: {err}",
                    self.branch,
                    checkout.display()
                ),
                "nothing was merged; check the repository with `git status`, then merge again",
            )
        })?;
        if found.is_empty() {
            return Ok(());
        }
        let written: BTreeSet<String> = found.iter().cloned().collect();
        let ignored =
            unsaved::ignored_writes(checkout, &written, &BTreeSet::new()).unwrap_or_default();
        let named: Vec<String> = found
            .iter()
            .map(|file| {
                let why = if ignored.contains(file) {
                    "ignored"
                } else {
                    "untracked"
                };
                format!("{file} ({why})")
            })
            .collect();
        Err(Error::setup(
            format!(
                "--into {}: the merge would replace files in {} that git does not track: {}",
                self.branch,
                checkout.display(),
                named.join(", ")
            ),
            format!(
                "nothing was merged: move them out of the way (or commit them), merge again, then put back what you need; or merge into a new branch (leave --into out) and compare before bringing it into {}",
                self.branch
            ),
        ))
    }

    /// Puts the merged commit on the branch: a new branch is created (never replacing one), an
    /// existing one moves only if nobody moved it meanwhile.
    fn finish(&self, repo: &Repo, head: &str) -> Result<(), git::GitError> {
        let reference = format!("refs/heads/{}", self.branch);
        if !self.existing {
            return git::create_ref(&repo.toplevel, &reference, head);
        }
        match &self.checked_out_in {
            // Moving a checked-out branch under its worktree would leave the files behind; a
            // fast-forward in that worktree moves both, and refuses if it now holds changes.
            Some(dir) => git::fast_forward(dir, head),
            None => git::move_ref(&repo.toplevel, &reference, head, &self.start),
        }
    }
}

/// Where `branch` is checked out, if anywhere; an error if that worktree holds changes.
fn checked_out_clean(repo: &Repo, branch: &str) -> Result<Option<PathBuf>, Error> {
    let worktrees = repo.worktrees().map_err(|e| {
        Error::setup(
            e.to_string(),
            "check the repository with `git worktree list`",
        )
    })?;
    let Some(entry) = worktrees
        .iter()
        .find(|w| w.branch.as_deref() == Some(branch))
    else {
        return Ok(None);
    };
    let dirty = git::is_dirty(&entry.path).unwrap_or(true);
    if dirty {
        return Err(Error::setup(
            format!(
                "--into {branch}: the branch is checked out in {} with uncommitted changes",
                entry.path.display()
            ),
            "commit or stash them there first, or merge into a new branch (leave --into out)",
        ));
    }
    Ok(Some(entry.path.clone()))
}

/// The paths the merged result adds (`A`) where `checkout`, clean at the start, holds
/// something git does not track: the path itself, or a file where it needs a directory
/// (unless the result removes that file: then it was tracked).
fn untracked_in_the_way(checkout: &Path, changes: &[(char, String)]) -> Vec<String> {
    let removed: HashSet<&str> = (changes.iter())
        .filter(|(status, _)| *status == 'D')
        .map(|(_, path)| path.as_str())
        .collect();
    let mut found = BTreeSet::new();
    for (_, path) in changes.iter().filter(|(status, _)| *status == 'A') {
        let parts: Vec<&str> = path.split('/').collect();
        for end in 1..=parts.len() {
            let prefix = parts[..end].join("/");
            let Ok(meta) = checkout.join(&prefix).symlink_metadata() else {
                break;
            };
            let last = end == parts.len();
            let tracked = removed.contains(prefix.as_str())
                || (meta.is_dir() && removed.iter().any(|r| r.starts_with(&format!("{prefix}/"))));
            if (last || !meta.is_dir()) && !tracked {
                found.insert(prefix);
                break;
            }
        }
    }
    found.into_iter().collect()
}

/// What became of one task's branch.
enum Outcome {
    /// Merged, with its merge commit.
    Merged(String),
    /// The target already held everything the branch has.
    AlreadyIn,
    /// Its conflicts settled by a resolver session, then merged.
    Resolved {
        commit: String,
        files: Vec<String>,
        resolution: Resolution,
    },
    Skipped {
        reason: String,
        files: Vec<String>,
        /// The resolver session that did not settle it.
        resolution: Option<Resolution>,
    },
    /// Merged, then taken out again: the check failed with it.
    BackedOut(CheckFailure),
}

impl Outcome {
    fn skipped(reason: impl Into<String>) -> Outcome {
        Outcome::Skipped {
            reason: reason.into(),
            files: Vec::new(),
            resolution: None,
        }
    }

    /// Whether it added a commit to the merge branch.
    fn changed(&self) -> bool {
        matches!(self, Outcome::Merged(_) | Outcome::Resolved { .. })
    }

    /// Whether the branch's work is in the merge branch now.
    fn is_in(&self) -> bool {
        self.changed() || matches!(self, Outcome::AlreadyIn)
    }
}

/// What the queue needs besides the branches: the check, and the resolver when asked for.
struct QueueSetup {
    /// `--check CMD` as `sh -c CMD`, else the tasks file's `merge_check`.
    check: Option<Vec<String>>,
    check_limit: std::time::Duration,
    /// `--resolve`: claude's executable.
    resolver: Option<PathBuf>,
    timeout: Option<std::time::Duration>,
    max_cost_usd: Option<f64>,
    permission_mode: Option<String>,
    /// The run's own `--permission-mode`, as it recorded it, when it lets claude edit.
    run_permission_mode: Option<String>,
    /// The run's tasks as its tasks file has them, for prompts and permission modes.
    tasks: Vec<Task>,
    json: bool,
}

impl QueueSetup {
    fn read(args: &MergeArgs, location: &Location, run: &StoredRun) -> Result<QueueSetup, Error> {
        let file = stored_tasks_or_say(args, location, run);
        let check = match &args.check {
            Some(command) => Some(["sh", "-c", command].map(String::from).to_vec()),
            None => file.as_ref().and_then(|f| f.merge_check.clone()),
        };
        if args.check.is_none()
            && let Some(program) = check.as_ref().map(|argv| argv[0].as_str())
        {
            refuse_missing_program(program, run)?;
        }
        let resolver = if args.resolve {
            // As the run did: the agent it was given, unless told otherwise.
            let recorded = (run.results.claude.as_ref()).map(|c| {
                (
                    std::ffi::OsStr::new(c),
                    format!("the agent of run {}", run.id),
                )
            });
            let given = (args.claude.as_ref())
                .map(|c| (c.value.as_os_str(), c.from.clone()))
                .or(recorded);
            let given = given.as_ref().map(|(value, from)| (*value, from.as_str()));
            let path = Environment::from_process().path;
            Some(agent::resolve_program(given, path.as_deref())?)
        } else {
            None
        };
        let run_mode = (RecordedSettings::read(&location.state, &run.id)
            .ok()
            .flatten())
        .and_then(|recorded| recorded.permission_mode)
        .filter(|mode| resolver::RESOLVER_MODES.contains(&mode.as_str()));
        Ok(QueueSetup {
            check,
            check_limit: args.timeout.unwrap_or(DEFAULT_CHECK_LIMIT),
            resolver,
            timeout: args.timeout,
            max_cost_usd: args.max_cost_usd,
            permission_mode: args.permission_mode.clone(),
            run_permission_mode: run_mode,
            tasks: file.map(|f| f.tasks).unwrap_or_default(),
            json: args.json,
        })
    }

    /// Runs the check, if any, on the start of the merge, before any branch: a check that
    /// fails there would back out every branch for what none of them did.
    fn check_base(&self, scratch: &Scratch, target: &Target) -> Result<(), CheckFailure> {
        let Some(argv) = &self.check else {
            return Ok(());
        };
        if !self.json {
            let command = quote::command(&argv.iter().map(String::as_str).collect::<Vec<_>>());
            crate::sys::console::print_stdout(&format!(
                "checking the start of the merge ({}), before any branch: {command}\n",
                target.start_name
            ));
        }
        merge_queue::check_and_reset(argv, &scratch.dir, self.check_limit, "HEAD")
    }

    /// Merges each task's branch in turn; after a signal to porch, the rest are skipped.
    fn run_queue<'r>(
        &self,
        scratch: &Scratch,
        state: &StateDir,
        run: &StoredRun,
        picked: &[&'r StoredTask],
    ) -> Result<Vec<(&'r StoredTask, Outcome)>, Error> {
        let look = Look {
            names: picked.iter().map(|t| t.name.clone()).collect(),
            color: false,
            show: if self.json {
                Show::Quiet
            } else {
                Show::Stream { status_line: false }
            },
        };
        let (printer, printer_thread) = printer::spawn(look).map_err(|err| {
            Error::setup(
                format!("the system refused a thread for the printer, so nothing was merged: {err}"),
                "too many threads or processes may be running (see ulimit -u); merge again when fewer are",
            )
        })?;
        let queue = Queue {
            setup: self,
            scratch,
            state,
            run_id: &run.id,
            identity: git::run_config(&scratch.dir).identity,
            printer: &printer,
        };
        let mut outcomes: Vec<(&StoredTask, Outcome)> = Vec::with_capacity(picked.len());
        let mut spent = 0.0;
        for (index, task) in picked.iter().enumerate() {
            let outcome = match shutdown::requested() {
                Some(signal) => Outcome::skipped(format!(
                    "not merged: porch received {}",
                    groups::describe_signal(signal)
                )),
                None => queue.merge(index, task, &outcomes, &mut spent),
            };
            outcomes.push((task, outcome));
        }
        printer::drain(&printer);
        drop(printer);
        printer_thread.finish();
        Ok(outcomes)
    }

    /// The resolver's permission mode: `--permission-mode`, else the task's own when it lets
    /// claude edit, else the run's when it does, else acceptEdits.
    fn permission_mode(&self, task: &StoredTask) -> String {
        let own = (self.tasks.iter())
            .find(|t| t.name == task.name || task.group.as_deref() == Some(t.name.as_str()))
            .and_then(|t| t.permission_mode.clone())
            .filter(|mode| resolver::RESOLVER_MODES.contains(&mode.as_str()));
        (self.permission_mode.clone())
            .or(own)
            .or(self.run_permission_mode.clone())
            .unwrap_or_else(|| "acceptEdits".to_string())
    }

    fn prompt_of(&self, task: &StoredTask) -> &str {
        let name = task.group.as_deref().unwrap_or(&task.name);
        (self.tasks.iter())
            .find(|t| t.name == name)
            .map_or("", |t| t.prompt.as_str())
    }
}

/// The tasks file the run stored, or `None` with a note on stderr when it cannot be read (a
/// run by a porch older than the stored copies has none) and the merge would have used it:
/// then it has no `merge_check`, and a resolver no prompts.
fn stored_tasks_or_say(args: &MergeArgs, location: &Location, run: &StoredRun) -> Option<TaskFile> {
    let err = match stored_task_file(location, run, &args.choice) {
        Ok(file) => return Some(file),
        Err(err) => err,
    };
    let missing = match (args.check.is_none(), args.resolve) {
        (true, true) => "its merge_check, and the resolver without the tasks' prompts",
        (true, false) => "its merge_check",
        (false, true) => "the tasks' prompts for the resolver",
        (false, false) => return None,
    };
    crate::sys::console::print_stderr(&format!("porch: note: {err}: merging without {missing}\n"));
    None
}

/// One merge's queue at work.
struct Queue<'a> {
    setup: &'a QueueSetup,
    scratch: &'a Scratch,
    state: &'a StateDir,
    run_id: &'a str,
    identity: Vec<String>,
    printer: &'a Sender<Message>,
}

impl Queue<'_> {
    fn merge(
        &self,
        index: usize,
        task: &StoredTask,
        before_it: &[(&StoredTask, Outcome)],
        spent: &mut f64,
    ) -> Outcome {
        let dir = &self.scratch.dir;
        if !dir.is_dir() {
            return Outcome::skipped(format!(
                "not merged: the merge worktree {} is gone (a check removed it?)",
                dir.display()
            ));
        }
        let reference = format!("refs/heads/{}", task.branch);
        if !git::ref_exists(dir, &reference) {
            return Outcome::skipped(format!("the branch {} no longer exists", task.branch));
        }
        let before = self.scratch.head().unwrap_or_default();
        let title = format!("Merge task {} ({})", task.name, task.branch);
        let message = self.message(task, &title);
        let paragraphs: Vec<&str> = message.iter().map(String::as_str).collect();
        let merged = git::merge_no_ff(dir, &reference, &paragraphs, &self.identity);
        if let Err(err) = merged {
            return self.conflict(index, task, before_it, spent, err);
        }
        let head = self.scratch.head().unwrap_or_default();
        if head == before {
            return Outcome::AlreadyIn;
        }
        match self.check(index, task, &before) {
            Ok(()) => Outcome::Merged(head),
            Err(failure) => Outcome::BackedOut(failure),
        }
    }

    /// The merge commit's message: its title, the task's description, porch's trailers.
    fn message(&self, task: &StoredTask, title: &str) -> Vec<String> {
        let mut paragraphs = vec![title.to_string()];
        if let Some(body) = task.description.clone().filter(|d| !d.is_empty()) {
            paragraphs.push(body);
        }
        paragraphs.push(format!(
            "Porch-Task: {}\nPorch-Run: {}",
            task.name, self.run_id
        ));
        paragraphs
    }

    /// Runs the check, if any, on what is merged now; a failure takes the worktree back to
    /// `before`.
    fn check(&self, index: usize, task: &StoredTask, before: &str) -> Result<(), CheckFailure> {
        let Some(argv) = &self.setup.check else {
            return Ok(());
        };
        printer::note(
            self.printer,
            index,
            printer::Tone::Plain,
            format!(
                "checking the merge of {}: {}",
                task.branch,
                quote::command(&argv.iter().map(String::as_str).collect::<Vec<_>>())
            ),
        );
        merge_queue::check_and_reset(argv, &self.scratch.dir, self.setup.check_limit, before)
    }

    /// A merge that stopped: named and undone, or handed to the resolver.
    fn conflict(
        &self,
        index: usize,
        task: &StoredTask,
        before_it: &[(&StoredTask, Outcome)],
        spent: &mut f64,
        err: git::GitError,
    ) -> Outcome {
        let dir = &self.scratch.dir;
        // A stopped merge's HEAD is still the commit before it.
        let before = self.scratch.head().unwrap_or_default();
        let files = git::conflicted_files(dir).unwrap_or_default();
        if files.is_empty() {
            git::abort_merge(dir);
            return Outcome::skipped(format!("git could not merge it: {}", err.reason()));
        }
        let conflicts = format!(
            "conflicts with what was merged before it, in {}",
            files.join(", ")
        );
        let skip = |reason: String, resolution: Option<Resolution>| {
            git::abort_merge(dir);
            // Where the resolver committed or reset, undoing the merge is not enough.
            let _ = git::reset_to(dir, &before);
            Outcome::Skipped {
                reason,
                files: files.clone(),
                resolution,
            }
        };
        let Some(program) = &self.setup.resolver else {
            return skip(conflicts, None);
        };
        let left = self.setup.max_cost_usd.map(|max| max - *spent);
        if left.is_some_and(|left| left < 0.000_001) {
            return skip(
                format!("{conflicts}; the --max-cost-usd budget is spent, so no resolver ran"),
                None,
            );
        }
        let mut resolution = self.resolver_session(program, index, task, before_it, &files, left);
        *spent += resolution.cost_usd;
        if let (Ok(()), Some(why)) = (&resolution.verdict, self.taken_over(&before)) {
            resolution.verdict = Err(why.to_string());
        }
        if let Err(why) = &resolution.verdict {
            return skip(
                format!("{conflicts}; not resolved: {why}"),
                Some(resolution),
            );
        }
        self.commit_resolution(index, task, files, resolution)
    }

    /// What the resolver did that is porch's alone to do: commit the merge, or end it.
    fn taken_over(&self, before: &str) -> Option<&'static str> {
        if self.scratch.head().ok().as_deref() != Some(before) {
            return Some(
                "the resolver moved HEAD (it committed or reset), which porch does itself",
            );
        }
        if !git::merge_in_progress(&self.scratch.dir) {
            return Some("the resolver ended the merge (git merge --abort or a reset)");
        }
        None
    }

    fn resolver_session(
        &self,
        program: &Path,
        index: usize,
        task: &StoredTask,
        before_it: &[(&StoredTask, Outcome)],
        files: &[String],
        budget_left: Option<f64>,
    ) -> Resolution {
        let dir = &self.scratch.dir;
        let touched = |t: &StoredTask| {
            let changed = git::changed_entries(dir, &t.base_commit, &t.branch).unwrap_or_default();
            changed.iter().any(|(path, _)| files.contains(path))
        };
        let merged: Vec<Side> = (before_it.iter())
            .filter(|(t, outcome)| outcome.changed() && touched(t))
            .map(|(t, _)| Side {
                task: &t.name,
                branch: &t.branch,
                prompt: self.setup.prompt_of(t),
            })
            .collect();
        let log = self.state.resolver_log(self.run_id, &task.name);
        let resolver = Resolver {
            program,
            timeout: self.setup.timeout,
            printer: self.printer,
        };
        let mode = self.setup.permission_mode(task);
        let conflict = Conflict {
            dir,
            incoming: Side {
                task: &task.name,
                branch: &task.branch,
                prompt: self.setup.prompt_of(task),
            },
            merged,
            files,
            permission_mode: &mode,
            budget_left,
            log: &log,
            index,
            marker: format!("merge-{}-{}", std::process::id(), task.name),
        };
        resolver::resolve(&resolver, &conflict)
    }

    /// Commits a resolved merge, then checks it; a failure undoes it.
    fn commit_resolution(
        &self,
        index: usize,
        task: &StoredTask,
        files: Vec<String>,
        resolution: Resolution,
    ) -> Outcome {
        let dir = &self.scratch.dir;
        let before = self.scratch.head().unwrap_or_default();
        let title = format!(
            "Merge task {} ({}; conflicts in {} resolved by claude)",
            task.name,
            task.branch,
            files.join(", ")
        );
        let message = self.message(task, &title);
        let paragraphs: Vec<&str> = message.iter().map(String::as_str).collect();
        let skip = |reason: String, resolution: Resolution| Outcome::Skipped {
            reason,
            files: files.clone(),
            resolution: Some(resolution),
        };
        if let Err(err) = git::commit_resolved_merge(dir, &paragraphs, &self.identity) {
            git::abort_merge(dir);
            return skip(
                format!("resolved, but git could not commit it: {}", err.reason()),
                resolution,
            );
        }
        if let Err(failure) = self.check(index, task, &before) {
            let why = format!(
                "resolved by claude, but {}",
                backed_out_reason(task, &failure)
            );
            return skip(why, resolution);
        }
        let commit = self.scratch.head().unwrap_or_default();
        Outcome::Resolved {
            commit,
            files,
            resolution,
        }
    }
}

/// "task/b breaks the check together with what was merged before it (exit 1; last lines: …)".
fn backed_out_reason(task: &StoredTask, failure: &CheckFailure) -> String {
    format!(
        "{} breaks the check together with what was merged before it ({})",
        task.branch,
        failure_detail(failure)
    )
}

/// "exit 1; last lines: a | b".
fn failure_detail(failure: &CheckFailure) -> String {
    let mut detail = failure.how.clone();
    if !failure.last_lines.is_empty() {
        detail.push_str(&format!("; last lines: {}", failure.last_lines.join(" | ")));
    }
    detail
}

/// porch's own worktree, on a detached HEAD, where the merges happen.
struct Scratch {
    dir: PathBuf,
}

impl Scratch {
    fn create(repo: &Repo, state: &StateDir, run_id: &str, start: &str) -> Result<Scratch, Error> {
        for leftover in state.merge_worktrees(run_id) {
            let _ = repo.force_remove_worktree(&leftover);
        }
        let dir = state.merge_worktree(run_id, std::process::id());
        // Made private before git fills it: the user's code inside the state directory is no
        // one else's to read either.
        state.create_private_dir(&dir).map_err(|err| {
            Error::setup(
                err.to_string(),
                "check the worktree directory's permissions, or pass --worktree-dir",
            )
        })?;
        let added = repo.add_detached_worktree(&dir, start);
        added.map_err(|err| {
            let _ = std::fs::remove_dir(&dir);
            Error::setup(
                format!("cannot make a worktree to merge in: {err}"),
                "check `git worktree list` and the worktree directory",
            )
        })?;
        Ok(Scratch { dir })
    }

    fn head(&self) -> Result<String, git::GitError> {
        git::head_commit(&self.dir)
    }

    fn remove(self, repo: &Repo) {
        let _ = repo.force_remove_worktree(&self.dir);
    }
}

/// What the merge did, as recorded with the run and printed by `--json`.
fn record(
    target: &Target,
    outcomes: &[(&StoredTask, Outcome)],
    commit: Option<String>,
) -> MergeRecord {
    let mut record = MergeRecord {
        branch: target.branch.clone(),
        commit,
        ended_at: timestamp::rfc3339(SystemTime::now()),
        ..MergeRecord::default()
    };
    for (task, outcome) in outcomes {
        let merged = |commit: Option<&String>| MergedBranch {
            task: task.name.clone(),
            branch: task.branch.clone(),
            commit: commit.cloned(),
        };
        match outcome {
            Outcome::Merged(commit) => record.merged.push(merged(Some(commit))),
            Outcome::AlreadyIn => record.merged.push(merged(None)),
            Outcome::Resolved {
                commit,
                files,
                resolution,
            } => {
                record.merged.push(merged(Some(commit)));
                record.resolved.push(ResolvedBranch {
                    task: task.name.clone(),
                    files: files.clone(),
                    cost_usd: resolution.cost_usd,
                    session_id: resolution.session_id.clone(),
                });
            }
            Outcome::Skipped {
                reason,
                files,
                resolution,
            } => record.skipped.push(SkippedBranch {
                task: task.name.clone(),
                reason: reason.clone(),
                files: files.clone(),
                cost_usd: resolution.as_ref().map(|r| r.cost_usd),
                session_id: resolution.as_ref().and_then(|r| r.session_id.clone()),
            }),
            Outcome::BackedOut(failure) => record.backed_out.push(BackedOutBranch {
                task: task.name.clone(),
                reason: backed_out_reason(task, failure),
                check_exit: failure.exit_code,
                last_lines: failure.last_lines.clone(),
            }),
        }
    }
    record
}

/// The merge stored into the run's results as `merge`; every other field is kept as it was,
/// those a newer porch wrote too.
fn store(location: &Location, run: &StoredRun, record: &MergeRecord) -> Result<(), Error> {
    let Ok(Value::Object(mut document)) = serde_json::from_slice::<Value>(&run.bytes) else {
        return Ok(());
    };
    let value = serde_json::to_value(record).expect("a merge record serialises");
    document.insert("merge".to_string(), value);
    let mut json = serde_json::to_string_pretty(&document).expect("JSON serialises");
    json.push('\n');
    location.rewrite(run, &json)
}

fn render(
    run: &StoredRun,
    target: &Target,
    outcomes: &[(&StoredTask, Outcome)],
    repo: &Path,
) -> String {
    let mut text = format!(
        "merging {} branch{} of run {} into {} (from {}):\n",
        outcomes.len(),
        if outcomes.len() == 1 { "" } else { "es" },
        run.id,
        target.branch,
        target.start_name
    );
    let width = outcomes
        .iter()
        .map(|(t, _)| t.branch.chars().count())
        .max()
        .unwrap_or(0);
    let words: Vec<(&str, String)> = (outcomes.iter())
        .map(|(task, outcome)| outcome_words(task, outcome))
        .collect();
    // As wide as "SKIPPED" at least, so that a plain merge's report reads as it always has.
    let word_width = words.iter().map(|(w, _)| w.len()).max().unwrap_or(0).max(7);
    for ((task, _), (word, detail)) in outcomes.iter().zip(words) {
        let line = format!("  {word:<word_width$} {:<width$}{detail}", task.branch);
        text.push_str(line.trim_end());
        text.push('\n');
    }
    text.push_str(&render_tally(target, outcomes, repo));
    let changed = outcomes.iter().any(|(_, o)| o.changed());
    if !changed {
        let what = if target.existing {
            "is unchanged"
        } else {
            "was not made"
        };
        text.push_str(&format!("nothing was merged: {} {what}\n", target.branch));
        return text;
    }
    let (repo, branch, start) = (repo.to_string_lossy(), &target.branch, &target.start_name);
    let log = [
        "git",
        "-C",
        &repo,
        "log",
        "--oneline",
        "--graph",
        &format!("{start}..{branch}"),
    ];
    let diff = ["git", "-C", &repo, "diff", &format!("{start}...{branch}")];
    text.push_str(&format!(
        "look at the result:\n  {}\n  {}\n",
        quote::command(&log),
        quote::command(&diff)
    ));
    text
}

/// A branch's line in the report: a word, and what follows its branch.
fn outcome_words(task: &StoredTask, outcome: &Outcome) -> (&'static str, String) {
    let session = |r: &Resolution| {
        let id = r.session_id.as_deref().unwrap_or("none");
        format!("resolver ${:.4}, session {id}", r.cost_usd)
    };
    match outcome {
        Outcome::Merged(_) => ("merged", String::new()),
        Outcome::AlreadyIn => ("merged", "  (nothing new: already there)".to_string()),
        Outcome::Resolved {
            files, resolution, ..
        } => (
            "resolved",
            format!(
                "  conflicts in {} resolved by claude ({})",
                files.join(", "),
                session(resolution)
            ),
        ),
        Outcome::Skipped {
            reason, resolution, ..
        } => match resolution {
            Some(r) => ("SKIPPED", format!("  {reason} ({})", session(r))),
            None => ("SKIPPED", format!("  {reason}")),
        },
        Outcome::BackedOut(failure) => (
            "BACKED OUT",
            format!("  {}", backed_out_reason(task, failure)),
        ),
    }
}

/// How many merged, and the commands that merge by hand what was skipped or backed out (in
/// the repository whatever the directory porch was run in).
fn render_tally(target: &Target, outcomes: &[(&StoredTask, Outcome)], repo: &Path) -> String {
    let merged = outcomes.iter().filter(|(_, o)| o.is_in()).count();
    let branches = |backed_out: bool| -> Vec<&str> {
        (outcomes.iter())
            .filter(|(_, o)| !o.is_in() && matches!(o, Outcome::BackedOut(_)) == backed_out)
            .map(|(t, _)| t.branch.as_str())
            .collect()
    };
    let (skipped, backed_out) = (branches(false), branches(true));
    let made = target.existing || outcomes.iter().any(|(_, o)| o.changed());
    let mut text = format!(
        "{merged} of {} merged, {} skipped",
        outcomes.len(),
        skipped.len()
    );
    if !backed_out.is_empty() {
        text.push_str(&format!(", {} backed out", backed_out.len()));
    }
    text.push('\n');
    for (branches, heading) in [
        (
            skipped,
            "to merge what was skipped, resolving its conflicts yourself:",
        ),
        (
            backed_out,
            "to merge what was backed out anyway (the check fails with it):",
        ),
    ] {
        text.push_str(&by_hand(target, made, &branches, repo, heading));
    }
    text
}

/// `heading`, then a checkout of the target and a `git merge` of each branch; nothing
/// without branches.
fn by_hand(target: &Target, made: bool, branches: &[&str], repo: &Path, heading: &str) -> String {
    if branches.is_empty() {
        return String::new();
    }
    // A branch checked out in a worktree is merged into there: git checks it out nowhere else.
    let (place, checkout) = match &target.checked_out_in {
        Some(dir) => (dir.to_string_lossy(), false),
        None => (repo.to_string_lossy(), true),
    };
    let mut text = format!("{heading}\n");
    if checkout {
        // A new branch nothing was merged into was not made: made here, from the start.
        let command = if made {
            quote::command(&["git", "-C", &place, "checkout", &target.branch])
        } else {
            quote::command(&[
                "git",
                "-C",
                &place,
                "checkout",
                "-b",
                &target.branch,
                &target.start,
            ])
        };
        text.push_str(&format!("  {command}\n"));
    }
    for branch in branches {
        text.push_str(&format!(
            "  {}\n",
            quote::command(&["git", "-C", &place, "merge", branch])
        ));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(tasks: &str) -> StoredRun {
        let bytes = format!(r#"{{"version":1,"run_id":"r","tasks":{tasks}}}"#).into_bytes();
        StoredRun {
            id: "r".into(),
            path: PathBuf::from("r.json"),
            results: serde_json::from_slice(&bytes).unwrap(),
            bytes,
        }
    }

    fn picked(run: &StoredRun, names: &[&str]) -> Result<Vec<String>, String> {
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        merge_candidates(run, &names)
            .map(|tasks| tasks.iter().map(|t| t.name.clone()).collect())
            .map_err(|e| e.to_string())
    }

    #[test]
    fn what_is_merged_succeeded_in_file_order_and_of_a_group_the_winner() {
        let run = run(r#"[
            {"name":"a","status":"succeeded"},
            {"name":"fix-1","status":"succeeded","group":"fix","winner":false},
            {"name":"fix-2","status":"succeeded","group":"fix","winner":true},
            {"name":"b","status":"failed"},
            {"name":"fix-3","status":"failed","group":"fix","winner":false},
            {"name":"c","status":"succeeded"}
        ]"#);
        for (names, expected) in [
            (vec![], Ok(vec!["a", "fix-2", "c"])),
            (vec!["c", "a"], Ok(vec!["a", "c"])),
            (vec!["fix"], Ok(vec!["fix-2"])),
            (vec!["fix-1"], Ok(vec!["fix-1"])),
        ] {
            let expected = expected.map(|v: Vec<&str>| v.iter().map(|s| s.to_string()).collect());
            assert_eq!(picked(&run, &names), expected, "{names:?}");
        }
        for (names, says) in [
            (vec!["b"], "did not succeed (failed)"),
            (vec!["nope"], "has no task `nope`"),
        ] {
            let message = picked(&run, &names).unwrap_err();
            assert!(message.contains(says), "{names:?}: {message}");
        }
    }

    #[test]
    fn what_the_merge_adds_is_in_the_way_where_the_checkout_holds_untracked_files() {
        let checkout = tempfile::tempdir().unwrap();
        let at = |path: &str| checkout.path().join(path);
        std::fs::write(at("local.cfg"), "mine").unwrap();
        std::fs::write(at("notes"), "a file").unwrap();
        std::fs::write(at("old"), "tracked, removed by the merge").unwrap();
        std::fs::create_dir_all(at("src/gen")).unwrap();
        std::fs::create_dir_all(at("was-a-dir")).unwrap();
        let changes: Vec<(char, String)> = [
            ('A', "local.cfg"),
            ('A', "new.txt"),
            ('A', "notes/today.md"),
            ('A', "old/now-a-dir.txt"),
            ('D', "old"),
            ('A', "src/gen/api.rs"),
            ('A', "was-a-dir"),
            ('D', "was-a-dir/x"),
            ('M', "README.md"),
        ]
        .map(|(s, p)| (s, p.to_string()))
        .to_vec();
        assert_eq!(
            untracked_in_the_way(checkout.path(), &changes),
            ["local.cfg", "notes"]
        );
    }

    #[test]
    fn a_group_without_a_winner_and_a_run_without_success_merge_nothing() {
        let run = run(r#"[
            {"name":"fix-1","status":"failed","group":"fix","winner":false},
            {"name":"b","status":"timed_out"}
        ]"#);
        assert!(picked(&run, &["fix"]).unwrap_err().contains("no winner"));
        assert!(picked(&run, &[]).unwrap_err().contains("no succeeded task"));
    }
}
