//! What a hostile or careless tasks file tries before the run: files that never end, options
//! porch owns in another spelling, keys given twice, revisions for a base, text that turns the
//! terminal around, work copied in from the user's checkout, runs nested inside each other,
//! and the way back after a run that stopped half-way.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::json;

use crate::support::*;
use crate::validation::{case, check_cases, one, refused};

/// How long a refusal may take: porch reads and refuses in well under a second; the deadline
/// only ends a porch that waits forever, and is generous for a loaded machine.
const REFUSAL_DEADLINE: Duration = Duration::from_secs(90);

fn mkfifo(path: &Path) {
    let status = Command::new("mkfifo").arg(path).status().unwrap();
    assert!(status.success(), "mkfifo {}", path.display());
}

/// Runs `porch` with its address space limited to 2 GiB: a porch that reads without a bound
/// fails under it at once, rather than taking the memory of the machine the tests share.
fn run_with_memory_limit(porch: &Porch) -> Run {
    let inner = porch.command();
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg("ulimit -v 2097152 && exec \"$0\" \"$@\"")
        .arg(inner.get_program())
        .args(inner.get_args())
        .stdin(Stdio::null());
    if let Some(dir) = inner.get_current_dir() {
        cmd.current_dir(dir);
    }
    for (key, value) in inner.get_envs() {
        match value {
            Some(value) => cmd.env(key, value),
            None => cmd.env_remove(key),
        };
    }
    Run {
        output: cmd.output().unwrap(),
        description: format!("(ulimit -v 2 GiB) {}", porch.description()),
        cwd: inner.get_current_dir().unwrap_or(Path::new(".")).into(),
    }
}

/// Nothing of a run was made: no worktree directory, no results, no branch but `main`.
#[track_caller]
fn nothing_made(sandbox: &Sandbox, run: &Run) {
    assert!(!sandbox.worktree_dir().exists(), "worktrees made\n{run}");
    assert!(!sandbox.results_path().exists(), "results written\n{run}");
    assert_eq!(sandbox.branches(), ["main"], "{run}");
}

// ---------------------------------------------------------------------------------------------
// prompt_file and the tasks file: read whole, so bounded, and a prompt only from a regular file.

#[test]
fn a_prompt_file_that_is_a_fifo_nobody_writes_is_refused_without_waiting() {
    let sandbox = Sandbox::new();
    mkfifo(&sandbox.path().join("prompt.fifo"));
    sandbox.tasks_text(&one(r#""name": "a", "prompt_file": "prompt.fifo""#));
    let mut porch = sandbox.porch_run(&["tasks.json", "repo"]).spawn("fifo");
    // A porch that waits for a writer is killed when `porch` is dropped, after the panic.
    let run = porch.wait_within(REFUSAL_DEADLINE);
    run.expect_code(2).expect_stderr(
        "tasks[0] (\"a\"): field `prompt_file`: \"prompt.fifo\" is a named pipe (FIFO), not a regular file",
    );
    nothing_made(&sandbox, &run);
}

#[test]
fn a_prompt_file_that_never_ends_is_refused() {
    let sandbox = Sandbox::new();
    sandbox.tasks_text(&one(r#""name": "a", "prompt_file": "/dev/zero""#));
    let run = run_with_memory_limit(&sandbox.porch_run(&["tasks.json", "repo"]));
    run.expect_code(2)
        .expect_stderr("field `prompt_file`: \"/dev/zero\" is a device, not a regular file")
        .expect_no_panic();
    nothing_made(&sandbox, &run);
}

#[test]
fn a_prompt_file_may_hold_1_mib_and_no_more() {
    let sandbox = Sandbox::new();
    let limit = 1024 * 1024;
    let mut prompt = b"@say read it all\n".to_vec();
    prompt.resize(limit, b'x');
    std::fs::write(sandbox.path().join("whole.md"), &prompt).unwrap();
    prompt.push(b'x');
    std::fs::write(sandbox.path().join("over.md"), &prompt).unwrap();

    sandbox.tasks_text(&one(r#""name": "a", "prompt_file": "over.md""#));
    refused(
        "a prompt file one byte over 1 MiB",
        &sandbox,
        &sandbox.porch_run(&["tasks.json", "repo"]),
        &["field `prompt_file`: \"over.md\" holds more than 1 MiB"],
    );

    sandbox.tasks_text(&one(r#""name": "a", "prompt_file": "whole.md""#));
    let run = sandbox.porch_run(&["tasks.json", "repo"]).run();
    run.expect_code(0).expect_stdout("read it all");
}

#[test]
fn a_tasks_file_that_never_ends_is_refused_at_the_limit() {
    let sandbox = Sandbox::new();
    let run = run_with_memory_limit(&sandbox.porch_run(&["/dev/zero", "repo"]));
    run.expect_code(2)
        .expect_stderr("the tasks file /dev/zero holds more than 64 MiB")
        .expect_no_panic();
    nothing_made(&sandbox, &run);
}

#[test]
fn a_tasks_file_that_is_a_fifo_is_read_when_its_writer_comes() {
    let sandbox = Sandbox::new();
    let fifo = sandbox.path().join("tasks.fifo");
    mkfifo(&fifo);
    let mut porch = sandbox
        .porch_run(&[path_str(&fifo), "repo"])
        .spawn("tasks-fifo");
    // Opening for writing waits for porch to open for reading, as a shell's `<(…)` does; from
    // a thread, so that a porch that never opens it fails the test instead of hanging it.
    let writer = fifo.clone();
    std::thread::spawn(move || {
        let _ = std::fs::write(writer, r#"[{"name": "a", "prompt": "@say from the pipe"}]"#);
    });
    let run = porch.wait();
    run.expect_code(0).expect_stdout("from the pipe");
}

// ---------------------------------------------------------------------------------------------
// args: no option porch sets itself, in any spelling the CLI takes.

#[test]
fn args_may_not_give_an_option_porch_sets_in_any_spelling() {
    let instead_tools = "is set by porch: use the field `allowed_tools`";
    check_cases(vec![
        case(
            "the CLI's kebab-case spelling of --allowedTools",
            one(r#""name": "a", "prompt": "p", "args": ["--allowed-tools", "Read"]"#),
            &[
                "tasks[0] (\"a\"): field `args`: entry \"--allowed-tools\"",
                instead_tools,
            ],
        ),
        case(
            "--disallowed-tools with its value attached",
            one(r#""name": "a", "prompt": "p", "args": ["--disallowed-tools=Bash"]"#),
            &[
                "entry \"--disallowed-tools=Bash\" is set by porch: use the field `disallowed_tools`",
            ],
        ),
        case(
            "--allowedTools=…",
            one(r#""name": "a", "prompt": "p", "args": ["--allowedTools=Read"]"#),
            &[instead_tools],
        ),
        case(
            "--print, -p's long name",
            one(r#""name": "a", "prompt": "p", "args": ["--print"]"#),
            &["entry \"--print\" is set by porch: porch always runs claude headless"],
        ),
        case(
            "a session of its own choosing",
            one(r#""name": "a", "prompt": "p", "args": ["-r", "0123"]"#),
            &["entry \"-r\" is set by porch"],
        ),
        case(
            "a permission mode by another name",
            one(r#""name": "a", "prompt": "p", "args": ["--dangerously-skip-permissions"]"#),
            &["use the field `permission_mode`"],
        ),
        case(
            "in the defaults",
            r#"{"defaults": {"args": ["--max-budget-usd=5"]}, "tasks": [{"name": "a", "prompt": "p"}]}"#,
            &["defaults: field `args`: entry \"--max-budget-usd=5\" is set by porch"],
        ),
    ]);
}

// ---------------------------------------------------------------------------------------------
// A key given twice: JSON readers disagree on which value counts.

#[test]
fn a_key_given_twice_anywhere_is_refused_with_where_it_is() {
    check_cases(vec![
        case(
            "in a task's env",
            "{\"tasks\": [{\"name\": \"a\", \"prompt\": \"p\",\n  \"env\": {\"API_KEY\": \"one\", \"API_KEY\": \"two\"}}]}",
            &[
                "tasks[0] (\"a\"): field `env`: the key \"API_KEY\" is given twice in env (line 2,",
                "hint: keep one of the two",
            ],
        ),
        case(
            "a task's field",
            r#"{"tasks": [{"name": "a", "prompt": "p", "timeout": "1m", "timeout": "2h"}]}"#,
            &["tasks[0] (\"a\"): field `timeout`: the key \"timeout\" is given twice"],
        ),
        case(
            "the name itself, which names no task then",
            r#"{"tasks": [{"name": "a", "prompt": "p"}, {"name": "b", "name": "c", "prompt": "p"}]}"#,
            &["tasks[1]: field `name`: the key \"name\" is given twice"],
        ),
        case(
            "in the defaults",
            r#"{"defaults": {"model": "opus", "model": "haiku"}, "tasks": [{"name": "a", "prompt": "p"}]}"#,
            &["defaults: field `model`: the key \"model\" is given twice"],
        ),
        case(
            "at the top",
            r#"{"tasks": [{"name": "a", "prompt": "p"}], "tasks": []}"#,
            &["field `tasks`: the key \"tasks\" is given twice"],
        ),
        case(
            "deep inside an unknown field",
            r#"[{"name": "a", "prompt": "p", "x": {"y": [{"z": 1, "z": 1}]}}]"#,
            &["tasks[0] (\"a\"): field `x`: the key \"z\" is given twice in x.y[0]"],
        ),
    ]);
}

// ---------------------------------------------------------------------------------------------
// base_branch: any revision git makes a commit of, a branch of that name first.

#[test]
fn base_branch_takes_any_revision_git_makes_a_commit_of() {
    let sandbox = Sandbox::new();
    let first = sandbox.rev("HEAD");
    sandbox.git(&["tag", "v1"]);
    std::fs::write(sandbox.repo().join("second.txt"), "2\n").unwrap();
    sandbox.git(&["add", "second.txt"]);
    sandbox.commit("second");
    let second = sandbox.rev("HEAD");
    let tasks = json!([
        {"name": "zero", "prompt": "@say hi", "base_branch": "HEAD~0"},
        {"name": "back", "prompt": "@say hi", "base_branch": "main~1"},
        {"name": "tag", "prompt": "@say hi", "base_branch": "v1^{commit}"},
        {"name": "id", "prompt": "@say hi", "base_branch": first[..12]},
    ]);
    let run = sandbox.run_tasks_json(&tasks, &[]);
    run.expect_code(0);
    let results = sandbox.results();
    for (name, commit) in [
        ("zero", &second),
        ("back", &first),
        ("tag", &first),
        ("id", &first),
    ] {
        assert_eq!(
            task(&results, name)["base_commit"],
            *commit,
            "{name}\n{run}"
        );
    }
}

#[test]
fn base_branch_that_names_no_commit_says_what_git_was_asked() {
    let sandbox = Sandbox::new();
    sandbox.tasks_text(&one(
        r#""name": "a", "prompt": "p", "base_branch": "main~5""#,
    ));
    refused(
        "a revision past the first commit",
        &sandbox,
        &sandbox.porch_run(&["tasks.json", "repo"]),
        &[
            "field `base_branch`: \"main~5\" is not a branch of",
            "nor a revision git makes a commit of (`git rev-parse --verify 'main~5^{commit}'`)",
            "hint: name an existing branch: main; or a tag, a commit id",
        ],
    );
}

// ---------------------------------------------------------------------------------------------
// Bidirectional controls: shown, never obeyed, wherever control characters are.

#[test]
fn a_right_to_left_override_in_an_agent_line_is_shown_not_obeyed() {
    let sandbox = Sandbox::new();
    let run = sandbox.run_tasks_json(
        &json!([{"name": "a", "prompt": "@say see main\u{202e}sr.txt and \u{2066}x\u{2069}"}]),
        &[],
    );
    run.expect_code(0)
        .expect_stdout("see main\\u{202e}sr.txt and \\u{2066}x\\u{2069}");
    assert!(
        !run.stdout().contains(['\u{202e}', '\u{2066}', '\u{2069}']),
        "{run}"
    );
}

#[test]
fn bidirectional_controls_in_a_value_an_error_quotes_are_shown_not_obeyed() {
    // (the task's fields, what the error shows)
    let cases = [
        (
            "\"name\": \"x\u{202e}y\", \"prompt\": \"p\"",
            "field `name`: \"x\\u{202e}y\" contains",
        ),
        (
            "\"name\": \"a\", \"prompt\": \"p\", \"copy\": [\"gone\u{200f}.env\"]",
            "field `copy`: \"gone\\u{200f}.env\" ",
        ),
        (
            "\"name\": \"a\", \"prompt\": \"p\", \"colour\u{061c}\": 1",
            "field `colour\\u{061c}`: unknown field",
        ),
    ];
    for (fields, shown) in cases {
        let sandbox = Sandbox::new();
        sandbox.tasks_text(&one(fields));
        let run = refused(
            shown,
            &sandbox,
            &sandbox.porch_run(&["tasks.json", "repo"]),
            &[shown],
        );
        assert!(
            !run.stderr().contains(['\u{202e}', '\u{200f}', '\u{061c}']),
            "{run}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// copy: only what git does not track in the task's base.

#[test]
fn copy_of_a_tracked_file_is_refused_and_the_draft_stays_the_users() {
    let sandbox = Sandbox::new();
    std::fs::write(sandbox.repo().join("README.md"), "# a draft\n").unwrap();
    sandbox.tasks_text(&one(
        r#""name": "a", "prompt": "@say nothing", "copy": ["README.md"]"#,
    ));
    refused(
        "copy of a tracked file",
        &sandbox,
        &sandbox.porch_run(&["tasks.json", "repo"]),
        &[
            "tasks.json: tasks[0] (\"a\"): field `copy`: \"README.md\" is a file git tracks in main",
            "porch would commit it as the session's work",
            "hint: copy is for what git does not track (.env, node_modules)",
        ],
    );
    assert_eq!(
        std::fs::read_to_string(sandbox.repo().join("README.md")).unwrap(),
        "# a draft\n"
    );
}

#[test]
fn copy_of_a_directory_holding_tracked_files_is_refused() {
    let sandbox = Sandbox::new();
    std::fs::create_dir_all(sandbox.repo().join("config")).unwrap();
    std::fs::write(sandbox.repo().join("config/app.toml"), "tracked\n").unwrap();
    sandbox.git(&["add", "config"]);
    sandbox.commit("config");
    std::fs::write(sandbox.repo().join("config/local.toml"), "mine\n").unwrap();
    std::fs::write(sandbox.repo().join(".git/info/exclude"), "local.toml\n").unwrap();
    sandbox.tasks_text(&one(r#""name": "a", "prompt": "p", "copy": ["config"]"#));
    refused(
        "copy of a tracked directory",
        &sandbox,
        &sandbox.porch_run(&["tasks.json", "repo"]),
        &[
            "field `copy`: \"config\" is a directory holding files git tracks in main",
            "name only untracked files inside a tracked directory",
        ],
    );
    // The ignored file inside it is what copy is for.
    sandbox.tasks_text(&one(
        r#""name": "a", "prompt": "@bash cat config/local.toml", "copy": ["config/local.toml"]"#,
    ));
    let run = sandbox.porch_run(&["tasks.json", "repo"]).run();
    run.expect_code(0);
    assert_eq!(task(&sandbox.results(), "a")["files_changed"], 0, "{run}");
}

/// A link inside the repository leads the path as written past every check: into `.git`
/// (its config can hold credentials) or into a directory git tracks.
#[test]
fn copy_through_a_link_inside_the_repository_is_refused() {
    let sandbox = Sandbox::new();
    std::os::unix::fs::symlink(".git", sandbox.repo().join("linkgit")).unwrap();
    std::fs::write(sandbox.repo().join(".git/info/exclude"), "linkgit\n").unwrap();
    sandbox.tasks_text(&one(
        r#""name": "a", "prompt": "p", "copy": ["linkgit/config"]"#,
    ));
    refused(
        "copy through a link into .git",
        &sandbox,
        &sandbox.porch_run(&["tasks.json", "repo"]),
        &["field `copy`: \"linkgit/config\" goes through a symbolic link"],
    );
}

#[test]
fn copy_is_checked_against_each_tasks_own_base() {
    let sandbox = Sandbox::new();
    // On the branch `links`, `lib` is a symbolic link git tracks; on main, nothing.
    sandbox.git(&["checkout", "-q", "-b", "links"]);
    std::os::unix::fs::symlink("ignored", sandbox.repo().join("lib")).unwrap();
    sandbox.git(&["add", "lib"]);
    sandbox.commit("lib is a link");
    sandbox.git(&["checkout", "-q", "main"]);
    std::fs::create_dir_all(sandbox.repo().join("lib")).unwrap();
    std::fs::write(sandbox.repo().join("lib/built.js"), "built\n").unwrap();
    std::fs::write(sandbox.repo().join(".git/info/exclude"), "lib/\n").unwrap();

    let on_links = json!({"tasks": [
        {"name": "a", "prompt": "@say hi", "copy": ["lib"]},
        {"name": "b", "prompt": "@say hi", "copy": ["lib"], "base_branch": "links"},
    ]});
    sandbox.tasks_json(&on_links);
    refused(
        "a directory copied over a tracked symbolic link",
        &sandbox,
        &sandbox.porch_run(&["tasks.json", "repo"]),
        &["tasks[1] (\"b\"): field `copy`: \"lib\" is a symbolic link git tracks in links"],
    );
    // On main, where git tracks no `lib`, the same copy is what copy is for.
    let run = sandbox.run_tasks_json(&json!([on_links["tasks"][0]]), &[]);
    run.expect_code(0);
    assert_eq!(task(&sandbox.results(), "a")["files_changed"], 0, "{run}");
}

#[test]
fn copy_over_a_file_a_dependency_committed_fails_the_dependant_and_replaces_nothing() {
    let sandbox = Sandbox::new();
    std::fs::write(sandbox.repo().join("settings.local"), "REPO's\n").unwrap();
    let run = sandbox.run_tasks_json(
        &json!([
            {"name": "a", "prompt": "@write settings.local the session's\\n"},
            {"name": "b", "prompt": "@say hi", "copy": ["settings.local"], "depends_on": ["a"]},
        ]),
        &[],
    );
    run.expect_code(1);
    let results = sandbox.results();
    assert_eq!(status(&results, "a"), "succeeded", "{run}");
    assert_eq!(status(&results, "b"), "failed", "{run}");
    let error = task(&results, "b")["error"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        error.contains("did not copy settings.local: it is a file git tracks on the task's branch"),
        "{error}\n{run}"
    );
    assert_eq!(
        std::fs::read_to_string(sandbox.worktree("b").join("settings.local")).unwrap(),
        "the session's\n"
    );
}

// ---------------------------------------------------------------------------------------------
// One run's worktrees and branches never inside another's.

#[test]
fn a_worktree_inside_an_earlier_runs_worktree_is_refused() {
    let sandbox = Sandbox::new();
    sandbox
        .run_tasks_json(&json!([{"name": "nightly", "prompt": "@say first"}]), &[])
        .expect_code(0);
    let earlier = sandbox.worktree("nightly");
    assert!(sandbox.worktrees().contains(&earlier.display().to_string()));
    std::fs::remove_file(sandbox.results_path()).unwrap();
    sandbox.tasks_json(&json!({"tasks": [{"name": "y", "prompt": "@say second"}]}));
    refused(
        "a branch template that nests the worktree in an earlier one",
        &sandbox,
        &sandbox.porch_run(&["tasks.json", "repo", "--branch-template", "nightly/{name}"]),
        &[
            &format!(
                "tasks.json: tasks[0] (\"y\"): field `name`: its worktree {} would be inside the worktree {} (on task/nightly)",
                earlier.join("y").display(),
                earlier.display()
            ),
            "hint: choose a --branch-template (or branch_template) whose first part is not the directory of an existing worktree",
        ],
    );
    assert!(!earlier.join("y").exists());
}

#[test]
fn a_branch_below_a_tasks_branch_is_refused_with_a_rename_not_a_deletion() {
    let sandbox = Sandbox::new();
    sandbox.git(&["branch", "task/x/y"]);
    sandbox.tasks(&[("x", "do it")]);
    let run = refused(
        "a branch below the task's",
        &sandbox,
        &sandbox.porch_run(&["tasks.json", "repo"]),
        &[
            "has a branch named `task/x/y`, so git cannot create task/x: a branch cannot also be a directory of branches",
            "hint: rename the task, or choose another --branch-template",
        ],
    );
    assert!(!run.stderr().contains("branch -D"), "{run}");
}

#[test]
fn clean_keeps_a_worktree_that_holds_another_even_with_force() {
    let sandbox = Sandbox::new();
    let tasks = sandbox.tasks(&[("nightly", "@say first")]);
    let mut first = sandbox.porch_run(&[path_str(&tasks)]);
    first.without_output().current_dir(sandbox.repo());
    first.run().expect_code(0);
    // What an older porch let a later run make: a worktree inside the earlier one.
    let outer = sandbox.worktree("nightly");
    let inner = outer.join("y");
    sandbox.git(&["worktree", "add", "-q", "-b", "nightly/y", path_str(&inner)]);
    std::fs::write(inner.join("draft.txt"), "uncommitted work\n").unwrap();

    let mut clean = sandbox.porch(&["clean", "--branches", "--force"]);
    clean
        .worktree_dir(sandbox.worktree_dir())
        .current_dir(sandbox.repo());
    let run = clean.run();
    run.expect_stdout(&format!(
        "it holds the worktree {}, which removing it would delete",
        inner.display()
    ));
    assert_eq!(
        std::fs::read_to_string(inner.join("draft.txt")).unwrap(),
        "uncommitted work\n",
        "{run}"
    );
}

// ---------------------------------------------------------------------------------------------
// The same tasks again after a run that stopped half-way: resume it, never delete first.

#[test]
fn running_the_tasks_again_after_a_partly_failed_run_says_how_to_resume_it() {
    let sandbox = Sandbox::new();
    let count = sandbox.path().join("count");
    let tasks = sandbox.tasks(&[
        ("a", "@write a.txt done"),
        (
            "b",
            &format!(
                "@fail-times 1 {} 500 overloaded\n@write b.txt done",
                count.display()
            ),
        ),
    ]);
    let run_tasks = || {
        let mut porch = sandbox.porch_run(&[path_str(&tasks), path_str(&sandbox.repo())]);
        porch.without_output();
        porch
    };
    run_tasks().run().expect_code(1);

    let again = refused("the same tasks again", &sandbox, &run_tasks(), &[]);
    let stderr = again.stderr();
    let hint = stderr
        .split_once("hint: ")
        .map(|(_, hint)| hint)
        .unwrap_or_default();
    let mut lines = hint.lines();
    assert!(
        lines
            .next()
            .is_some_and(|l| l.contains("stopped before these tasks were done")),
        "{again}"
    );
    let resume = lines.next().unwrap_or_default().trim();
    let expected_start = "porch resume --run ";
    // Only what finds the run: the resume takes the run's agent from what the run recorded.
    let expected_end = format!(
        " --worktree-dir {} {}",
        sandbox.worktree_dir().display(),
        sandbox.repo().display()
    );
    assert!(
        resume.starts_with(expected_start) && resume.ends_with(&expected_end),
        "{again}"
    );
    let delete = hint.find("branch -D").expect("deleting is offered last");
    assert!(hint.find(resume).unwrap() < delete, "{again}");

    // Pasted as it is, it goes on with the task that failed.
    let words: Vec<&str> = resume.split_whitespace().skip(1).collect();
    let resumed = sandbox.porch(&words).run();
    resumed.expect_code(0);
    assert!(sandbox.worktree("b").join("b.txt").exists(), "{resumed}");
}

#[test]
fn a_results_file_edited_into_no_run_at_all_is_refused_not_shown_as_going_on() {
    let sandbox = Sandbox::new();
    let tasks = sandbox.tasks(&[("a", "@write a.txt a")]);
    crate::after::run_stored(&sandbox, &tasks).expect_code(0);
    let (id, _) = crate::after::latest_results(&sandbox);
    let file = (sandbox.worktree_dir().join("repo/.porch/runs")).join(format!("{id}.json"));
    for text in ["[]", "{}", "{\"tasks\": []}"] {
        std::fs::write(&file, text).unwrap();
        for command in ["status", "merge", "clean"] {
            crate::after::after(&sandbox, &[command])
                .run()
                .expect_code(2)
                .expect_stderr("is not a porch results file")
                .expect_stderr(path_str(&file));
        }
    }
}
