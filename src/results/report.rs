//! The HTML report of a run (`porch report`, `--report FILE`): one self-contained page, inline
//! CSS and SVG, no script and no external resource; everything from the results and the logs
//! escaped, since agents print anything.

use std::fmt::Write as _;

use crate::results::Attempt;
use crate::results::MergeRecord;
use crate::results::Results;
use crate::results::Review;
use crate::results::Status;
use crate::results::TaskResult;
use crate::util::clip::short_commit;
use crate::util::duration::short_ms;
use crate::util::timestamp::parse_rfc3339;

/// How many of a task's last log lines its folded section holds.
pub const TAIL_LINES: usize = 40;

/// What the page shows of a task besides its results, read from git and its log.
#[derive(Debug, Default, Clone)]
pub struct TaskExtras {
    /// `git diff --stat` of its branch against its base; empty when there is none.
    pub diff_stat: String,
    /// Its log's last lines as `porch logs` shows them.
    pub log_tail: Vec<String>,
}

/// The page. `extras[i]` belongs to task `i`; `exit_code` is porch's, when the caller knows it;
/// `merge`, what `porch merge` last did with the run, once it merged.
pub fn render(
    results: &Results,
    extras: &[TaskExtras],
    exit_code: Option<u8>,
    merge: Option<&MergeRecord>,
) -> String {
    let mut page = String::new();
    let title = format!("porch run {}", escape(&results.run_id));
    let _ = write!(
        page,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <title>{title}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<h1>{title}</h1>\n"
    );
    page.push_str(&header(results, exit_code));
    page.push_str("<h2>Timeline</h2>\n");
    page.push_str(&timeline(results));
    page.push_str(&task_table(&results.tasks));
    page.push_str(&conflicts(results));
    if let Some(merge) = merge {
        page.push_str(&merge_record(merge));
    }
    page.push_str("<h2>Each task</h2>\n");
    let none = TaskExtras::default();
    for (index, task) in results.tasks.iter().enumerate() {
        page.push_str(&task_details(task, extras.get(index).unwrap_or(&none)));
    }
    page.push_str("</body>\n</html>\n");
    page
}

const STYLE: &str = "body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222}\
h1{font-size:1.4em}h2{font-size:1.15em;margin-top:1.6em}\
dl.run{display:grid;grid-template-columns:max-content auto;gap:.2em 1em}dl.run dt{font-weight:600}\
table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.2em .5em;text-align:left;\
vertical-align:top;white-space:nowrap}td.n{text-align:right}td.e{white-space:normal;min-width:20em}pre{background:#f6f6f6;padding:.5em;overflow:auto;\
white-space:pre-wrap}details{margin:.4em 0}summary{cursor:pointer}\
.succeeded,.merged,.resolved{fill:#2e9d4b;color:#1d7a36}.failed,.backed-out{fill:#d33c3c;color:#b32626}\
.timed_out{fill:#e08a1e;color:#b06410}.interrupted,.skipped{fill:#999;color:#666}\
.running,.pending{fill:#3a78c9;color:#2a5fa6}svg text{font:12px system-ui,sans-serif;fill:#222}\
svg .deps{fill:#777}svg .span{stroke:#bbb;stroke-width:2}svg .setup{fill:#8aa}\
svg .check{fill:#7a5bc7}svg .push{fill:#444}svg .retried{opacity:.55}\
svg .usage{stroke:#e08a1e;stroke-width:2;stroke-dasharray:3 2}svg .wait{fill:#e08a1e;opacity:.15}\
svg .dep{stroke:#999;stroke-dasharray:2 3;fill:none}svg .grid{stroke:#eee}\
svg .sessions{stroke:#3a78c9;fill:none;stroke-width:1.5}svg .mark{fill:#b06410}";

fn header(results: &Results, exit_code: Option<u8>) -> String {
    let mut bases: Vec<&str> = (results.tasks.iter())
        .filter(|t| t.depends_on.is_empty() && !t.base_branch.is_empty())
        .map(|t| t.base_branch.as_str())
        .collect();
    bases.dedup();
    let exit = match exit_code {
        Some(code) => code.to_string(),
        None => implied_exit_code(results),
    };
    let budget = match results.budget_usd {
        Some(budget) => format!("${budget:.2} (spent ${:.2})", results.spent_usd),
        None => "none".to_string(),
    };
    let counts = &results.summary;
    let rows = [
        ("Repository", results.repo.clone()),
        ("Base", bases.join(", ")),
        ("Tasks file", results.tasks_file.clone()),
        ("Started", results.started_at.clone()),
        ("Finished", results.finished_at.clone().unwrap_or_default()),
        ("Wall time", short_ms(results.duration_ms)),
        ("Cost", format!("${:.4}", counts.cost_usd)),
        ("Budget", budget),
        ("Exit code", exit),
        (
            "Tasks",
            format!(
                "{} in all: {} succeeded, {} failed, {} timed out, {} interrupted, {} skipped",
                counts.total,
                counts.succeeded,
                counts.failed,
                counts.timed_out,
                counts.interrupted,
                counts.skipped
            ),
        ),
    ];
    let mut out = String::from("<dl class=\"run\">\n");
    for (term, value) in rows {
        let _ = writeln!(out, "<dt>{term}</dt><dd>{}</dd>", escape(&value));
    }
    out.push_str("</dl>\n");
    out
}

/// The exit code a stored run's results imply (a signal's code cannot be told from them).
fn implied_exit_code(results: &Results) -> String {
    let tasks = &results.tasks;
    if tasks.iter().any(|t| t.status == Status::Interrupted) {
        return "128 + the signal's number (porch was interrupted)".to_string();
    }
    let all_well = tasks.iter().all(|t| t.status == Status::Succeeded)
        && tasks.iter().all(|t| t.push.as_ref().is_none_or(|p| p.ok));
    format!("{} (as the statuses imply)", if all_well { 0 } else { 1 })
}

/// The timeline's geometry: where a time and a row are drawn.
struct Scale {
    start_ms: u64,
    span_ms: u64,
}

const LABEL_WIDTH: u64 = 280;
const PLOT_WIDTH: u64 = 900;
const AXIS_HEIGHT: u64 = 22;
const ROW_HEIGHT: u64 = 26;
const BAR_HEIGHT: u64 = 14;
const SESSIONS_HEIGHT: u64 = 70;

impl Scale {
    fn of(results: &Results) -> Scale {
        let mut times: Vec<u64> = parse_rfc3339(&results.started_at).into_iter().collect();
        for task in &results.tasks {
            times.extend(
                [&task.started_at, &task.ended_at]
                    .into_iter()
                    .filter_map(at),
            );
            for attempt in task.attempts.iter().filter(|a| a.of_this_run()) {
                times.extend(
                    [&attempt.started_at, &attempt.ended_at]
                        .into_iter()
                        .filter_map(at),
                );
            }
        }
        times.extend(results.finished_at.as_deref().and_then(parse_rfc3339));
        let start_ms = times.iter().copied().min().unwrap_or(0);
        let end_ms = times.iter().copied().max().unwrap_or(0);
        let end_ms = end_ms.max(start_ms + results.duration_ms);
        Scale {
            start_ms,
            span_ms: (end_ms - start_ms).max(1),
        }
    }

    fn x(&self, ms: u64) -> u64 {
        LABEL_WIDTH + ms.saturating_sub(self.start_ms).min(self.span_ms) * PLOT_WIDTH / self.span_ms
    }

    fn row_top(index: usize) -> u64 {
        AXIS_HEIGHT + index as u64 * ROW_HEIGHT
    }
}

fn at(time: &Option<String>) -> Option<u64> {
    time.as_deref().and_then(parse_rfc3339)
}

fn timeline(results: &Results) -> String {
    let scale = Scale::of(results);
    let rows_bottom = Scale::row_top(results.tasks.len());
    let height = rows_bottom + SESSIONS_HEIGHT + 20;
    let width = LABEL_WIDTH + PLOT_WIDTH + 20;
    let mut svg = format!(
        "<svg id=\"timeline\" width=\"{width}\" height=\"{height}\" \
         viewBox=\"0 0 {width} {height}\" role=\"img\">\n"
    );
    svg.push_str(&axis(&scale, height));
    svg.push_str(&usage_waits(results, &scale, rows_bottom));
    svg.push_str(&dependency_lines(&results.tasks, &scale));
    for (index, task) in results.tasks.iter().enumerate() {
        svg.push_str(&task_row(index, task, &scale));
    }
    svg.push_str(&sessions_line(&results.tasks, &scale, rows_bottom));
    svg.push_str("</svg>\n");
    svg
}

fn axis(scale: &Scale, height: u64) -> String {
    let mut out = String::new();
    for step in 0..=5 {
        let ms = scale.start_ms + scale.span_ms * step / 5;
        let x = scale.x(ms);
        let _ = writeln!(
            out,
            "<line class=\"grid\" x1=\"{x}\" y1=\"{AXIS_HEIGHT}\" x2=\"{x}\" y2=\"{height}\"/>\
             <text x=\"{x}\" y=\"14\" text-anchor=\"middle\">{}</text>",
            short_ms(ms - scale.start_ms)
        );
    }
    out
}

/// A band over every row while porch waited for a usage window to reset.
fn usage_waits(results: &Results, scale: &Scale, rows_bottom: u64) -> String {
    let mut out = String::new();
    for wait in &results.usage_limit_waits {
        let Some(start) = at(&wait.started_at) else {
            continue;
        };
        let (x1, x2) = (scale.x(start), scale.x(start + wait.waited_ms));
        let _ = writeln!(
            out,
            "<rect class=\"wait\" data-wait=\"{kind}\" x=\"{x1}\" y=\"{AXIS_HEIGHT}\" width=\"{w}\" \
             height=\"{h}\"><title>waited {waited} for the {kind} usage window</title></rect>",
            kind = escape(&wait.kind),
            w = (x2 - x1).max(2),
            h = rows_bottom - AXIS_HEIGHT,
            waited = short_ms(wait.waited_ms),
        );
    }
    out
}

/// A dotted line from the end of each dependency to the start of the task that waited for it.
fn dependency_lines(tasks: &[TaskResult], scale: &Scale) -> String {
    let mut out = String::new();
    for (index, task) in tasks.iter().enumerate() {
        let Some(start) = at(&task.started_at) else {
            continue;
        };
        for dependency in &task.depends_on {
            let Some((from, before)) = tasks
                .iter()
                .enumerate()
                .find(|(_, t)| &t.name == dependency)
            else {
                continue;
            };
            let Some(end) = at(&before.ended_at) else {
                continue;
            };
            let middle = ROW_HEIGHT / 2;
            let _ = writeln!(
                out,
                "<path class=\"dep\" data-from=\"{}\" data-to=\"{}\" d=\"M{} {} L{} {}\"/>",
                escape(dependency),
                escape(&task.name),
                scale.x(end),
                Scale::row_top(from) + middle,
                scale.x(start),
                Scale::row_top(index) + middle,
            );
        }
    }
    out
}

fn task_row(index: usize, task: &TaskResult, scale: &Scale) -> String {
    let top = Scale::row_top(index);
    let middle = top + ROW_HEIGHT / 2;
    let name = escape(&task.name);
    let mut out = format!(
        "<g class=\"task-row\" data-task=\"{name}\" data-status=\"{status}\">\n\
         <text x=\"4\" y=\"{baseline}\">{label}</text>\n",
        status = task.status.name(),
        baseline = middle + 4,
        label = clip_label(&task.name, 34),
    );
    if !task.depends_on.is_empty() {
        let deps = format!("\u{2190} {}", task.depends_on.join(", "));
        let _ = writeln!(
            out,
            "<text class=\"deps\" x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>",
            LABEL_WIDTH - 6,
            middle + 4,
            clip_label(&deps, 18)
        );
    }
    if let (Some(start), Some(end)) = (at(&task.started_at), at(&task.ended_at)) {
        let _ = writeln!(
            out,
            "<line class=\"span\" x1=\"{}\" y1=\"{middle}\" x2=\"{}\" y2=\"{middle}\"/>",
            scale.x(start),
            scale.x(end)
        );
    }
    let phases = [
        (
            "setup",
            task.setup.as_ref().map(|p| (&p.started_at, &p.ended_at)),
        ),
        (
            "check",
            task.check.as_ref().map(|c| (&c.started_at, &c.ended_at)),
        ),
        (
            "push",
            task.push.as_ref().map(|p| (&p.started_at, &p.ended_at)),
        ),
    ];
    for (phase, times) in phases {
        if let Some((start, end)) = times.and_then(|(s, e)| Some((at(s)?, at(e)?))) {
            out.push_str(&bar(
                scale,
                top,
                (start, end),
                &format!("{phase}\" data-phase=\"{phase}"),
                phase,
            ));
        }
    }
    let last = task.attempts.len();
    for attempt in task.attempts.iter().filter(|a| a.of_this_run()) {
        out.push_str(&attempt_bar(task, attempt, last, scale, top));
    }
    out.push_str("</g>\n");
    out
}

fn attempt_bar(
    task: &TaskResult,
    attempt: &Attempt,
    last: usize,
    scale: &Scale,
    top: u64,
) -> String {
    let (Some(start), Some(end)) = (at(&attempt.started_at), at(&attempt.ended_at)) else {
        return String::new();
    };
    let mut class = format!("attempt {}", attempt.status.name());
    if (attempt.attempt as usize) < last {
        class.push_str(if attempt.usage_limit.is_some() {
            " usage"
        } else {
            " retried"
        });
    }
    let mut title = format!(
        "{} attempt {}: {} in {}",
        task.name,
        attempt.attempt,
        attempt.status.name(),
        short_ms(attempt.duration_ms)
    );
    if let Some(kind) = &attempt.usage_limit {
        let _ = write!(title, ", ended by the {kind} usage window");
    }
    if let Some(error) = &attempt.error {
        let _ = write!(title, "\n{error}");
    }
    let class = format!(
        "{class}\" data-task=\"{}\" data-attempt=\"{}",
        escape(&task.name),
        attempt.attempt
    );
    let mut out = bar(scale, top, (start, end), &class, &title);
    if attempt.attempt > 1 {
        let _ = writeln!(
            out,
            "<text class=\"mark\" x=\"{}\" y=\"{}\" text-anchor=\"end\">\u{21bb}</text>",
            scale.x(start).saturating_sub(1),
            top + ROW_HEIGHT / 2 + 4
        );
    }
    out
}

/// A bar from `start` to `end` on the row at `top`. `class` is inserted as it is (the callers
/// escape what they put in it); `title` is escaped.
fn bar(scale: &Scale, top: u64, (start, end): (u64, u64), class: &str, title: &str) -> String {
    let x = scale.x(start);
    let width = scale.x(end).saturating_sub(x).max(2);
    format!(
        "<rect class=\"bar {class}\" x=\"{x}\" y=\"{}\" width=\"{width}\" height=\"{BAR_HEIGHT}\" \
         rx=\"2\"><title>{}</title></rect>\n",
        top + (ROW_HEIGHT - BAR_HEIGHT) / 2,
        escape(title)
    )
}

/// How many sessions ran at each moment: a step line under the rows.
fn sessions_line(tasks: &[TaskResult], scale: &Scale, rows_bottom: u64) -> String {
    let mut changes: Vec<(u64, i64)> = Vec::new();
    let attempts = tasks.iter().flat_map(|t| &t.attempts);
    for attempt in attempts.filter(|a| a.of_this_run()) {
        if let (Some(start), Some(end)) = (at(&attempt.started_at), at(&attempt.ended_at)) {
            changes.extend([(start, 1), (end, -1)]);
        }
    }
    // An end before a start at the same moment: the line does not jump up and back.
    changes.sort_by_key(|&(time, change)| (time, change));
    let mut running = 0i64;
    let mut points: Vec<(u64, i64)> = vec![(scale.start_ms, 0)];
    for (time, change) in changes {
        running += change;
        points.push((time, running));
    }
    let most = points.iter().map(|p| p.1).max().unwrap_or(0).max(1) as u64;
    let base = rows_bottom + SESSIONS_HEIGHT;
    let height = SESSIONS_HEIGHT - 10;
    let y = |count: i64| base - count.max(0) as u64 * height / most;
    let mut path = format!("M{} {}", scale.x(scale.start_ms), base);
    let mut level = 0;
    for (time, count) in points {
        let x = scale.x(time);
        let _ = write!(path, " L{x} {} L{x} {}", y(level), y(count));
        level = count;
    }
    let _ = write!(
        path,
        " L{} {}",
        scale.x(scale.start_ms + scale.span_ms),
        y(level)
    );
    format!(
        "<text x=\"4\" y=\"{}\">sessions running (most: {most})</text>\n\
         <line class=\"grid\" x1=\"{LABEL_WIDTH}\" y1=\"{base}\" x2=\"{}\" y2=\"{base}\"/>\n\
         <path class=\"sessions\" data-series=\"sessions\" d=\"{path}\"/>\n",
        rows_bottom + SESSIONS_HEIGHT / 2,
        LABEL_WIDTH + PLOT_WIDTH
    )
}

fn clip_label(text: &str, limit: usize) -> String {
    if text.chars().count() <= limit {
        return escape(text);
    }
    let kept: String = text.chars().take(limit - 1).collect();
    escape(&format!("{kept}\u{2026}"))
}

fn task_table(tasks: &[TaskResult]) -> String {
    let mut out = String::from(
        "<h2>Tasks</h2>\n<table id=\"tasks\">\n<tr><th>Task</th><th>Status</th><th>Branch</th>\
         <th>Commits</th><th>Files</th><th>+/\u{2212}</th><th>Cost</th><th>Turns</th>\
         <th>Attempts</th><th>Check</th><th>Push</th><th>Pull request</th><th>Error</th></tr>\n",
    );
    for task in tasks {
        let check = match &task.check {
            Some(check) => match check.exit_code {
                Some(0) => format!("passed in {}", short_ms(check.duration_ms)),
                Some(code) => format!("failed (exit {code})"),
                None => "ended by a signal".to_string(),
            },
            None => String::new(),
        };
        let push = match &task.push {
            Some(push) if push.ok => format!("pushed to {}", push.remote),
            Some(push) => format!("failed: {}", push.error.as_deref().unwrap_or("")),
            None => String::new(),
        };
        let status = task.status.name();
        let _ = writeln!(
            out,
            "<tr data-task=\"{name}\"><td>{name}</td><td class=\"{status}\">{status}</td>\
             <td>{branch}</td><td class=\"n\">{}</td><td class=\"n\">{}</td>\
             <td class=\"n\">+{} \u{2212}{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td>\
             <td class=\"n\">{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"e\">{}</td></tr>",
            task.commits,
            task.files_changed,
            task.insertions,
            task.deletions,
            task.cost_usd
                .map(|c| format!("${c:.4}"))
                .unwrap_or_default(),
            task.num_turns.map(|n| n.to_string()).unwrap_or_default(),
            task.attempts.len(),
            escape(&check),
            escape(&push),
            pull_request(task),
            escape(task.error.as_deref().unwrap_or("")),
            name = escape(&task.name),
            branch = escape(&task.branch),
        );
    }
    out.push_str("</table>\n");
    out
}

/// The task's pull request as a link, only to a web address: a `javascript:` URL in a
/// results file must not become one.
fn pull_request(task: &TaskResult) -> String {
    let Some(pr) = &task.pr else {
        return String::new();
    };
    let web = pr.url.starts_with("https://") || pr.url.starts_with("http://");
    match web {
        true => format!("<a href=\"{}\">#{}</a>", escape(&pr.url), pr.number),
        false => format!("#{} {}", pr.number, escape(&pr.url)),
    }
}

fn conflicts(results: &Results) -> String {
    let mut out = String::from("<h2>Conflicts between branches</h2>\n");
    if let Some(note) = &results.conflicts_note {
        let _ = writeln!(out, "<p>{}</p>", escape(note));
    }
    if results.conflicts.is_empty() {
        out.push_str("<p>No two succeeded branches change a common file.</p>\n");
        return out;
    }
    out.push_str("<table id=\"conflicts\">\n<tr><th>Tasks</th><th>Merge</th><th>Files</th></tr>\n");
    for conflict in &results.conflicts {
        let _ = writeln!(
            out,
            "<tr><td>{} + {}</td><td>{}</td><td>{}</td></tr>",
            escape(&conflict.tasks[0]),
            escape(&conflict.tasks[1]),
            if conflict.clean { "clean" } else { "conflicts" },
            escape(&conflict.files.join(", "))
        );
    }
    out.push_str("</table>\n");
    out
}

/// What `porch merge` did: a row per branch, merged, resolved, skipped or backed out, and why.
fn merge_record(merge: &MergeRecord) -> String {
    let mut out = String::from("<h2>Merge</h2>\n");
    let into = match &merge.commit {
        Some(commit) => format!(
            "{} at {}",
            escape(&merge.branch),
            escape(short_commit(commit))
        ),
        None => format!("{} (nothing merged)", escape(&merge.branch)),
    };
    let _ = writeln!(out, "<p>Into {into}, {}.</p>", escape(&merge.ended_at));
    if let Some(failure) = &merge.base_check_failure {
        let _ = writeln!(out, "<p class=\"e\">{}</p>", escape(&failure.reason));
    }
    out.push_str("<table id=\"merge\">\n<tr><th>Task</th><th>Outcome</th><th>Detail</th></tr>\n");
    let mut row = |task: &str, outcome: &str, detail: String| {
        let _ = writeln!(
            out,
            "<tr data-task=\"{task}\"><td>{task}</td><td class=\"{outcome}\">{outcome}</td><td class=\"e\">{}</td></tr>",
            escape(&detail),
            task = escape(task),
        );
    };
    let resolved = |task: &str| merge.resolved.iter().find(|r| r.task == task);
    for merged in &merge.merged {
        match resolved(&merged.task) {
            Some(r) => row(
                &r.task,
                "resolved",
                format!(
                    "conflicts in {} resolved by claude (${:.4})",
                    r.files.join(", "),
                    r.cost_usd
                ),
            ),
            None => row(
                &merged.task,
                "merged",
                merged
                    .commit
                    .as_deref()
                    .map(short_commit)
                    .unwrap_or("already in")
                    .to_string(),
            ),
        }
    }
    for skipped in &merge.skipped {
        row(&skipped.task, "skipped", skipped.reason.clone());
    }
    for backed_out in &merge.backed_out {
        row(&backed_out.task, "backed-out", backed_out.reason.clone());
    }
    out.push_str("</table>\n");
    out
}

fn task_details(task: &TaskResult, extras: &TaskExtras) -> String {
    let name = escape(&task.name);
    let mut out = format!(
        "<details data-task=\"{name}\">\n<summary>{name} \u{2014} <span class=\"{status}\">{status}\
         </span></summary>\n",
        status = task.status.name()
    );
    if let Some(description) = &task.description {
        let _ = writeln!(out, "<p>{}</p>", escape(description));
    }
    if !task.attempts.is_empty() {
        out.push_str("<ul>\n");
        for attempt in &task.attempts {
            let _ = writeln!(
                out,
                "<li>attempt {}{}: {} in {}{}{}</li>",
                attempt.attempt,
                (attempt.run_id.as_deref())
                    .map(|run| format!(" (run {})", escape(run)))
                    .unwrap_or_default(),
                attempt.status.name(),
                short_ms(attempt.duration_ms),
                attempt
                    .error
                    .as_deref()
                    .map(|e| format!(": {}", escape(e)))
                    .unwrap_or_default(),
                (attempt.saved_work.as_deref())
                    .map(|r| format!(" (its work kept at {})", escape(r)))
                    .unwrap_or_default(),
            );
        }
        out.push_str("</ul>\n");
    }
    if let Some(review) = &task.review {
        out.push_str(&review_section(review));
    }
    let diff = if extras.diff_stat.is_empty() {
        "no changes"
    } else {
        &extras.diff_stat
    };
    let _ = writeln!(out, "<h3>Diff stat</h3>\n<pre>{}</pre>", escape(diff));
    let tail = extras.log_tail.join("\n");
    let _ = writeln!(
        out,
        "<h3>Last lines of the log</h3>\n<pre>{}</pre>\n</details>",
        escape(if tail.is_empty() { "no log" } else { &tail })
    );
    out
}

/// What the task's reviewer said: the verdict and summary (or why there is none), each comment.
fn review_section(review: &Review) -> String {
    let mut out = format!("<h3>Review</h3>\n<p>{}</p>\n", escape(&review.headline()));
    if !review.comments.is_empty() {
        out.push_str("<ul>\n");
        for comment in &review.comments {
            let _ = writeln!(out, "<li>{}</li>", escape(&comment.to_string()));
        }
        out.push_str("</ul>\n");
    }
    out
}

/// Text made inert in HTML, in an element or in a quoted attribute: markup characters become
/// references, control characters their visible pictures (U+2400…), C1 controls U+FFFD.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\n' | '\t' => out.push(c),
            '\u{0}'..='\u{1f}' => out.push(char::from_u32(0x2400 + c as u32).unwrap_or('\u{fffd}')),
            '\u{7f}'..='\u{9f}' => out.push('\u{fffd}'),
            // A bidirectional control: written `\u{202e}` as on the terminal.
            c if crate::util::clip::is_hidden_control(c) => {
                crate::util::clip::push_visible(&mut out, c)
            }
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::Verdict;

    const HOSTILE: &str =
        "<script>alert(1)</script></details>\"'&\u{1b}[31m\u{7}\u{85}\u{202e}txt.exe";

    fn sample() -> Results {
        let attempt = |n, status, start: &str, end: &str| Attempt {
            attempt: n,
            status,
            duration_ms: 1000,
            error: Some(HOSTILE.to_string()),
            started_at: Some(start.to_string()),
            ended_at: Some(end.to_string()),
            ..Attempt::default()
        };
        let mut first = TaskResult::example(HOSTILE, Status::Failed);
        first.started_at = Some("2026-12-06T10:00:00.000Z".into());
        first.ended_at = Some("2026-12-06T10:00:05.000Z".into());
        first.error = Some(HOSTILE.to_string());
        first.attempts = vec![
            attempt(
                1,
                Status::Failed,
                "2026-12-06T10:00:00.500Z",
                "2026-12-06T10:00:01.500Z",
            ),
            attempt(
                2,
                Status::Failed,
                "2026-12-06T10:00:02.000Z",
                "2026-12-06T10:00:04.000Z",
            ),
        ];
        let mut second = TaskResult::example("after", Status::Succeeded);
        second.depends_on = vec![HOSTILE.to_string()];
        second.started_at = Some("2026-12-06T10:00:05.000Z".into());
        second.ended_at = Some("2026-12-06T10:00:09.000Z".into());
        second.attempts = vec![Attempt {
            error: None,
            ..attempt(
                1,
                Status::Succeeded,
                "2026-12-06T10:00:05.500Z",
                "2026-12-06T10:00:08.000Z",
            )
        }];
        let mut results = Results {
            run_id: "r1".into(),
            repo: "/src/shop".into(),
            started_at: "2026-12-06T10:00:00.000Z".into(),
            finished_at: Some("2026-12-06T10:00:10.000Z".into()),
            duration_ms: 10_000,
            tasks: vec![first, second],
            ..Results::default()
        };
        results.summarise();
        results
    }

    #[test]
    fn text_from_the_results_and_logs_comes_out_inert() {
        let extras = vec![
            TaskExtras {
                diff_stat: HOSTILE.to_string(),
                log_tail: vec![HOSTILE.to_string()],
            },
            TaskExtras::default(),
        ];
        let mut results = sample();
        results.tasks[0].review = Some(Review {
            verdict: Some(Verdict::RequestChanges),
            summary: HOSTILE.to_string(),
            comments: vec![crate::results::ReviewComment {
                file: HOSTILE.to_string(),
                line: Some(3),
                body: HOSTILE.to_string(),
            }],
            ..Review::default()
        });
        let page = render(&results, &extras, None, None);
        assert!(
            page.contains("<h3>Review</h3>\n<p>changes requested: &lt;script&gt;"),
            "{page}"
        );
        assert!(page.contains(":3: &lt;script&gt;"), "{page}");
        let skipped = Review {
            skipped: Some("the branch changes nothing".into()),
            ..Review::default()
        };
        assert_eq!(
            review_section(&skipped),
            "<h3>Review</h3>\n<p>nothing to review: the branch changes nothing</p>\n"
        );
        assert!(!page.contains("<script"), "no script element: {page}");
        assert_eq!(page.matches("</details>").count(), 2, "one close per task");
        assert!(
            page.contains("&lt;script&gt;alert(1)&lt;/script&gt;&lt;/details&gt;&quot;&#39;&amp;")
        );
        assert!(
            page.contains("\u{241b}[31m\u{2407}\u{fffd}"),
            "controls made visible"
        );
        assert!(!page.contains('\u{1b}') && !page.contains('\u{7}') && !page.contains('\u{85}'));
        // A bidirectional control would reorder what follows it, as a terminal would.
        assert!(page.contains("\\u{202e}txt.exe") && !page.contains('\u{202e}'));
        assert!(
            !page.contains("http://") && !page.contains("https://"),
            "no external resource"
        );
    }

    #[test]
    fn the_timeline_has_a_row_per_task_a_bar_per_attempt_and_the_dependency() {
        let page = render(&sample(), &[], Some(1), None);
        assert_eq!(page.matches("class=\"task-row\"").count(), 2);
        assert_eq!(page.matches("data-attempt=").count(), 3);
        assert!(
            page.contains("class=\"bar attempt failed retried\""),
            "the retried attempt is marked"
        );
        assert_eq!(
            page.matches("class=\"dep\"").count(),
            1,
            "a line from the dependency"
        );
        assert!(page.contains("sessions running (most: 1)"));
        assert!(page.contains("<dt>Exit code</dt><dd>1</dd>"));
    }

    #[test]
    fn a_pull_request_is_a_link_only_to_a_web_address() {
        let mut results = sample();
        let pr = |url: &str| {
            Some(crate::results::PullRequest {
                url: url.into(),
                number: 7,
            })
        };
        results.tasks[0].pr = pr("https://forge.example/shop/pull/7");
        results.tasks[1].pr = pr("javascript:alert(1)");
        let page = render(&results, &[], None, None);
        assert!(page.contains("<a href=\"https://forge.example/shop/pull/7\">#7</a>"));
        assert!(page.contains("<td>#7 javascript:alert(1)</td>"), "{page}");
        assert!(!page.contains("href=\"javascript"));
    }

    #[test]
    fn a_stored_run_says_which_exit_code_its_statuses_imply() {
        let page = render(&sample(), &[], None, None);
        assert!(
            page.contains("<dd>1 (as the statuses imply)</dd>"),
            "{page}"
        );
    }

    #[test]
    fn merge_commits_are_shown_as_every_command_shortens_them() {
        let merge = MergeRecord {
            branch: "porch/merge/r".into(),
            commit: Some("0123456789abcdef0123456789abcdef01234567".into()),
            merged: vec![crate::results::MergedBranch {
                task: "a".into(),
                branch: "task/a".into(),
                commit: Some("fedcba9876543210fedcba9876543210fedcba98".into()),
            }],
            ..MergeRecord::default()
        };
        let html = merge_record(&merge);
        assert!(html.contains("porch/merge/r at 0123456789ab,"), "{html}");
        assert!(html.contains(">fedcba987654</td>"), "{html}");
    }

    #[test]
    fn a_merge_stopped_by_a_check_failing_on_the_start_says_why() {
        let merge = MergeRecord {
            branch: "porch/merge/r".into(),
            base_check_failure: Some(crate::results::BaseCheckFailure {
                reason: "the check fails on the start of the merge (main) <exit 1>".into(),
                ..Default::default()
            }),
            ..MergeRecord::default()
        };
        let html = merge_record(&merge);
        assert!(html.contains("porch/merge/r (nothing merged)"), "{html}");
        assert!(
            html.contains("the check fails on the start of the merge (main) &lt;exit 1&gt;"),
            "{html}"
        );
    }
}
