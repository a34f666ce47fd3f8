//! The summary a person reads when the run ends: one row per task, what parallelism saved,
//! and how to review each branch.

use std::io::Write;

use crate::clip;
use crate::duration::short_ms as format_duration_ms;
use crate::preflight::Plan;
use crate::report::{Results, Status, TaskResult};

pub fn print(out: &mut impl Write, results: &Results, plan: &Plan, color: bool) {
    let _ = write_summary(out, results, plan, color);
}

fn write_summary(
    out: &mut impl Write,
    results: &Results,
    plan: &Plan,
    color: bool,
) -> std::io::Result<()> {
    let paint = |code: &str, text: &str| {
        if color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    };
    let rows: Vec<[String; 7]> = results
        .tasks
        .iter()
        .map(|t| {
            [
                status_word(t).to_string(),
                t.name.clone(),
                format_duration_ms(t.duration_ms),
                t.num_turns.map_or("-".into(), |n| n.to_string()),
                t.cost_usd.map_or("-".into(), |c| format!("${c:.4}")),
                format!("{} (+{} -{})", t.files_changed, t.insertions, t.deletions),
                t.branch.clone(),
            ]
        })
        .collect();
    let header = ["STATUS", "TASK", "TIME", "TURNS", "COST", "FILES", "BRANCH"];
    let mut widths = header.map(str::len);
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    writeln!(out)?;
    let line = |cells: [&str; 7]| {
        let mut text = String::from(" ");
        for (i, cell) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                text.push_str(&format!(" {cell}"));
            } else {
                text.push_str(&format!(" {cell:<w$}", w = widths[i]));
            }
        }
        text
    };
    writeln!(out, "{}", paint("1", &line(header)))?;
    for (task, row) in results.tasks.iter().zip(&rows) {
        let cells = [
            row[0].as_str(),
            &row[1],
            &row[2],
            &row[3],
            &row[4],
            &row[5],
            &row[6],
        ];
        let text = line(cells);
        let code = match task.status {
            Status::Succeeded if task.warnings.is_empty() => "32",
            Status::Succeeded => "33",
            _ => "31",
        };
        writeln!(out, "{}", paint(code, &text))?;
        if let Some(error) = &task.error {
            writeln!(
                out,
                "      {}",
                paint("31", &format!("error: {}", clip::one_line(error, 300)))
            )?;
        }
        for warning in &task.warnings {
            writeln!(
                out,
                "      {}",
                paint("33", &format!("warning: {}", clip::one_line(warning, 300)))
            )?;
        }
    }

    let summary = &results.summary;
    let task_time: u64 = results.tasks.iter().map(|t| t.duration_ms).sum();
    writeln!(out)?;
    let mut counts = vec![format!(
        "{} of {} tasks succeeded",
        summary.succeeded, summary.total
    )];
    for (count, what) in [
        (summary.failed, "failed"),
        (summary.timed_out, "timed out"),
        (summary.interrupted, "interrupted"),
        (summary.skipped, "skipped"),
    ] {
        if count > 0 {
            counts.push(format!("{count} {what}"));
        }
    }
    writeln!(out, "{}; cost ${:.4}", counts.join(", "), summary.cost_usd)?;
    if results.tasks.len() > 1 {
        let saved = task_time.saturating_sub(results.duration_ms);
        writeln!(
            out,
            "wall time {} for {} of task time: running in parallel saved {}",
            format_duration_ms(results.duration_ms),
            format_duration_ms(task_time),
            format_duration_ms(saved)
        )?;
    } else {
        writeln!(out, "wall time {}", format_duration_ms(results.duration_ms))?;
    }

    let repo = plan.repo.toplevel.display();
    writeln!(out)?;
    writeln!(out, "review:")?;
    for task in &results.tasks {
        if task.commits > 0 {
            // A detached HEAD moves on; the commit the branch started from does not.
            let base = if task.base_branch == "HEAD" {
                &task.base_commit
            } else {
                &task.base_branch
            };
            writeln!(out, "  git -C {repo} diff {base}...{}", task.branch)?;
        }
    }
    for task in &results.tasks {
        if let Some(session) = &task.session_id
            && task.worktree_kept
        {
            writeln!(out, "  cd {} && claude --resume {session}", task.worktree)?;
        }
    }
    writeln!(
        out,
        "each session's whole output: {}",
        plan.state_dir.join("logs").display()
    )?;
    writeln!(out, "results: {}", plan.output.display())?;
    out.flush()
}

fn status_word(task: &TaskResult) -> &'static str {
    match task.status {
        Status::Succeeded if task.warnings.is_empty() => "ok",
        Status::Succeeded => "ok!",
        Status::Failed => "FAILED",
        Status::Running => "running",
        Status::Pending => "pending",
        Status::TimedOut => "TIMED OUT",
        Status::Interrupted => "INTERRUPTED",
        Status::Skipped => "skipped",
    }
}
