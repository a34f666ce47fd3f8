//! The limits a real batch runs into: an API that rate-limits. Counts and order, never a
//! clock.

use serde_json::{Value, json};

use crate::support::*;

// ---------------------------------------------------------------------------------------------
// Rate limits

#[test]
fn under_a_rate_limit_porch_lowers_its_concurrency_and_every_task_succeeds() {
    let sandbox = Sandbox::new();
    let slots = sandbox.path().join("slots");
    // An API that serves 2 sessions at once; the CLI retries 4 times (100 ms, doubling) before
    // it gives up with a 429 result.
    let names = ["t0", "t1", "t2", "t3", "t4", "t5"];
    let tasks = rate_limited(&slots, &names, "2 4 100", "0.5");
    let run = sandbox.run_tasks_json(
        &tasks,
        &["-j", "6", "--retries", "6", "--retry-backoff", "100ms"],
    );
    run.expect_code(0);
    // Each refusal lowers the limit to the sessions the API is not refusing, in an order the
    // sessions decide; refusals porch reads together are one line (`6 → 4`).
    run.expect_stdout("[porch] rate limited (429): 6 → ");
    let results = sandbox.results();
    for name in names {
        assert_eq!(task(&results, name)["status"], "succeeded", "{run}");
    }
    assert!(
        results["rate_limit_events"].as_u64().unwrap() >= 1,
        "{results:#}"
    );
    assert!(
        results["lowest_concurrency"].as_u64().unwrap() <= 3,
        "{results:#}"
    );
    let failed: usize = results["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            t["attempts"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|a| a["status"] != "succeeded")
                .count()
        })
        .sum();
    assert!(failed <= names.len() / 2, "{failed} failed attempts\n{run}");
    // Every task was served at least once. A session the API served in the moment porch
    // stopped it (before porch read the answer) is served again when it restarts.
    let served = file_lines(&slots.join("log"));
    let served = served.iter().filter(|l| l.starts_with("served")).count();
    assert!(served >= names.len(), "{served} served");
}

/// Tasks `names` on the fixture's rate-limited API (its slots in `slots`; `api`: how many it
/// serves at once, how many retries the CLI makes and their first delay in ms), each holding
/// its slot for `pause` seconds, then writing a file.
fn rate_limited(slots: &std::path::Path, names: &[&str], api: &str, pause: &str) -> Value {
    let tasks: Vec<Value> = (names.iter())
        .map(|name| {
            let prompt = format!(
                "@rate-limit {} {api}\n@sleep {pause}\n@write {name}.txt done",
                slots.display()
            );
            json!({"name": name, "prompt": prompt})
        })
        .collect();
    json!(tasks)
}

/// Three tasks on an API that serves one session at once: porch lowers its limit (a problem,
/// in red, on stderr under `-q`), then raises it again as sessions are served (good news:
/// neither red nor a `-q` note).
fn one_slot_api(sandbox: &Sandbox) -> Value {
    let slots = sandbox.path().join("slots");
    rate_limited(&slots, &["t0", "t1", "t2"], "1 6 100", "0.3")
}

/// The line of the fall to one session: from 2, or from 3 when both refusals were read together.
const LIMITED: &str = "rate limited (429): ";
const TO_ONE: &str = " → 1 session at once";
const RAISED: &str = "1 session served without a rate limit: 1 → 2 sessions at once";

#[test]
fn a_raised_limit_is_news_but_no_problem() {
    let extra = ["-j", "3", "--retries", "6", "--retry-backoff", "100ms"];
    let sandbox = Sandbox::new();
    let run = sandbox.run_tasks_json(&one_slot_api(&sandbox), &[&extra[..], &["-q"]].concat());
    run.expect_code(0);
    // (`-q` says it on stderr as `porch: TASK: …`.)
    let fell = |text: &str, said: &str| {
        (text.lines()).any(|line| line.contains(said) && line.contains(TO_ONE))
    };
    assert!(fell(&run.stderr(), LIMITED), "{run}");
    assert!(
        !run.stderr().contains("served without a rate limit"),
        "{run}"
    );

    let sandbox = Sandbox::new();
    let run = sandbox.run_tasks_json(
        &one_slot_api(&sandbox),
        &[&extra[..], &["--color", "always"]].concat(),
    );
    run.expect_code(0);
    let stdout = run.stdout();
    let red = format!("\x1b[31m[porch] {LIMITED}");
    assert!(fell(&stdout, &red), "{stdout}");
    assert!(
        stdout.contains(&format!("\x1b[2m[porch] {RAISED}")),
        "{stdout}"
    );
}

/// A session that gave up on a rate limit is judged by its result, even while it has not exited
/// yet when porch lowers its limit: it is not stopped as one the API never answered, which
/// would start it again as the same attempt or not by whether it had exited first.
#[test]
fn a_session_that_gave_up_on_a_rate_limit_is_judged_by_its_result_not_shed() {
    let shed = "rate limited before the API answered it";
    let sandbox = Sandbox::new();
    let _reaper = Reaper::new(&sandbox);
    let go = sandbox.path().join("go");
    let tasks = sandbox.tasks_json(&json!({"tasks": [
        // Gives up with a 529 and does not exit: porch reads its result before it ends.
        {"name": "a", "prompt": "@hang\n@api-error 529 Overloaded"},
        // Its request may be in flight: the 529 lowers the limit below the sessions running.
        {"name": "b", "prompt": format!("@wait-for {}\n@write b.txt done", go.display())},
    ]}));
    let mut porch = sandbox
        .porch_run_tasks(&tasks)
        .args(["-j", "2", "--retries", "0"])
        .spawn("run");
    wait_until("a has ended, or been shed", DEADLINE, || {
        porch.stdout_text().contains(shed)
            || (sandbox.results_now()).is_some_and(|r| status(&r, "a") == "failed")
    });
    std::fs::write(&go, "").unwrap();
    let run = porch.wait();
    run.expect_code(1);
    assert!(!run.stdout().contains(shed), "{run}");
    let results = sandbox.results();
    let a = task(&results, "a");
    assert_eq!(a["status"], "failed", "{a:#}");
    assert!(
        a["error"]
            .as_str()
            .is_some_and(|e| e.contains("API Error: 529")),
        "{a:#}"
    );
    assert_eq!(a["attempts"].as_array().unwrap().len(), 1, "{a:#}");
    assert_eq!(status(&results, "b"), "succeeded", "{run}");
}

// ---------------------------------------------------------------------------------------------
// A task's cost in git processes

/// The git calls porch makes for a task that writes one file (no copy, setup or check): at most
/// 6 that run in its worktree or name its branch (make the branch, check the worktree out,
/// read it, add, commit, the diff; porch registers the worktree itself, and the file is on the
/// branch, so git need not be asked whether it ignores it), and at most 4 for the run
/// around it. Counted with a `git` first on PATH that logs each call, so that a repeated or
/// retried call cannot creep back unseen.
#[test]
fn a_task_that_writes_one_file_costs_at_most_six_git_processes() {
    let sandbox = Sandbox::new();
    let calls = sandbox.path().join("git-calls");
    let path = fake_git(&sandbox, &format!("echo \"$*\" >> '{}'", calls.display()));
    let tasks = sandbox.tasks(&[("lone", "@write lone.txt done")]);
    let run = sandbox.porch_run_tasks(&tasks).env("PATH", path).run();
    run.expect_code(0);
    let results = sandbox.results();
    let lone = task(&results, "lone");
    assert_eq!(lone["status"], "succeeded", "{run}");
    assert_eq!(lone["commits"], 1, "{results:#}");
    assert_eq!(lone["files_changed"], 1, "{results:#}");
    assert_eq!(sandbox.git(&["show", "task/lone:lone.txt"]).trim(), "done");

    let lines = file_lines(&calls);
    let worktree = sandbox.worktree("lone");
    let (for_task, for_run): (Vec<&String>, Vec<&String>) = lines.iter().partition(|call| {
        call.contains(&worktree.display().to_string()) || call.contains("task/lone")
    });
    assert!(
        for_task.len() <= 6,
        "{} for the task: {for_task:#?}",
        for_task.len()
    );
    assert!(
        for_run.len() <= 4,
        "{} for the run: {for_run:#?}",
        for_run.len()
    );
}
