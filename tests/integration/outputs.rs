//! What `porch run` writes on stdout for scripts and people: `--json`, `--events`, `--quiet`,
//! the start and end lines off a terminal, the status line on one, and never an escape code
//! where none is allowed.

use std::ffi::OsStr;
use std::process::{Command, Stdio};

use serde_json::Value;

use crate::support::*;

/// Two tasks: `a` talks, calls a tool and succeeds; `b` fails.
fn two_tasks(sandbox: &Sandbox) -> std::path::PathBuf {
    sandbox.tasks(&[
        ("a", "@say hello\n@write a.txt hi\n@stderr careful\n"),
        ("b", "@say trying\n@exit 1\n"),
    ])
}

fn results_file(sandbox: &Sandbox) -> Value {
    let text = std::fs::read_to_string(sandbox.results_path()).unwrap();
    serde_json::from_str(&text).unwrap()
}

#[test]
fn json_prints_the_results_file_and_nothing_else() {
    let sandbox = Sandbox::new();
    let tasks = two_tasks(&sandbox);
    let run = sandbox
        .porch_run(&["--json"])
        .arg(&tasks)
        .arg(sandbox.repo())
        .run();
    run.expect_code(1).expect_no_panic();
    let file = std::fs::read(sandbox.results_path()).unwrap();
    assert_eq!(
        run.output.stdout, file,
        "stdout is the results file, byte for byte\n{run}"
    );
    let parsed: Value = serde_json::from_slice(&run.output.stdout).unwrap();
    assert_eq!(parsed["summary"]["succeeded"], 1, "{run}");
    assert_eq!(parsed["summary"]["failed"], 1, "{run}");
    assert!(
        parsed["finished_at"].is_string(),
        "the final results\n{run}"
    );
    // The stream still reaches the task's log.
    let log = std::fs::read_to_string(parsed["tasks"][0]["log"].as_str().unwrap()).unwrap();
    assert!(log.contains("[stderr] careful"), "{log}");
}

/// Every line parsed, in order.
fn events(stdout: &str) -> Vec<Value> {
    stdout
        .lines()
        .map(|line| {
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line:?}"))
        })
        .collect()
}

/// The positions of the events about `task`, by kind.
fn positions(events: &[Value], task: &str, kinds: &[&str]) -> Vec<usize> {
    (0..events.len())
        .filter(|&i| {
            events[i]["task"] == task && kinds.contains(&events[i]["event"].as_str().unwrap())
        })
        .collect()
}

#[test]
fn events_are_json_lines_from_run_started_to_run_finished_each_task_in_order() {
    let sandbox = Sandbox::new();
    let tasks = two_tasks(&sandbox);
    let run = sandbox
        .porch_run(&["--events"])
        .arg(&tasks)
        .arg(sandbox.repo())
        .run();
    run.expect_code(1).expect_no_panic();
    let events = events(&run.stdout());
    let kinds: Vec<&str> = events
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    assert_eq!(kinds.first(), Some(&"run_started"), "{run}");
    assert_eq!(kinds.last(), Some(&"run_finished"), "{run}");
    assert_eq!(kinds.iter().filter(|k| **k == "run_started").count(), 1);
    assert_eq!(kinds.iter().filter(|k| **k == "run_finished").count(), 1);
    for event in &events {
        let time = event["time"].as_str().unwrap_or_default();
        // 2026-12-01T20:15:00.000Z
        assert_eq!(
            (time.len(), &time[10..11], &time[23..]),
            (24, "T", "Z"),
            "{event}"
        );
    }

    let started = &events[0];
    assert_eq!(started["tasks"], serde_json::json!(["a", "b"]), "{started}");
    assert_eq!(started["tasks_file"], tasks.display().to_string());
    let results = results_file(&sandbox);
    assert_eq!(started["run_id"], results["run_id"]);

    for name in ["a", "b"] {
        let start = positions(&events, name, &["task_started"]);
        let end = positions(&events, name, &["task_finished"]);
        let middle = positions(&events, name, &["line", "tool_call"]);
        assert_eq!((start.len(), end.len()), (1, 1), "{name}: {run}");
        assert!(!middle.is_empty(), "{name}: {run}");
        assert!(
            middle.iter().all(|&i| start[0] < i && i < end[0]),
            "{name}'s lines come between its start and its end\n{run}"
        );
        let task_started = &events[start[0]];
        assert_eq!(task_started["attempt"], 1);
        assert_eq!(task_started["branch"], format!("task/{name}"));
        let task = results["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["name"] == name);
        assert_eq!(
            Some(&events[end[0]]["result"]),
            task,
            "task_finished carries the task's result as the results file has it"
        );
    }

    let a_said = |stream: &str, text: &str| {
        events.iter().any(|e| {
            e["event"] == "line" && e["task"] == "a" && e["stream"] == stream && e["text"] == text
        })
    };
    assert!(a_said("agent", "hello"), "{run}");
    assert!(a_said("stderr", "careful"), "{run}");
    let tool_calls: Vec<&Value> = events
        .iter()
        .filter(|e| e["event"] == "tool_call")
        .collect();
    assert_eq!(tool_calls.len(), 1, "{run}");
    assert_eq!(
        (
            &tool_calls[0]["task"],
            &tool_calls[0]["tool"],
            &tool_calls[0]["input"]
        ),
        (
            &Value::from("a"),
            &Value::from("Write"),
            &Value::from("a.txt")
        )
    );

    let finished = events.last().unwrap();
    assert_eq!(finished["exit_code"], 1);
    assert_eq!(finished["summary"], results["summary"]);
    assert_eq!(
        finished["results"],
        sandbox.results_path().display().to_string()
    );
}

#[test]
fn json_and_events_together_are_refused_before_anything_is_created() {
    let sandbox = Sandbox::new();
    let tasks = two_tasks(&sandbox);
    let run = sandbox
        .porch_run(&["--json", "--events"])
        .arg(&tasks)
        .arg(sandbox.repo())
        .run();
    run.expect_code(2)
        .expect_stderr("porch: error: --json and --events cannot be used together")
        .expect_stderr("hint: ");
    assert_eq!(run.stdout(), "");
    assert!(!sandbox.results_path().exists());
    assert!(!sandbox.worktree_dir().exists());
}

#[test]
fn quiet_prints_the_summary_and_no_line_of_a_task() {
    let sandbox = Sandbox::new();
    let tasks = two_tasks(&sandbox);
    let run = sandbox
        .porch_run(&["-q"])
        .arg(&tasks)
        .arg(sandbox.repo())
        .run();
    run.expect_code(1)
        .expect_no_panic()
        .expect_stdout("1 of 2 tasks succeeded, 1 failed");
    let stdout = run.stdout();
    assert!(!stdout.contains('│'), "a task's line was printed\n{run}");
    assert!(!stdout.contains("hello"), "{run}");
    assert!(!stdout.contains("[porch]"), "{run}");
}

/// Off a terminal, with and without NO_COLOR: no escape code, and a plain line when each task
/// starts and ends.
#[test]
fn off_a_terminal_each_task_has_a_start_and_an_end_line_and_no_escape_code() {
    for no_color in [None, Some("1")] {
        let sandbox = Sandbox::new();
        let tasks = two_tasks(&sandbox);
        let mut porch = sandbox.porch_run_tasks(&tasks);
        if let Some(value) = no_color {
            porch.env("NO_COLOR", value);
        }
        let run = porch.run();
        run.expect_code(1).expect_no_panic();
        let stdout = run.stdout();
        assert!(!stdout.contains('\x1b'), "an escape code\n{run}");
        let lines: Vec<&str> = stdout.lines().collect();
        let index = |line: &str| lines.iter().position(|l| *l == line);
        let hello = index("a │ hello");
        let started = index("a │ [porch] started");
        let ended = lines
            .iter()
            .position(|l| l.starts_with("a │ [porch] finished: succeeded ("));
        assert!(
            started < hello && hello < ended && started.is_some(),
            "{run}"
        );
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with("b │ [porch] finished: failed (")),
            "{run}"
        );
    }
}

/// porch's arguments as one shell word each, for `script -c`.
fn shell_words(command: &Command) -> String {
    std::iter::once(command.get_program())
        .chain(command.get_args())
        .map(|word: &OsStr| format!("'{}'", word.to_str().unwrap().replace('\'', r"'\''")))
        .collect::<Vec<_>>()
        .join(" ")
}

/// porch run of `tasks` on a pseudo-terminal (util-linux `script`), with `extra` in its
/// environment: what the terminal received. When `release` is given as (text, file), the
/// terminal is read as it is written and `file` is created once `text` has been shown, so a
/// task that waits for `file` holds the run open until the terminal has shown `text`.
fn on_a_terminal_with(
    sandbox: &Sandbox,
    tasks: &std::path::Path,
    extra: &[(&str, &str)],
    release: Option<(&str, &std::path::Path)>,
) -> (Option<i32>, String) {
    use std::io::Read;
    let porch = sandbox.porch_run_tasks(tasks).command();
    let mut script = Command::new("script");
    hermetic(&mut script, &sandbox.home());
    script
        .args(["-qec", &shell_words(&porch), "/dev/null"])
        .current_dir(porch.get_current_dir().unwrap())
        .env("TERM", "xterm")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    for (key, value) in porch.get_envs() {
        match value {
            Some(value) => script.env(key, value),
            None => script.env_remove(key),
        };
    }
    for (key, value) in extra {
        script.env(key, value);
    }
    let mut child = script.spawn().expect("script(1) from util-linux runs");
    let mut stdout = child.stdout.take().unwrap();
    let mut shown = Vec::new();
    let mut chunk = [0u8; 4096];
    let mut released = release.is_none();
    loop {
        let read = stdout.read(&mut chunk).unwrap_or(0);
        if read == 0 {
            break;
        }
        shown.extend_from_slice(&chunk[..read]);
        if let (false, Some((text, file))) = (released, release)
            && String::from_utf8_lossy(&shown).contains(text)
        {
            std::fs::write(file, "").unwrap();
            released = true;
        }
    }
    let status = child.wait().unwrap();
    (status.code(), String::from_utf8_lossy(&shown).into_owned())
}

fn on_a_terminal(sandbox: &Sandbox, extra: &[(&str, &str)]) -> (Option<i32>, String) {
    let tasks = sandbox.tasks(&[("a", "@say hello\n@write a.txt hi\n")]);
    on_a_terminal_with(sandbox, &tasks, extra, None)
}

#[test]
fn on_a_terminal_a_status_line_is_drawn_under_the_lines_and_erased() {
    let sandbox = Sandbox::new();
    // `b` starts once `a` is done (it depends on `a`) and waits until the terminal has shown the status line counting `a` done with its cost:
    // the status line is drawn whenever the printer's queue runs empty, which it does while
    // `b` waits. Without that, nothing is promised to draw it between `a`'s end and the run's.
    let gate = sandbox.path().join("status-line-seen");
    let b_prompt = format!("@wait-for {}\n@say b done\n", gate.display());
    let tasks = sandbox.path().join("tasks.json");
    std::fs::write(
        &tasks,
        serde_json::json!([
            {"name": "a", "prompt": "@say hello\n@write a.txt hi\n"},
            {"name": "b", "prompt": b_prompt, "depends_on": ["a"]},
        ])
        .to_string(),
    )
    .unwrap();
    let counted = "[porch] 1 running · 0 queued · 1 done · 0 failed · $0.03 · ";
    let (code, shown) = on_a_terminal_with(&sandbox, &tasks, &[], Some((counted, &gate)));
    assert_eq!(code, Some(0), "{shown}");
    assert!(
        shown.contains("\x1b[2K"),
        "the status line is erased\n{shown:?}"
    );
    assert!(
        shown.contains(counted),
        "the status line counts the finished task and its cost\n{shown:?}"
    );
    assert!(
        !shown.contains("[porch] started"),
        "no start line on a terminal\n{shown:?}"
    );
    // Erased before the summary: the summary's first line starts clean.
    let summary = shown.find("STATUS").unwrap();
    let last_erase = shown.rfind("\r\x1b[2K").unwrap();
    assert!(last_erase < summary, "{shown:?}");
}

#[test]
fn on_a_terminal_with_no_color_nothing_but_plain_lines() {
    let sandbox = Sandbox::new();
    let (code, shown) = on_a_terminal(&sandbox, &[("NO_COLOR", "1")]);
    assert_eq!(code, Some(0), "{shown}");
    assert!(!shown.contains('\x1b'), "an escape code\n{shown:?}");
    assert!(shown.contains("a │ [porch] started"), "{shown:?}");
}

#[test]
fn events_tell_each_attempt_and_the_rate_limit_that_ended_the_first() {
    let sandbox = Sandbox::new();
    let count = sandbox.path().join("count");
    let prompt = format!(
        "@fail-times 1 {} 529 Overloaded\n@say ok\n",
        count.display()
    );
    let tasks = sandbox.tasks(&[("a", prompt.as_str())]);
    let run = sandbox
        .porch_run(&["--events", "--retries", "1", "--retry-backoff", "10ms"])
        .arg(&tasks)
        .arg(sandbox.repo())
        .run();
    run.expect_code(0).expect_no_panic();
    let events = events(&run.stdout());
    let milestones: Vec<(String, Value)> = events
        .iter()
        .filter(|e| e["event"] != "line")
        .map(|e| {
            let detail = match e["event"].as_str().unwrap() {
                "task_started" => e["attempt"].clone(),
                "rate_limited" => serde_json::json!([e["status"], e["limit"]]),
                "task_finished" => e["result"]["attempts"].as_array().unwrap().len().into(),
                _ => Value::Null,
            };
            (e["event"].as_str().unwrap().to_string(), detail)
        })
        .collect();
    let expected: Vec<(String, Value)> = [
        ("run_started", Value::Null),
        ("task_started", 1.into()),
        ("rate_limited", serde_json::json!([529, 1])),
        ("task_started", 2.into()),
        ("task_finished", 2.into()),
        ("run_finished", Value::Null),
    ]
    .into_iter()
    .map(|(kind, detail)| (kind.to_string(), detail))
    .collect();
    assert_eq!(milestones, expected, "{run}");
}

/// What a script reads must reach it: `--json` or `--events` into a full device is an error
/// (exit 1, stderr naming the results file), though every task succeeded.
#[test]
fn json_and_events_that_stdout_refuses_make_the_run_fail() {
    for flag in ["--json", "--events"] {
        let sandbox = Sandbox::new();
        let tasks = sandbox.tasks(&[("a", "@write a.txt hi")]);
        let full = std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .expect("/dev/full");
        let output = sandbox
            .porch_run(&[flag])
            .arg(&tasks)
            .arg(sandbox.repo())
            .command()
            .stdout(Stdio::from(full))
            .stderr(Stdio::piped())
            .output()
            .expect("porch runs");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{flag}: {stderr}");
        assert!(
            stderr.contains(&format!(
                "porch: error: what {flag} writes did not all reach standard output"
            )),
            "{flag}: {stderr}"
        );
        assert!(
            stderr.contains("hint: the results file has the run"),
            "{stderr}"
        );
        assert!(!stderr.contains("panicked"), "{stderr}");
        let results = results_file(&sandbox);
        assert_eq!(results["summary"]["succeeded"], 1, "{results:#}");
    }
}

/// `-o` on porch's own stdout would put the results inside the document `--json` or `--events`
/// writes there: refused, nothing created.
#[test]
fn results_on_the_stdout_json_or_events_writes_are_refused() {
    for flag in ["--json", "--events"] {
        let sandbox = Sandbox::new();
        let tasks = sandbox.tasks(&[("a", "@write a.txt hi")]);
        let mut porch = sandbox.porch(&["run", flag, "-o", "/dev/stdout"]);
        porch
            .agent(fixture_agent())
            .worktree_dir(sandbox.worktree_dir())
            .arg(&tasks)
            .arg(sandbox.repo());
        crate::validation::refused(
            flag,
            &sandbox,
            &porch,
            &[&format!(
                "-o /dev/stdout is porch's standard output, where {flag} writes"
            )],
        );
    }
}

/// The command after `label` on a line of the summary's `next:` block.
fn next_step(stdout: &str, label: &str) -> String {
    let line = (stdout.lines())
        .find(|l| l.trim_start().starts_with(label))
        .unwrap_or_else(|| panic!("no {label:?} in\n{stdout}"));
    line.split_once(": ").unwrap().1.trim().to_string()
}

/// A printed `porch …` command, pasted into a shell where porch is the binary under test.
fn paste(sandbox: &Sandbox, command: &str) -> std::process::Output {
    let command = command.replacen("porch ", &format!("{PORCH} "), 1);
    sandbox
        .env(Command::new("sh").arg("-c").arg(&command))
        .current_dir(sandbox.home())
        .output()
        .unwrap()
}

#[test]
fn forty_tasks_end_with_the_table_the_failures_and_a_few_next_steps() {
    let sandbox = Sandbox::new();
    let names: Vec<String> = (1..=40).map(|i| format!("task-{i:02}")).collect();
    let prompts: Vec<String> = (names.iter().enumerate())
        .map(|(i, name)| match i {
            7 | 30 => "@say no\n@exit 1".to_string(),
            _ => format!("@write {name}.txt done"),
        })
        .collect();
    let pairs: Vec<(&str, &str)> = names
        .iter()
        .map(String::as_str)
        .zip(prompts.iter().map(String::as_str))
        .collect();
    let tasks = sandbox.tasks(&pairs);
    let run = sandbox.porch_run_tasks(&tasks).arg("-q").run();
    run.expect_code(1);
    let stdout = run.stdout();
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(
        lines.len() <= 41 + 2 + 14,
        "{} lines:\n{stdout}",
        lines.len()
    );
    assert!(!stdout.contains("git -C"), "no command per task:\n{stdout}");
    assert!(!stdout.contains("claude --resume"), "{stdout}");
    for failed in ["task-08", "task-31"] {
        let row = lines
            .iter()
            .position(|l| l.contains(&format!("FAILED {failed} ")))
            .unwrap();
        assert!(
            lines[row + 1].trim_start().starts_with("error: "),
            "{stdout}"
        );
    }
    assert!(
        stdout.contains("review: 38 branch(es) with commits"),
        "{stdout}"
    );

    // The next steps work as pasted, from anywhere: the run is found by its id and directory.
    let status = paste(
        &sandbox,
        &next_step(&stdout, "every task's branch, diff, session:"),
    );
    assert!(status.status.success(), "{status:?}");
    let status = String::from_utf8_lossy(&status.stdout);
    let diffs = status
        .lines()
        .filter(|l| l.contains(" diff main...task/task-"))
        .count();
    assert_eq!(
        diffs, 38,
        "porch status lists each branch's diff:\n{status}"
    );
    let logs = next_step(&stdout, "a task's whole output:");
    assert!(logs.contains(" task-08 "), "{logs}");
    let logs = paste(&sandbox, &logs);
    assert!(logs.status.success(), "{logs:?}");
    assert!(
        String::from_utf8_lossy(&logs.stdout).contains("no"),
        "{logs:?}"
    );
}
