//! `porch run --dry-run`: every check a run makes, then the plan printed (as text, or one JSON
//! document with `--json`), and nothing created: the repository and the worktree directory
//! are left byte for byte as they were.

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use serde_json::{Value, json};

use crate::support::*;

/// Every path under `dir` with its kind, mode, modification time and content (a link's
/// target): what "untouched" means, down to the byte and the nanosecond.
fn every_byte(dir: &Path) -> BTreeMap<String, (u32, i64, i64, Vec<u8>)> {
    let mut found = BTreeMap::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(current) = pending.pop() {
        for entry in std::fs::read_dir(&current).unwrap().flatten() {
            let path = entry.path();
            let meta = std::fs::symlink_metadata(&path).unwrap();
            let content = if meta.file_type().is_symlink() {
                std::fs::read_link(&path)
                    .unwrap()
                    .into_os_string()
                    .into_encoded_bytes()
            } else if meta.is_file() {
                std::fs::read(&path).unwrap()
            } else {
                pending.push(path.clone());
                Vec::new()
            };
            let key = path.strip_prefix(dir).unwrap().display().to_string();
            found.insert(key, (meta.mode(), meta.mtime(), meta.mtime_nsec(), content));
        }
    }
    found
}

fn tasks_file(sandbox: &Sandbox) -> std::path::PathBuf {
    std::fs::write(sandbox.repo().join("local.log"), "KEY=1\n").unwrap();
    sandbox.tasks_json(&json!({
        "defaults": {"model": "sonnet"},
        "tasks": [
            {"name": "docs", "prompt": "@say docs", "depends_on": ["api"], "check": ["make", "test"]},
            {"name": "api", "prompt": "@say api", "copy": ["local.log"], "setup": ["npm", "ci"],
             "timeout": "10m", "max_budget_usd": 2},
            {"name": "fix", "prompt": "@say fix", "repeat": 2}
        ]
    }))
}

#[test]
fn a_dry_run_prints_the_plan_and_leaves_repository_and_worktrees_byte_for_byte() {
    let sandbox = Sandbox::new();
    // An earlier run's worktree, state and results, which a dry run must not touch either.
    let earlier = sandbox.tasks(&[("earlier", "@write e.txt e")]);
    sandbox.porch_run_tasks(&earlier).run().expect_code(0);
    let tasks = tasks_file(&sandbox);
    let before = every_byte(sandbox.path());
    for extra in [&[][..], &["--json"], &["--shard", "2/4", "-j", "2"]] {
        let run = sandbox
            .porch_run_tasks(&tasks)
            .arg("--dry-run")
            .args(extra)
            .run();
        run.expect_code(0);
        assert!(run.stderr().is_empty(), "{run}");
        assert_eq!(
            every_byte(sandbox.path()),
            before,
            "{extra:?} touched nothing\n{run}"
        );
    }
    let run = sandbox
        .porch_run_tasks(&tasks)
        .args(["-n", "-j", "8"])
        .run();
    let stdout = run.stdout();
    for line in [
        "porch run --dry-run: every check passed; nothing was created.",
        "tasks       4 to run, from the 3 of ",
        "sessions    4 at once: -j 8, but there are only 4 tasks to run",
        "  1. api\n",
        "       settings  model sonnet, permission mode acceptEdits, timeout 10m, budget $2 a session, PORCH_PORT 40010\n",
        "       copy      local.log\n       setup     npm ci\n",
        "  2. docs\n       branch    task/docs, from task/api once the tasks it waits for have succeeded\n",
        "       after     api\n",
        "       check     make test\n",
        "  4. fix-2\n",
        "       rival of  the other attempts of fix\n",
    ] {
        assert!(stdout.contains(line), "{line:?} in\n{stdout}");
    }
    let worktree = sandbox.worktree("api");
    assert!(stdout.contains(&format!("       worktree  {}\n", worktree.display())));
}

#[test]
fn the_json_plan_has_a_stable_shape_and_a_shard_preview_is_what_that_shard_runs() {
    let sandbox = Sandbox::new();
    let names: Vec<String> = (1..=12).map(|i| format!("t{i}")).collect();
    let pairs: Vec<(&str, &str)> = names.iter().map(|n| (n.as_str(), "@say hi")).collect();
    let tasks = sandbox.tasks(&pairs);
    let run = sandbox
        .porch_run_tasks(&tasks)
        .args(["--dry-run", "--json", "--shard", "2/4", "--fail-fast"])
        .env("PORCH_JOBS", "3")
        .run();
    run.expect_code(0);
    let plan: Value = serde_json::from_str(&run.stdout()).expect("one JSON document");
    assert_eq!(plan["version"], 1);
    assert_eq!(plan["tasks_in_file"], 12);
    assert_eq!(plan["shard"], json!({"index": 2, "count": 4}));
    assert_eq!(plan["max_fail"], 1);
    assert_eq!(plan["repo"], path_str(&sandbox.repo()));
    let planned: Vec<&str> = (plan["tasks"].as_array().unwrap().iter())
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert!(!planned.is_empty() && planned.len() < 12, "{plan:#}");
    let first = &plan["tasks"][0];
    for key in [
        "name",
        "group",
        "branch",
        "worktree",
        "base_branch",
        "base_commit",
        "depends_on",
        "model",
        "permission_mode",
        "timeout_ms",
        "max_turns",
        "max_budget_usd",
        "copy",
        "setup",
        "check",
        "port",
    ] {
        assert!(first.get(key).is_some(), "{key} in {first:#}");
    }
    let sessions = planned.len().min(3);
    assert_eq!(
        plan["jobs"],
        json!({"sessions": sessions, "why": if planned.len() < 3 {
            format!("PORCH_JOBS=3, but there are only {} tasks to run", planned.len())
        } else {
            "PORCH_JOBS=3".to_string()
        }})
    );

    sandbox
        .porch_run_tasks(&tasks)
        .args(["--shard", "2/4"])
        .run()
        .expect_code(0);
    let ran: Vec<String> = (sandbox.results()["tasks"].as_array().unwrap().iter())
        .map(|t| t["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ran, planned, "the preview names what the shard runs");
}

#[test]
fn a_dry_run_refuses_what_a_run_refuses_with_exit_2_and_creates_nothing() {
    let sandbox = Sandbox::new();
    let bad = sandbox.tasks_text(r#"{"tasks": [{"name": "a", "prompt": "p", "timeout": "soon"}]}"#);
    let run = sandbox.porch_run_tasks(&bad).arg("--dry-run").run();
    run.expect_code(2).expect_stderr("field `timeout`");
    assert!(run.stdout().is_empty(), "{run}");
    assert!(sandbox.created_outside_repo().is_empty());

    // What an earlier run left in the way is found as a run would find it.
    let tasks = sandbox.tasks(&[("a", "@say hi")]);
    sandbox.porch_run_tasks(&tasks).run().expect_code(0);
    let before = every_byte(sandbox.path());
    let run = sandbox.porch_run_tasks(&tasks).arg("--dry-run").run();
    run.expect_code(2).expect_stderr("task/a");
    assert_eq!(every_byte(sandbox.path()), before);

    let run = (sandbox.porch_run_tasks(&tasks))
        .args(["--dry-run", "--events"])
        .run();
    run.expect_code(2)
        .expect_stderr("--dry-run and --events cannot be used together");
}

/// `--dry-run` shows the settings that act at the run's end or while it waits: `--max-wait`,
/// `--pr` and the hooks, as text and as JSON.
#[test]
fn a_dry_run_shows_the_wait_the_pull_requests_and_the_hooks() {
    let sandbox = Sandbox::new();
    let remote = sandbox.path().join("remote.git");
    let made = std::process::Command::new("git")
        .args(["init", "-q", "--bare"])
        .arg(&remote)
        .status()
        .unwrap();
    assert!(made.success());
    sandbox.git(&["remote", "add", "origin", path_str(&remote)]);
    let tasks = sandbox.tasks(&[("a", "@say a")]);
    let extra = [
        "--dry-run",
        "--max-wait",
        "2h",
        "--pr",
        "--on-finish",
        "echo over",
        "--on-task-finish",
        "echo one",
    ];
    let run = sandbox.porch_run_tasks(&tasks).args(extra).run();
    run.expect_code(0)
        .expect_stdout("max wait    2h for a usage window to reset\n")
        .expect_stdout("pr          draft pull requests pushed to origin, at the end\n")
        .expect_stdout("on finish   sh -c 'echo over'\n")
        .expect_stdout("task hook   sh -c 'echo one'\n");
    let run = sandbox
        .porch_run_tasks(&tasks)
        .args(extra)
        .arg("--json")
        .run();
    let plan: Value = serde_json::from_str(&run.expect_code(0).stdout()).unwrap();
    assert_eq!(plan["max_wait_ms"], 7_200_000);
    assert_eq!(
        plan["pull_requests"],
        json!({"remote": "origin", "draft": true, "base": null})
    );
    assert_eq!(plan["on_finish"], json!(["sh", "-c", "echo over"]));
    assert_eq!(plan["on_task_finish"], json!(["sh", "-c", "echo one"]));
}

/// `porch resume --dry-run` shows what the resume would run (the tasks that did not succeed,
/// each continuing its session) and what it keeps, and runs nothing.
#[test]
fn a_resume_dry_run_shows_what_it_would_run_and_runs_nothing() {
    let sandbox = Sandbox::new();
    let counter = sandbox.path().join("counter");
    let flaky = format!(
        "@fail-times 1 {} 400 Bad request\n@write f.txt f",
        counter.display()
    );
    let tasks = sandbox.tasks(&[("ok", "@write a.txt a"), ("flaky", &flaky)]);
    sandbox.porch_run_tasks(&tasks).run().expect_code(1);
    let session = task(&sandbox.results(), "flaky")["session_id"]
        .as_str()
        .unwrap()
        .to_string();
    // The run's lock file says who held it last; nothing else may change.
    let untouched = |sandbox: &Sandbox| {
        let mut all = every_byte(sandbox.path());
        all.retain(|path, _| !path.contains(".porch/locks"));
        all
    };
    let before = untouched(&sandbox);
    let mut resume = sandbox.porch(&["resume", "--dry-run"]);
    resume
        .worktree_dir(sandbox.worktree_dir())
        .arg(sandbox.repo())
        .agent(fixture_agent());
    let run = resume.run();
    run.expect_code(0)
        .expect_stdout("porch resume --dry-run: every check passed; nothing was created.")
        .expect_stdout("carried     ok (kept as they were)\n")
        .expect_stdout("  1. flaky\n")
        .expect_stdout(&format!("       continues claude session {session}\n"));
    assert!(!run.stdout().contains(". ok\n"), "{run}");
    assert_eq!(untouched(&sandbox), before, "{run}");
    let mut resume = sandbox.porch(&["resume", "-n", "--json"]);
    resume
        .worktree_dir(sandbox.worktree_dir())
        .arg(sandbox.repo())
        .agent(fixture_agent());
    let plan: Value = serde_json::from_str(&resume.run().expect_code(0).stdout()).unwrap();
    assert_eq!(plan["carried"], json!(["ok"]));
    assert_eq!(plan["tasks"][0]["continues_session"], session.as_str());
    assert!(plan["resumes"].is_string(), "{plan:#}");
}
