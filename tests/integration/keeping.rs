//! The commands after a run keep the user's work: `clean` keeps a worktree holding ignored
//! files a session wrote, `merge --into` never replaces a file git does not track in a checkout
//! of the target, and `resume` finds what a killed run did not record.

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use serde_json::{Value, json};

use crate::after::{after, latest_results, run_stored, stored_run};
use crate::support::{self, DEADLINE, Reaper, Sandbox, task, wait_until};

/// The sandbox's repository with `file` ignored too.
fn ignoring(file: &str) -> Sandbox {
    let sandbox = Sandbox::new();
    let ignored = format!("ignored/\n*.log\n{file}\n");
    std::fs::write(sandbox.repo().join(".gitignore"), ignored).unwrap();
    sandbox.git(&["add", "."]);
    sandbox.commit(&format!("ignore {file}"));
    sandbox
}

/// Tasks `ok` and `flaky`, which fails its first session (400) and writes `f.txt` in the next.
pub(crate) fn ok_and_flaky(sandbox: &Sandbox) -> PathBuf {
    let counter = sandbox.path().join("counter");
    let flaky = format!(
        "@fail-times 1 {} 400 Bad request\n@write f.txt f",
        counter.display()
    );
    sandbox.tasks(&[("ok", "@write a.txt a"), ("flaky", &flaky)])
}

#[test]
fn clean_keeps_a_worktree_holding_ignored_files_the_session_wrote_until_forced() {
    let sandbox = ignoring(".env.local");
    let tasks = sandbox.tasks(&[
        ("env", "@write .env.local SECRET=1\n@write a.txt a"),
        ("plain", "@write p.txt p"),
    ]);
    run_stored(&sandbox, &tasks).expect_code(0);
    let env = sandbox.worktree("env");
    let clean = after(&sandbox, &["clean"]).run();
    clean.expect_code(0).expect_stdout(&format!(
        "kept worktree {}: it holds files git ignores, which no branch has: .env.local; --force removes it",
        env.display()
    ));
    assert_eq!(
        std::fs::read_to_string(env.join(".env.local")).unwrap(),
        "SECRET=1"
    );
    assert!(!sandbox.worktree("plain").exists(), "{clean}");

    // Once the file is gone, nothing holds the worktree back.
    std::fs::remove_file(env.join(".env.local")).unwrap();
    after(&sandbox, &["clean"])
        .run()
        .expect_code(0)
        .expect_stdout(&format!("removed worktree {}", env.display()));
    assert!(!env.exists());
}

/// The results list an ignored file under its shown name, where a task's `env` value is
/// hidden (`.env.[env NODE_ENV]`): that name is no file, and clean must not take it for gone.
#[test]
fn clean_keeps_ignored_files_whose_names_hold_an_env_value() {
    let sandbox = ignoring(".env.production");
    let tasks = sandbox.path().join("tasks.json");
    let list = json!([{
        "name": "env",
        "prompt": "@write .env.production LOCAL=1",
        "env": {"NODE_ENV": "production"},
    }]);
    std::fs::write(&tasks, list.to_string()).unwrap();
    run_stored(&sandbox, &tasks).expect_code(0);
    let results = latest_results(&sandbox).1;
    assert_eq!(
        task(&results, "env")["ignored_files"],
        json!([".env.[env NODE_ENV]"])
    );
    let env = sandbox.worktree("env");
    let clean = after(&sandbox, &["clean"]).run();
    clean
        .expect_code(0)
        .expect_stdout(&format!("kept worktree {}", env.display()))
        .expect_stdout(": .env.[env NODE_ENV]; --force removes it");
    assert!(!clean.stdout().contains("production"), "{clean}");
    assert_eq!(
        std::fs::read_to_string(env.join(".env.production")).unwrap(),
        "LOCAL=1",
        "{clean}"
    );
    // The real name is kept where only the user reads it, so clean looks for that file: gone,
    // the worktree holds nothing of it, and goes.
    let record = sandbox.worktree_dir().join("repo/.porch/ignored/env.json");
    let mode = std::fs::metadata(&record).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    std::fs::remove_file(env.join(".env.production")).unwrap();
    let clean = after(&sandbox, &["clean"]).run();
    clean
        .expect_code(0)
        .expect_stdout(&format!("removed worktree {}", env.display()));
    assert!(!env.exists() && !record.exists(), "{clean}");
}

#[test]
fn clean_force_removes_a_worktree_holding_ignored_files() {
    let sandbox = ignoring(".env.local");
    let tasks = sandbox.tasks(&[("env", "@write .env.local SECRET=1")]);
    run_stored(&sandbox, &tasks).expect_code(0);
    let results = latest_results(&sandbox).1;
    assert_eq!(
        task(&results, "env")["ignored_files"],
        serde_json::json!([".env.local"])
    );
    after(&sandbox, &["clean", "--force"])
        .run()
        .expect_code(0)
        .expect_stdout("removed worktree");
    assert!(!sandbox.worktree("env").exists());
}

#[test]
fn merge_into_a_checked_out_branch_refuses_to_replace_a_file_git_does_not_track_there() {
    let sandbox = ignoring("local.cfg");
    let tasks = sandbox.tasks(&[(
        "cfg",
        "@bash echo theirs > local.cfg && git add -f local.cfg\n@write c.txt c",
    )]);
    run_stored(&sandbox, &tasks).expect_code(0);
    assert_eq!(sandbox.git(&["show", "task/cfg:local.cfg"]), "theirs\n");
    let mine = sandbox.repo().join("local.cfg");
    std::fs::write(&mine, "mine\n").unwrap();
    let head = sandbox.git(&["rev-parse", "main"]);

    let refused = after(&sandbox, &["merge", "--into", "main"]).run();
    refused
        .expect_code(2)
        .expect_stderr(&format!(
            "--into main: the merge would replace files in {} that git does not track: local.cfg (ignored)",
            sandbox.repo().display()
        ))
        .expect_stderr("hint: nothing was merged: move them out of the way");
    assert_eq!(std::fs::read_to_string(&mine).unwrap(), "mine\n");
    assert_eq!(sandbox.git(&["rev-parse", "main"]), head);
    assert!(!sandbox.repo().join("c.txt").exists(), "{refused}");
    assert_eq!(sandbox.worktrees().len(), 2, "no merge worktree is left");

    std::fs::rename(&mine, sandbox.path().join("local.cfg.mine")).unwrap();
    after(&sandbox, &["merge", "--into", "main"])
        .run()
        .expect_code(0);
    assert_eq!(std::fs::read_to_string(&mine).unwrap(), "theirs\n");
}

/// Runs tasks `a` and `b`, and `c` depending on `depends_on`, and kills porch with SIGKILL
/// while `c`'s session runs (it wrote `c.txt`). Returns the file that lets `c` finish when
/// it runs again.
fn killed_while_a_dependant_runs(sandbox: &Sandbox, depends_on: &[&str]) -> PathBuf {
    let reaper = Reaper::new(sandbox);
    let started = sandbox.path().join("started");
    let go = sandbox.path().join("go");
    let c = format!(
        "@write c.txt c\n@touch {}\n@wait-for {}",
        started.display(),
        go.display()
    );
    let tasks = sandbox.tasks_json(&json!({"tasks": [
        {"name": "a", "prompt": "@write a.txt a"},
        {"name": "b", "prompt": "@write b.txt b"},
        {"name": "c", "prompt": c, "depends_on": depends_on},
    ]}));
    let mut porch = stored_run(sandbox, &tasks).spawn("run");
    wait_until("c's session starts", DEADLINE, || started.exists());
    porch.signal("KILL");
    let killed = porch.wait();
    assert_eq!(killed.code(), None, "porch died of SIGKILL\n{killed}");
    reaper.kill_all();
    std::fs::remove_file(&started).unwrap();
    go
}

/// `porch resume` with the fixture agent; c's session finishes this time.
fn resume_to_the_end(sandbox: &Sandbox, go: &PathBuf) -> Value {
    std::fs::write(go, "").unwrap();
    let mut resume = after(sandbox, &["resume"]);
    let resumed = resume.agent(support::fixture_agent()).run();
    resumed.expect_code(0);
    assert!(!resumed.stderr().contains("bad revision"), "{resumed}");
    assert!(!resumed.stdout().contains("bad revision"), "{resumed}");
    let results = latest_results(sandbox).1;
    assert!(results["conflicts_note"].is_null(), "{results:#}");
    results
}

/// What task c's branch holds against its base, as the results say and as git says.
fn c_holds_only_its_own_work(sandbox: &Sandbox, results: &Value) {
    let c = task(results, "c");
    assert_eq!(c["status"], "succeeded", "{c:#}");
    assert_eq!(c["files_changed"], 1, "{c:#}");
    assert_eq!(c["warnings"], json!([]), "{c:#}");
    let base = c["base_commit"].as_str().unwrap();
    let changed = sandbox.git(&["diff", "--name-only", base, "task/c"]);
    assert_eq!(changed, "c.txt\n", "{c:#}");
}

#[test]
fn a_dependants_base_is_recorded_before_its_session_starts() {
    let sandbox = Sandbox::new();
    let go = killed_while_a_dependant_runs(&sandbox, &["b"]);
    let results = latest_results(&sandbox).1;
    let c = task(&results, "c");
    assert_eq!(c["status"], "running", "{c:#}");
    assert_eq!(c["base_branch"], "task/b", "{c:#}");
    let b = sandbox.git(&["rev-parse", "task/b"]);
    assert_eq!(c["base_commit"], b.trim(), "{c:#}");

    let results = resume_to_the_end(&sandbox, &go);
    c_holds_only_its_own_work(&sandbox, &results);
    assert_eq!(task(&results, "c")["base_commit"], b.trim());
}

/// A run killed before it could record the base (or by a porch that did not): resume finds
/// it in git, for one dependency and for the merge of several.
#[test]
fn resume_finds_a_base_the_killed_run_did_not_record() {
    for depends_on in [vec!["b"], vec!["a", "b"]] {
        let sandbox = Sandbox::new();
        let go = killed_while_a_dependant_runs(&sandbox, &depends_on);
        let (id, mut results) = latest_results(&sandbox);
        let c = results["tasks"]
            .as_array_mut()
            .unwrap()
            .iter_mut()
            .find(|t| t["name"] == "c")
            .unwrap();
        let recorded = c["base_commit"].clone();
        c["base_commit"] = json!("");
        let file = sandbox
            .worktree_dir()
            .join("repo/.porch/runs")
            .join(format!("{id}.json"));
        std::fs::write(&file, serde_json::to_vec_pretty(&results).unwrap()).unwrap();

        let results = resume_to_the_end(&sandbox, &go);
        c_holds_only_its_own_work(&sandbox, &results);
        if recorded != json!("") {
            assert_eq!(
                task(&results, "c")["base_commit"],
                recorded,
                "{depends_on:?}"
            );
        }
    }
}

/// A shard's results file as `porch run --shard K/3` writes it, every task succeeded.
fn shard_results(sandbox: &Sandbox, k: u32, tasks: &[&str]) -> String {
    let tasks: Vec<Value> = tasks
        .iter()
        .map(|name| json!({"name": name, "status": "succeeded", "branch": format!("task/{name}")}))
        .collect();
    let results = json!({
        "version": 1, "run_id": format!("run-{k}"), "tasks_file": "tasks.json",
        "tasks_file_hash": "5a1e", "tasks_file_order": ["a", "b", "c"],
        "shard": {"index": k, "count": 3}, "repo": "/src/shop",
        "started_at": "2026-12-01T20:00:00.000Z", "finished_at": "2026-12-01T20:10:00.000Z",
        "tasks": tasks
    });
    let path = sandbox.path().join(format!("results-{k}.json"));
    std::fs::write(&path, serde_json::to_vec(&results).unwrap()).unwrap();
    support::path_str(&path).to_string()
}

#[test]
fn merge_results_with_a_shard_missing_fails_unless_allowed() {
    let sandbox = Sandbox::new();
    let (one, two) = (
        shard_results(&sandbox, 1, &["a"]),
        shard_results(&sandbox, 2, &["b"]),
    );
    let out = sandbox.path().join("all.json");
    let merged = sandbox
        .porch(&["merge-results", "-o", support::path_str(&out), &one, &two])
        .run();
    merged
        .expect_code(1)
        .expect_stderr("porch: error: shard(s) 3/3 missing: their tasks did not run here")
        .expect_stderr("--allow-missing");
    // The merge is written all the same, for a report on what did run.
    assert_eq!(
        serde_json::from_slice::<Value>(&std::fs::read(&out).unwrap()).unwrap()["summary"]["total"],
        2
    );

    sandbox
        .porch(&["merge-results", "--allow-missing", &one, &two])
        .run()
        .expect_code(0)
        .expect_stderr("porch: warning: shard(s) 3/3 missing");
    let three = shard_results(&sandbox, 3, &["c"]);
    sandbox
        .porch(&["merge-results", &one, &two, &three])
        .run()
        .expect_code(0);
}

#[test]
fn resume_of_a_run_whose_repository_moved_says_so_and_finds_its_state() {
    let sandbox = Sandbox::new();
    run_stored(&sandbox, &ok_and_flaky(&sandbox)).expect_code(1);
    let (id, _) = latest_results(&sandbox);
    let results_file = sandbox
        .worktree_dir()
        .join("repo/.porch/runs")
        .join(format!("{id}.json"));
    let moved = sandbox.path().join("shop");
    std::fs::rename(sandbox.repo(), &moved).unwrap();

    // Without --run, porch looks where it would put this repository's state now: it says
    // where the runs are.
    let mut lost = after(&sandbox, &["resume"]);
    let lost = lost.current_dir(&moved).run();
    lost.expect_code(2).expect_stderr(&format!(
        "hint: the repository seems to have moved since its runs, which are in {}: name one by its results file, e.g. --run {}",
        results_file.parent().unwrap().display(),
        results_file.display()
    ));
    assert!(!lost.stderr().contains("--force"), "{lost}");

    // A dry run says what the resume would do, and links nothing: the worktree still names
    // the repository where it was.
    let link = sandbox.worktree("flaky").join(".git");
    let before = std::fs::read_to_string(&link).unwrap();
    let mut preview = after(
        &sandbox,
        &[
            "resume",
            "--dry-run",
            "--run",
            support::path_str(&results_file),
        ],
    );
    let preview = preview
        .current_dir(&moved)
        .agent(support::fixture_agent())
        .run();
    preview
        .expect_code(0)
        .expect_stderr("a resume would resume it from its state in ");
    assert_eq!(std::fs::read_to_string(&link).unwrap(), before, "{preview}");

    let mut resume = after(
        &sandbox,
        &["resume", "--run", support::path_str(&results_file)],
    );
    let resumed = resume
        .current_dir(&moved)
        .agent(support::fixture_agent())
        .run();
    resumed.expect_code(0).expect_stderr(&format!(
        "the repository moved from {} to {} since run {id}",
        sandbox.repo().display(),
        moved.display()
    ));
    assert!(!resumed.stderr().contains("--force"), "{resumed}");
    assert_eq!(sandbox.git_in(&moved, &["show", "task/flaky:f.txt"]), "f");
    // The resume is the moved repository's latest run now.
    let mut status = after(&sandbox, &["status"]);
    status
        .current_dir(&moved)
        .run()
        .expect_code(0)
        .expect_stdout("succeeded flaky");
}

#[test]
fn a_run_without_its_tasks_copy_is_not_resumed_and_nothing_says_to_delete_its_work() {
    let sandbox = Sandbox::new();
    let tasks = sandbox.tasks(&[("bad", "@write b.txt b\n@api-error 400 Bad request")]);
    run_stored(&sandbox, &tasks).expect_code(1);
    let (id, _) = latest_results(&sandbox);
    // As a porch older than the copies left it.
    let copy = sandbox
        .worktree_dir()
        .join("repo/.porch/tasks")
        .join(format!("{id}.json"));
    std::fs::remove_file(copy).unwrap();
    let mut resume = after(&sandbox, &["resume"]);
    let refused = resume.agent(support::fixture_agent()).run();
    refused
        .expect_code(2)
        .expect_stderr(&format!("run {id} kept no copy of its tasks"))
        .expect_stderr("its branches still hold its work")
        .expect_stderr(&format!(
            "porch merge --run {id} --worktree-dir {}",
            sandbox.worktree_dir().display()
        ));
    assert!(!refused.stderr().contains("--force"), "{refused}");
    assert!(sandbox.branches().contains(&"task/bad".to_string()));
}
