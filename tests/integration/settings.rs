//! Tasks that carry their own settings (`defaults`, claude options, `prompt_file`, `env`),
//! worktrees made ready (`copy`, `setup`, the `PORCH_*` variables), and runs that repeat
//! (`--branch-template`).

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use serde_json::{Value, json};

use crate::support::*;
use crate::validation::{case, check_cases, one, refused};

fn path_str(path: &Path) -> &str {
    path.to_str().expect("temporary paths are UTF-8")
}

/// `porch run TASKS REPO EXTRA…` with the fixture recording its argv and prompt in `args/`.
fn porch_recording(sandbox: &Sandbox, tasks: &Path, extra: &[&str]) -> Porch {
    let args_dir = sandbox.path().join("args");
    std::fs::create_dir_all(&args_dir).unwrap();
    let repo = sandbox.repo();
    let mut args = vec![path_str(tasks), path_str(&repo)];
    args.extend_from_slice(extra);
    let mut porch = sandbox.porch_run(&args);
    porch.record_agent_runs(&args_dir);
    porch
}

fn argv(args: &[&str]) -> Vec<String> {
    args.iter().map(|a| a.to_string()).collect()
}

#[test]
fn defaults_and_each_tasks_own_settings_reach_claudes_command_line_exactly() {
    let sandbox = Sandbox::new();
    let tasks = sandbox.tasks_json(&json!({
        "defaults": {
            "model": "sonnet",
            "max_turns": 30,
            "allowed_tools": ["Read", "Edit"],
            "args": ["--add-dir", "../shared"]
        },
        "tasks": [
            {"name": "plain", "prompt": "as the defaults say"},
            {"name": "own", "prompt": "everything its own",
             "model": "opus", "max_turns": 5, "max_budget_usd": 2.5,
             "append_system_prompt": "Answer in French.", "permission_mode": "plan",
             "disallowed_tools": ["Bash(git push:*)", "WebFetch"], "allowed_tools": ["Read"],
             "args": ["--add-dir", "../a", "../b"]},
            {"name": "cleared", "prompt": "no model, no args", "model": null, "args": []}
        ]
    }));
    let run = porch_recording(&sandbox, &tasks, &[]).run();
    run.expect_code(0);
    let args_dir = sandbox.path().join("args");
    let head = [
        "-p",
        "--output-format",
        "stream-json",
        "--verbose",
        "--permission-mode",
    ];
    let expected = |tail: &[&str]| {
        let mut all = argv(&head);
        all.extend(argv(tail));
        all
    };
    assert_eq!(
        recorded_argv(&args_dir, "plain", 1),
        expected(&[
            "acceptEdits",
            "--model",
            "sonnet",
            "--max-turns",
            "30",
            "--allowedTools",
            "Read",
            "Edit",
            "--add-dir",
            "../shared"
        ]),
        "{run}"
    );
    assert_eq!(
        recorded_argv(&args_dir, "own", 1),
        expected(&[
            "plan",
            "--model",
            "opus",
            "--max-turns",
            "5",
            "--max-budget-usd",
            "2.5",
            "--append-system-prompt",
            "Answer in French.",
            "--disallowedTools",
            "Bash(git push:*)",
            "WebFetch",
            "--allowedTools",
            "Read",
            "--add-dir",
            "../a",
            "../b"
        ]),
        "{run}"
    );
    assert_eq!(
        recorded_argv(&args_dir, "cleared", 1),
        expected(&[
            "acceptEdits",
            "--max-turns",
            "30",
            "--allowedTools",
            "Read",
            "Edit"
        ]),
        "{run}"
    );
}

#[test]
fn a_prompt_file_is_read_beside_the_tasks_file_or_from_the_current_directory() {
    let sandbox = Sandbox::new();
    let jobs = sandbox.path().join("jobs");
    std::fs::create_dir_all(jobs.join("prompts")).unwrap();
    std::fs::write(
        jobs.join("prompts/a.md"),
        "the prompt beside the tasks file\n",
    )
    .unwrap();
    let tasks = jobs.join("nightly.json");
    std::fs::write(
        &tasks,
        r#"{"tasks": [{"name": "beside", "prompt_file": "prompts/a.md"}]}"#,
    )
    .unwrap();
    // Run from elsewhere: the path is the tasks file's, not the current directory's.
    let run = porch_recording(&sandbox, &tasks, &[])
        .current_dir(sandbox.repo())
        .run();
    run.expect_code(0);
    assert_eq!(
        recorded_prompt(&sandbox.path().join("args"), "beside", 1),
        b"the prompt beside the tasks file\n",
        "{run}"
    );

    std::fs::write(
        sandbox.path().join("here.md"),
        "the prompt in the current directory",
    )
    .unwrap();
    let run = porch_recording(&sandbox, Path::new("-"), &[])
        .current_dir(sandbox.path())
        .stdin(&br#"{"tasks": [{"name": "stdin", "prompt_file": "here.md"}]}"#[..])
        .run();
    run.expect_code(0);
    assert_eq!(
        recorded_prompt(&sandbox.path().join("args"), "stdin", 1),
        b"the prompt in the current directory",
        "{run}"
    );
}

#[test]
fn env_reaches_setup_and_session_and_nothing_porch_writes() {
    let sandbox = Sandbox::new();
    let secret = "sk-test-0123456789-very-secret";
    let seen = sandbox.path().join("seen");
    std::fs::create_dir(&seen).unwrap();
    let seen_dir = path_str(&seen);
    let tasks = sandbox.tasks_json(&json!({"tasks": [{
        "name": "keyed",
        // Both also print the value, as a careless tool would.
        "prompt": format!("@bash printenv API_TOKEN > {seen_dir}/session\n@bash echo key=$API_TOKEN\n@say done"),
        "setup": ["sh", "-c", format!("printenv API_TOKEN > {seen_dir}/setup; echo set up with $API_TOKEN")],
        "env": {"API_TOKEN": secret, "MODE": "test"}
    }]}));
    let run = porch_recording(&sandbox, &tasks, &[]).run();
    run.expect_code(0);

    for step in ["setup", "session"] {
        assert_eq!(
            std::fs::read_to_string(seen.join(step)).unwrap(),
            format!("{secret}\n"),
            "{step} gets the task's env\n{run}"
        );
    }
    let results_text = std::fs::read_to_string(sandbox.results_path()).unwrap();
    let results: Value = serde_json::from_str(&results_text).unwrap();
    let log = task(&results, "keyed")["log"].as_str().unwrap().to_string();
    let log_text = std::fs::read_to_string(&log).unwrap();
    assert!(
        log_text.contains("[setup] set up with [env API_TOKEN]"),
        "the log has setup's output, the value hidden: {log_text}"
    );
    assert!(
        log_text.contains("key=[env API_TOKEN]"),
        "the log has the session's output, the value hidden: {log_text}"
    );
    run.expect_stdout("[setup] set up with [env API_TOKEN]");
    for (what, text) in [
        ("results", results_text.as_str()),
        ("log", log_text.as_str()),
        ("stdout", &run.stdout()),
        ("stderr", &run.stderr()),
    ] {
        assert!(
            !text.contains(secret),
            "the secret is in the {what}:\n{text}"
        );
    }
}

#[test]
fn copy_puts_ignored_files_in_place_before_setup_and_session() {
    let sandbox = Sandbox::new();
    let repo = sandbox.repo();
    // Both ignored by the sandbox's .gitignore (`ignored/`, `*.log`).
    std::fs::write(repo.join("local.log"), "KEY=1\n").unwrap();
    std::fs::create_dir_all(repo.join("ignored/deps/bin")).unwrap();
    std::fs::write(repo.join("ignored/deps/index.js"), "module.exports = 1;\n").unwrap();
    std::fs::write(repo.join("ignored/deps/bin/run"), "#!/bin/sh\n").unwrap();
    std::fs::set_permissions(
        repo.join("ignored/deps/bin/run"),
        std::fs::Permissions::from_mode(0o750),
    )
    .unwrap();
    std::os::unix::fs::symlink("../index.js", repo.join("ignored/deps/bin/main.js")).unwrap();
    let seen = sandbox.path().join("session-saw-the-copies");
    let tasks = sandbox.tasks_json(&json!({"tasks": [{
        "name": "ready",
        "prompt": format!(
            "@bash test -f local.log && test -L ignored/deps/bin/main.js && touch {}\n@say ok",
            path_str(&seen)
        ),
        "copy": ["local.log", "ignored"],
        "setup": ["sh", "-c", "cat local.log; readlink ignored/deps/bin/main.js"]
    }]}));
    let run = porch_recording(&sandbox, &tasks, &[]).run();
    run.expect_code(0);

    run.expect_stdout("[setup] KEY=1")
        .expect_stdout("[setup] ../index.js");
    assert!(seen.exists(), "the session found the copies\n{run}");
    let worktree = sandbox.worktree("ready");
    assert_eq!(
        std::fs::read_to_string(worktree.join("ignored/deps/index.js")).unwrap(),
        "module.exports = 1;\n"
    );
    assert_eq!(
        std::fs::read_link(worktree.join("ignored/deps/bin/main.js")).unwrap(),
        Path::new("../index.js"),
        "a symlink is copied as a symlink"
    );
    let mode = std::fs::metadata(worktree.join("ignored/deps/bin/run"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o750, "modes are kept");
    // Ignored, so the task's commit leaves them out.
    let committed = sandbox.git(&["ls-tree", "-r", "--name-only", "task/ready"]);
    assert!(
        !committed.contains("local.log") && !committed.contains("ignored/"),
        "{committed}"
    );
}

/// A copy git does not ignore (a `.env` missing from `.gitignore`) is the user's setup
/// material: porch commits it on no branch and pushes it nowhere, even when the session staged
/// or changed it, and a retry's reset keeps it.
#[test]
fn a_copy_git_does_not_ignore_is_committed_nowhere_and_pushed_nowhere() {
    let sandbox = Sandbox::new();
    let secret = "SECRET-KEY-5f3a9c1e";
    std::fs::write(sandbox.repo().join(".env"), format!("API_KEY={secret}\n")).unwrap();
    let remote = sandbox.path().join("remote.git");
    sandbox.git(&["init", "-q", "--bare", path_str(&remote)]);
    sandbox.git(&["remote", "add", "origin", path_str(&remote)]);
    let counter = sandbox.path().join("failures");
    let seen = sandbox.path().join("retry-found-the-copy");
    let tasks = sandbox.tasks_json(&json!({"tasks": [
        {"name": "staged", "copy": [".env"],
         "prompt": "@write work.txt work\n@bash git add .env"},
        {"name": "changed", "copy": [".env"],
         "prompt": "@edit .env API_KEY=SECRET-KEY-5f3a9c1e API_KEY=SECRET-KEY-5f3a9c1e-changed\n@write work.txt work"},
        {"name": "retried", "copy": [".env"],
         "prompt": format!(
             "@write half.txt half\n@fail-times 1 {} 500 Overloaded\n@bash test -f .env && touch {}",
             path_str(&counter), path_str(&seen))}
    ]}));
    let extra = [
        "--push",
        "origin",
        "--cleanup",
        "--retries",
        "1",
        "--retry-backoff",
        "10ms",
    ];
    let run = porch_recording(&sandbox, &tasks, &extra).run();
    run.expect_code(0)
        .expect_stdout("pushed 3 of 3 branches to origin");
    // MOVED

    let results = sandbox.results();
    for name in ["staged", "changed", "retried"] {
        let task = task(&results, name);
        assert_eq!(task["status"], "succeeded", "{task:#}");
        let warnings = task["warnings"].to_string();
        assert!(
            warnings.contains("not committed: .env, copied from the repository by `copy`"),
            "{name}: {warnings}"
        );
        assert_eq!(
            task["worktree_kept"], true,
            "{name}: --cleanup keeps the copy's worktree"
        );
        assert!(sandbox.worktree(name).join(".env").is_file(), "{name}");
    }
    assert!(
        task(&results, "retried")["attempts"][0]["saved_work"].is_string(),
        "the failed attempt was set aside: {results:#}"
    );
    for (place, dir) in [("the repository", sandbox.repo()), ("the remote", remote)] {
        let refs = sandbox.git_in(&dir, &["for-each-ref", "--format=%(refname)"]);
        assert!(refs.contains("task/staged"), "{place}: {refs}");
        let history = sandbox.git_in(&dir, &["log", "--all", "-p", "--format=%H"]);
        assert!(history.contains("work.txt"), "{place}: {history}");
        assert!(
            !history.contains(secret) && !history.contains(".env"),
            "the copy reached {place}:\n{history}"
        );
    }
}

#[test]
fn a_failed_setup_fails_its_task_before_the_session_and_the_others_go_on() {
    let sandbox = Sandbox::new();
    let tasks = sandbox.tasks_json(&json!({"tasks": [
        {"name": "broken", "prompt": "@say never", "setup": ["sh", "-c", "echo preparing; echo oops >&2; exit 3"]},
        {"name": "killed", "prompt": "@say never", "setup": ["sh", "-c", "kill -9 $$"]},
        {"name": "missing", "prompt": "@say never", "setup": ["no-such-program-porch-test"]},
        {"name": "fine", "prompt": "@say fine", "setup": ["sh", "-c", "echo ready"]}
    ]}));
    let run = porch_recording(&sandbox, &tasks, &[]).run();
    run.expect_code(1);
    let results = sandbox.results();
    let args_dir = sandbox.path().join("args");
    for (name, how) in [
        ("broken", "setup failed: exited with code 3"),
        ("killed", "setup failed: was killed by signal 9 (SIGKILL)"),
        (
            "missing",
            "setup failed: could not be started: no-such-program-porch-test",
        ),
    ] {
        let result = task(&results, name);
        assert_eq!(result["status"], "failed", "{result:#}");
        assert!(
            result["error"].as_str().unwrap().starts_with(how),
            "{name}: {result:#}"
        );
        assert!(
            !args_dir.join(format!("{name}.1.argv")).exists(),
            "{name}: the session never started"
        );
    }
    assert_eq!(task(&results, "fine")["status"], "succeeded", "{results:#}");
    assert_eq!(results["summary"]["failed"], 3);
    run.expect_stdout("[setup] preparing")
        .expect_stdout("[setup] oops")
        .expect_stdout("[setup] ready");
    let log = task(&results, "broken")["log"]
        .as_str()
        .unwrap()
        .to_string();
    let log_text = std::fs::read_to_string(log).unwrap();
    assert!(
        log_text.contains("[setup] preparing") && log_text.contains("[setup] oops"),
        "{log_text}"
    );
}

#[test]
fn setup_runs_under_the_tasks_timeout() {
    let sandbox = Sandbox::new();
    let tasks = sandbox.tasks_json(&json!({"tasks": [
        {"name": "slow", "prompt": "@say never", "timeout": "1s",
         "setup": ["sh", "-c", "echo started; exec sleep 600"]}
    ]}));
    let run = porch_recording(&sandbox, &tasks, &[]).run();
    run.expect_code(1);
    let results = sandbox.results();
    let slow = task(&results, "slow");
    assert_eq!(slow["status"], "failed", "{slow:#}");
    assert_eq!(
        slow["error"], "setup failed: timed out after 1s",
        "{slow:#}"
    );
    assert!(!sandbox.path().join("args/slow.1.argv").exists());
}

/// The task's timeout covers setup, session and check: each gets what the ones before it left.
/// One that runs out is told with the timeout as the user set it, never with that remainder
/// (which rounded down read "timed out after 1s" for a 2s timeout).
#[test]
fn what_runs_out_of_the_tasks_timeout_is_told_with_the_timeout_as_set() {
    with_a_limit_the_fixture_beats(2, |limit| {
        let sandbox = Sandbox::new();
        let tasks = sandbox.tasks_json(&json!({"tasks": [
            {"name": "after-setup", "prompt": "@sleep 600", "timeout": limit,
             "setup": ["sh", "-c", "echo preparing"]},
            {"name": "checked", "prompt": "@write done.txt yes", "timeout": limit,
             "check": ["sleep", "600"]}
        ]}));
        let run = porch_recording(&sandbox, &tasks, &[]).run();
        run.expect_code(1);
        let results = sandbox.results();
        let after_setup = task(&results, "after-setup");
        let checked = task(&results, "checked");
        let timed_out = format!("timed out after {limit}");
        // On a busy machine the limit can pass in the setup, or in the session before its check.
        if after_setup["error"] == format!("setup failed: {timed_out}").as_str()
            || checked["attempts"][0]["status"] == "timed_out"
        {
            return false;
        }
        assert_eq!(after_setup["status"], "timed_out", "{after_setup:#}");
        assert_eq!(after_setup["error"], timed_out.as_str(), "{after_setup:#}");

        assert_eq!(checked["status"], "failed", "{checked:#}");
        assert_eq!(
            checked["error"],
            format!("check failed: {timed_out}").as_str(),
            "{checked:#}"
        );
        assert!(checked["check"]["exit_code"].is_null(), "{checked:#}");
        // The check's duration is its own run, inside the task's.
        let check_ms = checked["check"]["duration_ms"].as_u64().unwrap();
        let session_ms = checked["attempts"][0]["duration_ms"].as_u64().unwrap();
        let task_ms = checked["duration_ms"].as_u64().unwrap();
        assert!(check_ms + session_ms <= task_ms, "{checked:#}");
        true
    });
}

/// The variables porch gives every task, as `env` printed them, by name.
fn porch_vars(text: &str) -> BTreeMap<String, String> {
    const NAMES: [&str; 7] = [
        "PORCH_TASK",
        "PORCH_TASK_INDEX",
        "PORCH_WORKTREE",
        "PORCH_BRANCH",
        "PORCH_BASE",
        "PORCH_RUN_ID",
        "PORCH_PORT",
    ];
    text.lines()
        .filter_map(|l| l.split_once('='))
        .filter(|(k, _)| NAMES.contains(k))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn setup_and_session_know_their_task_and_get_ports_of_their_own() {
    let sandbox = Sandbox::new();
    let out = sandbox.path().join("vars");
    std::fs::create_dir(&out).unwrap();
    let dump = |step: &str| format!("env > {}/$PORCH_TASK.{step}", path_str(&out));
    let tasks = sandbox.tasks_json(&json!({
        "defaults": {"setup": ["sh", "-c", dump("setup")]},
        "tasks": [
            {"name": "first", "prompt": format!("@bash {}\n@say ok", dump("session"))},
            {"name": "second", "prompt": format!("@bash {}\n@say ok", dump("session"))},
            {"name": "third", "prompt": format!("@bash {}\n@say ok", dump("session"))}
        ]
    }));
    let run = porch_recording(&sandbox, &tasks, &["--port-base", "45000"]).run();
    run.expect_code(0);
    let base = sandbox.rev("main");
    let results = sandbox.results();
    let run_id = results["run_id"]
        .as_str()
        .expect("the results name the run")
        .to_string();
    let mut ports = Vec::new();
    for (index, name) in ["first", "second", "third"].into_iter().enumerate() {
        let expected: BTreeMap<String, String> = [
            ("PORCH_TASK", name.to_string()),
            ("PORCH_TASK_INDEX", index.to_string()),
            (
                "PORCH_WORKTREE",
                sandbox.worktree(name).display().to_string(),
            ),
            ("PORCH_BRANCH", format!("task/{name}")),
            ("PORCH_BASE", base.clone()),
            ("PORCH_RUN_ID", run_id.clone()),
            ("PORCH_PORT", (45_000 + 10 * index).to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        for step in ["setup", "session"] {
            let text = std::fs::read_to_string(out.join(format!("{name}.{step}"))).unwrap();
            assert_eq!(porch_vars(&text), expected, "{name}'s {step}\n{run}");
        }
        ports.push(expected["PORCH_PORT"].clone());
    }
    ports.dedup();
    assert_eq!(ports.len(), 3, "every task has its own ports");
}

#[test]
fn runs_of_one_tasks_file_with_run_in_the_template_never_collide() {
    let sandbox = Sandbox::new();
    let tasks = sandbox.tasks(&[("a", "@write a.txt one"), ("b", "@say b")]);
    let template = ["--branch-template", "nightly/{run}/{name}"];
    let first = porch_recording(&sandbox, &tasks, &template).run();
    first.expect_code(0);
    let first_results = sandbox.results();
    let mut with_cleanup = template.to_vec();
    with_cleanup.push("--cleanup");
    let second = porch_recording(&sandbox, &tasks, &with_cleanup).run();
    second.expect_code(0);
    let second_results = sandbox.results();

    let mut branches = Vec::new();
    for results in [&first_results, &second_results] {
        let run_id = results["run_id"].as_str().unwrap();
        for name in ["a", "b"] {
            let result = task(results, name);
            let branch = format!("nightly/{run_id}/{name}");
            assert_eq!(result["branch"], branch.as_str(), "{result:#}");
            assert_eq!(result["status"], "succeeded", "{result:#}");
            assert!(
                result["worktree"]
                    .as_str()
                    .unwrap()
                    .ends_with(&format!("/nightly/{run_id}/{name}")),
                "worktrees follow the branch: {result:#}"
            );
            branches.push(branch);
        }
    }
    assert_ne!(first_results["run_id"], second_results["run_id"]);
    let runs_dir = sandbox.worktree_dir().join("repo/nightly");
    let (first_id, second_id) = (
        first_results["run_id"].as_str().unwrap(),
        second_results["run_id"].as_str().unwrap(),
    );
    assert!(
        runs_dir.join(first_id).join("a").is_dir(),
        "kept without --cleanup"
    );
    assert!(
        !runs_dir.join(second_id).exists(),
        "--cleanup leaves no empty directories behind"
    );
    let mut all = sandbox.branches();
    all.retain(|b| b != "main");
    branches.sort();
    assert_eq!(all, branches, "four branches, two per run");
    assert_eq!(
        sandbox
            .git(&["show", &format!("{}:a.txt", branches[0])])
            .trim(),
        "one"
    );
}

#[test]
fn leftovers_are_found_under_the_rendered_names() {
    let sandbox = Sandbox::new();
    let tasks = sandbox.tasks_text(
        r#"{"branch_template": "nightly/{name}", "tasks": [{"name": "a", "prompt": "@say a"}]}"#,
    );
    porch_recording(&sandbox, &tasks, &[]).run().expect_code(0);
    let again = porch_recording(&sandbox, &tasks, &[]).run();
    again
        .expect_code(2)
        .expect_stderr("the branch nightly/a")
        .expect_stderr("git -C");
}

#[test]
fn bad_settings_are_refused_with_nothing_created() {
    let good = r#""name": "a", "prompt": "p""#;
    check_cases(vec![
        case(
            "prompt and prompt_file",
            one(r#""name": "a", "prompt": "p", "prompt_file": "p.md""#),
            &["tasks[0] (\"a\"): field `prompt_file`: is given as well as `prompt`"],
        ),
        case(
            "a missing prompt file",
            one(r#""name": "a", "prompt_file": "nowhere.md""#),
            &["field `prompt_file`: \"nowhere.md\" does not exist"],
        ),
        case(
            "a missing copy source",
            one(&format!(r#"{good}, "copy": [".env"]"#)),
            &["field `copy`: \".env\"", "does not exist"],
        ),
        case(
            "a copy source outside the repository",
            one(&format!(r#"{good}, "copy": ["../outside"]"#)),
            &["field `copy`: entry \"../outside\" holds \"..\""],
        ),
        case(
            "setup as a string",
            one(&format!(r#"{good}, "setup": "npm ci""#)),
            &["field `setup`: must be a list", "[\"sh\", \"-c\""],
        ),
        case(
            "env with a number",
            one(&format!(r#"{good}, "env": {{"PORT": 8080}}"#)),
            &["field `env`: the value of PORT must be a string, got a number"],
        ),
        case(
            "args not a list",
            one(&format!(r#"{good}, "args": "--verbose""#)),
            &["field `args`: must be a list of strings"],
        ),
        case(
            "max_turns 0",
            one(&format!(r#"{good}, "max_turns": 0"#)),
            &["field `max_turns`: must be a whole number of at least 1, got the number 0"],
        ),
        case(
            "an unknown field in defaults",
            format!(r#"{{"defaults": {{"modle": "opus"}}, "tasks": [{{{good}}}]}}"#),
            &["tasks.json: defaults: field `modle`: unknown field"],
        ),
        case(
            "a template without {name}",
            format!(r#"{{"branch_template": "nightly/{{date}}", "tasks": [{{{good}}}]}}"#),
            &["field `branch_template`: \"nightly/{date}\" does not contain {name}"],
        ),
        case(
            "a template with an unknown placeholder",
            format!(r#"{{"branch_template": "x/{{day}}/{{name}}", "tasks": [{{{good}}}]}}"#),
            &["unknown placeholder {day}"],
        ),
        case(
            "a template rendering an invalid branch",
            format!(r#"{{"branch_template": "{{name}}.lock", "tasks": [{{{good}}}]}}"#),
            &["field `branch_template`: \"{name}.lock\" renders \"a.lock\""],
        ),
    ]);
}

#[test]
fn bad_run_flags_are_refused_with_nothing_created() {
    let sandbox = Sandbox::new();
    let tasks = sandbox.tasks(&[("a", "p")]);
    let tasks = path_str(&tasks);
    for (flags, needles) in [
        (
            ["--branch-template", "nightly/{date}"],
            vec!["--branch-template `nightly/{date}` does not contain {name}"],
        ),
        (
            ["--branch-template", "x/{when}/{name}"],
            vec!["unknown placeholder {when}"],
        ),
        (
            ["--branch-template", "x..y/{name}"],
            vec!["--branch-template", "renders \"x..y/a\""],
        ),
        (
            ["--port-base", "65530"],
            vec!["--port-base 65530", "past port 65535"],
        ),
    ] {
        let mut args = vec![tasks, "repo"];
        args.extend_from_slice(&flags);
        refused(
            &flags.join(" "),
            &sandbox,
            &sandbox.porch_run(&args),
            &needles,
        );
    }
}
