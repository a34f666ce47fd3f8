//! `porch clean`: removes the worktrees porch made for a run (or every run), with `--branches`
//! their branches and saved attempts too, and prunes old results files. Never what holds work
//! that exists nowhere else, unless `--force`; it says what it kept and why.

use std::collections::{BTreeSet, HashSet};
use std::path::Path;
use std::process::ExitCode;

use crate::commands::merge::MERGE_BRANCH_PREFIX;
use crate::error::Error;
use crate::git;
use crate::git::Repo;
use crate::git::WorktreeEntry;
use crate::preflight::branch_template;
use crate::preflight::options::CleanArgs;
use crate::state::StateDir;
use crate::state::lock::RunLock;
use crate::state::runs::Location;
use crate::state::runs::StoredRun;
use crate::state::runs::StoredTask;
use crate::task::unsaved;

/// Said when a run to clean is still going on.
const GOING_ON_HINT: &str = "wait for it to end (`porch status` shows its tasks), or stop it (Ctrl-C where it runs); then clean again";

pub fn clean(args: &CleanArgs) -> Result<ExitCode, Error> {
    let location = args.choice.locate()?;
    let holder = format!("porch clean (pid {})", std::process::id());
    let ids = location.run_ids()?;
    // The runs' locks are held to the end: no run, resume or merge of them starts meanwhile.
    let (runs, claimed, _locks) = if args.all {
        let (locks, runs) = claim_all(&location, &ids, &holder)?;
        (runs, Claimed::default(), locks)
    } else {
        let chosen = location.select(args.choice.run.as_deref())?;
        let (lock, run) = location.claim(&chosen, &holder, GOING_ON_HINT)?;
        let claimed = Claimed::by_runs_after(&location, &ids, &run.id);
        (vec![run], claimed, vec![lock])
    };
    let mut cleaner = Cleaner {
        repo: &location.repo,
        state: &location.state,
        args,
        worktrees: location.repo.worktrees().map_err(|e| {
            Error::setup(
                e.to_string(),
                "check the repository with `git worktree list`",
            )
        })?,
        lines: Vec::new(),
        failed: false,
    };
    if args.dry_run {
        cleaner.say("dry run: nothing is changed".to_string());
    }
    for task in tasks_of(&runs) {
        if let Some(newer) = claimed.owner(task) {
            cleaner.say(format!(
                "kept {} and its worktree: run {newer} uses them now",
                task.branch
            ));
            continue;
        }
        cleaner.clean_task(task);
    }
    for run in &runs {
        cleaner.clean_merge_leftovers(&run.id);
    }
    if cleaner.worktrees.iter().any(|w| w.prunable) && !args.dry_run {
        let _ = location.repo.prune_worktrees();
    }
    if !args.dry_run {
        location.repo.sweep_abandoned_registrations();
    }
    let said_before_pruning = cleaner.lines.len();
    prune_runs(&location, &ids, &holder, &mut cleaner);
    if said_before_pruning == usize::from(args.dry_run)
        && cleaner.lines.len() == said_before_pruning
    {
        let which: Vec<&str> = runs.iter().map(|r| r.id.as_str()).collect();
        let hint = if args.branches {
            ""
        } else {
            " (--branches also deletes their branches)"
        };
        cleaner.say(format!(
            "nothing to clean: the worktrees of run {} are gone{hint}",
            which.join(", ")
        ));
    }
    let Cleaner { lines, failed, .. } = cleaner;
    crate::sys::console::print_stdout(&lines.concat());
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// Every stored run, each read once its lock is taken; and a run stored meanwhile too, which
/// is refused if it is going on.
fn claim_all(
    location: &Location,
    ids: &[String],
    holder: &str,
) -> Result<(Vec<RunLock>, Vec<StoredRun>), Error> {
    let mut locks = Vec::new();
    let mut runs = Vec::new();
    let listed_again = location.run_ids()?;
    let new = listed_again.iter().filter(|id| !ids.contains(id));
    for id in ids.iter().chain(new) {
        let chosen = location.load(id)?;
        let (lock, run) = location.claim(&chosen, holder, GOING_ON_HINT)?;
        locks.push(lock);
        runs.push(run);
    }
    Ok((locks, runs))
}

/// Every task of the runs, once per branch: with `--all`, the newest run's record of it. In
/// the runs' order, and each run's in tasks-file order.
fn tasks_of(runs: &[StoredRun]) -> Vec<&StoredTask> {
    let mut seen = HashSet::new();
    let mut per_run: Vec<Vec<&StoredTask>> = runs
        .iter()
        .rev()
        .map(|run| {
            run.results
                .tasks
                .iter()
                .filter(|t| seen.insert(t.branch.clone()))
                .collect()
        })
        .collect();
    per_run.reverse();
    per_run.concat()
}

/// The branches and worktrees that runs newer than the one being cleaned use: a task name run
/// again later has the same branch and worktree, and they hold the newer run's work.
#[derive(Default)]
struct Claimed {
    by: Vec<(String, String, String)>,
}

impl Claimed {
    fn by_runs_after(location: &Location, ids: &[String], id: &str) -> Claimed {
        let mut by = Vec::new();
        let later = ids.iter().skip_while(|other| *other != id).skip(1);
        for newer in later {
            if let Ok(run) = location.load(newer) {
                for task in run.results.tasks {
                    by.push((task.branch, task.worktree, newer.clone()));
                }
            }
        }
        Claimed { by }
    }

    fn owner(&self, task: &StoredTask) -> Option<&str> {
        self.by
            .iter()
            .find(|(branch, worktree, _)| *branch == task.branch || *worktree == task.worktree)
            .map(|(_, _, id)| id.as_str())
    }
}

struct Cleaner<'a> {
    repo: &'a Repo,
    /// The run's state directory: the real names of the ignored files its sessions wrote.
    state: &'a StateDir,
    args: &'a CleanArgs,
    worktrees: Vec<WorktreeEntry>,
    lines: Vec<String>,
    failed: bool,
}

/// What to do with one thing porch made.
enum Step {
    Nothing,
    Remove,
    Keep(String),
}

impl Cleaner<'_> {
    fn say(&mut self, line: String) {
        self.lines.push(format!("{line}\n"));
    }

    /// The worktrees `porch merge`s of the run killed meanwhile left: porch's own, no work in them.
    fn clean_merge_leftovers(&mut self, run_id: &str) {
        for leftover in self.state.merge_worktrees(run_id) {
            let done = self.act(|repo| repo.force_remove_worktree(&leftover));
            let what = format!(
                "the worktree a killed porch merge left: {}",
                leftover.display()
            );
            self.report(done, "remove", &what);
        }
    }

    fn clean_task(&mut self, task: &StoredTask) {
        let worktree_kept = match self.worktree_step(task) {
            Step::Nothing => false,
            Step::Keep(why) => {
                self.say(format!("kept worktree {}: {why}", task.worktree));
                true
            }
            Step::Remove => {
                let force = self.args.force;
                let done = self.act(|repo| remove_worktree(repo, &task.worktree, force));
                if done.is_ok() && !self.args.dry_run {
                    // The files it named went with the worktree.
                    let _ = (self.state).record_ignored(branch_template::slot(&task.branch), &[]);
                }
                self.report(done, "remove", &format!("worktree {}", task.worktree));
                false
            }
        };
        if !self.args.branches {
            return;
        }
        match self.branch_step(task, worktree_kept) {
            Step::Nothing => {}
            Step::Keep(why) => self.say(format!("kept branch {}: {why}", task.branch)),
            Step::Remove => {
                let branch = task.branch.clone();
                let done = self.act(|repo| repo.delete_branch(&branch));
                self.report(done, "delete", &format!("branch {}", task.branch));
            }
        }
        let slot = branch_template::slot(&task.branch);
        for reference in saved_attempts(self.repo, slot) {
            let done = self.act(|repo| git::delete_ref(&repo.toplevel, &reference));
            self.report(done, "delete", &format!("saved attempt {reference}"));
        }
        if let Some(reference) = stale_merged_base(self.repo, slot) {
            let done = self.act(|repo| git::delete_ref(&repo.toplevel, &reference));
            self.report(done, "delete", &format!("merged base {reference}"));
        }
    }

    /// Runs `change` unless this is a dry run.
    fn act(
        &self,
        change: impl FnOnce(&Repo) -> Result<(), git::GitError>,
    ) -> Result<(), git::GitError> {
        if self.args.dry_run {
            return Ok(());
        }
        change(self.repo)
    }

    fn report(&mut self, done: Result<(), git::GitError>, verb: &str, what: &str) {
        match done {
            Ok(()) => {
                let said = match (self.args.dry_run, verb) {
                    (true, _) => format!("would {verb}"),
                    (false, "remove") => "removed".to_string(),
                    (false, _) => "deleted".to_string(),
                };
                self.say(format!("{said} {what}"));
            }
            Err(err) => {
                self.failed = true;
                self.say(format!("could not {verb} {what}: {err}"));
            }
        }
    }

    fn worktree_step(&self, task: &StoredTask) -> Step {
        let path = Path::new(&task.worktree);
        if task.worktree.is_empty() {
            return Step::Nothing;
        }
        let Some(entry) = self.worktrees.iter().find(|w| w.path == path) else {
            if path.exists() {
                return Step::Keep(format!(
                    "not a worktree of {} (git worktree list does not name it)",
                    self.repo.toplevel.display()
                ));
            }
            return Step::Nothing;
        };
        if entry.prunable || !path.exists() {
            // Its directory is gone; `git worktree prune` forgets it.
            return Step::Nothing;
        }
        // Even with --force: removing it would delete that one, another run's or the user's.
        let inner = (self.worktrees.iter()).find(|w| w.path != path && w.path.starts_with(path));
        if let Some(inner) = inner {
            return Step::Keep(format!(
                "it holds the worktree {}, which removing it would delete",
                inner.path.display()
            ));
        }
        if self.args.force {
            return Step::Remove;
        }
        if entry.branch.as_deref() != Some(task.branch.as_str()) {
            let now = entry.branch.as_deref().unwrap_or("a detached HEAD");
            return Step::Keep(format!(
                "it is on {now} now, not {}; --force removes it",
                task.branch
            ));
        }
        match git::is_dirty(path) {
            Ok(false) => ignored_work(path, task, self.state),
            Ok(true) => Step::Keep("uncommitted changes; --force removes it".to_string()),
            Err(err) => Step::Keep(format!("git cannot say whether it holds changes: {err}")),
        }
    }

    fn branch_step(&self, task: &StoredTask, worktree_kept: bool) -> Step {
        let reference = format!("refs/heads/{}", task.branch);
        if task.branch.is_empty() || self.repo.resolve_commit(&reference).is_none() {
            return Step::Nothing;
        }
        if worktree_kept {
            return Step::Keep("its worktree is kept".to_string());
        }
        let elsewhere = self.worktrees.iter().find(|w| {
            w.branch.as_deref() == Some(task.branch.as_str()) && w.path != Path::new(&task.worktree)
        });
        if let Some(other) = elsewhere {
            return Step::Keep(format!("checked out in {}", other.path.display()));
        }
        if self.args.force {
            return Step::Remove;
        }
        let base = if self
            .repo
            .resolve_commit(&format!("refs/heads/{}", task.base_branch))
            .is_some()
        {
            format!("refs/heads/{}", task.base_branch)
        } else {
            task.base_commit.clone()
        };
        let merged_into = format!("refs/heads/{MERGE_BRANCH_PREFIX}*");
        let unmerged = git::unmerged_commits(&self.repo.toplevel, &reference, &base, &merged_into);
        match unmerged.as_deref().map(str::trim) {
            Ok("0") => Step::Remove,
            Ok(count) => Step::Keep(format!(
                "{count} commit(s) on neither {} nor a {MERGE_BRANCH_PREFIX} branch; --force deletes it",
                task.base_branch
            )),
            Err(err) => Step::Keep(format!("git cannot say whether it is merged: {err}")),
        }
    }
}

/// A clean worktree still holds work when files the session wrote that git ignores (a
/// `.env.local`) are there: `git status` does not show them, and no branch has them.
/// The names are the real ones the run kept in the state directory (the results hide `env`
/// values in them), else, for a run that kept none, the results'.
fn ignored_work(worktree: &Path, task: &StoredTask, state: &StateDir) -> Step {
    if task.ignored_files.is_empty() {
        return Step::Remove;
    }
    let real = (state.recorded_ignored(branch_template::slot(&task.branch)))
        .filter(|real| real.len() == task.ignored_files.len())
        .unwrap_or_else(|| task.ignored_files.clone());
    let written: BTreeSet<String> = real.iter().cloned().collect();
    match unsaved::ignored_writes(worktree, &written, &BTreeSet::new()) {
        Ok(still) if still.is_empty() => Step::Remove,
        Ok(still) => {
            // Said as the results say them: with `env` values hidden, in the same order.
            let shown: Vec<&str> = (real.iter().zip(&task.ignored_files))
                .filter(|(name, _)| still.contains(name))
                .map(|(_, shown)| shown.as_str())
                .collect();
            Step::Keep(format!(
                "it holds files git ignores, which no branch has: {}; --force removes it",
                shown.join(", ")
            ))
        }
        Err(err) => Step::Keep(format!(
            "git cannot say whether the files it ignores are still there: {err}"
        )),
    }
}

fn remove_worktree(repo: &Repo, dir: &str, force: bool) -> Result<(), git::GitError> {
    if force {
        repo.force_remove_worktree(Path::new(dir))
    } else {
        repo.remove_worktree(Path::new(dir))
    }
}

/// `refs/porch/attempts/<slot>/<n>`: what failed attempts wrote before `--retries` started
/// over; the slot is the task's branch without `task/`.
fn saved_attempts(repo: &Repo, slot: &str) -> Vec<String> {
    let prefix = format!("{}/{slot}/", git::ATTEMPTS_REFS);
    git::ref_names(&repo.toplevel, &[&prefix]).unwrap_or_default()
}

/// `refs/porch/bases/<slot>`: the merged base of a task with several dependencies, which the run
/// removes once the task's branch holds it; left behind only when porch was killed in between.
fn stale_merged_base(repo: &Repo, slot: &str) -> Option<String> {
    let reference = format!("{}/{slot}", git::BASES_REFS);
    git::ref_names(&repo.toplevel, &[&reference])
        .ok()?
        .contains(&reference)
        .then_some(reference)
}

/// Keeps the newest `--keep-runs` results files (and always the latest run's, and those of
/// runs still going on).
fn prune_runs(location: &Location, ids: &[String], holder: &str, cleaner: &mut Cleaner) {
    let keep = cleaner.args.keep_runs;
    if ids.len() <= keep {
        return;
    }
    let latest = location.latest_id().ok().flatten();
    let old: Vec<&String> = ids[..ids.len() - keep]
        .iter()
        .filter(|id| Some(id.as_str()) != latest.as_deref())
        .collect();
    let mut pruned = 0;
    for id in &old {
        let _lock = match location.state.lock_run(id, holder) {
            Ok(Ok(lock)) => lock,
            Ok(Err(_busy)) => {
                cleaner.say(format!(
                    "kept the results of run {id}: it is still going on"
                ));
                continue;
            }
            Err(err) => {
                cleaner.failed = true;
                cleaner.say(format!("could not remove the results of run {id}: {err}"));
                continue;
            }
        };
        if cleaner.args.dry_run {
            pruned += 1;
            continue;
        }
        match location.forget(id) {
            Ok(()) => pruned += 1,
            Err(err) => {
                cleaner.failed = true;
                cleaner.say(format!("could not remove the results of run {id}: {err}"));
            }
        }
    }
    let verb = if cleaner.args.dry_run {
        "would remove"
    } else {
        "removed"
    };
    cleaner.say(format!(
        "{verb} the results of {pruned} old run(s) from {} (keeping the newest {keep})",
        location.runs_dir().display()
    ));
}
