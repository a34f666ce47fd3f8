//! The command line as a user meets it: what `porch help resume` says resume takes, and the
//! settings a machine gives once in the environment (`PORCH_WORKTREE_DIR`, `PORCH_JOBS`,
//! `PORCH_PORT_BASE`), which every command that takes the flag honours, a flag winning.

use crate::completions::porch_takes;
use crate::support::{Sandbox, path_str};

/// The flags on a help text's option lines (`  -o, --output FILE  …`, `      --cleanup  …`).
fn options_of(help: &str) -> Vec<String> {
    let options = help
        .split("\nOptions:\n")
        .nth(1)
        .expect("an Options section");
    let options = options.split("\n\n").next().unwrap();
    options
        .lines()
        .map(str::trim_start)
        .filter(|l| l.starts_with('-'))
        .flat_map(|l| {
            l.split_whitespace()
                .map(|w| w.trim_end_matches(','))
                .take_while(|w| w.starts_with('-'))
                .map(String::from)
                .collect::<Vec<_>>()
        })
        .collect()
}

#[test]
fn help_resume_lists_the_options_resume_takes() {
    let sandbox = Sandbox::empty();
    let help = sandbox.porch(&["help", "resume"]).run();
    help.expect_code(0);
    let resume = options_of(&help.stdout());
    assert!(
        !help.stdout().contains("every option of"),
        "{}",
        help.stdout()
    );
    let run = options_of(&sandbox.porch(&["help", "run"]).run().stdout());
    for flag in &run {
        let listed = resume.contains(flag);
        let run_only = ["--tasks", "--only", "--skip", "--shard"];
        let refused = run_only.contains(&flag.as_str());
        assert_eq!(
            listed, !refused,
            "porch help resume lists {flag}: {resume:?}"
        );
    }
    for flag in ["--run", "--repo", "--worktree-dir", "-h", "--help"] {
        assert!(resume.contains(&flag.to_string()), "{flag}: {resume:?}");
    }
    for flag in &resume {
        assert!(porch_takes(&sandbox, "resume", flag), "porch resume {flag}");
    }
}

/// A flag's entry in a help text: its option line and the lines that carry on its description.
fn entry(help: &str, spelled: &str) -> String {
    let mut lines = help
        .lines()
        .skip_while(|l| !l.trim_start().starts_with(spelled));
    let first = lines
        .next()
        .unwrap_or_else(|| panic!("{spelled} is listed:\n{help}"));
    let rest = lines.take_while(|l| l.starts_with("                    "));
    std::iter::once(first)
        .chain(rest)
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn the_help_shows_each_variable_beside_its_flag() {
    let sandbox = Sandbox::empty();
    let run = sandbox.porch(&["help", "run"]).run().stdout();
    for (flag, var) in [
        ("--worktree-dir DIR", "PORCH_WORKTREE_DIR"),
        ("-j, --jobs N", "PORCH_JOBS"),
        ("--claude PATH", "PORCH_CLAUDE"),
        ("--port-base N", "PORCH_PORT_BASE"),
    ] {
        let entry = entry(&run, flag);
        assert!(entry.contains(&format!("[env: {var}]")), "{entry}");
    }
    for command in ["status", "logs", "merge", "clean", "resume"] {
        let help = sandbox.porch(&["help", command]).run().stdout();
        let entry = entry(&help, "--worktree-dir DIR");
        assert!(
            entry.contains("[env: PORCH_WORKTREE_DIR]"),
            "{command}: {entry}"
        );
    }
}

/// `PORCH_WORKTREE_DIR` puts a run's worktrees and state where it says, and status, logs,
/// merge and clean find the run there; `--worktree-dir` wins over it.
#[test]
fn porch_worktree_dir_is_where_every_command_looks() {
    let sandbox = Sandbox::new();
    let tasks = sandbox.tasks(&[("a", "@write a.txt hello\n@say done")]);
    let machine = sandbox.path().join("machine-worktrees");
    let run = sandbox
        .porch_run(&[path_str(&tasks)])
        .without_output()
        .without_worktree_dir()
        .env("PORCH_WORKTREE_DIR", &machine)
        .current_dir(sandbox.repo())
        .run();
    run.expect_code(0);
    assert!(
        machine.join("repo").join("a").join("a.txt").is_file(),
        "{run}"
    );
    assert!(machine.join("repo/.porch/runs").is_dir(), "{run}");
    assert!(
        !sandbox.home().join("worktrees").exists(),
        "not the default"
    );
    let in_repo = |args: &[&str]| {
        let mut porch = sandbox.porch(args);
        porch
            .env("PORCH_WORKTREE_DIR", &machine)
            .current_dir(sandbox.repo());
        porch.run()
    };
    in_repo(&["status"]).expect_code(0).expect_stdout("a");
    in_repo(&["logs", "a"]).expect_code(0).expect_stdout("done");
    in_repo(&["clean", "--dry-run"]).expect_code(0);
    in_repo(&["merge"]).expect_code(0);
    let elsewhere = sandbox.worktree_dir();
    in_repo(&["status", "--worktree-dir", path_str(&elsewhere)])
        .expect_code(2)
        .expect_stderr("no porch run");
}

/// A variable's bad value is refused like the flag's, naming the variable and the value; an
/// empty one counts as unset; the flag wins over the variable.
#[test]
fn porch_jobs_and_porch_port_base_are_checked_and_the_flag_wins() {
    let sandbox = Sandbox::new();
    let tasks = sandbox.tasks(&[("a", "@bash printf %s \"$PORCH_PORT\" > port.txt\n@say ok")]);
    let refused = |var: &str, value: &str, says: &str| {
        let run = sandbox.porch_run_tasks(&tasks).env(var, value).run();
        run.expect_code(2)
            .expect_stderr(says)
            .expect_stderr("hint: ");
        assert!(
            !sandbox.worktree_dir().join("repo").exists(),
            "nothing created: {run}"
        );
    };
    refused(
        "PORCH_JOBS",
        "0",
        "PORCH_JOBS `0` is not a number of sessions",
    );
    refused("PORCH_JOBS", "many", "PORCH_JOBS `many`");
    refused(
        "PORCH_PORT_BASE",
        "70000",
        "PORCH_PORT_BASE `70000` is not a port",
    );
    let run = sandbox
        .porch_run_tasks(&tasks)
        .args(["-j", "1"])
        .env("PORCH_JOBS", "many")
        .env("PORCH_PORT_BASE", "45000")
        .env("PORCH_WORKTREE_DIR", "")
        .run();
    run.expect_code(0);
    let port = std::fs::read_to_string(sandbox.worktree("a").join("port.txt")).unwrap();
    assert_eq!(port, "45000", "{run}");
}
