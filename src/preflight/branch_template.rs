//! Branch names from a template (`--branch-template`, `branch_template`): `{name}`, `{run}`,
//! `{date}` and `{time}` filled in per task, and the result checked as git checks a branch
//! name. Pure: no git, no clock; the caller passes the run's id and time in.

use std::time::SystemTime;

use crate::util::timestamp;

/// Without a template, a task's branch is `task/<name>`.
pub const DEFAULT: &str = "task/{name}";
/// The placeholders a template may hold, as written in it.
pub const PLACEHOLDERS: [&str; 4] = ["{name}", "{run}", "{date}", "{time}"];

/// A parsed template: literal text and placeholders, in order.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    text: String,
    parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq)]
enum Part {
    Literal(String),
    Name,
    Run,
    Date,
    Time,
}

/// What `{run}`, `{date}` and `{time}` stand for in one run: its id (the results file's stem,
/// `20261201T201500.042Z-4242`; an older porch's have no milliseconds,
/// `20261201T201500Z-4242`) and the UTC date and time it started.
#[derive(Debug, Clone, PartialEq)]
pub struct RunStamp {
    pub id: String,
    /// `YYYYMMDD`, UTC.
    pub date: String,
    /// `HHMMSS`, UTC.
    pub time: String,
}

impl RunStamp {
    /// The stamp of a run started at `started` by process `pid`: the id sorts in time order and
    /// two porch processes never share one.
    pub fn new(started: SystemTime, pid: u32) -> RunStamp {
        // `20261201T201500.042Z`: the date before the `T`, the time after it, to the
        // millisecond, so that the ids of two runs started in one second sort as they started
        // (by the pid, "-999" would come after "-1000").
        let exact = timestamp::compact_timestamp(started);
        let (date, rest) = exact.split_once('T').unwrap_or((&exact, ""));
        let time = rest.split(['.', 'Z']).next().unwrap_or_default();
        RunStamp {
            id: format!("{exact}-{pid}"),
            date: date.to_string(),
            time: time.to_string(),
        }
    }
}

impl Template {
    /// Reads a template; the error says what is wrong with it, for a message naming where it
    /// came from.
    pub fn parse(text: &str) -> Result<Template, String> {
        let mut parts = Vec::new();
        let mut rest = text;
        while !rest.is_empty() {
            let Some(open) = rest.find(['{', '}']) else {
                parts.push(Part::Literal(rest.to_string()));
                break;
            };
            if open > 0 {
                parts.push(Part::Literal(rest[..open].to_string()));
            }
            rest = &rest[open..];
            if rest.starts_with('}') {
                return Err("has a '}' without a '{' before it".to_string());
            }
            let Some(close) = rest.find('}') else {
                return Err("has a '{' that is never closed".to_string());
            };
            parts.push(match &rest[..=close] {
                "{name}" => Part::Name,
                "{run}" => Part::Run,
                "{date}" => Part::Date,
                "{time}" => Part::Time,
                unknown => {
                    return Err(format!(
                        "has the unknown placeholder {unknown}; the placeholders are {}",
                        PLACEHOLDERS.join(", ")
                    ));
                }
            });
            rest = &rest[close + 1..];
        }
        if !parts.contains(&Part::Name) {
            return Err(
                "does not contain {name}, so every task would get the same branch".to_string(),
            );
        }
        Ok(Template {
            text: text.to_string(),
            parts,
        })
    }

    pub fn text(&self) -> &str {
        &self.text
    }

    /// The branch of task `name` in the run `stamp`.
    pub fn render(&self, name: &str, stamp: &RunStamp) -> String {
        self.parts
            .iter()
            .map(|part| match part {
                Part::Literal(text) => text.as_str(),
                Part::Name => name,
                Part::Run => &stamp.id,
                Part::Date => &stamp.date,
                Part::Time => &stamp.time,
            })
            .collect()
    }

    /// Renders the branch of task `name` and checks it is one git accepts; the error names the
    /// rendered branch and what is wrong with it.
    pub fn branch(&self, name: &str, stamp: &RunStamp) -> Result<String, String> {
        let branch = self.render(name, stamp);
        check_branch(&branch).map_err(|reason| format!("renders {branch:?}, which {reason}"))?;
        Ok(branch)
    }
}

impl Default for Template {
    fn default() -> Template {
        Template::parse(DEFAULT).expect("the default template is valid")
    }
}

/// Where a task's worktree, log and saved attempts go, relative to porch's directories: the
/// branch without the default `task/` in front. So the default keeps `<name>`, and a template
/// with `{run}` gives every run directories of its own.
pub fn slot(branch: &str) -> &str {
    branch.strip_prefix("task/").unwrap_or(branch)
}

/// git's rules for a branch name (`git check-ref-format --branch`), as a reason when broken.
/// A name that passes is also a safe relative path: no component is empty, `.` or `..`.
pub fn check_branch(branch: &str) -> Result<(), String> {
    if branch.is_empty() {
        return Err("is empty".to_string());
    }
    if branch.starts_with('-') {
        return Err("starts with '-', so git would read it as an option".to_string());
    }
    if let Some(bad) = branch.chars().find(|c| {
        c.is_control() || *c == ' ' || matches!(c, '~' | '^' | ':' | '?' | '*' | '[' | '\\')
    }) {
        return Err(format!(
            "contains {bad:?}, which git refuses in a branch name"
        ));
    }
    if branch.contains("..") {
        return Err("contains \"..\", which git refuses in a branch name".to_string());
    }
    if branch.contains("@{") || branch == "@" {
        return Err("is or contains \"@{\", which git refuses in a branch name".to_string());
    }
    if branch == "HEAD" {
        return Err("is HEAD, which git refuses as a branch name".to_string());
    }
    if branch.ends_with('.') {
        return Err("ends with '.', which git refuses in a branch name".to_string());
    }
    for component in branch.split('/') {
        if component.is_empty() {
            return Err("has an empty part between '/'s, at its start or at its end".to_string());
        }
        if component.starts_with('.') {
            return Err(format!("has a part starting with '.' ({component:?})"));
        }
        if component.ends_with(".lock") {
            return Err(format!("has a part ending in \".lock\" ({component:?})"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    fn stamp() -> RunStamp {
        // 2026-12-01 20:15:00.042 UTC, pid 4242.
        RunStamp::new(UNIX_EPOCH + Duration::from_millis(1_796_156_100_042), 4242)
    }

    #[test]
    fn the_ids_of_runs_started_in_one_second_sort_as_they_started() {
        let second = UNIX_EPOCH + Duration::from_secs(1_796_156_100);
        let earlier = RunStamp::new(second + Duration::from_millis(200), 999);
        let later = RunStamp::new(second + Duration::from_millis(700), 1000);
        assert!(earlier.id < later.id, "{} then {}", earlier.id, later.id);
        let next_second = RunStamp::new(second + Duration::from_secs(1), 1);
        assert!(
            later.id < next_second.id,
            "{} then {}",
            later.id,
            next_second.id
        );
    }

    #[test]
    fn a_run_stamp_is_the_results_file_stem_and_its_utc_date_and_time() {
        assert_eq!(
            stamp(),
            RunStamp {
                id: "20261201T201500.042Z-4242".into(),
                date: "20261201".into(),
                time: "201500".into(),
            }
        );
    }

    #[test]
    fn placeholders_are_filled_in() {
        // (template, the branch of task "fix-login" in the run of `stamp()`)
        let cases = [
            ("task/{name}", "task/fix-login"),
            ("{name}", "fix-login"),
            ("nightly/{date}/{name}", "nightly/20261201/fix-login"),
            ("ci/{run}/{name}", "ci/20261201T201500.042Z-4242/fix-login"),
            ("{name}-{date}-{time}", "fix-login-20261201-201500"),
            ("x/{name}/{name}", "x/fix-login/fix-login"),
        ];
        for (text, branch) in cases {
            let template = Template::parse(text).unwrap();
            assert_eq!(
                template.branch("fix-login", &stamp()),
                Ok(branch.to_string()),
                "{text}"
            );
        }
    }

    #[test]
    fn a_template_must_hold_name_and_only_known_placeholders() {
        // (template, the start of what is wrong with it)
        let cases = [
            ("nightly/{date}", "does not contain {name}"),
            ("", "does not contain {name}"),
            ("task/{nmae}", "has the unknown placeholder {nmae}"),
            ("task/{Name}", "has the unknown placeholder {Name}"),
            ("task/{}{name}", "has the unknown placeholder {}"),
            ("task/{name", "has a '{' that is never closed"),
            ("task/name}", "has a '}' without a '{'"),
            ("{{name}}", "has the unknown placeholder {{name}"),
        ];
        for (text, reason) in cases {
            let err = Template::parse(text).unwrap_err();
            assert!(err.starts_with(reason), "{text:?}: {err}");
        }
    }

    #[test]
    fn a_template_that_renders_no_valid_branch_is_refused() {
        // (template, a word of git's complaint about the rendered branch)
        let cases = [
            ("task//{name}", "empty part"),
            ("/{name}", "empty part"),
            ("{name}/", "empty part"),
            ("a b/{name}", "' '"),
            ("a..b/{name}", "\"..\""),
            ("{name}.lock", ".lock"),
            ("x.lock/{name}", ".lock"),
            (".hidden/{name}", "starting with '.'"),
            ("{name}.", "ends with '.'"),
            ("-{name}", "starts with '-'"),
            ("a:{name}", "':'"),
            ("a@{{name}", "unknown placeholder"),
        ];
        for (text, word) in cases {
            let err = Template::parse(text)
                .and_then(|t| t.branch("fix-login", &stamp()))
                .unwrap_err();
            assert!(err.contains(word), "{text:?}: {err}");
        }
    }

    #[test]
    fn git_branch_name_rules() {
        // (branch, accepted)
        let cases = [
            ("main", true),
            ("task/fix-login", true),
            ("nightly/20261201/a.b_c", true),
            ("v1.2", true),
            ("", false),
            ("HEAD", false),
            ("@", false),
            ("a@{b", false),
            ("a/.b", false),
            ("a/b.lock", false),
            ("a//b", false),
            ("a/", false),
            ("a\u{7f}b", false),
            ("a\tb", false),
            ("a~1", false),
            ("a^", false),
            ("a?", false),
            ("a*", false),
            ("a[b", false),
            ("a\\b", false),
        ];
        for (branch, ok) in cases {
            assert_eq!(check_branch(branch).is_ok(), ok, "{branch:?}");
        }
    }

    #[test]
    fn worktrees_follow_the_branch_without_the_default_prefix() {
        let cases = [
            ("task/fix-login", "fix-login"),
            ("nightly/20261201/fix-login", "nightly/20261201/fix-login"),
            ("task/20261201T201500Z-1/fix", "20261201T201500Z-1/fix"),
            ("fix-login", "fix-login"),
        ];
        for (branch, dir) in cases {
            assert_eq!(slot(branch), dir, "{branch}");
        }
    }
}
