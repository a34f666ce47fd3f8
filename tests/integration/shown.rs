//! What porch prints and records about paths: commands a user can paste as they are, an agent's
//! control characters shown rather than obeyed, and paths without links or `..` in them.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};

use crate::support::*;

fn canonical(path: impl AsRef<Path>) -> PathBuf {
    std::fs::canonicalize(path).unwrap()
}

/// The lines of porch's stdout that are indented commands under `review:`.
fn review_lines(stdout: &str) -> Vec<String> {
    stdout
        .lines()
        .skip_while(|l| *l != "review:")
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .map(|l| l.trim_start().to_string())
        .collect()
}

/// A task whose session writes a file, then ends with a result event carrying clear-screen and
/// window-title sequences in its error text and its session id, and exits 1.
fn hostile_task() -> Value {
    let result = r#"{"type":"result","subtype":"success","is_error":true,"num_turns":1,"result":"boom \u001b[2J\u001b]0;pwned\u0007","session_id":"s 1\u001b]0;title\u0007"}"#;
    json!({
        "name": "x",
        "prompt": format!("@write new.txt hello\n@raw {result}\n@exit 1\n"),
    })
}

#[test]
fn the_summary_quotes_paths_and_shows_the_agents_control_characters() {
    let sandbox = Sandbox::new();
    let repo = sandbox.path().join("my repo");
    sandbox.git(&["clone", "-q", path_str(&sandbox.repo()), path_str(&repo)]);
    let worktree_dir = sandbox.path().join("my wt");
    let tasks = sandbox.tasks_json(&json!({ "tasks": [hostile_task()] }));
    let run = sandbox
        .porch_run(&[])
        .arg(&tasks)
        .arg(&repo)
        .worktree_dir(&worktree_dir)
        .run();
    run.expect_code(1).expect_no_panic();
    let stdout = run.stdout();
    assert!(
        !stdout.contains('\x1b'),
        "a control sequence reached the terminal:\n{run}"
    );
    assert!(
        stdout.contains(r"error: boom \x1b[2J\x1b]0;pwned\x07"),
        "the error text is shown escaped:\n{run}"
    );
    let worktree = worktree_dir.join("my repo").join("x");
    let lines = review_lines(&stdout);
    assert_eq!(
        lines,
        [
            format!("git -C '{}' diff main...task/x", repo.display()),
            format!(
                r"cd '{}' && claude --resume 's 1\x1b]0;title\x07'",
                worktree.display()
            ),
        ],
        "{run}"
    );
    // The printed command is one a shell runs as it is, with the repository's path whole.
    let diff = sandbox
        .env(Command::new("sh").arg("-c").arg(&lines[0]))
        .current_dir(sandbox.home())
        .output()
        .unwrap();
    assert!(
        diff.status.success(),
        "{}",
        String::from_utf8_lossy(&diff.stderr)
    );
    assert!(String::from_utf8_lossy(&diff.stdout).contains("+hello"));
}

#[test]
fn results_name_paths_without_dot_dot_or_links() {
    let sandbox = Sandbox::new();
    std::fs::create_dir(sandbox.path().join("real-wt")).unwrap();
    std::os::unix::fs::symlink("real-wt", sandbox.path().join("link")).unwrap();
    let tasks = sandbox.tasks(&[("x", "@write a.txt a")]);
    let run = sandbox
        .porch_run(&[])
        .arg(&tasks)
        .arg(sandbox.path().join("repo/../repo/."))
        .worktree_dir(sandbox.path().join("nowhere/../link"))
        .run();
    run.expect_code(0);
    let results = sandbox.results();
    let worktree = canonical(sandbox.path().join("real-wt"))
        .join("repo")
        .join("x");
    assert_eq!(
        results["repo"],
        path_str(&canonical(sandbox.repo())),
        "{results:#}"
    );
    assert_eq!(
        task(&results, "x")["worktree"],
        path_str(&worktree),
        "{results:#}"
    );
    assert_eq!(
        task(&results, "x")["log"],
        path_str(&worktree.with_file_name(".porch").join("logs").join("x.log")),
        "{results:#}"
    );
    // git names the worktree by the same path: the two never disagree.
    assert!(
        sandbox
            .worktrees()
            .contains(&path_str(&worktree).to_string())
    );
}

#[test]
fn a_worktree_the_session_deleted_is_not_said_to_hold_the_work() {
    let sandbox = Sandbox::new();
    let tasks = sandbox.tasks(&[("x", "@write a.txt a\n@bash rm -rf \"$PWD\"")]);
    let run = sandbox.porch_run_tasks(&tasks).run();
    run.expect_no_panic();
    let results = sandbox.results();
    let said = format!("{}\n{}", run.stdout(), results);
    assert!(!said.contains("it is still in"), "{run}\n{results:#}");
    assert!(said.contains("no longer exists"), "{run}\n{results:#}");
}

/// Sessions porch stops because the API rate-limits and has not answered them yet start again
/// later: the note saying so is news, not a problem. It is dimmed, not red, and `-q` (which
/// puts only problems on stderr) leaves it out.
#[test]
fn a_session_stopped_before_the_api_answered_it_is_a_note_not_a_problem() {
    let stopped = "rate limited before the API answered it";
    let tasks = |slots: &Path| {
        let prompt = |name: &str| {
            let api = format!("@rate-limit {} 1 6 100", slots.display());
            format!("{api}\n@sleep 0.3\n@write {name}.txt done")
        };
        json!(["t0", "t1", "t2"].map(|n| json!({"name": n, "prompt": prompt(n)})))
    };
    let extra = ["-j", "3", "--retries", "6", "--retry-backoff", "100ms"];
    let sandbox = Sandbox::new();
    let slots = sandbox.path().join("slots");
    let run = sandbox.run_tasks_json(
        &tasks(&slots),
        &[&extra[..], &["--color", "always"]].concat(),
    );
    run.expect_code(0);
    let stdout = run.stdout();
    assert!(stdout.contains(stopped), "a session was stopped:\n{run}");
    assert!(
        !stdout.contains(&format!("\x1b[31m[porch] {stopped}")),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("\x1b[2m[porch] {stopped}")),
        "{stdout}"
    );

    let sandbox = Sandbox::new();
    let slots = sandbox.path().join("slots");
    let run = sandbox.run_tasks_json(&tasks(&slots), &[&extra[..], &["-q"]].concat());
    run.expect_code(0).expect_stderr("rate limited (429)");
    assert!(!run.stderr().contains(stopped), "{run}");
}
