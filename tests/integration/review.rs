//! A task's `review`: a read-only reviewer session after the check, whose verdict the fixture
//! agent reads from the review's own prompt (`@structured-output`); what it decides for the
//! task, its rivals, `porch merge` and `porch resume`.

use std::path::Path;

use serde_json::{Value, json};

use crate::after::after;
use crate::after::latest_results;
use crate::support::*;

/// The review's `prompt` that makes the fixture's reviewer answer `answer`, after `extra` lines.
fn answering(answer: &Value, extra: &str) -> String {
    format!("{extra}@structured-output {answer}")
}

fn verdict(verdict: &str, summary: &str) -> Value {
    json!({"verdict": verdict, "summary": summary, "comments": []})
}

fn text(value: &Value) -> &str {
    value.as_str().unwrap_or_default()
}

/// `porch resume ARGS` with the fixture agent recording its runs in `records`.
fn resume_recording(sandbox: &Sandbox, records: &Path, args: &[&str]) -> Run {
    let mut resume = after(sandbox, &[&["resume"], args].concat());
    resume
        .agent(fixture_agent())
        .record_agent_runs(records)
        .run()
}

#[test]
fn an_approving_reviewer_reads_the_work_only_and_its_cost_is_the_tasks() {
    let sandbox = Sandbox::new();
    let records = sandbox.path().join("records");
    std::fs::create_dir_all(&records).unwrap();
    let answer = json!({"verdict": "approve", "summary": "Does what was asked",
        "comments": [{"file": "a.txt", "line": 1, "body": "fine\nreally"}]});
    let tasks = sandbox.tasks_json(&json!({"tasks": [{
        "name": "a",
        "prompt": "@write a.txt hello\n@cost 0.5",
        "check": ["test", "-f", "a.txt"],
        "review": {"prompt": answering(&answer, "@cost 0.25\nLook at a.txt.\n")}
    }]}));
    let run = sandbox
        .porch_run_tasks(&tasks)
        .args(["--permission-mode", "acceptEdits", "--max-cost-usd", "10"])
        .record_agent_runs(&records)
        .run();
    run.expect_code(0)
        .expect_stdout("[review] approved: Does what was asked")
        .expect_stdout("[review] a.txt:1: fine")
        .expect_stdout("[review] really");
    let results = sandbox.results();
    let a = task(&results, "a");
    assert_eq!(a["status"], "succeeded", "{a:#}");
    let review = &a["review"];
    assert_eq!(review["verdict"], "approve", "{a:#}");
    assert_eq!(review["summary"], "Does what was asked", "{a:#}");
    assert_eq!(review["comments"], answer["comments"], "{a:#}");
    assert_eq!(review["cost_usd"], 0.25, "{a:#}");
    assert!(review["session_id"].is_string(), "{a:#}");
    assert_ne!(review["session_id"], a["session_id"], "{a:#}");
    assert_eq!(
        a["cost_usd"], 0.75,
        "the session's and the reviewer's: {a:#}"
    );
    assert_eq!(results["spent_usd"], 0.75, "{results:#}");
    run.expect_stdout("STATUS REVIEW").expect_stdout("approved");

    // The reviewer: read-only, held to the verdict's schema, within what is left of the budget.
    let argv = recorded_argv(&records, "a", 2);
    let value = |flag: &str| {
        let at = argv
            .iter()
            .position(|a| a == flag)
            .unwrap_or_else(|| panic!("{flag}: {argv:?}"));
        argv[at + 1].clone()
    };
    assert_eq!(value("--permission-mode"), "dontAsk");
    assert_eq!(value("--max-budget-usd"), "9.5");
    let tools = argv.iter().position(|a| a == "--tools").unwrap();
    assert_eq!(
        argv[tools + 1..tools + 4],
        ["Read", "Grep", "Glob"],
        "{argv:?}"
    );
    let schema: Value = serde_json::from_str(&value("--json-schema")).unwrap();
    assert_eq!(
        schema["properties"]["verdict"]["enum"],
        json!(["approve", "request_changes"])
    );
    // The task and the diff quoted, never run again; the review's own prompt last, verbatim.
    let prompt = String::from_utf8(recorded_prompt(&records, "a", 2)).unwrap();
    assert!(
        prompt.contains("> @write a.txt hello\n> @cost 0.5\n"),
        "{prompt}"
    );
    assert!(prompt.contains("> +hello"), "{prompt}");
    assert!(
        prompt.contains("check passed on the committed work: test -f a.txt"),
        "{prompt}"
    );
    assert!(
        prompt.ends_with(&format!(
            "\nWhat to look at in particular:\n@cost 0.25\nLook at a.txt.\n@structured-output {answer}\n"
        )),
        "{prompt}"
    );
    let log = std::fs::read_to_string(text(&a["log"])).unwrap();
    assert!(
        log.contains("[porch] review\n") && log.contains("[review] approved: Does what was asked"),
        "{log}"
    );
}

#[test]
fn requested_changes_fail_a_required_review_and_only_approved_work_is_merged() {
    let sandbox = Sandbox::new();
    let changes = json!({"verdict": "request_changes", "summary": "No test",
        "comments": [{"file": "c.txt", "line": null, "body": "add a test"}]});
    let tasks = sandbox.tasks_json(&json!({
        "defaults": {"review": {"prompt": answering(&verdict("approve", "good"), "")}},
        "tasks": [
            {"name": "a", "prompt": "@write a.txt a"},
            {"name": "b", "prompt": "@write b.txt b",
             "review": {"prompt": answering(&changes, ""), "required": false}},
            {"name": "c", "prompt": "@write c.txt c", "review": {"prompt": answering(&changes, "")}},
            {"name": "d", "prompt": "@write d.txt d",
             "review": {"prompt": answering(&json!({"verdict": "maybe", "summary": "?", "comments": []}), "")}},
            {"name": "e", "prompt": "@write e.txt e", "review": false}
        ]
    }));
    let mut porch = after(&sandbox, &["run", path_str(&tasks)]);
    let run = porch
        .agent(fixture_agent())
        .args(["--permission-mode", "acceptEdits"])
        .run();
    run.expect_code(1)
        .expect_stdout("[review] changes requested: No test")
        .expect_stdout("[review] c.txt: add a test");
    let results = latest_results(&sandbox).1;
    let status_of = |name: &str| task(&results, name)["status"].clone();
    assert_eq!(status_of("a"), "succeeded");
    let b = task(&results, "b");
    assert_eq!(b["status"], "succeeded", "not required: {b:#}");
    assert_eq!(b["review"]["verdict"], "request_changes", "{b:#}");
    assert_eq!(b["review"]["required"], false, "{b:#}");
    assert!(
        text(&b["warnings"][0]).contains("review requested changes: No test"),
        "{b:#}"
    );
    let c = task(&results, "c");
    assert_eq!(c["status"], "failed", "{c:#}");
    assert_eq!(c["error"], "review requested changes: No test", "{c:#}");
    assert_eq!(c["commits"], 1, "the work stays committed: {c:#}");
    assert_eq!(sandbox.git(&["show", "task/c:c.txt"]).trim(), "c");
    let d = task(&results, "d");
    assert_eq!(d["status"], "failed", "{d:#}");
    assert!(d["review"]["verdict"].is_null(), "{d:#}");
    assert!(
        text(&d["error"]).starts_with(
            "review failed: the reviewer's verdict must be \"approve\" or \"request_changes\", got \"maybe\""
        ),
        "{d:#}"
    );
    assert!(
        task(&results, "e")["review"].is_null(),
        "no review: {results:#}"
    );

    // b succeeded but was not approved: merge takes a and the unreviewed e only.
    let merged = after(&sandbox, &["merge"]).run();
    merged.expect_code(0);
    let merge_branch = sandbox
        .branches()
        .into_iter()
        .find(|b| b.starts_with("porch/merge/"))
        .expect("a merge branch");
    let files = sandbox.git(&["ls-tree", "--name-only", &merge_branch]);
    let files: Vec<&str> = files.lines().filter(|f| f.ends_with(".txt")).collect();
    assert_eq!(files, ["a.txt", "e.txt"], "{merged}");
}

#[test]
fn of_rivals_an_approved_attempt_wins_over_a_smaller_rejected_one() {
    let sandbox = Sandbox::new();
    let answers = sandbox.path().join("answers");
    std::fs::create_dir_all(&answers).unwrap();
    let write = |name: &str, answer: Value| {
        std::fs::write(answers.join(format!("{name}.json")), answer.to_string()).unwrap();
    };
    write("fix-1", verdict("request_changes", "wrong"));
    write("fix-2", verdict("approve", "right"));
    let small_or_large =
        "@bash if [ \"$PORCH_TASK\" = fix-1 ]; then echo 1 > f.txt; else seq 1 40 > f.txt; fi";
    let review = format!("@structured-output {}/{{worktree}}.json", answers.display());
    let results = {
        let tasks = sandbox.tasks_json(&json!({"tasks": [{
            "name": "fix", "repeat": 2, "prompt": small_or_large,
            "review": {"prompt": review, "required": false}
        }]}));
        let run = sandbox.porch_run_tasks(&tasks).arg("--events").run();
        run.expect_code(0)
            .expect_stdout(r#""task":"fix-2","stream":"review","text":"approved: right"}"#);
        sandbox.results()
    };
    let (one, two) = (task(&results, "fix-1"), task(&results, "fix-2"));
    assert_eq!(
        (&one["insertions"], &two["insertions"]),
        (&json!(1), &json!(40))
    );
    assert_eq!(one["review"]["verdict"], "request_changes", "{one:#}");
    assert_eq!(one["winner"], false, "{results:#}");
    assert_eq!(two["winner"], true, "{results:#}");
}

/// A session that changed nothing leaves nothing to review: no reviewer starts (nor is paid),
/// the task keeps its status, and of rivals the empty one never wins over an approved one.
#[test]
fn no_reviewer_starts_when_the_branch_changes_nothing() {
    let sandbox = Sandbox::new();
    let records = sandbox.path().join("records");
    std::fs::create_dir_all(&records).unwrap();
    let nothing_or_forty = "@bash if [ \"$PORCH_TASK\" = fix-2 ]; then seq 1 40 > f.txt; fi";
    let tasks = sandbox.tasks_json(&json!({
        "defaults": {"review": {"prompt": answering(&verdict("approve", "fine"), "")}},
        "tasks": [
            {"name": "idle", "prompt": "@say nothing to do", "check": ["true"]},
            {"name": "fix", "repeat": 2, "prompt": nothing_or_forty}
        ]
    }));
    let run = sandbox
        .porch_run_tasks(&tasks)
        .record_agent_runs(&records)
        .run();
    run.expect_code(0)
        .expect_stdout("idle  │ [review] nothing to review: the branch changes nothing");
    let started = |worktree: &str| {
        (1..)
            .take_while(|n| records.join(format!("{worktree}.{n}.argv")).exists())
            .count()
    };
    assert_eq!(started("idle"), 1, "the task's session alone: {run}");
    assert_eq!(started("fix-1"), 1, "the task's session alone: {run}");
    assert_eq!(started("fix-2"), 2, "the session and its reviewer: {run}");
    let results = sandbox.results();
    let idle = task(&results, "idle");
    assert_eq!(idle["status"], "succeeded", "a required review: {idle:#}");
    assert_eq!(
        idle["review"],
        json!({"verdict": null, "summary": "", "comments": [], "cost_usd": null,
            "session_id": null, "required": true, "error": null,
            "skipped": "the branch changes nothing", "retried": []}),
        "{idle:#}"
    );
    run.expect_stdout("ok     skipped  idle");
    let (one, two) = (task(&results, "fix-1"), task(&results, "fix-2"));
    assert_eq!(
        one["review"]["skipped"], "the branch changes nothing",
        "{one:#}"
    );
    assert_eq!(two["review"]["verdict"], "approve", "{two:#}");
    assert_eq!(
        (&one["winner"], &two["winner"]),
        (&json!(false), &json!(true)),
        "the approved rival wins over the empty one: {results:#}"
    );
    let status = after(&sandbox, &["status"]).run();
    status.expect_code(0).expect_stdout("review skipped");

    // A run whose only task changed nothing: no reviewer refused anything, there is nothing
    // to merge.
    let tasks = sandbox.tasks_json(&json!({"tasks": [{"name": "still", "prompt": "@say no",
        "review": {"prompt": answering(&verdict("approve", "fine"), "")}}]}));
    sandbox.porch_run_tasks(&tasks).run().expect_code(0);
    let merged = after(&sandbox, &["merge"]).run();
    merged
        .expect_code(2)
        .expect_stderr("has no succeeded task to merge");
    assert!(
        !merged.stderr().contains("no reviewer approved"),
        "{merged}"
    );
}

#[test]
fn resume_after_requested_changes_continues_the_session_with_them_and_reviews_again() {
    let sandbox = Sandbox::new();
    let records = sandbox.path().join("records");
    std::fs::create_dir_all(&records).unwrap();
    let answer = sandbox.path().join("answer.json");
    let changes = json!({"verdict": "request_changes", "summary": "Say more",
        "comments": [{"file": "a.txt", "line": 1, "body": "one word is not enough"}]});
    std::fs::write(&answer, changes.to_string()).unwrap();
    let tasks = sandbox.tasks_json(&json!({"tasks": [{
        "name": "a", "prompt": "@write a.txt hello",
        "review": {"prompt": format!("@structured-output {}", answer.display())}
    }]}));
    let mut first = after(
        &sandbox,
        &["run", path_str(&tasks), "--permission-mode", "acceptEdits"],
    );
    first
        .agent(fixture_agent())
        .record_agent_runs(&records)
        .run()
        .expect_code(1);
    let earlier = latest_results(&sandbox).1;
    let session = text(&task(&earlier, "a")["session_id"]).to_string();
    assert!(!session.is_empty(), "{earlier:#}");

    std::fs::write(&answer, verdict("approve", "Now it is right").to_string()).unwrap();
    let resumed = resume_recording(&sandbox, &records, &["--permission-mode", "acceptEdits"]);
    resumed
        .expect_code(0)
        .expect_stdout("[review] approved: Now it is right");
    // Run 3 continues the task's session with the reviewer's words; run 4 reviews again.
    let argv = recorded_argv(&records, "a", 3);
    assert!(
        argv.windows(2).any(|w| w == ["--resume", session.as_str()]),
        "{argv:?}"
    );
    assert!(!argv.contains(&"--json-schema".to_string()), "{argv:?}");
    let prompt = String::from_utf8(recorded_prompt(&records, "a", 3)).unwrap();
    assert!(
        prompt.contains("A reviewer asked for these changes to the work committed on this branch: Say more\n- a.txt:1: one word is not enough\n"),
        "{prompt}"
    );
    assert!(recorded_argv(&records, "a", 4).contains(&"--json-schema".to_string()));
    let review_prompt = String::from_utf8(recorded_prompt(&records, "a", 4)).unwrap();
    assert!(
        review_prompt.contains("> @write a.txt hello\n"),
        "the task as written: {review_prompt}"
    );
    assert!(
        !review_prompt.contains("> porch: A reviewer"),
        "{review_prompt}"
    );
    let results = latest_results(&sandbox).1;
    let a = task(&results, "a");
    assert_eq!(a["status"], "succeeded", "{a:#}");
    assert_eq!(a["review"]["verdict"], "approve", "{a:#}");
}

#[test]
fn bad_review_values_are_refused_naming_the_field_with_nothing_created() {
    let sandbox = Sandbox::new();
    // (the task's review, the field named, a part of the message)
    let cases = [
        (
            json!("yes"),
            "review",
            "must be true or an object, got the string \"yes\"",
        ),
        (
            json!({"required": "no"}),
            "review.required",
            "must be true or false, got the string \"no\"",
        ),
        (
            json!({"prompt": ""}),
            "review.prompt",
            "must be a non-empty string",
        ),
        (json!({"modle": "opus"}), "review.modle", "unknown field"),
    ];
    for (review, field, message) in cases {
        let tasks =
            sandbox.tasks_json(&json!({"tasks": [{"name": "a", "prompt": "p", "review": review}]}));
        let run = sandbox.porch_run_tasks(&tasks).run();
        run.expect_code(2)
            .expect_stderr(&format!("tasks[0] (\"a\"): field `{field}`: {message}"))
            .expect_stderr("hint:");
        assert_eq!(sandbox.branches(), ["main"], "{run}");
        assert!(!Path::new(&sandbox.worktree("a")).exists(), "{run}");
    }
}

#[test]
fn a_dry_run_shows_each_tasks_reviewer() {
    let sandbox = Sandbox::new();
    let tasks = sandbox.tasks_json(&json!({
        "defaults": {"model": "sonnet"},
        "tasks": [
            {"name": "a", "prompt": "p", "review": true},
            {"name": "b", "prompt": "p", "review": {"model": "opus", "required": false}},
            {"name": "c", "prompt": "p"}
        ]
    }));
    let shown = sandbox.porch_run_tasks(&tasks).arg("--dry-run").run();
    shown
        .expect_code(0)
        .expect_stdout(
            "review    a read-only reviewer, model sonnet; request_changes fails the task",
        )
        .expect_stdout("review    a read-only reviewer, model opus; the verdict is recorded only");
    let json = sandbox
        .porch_run_tasks(&tasks)
        .args(["--dry-run", "--json"])
        .run();
    json.expect_code(0);
    let plan: Value = serde_json::from_str(&json.stdout()).unwrap();
    let reviews: Vec<&Value> = (plan["tasks"].as_array().unwrap().iter())
        .map(|t| &t["review"])
        .collect();
    assert_eq!(
        reviews,
        [
            &json!({"model": "sonnet", "required": true}),
            &json!({"model": "opus", "required": false}),
            &Value::Null
        ]
    );
}

#[test]
fn the_reviewer_runs_within_the_tasks_timeout_and_the_runs_budget() {
    with_a_limit_the_fixture_beats(2, |limit| {
        let sandbox = Sandbox::new();
        let tasks = sandbox.tasks_json(&json!({"tasks": [
            {"name": "slow", "prompt": "@write a.txt a", "timeout": limit,
             "review": {"prompt": answering(&verdict("approve", "ok"), "@sleep 60\n")}},
        ]}));
        sandbox.porch_run_tasks(&tasks).run().expect_code(1);
        let results = sandbox.results();
        let slow = task(&results, "slow");
        // On a busy machine the limit can pass before the session has committed its work.
        if slow["attempts"][0]["status"] == "timed_out" {
            return false;
        }
        assert_eq!(slow["status"], "timed_out", "{slow:#}");
        assert_eq!(
            slow["error"],
            format!("timed out after {limit} during the review; the work is committed").as_str(),
            "{slow:#}"
        );
        assert_eq!(sandbox.git(&["show", "task/slow:a.txt"]).trim(), "a");
        true
    });

    // The session spent the whole budget: no reviewer starts, and a required review fails.
    let sandbox = Sandbox::new();
    let tasks = sandbox.tasks_json(&json!({"tasks": [
        {"name": "costly", "prompt": "@write b.txt b\n@cost 0.5",
         "review": {"prompt": answering(&verdict("approve", "ok"), "")}},
    ]}));
    sandbox
        .porch_run_tasks(&tasks)
        .args(["--max-cost-usd", "0.5"])
        .run()
        .expect_code(1);
    let results = sandbox.results();
    let costly = task(&results, "costly");
    assert_eq!(
        costly["error"], "review failed: not reviewed: the run's budget is spent (--max-cost-usd)",
        "{costly:#}"
    );
    assert!(costly["review"]["session_id"].is_null(), "{costly:#}");
}

#[test]
fn ctrl_c_during_the_review_interrupts_the_task_and_keeps_the_work() {
    let sandbox = Sandbox::new();
    let _reaper = Reaper::new(&sandbox);
    let pid_file = sandbox.path().join("reviewer.pid");
    let never = sandbox.path().join("never");
    let review = format!("@pid {}\n@wait-for {}", pid_file.display(), never.display());
    let tasks = sandbox.tasks_json(&json!({"tasks": [
        {"name": "a", "prompt": "@write a.txt a", "review": {"prompt": review}},
    ]}));
    let mut porch = sandbox.porch_run_tasks(&tasks).spawn("run");
    let reviewer = read_pid(&pid_file);
    porch.signal("INT");
    let run = porch.wait();
    // Ended by porch, not failed: `porch resume` reviews again.
    run.expect_code(130).expect_stdout("INTERRUPTED ended");
    assert_gone(reviewer, "the reviewer");
    let results = sandbox.results();
    let a = task(&results, "a");
    assert_eq!(a["status"], "interrupted", "{a:#}");
    assert!(
        text(&a["error"]).ends_with("during the review; the work is committed"),
        "{a:#}"
    );
    assert_eq!(sandbox.git(&["show", "task/a:a.txt"]).trim(), "a");
}

/// Interrupted during its review (its session succeeded, its work committed and checked), a
/// task is resumed by its review alone: the paid session is not started again, and the
/// review's cost is added to what the task cost.
#[test]
fn resume_after_an_interrupted_review_only_reviews_again() {
    let sandbox = Sandbox::new();
    let _reaper = Reaper::new(&sandbox);
    let records = sandbox.path().join("records");
    std::fs::create_dir_all(&records).unwrap();
    let pid_file = sandbox.path().join("reviewer.pid");
    let go = sandbox.path().join("go");
    let wait = format!(
        "@pid {}\n@wait-for {}\n@cost 0.25\n",
        pid_file.display(),
        go.display()
    );
    let tasks = sandbox.tasks_json(&json!({"tasks": [{
        "name": "a", "prompt": "@write a.txt hello\n@cost 0.5", "check": ["test", "-f", "a.txt"],
        "review": {"prompt": answering(&verdict("approve", "good"), &wait)}
    }]}));
    let mut first = after(
        &sandbox,
        &["run", path_str(&tasks), "--permission-mode", "acceptEdits"],
    );
    first.agent(fixture_agent()).record_agent_runs(&records);
    let mut running = first.spawn("run");
    read_pid(&pid_file);
    running.signal("INT");
    running.wait().expect_code(130);
    let earlier = latest_results(&sandbox).1;
    let a = task(&earlier, "a");
    assert_eq!(a["status"], "interrupted", "{a:#}");
    let session = text(&a["session_id"]).to_string();

    let mut preview = after(&sandbox, &["resume", "--dry-run", "--json"]);
    let preview = preview.agent(fixture_agent()).run();
    preview.expect_code(0);
    let plan: Value = serde_json::from_str(&preview.stdout()).unwrap();
    let planned = &plan["tasks"][0];
    assert_eq!(planned["review_only"], true, "{plan:#}");
    assert!(planned["continues_session"].is_null(), "{plan:#}");
    after(&sandbox, &["resume", "--dry-run"])
        .agent(fixture_agent())
        .run()
        .expect_code(0)
        .expect_stdout(
            "its review alone: its session succeeded, its work is committed and checked",
        );

    std::fs::write(&go, "").unwrap();
    let resumed = resume_recording(&sandbox, &records, &[]);
    resumed
        .expect_code(0)
        .expect_stdout("a │ [porch] resuming in worktree")
        .expect_stdout("only its review runs again")
        .expect_stdout("a │ [review] approved: good");
    // Run 1 was the task's session, run 2 the interrupted reviewer, run 3 the new reviewer.
    assert!(recorded_argv(&records, "a", 3).contains(&"--json-schema".to_string()));
    assert!(
        !records.join("a.4.argv").exists(),
        "one session only, the reviewer's: {resumed}"
    );
    let results = latest_results(&sandbox).1;
    let a = task(&results, "a");
    assert_eq!(a["status"], "succeeded", "{a:#}");
    assert!(a["error"].is_null(), "{a:#}");
    assert_eq!(a["review"]["verdict"], "approve", "{a:#}");
    assert_eq!(
        a["session_id"],
        session.as_str(),
        "the task's own session: {a:#}"
    );
    assert_eq!(
        a["attempts"][0]["run_id"], earlier["run_id"],
        "the session's attempt, marked with the run that made it: {a:#}"
    );
    assert_eq!(a["check"]["exit_code"], 0, "{a:#}");
    assert_eq!(
        a["cost_usd"], 0.75,
        "the session's and the reviewer's: {a:#}"
    );
    assert_eq!(
        results["spent_usd"], 0.25,
        "this run paid the reviewer: {results:#}"
    );
    assert_eq!(sandbox.git(&["show", "task/a:a.txt"]).trim(), "hello");
    assert_eq!(
        sandbox.git(&["rev-list", "--count", "main..task/a"]).trim(),
        "1"
    );
}

/// A signal that comes as the reviewer ends: porch's word on it counts the task, whose
/// reviewer ran when the signal came, as running, even when the task ends before porch's
/// scheduler looks at its signals.
#[test]
fn a_signal_during_the_review_counts_the_task_as_running() {
    let sandbox = Sandbox::new();
    let _reaper = Reaper::new(&sandbox);
    let porch_pid = sandbox.path().join("porch.pid");
    let signal_porch = format!(
        "@wait-for {pid}\n@bash kill -INT \"$(cat {pid})\"\n",
        pid = porch_pid.display()
    );
    let tasks = sandbox.tasks_json(&json!({"tasks": [{
        "name": "a", "prompt": "@write a.txt a",
        "review": {"prompt": answering(&verdict("approve", "ok"), &signal_porch)}
    }]}));
    let mut porch = sandbox.porch_run_tasks(&tasks).spawn("run");
    let written = sandbox.path().join("porch.pid.tmp");
    std::fs::write(&written, porch.pid().to_string()).unwrap();
    std::fs::rename(&written, &porch_pid).unwrap();
    let run = porch.wait();
    run.expect_code(130).expect_stderr(
        "porch: received signal 2 (SIGINT): starting no more sessions, ending 1 running",
    );
}

/// Every attempt succeeded but no reviewer approved: `porch merge` takes nothing, so neither
/// the summary nor `porch status` offers it, and `porch merge` says why it has nothing to merge.
#[test]
fn when_no_reviewer_approved_no_merge_is_offered_and_merge_says_why() {
    let sandbox = Sandbox::new();
    let tasks = sandbox.tasks_json(&json!({"tasks": [{
        "name": "fix", "repeat": 2, "prompt": "@write f.txt f",
        "review": {"prompt": answering(&verdict("request_changes", "wrong"), ""), "required": false}
    }]}));
    let mut porch = after(&sandbox, &["run", path_str(&tasks)]);
    let run = porch.agent(fixture_agent()).run();
    run.expect_code(0);
    assert!(!run.stdout().contains("porch merge"), "{run}");
    let results = latest_results(&sandbox).1;
    assert_eq!(
        task(&results, "fix-2")["review"]["verdict"],
        "request_changes"
    );
    let status = after(&sandbox, &["status"]).run();
    status.expect_code(0);
    assert!(!status.stdout().contains("porch merge"), "{status}");
    after(&sandbox, &["merge"])
        .run()
        .expect_code(2)
        .expect_stderr("no reviewer approved")
        .expect_stderr("name one to merge it anyway, as in `porch merge fix-1`");
}

/// A task's `env` value the reviewer repeats, in its summary, a comment's body or its file,
/// is hidden in the results as everywhere else.
#[test]
fn an_env_value_the_reviewer_repeats_is_hidden_in_the_results() {
    let sandbox = Sandbox::new();
    let answer = json!({"verdict": "request_changes", "summary": "uses sekrit-4242",
        "comments": [{"file": "sekrit-4242.txt", "line": 1, "body": "sekrit-4242 again"}]});
    let tasks = sandbox.tasks_json(&json!({"tasks": [{
        "name": "a", "prompt": "@write a.txt a", "env": {"TOKEN": "sekrit-4242"},
        "review": {"prompt": answering(&answer, "")}
    }]}));
    let run = sandbox.porch_run_tasks(&tasks).run();
    run.expect_code(1);
    assert!(!run.stdout().contains("sekrit-4242"), "{run}");
    let results = sandbox.results();
    let review = &task(&results, "a")["review"];
    assert_eq!(review["summary"], "uses [env TOKEN]", "{review:#}");
    assert_eq!(
        review["comments"][0]["file"], "[env TOKEN].txt",
        "{review:#}"
    );
    assert!(!results.to_string().contains("sekrit-4242"), "{results:#}");
}

/// `porch logs` names each session by its own id: the reviewer's is not the task's.
#[test]
fn the_log_names_the_reviewers_session_by_its_own_id() {
    let sandbox = Sandbox::new();
    let tasks = sandbox.tasks_json(&json!({"tasks": [{
        "name": "a", "prompt": "@write a.txt a",
        "review": {"prompt": answering(&verdict("approve", "ok"), "")}
    }]}));
    let mut porch = after(&sandbox, &["run", path_str(&tasks)]);
    porch.agent(fixture_agent()).run().expect_code(0);
    let results = latest_results(&sandbox).1;
    let a = task(&results, "a");
    let (session, reviewer) = (text(&a["session_id"]), text(&a["review"]["session_id"]));
    assert_ne!(session, reviewer, "{a:#}");
    let logs = after(&sandbox, &["logs", "a"]).run();
    logs.expect_code(0)
        .expect_stdout(&format!("session {session} started ("))
        .expect_stdout(&format!("session {reviewer} started ("));
}

/// A reviewer that ends with a transient API error (an overloaded API) is started again, up to
/// `--retries` times as a session is, and the reviewer it replaced is recorded with the review;
/// without `--retries` the review fails as before.
#[test]
fn a_reviewer_ended_by_a_transient_api_error_is_started_again_under_retries() {
    let sandbox = Sandbox::new();
    let counter = sandbox.path().join("review-count");
    let overloaded = format!(
        "@cost 0.25\n@fail-times 1 {} 529 Overloaded\n",
        counter.display()
    );
    let tasks = sandbox.tasks_json(&json!({"tasks": [{
        "name": "a", "prompt": "@write a.txt a\n@cost 0.5",
        "review": {"prompt": answering(&verdict("approve", "good"), &overloaded)}
    }]}));
    let run = sandbox
        .porch_run_tasks(&tasks)
        .args(["--retries", "1", "--retry-backoff", "10ms"])
        .run();
    run.expect_code(0)
        .expect_stdout("a │ [review] approved: good")
        .expect_stdout("the reviewer ended with a transient API error");
    let results = sandbox.results();
    let a = task(&results, "a");
    assert_eq!(a["status"], "succeeded", "{a:#}");
    let review = &a["review"];
    assert_eq!(review["verdict"], "approve", "{a:#}");
    let retried = review["retried"].as_array().unwrap();
    assert_eq!(retried.len(), 1, "{a:#}");
    assert!(
        text(&retried[0]["error"]).contains("529 Overloaded"),
        "{a:#}"
    );
    assert_eq!(retried[0]["cost_usd"], 0.25, "{a:#}");
    assert_ne!(retried[0]["session_id"], review["session_id"], "{a:#}");
    assert_eq!(a["cost_usd"], 1.0, "the session and both reviewers: {a:#}");

    // No retries: the review fails, the task with it.
    std::fs::remove_file(&counter).unwrap();
    let tasks = sandbox.tasks_json(&json!({"tasks": [{
        "name": "b", "prompt": "@write b.txt b",
        "review": {"prompt": answering(&verdict("approve", "good"), &overloaded)}
    }]}));
    sandbox.porch_run_tasks(&tasks).run().expect_code(1);
    let results = sandbox.results();
    let b = task(&results, "b");
    assert_eq!(b["status"], "failed", "{b:#}");
    assert!(text(&b["error"]).contains("529 Overloaded"), "{b:#}");
    assert_eq!(b["review"]["retried"], json!([]), "{b:#}");
}

/// `--push` delivers the work, not a verdict: a branch whose required review a signal
/// interrupted is pushed as a failed task's is (porch merge and porch pr take approved work
/// only), and porch says that it is unreviewed.
#[test]
fn a_branch_whose_review_was_interrupted_is_pushed_and_said_to_be_unreviewed() {
    let sandbox = Sandbox::new();
    let _reaper = Reaper::new(&sandbox);
    let remote = sandbox.path().join("remote.git");
    sandbox.git(&["init", "-q", "--bare", path_str(&remote)]);
    let pid_file = sandbox.path().join("reviewer.pid");
    let never = sandbox.path().join("never");
    let review = format!("@pid {}\n@wait-for {}", pid_file.display(), never.display());
    let tasks = sandbox.tasks_json(&json!({"tasks": [
        {"name": "a", "prompt": "@write a.txt a", "review": {"prompt": review}},
    ]}));
    let mut porch = sandbox
        .porch_run_tasks(&tasks)
        .args(["--push", path_str(&remote)])
        .spawn("run");
    read_pid(&pid_file);
    porch.signal("INT");
    let run = porch.wait();
    run.expect_code(130)
        .expect_stdout("unreviewed: its review was interrupted");
    let results = sandbox.results();
    let a = task(&results, "a");
    assert_eq!(a["status"], "interrupted", "{a:#}");
    assert_eq!(a["push"]["ok"], true, "{a:#}");
    assert_eq!(
        sandbox.git_in(&remote, &["rev-parse", "task/a"]).trim(),
        sandbox.rev("task/a")
    );
}
