//! `depends_on`: tasks that start from other tasks' branches once those have succeeded. Order
//! is read from a log the sessions append to, never from a clock.

use std::path::Path;

use serde_json::{Value, json};

use crate::support::*;

/// A prompt that appends "start NAME PORCH_BASE" and "end NAME" to `log`, writing NAME.txt
/// in between.
fn logged(log: &Path, name: &str) -> String {
    format!(
        "@bash echo start {name} $PORCH_BASE >> {log}\n@write {name}.txt {name}\n@bash echo end {name} >> {log}",
        log = log.display()
    )
}

/// The position of the line of `order` that starts with `prefix`.
fn at(order: &[String], prefix: &str) -> usize {
    (order.iter().position(|l| l.starts_with(prefix)))
        .unwrap_or_else(|| panic!("no {prefix:?} in {order:?}"))
}

#[test]
fn a_chain_runs_in_order_and_each_branch_holds_the_work_before_it() {
    let sandbox = Sandbox::new();
    let log = sandbox.path().join("order.log");
    // c is first in the file: dependencies, not file order, decide.
    let tasks = json!([
        {"name": "c", "prompt": logged(&log, "c"), "depends_on": ["b"]},
        {"name": "b", "prompt": logged(&log, "b"), "depends_on": ["a"]},
        {"name": "a", "prompt": logged(&log, "a")},
    ]);
    let run = sandbox.run_tasks_json(&tasks, &["-j", "3"]);
    run.expect_code(0);
    let order = file_lines(&log);
    // Each line without the base commit that "start" lines carry.
    let steps: Vec<String> = (order.iter())
        .map(|l| l.split(' ').take(2).collect::<Vec<_>>().join(" "))
        .collect();
    assert_eq!(
        steps,
        ["start a", "end a", "start b", "end b", "start c", "end c"],
        "{run}"
    );
    for (file, text) in [("a.txt", "a"), ("b.txt", "b"), ("c.txt", "c")] {
        assert_eq!(sandbox.show("task/c", file), text);
    }
    let results = sandbox.results();
    let c = task(&results, "c");
    assert_eq!(c["base_branch"], "task/b", "{c:#}");
    let b_head = sandbox.rev("task/b");
    assert_eq!(c["base_commit"], b_head.as_str(), "{c:#}");
    assert_eq!(
        order[at(&order, "start c")],
        format!("start c {b_head}"),
        "PORCH_BASE"
    );
    assert_eq!(c["files_changed"], 1, "only c's own work counts: {c:#}");
    assert_eq!(c["commits"], 1, "{c:#}");
    let b = task(&results, "b");
    assert_eq!(b["base_commit"], sandbox.rev("task/a").as_str());
}

#[test]
fn a_diamond_merges_both_branches_for_the_last_task_on_a_temporary_ref() {
    let sandbox = Sandbox::new();
    let log = sandbox.path().join("order.log");
    let tasks = json!([
        {"name": "a", "prompt": logged(&log, "a")},
        {"name": "b", "prompt": logged(&log, "b"), "depends_on": ["a"]},
        {"name": "c", "prompt": logged(&log, "c"), "depends_on": ["a"]},
        {"name": "d", "prompt": logged(&log, "d"), "depends_on": ["b", "c"]},
    ]);
    let run = sandbox.run_tasks_json(&tasks, &["-j", "4"]);
    run.expect_code(0);
    let order = file_lines(&log);
    assert!(at(&order, "end a") < at(&order, "start b"), "{order:?}");
    assert!(at(&order, "end a") < at(&order, "start c"), "{order:?}");
    assert!(at(&order, "end b") < at(&order, "start d"), "{order:?}");
    assert!(at(&order, "end c") < at(&order, "start d"), "{order:?}");
    for (file, text) in [
        ("a.txt", "a"),
        ("b.txt", "b"),
        ("c.txt", "c"),
        ("d.txt", "d"),
    ] {
        assert_eq!(sandbox.show("task/d", file), text);
    }
    // d starts from a merge of b and c, which moves neither branch.
    let results = sandbox.results();
    let d = task(&results, "d");
    assert_eq!(d["base_branch"], "task/b + task/c", "{d:#}");
    let base = d["base_commit"].as_str().unwrap().to_string();
    let parents = sandbox.git(&["rev-list", "--parents", "-n", "1", &base]);
    let parents: Vec<&str> = parents.split_whitespace().skip(1).collect();
    let (b, c) = (sandbox.rev("task/b"), sandbox.rev("task/c"));
    assert_eq!(parents, [b.as_str(), c.as_str()]);
    assert_eq!(
        task(&results, "b")["base_commit"],
        task(&results, "c")["base_commit"]
    );
    assert_eq!(
        order[at(&order, "start d")],
        format!("start d {base}"),
        "PORCH_BASE"
    );
    assert_eq!(d["files_changed"], 1, "only d's own work counts: {d:#}");
    // `task/b + task/c` names no revision: the review command starts from the merge commit.
    run.expect_stdout(&format!("diff {base}...task/d"));
    assert_eq!(
        sandbox.git(&["for-each-ref", "refs/porch/bases"]),
        "",
        "the temporary ref is gone"
    );
}

#[test]
fn a_failed_dependency_skips_its_dependants_without_worktree_or_branch() {
    let sandbox = Sandbox::new();
    let tasks = json!([
        {"name": "a", "prompt": "@api-error 400 bad request"},
        {"name": "b", "prompt": "@write b.txt b", "depends_on": ["a"]},
        {"name": "c", "prompt": "@write c.txt c", "depends_on": ["b"]},
        {"name": "free", "prompt": "@write f.txt f"},
    ]);
    let run = sandbox.run_tasks_json(&tasks, &["-j", "4"]);
    run.expect_code(1);
    let results = sandbox.results();
    assert_eq!(status(&results, "a"), "failed");
    assert_eq!(status(&results, "free"), "succeeded");
    for (name, error) in [
        ("b", "not started: it depends on `a`, which failed"),
        ("c", "not started: it depends on `b`, which was skipped"),
    ] {
        let t = task(&results, name);
        assert_eq!(t["status"], "skipped", "{t:#}");
        assert_eq!(t["error"], error, "{t:#}");
        assert_eq!(t["worktree_kept"], false);
        assert!(!sandbox.worktree(name).exists(), "{name} has no worktree");
    }
    assert_eq!(sandbox.branches(), ["main", "task/a", "task/free"]);
    assert_eq!(results["summary"]["skipped"], 2);
    run.expect_stdout("it depends on `a`, which failed");
}

#[test]
fn bad_dependencies_are_refused_before_anything_is_created() {
    let two = |b: Value| json!([{"name": "a", "prompt": "x"}, b]);
    let cases = [
        (
            json!([
                {"name": "a", "prompt": "x", "depends_on": ["b"]},
                {"name": "b", "prompt": "x", "depends_on": ["c"]},
                {"name": "c", "prompt": "x", "depends_on": ["a"]},
            ]),
            "tasks[0] (\"a\"): field `depends_on`: a cycle: a → b → c → a",
        ),
        (
            two(json!({"name": "b", "prompt": "x", "depends_on": ["nope"]})),
            "tasks[1] (\"b\"): field `depends_on`: \"nope\" is not the name of a task in this file",
        ),
        (
            two(json!({"name": "b", "prompt": "x", "depends_on": ["b"]})),
            "tasks[1] (\"b\"): field `depends_on`: \"b\" depends on itself",
        ),
        (
            two(json!({"name": "b", "prompt": "x", "depends_on": ["a"], "base_branch": "main"})),
            "field `depends_on`: cannot be given together with `base_branch`",
        ),
        (
            two(json!({"name": "b", "prompt": "x", "depends_on": "a"})),
            "field `depends_on`: must be a list of strings",
        ),
    ];
    for (tasks, message) in cases {
        let sandbox = Sandbox::new();
        let run = sandbox.run_tasks_json(&tasks, &[]);
        run.expect_code(2)
            .expect_stderr(message)
            .expect_stderr("hint:");
        assert!(sandbox.created_outside_repo().is_empty(), "{run}");
        assert_eq!(sandbox.branches(), ["main"]);
    }
}

#[test]
fn leaving_out_a_dependency_of_a_kept_task_is_refused() {
    let tasks = json!([
        {"name": "a", "prompt": "x"},
        {"name": "b", "prompt": "x", "depends_on": ["a"]},
    ]);
    for (flag, hint) in [
        ("--only", "add `a` to --only, or leave `b` out too"),
        ("--skip", "drop `a` from --skip, or skip `b` too"),
    ] {
        let sandbox = Sandbox::new();
        let name = if flag == "--only" { "b" } else { "a" };
        let run = sandbox.run_tasks_json(&tasks, &[flag, name]);
        run.expect_code(2)
            .expect_stderr(&format!("{flag} leaves out `a`, which task `b` depends on"))
            .expect_stderr(hint);
        assert!(sandbox.created_outside_repo().is_empty(), "{run}");
    }
}

#[test]
fn conflicting_dependencies_fail_the_dependant_naming_branches_and_files() {
    let sandbox = Sandbox::new();
    let tasks = json!([
        {"name": "a", "prompt": "@write README.md from a\n@write a.txt a"},
        {"name": "b", "prompt": "@write README.md from b\n@write b.txt b"},
        {"name": "c", "prompt": "@write c.txt c", "depends_on": ["a", "b"]},
    ]);
    let run = sandbox.run_tasks_json(&tasks, &["-j", "3"]);
    run.expect_code(1);
    let results = sandbox.results();
    let c = task(&results, "c");
    assert_eq!(c["status"], "failed", "{c:#}");
    assert_eq!(
        c["error"],
        "not started: the branches it depends on conflict: merging task/b into task/a conflicts in README.md",
        "{c:#}"
    );
    assert!(!sandbox.worktree("c").exists());
    assert_eq!(sandbox.branches(), ["main", "task/a", "task/b"]);
    assert_eq!(sandbox.git(&["for-each-ref", "refs/porch/bases"]), "");
}

#[test]
fn several_dependencies_on_a_git_without_merge_tree_are_refused_before_anything_runs() {
    let sandbox = Sandbox::new();
    // The real git, but saying it is 2.30, which has no `merge-tree --write-tree`.
    let new_path = fake_git(&sandbox, GIT_2_30);
    let merging = json!([
        {"name": "a", "prompt": "@write a.txt a"},
        {"name": "b", "prompt": "@write b.txt b"},
        {"name": "c", "prompt": "@write c.txt c", "depends_on": ["a", "b"]},
    ]);
    let file = sandbox.tasks_json(&json!({ "tasks": merging }));
    let run = sandbox.porch_run_tasks(&file).env("PATH", &new_path).run();
    run.expect_code(2)
        .expect_stderr("task `c`: depends_on: porch merges the branches")
        .expect_stderr("git 2.30 lacks")
        .expect_stderr("hint: install git 2.38 or later");
    assert_eq!(sandbox.created_outside_repo(), ["bin"], "{run}");
    assert_eq!(sandbox.branches(), ["main"]);

    // One dependency needs no merge: the same git runs it.
    let chain = json!([
        {"name": "a", "prompt": "@write a.txt a"},
        {"name": "c", "prompt": "@write c.txt c", "depends_on": ["a"]},
    ]);
    let file = sandbox.tasks_json(&json!({ "tasks": chain }));
    sandbox
        .porch_run_tasks(&file)
        .env("PATH", &new_path)
        .run()
        .expect_code(0);
}

#[test]
fn a_dependant_and_the_branch_it_built_on_are_not_reported_as_an_overlap() {
    let sandbox = Sandbox::new();
    let tasks = json!([
        {"name": "a", "prompt": "@write notes.txt from a"},
        {"name": "b", "prompt": "@edit notes.txt from by b", "depends_on": ["a"]},
        {"name": "c", "prompt": "@write notes.txt from c"},
    ]);
    sandbox.run_tasks_json(&tasks, &[]).expect_code(0);
    let results = sandbox.results();
    assert_eq!(sandbox.show("task/b", "notes.txt"), "by b a");
    // b holds a's work: merging them cannot conflict. c collides with both.
    assert_eq!(
        results["conflicts"],
        json!([
            {"tasks": ["a", "c"], "files": ["notes.txt"], "clean": false},
            {"tasks": ["b", "c"], "files": ["notes.txt"], "clean": false},
        ]),
        "{results:#}"
    );
}
