//! porch's own git in unusual repositories and at unusual moments: hooks, the terminal, sparse
//! checkouts, stale lock files, ambiguous base names, signals during worktree registration, and
//! results files that are not regular files.
//!
//! Facts are checked with git itself. Nothing waits on a clock.

use std::path::Path;
use std::process::{Command, Stdio};

use crate::support::*;

/// Hooks git runs around the commands porch uses (commit, update-ref, worktree add, reset,
/// checkout), each of which would record that it ran.
const HOOKS: [&str; 8] = [
    "pre-commit",
    "prepare-commit-msg",
    "commit-msg",
    "post-commit",
    "reference-transaction",
    "post-checkout",
    "post-index-change",
    "pre-auto-gc",
];

/// A hook that records its name in `ran`, then, for prepare-commit-msg, does what commitizen's
/// does: reads the terminal (which stops a background process, or fails without one).
fn hook_script(name: &str, ran: &Path) -> String {
    let tty = if name == "prepare-commit-msg" {
        "exec < /dev/tty || exit 1\nread answer\n"
    } else {
        ""
    };
    format!(
        "#!/bin/sh\necho ran >> {}/{name}\n{tty}exit 0\n",
        ran.display()
    )
}

fn hooks_that_ran(ran: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(ran)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn porch_runs_no_hook_of_the_repository() {
    let sandbox = Sandbox::new();
    let _reaper = Reaper::new(&sandbox);
    let ran = sandbox.path().join("hooks-ran");
    std::fs::create_dir_all(&ran).unwrap();
    for name in HOOKS {
        let path = sandbox.repo().join(".git/hooks").join(name);
        write_script(&path, &hook_script(name, &ran));
    }
    let tasks = sandbox.tasks(&[("hooked", "@write work.txt kept")]);
    let run = sandbox.porch_run_tasks(&tasks).spawn("run").wait();
    run.expect_code(0);
    assert_eq!(hooks_that_ran(&ran), Vec::<String>::new(), "{run}");
    assert_eq!(sandbox.git(&["show", "task/hooked:work.txt"]), "kept");
    // The hooks are live: git run by anyone else runs them.
    sandbox.git(&["update-ref", "refs/test/control", "HEAD"]);
    assert!(
        hooks_that_ran(&ran).contains(&"reference-transaction".to_string()),
        "the test's hooks do not run at all: {:?}",
        hooks_that_ran(&ran)
    );
}

/// With a relative `core.hooksPath`, hooks come from the worktree git runs in: the agent can
/// write them. porch must not run what its agent wrote.
#[test]
fn porch_runs_no_hook_the_agent_wrote_under_a_relative_hooks_path() {
    let sandbox = Sandbox::new();
    let _reaper = Reaper::new(&sandbox);
    sandbox.git(&["config", "core.hooksPath", ".hooks"]);
    let ran = sandbox.path().join("hooks-ran");
    std::fs::create_dir_all(&ran).unwrap();
    let scripts = sandbox.path().join("scripts");
    for name in HOOKS {
        write_script(&scripts.join(name), &hook_script(name, &ran));
    }
    let prompt = format!(
        "@write work.txt kept\n@bash mkdir -p .hooks && cp {}/* .hooks/",
        scripts.display()
    );
    let tasks = sandbox.tasks(&[("hooked", &prompt)]);
    let run = sandbox.porch_run_tasks(&tasks).spawn("run").wait();
    run.expect_code(0);
    assert_eq!(hooks_that_ran(&ran), Vec::<String>::new(), "{run}");
    assert_eq!(sandbox.git(&["show", "task/hooked:work.txt"]), "kept");
    assert!(
        sandbox
            .git(&["show", "task/hooked:.hooks/post-commit"])
            .contains("echo ran"),
        "the agent's hooks are committed as its work"
    );
    // The agent's hooks are live in its worktree: git run there by anyone else runs them.
    sandbox.git_in(
        &sandbox.worktree("hooked"),
        &["update-ref", "refs/test/control", "HEAD"],
    );
    assert!(
        hooks_that_ran(&ran).contains(&"reference-transaction".to_string()),
        "the agent's hooks do not run at all: {:?}",
        hooks_that_ran(&ran)
    );
}

/// A word for `sh -c`, in single quotes.
fn shell_quote(word: &str) -> String {
    format!("'{}'", word.replace('\'', r"'\''"))
}

/// `command` run by `script(1)` under a pseudo-terminal that becomes its controlling terminal:
/// the same program, arguments, environment and directory, stdin null.
fn under_terminal(command: &Command) -> Command {
    let mut line = String::from("exec");
    for word in std::iter::once(command.get_program()).chain(command.get_args()) {
        line.push(' ');
        line.push_str(&shell_quote(&word.to_string_lossy()));
    }
    let mut script = Command::new("script");
    script
        .args(["-qec", &line, "/dev/null"])
        .stdin(Stdio::null());
    for (key, value) in command.get_envs() {
        match value {
            Some(value) => script.env(key, value),
            None => script.env_remove(key),
        };
    }
    if let Some(dir) = command.get_current_dir() {
        script.current_dir(dir);
    }
    script
}

/// porch under a pseudo-terminal (`script`), as from an interactive shell. What porch's git
/// starts (here a clean filter, as Git LFS installs one) must not get that terminal: a program
/// that reads it from a background process group is stopped with SIGTTIN, and porch with it.
#[test]
fn porch_git_never_gets_the_terminal() {
    let sandbox = Sandbox::new();
    let _reaper = Reaper::new(&sandbox);
    let log = sandbox.path().join("filter.log");
    let probe = write_script(
        &sandbox.path().join("probe.sh"),
        &format!(
            "#!/bin/sh\necho ran >> {log}\nif ( exec </dev/tty ) 2>/dev/null; then echo opened the terminal >> {log}; fi\nexec cat\n",
            log = log.display()
        ),
    );
    sandbox.git(&["config", "filter.probe.clean", path_str(&probe)]);
    std::fs::write(
        sandbox.repo().join(".gitattributes"),
        "*.txt filter=probe\n",
    )
    .unwrap();
    sandbox.git(&["add", ".gitattributes"]);
    sandbox.commit("filter");
    std::fs::remove_file(&log).unwrap_or_default();
    let tasks = sandbox.tasks(&[("filtered", "@write work.txt kept")]);

    let output = under_terminal(&sandbox.porch_run_tasks(&tasks).command())
        .output()
        .expect("script(1) runs");
    let printed = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{printed}");
    assert_eq!(sandbox.git(&["show", "task/filtered:work.txt"]), "kept");
    let filtered = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(
        filtered.starts_with("ran\n"),
        "the filter ran: {filtered:?}\n{printed}"
    );
    assert!(!filtered.contains("opened"), "{filtered:?}\n{printed}");

    // The terminal is there: the probe itself, run under script, opens it.
    std::fs::remove_file(&log).unwrap();
    let control = under_terminal(&Command::new(&probe))
        .output()
        .expect("script(1) runs");
    assert!(control.status.success());
    assert_eq!(
        std::fs::read_to_string(&log).unwrap(),
        "ran\nopened the terminal\n"
    );
}

/// A branch and a tag of one name at different commits: git itself takes the tag; a task's
/// `base_branch` is the branch. A remote-tracking branch comes before a tag too, and a name that
/// is only a tag still works.
#[test]
fn a_base_branch_is_the_branch_even_when_a_tag_has_its_name() {
    let sandbox = Sandbox::new();
    let _reaper = Reaper::new(&sandbox);
    let head = |sandbox: &Sandbox| sandbox.rev("HEAD");
    let first = head(&sandbox);
    sandbox.git(&["branch", "release"]);
    sandbox.git(&["update-ref", "refs/remotes/origin/dev", &first]);
    std::fs::write(sandbox.repo().join("later.txt"), "later\n").unwrap();
    sandbox.git(&["add", "later.txt"]);
    sandbox.commit("later");
    let later = head(&sandbox);
    for tag in ["release", "origin/dev", "v2"] {
        sandbox.git(&["tag", tag]);
    }
    // git's own order: the tag wins.
    assert_eq!(sandbox.git(&["rev-parse", "release"]).trim(), later);
    assert_eq!(sandbox.git(&["rev-parse", "origin/dev"]).trim(), later);

    let tasks = sandbox.tasks_json(&serde_json::json!({"tasks": [
        {"name": "from-branch", "prompt": "@write a.txt a", "base_branch": "release"},
        {"name": "from-remote", "prompt": "@write b.txt b", "base_branch": "origin/dev"},
        {"name": "from-tag", "prompt": "@write c.txt c", "base_branch": "v2"},
    ]}));
    let run = sandbox.porch_run_tasks(&tasks).run();
    run.expect_code(0);
    let results = sandbox.results();
    for (name, base, commit) in [
        ("from-branch", "release", &first),
        ("from-remote", "origin/dev", &first),
        ("from-tag", "v2", &later),
    ] {
        let t = task(&results, name);
        assert_eq!(t["base_branch"], base, "{t:#}");
        assert_eq!(t["base_commit"], commit.as_str(), "{t:#}");
        let parent = sandbox.git(&["rev-parse", &format!("task/{name}^")]);
        assert_eq!(
            parent.trim(),
            commit.as_str(),
            "task/{name} starts at its base"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// -o naming something that is not a regular file

/// Puts `/dev/null` back if a broken porch replaced it (as root, a rename can), so one failing
/// test does not break git for the whole machine; then fails the test.
#[track_caller]
fn assert_dev_null_intact() {
    use std::os::unix::fs::FileTypeExt;
    let meta = std::fs::symlink_metadata("/dev/null").unwrap();
    if meta.file_type().is_char_device() {
        return;
    }
    let _ = std::fs::remove_file("/dev/null");
    let _ = Command::new("mknod")
        .args(["-m", "666", "/dev/null", "c", "1", "3"])
        .status();
    panic!("porch replaced /dev/null with a {:?}", meta.file_type());
}

#[test]
fn results_to_dev_null_leave_it_a_device() {
    let sandbox = Sandbox::new();
    let _reaper = Reaper::new(&sandbox);
    let tasks = sandbox.tasks(&[("quiet", "@write a.txt a")]);
    // Through a link first: a broken porch would replace the link, not the device.
    let link = sandbox.path().join("to-null");
    std::os::unix::fs::symlink("/dev/null", &link).unwrap();
    for output in [link.as_path(), Path::new("/dev/null")] {
        let run = sandbox.porch_run_tasks(&tasks).output(output).run();
        assert_dev_null_intact();
        run.expect_code(0);
        assert_eq!(std::fs::read_link(&link).unwrap(), Path::new("/dev/null"));
        sandbox.git(&["worktree", "remove", path_str(&sandbox.worktree("quiet"))]);
        sandbox.git(&["branch", "-D", "task/quiet"]);
    }
}

#[test]
fn results_to_a_fifo_reach_its_reader_once_whole() {
    let sandbox = Sandbox::new();
    let _reaper = Reaper::new(&sandbox);
    let fifo = sandbox.path().join("results.fifo");
    assert!(
        Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    let reader = {
        let fifo = fifo.clone();
        // Opening blocks until porch opens it to write; reading ends when porch closes it.
        std::thread::spawn(move || std::fs::read_to_string(&fifo).unwrap())
    };
    let tasks = sandbox.tasks(&[("a", "@write a.txt a"), ("b", "@write b.txt b")]);
    let mut porch = sandbox.porch_run_tasks(&tasks);
    porch.output(&fifo);
    let run = porch.spawn("run").wait();
    run.expect_code(0);
    let text = reader.join().unwrap();
    let results: serde_json::Value =
        serde_json::from_str(&text).unwrap_or_else(|err| panic!("{err}: {text:?}\n{run}"));
    assert_eq!(statuses(&results), ["succeeded", "succeeded"]);
    assert!(results["finished_at"].is_string(), "{results:#}");
    use std::os::unix::fs::FileTypeExt;
    assert!(std::fs::metadata(&fifo).unwrap().file_type().is_fifo());
}

#[test]
fn results_through_a_link_replace_its_target_and_the_link_stays() {
    let sandbox = Sandbox::new();
    let _reaper = Reaper::new(&sandbox);
    let reports = sandbox.path().join("reports");
    std::fs::create_dir_all(&reports).unwrap();
    std::fs::write(reports.join("latest.json"), "old").unwrap();
    let link = sandbox.path().join("results-link.json");
    std::os::unix::fs::symlink("reports/latest.json", &link).unwrap();
    let tasks = sandbox.tasks(&[("a", "@write a.txt a")]);
    sandbox
        .porch_run_tasks(&tasks)
        .output(&link)
        .run()
        .expect_code(0);
    assert_eq!(
        std::fs::read_link(&link).unwrap(),
        Path::new("reports/latest.json")
    );
    let text = std::fs::read_to_string(reports.join("latest.json")).unwrap();
    let results: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(statuses(&results), ["succeeded"]);
    // Nothing but the target beside it: no temporary file left.
    assert_eq!(std::fs::read_dir(&reports).unwrap().count(), 1);
}

// ---------------------------------------------------------------------------------------------
// Sparse checkouts

/// In a cone-mode sparse checkout of `inside/`, the agent writes inside the cone and outside
/// it: both are committed, and what the checkout left out is not deleted on the branch.
#[test]
fn work_inside_and_outside_a_sparse_cone_is_committed() {
    let sandbox = Sandbox::new();
    let _reaper = Reaper::new(&sandbox);
    for (path, text) in [
        ("inside/kept.txt", "in\n"),
        ("outside/left-out.txt", "out\n"),
    ] {
        let file = sandbox.repo().join(path);
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(file, text).unwrap();
    }
    sandbox.git(&["add", "."]);
    sandbox.commit("two directories");
    sandbox.git(&["sparse-checkout", "set", "--cone", "inside"]);
    assert!(
        !sandbox.repo().join("outside").exists(),
        "the checkout is sparse"
    );

    let tasks = sandbox.tasks(&[(
        "sparse",
        "@write inside/new.txt in the cone\n@write outside/new.txt out of the cone",
    )]);
    let run = sandbox.porch_run_tasks(&tasks).run();
    run.expect_code(0);
    let results = sandbox.results();
    assert_eq!(task(&results, "sparse")["files_changed"], 2, "{results:#}");
    let show = |path: &str| sandbox.git(&["show", &format!("task/sparse:{path}")]);
    assert_eq!(show("inside/new.txt"), "in the cone");
    assert_eq!(show("outside/new.txt"), "out of the cone");
    assert_eq!(show("outside/left-out.txt"), "out\n");
    assert_eq!(show("inside/kept.txt"), "in\n");
    // git registered the worktree and gave it the repository's sparse patterns.
    let worktree = sandbox.worktree("sparse");
    assert!(worktree.join("inside/kept.txt").exists());
    assert!(!worktree.join("outside/left-out.txt").exists());
}

/// In a repository whose refs are in a reftable (git 2.45 and later), HEAD is not in the
/// worktree's `HEAD` file: the work is still committed on the task's branch, and `git worktree
/// add` registers the worktree.
#[test]
fn work_in_a_reftable_repository_is_committed() {
    let sandbox = Sandbox::new();
    let _reaper = Reaper::new(&sandbox);
    let repo = sandbox.path().join("reftable");
    let made = Command::new("git")
        .args(["init", "-q", "-b", "main", "--ref-format=reftable"])
        .arg(&repo)
        .output()
        .unwrap();
    if !made.status.success() {
        eprintln!(
            "skipped: this git has no reftable ({})",
            String::from_utf8_lossy(&made.stderr)
        );
        return;
    }
    std::fs::write(repo.join("a.txt"), "a\n").unwrap();
    sandbox.git_in(&repo, &["add", "a.txt"]);
    let identity = ["-c", "user.name=Test", "-c", "user.email=test@example.com"];
    sandbox.git_in(
        &repo,
        &[&identity[..], &["commit", "-q", "-m", "init"]].concat(),
    );
    let tasks = sandbox.tasks(&[("tabled", "@write tabled.txt in the table")]);
    let run = sandbox.porch_run(&[]).arg(&tasks).arg(&repo).run();
    run.expect_code(0);
    let results = sandbox.results();
    assert_eq!(task(&results, "tabled")["commits"], 1, "{results:#}\n{run}");
    let show = sandbox.git_in(&repo, &["show", "task/tabled:tabled.txt"]);
    assert_eq!(show, "in the table");
}

// ---------------------------------------------------------------------------------------------
// A lock file left by the session

/// The session is ended on its timeout while its git holds the worktree's `index.lock`. Once
/// every process of the session is gone the lock is stale: porch removes it, commits the work,
/// and the task stays `timed_out`.
#[test]
fn an_index_lock_left_by_a_timed_out_session_does_not_stop_the_commit() {
    with_a_limit_the_fixture_beats(6, |limit| {
        let sandbox = Sandbox::new();
        let _reaper = Reaper::new(&sandbox);
        // Written once the fixture holds the lock.
        let agent_pid = sandbox.path().join("locker.pid");
        let tasks = sandbox.tasks_json(&serde_json::json!({"tasks": [{
            "name": "locker",
            "prompt": format!(
                "@write work.txt kept\n@hold-index-lock {}",
                agent_pid.display()
            ),
            "timeout": limit,
        }]}));
        let run = sandbox.porch_run_tasks(&tasks).spawn("run").wait();
        if !agent_pid.exists() {
            return false;
        }
        run.expect_code(1);
        let results = sandbox.results();
        let locker = task(&results, "locker");
        assert_eq!(locker["status"], "timed_out", "{results:#}\n{run}");
        assert_eq!(sandbox.git(&["show", "task/locker:work.txt"]), "kept");
        let warned = locker["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w.as_str().unwrap_or_default().contains("index.lock"));
        assert!(warned, "a warning says porch removed the lock: {locker:#}");
        assert_gone(read_pid(&agent_pid), "the agent");
        let lock = sandbox.git_in(
            &sandbox.worktree("locker"),
            &["rev-parse", "--git-path", "index.lock"],
        );
        assert!(!sandbox.worktree("locker").join(lock.trim()).exists());
        true
    });
}

// ---------------------------------------------------------------------------------------------
// A signal while worktrees are being registered

/// What porch left for task `name`: its branch, a registered worktree, its directory.
fn leftovers_of(sandbox: &Sandbox, name: &str) -> Vec<String> {
    let mut found = Vec::new();
    let branch = format!("task/{name}");
    if sandbox.branches().contains(&branch) {
        found.push(branch);
    }
    let dir = sandbox.worktree(name);
    if sandbox
        .worktrees()
        .iter()
        .any(|w| Path::new(w).ends_with(name))
    {
        found.push(format!("registered worktree {name}"));
    }
    if dir.exists() {
        found.push(dir.display().to_string());
    }
    found
}

/// Every task thread waits for the repository lock (the test holds it) when porch gets
/// SIGINT: none may create anything once it has the lock. The same tasks then run. The
/// repository has per-worktree config, so `git worktree add` registers the worktrees, under
/// the lock.
#[test]
fn tasks_waiting_to_register_their_worktree_when_porch_is_interrupted_create_nothing() {
    let sandbox = Sandbox::new();
    let _reaper = Reaper::new(&sandbox);
    sandbox.git(&["config", "extensions.worktreeConfig", "true"]);
    let names: Vec<String> = (1..=6).map(|i| format!("t{i}")).collect();
    let tasks = sandbox.tasks_in(
        "tasks.json",
        &names
            .iter()
            .map(|n| (n.clone(), format!("@write {n}.txt {n}")))
            .collect::<Vec<_>>(),
    );
    let lock = std::fs::File::open(sandbox.repo().join(".git")).unwrap();
    lock.lock().unwrap();
    let mut porch = sandbox.porch_run_tasks(&tasks).spawn("interrupted");
    wait_until("every task has started", DEADLINE, || {
        sandbox
            .results_now()
            .is_some_and(|r| statuses(&r).iter().all(|s| s == "running"))
    });
    porch.signal("INT");
    drop(lock);
    let run = porch.wait();
    run.expect_code(130);
    let results = sandbox.results();
    for name in &names {
        let t = task(&results, name);
        assert_eq!(t["status"], "skipped", "{results:#}\n{run}");
        assert!(
            t["error"]
                .as_str()
                .unwrap_or_default()
                .contains("not started"),
            "{t:#}"
        );
        assert_eq!(t["worktree_kept"], false, "{t:#}");
        assert_eq!(leftovers_of(&sandbox, name), Vec::<String>::new(), "{run}");
    }

    let again = sandbox.porch_run_tasks(&tasks).spawn("again").wait();
    again.expect_code(0);
    assert_eq!(statuses(&sandbox.results()), ["succeeded"; 6]);
}

/// SIGINT once the first session has started, with many tasks still registering or checking
/// out: a task ends `skipped` with nothing of it left, or it had its session (`interrupted`,
/// its work kept). The tasks file then runs again once the interrupted tasks are dealt with.
#[test]
fn sigint_after_the_first_session_started_leaves_nothing_of_tasks_that_never_started() {
    let sandbox = Sandbox::new();
    let _reaper = Reaper::new(&sandbox);
    let sync = sandbox.path().join("sync");
    std::fs::create_dir_all(&sync).unwrap();
    let go = sandbox.path().join("go");
    let names: Vec<String> = (1..=12).map(|i| format!("t{i:02}")).collect();
    let prompts: Vec<(String, String)> = names
        .iter()
        .map(|n| {
            let prompt = format!(
                "@pid {}/{n}.pid\n@wait-for {}\n@write {n}.txt {n}",
                sync.display(),
                go.display()
            );
            (n.clone(), prompt)
        })
        .collect();
    let tasks = sandbox.tasks_in("tasks.json", &prompts);
    let mut porch = sandbox.porch_run_tasks(&tasks).spawn("interrupted");
    wait_until("a session has started", DEADLINE, || {
        std::fs::read_dir(&sync).unwrap().next().is_some()
    });
    porch.signal("INT");
    let run = porch.wait();
    run.expect_code(130);
    let results = sandbox.results();
    let mut interrupted = Vec::new();
    for name in &names {
        let t = task(&results, name);
        // The fixture may be ended before it writes its pid file; porch's attempts list says
        // whether the agent was started.
        let wrote_pid = sync.join(format!("{name}.pid")).exists();
        let attempts = t["attempts"].as_array().map_or(0, Vec::len);
        match t["status"].as_str().unwrap() {
            "skipped" => {
                assert!(!wrote_pid && attempts == 0, "{name} ran\n{t:#}\n{run}");
                assert_eq!(leftovers_of(&sandbox, name), Vec::<String>::new(), "{run}");
            }
            "interrupted" => {
                assert_eq!(attempts, 1, "{name} never started\n{t:#}\n{run}");
                interrupted.push(name.clone());
            }
            other => panic!("{name} is {other}\n{results:#}\n{run}"),
        }
    }
    assert!(!interrupted.is_empty(), "{results:#}");

    // What docs/after-the-run.md (porch clean, by hand) says to do with an interrupted task's
    // worktree and branch.
    for name in &interrupted {
        let dir = sandbox.worktree(name);
        sandbox.git(&["worktree", "remove", "--force", path_str(&dir)]);
        sandbox.git(&["branch", "-D", &format!("task/{name}")]);
    }
    std::fs::write(&go, "").unwrap();
    let again = sandbox.porch_run_tasks(&tasks).spawn("again").wait();
    again.expect_code(0);
    assert_eq!(statuses(&sandbox.results()), ["succeeded"; 12]);
}

/// `-o /dev/stdout` with porch's stdout redirected into a file: the file keeps what porch
/// printed, and the results follow it once, whole; it is not replaced by the results.
#[test]
fn results_to_dev_stdout_redirected_into_a_file_are_appended_to_it() {
    let sandbox = Sandbox::new();
    let _reaper = Reaper::new(&sandbox);
    let tasks = sandbox.tasks(&[("a", "@say hello from a\n@write a.txt a")]);
    let mut porch = sandbox.porch_run_tasks(&tasks);
    porch.output("/dev/stdout");
    let run = porch.spawn("run").wait();
    run.expect_code(0);
    run.expect_stdout("hello from a");
    let stdout = run.stdout();
    let lines: Vec<&str> = stdout.lines().collect();
    let start = lines
        .iter()
        .position(|l| *l == "{")
        .expect("a JSON document");
    let end = start + lines[start..].iter().position(|l| *l == "}").unwrap();
    let results: serde_json::Value = serde_json::from_str(&lines[start..=end].join("\n"))
        .unwrap_or_else(|err| panic!("{err}\n{run}"));
    assert_eq!(statuses(&results), ["succeeded"], "{run}");
    assert_eq!(
        lines.iter().filter(|l| **l == "{").count(),
        1,
        "one document, at the end: {run}"
    );
}

/// `main` never silently means `origin/main`, but the error says to write it.
#[test]
fn a_base_only_a_remote_has_is_refused_with_the_name_to_write() {
    let sandbox = Sandbox::new();
    let head = sandbox.git(&["rev-parse", "HEAD"]);
    sandbox.git(&["update-ref", "refs/remotes/origin/dev", head.trim()]);
    let tasks = sandbox.tasks_json(&serde_json::json!({"tasks": [
        {"name": "x", "prompt": "@write a.txt a", "base_branch": "dev"},
    ]}));
    let run = sandbox.porch_run_tasks(&tasks).run();
    run.expect_code(2)
        .expect_stderr("field `base_branch`: \"dev\" is not a branch")
        .expect_stderr("hint: a remote-tracking branch has that name, which porch does not guess: write origin/dev");
    assert_eq!(sandbox.created_outside_repo(), Vec::<String>::new());
}

/// SIGINT while a task's setup runs: its session never started, so its worktree and branch go
/// again and it is skipped; the same tasks file then runs.
#[test]
fn sigint_during_setup_leaves_nothing_of_the_task() {
    let sandbox = Sandbox::new();
    let _reaper = Reaper::new(&sandbox);
    let pid = sandbox.path().join("setup.pid");
    let go = sandbox.path().join("go");
    let setup = format!(
        "{}; [ -e {} ] || exec sleep 300",
        own_pid_to(&pid),
        go.display()
    );
    let tasks = sandbox.tasks_json(&serde_json::json!({"tasks": [
        {"name": "slow-setup", "prompt": "@write a.txt a", "setup": ["sh", "-c", setup]},
    ]}));
    let mut porch = sandbox.porch_run_tasks(&tasks).spawn("interrupted");
    let setup_pid = read_pid(&pid);
    porch.signal("INT");
    let run = porch.wait();
    run.expect_code(130);
    assert_gone(setup_pid, "the setup command");
    let results = sandbox.results();
    let t = task(&results, "slow-setup");
    assert_eq!(t["status"], "skipped", "{t:#}\n{run}");
    assert_eq!(t["worktree_kept"], false, "{t:#}");
    assert_eq!(
        leftovers_of(&sandbox, "slow-setup"),
        Vec::<String>::new(),
        "{run}"
    );

    std::fs::write(&go, "").unwrap();
    let again = sandbox.porch_run_tasks(&tasks).spawn("again").wait();
    again.expect_code(0);
    assert_eq!(sandbox.git(&["show", "task/slow-setup:a.txt"]), "a");
}
