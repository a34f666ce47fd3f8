//! Every error porch prints starts `porch: error:` and says what to do on a `hint:` line, for
//! every command: a table of bad inputs, run through the binary.

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;

use crate::support::{Sandbox, path_str};

/// A word of a command line: as written, or one of the sandbox's paths.
enum Word {
    Text(&'static str),
    /// The sandbox's repository.
    Repo,
    /// A valid tasks file.
    Tasks,
    /// A tasks file that is not JSON.
    BadTasks,
    /// The sandbox's directory, which is no git repository.
    NotRepo,
    /// A word that is not UTF-8.
    NotUtf8,
}

use Word::{BadTasks, NotRepo, NotUtf8, Repo, Tasks, Text};

/// (porch run with the fixture agent, the arguments, a part of the error)
const CASES: &[(bool, &[Word], &str)] = &[
    (false, &[], "no command given"),
    (false, &[Text("frobnicate")], "unknown command"),
    (false, &[Text("run")], "no tasks file given"),
    (true, &[Tasks, Repo, Text("extra")], "unexpected argument"),
    (true, &[Tasks, Repo, Text("-j"), Text("0")], "--jobs `0`"),
    (true, &[Text("missing.json"), Repo], "does not exist"),
    (true, &[BadTasks, Repo], "not valid JSON"),
    (
        true,
        &[Tasks, Repo, Text("--color"), Text("sometimes")],
        "--color",
    ),
    (
        true,
        &[Tasks, Repo, Text("--permission-mode"), Text("yolo")],
        "yolo",
    ),
    (
        true,
        &[Tasks, Repo, Text("--timeout"), Text("10")],
        "no unit",
    ),
    (true, &[Tasks, Repo, Text("--bogus")], "--bogus"),
    (
        true,
        &[Tasks, Text("/nonexistent/repo")],
        "/nonexistent/repo",
    ),
    (true, &[Tasks, NotRepo], "not inside a git work tree"),
    (
        true,
        &[Tasks, Repo, Text("--claude"), Text("/nonexistent/claude")],
        "/nonexistent/claude",
    ),
    (
        true,
        &[Tasks, Repo, Text("--junit"), Text("/nonexistent/dir/r.xml")],
        "JUnit report",
    ),
    (
        true,
        &[Tasks, Repo, Text("-o"), Text("/nonexistent/dir/r.json")],
        "results file",
    ),
    (true, &[Text("--tasks"), NotUtf8, Repo], "invalid unicode"),
    (
        true,
        &[Tasks, Repo, Text("--shard"), Text("5/2")],
        "--shard",
    ),
    (
        true,
        &[Tasks, Repo, Text("--only"), Text("nosuch")],
        "nosuch",
    ),
    (
        false,
        &[Text("init"), Text("a.json"), Text("b.json")],
        "unexpected argument",
    ),
    (false, &[Text("init"), Tasks], "already exists"),
    (
        false,
        &[Text("list"), Text("/nonexistent/repo")],
        "/nonexistent/repo",
    ),
    (
        false,
        &[Text("list"), NotRepo],
        "not inside a git work tree",
    ),
    (false, &[Text("status"), Repo], "no porch run"),
    (
        false,
        &[Text("status"), Repo, Text("--run"), Text("nope")],
        "no such run",
    ),
    (false, &[Text("status"), Repo, Text("--frob")], "--frob"),
    (false, &[Text("logs")], "no task named"),
    (false, &[Text("logs"), Text("t"), Repo], "no porch run"),
    (false, &[Text("logs"), NotUtf8, Repo], "not valid UTF-8"),
    (false, &[Text("resume"), Repo], "no porch run"),
    (
        false,
        &[Text("resume"), Repo, Text("-j"), Text("0")],
        "--jobs `0`",
    ),
    (
        false,
        &[Text("merge"), Repo, Text("--into"), Text("")],
        "--into",
    ),
    (false, &[Text("merge"), Repo], "no porch run"),
    (
        false,
        &[Text("clean"), Repo, Text("--keep-runs"), Text("0")],
        "--keep-runs",
    ),
    (false, &[Text("clean"), Repo], "no porch run"),
    (true, &[Tasks, Repo, Text("--push"), Text("")], "--push"),
    (false, &[Text("merge-results")], "no results files"),
    (
        false,
        &[Text("merge-results"), Text("missing.json")],
        "missing.json",
    ),
    (
        false,
        &[Text("merge-results"), Tasks],
        "not a porch results file",
    ),
    (false, &[Text("help"), Text("frobnicate")], "no help"),
    (false, &[Text("completions")], "no shell"),
    (false, &[Text("completions"), Text("tcsh")], "tcsh"),
];

#[test]
fn every_error_starts_porch_error_and_gives_a_hint() {
    let sandbox = Sandbox::new();
    let tasks = sandbox.tasks(&[("t", "@say hi")]);
    let bad = sandbox.path().join("bad.json");
    std::fs::write(&bad, "{bad").unwrap();
    for (is_run, words, message) in CASES {
        let args: Vec<OsString> = words
            .iter()
            .map(|word| match word {
                Text(text) => OsString::from(text),
                Repo => sandbox.repo().into_os_string(),
                Tasks => tasks.clone().into_os_string(),
                BadTasks => bad.clone().into_os_string(),
                NotRepo => sandbox.path().as_os_str().to_owned(),
                NotUtf8 => OsString::from_vec(b"t\xff".to_vec()),
            })
            .collect();
        let mut porch = if *is_run {
            let mut porch = sandbox.porch_run(&[]);
            porch.without_output();
            porch
        } else {
            sandbox.porch(&[])
        };
        let run = porch.args(&args).run();
        run.expect_code(2).expect_no_panic();
        let stderr = run.stderr();
        let case = format!("{args:?}");
        assert!(
            stderr.starts_with("porch: error: "),
            "{case}: the error starts `porch: error:`\n{run}"
        );
        assert!(stderr.contains(message), "{case}: says {message:?}\n{run}");
        let hint = stderr.lines().find_map(|l| l.strip_prefix("hint: "));
        assert!(
            hint.is_some_and(|h| !h.trim().is_empty()),
            "{case}: a hint says what to do\n{run}"
        );
    }
    assert!(
        !sandbox.worktree_dir().join("repo").exists(),
        "no case created a worktree root: {}",
        path_str(&sandbox.worktree_dir())
    );
}
