//! Work no commit on the task branch can hold (issue 12, items 3 and 5): files the agent wrote
//! to ignored paths, repositories it created inside its worktree, commits and changes inside a
//! submodule. porch commits what a branch can hold, keeps the worktree even with `--cleanup`,
//! and says where the rest is. Facts are checked with git itself.

use serde_json::Value;

use crate::support::*;

/// The paths of a task's results list, e.g. `ignored_files`.
fn listed(task: &Value, field: &str) -> Vec<String> {
    task[field]
        .as_array()
        .unwrap_or_else(|| panic!("{field} is not a list: {task:#}"))
        .iter()
        .map(|p| p.as_str().unwrap().to_string())
        .collect()
}

/// The paths the branch's tree holds, with their modes: `160000` is a link to a commit.
fn tree(sandbox: &Sandbox, branch: &str) -> Vec<(String, String)> {
    sandbox
        .git(&["ls-tree", "-r", branch])
        .lines()
        .map(|line| {
            let (meta, path) = line.split_once('\t').unwrap();
            (
                meta.split(' ').next().unwrap().to_string(),
                path.to_string(),
            )
        })
        .collect()
}

fn warnings(task: &Value) -> String {
    task["warnings"].to_string()
}

#[test]
fn files_written_to_ignored_paths_keep_the_worktree_even_with_cleanup() {
    let sandbox = Sandbox::new();
    // The sandbox ignores `ignored/` and `*.log`.
    let tasks = sandbox.tasks(&[
        (
            "notes",
            "@write ignored/notes.md the plan\n@write debug.log trace\n@write kept.txt one\n\
             @edit kept.txt one two\n@bash echo by-bash > ignored/by-bash.txt",
        ),
        ("plain", "@write plain.txt x\n@bash echo cache > build.log"),
    ]);
    let run = sandbox.porch_run_tasks(&tasks).args(["--cleanup"]).run();
    run.expect_code(0);
    let results = sandbox.results();

    let notes = task(&results, "notes");
    assert_eq!(notes["status"], "succeeded", "{notes:#}");
    // What the file tools wrote and git ignores; what Bash wrote porch cannot see (Known limits).
    assert_eq!(
        listed(notes, "ignored_files"),
        ["debug.log", "ignored/notes.md"]
    );
    assert_eq!(notes["worktree_kept"], true, "{notes:#}");
    let worktree = sandbox.worktree("notes");
    assert_eq!(
        std::fs::read_to_string(worktree.join("ignored/notes.md")).unwrap(),
        "the plan"
    );
    assert!(worktree.join("debug.log").exists());
    assert!(
        warnings(notes).contains("2 files the session wrote are ignored by git"),
        "{notes:#}"
    );
    assert!(warnings(notes).contains(path_str(&worktree)), "{notes:#}");
    // What a branch can hold is committed as always, and only that is counted.
    assert_eq!(sandbox.git(&["show", "task/notes:kept.txt"]), "two");
    assert_eq!(notes["files_changed"], 1, "{notes:#}");
    assert_eq!(listed(notes, "nested_repositories"), Vec::<String>::new());
    run.expect_stdout("ignored/notes.md");

    // An ignored build product written by a command is no reason to keep a worktree.
    let plain = task(&results, "plain");
    assert_eq!(listed(plain, "ignored_files"), Vec::<String>::new());
    assert_eq!(plain["worktree_kept"], false, "{plain:#}");
    assert!(!sandbox.worktree("plain").exists());
    assert_eq!(plain["warnings"], serde_json::json!([]), "{plain:#}");
}

#[test]
fn a_repository_the_session_creates_is_not_committed_as_a_link() {
    let sandbox = Sandbox::new();
    let commit_inside =
        "git -C app add . && git -C app -c user.name=A -c user.email=a@b commit -qm app";
    let tasks = sandbox.tasks(&[
        // A generator that ran `git init` and wrote files, no commit yet: `git add` alone
        // would fail on it and the whole task with it.
        ("fresh", "@bash git init -q app && echo hi > app/index.js\n@write notes.txt n"),
        (
            "committed",
            &format!("@bash git init -q app && echo hi > app/index.js && {commit_inside}\n@write notes.txt n"),
        ),
    ]);
    let run = sandbox.porch_run_tasks(&tasks).args(["--cleanup"]).run();
    run.expect_code(0);
    let results = sandbox.results();
    for name in ["fresh", "committed"] {
        let t = task(&results, name);
        assert_eq!(t["status"], "succeeded", "{t:#}");
        let branch = format!("task/{name}");
        // The branch holds the ordinary file, and no link to a commit it does not have.
        assert_eq!(
            tree(&sandbox, &branch),
            [
                ("100644".to_string(), ".gitignore".to_string()),
                ("100644".to_string(), "README.md".to_string()),
                ("100644".to_string(), "notes.txt".to_string()),
            ],
            "{name}"
        );
        assert_eq!(t["files_changed"], 1, "{t:#}");
        assert_eq!(listed(t, "nested_repositories"), ["app"], "{t:#}");
        assert_eq!(t["worktree_kept"], true, "{t:#}");
        let app = sandbox.worktree(name).join("app");
        assert_eq!(
            std::fs::read_to_string(app.join("index.js")).unwrap(),
            "hi\n"
        );
        assert!(
            warnings(t).contains("app is a git repository the session created"),
            "{t:#}"
        );
        assert!(warnings(t).contains(path_str(&app)), "{t:#}");
    }
    run.expect_stdout("app is a git repository the session created");
}

/// A repository whose `lib` is a submodule (from `sandbox/lib`, branch main, one commit), and
/// that submodule's second commit, made after it was added: published on its remote.
fn sandbox_with_submodule() -> (Sandbox, String) {
    let sandbox = Sandbox::new();
    let lib = sandbox.path().join("lib");
    std::fs::create_dir_all(&lib).unwrap();
    let in_lib = |args: &[&str]| sandbox.git_in(&lib, args);
    in_lib(&["init", "-q", "-b", "main"]);
    std::fs::write(lib.join("lib.txt"), "v1\n").unwrap();
    in_lib(&["add", "."]);
    in_lib(&[
        "-c",
        "user.name=T",
        "-c",
        "user.email=t@e",
        "commit",
        "-qm",
        "v1",
    ]);
    sandbox.git(&[
        "-c",
        "protocol.file.allow=always",
        "submodule",
        "add",
        "-q",
        "../lib",
        "lib",
    ]);
    sandbox.commit("lib as a submodule");
    std::fs::write(lib.join("lib.txt"), "v2\n").unwrap();
    in_lib(&[
        "-c",
        "user.name=T",
        "-c",
        "user.email=t@e",
        "commit",
        "-qam",
        "v2",
    ]);
    let v2 = in_lib(&["rev-parse", "HEAD"]).trim().to_string();
    (sandbox, v2)
}

#[test]
fn work_inside_a_submodule_is_never_reported_as_a_dangling_link() {
    let (sandbox, published) = sandbox_with_submodule();
    let init = "git -c protocol.file.allow=always submodule update --init -q";
    let commit = "git -C lib -c user.name=A -c user.email=a@b commit -qam mine";
    let tasks = sandbox.tasks(&[
        // A commit made inside the submodule exists only in this worktree.
        (
            "inside-commit",
            &format!("@bash {init} && echo mine > lib/lib.txt && {commit}"),
        ),
        // Changes inside it, not committed there: git's diff of the branch cannot show them.
        (
            "inside-edit",
            &format!("@bash {init} && echo mine > lib/lib.txt"),
        ),
        // Moving the submodule to a commit its remote has is ordinary work.
        (
            "bump",
            &format!("@bash {init} && git -C lib checkout -q origin/main"),
        ),
    ]);
    let run = sandbox.porch_run_tasks(&tasks).args(["--cleanup"]).run();
    run.expect_code(0);
    let results = sandbox.results();
    let base_link = sandbox.git(&["rev-parse", "main:lib"]);

    for (name, says) in [
        ("inside-commit", "exists only in this worktree"),
        ("inside-edit", "holds changes not committed inside it"),
    ] {
        let t = task(&results, name);
        assert_eq!(t["status"], "succeeded", "{t:#}");
        // The branch still links to the base's commit, and nothing is counted as work.
        assert_eq!(
            sandbox.git(&["rev-parse", &format!("task/{name}:lib")]),
            base_link,
            "{name}"
        );
        assert_eq!(t["files_changed"], 0, "{t:#}");
        assert_eq!(listed(t, "nested_repositories"), ["lib"], "{t:#}");
        assert!(warnings(t).contains("submodule lib "), "{t:#}");
        assert!(warnings(t).contains(says), "{t:#}");
        assert_eq!(t["worktree_kept"], true, "{t:#}");
        let file = sandbox.worktree(name).join("lib/lib.txt");
        assert_eq!(std::fs::read_to_string(file).unwrap(), "mine\n");
    }

    let bump = task(&results, "bump");
    assert_eq!(bump["status"], "succeeded", "{bump:#}");
    assert_eq!(
        sandbox.git(&["rev-parse", "task/bump:lib"]).trim(),
        published
    );
    assert_eq!(bump["files_changed"], 1, "{bump:#}");
    assert_eq!(listed(bump, "nested_repositories"), Vec::<String>::new());
}

/// A session that commits the link itself: the branch holds it (porch does not rewrite the
/// session's commits), but it is not counted as work, the worktree is kept, and the warning
/// says where the commit it points at is.
#[test]
fn a_link_the_session_committed_itself_is_not_counted_as_work() {
    let (sandbox, published) = sandbox_with_submodule();
    let init = "git -c protocol.file.allow=always submodule update --init -q";
    let commit = |dir: &str| format!("git {dir} -c user.name=A -c user.email=a@b commit -qam mine");
    let tasks = sandbox.tasks_in(
        "tasks.json",
        &[
            (
                "sub",
                format!(
                    "@bash {init} && echo mine > lib/lib.txt && {} && {}\n@write notes.txt n",
                    commit("-C lib"),
                    commit("")
                ),
            ),
            (
                "app",
                "@bash git init -q app && echo hi > app/index.js && git -C app add . && \
             git -C app -c user.name=A -c user.email=a@b commit -qm app && git add -A && \
             git -c user.name=A -c user.email=a@b commit -qm mine\n@write notes.txt n"
                    .to_string(),
            ),
            // A link to a commit the submodule's remote has stays ordinary work.
            (
                "bump",
                format!(
                    "@bash {init} && git -C lib checkout -q origin/main && {}",
                    commit("")
                ),
            ),
        ],
    );
    let run = sandbox.porch_run_tasks(&tasks).args(["--cleanup"]).run();
    run.expect_code(0);
    let results = sandbox.results();
    for (name, path, lines_removed) in [("sub", "lib", 0), ("app", "app", 0)] {
        let t = task(&results, name);
        assert_eq!(t["status"], "succeeded", "{t:#}");
        // git agrees the branch holds the link and notes.txt; only notes.txt is counted.
        let changed = sandbox.git(&["diff", "--name-only", "main", &format!("task/{name}")]);
        assert_eq!(
            changed.lines().collect::<Vec<_>>(),
            [path, "notes.txt"],
            "{name}"
        );
        assert_eq!(t["commits"], 2, "{t:#}");
        assert_eq!(t["files_changed"], 1, "{t:#}");
        assert_eq!(t["insertions"], 1, "{t:#}");
        assert_eq!(t["deletions"], lines_removed, "{t:#}");
        assert_eq!(listed(t, "nested_repositories"), [path], "{t:#}");
        assert!(
            warnings(t).contains(&format!("the session committed {path} as a link to commit")),
            "{t:#}"
        );
        assert_eq!(t["worktree_kept"], true, "{t:#}");
        assert!(sandbox.worktree(name).join(path).join(".git").exists());
    }
    let bump = task(&results, "bump");
    assert_eq!(
        sandbox.git(&["rev-parse", "task/bump:lib"]).trim(),
        published
    );
    assert_eq!(bump["files_changed"], 1, "{bump:#}");
    assert!(!warnings(bump).contains("link"), "{bump:#}");
    assert_eq!(listed(bump, "nested_repositories"), Vec::<String>::new());
}

#[test]
fn a_repository_the_session_creates_does_not_stop_a_retry() {
    let sandbox = Sandbox::new();
    // Outside the worktree: porch resets and cleans the worktree between attempts.
    let counter = sandbox.path().join("counter");
    let prompt = format!(
        "@bash [ -e app ] || git init -q app\n@bash echo hi > app/index.js\n\
         @write notes.txt n\n@fail-times 1 {} 529 Overloaded\n@write final.txt f",
        counter.display()
    );
    let tasks = sandbox.tasks(&[("gen", &prompt)]);
    let run = sandbox
        .porch_run_tasks(&tasks)
        .args(["--retries", "1", "--retry-backoff", "10ms"])
        .run();
    run.expect_code(0);
    let results = sandbox.results();
    let t = task(&results, "gen");
    assert_eq!(t["status"], "succeeded", "{t:#}");
    let attempts = t["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 2, "{t:#}");
    // The first attempt's ordinary file is saved; the repository it made is not linked in.
    let saved = attempts[0]["saved_work"].as_str().unwrap();
    assert_eq!(sandbox.git(&["show", &format!("{saved}:notes.txt")]), "n");
    let saved_tree = sandbox.git(&["ls-tree", "-r", "--name-only", saved]);
    assert!(!saved_tree.contains("app"), "{saved_tree}");
    assert_eq!(sandbox.git(&["show", "task/gen:final.txt"]), "f");
    assert_eq!(listed(t, "nested_repositories"), ["app"], "{t:#}");
}
