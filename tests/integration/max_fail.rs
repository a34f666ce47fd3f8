//! `--max-fail N` and `--fail-fast`: once N tasks have failed, nothing new starts, the tasks
//! not started are skipped with the reason, and what runs finishes; with `depends_on`, rival
//! attempts (`repeat`) and `porch resume`.

use serde_json::{Value, json};

use crate::support::*;

fn error(results: &Value, name: &str) -> String {
    task(results, name)["error"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[test]
fn fail_fast_skips_what_has_not_started_and_creates_nothing_for_it() {
    let sandbox = Sandbox::new();
    let tasks = json!([
        {"name": "broken", "prompt": "@api-error 400 Bad request"},
        {"name": "next", "prompt": "@write next.txt never"},
        {"name": "last", "prompt": "@write last.txt never"},
    ]);
    let run = sandbox.run_tasks_json(&tasks, &["-j", "1", "--fail-fast"]);
    run.expect_code(1)
        .expect_stderr("porch: 1 task failed, --fail-fast: starting no more sessions; 2 waiting task(s) skipped, 0 running go on");
    let results = sandbox.results();
    assert_eq!(statuses(&results), ["failed", "skipped", "skipped"]);
    for name in ["next", "last"] {
        assert_eq!(
            error(&results, name),
            "not started: 1 task failed, --fail-fast"
        );
    }
    assert_eq!(sandbox.branches(), ["main", "task/broken"]);
    assert!(!sandbox.worktree("next").exists());
}

#[test]
fn what_runs_when_the_limit_is_reached_finishes() {
    let sandbox = Sandbox::new();
    let go = sandbox.path().join("go");
    let tasks = json!([
        {"name": "slow", "prompt": format!("@wait-for {}\n@write slow.txt done", go.display())},
        {"name": "broken", "prompt": "@exit 1"},
        {"name": "waiting", "prompt": "@write waiting.txt never"},
    ]);
    let file = sandbox.tasks_json(&json!({ "tasks": tasks }));
    let mut porch = sandbox.porch_run_tasks(&file);
    porch.args(["-j", "2", "--max-fail", "1"]);
    let mut running = porch.spawn("run");
    wait_until("the waiting task is skipped", DEADLINE, || {
        sandbox
            .results_now()
            .is_some_and(|r| status(&r, "waiting") == "skipped")
    });
    let results = sandbox.results_now().unwrap();
    assert_eq!(status(&results, "slow"), "running", "{results:#}");
    std::fs::write(&go, "").unwrap();
    let run = running.wait();
    run.expect_code(1);
    let results = sandbox.results();
    assert_eq!(statuses(&results), ["succeeded", "failed", "skipped"]);
    assert_eq!(
        error(&results, "waiting"),
        "not started: 1 task failed, --max-fail 1"
    );
}

#[test]
fn the_limit_counts_failures_up_to_n_and_a_dependants_reason_stays_its_own() {
    let sandbox = Sandbox::new();
    let tasks = json!([
        {"name": "one", "prompt": "@exit 1"},
        {"name": "after-one", "prompt": "@say never", "depends_on": ["one"]},
        {"name": "fine", "prompt": "@write fine.txt ok"},
        {"name": "two", "prompt": "@exit 2"},
        {"name": "later", "prompt": "@say never"},
    ]);
    let run = sandbox.run_tasks_json(&tasks, &["-j", "1", "--max-fail", "2"]);
    run.expect_code(1);
    let results = sandbox.results();
    assert_eq!(
        statuses(&results),
        ["failed", "skipped", "succeeded", "failed", "skipped"]
    );
    assert_eq!(
        error(&results, "after-one"),
        "not started: it depends on `one`, which failed"
    );
    assert_eq!(
        error(&results, "later"),
        "not started: 2 tasks failed, --max-fail 2"
    );
}

#[test]
fn a_failed_rival_attempt_is_no_failure_while_another_may_still_win() {
    let sandbox = Sandbox::new();
    let counter = sandbox.path().join("fix-failures");
    let tasks = json!([
        {"name": "fix", "repeat": 2, "prompt": format!(
            "@fail-times 1 {} 400 Bad request\n@write fix.txt fixed", counter.display())},
        {"name": "after", "prompt": "@write after.txt ok"},
        {"name": "lost", "repeat": 2, "prompt": "@exit 1"},
        {"name": "never", "prompt": "@say never"},
    ]);
    let run = sandbox.run_tasks_json(&tasks, &["-j", "1", "--fail-fast"]);
    run.expect_code(1);
    let results = sandbox.results();
    assert_eq!(
        statuses(&results),
        [
            "failed",
            "succeeded",
            "succeeded",
            "failed",
            "failed",
            "skipped"
        ],
        "{results:#}"
    );
    assert_eq!(
        error(&results, "never"),
        "not started: 1 task failed, --fail-fast",
        "a repeated task none of whose attempts succeeded is one failure"
    );
}

#[test]
fn resume_takes_the_limit_too() {
    let sandbox = Sandbox::new();
    let tasks = sandbox.tasks(&[("a", "@exit 1"), ("b", "@exit 1"), ("c", "@exit 1")]);
    sandbox.porch_run_tasks(&tasks).run().expect_code(1);
    let mut resume = sandbox.porch(&["resume", "-j", "1", "--max-fail", "1"]);
    resume
        .agent(fixture_agent())
        .worktree_dir(sandbox.worktree_dir())
        .current_dir(sandbox.repo());
    let run = resume.run();
    run.expect_code(1)
        .expect_stderr("porch: 1 task failed, --max-fail 1");
    let latest = sandbox.worktree_dir().join("repo/.porch/results.json");
    let results: Value = serde_json::from_str(&std::fs::read_to_string(latest).unwrap()).unwrap();
    assert_eq!(statuses(&results), ["failed", "skipped", "skipped"]);
    assert_eq!(
        error(&results, "c"),
        "not started: 1 task failed, --max-fail 1"
    );
}

#[test]
fn the_limit_is_a_whole_number_and_one_of_the_two_flags() {
    let sandbox = Sandbox::new();
    let tasks = sandbox.tasks(&[("a", "@say hi")]);
    for (args, says) in [
        (
            &["--max-fail", "0"][..],
            "porch: error: --max-fail `0` is not a number of tasks",
        ),
        (
            &["--max-fail", "1", "--fail-fast"][..],
            "porch: error: --max-fail and --fail-fast cannot be used together",
        ),
    ] {
        let run = sandbox.porch_run_tasks(&tasks).args(args).run();
        run.expect_code(2).expect_stderr(says);
    }
    assert!(sandbox.created_outside_repo().is_empty());
}
