//! One tasks file over many machines: `--push` to a remote, `--shard K/N`, `merge-results`.
//! Machines are clones of one repository here, the remote a bare repository beside them.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::support::*;

/// A bare repository at `sandbox/NAME`; with `reject`, a pre-receive hook refuses every push.
fn bare_remote(sandbox: &Sandbox, name: &str, reject: bool) -> PathBuf {
    let path = sandbox.path().join(name);
    sandbox.git(&["init", "-q", "--bare", path_str(&path)]);
    if reject {
        write_script(
            &path.join("hooks/pre-receive"),
            "#!/bin/sh\necho 'refused by policy' >&2\nexit 1\n",
        );
    }
    path
}

/// The branches a bare repository holds, and the commit of each.
fn remote_branches(sandbox: &Sandbox, remote: &Path) -> Vec<(String, String)> {
    sandbox
        .git_in(
            remote,
            &["for-each-ref", "--format=%(refname:short) %(objectname)"],
        )
        .lines()
        .map(|line| {
            let (name, commit) = line.split_once(' ').unwrap();
            (name.to_string(), commit.to_string())
        })
        .collect()
}

fn sha256_of(path: &Path) -> String {
    let out = Command::new("sha256sum").arg(path).output().unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap()[..64].to_string()
}

#[test]
fn push_sends_every_branch_to_the_remote_once_its_work_is_committed() {
    let sandbox = Sandbox::new();
    let remote = bare_remote(&sandbox, "remote.git", false);
    sandbox.git(&["remote", "add", "origin", path_str(&remote)]);
    let tasks = sandbox.tasks(&[
        ("a", "@write a.txt from a"),
        ("b", "@write b.txt from b"),
        ("failing", "@write half.txt half\n@api-error 500 boom"),
    ]);
    let run = sandbox
        .porch_run_tasks(&tasks)
        .args(["--push", "origin"])
        .run();
    run.expect_code(1)
        .expect_stdout("pushed 3 of 3 branches to origin");
    let results = sandbox.results();
    for name in ["a", "b", "failing"] {
        let push = &task(&results, name)["push"];
        assert_eq!(push["remote"], "origin", "{push:#}");
        assert_eq!(push["ok"], true, "{push:#}");
        assert!(push["error"].is_null(), "{push:#}");
    }
    assert_eq!(status(&results, "failing"), "failed");
    let local = |branch: &str| sandbox.rev(branch);
    assert_eq!(
        remote_branches(&sandbox, &remote),
        vec![
            ("task/a".to_string(), local("task/a")),
            ("task/b".to_string(), local("task/b")),
            ("task/failing".to_string(), local("task/failing")),
        ],
        "each branch arrives as committed, the failed task's work too"
    );
    assert_eq!(
        sandbox.git_in(&remote, &["show", "task/a:a.txt"]).trim(),
        "from a"
    );
    assert_eq!(results["tasks_file_hash"], sha256_of(&tasks));
    assert!(results["shard"].is_null(), "{results:#}");
    assert_eq!(
        results["tasks_file_order"],
        serde_json::json!(["a", "b", "failing"])
    );
}

#[test]
fn a_refused_push_fails_the_push_not_the_task_and_exits_1() {
    let sandbox = Sandbox::new();
    let remote = bare_remote(&sandbox, "strict.git", true);
    let tasks = sandbox.tasks(&[("a", "@write a.txt from a")]);
    // A path relative to the current directory, as a user types it.
    let run = sandbox
        .porch_run_tasks(&tasks)
        .args(["--push", "strict.git"])
        .run();
    run.expect_code(1)
        .expect_stdout("push: task/a did not reach")
        .expect_stdout("pushed 0 of 1 branches to");
    let results = sandbox.results();
    let a = task(&results, "a");
    assert_eq!(a["status"], "succeeded", "the work is done: {a:#}");
    assert_eq!(a["push"]["ok"], false, "{a:#}");
    assert_eq!(
        a["push"]["remote"],
        path_str(&remote.canonicalize().unwrap()),
        "{a:#}"
    );
    let error = a["push"]["error"].as_str().unwrap();
    assert!(
        error.contains("pre-receive hook declined") && error.contains("refused by policy"),
        "{error}"
    );
    // git's several lines, as one.
    assert!(!error.contains('\n'), "{error:?}");
    assert!(remote_branches(&sandbox, &remote).is_empty());
    assert_eq!(
        sandbox.git(&["show", "task/a:a.txt"]).trim(),
        "from a",
        "the branch holds the work here"
    );
}

#[test]
fn a_remote_git_cannot_reach_is_refused_before_anything_is_created() {
    let sandbox = Sandbox::new();
    let tasks = sandbox.tasks(&[("a", "@write a.txt x")]);
    for remote in ["nowhere", "/no/such/repo.git"] {
        let run = sandbox
            .porch_run_tasks(&tasks)
            .args(["--push", remote])
            .run();
        run.expect_code(2)
            .expect_stderr(&format!(
                "porch: error: --push {remote}: git cannot reach it"
            ))
            .expect_stderr("hint: name a remote of");
        assert_eq!(sandbox.branches(), vec!["main".to_string()]);
        assert!(
            sandbox.created_outside_repo().is_empty(),
            "{:?}",
            sandbox.created_outside_repo()
        );
    }
    sandbox
        .porch_run_tasks(&tasks)
        .args(["--push", "-x"])
        .run()
        .expect_code(2)
        .expect_stderr("--push `-x` is not a remote");
}

/// FNV-1a, 64 bits, written again here: the shard a task lands in is defined by the name
/// alone, so a test can compute it without porch.
fn fnv1a_64(bytes: &[u8]) -> u64 {
    bytes
        .iter()
        .fold(0xcbf2_9ce4_8422_2325, |hash: u64, &byte| {
            (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
        })
}

fn names(results: &Value) -> Vec<String> {
    results["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_string())
        .collect()
}

fn read_json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// `porch run TASKS CLONE --shard K/N --push origin` for one machine: its own clone, worktree
/// directory and results file.
fn shard_run(sandbox: &Sandbox, tasks: &Path, machine: &Path, shard: &str, k: u32) -> Porch {
    let mut porch = sandbox.porch(&["run"]);
    porch
        .arg(tasks)
        .arg(machine)
        .args(["--shard", shard, "--push", "origin"])
        .agent(fixture_agent())
        .worktree_dir(sandbox.path().join(format!("wt-{k}")))
        .output(sandbox.path().join(format!("results-{k}.json")));
    porch
}

#[test]
fn shards_on_many_machines_run_every_task_once_and_their_branches_meet_in_one_remote() {
    const MACHINES: u32 = 3;
    let sandbox = Sandbox::new();
    let hub = sandbox.path().join("hub.git");
    sandbox.git(&["clone", "-q", "--bare", ".", path_str(&hub)]);
    // Ten tasks, the fifth repeated: its two attempts are one task to the shards.
    let file_names: Vec<String> = (0..10).map(|i| format!("task-{i}")).collect();
    let list: Vec<Value> = file_names
        .iter()
        .map(|name| {
            let prompt = format!("@write {name}.txt done by {name}");
            let mut task = serde_json::json!({"name": name, "prompt": prompt});
            if name == "task-4" {
                task["repeat"] = 2.into();
            }
            task
        })
        .collect();
    let tasks = sandbox.tasks_json(&serde_json::json!({ "tasks": list }));
    let all: Vec<String> = file_names
        .iter()
        .flat_map(|name| match name.as_str() {
            "task-4" => vec!["task-4-1".to_string(), "task-4-2".to_string()],
            _ => vec![name.clone()],
        })
        .collect();
    let mut running = Vec::new();
    for k in 1..=MACHINES {
        let machine = sandbox.path().join(format!("machine-{k}"));
        sandbox.git(&["clone", "-q", path_str(&hub), path_str(&machine)]);
        let shard = format!("{k}/{MACHINES}");
        running.push(shard_run(&sandbox, &tasks, &machine, &shard, k).spawn(&format!("shard-{k}")));
    }
    let mut ran = Vec::new();
    for (k, porch) in (1..=MACHINES).zip(running.iter_mut()) {
        porch.wait().expect_code(0);
        let results = read_json(&sandbox.path().join(format!("results-{k}.json")));
        assert_eq!(
            results["shard"],
            serde_json::json!({"index": k, "count": MACHINES})
        );
        assert_eq!(results["tasks_file_hash"], sha256_of(&tasks));
        for name in names(&results) {
            // An attempt of the repeated task lands by the task's name in the file.
            let in_file = if name.starts_with("task-4-") {
                "task-4"
            } else {
                &name
            };
            assert_eq!(
                fnv1a_64(in_file.as_bytes()) % u64::from(MACHINES) + 1,
                u64::from(k),
                "{name} is in the shard its name's hash picks"
            );
            ran.push(name);
        }
    }
    ran.sort();
    let mut expected = all.clone();
    expected.sort();
    assert_eq!(ran, expected, "every task ran, and no task twice");

    let arrived: Vec<String> = remote_branches(&sandbox, &hub)
        .into_iter()
        .map(|(branch, _)| branch)
        .filter(|branch| branch != "main")
        .collect();
    let mut wanted: Vec<String> = all.iter().map(|n| format!("task/{n}")).collect();
    wanted.sort();
    assert_eq!(arrived, wanted, "every branch arrived in the one remote");
    assert_eq!(
        sandbox
            .git_in(&hub, &["show", "task/task-7:task-7.txt"])
            .trim(),
        "done by task-7"
    );

    let files: Vec<String> = (1..=MACHINES)
        .map(|k| path_str(&sandbox.path().join(format!("results-{k}.json"))).to_string())
        .collect();
    let mut args = vec!["merge-results"];
    args.extend(files.iter().rev().map(String::as_str));
    let merge = sandbox.porch(&args).run();
    merge
        .expect_code(0)
        .expect_stderr("porch: merged 3 results file(s): 11 task(s)")
        .expect_stderr("11 of 11 tasks succeeded")
        .expect_stderr("pushed 11 of 11 branches to origin");
    let merged: Value = serde_json::from_str(&merge.stdout()).expect("stdout is the JSON");
    assert_eq!(names(&merged), all, "in tasks-file order");
    assert_eq!(merged["summary"]["total"], 11);
    assert_eq!(merged["summary"]["succeeded"], 11);
    assert_eq!(merged["tasks_file_hash"], sha256_of(&tasks));
    assert_eq!(merged["merged_from"].as_array().unwrap().len(), 3);

    let out = sandbox.path().join("all.json");
    let mut args = vec!["merge-results", "-o", path_str(&out)];
    args.extend(files.iter().map(String::as_str));
    let written = sandbox.porch(&args).run();
    written.expect_code(0);
    assert!(written.stdout().is_empty(), "{}", written.stdout());
    assert_eq!(names(&read_json(&out)), all);
}

#[test]
fn an_empty_shard_runs_nothing_and_says_so() {
    let sandbox = Sandbox::new();
    let tasks = sandbox.tasks(&[("only-one", "@write a.txt x")]);
    let home = (fnv1a_64(b"only-one") % 2 + 1) as u32;
    let other = 3 - home;
    let run = sandbox
        .porch_run_tasks(&tasks)
        .args(["--shard", &format!("{other}/2")])
        .run();
    run.expect_code(0);
    let results = sandbox.results();
    assert_eq!(results["tasks"], serde_json::json!([]));
    assert_eq!(results["summary"]["total"], 0);
    assert_eq!(
        results["shard"],
        serde_json::json!({"index": other, "count": 2})
    );
    assert_eq!(sandbox.branches(), vec!["main".to_string()]);
    let run = sandbox
        .porch_run_tasks(&tasks)
        .args(["--shard", &format!("{home}/2")])
        .run();
    run.expect_code(0);
    assert_eq!(names(&sandbox.results()), ["only-one"]);
    for (shard, message) in [
        ("3/2", "--shard `3/2` names shard 3 of only 2"),
        ("x", "--shard `x` is not of the form K/N"),
    ] {
        sandbox
            .porch_run_tasks(&tasks)
            .args(["--shard", shard])
            .run()
            .expect_code(2)
            .expect_stderr(message);
    }
}

#[test]
fn merge_results_refuses_files_that_do_not_belong_together() {
    let sandbox = Sandbox::new();
    let tasks = sandbox.tasks(&[("a", "@say a"), ("b", "@say b")]);
    sandbox.porch_run_tasks(&tasks).run().expect_code(0);
    let good = sandbox.results_path();
    let variant = |name: &str, field: &str, value: Value| {
        let mut results = sandbox.results();
        results[field] = value;
        results["tasks"] = serde_json::json!([]);
        let path = sandbox.path().join(name);
        std::fs::write(&path, serde_json::to_string(&results).unwrap()).unwrap();
        path
    };
    let other_file = variant("other.json", "tasks_file_hash", "0".repeat(64).into());
    let newer = variant("newer.json", "version", 2.into());
    let missing = sandbox.path().join("missing.json");
    let good = path_str(&good);
    // (the second file, what the message says)
    let cases = [
        (good.to_string(), format!("{good} is given twice")),
        (
            path_str(&other_file).to_string(),
            format!(
                "{good} and {} are results of different tasks files",
                path_str(&other_file)
            ),
        ),
        (
            path_str(&newer).to_string(),
            format!("{}: results schema version 2, not 1", path_str(&newer)),
        ),
        (
            path_str(&missing).to_string(),
            format!("{}: cannot be read", path_str(&missing)),
        ),
        (
            path_str(&tasks).to_string(),
            format!("{}: is not a porch results file", path_str(&tasks)),
        ),
    ];
    let out = sandbox.path().join("merged.json");
    for (second, message) in cases {
        let run = sandbox
            .porch(&["merge-results", "-o", path_str(&out), good, &second])
            .run();
        run.expect_code(2)
            .expect_stderr(&format!("porch: error: {message}"))
            .expect_stderr("hint: ");
        assert!(!out.exists(), "nothing written for {second}");
    }
    sandbox
        .porch(&["merge-results"])
        .run()
        .expect_code(2)
        .expect_stderr("no results files to merge");
}

#[test]
fn a_resumed_shard_keeps_its_shard_and_pushes_what_it_ran_again() {
    let sandbox = Sandbox::new();
    let remote = bare_remote(&sandbox, "remote.git", false);
    sandbox.git(&["remote", "add", "origin", path_str(&remote)]);
    let counter = sandbox.path().join("flaky-count");
    let flaky = format!(
        "@write part.txt first\n@fail-times 1 {} 400 Bad request\n@write rest.txt second",
        counter.display()
    );
    let tasks = sandbox.tasks(&[("good", "@write good.txt fine"), ("flaky", &flaky)]);
    sandbox
        .porch_run_tasks(&tasks)
        .without_output()
        .args(["--shard", "1/1", "--push", "origin"])
        .run()
        .expect_code(1);
    let first_flaky = sandbox.git(&["rev-parse", "task/flaky"]);
    let mut resume = sandbox.porch(&["resume", "--push", "origin"]);
    resume
        .agent(fixture_agent())
        .worktree_dir(sandbox.worktree_dir())
        .current_dir(sandbox.repo());
    resume.run().expect_code(0);
    let latest = sandbox.worktree_dir().join("repo/.porch/results.json");
    let results = read_json(&latest);
    assert_eq!(
        results["shard"],
        serde_json::json!({"index": 1, "count": 1})
    );
    assert_eq!(task(&results, "flaky")["status"], "succeeded");
    assert_eq!(task(&results, "flaky")["push"]["ok"], true);
    assert_eq!(
        task(&results, "good")["push"]["ok"],
        true,
        "the task carried over keeps its push"
    );
    let flaky_tip = sandbox.git(&["rev-parse", "task/flaky"]);
    assert_ne!(flaky_tip, first_flaky, "the resume added its work");
    let remote_tip = sandbox.git_in(&remote, &["rev-parse", "task/flaky"]);
    assert_eq!(
        remote_tip, flaky_tip,
        "and pushed it on top of the first push"
    );
    sandbox
        .porch(&["resume", "--shard", "1/2"])
        .current_dir(sandbox.repo())
        .run()
        .expect_code(2)
        .expect_stderr("porch resume takes no --only, --skip or --shard");
}

#[test]
fn tasks_joined_by_depends_on_share_the_shard_of_their_first_task() {
    let sandbox = Sandbox::new();
    // Alone, FNV-1a would put api in shard 1 of 3 and schema and ui in shard 2: as one unit they
    // go where its first task in file order, api, goes.
    let tasks = sandbox.tasks_json(&serde_json::json!({"tasks": [
        {"name": "docs", "prompt": "@write docs.txt d"},
        {"name": "api", "prompt": "@write api.txt a", "depends_on": ["schema"]},
        {"name": "schema", "prompt": "@write schema.txt s"},
        {"name": "ui", "prompt": "@write ui.txt u", "depends_on": ["api"]},
        {"name": "lint", "prompt": "@write lint.txt l"},
        {"name": "tests", "prompt": "@write tests.txt t"}
    ]}));
    for (name, alone) in [
        ("api", 1),
        ("schema", 2),
        ("ui", 2),
        ("docs", 2),
        ("lint", 1),
        ("tests", 3),
    ] {
        assert_eq!(fnv1a_64(name.as_bytes()) % 3 + 1, alone, "{name}");
    }
    let expected: [&[&str]; 3] = [&["api", "schema", "ui", "lint"], &["docs"], &["tests"]];
    for (k, names_in_shard) in (1..=3).zip(expected) {
        sandbox
            .porch_run_tasks(&tasks)
            .args(["--shard", &format!("{k}/3")])
            .run()
            .expect_code(0);
        assert_eq!(names(&sandbox.results()), names_in_shard, "shard {k}/3");
    }
    assert_eq!(
        sandbox.git(&["show", "task/ui:schema.txt"]).trim(),
        "s",
        "ui started from api's branch, which started from schema's: one machine had them all"
    );
}
