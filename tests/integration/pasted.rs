//! Every command porch prints for the user to paste works pasted, in the shell where the user
//! ran porch: the end-of-run summary's, `porch status`'s and an error's hint. Each is run
//! through `sh -c`, with porch and a `claude` that only records its arguments on PATH.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::after::{after, stored_run};
use crate::keeping::ok_and_flaky;
use crate::support::{self, PORCH, Sandbox, write_script};

/// A directory for PATH with `porch` (the built binary) and a `claude` that writes its
/// arguments to `claude.args` beside it and exits 0.
fn bin_dir(sandbox: &Sandbox) -> PathBuf {
    let bin = sandbox.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::os::unix::fs::symlink(PORCH, bin.join("porch")).unwrap();
    let record = bin.join("claude.args");
    write_script(
        &bin.join("claude"),
        &format!("#!/bin/sh\necho \"$@\" >> '{}'\n", record.display()),
    );
    bin
}

/// `command` run by `sh -c` in `cwd` with the test's environment, as a user with a git
/// identity, `bin` first on PATH and the fixture as the agent.
fn pasted(sandbox: &Sandbox, bin: &Path, cwd: &Path, command: &str) -> Output {
    let mut sh = shell(sandbox, bin, cwd, command);
    sh.env("PORCH_CLAUDE", support::fixture_agent());
    sh.output().unwrap()
}

/// `command` for `sh -c` in `cwd`, as `pasted` runs it, but with no agent set: the command
/// must name the one it needs.
fn shell(sandbox: &Sandbox, bin: &Path, cwd: &Path, command: &str) -> Command {
    let mut sh = Command::new("sh");
    sandbox.env(sh.arg("-c").arg(command));
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    for who in ["AUTHOR", "COMMITTER"] {
        sh.env(format!("GIT_{who}_NAME"), "Test")
            .env(format!("GIT_{who}_EMAIL"), "test@example.com");
    }
    sh.env("PATH", path).current_dir(cwd);
    sh
}

/// `command` pasted, which must exit 0.
fn paste(sandbox: &Sandbox, bin: &Path, cwd: &Path, command: &str) -> Output {
    let out = pasted(sandbox, bin, cwd, command);
    assert!(
        out.status.success(),
        "pasted in {}: {command}\nexited {}\n--- stdout\n{}--- stderr\n{}",
        cwd.display(),
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The indented lines under `heading` up to the first line that is not indented.
fn commands_under(text: &str, heading: &str) -> Vec<String> {
    text.lines()
        .skip_while(|line| *line != heading)
        .skip(1)
        .take_while(|line| line.starts_with("  "))
        .map(|line| line.trim().to_string())
        .collect()
}

/// What follows `label` on the line that starts with it.
fn after_label(text: &str, label: &str) -> String {
    text.lines()
        .find_map(|line| line.trim_start().strip_prefix(label))
        .unwrap_or_else(|| panic!("no line starts with {label:?} in\n{text}"))
        .trim()
        .to_string()
}

#[test]
fn the_commands_a_run_status_and_a_hint_print_work_pasted() {
    let sandbox = Sandbox::new();
    let bin = bin_dir(&sandbox);
    let tasks = ok_and_flaky(&sandbox);
    let repo = sandbox.repo();
    // Run with --worktree-dir, which every command about the run needs again.
    let run = stored_run(&sandbox, &tasks).run();
    run.expect_code(1);
    let review = commands_under(&run.stdout(), "review:");
    assert!(
        review.len() >= 2,
        "a diff and a session to continue:\n{run}"
    );
    for command in &review {
        paste(&sandbox, &bin, &repo, command);
    }

    let status = after(&sandbox, &["status"]).run();
    status.expect_code(0);
    let text = status.stdout();
    let mut pasted = commands_under(&text, "continue a session:");
    for label in [
        "re-run what did not succeed:",
        "merge what succeeded:",
        "a task's whole output:",
    ] {
        pasted.push(after_label(&text, label));
    }
    for command in &pasted {
        assert!(
            !command.contains("TASK"),
            "a placeholder does not work pasted: {command}"
        );
        paste(&sandbox, &bin, &repo, command);
    }
    let recorded = std::fs::read_to_string(bin.join("claude.args")).unwrap();
    assert_eq!(recorded.lines().count(), review.len() - 1 + 2, "{recorded}");
    assert_eq!(sandbox.git(&["show", "task/flaky:f.txt"]), "f", "resumed");

    // The earlier run's branches are the resume's now: the hint names the run to resume.
    let first = after_label(&text, "re-run what did not succeed:");
    let refused = paste_refused(&sandbox, &bin, &repo, &first);
    let hint = after_label(&refused, "hint: resume that run instead:");
    let resumed = paste(&sandbox, &bin, &repo, &hint);
    let said = String::from_utf8_lossy(&resumed.stdout);
    assert!(said.contains("nothing to resume"), "{said}");
}

/// A run given `--claude`, looked at from the repository's parent directory by its bare name
/// (`porch status repo`): the resume it suggests names the agent, and merge and resume read
/// `repo` as the repository, not as a task.
#[test]
fn status_by_a_bare_repository_name_prints_commands_that_work_pasted_without_the_agent_set() {
    let sandbox = Sandbox::new();
    let bin = bin_dir(&sandbox);
    let tasks = ok_and_flaky(&sandbox);
    let agent = support::fixture_agent();
    let mut run = sandbox.porch(&["run", "--claude"]);
    run.arg(&agent)
        .arg(&tasks)
        .worktree_dir(sandbox.worktree_dir());
    run.current_dir(sandbox.repo()).run().expect_code(1);

    let mut status = sandbox.porch(&["status", "repo"]);
    let status = status.worktree_dir(sandbox.worktree_dir()).run();
    let text = status.expect_code(0).stdout();
    let resume = after_label(&text, "re-run what did not succeed:");
    // No --claude: the resume takes the run's agent from what the run recorded.
    assert!(
        !resume.contains(" --claude ") && resume.ends_with(" ./repo"),
        "{text}"
    );
    let merge = after_label(&text, "merge what succeeded:");
    for command in [merge, resume] {
        let out = shell(&sandbox, &bin, sandbox.path(), &command)
            .output()
            .unwrap();
        assert!(out.status.success(), "{command}\n{out:?}");
    }
    assert!(
        !bin.join("claude.args").exists(),
        "the run's agent resumed, not PATH's"
    );
    assert_eq!(sandbox.git(&["show", "task/flaky:f.txt"]), "f", "resumed");
}

/// `command` pasted, which porch must refuse (exit 2); what it said on stderr.
fn paste_refused(sandbox: &Sandbox, bin: &Path, cwd: &Path, command: &str) -> String {
    let out = pasted(sandbox, bin, cwd, command);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(2), "{command}\n{stderr}");
    stderr
}

#[test]
fn the_commands_merge_prints_work_pasted_where_porch_merge_was_run() {
    let sandbox = Sandbox::new();
    let bin = bin_dir(&sandbox);
    let tasks = sandbox.tasks(&[
        ("one", "@write README.md one"),
        ("two", "@write README.md two"),
    ]);
    stored_run(&sandbox, &tasks).run().expect_code(0);
    // Run from outside the repository, naming it.
    let mut merge = after(&sandbox, &["merge", support::path_str(&sandbox.repo())]);
    let merged = merge.current_dir(sandbox.path()).run();
    merged.expect_code(1).expect_stdout("SKIPPED task/two");
    let text = merged.stdout();
    for command in commands_under(&text, "look at the result:") {
        paste(&sandbox, &bin, sandbox.path(), &command);
    }
    let by_hand = commands_under(
        &text,
        "to merge what was skipped, resolving its conflicts yourself:",
    );
    let [checkout, merge_two] = by_hand.as_slice() else {
        panic!("a checkout and a merge:\n{text}");
    };
    paste(&sandbox, &bin, sandbox.path(), checkout);
    // The merge stops on the conflict, for the user to resolve: it ran in the repository.
    let conflicted = pasted(&sandbox, &bin, sandbox.path(), merge_two);
    assert_eq!(conflicted.status.code(), Some(1), "{merge_two}");
    assert!(
        String::from_utf8_lossy(&conflicted.stdout)
            .contains("CONFLICT (content): Merge conflict in README.md"),
        "{conflicted:?}"
    );
}
