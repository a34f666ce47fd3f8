//! Bad input: every case exits 2 with a message naming what is wrong, and creates nothing.
//!
//! The contract: a clear `porch: error:` line that names the file, the task (as
//! `tasks[INDEX] ("name")`), the field and the value, a `hint:` line saying what to do, exit
//! code 2, no panic, and nothing created or deleted: no worktree directory, no results file, no
//! branch, no registered worktree. `refused` checks all of that against a snapshot taken just
//! before porch runs, so a case may prepare files (a canary, a directory in the way) first.

use std::collections::BTreeSet;
use std::path::Path;

use crate::support::*;

/// A task that passes every check, for files whose error is elsewhere.
const OK_TASK: &str = r#"{"name": "ok", "prompt": "do it"}"#;

/// What a refused run must leave as it found: every path under the sandbox (the repository's
/// files included, so a deletion shows too), the branches and the registered worktrees.
#[derive(Debug, PartialEq)]
struct Snapshot {
    paths: BTreeSet<String>,
    outside_repo: Vec<String>,
    branches: Option<Vec<String>>,
    worktrees: Option<Vec<String>>,
}

fn snapshot(sandbox: &Sandbox) -> Snapshot {
    let mut paths = BTreeSet::new();
    walk(sandbox.path(), sandbox.path(), &mut paths);
    let mut outside_repo = sandbox.created_outside_repo();
    outside_repo.sort();
    let is_repo = sandbox.repo().join(".git").exists();
    Snapshot {
        paths,
        outside_repo,
        branches: is_repo.then(|| sandbox.branches()),
        worktrees: is_repo.then(|| sandbox.worktrees()),
    }
}

/// Every path under `dir`, relative to `root`; symbolic links are listed, not followed.
fn walk(root: &Path, dir: &Path, found: &mut BTreeSet<String>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        found.insert(path.strip_prefix(root).unwrap().display().to_string());
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            walk(root, &path, found);
        }
    }
}

/// Runs porch and lists every way it failed to refuse cleanly.
fn check_refusal(sandbox: &Sandbox, porch: &Porch, needles: &[&str]) -> (Run, Vec<String>) {
    let before = snapshot(sandbox);
    let run = porch.run();
    let after = snapshot(sandbox);
    let stderr = run.stderr();
    let mut problems = Vec::new();
    if run.code() != Some(2) {
        problems.push(format!("exit code {:?}, expected 2", run.code()));
    }
    if stderr.contains("panicked") {
        problems.push("porch panicked".to_string());
    }
    if !stderr.starts_with("porch: error: ") {
        problems.push("stderr does not start with `porch: error: `".to_string());
    }
    if !stderr.lines().any(|l| l.starts_with("hint: ")) {
        problems.push("no `hint:` line on stderr".to_string());
    }
    for needle in needles {
        if !stderr.contains(needle) {
            problems.push(format!("stderr lacks {needle:?}"));
        }
    }
    if !run.stdout().is_empty() {
        problems.push("something was printed on stdout".to_string());
    }
    if after.outside_repo != before.outside_repo {
        problems.push(format!(
            "created next to the repository: {:?} (before: {:?})",
            after.outside_repo, before.outside_repo
        ));
    }
    let created: Vec<_> = after.paths.difference(&before.paths).collect();
    let deleted: Vec<_> = before.paths.difference(&after.paths).collect();
    if !created.is_empty() || !deleted.is_empty() {
        problems.push(format!("created {created:?}, deleted {deleted:?}"));
    }
    if after.branches != before.branches {
        problems.push(format!(
            "branches changed: {:?} -> {:?}",
            before.branches, after.branches
        ));
    }
    if after.worktrees != before.worktrees {
        problems.push(format!(
            "registered worktrees changed: {:?} -> {:?}",
            before.worktrees, after.worktrees
        ));
    }
    (run, problems)
}

/// Asserts that porch refused cleanly: exit 2, no panic, an error with every needle and a hint,
/// nothing created or deleted. Failures name `case`.
#[track_caller]
pub(crate) fn refused(case: &str, sandbox: &Sandbox, porch: &Porch, needles: &[&str]) -> Run {
    let (run, problems) = check_refusal(sandbox, porch, needles);
    assert!(
        problems.is_empty(),
        "case {case:?}:\n  {}\n{run}",
        problems.join("\n  ")
    );
    run
}

/// A sandbox whose repository also has the branch `dev`.
fn sandbox_with_dev() -> Sandbox {
    let sandbox = Sandbox::new();
    sandbox.git(&["branch", "dev"]);
    sandbox
}

// ---------------------------------------------------------------------------------------------
// The tasks file, case by case: (case, file contents, fragments the error must hold).

pub(crate) struct Case {
    name: &'static str,
    text: Vec<u8>,
    needles: Vec<String>,
}

pub(crate) fn case(name: &'static str, text: impl Into<Vec<u8>>, needles: &[&str]) -> Case {
    Case {
        name,
        text: text.into(),
        needles: needles.iter().map(|s| s.to_string()).collect(),
    }
}

/// A file with one task made of these fields.
pub(crate) fn one(fields: &str) -> String {
    format!(r#"{{"tasks": [{{{fields}}}]}}"#)
}

/// A file with one task named NAME (written as a JSON string literal) and a good prompt.
fn named(name_json: &str) -> String {
    one(&format!(r#""name": {name_json}, "prompt": "do it""#))
}

/// Runs every case in its own sandbox and reports all that failed, each by name.
pub(crate) fn check_cases(cases: Vec<Case>) {
    let count = cases.len();
    let mut failures = Vec::new();
    for case in cases {
        let sandbox = Sandbox::new();
        std::fs::write(sandbox.path().join("tasks.json"), &case.text).unwrap();
        let mut needles: Vec<&str> = vec!["porch: error: tasks.json: "];
        needles.extend(case.needles.iter().map(String::as_str));
        let (run, problems) = check_refusal(
            &sandbox,
            &sandbox.porch_run(&["tasks.json", "repo"]),
            &needles,
        );
        if !problems.is_empty() {
            failures.push(format!(
                "case {:?}:\n  {}\n{run}",
                case.name,
                problems.join("\n  ")
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {count} cases failed:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

#[test]
fn malformed_tasks_files_are_refused() {
    check_cases(vec![
        case(
            "broken JSON: trailing comma (line and column)",
            "{\n  \"tasks\": [\n    {\"name\": \"a\", \"prompt\": \"p\",}\n  ]\n}\n",
            &[
                "not valid JSON",
                "trailing comma",
                "line 3 column 33",
                "hint: fix the JSON",
            ],
        ),
        case(
            "broken JSON: unclosed",
            r#"{"tasks": [{"name": "a", "prompt": "p"}"#,
            &["not valid JSON", "EOF while parsing", "line 1 column 39"],
        ),
        case(
            "broken JSON: single quotes",
            "{'tasks': []}",
            &["not valid JSON", "line 1 column 2"],
        ),
        case("empty file", "", &["the tasks file is empty", "porch init"]),
        case(
            "whitespace-only file",
            " \n\t\r\n   \n",
            &["the tasks file is empty"],
        ),
        case(
            "binary garbage",
            &b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe\x00\x01"[..],
            &["not valid JSON", "line 1 column 1"],
        ),
        case(
            "invalid UTF-8 inside a string",
            &b"{\"tasks\": [{\"name\": \"a\", \"prompt\": \"p\xff\xfe\"}]}"[..],
            &["not valid JSON", "line 1 column"],
        ),
        case(
            "lone surrogate escape",
            one(r#""name": "a", "prompt": "\ud800""#),
            &["not valid JSON", "line 1 column"],
        ),
        case(
            "number out of range",
            one(r#""name": "a", "prompt": 1e999"#),
            &["not valid JSON", "number out of range"],
        ),
        case(
            "nesting 100000 deep",
            "[".repeat(100_000),
            &["not valid JSON", "recursion limit"],
        ),
        case(
            "top-level number",
            "42",
            &["expected a JSON object with a `tasks` list, got the number 42"],
        ),
        case(
            "top-level string",
            r#""fix the login""#,
            &["expected a JSON object with a `tasks` list, got the string \"fix the login\""],
        ),
        case("top-level null", "null", &["got null"]),
        case("top-level boolean", "true", &["got the boolean true"]),
        case(
            "`tasks` is an object",
            r#"{"tasks": {}}"#,
            &["`tasks` must be a list, got an object"],
        ),
        case(
            "`tasks` is a string",
            r#"{"tasks": "fix it"}"#,
            &["`tasks` must be a list, got the string \"fix it\""],
        ),
        case(
            "`tasks` is null",
            r#"{"tasks": null}"#,
            &["`tasks` must be a list, got null"],
        ),
        case(
            "`tasks` is an empty list",
            r#"{"tasks": []}"#,
            &["the `tasks` list is empty", "hint: add at least one task"],
        ),
        case("top-level empty list", "[]", &["the `tasks` list is empty"]),
        case("no `tasks` key", "{}", &["no `tasks` field"]),
        case(
            "unknown top-level field",
            format!(r#"{{"tasks": [{OK_TASK}], "version": 2}}"#),
            &[
                "unknown top-level field `version`",
                "hint: the top level holds only: tasks",
            ],
        ),
        case(
            "misspelt `tasks`",
            format!(r#"{{"task": [{OK_TASK}]}}"#),
            &["unknown top-level field `task`"],
        ),
        case(
            "a task that is a string",
            r#"{"tasks": ["fix the login"]}"#,
            &["tasks[0]: a task must be a JSON object, got the string \"fix the login\""],
        ),
        case(
            "the second task is null",
            format!(r#"{{"tasks": [{OK_TASK}, null]}}"#),
            &["tasks[1]: a task must be a JSON object, got null"],
        ),
        case(
            "a task that is a list",
            r#"{"tasks": [["a", "p"]]}"#,
            &["tasks[0]: a task must be a JSON object, got a list"],
        ),
    ]);
}

#[test]
fn bad_task_names_are_refused() {
    let long = "a".repeat(300);
    let shown = format!("\"{}…\"", "a".repeat(60));
    check_cases(vec![
        case(
            "missing name",
            one(r#""prompt": "do it""#),
            &[
                "tasks[0]: field `name`: missing",
                "hint: a task name becomes",
            ],
        ),
        case(
            "null name",
            named("null"),
            &["tasks[0]: field `name`: missing"],
        ),
        case(
            "name is a number",
            named("42"),
            &["tasks[0]: field `name`: must be a string, got the number 42"],
        ),
        case(
            "name is a list",
            named(r#"["a"]"#),
            &["tasks[0]: field `name`: must be a string, got a list"],
        ),
        case(
            "empty name",
            named(r#""""#),
            &["tasks[0]: field `name`: \"\" is empty"],
        ),
        case(
            "name with '/'",
            named(r#""fix/login""#),
            &["tasks[0]: field `name`: \"fix/login\" contains '/'"],
        ),
        case(
            "name `..`",
            named(r#""..""#),
            &["tasks[0]: field `name`: \"..\" starts with '-' or '.'"],
        ),
        case(
            "name with `..` inside",
            named(r#""a..b""#),
            &["tasks[0]: field `name`: \"a..b\" contains \"..\""],
        ),
        case(
            "name with a space",
            named(r#""fix login""#),
            &["tasks[0]: field `name`: \"fix login\" contains a space"],
        ),
        case(
            "name with a leading '-'",
            named(r#""-rf""#),
            &["tasks[0]: field `name`: \"-rf\" starts with '-'"],
        ),
        case(
            "name with a leading '.'",
            named(r#"".hidden""#),
            &["tasks[0]: field `name`: \".hidden\" starts with"],
        ),
        case(
            "name with a non-ASCII letter",
            named(r#""café""#),
            &["tasks[0]: field `name`: \"café\" contains the non-ASCII character 'é'"],
        ),
        case(
            "name with a control character",
            named(r#""a\u0007b""#),
            &["tasks[0]: field `name`: \"a\\u0007b\" contains the control character U+0007"],
        ),
        case(
            "name with a newline",
            named(r#""a\nb""#),
            &["tasks[0]: field `name`: \"a\\nb\" contains the control character U+000A"],
        ),
        case(
            "name of 300 characters",
            named(&format!("\"{long}\"")),
            &[
                "tasks[0]: field `name`: ",
                &shown,
                "is 300 characters long; the limit is 64",
            ],
        ),
        case(
            "name ending `.lock`",
            named(r#""x.lock""#),
            &["tasks[0]: field `name`: \"x.lock\" ends with"],
        ),
        case(
            "name ending '.'",
            named(r#""x.""#),
            &["tasks[0]: field `name`: \"x.\" ends with"],
        ),
        case(
            "name with a shell glob",
            named(r#""*""#),
            &["tasks[0]: field `name`: \"*\" contains '*'"],
        ),
        case(
            "duplicate names (both indices named)",
            r#"{"tasks": [{"name": "x", "prompt": "p"}, {"name": "y", "prompt": "p"},
                          {"name": "x", "prompt": "q"}]}"#,
            &[
                "tasks[2] (\"x\"): field `name`: duplicate name \"x\", already used by tasks[0] (\"x\")",
                "hint: every task needs its own name",
            ],
        ),
    ]);
}

#[test]
fn bad_task_fields_are_refused() {
    check_cases(vec![
        case(
            "unknown task field",
            one(r#""name": "a", "prompt": "p", "colour": "red""#),
            &[
                "tasks[0] (\"a\"): field `colour`: unknown field",
                "hint: a task's fields are: name, prompt, description, allowed_tools, base_branch",
            ],
        ),
        case(
            "misspelt `prompt`",
            one(r#""name": "a", "promt": "p""#),
            &[
                "tasks[0] (\"a\"): field `promt`: unknown field",
                "name, prompt, description, allowed_tools, base_branch",
            ],
        ),
        case(
            "missing prompt",
            one(r#""name": "a""#),
            &[
                "tasks[0] (\"a\"): field `prompt`: missing or empty",
                "hint: give the task a prompt",
            ],
        ),
        case(
            "null prompt",
            one(r#""name": "a", "prompt": null"#),
            &["tasks[0] (\"a\"): field `prompt`: missing or empty"],
        ),
        case(
            "empty prompt",
            one(r#""name": "a", "prompt": """#),
            &["tasks[0] (\"a\"): field `prompt`: missing or empty"],
        ),
        case(
            "whitespace-only prompt",
            one(r#""name": "a", "prompt": "  \n\t  ""#),
            &["tasks[0] (\"a\"): field `prompt`: missing or empty"],
        ),
        case(
            "prompt is a number",
            one(r#""name": "a", "prompt": 7"#),
            &["tasks[0] (\"a\"): field `prompt`: must be a string, got the number 7"],
        ),
        case(
            "prompt is a list of lines",
            one(r#""name": "a", "prompt": ["line 1", "line 2"]"#),
            &["tasks[0] (\"a\"): field `prompt`: must be a string, got a list"],
        ),
        case(
            "description is a number",
            one(r#""name": "a", "prompt": "p", "description": 1"#),
            &["tasks[0] (\"a\"): field `description`: must be a string, got the number 1"],
        ),
        case(
            "description is an object",
            one(r#""name": "a", "prompt": "p", "description": {}"#),
            &["tasks[0] (\"a\"): field `description`: must be a string, got an object"],
        ),
        case(
            "allowed_tools is a string",
            one(r#""name": "a", "prompt": "p", "allowed_tools": "Read""#),
            &[
                "tasks[0] (\"a\"): field `allowed_tools`: must be a list of strings, got the string \"Read\"",
            ],
        ),
        case(
            "allowed_tools holds a number",
            one(r#""name": "a", "prompt": "p", "allowed_tools": ["Read", 2]"#),
            &[
                "tasks[0] (\"a\"): field `allowed_tools`: every entry must be a string, got the number 2",
            ],
        ),
        case(
            "allowed_tools holds null",
            one(r#""name": "a", "prompt": "p", "allowed_tools": [null]"#),
            &["tasks[0] (\"a\"): field `allowed_tools`: every entry must be a string, got null"],
        ),
        case(
            "allowed_tools entry starting with '-'",
            one(
                r#""name": "a", "prompt": "p", "allowed_tools": ["Read", "--dangerously-skip-permissions"]"#,
            ),
            &[
                "tasks[0] (\"a\"): field `allowed_tools`: entry \"--dangerously-skip-permissions\" starts with '-'",
            ],
        ),
        case(
            "allowed_tools entry empty",
            one(r#""name": "a", "prompt": "p", "allowed_tools": [""]"#),
            &["tasks[0] (\"a\"): field `allowed_tools`: entry \"\" is empty"],
        ),
        case(
            "allowed_tools entry with a newline",
            one(r#""name": "a", "prompt": "p", "allowed_tools": ["Read\nBash"]"#),
            &[
                "tasks[0] (\"a\"): field `allowed_tools`: entry \"Read\\nBash\" contains the control character U+000A",
            ],
        ),
        case(
            "base_branch `--orphan`",
            one(r#""name": "a", "prompt": "p", "base_branch": "--orphan""#),
            &[
                "tasks[0] (\"a\"): field `base_branch`: \"--orphan\" starts with '-'",
                "hint: name a branch of the repository",
            ],
        ),
        case(
            "base_branch with `..`",
            one(r#""name": "a", "prompt": "p", "base_branch": "main..dev""#),
            &[
                "tasks[0] (\"a\"): field `base_branch`: \"main..dev\" is not a branch of",
                "nor a revision git makes a commit of",
            ],
        ),
        case(
            "base_branch `..`",
            one(r#""name": "a", "prompt": "p", "base_branch": "..""#),
            &[
                "tasks[0] (\"a\"): field `base_branch`: \"..\" is not a branch of",
                "nor a revision git makes a commit of",
            ],
        ),
        case(
            "base_branch counted back past the first commit",
            one(r#""name": "a", "prompt": "p", "base_branch": "main~1""#),
            &["tasks[0] (\"a\"): field `base_branch`: \"main~1\" is not a branch of"],
        ),
        case(
            "base_branch with `@{`",
            one(r#""name": "a", "prompt": "p", "base_branch": "main@{1}""#),
            &[
                "tasks[0] (\"a\"): field `base_branch`: \"main@{1}\" is not a branch of",
                "nor a revision git makes a commit of",
            ],
        ),
        case(
            "base_branch ending `.lock`",
            one(r#""name": "a", "prompt": "p", "base_branch": "main.lock""#),
            &[
                "tasks[0] (\"a\"): field `base_branch`: \"main.lock\" is not a branch of",
                "nor a revision git makes a commit of",
            ],
        ),
        case(
            "base_branch empty",
            one(r#""name": "a", "prompt": "p", "base_branch": """#),
            &["tasks[0] (\"a\"): field `base_branch`: \"\" is empty"],
        ),
        case(
            "base_branch is a number",
            one(r#""name": "a", "prompt": "p", "base_branch": 1"#),
            &["tasks[0] (\"a\"): field `base_branch`: must be a string, got the number 1"],
        ),
        case(
            "a good task, then a bad one",
            format!(r#"{{"tasks": [{OK_TASK}, {{"name": "b", "prompt": ""}}]}}"#),
            &["tasks[1] (\"b\"): field `prompt`: missing or empty"],
        ),
    ]);
}

// ---------------------------------------------------------------------------------------------
// Base branches: checked against the repository.

#[test]
fn base_branch_that_is_a_shell_command_is_refused_and_runs_nothing() {
    let sandbox = Sandbox::new();
    let canary = sandbox.path().join("canary");
    std::fs::write(&canary, "still here\n").unwrap();
    sandbox.tasks_text(&one(
        r#""name": "a", "prompt": "p", "base_branch": ";rm -rf /""#,
    ));
    refused(
        "base_branch `;rm -rf /`",
        &sandbox,
        &sandbox.porch_run(&["tasks.json", "repo"]),
        &[
            "tasks.json: tasks[0] (\"a\"): field `base_branch`: \";rm -rf /\"",
            "hint: name an existing branch: main",
        ],
    );
    // `refused` already saw that no path under the sandbox went away; these are outside it.
    assert!(canary.exists());
    assert!(fixture_agent().exists());
    assert!(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("Cargo.toml")
            .exists()
    );
}

#[test]
fn base_branch_with_shell_syntax_but_no_space_is_not_run() {
    let sandbox = Sandbox::new();
    sandbox.tasks_text(&one(
        r#""name": "a", "prompt": "p", "base_branch": "main;touch${IFS}pwned;$(touch${IFS}pwned2)""#,
    ));
    refused(
        "base_branch with shell syntax",
        &sandbox,
        &sandbox.porch_run(&["tasks.json", "repo"]),
        &[
            "tasks.json: tasks[0] (\"a\"): field `base_branch`: \"main;touch${IFS}pwned;$(touch${IFS}pwned2)\"",
        ],
    );
    for dir in [sandbox.path().to_path_buf(), sandbox.repo()] {
        assert!(!dir.join("pwned").exists() && !dir.join("pwned2").exists());
    }
}

#[test]
fn base_branch_that_does_not_exist_lists_the_branches() {
    let sandbox = sandbox_with_dev();
    sandbox.tasks_text(&one(
        r#""name": "a", "prompt": "p", "base_branch": "develop""#,
    ));
    refused(
        "base_branch that does not exist",
        &sandbox,
        &sandbox.porch_run(&["tasks.json", "repo"]),
        &[
            "tasks.json: tasks[0] (\"a\"): field `base_branch`: \"develop\" is not a branch of",
            "hint: name an existing branch: dev, main",
        ],
    );
}

#[test]
fn base_branch_missing_in_a_later_task_creates_nothing_for_the_earlier_ones() {
    let sandbox = Sandbox::new();
    sandbox.tasks_text(&format!(
        r#"{{"tasks": [{OK_TASK}, {{"name": "b", "prompt": "p", "base_branch": "gone"}}]}}"#
    ));
    refused(
        "second task's base_branch does not exist",
        &sandbox,
        &sandbox.porch_run(&["tasks.json", "repo"]),
        &[
            "tasks.json: tasks[1] (\"b\"): field `base_branch`: \"gone\" is not a branch",
            "hint: name an existing branch: main",
        ],
    );
}

// ---------------------------------------------------------------------------------------------
// Leftovers of an earlier run: a task's branch or worktree already there.

#[test]
fn existing_task_branch_is_refused_with_the_command_to_clean_it() {
    let sandbox = Sandbox::new();
    sandbox.git(&["branch", "task/x"]);
    sandbox.tasks(&[("x", "do it")]);
    let run = refused(
        "task branch exists",
        &sandbox,
        &sandbox.porch_run(&["tasks.json", "repo"]),
        &["task/x", "already exist", "hint: ", "branch -D task/x"],
    );
    assert_eq!(sandbox.branches(), ["main", "task/x"], "{run}");
}

#[test]
fn existing_task_branch_error_names_the_file_and_the_task() {
    let sandbox = Sandbox::new();
    sandbox.git(&["branch", "task/x"]);
    sandbox.tasks(&[("ok", "p"), ("x", "do it")]);
    refused(
        "task branch exists: file and task named",
        &sandbox,
        &sandbox.porch_run(&["tasks.json", "repo"]),
        &[
            "tasks.json",
            "tasks[1] (\"x\")",
            "task/x",
            "branch -D task/x",
        ],
    );
}

#[test]
fn existing_worktree_directory_is_refused() {
    let sandbox = Sandbox::new();
    std::fs::create_dir_all(sandbox.worktree("x")).unwrap();
    std::fs::write(sandbox.worktree("x").join("work.txt"), "keep me\n").unwrap();
    sandbox.tasks(&[("x", "do it")]);
    let shown = format!("rm -r {}", sandbox.worktree("x").display());
    refused(
        "worktree directory exists",
        &sandbox,
        &sandbox.porch_run(&["tasks.json", "repo"]),
        &["task/x", "already exist", "hint: ", &shown],
    );
    assert_eq!(
        std::fs::read_to_string(sandbox.worktree("x").join("work.txt")).unwrap(),
        "keep me\n"
    );
}

#[test]
fn existing_worktree_directory_hint_only_deletes_what_exists() {
    let sandbox = Sandbox::new();
    std::fs::create_dir_all(sandbox.worktree("x")).unwrap();
    sandbox.tasks(&[("x", "do it")]);
    let run = refused(
        "worktree directory exists: hint",
        &sandbox,
        &sandbox.porch_run(&["tasks.json", "repo"]),
        &["rm -r "],
    );
    assert!(!run.stderr().contains("branch -D"), "{run}");
}

#[test]
fn task_branch_checked_out_in_another_worktree_is_refused() {
    let sandbox = Sandbox::new();
    let elsewhere = sandbox.path().join("elsewhere");
    sandbox.git(&[
        "worktree",
        "add",
        "-q",
        "-b",
        "task/x",
        path_str(&elsewhere),
    ]);
    sandbox.tasks(&[("x", "do it")]);
    let shown = format!("worktree remove {}", elsewhere.display());
    refused(
        "task branch registered in another worktree",
        &sandbox,
        &sandbox.porch_run(&["tasks.json", "repo"]),
        &["task/x", "already exist", &shown, "branch -D task/x"],
    );
}

#[test]
fn existing_branch_named_task_is_refused_before_anything_is_created() {
    let sandbox = Sandbox::new();
    sandbox.git(&["branch", "task"]);
    sandbox.tasks(&[("x", "do it")]);
    refused(
        "branch `task` exists",
        &sandbox,
        &sandbox.porch_run(&["tasks.json", "repo"]),
        &["task/x", "task"],
    );
}

#[test]
fn existing_branch_below_the_task_branch_is_refused_before_anything_is_created() {
    let sandbox = Sandbox::new();
    sandbox.git(&["branch", "task/x/y"]);
    sandbox.tasks(&[("x", "do it")]);
    refused(
        "branch `task/x/y` exists",
        &sandbox,
        &sandbox.porch_run(&["tasks.json", "repo"]),
        &["task/x"],
    );
}

// ---------------------------------------------------------------------------------------------
// Where the tasks come from.

#[test]
fn tasks_file_that_does_not_exist() {
    let sandbox = Sandbox::new();
    refused(
        "tasks file missing",
        &sandbox,
        &sandbox.porch_run(&["nope.json", "repo"]),
        &["the tasks file nope.json does not exist", "porch init"],
    );
}

#[test]
fn tasks_file_that_is_a_directory() {
    let sandbox = Sandbox::new();
    std::fs::create_dir(sandbox.path().join("tasks.d")).unwrap();
    refused(
        "tasks file is a directory",
        &sandbox,
        &sandbox.porch_run(&["tasks.d", "repo"]),
        &["the tasks file tasks.d is a directory", "hint: "],
    );
}

#[test]
fn tasks_on_stdin_with_bad_json_are_named_stdin() {
    let sandbox = Sandbox::new();
    refused(
        "bad JSON on stdin",
        &sandbox,
        sandbox
            .porch_run(&["-", "repo"])
            .stdin(b"{\"tasks\": [\n  {\"name\": \"a\" \"prompt\": \"p\"}\n]}\n"),
        &["porch: error: <stdin>: not valid JSON", "line 2 column"],
    );
}

#[test]
fn empty_stdin_is_refused() {
    let sandbox = Sandbox::new();
    refused(
        "empty stdin",
        &sandbox,
        sandbox.porch_run(&["-", "repo"]).stdin(b""),
        &["porch: error: <stdin>: the tasks file is empty"],
    );
}

#[test]
fn bad_task_on_stdin_names_stdin_and_the_task() {
    let sandbox = Sandbox::new();
    refused(
        "bad task on stdin",
        &sandbox,
        sandbox
            .porch_run(&["-", "repo"])
            .stdin(one(r#""name": "a", "prompt": "p", "allowed_tools": "Read""#).as_bytes()),
        &["porch: error: <stdin>: tasks[0] (\"a\"): field `allowed_tools`: must be a list"],
    );
}

// ---------------------------------------------------------------------------------------------
// REPO.

#[test]
fn repo_that_is_a_file() {
    let sandbox = Sandbox::new();
    sandbox.tasks(&[("a", "p")]);
    std::fs::write(sandbox.path().join("afile"), "x").unwrap();
    refused(
        "REPO is a file",
        &sandbox,
        &sandbox.porch_run(&["tasks.json", "afile"]),
        &[
            "REPO afile is a file, not a directory",
            "hint: name a directory",
        ],
    );
}

#[test]
fn repo_that_does_not_exist() {
    let sandbox = Sandbox::new();
    sandbox.tasks(&[("a", "p")]);
    refused(
        "REPO does not exist",
        &sandbox,
        &sandbox.porch_run(&["tasks.json", "nowhere"]),
        &[
            "REPO nowhere: No such file or directory",
            "hint: name a directory",
        ],
    );
}

#[test]
fn repo_that_is_not_a_git_repository() {
    let sandbox = Sandbox::new();
    sandbox.tasks(&[("a", "p")]);
    std::fs::create_dir(sandbox.path().join("plain")).unwrap();
    refused(
        "REPO is not a git repository",
        &sandbox,
        sandbox
            .porch_run(&["tasks.json", "plain"])
            .env("GIT_CEILING_DIRECTORIES", sandbox.path()),
        &[
            "REPO plain is not inside a git work tree",
            "hint: run porch on a git checkout",
        ],
    );
}

#[test]
fn bare_repository_is_refused() {
    let sandbox = Sandbox::new();
    sandbox.tasks(&[("a", "p")]);
    let bare = sandbox.path().join("bare.git");
    sandbox.git_in(sandbox.path(), &["init", "-q", "--bare", path_str(&bare)]);
    refused(
        "bare repository",
        &sandbox,
        &sandbox.porch_run(&["tasks.json", "bare.git"]),
        &[
            "REPO bare.git is not inside a git work tree",
            "bare repository",
        ],
    );
    assert_eq!(sandbox.git_in(&bare, &["for-each-ref"]), "");
    assert!(!bare.join("worktrees").exists());
}

#[test]
fn git_directory_as_repo_is_refused() {
    let sandbox = Sandbox::new();
    sandbox.tasks(&[("a", "p")]);
    refused(
        "REPO is repo/.git",
        &sandbox,
        &sandbox.porch_run(&["tasks.json", "repo/.git"]),
        &["REPO repo/.git is not inside a git work tree"],
    );
}

#[test]
fn repository_without_commits_is_refused() {
    let sandbox = Sandbox::empty();
    sandbox.git_in(sandbox.path(), &["init", "-q", "-b", "main", "repo"]);
    sandbox.tasks(&[("a", "p")]);
    refused(
        "repository with no commits",
        &sandbox,
        &sandbox.porch_run(&["tasks.json", "repo"]),
        &["has no commits yet", "hint: make a first commit"],
    );
    assert!(sandbox.branches().is_empty());
    assert_eq!(sandbox.worktrees().len(), 1);
}

// ---------------------------------------------------------------------------------------------
// The agent.

#[test]
fn agent_that_does_not_exist() {
    let sandbox = Sandbox::new();
    sandbox.tasks(&[("a", "p")]);
    refused(
        "--claude /nonexistent",
        &sandbox,
        &sandbox.porch_run(&["--claude", "/nonexistent", "tasks.json", "repo"]),
        &[
            "the agent executable /nonexistent (from --claude) cannot be used",
            "hint: point --claude",
        ],
    );
}

#[test]
fn agent_that_is_not_executable() {
    let sandbox = Sandbox::new();
    sandbox.tasks(&[("a", "p")]);
    let agent = sandbox.path().join("claude");
    std::fs::write(&agent, "#!/bin/sh\nexit 0\n").unwrap();
    refused(
        "agent without +x",
        &sandbox,
        &sandbox.porch_run(&["--claude", path_str(&agent), "tasks.json", "repo"]),
        &["(from --claude) is not executable", "hint: chmod +x"],
    );
}

#[test]
fn agent_that_is_a_directory() {
    let sandbox = Sandbox::new();
    sandbox.tasks(&[("a", "p")]);
    let home = sandbox.path().join("home");
    refused(
        "agent is a directory",
        &sandbox,
        &sandbox.porch_run(&["--claude", path_str(&home), "tasks.json", "repo"]),
        &["(from --claude) is not a file", "hint: point --claude"],
    );
}

#[test]
fn porch_claude_pointing_nowhere() {
    let sandbox = Sandbox::new();
    sandbox.tasks(&[("a", "p")]);
    refused(
        "PORCH_CLAUDE pointing nowhere",
        &sandbox,
        sandbox
            .porch_run(&["tasks.json", "repo"])
            .env("PORCH_CLAUDE", "/nowhere/claude"),
        &[
            "the agent executable /nowhere/claude (from PORCH_CLAUDE) cannot be used",
            "hint: ",
        ],
    );
}

#[test]
fn default_claude_not_on_path() {
    let sandbox = Sandbox::new();
    sandbox.tasks(&[("a", "p")]);
    let bin = sandbox.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    // The git porch would find (what `which git` prints), alone on the new PATH.
    let git = std::env::split_paths(&std::env::var_os("PATH").expect("PATH is set"))
        .map(|dir| dir.join("git"))
        .find(|candidate| candidate.is_file())
        .expect("git is on PATH");
    std::os::unix::fs::symlink(&git, bin.join("git")).unwrap();
    refused(
        "default claude not on PATH",
        &sandbox,
        sandbox
            .porch_run(&["tasks.json", "repo"])
            .env_remove("PORCH_CLAUDE")
            .env("PATH", &bin),
        &[
            "the agent executable `claude` (from the default) is not on PATH",
            "hint: install Claude Code",
        ],
    );
}

// ---------------------------------------------------------------------------------------------
// The command line.

#[test]
fn bogus_permission_mode_lists_the_valid_ones() {
    let sandbox = Sandbox::new();
    sandbox.tasks(&[("a", "p")]);
    refused(
        "--permission-mode bogus",
        &sandbox,
        &sandbox.porch_run(&["--permission-mode", "bogus", "tasks.json", "repo"]),
        &[
            "--permission-mode `bogus`",
            "hint: use one of: acceptEdits, auto, bypassPermissions, default, dontAsk, plan",
        ],
    );
}

#[test]
fn permission_mode_without_a_value() {
    let sandbox = Sandbox::new();
    sandbox.tasks(&[("a", "p")]);
    refused(
        "--permission-mode without a value",
        &sandbox,
        &sandbox.porch(&["run", "tasks.json", "repo", "--permission-mode"]),
        &["--permission-mode", "hint: "],
    );
}

#[test]
fn bogus_color_lists_the_choices() {
    let sandbox = Sandbox::new();
    sandbox.tasks(&[("a", "p")]);
    refused(
        "--color bogus",
        &sandbox,
        &sandbox.porch_run(&["--color", "bogus", "tasks.json", "repo"]),
        &["--color `bogus`", "hint: use auto, always or never"],
    );
}

#[test]
fn unknown_option() {
    let sandbox = Sandbox::new();
    sandbox.tasks(&[("a", "p")]);
    refused(
        "unknown option",
        &sandbox,
        &sandbox.porch_run(&["--frobnicate", "tasks.json", "repo"]),
        &["--frobnicate", "hint: see `porch run --help`"],
    );
}

#[test]
fn unknown_command() {
    let sandbox = Sandbox::new();
    refused(
        "unknown command",
        &sandbox,
        &sandbox.porch(&["runn", "tasks.json"]),
        &[
            "unknown command `runn`",
            "hint: the commands are run, init, plan, list, status, report, logs, resume, merge, pr, clean, merge-results, completions and help",
        ],
    );
}

#[test]
fn missing_tasks_argument() {
    let sandbox = Sandbox::new();
    refused(
        "no TASKS",
        &sandbox,
        &sandbox.porch(&["run"]),
        &["no tasks file given", "hint: usage: porch run"],
    );
}

#[test]
fn empty_tasks_argument() {
    let sandbox = Sandbox::new();
    refused(
        "TASKS is an empty string",
        &sandbox,
        &sandbox.porch_run(&[""]),
        &["the tasks file path is empty", "hint: "],
    );
}

#[test]
fn too_many_positionals() {
    let sandbox = Sandbox::new();
    sandbox.tasks(&[("a", "p")]);
    refused(
        "three positionals",
        &sandbox,
        &sandbox.porch_run(&["tasks.json", "repo", "extra"]),
        &["unexpected argument `extra`", "hint: usage: porch run"],
    );
}

#[test]
fn output_given_twice() {
    let sandbox = Sandbox::new();
    sandbox.tasks(&[("a", "p")]);
    refused(
        "--output twice",
        &sandbox,
        // porch_run adds its own --output after these.
        &sandbox.porch_run(&["-o", "other.json", "tasks.json", "repo"]),
        &["--output was given more than once"],
    );
}

#[test]
fn empty_worktree_dir() {
    let sandbox = Sandbox::new();
    sandbox.tasks(&[("a", "p")]);
    refused(
        "--worktree-dir \"\"",
        &sandbox,
        sandbox
            .porch_run(&["--worktree-dir", "", "tasks.json", "repo"])
            .without_worktree_dir()
            .without_output(),
        &["--worktree-dir needs a path"],
    );
}

#[test]
fn empty_claude() {
    let sandbox = Sandbox::new();
    sandbox.tasks(&[("a", "p")]);
    refused(
        "--claude \"\"",
        &sandbox,
        &sandbox.porch_run(&["--claude", "", "tasks.json", "repo"]),
        &["--claude needs a path"],
    );
}

// ---------------------------------------------------------------------------------------------
// Where worktrees and results go.

#[test]
fn output_in_a_directory_that_does_not_exist() {
    let sandbox = Sandbox::new();
    sandbox.tasks(&[("a", "p")]);
    refused(
        "-o into a missing directory",
        &sandbox,
        sandbox
            .porch_run(&[
                "-o",
                "no/such/dir/results.json",
                "--worktree-dir",
                "wt",
                "tasks.json",
                "repo",
            ])
            .without_worktree_dir()
            .without_output(),
        &[
            "the results file",
            "no/such/dir/results.json",
            "hint: create the directory first",
        ],
    );
}

#[test]
fn output_that_is_a_directory() {
    let sandbox = Sandbox::new();
    sandbox.tasks(&[("a", "p")]);
    std::fs::create_dir(sandbox.path().join("out")).unwrap();
    refused(
        "-o is a directory",
        &sandbox,
        sandbox
            .porch_run(&["-o", "out", "--worktree-dir", "wt", "tasks.json", "repo"])
            .without_worktree_dir()
            .without_output(),
        &[
            "the results file",
            "out is a directory",
            "hint: give -o a file path",
        ],
    );
}

#[test]
fn output_that_is_the_tasks_file() {
    let sandbox = Sandbox::new();
    let tasks = sandbox.tasks(&[("a", "p")]);
    let before = std::fs::read(&tasks).unwrap();
    let (run, problems) = check_refusal(
        &sandbox,
        sandbox
            .porch_run(&[
                "-o",
                "tasks.json",
                "--worktree-dir",
                "wt",
                "tasks.json",
                "repo",
            ])
            .without_worktree_dir()
            .without_output(),
        &["tasks.json"],
    );
    let after = std::fs::read(&tasks).unwrap();
    assert!(
        problems.is_empty() && before == after,
        "case \"-o is the tasks file\" (tasks file unchanged: {}):\n  {}\n{run}",
        before == after,
        problems.join("\n  ")
    );
}

#[test]
fn worktree_dir_under_a_regular_file() {
    let sandbox = Sandbox::new();
    sandbox.tasks(&[("a", "p")]);
    std::fs::write(sandbox.path().join("afile"), "x").unwrap();
    refused(
        "--worktree-dir under a file",
        &sandbox,
        sandbox
            .porch_run(&[
                "--worktree-dir",
                "afile/wt",
                "-o",
                "results.json",
                "tasks.json",
                "repo",
            ])
            .without_worktree_dir()
            .without_output(),
        &[
            "the worktree directory",
            "afile/wt cannot be created",
            "afile is a file",
            "hint: ",
        ],
    );
}

#[test]
fn worktree_root_that_is_a_regular_file() {
    let sandbox = Sandbox::new();
    sandbox.tasks(&[("a", "p")]);
    std::fs::create_dir(sandbox.worktree_dir()).unwrap();
    std::fs::write(sandbox.worktree_dir().join("repo"), "x").unwrap();
    refused(
        "WORKTREE_DIR/repo is a file",
        &sandbox,
        &sandbox.porch_run(&["tasks.json", "repo"]),
        &["wt/repo"],
    );
}

#[test]
fn worktree_dir_under_a_dangling_symlink() {
    let sandbox = Sandbox::new();
    sandbox.tasks(&[("a", "p")]);
    let link = sandbox.path().join("link");
    std::os::unix::fs::symlink(sandbox.path().join("gone"), &link).unwrap();
    refused(
        "--worktree-dir under a dangling symlink",
        &sandbox,
        sandbox
            .porch_run(&[
                "--worktree-dir",
                "link/wt",
                "-o",
                "results.json",
                "tasks.json",
                "repo",
            ])
            .without_worktree_dir()
            .without_output(),
        &["link"],
    );
}

#[test]
fn no_home_and_no_worktree_dir() {
    let sandbox = Sandbox::new();
    sandbox.tasks(&[("a", "p")]);
    refused(
        "HOME unset, no --worktree-dir",
        &sandbox,
        sandbox
            .porch_run(&["-o", "results.json", "tasks.json", "repo"])
            .without_worktree_dir()
            .without_output()
            .env_remove("HOME"),
        &["HOME is not set", "hint: pass --worktree-dir"],
    );
}

#[test]
fn tilde_worktree_dir_without_home() {
    let sandbox = Sandbox::new();
    sandbox.tasks(&[("a", "p")]);
    refused(
        "--worktree-dir ~/wt, HOME unset",
        &sandbox,
        sandbox
            .porch_run(&[
                "--worktree-dir",
                "~/wt",
                "-o",
                "results.json",
                "tasks.json",
                "repo",
            ])
            .without_worktree_dir()
            .without_output()
            .env_remove("HOME"),
        &[
            "--worktree-dir ~/wt starts with ~ but HOME is not set",
            "hint: ",
        ],
    );
}

#[test]
fn default_worktree_dir_under_a_home_that_is_a_file() {
    let sandbox = Sandbox::new();
    sandbox.tasks(&[("a", "p")]);
    let home = sandbox.path().join("homefile");
    std::fs::write(&home, "x").unwrap();
    refused(
        "HOME is a file",
        &sandbox,
        sandbox
            .porch_run(&["-o", "results.json", "tasks.json", "repo"])
            .without_worktree_dir()
            .without_output()
            .env("HOME", &home),
        &[
            "homefile/worktrees cannot be created",
            "homefile is a file",
            "hint: ",
        ],
    );
}

// ---------------------------------------------------------------------------------------------
// Not bad input: a 10 MB prompt is not refused and reaches the agent byte for byte.

#[test]
fn ten_megabyte_prompt_reaches_the_agent_intact() {
    let sandbox = Sandbox::new();
    let args_dir = tempfile::tempdir().unwrap();
    let mut prompt = String::with_capacity(10 * 1024 * 1024 + 200);
    let mut line = 0u64;
    while prompt.len() < 10 * 1024 * 1024 {
        line += 1;
        prompt.push_str(&format!(
            "line {line}: \"quotes\" \\backslash\\ \ttab é ✓ 漢字 {{json}} $HOME `cmd` ; rm -rf / @not-a-directive\n"
        ));
    }
    prompt.push_str("the last line has no newline");
    assert!(prompt.lines().all(|l| !l.starts_with('@')));
    sandbox.tasks(&[("big", &prompt)]);

    let run = sandbox
        .porch_run(&["tasks.json", "repo"])
        .env("FAKE_CLAUDE_ARGS_DIR", args_dir.path())
        .run();
    run.expect_code(0);
    assert!(!run.stderr().contains("panicked"), "{run}");
    let received = recorded_prompt(args_dir.path(), "big", 1);
    if received != prompt.as_bytes() {
        let at = received
            .iter()
            .zip(prompt.as_bytes())
            .position(|(a, b)| a != b)
            .unwrap_or(received.len().min(prompt.len()));
        panic!(
            "the prompt changed on the way: sent {} bytes, received {}, first difference at byte {at}",
            prompt.len(),
            received.len()
        );
    }
    assert_eq!(task(&sandbox.results(), "big")["status"], "succeeded");
}

/// An earlier `--retries` run's saved attempt blocks a task of the same name: a new run would
/// overwrite it. Nothing is created, and the hint says how to remove it.
#[test]
fn saved_attempts_of_an_earlier_run_are_refused() {
    let sandbox = Sandbox::new();
    let head = sandbox.git(&["rev-parse", "HEAD"]);
    sandbox.git(&["update-ref", "refs/porch/attempts/x/1", head.trim()]);
    sandbox.tasks(&[("x", "do it")]);
    refused(
        "saved attempt exists",
        &sandbox,
        &sandbox.porch_run(&["tasks.json", "repo"]),
        &[
            "tasks[0] (\"x\")",
            "refs/porch/attempts/x/1",
            "update-ref -d refs/porch/attempts/x/1",
        ],
    );
}

/// No git on PATH: one clear message, before anything is created.
#[test]
fn git_missing_is_refused() {
    let sandbox = Sandbox::new();
    sandbox.tasks(&[("a", "p")]);
    let empty = sandbox.path().join("empty-bin");
    std::fs::create_dir_all(&empty).unwrap();
    refused(
        "git missing",
        &sandbox,
        sandbox
            .porch_run(&["tasks.json", "repo"])
            .env("PATH", &empty),
        &["git is not installed or not on PATH", "install git"],
    );
}

/// Where porch links the latest results is a directory: refused before anything is created,
/// not after the run has made its state directory.
#[test]
fn results_link_that_is_a_directory_is_refused() {
    let sandbox = Sandbox::new();
    sandbox.tasks(&[("a", "p")]);
    let link = sandbox
        .worktree_dir()
        .join("repo")
        .join(".porch")
        .join("results.json");
    std::fs::create_dir_all(&link).unwrap();
    refused(
        "results link is a directory",
        &sandbox,
        sandbox.porch_run(&["tasks.json", "repo"]).without_output(),
        &["results.json is a directory"],
    );
}

// ---------------------------------------------------------------------------------------------
// Where worktrees may go, and hints that never delete what git keeps.

/// The commands under a refusal's `hint:` line.
fn hint_commands(run: &Run) -> Vec<String> {
    run.stderr()
        .lines()
        .skip_while(|l| !l.starts_with("hint: "))
        .skip(1)
        .map(|l| l.trim_start().to_string())
        .collect()
}

/// Runs a printed command in a shell, as a user pasting it would.
fn run_in_shell(sandbox: &Sandbox, command: &str) -> std::process::Output {
    sandbox
        .env(std::process::Command::new("sh").arg("-c").arg(command))
        .current_dir(sandbox.home())
        .output()
        .unwrap()
}

#[test]
fn worktree_root_inside_the_repository_is_refused() {
    let sandbox = Sandbox::new();
    std::fs::create_dir(sandbox.repo().join("src")).unwrap();
    std::os::unix::fs::symlink("repo/src", sandbox.path().join("into-repo")).unwrap();
    sandbox.tasks(&[("src", "do it")]);
    // (--worktree-dir, from where, the case): each makes the worktree root the checkout or a
    // directory in it.
    let cases = [
        (
            "..",
            sandbox.repo(),
            "`..` from the repository is the repository",
        ),
        (
            "repo/wt",
            sandbox.path().to_path_buf(),
            "a directory of the checkout",
        ),
        (
            "into-repo",
            sandbox.path().to_path_buf(),
            "a link into the checkout",
        ),
    ];
    for (dir, cwd, case) in cases {
        refused(
            case,
            &sandbox,
            sandbox
                .porch_run(&[
                    path_str(&sandbox.path().join("tasks.json")),
                    path_str(&sandbox.repo()),
                ])
                .worktree_dir(dir)
                .current_dir(cwd.clone()),
            &["is inside the repository's work tree", "--worktree-dir"],
        );
    }
}

#[test]
fn repository_owned_by_another_user_gets_the_safe_directory_hint() {
    let sandbox = Sandbox::new();
    sandbox.tasks(&[("x", "do it")]);
    let repo = std::fs::canonicalize(sandbox.repo()).unwrap();
    let run = refused(
        "dubious ownership",
        &sandbox,
        sandbox
            .porch_run(&["tasks.json", "repo"])
            .env("GIT_TEST_ASSUME_DIFFERENT_OWNER", "1"),
        &[
            "another user owns the repository",
            &format!(
                "git config --global --add safe.directory {}",
                repo.display()
            ),
        ],
    );
    assert!(!run.stderr().contains("git init"), "{run}");
}

#[test]
fn worktree_registered_but_never_checked_out_is_removed_with_force() {
    // What a porch killed between registering a worktree and checking it out leaves.
    let sandbox = Sandbox::new();
    let worktree = sandbox.worktree("x");
    sandbox.git(&["update-ref", "refs/heads/task/x", "HEAD", ""]);
    sandbox.git(&[
        "worktree",
        "add",
        "-q",
        "--no-checkout",
        path_str(&worktree),
        "task/x",
    ]);
    sandbox.tasks(&[("x", "do it")]);
    let run = refused(
        "half-made worktree",
        &sandbox,
        &sandbox.porch_run(&["tasks.json", "repo"]),
        &["worktree remove --force"],
    );
    let commands = hint_commands(&run);
    assert!(!commands.iter().any(|c| c.starts_with("rm ")), "{run}");
    for command in &commands {
        let out = run_in_shell(&sandbox, command);
        assert!(
            out.status.success(),
            "{command}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    sandbox
        .porch_run(&["tasks.json", "repo"])
        .run()
        .expect_code(0);
}

#[test]
fn kept_worktree_behind_a_symlinked_worktree_dir_is_listed_once_and_never_rm_r() {
    let sandbox = Sandbox::new();
    std::fs::create_dir(sandbox.path().join("real-wt")).unwrap();
    std::os::unix::fs::symlink("real-wt", sandbox.path().join("link")).unwrap();
    sandbox.tasks(&[("x", "@write a.txt a")]);
    let first = sandbox
        .porch_run(&["tasks.json", "repo"])
        .worktree_dir(sandbox.path().join("link"))
        .run();
    first.expect_code(0);
    let worktree = std::fs::canonicalize(sandbox.path().join("real-wt/repo/x")).unwrap();
    std::fs::write(worktree.join("mine.txt"), "uncommitted\n").unwrap();
    let run = refused(
        "kept dirty worktree behind a link",
        &sandbox,
        sandbox
            .porch_run(&["tasks.json", "repo"])
            .worktree_dir(sandbox.path().join("link")),
        &[&format!("worktree remove {}", worktree.display())],
    );
    let commands = hint_commands(&run);
    assert_eq!(
        commands.iter().filter(|c| c.contains("/repo/x")).count(),
        1,
        "the worktree is named once: {run}"
    );
    assert!(!commands.iter().any(|c| c.starts_with("rm ")), "{run}");
    // git refuses to remove a worktree holding changes: what the user wrote survives the hint.
    for command in &commands {
        run_in_shell(&sandbox, command);
    }
    assert_eq!(
        std::fs::read_to_string(worktree.join("mine.txt")).unwrap(),
        "uncommitted\n"
    );
}
