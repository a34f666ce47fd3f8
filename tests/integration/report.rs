//! `porch report`: a run as one HTML page, loaded in headless Chromium and checked in the DOM
//! it renders: a row per task, a bar per attempt, nothing fetched from elsewhere, and what the
//! agents printed inert.

use std::path::Path;
use std::process::Command;

use serde_json::{Value, json};

use crate::support::{self, Porch, Sandbox, task};

/// Markup, quotes and control characters where the results and the logs can hold them.
const HOSTILE: &str = "<script>document.title='owned'</script></details>\"q\" 'a' \u{1b}[31m\u{7}";

/// A succeeded task, one that succeeds on its second attempt, a failed one with hostile text,
/// and one that depends on the first: run and stored, from inside the repository.
fn fixture_run(sandbox: &Sandbox) -> Value {
    let counter = sandbox.path().join("flaky-count");
    let tasks = sandbox.tasks_json(&json!({ "tasks": [
        { "name": "base", "prompt": "@write a.txt a\n@say done" },
        { "name": "flaky", "prompt": format!(
            "@fail-times 1 {} 500 Overloaded\n@write b.txt b", counter.display()) },
        { "name": "broken", "description": HOSTILE,
          "prompt": format!("@raw {HOSTILE}\n@api-error 400 {HOSTILE}") },
        { "name": "after", "prompt": "@write c.txt c", "depends_on": ["base"] },
    ]}));
    let mut porch = sandbox.porch_run(&["--retries", "1", "--retry-backoff", "10ms"]);
    porch.arg(&tasks).arg(sandbox.repo());
    porch.run().expect_code(1).expect_no_panic();
    sandbox.results()
}

fn report_command(sandbox: &Sandbox, extra: &[&str]) -> Porch {
    let results = sandbox.results_path();
    let mut args = vec!["report", "--run", support::path_str(&results)];
    args.extend(extra);
    let mut porch = sandbox.porch(&args);
    porch
        .worktree_dir(sandbox.worktree_dir())
        .current_dir(sandbox.repo());
    porch
}

/// Headless Chromium on the page with `args`; a clear failure when it is not installed.
pub(crate) fn chromium(sandbox: &Sandbox, page: &Path, args: &[&str]) -> String {
    let profile = sandbox.path().join("chromium-profile");
    let output = Command::new("chromium")
        .args(["--headless", "--no-sandbox", "--disable-gpu"])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .arg(format!("file://{}", page.display()))
        .output()
        .unwrap_or_else(|err| {
            panic!(
                "chromium could not be run ({err}): install it, e.g. apt-get install -y chromium"
            )
        });
    assert!(output.status.success(), "chromium failed: {output:?}");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn the_report_renders_a_row_and_a_bar_per_attempt_and_loads_nothing_from_elsewhere() {
    let sandbox = Sandbox::new();
    let results = fixture_run(&sandbox);
    assert_eq!(
        task(&results, "flaky")["attempts"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    let page = sandbox.path().join("report.html");
    report_command(&sandbox, &["-o", support::path_str(&page)])
        .run()
        .expect_code(0);

    let dom = chromium(&sandbox, &page, &["--dump-dom"]);
    for name in ["base", "flaky", "broken", "after"] {
        let row = format!("class=\"task-row\" data-task=\"{name}\"");
        assert_eq!(
            dom.matches(&row).count(),
            1,
            "a timeline row for {name}:\n{dom}"
        );
        let attempts = task(&results, name)["attempts"].as_array().unwrap().len();
        let bars = format!("data-task=\"{name}\" data-attempt=");
        assert_eq!(
            dom.matches(&bars).count(),
            attempts,
            "a bar per attempt of {name}"
        );
        assert_eq!(
            dom.matches(&format!("<tr data-task=\"{name}\">")).count(),
            1
        );
    }
    assert!(
        dom.contains("class=\"bar attempt failed retried\""),
        "the retry is marked"
    );
    assert!(
        dom.contains("data-from=\"base\" data-to=\"after\""),
        "the dependency is drawn"
    );
    assert!(
        dom.contains("data-series=\"sessions\""),
        "the sessions' step line"
    );
    assert!(
        !dom.contains("http://") && !dom.contains("https://"),
        "no external resource"
    );
    assert!(
        dom.contains("<title>porch run "),
        "the script did not run: {dom}"
    );
    assert!(!dom.contains("<script"), "no script element in the DOM");
    assert_eq!(
        dom.matches("<details").count(),
        4,
        "one folded section per task"
    );
    assert!(
        dom.contains("&lt;script&gt;document.title="),
        "the text is shown as text"
    );
    let bytes = std::fs::read(&page).unwrap();
    assert!(
        !bytes.contains(&0x1b) && !bytes.contains(&0x07),
        "no control characters"
    );

    let shot = sandbox.path().join("report.png");
    let shot_arg = format!("--screenshot={}", shot.display());
    chromium(&sandbox, &page, &[&shot_arg, "--window-size=1400,900"]);
    let png = std::fs::read(&shot).expect("the screenshot is written");
    assert!(
        png.len() > 1000 && png.starts_with(b"\x89PNG"),
        "a PNG of the page"
    );
}

#[test]
fn without_output_the_page_goes_to_stdout_and_a_bad_run_is_refused() {
    let sandbox = Sandbox::new();
    let tasks = sandbox.tasks(&[("only", "@write a.txt a")]);
    sandbox.porch_run_tasks(&tasks).run().expect_code(0);
    let run = report_command(&sandbox, &[]).run();
    run.expect_code(0);
    let page = run.stdout();
    assert!(page.starts_with("<!DOCTYPE html>") && page.ends_with("</html>\n"));
    assert!(page.contains("a.txt | 1 +"), "the diff stat: {page}");

    let mut missing = sandbox.porch(&["report", "--run", "no-such-run"]);
    missing
        .worktree_dir(sandbox.worktree_dir())
        .current_dir(sandbox.repo());
    missing.run().expect_code(2).expect_stderr("no-such-run");
}

#[test]
fn run_refuses_a_report_path_it_could_not_write_then_writes_the_report_with_its_exit_code() {
    let sandbox = Sandbox::new();
    let tasks = sandbox.tasks(&[("one", "@write a.txt a"), ("two", "@api-error 400 no")]);
    let missing = sandbox.path().join("no-such-dir/run.html");
    let mut porch = sandbox.porch_run(&["--report", support::path_str(&missing)]);
    let run = porch.arg(&tasks).arg(sandbox.repo()).run();
    run.expect_code(2).expect_stderr("the report");
    run.expect_stderr("--report porch-report.html");
    assert!(
        sandbox.branches().iter().all(|b| !b.starts_with("task/")),
        "nothing made"
    );
    let same = sandbox.path().join("same.out");
    let same = support::path_str(&same);
    let clashes = [
        (
            vec!["-o", same, "--report", same],
            "-o and --report name the same file",
        ),
        (
            vec!["--junit", same, "--report", same],
            "--junit and --report name the same file",
        ),
    ];
    for (args, message) in clashes {
        let mut porch = sandbox.porch(&["run"]);
        porch
            .args(&args)
            .agent(support::fixture_agent())
            .worktree_dir(sandbox.worktree_dir());
        let run = porch.arg(&tasks).arg(sandbox.repo()).run();
        run.expect_code(2).expect_stderr(message);
        assert!(!Path::new(same).exists(), "{message}: nothing written");
    }

    let page = sandbox.path().join("run.html");
    let mut porch = sandbox.porch_run(&["--report", support::path_str(&page)]);
    porch.arg(&tasks).arg(sandbox.repo()).run().expect_code(1);
    let text = std::fs::read_to_string(&page).expect("the report is written");
    assert!(text.contains("<dt>Exit code</dt><dd>1</dd>"), "{text}");
    assert_eq!(text.matches("class=\"task-row\"").count(), 2);
}
