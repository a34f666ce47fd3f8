//! The commands after a run keep the user's work: `clean` keeps a worktree holding ignored
//! files a session wrote, `merge --into` never replaces a file git does not track in a checkout
//! of the target, and `resume` finds what a killed run did not record.

use crate::after::{after, run_stored};
use crate::support::{Sandbox, task};

/// The sandbox's repository with `.env.local` ignored too.
fn ignoring_env_local() -> Sandbox {
    let sandbox = Sandbox::new();
    std::fs::write(
        sandbox.repo().join(".gitignore"),
        "ignored/\n*.log\n.env.local\n",
    )
    .unwrap();
    sandbox.git(&["add", "."]);
    sandbox.commit("ignore .env.local");
    sandbox
}

#[test]
fn clean_keeps_a_worktree_holding_ignored_files_the_session_wrote_until_forced() {
    let sandbox = ignoring_env_local();
    let tasks = sandbox.tasks(&[
        ("env", "@write .env.local SECRET=1\n@write a.txt a"),
        ("plain", "@write p.txt p"),
    ]);
    run_stored(&sandbox, &tasks).expect_code(0);
    let env = sandbox.worktree("env");
    let clean = after(&sandbox, &["clean"]).run();
    clean.expect_code(0).expect_stdout(&format!(
        "kept worktree {}: it holds files git ignores, which no branch has: .env.local; --force removes it",
        env.display()
    ));
    assert_eq!(
        std::fs::read_to_string(env.join(".env.local")).unwrap(),
        "SECRET=1"
    );
    assert!(!sandbox.worktree("plain").exists(), "{clean}");

    // Once the file is gone, nothing holds the worktree back.
    std::fs::remove_file(env.join(".env.local")).unwrap();
    after(&sandbox, &["clean"])
        .run()
        .expect_code(0)
        .expect_stdout(&format!("removed worktree {}", env.display()));
    assert!(!env.exists());
}

#[test]
fn clean_force_removes_a_worktree_holding_ignored_files() {
    let sandbox = ignoring_env_local();
    let tasks = sandbox.tasks(&[("env", "@write .env.local SECRET=1")]);
    run_stored(&sandbox, &tasks).expect_code(0);
    let results = crate::after::latest_results(&sandbox).1;
    assert_eq!(
        task(&results, "env")["ignored_files"],
        serde_json::json!([".env.local"])
    );
    after(&sandbox, &["clean", "--force"])
        .run()
        .expect_code(0)
        .expect_stdout("removed worktree");
    assert!(!sandbox.worktree("env").exists());
}

#[test]
fn merge_into_a_checked_out_branch_refuses_to_replace_a_file_git_does_not_track_there() {
    let sandbox = Sandbox::new();
    std::fs::write(
        sandbox.repo().join(".gitignore"),
        "ignored/\n*.log\nlocal.cfg\n",
    )
    .unwrap();
    sandbox.git(&["add", "."]);
    sandbox.commit("ignore local.cfg");
    let tasks = sandbox.tasks(&[(
        "cfg",
        "@bash echo theirs > local.cfg && git add -f local.cfg\n@write c.txt c",
    )]);
    run_stored(&sandbox, &tasks).expect_code(0);
    assert_eq!(sandbox.git(&["show", "task/cfg:local.cfg"]), "theirs\n");
    let mine = sandbox.repo().join("local.cfg");
    std::fs::write(&mine, "mine\n").unwrap();
    let head = sandbox.git(&["rev-parse", "main"]);

    let refused = after(&sandbox, &["merge", "--into", "main"]).run();
    refused
        .expect_code(2)
        .expect_stderr(&format!(
            "--into main: the merge would replace files in {} that git does not track: local.cfg (ignored)",
            sandbox.repo().display()
        ))
        .expect_stderr("hint: nothing was merged: move them out of the way");
    assert_eq!(std::fs::read_to_string(&mine).unwrap(), "mine\n");
    assert_eq!(sandbox.git(&["rev-parse", "main"]), head);
    assert!(!sandbox.repo().join("c.txt").exists(), "{refused}");
    assert_eq!(sandbox.worktrees().len(), 2, "no merge worktree is left");

    std::fs::rename(&mine, sandbox.path().join("local.cfg.mine")).unwrap();
    after(&sandbox, &["merge", "--into", "main"])
        .run()
        .expect_code(0);
    assert_eq!(std::fs::read_to_string(&mine).unwrap(), "theirs\n");
}
