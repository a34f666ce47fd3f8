//! `porch merge` as a queue: dependencies merged first, a check after each merge that backs out
//! the branch that breaks it, conflicts handed to a resolver session (the fixture, resolving
//! as an agent would, or giving up), `--json`, the merge recorded with the run and shown by
//! `porch status`, and bad checks refused.

use std::path::Path;

use serde_json::{Value, json};

use crate::after::{after, latest_results, run_stored};
use crate::support::{self, Sandbox};

/// The repository's NOTES.md, committed: what the conflicting tasks rewrite.
fn commit_notes(sandbox: &Sandbox) {
    std::fs::write(sandbox.repo().join("NOTES.md"), "notes\n").unwrap();
    sandbox.git(&["add", "NOTES.md"]);
    sandbox.commit("notes");
}

/// The tasks run and stored, all succeeded; the run's id.
fn ran(sandbox: &Sandbox, tasks: &Path) -> String {
    run_stored(sandbox, tasks).expect_code(0);
    latest_results(sandbox).0
}

/// Two tasks that rewrite NOTES.md, which the repository already holds, each its own way:
/// their branches conflict line against line.
fn conflicting_run(sandbox: &Sandbox) {
    commit_notes(sandbox);
    let tasks = sandbox.tasks_json(&json!({"tasks": [
        {"name": "one", "prompt": "@write NOTES.md notes\\none\\n\nAdd one's note."},
        {"name": "two", "prompt": "@write NOTES.md notes\\ntwo\\n\nAdd two's note."},
    ]}));
    run_stored(sandbox, &tasks).expect_code(0);
}

/// A command porch printed, pasted into `sh -c` in `cwd` by a user with a git identity, with
/// `porch` the binary under test; it must exit 0.
fn paste(sandbox: &Sandbox, cwd: &Path, command: &str) {
    let command = match command.strip_prefix("porch ") {
        Some(rest) => format!("{} {rest}", support::PORCH),
        None => command.to_string(),
    };
    let mut sh = std::process::Command::new("sh");
    sandbox.env(sh.arg("-c").arg(&command));
    for who in ["AUTHOR", "COMMITTER"] {
        sh.env(format!("GIT_{who}_NAME"), "Test")
            .env(format!("GIT_{who}_EMAIL"), "test@example.com");
    }
    let out = sh.current_dir(cwd).output().unwrap();
    assert!(out.status.success(), "pasted: {command}\n{out:?}");
}

fn merge_json(run: &support::Run) -> Value {
    serde_json::from_str(&run.stdout()).unwrap_or_else(|err| panic!("not JSON: {err}\n{run}"))
}

/// The one file the fixture recorded under `dir` whose name ends with `suffix`.
fn recorded(dir: &Path, suffix: &str) -> Vec<u8> {
    let found: Vec<_> = (std::fs::read_dir(dir).unwrap().flatten())
        .filter(|e| e.file_name().to_string_lossy().ends_with(suffix))
        .collect();
    assert_eq!(found.len(), 1, "one *{suffix} in {}", dir.display());
    std::fs::read(found[0].path()).unwrap()
}

#[test]
fn a_conflict_is_resolved_by_a_session_that_keeps_both_sides() {
    let sandbox = Sandbox::new();
    conflicting_run(&sandbox);
    let (id, _) = latest_results(&sandbox);
    let worktrees = sandbox.worktrees();
    let calls = sandbox.path().join("calls");
    std::fs::create_dir(&calls).unwrap();

    let merge = after(
        &sandbox,
        &[
            "merge",
            "--resolve",
            "--json",
            "--max-cost-usd",
            "2",
            "--timeout",
            "5m",
            "--check",
            "touch made-by-the-check.txt",
        ],
    )
    .agent(support::fixture_agent())
    .record_agent_runs(&calls)
    .run();
    merge.expect_code(0);
    let out = merge_json(&merge);
    let branch = format!("porch/merge/{id}");
    assert_eq!(out["branch"], json!(branch), "{out:#}");
    let merged: Vec<&str> = (out["merged"].as_array().unwrap().iter())
        .map(|m| m["task"].as_str().unwrap())
        .collect();
    assert_eq!(merged, ["one", "two"], "{out:#}");
    assert_eq!(out["resolved"][0]["task"], "two", "{out:#}");
    assert_eq!(out["resolved"][0]["files"], json!(["NOTES.md"]), "{out:#}");
    assert!(
        out["resolved"][0]["cost_usd"].as_f64().unwrap() > 0.0,
        "{out:#}"
    );
    assert!(out["resolved"][0]["session_id"].is_string(), "{out:#}");
    assert_eq!(out["skipped"], json!([]));
    assert_eq!(
        out["commit"],
        json!(sandbox.git(&["rev-parse", &branch]).trim())
    );

    assert_eq!(
        sandbox.git(&["show", &format!("{branch}:NOTES.md")]),
        "notes\none\ntwo\n"
    );
    // What the check left in the merge worktree is in no commit: the resolution is the
    // conflicted files.
    let files = sandbox.git(&["ls-tree", "--name-only", &branch]);
    assert!(!files.contains("made-by-the-check.txt"), "{files}");
    let subject = sandbox.git(&["log", "-1", "--format=%s", &branch]);
    assert_eq!(
        subject.trim(),
        "Merge task two (task/two; conflicts in NOTES.md resolved by claude)"
    );
    // Both parents: the merge of task/two, not a squash.
    let parents = sandbox.git(&["log", "-1", "--format=%P", &branch]);
    assert!(parents.contains(sandbox.git(&["rev-parse", "task/two"]).trim()));
    // The resolver was told both prompts, every line quoted: no directive of them ran again.
    let prompt = String::from_utf8(recorded(&calls, ".prompt")).unwrap();
    assert!(prompt.contains("- NOTES.md\n"), "{prompt}");
    assert!(
        prompt.contains("> @write NOTES.md notes\\ntwo\\n\n> Add two's note."),
        "{prompt}"
    );
    assert!(prompt.contains("> Add one's note."), "{prompt}");
    let argv = String::from_utf8(recorded(&calls, ".argv")).unwrap();
    assert!(
        argv.contains("--permission-mode\0acceptEdits\0"),
        "{argv:?}"
    );
    assert!(argv.contains("--max-budget-usd\u{0}2\u{0}"), "{argv:?}");
    assert!(
        argv.ends_with("--tools\u{0}Read\u{0}Edit\u{0}Write\u{0}Grep\u{0}Glob\u{0}"),
        "{argv:?}"
    );
    assert_eq!(sandbox.worktrees(), worktrees);
}

#[test]
fn a_resolver_that_leaves_markers_gets_the_branch_skipped_and_the_worktree_reset() {
    let sandbox = Sandbox::new();
    conflicting_run(&sandbox);
    let (id, _) = latest_results(&sandbox);
    let worktrees = sandbox.worktrees();

    let merge = after(&sandbox, &["merge", "--resolve"])
        .agent(support::fixture_agent())
        .env("FAKE_CLAUDE_RESOLVE", "leave")
        .run();
    merge
        .expect_code(1)
        .expect_stdout("SKIPPED task/two")
        .expect_stdout("not resolved: the resolver left conflict markers in NOTES.md")
        .expect_stdout("resolver $0.");
    let branch = format!("porch/merge/{id}");
    assert_eq!(
        sandbox.git(&["show", &format!("{branch}:NOTES.md")]),
        "notes\none\n"
    );
    let subjects = sandbox.git(&[
        "log",
        "--first-parent",
        "--format=%s",
        &format!("main..{branch}"),
    ]);
    assert_eq!(subjects.trim(), "Merge task one (task/one)");
    assert_eq!(sandbox.worktrees(), worktrees);
    // Recorded with the run, session and all.
    let (_, results) = latest_results(&sandbox);
    let skipped = &results["merge"]["skipped"][0];
    assert_eq!(skipped["task"], "two", "{results:#}");
    assert_eq!(skipped["files"], json!(["NOTES.md"]));
    assert!(skipped["session_id"].is_string(), "{skipped}");
}

#[test]
fn a_branch_that_breaks_the_check_is_backed_out_and_the_others_go_on() {
    let sandbox = Sandbox::new();
    let tasks = sandbox.tasks(&[
        ("a", "@write a.txt a"),
        ("b", "@write bad.txt b"),
        ("c", "@write c.txt c"),
    ]);
    let id = ran(&sandbox, &tasks);
    let check = "test ! -e bad.txt || { echo the suite; echo bad.txt breaks it; exit 3; }";

    let merge = after(&sandbox, &["merge", "--check", check]).run();
    merge
        .expect_code(1)
        .expect_stdout("BACKED OUT task/b")
        .expect_stdout(
            "task/b breaks the check together with what was merged before it (exit 3; last lines: the suite | bad.txt breaks it)",
        )
        .expect_stdout("2 of 3 merged, 0 skipped, 1 backed out")
        .expect_stdout("to merge what was backed out anyway (the check fails with it):");
    let branch = format!("porch/merge/{id}");
    let files = sandbox.git(&["ls-tree", "--name-only", &branch]);
    assert!(
        files.contains("a.txt") && files.contains("c.txt"),
        "{files}"
    );
    assert!(!files.contains("bad.txt"), "{files}");

    let (_, results) = latest_results(&sandbox);
    let backed = &results["merge"]["backed_out"];
    assert_eq!(backed[0]["task"], "b", "{results:#}");
    assert_eq!(backed[0]["check_exit"], 3);
    assert_eq!(
        backed[0]["last_lines"],
        json!(["the suite", "bad.txt breaks it"])
    );

    let status = after(&sandbox, &["status"]).run();
    status.expect_code(0).expect_stdout(&format!(
        "merged into {branch}: a, c; b backed out (the check: exit 3)"
    ));
    assert!(!status.stdout().contains("porch merge"), "{status}");
}

#[test]
fn the_tasks_files_merge_check_runs_and_json_says_what_happened() {
    let sandbox = Sandbox::new();
    commit_notes(&sandbox);
    let tasks = sandbox.tasks_json(&json!({
        "merge_check": ["sh", "-c", "! grep -q two NOTES.md 2>/dev/null && test ! -e bad.txt"],
        "tasks": [
            {"name": "one", "prompt": "@write NOTES.md one"},
            {"name": "two", "prompt": "@write NOTES.md two"},
            {"name": "bad", "prompt": "@write bad.txt x"},
            {"name": "fine", "prompt": "@write fine.txt y"},
        ]
    }));
    run_stored(&sandbox, &tasks).expect_code(0);

    let merge = after(&sandbox, &["merge", "--json"]).run();
    merge.expect_code(1);
    let out = merge_json(&merge);
    let tasks_of = |field: &str| -> Vec<String> {
        (out[field].as_array().unwrap().iter())
            .map(|m| m["task"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(tasks_of("merged"), ["one", "fine"], "{out:#}");
    assert_eq!(tasks_of("skipped"), ["two"], "{out:#}");
    assert_eq!(tasks_of("backed_out"), ["bad"], "{out:#}");
    assert_eq!(out["skipped"][0]["files"], json!(["NOTES.md"]));
    assert!(
        (out["skipped"][0]["reason"].as_str().unwrap())
            .contains("conflicts with what was merged before it"),
        "{out:#}"
    );
    assert_eq!(out["backed_out"][0]["check_exit"], 1);
    assert!(out["merged"][0]["commit"].is_string(), "{out:#}");
    assert_eq!(out["resolved"], json!([]));

    after(&sandbox, &["status"])
        .run()
        .expect_code(0)
        .expect_stdout("two skipped (conflict in NOTES.md); bad backed out (the check: exit 1)");
}

#[test]
fn dependencies_are_merged_before_their_dependants() {
    let sandbox = Sandbox::new();
    let tasks = sandbox.tasks_json(&json!({"tasks": [
        {"name": "late", "prompt": "@write late.txt l", "depends_on": ["early"]},
        {"name": "other", "prompt": "@write other.txt o"},
        {"name": "early", "prompt": "@write early.txt e"},
    ]}));
    let id = ran(&sandbox, &tasks);

    after(&sandbox, &["merge"]).run().expect_code(0);
    let subjects = sandbox.git(&[
        "log",
        "--first-parent",
        "--reverse",
        "--format=%s",
        &format!("main..porch/merge/{id}"),
    ]);
    assert_eq!(
        subjects.lines().collect::<Vec<_>>(),
        [
            "Merge task other (task/other)",
            "Merge task early (task/early)",
            "Merge task late (task/late)",
        ]
    );
}

#[test]
fn a_bad_merge_check_is_refused_naming_the_file_and_the_field() {
    let sandbox = Sandbox::new();
    for (value, says) in [
        (json!("make test"), "must be a list, got the string"),
        (json!([]), "is an empty list"),
        (json!(["", "x"]), "names no program"),
    ] {
        let tasks = sandbox.tasks_json(&json!({
            "merge_check": value,
            "tasks": [{"name": "a", "prompt": "@write a.txt a"}]
        }));
        sandbox
            .porch_run_tasks(&tasks)
            .run()
            .expect_code(2)
            .expect_stderr("tasks.json")
            .expect_stderr("merge_check")
            .expect_stderr(says)
            .expect_stderr("hint:");
        assert!(!sandbox.worktree_dir().exists(), "nothing made for {value}");
    }
    let tasks = sandbox.tasks(&[("a", "@write a.txt a")]);
    run_stored(&sandbox, &tasks).expect_code(0);
    after(&sandbox, &["merge", "--check", ""])
        .run()
        .expect_code(2)
        .expect_stderr("--check");
    after(
        &sandbox,
        &["merge", "--resolve", "--permission-mode", "plan"],
    )
    .run()
    .expect_code(2)
    .expect_stderr("--permission-mode `plan` lets the resolver edit no file");
    assert!(
        sandbox
            .git(&["branch", "--list", "porch/merge/*"])
            .is_empty()
    );
}

#[test]
fn once_the_budget_is_spent_a_conflict_gets_no_resolver() {
    let sandbox = Sandbox::new();
    commit_notes(&sandbox);
    let tasks = sandbox.tasks_json(&json!({"tasks": [
        {"name": "one", "prompt": "@write NOTES.md notes\\none\\n"},
        {"name": "two", "prompt": "@write NOTES.md notes\\ntwo\\n"},
        {"name": "three", "prompt": "@write NOTES.md notes\\nthree\\n"},
    ]}));
    run_stored(&sandbox, &tasks).expect_code(0);
    let calls = sandbox.path().join("calls");
    std::fs::create_dir(&calls).unwrap();

    // The fixture's resolver costs $0.0513: the first one spends what $0.01 allows and more.
    let merge = after(
        &sandbox,
        &["merge", "--resolve", "--json", "--max-cost-usd", "0.01"],
    )
    .agent(support::fixture_agent())
    .record_agent_runs(&calls)
    .run();
    merge.expect_code(1);
    let out = merge_json(&merge);
    assert_eq!(out["resolved"][0]["task"], "two", "{out:#}");
    let skipped = &out["skipped"][0];
    assert_eq!(skipped["task"], "three", "{out:#}");
    assert!(
        (skipped["reason"].as_str().unwrap())
            .ends_with("the --max-cost-usd budget is spent, so no resolver ran"),
        "{out:#}"
    );
    assert!(skipped["session_id"].is_null(), "{out:#}");
    let sessions = std::fs::read_dir(&calls).unwrap().count();
    assert_eq!(sessions, 2, "one resolver run: its argv and its prompt");
}

#[test]
fn ctrl_c_during_a_check_ends_it_backs_the_branch_out_and_merges_nothing_more() {
    let sandbox = Sandbox::new();
    let tasks = sandbox.tasks(&[
        ("a", "@write a.txt a"),
        ("b", "@write b.txt b"),
        ("c", "@write c.txt c"),
    ]);
    let id = ran(&sandbox, &tasks);
    let pid_file = sandbox.path().join("check.pid");
    // The check of b's merge says it is running, then hangs.
    let check = format!(
        "[ -e b.txt ] || exit 0; {}; exec sleep 600",
        support::own_pid_to(&pid_file)
    );
    let mut porch = after(&sandbox, &["merge", "--json", "--check", &check]).spawn("merge");
    let check_pid = support::read_pid(&pid_file);
    porch.signal("INT");
    let run = porch.wait();
    support::assert_gone(check_pid, "the merge check");
    run.expect_code(1);
    let out = merge_json(&run);
    assert_eq!(out["merged"][0]["task"], "a", "{out:#}");
    assert_eq!(out["merged"].as_array().unwrap().len(), 1, "{out:#}");
    assert_eq!(out["backed_out"][0]["task"], "b", "{out:#}");
    assert!(
        (out["backed_out"][0]["reason"].as_str().unwrap())
            .contains("porch received signal 2 (SIGINT)"),
        "{out:#}"
    );
    assert_eq!(out["skipped"][0]["task"], "c", "{out:#}");
    assert_eq!(
        out["skipped"][0]["reason"],
        "not merged: porch received signal 2 (SIGINT)"
    );
    let files = sandbox.git(&["ls-tree", "--name-only", &format!("porch/merge/{id}")]);
    assert!(
        files.contains("a.txt") && !files.contains("b.txt"),
        "{files}"
    );
}

#[test]
fn what_a_check_leaves_untracked_does_not_stop_the_next_merge() {
    let sandbox = Sandbox::new();
    let tasks = sandbox.tasks(&[("a", "@write a.txt a"), ("b", "@write report.txt b")]);
    let id = ran(&sandbox, &tasks);
    after(&sandbox, &["merge", "--check", "echo checked > report.txt"])
        .run()
        .expect_code(0);
    let report = sandbox.git(&["show", &format!("porch/merge/{id}:report.txt")]);
    assert_eq!(report, "b", "the branch's file, not the check's");
}

/// A resolver that does what it was asked not to: it resolves as the fixture does, then
/// commits the merge itself (`ROGUE=commit`) or ends it (`ROGUE=abort`).
fn rogue_resolver(sandbox: &Sandbox) -> std::path::PathBuf {
    let text = format!(
        "#!/bin/sh\n{} \"$@\"; code=$?\ncase \"$ROGUE\" in\n\
         commit) git add -A && git -c user.name=r -c user.email=r@r commit -qm rogue ;;\n\
         abort) git merge --abort ;;\nesac >/dev/null 2>&1\nexit $code\n",
        support::fixture_agent().display()
    );
    support::write_script(&sandbox.path().join("rogue-claude"), &text)
}

#[test]
fn a_resolver_that_commits_or_ends_the_merge_itself_gets_the_branch_skipped_and_undone() {
    for rogue in ["commit", "abort"] {
        let sandbox = Sandbox::new();
        conflicting_run(&sandbox);
        let (id, _) = latest_results(&sandbox);
        let merge = after(&sandbox, &["merge", "--resolve", "--json"])
            .agent(rogue_resolver(&sandbox))
            .env("ROGUE", rogue)
            .run();
        merge.expect_code(1);
        let out = merge_json(&merge);
        assert_eq!(out["skipped"][0]["task"], "two", "{rogue}: {out:#}");
        let reason = out["skipped"][0]["reason"].as_str().unwrap();
        assert!(reason.contains("the resolver"), "{rogue}: {reason}");
        let branch = format!("porch/merge/{id}");
        assert_eq!(sandbox.show(&branch, "NOTES.md"), "notes\none\n", "{rogue}");
        let subjects = sandbox.git(&["log", "--format=%s", &format!("main..{branch}")]);
        assert!(!subjects.contains("rogue"), "{rogue}: {subjects}");
        assert_eq!(out["commit"], json!(sandbox.rev(&branch)), "{rogue}");
        // The log of a session that saw the user's code is the user's alone.
        let log = (sandbox.worktree_dir().join("repo/.porch/merge"))
            .join(format!("{id}.two.resolver.log"));
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(&log).unwrap().permissions(),
        );
        assert_eq!(mode & 0o777, 0o600, "{}", log.display());
    }
}

#[test]
fn what_a_passing_check_changes_in_tracked_files_does_not_stop_the_next_merge() {
    let sandbox = Sandbox::new();
    commit_notes(&sandbox);
    let tasks = sandbox.tasks(&[
        ("a", "@write a.txt a"),
        ("b", "@write NOTES.md notes\\nb\\n"),
    ]);
    let id = ran(&sandbox, &tasks);
    // A formatter, a snapshot test: a check that rewrites a tracked file and passes.
    let merge = after(
        &sandbox,
        &["merge", "--json", "--check", "echo reformatted >> NOTES.md"],
    )
    .run();
    merge.expect_code(0);
    let out = merge_json(&merge);
    assert_eq!(out["skipped"], json!([]), "{out:#}");
    assert_eq!(out["merged"].as_array().unwrap().len(), 2, "{out:#}");
    assert_eq!(
        sandbox.show(&format!("porch/merge/{id}"), "NOTES.md"),
        "notes\nb\n"
    );
}

#[test]
fn a_merge_killed_during_its_resolver_leaves_no_worktree_once_merged_again_or_cleaned() {
    for then in ["merge", "clean"] {
        let sandbox = Sandbox::new();
        let _reaper = support::Reaper::new(&sandbox);
        conflicting_run(&sandbox);
        let worktrees = sandbox.worktrees();
        let pid_file = sandbox.path().join("resolver.pid");
        let hanging = support::write_script(
            &sandbox.path().join("hanging-claude"),
            &format!(
                "#!/bin/sh\n{}\nexec sleep 600\n",
                support::own_pid_to(&pid_file)
            ),
        );
        let mut porch = after(&sandbox, &["merge", "--resolve"])
            .agent(&hanging)
            .spawn("merge");
        let resolver = support::read_pid(&pid_file);
        porch.signal("KILL");
        porch.wait();
        support::sigkill_quietly(resolver);
        assert_ne!(
            sandbox.worktrees(),
            worktrees,
            "the killed merge left its worktree"
        );

        if then == "merge" {
            after(&sandbox, &["merge"]).run().expect_code(1);
            assert_eq!(sandbox.worktrees(), worktrees, "merged again");
        } else {
            after(&sandbox, &["clean"])
                .run()
                .expect_code(0)
                .expect_stdout("removed the worktree a killed porch merge left");
            let left: Vec<String> = (sandbox.worktrees().into_iter())
                .filter(|w| w.contains(".porch"))
                .collect();
            assert_eq!(left, Vec::<String>::new(), "cleaned");
        }
    }
}

#[test]
fn a_binary_conflict_the_resolver_leaves_as_git_left_it_is_not_resolved() {
    let sandbox = Sandbox::new();
    std::fs::write(sandbox.repo().join("data.bin"), b"a\0base\n").unwrap();
    sandbox.git(&["add", "data.bin"]);
    sandbox.commit("data");
    let tasks = sandbox.tasks_json(&json!({"tasks": [
        {"name": "one", "prompt": "@write data.bin a\\0one\\n"},
        {"name": "two", "prompt": "@write data.bin a\\0two\\n"},
    ]}));
    let id = ran(&sandbox, &tasks);
    // git writes no markers in a binary file: what it leaves there is one side, whole.
    let merge = after(&sandbox, &["merge", "--resolve", "--json"])
        .agent(support::fixture_agent())
        .env("FAKE_CLAUDE_RESOLVE", "leave")
        .run();
    merge.expect_code(1);
    let out = merge_json(&merge);
    assert_eq!(out["resolved"], json!([]), "{out:#}");
    assert_eq!(out["skipped"][0]["task"], "two", "{out:#}");
    let reason = out["skipped"][0]["reason"].as_str().unwrap();
    assert!(reason.contains("data.bin"), "{reason}");
    let blob = sandbox.git(&["cat-file", "-p", &format!("porch/merge/{id}:data.bin")]);
    assert_eq!(blob, "a\0one\n");
}

#[test]
fn a_check_that_removes_the_merge_worktree_gets_the_rest_skipped_for_that_reason() {
    let sandbox = Sandbox::new();
    let tasks = sandbox.tasks(&[("a", "@write a.txt a"), ("b", "@write b.txt b")]);
    run_stored(&sandbox, &tasks).expect_code(0);
    // It passes on the start; with a merged, it removes the worktree.
    let check = "[ -e a.txt ] || exit 0; dir=$PWD; cd / && rm -rf \"$dir\"";
    let merge = after(&sandbox, &["merge", "--json", "--check", check]).run();
    merge.expect_code(1);
    let out = merge_json(&merge);
    let reason_of = |task: &str| -> String {
        let skipped = out["skipped"].as_array().unwrap().iter();
        let found = skipped.clone().find(|s| s["task"] == task);
        let found = found.unwrap_or_else(|| panic!("{task} not skipped: {out:#}"));
        found["reason"].as_str().unwrap().to_string()
    };
    let reason = reason_of("b");
    assert!(reason.contains("the merge worktree"), "{reason}");
    assert!(
        !reason.contains("no longer exists"),
        "task/b is there: {reason}"
    );
    assert!(sandbox.branches().contains(&"task/b".to_string()));
    // a's merge commit is on no branch: the record does not call it merged.
    let (id, results) = latest_results(&sandbox);
    let branch = format!("porch/merge/{id}");
    assert!(
        !sandbox.branches().contains(&branch),
        "{:?}",
        sandbox.branches()
    );
    for record in [&out, &results["merge"]] {
        assert_eq!(record["commit"], Value::Null, "{record:#}");
        assert_eq!(record["merged"], json!([]), "{record:#}");
    }
    let reason = reason_of("a");
    assert!(
        reason.contains(&format!(
            "merged, but the result could not be put on {branch}"
        )),
        "{reason}"
    );
}

#[test]
fn what_was_backed_out_of_a_branch_never_made_is_merged_by_hand_as_printed() {
    let sandbox = Sandbox::new();
    let tasks = sandbox.tasks(&[("a", "@write a.txt a")]);
    let id = ran(&sandbox, &tasks);
    let merge = after(&sandbox, &["merge", "--check", "test ! -e a.txt"]).run();
    let stdout = merge.expect_code(1).stdout();
    let branch = format!("porch/merge/{id}");
    assert!(!sandbox.branches().contains(&branch), "nothing merged");
    let commands: Vec<&str> = (stdout.lines())
        .skip_while(|line| !line.starts_with("to merge what was backed out anyway"))
        .skip(1)
        .take_while(|line| line.starts_with("  "))
        .collect();
    assert_eq!(commands.len(), 2, "{stdout}");
    for command in commands {
        paste(&sandbox, &sandbox.home(), command.trim());
    }
    assert_eq!(sandbox.show(&branch, "a.txt"), "a");
}

#[test]
fn a_check_that_fails_on_the_start_merges_nothing_and_blames_no_branch() {
    let sandbox = Sandbox::new();
    let tasks = sandbox.tasks(&[("a", "@write a.txt a"), ("b", "@write b.txt b")]);
    run_stored(&sandbox, &tasks).expect_code(0);
    let worktrees = sandbox.worktrees();
    let check = "echo the suite is red; exit 1";
    let merge = after(&sandbox, &["merge", "--json", "--check", check]).run();
    merge
        .expect_code(1)
        .expect_stderr("porch: error: the check fails on the start of the merge (main), before any branch is merged (exit 1; last lines: the suite is red)")
        .expect_stderr("hint: nothing was merged and porch/merge/")
        .expect_stderr("leave --check out");
    let out = merge_json(&merge);
    let (id, results) = latest_results(&sandbox);
    for record in [&out, &results["merge"]] {
        for list in ["merged", "skipped", "backed_out"] {
            assert_eq!(record[list], json!([]), "{list}: {record:#}");
        }
        assert_eq!(record["commit"], Value::Null, "{record:#}");
        let failure = &record["base_check_failure"];
        assert_eq!(failure["check_exit"], 1, "{record:#}");
        assert_eq!(failure["last_lines"], json!(["the suite is red"]));
        let reason = failure["reason"].as_str().unwrap();
        assert!(reason.contains("before any branch is merged"), "{reason}");
    }
    assert!(!sandbox.branches().contains(&format!("porch/merge/{id}")));
    assert_eq!(sandbox.worktrees(), worktrees);
    after(&sandbox, &["status"])
        .run()
        .expect_code(0)
        .expect_stdout(&format!("merged nothing into porch/merge/{id}: the check fails on the start of the merge (main), before any branch is merged (exit 1"))
        .expect_stdout("merge what succeeded:");
}

#[test]
fn a_merge_check_that_is_not_there_says_so_and_merges_nothing() {
    let sandbox = Sandbox::new();
    let tasks = sandbox.tasks_json(&json!({
        "merge_check": ["./missing.sh"],
        "tasks": [{"name": "a", "prompt": "@write a.txt a"}]
    }));
    run_stored(&sandbox, &tasks).expect_code(0);
    let merge = after(&sandbox, &["merge", "--json"]).run();
    merge
        .expect_code(1)
        .expect_stderr("(exit 127; last lines: ./missing.sh: not found)")
        .expect_stderr("--check CMD runs another check instead of the tasks file's merge_check");
    let out = merge_json(&merge);
    assert_eq!(out["backed_out"], json!([]), "{out:#}");
    assert_eq!(out["base_check_failure"]["check_exit"], 127, "{out:#}");
}

#[test]
fn what_is_skipped_into_a_branch_checked_out_elsewhere_is_merged_by_hand_there() {
    let sandbox = Sandbox::new();
    conflicting_run(&sandbox);
    sandbox.git(&["branch", "integration", "task/two"]);
    let elsewhere = sandbox.path().join("integration");
    sandbox.git(&[
        "worktree",
        "add",
        "--quiet",
        support::path_str(&elsewhere),
        "integration",
    ]);
    let merge = after(&sandbox, &["merge", "--into", "integration", "one"]).run();
    merge.expect_code(1).expect_stdout("SKIPPED task/one");
    // `git checkout integration` fails where it is checked out in another worktree.
    let stdout = merge.stdout();
    assert!(!stdout.contains("checkout integration"), "{stdout}");
    let there = format!("git -C {} merge task/one", elsewhere.display());
    assert!(stdout.contains(&there), "{stdout}");
}

#[test]
fn a_merge_check_whose_program_is_not_on_path_is_refused_before_anything_is_merged() {
    let sandbox = Sandbox::new();
    let tasks = sandbox.tasks_json(&json!({
        "merge_check": ["no-such-program-of-porch", "test"],
        "tasks": [{"name": "a", "prompt": "@write a.txt a"}]
    }));
    run_stored(&sandbox, &tasks).expect_code(0);
    // Not the branch's fault: backing each branch out for it would blame them all.
    after(&sandbox, &["merge", "--json"])
        .run()
        .expect_code(2)
        .expect_stderr("tasks.json: field `merge_check`")
        .expect_stderr("`no-such-program-of-porch` is not on PATH")
        .expect_stderr("hint:");
    assert_eq!(sandbox.git(&["branch", "--list", "porch/merge/*"]), "");
    let (_, results) = latest_results(&sandbox);
    assert!(
        results.get("merge").is_none_or(Value::is_null),
        "{results:#}"
    );
}

/// What a script reads must reach it, as for `porch run --json`: a merge or a status whose
/// document stdout refused (a full disk) does not exit 0.
#[test]
fn merge_and_status_json_that_stdout_refuses_do_not_exit_0() {
    let sandbox = Sandbox::new();
    let tasks = sandbox.tasks(&[("a", "@write a.txt a")]);
    let id = ran(&sandbox, &tasks);
    for command in ["merge", "status"] {
        let full = std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .expect("/dev/full");
        let output = after(&sandbox, &[command, "--json"])
            .command()
            .stdout(std::process::Stdio::from(full))
            .stderr(std::process::Stdio::piped())
            .output()
            .expect("porch runs");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{command}: {stderr}");
        assert!(
            stderr.contains("porch: error: what --json writes did not all reach standard output"),
            "{command}: {stderr}"
        );
        assert!(
            stderr.contains(&format!("{id}.json")),
            "{command}: {stderr}"
        );
    }
    // The merge happened and is recorded: the JSON is there to read.
    let (_, results) = latest_results(&sandbox);
    assert_eq!(results["merge"]["merged"][0]["task"], "a", "{results:#}");
}

#[test]
fn status_after_a_merge_that_skipped_a_branch_says_what_it_left_out() {
    let sandbox = Sandbox::new();
    conflicting_run(&sandbox);
    let (id, _) = latest_results(&sandbox);
    after(&sandbox, &["merge"]).run().expect_code(1);
    let status = after(&sandbox, &["status"]).run();
    let stdout = status.expect_code(0).stdout();
    assert!(
        !stdout.contains("every branch that succeeded is merged"),
        "{stdout}"
    );
    let branch = format!("porch/merge/{id}");
    assert!(
        stdout.contains(&format!("left out of {branch}: two")),
        "{stdout}"
    );

    after(&sandbox, &["merge", "--resolve", "--into", &branch, "two"])
        .agent(support::fixture_agent())
        .run()
        .expect_code(0);
    after(&sandbox, &["status"])
        .run()
        .expect_stdout("merged: every branch that succeeded is merged");
}

#[test]
fn status_after_a_partial_merge_says_what_it_was_not_asked_to_merge_and_how() {
    let sandbox = Sandbox::new();
    commit_notes(&sandbox);
    let tasks = sandbox.tasks_json(&json!({"tasks": [
        {"name": "one", "prompt": "@write NOTES.md notes\\none\\n"},
        {"name": "two", "prompt": "@write NOTES.md notes\\ntwo\\n"},
        {"name": "three", "prompt": "@write three.txt 3"},
        {"name": "four", "prompt": "@write four.txt 4"},
    ]}));
    let id = ran(&sandbox, &tasks);
    let branch = format!("porch/merge/{id}");
    after(&sandbox, &["merge", "one", "two"])
        .run()
        .expect_code(1);
    let stdout = after(&sandbox, &["status"]).run().expect_code(0).stdout();
    assert!(
        stdout.contains(&format!(
            "left out of {branch}: two (see the merge above)\n"
        )),
        "{stdout}"
    );
    assert!(
        stdout.contains(
            "not merged yet:             three, four (the merge above was not asked to)\n"
        ),
        "{stdout}"
    );
    let command = (stdout.lines())
        .find_map(|line| line.strip_prefix("merge them too:"))
        .unwrap_or_else(|| panic!("no command in\n{stdout}"));
    // Where status ran: its REPO is `.`.
    paste(&sandbox, &sandbox.repo(), command.trim());
    for file in ["three.txt", "four.txt"] {
        sandbox.show(&branch, file);
    }
    let stdout = after(&sandbox, &["status"]).run().expect_code(0).stdout();
    assert!(
        stdout.contains(&format!("merged into {branch}: three, four")),
        "{stdout}"
    );
    assert!(
        !stdout.contains("not merged yet:             three"),
        "{stdout}"
    );
}
