//! One tasks file over many machines: `--push` to a remote, `--shard K/N`, `merge-results`.
//! Machines are clones of one repository here, the remote a bare repository beside them.

use std::path::{Path, PathBuf};
use std::process::Command;

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
    let local = |branch: &str| sandbox.git(&["rev-parse", branch]).trim().to_string();
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
