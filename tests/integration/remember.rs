//! A run remembers its settings: `porch resume` takes them (and the run's agent) unless it is
//! given its own, the commands porch prints name only the run, and a run by an older porch,
//! which recorded none, resumes as before. And the merge the summary suggests says what it
//! would check; a merge without the run's stored tasks says what it goes without.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::after::{after, latest_results, stored_run};
use crate::support::{self, Sandbox};

fn settings_dir(sandbox: &Sandbox) -> PathBuf {
    sandbox
        .worktree_dir()
        .join("repo")
        .join(".porch")
        .join("settings")
}

/// A run of one task that fails once (a 400, not retried), given settings that are not the
/// defaults; its resume's session succeeds.
fn failed_run(sandbox: &Sandbox, args_dir: &Path, settings: &[&str]) -> String {
    let counter = sandbox.path().join("fail-count");
    let tasks = sandbox.tasks(&[(
        "flaky",
        &format!(
            "@fail-times 1 {} 400 Bad request\n@write done.txt done",
            counter.display()
        ),
    )]);
    let run = stored_run(sandbox, &tasks)
        .args(settings)
        .record_agent_runs(args_dir)
        .run();
    run.expect_code(1);
    // The summary's resume names the run, and nothing else of it.
    let resume_line = (run.stdout().lines())
        .find(|line| line.contains("porch resume"))
        .map(str::to_string)
        .unwrap_or_else(|| panic!("no porch resume suggested:\n{run}"));
    for flag in [
        "--claude",
        "--permission-mode",
        "--timeout",
        "--retries",
        "-j",
    ] {
        // Whole words: the sandbox's path may hold "-j" too (`porch-test-jnNUpK`).
        let given = |word: &str| {
            word.strip_prefix(flag).is_some_and(|rest| {
                rest.is_empty() || rest.starts_with('=') || rest.bytes().all(|b| b.is_ascii_digit())
            })
        };
        assert!(!resume_line.split_whitespace().any(given), "{resume_line}");
    }
    latest_results(sandbox).0
}

/// `failed_run` whose agent's command lines nobody reads.
fn one_failed_run(sandbox: &Sandbox, settings: &[&str]) -> String {
    let args_dir = sandbox.path().join("agent-runs");
    std::fs::create_dir_all(&args_dir).unwrap();
    failed_run(sandbox, &args_dir, settings)
}

/// `porch resume --dry-run --json ARGS`: the plan the resume would run.
fn resume_preview(sandbox: &Sandbox, args: &[&str]) -> Value {
    let run = after(sandbox, &["resume", "--dry-run", "--json"])
        .args(args)
        .run();
    run.expect_code(0);
    serde_json::from_str(&run.stdout()).unwrap_or_else(|err| panic!("{err}:\n{run}"))
}

fn argv_has(argv: &[String], flag: &str, value: &str) -> bool {
    argv.windows(2)
        .any(|pair| pair[0] == flag && pair[1] == value)
}

#[test]
fn a_resume_without_flags_runs_with_the_runs_settings_and_a_flag_overrides_one() {
    let sandbox = Sandbox::new();
    let args_dir = sandbox.path().join("agent-runs");
    std::fs::create_dir_all(&args_dir).unwrap();
    let settings = [
        "--permission-mode",
        "bypassPermissions",
        "--timeout",
        "1h",
        "--retries",
        "3",
        "-j",
        "1",
    ];
    let first = failed_run(&sandbox, &args_dir, &settings);
    assert!(argv_has(
        &support::recorded_argv(&args_dir, "flaky", 1),
        "--permission-mode",
        "bypassPermissions"
    ));

    let preview = resume_preview(&sandbox, &[]);
    let task = &preview["tasks"][0];
    assert_eq!(task["permission_mode"], "bypassPermissions", "{preview}");
    assert_eq!(task["timeout_ms"], 3_600_000, "{preview}");
    assert_eq!(preview["jobs"]["sessions"], 1, "{preview}");
    // What the resume is given wins, its variable as its flag.
    let preview = resume_preview(&sandbox, &["--timeout", "2m", "--permission-mode", "auto"]);
    let task = &preview["tasks"][0];
    assert_eq!(task["permission_mode"], "auto", "{preview}");
    assert_eq!(task["timeout_ms"], 120_000, "{preview}");
    let preview = after(&sandbox, &["resume", "--dry-run", "--json"])
        .env("PORCH_JOBS", "3")
        .run();
    let preview: Value = serde_json::from_str(&preview.stdout()).unwrap();
    let why = preview["jobs"]["why"].as_str().unwrap();
    assert!(why.starts_with("PORCH_JOBS=3"), "{preview}");

    // No flag, and no agent either: the run's agent (the fixture) runs again.
    after(&sandbox, &["resume"])
        .env_remove("PORCH_CLAUDE")
        .record_agent_runs(&args_dir)
        .run()
        .expect_code(0)
        .expect_stderr(&format!("resuming run {first}: flaky"));
    let argv = support::recorded_argv(&args_dir, "flaky", 2);
    assert!(
        argv_has(&argv, "--permission-mode", "bypassPermissions"),
        "{argv:?}"
    );
    // The resume recorded what it ran with, for a resume of it in turn.
    let (second, _) = latest_results(&sandbox);
    let record = std::fs::read(settings_dir(&sandbox).join(format!("{second}.json"))).unwrap();
    let record: Value = serde_json::from_slice(&record).unwrap();
    assert_eq!(record["retries"], 3, "{record}");
    assert_eq!(record["timeout"]["secs"], 3600, "{record}");
    assert_eq!(record["permission_mode"], "bypassPermissions", "{record}");
}

/// A run by a porch older than the record has none: the resume takes its defaults and flags.
#[test]
fn a_run_that_recorded_no_settings_still_resumes() {
    let sandbox = Sandbox::new();
    let args_dir = sandbox.path().join("agent-runs");
    std::fs::create_dir_all(&args_dir).unwrap();
    let first = failed_run(
        &sandbox,
        &args_dir,
        &["--permission-mode", "bypassPermissions"],
    );
    std::fs::remove_file(settings_dir(&sandbox).join(format!("{first}.json"))).unwrap();

    let preview = resume_preview(&sandbox, &[]);
    assert_eq!(
        preview["tasks"][0]["permission_mode"], "acceptEdits",
        "{preview}"
    );
    after(&sandbox, &["resume", "--timeout", "10m"])
        .agent(support::fixture_agent())
        .record_agent_runs(&args_dir)
        .run()
        .expect_code(0);
    let argv = support::recorded_argv(&args_dir, "flaky", 2);
    assert!(
        argv_has(&argv, "--permission-mode", "acceptEdits"),
        "{argv:?}"
    );
}

/// A tasks file of two tasks that rewrite NOTES.md, which the repository holds, each its own
/// way (their branches conflict), then `more`.
fn conflicting_tasks(sandbox: &Sandbox, more: &[Value]) -> PathBuf {
    std::fs::write(sandbox.repo().join("NOTES.md"), "notes\n").unwrap();
    sandbox.git(&["add", "NOTES.md"]);
    sandbox.commit("notes");
    let mut tasks = vec![
        serde_json::json!({"name": "one", "prompt": "@write NOTES.md notes\\none\\n\nAdd one's note."}),
        serde_json::json!({"name": "two", "prompt": "@write NOTES.md notes\\ntwo\\n\nAdd two's note."}),
    ];
    tasks.extend(more.iter().cloned());
    sandbox.tasks_json(&serde_json::json!({ "tasks": tasks }))
}

/// `porch merge --resolve` without `--claude` or `--permission-mode` runs the run's agent in the
/// run's permission mode: the resolver edits as the run's sessions did.
#[test]
fn a_resolver_runs_the_runs_agent_in_the_runs_permission_mode() {
    let sandbox = Sandbox::new();
    let tasks = conflicting_tasks(&sandbox, &[]);
    stored_run(&sandbox, &tasks)
        .args(["--permission-mode", "bypassPermissions"])
        .run()
        .expect_code(0);
    let calls = sandbox.path().join("calls");
    std::fs::create_dir(&calls).unwrap();
    after(&sandbox, &["merge", "--resolve"])
        .env_remove("PORCH_CLAUDE")
        .record_agent_runs(&calls)
        .run()
        .expect_code(0);
    let argv: Vec<PathBuf> = (std::fs::read_dir(&calls).unwrap().flatten())
        .map(|e| e.path())
        .filter(|p| p.to_string_lossy().ends_with(".argv"))
        .collect();
    assert_eq!(argv.len(), 1, "one resolver session: {argv:?}");
    let argv = String::from_utf8(std::fs::read(&argv[0]).unwrap()).unwrap();
    assert!(
        argv.contains("--permission-mode\0bypassPermissions\0"),
        "{argv:?}"
    );
}

/// A run whose copy of its tasks is gone has no merge_check for `porch merge` to run: it says
/// so, naming the file, and merges.
#[test]
fn a_merge_without_the_stored_tasks_says_so() {
    let sandbox = Sandbox::new();
    let tasks = sandbox.tasks_json(&serde_json::json!({
        "merge_check": ["false"],
        "tasks": [{"name": "a", "prompt": "@write a.txt a"}],
    }));
    stored_run(&sandbox, &tasks).run().expect_code(0);
    let (id, _) = latest_results(&sandbox);
    let copy = (sandbox.worktree_dir().join("repo/.porch/tasks")).join(format!("{id}.json"));
    std::fs::remove_file(&copy).unwrap();
    after(&sandbox, &["merge"])
        .run()
        .expect_code(0)
        .expect_stderr(&format!(
            "porch: note: run {id} kept no copy of its tasks ({}",
            copy.display()
        ))
        .expect_stderr("merging without its merge_check");
}

/// The summary's `porch merge` says what the merge would check: the tasks file's merge_check,
/// which it runs by itself, else the check the succeeded tasks share, given as `--check`.
#[test]
fn the_summarys_merge_says_what_it_would_check() {
    let sandbox = Sandbox::new();
    let shared = sandbox.tasks_json(&serde_json::json!({
        // One the start passes too: the merge runs it there first.
        "defaults": {"check": ["test", "-d", "."]},
        "tasks": [{"name": "a", "prompt": "@write a.txt a"}],
    }));
    let run = stored_run(&sandbox, &shared).run();
    run.expect_code(0);
    let line = merge_line(&run.stdout());
    assert!(
        line.starts_with("  merge what succeeded, checked:"),
        "{line}"
    );
    assert!(line.contains(" --check 'test -d .' "), "{line}");
    // Pasted, it merges with that check.
    let pasted = line.split_once("porch merge").unwrap().1;
    sandbox
        .porch(&["merge"])
        .args(words(pasted))
        .current_dir(sandbox.repo())
        .run()
        .expect_code(0);

    let sandbox = Sandbox::new();
    let with_merge_check = sandbox.tasks_json(&serde_json::json!({
        "merge_check": ["true"],
        "defaults": {"check": ["true"]},
        "tasks": [{"name": "a", "prompt": "@write a.txt a"}],
    }));
    let run = stored_run(&sandbox, &with_merge_check).run();
    let line = merge_line(&run.stdout());
    assert!(
        line.starts_with("  merge what succeeded (runs merge_check):"),
        "{line}"
    );
    assert!(!line.contains("--check"), "{line}");
}

fn merge_line(summary: &str) -> String {
    (summary.lines())
        .find(|line| line.contains("porch merge"))
        .unwrap_or_else(|| panic!("no porch merge suggested:\n{summary}"))
        .to_string()
}

/// The words of the suggested command after `porch merge` up to REPO: `--run ID --check CMD`.
fn words(pasted: &str) -> Vec<String> {
    let (before, after) = pasted.split_once("--check '").unwrap();
    let (check, _) = after.split_once('\'').unwrap();
    let mut words: Vec<String> = before.split_whitespace().map(String::from).collect();
    words.extend(["--check".to_string(), check.to_string()]);
    words
}

/// `porch report` shows what `porch merge` did, as headless Chromium renders it: a row per
/// branch, merged, skipped (a conflict) or backed out (the check failed with it).
#[test]
fn the_report_shows_the_merge() {
    let sandbox = Sandbox::new();
    let bad = serde_json::json!({"name": "bad", "prompt": "@write bad.txt bad"});
    let tasks = conflicting_tasks(&sandbox, &[bad]);
    stored_run(&sandbox, &tasks).run().expect_code(0);
    after(&sandbox, &["merge", "--check", "test ! -f bad.txt"])
        .run()
        .expect_code(1);
    let page = sandbox.path().join("report.html");
    after(&sandbox, &["report", "-o", support::path_str(&page)])
        .run()
        .expect_code(0);
    let dom = crate::report::chromium(&sandbox, &page, &["--dump-dom"]);
    let table = dom
        .split_once("<table id=\"merge\">")
        .and_then(|(_, rest)| rest.split_once("</table>"))
        .unwrap_or_else(|| panic!("no merge table:\n{dom}"))
        .0;
    for (task, outcome) in [("one", "merged"), ("two", "skipped"), ("bad", "backed-out")] {
        let row = format!(
            "<tr data-task=\"{task}\"><td>{task}</td><td class=\"{outcome}\">{outcome}</td>"
        );
        assert!(table.contains(&row), "{row} in:\n{table}");
    }
    assert!(table.contains("NOTES.md"), "{table}");
}

/// A hook the resume takes from the run's record is a command the user did not type this time:
/// the resume says which it runs, before it runs it, and a flag given to it stands instead.
#[test]
fn a_resume_says_which_recorded_hooks_it_runs() {
    let sandbox = Sandbox::new();
    let marker = sandbox.path().join("hook-ran");
    let hook = format!("touch {}", marker.display());
    one_failed_run(
        &sandbox,
        &["--on-finish", &hook, "--on-task-finish", "true"],
    );
    std::fs::remove_file(&marker).unwrap();
    // A dry run says it as the resume would, and runs nothing.
    for shown in [
        &["resume", "--dry-run"][..],
        &["resume", "--dry-run", "--json"],
    ] {
        let preview = after(&sandbox, shown).run();
        preview
            .expect_code(0)
            .expect_stderr(&format!("--on-finish 'touch {}'", marker.display()))
            .expect_stderr("--on-task-finish true")
            .expect_stderr("as run ");
        assert!(!preview.stderr().contains("resuming run"), "{preview}");
        assert!(!marker.exists(), "{preview}");
    }
    let resumed = after(&sandbox, &["resume"]).run();
    resumed
        .expect_code(0)
        .expect_stderr(&format!("--on-finish 'touch {}'", marker.display()))
        .expect_stderr("--on-task-finish true")
        .expect_stderr("as run ");
    assert!(marker.exists(), "{resumed}");
}

/// What the run was given and recorded stays for its resume unless a `--no-…` flag turns it
/// off: a switch, a hook (the tasks file's too).
#[test]
fn a_resume_turns_off_a_recorded_switch_or_hook_with_its_no_flag() {
    let sandbox = Sandbox::new();
    let marker = sandbox.path().join("hook-ran");
    let hook = format!("touch {}", marker.display());
    one_failed_run(&sandbox, &["--on-finish", &hook, "--cleanup"]);
    std::fs::remove_file(&marker).unwrap();
    let kept = resume_preview(&sandbox, &[]);
    assert_eq!(kept["cleanup"], true, "{kept}");
    assert!(kept["on_finish"].is_array(), "{kept}");
    let off = ["--no-on-finish", "--no-cleanup"];
    let preview = resume_preview(&sandbox, &off);
    assert_eq!(preview["cleanup"], false, "{preview}");
    assert_eq!(preview["on_finish"], Value::Null, "{preview}");
    let resumed = after(&sandbox, &["resume"]).args(off).run();
    resumed.expect_code(0);
    assert!(!resumed.stderr().contains("this resume runs"), "{resumed}");
    assert!(!marker.exists(), "{resumed}");
    let (_, results) = latest_results(&sandbox);
    let worktree = results["tasks"][0]["worktree"].as_str().unwrap();
    assert!(Path::new(worktree).is_dir(), "not cleaned up: {results}");
    after(&sandbox, &["resume", "--cleanup", "--no-cleanup"])
        .run()
        .expect_code(2)
        .expect_stderr("--cleanup and --no-cleanup cannot be used together");
}

/// `--no-on-finish` and `--no-on-task-finish` are recorded with the resume they were given to:
/// a resume of that resume keeps the tasks file's hooks off too, unless given the flag; a
/// switch turned off (`--no-cleanup`) stays off as well.
#[test]
fn a_hook_turned_off_stays_off_for_a_resume_of_the_resume() {
    let sandbox = Sandbox::new();
    let said = sandbox.path().join("said");
    let counter = sandbox.path().join("fail-count");
    let tasks = sandbox.tasks_json(&serde_json::json!({
        "on_finish": ["sh", "-c", format!("echo file-finish >> {}", said.display())],
        "on_task_finish": ["sh", "-c", format!("echo file-task >> {}", said.display())],
        "tasks": [{"name": "flaky", "prompt": format!(
            "@fail-times 2 {} 400 Bad request\n@write done.txt done",
            counter.display()
        )}],
    }));
    stored_run(&sandbox, &tasks)
        .args(["--cleanup"])
        .run()
        .expect_code(1);
    std::fs::remove_file(&said).unwrap();
    let off = ["--no-on-finish", "--no-on-task-finish", "--no-cleanup"];
    after(&sandbox, &["resume"]).args(off).run().expect_code(1);
    assert!(!said.exists(), "the first resume ran a hook turned off");
    let preview = resume_preview(&sandbox, &[]);
    assert_eq!(preview["on_finish"], Value::Null, "{preview}");
    assert_eq!(preview["on_task_finish"], Value::Null, "{preview}");
    assert_eq!(
        preview["cleanup"], false,
        "a switch stays off too: {preview}"
    );
    // Given the flag, the hook runs.
    let given = resume_preview(&sandbox, &["--on-finish", "true"]);
    assert_eq!(given["on_finish"], serde_json::json!(["sh", "-c", "true"]));
    let again = after(&sandbox, &["resume"]).run();
    again.expect_code(0);
    assert!(!said.exists(), "a resume of the resume ran a hook: {again}");
}

/// A run that pushed to a URL with a password recorded no push: its resume, and the resume's dry
/// run, say to give `--push` again.
#[test]
fn a_resume_and_its_dry_run_say_the_push_porch_did_not_keep() {
    let sandbox = Sandbox::new();
    let id = one_failed_run(&sandbox, &[]);
    // As `RecordedSettings::of` records a `--push` URL holding a password.
    let path = settings_dir(&sandbox).join(format!("{id}.json"));
    let mut record: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    record["push"] = Value::Null;
    record["push_withheld"] = Value::Bool(true);
    std::fs::write(&path, serde_json::to_vec(&record).unwrap()).unwrap();
    let said = "give --push again to push this resume's branches";
    for shown in [
        &["resume", "--dry-run"][..],
        &["resume", "--dry-run", "--json"],
    ] {
        after(&sandbox, shown)
            .run()
            .expect_code(0)
            .expect_stderr(said);
    }
    after(&sandbox, &["resume"])
        .run()
        .expect_code(0)
        .expect_stderr(said);
}

/// A record edited by hand to a value its flag would refuse is refused as the flag would be:
/// exit 2 naming the file, the field and the value, nothing run; the flag given to the resume
/// stands instead of it.
#[test]
fn a_recorded_value_its_flag_would_refuse_is_refused_naming_the_file() {
    let sandbox = Sandbox::new();
    let first = one_failed_run(&sandbox, &[]);
    let file = settings_dir(&sandbox).join(format!("{first}.json"));
    let original: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    // (the field, its value, the flag that stands instead, a part of the message)
    let cases = [
        (
            "permission_mode",
            serde_json::json!("yolo"),
            "--permission-mode",
            "\"yolo\" is not one of claude's permission modes",
        ),
        ("retries", serde_json::json!(99), "--retries", "99"),
        ("jobs", serde_json::json!(0), "-j", "0"),
        ("port_base", serde_json::json!(0), "--port-base", "0"),
        (
            "max_cost_usd",
            serde_json::json!(-5.0),
            "--max-cost-usd",
            "-5",
        ),
        ("max_fail", serde_json::json!(0), "--max-fail", "0"),
    ];
    for (field, value, flag, message) in cases {
        let mut edited = original.clone();
        edited[field] = value;
        std::fs::write(&file, edited.to_string()).unwrap();
        let refused = after(&sandbox, &["resume"]).run();
        refused
            .expect_code(2)
            .expect_stderr(&format!("{}: field `{field}`: {message}", file.display()))
            .expect_stderr(&format!("hint: give the resume {flag}"));
        assert_eq!(latest_results(&sandbox).0, first, "nothing ran: {refused}");
    }
    // Given the flag, the resume does not need the recorded value.
    let mut edited = original.clone();
    edited["permission_mode"] = serde_json::json!("yolo");
    std::fs::write(&file, edited.to_string()).unwrap();
    after(&sandbox, &["resume", "--permission-mode", "acceptEdits"])
        .run()
        .expect_code(0);
}

/// A port base that leaves no room for the run's tasks is refused by a resume as by a run,
/// instead of giving every task the same ports.
#[test]
fn a_resume_refuses_a_port_base_without_room_for_its_tasks() {
    let sandbox = Sandbox::new();
    let first = one_failed_run(&sandbox, &[]);
    after(&sandbox, &["resume", "--port-base", "65530"])
        .run()
        .expect_code(2)
        .expect_stderr(
            "--port-base 65530: 10 ports for each of 1 tasks from 65530 go past port 65535",
        );
    assert_eq!(latest_results(&sandbox).0, first, "nothing ran");
}
