//! `--junit FILE`: the JUnit XML report of a run and of `porch resume`, read back with an XML
//! parser as a CI system would.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::json;

use crate::support::{self, DEADLINE, Porch, Sandbox, task, wait_until};

/// The report, parsed: (the testsuite's attributes, its properties, each testcase in order).
struct Report {
    suite: Vec<(String, String)>,
    properties: Vec<(String, String)>,
    cases: Vec<Case>,
}

#[derive(Debug)]
struct Case {
    name: String,
    classname: String,
    time: f64,
    /// The task's facts, `name: value` lines of its `<system-out>`.
    facts: Vec<(String, String)>,
    /// (type, message, text) of the `<failure>`.
    failure: Option<(String, String, String)>,
    /// The `<skipped>`'s message.
    skipped: Option<String>,
}

/// The Jenkins xunit plugin's JUnit schema, which it rejects a report against.
fn jenkins_schema() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/schemas/jenkins-xunit-junit-10.xsd")
}

/// Fails unless `xmllint --schema` finds the report valid under Jenkins' JUnit schema.
fn assert_valid_for_jenkins(path: &Path) {
    let checked = Command::new("xmllint")
        .arg("--noout")
        .arg("--schema")
        .arg(jenkins_schema())
        .arg(path)
        .output();
    let out = match checked {
        Ok(out) => out,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => panic!(
            "xmllint is missing: the JUnit tests validate reports with it; install it \
             (Debian, Ubuntu: apt-get install libxml2-utils)"
        ),
        Err(err) => panic!("xmllint could not be started: {err}"),
    };
    assert!(
        out.status.success(),
        "the JUnit report {} does not validate against {}:\n{}\n{}",
        path.display(),
        jenkins_schema().display(),
        String::from_utf8_lossy(&out.stderr),
        std::fs::read_to_string(path).unwrap_or_default()
    );
}

impl Report {
    fn read(path: &Path) -> Report {
        assert_valid_for_jenkins(path);
        let bytes = std::fs::read(path).expect("the JUnit report exists");
        let text = String::from_utf8(bytes).expect("the JUnit report is UTF-8");
        let doc = roxmltree::Document::parse(&text)
            .unwrap_or_else(|err| panic!("the JUnit report is not XML ({err}):\n{text}"));
        let root = doc.root_element();
        assert_eq!(root.tag_name().name(), "testsuites");
        assert_eq!(
            root.attribute("skipped"),
            None,
            "Jenkins refuses it:\n{text}"
        );
        let suites: Vec<_> = root.children().filter(|n| n.is_element()).collect();
        assert_eq!(suites.len(), 1, "one testsuite:\n{text}");
        let suite = suites[0];
        assert_eq!(suite.tag_name().name(), "testsuite");
        let cases = suite
            .children()
            .filter(|n| n.has_tag_name("testcase"))
            .map(case)
            .collect();
        let properties = suite
            .children()
            .filter(|n| n.has_tag_name("properties"))
            .flat_map(|p| p.children().filter(|n| n.has_tag_name("property")))
            .map(|n| {
                let value = n.attribute("value").unwrap_or_default().to_string();
                (n.attribute("name").unwrap().to_string(), value)
            })
            .collect();
        Report {
            suite: attributes(suite),
            properties,
            cases,
        }
    }

    fn suite(&self, name: &str) -> &str {
        self.suite
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or_else(|| panic!("testsuite has no {name}: {:?}", self.suite))
    }

    fn counts(&self) -> [&str; 4] {
        ["tests", "failures", "errors", "skipped"].map(|n| self.suite(n))
    }

    fn case(&self, name: &str) -> &Case {
        self.cases
            .iter()
            .find(|c| c.name == name)
            .unwrap_or_else(|| panic!("no testcase {name}: {:?}", self.cases))
    }

    /// A `<property>` of the testsuite.
    fn property(&self, name: &str) -> Option<&str> {
        self.properties
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

impl Case {
    fn fact(&self, name: &str) -> Option<&str> {
        self.facts
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

fn attributes(node: roxmltree::Node) -> Vec<(String, String)> {
    node.attributes()
        .map(|a| (a.name().to_string(), a.value().to_string()))
        .collect()
}

fn case(node: roxmltree::Node) -> Case {
    let child = |tag: &str| node.children().find(|n| n.has_tag_name(tag));
    let facts = child("system-out")
        .and_then(|out| out.text())
        .unwrap_or_default()
        .lines()
        .filter_map(|line| line.split_once(": "))
        .map(|(name, value)| (name.to_string(), value.to_string()))
        .collect();
    Case {
        name: node.attribute("name").unwrap().to_string(),
        classname: node.attribute("classname").unwrap().to_string(),
        time: node.attribute("time").unwrap().parse().unwrap(),
        facts,
        failure: child("failure").map(|f| {
            (
                f.attribute("type").unwrap().to_string(),
                f.attribute("message").unwrap().to_string(),
                f.text().unwrap_or_default().to_string(),
            )
        }),
        skipped: child("skipped").map(|s| s.attribute("message").unwrap().to_string()),
    }
}

/// Markup, a quote, an escape sequence, a bell and bytes that are not UTF-8 in the session's
/// output, and the API's error with markup in it.
fn hostile_prompt() -> String {
    [
        "@say working",
        "@raw markup <b>bold</b> & \"quoted\" 'single'",
        "@raw escape \u{1b}[2J bell \u{7} end",
        "@binary",
        "@stderr warn <&>",
        "@api-error 500 Internal <server> & error",
    ]
    .join("\n")
}

#[test]
fn the_report_counts_the_tasks_and_shows_each_failure_with_its_logs_last_lines() {
    let sandbox = Sandbox::new();
    let junit = sandbox.path().join("report.xml");
    let tasks = sandbox.tasks_json(&json!({ "tasks": [
        { "name": "fine", "prompt": "@write a.txt a" },
        { "name": "broken", "prompt": hostile_prompt() },
        { "name": "slow", "prompt": "@sleep 600", "timeout": "1s" },
    ]}));
    let run = sandbox
        .porch_run(&["--junit", support::path_str(&junit)])
        .arg(&tasks)
        .arg(sandbox.repo())
        .run();
    run.expect_code(1).expect_no_panic();
    let results = sandbox.results();
    let bytes = std::fs::read(&junit).unwrap();
    for forbidden in [0x1b_u8, 0x07] {
        assert!(
            !bytes.contains(&forbidden),
            "byte {forbidden:#x} is not allowed in XML 1.0"
        );
    }
    let report = Report::read(&junit);
    assert_eq!(report.counts(), ["3", "2", "0", "0"]);
    assert_eq!(report.suite("name"), "porch");
    let names: Vec<&str> = report.cases.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["fine", "broken", "slow"], "in file order");

    let fine = report.case("fine");
    assert_eq!(fine.classname, "porch");
    assert!(fine.failure.is_none() && fine.skipped.is_none(), "{fine:?}");
    assert_eq!(fine.fact("branch"), Some("task/fine"));
    let session = task(&results, "fine")["session_id"].as_str().unwrap();
    assert_eq!(fine.fact("session_id"), Some(session));
    let cost = task(&results, "fine")["cost_usd"].as_f64().unwrap();
    let reported: f64 = fine.fact("cost_usd").unwrap().parse().unwrap();
    assert!((reported - cost).abs() < 1e-4, "{reported} for {cost}");
    let seconds = task(&results, "fine")["duration_ms"].as_f64().unwrap() / 1000.0;
    assert!(
        (fine.time - seconds).abs() < 1e-3,
        "{} for {seconds}",
        fine.time
    );

    let broken = report.case("broken");
    let (kind, message, text) = broken.failure.as_ref().expect("broken failed");
    assert_eq!(kind, "failed");
    assert!(message.contains("Internal <server> & error"), "{message}");
    for shown in [
        "markup <b>bold</b> & \"quoted\" 'single'",
        r"escape \x1b[2J bell \x07 end",
        "bytes \u{fffd}\u{fffd} not utf-8",
        "[stderr] warn <&>",
        "working",
    ] {
        assert!(
            text.contains(shown),
            "{shown:?} in the failure's text:\n{text}"
        );
    }
    let (kind, _, _) = report.case("slow").failure.as_ref().expect("slow failed");
    assert_eq!(kind, "timed_out");
}

/// `porch run` (stored, no `-o`) from inside the repository.
fn stored_run(sandbox: &Sandbox, args: &[&str]) -> Porch {
    let mut porch = sandbox.porch_run(args);
    porch.without_output().current_dir(sandbox.repo());
    porch
}

/// A run stopped by SIGINT reports the running task as a failure and the waiting one as
/// skipped, saying why; `porch resume --junit` reports the whole run again, now passed.
#[test]
fn an_interrupted_run_and_its_resume_each_write_their_report() {
    let sandbox = Sandbox::new();
    let started = sandbox.path().join("started");
    let go = sandbox.path().join("go");
    let first = format!(
        "@touch {}\n@wait-for {}\n@write first.txt 1",
        started.display(),
        go.display()
    );
    let tasks = sandbox.tasks(&[("first", &first), ("second", "@write second.txt 2")]);
    let junit = sandbox.path().join("run.xml");
    let mut porch = stored_run(&sandbox, &["-j", "1", "--junit", support::path_str(&junit)]);
    let mut porch = porch.arg(&tasks).spawn("interrupted");
    wait_until("the first session starts", DEADLINE, || started.exists());
    porch.signal("INT");
    porch.wait().expect_code(130);
    let report = Report::read(&junit);
    assert_eq!(report.counts(), ["2", "1", "0", "1"]);
    let (kind, message, text) = report.case("first").failure.clone().unwrap();
    assert_eq!(kind, "interrupted");
    assert!(message.contains("SIGINT"), "{message}");
    assert!(
        text.starts_with("interrupted: porch received signal 2 (SIGINT)\n"),
        "said once:\n{text}"
    );
    // Nothing cost anything: no session got to its result.
    assert_eq!(report.property("cost_usd"), Some("0.0000"));
    let skipped = report
        .case("second")
        .skipped
        .clone()
        .expect("second skipped");
    assert!(skipped.contains("SIGINT"), "{skipped}");

    std::fs::write(&go, "").unwrap();
    let resumed = sandbox.path().join("resume.xml");
    let mut resume = sandbox.porch(&["resume", "--junit", support::path_str(&resumed)]);
    resume
        .worktree_dir(sandbox.worktree_dir())
        .current_dir(sandbox.repo())
        .agent(support::fixture_agent());
    resume.run().expect_code(0);
    let report = Report::read(&resumed);
    assert_eq!(report.counts(), ["2", "0", "0", "0"]);
    for case in &report.cases {
        assert!(case.failure.is_none() && case.skipped.is_none(), "{case:?}");
    }
}

/// A report path porch could not write is refused before anything is created.
#[test]
fn an_unwritable_report_path_is_refused_up_front() {
    let sandbox = Sandbox::new();
    let tasks = sandbox.tasks(&[("t", "@say hi")]);
    let missing_dir = sandbox.path().join("no-such-dir/report.xml");
    let cases: [(&Path, &str); 3] = [
        (&missing_dir, "is not a directory"),
        (sandbox.path(), "is a directory"),
        (&tasks, "is the tasks file"),
    ];
    for (path, message) in cases {
        let mut porch = sandbox.porch_run(&["--junit", support::path_str(path)]);
        porch.arg(&tasks).arg(sandbox.repo());
        crate::validation::refused(message, &sandbox, &porch, &[message, "give --junit"]);
    }
}

/// porch's outputs never replace a file of the user's work, nor each other.
#[test]
fn outputs_never_replace_a_tracked_file_or_each_other() {
    let sandbox = Sandbox::new();
    let tasks = sandbox.tasks(&[("t", "@say hi")]);
    let tracked = sandbox.repo().join("README.md");
    let readme = std::fs::read(&tracked).unwrap();
    let same = sandbox.path().join("same.out");
    let (tracked_arg, same_arg) = (support::path_str(&tracked), support::path_str(&same));
    let cases: [(&str, Vec<&str>, &str); 3] = [
        (
            "--junit on a tracked file",
            vec!["--junit", tracked_arg],
            "is a file the repository tracks: porch would overwrite it",
        ),
        (
            "-o on a tracked file",
            vec!["-o", tracked_arg],
            "is a file the repository tracks: porch would overwrite it",
        ),
        (
            "-o and --junit on one file",
            vec!["-o", same_arg, "--junit", same_arg],
            "-o and --junit name the same file",
        ),
    ];
    for (case, args, message) in cases {
        let mut porch = sandbox.porch(&["run"]);
        porch
            .args(args)
            .agent(support::fixture_agent())
            .worktree_dir(sandbox.worktree_dir());
        porch.arg(&tasks).arg(sandbox.repo());
        crate::validation::refused(case, &sandbox, &porch, &[message]);
        assert_eq!(std::fs::read(&tracked).unwrap(), readme, "{case}");
        assert!(!same.exists(), "{case}");
    }

    // A file inside the repository that git does not track is the user's to choose.
    let untracked = sandbox.repo().join("porch-junit.xml");
    sandbox
        .porch_run(&["--junit", support::path_str(&untracked)])
        .arg(&tasks)
        .arg(sandbox.repo())
        .run()
        .expect_code(0);
    assert!(untracked.is_file());
}
