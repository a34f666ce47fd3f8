//! `porch pr` and `porch run --pr`: each succeeded branch pushed to a bare repository standing
//! in for GitHub, and its pull request opened with `fixtures/gh`, which records every call.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::support::*;

/// A sandbox whose `origin` is a bare repository, and the directory fixtures/gh keeps.
struct Hub {
    sandbox: Sandbox,
    remote: PathBuf,
    gh_dir: PathBuf,
}

/// One call of the fake gh: its arguments, and the body it read.
#[derive(Debug)]
struct Call {
    args: Vec<String>,
    body: Option<String>,
}

impl Call {
    /// The value after `flag`.
    fn value(&self, flag: &str) -> Option<&str> {
        let at = self.args.iter().position(|a| a == flag)?;
        self.args.get(at + 1).map(String::as_str)
    }

    fn is(&self, action: &str) -> bool {
        self.args.get(1).is_some_and(|a| a == action)
    }
}

fn fake_gh() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join("gh")
}

impl Hub {
    fn new() -> Hub {
        let sandbox = Sandbox::new();
        let remote = sandbox.path().join("remote.git");
        sandbox.git(&["init", "-q", "--bare", path_str(&remote)]);
        sandbox.git(&["remote", "add", "origin", path_str(&remote)]);
        let gh_dir = sandbox.path().join("gh");
        Hub {
            sandbox,
            remote,
            gh_dir,
        }
    }

    fn with_gh(&self, porch: &mut Porch) {
        porch
            .env("PORCH_GH", fake_gh())
            .env("FAKE_GH_DIR", &self.gh_dir);
    }

    /// `porch run` of `tasks` with `extra` options, gh standing by.
    fn run(&self, tasks: Value, extra: &[&str]) -> Run {
        let file = self.sandbox.tasks_json(&json!({ "tasks": tasks }));
        let mut porch = self.sandbox.porch_run_tasks(&file);
        porch.args(extra);
        self.with_gh(&mut porch);
        porch.run()
    }

    /// `porch pr ARGS` on the latest run.
    fn pr(&self, args: &[&str]) -> Run {
        let mut porch = self.sandbox.porch(&["pr"]);
        porch
            .args(args)
            .args(["--repo", path_str(&self.sandbox.repo())])
            .worktree_dir(self.sandbox.worktree_dir());
        self.with_gh(&mut porch);
        porch.run()
    }

    /// Every gh call so far, in order.
    fn calls(&self) -> Vec<Call> {
        let calls = self.gh_dir.join("calls");
        let count = std::fs::read_dir(&calls).map_or(0, |d| {
            d.flatten()
                .filter(|e| e.file_name().to_string_lossy().ends_with(".argv"))
                .count()
        });
        (1..=count)
            .map(|n| {
                let argv = std::fs::read(calls.join(format!("{n}.argv"))).unwrap();
                let args = argv
                    .split(|b| *b == 0)
                    .filter(|a| !a.is_empty())
                    .map(|a| String::from_utf8_lossy(a).into_owned())
                    .collect();
                let body = std::fs::read_to_string(calls.join(format!("{n}.body"))).ok();
                Call { args, body }
            })
            .collect()
    }

    fn created(&self) -> Vec<Call> {
        self.calls()
            .into_iter()
            .filter(|c| c.is("create"))
            .collect()
    }

    /// The stored results of the latest run, as `porch status --json` prints them.
    fn stored(&self) -> Value {
        let mut porch = self.sandbox.porch(&["status", "--json"]);
        porch
            .arg(self.sandbox.repo())
            .worktree_dir(self.sandbox.worktree_dir());
        let run = porch.run();
        run.expect_code(0);
        serde_json::from_str(&run.stdout()).unwrap()
    }

    fn remote_has(&self, branch: &str) -> bool {
        let heads = self
            .sandbox
            .git_in(&self.remote, &["branch", "--list", branch]);
        !heads.trim().is_empty()
    }
}

fn three_tasks() -> Value {
    json!([
        {"name": "a", "description": "Add a", "prompt": "@write a.txt from a\nWrite a.txt with tok-secret-123",
         "env": {"API_TOKEN": "tok-secret-123"}},
        {"name": "b", "prompt": "Build b on a\n@write b.txt from b", "depends_on": ["a"]},
        {"name": "broken", "prompt": "@api-error 500 boom"},
    ])
}

#[test]
fn each_succeeded_task_gets_a_draft_pull_request_stacked_along_depends_on() {
    let hub = Hub::new();
    hub.run(three_tasks(), &[]).expect_code(1);
    let run = hub.pr(&[]);
    run.expect_code(0)
        .expect_stdout("pr: a: https://github.com/acme/shop/pull/1")
        .expect_stdout("2 of 2 pull request(s) opened or updated");
    let created = hub.created();
    assert_eq!(
        created.len(),
        2,
        "no pull request for the failed task: {created:?}"
    );
    let (a, b) = (&created[0], &created[1]);
    assert_eq!(a.value("--head"), Some("task/a"), "{a:?}");
    assert_eq!(a.value("--base"), Some("main"), "{a:?}");
    assert_eq!(a.value("--title"), Some("a: Add a"), "{a:?}");
    assert!(a.args.contains(&"--draft".to_string()), "{a:?}");
    assert_eq!(b.value("--head"), Some("task/b"), "{b:?}");
    assert_eq!(
        b.value("--base"),
        Some("task/a"),
        "stacked on its dependency: {b:?}"
    );
    assert_eq!(b.value("--title"), Some("b: Build b on a"), "{b:?}");
    let body = a.body.as_deref().unwrap();
    for part in [
        "> Write a.txt",
        "| status | succeeded |",
        "| check | none |",
        "| turns |",
    ] {
        assert!(body.contains(part), "{part:?} in\n{body}");
    }
    assert!(
        !body.contains("tok-secret-123") && body.contains("with [env API_TOKEN]"),
        "env values never reach GitHub:\n{body}"
    );
    assert!(hub.remote_has("task/a") && hub.remote_has("task/b"));
    assert!(!hub.remote_has("task/broken"));
    let stored = hub.stored();
    assert_eq!(task(&stored, "a")["pr"]["number"], 1, "{stored:#}");
    assert_eq!(
        task(&stored, "b")["pr"]["url"],
        "https://github.com/acme/shop/pull/2"
    );
    assert!(task(&stored, "broken")["pr"].is_null());
    let mut status = hub.sandbox.porch(&["status"]);
    status
        .arg(hub.sandbox.repo())
        .worktree_dir(hub.sandbox.worktree_dir());
    status
        .run()
        .expect_code(0)
        .expect_stdout("pull requests:\n  a  https://github.com/acme/shop/pull/1\n");
}

#[test]
fn a_second_porch_pr_edits_what_the_first_opened() {
    let hub = Hub::new();
    hub.run(three_tasks(), &[]).expect_code(1);
    hub.pr(&[]).expect_code(0);
    hub.pr(&["--ready"]).expect_code(0);
    let calls = hub.calls();
    assert_eq!(hub.created().len(), 2, "nothing opened twice: {calls:?}");
    let edits: Vec<&Call> = calls.iter().filter(|c| c.is("edit")).collect();
    assert_eq!(edits.len(), 2, "{calls:?}");
    assert_eq!(edits[0].args[2], "task/a");
    assert!(edits[0].body.as_deref().unwrap().contains("> Write a.txt"));
    assert_eq!(task(&hub.stored(), "b")["pr"]["number"], 2);
}

#[test]
fn porch_pr_ready_un_drafts_the_drafts_an_earlier_porch_pr_opened() {
    let hub = Hub::new();
    hub.run(three_tasks(), &[]).expect_code(1);
    hub.pr(&[]).expect_code(0);
    let drafts = || std::fs::read_to_string(hub.gh_dir.join("drafts")).unwrap();
    assert_eq!(drafts(), "task/a\ntask/b\n");
    hub.pr(&["--ready"]).expect_code(0);
    let readied: Vec<String> = (hub.calls().iter())
        .filter(|c| c.is("ready"))
        .map(|c| c.args[2].clone())
        .collect();
    assert_eq!(readied, ["task/a", "task/b"]);
    assert_eq!(drafts(), "", "no draft left");
    // Without --ready an existing pull request is left as it is.
    hub.pr(&[]).expect_code(0);
    assert_eq!(hub.calls().iter().filter(|c| c.is("ready")).count(), 2);
}

#[test]
fn ready_pull_requests_are_not_drafts_and_tasks_can_be_named() {
    let hub = Hub::new();
    hub.run(three_tasks(), &[]).expect_code(1);
    hub.pr(&["--ready", "a"]).expect_code(0);
    let created = hub.created();
    assert_eq!(created.len(), 1, "{created:?}");
    assert!(
        !created[0].args.contains(&"--draft".to_string()),
        "{created:?}"
    );
    let refused = hub.pr(&["broken"]);
    refused
        .expect_code(2)
        .expect_stderr("task `broken` did not succeed");
}

#[test]
fn a_failing_gh_fails_its_task_and_the_others_go_on() {
    let hub = Hub::new();
    let tasks = json!([
        {"name": "a", "prompt": "@write a.txt a"},
        {"name": "c", "prompt": "@write c.txt c"},
    ]);
    hub.run(tasks, &[]).expect_code(0);
    let mut porch = hub.sandbox.porch(&["pr"]);
    porch
        .arg(hub.sandbox.repo())
        .worktree_dir(hub.sandbox.worktree_dir())
        .env("FAKE_GH_FAIL_BRANCH", "task/a");
    hub.with_gh(&mut porch);
    let run = porch.run();
    run.expect_code(1)
        .expect_stdout("pr: a: failed: `gh pr create")
        .expect_stdout("GraphQL: refused for task/a")
        .expect_stdout("pr: c: https://github.com/acme/shop/pull/1")
        .expect_stdout("1 of 2 pull request(s)");
    let stored = hub.stored();
    assert!(task(&stored, "a")["pr"].is_null(), "{stored:#}");
    assert_eq!(task(&stored, "c")["pr"]["number"], 1);
}

#[test]
fn run_with_pr_opens_them_at_the_end_of_the_run() {
    let hub = Hub::new();
    let run = hub.run(three_tasks(), &["--pr"]);
    run.expect_code(1)
        .expect_stderr("porch: pr: b: https://github.com/acme/shop/pull/2");
    let created = hub.created();
    assert_eq!(created.len(), 2, "{created:?}");
    assert_eq!(created[1].value("--base"), Some("task/a"));
    let results = hub.sandbox.results();
    assert_eq!(task(&results, "a")["pr"]["number"], 1, "{results:#}");
    assert!(task(&results, "broken")["pr"].is_null());
}

#[test]
fn run_with_pr_refuses_a_remote_git_cannot_reach_before_anything_runs() {
    let sandbox = Sandbox::new();
    let file = sandbox.tasks(&[("a", "@write a.txt a")]);
    let run = sandbox.porch_run_tasks(&file).arg("--pr").run();
    run.expect_code(2)
        .expect_stderr("--pr: git cannot reach the remote origin");
    assert!(sandbox.branches().iter().all(|b| !b.contains("task/")));
}

#[test]
fn of_reviewed_tasks_only_the_approved_get_a_pull_request() {
    let hub = Hub::new();
    let answer = |verdict: &str| {
        let answer = json!({"verdict": verdict, "summary": verdict, "comments": []});
        json!({"prompt": format!("@structured-output {answer}"), "required": false})
    };
    let tasks = json!([
        {"name": "approved", "prompt": "@write a.txt a", "review": answer("approve")},
        {"name": "rejected", "prompt": "@write r.txt r", "review": answer("request_changes")},
        {"name": "unreviewed", "prompt": "@write u.txt u"},
    ]);
    hub.run(tasks, &[]).expect_code(0);
    hub.pr(&[])
        .expect_code(0)
        .expect_stdout("2 of 2 pull request(s) opened or updated");
    let created = hub.created();
    let heads: Vec<&str> = created.iter().filter_map(|c| c.value("--head")).collect();
    assert_eq!(heads, ["task/approved", "task/unreviewed"]);
    assert!(!hub.remote_has("task/rejected"));
}
