//! What an earlier run (or anything else) left where a task's branch and worktree must go, and
//! the one error that lists all of it with the commands that remove it.

use std::path::{Path, PathBuf};

use crate::error::Error;
use crate::git;
use crate::git::Repo;
use crate::git::WorktreeEntry;
use crate::preflight::taskfile;
use crate::state::StateDir;
use crate::state::runs::Location;
use crate::state::runs::RunChoice;
use crate::util::quote;

/// What already exists in the repository that can stand in a task's way.
pub struct Existing<'a> {
    /// Full ref names: the branches `task` and `task/...`, and saved attempts under
    /// `refs/porch/attempts/`.
    pub task_refs: &'a [String],
    /// The worktrees git has registered.
    pub registered: &'a [WorktreeEntry],
}

/// Everything in one task's way; a task with none of it has no `Conflict`.
#[derive(Debug, PartialEq)]
pub struct Conflict {
    pub index: usize,
    pub name: String,
    /// The branch the task would have.
    pub branch: String,
    pub branches: Vec<String>,
    pub registered: Vec<PathBuf>,
    /// Those of `registered` that were never checked out (porch was killed between
    /// registering and checking out): only `git worktree remove --force` removes them, and
    /// they hold nothing to lose.
    pub never_checked_out: Vec<PathBuf>,
    pub directory: Option<PathBuf>,
    /// Worktrees git knows below `directory`: `rm -r` would delete them.
    pub holds_worktrees: Vec<PathBuf>,
    /// Failed attempts an earlier `--retries` run kept; a new run would overwrite them.
    pub attempts: Vec<String>,
}

impl Existing<'_> {
    /// A branch git cannot create beside what exists: git keeps branches as files, so `task`
    /// cannot be a branch and a directory of branches at once. An existing branch above one of
    /// `branches` (`task` for `task/NAME`, `nightly` for `nightly/…`), below one (`task/NAME/x`
    /// for `task/NAME`), or two of `branches` that stand so themselves. The first one found.
    pub fn blocked_branch<'b>(&'b self, branches: &'b [String]) -> Option<Blocked<'b>> {
        let existing = || {
            self.task_refs
                .iter()
                .filter_map(|r| r.strip_prefix("refs/heads/"))
        };
        let in_the_way = |branch: &str, other: &str| {
            let above = branch.starts_with(&format!("{other}/"));
            let below = other.starts_with(&format!("{branch}/"));
            above || below
        };
        branches.iter().find_map(|branch| {
            let blocked = |blocker: &'b str, exists: bool| Blocked {
                branch: branch.as_str(),
                blocker,
                exists,
            };
            existing()
                .find(|other| in_the_way(branch, other))
                .map(|other| blocked(other, true))
                .or_else(|| {
                    (branches.iter())
                        .find(|other| in_the_way(branch, other))
                        .map(|other| blocked(other.as_str(), false))
                })
        })
    }

    /// The worktree git has registered that `worktree`, a task's, would be inside: git would
    /// take the new one for files of the old, and removing the old (`porch clean`) would delete
    /// the new one and its work.
    pub fn enclosing_worktree(&self, worktree: &Path) -> Option<&WorktreeEntry> {
        self.registered
            .iter()
            .find(|w| !w.bare && w.path != worktree && worktree.starts_with(&w.path))
    }

    /// What stands where task `index`, called `name`, puts its `branch` and its `worktree`;
    /// `directory_exists` says whether anything is at that path already. Saved attempts are
    /// kept under the task's `slot` (its branch without a leading `task/`).
    pub fn conflict_for(
        &self,
        index: usize,
        name: &str,
        (branch, slot): (&str, &str),
        worktree: &Path,
        directory_exists: bool,
    ) -> Option<Conflict> {
        let attempts_prefix = format!("{}/{slot}/", git::ATTEMPTS_REFS);
        let conflict = Conflict {
            index,
            name: name.to_string(),
            branch: branch.to_string(),
            // A branch below it (`task/NAME/x`) was refused before (`blocked_branch`).
            branches: self
                .task_refs
                .iter()
                .filter_map(|r| r.strip_prefix("refs/heads/"))
                .filter(|r| *r == branch)
                .map(String::from)
                .collect(),
            registered: self
                .registered
                .iter()
                .filter(|w| w.path == worktree || w.branch.as_deref() == Some(branch))
                .map(|w| w.path.clone())
                .collect(),
            never_checked_out: Vec::new(),
            directory: directory_exists.then(|| worktree.to_path_buf()),
            holds_worktrees: self
                .registered
                .iter()
                .filter(|w| directory_exists && w.path != worktree && w.path.starts_with(worktree))
                .map(|w| w.path.clone())
                .collect(),
            attempts: self
                .task_refs
                .iter()
                .filter(|r| r.starts_with(&attempts_prefix))
                .cloned()
                .collect(),
        };
        (!conflict.is_empty()).then_some(conflict)
    }
}

impl Conflict {
    fn is_empty(&self) -> bool {
        self.branches.is_empty()
            && self.registered.is_empty()
            && self.directory.is_none()
            && self.attempts.is_empty()
    }
}

/// A branch git cannot create beside another (see `Existing::blocked_branch`).
#[derive(Debug, PartialEq)]
pub struct Blocked<'a> {
    /// The task's branch.
    pub branch: &'a str,
    /// The branch above or below it.
    pub blocker: &'a str,
    /// Whether the blocker exists in the repository, or is another task's branch of this run.
    pub exists: bool,
}

pub fn blocked_branch_error(toplevel: &Path, blocked: &Blocked) -> Error {
    let Blocked {
        branch,
        blocker,
        exists,
    } = *blocked;
    let why = "a branch cannot also be a directory of branches";
    if !exists {
        return Error::setup(
            format!(
                "this run would make the branches {branch} and {blocker}, which git cannot both create: {why}"
            ),
            "choose a --branch-template (or branch_template) that gives every task a branch at the same depth, e.g. 'nightly/{date}/{name}'",
        );
    }
    Error::setup(
        format!(
            "the repository {} has a branch named `{blocker}`, so git cannot create {branch}: {why}",
            toplevel.display()
        ),
        format!(
            "rename the task, or choose another --branch-template; or rename that branch: {} OTHER-NAME",
            quote::command(&[
                "git",
                "-C",
                &toplevel.to_string_lossy(),
                "branch",
                "-m",
                blocker
            ])
        ),
    )
}

/// Task `index`, called `name`, would have its worktree inside the worktree `outer`.
pub fn nested_worktree_error(
    file: &str,
    (index, name): (usize, &str),
    worktree: &Path,
    outer: &WorktreeEntry,
) -> Error {
    let on = outer
        .branch
        .as_deref()
        .map_or(String::new(), |b| format!(" (on {b})"));
    Error::Tasks {
        file: file.to_string(),
        task: Some(taskfile::task_label(index, Some(name))),
        field: Some("name".to_string()),
        message: format!(
            "its worktree {} would be inside the worktree {}{on}: git would see the new one as files of the old, and removing the old (porch clean) would delete the new one's work",
            worktree.display(),
            outer.path.display()
        ),
        hint: Some("choose a --branch-template (or branch_template) whose first part is not the directory of an existing worktree, e.g. 'nightly-{date}/{name}', or rename the task; or give --worktree-dir another directory".to_string()),
    }
}

/// Where a task of this run puts its worktree.
#[derive(Debug, PartialEq)]
pub struct Place<'a> {
    pub index: usize,
    pub name: &'a str,
    pub worktree: &'a Path,
}

/// Two tasks of one run whose worktrees would be one inside the other: the first such pair,
/// as (inner, outer).
pub fn nested_in_run<'a, 'b>(places: &'b [Place<'a>]) -> Option<(&'b Place<'a>, &'b Place<'a>)> {
    let mut sorted: Vec<&Place> = places.iter().collect();
    // Sorted by path (component by component), whatever lies inside a worktree comes right
    // after it: if the next one is not inside it, nothing after is.
    sorted.sort_by(|a, b| a.worktree.cmp(b.worktree));
    sorted
        .windows(2)
        .find(|pair| pair[1].worktree.starts_with(pair[0].worktree))
        .map(|pair| (pair[1], pair[0]))
}

/// Task `inner`'s worktree would be inside task `outer`'s, both of this run.
pub fn nested_in_run_error(file: &str, inner: &Place, outer: &Place) -> Error {
    Error::Tasks {
        file: file.to_string(),
        task: Some(taskfile::task_label(inner.index, Some(inner.name))),
        field: Some("name".to_string()),
        message: format!(
            "its worktree {} would be inside the worktree of {}, {}",
            inner.worktree.display(),
            taskfile::task_label(outer.index, Some(outer.name)),
            outer.worktree.display()
        ),
        hint: Some("choose a --branch-template (or branch_template) that puts every task's branch at the same depth, e.g. 'nightly/{date}/{name}'".to_string()),
    }
}

/// What was found, in words, and the commands that remove it.
#[derive(Default)]
struct Findings<'a> {
    found: Vec<String>,
    commands: Vec<String>,
    branches: Vec<&'a str>,
}

impl<'a> Findings<'a> {
    fn add(&mut self, top: &str, conflict: &'a Conflict) {
        for path in &conflict.registered {
            self.found.push(format!("the worktree {}", path.display()));
            let path = path.to_string_lossy();
            // git refuses to remove a worktree holding changes, and says so: only one that was
            // never checked out (nothing to lose, every file "deleted") gets --force.
            let force = conflict.never_checked_out.iter().any(|p| *p == *path);
            let mut words = vec!["git", "-C", top, "worktree", "remove"];
            if force {
                words.push("--force");
            }
            words.push(&path);
            self.commands.push(quote::command(&words));
        }
        // A registered worktree is removed by git, never by `rm`; only a stray directory is.
        if let Some(dir) = conflict
            .directory
            .as_ref()
            .filter(|d| !conflict.registered.contains(d))
        {
            self.add_directory(dir, conflict);
        }
        for branch in &conflict.branches {
            self.found.push(format!("the branch {branch}"));
            self.branches.push(branch);
        }
        for reference in &conflict.attempts {
            self.found.push(format!("the saved attempt {reference}"));
            self.commands.push(quote::command(&[
                "git",
                "-C",
                top,
                "update-ref",
                "-d",
                reference,
            ]));
        }
    }

    /// A directory where the task's worktree goes: `rm -r` removes it, unless it holds a
    /// worktree git knows, which `rm` would delete behind git's back.
    fn add_directory(&mut self, dir: &Path, conflict: &Conflict) {
        let place = format!(
            "the directory {} (where {}'s worktree goes)",
            dir.display(),
            conflict.branch
        );
        if conflict.holds_worktrees.is_empty() {
            self.found.push(place);
            self.commands
                .push(quote::command(&["rm", "-r", &dir.to_string_lossy()]));
            return;
        }
        let held: Vec<String> = conflict
            .holds_worktrees
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        self.found.push(format!(
            "{place}, which holds the worktree {} (move or remove that with git first)",
            held.join(", ")
        ));
    }
}

/// The stored run that left what stands in the tasks' way, and how to go on from it.
#[derive(Debug, PartialEq)]
pub struct EarlierRun {
    pub id: String,
    /// Some of those tasks did not succeed there: `porch resume` goes on with them.
    pub unfinished: bool,
    /// REPO, and `--worktree-dir` when the run was given one: what a pasted command needs.
    pub repo: String,
    pub worktree_dir: Option<String>,
}

impl EarlierRun {
    /// `porch VERB --run ID [--worktree-dir DIR] REPO`, quoted for a shell (a resume takes the
    /// run's agent and settings from what the run recorded).
    fn command(&self, verb: &str) -> String {
        let choice = RunChoice {
            repo: PathBuf::from(&self.repo),
            worktree_dir: self.worktree_dir.as_ref().map(PathBuf::from),
            run: None,
        };
        choice.command(verb, &self.id, &[])
    }
}

/// The newest run stored in `state` whose tasks had the branches in the way, if any: the
/// run to resume (or to review) rather than to delete. `worktree_dir` is the `--worktree-dir`
/// this run was given, if any; the earlier run was found there, so it is the one to give.
pub fn earlier_run(
    repo: &Repo,
    state: &StateDir,
    worktree_dir: Option<&Path>,
    conflicts: &[Conflict],
) -> Option<EarlierRun> {
    let location = Location {
        repo: repo.clone(),
        state: state.clone(),
    };
    let ids = location.run_ids().ok()?;
    let (id, unfinished) = ids.iter().rev().find_map(|id| {
        let run = location.load(id).ok()?;
        let theirs: Vec<_> = (run.results.tasks.iter())
            .filter(|t| conflicts.iter().any(|c| c.branch == t.branch))
            .collect();
        let unfinished = theirs.iter().any(|t| !t.succeeded());
        (!theirs.is_empty()).then(|| (id.clone(), unfinished))
    })?;
    Some(EarlierRun {
        id,
        unfinished,
        repo: repo.toplevel.to_string_lossy().into_owned(),
        worktree_dir: worktree_dir.map(|dir| dir.to_string_lossy().into_owned()),
    })
}

/// The one error listing everything in the tasks' way. Its hint starts with the way on that
/// keeps the work: resume the run that left it, or review and merge what it did; deleting
/// comes last, said to be deleting.
pub fn conflict_error(
    file: &str,
    toplevel: &Path,
    conflicts: &[Conflict],
    earlier: Option<&EarlierRun>,
) -> Error {
    let top = toplevel.to_string_lossy();
    let mut findings = Findings::default();
    for conflict in conflicts {
        findings.add(&top, conflict);
    }
    let Findings {
        found,
        mut commands,
        branches,
    } = findings;
    if !branches.is_empty() {
        let mut words = vec!["git", "-C", &top, "branch", "-D"];
        words.extend(branches);
        commands.push(quote::command(&words));
    }
    let labels: Vec<String> = conflicts
        .iter()
        .map(|c| taskfile::task_label(c.index, Some(&c.name)))
        .collect();
    let one = found.len() == 1;
    let mut hint = match earlier {
        Some(run) if run.unfinished => format!(
            "run {} stopped before these tasks were done; go on where it stopped:\n  {}\nor run them afresh under other names (rename the tasks)",
            run.id,
            run.command("resume")
        ),
        Some(run) => format!(
            "run {} did these tasks; review and merge their work:\n  {}\n  {}\nor run them again under other names (rename the tasks)",
            run.id,
            run.command("status"),
            run.command("merge")
        ),
        None => "review that work and keep it under another name (rename the task)".to_string(),
    };
    if commands.is_empty() {
        hint.push_str(", or move that work away");
    } else {
        hint.push_str(&format!(
            ", or remove that work, which deletes it:\n  {}",
            commands.join("\n  ")
        ));
    }
    Error::Tasks {
        file: file.to_string(),
        task: Some(labels.join(", ")),
        field: Some("name".to_string()),
        message: format!(
            "{} already exist{} from an earlier run: {}",
            if one { "this" } else { "these" },
            if one { "s" } else { "" },
            found.join(", ")
        ),
        hint: Some(hint),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WORKTREE: &str = "/wt/shop/add";

    fn worktree(path: &str, branch: Option<&str>) -> WorktreeEntry {
        WorktreeEntry {
            path: PathBuf::from(path),
            branch: branch.map(String::from),
            ..WorktreeEntry::default()
        }
    }

    /// What stands in the way of task 0, `add`, whose worktree goes to `WORKTREE`.
    fn conflict(refs: &[&str], registered: &[WorktreeEntry], dir: bool) -> Option<Conflict> {
        let task_refs: Vec<String> = refs.iter().map(|r| r.to_string()).collect();
        let existing = Existing {
            task_refs: &task_refs,
            registered,
        };
        existing.conflict_for(0, "add", ("task/add", "add"), Path::new(WORKTREE), dir)
    }

    #[test]
    fn branches_in_a_tasks_way() {
        // (existing refs, the branches that block task `add`, the rule)
        let cases: &[(&[&str], &[&str], &str)] = &[
            (&["refs/heads/task/add"], &["task/add"], "its own branch"),
            (
                &["refs/heads/task/add/x"],
                &[],
                "a branch below it is refused before, for every task",
            ),
            (
                &["refs/heads/task/add-more"],
                &[],
                "not a task whose name starts alike",
            ),
            (
                &["refs/heads/task/ad"],
                &[],
                "not a task whose name is a prefix",
            ),
            (
                &["refs/heads/task"],
                &[],
                "`task` itself is refused before, for every task",
            ),
            (
                &[
                    "refs/heads/task/add",
                    "refs/heads/task/add/x",
                    "refs/heads/task/other",
                ],
                &["task/add"],
                "only its own",
            ),
        ];
        for &(refs, blocking, rule) in cases {
            let branches = conflict(refs, &[], false).map(|c| c.branches);
            let expected: Vec<String> = blocking.iter().map(|b| b.to_string()).collect();
            assert_eq!(branches.unwrap_or_default(), expected, "{rule}");
        }
    }

    #[test]
    fn saved_attempts_in_a_tasks_way() {
        let cases: &[(&str, bool, &str)] = &[
            (
                "refs/porch/attempts/add/1",
                true,
                "the task's own saved attempt",
            ),
            (
                "refs/porch/attempts/add-more/1",
                false,
                "not another task's whose name starts alike",
            ),
            ("refs/porch/attempts/other/1", false, "not another task's"),
        ];
        for &(reference, blocks, rule) in cases {
            let attempts = conflict(&[reference], &[], false).map(|c| c.attempts);
            assert_eq!(
                attempts == Some(vec![reference.to_string()]),
                blocks,
                "{rule}"
            );
        }
    }

    struct Case<'a> {
        registered: Option<WorktreeEntry>,
        something_at_the_path: bool,
        blocking_worktree: Option<&'a str>,
        directory_found: bool,
        rule: &'a str,
    }

    #[test]
    fn worktrees_and_directories_in_a_tasks_way() {
        let cases = [
            Case {
                registered: Some(worktree(WORKTREE, Some("main"))),
                something_at_the_path: true,
                blocking_worktree: Some(WORKTREE),
                directory_found: true,
                rule: "a worktree where the task's goes",
            },
            Case {
                registered: Some(worktree("/elsewhere", Some("task/add"))),
                something_at_the_path: false,
                blocking_worktree: Some("/elsewhere"),
                directory_found: false,
                rule: "a worktree on the task's branch",
            },
            Case {
                registered: Some(worktree("/wt/shop/other", Some("task/other"))),
                something_at_the_path: true,
                blocking_worktree: None,
                directory_found: true,
                rule: "not another task's worktree, but a directory where the worktree goes",
            },
            Case {
                registered: None,
                something_at_the_path: true,
                blocking_worktree: None,
                directory_found: true,
                rule: "a directory where the worktree goes, registered or not",
            },
        ];
        for case in cases {
            let registered: Vec<WorktreeEntry> = case.registered.into_iter().collect();
            let found = conflict(&[], &registered, case.something_at_the_path).expect(case.rule);
            let expected: Vec<PathBuf> = case.blocking_worktree.iter().map(PathBuf::from).collect();
            assert_eq!(found.registered, expected, "{}", case.rule);
            assert_eq!(
                found.directory.is_some(),
                case.directory_found,
                "{}",
                case.rule
            );
        }
    }

    #[test]
    fn a_task_with_nothing_in_its_way_has_no_conflict() {
        let unrelated = [worktree("/src/shop", Some("main"))];
        assert_eq!(
            conflict(&["refs/heads/task/other"], &unrelated, false),
            None
        );
    }

    #[test]
    fn a_branch_above_or_below_a_tasks_branch_blocks_it() {
        let branches = ["task/add", "nightly/20261201/add"].map(String::from);
        // (existing refs, the branch blocked and by what)
        type Found<'a> = Option<(&'a str, &'a str)>;
        let cases: &[(&[&str], Found)] = &[
            (&["refs/heads/task"], Some(("task/add", "task"))),
            (
                &["refs/heads/nightly"],
                Some(("nightly/20261201/add", "nightly")),
            ),
            (
                &["refs/heads/nightly/20261201"],
                Some(("nightly/20261201/add", "nightly/20261201")),
            ),
            (&["refs/heads/task/add/x"], Some(("task/add", "task/add/x"))),
            (&["refs/heads/task/add"], None),
            (&["refs/heads/taskforce"], None),
            (&["refs/heads/task/add-more/x"], None),
            (&["refs/porch/attempts/task/1"], None),
            (&[], None),
        ];
        for &(refs, blocked) in cases {
            let task_refs: Vec<String> = refs.iter().map(|r| r.to_string()).collect();
            let existing = Existing {
                task_refs: &task_refs,
                registered: &[],
            };
            let found = existing.blocked_branch(&branches);
            assert_eq!(
                found.as_ref().map(|b| (b.branch, b.blocker)),
                blocked,
                "{refs:?}"
            );
            assert!(found.is_none_or(|b| b.exists), "{refs:?}");
        }
        let in_run = ["nightly/a", "nightly/a/b"].map(String::from);
        let nothing = Existing {
            task_refs: &[],
            registered: &[],
        };
        assert_eq!(
            nothing.blocked_branch(&in_run),
            Some(super::Blocked {
                branch: "nightly/a",
                blocker: "nightly/a/b",
                exists: false
            }),
            "two branches of one run"
        );
    }

    #[test]
    fn a_worktree_inside_another_is_found() {
        let registered = [
            worktree("/src/shop", Some("main")),
            worktree("/wt/shop/nightly", Some("task/nightly")),
        ];
        let existing = Existing {
            task_refs: &[],
            registered: &registered,
        };
        // (the task's worktree, the worktree it would be inside)
        let cases = [
            ("/wt/shop/nightly/add", Some("/wt/shop/nightly")),
            ("/wt/shop/nightly/deep/add", Some("/wt/shop/nightly")),
            ("/wt/shop/nightly", None),
            ("/wt/shop/nightly-2/add", None),
            ("/wt/shop/add", None),
        ];
        for (path, outer) in cases {
            let found = existing.enclosing_worktree(Path::new(path));
            assert_eq!(
                found.map(|w| w.path.as_path()),
                outer.map(Path::new),
                "{path}"
            );
        }
        let paths = ["/wt/shop/a", "/wt/shop/a-b", "/wt/shop/b/c", "/wt/shop/b"].map(PathBuf::from);
        let places: Vec<Place> = (paths.iter().enumerate())
            .map(|(index, worktree)| Place {
                index,
                name: "t",
                worktree,
            })
            .collect();
        let (inner, outer) = nested_in_run(&places).expect("b/c is inside b");
        assert_eq!((inner.index, outer.index), (2, 3));
        assert_eq!(nested_in_run(&places[..3]), None);
    }

    fn found(index: usize, name: &str) -> Conflict {
        Conflict {
            index,
            name: name.to_string(),
            branch: format!("task/{name}"),
            branches: Vec::new(),
            registered: Vec::new(),
            never_checked_out: Vec::new(),
            directory: None,
            holds_worktrees: Vec::new(),
            attempts: Vec::new(),
        }
    }

    #[test]
    fn one_finding_is_named_in_the_singular_with_its_remedy() {
        let conflicts = [Conflict {
            directory: Some(PathBuf::from(WORKTREE)),
            ..found(1, "add")
        }];
        let err = conflict_error("t.json", Path::new("/src/shop"), &conflicts, None);
        assert_eq!(
            err.to_string(),
            "t.json: tasks[1] (\"add\"): field `name`: this already exists from an earlier run: \
             the directory /wt/shop/add (where task/add's worktree goes)"
        );
        assert!(err.hint().unwrap().ends_with("\n  rm -r /wt/shop/add"));
    }

    #[test]
    fn many_findings_list_every_task_and_remove_branches_in_one_command() {
        let conflicts = [
            Conflict {
                branches: vec!["task/add".to_string()],
                // A registered worktree is also a directory: removed by git, not by rm.
                registered: vec![PathBuf::from(WORKTREE)],
                directory: Some(PathBuf::from(WORKTREE)),
                ..found(0, "add")
            },
            Conflict {
                branches: vec!["task/fix".to_string()],
                attempts: vec!["refs/porch/attempts/fix/1".to_string()],
                ..found(2, "fix")
            },
        ];
        let err = conflict_error("t.json", Path::new("/src/shop"), &conflicts, None);
        let message = err.to_string();
        assert!(
            message.starts_with(
                "t.json: tasks[0] (\"add\"), tasks[2] (\"fix\"): field `name`: these already exist"
            ),
            "{message}"
        );
        assert!(!message.contains("the directory"), "{message}");
        assert_eq!(
            err.hint().unwrap().split_once('\n').unwrap().1,
            "  git -C /src/shop worktree remove /wt/shop/add\n  \
             git -C /src/shop update-ref -d refs/porch/attempts/fix/1\n  \
             git -C /src/shop branch -D task/add task/fix"
        );
    }

    #[test]
    fn the_commands_to_remove_leftovers_never_delete_what_git_keeps() {
        let spaced = PathBuf::from("/home/me/my wt/shop/add");
        // (what was found, the commands in the hint, the rule)
        let cases = [
            (
                Conflict {
                    directory: Some(spaced.clone()),
                    ..found(0, "add")
                },
                vec!["rm -r '/home/me/my wt/shop/add'"],
                "a path is quoted, so rm deletes that directory and no other",
            ),
            (
                Conflict {
                    registered: vec![spaced.clone()],
                    directory: Some(spaced.clone()),
                    ..found(0, "add")
                },
                vec!["git -C '/my repo' worktree remove '/home/me/my wt/shop/add'"],
                "a worktree git knows is removed by git, which refuses while it holds changes",
            ),
            (
                Conflict {
                    registered: vec![spaced.clone()],
                    never_checked_out: vec![spaced.clone()],
                    directory: Some(spaced.clone()),
                    ..found(0, "add")
                },
                vec!["git -C '/my repo' worktree remove --force '/home/me/my wt/shop/add'"],
                "one never checked out needs --force, and holds nothing to lose",
            ),
            (
                Conflict {
                    directory: Some(PathBuf::from(WORKTREE)),
                    holds_worktrees: vec![PathBuf::from("/wt/shop/add/inner")],
                    ..found(0, "add")
                },
                vec![],
                "a directory holding a worktree git knows gets no rm -r",
            ),
            (
                Conflict {
                    branches: vec!["task/add".to_string()],
                    attempts: vec!["refs/porch/attempts/add/1".to_string()],
                    ..found(0, "add")
                },
                vec![
                    "git -C '/my repo' update-ref -d refs/porch/attempts/add/1",
                    "git -C '/my repo' branch -D task/add",
                ],
                "refs are plain words",
            ),
        ];
        for (conflict, commands, rule) in cases {
            let err = conflict_error("t.json", Path::new("/my repo"), &[conflict], None);
            let hint = err.hint().unwrap().to_string();
            let printed: Vec<&str> = hint.lines().skip(1).map(str::trim_start).collect();
            assert_eq!(printed, commands, "{rule}");
        }
    }

    #[test]
    fn the_way_on_from_an_earlier_run_comes_before_deleting() {
        let conflicts = [Conflict {
            branches: vec!["task/add".to_string()],
            ..found(0, "add")
        }];
        let earlier = |unfinished| EarlierRun {
            id: "20261201T201500Z-42".to_string(),
            unfinished,
            repo: "/src/my shop".to_string(),
            worktree_dir: Some("/wt".to_string()),
        };
        // (whether a task of that run is unfinished, the hint's lines)
        let cases = [
            (
                true,
                vec![
                    "run 20261201T201500Z-42 stopped before these tasks were done; go on where it stopped:",
                    "  porch resume --run 20261201T201500Z-42 --worktree-dir /wt '/src/my shop'",
                    "or run them afresh under other names (rename the tasks), or remove that work, which deletes it:",
                    "  git -C /src/shop branch -D task/add",
                ],
            ),
            (
                false,
                vec![
                    "run 20261201T201500Z-42 did these tasks; review and merge their work:",
                    "  porch status --run 20261201T201500Z-42 --worktree-dir /wt '/src/my shop'",
                    "  porch merge --run 20261201T201500Z-42 --worktree-dir /wt '/src/my shop'",
                    "or run them again under other names (rename the tasks), or remove that work, which deletes it:",
                    "  git -C /src/shop branch -D task/add",
                ],
            ),
        ];
        for (unfinished, lines) in cases {
            let run = earlier(unfinished);
            let err = conflict_error("t.json", Path::new("/src/shop"), &conflicts, Some(&run));
            let hint = err.hint().unwrap().to_string();
            assert_eq!(
                hint.lines().collect::<Vec<_>>(),
                lines,
                "unfinished: {unfinished}"
            );
        }
    }

    #[test]
    fn a_directory_holding_another_worktree_says_so() {
        let registered = [worktree("/wt/shop/add/inner", Some("dev"))];
        let found = Existing {
            task_refs: &[],
            registered: &registered,
        }
        .conflict_for(0, "add", ("task/add", "add"), Path::new(WORKTREE), true)
        .unwrap();
        assert_eq!(found.holds_worktrees, [PathBuf::from("/wt/shop/add/inner")]);
        let err = conflict_error("t.json", Path::new("/src/shop"), &[found], None);
        assert!(
            err.to_string()
                .contains("holds the worktree /wt/shop/add/inner"),
            "{err}"
        );
        assert!(!err.hint().unwrap().contains("rm -r"), "{:?}", err.hint());
    }
}
