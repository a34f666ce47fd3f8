//! `porch merge`: a run's succeeded branches merged into one branch, in tasks-file order, each
//! with a `--no-ff` merge commit naming its task, in a worktree of porch's own so the user's
//! checkout is never touched. A branch that conflicts is skipped and named; the others go on.

use std::collections::{BTreeSet, HashSet};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::error::Error;
use crate::git::{self, Repo};
use crate::preflight::options::MergeArgs;
use crate::state::StateDir;
use crate::state::runs::{StoredRun, StoredTask};
use crate::task::unsaved;
use crate::util::quote;

/// Where a new merge branch goes: `porch/merge/<run id>`.
pub const MERGE_BRANCH_PREFIX: &str = "porch/merge/";

pub fn merge(args: &MergeArgs) -> Result<ExitCode, Error> {
    let holder = format!("porch merge (pid {})", std::process::id());
    let hint = "wait for it to end (`porch status` shows its tasks), then merge: its branches are still being written";
    // Held to the end: nothing resumes or cleans the run while its branches are merged.
    let (location, _lock, run) = args.choice.claim(&holder, hint)?;
    let repo = &location.repo;
    let picked = pick(&run, &args.tasks)?;
    let target = Target::choose(repo, &run, picked[0], args.into.as_deref())?;
    let scratch = Scratch::create(repo, &location.state, &run.id, &target.start)?;
    let identity = git::identity_overrides(&repo.toplevel);
    let outcomes: Vec<(&StoredTask, Outcome)> = picked
        .iter()
        .map(|task| (*task, scratch.merge(task, &run.id, &identity)))
        .collect();
    let merged = outcomes.iter().any(|(_, o)| matches!(o, Outcome::Merged));
    if merged && let Err(refused) = target.refuse_replacing(&scratch) {
        scratch.remove(repo);
        return Err(refused);
    }
    let finished = if merged {
        scratch.head().and_then(|head| target.finish(repo, &head))
    } else {
        Ok(())
    };
    scratch.remove(repo);
    let report = render(&run, &target, &outcomes, &repo.toplevel);
    crate::sys::console::print_stdout(&report);
    if let Err(err) = finished {
        crate::sys::console::print_stderr(&format!(
            "porch: error: the merged result could not be put on {}: {err}\nhint: the task branches are unchanged; run `porch merge` again (with --into, once the branch is where it was)\n",
            target.branch
        ));
        return Ok(ExitCode::from(1));
    }
    let skipped = outcomes
        .iter()
        .any(|(_, o)| matches!(o, Outcome::Skipped(_)));
    Ok(if skipped {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// The tasks to merge, in tasks-file order: every succeeded one (of a repeat group, only the
/// winner), or the ones named (a group's name means its winner).
fn pick<'r>(run: &'r StoredRun, names: &[String]) -> Result<Vec<&'r StoredTask>, Error> {
    let tasks = &run.results.tasks;
    let chosen: Vec<&StoredTask> = if names.is_empty() {
        tasks
            .iter()
            .filter(|t| t.succeeded() && (t.group.is_none() || t.winner == Some(true)))
            .filter(|t| crate::results::approved_or_unreviewed(t))
            .collect()
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
    if chosen.is_empty() {
        return Err(Error::setup(
            format!("run {} has no succeeded task to merge", run.id),
            "`porch status` shows what each task did; `porch resume` re-runs what failed",
        ));
    }
    Ok(chosen)
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
                short(&first.base_commit)
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
            start_name: short(&start),
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
        let ignored = unsaved::ignored_writes(checkout, &written).unwrap_or_default();
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

fn short(commit: &str) -> String {
    commit.chars().take(12).collect()
}

/// What became of one task's branch.
enum Outcome {
    Merged,
    /// The target already held everything the branch has.
    AlreadyIn,
    Skipped(String),
}

/// porch's own worktree, on a detached HEAD, where the merges happen.
struct Scratch {
    dir: PathBuf,
}

impl Scratch {
    fn create(repo: &Repo, state: &StateDir, run_id: &str, start: &str) -> Result<Scratch, Error> {
        let dir = state
            .merge_dir()
            .join(format!("{run_id}-{}", std::process::id()));
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

    fn merge(&self, task: &StoredTask, run_id: &str, identity: &[String]) -> Outcome {
        let reference = format!("refs/heads/{}", task.branch);
        if !git::ref_exists(&self.dir, &reference) {
            return Outcome::Skipped(format!("the branch {} no longer exists", task.branch));
        }
        let before = self.head().unwrap_or_default();
        let title = format!("Merge task {} ({})", task.name, task.branch);
        let body = task.description.clone().unwrap_or_default();
        let trailers = format!("Porch-Task: {}\nPorch-Run: {run_id}", task.name);
        let mut paragraphs = vec![title.as_str()];
        if !body.is_empty() {
            paragraphs.push(&body);
        }
        paragraphs.push(&trailers);
        match git::merge_no_ff(&self.dir, &reference, &paragraphs, identity) {
            Ok(_) if self.head().unwrap_or_default() == before => Outcome::AlreadyIn,
            Ok(_) => Outcome::Merged,
            Err(err) => self.undo(err),
        }
    }

    /// Names the conflicting files of a merge that stopped, and puts the worktree back.
    fn undo(&self, err: git::GitError) -> Outcome {
        let files = git::conflicted_files(&self.dir).unwrap_or_default();
        git::abort_merge(&self.dir);
        if files.is_empty() {
            Outcome::Skipped(format!("git could not merge it: {}", err.reason()))
        } else {
            Outcome::Skipped(format!(
                "conflicts with what was merged before it, in {}",
                files.join(", ")
            ))
        }
    }

    fn remove(self, repo: &Repo) {
        let _ = repo.force_remove_worktree(&self.dir);
    }
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
    for (task, outcome) in outcomes {
        let (word, detail) = match outcome {
            Outcome::Merged => ("merged ", String::new()),
            Outcome::AlreadyIn => ("merged ", "  (nothing new: already there)".to_string()),
            Outcome::Skipped(why) => ("SKIPPED", format!("  {why}")),
        };
        let line = format!("  {word} {:<width$}{detail}", task.branch);
        text.push_str(line.trim_end());
        text.push('\n');
    }
    text.push_str(&render_tally(target, outcomes, repo));
    let changed = outcomes.iter().any(|(_, o)| matches!(o, Outcome::Merged));
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

/// How many merged, and the commands that merge the skipped ones by hand (in the repository
/// whatever the directory porch was run in).
fn render_tally(target: &Target, outcomes: &[(&StoredTask, Outcome)], repo: &Path) -> String {
    let repo = repo.to_string_lossy();
    let mut text = String::new();
    let merged = outcomes
        .iter()
        .filter(|(_, o)| !matches!(o, Outcome::Skipped(_)))
        .count();
    let skipped: Vec<&str> = outcomes
        .iter()
        .filter(|(_, o)| matches!(o, Outcome::Skipped(_)))
        .map(|(t, _)| t.branch.as_str())
        .collect();
    text.push_str(&format!(
        "{merged} of {} merged, {} skipped\n",
        outcomes.len(),
        skipped.len()
    ));
    if !skipped.is_empty() {
        text.push_str(&format!(
            "to merge what was skipped, resolving its conflicts yourself:\n  {}\n",
            quote::command(&["git", "-C", &repo, "checkout", &target.branch])
        ));
        for branch in &skipped {
            text.push_str(&format!(
                "  {}\n",
                quote::command(&["git", "-C", &repo, "merge", branch])
            ));
        }
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
        pick(run, &names)
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
