//! Which succeeded branches collide, found when every task has ended: each pair of succeeded
//! branches that change a common file is merged by git in memory (`merge-tree --write-tree`),
//! never touching a work tree. The rivals of one repeat group are not meant to be merged
//! together, so they are not compared with each other.
//!
//! Bounded by what overlaps: each branch's changed paths (the diff its task read at its end,
//! when the branch has not moved since, else one `git diff --raw`), then a merge only for the
//! pairs that share a file, a few at a time.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::collections::BTreeSet;
use std::collections::HashMap;
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::git;
use crate::results::Conflict;
use crate::results::Status;
use crate::results::TaskResult;
use crate::task::plan::Plan;

/// git processes at once: enough to hide their start-up, few enough for a busy machine.
const AT_ONCE: usize = 4;

/// What was found: the pairs, and why some or all could not be looked at.
#[derive(Debug, Default)]
pub struct Found {
    pub conflicts: Vec<Conflict>,
    pub note: Option<String>,
}

/// The pairs of `tasks`' succeeded branches that change a common file, in tasks-file order,
/// each with whether it merges cleanly; not a pair where one branch is built on the other.
pub fn find(repo_dir: &Path, tasks: &[TaskResult]) -> Found {
    let succeeded: Vec<usize> = (0..tasks.len())
        .filter(|&i| tasks[i].status == Status::Succeeded)
        .collect();
    if succeeded.len() < 2 {
        return Found::default();
    }
    if let Some(version) = git::version(repo_dir)
        && version < git::MERGE_TREE_VERSION
    {
        let (major, minor) = version;
        let (need_major, need_minor) = git::MERGE_TREE_VERSION;
        return Found {
            conflicts: Vec::new(),
            note: Some(format!(
                "not looked for: git {major}.{minor} has no `merge-tree --write-tree` (git {need_major}.{need_minor} or later)"
            )),
        };
    }
    let mut problems = Vec::new();
    let heads = branch_heads(repo_dir, tasks, &succeeded);
    let changed = in_parallel(&succeeded, |&i| {
        let task = &tasks[i];
        let reference = format!("refs/heads/{}", task.branch);
        match &task.read_diff {
            Some(read) if heads.get(&reference) == Some(&read.head) => {
                Ok(git::raw_entries(&read.raw))
            }
            _ => git::changed_entries(repo_dir, &task.base_commit, &task.branch),
        }
    });
    let mut branches = Vec::new();
    for (&i, entries) in succeeded.iter().zip(changed) {
        match entries {
            Ok(entries) => branches.push(Branch {
                index: i,
                group: tasks[i].group.as_deref(),
                after: entries.into_iter().collect(),
            }),
            Err(err) => problems.push(format!("{}: {err}", tasks[i].name)),
        }
    }
    let (plain, pairs) = pairs_to_merge(repo_dir, tasks, &branches);
    let merged = in_parallel(&pairs, |pair| {
        git::merge_conflicts(repo_dir, &tasks[pair.a].branch, &tasks[pair.b].branch)
    });
    let mut conflicts = Vec::new();
    let plainly = plain.into_iter().map(|pair| (pair, Ok(Vec::new())));
    let mut looked_at: Vec<_> = pairs.into_iter().zip(merged).chain(plainly).collect();
    looked_at.sort_by_key(|(pair, _)| (pair.a, pair.b));
    for (pair, merged) in looked_at {
        let names = [tasks[pair.a].name.clone(), tasks[pair.b].name.clone()];
        match merged {
            Ok(conflicting) => conflicts.push(Conflict {
                clean: conflicting.is_empty(),
                files: if conflicting.is_empty() {
                    pair.shared
                } else {
                    conflicting
                },
                tasks: names,
            }),
            Err(err) => problems.push(format!("{} and {}: {err}", names[0], names[1])),
        }
    }
    Found {
        conflicts,
        note: (!problems.is_empty())
            .then(|| format!("git could not compare: {}", problems.join("; "))),
    }
}

/// Where the branches whose task kept its diff point now, in one git process: a diff read at
/// the same commit is still the branch's, and spares a `git diff` (no entry: git is asked).
fn branch_heads(
    repo_dir: &Path,
    tasks: &[TaskResult],
    succeeded: &[usize],
) -> HashMap<String, String> {
    let references: Vec<String> = (succeeded.iter())
        .filter(|&&i| tasks[i].read_diff.is_some())
        .map(|&i| format!("refs/heads/{}", tasks[i].branch))
        .collect();
    if references.is_empty() {
        return HashMap::new();
    }
    let references: Vec<&str> = references.iter().map(String::as_str).collect();
    git::ref_commits(repo_dir, &references).unwrap_or_default()
}

/// The overlapping pairs worth a look, split into those known to merge cleanly without git
/// and those git must merge. A branch built on the other (`depends_on`) holds its work:
/// merging them cannot conflict, and their shared files are no news. Two branches that started
/// from one commit were not built on each other (a dependant starts from its dependency's
/// work): git is not asked, which spares two processes a pair when many tasks change one file.
fn pairs_to_merge(
    repo_dir: &Path,
    tasks: &[TaskResult],
    branches: &[Branch],
) -> (Vec<Pair>, Vec<Pair>) {
    let by_index: BTreeMap<usize, &Branch> = branches.iter().map(|b| (b.index, b)).collect();
    let one_base = |pair: &Pair| tasks[pair.a].base_commit == tasks[pair.b].base_commit;
    let pairs = overlapping_pairs(branches);
    // A branch built on the other (`depends_on`) holds its work: merging them cannot conflict,
    // and their shared files are no news. Only branches from different bases can be; one
    // history walk per such branch, not one per pair (with 64 branches on one file, pairs
    // would be thousands of git processes in a row).
    let walked: Vec<usize> = (branches.iter())
        .map(|b| b.index)
        .filter(|&i| (pairs.iter()).any(|p| !one_base(p) && (p.a == i || p.b == i)))
        .collect();
    let histories: BTreeMap<usize, Vec<String>> = (walked.iter().copied())
        .zip(in_parallel(&walked, |&i| {
            git::branches_in_history_of(repo_dir, &tasks[i].branch).unwrap_or_default()
        }))
        .collect();
    let built_on = |x: usize, y: usize| {
        histories
            .get(&x)
            .is_some_and(|h| h.contains(&tasks[y].branch))
    };
    pairs
        .into_iter()
        .filter(|pair| one_base(pair) || (!built_on(pair.b, pair.a) && !built_on(pair.a, pair.b)))
        .partition(|pair| {
            one_base(pair) && merges_plainly(by_index[&pair.a], by_index[&pair.b], &pair.shared)
        })
}

/// Hides each task's `env` values in the files of its pairs: git found them by their real
/// names, the results and the summary only show them.
pub fn hide_env_values(conflicts: &mut [Conflict], plan: &Plan) {
    for conflict in conflicts {
        let redactors = (plan.tasks.iter())
            .filter(|t| conflict.tasks.contains(&t.task.name))
            .map(|t| &t.redactor);
        for redactor in redactors {
            for file in &mut conflict.files {
                if let Cow::Owned(hidden) = redactor.redact(file) {
                    *file = hidden;
                }
            }
        }
    }
}

/// A succeeded branch: its task's place in the results, its group, the paths it changes.
#[derive(Debug)]
struct Branch<'a> {
    index: usize,
    group: Option<&'a str>,
    /// Each path it changes, and what that holds on the branch (`MODE OBJECT`), `None` when
    /// deleted.
    after: BTreeMap<String, Option<String>>,
}

impl Branch<'_> {
    fn paths(&self) -> impl Iterator<Item = &String> {
        self.after.keys()
    }
}

/// Whether two branches from one base merge cleanly by what they hold, without asking git:
/// neither deletes a path (so git finds no rename to follow), each shared path ends the same
/// on both (mode and object), and no path of one is a directory of the other's (a file
/// against a directory). Many tasks writing one file the same way cost no merge each pair.
fn merges_plainly(a: &Branch, b: &Branch, shared: &[String]) -> bool {
    let deletes = |branch: &Branch| branch.after.values().any(Option::is_none);
    if deletes(a) || deletes(b) {
        return false;
    }
    if !shared
        .iter()
        .all(|path| a.after.get(path) == b.after.get(path))
    {
        return false;
    }
    let directories = |branch: &Branch| -> BTreeSet<String> {
        (branch.paths())
            .flat_map(|path| {
                path.match_indices('/')
                    .map(|(at, _)| path[..at].to_string())
                    .collect::<Vec<_>>()
            })
            .collect()
    };
    let (dirs_a, dirs_b) = (directories(a), directories(b));
    !a.paths().any(|path| dirs_b.contains(path)) && !b.paths().any(|path| dirs_a.contains(path))
}

/// Two branches that change the same files, by their tasks' places (`a` before `b`).
#[derive(Debug, PartialEq)]
struct Pair {
    a: usize,
    b: usize,
    /// The paths both change, sorted.
    shared: Vec<String>,
}

/// Every pair of `branches` that changes a common path, but for rivals of one group, in
/// tasks-file order. Found through an index from path to branches, so branches that share
/// nothing cost nothing.
fn overlapping_pairs(branches: &[Branch]) -> Vec<Pair> {
    let mut by_path: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (k, branch) in branches.iter().enumerate() {
        for path in branch.paths() {
            by_path.entry(path.as_str()).or_default().push(k);
        }
    }
    let mut shared: BTreeMap<(usize, usize), Vec<String>> = BTreeMap::new();
    for (path, holders) in &by_path {
        for (n, &x) in holders.iter().enumerate() {
            for &y in &holders[n + 1..] {
                let (first, second) = (&branches[x], &branches[y]);
                if first.group.is_some() && first.group == second.group {
                    continue;
                }
                let key = (first.index.min(second.index), first.index.max(second.index));
                shared.entry(key).or_default().push(path.to_string());
            }
        }
    }
    shared
        .into_iter()
        .map(|((a, b), shared)| Pair { a, b, shared })
        .collect()
}

/// `work` applied to every item, `AT_ONCE` at a time; the answers in the items' order.
fn in_parallel<T: Sync, R: Send>(items: &[T], work: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let next = AtomicUsize::new(0);
    let answers: Mutex<Vec<Option<R>>> = Mutex::new((0..items.len()).map(|_| None).collect());
    std::thread::scope(|scope| {
        for _ in 0..AT_ONCE.min(items.len()) {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(item) = items.get(i) else { break };
                    let answer = work(item);
                    if let Ok(mut answers) = answers.lock() {
                        answers[i] = Some(answer);
                    }
                }
            });
        }
    });
    let answers = answers.into_inner().unwrap_or_else(|e| e.into_inner());
    answers
        .into_iter()
        .map(|a| a.expect("every item answered"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn branch<'a>(index: usize, group: Option<&'a str>, paths: &[&str]) -> Branch<'a> {
        // What the paths hold is no matter to which branches are paired.
        Branch {
            index,
            group,
            after: paths.iter().map(|p| (p.to_string(), None)).collect(),
        }
    }

    /// A branch holding `entries`: (path, object), `None` for a deleted path.
    fn holding(entries: &[(&str, Option<&str>)]) -> Branch<'static> {
        Branch {
            index: 0,
            group: None,
            after: (entries.iter())
                .map(|(p, object)| (p.to_string(), object.map(|o| format!("100644 {o}"))))
                .collect(),
        }
    }

    #[test]
    fn only_the_same_content_with_no_deletion_and_no_file_against_a_directory_merges_plainly() {
        let shared = ["out.txt".to_string()];
        let same = holding(&[("out.txt", Some("aa")), ("a.txt", Some("11"))]);
        let cases = [
            (
                holding(&[("out.txt", Some("aa")), ("b/c.txt", Some("22"))]),
                true,
            ),
            (holding(&[("out.txt", Some("bb"))]), false),
            (
                holding(&[("out.txt", Some("aa")), ("old.txt", None)]),
                false,
            ),
            // `a.txt` is a file on one side and a directory on the other.
            (
                holding(&[("out.txt", Some("aa")), ("a.txt/d", Some("33"))]),
                false,
            ),
        ];
        for (other, plain) in cases {
            assert_eq!(merges_plainly(&same, &other, &shared), plain, "{other:?}");
            assert_eq!(merges_plainly(&other, &same, &shared), plain, "{other:?}");
        }
    }

    /// Each pair as (a, b, the shared paths joined by ", ").
    fn pairs(branches: &[Branch]) -> Vec<(usize, usize, String)> {
        overlapping_pairs(branches)
            .into_iter()
            .map(|p| (p.a, p.b, p.shared.join(", ")))
            .collect()
    }

    #[test]
    fn only_branches_that_share_a_path_are_paired_and_rivals_never() {
        let branches = [
            branch(0, None, &["README.md", "src/a.rs"]),
            branch(1, None, &["src/b.rs"]),
            branch(2, Some("fix"), &["src/a.rs", "src/b.rs", "README.md"]),
            branch(3, Some("fix"), &["src/a.rs"]),
            branch(5, Some("lint"), &["src/b.rs"]),
        ];
        let expected = [
            (0, 2, "README.md, src/a.rs"),
            (0, 3, "src/a.rs"),
            (1, 2, "src/b.rs"),
            // Rivals of one group are not compared; of different groups, they are.
            (1, 5, "src/b.rs"),
            (2, 5, "src/b.rs"),
        ]
        .map(|(a, b, shared)| (a, b, shared.to_string()));
        assert_eq!(pairs(&branches), expected);
    }

    #[test]
    fn branches_that_share_nothing_make_no_pair() {
        let branches = [
            branch(0, None, &["a"]),
            branch(1, None, &["b"]),
            branch(2, None, &[]),
        ];
        assert!(pairs(&branches).is_empty());
    }

    #[test]
    fn work_in_parallel_answers_in_the_items_order() {
        let items: Vec<u64> = (0..50).collect();
        assert_eq!(
            in_parallel(&items, |n| n * 2),
            (0..50).map(|n| n * 2).collect::<Vec<_>>()
        );
        assert!(in_parallel(&[] as &[u64], |n| *n).is_empty());
    }
}
