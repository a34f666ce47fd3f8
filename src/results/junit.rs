//! The JUnit XML report of a run (`--junit FILE`), in the shape CI systems display (as nextest
//! and Maven Surefire write it, valid under the Jenkins xunit plugin's JUnit schema): one
//! `<testsuite>`, one `<testcase>` per task, a `<failure>` with the task's reason and the last
//! lines of its log, a `<skipped>` saying why, the task's facts in its `<system-out>`.

use std::fmt::Write as _;
use std::path::Path;

use crate::error::Error;
use crate::results::Results;
use crate::results::Status;
use crate::results::TaskResult;
use crate::sys::atomic_file::Destination;
use crate::sys::atomic_file::destination;
use crate::sys::atomic_file::write_atomic;
use crate::sys::writable;

/// How many of a failed task's last log lines its `<failure>` holds.
pub const TAIL_LINES: usize = 50;

/// A line of the log longer than this is cut, as on the terminal.
const LINE_LIMIT: usize = 4096;

/// Refuses a report path porch could not write at the end of the run, so the mistake costs
/// nothing (exit 2 before anything is created) rather than a run's report.
pub fn check_path(path: &Path, tasks: &str) -> Result<(), Error> {
    check_report_path(path, tasks, "--junit")
}

/// Refuses a path `flag` (`--junit`, `--report`) names that porch could not write at the end.
pub fn check_report_path(path: &Path, tasks: &str, flag: &str) -> Result<(), Error> {
    let (what, example) = match flag {
        "--junit" => ("JUnit report", "porch-junit.xml"),
        _ => ("report", "porch-report.html"),
    };
    let same_file = |a: &Path, b: &Path| match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    };
    if tasks != "-" && same_file(path, Path::new(tasks)) {
        return Err(Error::setup(
            format!("the {what} {} is the tasks file", path.display()),
            format!("give {flag} another path, e.g. {flag} {example}"),
        ));
    }
    let unwritable = |why: String| {
        Error::setup(
            format!("the {what} {} {why}", path.display()),
            format!("give {flag} a file path in a writable directory, e.g. {flag} {example}"),
        )
    };
    if path.is_dir() {
        return Err(unwritable("is a directory".to_string()));
    }
    match destination(path) {
        Destination::Stream(_) if writable(path) => Ok(()),
        Destination::Stream(_) => Err(unwritable("is not writable".to_string())),
        Destination::File(file) => {
            let parent = match file.parent() {
                Some(dir) if !dir.as_os_str().is_empty() => dir,
                _ => Path::new("."),
            };
            if !parent.is_dir() {
                Err(unwritable(format!(
                    "cannot be written: {} is not a directory",
                    parent.display()
                )))
            } else if !writable(parent) {
                Err(unwritable(format!(
                    "cannot be written: {} is not writable",
                    parent.display()
                )))
            } else {
                Ok(())
            }
        }
    }
}

/// Writes the report atomically. `tails[i]` is task `i`'s last log lines, as shown.
pub fn write(path: &Path, results: &Results, tails: &[Vec<String>]) -> Result<(), Error> {
    write_atomic(path, render(results, tails).as_bytes())
}

/// How a task counts in JUnit's terms.
#[derive(Debug, PartialEq)]
enum Outcome {
    Passed,
    Failed,
    Skipped,
}

/// Whether the task is a `<failure>`, whose log's last lines the report shows.
pub fn is_failure(status: Status) -> bool {
    outcome(status) == Outcome::Failed
}

fn outcome(status: Status) -> Outcome {
    match status {
        Status::Succeeded => Outcome::Passed,
        Status::Failed | Status::TimedOut | Status::Interrupted => Outcome::Failed,
        // A task still pending or running when the report is written never finished: it did
        // not fail, and it did not pass.
        Status::Skipped | Status::Pending | Status::Running => Outcome::Skipped,
    }
}

pub fn render(results: &Results, tails: &[Vec<String>]) -> String {
    let outcomes: Vec<Outcome> = results.tasks.iter().map(|t| outcome(t.status)).collect();
    let count = |wanted: Outcome| outcomes.iter().filter(|o| **o == wanted).count();
    // `<testsuites>` has no `skipped` in the schemas CI plugins validate against.
    let counts = format!(
        r#"tests="{}" failures="{}" errors="0""#,
        results.tasks.len(),
        count(Outcome::Failed),
    );
    let time = seconds(results.duration_ms);
    let mut xml = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(xml, r#"<testsuites name="porch" {counts} time="{time}">"#);
    let _ = writeln!(
        xml,
        r#"  <testsuite name="porch" {counts} skipped="{}" time="{time}" timestamp="{}">"#,
        count(Outcome::Skipped),
        attribute(&results.started_at)
    );
    // Summed from 0.0, not with `sum`, whose empty sum is -0.0 and would print `-0.0000`.
    let cost = (results.tasks.iter().filter_map(|t| t.cost_usd)).fold(0.0, |sum, c| sum + c);
    push_properties(
        &mut xml,
        "    ",
        &[
            ("run_id", Some(results.run_id.clone())),
            ("resumed_from", results.resumed_from.clone()),
            ("repo", Some(results.repo.clone())),
            ("tasks_file", Some(results.tasks_file.clone())),
            ("shard", results.shard.map(|s| s.to_string())),
            ("cost_usd", Some(format!("{cost:.4}"))),
        ],
    );
    let empty = Vec::new();
    for (index, task) in results.tasks.iter().enumerate() {
        push_testcase(&mut xml, task, tails.get(index).unwrap_or(&empty));
    }
    xml.push_str("  </testsuite>\n</testsuites>\n");
    xml
}

fn push_testcase(xml: &mut String, task: &TaskResult, tail: &[String]) {
    let _ = writeln!(
        xml,
        r#"    <testcase classname="porch" name="{}" time="{}">"#,
        attribute(&task.name),
        seconds(task.duration_ms)
    );
    let reason = reason(task);
    match outcome(task.status) {
        Outcome::Passed => {}
        Outcome::Skipped => {
            let _ = writeln!(xml, r#"      <skipped message="{}"/>"#, attribute(&reason));
        }
        Outcome::Failed => {
            let _ = write!(
                xml,
                r#"      <failure message="{}" type="{}">"#,
                attribute(&reason),
                task.status.name()
            );
            xml.push_str(&text(&failure_body(&reason, task, tail)));
            xml.push_str("</failure>\n");
        }
    }
    push_facts(xml, task);
    xml.push_str("    </testcase>\n");
}

/// The task's facts, one `name: value` line each, in its `<system-out>`: the schemas CI
/// plugins validate against allow no `<properties>` in a `<testcase>`.
fn push_facts(xml: &mut String, task: &TaskResult) {
    let facts = [
        ("status", Some(task.status.name().to_string())),
        ("branch", Some(task.branch.clone())),
        ("session_id", task.session_id.clone()),
        ("cost_usd", task.cost_usd.map(|c| format!("{c:.4}"))),
        ("worktree", Some(task.worktree.clone())),
        ("log", task.log.clone()),
    ];
    let mut lines = String::new();
    for (name, value) in facts {
        if let Some(value) = value {
            // One line each, whatever the agent put in a session id.
            let _ = writeln!(lines, "{name}: {}", crate::util::clip::visible(&value));
        }
    }
    let _ = writeln!(xml, "      <system-out>{}</system-out>", text(&lines));
}

/// What the user reads first: the task's error, else claude's result, else its status.
fn reason(task: &TaskResult) -> String {
    let said = task.error.as_deref().or(task.result.as_deref());
    let reason = said.map_or_else(|| task.status.name().replace('_', " "), String::from);
    crate::util::clip::visible(&reason).into_owned()
}

fn failure_body(reason: &str, task: &TaskResult, tail: &[String]) -> String {
    // A reason that says the status already (`interrupted: porch received …`) is not told
    // it twice.
    let status = task.status.name();
    let mut body = if reason.starts_with(&status.replace('_', " ")) {
        format!("{reason}\n")
    } else {
        format!("{status}: {reason}\n")
    };
    match (&task.log, tail.is_empty()) {
        (Some(log), false) => {
            let _ = writeln!(body, "\nthe last {} line(s) of {log}:", tail.len());
            for line in tail {
                body.push_str(&crate::util::clip::shorten(line, LINE_LIMIT));
                body.push('\n');
            }
        }
        (Some(log), true) => {
            let _ = writeln!(body, "\n{log} is empty or gone");
        }
        (None, _) => body.push_str("\nthe task has no log\n"),
    }
    body
}

fn push_properties(xml: &mut String, indent: &str, properties: &[(&str, Option<String>)]) {
    let _ = writeln!(xml, "{indent}<properties>");
    for (name, value) in properties {
        if let Some(value) = value {
            let _ = writeln!(
                xml,
                r#"{indent}  <property name="{name}" value="{}"/>"#,
                attribute(value)
            );
        }
    }
    let _ = writeln!(xml, "{indent}</properties>");
}

fn seconds(ms: u64) -> String {
    format!("{}.{:03}", ms / 1000, ms % 1000)
}

/// Whether XML 1.0 allows `c` in a document at all, even as a character reference.
fn allowed(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

/// Element content: markup characters escaped, characters XML forbids left out.
fn text(raw: &str) -> String {
    escape(raw, false)
}

/// An attribute value: also white space other than the space kept as character references, as
/// a parser would otherwise fold a line break into a space.
fn attribute(raw: &str) -> String {
    escape(raw, true)
}

fn escape(raw: &str, in_attribute: bool) -> String {
    let mut out = String::with_capacity(raw.len());
    for c in raw.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\n' if in_attribute => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            '\t' if in_attribute => out.push_str("&#9;"),
            c if allowed(c) => out.push(c),
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::SCHEMA_VERSION;

    fn results(tasks: Vec<TaskResult>) -> Results {
        Results {
            version: SCHEMA_VERSION,
            run_id: "20261201T201500Z-4242".into(),
            tasks_file: "tasks.json".into(),
            repo: "/src/shop".into(),
            duration_ms: 2500,
            lowest_concurrency: 1,
            final_concurrency: 1,
            tasks,
            ..Results::default()
        }
    }

    #[test]
    fn escaping_keeps_markup_out_and_drops_what_xml_forbids() {
        // (rule, raw, as element text, as attribute)
        let cases = [
            (
                "markup",
                "a<b>&\"c'",
                "a&lt;b&gt;&amp;&quot;c&apos;",
                "a&lt;b&gt;&amp;&quot;c&apos;",
            ),
            ("a line break", "a\nb", "a\nb", "a&#10;b"),
            ("a tab", "a\tb", "a\tb", "a&#9;b"),
            ("a carriage return", "a\rb", "a&#13;b", "a&#13;b"),
            ("C0 controls", "a\u{1b}\u{0}\u{7}b", "ab", "ab"),
            ("non-characters", "a\u{FFFE}\u{FFFF}b", "ab", "ab"),
            (
                "other text",
                "é ✓ 𝄞 \u{fffd}",
                "é ✓ 𝄞 \u{fffd}",
                "é ✓ 𝄞 \u{fffd}",
            ),
        ];
        for (rule, raw, as_text, as_attribute) in cases {
            assert_eq!(text(raw), as_text, "{rule}");
            assert_eq!(attribute(raw), as_attribute, "{rule}");
        }
    }

    #[test]
    fn each_status_counts_as_junit_counts_it() {
        // (status, outcome)
        let cases = [
            (Status::Succeeded, Outcome::Passed),
            (Status::Failed, Outcome::Failed),
            (Status::TimedOut, Outcome::Failed),
            (Status::Interrupted, Outcome::Failed),
            (Status::Skipped, Outcome::Skipped),
            (Status::Pending, Outcome::Skipped),
            (Status::Running, Outcome::Skipped),
        ];
        for (status, expected) in cases {
            assert_eq!(outcome(status), expected, "{status:?}");
        }
    }

    #[test]
    fn the_suite_counts_and_a_failure_carries_reason_and_tail() {
        let mut failed = TaskResult::example("b", Status::TimedOut);
        failed.error = Some("timed out after 1s".into());
        failed.log = Some("/wt/.porch/logs/b.log".into());
        let mut skipped = TaskResult::example("c", Status::Skipped);
        skipped.error = Some("not started: porch received SIGINT".into());
        let mut ok = TaskResult::example("a", Status::Succeeded);
        ok.duration_ms = 1234;
        ok.session_id = Some("s-1".into());
        let xml = render(
            &results(vec![ok, failed, skipped]),
            &[vec![], vec!["one".into(), "two <x>".into()], vec![]],
        );
        for part in [
            r#"<testsuites name="porch" tests="3" failures="1" errors="0" time="2.500">"#,
            r#"<testsuite name="porch" tests="3" failures="1" errors="0" skipped="1" time="2.500""#,
            r#"<testcase classname="porch" name="a" time="1.234">"#,
            "<system-out>status: succeeded\nbranch: task/a\nsession_id: s-1\n",
            r#"<failure message="timed out after 1s" type="timed_out">timed out after 1s"#,
            "the last 2 line(s) of /wt/.porch/logs/b.log:\none\ntwo &lt;x&gt;\n</failure>",
            r#"<skipped message="not started: porch received SIGINT"/>"#,
        ] {
            assert!(xml.contains(part), "{part} in\n{xml}");
        }
    }

    #[test]
    fn a_reason_is_not_prefixed_with_the_status_it_already_says() {
        // (status, the task's error, the failure's first line)
        let cases = [
            (
                Status::Interrupted,
                "interrupted: porch received signal 15 (SIGTERM)",
                "interrupted: porch received signal 15 (SIGTERM)\n",
            ),
            (
                Status::Failed,
                "API Error: 529 Overloaded",
                "failed: API Error: 529 Overloaded\n",
            ),
            (
                Status::TimedOut,
                "timed out after 1s",
                "timed out after 1s\n",
            ),
        ];
        for (status, error, first_line) in cases {
            let mut task = TaskResult::example("t", status);
            task.error = Some(error.into());
            let body = failure_body(&reason(&task), &task, &[]);
            assert!(body.starts_with(first_line), "{status:?}: {body}");
        }
    }

    #[test]
    fn a_run_that_cost_nothing_costs_zero_not_minus_zero() {
        let xml = render(
            &results(vec![TaskResult::example("a", Status::Skipped)]),
            &[],
        );
        assert!(
            xml.contains(r#"<property name="cost_usd" value="0.0000"/>"#),
            "{xml}"
        );
    }
}
