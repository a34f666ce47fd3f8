//! porch on a system that lacks what it relies on: no `/proc` (leftovers cannot be found, and
//! porch says so once), no `/dev/null` (git cannot start, and porch says why, not that git is
//! missing). Each runs porch in a mount namespace of its own (`unshare`) with an empty tmpfs
//! over the directory; where this machine cannot make one, the test says it is skipped.

use std::process::{Command, Output};

use crate::support::*;

/// `unshare`'s options for a mount namespace this user may make: as root a plain one, else one
/// inside a user namespace. None, said on stderr, where neither works here.
fn namespace_options(over: &str) -> Option<&'static [&'static str]> {
    for options in [&["-m"][..], &["-r", "-m"]] {
        let made = Command::new("unshare")
            .args(options)
            .args(["sh", "-c", &format!("mount -t tmpfs none {over}")])
            .output();
        if made.is_ok_and(|out| out.status.success()) {
            return Some(options);
        }
    }
    eprintln!("skipped: this machine cannot mount a tmpfs over {over} in a namespace (unshare)");
    None
}

/// Runs `porch` as built, with an empty tmpfs mounted over `over` first.
fn run_without(porch: &Porch, over: &str, options: &[&str]) -> Output {
    let built = porch.command();
    let mut cmd = Command::new("unshare");
    cmd.args(options).args([
        "sh",
        "-c",
        &format!("mount -t tmpfs none {over} && exec \"$0\" \"$@\""),
    ]);
    cmd.arg(built.get_program()).args(built.get_args());
    for (key, value) in built.get_envs() {
        match value {
            Some(value) => cmd.env(key, value),
            None => cmd.env_remove(key),
        };
    }
    if let Some(dir) = built.get_current_dir() {
        cmd.current_dir(dir);
    }
    cmd.output().unwrap()
}

#[test]
fn without_proc_porch_warns_once_that_leftovers_go_unfound() {
    let Some(options) = namespace_options("/proc") else {
        return;
    };
    let sandbox = Sandbox::new();
    let pids = sandbox.path().join("pids");
    std::fs::create_dir(&pids).unwrap();
    let leave = |name: &str| {
        let pid_file = pids.join(name);
        format!(
            "@background sh -c 'echo $$ > {}; exec sleep 600'\n@wait-for {}\n@write {name}.txt x",
            pid_file.display(),
            pid_file.display()
        )
    };
    let tasks = sandbox.tasks(&[("a", &leave("a")), ("b", &leave("b"))]);
    let out = run_without(&sandbox.porch_run_tasks(&tasks), "/proc", options);
    let leftovers: Vec<u32> = ["a", "b"].map(|n| read_pid(&pids.join(n))).to_vec();
    for pid in &leftovers {
        sigkill_quietly(*pid);
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let warning = "porch: warning: /proc is not mounted: processes a session leaves outside \
                   its process group cannot be found, ended or counted";
    assert_eq!(stderr.matches(warning).count(), 1, "said once:\n{stderr}");
    let results = sandbox.results();
    assert_eq!(task(&results, "a")["leftover_processes"], 0, "{results:#}");
}

#[test]
fn without_dev_null_porch_says_so_not_that_git_is_missing() {
    let Some(options) = namespace_options("/dev") else {
        return;
    };
    let sandbox = Sandbox::new();
    let tasks = sandbox.tasks(&[("a", "@say hi")]);
    let cases = [
        sandbox.porch_run_tasks(&tasks),
        sandbox.porch(&["status", path_str(&sandbox.repo())]),
    ];
    for porch in cases {
        let out = run_without(&porch, "/dev", options);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(
            stderr
                .starts_with("porch: error: git could not be started: /dev/null cannot be opened"),
            "{stderr}"
        );
        assert!(stderr.contains("hint: porch needs /dev/null"), "{stderr}");
        assert!(!stderr.contains("not installed"), "{stderr}");
    }
    assert!(sandbox.created_outside_repo().is_empty());
}
