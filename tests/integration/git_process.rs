//! The git porch starts, as a user's system gives it: Ctrl-C at the terminal while porch
//! commits the agents' work.

use std::fs::File;
use std::os::unix::process::CommandExt;
use std::process::Command;

use crate::support::*;

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
