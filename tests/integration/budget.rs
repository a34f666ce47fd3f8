//! `--max-cost-usd`: a budget for the whole run. Sessions of known cost (`@cost`), one at a time,
//! and what each was given, read from the arguments the fixture recorded.

use serde_json::{Value, json};

use crate::support::*;

/// `porch run -j 1 --max-cost-usd BUDGET EXTRA…` over `tasks`, recording the agent's runs.
fn run_with_budget(sandbox: &Sandbox, tasks: &Value, budget: &str, extra: &[&str]) -> Run {
    let args_dir = sandbox.path().join("agent-runs");
    std::fs::create_dir_all(&args_dir).unwrap();
    let file = sandbox.tasks_json(&json!({ "tasks": tasks }));
    sandbox
        .porch_run_tasks(&file)
        .args(["-j", "1", "--max-cost-usd", budget])
        .args(extra)
        .record_agent_runs(&args_dir)
        .run()
}

/// The `--max-budget-usd` of every session the fixture ran in worktree `name`, in order.
fn budgets_given(sandbox: &Sandbox, name: &str) -> Vec<String> {
    let args_dir = sandbox.path().join("agent-runs");
    (1..)
        .take_while(|run| args_dir.join(format!("{name}.{run}.argv")).exists())
        .map(|run| {
            let argv = recorded_argv(&args_dir, name, run);
            let at = argv.iter().position(|a| a == "--max-budget-usd");
            at.map_or_else(|| "none".to_string(), |i| argv[i + 1].clone())
        })
        .collect()
}

fn spent(results: &Value) -> f64 {
    results["spent_usd"].as_f64().unwrap()
}

#[test]
fn each_session_gets_what_is_left_and_none_starts_once_it_is_spent() {
    let sandbox = Sandbox::new();
    let tasks = json!([
        {"name": "t1", "prompt": "@cost 0.002", "max_budget_usd": 0.004},
        {"name": "t2", "prompt": "@cost 0.02"},
        {"name": "t3", "prompt": "@cost 0.02"},
        // Given what is left, 0.008, it passes it and claude stops it: the run has spent 0.062.
        {"name": "t4", "prompt": "@cost 0.02"},
        {"name": "t5", "prompt": "@cost 0.02"},
    ]);
    let run = run_with_budget(&sandbox, &tasks, "0.05", &[]);
    run.expect_code(1);
    let given: Vec<Vec<String>> = ["t1", "t2", "t3", "t4", "t5"]
        .iter()
        .map(|name| budgets_given(&sandbox, name))
        .collect();
    // t1's own budget is smaller than the run's; t5 never started.
    assert_eq!(
        given,
        [
            vec!["0.004"],
            vec!["0.048"],
            vec!["0.028"],
            vec!["0.008"],
            vec![]
        ],
        "{run}"
    );
    let results = sandbox.results();
    assert_eq!(
        statuses(&results),
        ["succeeded", "succeeded", "succeeded", "failed", "skipped"]
    );
    let t5 = task(&results, "t5");
    assert_eq!(
        t5["error"], "not started: the run's budget is spent ($0.0620 of --max-cost-usd 0.05)",
        "{t5:#}"
    );
    assert!(!sandbox.worktree("t5").exists());
    assert!(!sandbox.branches().contains(&"task/t5".to_string()));
    assert_eq!(results["budget_usd"], 0.05);
    assert!((spent(&results) - 0.062).abs() < 1e-9, "{results:#}");
    run.expect_stdout("spent $0.0620 / $0.0500 budget")
        .expect_stderr("the run's budget is spent ($0.0620 of $0.0500)")
        .expect_stderr("starting no more sessions; 1 waiting task(s) skipped");
}

#[test]
fn retries_count_and_none_is_made_once_the_budget_is_spent() {
    // One task at a time would not hold: a retry waits for its backoff without a slot, and
    // another task may start meanwhile. So one task a run, failing (529) while it may.
    // (the budget, how many times it fails, what each session was given, its attempts' ends)
    let cases = [
        // Two failures of $0.02 leave $0.01: the third passes it, and claude stops it.
        (
            "0.05",
            2,
            &["0.05", "0.03", "0.01"][..],
            &["failed", "failed", "failed"][..],
        ),
        // The second spends what was left: no third, though --retries allows it.
        ("0.04", 5, &["0.04", "0.02"][..], &["failed", "failed"][..]),
        (
            "0.05",
            1,
            &["0.05", "0.03"][..],
            &["failed", "succeeded"][..],
        ),
    ];
    for (budget, failures, given, ends) in cases {
        let sandbox = Sandbox::new();
        let counter = sandbox.path().join("count");
        let prompt = format!(
            "@cost 0.02\n@fail-times {failures} {} 529 Overloaded",
            counter.display()
        );
        let tasks = json!([{"name": "t1", "prompt": prompt}]);
        let extra = ["--retries", "3", "--retry-backoff", "10ms"];
        let run = run_with_budget(&sandbox, &tasks, budget, &extra);
        let row = format!("budget {budget}, {failures} failures");
        assert_eq!(budgets_given(&sandbox, "t1"), given, "{row}: {run}");
        let results = sandbox.results();
        let attempts: Vec<&str> = (task(&results, "t1")["attempts"].as_array().unwrap().iter())
            .map(|a| a["status"].as_str().unwrap())
            .collect();
        assert_eq!(attempts, ends, "{row}: {run}");
        let spent_by_sessions = 0.02 * given.len() as f64;
        assert!(
            (spent(&results) - spent_by_sessions).abs() < 1e-9,
            "{row}: {results:#}"
        );
        if budget == "0.04" {
            run.expect_stdout("not retrying: the run's budget is spent");
        }
    }
}

#[test]
fn without_a_budget_sessions_get_only_their_own() {
    let sandbox = Sandbox::new();
    let args_dir = sandbox.path().join("agent-runs");
    std::fs::create_dir_all(&args_dir).unwrap();
    let tasks = json!({"tasks": [
        {"name": "own", "prompt": "@cost 0.002", "max_budget_usd": 0.5},
        {"name": "free", "prompt": "@cost 0.002"},
    ]});
    let file = sandbox.tasks_json(&tasks);
    let run = sandbox
        .porch_run_tasks(&file)
        .record_agent_runs(&args_dir)
        .run();
    run.expect_code(0);
    assert_eq!(budgets_given(&sandbox, "own"), ["0.5"]);
    assert_eq!(budgets_given(&sandbox, "free"), ["none"]);
    let results = sandbox.results();
    assert_eq!(results["budget_usd"], Value::Null);
    assert!((spent(&results) - 0.004).abs() < 1e-9, "{results:#}");
    assert!(!run.stdout().contains("budget"), "{run}");
}

#[test]
fn porch_resume_takes_a_budget_too() {
    let sandbox = Sandbox::new();
    let args_dir = sandbox.path().join("agent-runs");
    std::fs::create_dir_all(&args_dir).unwrap();
    let counter = sandbox.path().join("count");
    let prompt = format!(
        "@cost 0.01\n@fail-times 1 {} 400 Bad request",
        counter.display()
    );
    let tasks = sandbox.tasks(&[("ok", "@cost 0.01"), ("flaky", &prompt)]);
    let mut first = sandbox.porch_run(&[path_str(&tasks)]);
    first.without_output().current_dir(sandbox.repo());
    first.record_agent_runs(&args_dir).run().expect_code(1);
    let mut resume = sandbox.porch(&["resume", "--max-cost-usd", "0.25"]);
    resume
        .worktree_dir(sandbox.worktree_dir())
        .current_dir(sandbox.repo())
        .agent(fixture_agent())
        .record_agent_runs(&args_dir);
    let resumed = resume.run();
    resumed.expect_code(0);
    assert_eq!(budgets_given(&sandbox, "flaky"), ["none", "0.25"]);
    assert_eq!(
        budgets_given(&sandbox, "ok"),
        ["none"],
        "carried, not run again"
    );
    resumed.expect_stdout("spent $0.0100 / $0.2500 budget");
}

/// The fixture's `@cost` as the real CLI's budget stop, which the tests above lean on.
#[test]
fn the_fixture_stops_a_session_over_its_budget_as_claude_does() {
    let sandbox = Sandbox::new();
    let tasks = json!([{"name": "big", "prompt": "@cost 0.3", "max_budget_usd": 0.1}]);
    let file = sandbox.tasks_json(&json!({ "tasks": tasks }));
    let run = sandbox.porch_run_tasks(&file).run();
    run.expect_code(1);
    let results = sandbox.results();
    let big = task(&results, "big");
    assert_eq!(big["status"], "failed", "{big:#}");
    assert_eq!(big["cost_usd"], 0.3, "{big:#}");
    let error = big["error"].as_str().unwrap();
    assert!(error.contains("Reached maximum budget ($0.1)"), "{error}");
}
