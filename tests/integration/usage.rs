//! A subscription's usage windows: a window used up refuses every session until it resets.
//! The fixture's window is shared by the run's sessions (`@usage-window`) and resets a few
//! seconds after it is used up, on the real clock; nothing here asserts how long anything took.

use std::path::Path;

use serde_json::{Value, json};

use crate::after::after;
use crate::support::*;

/// A prompt that passes the fixture's usage window in `dir` (K sessions, then used up for
/// `seconds`) and then writes its file.
fn through_window(dir: &Path, allowed: u32, seconds: u32, name: &str) -> String {
    format!(
        "@usage-window {} {allowed} {seconds}\n@write {name}.txt done",
        dir.display()
    )
}

fn tasks_through(dir: &Path, names: &[&str], allowed: u32, seconds: u32) -> Value {
    let tasks: Vec<Value> = (names.iter())
        .map(|name| json!({"name": name, "prompt": through_window(dir, allowed, seconds, name)}))
        .collect();
    json!(tasks)
}

fn array(value: &Value) -> &Vec<Value> {
    value
        .as_array()
        .unwrap_or_else(|| panic!("not a list: {value}"))
}

#[test]
fn a_used_up_window_is_waited_out_and_every_task_succeeds_without_a_retry() {
    let sandbox = Sandbox::new();
    let window = sandbox.path().join("window");
    // The window serves 2 sessions, then refuses every one for 2 s; then 2 more, and so on.
    let names = ["t0", "t1", "t2", "t3", "t4", "t5"];
    let tasks = tasks_through(&window, &names, 2, 2);
    let run = sandbox.run_tasks_json(&tasks, &["-j", "6", "--retries", "0"]);
    run.expect_code(0);
    run.expect_stdout("[porch] usage limit (five_hour) reached; waiting until ");
    run.expect_stdout(" UTC, ");
    let results = sandbox.results();
    for name in names {
        let t = task(&results, name);
        assert_eq!(t["status"], "succeeded", "{name}: {t:#}\n{run}");
        // Refused before the API answered it, a session did nothing: it is no attempt.
        let attempts = array(&t["attempts"]);
        assert_eq!(attempts.len(), 1, "{name}: {t:#}");
        assert_eq!(attempts[0]["usage_limit"], Value::Null);
    }
    let log = file_lines(&window.join("log"));
    assert!(
        log.iter().any(|l| l.starts_with("refused")),
        "the window refused sessions: {log:?}"
    );
    let waits = array(&results["usage_limit_waits"]);
    assert!(!waits.is_empty(), "{results:#}");
    for wait in waits {
        assert_eq!(wait["type"], "five_hour", "{wait}");
        assert!(wait["resets_at"].as_str().unwrap().ends_with('Z'), "{wait}");
        assert!(wait["waited_ms"].as_u64().unwrap() > 0, "{wait}");
    }
    // A usage window is no rate limit: the concurrency stays where it was.
    assert_eq!(results["rate_limit_events"], 0, "{results:#}");
    assert_eq!(results["lowest_concurrency"], 6, "{results:#}");
    assert_eq!(results["final_concurrency"], 6, "{results:#}");
}

#[test]
fn a_session_refused_after_it_wrote_work_keeps_it_and_starts_again_spending_no_retry() {
    let sandbox = Sandbox::new();
    let window = sandbox.path().join("window");
    let first_through = sandbox.path().join("first-through");
    // `first` uses the window up; `second`, which has written a file meanwhile, is refused.
    let tasks = json!([
        {"name": "first", "prompt": format!(
            "@usage-window {} 1 2\n@touch {}\n@write first.txt done",
            window.display(), first_through.display())},
        {"name": "second", "prompt": format!(
            "@write partial.txt begun\n@wait-for {}\n@usage-window {} 1 2\n@write second.txt done",
            first_through.display(), window.display())},
    ]);
    let run = sandbox.run_tasks_json(&tasks, &["--retries", "0"]);
    run.expect_code(0);
    let results = sandbox.results();
    assert_eq!(statuses(&results), ["succeeded", "succeeded"], "{run}");
    let second = task(&results, "second");
    let attempts = array(&second["attempts"]);
    assert_eq!(attempts.len(), 2, "{second:#}");
    assert_eq!(attempts[0]["usage_limit"], "five_hour", "{second:#}");
    assert_eq!(
        attempts[0]["saved_work"], "refs/porch/attempts/second/1",
        "{second:#}"
    );
    assert_eq!(attempts[1]["status"], "succeeded");
    assert_eq!(attempts[1]["usage_limit"], Value::Null);
    // The refused attempt's work is kept, and the branch has the attempt that succeeded.
    assert_eq!(
        sandbox.git(&["show", "refs/porch/attempts/second/1:partial.txt"]),
        "begun"
    );
    assert_eq!(sandbox.git(&["show", "task/second:second.txt"]), "done");
}

#[test]
fn a_wait_longer_than_max_wait_is_not_waited_the_tasks_not_done_are_skipped() {
    let sandbox = Sandbox::new();
    let window = sandbox.path().join("window");
    // A window used up from the start, for an hour; porch may wait 5 s.
    let tasks = tasks_through(&window, &["a", "b"], 0, 3600);
    let run = sandbox.run_tasks_json(&tasks, &["-j", "1", "--max-wait", "5s"]);
    run.expect_code(1);
    run.expect_stdout("[porch] the five_hour usage limit is reached until ");
    run.expect_stdout("longer than --max-wait (5s): starting no more sessions");
    let results = sandbox.results();
    assert_eq!(statuses(&results), ["skipped", "skipped"], "{run}");
    let error = |name| task(&results, name)["error"].as_str().unwrap().to_string();
    assert!(
        error("a").starts_with("its session was refused: the five_hour usage limit"),
        "{}",
        error("a")
    );
    assert!(
        error("b").starts_with("not started: the five_hour usage limit"),
        "{}",
        error("b")
    );
    assert!(
        error("b").ends_with("longer than --max-wait (5s)"),
        "{}",
        error("b")
    );
    // Nothing was done: no worktree or branch stands in the way of the next run.
    assert!(
        sandbox.branches().iter().all(|b| !b.starts_with("task/")),
        "{:?}",
        sandbox.branches()
    );
    assert_eq!(
        array(&results["usage_limit_waits"]).len(),
        0,
        "nothing was waited"
    );
}

#[test]
fn a_retry_waiting_when_porch_stops_waiting_for_the_window_is_skipped_not_interrupted() {
    let sandbox = Sandbox::new();
    let window = sandbox.path().join("window");
    let failed = sandbox.path().join("a-failed");
    let counter = sandbox.path().join("counter");
    // `a` fails transiently and waits an hour to retry; meanwhile `b` meets a window used up
    // for an hour, longer than --max-wait.
    let tasks = json!([
        {"name": "a", "prompt": format!(
            "@touch {}\n@fail-times 1 {} 529 Overloaded",
            failed.display(), counter.display())},
        {"name": "b", "prompt": format!(
            "@wait-for {}\n{}", failed.display(), through_window(&window, 0, 3600, "b"))},
    ]);
    let run = sandbox.run_tasks_json(
        &tasks,
        &[
            "-j",
            "2",
            "--retries",
            "1",
            "--retry-backoff",
            "1h",
            "--max-wait",
            "5s",
        ],
    );
    run.expect_code(1);
    let results = sandbox.results();
    assert_eq!(statuses(&results), ["skipped", "skipped"], "{run}");
    let error = task(&results, "a")["error"].as_str().unwrap().to_string();
    assert!(
        error.starts_with("not retried: the five_hour usage limit is reached until "),
        "{error}"
    );
    assert!(
        error.contains("; the attempt had ended: API Error: 529"),
        "{error}"
    );
}

/// `porch run` of `tasks` with `args` and `--events`, once it says it waits for a window.
fn waiting_for_the_window(sandbox: &Sandbox, tasks: &Value, args: &[&str]) -> Spawned {
    let file = sandbox.tasks_json(&json!({ "tasks": tasks }));
    let porch = sandbox
        .porch_run_tasks(&file)
        .args(args)
        .arg("--events")
        .spawn("run");
    wait_until("porch says it waits for the window", DEADLINE, || {
        porch.stdout_text().contains(r#""event":"usage_limit""#)
    });
    porch
}

#[test]
fn sigint_during_the_wait_ends_the_run_as_any_interruption_does() {
    let sandbox = Sandbox::new();
    let _reaper = Reaper::new(&sandbox);
    let window = sandbox.path().join("window");
    // Longer than any test may run: only the signal ends the wait.
    let tasks = tasks_through(&window, &["a", "b"], 0, 3600);
    let mut porch = waiting_for_the_window(&sandbox, &json!(tasks), &["-j", "1"]);
    porch.signal("INT");
    let run = porch.wait();
    run.expect_code(130);
    let event: Value = (run.stdout().lines())
        .find(|l| l.contains(r#""event":"usage_limit""#))
        .map(|l| serde_json::from_str(l).unwrap())
        .unwrap();
    assert_eq!(event["task"], "a");
    assert_eq!(event["type"], "five_hour");
    assert_eq!(event["gave_up"], false);
    assert!(event["resets_at"].as_str().is_some(), "{event}");
    assert!(event["wait_ms"].as_u64().unwrap() > 0, "{event}");
    let results = sandbox.results();
    assert_eq!(statuses(&results), ["skipped", "skipped"], "{run}");
    let error = task(&results, "a")["error"].as_str().unwrap().to_string();
    assert!(
        error.starts_with("interrupted while waiting for the five_hour usage limit to reset: porch received signal 2 (SIGINT)"),
        "{error}"
    );
    // The wait is recorded, as far as it went.
    let waits = array(&results["usage_limit_waits"]);
    assert_eq!(waits.len(), 1, "{results:#}");
    assert_eq!(waits[0]["type"], "five_hour");
}

#[test]
fn a_window_nearly_used_up_is_said_once_and_changes_nothing() {
    let sandbox = Sandbox::new();
    let warned = "@usage-warning five_hour 0.93\n@write x.txt done";
    let tasks = json!([
        {"name": "a", "prompt": warned},
        {"name": "b", "prompt": warned},
    ]);
    let run = sandbox.run_tasks_json(&tasks, &["-j", "2"]);
    run.expect_code(0);
    let notes: Vec<&str> = (run.stdout().lines())
        .filter(|l| l.contains("[porch] usage limit (five_hour) 93% used, resets "))
        .map(|_| "note")
        .collect();
    assert_eq!(notes.len(), 1, "{run}");
    run.expect_stdout("; porch goes on");
    let results = sandbox.results();
    assert_eq!(statuses(&results), ["succeeded", "succeeded"]);
    assert_eq!(array(&results["usage_limit_waits"]).len(), 0);
}

/// A task that writes a file and whose reviewer meets the fixture's window in `dir` (`allowed`
/// sessions, then used up for `seconds`) before it approves.
fn reviewed_through(dir: &Path, allowed: u32, seconds: u32, required: bool) -> Value {
    let approve = json!({"verdict": "approve", "summary": "fine", "comments": []});
    json!({
        "name": "a",
        "prompt": "@write a.txt done",
        "review": {
            "prompt": format!(
                "@usage-window {} {allowed} {seconds}\n@structured-output {approve}",
                dir.display()
            ),
            "required": required
        }
    })
}

#[test]
fn a_reviewer_refused_by_a_window_reviews_again_after_the_reset() {
    let sandbox = Sandbox::new();
    let window = sandbox.path().join("window");
    // Used up elsewhere for 2 s: the first reviewer is refused, the one after the reset served.
    let mut tasks = json!([reviewed_through(&window, 1, 2, true)]);
    let prompt = tasks[0]["review"]["prompt"].as_str().unwrap().to_string();
    tasks[0]["review"]["prompt"] = json!(format!("@usage-spent {} 2\n{prompt}", window.display()));
    let run = sandbox.run_tasks_json(&tasks, &["--retries", "0"]);
    run.expect_code(0);
    run.expect_stdout("[porch] usage limit (five_hour) reached; waiting until ");
    run.expect_stdout("[review] approved: fine");
    let results = sandbox.results();
    let a = task(&results, "a");
    assert_eq!(a["status"], "succeeded", "{a:#}\n{run}");
    assert_eq!(a["review"]["verdict"], "approve", "{a:#}");
    assert_eq!(
        array(&a["attempts"]).len(),
        1,
        "the task's session ran once: {a:#}"
    );
    assert_eq!(
        file_lines(&window.join("log")),
        ["refused a", "allowed a"],
        "refused, then reviewed again"
    );
    let waits = array(&results["usage_limit_waits"]);
    assert_eq!(waits.len(), 1, "{results:#}");
    assert_eq!(waits[0]["type"], "five_hour");
}

/// The wait for a window's reset is no work: a task's `timeout` shorter than the wait still
/// leaves its reviewer the time the task had not used.
#[test]
fn a_wait_for_a_window_is_not_counted_against_the_tasks_timeout() {
    let sandbox = Sandbox::new();
    let window = sandbox.path().join("window");
    // Used up elsewhere for 20 s, longer than the task's whole timeout of 15 s.
    let mut tasks = json!([reviewed_through(&window, 1, 20, true)]);
    let prompt = tasks[0]["review"]["prompt"].as_str().unwrap().to_string();
    // The reviewer takes a second: on the task's timeout as it was, it had none left.
    tasks[0]["review"]["prompt"] = json!(format!(
        "@usage-spent {} 20\n@sleep 1\n{prompt}",
        window.display()
    ));
    tasks[0]["timeout"] = json!("15s");
    let run = sandbox.run_tasks_json(&tasks, &["--retries", "0"]);
    run.expect_code(0);
    run.expect_stdout("[porch] usage limit (five_hour) reached; waiting until ");
    let results = sandbox.results();
    let a = task(&results, "a");
    assert_eq!(a["status"], "succeeded", "{a:#}\n{run}");
    assert_eq!(a["review"]["verdict"], "approve", "{a:#}");
}

#[test]
fn a_reviewer_past_max_wait_leaves_the_work_committed_and_unreviewed() {
    for required in [true, false] {
        let sandbox = Sandbox::new();
        let window = sandbox.path().join("window");
        // Used up for an hour: porch may wait 5 s.
        let tasks = json!([reviewed_through(&window, 0, 3600, required)]);
        let run = sandbox.run_tasks_json(&tasks, &["--max-wait", "5s"]);
        run.expect_stdout("longer than --max-wait (5s): starting no more sessions");
        run.expect_stdout("[review] no verdict: not reviewed: the five_hour usage limit");
        let results = sandbox.results();
        let a = task(&results, "a");
        assert_eq!(a["review"]["verdict"], Value::Null, "{a:#}");
        let review_error = a["review"]["error"].as_str().unwrap();
        assert!(
            review_error.starts_with("not reviewed: the five_hour usage limit is reached until "),
            "{review_error}"
        );
        assert_eq!(sandbox.git(&["show", "task/a:a.txt"]), "done");
        if required {
            run.expect_code(1);
            assert_eq!(a["status"], "skipped", "{a:#}\n{run}");
            let error = a["error"].as_str().unwrap();
            assert!(error.starts_with("not reviewed: the five_hour"), "{error}");
            assert!(error.ends_with("; the work is committed"), "{error}");
            // The committed work needs its review, not another paid session.
            let preview = after(&sandbox, &["resume", "--dry-run", "--json"])
                .agent(fixture_agent())
                .run();
            preview.expect_code(0);
            let plan: Value = serde_json::from_str(&preview.stdout()).unwrap();
            assert_eq!(plan["tasks"][0]["review_only"], true, "{plan:#}");
        } else {
            run.expect_code(0);
            assert_eq!(a["status"], "succeeded", "{a:#}\n{run}");
            let warnings = array(&a["warnings"]);
            assert!(
                (warnings.iter()).any(|w| w.as_str().unwrap().ends_with("(review not required)")),
                "{a:#}"
            );
        }
    }
}

#[test]
fn no_reviewer_starts_while_porch_waits_for_a_window() {
    let sandbox = Sandbox::new();
    let _reaper = Reaper::new(&sandbox);
    let window = sandbox.path().join("window");
    let go = sandbox.path().join("go");
    // `b` is refused by a window used up for 8 s; `a`'s session ends only once porch waits for
    // it, and its reviewer, which would be refused too, must wait for the reset.
    let tasks = json!([
        {"name": "a", "prompt": format!("@wait-for {}\n@write a.txt done", go.display()),
         "review": reviewed_through(&window, 2, 8, true)["review"]},
        {"name": "b", "prompt": format!(
            "@usage-spent {w} 8\n@usage-window {w} 2 8\n@write b.txt done",
            w = window.display())},
    ]);
    let mut porch = waiting_for_the_window(&sandbox, &tasks, &["-j", "2"]);
    std::fs::write(&go, "").unwrap();
    let run = porch.wait();
    run.expect_code(0);
    let results = sandbox.results();
    assert_eq!(statuses(&results), ["succeeded", "succeeded"], "{run}");
    assert_eq!(task(&results, "a")["review"]["verdict"], "approve");
    let log = file_lines(&window.join("log"));
    assert_eq!(
        log.first().map(String::as_str),
        Some("refused b"),
        "{log:?}"
    );
    assert!(
        !log.contains(&"refused a".to_string()),
        "a's reviewer started while porch waited: {log:?}"
    );
}

#[test]
fn a_reviewers_window_nearly_used_up_is_said_once() {
    let sandbox = Sandbox::new();
    let approve = json!({"verdict": "approve", "summary": "fine", "comments": []});
    let reviewed = |name: &str| {
        json!({"name": name, "prompt": format!("@write {name}.txt done"), "review": {
            "prompt": format!("@usage-warning seven_day 0.91\n@structured-output {approve}")}})
    };
    let run = sandbox.run_tasks_json(&json!([reviewed("a"), reviewed("b")]), &["-j", "2"]);
    run.expect_code(0);
    let notes = (run.stdout().lines())
        .filter(|l| l.contains("[porch] usage limit (seven_day) 91% used, resets "))
        .count();
    assert_eq!(notes, 1, "{run}");
    assert_eq!(
        statuses(&sandbox.results()),
        ["succeeded", "succeeded"],
        "{run}"
    );
}

#[test]
fn sigint_while_a_reviewer_waits_for_the_window_keeps_the_work_committed() {
    let sandbox = Sandbox::new();
    let _reaper = Reaper::new(&sandbox);
    let window = sandbox.path().join("window");
    // Longer than any test may run: only the signal ends the wait.
    let tasks = json!([reviewed_through(&window, 0, 3600, true)]);
    let mut porch = waiting_for_the_window(&sandbox, &tasks, &[]);
    porch.signal("INT");
    let run = porch.wait();
    run.expect_code(130);
    let results = sandbox.results();
    let a = task(&results, "a");
    assert_eq!(a["status"], "interrupted", "{a:#}\n{run}");
    let error = a["error"].as_str().unwrap();
    assert!(error.contains("SIGINT"), "{error}");
    assert!(error.ends_with("the work is committed"), "{error}");
    assert_eq!(sandbox.git(&["show", "task/a:a.txt"]), "done");
    assert_eq!(file_lines(&window.join("log")), ["refused a"]);
}
