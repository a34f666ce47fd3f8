//! The git porch starts, as a user's system gives it: a `git` on PATH that is a script without
//! a `#!` line, Ctrl-C at the terminal while porch commits the agents' work, paths with
//! spaces, quotes or bytes that are not UTF-8, and the descriptors each git gets.

use std::fs::File;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::Command;

use crate::support::*;

/// The git a `git` wrapper of the test's hands on to: the first on the test's PATH.
fn real_git() -> PathBuf {
    let path = std::env::var_os("PATH").unwrap();
    std::env::split_paths(&path)
        .map(|dir| dir.join("git"))
        .find(|git| git.is_file())
        .expect("git on PATH")
}

/// PATH with `bin` first, then the test's own.
fn path_with_first(bin: &std::path::Path) -> std::ffi::OsString {
    let path = std::env::var_os("PATH").unwrap();
    std::env::join_paths(std::iter::once(bin.to_path_buf()).chain(std::env::split_paths(&path)))
        .unwrap()
}

/// A `git` on PATH that is a shell script without a `#!` line: the kernel will not run it
/// (ENOEXEC), but a shell does, and so does every `execvp(3)`, which hands such a file to
/// `/bin/sh`. porch must run it as the user's shell does, not fail with "Exec format error".
#[test]
fn a_git_script_without_a_shebang_line_runs_as_the_shell_runs_it() {
    let sandbox = Sandbox::new();
    let _reaper = Reaper::new(&sandbox);
    let calls = sandbox.path().join("calls");
    let bin = sandbox.path().join("bin");
    write_script(
        &bin.join("git"),
        &format!(
            "echo called >> '{}'\nexec '{}' \"$@\"\n",
            calls.display(),
            real_git().display()
        ),
    );
    let tasks = sandbox.tasks(&[("plain", "@write p.txt plain")]);
    let run = sandbox
        .porch_run_tasks(&tasks)
        .env("PATH", path_with_first(&bin))
        .run();
    run.expect_code(0);
    assert_eq!(sandbox.show("task/plain", "p.txt"), "plain");
    assert!(
        !file_lines(&calls).is_empty(),
        "porch ran the script, not another git\n{run}"
    );
}

/// Ctrl-C at the terminal reaches porch's whole process group. The `git commit` that keeps a
/// task's work is in a session of its own, so the signal does not end it half-way: each commit
/// that had started when porch was interrupted (the wrapper holds it until the test has sent
/// the signal) finishes, and the task's branch holds its work.
#[test]
fn ctrl_c_while_porch_commits_lets_every_started_commit_finish() {
    let sandbox = Sandbox::new();
    let _reaper = Reaper::new(&sandbox);
    let sync = sandbox.path().join("sync");
    std::fs::create_dir_all(&sync).unwrap();
    let go = sandbox.path().join("go");
    let path = fake_git(
        &sandbox,
        &format!(
            r#"case " $* " in
  *" commit "*)
    touch '{sync}'/"$(basename "$dir")"
    while [ ! -e '{go}' ]; do sleep 0.05; done ;;
esac"#,
            sync = sync.display(),
            go = go.display()
        ),
    );
    let names: Vec<String> = (1..=16).map(|i| format!("t{i:02}")).collect();
    let prompts: Vec<(String, String)> = names
        .iter()
        .map(|n| (n.clone(), format!("@write {n}.txt {n}")))
        .collect();
    let tasks = sandbox.tasks_in("tasks.json", &prompts);
    let mut porch = sandbox.porch_run_tasks(&tasks);
    porch.env("PATH", path);
    let stdout = sandbox.path().join("porch.stdout");
    let stderr = sandbox.path().join("porch.stderr");
    // A process group of its own, as a shell gives a job: the test signals the group.
    let mut child = porch
        .command()
        .process_group(0)
        .stdout(File::create(&stdout).unwrap())
        .stderr(File::create(&stderr).unwrap())
        .spawn()
        .expect("porch starts");
    let printed = || {
        format!(
            "--- stdout\n{}\n--- stderr\n{}",
            std::fs::read_to_string(&stdout).unwrap_or_default(),
            std::fs::read_to_string(&stderr).unwrap_or_default()
        )
    };
    wait_until("a commit has started", DEADLINE, || {
        std::fs::read_dir(&sync).unwrap().next().is_some()
    });
    let group = format!("-{}", child.id());
    let sent = Command::new("kill")
        .args(["-INT", "--", &group])
        .status()
        .expect("kill(1) runs");
    assert!(sent.success(), "kill -INT -- {group}");
    std::fs::write(&go, "").unwrap();
    let mut ended = None;
    wait_until("porch has exited", RUN_DEADLINE, || {
        ended = child.try_wait().unwrap();
        ended.is_some()
    });
    assert_eq!(ended.unwrap().code(), Some(130), "{}", printed());

    let results = sandbox.results();
    let committing: Vec<String> = std::fs::read_dir(&sync)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(!committing.is_empty());
    let mut holding_work = 0;
    for name in &committing {
        let t = task(&results, name);
        assert!(
            !t["error"].as_str().unwrap_or_default().contains("commit"),
            "{name}: its commit was ended\n{t:#}\n{}",
            printed()
        );
        // A session ended before it wrote had nothing to commit: its worktree is kept, clean.
        let worktree = sandbox.worktree(name);
        if worktree.exists() {
            let left = sandbox.git_in(&worktree, &["status", "--porcelain"]);
            assert_eq!(
                left,
                "",
                "{name}: work left uncommitted\n{t:#}\n{}",
                printed()
            );
        }
        let held = sandbox.git(&["ls-tree", "--name-only", &format!("task/{name}")]);
        if held.lines().any(|file| file == format!("{name}.txt")) {
            holding_work += 1;
        } else {
            assert!(worktree.exists(), "{name}: work lost\n{t:#}\n{}", printed());
        }
    }
    // The commit held when the signal came was of a session that had written its file.
    assert!(holding_work > 0, "{results:#}\n{}", printed());
}

/// A repository with one commit on `main` in the sandbox's directory `name`.
fn repository_named(sandbox: &Sandbox, name: &std::ffi::OsStr) -> PathBuf {
    let repo = sandbox.path().join(name);
    std::fs::create_dir_all(&repo).unwrap();
    sandbox.git_in(&repo, &["init", "-q", "-b", "main"]);
    std::fs::write(repo.join("README.md"), "# test repo\n").unwrap();
    sandbox.git_in(&repo, &["add", "."]);
    let identity = ["-c", "user.name=Test", "-c", "user.email=test@example.com"];
    sandbox.git_in(
        &repo,
        &[&identity[..], &["commit", "-q", "-m", "initial"]].concat(),
    );
    repo
}

/// Spaces, quotes of both kinds and a backslash in the repository's path and the worktree
/// directory's: every git call gets the path as one argument, never through a shell.
#[test]
fn a_repository_path_with_spaces_and_quotes_runs() {
    let sandbox = Sandbox::new();
    let _reaper = Reaper::new(&sandbox);
    let repo = repository_named(&sandbox, "it's a \"repo\" \\ here".as_ref());
    let tasks = sandbox.tasks(&[("spaced", "@write s.txt spaced")]);
    let run = sandbox
        .porch_run(&[])
        .arg(&tasks)
        .arg(&repo)
        .worktree_dir(sandbox.path().join("work trees 'here'"))
        .run();
    run.expect_code(0);
    assert_eq!(
        sandbox.git_in(&repo, &["show", "task/spaced:s.txt"]),
        "spaced"
    );
}

/// A repository whose path is not UTF-8: porch writes paths down as JSON text, so it refuses
/// the run before anything is made, and says why, instead of sending git a path that names
/// another directory.
#[test]
fn a_repository_path_that_is_not_utf8_is_refused_before_anything_is_made() {
    use std::os::unix::ffi::OsStrExt;
    let sandbox = Sandbox::new();
    let _reaper = Reaper::new(&sandbox);
    let repo = repository_named(&sandbox, std::ffi::OsStr::from_bytes(b"repo-\xff"));
    let tasks = sandbox.tasks(&[("bytes", "@write b.txt bytes")]);
    let worktrees = sandbox.path().join("trees");
    let run = sandbox
        .porch_run(&[])
        .arg(&tasks)
        .arg(&repo)
        .worktree_dir(&worktrees)
        .run();
    run.expect_code(2)
        .expect_stderr("has a path that is not valid UTF-8")
        .expect_stderr("hint: ");
    assert!(!worktrees.exists(), "{run}");
    assert!(!repo.join(".porch").exists(), "{run}");
    let branches = sandbox.git_in(&repo, &["branch", "--list"]);
    assert_eq!(branches, "* main\n", "{run}");
}

/// A worktree directory whose path is not UTF-8 is refused like such a repository, before
/// anything is made, where every task used to fail to make its worktree.
#[test]
fn a_worktree_directory_that_is_not_utf8_is_refused_before_anything_is_made() {
    use std::os::unix::ffi::OsStrExt;
    let sandbox = Sandbox::new();
    let _reaper = Reaper::new(&sandbox);
    let tasks = sandbox.tasks(&[("bytes", "@write b.txt bytes")]);
    let worktrees = sandbox
        .path()
        .join(std::ffi::OsStr::from_bytes(b"trees-\xff"));
    let run = sandbox
        .porch_run(&[])
        .arg(&tasks)
        .arg(sandbox.repo())
        .worktree_dir(&worktrees)
        .run();
    run.expect_code(2)
        .expect_stderr("has a path that is not valid UTF-8")
        .expect_stderr("--worktree-dir");
    assert!(!worktrees.exists(), "{run}");
    assert_eq!(sandbox.branches(), ["main"], "{run}");
}

/// This process's descriptors that stay open across exec (none of Rust's own: those it
/// inherited), which porch and its git inherit in turn.
fn inherited_descriptors() -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc/self/fdinfo").unwrap().flatten() {
        let fd = entry.file_name().to_string_lossy().into_owned();
        let Ok(info) = std::fs::read_to_string(entry.path()) else {
            continue;
        };
        let flags = info
            .lines()
            .find_map(|line| line.strip_prefix("flags:"))
            .and_then(|octal| u32::from_str_radix(octal.trim(), 8).ok());
        if flags.is_some_and(|flags| flags & 0o2000000 == 0) && fd.parse::<u32>().unwrap() > 2 {
            found.push(fd);
        }
    }
    found
}

/// Each git porch starts gets standard input, output and error and nothing else of porch's:
/// no pipe of another git or session, no log, no lock. (What porch itself inherited passes
/// on, as to any program.) The descriptors are listed by `ls`, started by the wrapper: its own
/// are 0, 1, 2 and the directory it reads.
#[test]
fn git_gets_no_descriptor_of_porchs() {
    let sandbox = Sandbox::new();
    let _reaper = Reaper::new(&sandbox);
    let seen = sandbox.path().join("fds");
    std::fs::create_dir_all(&seen).unwrap();
    let path = fake_git(
        &sandbox,
        &format!("ls /proc/self/fd/ > '{}'/$$", seen.display()),
    );
    let names: Vec<String> = (1..=8).map(|i| format!("t{i}")).collect();
    let prompts: Vec<(String, String)> = names
        .iter()
        .map(|n| {
            (
                n.clone(),
                format!("@write {n}.txt {n}\n@write {n}.log ignored"),
            )
        })
        .collect();
    let tasks = sandbox.tasks_in("tasks.json", &prompts);
    // A leaked pipe end can keep another git's input or output open: porch then never ends,
    // and the deadline of `wait` says so.
    let run = sandbox
        .porch_run_tasks(&tasks)
        .env("PATH", path)
        .spawn("run")
        .wait();
    run.expect_code(0);
    let mut expected: Vec<String> = ["0", "1", "2", "3"].map(String::from).to_vec();
    expected.extend(inherited_descriptors());
    expected.sort();
    let mut calls = 0;
    for entry in std::fs::read_dir(&seen).unwrap().flatten() {
        let mut fds: Vec<String> = file_lines(&entry.path());
        fds.sort();
        assert_eq!(fds, expected, "a git call got more\n{run}");
        calls += 1;
    }
    assert!(calls > 8, "{calls} git calls seen\n{run}");
}
