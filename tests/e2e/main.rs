//! End to end with the real Claude Code CLI (pinned in tests/e2e/package.json) talking to a
//! scripted Messages API on 127.0.0.1. Run by `make e2e`, which installs the CLI and runs these
//! in a network namespace with only loopback where it can; `cargo test` lists them as ignored.

mod bench;
mod fake_api;
#[path = "../integration/support/mod.rs"]
mod support;

use std::path::PathBuf;
use std::time::Duration;

use fake_api::FakeApi;
use support::*;

fn real_claude() -> PathBuf {
    let path = std::env::var_os("PORCH_E2E_CLAUDE")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("tests/e2e/node_modules/@anthropic-ai/claude-code-linux-x64/claude")
        });
    assert!(
        path.is_file(),
        "the real claude CLI is not at {}: run `make e2e`, which installs it (npm ci in tests/e2e)",
        path.display()
    );
    path
}

/// How long to wait for the real CLI, which starts slower than the fixture.
const E2E_DEADLINE: Duration = Duration::from_secs(90);

/// `porch run` with the real CLI pointed at the fake API, with a throwaway HOME.
fn porch_e2e(sandbox: &Sandbox, api: &FakeApi, args: &[&str]) -> Porch {
    let mut porch = sandbox.porch_run(args);
    with_real_claude(&mut porch, api);
    porch
}

/// `porch plan` with the real CLI pointed at the fake API, with a throwaway HOME.
fn plan_e2e(sandbox: &Sandbox, api: &FakeApi, args: &[&str]) -> Porch {
    let mut porch = sandbox.porch(&["plan"]);
    porch.args(args);
    with_real_claude(&mut porch, api);
    porch
}

fn with_real_claude(porch: &mut Porch, api: &FakeApi) {
    porch
        .agent(real_claude())
        .env("ANTHROPIC_BASE_URL", api.base_url())
        .env("ANTHROPIC_API_KEY", "sk-ant-porch-e2e-dummy")
        .env("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1")
        .env("DISABLE_AUTOUPDATER", "1")
        .env("CLAUDE_CODE_MAX_RETRIES", "0")
        .env_remove("ANTHROPIC_AUTH_TOKEN");
}

fn is_uuid(text: &str) -> bool {
    text.len() == 36 && text.chars().filter(|&c| c == '-').count() == 4
}

#[test]
#[ignore = "needs the real claude CLI: make e2e"]
fn parallel_tasks_write_files_and_end_with_commits() {
    let api = FakeApi::start();
    let sandbox = Sandbox::new();
    let _reaper = Reaper::new(&sandbox);
    let names = ["alpha", "beta", "gamma"];
    let tasks: Vec<(String, String)> = names
        .iter()
        .map(|n| {
            (
                n.to_string(),
                format!("Create {n}.txt.\nSTEP write {n}.txt hello from {n}\nREPLY wrote {n}"),
            )
        })
        .collect();
    sandbox.tasks_in("tasks.json", &tasks);
    let run = porch_e2e(&sandbox, &api, &["tasks.json", "repo"]).run();
    run.expect_code(0);
    let results = sandbox.results();
    assert_eq!(results["summary"]["succeeded"], 3, "{results:#}");
    for name in names {
        let task = task(&results, name);
        assert_eq!(task["status"], "succeeded");
        assert!(is_uuid(task["session_id"].as_str().unwrap()), "{task:#}");
        assert_eq!(task["num_turns"], 2, "{task:#}");
        assert!(task["cost_usd"].as_f64().unwrap() > 0.0, "{task:#}");
        assert_eq!(task["result"], format!("wrote {name}"));
        assert_eq!(task["commits"], 1);
        let content = sandbox.git(&["show", &format!("task/{name}:{name}.txt")]);
        assert_eq!(content, format!("hello from {name}"));
        let message = sandbox.git(&["log", "-1", "--format=%B", &format!("task/{name}")]);
        assert!(
            message.contains(&format!(
                "Porch-Session: {}",
                task["session_id"].as_str().unwrap()
            )),
            "{message}"
        );
    }
    run.expect_stdout("→ Write alpha.txt");
}

#[test]
#[ignore = "needs the real claude CLI: make e2e"]
fn an_api_error_fails_the_task_with_claude_s_reason() {
    let api = FakeApi::start();
    let sandbox = Sandbox::new();
    let _reaper = Reaper::new(&sandbox);
    sandbox.tasks(&[
        ("ok", "STEP write ok.txt fine"),
        ("broken", "Do it.\nFAIL 400"),
    ]);
    let run = porch_e2e(&sandbox, &api, &["tasks.json", "repo"]).run();
    run.expect_code(1);
    let results = sandbox.results();
    let broken = task(&results, "broken");
    assert_eq!(broken["status"], "failed", "{broken:#}");
    assert_eq!(broken["exit_code"], 1);
    assert!(
        broken["error"].as_str().unwrap().contains("API Error: 400"),
        "{broken:#}"
    );
    assert!(is_uuid(broken["session_id"].as_str().unwrap()));
    assert_eq!(task(&results, "ok")["status"], "succeeded");
}

#[test]
#[ignore = "needs the real claude CLI: make e2e"]
fn a_multi_turn_task_with_write_and_bash() {
    let api = FakeApi::start();
    let sandbox = Sandbox::new();
    let _reaper = Reaper::new(&sandbox);
    sandbox.tasks(&[(
        "multi",
        "STEP write a.txt A\nSTEP write b.txt B\nSTEP bash cat a.txt b.txt > both.txt\nREPLY three steps",
    )]);
    let run = porch_e2e(&sandbox, &api, &["tasks.json", "repo"]).run();
    run.expect_code(0);
    let results = sandbox.results();
    let multi = task(&results, "multi");
    assert_eq!(multi["num_turns"], 4, "{multi:#}");
    assert_eq!(multi["files_changed"], 3, "{multi:#}");
    assert_eq!(sandbox.git(&["show", "task/multi:both.txt"]), "AB");
    assert_eq!(api.requests_for("REPLY three steps").len(), 4);
    run.expect_stdout("→ Bash cat a.txt b.txt > both.txt");
}

#[test]
#[ignore = "needs the real claude CLI: make e2e"]
fn a_backgrounded_process_does_not_outlive_porch() {
    let api = FakeApi::start();
    let sandbox = Sandbox::new();
    let _reaper = Reaper::new(&sandbox);
    let pid_file = sandbox.path().join("server.pid");
    let prompt = format!(
        "STEP bash (sleep 300 > /dev/null 2>&1 & echo $! > {}) \nREPLY started a server",
        pid_file.display()
    );
    sandbox.tasks_json(&serde_json::json!({"tasks": [
        {"name": "server", "prompt": prompt, "allowed_tools": ["Bash"]}
    ]}));
    let run = porch_e2e(&sandbox, &api, &["tasks.json", "repo"]).run();
    run.expect_code(0);
    let results = sandbox.results();
    assert_eq!(
        task(&results, "server")["permission_denials"],
        0,
        "{results:#}\n{run}"
    );
    let pid = read_pid(&pid_file);
    wait_until("the backgrounded sleep is gone", E2E_DEADLINE, || {
        is_gone(pid)
    });
    assert!(
        task(&results, "server")["leftover_processes"]
            .as_u64()
            .unwrap()
            >= 1,
        "{results:#}"
    );
}

#[test]
#[ignore = "needs the real claude CLI: make e2e"]
fn a_timeout_ends_the_real_cli() {
    let api = FakeApi::start();
    let sandbox = Sandbox::new();
    let _reaper = Reaper::new(&sandbox);
    sandbox.tasks_json(&serde_json::json!({"tasks": [
        {"name": "slow", "prompt": "SLEEP 60\nSTEP write late.txt late", "timeout": "3s"},
        {"name": "quick", "prompt": "STEP write quick.txt q"}
    ]}));
    let run = porch_e2e(&sandbox, &api, &["tasks.json", "repo"]).run();
    run.expect_code(1);
    let results = sandbox.results();
    assert_eq!(task(&results, "slow")["status"], "timed_out", "{results:#}");
    assert_eq!(
        task(&results, "quick")["status"],
        "succeeded",
        "{results:#}"
    );
}

#[test]
#[ignore = "needs the real claude CLI: make e2e"]
fn sigterm_to_porch_mid_run_interrupts_and_keeps_the_work() {
    let api = FakeApi::start();
    let sandbox = Sandbox::new();
    let _reaper = Reaper::new(&sandbox);
    sandbox.tasks(&[(
        "busy",
        "STEP write first.txt 1\nSLEEP 120\nSTEP write second.txt 2",
    )]);
    let mut porch = porch_e2e(&sandbox, &api, &["tasks.json", "repo"]).spawn("run");
    // The second request is the one the API sits on: by then first.txt is written.
    wait_until("the second API request has come", E2E_DEADLINE, || {
        api.requests_for("SLEEP 120").iter().any(|s| s.step == 1)
    });
    porch.signal("TERM");
    let run = porch.wait();
    run.expect_code(143)
        .expect_stderr("received signal 15 (SIGTERM)");
    let results = sandbox.results();
    let busy = task(&results, "busy");
    assert_eq!(busy["status"], "interrupted", "{busy:#}");
    assert_eq!(sandbox.git(&["show", "task/busy:first.txt"]), "1");
}

/// What git says of the repository: a plan leaves all of it as it was.
fn repo_state(sandbox: &Sandbox) -> [String; 3] {
    [
        sandbox.git(&["status", "--porcelain", "--ignored"]),
        sandbox.git(&["worktree", "list", "--porcelain"]),
        sandbox.git(&["for-each-ref"]),
    ]
}

#[test]
#[ignore = "needs the real claude CLI: make e2e"]
fn a_plan_from_the_real_cli_is_written_and_then_run() {
    let api = FakeApi::start();
    let sandbox = Sandbox::new();
    let _reaper = Reaper::new(&sandbox);
    let before = repo_state(&sandbox);
    let plan = serde_json::json!({"tasks": [
        {"name": "alpha", "prompt": "Create alpha.txt.\nSTEP write alpha.txt from alpha", "check": ["test", "-f", "alpha.txt"]},
        {"name": "beta", "prompt": "Create beta.txt.\nSTEP write beta.txt from beta", "depends_on": ["alpha"]}
    ]});
    let goal = format!("Write two files.\nSTEP read README.md\nSTEP structured {plan}");
    let run = plan_e2e(&sandbox, &api, &[&goal, "repo"]).run();
    run.expect_code(0)
        .expect_stdout("wrote tasks.json with 2 tasks")
        .expect_stdout("  alpha  test -f alpha.txt\n")
        .expect_stdout("porch run tasks.json repo");
    assert_eq!(repo_state(&sandbox), before, "{run}");
    let written = std::fs::read_to_string(sandbox.path().join("tasks.json")).unwrap();
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&written).unwrap(),
        plan
    );
    // The model could read and search, and answer with the plan; nothing else.
    let requests = api.requests_for("STEP read README.md");
    assert_eq!(requests.len(), 2, "{requests:#?}");
    for request in &requests {
        let tools = request.sorted_tools();
        assert_eq!(tools, ["Glob", "Grep", "Read", "StructuredOutput"]);
        assert!(request.system.contains("You are planning work for porch"));
    }
    // The second request carries what the Read tool returned.
    assert!(
        requests[1].latest.contains("# test repo"),
        "{:?}",
        requests[1].latest
    );

    let run = porch_e2e(&sandbox, &api, &["tasks.json", "repo"]).run();
    run.expect_code(0);
    let results = sandbox.results();
    assert_eq!(
        statuses(&results),
        ["succeeded", "succeeded"],
        "{results:#}"
    );
    assert_eq!(sandbox.git(&["show", "task/beta:alpha.txt"]), "from alpha");
    assert_eq!(sandbox.git(&["show", "task/beta:beta.txt"]), "from beta");
}

#[test]
#[ignore = "needs the real claude CLI: make e2e"]
fn a_refused_plan_goes_back_to_the_same_real_session() {
    let api = FakeApi::start();
    let sandbox = Sandbox::new();
    let _reaper = Reaper::new(&sandbox);
    let before = repo_state(&sandbox);
    let duplicate = r#"{"tasks":[{"name":"same","prompt":"one"},{"name":"same","prompt":"two"}]}"#;
    let fixed = r#"{"tasks":[{"name":"first","prompt":"one"},{"name":"second","prompt":"two"}]}"#;
    // The resumed session's first request comes with two assistant turns in its history (the
    // StructuredOutput call and the turn claude closed the session with): directive 2. Directive 1
    // is never asked for.
    let goal = format!(
        "Two things.\nSTEP structured {duplicate}\nSTEP structured {{}}\nSTEP structured {fixed}"
    );
    let run = plan_e2e(&sandbox, &api, &[&goal, "repo"]).run();
    run.expect_code(0)
        .expect_stdout("porch refused the plan, sent back once")
        .expect_stdout("wrote tasks.json with 2 tasks");
    assert_eq!(repo_state(&sandbox), before, "{run}");
    let written = std::fs::read_to_string(sandbox.path().join("tasks.json")).unwrap();
    let fixed: serde_json::Value = serde_json::from_str(fixed).unwrap();
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&written).unwrap(),
        fixed
    );
    let requests = api.requests_for("Two things.");
    let resumed = requests
        .iter()
        .find(|r| r.latest.contains("porch refused the plan"))
        .unwrap_or_else(|| panic!("no request carried the refusal: {requests:#?}"));
    assert!(
        resumed.latest.contains("duplicate name \"same\""),
        "{resumed:#?}"
    );
    assert_eq!(resumed.step, 2, "{requests:#?}");
}

#[test]
#[ignore = "needs the real claude CLI: make e2e"]
fn a_conflict_is_resolved_by_the_real_cli_keeping_both_sides() {
    let api = FakeApi::start();
    let sandbox = Sandbox::new();
    let _reaper = Reaper::new(&sandbox);
    std::fs::write(sandbox.repo().join("NOTES.md"), "notes\n").unwrap();
    sandbox.git(&["add", "NOTES.md"]);
    sandbox.commit("notes");
    sandbox.tasks(&[
        (
            "one",
            "Note one.\nSTEP read NOTES.md\nSTEP write NOTES.md one",
        ),
        (
            "two",
            "Note two.\nSTEP read NOTES.md\nSTEP write NOTES.md two",
        ),
    ]);
    porch_e2e(&sandbox, &api, &["tasks.json", "repo"])
        .run()
        .expect_code(0);

    let mut merge = sandbox.porch(&["merge", "--resolve", "--json", "--repo", "repo"]);
    merge.worktree_dir(sandbox.worktree_dir());
    with_real_claude(&mut merge, &api);
    let merged = merge.run();
    merged.expect_code(0);
    let out: serde_json::Value = serde_json::from_str(&merged.stdout())
        .unwrap_or_else(|err| panic!("not JSON: {err}\n{merged}"));
    let resolved = &out["resolved"][0];
    assert_eq!(resolved["task"], "two", "{out:#}");
    assert_eq!(resolved["files"], serde_json::json!(["NOTES.md"]));
    assert!(is_uuid(resolved["session_id"].as_str().unwrap()), "{out:#}");
    assert!(resolved["cost_usd"].as_f64().unwrap() > 0.0, "{out:#}");
    let branch = out["branch"].as_str().unwrap();
    let notes = sandbox.git(&["show", &format!("{branch}:NOTES.md")]);
    assert_eq!(notes, "one\ntwo\n", "both sides, no marker");

    // The model read the file with its markers, then wrote it; the task prompts came quoted,
    // so no STEP of theirs ran again.
    let requests = api.requests_for("You are resolving a git merge");
    assert_eq!(requests.len(), 3, "{requests:#?}");
    assert!(
        requests[0].tools.iter().any(|t| t == "Write"),
        "{requests:#?}"
    );
    assert!(requests[0].prompt.contains("> STEP write NOTES.md two"));
    assert!(requests[0].prompt.contains("> STEP write NOTES.md one"));
    assert!(
        requests[1].latest.contains("<<<<<<<"),
        "{:?}",
        requests[1].latest
    );
    let subject = sandbox.git(&["log", "-1", "--format=%s", branch]);
    assert!(subject.contains("resolved by claude"), "{subject}");
}

#[test]
#[ignore = "needs the real claude CLI: make e2e"]
fn a_real_reviewer_reads_the_work_and_its_verdict_decides_the_task() {
    let api = FakeApi::start();
    let sandbox = Sandbox::new();
    let _reaper = Reaper::new(&sandbox);
    let approve = serde_json::json!({"verdict": "approve", "summary": "alpha.txt is there",
        "comments": [{"file": "alpha.txt", "line": 1, "body": "reads well"}]});
    let changes = serde_json::json!({"verdict": "request_changes", "summary": "beta.txt says too little",
        "comments": [{"file": "beta.txt", "line": null, "body": "say more"}]});
    let tasks = serde_json::json!({"tasks": [
        {"name": "alpha", "prompt": "Create alpha.txt.\nSTEP write alpha.txt from alpha",
         "review": {"prompt": format!("Review alpha.\nSTEP read alpha.txt\nSTEP structured {approve}")}},
        {"name": "beta", "prompt": "Create beta.txt.\nSTEP write beta.txt from beta",
         "review": {"prompt": format!("Review beta.\nSTEP structured {changes}")}}
    ]});
    std::fs::write(sandbox.path().join("tasks.json"), tasks.to_string()).unwrap();
    let run = porch_e2e(&sandbox, &api, &["tasks.json", "repo"]).run();
    run.expect_code(1)
        .expect_stdout("[review] approved: alpha.txt is there")
        .expect_stdout("[review] alpha.txt:1: reads well")
        .expect_stdout("[review] changes requested: beta.txt says too little");
    let results = sandbox.results();
    let alpha = task(&results, "alpha");
    assert_eq!(alpha["status"], "succeeded", "{alpha:#}");
    assert_eq!(alpha["review"]["verdict"], "approve", "{alpha:#}");
    assert_eq!(
        alpha["review"]["comments"], approve["comments"],
        "{alpha:#}"
    );
    let review_cost = alpha["review"]["cost_usd"].as_f64().unwrap();
    assert!(review_cost > 0.0, "{alpha:#}");
    let session_cost = alpha["attempts"][0]["cost_usd"].as_f64().unwrap();
    let total = alpha["cost_usd"].as_f64().unwrap();
    assert!(
        (total - session_cost - review_cost).abs() < 1e-9,
        "{alpha:#}"
    );
    assert!(
        is_uuid(alpha["review"]["session_id"].as_str().unwrap()),
        "{alpha:#}"
    );
    let beta = task(&results, "beta");
    assert_eq!(beta["status"], "failed", "{beta:#}");
    assert_eq!(
        beta["error"],
        "review requested changes: beta.txt says too little"
    );
    assert_eq!(sandbox.git(&["show", "task/beta:beta.txt"]), "from beta");

    // The reviewer could read and search, and answer; nothing else. It read the work.
    let requests = api.requests_for("Review alpha.");
    assert_eq!(requests.len(), 2, "{requests:#?}");
    for request in &requests {
        let tools = request.sorted_tools();
        assert_eq!(tools, ["Glob", "Grep", "Read", "StructuredOutput"]);
        assert!(
            request.prompt.contains("> STEP write alpha.txt from alpha"),
            "{request:#?}"
        );
        assert!(request.prompt.contains("> +from alpha"), "{request:#?}");
    }
    assert!(
        requests[1].latest.contains("from alpha"),
        "{:?}",
        requests[1].latest
    );
}

#[test]
#[ignore = "needs the real claude CLI: make e2e"]
fn an_api_serving_one_session_at_once_is_met_and_every_task_succeeds() {
    let api = FakeApi::serving_at_most(1);
    let sandbox = Sandbox::new();
    let _reaper = Reaper::new(&sandbox);
    let names = ["one", "two", "three"];
    let tasks: Vec<(String, String)> = (names.iter())
        .map(|n| (n.to_string(), format!("SLEEP 1\nSTEP write {n}.txt {n}")))
        .collect();
    sandbox.tasks_in("tasks.json", &tasks);
    let mut porch = porch_e2e(&sandbox, &api, &["tasks.json", "repo", "--retries", "6"]);
    porch.env("CLAUDE_CODE_MAX_RETRIES", "2");
    let run = porch.run();
    run.expect_code(0);
    let results = sandbox.results();
    for name in names {
        assert_eq!(task(&results, name)["status"], "succeeded", "{run}");
        assert_eq!(
            sandbox.git(&["show", &format!("task/{name}:{name}.txt")]),
            name
        );
    }
    // Each refusal the CLI met is a retry it told of, which porch counted.
    let refused = api.refused() as u64;
    let events = results["rate_limit_events"].as_u64().unwrap();
    assert!(
        events >= 1 || refused == 0,
        "{refused} refused, {events} events\n{run}"
    );
}
