//! `porch list`: the repository's worktrees, porch's marked, and task branches left without one.

use std::path::Path;

use crate::error::Error;
use crate::git;
use crate::git::BRANCH_PREFIX;
use crate::git::Repo;
use crate::git::WorktreeEntry;
use crate::util::quote;
use crate::util::table;
use crate::util::table::Layout;

pub fn list(repo_dir: &Path) -> Result<(), Error> {
    let repo = Repo::open(repo_dir)?;
    let worktrees = repo.worktrees().map_err(|e| {
        Error::setup(
            e.to_string(),
            "check the repository with `git worktree list`",
        )
    })?;
    let refs = task_refs(&repo)?;

    let mut rows: Vec<Row> = worktrees
        .iter()
        .map(|w| worktree_row(w, worktree_state(w)))
        .collect();
    rows.extend(branch_only_rows(&refs, &worktrees));
    rows.extend(saved_attempt_rows(&refs));
    crate::sys::console::print_stdout(&render(&rows));
    Ok(())
}

/// WORKTREE, BRANCH, TASK, STATE.
type Row = [String; 4];

/// The full names of the `task/...` branches and of the attempts `--retries` saved.
fn task_refs(repo: &Repo) -> Result<Vec<String>, Error> {
    git::ref_names(&repo.toplevel, &["refs/heads/task/", git::ATTEMPTS_REFS]).map_err(|e| {
        Error::setup(
            e.to_string(),
            "check the repository with `git for-each-ref`",
        )
    })
}

/// Whether the worktree holds uncommitted changes, or why that cannot be said.
fn worktree_state(worktree: &WorktreeEntry) -> String {
    if worktree.bare {
        "bare".to_string()
    } else if worktree.prunable || !worktree.path.exists() {
        "missing (git worktree prune forgets it)".to_string()
    } else {
        match git::is_dirty(&worktree.path) {
            Ok(true) => "dirty".to_string(),
            Ok(false) => "clean".to_string(),
            Err(err) => format!("unknown: {}", err.reason()),
        }
    }
}

/// A worktree's row: its branch (or the commit of a detached HEAD) and, on a `task/NAME`
/// branch, the task's name.
fn worktree_row(worktree: &WorktreeEntry, state: String) -> Row {
    let branch = worktree
        .branch
        .clone()
        .unwrap_or_else(|| match &worktree.head {
            Some(head) => format!("(detached {})", &head[..head.len().min(10)]),
            None => "-".to_string(),
        });
    let task = worktree
        .branch
        .as_deref()
        .and_then(|b| b.strip_prefix(BRANCH_PREFIX))
        .unwrap_or("-")
        .to_string();
    [worktree.path.display().to_string(), branch, task, state]
}

/// Task branches no worktree has checked out: their worktree was removed, the work is kept.
fn branch_only_rows(refs: &[String], worktrees: &[WorktreeEntry]) -> Vec<Row> {
    let checked_out: Vec<&str> = worktrees
        .iter()
        .filter_map(|w| w.branch.as_deref())
        .collect();
    refs.iter()
        .filter_map(|r| r.strip_prefix("refs/heads/"))
        .filter(|b| !checked_out.contains(b))
        .map(|branch| {
            let task = branch.strip_prefix(BRANCH_PREFIX).unwrap_or(branch);
            [
                "-".to_string(),
                branch.to_string(),
                task.to_string(),
                "branch only (no worktree)".to_string(),
            ]
        })
        .collect()
}

/// What `--retries` set aside: work that is on no branch, so easy to forget.
fn saved_attempt_rows(refs: &[String]) -> Vec<Row> {
    refs.iter()
        .filter(|r| r.starts_with(git::ATTEMPTS_REFS))
        .map(|reference| {
            let rest = reference
                .trim_start_matches(git::ATTEMPTS_REFS)
                .trim_start_matches('/');
            let (task, attempt) = rest.rsplit_once('/').unwrap_or((rest, "?"));
            [
                "-".to_string(),
                reference.to_string(),
                task.to_string(),
                format!(
                    "saved attempt {attempt} ({})",
                    quote::command(&["git", "show", reference])
                ),
            ]
        })
        .collect()
}

/// The header and the rows in columns two spaces apart.
fn render(rows: &[Row]) -> String {
    let header = ["WORKTREE", "BRANCH", "TASK", "STATE"];
    table::render(COLUMNS, header, rows)
}

const COLUMNS: Layout = Layout {
    indent: "",
    gap: "  ",
};

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn worktree(path: &str, branch: Option<&str>, head: Option<&str>) -> WorktreeEntry {
        WorktreeEntry {
            path: PathBuf::from(path),
            head: head.map(String::from),
            branch: branch.map(String::from),
            ..WorktreeEntry::default()
        }
    }

    fn strings(cells: [&str; 4]) -> Row {
        cells.map(String::from)
    }

    #[test]
    fn a_worktree_row_names_its_branch_and_task() {
        let head = Some("0123456789abcdef");
        // (the worktree, its BRANCH and TASK cells, the rule)
        let cases = [
            (
                worktree("/wt/x", Some("task/add"), head),
                ["task/add", "add"],
                "porch's: branch task/NAME",
            ),
            (
                worktree("/wt/x", Some("main"), head),
                ["main", "-"],
                "another branch is not a task",
            ),
            (
                worktree("/wt/x", None, head),
                ["(detached 0123456789)", "-"],
                "a detached HEAD shows its commit",
            ),
            (
                worktree("/wt/x", None, None),
                ["-", "-"],
                "nothing known, nothing shown",
            ),
        ];
        for (entry, [shown, task], rule) in cases {
            let row = worktree_row(&entry, "clean".to_string());
            assert_eq!(row, strings(["/wt/x", shown, task, "clean"]), "{rule}");
        }
    }

    #[test]
    fn branches_and_saved_attempts_without_a_worktree_are_listed() {
        let refs: Vec<String> = [
            "refs/heads/task/add",
            "refs/heads/task/fix",
            "refs/porch/attempts/fix/1",
        ]
        .map(String::from)
        .to_vec();
        let worktrees = [worktree("/wt/shop/add", Some("task/add"), None)];
        assert_eq!(
            branch_only_rows(&refs, &worktrees),
            [strings([
                "-",
                "task/fix",
                "fix",
                "branch only (no worktree)"
            ])]
        );
        assert_eq!(
            saved_attempt_rows(&refs),
            [strings([
                "-",
                "refs/porch/attempts/fix/1",
                "fix",
                "saved attempt 1 (git show refs/porch/attempts/fix/1)"
            ])]
        );
    }

    #[test]
    fn the_list_is_in_columns_without_trailing_spaces() {
        let rows = [
            strings(["/src/shop", "main", "-", "clean"]),
            strings(["/wt/shop/add-auth", "task/add-auth", "add-auth", "dirty"]),
            strings(["-", "task/fix", "fix", ""]),
        ];
        assert_eq!(
            render(&rows),
            "WORKTREE           BRANCH         TASK      STATE\n\
             /src/shop          main           -         clean\n\
             /wt/shop/add-auth  task/add-auth  add-auth  dirty\n\
             -                  task/fix       fix\n"
        );
        assert_eq!(render(&[]), "WORKTREE  BRANCH  TASK  STATE\n");
    }
}
