//! `--on-finish` and `--on-task-finish`: commands told of the run's end and each task's, with
//! their environment; a hook that fails or hangs changes nothing else.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use serde_json::json;

use crate::support::*;

const DEADLINE: Duration = Duration::from_secs(120);

/// The `PORCH_*` variables a hook wrote with `env > FILE`.
fn porch_vars(file: &Path) -> BTreeMap<String, String> {
    let text = std::fs::read_to_string(file)
        .unwrap_or_else(|err| panic!("{} was not written: {err}", file.display()));
    text.lines()
        .filter_map(|line| line.split_once('='))
        .filter(|(name, _)| name.starts_with("PORCH_"))
        .map(|(name, value)| (name.to_string(), value.to_string()))
        .collect()
}

#[test]
fn hooks_hear_of_each_task_and_of_the_run_with_their_environment() {
    let sandbox = Sandbox::new();
    let dir = sandbox.path().display().to_string();
    let tasks = sandbox.tasks(&[("a", "@write a.txt a"), ("b", "@api-error 500 boom")]);
    let run = sandbox
        .porch_run_tasks(&tasks)
        .args([
            "--on-task-finish",
            &format!("env > {dir}/task-$PORCH_TASK.env; echo heard $PORCH_TASK"),
        ])
        .args([
            "--on-finish",
            &format!("env > {dir}/finish.env; echo run over"),
        ])
        .run();
    run.expect_code(1)
        .expect_stdout("[hook] heard a")
        .expect_stdout("[hook] heard b")
        .expect_stdout("[hook] run over");
    let finish = porch_vars(&sandbox.path().join("finish.env"));
    let results = sandbox.results();
    assert_eq!(finish["PORCH_EXIT_CODE"], "1", "{finish:?}");
    assert_eq!(finish["PORCH_RUN_ID"], results["run_id"].as_str().unwrap());
    assert_eq!(finish["PORCH_RESULTS"], path_str(&sandbox.results_path()));
    assert!(
        finish["PORCH_SUMMARY"].starts_with("1 of 2 succeeded, 1 failed; $"),
        "{finish:?}"
    );
    let b = porch_vars(&sandbox.path().join("task-b.env"));
    assert_eq!(b["PORCH_TASK"], "b");
    assert_eq!(b["PORCH_TASK_STATUS"], "failed");
    assert_eq!(b["PORCH_BRANCH"], "task/b");
    assert_eq!(b["PORCH_RESULTS"], path_str(&sandbox.results_path()));
    let a = porch_vars(&sandbox.path().join("task-a.env"));
    assert_eq!(a["PORCH_TASK_STATUS"], "succeeded");
}

/// Under `--quiet`, `--json` and `--events` stdout keeps its promise (the summary only, the
/// results only, events only) and the hooks' lines go to stderr, labelled; the task's log
/// keeps its hook's lines in every mode.
#[test]
fn hook_lines_go_to_stderr_when_stdout_is_for_scripts_and_into_the_tasks_log() {
    let sandbox = Sandbox::new();
    for (name, mode) in [("q", "--quiet"), ("j", "--json"), ("e", "--events")] {
        let tasks = sandbox.tasks_in(&format!("{name}.json"), &[(name, "@write a.txt a")]);
        let run = sandbox
            .porch_run_tasks(&tasks)
            .args(["--on-task-finish", "echo heard $PORCH_TASK", mode])
            .args(["--on-finish", "echo run over"])
            .run();
        run.expect_code(0)
            .expect_stderr(&format!("{name}: [hook] heard {name}\n"))
            .expect_stderr("[hook] run over\n");
        let stdout = run.stdout();
        assert!(
            !stdout.contains("heard") && !stdout.contains("run over"),
            "{run}"
        );
        let results = sandbox.results();
        match mode {
            "--json" => {
                let printed: serde_json::Value = serde_json::from_str(&stdout).unwrap();
                assert_eq!(printed, results, "{run}");
            }
            "--events" => {
                for line in stdout.lines() {
                    let event: serde_json::Value = serde_json::from_str(line).unwrap();
                    assert_ne!(event["stream"], "hook", "{line}");
                }
            }
            _ => {
                run.expect_stdout("1 of 1 tasks succeeded");
            }
        };
        let log = std::fs::read_to_string(task(&results, name)["log"].as_str().unwrap()).unwrap();
        assert!(
            log.ends_with(&format!("[hook] heard {name}\n")),
            "{mode}: {log}"
        );
    }
}

#[test]
fn the_tasks_file_can_name_the_hooks_and_a_flag_replaces_them() {
    let sandbox = Sandbox::new();
    let said = sandbox.path().join("said");
    let file_with = |task: &str| {
        sandbox.tasks_json(&json!({
            "on_finish": ["sh", "-c", format!("echo file-finish >> {}", said.display())],
            "on_task_finish": ["sh", "-c", format!("echo file-task-$PORCH_TASK >> {}", said.display())],
            "tasks": [{"name": task, "prompt": "@write x.txt x"}],
        }))
    };
    sandbox
        .porch_run_tasks(&file_with("a"))
        .run()
        .expect_code(0);
    let flag = format!("echo flag-finish >> {}", said.display());
    sandbox
        .porch_run_tasks(&file_with("b"))
        .args(["--on-finish", &flag])
        .run()
        .expect_code(0);
    assert_eq!(
        file_lines(&said),
        ["file-task-a", "file-finish", "file-task-b", "flag-finish"]
    );
}

#[test]
fn a_failing_hook_is_reported_and_leaves_the_exit_code_alone() {
    let sandbox = Sandbox::new();
    let tasks = sandbox.tasks(&[("a", "@write a.txt a")]);
    let run = sandbox
        .porch_run_tasks(&tasks)
        .args(["--on-task-finish", "echo no luck >&2; exit 3"])
        .args(["--on-finish", "exit 7"])
        .run();
    run.expect_code(0)
        .expect_stdout("--on-task-finish hook exited with code 3")
        .expect_stdout("[hook] no luck")
        .expect_stderr("porch: warning: --on-finish hook exited with code 7");
    // Under --events the failure goes where the hook's lines go, stderr: no event of the task
    // comes after its task_finished.
    let tasks = sandbox.tasks_in("again.json", &[("b", "@write b.txt b")]);
    let run = sandbox
        .porch_run_tasks(&tasks)
        .args(["--on-task-finish", "exit 3", "--events"])
        .run();
    run.expect_code(0)
        .expect_stderr("b: [hook] --on-task-finish hook exited with code 3\n");
    assert!(!run.stdout().contains("hook exited"), "{run}");
}

#[test]
fn a_hanging_hook_is_ended_at_its_limit() {
    with_a_limit_the_fixture_beats(1, |limit| {
        let sandbox = Sandbox::new();
        let _reaper = Reaper::new(&sandbox);
        let pid_file = sandbox.path().join("hook.pid");
        let tasks = sandbox.tasks(&[("a", "@write a.txt a")]);
        let hang = format!("{}; exec sleep 600", own_pid_to(&pid_file));
        let run = sandbox
            .porch_run_tasks(&tasks)
            .args(["--on-finish", &hang])
            .env("PORCH_HOOK_TIMEOUT", limit)
            .run();
        // On a busy machine the limit can pass before the hook's shell has written its pid.
        if !pid_file.exists() {
            return false;
        }
        run.expect_code(0).expect_stderr(&format!(
            "--on-finish hook timed out after {limit}: porch ended it"
        ));
        assert_gone(read_pid(&pid_file), "the hanging hook");
        true
    });
}

#[test]
fn ctrl_c_still_runs_the_finish_hook() {
    let sandbox = Sandbox::new();
    let _reaper = Reaper::new(&sandbox);
    let started = sandbox.path().join("started");
    let never = sandbox.path().join("never");
    let prompt = format!(
        "@touch {}\n@wait-for {}",
        started.display(),
        never.display()
    );
    let tasks = sandbox.tasks(&[("slow", &prompt)]);
    let env_file = sandbox.path().join("finish.env");
    let mut porch = sandbox
        .porch_run_tasks(&tasks)
        .args(["--on-finish", &format!("env > {}", env_file.display())])
        .spawn("run");
    wait_until("the session starts", DEADLINE, || started.exists());
    porch.signal("INT");
    porch.wait().expect_code(130);
    let finish = porch_vars(&env_file);
    assert_eq!(finish["PORCH_EXIT_CODE"], "130", "{finish:?}");
    assert!(
        finish["PORCH_SUMMARY"].contains("1 interrupted"),
        "{finish:?}"
    );
}
