//! What a run tells about its branches besides the sessions: each task's `check`.

use serde_json::json;

use crate::support::*;

#[test]
fn a_check_passes_or_fails_its_task_and_the_work_stays_committed() {
    let sandbox = Sandbox::new();
    let tasks = sandbox.tasks_json(&json!({
        "defaults": {"check": ["sh", "-c", "echo checking $PORCH_TASK; test -f done.txt"]},
        "tasks": [
            {"name": "works", "prompt": "@write done.txt yes"},
            {"name": "broken", "prompt": "@write half.txt no",
             "check": ["sh", "-c", "echo compiling; echo 'error: half.txt is half' >&2; exit 4"]},
            {"name": "unchecked", "prompt": "@write other.txt x", "check": null},
            {"name": "crashed", "prompt": "@write done.txt yes\n@api-error 500 boom"}
        ]
    }));
    let run = sandbox.porch_run_tasks(&tasks).run();
    run.expect_code(1);
    let results = sandbox.results();

    let works = task(&results, "works");
    assert_eq!(works["status"], "succeeded", "{works:#}");
    assert_eq!(works["check"]["exit_code"], 0, "{works:#}");
    assert!(works["check"]["duration_ms"].is_u64(), "{works:#}");

    let broken = task(&results, "broken");
    assert_eq!(broken["status"], "failed", "{broken:#}");
    assert_eq!(broken["check"]["exit_code"], 4, "{broken:#}");
    // stdout and stderr are read apart: their lines may come in either order.
    let error = broken["error"].as_str().unwrap();
    assert!(
        error.starts_with("check failed: exited with code 4; last lines: ")
            && error.contains("compiling")
            && error.contains("error: half.txt is half"),
        "{broken:#}"
    );
    assert_eq!(broken["commits"], 1, "the work stays committed: {broken:#}");
    assert_eq!(sandbox.git(&["show", "task/broken:half.txt"]).trim(), "no");

    let unchecked = task(&results, "unchecked");
    assert_eq!(unchecked["status"], "succeeded", "{unchecked:#}");
    assert!(unchecked["check"].is_null(), "{unchecked:#}");

    let crashed = task(&results, "crashed");
    assert_eq!(crashed["status"], "failed", "{crashed:#}");
    assert!(
        crashed["check"].is_null(),
        "no check after a failed session: {crashed:#}"
    );

    run.expect_stdout("[check] checking works")
        .expect_stdout("[check] error: half.txt is half");
    let log = std::fs::read_to_string(broken["log"].as_str().unwrap()).unwrap();
    assert!(
        log.contains("[check] compiling") && log.contains("[check] error: half.txt is half"),
        "{log}"
    );
    assert!(!run.stdout().contains("[check] checking crashed"));
}

#[test]
fn only_and_skip_run_a_subset_of_the_tasks_file() {
    let sandbox = Sandbox::new();
    let tasks = sandbox.tasks(&[("a", "@say a"), ("b", "@say b"), ("c", "@say c")]);
    let tasks = path_str(&tasks);
    let repo = sandbox.repo();
    sandbox
        .porch_run(&[tasks, path_str(&repo), "--only", "c,a"])
        .run()
        .expect_code(0);
    let results = sandbox.results();
    let names: Vec<&str> = results["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["a", "c"], "in file order: {results:#}");
    assert_eq!(sandbox.branches(), ["main", "task/a", "task/c"]);

    sandbox
        .porch_run(&[tasks, path_str(&repo), "--skip", "a,c"])
        .run()
        .expect_code(0);
    let results = sandbox.results();
    assert_eq!(results["tasks"].as_array().unwrap().len(), 1, "{results:#}");
    assert_eq!(task(&results, "b")["status"], "succeeded");
}

#[test]
fn only_and_skip_refuse_names_of_no_task_with_nothing_created() {
    let sandbox = Sandbox::new();
    let tasks = sandbox.tasks(&[("a", "@say a"), ("b", "@say b")]);
    let tasks = path_str(&tasks);
    let repo = sandbox.repo();
    // (the flags, what the error says)
    let cases: [(&[&str], &str); 5] = [
        (
            &["--only", "a,nope"],
            "--only names `nope`, which is no task of",
        ),
        (&["--skip", "B"], "--skip names `B`, which is no task of"),
        (&["--skip", "a,b"], "--skip leaves no task of"),
        (&["--only", "a,"], "--only `a,` holds an empty name"),
        (
            &["--only", "a", "--skip", "b"],
            "--only and --skip cannot be used together",
        ),
    ];
    for (flags, message) in cases {
        let mut args = vec![tasks, path_str(&repo)];
        args.extend_from_slice(flags);
        let run = sandbox.porch_run(&args).run();
        run.expect_code(2)
            .expect_stderr(message)
            .expect_stderr("hint:");
        assert_eq!(sandbox.branches(), ["main"], "{flags:?}");
        assert!(!sandbox.results_path().exists(), "{flags:?}");
    }
}
