//! `porch list`: the repository's worktrees, porch's marked, and task branches left without one.

use std::path::Path;

use crate::error::Error;
use crate::git::{self, BRANCH_PREFIX, Repo};

pub fn list(repo_dir: &Path) -> Result<(), Error> {
    let repo = Repo::open(repo_dir)?;
    let worktrees = repo.worktrees().map_err(|e| {
        Error::setup(
            e.to_string(),
            "check the repository with `git worktree list`",
        )
    })?;

    let mut rows: Vec<[String; 4]> = Vec::new();
    for worktree in &worktrees {
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
        let state = if worktree.bare {
            "bare".to_string()
        } else if worktree.prunable || !worktree.path.exists() {
            "missing (git worktree prune forgets it)".to_string()
        } else {
            match git::is_dirty(&worktree.path) {
                Ok(true) => "dirty".to_string(),
                Ok(false) => "clean".to_string(),
                Err(err) => format!("unknown: {}", err.reason()),
            }
        };
        rows.push([worktree.path.display().to_string(), branch, task, state]);
    }

    let checked_out: Vec<&str> = worktrees
        .iter()
        .filter_map(|w| w.branch.as_deref())
        .collect();
    let refs = git::run(
        &repo.toplevel,
        &[
            "for-each-ref",
            "--format=%(refname)",
            "refs/heads/task/",
            git::ATTEMPTS_REFS,
        ],
    )
    .map_err(|e| {
        Error::setup(
            e.to_string(),
            "check the repository with `git for-each-ref`",
        )
    })?;
    let task_branches: Vec<&str> = refs
        .lines()
        .filter_map(|r| r.strip_prefix("refs/heads/"))
        .collect();
    for branch in task_branches
        .into_iter()
        .filter(|b| !checked_out.contains(b))
    {
        let task = branch
            .strip_prefix(BRANCH_PREFIX)
            .unwrap_or(branch)
            .to_string();
        rows.push([
            "-".to_string(),
            branch.to_string(),
            task,
            "branch only (no worktree)".to_string(),
        ]);
    }
    // What `--retries` set aside: work that is on no branch, so easy to forget.
    for reference in refs.lines().filter(|r| r.starts_with(git::ATTEMPTS_REFS)) {
        let rest = reference
            .trim_start_matches(git::ATTEMPTS_REFS)
            .trim_start_matches('/');
        let (task, attempt) = rest.rsplit_once('/').unwrap_or((rest, "?"));
        rows.push([
            "-".to_string(),
            reference.to_string(),
            task.to_string(),
            format!("saved attempt {attempt} (git show {reference})"),
        ]);
    }

    let header = ["WORKTREE", "BRANCH", "TASK", "STATE"];
    let mut widths = header.map(str::len);
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let format_row = |cells: [&str; 4]| {
        format!(
            "{:<w0$}  {:<w1$}  {:<w2$}  {}",
            cells[0],
            cells[1],
            cells[2],
            cells[3],
            w0 = widths[0],
            w1 = widths[1],
            w2 = widths[2]
        )
    };
    let mut text = format!("{}\n", format_row(header).trim_end());
    for row in &rows {
        text.push_str(format_row([&row[0], &row[1], &row[2], &row[3]]).trim_end());
        text.push('\n');
    }
    crate::console::print_stdout(&text);
    Ok(())
}
