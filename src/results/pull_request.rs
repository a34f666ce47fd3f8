//! A task's pull request as a reviewer reads it: its title, and a body with the prompt and
//! what the run knows of the task (status, cost, turns, changes, check, session), so nobody
//! needs porch to review it (pure; the caller hides the task's `env` values).

use crate::results::TaskResult;

/// Longest title: GitHub shows about this much in a list.
const TITLE_LIMIT: usize = 120;

/// What the body is made from besides the task's result.
pub struct About<'a> {
    pub task: &'a TaskResult,
    /// The task's prompt as the run sent it.
    pub prompt: &'a str,
    pub run_id: &'a str,
    /// The pull requests (or branches) a task with several dependencies builds on.
    pub builds_on: &'a [String],
}

/// `NAME: description`, else `NAME: ` and the prompt's first line; a repeated task's attempt
/// is titled by its task's name.
pub fn title(task: &TaskResult, prompt: &str) -> String {
    let name = task.group.as_deref().unwrap_or(&task.name);
    let what = match task.description.as_deref().map(str::trim) {
        Some(description) if !description.is_empty() => description,
        _ => prompt
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty())
            .unwrap_or(""),
    };
    let whole = if what.is_empty() {
        name.to_string()
    } else {
        format!("{name}: {what}")
    };
    if whole.chars().count() <= TITLE_LIMIT {
        return whole;
    }
    let cut: String = whole.chars().take(TITLE_LIMIT - 1).collect();
    format!("{cut}…")
}

pub fn body(about: &About) -> String {
    let task = about.task;
    let mut text = String::from("Opened by porch from this prompt:\n\n");
    for line in about.prompt.trim_end().lines() {
        let quoted = if line.trim().is_empty() {
            ">\n".to_string()
        } else {
            format!("> {line}\n")
        };
        text.push_str(&quoted);
    }
    text.push_str("\n| | |\n|---|---|\n");
    for (key, value) in facts(task, about.run_id) {
        text.push_str(&format!("| {key} | {} |\n", value.replace('|', "\\|")));
    }
    if !about.builds_on.is_empty() {
        text.push_str(&format!(
            "\nBuilds on {}: based on the run's base branch, so this diff holds their changes too.\n",
            about.builds_on.join(", ")
        ));
    }
    text
}

/// The rows of the body's table.
fn facts(task: &TaskResult, run_id: &str) -> Vec<(&'static str, String)> {
    let unknown = || "unknown".to_string();
    let mut rows = vec![
        ("task", task.name.clone()),
        ("status", status_word(task)),
        (
            "cost",
            task.cost_usd.map_or_else(unknown, |c| format!("${c:.2}")),
        ),
        (
            "turns",
            task.num_turns.map_or_else(unknown, |n| n.to_string()),
        ),
        (
            "changes",
            format!(
                "{} file(s), +{} −{}, {} commit(s)",
                task.files_changed, task.insertions, task.deletions, task.commits
            ),
        ),
        ("check", check_word(task)),
        (
            "branch",
            format!("`{}` from `{}`", task.branch, task.base_branch),
        ),
    ];
    if let Some(session) = &task.session_id {
        rows.push(("session", format!("`{session}`")));
    }
    rows.push(("porch run", format!("`{run_id}`")));
    rows
}

fn status_word(task: &TaskResult) -> String {
    let status = serde_json::to_value(task.status)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default();
    match task.winner {
        Some(true) => format!("{status} (picked among the task's attempts)"),
        _ => status,
    }
}

fn check_word(task: &TaskResult) -> String {
    match &task.check {
        None => "none".to_string(),
        Some(check) => match check.exit_code {
            Some(0) => "passed".to_string(),
            Some(code) => format!("failed (exit {code})"),
            None => "did not finish".to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::CheckRun;
    use crate::results::Status;

    #[test]
    fn the_title_is_the_name_and_the_description_or_the_prompts_first_line() {
        let mut task = TaskResult::example("auth", Status::Succeeded);
        assert_eq!(title(&task, "\n  Add login\nmore"), "auth: Add login");
        task.description = Some("Login for the API".into());
        assert_eq!(title(&task, "Add login"), "auth: Login for the API");
        task.group = Some("auth-group".into());
        assert_eq!(title(&task, ""), "auth-group: Login for the API");
        task.description = Some("x".repeat(300));
        assert_eq!(title(&task, "").chars().count(), TITLE_LIMIT);
    }

    #[test]
    fn the_body_holds_the_prompt_and_what_a_reviewer_asks() {
        let task = TaskResult {
            cost_usd: Some(0.1234),
            num_turns: Some(7),
            files_changed: 2,
            insertions: 10,
            deletions: 3,
            commits: 1,
            session_id: Some("s-1".into()),
            check: Some(CheckRun {
                exit_code: Some(0),
                duration_ms: 5,
                ..CheckRun::default()
            }),
            ..TaskResult::example("a", Status::Succeeded)
        };
        let builds_on = ["#4".to_string(), "#5".to_string()];
        let about = About {
            task: &task,
            prompt: "Fix it\n\nwith | pipes",
            run_id: "R1",
            builds_on: &builds_on,
        };
        let text = body(&about);
        for part in [
            "> Fix it\n>\n> with | pipes\n",
            "| status | succeeded |",
            "| cost | $0.12 |",
            "| turns | 7 |",
            "| changes | 2 file(s), +10 −3, 1 commit(s) |",
            "| check | passed |",
            "| session | `s-1` |",
            "| porch run | `R1` |",
            "Builds on #4, #5",
        ] {
            assert!(text.contains(part), "{part:?} in\n{text}");
        }
    }
}
