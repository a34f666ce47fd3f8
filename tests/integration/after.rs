//! What comes after a run: `porch status`, `logs`, `merge`, `clean` and `resume`, on runs
//! stored where `porch run` keeps them (`.porch/runs/`), read back the way a user would; the
//! state directory private whatever the umask, and a run going on refused to all but `status`
//! and `logs`.

use std::io::{BufRead, BufReader};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};

use crate::support::{self, DEADLINE, Porch, Reaper, Run, Sandbox};

/// `porch run TASKS .` from inside the repository, results stored per run (no `-o`).
pub(crate) fn run_stored(sandbox: &Sandbox, tasks: &Path) -> Run {
    stored_run(sandbox, tasks).run()
}

pub(crate) fn stored_run(sandbox: &Sandbox, tasks: &Path) -> Porch {
    let mut porch = sandbox.porch_run(&[support::path_str(tasks)]);
    porch.without_output().current_dir(sandbox.repo());
    porch
}

/// `porch COMMAND ARGS --worktree-dir WT` from inside the repository (REPO defaults to `.`).
pub(crate) fn after(sandbox: &Sandbox, args: &[&str]) -> Porch {
    let mut porch = sandbox.porch(args);
    porch
        .worktree_dir(sandbox.worktree_dir())
        .current_dir(sandbox.repo());
    porch
}

fn state_dir(sandbox: &Sandbox) -> PathBuf {
    sandbox.worktree_dir().join("repo").join(".porch")
}

/// The ids of the stored runs, oldest first as their names sort.
fn run_ids(sandbox: &Sandbox) -> Vec<String> {
    let mut ids: Vec<String> = std::fs::read_dir(state_dir(sandbox).join("runs"))
        .unwrap()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            name.strip_suffix(".json").map(String::from)
        })
        .collect();
    ids.sort();
    ids
}

/// The run porch takes for the latest: the one `.porch/results.json` points to. Not the last id
/// in sort order: ids sort in time order only to the second, and a resume started in its killed
/// run's second by a pid that sorts lower (`-17026` before `-9642`) would come before that run.
pub(crate) fn latest_results(sandbox: &Sandbox) -> (String, Value) {
    let link = std::fs::read_link(state_dir(sandbox).join("results.json")).expect("a stored run");
    let id = link.file_stem().unwrap().to_string_lossy().into_owned();
    let path = state_dir(sandbox).join("runs").join(format!("{id}.json"));
    let value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    (id, value)
}

/// The cells of the status table's row for `task`, split on whitespace.
fn status_row(stdout: &str, task: &str) -> Vec<String> {
    stdout
        .lines()
        .map(|l| l.split_whitespace().map(String::from).collect::<Vec<_>>())
        .find(|cells| cells.get(1).map(String::as_str) == Some(task))
        .unwrap_or_else(|| panic!("no row for {task} in\n{stdout}"))
}

#[test]
fn status_shows_each_task_as_git_sees_it_now_and_json_as_stored() {
    let sandbox = Sandbox::new();
    let tasks = sandbox.tasks(&[
        ("good", "@write a.txt hello\n@write b.txt world"),
        ("bad", "@api-error 400 Bad request"),
    ]);
    run_stored(&sandbox, &tasks).expect_code(1);
    std::fs::write(sandbox.worktree("bad").join("left.txt"), "x").unwrap();
    let (id, results) = latest_results(&sandbox);

    let status = after(&sandbox, &["status"]).run();
    status.expect_code(0).expect_stdout(&format!("run {id}"));
    let out = status.stdout();
    assert_eq!(
        status_row(&out, "good"),
        [
            "succeeded",
            "good",
            "task/good",
            "1",
            "2",
            "(+2",
            "-0)",
            "-",
            "clean"
        ],
        "{status}"
    );
    assert_eq!(
        status_row(&out, "bad")[..5],
        ["failed", "bad", "task/bad", "0", "0"],
        "{status}"
    );
    assert!(out.contains("dirty"), "{status}");
    let session = support::task(&results, "bad")["session_id"]
        .as_str()
        .unwrap();
    status.expect_stdout(&format!(
        "cd {} && claude --resume {session}",
        sandbox.worktree("bad").display()
    ));
    // After the run, git is asked again: a commit made since shows.
    sandbox.git_in(&sandbox.worktree("good"), &["rm", "-q", "b.txt"]);
    sandbox.git_in(
        &sandbox.worktree("good"),
        &[
            "-c",
            "user.name=T",
            "-c",
            "user.email=t@e",
            "commit",
            "-q",
            "-m",
            "less",
        ],
    );
    let again = after(&sandbox, &["status", "--run", &id]).run();
    assert_eq!(
        status_row(&again.stdout(), "good")[3..7],
        ["2", "1", "(+1", "-0)"],
        "{again}"
    );

    let json = after(&sandbox, &["status", "--json"]).run();
    json.expect_code(0);
    let stored =
        std::fs::read(state_dir(&sandbox).join("runs").join(format!("{id}.json"))).unwrap();
    assert_eq!(json.output.stdout, stored);
}

/// A session id is the agent's text: status shows it with control characters made visible,
/// as the summary does, never as escape codes for the terminal.
#[test]
fn status_shows_a_session_id_with_its_control_characters_made_visible() {
    let sandbox = Sandbox::new();
    let tasks = sandbox.tasks(&[("bad", "@api-error 400 Bad request")]);
    run_stored(&sandbox, &tasks).expect_code(1);
    let (id, mut results) = latest_results(&sandbox);
    results["tasks"][0]["session_id"] = "s\u{1b}]0;owned\u{7}\u{1b}[2J".into();
    let path = state_dir(&sandbox).join("runs").join(format!("{id}.json"));
    std::fs::write(&path, results.to_string()).unwrap();
    let status = after(&sandbox, &["status"]).run();
    let out = status.expect_code(0).stdout();
    assert!(
        !out.contains('\u{1b}') && !out.contains('\u{7}'),
        "{status}"
    );
    status.expect_stdout("claude --resume");
}

#[test]
fn status_of_an_unknown_run_or_a_repository_without_runs_is_refused() {
    let sandbox = Sandbox::new();
    after(&sandbox, &["status"])
        .run()
        .expect_code(2)
        .expect_stderr("no porch run of")
        .expect_stderr("hint:");
    let tasks = sandbox.tasks(&[("a", "@say hi")]);
    run_stored(&sandbox, &tasks).expect_code(0);
    let id = run_ids(&sandbox).pop().unwrap();
    after(&sandbox, &["status", "--run", "20200101T000000Z-1"])
        .run()
        .expect_code(2)
        .expect_stderr("no such run")
        .expect_stderr(&id);
}

#[test]
fn logs_render_the_session_and_raw_is_the_log_byte_for_byte() {
    let sandbox = Sandbox::new();
    let tasks = sandbox.tasks(&[(
        "talk",
        "@say hello there\n@binary\n@stderr careful\n@write x.txt y\n@result all done",
    )]);
    run_stored(&sandbox, &tasks).expect_code(0);
    let log = state_dir(&sandbox).join("logs").join("talk.log");
    let stored = std::fs::read(&log).unwrap();
    assert!(
        stored.windows(2).any(|w| w == b"\xff\xfe"),
        "the log keeps the bytes that are not UTF-8"
    );

    let raw = after(&sandbox, &["logs", "talk", "--raw"]).run();
    raw.expect_code(0);
    assert_eq!(raw.output.stdout, stored);

    let rendered = after(&sandbox, &["logs", "talk"]).run();
    rendered.expect_code(0);
    let lines: Vec<String> = rendered.stdout().lines().map(String::from).collect();
    for expected in [
        "talk │ hello there",
        "talk │ [stderr] careful",
        "talk │ → Write x.txt",
        "talk │ bytes \u{fffd}\u{fffd} not utf-8",
    ] {
        assert!(
            lines.iter().any(|l| l == expected),
            "no line {expected:?} in\n{rendered}"
        );
    }
    let hello = lines
        .iter()
        .position(|l| l.contains("hello there"))
        .unwrap();
    let result = lines.iter().position(|l| l.contains("all done")).unwrap();
    assert!(hello < result, "{rendered}");
    assert!(!rendered.stdout().contains("\"type\""), "{rendered}");

    after(&sandbox, &["logs", "nope"])
        .run()
        .expect_code(2)
        .expect_stderr("has no task `nope`")
        .expect_stderr("its tasks are: talk");
}

#[test]
fn logs_follow_prints_while_the_task_runs_and_stops_when_it_ends() {
    let sandbox = Sandbox::new();
    let started = sandbox.path().join("started");
    let go = sandbox.path().join("go");
    let prompt = format!(
        "@say first words\n@touch {}\n@wait-for {}\n@say second words\n@result finished",
        started.display(),
        go.display()
    );
    let tasks = sandbox.tasks(&[("slow", &prompt)]);
    let mut porch = stored_run(&sandbox, &tasks).spawn("run");
    support::wait_until("the session has started", DEADLINE, || started.exists());

    let (mut follow, stdout) =
        after(&sandbox, &["logs", "slow", "--follow"]).spawn_piping_stdout("follow");
    let mut lines = BufReader::new(stdout).lines();
    let mut seen = Vec::new();
    for line in lines.by_ref() {
        let line = line.unwrap();
        let first = line.contains("first words");
        seen.push(line);
        if first {
            break;
        }
    }
    assert!(seen.iter().any(|l| l.contains("first words")), "{seen:?}");
    assert!(!seen.iter().any(|l| l.contains("second words")), "{seen:?}");
    std::fs::write(&go, "").unwrap();
    seen.extend(lines.map(Result::unwrap));
    follow.wait().expect_code(0);
    porch.wait().expect_code(0);
    let second = seen.iter().position(|l| l.contains("second words"));
    let result = seen.iter().position(|l| l.contains("finished"));
    assert!(
        matches!((second, result), (Some(s), Some(r)) if s < r),
        "{seen:?}"
    );
}

#[test]
fn merge_skips_a_conflicting_branch_names_its_files_and_leaves_the_checkout_alone() {
    let sandbox = Sandbox::new();
    let tasks = sandbox.tasks_json(&serde_json::json!({"tasks": [
        {"name": "one", "prompt": "@write README.md one", "description": "First take"},
        {"name": "two", "prompt": "@write README.md two"},
        {"name": "three", "prompt": "@write three.txt 3"},
        {"name": "broken", "prompt": "@write broken.txt b\n@api-error 400 Bad request"},
    ]}));
    run_stored(&sandbox, &tasks).expect_code(1);
    let (id, _) = latest_results(&sandbox);
    let head = sandbox.git(&["rev-parse", "HEAD"]);
    let worktrees = sandbox.worktrees();

    let merge = after(&sandbox, &["merge"]).run();
    merge
        .expect_code(1)
        .expect_stdout("SKIPPED task/two")
        .expect_stdout("README.md")
        .expect_stdout(&format!(
            "git -C {} diff main...porch/merge/{id}",
            sandbox.repo().display()
        ));
    assert!(!merge.stdout().contains("task/broken"), "{merge}");

    let branch = format!("porch/merge/{id}");
    let subjects = sandbox.git(&[
        "log",
        "--first-parent",
        "--format=%s",
        "--reverse",
        &format!("main..{branch}"),
    ]);
    assert_eq!(
        subjects.lines().collect::<Vec<_>>(),
        ["Merge task one (task/one)", "Merge task three (task/three)"]
    );
    let message = sandbox.git(&["log", "-1", "--format=%B", &format!("{branch}~1")]);
    assert!(
        message.contains("First take") && message.contains("Porch-Task: one"),
        "{message}"
    );
    assert_eq!(
        sandbox.git(&["show", &format!("{branch}:README.md")]),
        "one"
    );
    assert_eq!(sandbox.git(&["show", &format!("{branch}:three.txt")]), "3");
    // The user's checkout: same commit, same branch, nothing changed; no worktree left over.
    assert_eq!(sandbox.git(&["rev-parse", "HEAD"]), head);
    assert_eq!(sandbox.git(&["branch", "--show-current"]).trim(), "main");
    assert_eq!(sandbox.git(&["status", "--porcelain"]), "");
    assert_eq!(sandbox.worktrees(), worktrees);

    after(&sandbox, &["merge"])
        .run()
        .expect_code(2)
        .expect_stderr("exists")
        .expect_stderr("hint:");
}

#[test]
fn merge_into_a_branch_takes_named_tasks_and_refuses_what_did_not_succeed() {
    let sandbox = Sandbox::new();
    let tasks = sandbox.tasks(&[
        ("feature", "@write f.txt f"),
        ("other", "@write o.txt o"),
        ("broken", "@api-error 400 Bad request"),
    ]);
    run_stored(&sandbox, &tasks).expect_code(1);
    sandbox.git(&["branch", "dev"]);

    after(&sandbox, &["merge", "--into", "dev", "broken"])
        .run()
        .expect_code(2)
        .expect_stderr("did not succeed");
    after(&sandbox, &["merge", "--into", "dev", "nosuch"])
        .run()
        .expect_code(2)
        .expect_stderr("has no task `nosuch`");
    after(&sandbox, &["merge", "--into", "nobranch"])
        .run()
        .expect_code(2)
        .expect_stderr("not a branch");

    after(&sandbox, &["merge", "--into", "dev", "feature"])
        .run()
        .expect_code(0)
        .expect_stdout("merged  task/feature");
    assert_eq!(sandbox.git(&["show", "dev:f.txt"]), "f");
    assert!(
        sandbox
            .git(&["ls-tree", "--name-only", "dev"])
            .lines()
            .all(|f| f != "o.txt")
    );

    // Into the checked-out branch: refused while it holds changes; fast-forwarded when clean.
    std::fs::write(sandbox.repo().join("README.md"), "edited\n").unwrap();
    after(&sandbox, &["merge", "--into", "main", "other"])
        .run()
        .expect_code(2)
        .expect_stderr("uncommitted changes");
    sandbox.git(&["checkout", "-q", "--", "README.md"]);
    after(&sandbox, &["merge", "--into", "main", "other"])
        .run()
        .expect_code(0);
    assert_eq!(
        std::fs::read_to_string(sandbox.repo().join("o.txt")).unwrap(),
        "o"
    );
    assert_eq!(sandbox.git(&["status", "--porcelain"]), "");
}

fn refs(sandbox: &Sandbox) -> String {
    sandbox.git(&["for-each-ref", "--format=%(refname) %(objectname)"])
}

#[test]
fn clean_dry_run_changes_nothing_and_clean_keeps_dirty_and_unmerged_work_until_forced() {
    let sandbox = Sandbox::new();
    let tasks = sandbox.tasks(&[
        ("merged", "@write m.txt m"),
        ("dirty", "@write d.txt d"),
        ("unmerged", "@write u.txt u"),
        ("empty", "@say nothing to do"),
    ]);
    run_stored(&sandbox, &tasks).expect_code(0);
    after(&sandbox, &["merge", "merged"]).run().expect_code(0);
    std::fs::write(sandbox.worktree("dirty").join("more.txt"), "uncommitted").unwrap();
    // What a run killed between making a task's merged base and its branch leaves.
    sandbox.git(&["update-ref", "refs/porch/bases/empty", "main"]);
    let (worktrees, before) = (sandbox.worktrees(), refs(&sandbox));

    let dry = after(&sandbox, &["clean", "--branches", "--dry-run"]).run();
    dry.expect_code(0)
        .expect_stdout("would remove worktree")
        .expect_stdout("would delete branch task/merged");
    assert_eq!(sandbox.worktrees(), worktrees);
    assert_eq!(refs(&sandbox), before);

    let clean = after(&sandbox, &["clean", "--branches"]).run();
    clean
        .expect_code(0)
        .expect_stdout(&format!(
            "kept worktree {}: uncommitted changes",
            sandbox.worktree("dirty").display()
        ))
        .expect_stdout("kept branch task/unmerged: 1 commit(s) on neither main")
        .expect_stdout("deleted branch task/merged")
        .expect_stdout("deleted branch task/empty")
        .expect_stdout("deleted merged base refs/porch/bases/empty");
    assert!(!refs(&sandbox).contains("refs/porch/bases/"), "{clean}");
    let mut branches = sandbox.branches();
    branches.retain(|b| !b.starts_with("porch/merge/"));
    assert_eq!(branches, ["main", "task/dirty", "task/unmerged"]);
    assert_eq!(
        sandbox.worktrees().len(),
        2,
        "the repository and the dirty worktree"
    );
    assert!(sandbox.worktree("dirty").join("more.txt").exists());

    after(&sandbox, &["clean", "--branches", "--force"])
        .run()
        .expect_code(0)
        .expect_stdout("removed worktree")
        .expect_stdout("deleted branch task/unmerged");
    branches = sandbox.branches();
    branches.retain(|b| !b.starts_with("porch/merge/"));
    assert_eq!(branches, ["main"]);
    assert_eq!(sandbox.worktrees().len(), 1);
}

#[test]
fn clean_leaves_what_a_newer_run_uses_and_prunes_old_results() {
    let sandbox = Sandbox::new();
    let first = sandbox.tasks(&[("a", "@say one")]);
    run_stored(&sandbox, &first).expect_code(0);
    let old = run_ids(&sandbox).pop().unwrap();
    after(&sandbox, &["clean", "--branches"])
        .run()
        .expect_code(0);
    let second = sandbox.tasks(&[("a", "@write a.txt again")]);
    run_stored(&sandbox, &second).expect_code(0);
    assert_eq!(run_ids(&sandbox).len(), 2);

    after(&sandbox, &["clean", "--run", &old, "--branches", "--force"])
        .run()
        .expect_code(0)
        .expect_stdout("uses them now");
    assert!(sandbox.worktree("a").exists());
    assert!(sandbox.branches().contains(&"task/a".to_string()));

    after(&sandbox, &["clean", "--keep-runs", "1"])
        .run()
        .expect_code(0)
        .expect_stdout("the results of 1 old run(s)");
    let left = run_ids(&sandbox);
    assert_eq!(left.len(), 1);
    assert_ne!(left[0], old);
    assert!(
        !state_dir(&sandbox)
            .join("tasks")
            .join(format!("{old}.json"))
            .exists(),
        "the pruned run's kept tasks go with its results"
    );

    after(&sandbox, &["clean", "--all", "--branches", "--force"])
        .run()
        .expect_code(0)
        .expect_stdout("deleted branch task/a");
    assert_eq!(sandbox.branches(), ["main"]);
    assert_eq!(sandbox.worktrees().len(), 1);
}

#[test]
fn a_run_given_a_results_file_is_named_by_its_path_and_is_still_the_latest_run() {
    let sandbox = Sandbox::new();
    let tasks = sandbox.tasks(&[("a", "@say hello from a")]);
    sandbox.porch_run_tasks(&tasks).run().expect_code(0);
    let results = sandbox.results_path();
    let path = support::path_str(&results);
    after(&sandbox, &["status", "--run", path])
        .run()
        .expect_code(0)
        .expect_stdout("succeeded a");
    after(&sandbox, &["logs", "a", "--run", path])
        .run()
        .expect_code(0)
        .expect_stdout("a │ hello from a");
    after(&sandbox, &["status", "--run", "/no/such/results.json"])
        .run()
        .expect_code(2)
        .expect_stderr("cannot read the results file /no/such/results.json");

    // The state directory records it too: the commands find it without --run.
    let id = sandbox.results()["run_id"].as_str().unwrap().to_string();
    assert_eq!(run_ids(&sandbox), vec![id.clone()]);
    after(&sandbox, &["status"])
        .run()
        .expect_code(0)
        .expect_stdout(&format!("run {id} of"))
        .expect_stdout("succeeded a");
    after(&sandbox, &["logs", "a"])
        .run()
        .expect_code(0)
        .expect_stdout("a │ hello from a");
    after(&sandbox, &["clean", "--branches"])
        .run()
        .expect_code(0)
        .expect_stdout("deleted branch task/a");
}

fn stored_results(sandbox: &Sandbox, id: &str) -> Value {
    let path = state_dir(sandbox).join("runs").join(format!("{id}.json"));
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

#[test]
fn resume_runs_only_what_failed_continuing_its_session_and_keeps_the_rest() {
    let sandbox = Sandbox::new();
    let args_dir = sandbox.path().join("agent-runs");
    std::fs::create_dir_all(&args_dir).unwrap();
    let counter = sandbox.path().join("flaky-count");
    let tasks = sandbox.tasks(&[
        ("good", "@write good.txt fine"),
        (
            "flaky",
            &format!(
                "@write part.txt first half\n@fail-times 1 {} 400 Bad request\n@write rest.txt second half",
                counter.display()
            ),
        ),
    ]);
    stored_run(&sandbox, &tasks)
        .record_agent_runs(&args_dir)
        .run()
        .expect_code(1);
    let (first_id, first) = latest_results(&sandbox);
    // The run kept its tasks, as read, for its owner's eyes only (env values may be secrets).
    let kept = state_dir(&sandbox)
        .join("tasks")
        .join(format!("{first_id}.json"));
    assert_eq!(
        std::fs::read(&kept).unwrap(),
        std::fs::read(&tasks).unwrap()
    );
    assert_eq!(mode(&kept), 0o600);
    let good_tip = sandbox.git(&["rev-parse", "task/good"]);
    let flaky_tip = sandbox.git(&["rev-parse", "task/flaky"]);
    let flaky_session = support::task(&first, "flaky")["session_id"]
        .as_str()
        .unwrap()
        .to_string();
    // Both worktrees go; the branches stay and hold the work: resume brings the worktree back.
    after(&sandbox, &["clean"]).run().expect_code(0);
    assert!(!sandbox.worktree("flaky").exists());

    let resumed = after(&sandbox, &["resume"])
        .agent(support::fixture_agent())
        .record_agent_runs(&args_dir)
        .run();
    resumed
        .expect_code(0)
        .expect_stderr(&format!("resuming run {first_id}: flaky (1 of 2 tasks"));

    // Only flaky ran again, with its session continued, in its own branch.
    assert!(!args_dir.join("good.2.argv").exists());
    let argv = support::recorded_argv(&args_dir, "flaky", 2);
    let at = argv
        .iter()
        .position(|a| a == "--resume")
        .expect("--resume given");
    assert_eq!(argv[at + 1], flaky_session);
    let prompt = String::from_utf8(support::recorded_prompt(&args_dir, "flaky", 2)).unwrap();
    assert!(
        prompt.starts_with("@write part.txt first half\n"),
        "{prompt}"
    );
    assert!(prompt.contains("failed: "), "{prompt}");
    assert_eq!(sandbox.git(&["rev-parse", "task/good"]), good_tip);
    assert_eq!(
        sandbox.git(&["rev-parse", "task/flaky~1"]),
        flaky_tip,
        "the resumed session's work goes on top of the earlier one's"
    );
    assert_eq!(sandbox.git(&["show", "task/flaky:rest.txt"]), "second half");

    // The new results hold the whole picture.
    let (second_id, second) = latest_results(&sandbox);
    assert_ne!(second_id, first_id);
    assert_eq!(second["run_id"], second_id.as_str());
    assert_eq!(second["resumed_from"], first_id.as_str());
    assert_eq!(
        support::task(&second, "good"),
        support::task(&first, "good")
    );
    assert_eq!(support::task(&second, "flaky")["status"], "succeeded");
    assert_eq!(second["summary"]["succeeded"], 2);
    assert_eq!(
        stored_results(&sandbox, &first_id),
        first,
        "the earlier run's file is left as it was"
    );
    let log = std::fs::read_to_string(state_dir(&sandbox).join("logs").join("flaky.log")).unwrap();
    assert!(
        log.contains("Bad request") && log.contains("[porch] resumed"),
        "the log keeps the earlier output: {log}"
    );

    after(&sandbox, &["resume"])
        .run()
        .expect_code(0)
        .expect_stdout("nothing to resume");
    // The earlier run's branches now hold the resume's work: resuming it again is refused.
    after(&sandbox, &["resume", "--run", &first_id])
        .run()
        .expect_code(2)
        .expect_stderr(&format!("run {second_id}"))
        .expect_stderr(&format!(
            "hint: resume that run instead: porch resume --run {second_id}"
        ));
}

/// A resumed task keeps what earlier runs made of it: their attempts, marked with the run that
/// made each, before its own, numbered after them, and its cost is all of theirs added up, as
/// is the run's; what this run paid (`spent_usd`) is its own.
#[test]
fn a_resumed_task_keeps_its_earlier_attempts_and_its_cost_adds_up() {
    let sandbox = Sandbox::new();
    let counter = sandbox.path().join("flaky-count");
    let tasks = sandbox.tasks(&[
        ("good", "@write good.txt fine\n@cost 0.125"),
        (
            "flaky",
            &format!(
                "@cost 0.5\n@fail-times 2 {} 400 Bad request\n@cost 0.25\n@write done.txt done",
                counter.display()
            ),
        ),
    ]);
    stored_run(&sandbox, &tasks).run().expect_code(1);
    let (first_id, _) = latest_results(&sandbox);
    after(&sandbox, &["resume"]).run().expect_code(1);
    let (second_id, _) = latest_results(&sandbox);
    let last = after(&sandbox, &["resume"]).run();
    last.expect_code(0);
    let (_, results) = latest_results(&sandbox);
    let flaky = support::task(&results, "flaky");
    assert_eq!(flaky["status"], "succeeded", "{flaky:#}");
    assert_eq!(flaky["cost_usd"], 1.25, "0.5 + 0.5 + 0.25: {flaky:#}");
    let attempts = flaky["attempts"].as_array().unwrap();
    let made: Vec<(u64, &Value, &Value)> = (attempts.iter())
        .map(|a| (a["attempt"].as_u64().unwrap(), &a["run_id"], &a["status"]))
        .collect();
    assert_eq!(
        made,
        vec![
            (1, &Value::from(first_id.as_str()), &Value::from("failed")),
            (2, &Value::from(second_id.as_str()), &Value::from("failed")),
            (3, &Value::Null, &Value::from("succeeded")),
        ],
        "{flaky:#}"
    );
    assert_eq!(results["summary"]["cost_usd"], 1.375, "{results:#}");
    assert_eq!(results["spent_usd"], 0.25, "this run paid: {results:#}");
    let status = after(&sandbox, &["status", "--json"]).run();
    status.expect_code(0);
    let shown: Value = serde_json::from_str(&status.stdout()).unwrap();
    assert_eq!(
        support::task(&shown, "flaky")["cost_usd"],
        1.25,
        "{shown:#}"
    );
}

fn mode(path: &Path) -> u32 {
    std::fs::symlink_metadata(path)
        .unwrap()
        .permissions()
        .mode()
        & 0o7777
}

/// Everything under `dir` whose mode lets its group or others in (links aside: a link's own
/// mode means nothing), with that mode.
fn open_to_others(dir: &Path) -> Vec<String> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(path) = pending.pop() {
        let meta = std::fs::symlink_metadata(&path).unwrap();
        if meta.is_symlink() {
            continue;
        }
        if meta.permissions().mode() & 0o077 != 0 {
            found.push(format!("{} {:o}", path.display(), mode(&path)));
        }
        if meta.is_dir() {
            pending.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
        }
    }
    found
}

fn make_fifo(path: &Path) {
    let made = Command::new("mkfifo").arg(path).status().unwrap();
    assert!(made.success(), "mkfifo {}", path.display());
}

/// Lets the session blocked reading `fifo` go on: opens it for writing once it has its reader
/// (never blocking: with none, the open fails and is tried again), and closes it (end of file).
fn release(fifo: &Path) {
    let mut writer = None;
    support::wait_until("the session reads the FIFO", DEADLINE, || {
        writer = std::fs::File::options()
            .write(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(fifo)
            .ok();
        writer.is_some()
    });
}

/// A prompt that writes, says it started, then waits on `fifo`.
fn blocking_prompt(started: &Path, fifo: &Path) -> String {
    format!(
        "@write work.txt kept\n@touch {}\n@bash cat {}\n@result finished",
        started.display(),
        fifo.display()
    )
}

#[test]
fn what_porch_keeps_in_the_state_directory_is_its_users_alone_whatever_the_umask() {
    let sandbox = Sandbox::new();
    let counter = sandbox.path().join("b-count");
    let tasks = sandbox.tasks_json(&json!({
        "branch_template": "nightly/{name}",
        "tasks": [
            {"name": "a", "prompt": "@write a.txt from a"},
            {"name": "b", "prompt": format!(
                "@write b.txt from b\n@fail-times 1 {} 500 Overloaded", counter.display()
            )},
        ]
    }));
    stored_run(&sandbox, &tasks)
        .umask(0o022)
        .run()
        .expect_code(1);
    after(&sandbox, &["resume"])
        .agent(support::fixture_agent())
        .umask(0o022)
        .run()
        .expect_code(0);
    after(&sandbox, &["merge"])
        .umask(0o022)
        .run()
        .expect_code(0);
    after(&sandbox, &["clean"])
        .umask(0o022)
        .run()
        .expect_code(0);
    // A run given a results file of its own: that file is the user's, as any tool's output.
    let given = sandbox.path().join("given.json");
    let more = sandbox.tasks_in("more.json", &[("c", "@write c.txt from c")]);
    stored_run(&sandbox, &more)
        .umask(0o022)
        .output(&given)
        .run()
        .expect_code(0);

    let state = state_dir(&sandbox);
    assert!(state.join("logs/nightly/b.log").is_file());
    assert!(state.join("merge").is_dir(), "merge made its directory");
    assert_eq!(open_to_others(&state), Vec::<String>::new());
    assert_eq!(mode(&given), 0o644, "-o follows the umask");
    // The worktrees hold the user's code and follow the umask, as a clone would.
    let root = sandbox.worktree_dir().join("repo");
    assert_eq!(mode(&root), 0o755);
    assert_eq!(mode(&root.join("c")), 0o755);
}

/// A run whose task `slow` failed once (the fixture's runs recorded in `agent_runs`), and
/// whose resume will block on a FIFO: the file its session touches when it has started, the
/// FIFO to release it, and the failed run's id.
fn failed_then_blocking(sandbox: &Sandbox, agent_runs: &Path) -> (PathBuf, PathBuf, String) {
    let (counter, started, fifo) = (
        sandbox.path().join("count"),
        sandbox.path().join("started"),
        sandbox.path().join("fifo"),
    );
    make_fifo(&fifo);
    let prompt = format!(
        "@fail-times 1 {} 500 Overloaded\n{}",
        counter.display(),
        blocking_prompt(&started, &fifo)
    );
    let tasks = sandbox.tasks(&[("slow", &prompt)]);
    stored_run(sandbox, &tasks)
        .record_agent_runs(agent_runs)
        .run()
        .expect_code(1);
    (started, fifo, run_ids(sandbox).pop().unwrap())
}

#[test]
fn two_resumes_started_together_run_one_session_and_the_other_names_the_run_going_on() {
    let sandbox = Sandbox::new();
    let _reaper = Reaper::new(&sandbox);
    let agent_runs = sandbox.path().join("agent-runs");
    std::fs::create_dir_all(&agent_runs).unwrap();
    let (started, fifo, first) = failed_then_blocking(&sandbox, &agent_runs);

    let resume = |label| {
        after(&sandbox, &["resume"])
            .agent(support::fixture_agent())
            .record_agent_runs(&agent_runs)
            .spawn(label)
    };
    let mut resumes = [resume("one"), resume("two")];
    let second_session = agent_runs.join("slow.3.argv");
    support::wait_until("a resume exits, or both start a session", DEADLINE, || {
        resumes.iter().any(|r| support::is_gone(r.pid())) || second_session.exists()
    });
    assert!(!second_session.exists(), "both resumes started a session");
    let (refused, resumed) = if support::is_gone(resumes[0].pid()) {
        (0, 1)
    } else {
        (1, 0)
    };
    let refused = resumes[refused].wait();
    support::wait_until("the resumed session has started", DEADLINE, || {
        started.exists()
    });
    release(&fifo);
    resumes[resumed].wait().expect_code(0);

    assert!(!second_session.exists(), "one session only");
    let ids = run_ids(&sandbox);
    assert_eq!(ids.len(), 2, "the refused resume stored nothing: {ids:?}");
    let going_on = ids.iter().find(|id| **id != first).unwrap();
    // The refused resume looks for the latest run before it takes that run's lock. If the
    // other resume has not yet stored its own run by then, the refused one wants `first` and
    // finds its lock held by the other; if it has (the refused one started late, as it may
    // on a loaded machine), the latest run is the resume itself, whose lock it holds. Each
    // way the message names the run going on.
    let refused = refused.expect_code(2);
    let stderr = refused.stderr();
    assert!(
        stderr.contains(&format!(
            "run {first} is in use: run {going_on} (a resume of it) is still going on"
        )) || stderr.contains(&format!("run {going_on} is still going on")),
        "{refused}"
    );
    assert_eq!(sandbox.git(&["show", "task/slow:work.txt"]), "kept");
}

/// The late side of the race above, made certain: a resume started once another resume has
/// stored its run finds that run the latest, and names it as going on.
#[test]
fn a_resume_started_while_another_resume_runs_names_that_resume_going_on() {
    let sandbox = Sandbox::new();
    let _reaper = Reaper::new(&sandbox);
    let agent_runs = sandbox.path().join("agent-runs");
    std::fs::create_dir_all(&agent_runs).unwrap();
    let (started, fifo, first) = failed_then_blocking(&sandbox, &agent_runs);
    let mut resumed = after(&sandbox, &["resume"])
        .agent(support::fixture_agent())
        .spawn("resume");
    support::wait_until("the resumed session has started", DEADLINE, || {
        started.exists()
    });
    let going_on = run_ids(&sandbox)
        .into_iter()
        .find(|id| *id != first)
        .unwrap();
    after(&sandbox, &["resume"])
        .run()
        .expect_code(2)
        .expect_stderr(&format!("run {going_on} is still going on"));
    release(&fifo);
    resumed.wait().expect_code(0);
}

#[test]
fn clean_and_merge_refuse_a_run_going_on_and_leave_its_worktree_and_branch() {
    let sandbox = Sandbox::new();
    let _reaper = Reaper::new(&sandbox);
    let (started, fifo) = (sandbox.path().join("started"), sandbox.path().join("fifo"));
    make_fifo(&fifo);
    let tasks = sandbox.tasks(&[("slow", &blocking_prompt(&started, &fifo))]);
    let mut run = stored_run(&sandbox, &tasks).spawn("run");
    support::wait_until("the session has started", DEADLINE, || started.exists());
    let id = run_ids(&sandbox).pop().unwrap();

    let going_on = format!("run {id} is still going on");
    for args in [
        &["clean", "--branches"][..],
        &["clean", "--all", "--branches", "--force"],
        &["clean", "--dry-run"],
        &["merge"],
        &["resume"],
    ] {
        after(&sandbox, args)
            .run()
            .expect_code(2)
            .expect_stderr(&going_on)
            .expect_stderr("hint: wait for it to");
    }
    assert!(sandbox.worktree("slow").join("work.txt").is_file());
    assert!(sandbox.branches().contains(&"task/slow".to_string()));
    // status says so, and suggests only what works while it goes on.
    let status = after(&sandbox, &["status"]).run();
    let next = status.expect_code(0).stdout();
    let next = next.split("\n\n").last().unwrap();
    assert!(
        next.starts_with(&format!("{going_on}\nfollow a task:")),
        "{status}"
    );
    assert!(
        next.contains(" logs --run ") && next.contains("--follow slow"),
        "{status}"
    );
    assert!(
        !next.contains("resume") && !next.contains("merge"),
        "{status}"
    );

    release(&fifo);
    run.wait().expect_code(0);
    assert_eq!(sandbox.git(&["show", "task/slow:work.txt"]), "kept");
    let status = after(&sandbox, &["status"]).run();
    status.expect_stdout("merge what succeeded:");
    after(&sandbox, &["merge"]).run().expect_code(0);
    // Merged: status no longer suggests merging it again.
    let status = after(&sandbox, &["status"]).run();
    let said = status.expect_code(0).stdout();
    assert!(!said.contains("merge what succeeded"), "{status}");
    status.expect_stdout("merged: every branch that succeeded is merged\n");
    after(&sandbox, &["clean", "--branches", "--force"])
        .run()
        .expect_code(0)
        .expect_stdout("deleted branch task/slow");
}

/// Without the link to the latest results, the latest run is the one started last: by the start
/// time its results hold, also among older ids of one second, where `-999` sorts after `-1000`
/// as text; and an older id is still found by `--run`.
#[test]
fn without_the_results_link_the_latest_run_is_the_one_started_last() {
    let sandbox = Sandbox::new();
    let tasks = sandbox.tasks(&[("a", "@say hi")]);
    run_stored(&sandbox, &tasks).expect_code(0);
    let (real, mut results) = latest_results(&sandbox);
    let runs = state_dir(&sandbox).join("runs");
    std::fs::remove_file(runs.join(format!("{real}.json"))).unwrap();
    std::fs::remove_file(state_dir(&sandbox).join("results.json")).unwrap();
    // (id, when its results say it started), in the order they started.
    let stored = [
        ("20261201T201500Z-999", "2026-12-01T20:15:00.200Z"),
        ("20261201T201500Z-1000", "2026-12-01T20:15:00.700Z"),
    ];
    for (id, started) in stored {
        results["run_id"] = json!(id);
        results["started_at"] = json!(started);
        let text = serde_json::to_string(&results).unwrap();
        std::fs::write(runs.join(format!("{id}.json")), text).unwrap();
    }
    let run_id_shown = |args: &[&str]| -> String {
        let run = after(&sandbox, args).run();
        run.expect_code(0);
        let shown: Value = serde_json::from_str(&run.stdout()).unwrap();
        shown["run_id"].as_str().unwrap_or_default().to_string()
    };
    assert_eq!(run_id_shown(&["status", "--json"]), "20261201T201500Z-1000");
    let older = ["status", "--json", "--run", "20261201T201500Z-999"];
    assert_eq!(run_id_shown(&older), "20261201T201500Z-999");
}
