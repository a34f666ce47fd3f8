//! `porch run` on real repositories: parallel sessions, outcomes, commits, output, results.
//!
//! Every test has its own `Sandbox`. Facts about branches, commits and worktrees are checked with
//! git itself, not only with what porch reports. Nothing here waits on a clock: tasks that must
//! overlap synchronise through files with the fixture's `@touch` / `@wait-for`.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::support::*;

// ---------------------------------------------------------------------------------------------
// Helpers local to these tests.

/// The task's branch starts at `commit`, the results say so, and git agrees.
#[track_caller]
fn assert_branched_from(sandbox: &Sandbox, results: &Value, name: &str, base: &str, commit: &str) {
    let t = task(results, name);
    assert_eq!(t["base_branch"], base, "{t:#}");
    assert_eq!(t["base_commit"], commit, "{t:#}");
    let branch = format!("task/{name}");
    assert_eq!(sandbox.git(&["merge-base", &branch, base]).trim(), commit);
    assert_eq!(sandbox.rev(&format!("{branch}^")), commit);
}

fn commit_count(sandbox: &Sandbox, range: &str) -> u64 {
    sandbox
        .git(&["rev-list", "--count", range])
        .trim()
        .parse()
        .unwrap()
}

fn task_branches(sandbox: &Sandbox) -> Vec<String> {
    sandbox
        .branches()
        .into_iter()
        .filter(|b| b.starts_with("task/"))
        .collect()
}

fn canonical(path: impl AsRef<Path>) -> PathBuf {
    let path = path.as_ref();
    std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf())
}

/// git's worktree list, canonicalised so it compares with paths porch reports.
fn git_worktrees(sandbox: &Sandbox) -> Vec<PathBuf> {
    sandbox.worktrees().iter().map(canonical).collect()
}

fn has_worktree(sandbox: &Sandbox, dir: &Path) -> bool {
    let wanted = canonical(dir);
    git_worktrees(sandbox).contains(&wanted)
}

/// The prefix porch puts before every line of a task when colour is off.
fn prefix(name: &str, width: usize) -> String {
    format!("{name:<width$} │ ")
}

/// Lines the sessions printed: everything before the summary, which starts with an empty line.
fn session_lines(stdout: &str) -> Vec<&str> {
    stdout.lines().take_while(|l| !l.is_empty()).collect()
}

/// The count in porch's note about lines the terminal did not get, if `line` is one.
fn dropped_lines_told(line: &str) -> Option<u64> {
    let told = " line(s) of output not shown: the terminal fell behind (every task's log has them)";
    line.strip_prefix("[porch] ")?
        .strip_suffix(told)?
        .parse()
        .ok()
}

fn str_field<'a>(task: &'a Value, key: &str) -> &'a str {
    task[key]
        .as_str()
        .unwrap_or_else(|| panic!("{key} is not a string in {task:#}"))
}

// ---------------------------------------------------------------------------------------------
// 1. Parallel tasks, commits, results file.

#[test]
fn three_tasks_each_commit_their_file_on_their_branch() {
    let sandbox = Sandbox::new();
    let main = sandbox.rev("main");
    let run = sandbox
        .porch_run_tasks(&sandbox.tasks(&[
            ("a", "Write a.\n@write a.txt content of a"),
            ("b", "Write b.\n@write b.txt content of b"),
            ("c", "Write c.\n@write c.txt content of c"),
        ]))
        .run();
    run.expect_code(0);

    let results = sandbox.results();
    assert_eq!(results["version"], 1, "{results:#}");
    assert_eq!(results["summary"]["total"], 3, "{results:#}");
    assert_eq!(results["summary"]["succeeded"], 3, "{results:#}");
    assert_eq!(results["summary"]["failed"], 0, "{results:#}");
    assert_eq!(results["tasks"].as_array().unwrap().len(), 3);

    for name in ["a", "b", "c"] {
        let branch = format!("task/{name}");
        let file = format!("{name}.txt");

        // git's view: one commit over main, holding exactly this file with this content.
        assert_eq!(
            commit_count(&sandbox, &format!("main..{branch}")),
            1,
            "{run}"
        );
        assert_eq!(sandbox.rev(&format!("{branch}^")), main);
        assert_eq!(sandbox.show(&branch, &file), format!("content of {name}"));
        let changed = sandbox.git(&["show", "--name-only", "--format=", &branch]);
        assert_eq!(
            changed.trim(),
            file,
            "the commit on {branch} holds only {file}"
        );
        assert_eq!(
            sandbox
                .git(&["log", "-1", "--format=%an <%ae>|%cn <%ce>", &branch])
                .trim(),
            "porch <porch@localhost>|porch <porch@localhost>"
        );

        // porch's view.
        let t = task(&results, name);
        assert_eq!(t["status"], "succeeded", "{t:#}");
        assert_eq!(t["exit_code"], 0, "{t:#}");
        let session = str_field(t, "session_id");
        assert!(!session.is_empty(), "{t:#}");
        assert!(t["num_turns"].as_u64().is_some_and(|n| n >= 1), "{t:#}");
        assert!(t["cost_usd"].as_f64().is_some_and(|c| c > 0.0), "{t:#}");
        assert_eq!(t["commits"], 1, "{t:#}");
        assert_eq!(t["files_changed"], 1, "{t:#}");
        assert_eq!(t["insertions"], 1, "{t:#}");
        assert_eq!(t["deletions"], 0, "{t:#}");
        assert_eq!(t["branch"], branch.as_str(), "{t:#}");
        assert_eq!(t["base_branch"], "main", "{t:#}");
        assert_eq!(t["base_commit"], main.as_str(), "{t:#}");
        assert_eq!(t["error"], Value::Null, "{t:#}");
        assert_eq!(t["worktree_kept"], true, "{t:#}");
        let attempts = t["attempts"].as_array().expect("attempts is a list");
        assert_eq!(attempts.len(), 1, "{t:#}");
        assert_eq!(attempts[0]["session_id"], session, "{t:#}");
        let worktree = PathBuf::from(str_field(t, "worktree"));
        assert!(worktree.is_absolute(), "{t:#}");
        assert!(worktree.is_dir(), "{t:#}");
        assert!(has_worktree(&sandbox, &worktree), "{t:#}");
        assert_eq!(
            sandbox
                .git_in(&worktree, &["rev-parse", "--abbrev-ref", "HEAD"])
                .trim(),
            branch
        );

        // The commit message ties the commit to the task and the session.
        let message = sandbox.git(&["log", "-1", "--format=%B", &branch]);
        assert!(
            message.contains(&format!("Porch-Task: {name}\n")),
            "{message}"
        );
        assert!(
            message.contains(&format!("Porch-Session: {session}\n")),
            "{message}"
        );
    }
    // main itself is untouched.
    assert_eq!(sandbox.rev("main"), main);
}

// ---------------------------------------------------------------------------------------------
// 2. Overlap, proven without clocks.

#[test]
fn tasks_really_run_at_the_same_time() {
    let sandbox = Sandbox::new();
    let a_started = sandbox.path().join("a-started");
    let b_started = sandbox.path().join("b-started");
    let prompt = |mine: &Path, theirs: &Path| {
        format!(
            "@touch {}\n@wait-for {}\n@write done.txt ok",
            mine.display(),
            theirs.display()
        )
    };
    let a = prompt(&a_started, &b_started);
    let b = prompt(&b_started, &a_started);
    // Run one after the other, the first would wait 120 s for the second, give up and fail.
    // `-j 2`: without it porch caps sessions by available memory, which depends on the machine.
    let run = sandbox
        .porch_run_tasks(&sandbox.tasks(&[("a", &a), ("b", &b)]))
        .args(["-j", "2"])
        .run();
    run.expect_code(0);
    let results = sandbox.results();
    for name in ["a", "b"] {
        assert_eq!(task(&results, name)["status"], "succeeded", "{run}");
        assert_eq!(sandbox.show(&format!("task/{name}"), "done.txt"), "ok");
    }
}

// ---------------------------------------------------------------------------------------------
// 3-5. Outcomes.

#[test]
fn a_failing_session_fails_its_task_only() {
    let sandbox = Sandbox::new();
    let run = sandbox
        .porch_run_tasks(&sandbox.tasks(&[
            ("good-1", "@write one.txt 1"),
            ("broken", "@api-error 500 overloaded"),
            ("good-2", "@write two.txt 2"),
        ]))
        .run();
    run.expect_code(1);

    let results = sandbox.results();
    assert_eq!(results["summary"]["total"], 3);
    assert_eq!(results["summary"]["succeeded"], 2);
    assert_eq!(results["summary"]["failed"], 1);
    assert_eq!(task(&results, "good-1")["status"], "succeeded");
    assert_eq!(task(&results, "good-2")["status"], "succeeded");
    let broken = task(&results, "broken");
    assert_eq!(broken["status"], "failed", "{broken:#}");
    assert_eq!(broken["exit_code"], 1, "{broken:#}");
    assert!(
        str_field(broken, "error").contains("API Error: 500"),
        "{broken:#}"
    );
    run.expect_stdout("API Error: 500");

    // The succeeding tasks' work is on their branches; the failed one's branch is main.
    assert_eq!(sandbox.show("task/good-1", "one.txt"), "1");
    assert_eq!(sandbox.show("task/good-2", "two.txt"), "2");
    assert_eq!(sandbox.rev("task/broken"), sandbox.rev("main"));
}

#[test]
fn a_session_without_result_event_fails_but_its_work_is_committed() {
    let sandbox = Sandbox::new();
    let run = sandbox
        .porch_run_tasks(&sandbox.tasks(&[(
            "quiet",
            "Half a job.\n@write partial.txt half done\n@no-result",
        )]))
        .run();
    run.expect_code(1);
    let results = sandbox.results();
    let t = task(&results, "quiet");
    assert_eq!(t["status"], "failed", "{t:#}");
    assert_eq!(t["exit_code"], 0, "{t:#}");
    assert!(str_field(t, "error").contains("no result event"), "{t:#}");
    assert_eq!(t["commits"], 1, "{t:#}");
    assert_eq!(t["files_changed"], 1, "{t:#}");

    // No lost work: git has the file on the branch.
    assert_eq!(sandbox.show("task/quiet", "partial.txt"), "half done");
    assert_eq!(commit_count(&sandbox, "main..task/quiet"), 1);
    let message = sandbox.git(&["log", "-1", "--format=%B", "task/quiet"]);
    assert!(message.contains("Porch-Task: quiet\n"), "{message}");
    assert!(message.contains("Porch-Status: failed"), "{message}");
}

#[test]
fn a_session_that_changes_nothing_succeeds_with_an_empty_branch() {
    let sandbox = Sandbox::new();
    let run = sandbox
        .porch_run_tasks(&sandbox.tasks(&[("idle", "@say nothing needed doing")]))
        .run();
    run.expect_code(0);
    let results = sandbox.results();
    let t = task(&results, "idle");
    assert_eq!(t["status"], "succeeded", "{t:#}");
    assert_eq!(t["commits"], 0, "{t:#}");
    assert_eq!(t["files_changed"], 0, "{t:#}");
    assert_eq!(t["insertions"], 0, "{t:#}");

    assert!(sandbox.branches().contains(&"task/idle".to_string()));
    assert_eq!(sandbox.rev("task/idle"), sandbox.rev("main"));
    let worktree = sandbox.worktree("idle");
    assert!(has_worktree(&sandbox, &worktree));
    assert_eq!(
        sandbox.git_in(&worktree, &["status", "--porcelain"]),
        "",
        "the worktree is clean"
    );
}

// ---------------------------------------------------------------------------------------------
// 6. Permission denials.

#[test]
fn denied_writes_are_reported_as_a_warning_and_nothing_is_committed() {
    let sandbox = Sandbox::new();
    let args_dir = sandbox.path().join("args");
    std::fs::create_dir(&args_dir).unwrap();
    let file = sandbox.tasks(&[("denied", "@write wanted.txt never written")]);
    let run = sandbox
        .porch_run_tasks(&file)
        .args(["--permission-mode", "default"])
        .record_agent_runs(&args_dir)
        .run();
    // The session itself went fine: the task succeeds, with a warning.
    run.expect_code(0);
    assert_eq!(
        recorded_argv(&args_dir, "denied", 1),
        expected_claude_argv("default", &[]),
        "{run}"
    );
    run.expect_stdout("acceptEdits"); // the warning says how to fix it
    let results = sandbox.results();
    let t = task(&results, "denied");
    assert_eq!(t["status"], "succeeded", "{t:#}");
    assert_eq!(t["permission_denials"], 1, "{t:#}");
    let warnings = t["warnings"].as_array().expect("warnings is a list");
    assert_eq!(warnings.len(), 1, "{t:#}");
    let warning = warnings[0].as_str().unwrap();
    assert!(warning.contains("denied 1 tool call"), "{warning}");
    assert!(warning.contains("default"), "{warning}");
    assert_eq!(t["commits"], 0, "{t:#}");
    assert_eq!(t["files_changed"], 0, "{t:#}");

    // The printed summary carries the warning too.
    let summary: String = run
        .stdout()
        .lines()
        .skip_while(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("\n");
    assert!(summary.contains("warning:"), "{run}");
    assert!(summary.contains("denied 1 tool call"), "{run}");

    // git: nothing committed, nothing written.
    assert_eq!(sandbox.rev("task/denied"), sandbox.rev("main"));
    assert!(!sandbox.worktree("denied").join("wanted.txt").exists());
}

// ---------------------------------------------------------------------------------------------
// 7. The agent's command line, stdin and environment.

#[test]
fn the_agent_gets_the_right_arguments_the_prompt_on_stdin_and_no_nesting_vars() {
    let sandbox = Sandbox::new();
    let args_dir = sandbox.path().join("args");
    std::fs::create_dir(&args_dir).unwrap();
    let prompt = "Fix the “smart quotes”, \"double\" and 'single' — ünïcødé ✓ 🚀\n\
                  $HOME `backticks` \\backslash\\n %s %b\n\ttabbed line\n\n trailing newlines\n\n";
    // Larger than a pipe buffer: porch must not deadlock writing it, nor cut it.
    let big: String = (0..4000)
        .map(|i| format!("line {i} of a long prompt, with ünïcødé ✓ in it\n"))
        .collect();
    let file = sandbox.tasks_json(&serde_json::json!({"tasks": [
        {"name": "tools", "prompt": prompt, "allowed_tools": ["Read", "Bash(git diff:*)"]},
        {"name": "plain", "prompt": "no tools given"},
        {"name": "big", "prompt": big},
    ]}));
    // The fixture refuses to start when it sees either: success proves porch removed them.
    let run = sandbox
        .porch_run_tasks(&file)
        .record_agent_runs(&args_dir)
        .env("CLAUDECODE", "1")
        .env("CLAUDE_CODE_ENTRYPOINT", "cli")
        .run();
    run.expect_code(0);

    assert_eq!(
        recorded_argv(&args_dir, "tools", 1),
        expected_claude_argv("acceptEdits", &["Read", "Bash(git diff:*)"]),
        "{run}"
    );
    let received = recorded_prompt(&args_dir, "tools", 1);
    assert_eq!(
        String::from_utf8_lossy(&received),
        prompt,
        "the prompt arrives byte for byte"
    );
    assert_eq!(received, prompt.as_bytes());

    assert_eq!(
        recorded_argv(&args_dir, "plain", 1),
        expected_claude_argv("acceptEdits", &[]),
        "no --allowedTools\n{run}"
    );
    assert_eq!(recorded_prompt(&args_dir, "plain", 1), b"no tools given");
    assert_eq!(
        recorded_argv(&args_dir, "big", 1),
        expected_claude_argv("acceptEdits", &[]),
        "{run}"
    );
    assert!(big.len() > 200_000);
    assert!(
        recorded_prompt(&args_dir, "big", 1) == big.as_bytes(),
        "the large prompt arrives whole"
    );
    for name in ["tools", "plain", "big"] {
        assert!(
            !args_dir.join(format!("{name}.2.argv")).exists(),
            "{name}: claude was started once"
        );
    }
    let results = sandbox.results();
    assert_eq!(results["summary"]["succeeded"], 3, "{results:#}");
}

// ---------------------------------------------------------------------------------------------
// 8. --cleanup.

#[test]
fn cleanup_removes_worktrees_and_keeps_branches() {
    let sandbox = Sandbox::new();
    let run = sandbox
        .porch_run_tasks(&sandbox.tasks(&[("a", "@write a.txt kept"), ("idle", "@say nothing")]))
        .args(["--cleanup"])
        .run();
    run.expect_code(0);
    let results = sandbox.results();
    for name in ["a", "idle"] {
        let t = task(&results, name);
        assert_eq!(t["status"], "succeeded", "{t:#}");
        assert_eq!(t["worktree_kept"], false, "{t:#}");
        let worktree = sandbox.worktree(name);
        assert!(!worktree.exists(), "{} still exists", worktree.display());
        assert!(
            !has_worktree(&sandbox, &worktree),
            "{:?}",
            sandbox.worktrees()
        );
    }
    assert_eq!(git_worktrees(&sandbox), [canonical(sandbox.repo())]);
    assert_eq!(task_branches(&sandbox), ["task/a", "task/idle"]);
    assert_eq!(sandbox.show("task/a", "a.txt"), "kept");
    assert_eq!(commit_count(&sandbox, "main..task/a"), 1);
    assert_eq!(sandbox.rev("task/idle"), sandbox.rev("main"));
    // git has no stale registration to prune.
    let prune = sandbox.git(&["worktree", "prune", "--dry-run", "--verbose"]);
    assert_eq!(prune.trim(), "", "stale worktree entries: {prune}");
}

// ---------------------------------------------------------------------------------------------
// 9. Output.

#[test]
fn flooding_sessions_keep_their_lines_whole_prefixed_and_in_order() {
    let sandbox = Sandbox::new();
    // Distinct counts, so every line also says which task printed it.
    let tasks: Vec<(String, usize)> = ["alpha", "bravo-two", "c", "delta-four-long"]
        .iter()
        .enumerate()
        .map(|(i, n)| (n.to_string(), 2000 + i))
        .collect();
    let prompts: Vec<String> = tasks.iter().map(|(_, n)| format!("@flood {n}")).collect();
    let pairs: Vec<(&str, &str)> = tasks
        .iter()
        .zip(&prompts)
        .map(|((name, _), prompt)| (name.as_str(), prompt.as_str()))
        .collect();
    let run = sandbox.porch_run_tasks(&sandbox.tasks(&pairs)).run();
    run.expect_code(0);
    let stdout = run.stdout();
    assert!(!stdout.contains('\x1b'), "ANSI escapes on a pipe:\n{run}");
    assert!(
        !run.stderr().contains('\x1b'),
        "ANSI escapes on a pipe:\n{run}"
    );

    let width = tasks.iter().map(|(n, _)| n.chars().count()).max().unwrap();
    let prefixes: Vec<String> = tasks.iter().map(|(n, _)| prefix(n, width)).collect();
    let lines = session_lines(&stdout);
    let mut seen: Vec<Vec<usize>> = vec![Vec::new(); tasks.len()];
    // A terminal that falls behind gets fewer lines, never a session that waits: what it did
    // not get is counted in a note of porch's own.
    let mut dropped = 0;
    for line in &lines {
        if let Some(count) = dropped_lines_told(line) {
            dropped += count;
            continue;
        }
        let owner = prefixes
            .iter()
            .position(|p| line.starts_with(p.as_str()))
            .unwrap_or_else(|| panic!("a session line without a task prefix: {line:?}"));
        assert_eq!(
            line.matches('│').count(),
            1,
            "a line mixing two tasks' output: {line:?}"
        );
        let rest = &line[prefixes[owner].len()..];
        for (other, (name, _)) in tasks.iter().enumerate() {
            if other != owner {
                assert!(
                    !rest.contains(&prefixes[other]),
                    "{name}'s prefix inside a line of {}: {line:?}",
                    tasks[owner].0
                );
            }
        }
        if let Some(numbers) = rest.strip_prefix("line ") {
            let (index, total) = numbers
                .split_once(" of ")
                .unwrap_or_else(|| panic!("mangled line {line:?}"));
            let total: usize = total
                .parse()
                .unwrap_or_else(|_| panic!("mangled line {line:?}"));
            assert_eq!(
                total, tasks[owner].1,
                "a line of another task under {}'s prefix: {line:?}",
                tasks[owner].0
            );
            seen[owner].push(
                index
                    .parse()
                    .unwrap_or_else(|_| panic!("mangled line {line:?}")),
            );
        }
    }
    let mut missing = 0;
    for ((name, total), got) in tasks.iter().zip(&seen) {
        assert!(
            got.windows(2).all(|pair| pair[0] < pair[1]) && got.iter().all(|i| *i <= *total),
            "{name}: lines out of order or repeated: {got:?}"
        );
        missing += total - got.len();
    }
    assert!(
        missing as u64 <= dropped,
        "every line not shown is counted: {missing} missing, {dropped} told"
    );
    let results = sandbox.results();
    assert_eq!(results["summary"]["succeeded"], 4);
}

#[test]
fn stderr_long_and_binary_lines_are_shown_safely() {
    let sandbox = Sandbox::new();
    let run = sandbox
        .porch_run_tasks(&sandbox.tasks(&[
            (
                "odd",
                "@stderr complaint on stderr\n@long 200000\n@say after-long\n@binary\n\
                 @say after-binary\n@write odd.txt still committed",
            ),
            ("ok", "@write ok.txt fine"),
        ]))
        .run();
    run.expect_code(0);
    let stdout = run.stdout();
    assert!(!stdout.contains('\x1b'), "ANSI escapes on a pipe:\n{run}");
    assert!(
        !run.stderr().contains('\x1b'),
        "ANSI escapes on a pipe:\n{run}"
    );

    let odd = prefix("odd", 3);
    let lines = session_lines(&stdout);
    for line in &lines {
        assert!(
            line.starts_with(&odd) || line.starts_with(&prefix("ok", 3)),
            "a session line without a task prefix: {line:?}"
        );
    }
    let position = |what: &dyn Fn(&str) -> bool, label: &str| {
        lines
            .iter()
            .position(|l| what(l))
            .unwrap_or_else(|| panic!("no {label} line in\n{stdout}"))
    };
    // stdout and stderr are read by different threads: only each stream's own order is fixed.
    position(
        &|l| l == format!("{odd}[stderr] complaint on stderr"),
        "[stderr]",
    );
    let long = position(&|l| l.starts_with(&format!("{odd}xxxxxxxxxx")), "long");
    assert!(
        lines[long].len() < 20_000,
        "the long line is shown cut, not whole ({} bytes)",
        lines[long].len()
    );
    assert!(
        lines[long].contains("more bytes"),
        "{}",
        &lines[long][..200]
    );
    let after_long = position(&|l| l == format!("{odd}after-long"), "after-long");
    let binary = position(
        &|l| l.starts_with(&odd) && l.contains("not utf-8"),
        "binary",
    );
    let after_binary = position(&|l| l == format!("{odd}after-binary"), "after-binary");
    assert!(long < after_long && after_long < binary);
    assert!(binary < after_binary);

    let results = sandbox.results();
    for name in ["odd", "ok"] {
        assert_eq!(task(&results, name)["status"], "succeeded", "{run}");
    }
    assert_eq!(sandbox.show("task/odd", "odd.txt"), "still committed");
    assert_eq!(sandbox.show("task/ok", "ok.txt"), "fine");
    // The log keeps the long line whole.
    let log = std::fs::read(str_field(task(&results, "odd"), "log")).unwrap();
    assert!(
        log.split(|&b| b == b'\n')
            .any(|l| l.len() == 200_000 && l.iter().all(|&b| b == b'x')),
        "the log lacks the whole 200000-byte line"
    );
}

/// `porch run … | head -1`: the reader takes one line and closes the pipe while the session
/// still works and prints. porch must not panic, must exit as usual with a valid results file,
/// and the work done after the reader left is committed on the branch.
#[test]
fn stdout_closed_after_one_line_does_not_stop_the_run() {
    use std::io::BufRead;

    let sandbox = Sandbox::new();
    let _reaper = Reaper::new(&sandbox);
    let reader_gone = sandbox.path().join("reader-gone");
    let prompt = format!(
        "@say the first line\n@wait-for {}\n@write after.txt written after the reader left\n@flood 2000",
        reader_gone.display()
    );
    let tasks = sandbox.tasks(&[("piped", &prompt)]);
    let (mut porch, stdout) = sandbox.porch_run_tasks(&tasks).spawn_piping_stdout("run");
    let mut head = std::io::BufReader::new(stdout);
    let mut first_line = String::new();
    head.read_line(&mut first_line).unwrap();
    drop(head);
    // Only now does the session go on, so everything after its first line meets a closed pipe.
    std::fs::write(&reader_gone, "").unwrap();
    let run = porch.wait();
    assert!(
        first_line.ends_with('\n'),
        "head -1 read {first_line:?}\n{run}"
    );
    run.expect_no_panic().expect_code(0);

    let results = sandbox.results();
    assert!(results["finished_at"].is_string(), "{results:#}");
    assert_eq!(results["summary"]["succeeded"], 1, "{results:#}");
    assert_eq!(
        task(&results, "piped")["status"],
        "succeeded",
        "{results:#}"
    );
    assert_eq!(
        sandbox.show("task/piped", "after.txt"),
        "written after the reader left"
    );
    assert_eq!(commit_count(&sandbox, "main..task/piped"), 1, "{run}");
}

/// A stdout nobody reads (a pager left open, a full pipe): the printer blocks in its write, and
/// sessions must not wait for it. Chatty sessions all finish with their work committed and their
/// logs whole while nobody reads; then the reader reads and is told how many lines it missed.
#[test]
fn an_unread_stdout_never_holds_up_the_sessions() {
    use std::io::Read;

    let sandbox = Sandbox::new();
    let _reaper = Reaper::new(&sandbox);
    let names = ["a", "b", "c", "d"];
    // `@raw` lines cost the fixture no process each, unlike `@flood`.
    let padding = "x".repeat(100);
    let chatter: String = (1..=3000)
        .map(|i| format!("@raw line {i} of 3000 {padding}\n"))
        .collect();
    let tasks: Vec<(String, String)> = names
        .iter()
        .map(|n| (n.to_string(), format!("{chatter}@write {n}.txt done")))
        .collect();
    let tasks_file = sandbox.tasks_in("tasks.json", &tasks);
    // 12,000 lines of 100 bytes are far more than the pipe and the printer's queue hold.
    let (mut porch, mut stdout) = sandbox
        .porch_run_tasks(&tasks_file)
        .spawn_piping_stdout("run");
    wait_until(
        "every task finished while nobody read stdout",
        RUN_DEADLINE,
        || {
            sandbox
                .results_now()
                .is_some_and(|r| statuses(&r) == ["succeeded"; 4])
        },
    );
    let mut shown = String::new();
    stdout.read_to_string(&mut shown).unwrap();
    let run = porch.wait();
    run.expect_no_panic().expect_code(0);
    run.expect_stderr("line(s) of output not shown");

    let results = sandbox.results();
    for name in names {
        assert_eq!(
            sandbox.show(&format!("task/{name}"), &format!("{name}.txt")),
            "done"
        );
        let log = std::fs::read_to_string(str_field(task(&results, name), "log")).unwrap();
        let chatter_lines = log.lines().filter(|l| l.contains(" of 3000 x")).count();
        assert_eq!(chatter_lines, 3000, "the log of {name} has every line");
    }
    let dropped: u64 = shown.lines().filter_map(dropped_lines_told).sum();
    let chatter_shown = shown.lines().filter(|l| l.contains(" of 3000 x")).count() as u64;
    assert!(
        dropped > 0,
        "the reader is told lines were dropped:\n{shown}"
    );
    assert!(
        chatter_shown < 12_000 && chatter_shown + dropped >= 12_000,
        "every line is shown or counted: {chatter_shown} shown, {dropped} dropped"
    );
    // The results count them by task, and the summary says how many and whose.
    let by_task: Vec<u64> = names
        .iter()
        .map(|name| task(&results, name)["dropped_lines"].as_u64().unwrap())
        .collect();
    let recorded: u64 = by_task.iter().sum();
    assert_eq!(results["summary"]["dropped_lines"], recorded);
    assert!(
        chatter_shown + recorded >= 12_000,
        "every chatter line is shown or counted for its task: {chatter_shown} shown, {by_task:?}"
    );
    let summary_line =
        format!("{recorded} line(s) of output not shown: the terminal fell behind (");
    assert!(
        shown.lines().any(|l| l.starts_with(&summary_line)),
        "the summary says {summary_line}…:\n{shown}"
    );
}

// ---------------------------------------------------------------------------------------------
// 10. init, then run what it wrote.

#[test]
fn init_writes_a_sample_that_runs() {
    let sandbox = Sandbox::new();
    let file = sandbox.path().join("tasks.json");

    sandbox.porch(&["init"]).run().expect_code(0);
    let sample = std::fs::read_to_string(&file).expect("init wrote tasks.json");
    serde_json::from_str::<Value>(&sample).expect("the sample is JSON");

    std::fs::write(&file, "{\"tasks\": []} mine\n").unwrap();
    sandbox
        .porch(&["init"])
        .run()
        .expect_code(2)
        .expect_stderr("already exists");
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        "{\"tasks\": []} mine\n",
        "a refused init leaves the file alone"
    );

    sandbox.porch(&["init", "--force"]).run().expect_code(0);
    assert_eq!(std::fs::read_to_string(&file).unwrap(), sample);

    // The sample's prompts hold no directives: the fixture just answers "done".
    let run = sandbox.porch_run_tasks(&file).run();
    run.expect_code(0);
    let results = sandbox.results();
    assert_eq!(results["summary"]["total"], 2, "{results:#}");
    assert_eq!(results["summary"]["succeeded"], 2, "{results:#}");
    assert_eq!(task_branches(&sandbox).len(), 2);
    assert_eq!(git_worktrees(&sandbox).len(), 3);
}

// ---------------------------------------------------------------------------------------------
// 11. list.

/// `porch list` rows as (first column, branch, task, state).
fn list_rows(sandbox: &Sandbox) -> Vec<(String, String, String, String)> {
    let run = sandbox.porch(&["list", path_str(&sandbox.repo())]).run();
    run.expect_code(0);
    run.stdout()
        .lines()
        .skip(1)
        .map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            assert!(fields.len() >= 4, "a short row {line:?}\n{run}");
            (
                fields[0].to_string(),
                fields[1].to_string(),
                fields[2].to_string(),
                fields[3..].join(" "),
            )
        })
        .collect()
}

fn row_for<'a>(
    rows: &'a [(String, String, String, String)],
    branch: &str,
) -> &'a (String, String, String, String) {
    rows.iter()
        .find(|r| r.1 == branch)
        .unwrap_or_else(|| panic!("no row for {branch} in {rows:#?}"))
}

#[test]
fn list_shows_worktrees_their_state_and_branches_left_alone() {
    let sandbox = Sandbox::new();
    sandbox
        .porch_run_tasks(&sandbox.tasks(&[("a", "@write a.txt a"), ("b", "@say nothing")]))
        .run()
        .expect_code(0);

    let rows = list_rows(&sandbox);
    for name in ["a", "b"] {
        let row = row_for(&rows, &format!("task/{name}"));
        assert_eq!(
            canonical(&row.0),
            canonical(sandbox.worktree(name)),
            "{rows:#?}"
        );
        assert_eq!(row.2, name, "{rows:#?}");
        assert_eq!(row.3, "clean", "{rows:#?}");
    }
    let main = row_for(&rows, "main");
    assert_eq!(canonical(&main.0), canonical(sandbox.repo()));

    std::fs::write(sandbox.worktree("b").join("scratch.txt"), "untracked\n").unwrap();
    let rows = list_rows(&sandbox);
    assert_eq!(row_for(&rows, "task/b").3, "dirty", "{rows:#?}");
    assert_eq!(row_for(&rows, "task/a").3, "clean", "{rows:#?}");

    // A second run, cleaning up: its branches stay without worktrees.
    let file = sandbox.tasks_json(&serde_json::json!({"tasks": [
        {"name": "c", "prompt": "@write c.txt c"},
    ]}));
    sandbox
        .porch_run_tasks(&file)
        .args(["--cleanup"])
        .run()
        .expect_code(0);
    let rows = list_rows(&sandbox);
    let c = row_for(&rows, "task/c");
    assert_eq!(c.0, "-", "{rows:#?}");
    assert_eq!(c.2, "c", "{rows:#?}");
    assert!(c.3.starts_with("branch only"), "{rows:#?}");
    assert_eq!(row_for(&rows, "task/b").3, "dirty", "{rows:#?}");
    assert_eq!(sandbox.show("task/c", "c.txt"), "c");
}

// ---------------------------------------------------------------------------------------------
// 12. Base branches.

#[test]
fn tasks_branch_from_the_checked_out_branch_or_their_base_branch() {
    let sandbox = Sandbox::with_branch("trunk");
    let trunk = sandbox.rev("trunk");
    sandbox.git(&["checkout", "-q", "-b", "feature"]);
    std::fs::write(sandbox.repo().join("feature.txt"), "feature work\n").unwrap();
    sandbox.git(&["add", "feature.txt"]);
    sandbox.commit("feature");
    sandbox.git(&["checkout", "-q", "trunk"]);
    let feature = sandbox.rev("feature");

    let file = sandbox.tasks_json(&serde_json::json!({"tasks": [
        {"name": "default-base", "prompt": "@write x.txt x"},
        {"name": "on-feature", "prompt": "@write y.txt y", "base_branch": "feature"},
    ]}));
    let run = sandbox.porch_run_tasks(&file).run();
    run.expect_code(0);
    let results = sandbox.results();

    assert_branched_from(&sandbox, &results, "default-base", "trunk", &trunk);
    assert_eq!(sandbox.show("task/default-base", "x.txt"), "x");

    assert_branched_from(&sandbox, &results, "on-feature", "feature", &feature);
    assert_eq!(
        sandbox.show("task/on-feature", "feature.txt"),
        "feature work\n"
    );
    assert_eq!(sandbox.show("task/on-feature", "y.txt"), "y");
    run.expect_stdout("git -C");
    assert!(
        run.stdout().contains("diff trunk...task/default-base")
            && run.stdout().contains("diff feature...task/on-feature"),
        "{run}"
    );
    // Nothing moved the repository's own branches.
    assert_eq!(sandbox.rev("trunk"), trunk);
    assert_eq!(sandbox.rev("feature"), feature);
    assert_eq!(
        sandbox.git(&["symbolic-ref", "--short", "HEAD"]).trim(),
        "trunk"
    );
}

// ---------------------------------------------------------------------------------------------
// 13. Many at once.

#[test]
fn sixteen_tasks_at_once_do_not_trip_over_git_locks() {
    let sandbox = Sandbox::new();
    let names: Vec<String> = (0..16).map(|i| format!("t{i:02}")).collect();
    let prompts: Vec<String> = names
        .iter()
        .map(|n| format!("@write {n}.txt work of {n}"))
        .collect();
    let pairs: Vec<(&str, &str)> = names
        .iter()
        .zip(&prompts)
        .map(|(n, p)| (n.as_str(), p.as_str()))
        .collect();
    // `-j 16`: all at once, whatever memory this machine has.
    let run = sandbox
        .porch_run_tasks(&sandbox.tasks(&pairs))
        .args(["-j", "16"])
        .run();
    run.expect_code(0);
    assert!(!run.stderr().contains("at most"), "{run}");

    let sandbox_path = path_str(sandbox.path());
    let output = format!("{}\n{}", run.stdout(), run.stderr()).replace(sandbox_path, "<sandbox>");
    let lower = output.to_lowercase();
    assert!(!lower.contains("lock"), "a lock error:\n{output}");
    assert!(!lower.contains("commondir"), "a commondir error:\n{output}");
    assert!(!lower.contains("fatal"), "a git error:\n{output}");

    let results = sandbox.results();
    assert_eq!(results["summary"]["succeeded"], 16, "{run}");
    assert_eq!(task_branches(&sandbox).len(), 16);
    assert_eq!(git_worktrees(&sandbox).len(), 17);
    for name in &names {
        assert_eq!(
            sandbox.show(&format!("task/{name}"), &format!("{name}.txt")),
            format!("work of {name}")
        );
        assert_eq!(commit_count(&sandbox, &format!("main..task/{name}")), 1);
    }
    sandbox.git(&["fsck", "--no-progress"]);
}

// ---------------------------------------------------------------------------------------------
// 14-15. stdin, atomic results.

#[test]
fn tasks_can_come_from_stdin() {
    let sandbox = Sandbox::new();
    let tasks = serde_json::json!({"tasks": [
        {"name": "from-stdin", "prompt": "@write s.txt via stdin"},
    ]});
    let run = sandbox
        .porch_run(&["-", path_str(&sandbox.repo())])
        .stdin(tasks.to_string())
        .run();
    run.expect_code(0);
    let results = sandbox.results();
    assert_eq!(task(&results, "from-stdin")["status"], "succeeded");
    assert_eq!(sandbox.show("task/from-stdin", "s.txt"), "via stdin");
}

#[test]
fn the_results_file_leaves_no_temporary_files() {
    let sandbox = Sandbox::new();
    sandbox
        .porch_run_tasks(&sandbox.tasks(&[
            ("a", "@write a.txt a"),
            ("b", "@write b.txt b"),
            ("c", "@say hi"),
        ]))
        .run()
        .expect_code(0);
    let results = sandbox.results();
    assert_eq!(results["summary"]["succeeded"], 3);
    assert!(results["finished_at"].is_string(), "{results:#}");
    let dir = sandbox.results_path().parent().unwrap().to_path_buf();
    let leftovers: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".results.json") || n.ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
}

// ---------------------------------------------------------------------------------------------
// 16. Help and version.

#[test]
fn version_and_help() {
    let sandbox = Sandbox::empty();
    let version = sandbox.porch(&["--version"]).run();
    version.expect_code(0);
    // The build script records the commit the binary was built from.
    let head = std::process::Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    let commit = head.unwrap_or_else(|| "unknown commit".to_string());
    assert_eq!(
        version.stdout().trim(),
        format!("porch {} ({commit})", env!("CARGO_PKG_VERSION"))
    );
    sandbox.porch(&["-V"]).run().expect_code(0);

    for args in [
        &["--help"][..],
        &["-h"],
        &["help"],
        &["help", "run"],
        &["run", "--help"],
        &["help", "init"],
        &["help", "list"],
    ] {
        let out = sandbox.porch(args).run();
        out.expect_code(0).expect_stdout("Usage:");
        assert_eq!(out.stderr(), "", "{out}");
    }
    let run_help = sandbox.porch(&["help", "run"]).run();
    run_help
        .expect_stdout("porch run [OPTIONS] TASKS [REPO]")
        .expect_stdout("--permission-mode")
        .expect_stdout("--cleanup");
    assert_eq!(
        run_help.stdout(),
        sandbox.porch(&["run", "--help"]).run().stdout()
    );
    // Help created nothing.
    assert!(sandbox.created_outside_repo().is_empty());
}

/// A session that switches the worktree to another branch: porch does not commit there (nobody
/// would look), keeps the worktree even with --cleanup, and says where the work is.
#[test]
fn a_session_that_switches_branches_keeps_its_worktree_and_is_reported() {
    let sandbox = Sandbox::new();
    let run = sandbox
        .porch_run_tasks(&sandbox.tasks(&[(
            "sw",
            "@bash git checkout -q -b agent-branch\n@write x.txt hello",
        )]))
        .args(["--cleanup"])
        .run();
    run.expect_code(0);
    let results = sandbox.results();
    let sw = task(&results, "sw");
    let warnings = sw["warnings"].to_string();
    assert!(warnings.contains("agent-branch"), "{sw:#}");
    assert_eq!(sw["worktree_kept"], true, "{sw:#}");
    assert!(sandbox.worktree("sw").join("x.txt").exists());
    assert_eq!(
        sandbox.rev("task/sw"),
        sandbox.rev("main"),
        "nothing committed on task/sw"
    );
    assert_eq!(
        sandbox.rev("agent-branch"),
        sandbox.rev("main"),
        "nor on the agent's branch"
    );
    run.expect_stdout("agent-branch");
}

/// Without -o, each run writes its own results file and `.porch/results.json` names the latest.
#[test]
fn each_run_has_its_own_results_file_and_a_link_to_the_latest() {
    let sandbox = Sandbox::new();
    let state = sandbox.worktree_dir().join("repo").join(".porch");
    for name in ["first", "second"] {
        sandbox.tasks(&[(name, "@write f.txt x")]);
        sandbox
            .porch_run(&["tasks.json", "repo"])
            .without_output()
            .run()
            .expect_code(0);
    }
    let runs: Vec<_> = std::fs::read_dir(state.join("runs"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    assert_eq!(runs.len(), 2, "{runs:?}");
    let latest: Value =
        serde_json::from_str(&std::fs::read_to_string(state.join("results.json")).unwrap())
            .unwrap();
    assert_eq!(latest["tasks"][0]["name"], "second");
    let names: Vec<String> = runs
        .iter()
        .map(|p| {
            let v: Value = serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap();
            v["tasks"][0]["name"].as_str().unwrap().to_string()
        })
        .collect();
    assert!(
        names.contains(&"first".to_string()) && names.contains(&"second".to_string()),
        "{names:?}"
    );
}

/// Two checkouts both called `repo` under one --worktree-dir never share a directory.
#[test]
fn repositories_with_the_same_name_get_their_own_worktree_roots() {
    let first = Sandbox::new();
    let second = Sandbox::new();
    let shared_dir = first.worktree_dir();
    for sandbox in [&first, &second] {
        sandbox.tasks(&[("t", "@write f.txt x")]);
        sandbox
            .porch_run(&["tasks.json", "repo"])
            .worktree_dir(&shared_dir)
            .without_output()
            .run()
            .expect_code(0);
    }
    let roots: Vec<String> = std::fs::read_dir(&shared_dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(roots.len(), 2, "{roots:?}");
    assert!(roots.contains(&"repo".to_string()), "{roots:?}");
    for sandbox in [&first, &second] {
        let listed = sandbox.git(&["worktree", "list", "--porcelain"]);
        let own = listed
            .lines()
            .filter(|l| l.starts_with("worktree ") && l.contains(&*shared_dir.to_string_lossy()))
            .count();
        assert_eq!(own, 1, "{listed}");
        assert_eq!(sandbox.git(&["show", "task/t:f.txt"]), "x");
    }
}
