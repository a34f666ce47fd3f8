//! What a run tells about its branches besides the sessions: each task's `check`, the winner
//! of a repeated task's rival attempts, the branches that conflict.

use serde_json::json;

use crate::support::*;

#[test]
fn a_check_passes_or_fails_its_task_and_the_work_stays_committed() {
    let sandbox = Sandbox::new();
    let tasks = sandbox.tasks_json(&json!({
        "defaults": {"check": ["sh", "-c", "echo checking $PORCH_TASK; test -f done.txt"]},
        "tasks": [
            {"name": "works", "prompt": "@write done.txt yes"},
            {"name": "broken", "prompt": "@write half.txt no",
             "check": ["sh", "-c", "echo compiling; echo 'error: half.txt is half' >&2; exit 4"]},
            {"name": "unchecked", "prompt": "@write other.txt x", "check": null},
            {"name": "crashed", "prompt": "@write done.txt yes\n@api-error 500 boom"}
        ]
    }));
    let run = sandbox.porch_run_tasks(&tasks).run();
    run.expect_code(1);
    let results = sandbox.results();

    let works = task(&results, "works");
    assert_eq!(works["status"], "succeeded", "{works:#}");
    assert_eq!(works["check"]["exit_code"], 0, "{works:#}");
    assert!(works["check"]["duration_ms"].is_u64(), "{works:#}");

    let broken = task(&results, "broken");
    assert_eq!(broken["status"], "failed", "{broken:#}");
    assert_eq!(broken["check"]["exit_code"], 4, "{broken:#}");
    // stdout and stderr are read apart: their lines may come in either order.
    let error = broken["error"].as_str().unwrap();
    assert!(
        error.starts_with("check failed: exited with code 4; last lines: ")
            && error.contains("compiling")
            && error.contains("error: half.txt is half"),
        "{broken:#}"
    );
    assert_eq!(broken["commits"], 1, "the work stays committed: {broken:#}");
    assert_eq!(sandbox.git(&["show", "task/broken:half.txt"]).trim(), "no");

    let unchecked = task(&results, "unchecked");
    assert_eq!(unchecked["status"], "succeeded", "{unchecked:#}");
    assert!(unchecked["check"].is_null(), "{unchecked:#}");

    let crashed = task(&results, "crashed");
    assert_eq!(crashed["status"], "failed", "{crashed:#}");
    assert!(
        crashed["check"].is_null(),
        "no check after a failed session: {crashed:#}"
    );

    run.expect_stdout("[check] checking works")
        .expect_stdout("[check] error: half.txt is half");
    let log = std::fs::read_to_string(broken["log"].as_str().unwrap()).unwrap();
    assert!(
        log.contains("[check] compiling") && log.contains("[check] error: half.txt is half"),
        "{log}"
    );
    assert!(!run.stdout().contains("[check] checking crashed"));
}

#[test]
fn only_and_skip_run_a_subset_of_the_tasks_file() {
    let sandbox = Sandbox::new();
    let tasks = sandbox.tasks(&[("a", "@say a"), ("b", "@say b"), ("c", "@say c")]);
    let tasks = path_str(&tasks);
    let repo = sandbox.repo();
    sandbox
        .porch_run(&[tasks, path_str(&repo), "--only", "c,a"])
        .run()
        .expect_code(0);
    let results = sandbox.results();
    let names: Vec<&str> = results["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["a", "c"], "in file order: {results:#}");
    assert_eq!(sandbox.branches(), ["main", "task/a", "task/c"]);

    sandbox
        .porch_run(&[tasks, path_str(&repo), "--skip", "a,c"])
        .run()
        .expect_code(0);
    let results = sandbox.results();
    assert_eq!(results["tasks"].as_array().unwrap().len(), 1, "{results:#}");
    assert_eq!(task(&results, "b")["status"], "succeeded");
}

#[test]
fn only_and_skip_refuse_names_of_no_task_with_nothing_created() {
    let sandbox = Sandbox::new();
    let tasks = sandbox.tasks(&[("a", "@say a"), ("b", "@say b")]);
    let tasks = path_str(&tasks);
    let repo = sandbox.repo();
    // (the flags, what the error says)
    let cases: [(&[&str], &str); 5] = [
        (
            &["--only", "a,nope"],
            "--only names `nope`, which is no task of",
        ),
        (&["--skip", "B"], "--skip names `B`, which is no task of"),
        (&["--skip", "a,b"], "--skip leaves no task of"),
        (&["--only", "a,"], "--only `a,` holds an empty name"),
        (
            &["--only", "a", "--skip", "b"],
            "--only and --skip cannot be used together",
        ),
    ];
    for (flags, message) in cases {
        let mut args = vec![tasks, path_str(&repo)];
        args.extend_from_slice(flags);
        let run = sandbox.porch_run(&args).run();
        run.expect_code(2)
            .expect_stderr(message)
            .expect_stderr("hint:");
        assert_eq!(sandbox.branches(), ["main"], "{flags:?}");
        assert!(!sandbox.results_path().exists(), "{flags:?}");
    }
}

/// The tasks of the results, each as (name, group, winner).
fn groups_and_winners(
    results: &serde_json::Value,
) -> Vec<(String, serde_json::Value, serde_json::Value)> {
    results["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            let name = t["name"].as_str().unwrap().to_string();
            (name, t["group"].clone(), t["winner"].clone())
        })
        .collect()
}

#[test]
fn a_repeated_task_runs_its_attempts_and_the_one_whose_check_passes_wins() {
    let sandbox = Sandbox::new();
    // Every attempt gets the same prompt; only the check tells them apart.
    let tasks = sandbox.tasks_json(&json!({
        "tasks": [
            {"name": "solo", "prompt": "@write solo.txt s"},
            {"name": "fix", "repeat": 3,
             "prompt": "@bash printf '%s %s\\n' \"$PORCH_TASK\" \"$PORCH_GROUP\" > who.txt",
             "check": ["sh", "-c", "test \"$PORCH_TASK\" = fix-2"]}
        ]
    }));
    let run = sandbox.porch_run_tasks(&tasks).run();
    run.expect_code(1);
    let results = sandbox.results();
    assert_eq!(
        groups_and_winners(&results),
        [
            ("solo".to_string(), json!(null), json!(null)),
            ("fix-1".to_string(), json!("fix"), json!(false)),
            ("fix-2".to_string(), json!("fix"), json!(true)),
            ("fix-3".to_string(), json!("fix"), json!(false)),
        ],
        "{results:#}"
    );
    for (attempt, status) in [
        ("fix-1", "failed"),
        ("fix-2", "succeeded"),
        ("fix-3", "failed"),
    ] {
        assert_eq!(task(&results, attempt)["status"], status, "{results:#}");
        // Each its own branch, with its own name and the group's in its environment.
        let branch = format!("task/{attempt}:who.txt");
        assert_eq!(sandbox.git(&["show", &branch]), format!("{attempt} fix\n"));
    }
    assert_eq!(
        sandbox.branches(),
        [
            "main",
            "task/fix-1",
            "task/fix-2",
            "task/fix-3",
            "task/solo"
        ]
    );
    run.expect_stdout("rival attempts:")
        .expect_stdout("  fix: fix-2 won (1 lines changed, ")
        .expect_stdout("; 1 of 3 attempts succeeded");
}

#[test]
fn of_the_attempts_that_succeed_the_smallest_change_wins() {
    let sandbox = Sandbox::new();
    // fix-1 writes 3 lines, fix-2 one, fix-3 two: fix-2 wins whichever finishes first.
    let tasks = sandbox.tasks_json(&json!({
        "defaults": {"repeat": 3},
        "tasks": [
            {"name": "fix",
             "prompt": "@bash case $PORCH_TASK in fix-1) n=3;; fix-2) n=1;; *) n=2;; esac; seq $n > out.txt"},
            {"name": "lint", "prompt": "@api-error 500 boom"},
            {"name": "once", "prompt": "@say hi", "repeat": 1}
        ]
    }));
    let run = sandbox.porch_run_tasks(&tasks).run();
    run.expect_code(1);
    let results = sandbox.results();
    let lines = |name: &str| task(&results, name)["insertions"].as_u64().unwrap();
    assert_eq!(
        [lines("fix-1"), lines("fix-2"), lines("fix-3")],
        [3, 1, 2],
        "{results:#}"
    );
    let winners: Vec<(String, serde_json::Value)> = groups_and_winners(&results)
        .into_iter()
        .map(|(name, _, winner)| (name, winner))
        .collect();
    assert_eq!(
        winners,
        [
            ("fix-1".to_string(), json!(false)),
            ("fix-2".to_string(), json!(true)),
            ("fix-3".to_string(), json!(false)),
            // No attempt succeeded: none wins.
            ("lint-1".to_string(), json!(false)),
            ("lint-2".to_string(), json!(false)),
            ("lint-3".to_string(), json!(false)),
            ("once".to_string(), json!(null)),
        ],
        "{results:#}"
    );
    assert!(task(&results, "once")["group"].is_null());
    run.expect_stdout("  fix: fix-2 won (1 lines changed, ")
        .expect_stdout("  lint: no winner, none of 3 attempts succeeded");
}

#[test]
fn only_and_skip_name_a_repeated_task_as_written() {
    let sandbox = Sandbox::new();
    let tasks = sandbox.tasks_json(&json!({
        "tasks": [
            {"name": "a", "prompt": "@say a"},
            {"name": "fix", "prompt": "@say fix", "repeat": 2}
        ]
    }));
    let tasks = path_str(&tasks);
    let repo = sandbox.repo();
    sandbox
        .porch_run(&[tasks, path_str(&repo), "--only", "fix-1"])
        .run()
        .expect_code(2)
        .expect_stderr("--only names `fix-1`, which is no task of")
        .expect_stderr("hint: `fix-1` is an attempt of the repeated task `fix`")
        .expect_stderr("(--only fix)");
    sandbox
        .porch_run(&[tasks, path_str(&repo), "--skip", "a"])
        .run()
        .expect_code(0);
    assert_eq!(sandbox.branches(), ["main", "task/fix-1", "task/fix-2"]);
}

#[test]
fn an_attempt_named_like_another_task_is_refused_naming_both() {
    let sandbox = Sandbox::new();
    let tasks = sandbox.tasks_json(&json!({
        "tasks": [
            {"name": "fix", "prompt": "@say fix", "repeat": 2},
            {"name": "fix-2", "prompt": "@say other"}
        ]
    }));
    sandbox
        .porch_run_tasks(&tasks)
        .run()
        .expect_code(2)
        .expect_stderr(
            "tasks[0] (\"fix\"): field `repeat`: 2 runs the attempt \"fix-2\", which is also the name of tasks[1] (\"fix-2\")",
        )
        .expect_stderr("hint: ");
    assert_eq!(sandbox.branches(), ["main"]);
    assert!(!sandbox.results_path().exists());
}

#[test]
fn branches_that_change_a_common_file_are_merged_by_git_and_conflicts_named() {
    let sandbox = Sandbox::new();
    std::fs::write(
        sandbox.repo().join("lines.txt"),
        "one\ntwo\nthree\nfour\nfive\nsix\nseven\n",
    )
    .unwrap();
    sandbox.git(&["add", "lines.txt"]);
    sandbox.commit("lines");
    let head = sandbox.git(&["rev-parse", "HEAD"]);
    let tasks = sandbox.tasks_json(&json!({
        "tasks": [
            // Both edit lines.txt, far apart: git merges them.
            {"name": "top", "prompt": "@edit lines.txt one ONE"},
            {"name": "bottom", "prompt": "@edit lines.txt seven SEVEN"},
            // Both write notes.txt, differently: a conflict.
            {"name": "mine", "prompt": "@write notes.txt mine"},
            {"name": "theirs", "prompt": "@write notes.txt theirs"},
            {"name": "alone", "prompt": "@write other.txt x"},
            // Rivals write fix.txt each their own way: never compared with each other.
            {"name": "fix", "repeat": 2, "prompt": "@bash echo $PORCH_TASK > fix.txt"},
            // A failed task's branch is not compared.
            {"name": "broken", "prompt": "@write notes.txt broken\n@api-error 500 boom"}
        ]
    }));
    let run = sandbox.porch_run_tasks(&tasks).run();
    run.expect_code(1);
    let results = sandbox.results();
    assert_eq!(
        results["conflicts"],
        json!([
            {"tasks": ["top", "bottom"], "files": ["lines.txt"], "clean": true},
            {"tasks": ["mine", "theirs"], "files": ["notes.txt"], "clean": false}
        ]),
        "{results:#}"
    );
    assert!(results["conflicts_note"].is_null(), "{results:#}");
    run.expect_stdout("branches that conflict:\n  mine and theirs: notes.txt\n")
        .expect_stdout("1 pair(s) of branches change a common file and merge cleanly");
    // git merged in memory: the user's checkout and branches are as they were.
    assert_eq!(sandbox.git(&["rev-parse", "HEAD"]), head);
    assert_eq!(sandbox.git(&["status", "--porcelain"]), "");
    // The checkout and the 8 tasks' worktrees: no other was made to merge in.
    assert_eq!(sandbox.git(&["worktree", "list"]).lines().count(), 9);
}

/// The conflicts step takes each branch's changes from the diff its task read at its end,
/// and asks git again only for a branch that moved since: here a check that commits.
#[test]
fn the_conflicts_step_reuses_each_tasks_diff_unless_its_branch_moved() {
    let sandbox = Sandbox::new();
    let calls = sandbox.path().join("git-calls");
    let path = fake_git(&sandbox, &format!("echo \"$*\" >> '{}'", calls.display()));
    let commits_shared = "echo theirs > shared.txt && git add shared.txt && \
        git -c user.name=check -c user.email=check@localhost commit -q -m moved";
    let tasks = sandbox.tasks_json(&json!({
        "tasks": [
            {"name": "mine", "prompt": "@write shared.txt mine"},
            {"name": "theirs", "prompt": "@write other.txt x",
             "check": ["sh", "-c", commits_shared]},
            {"name": "alone", "prompt": "@write alone.txt x"}
        ]
    }));
    let run = sandbox.porch_run_tasks(&tasks).env("PATH", path).run();
    run.expect_code(0);
    let results = sandbox.results();
    assert_eq!(
        results["conflicts"],
        json!([{"tasks": ["mine", "theirs"], "files": ["shared.txt"], "clean": false}]),
        "{results:#}"
    );
    let lines = file_lines(&calls);
    let asked_again: Vec<&String> = lines
        .iter()
        .filter(|call| call.contains(" diff --raw -z "))
        .collect();
    assert_eq!(asked_again.len(), 1, "{asked_again:#?}");
    assert!(asked_again[0].contains("task/theirs"), "{asked_again:#?}");
}

#[test]
fn a_git_without_merge_tree_write_tree_is_said_once_and_nothing_compared() {
    let sandbox = Sandbox::new();
    // The real git, but saying it is 2.30, which has no `merge-tree --write-tree`.
    let new_path = fake_git(&sandbox, GIT_2_30);
    let tasks = sandbox.tasks(&[
        ("mine", "@write notes.txt mine"),
        ("theirs", "@write notes.txt theirs"),
    ]);
    let run = sandbox.porch_run_tasks(&tasks).env("PATH", new_path).run();
    run.expect_code(0);
    let results = sandbox.results();
    assert_eq!(results["conflicts"], json!([]), "{results:#}");
    let note = "not looked for: git 2.30 has no `merge-tree --write-tree` (git 2.38 or later)";
    assert_eq!(results["conflicts_note"], note, "{results:#}");
    assert_eq!(run.stdout().matches(note).count(), 1, "{}", run.stdout());
}

/// `fix` repeated twice, then `more`, one session at a time from REPO: fix-1 runs first and
/// fails once, fix-2 writes 2 lines; run again (a resume), fix-1 writes 1. The run exits 1.
fn run_rivals_a_resume_reorders(sandbox: &Sandbox, more: &[serde_json::Value]) {
    let counter = sandbox.path().join("fail-count");
    let prompt = format!(
        "@fail-times 1 {} 400 Bad request\n@bash seq ${{PORCH_TASK#fix-}} > out.txt",
        counter.display()
    );
    let mut tasks = vec![json!({"name": "fix", "repeat": 2, "prompt": prompt})];
    tasks.extend_from_slice(more);
    let tasks = sandbox.tasks_json(&json!({ "tasks": tasks }));
    sandbox
        .porch_run(&[path_str(&tasks), "-j", "1"])
        .without_output()
        .current_dir(sandbox.repo())
        .run()
        .expect_code(1);
}

/// `porch resume` from REPO, of its latest run.
fn resume(sandbox: &Sandbox) -> Porch {
    let mut resume = sandbox.porch(&["resume"]);
    resume
        .worktree_dir(sandbox.worktree_dir())
        .current_dir(sandbox.repo())
        .agent(fixture_agent());
    resume
}

/// The latest run's results, through the state directory's link.
fn latest_results(sandbox: &Sandbox) -> serde_json::Value {
    let latest = sandbox.worktree_dir().join("repo/.porch/results.json");
    serde_json::from_slice(&std::fs::read(&latest).unwrap()).unwrap()
}

#[test]
fn a_resumed_attempt_that_now_passes_can_win() {
    let sandbox = Sandbox::new();
    run_rivals_a_resume_reorders(&sandbox, &[]);
    let first = latest_results(&sandbox);
    assert_eq!(task(&first, "fix-1")["status"], "failed", "{first:#}");
    assert_eq!(task(&first, "fix-1")["winner"], false);
    assert_eq!(task(&first, "fix-2")["winner"], true);

    resume(&sandbox)
        .run()
        .expect_code(0)
        .expect_stdout("  fix: fix-1 won (1 lines changed, ");
    let resumed = latest_results(&sandbox);
    let fix_1 = task(&resumed, "fix-1");
    assert_eq!(fix_1["status"], "succeeded", "{resumed:#}");
    assert_eq!(
        (&fix_1["group"], &fix_1["winner"]),
        (&json!("fix"), &json!(true))
    );
    assert_eq!(task(&resumed, "fix-2")["winner"], false, "{resumed:#}");
    assert_eq!(sandbox.git(&["show", "task/fix-1:out.txt"]), "1\n");
}

#[test]
fn a_task_that_depends_on_a_repeated_task_starts_from_the_winners_branch() {
    let sandbox = Sandbox::new();
    let tasks = sandbox.tasks_json(&json!({
        "tasks": [
            // fix-2 writes the fewest lines: it wins.
            {"name": "fix", "repeat": 3,
             "prompt": "@bash case $PORCH_TASK in fix-2) n=1;; *) n=3;; esac; seq $n > fix.txt"},
            {"name": "use", "depends_on": ["fix"], "prompt": "@bash cp fix.txt used.txt"},
            // No attempt of lint succeeds: its dependant never starts.
            {"name": "lint", "repeat": 2, "prompt": "@api-error 500 boom"},
            {"name": "after-lint", "depends_on": ["lint"], "prompt": "@say never"}
        ]
    }));
    let run = sandbox.porch_run_tasks(&tasks).run();
    run.expect_code(1);
    let results = sandbox.results();
    let used = task(&results, "use");
    assert_eq!(used["status"], "succeeded", "{results:#}");
    assert_eq!(used["base_branch"], "task/fix-2", "{used:#}");
    let winner_tip = sandbox.git(&["rev-parse", "task/fix-2"]);
    assert_eq!(used["base_commit"], winner_tip.trim(), "{used:#}");
    assert_eq!(sandbox.git(&["show", "task/use:used.txt"]), "1\n");
    assert_eq!(task(&results, "fix-2")["winner"], true, "{results:#}");

    let skipped = task(&results, "after-lint");
    assert_eq!(skipped["status"], "skipped", "{results:#}");
    assert_eq!(
        skipped["error"],
        "not started: it depends on `lint`, a repeated task none of whose attempts succeeded"
    );
    assert!(!sandbox.branches().contains(&"task/after-lint".to_string()));
}

#[test]
fn a_resume_keeps_the_winner_a_dependant_started_from() {
    let sandbox = Sandbox::new();
    // As above, but `use` started from fix-2's branch: fix-2 stays the winner after the resume
    // makes fix-1 pass with a smaller change, and `porch merge` takes no second rival.
    let dependant = json!({"name": "use", "prompt": "@write use.txt u", "depends_on": ["fix"]});
    run_rivals_a_resume_reorders(&sandbox, &[dependant]);
    resume(&sandbox)
        .run()
        .expect_code(0)
        .expect_stdout("  fix: fix-2 won");
    let resumed = latest_results(&sandbox);
    assert_eq!(
        task(&resumed, "fix-1")["status"],
        "succeeded",
        "{resumed:#}"
    );
    assert_eq!(task(&resumed, "fix-1")["winner"], false, "{resumed:#}");
    assert_eq!(task(&resumed, "fix-2")["winner"], true, "{resumed:#}");
    assert_eq!(task(&resumed, "use")["base_branch"], "task/fix-2");

    let mut merge = sandbox.porch(&["merge"]);
    merge
        .worktree_dir(sandbox.worktree_dir())
        .current_dir(sandbox.repo());
    merge.run().expect_code(0);
    let run_id = resumed["run_id"].as_str().unwrap();
    let merged = format!("porch/merge/{run_id}");
    let files = sandbox.git(&["ls-tree", "--name-only", &merged]);
    assert!(files.contains("use.txt"), "{files}");
    assert_eq!(
        sandbox.git(&["show", &format!("{merged}:out.txt")]),
        "1\n2\n"
    );
}
