//! What happens in a run besides the lines sessions print, as the printer thread receives it,
//! and its `--events` form: one JSON object a line, the stable interface README documents.

use std::time::{Duration, Instant, UNIX_EPOCH};

use serde::Serialize;

use crate::results::Counts;
use crate::results::TaskResult;
use crate::util::timestamp;

/// A run's milestones, sent through the printer's channel so that they reach stdout in order
/// with the lines around them. Tasks are indexes into the run's task list.
#[derive(Debug, Clone)]
pub enum Event {
    RunStarted {
        run_id: String,
        tasks_file: String,
        jobs: usize,
        /// Tasks a resume carries over from the run it resumes: finished, not run again.
        carried: Vec<usize>,
    },
    /// An attempt of a task starts: the first when its thread starts, the next on a retry.
    TaskStarted {
        task: usize,
        branch: String,
        worktree: String,
        attempt: u32,
    },
    /// A session's API call was refused or unanswered; `limit` is how many sessions may run at
    /// once after porch reacted.
    RateLimited {
        task: usize,
        status: Option<u16>,
        limit: usize,
    },
    /// A usage window refused `task`'s session: porch starts no session for `wait`, until
    /// `until`, for the window to reset; or, `gave_up`, not at all, since that is longer than
    /// `--max-wait`.
    UsageLimit(UsageLimit),
    TaskFinished {
        task: usize,
        result: Box<TaskResult>,
    },
    RunFinished {
        exit_code: u8,
        summary: Counts,
        results: String,
    },
}

/// What `Event::UsageLimit` tells.
#[derive(Debug, Clone)]
pub struct UsageLimit {
    pub task: usize,
    /// The window: `five_hour`, `seven_day`, …
    pub kind: String,
    /// When it resets, in Unix seconds, as the CLI said.
    pub resets_at: Option<u64>,
    pub wait: Duration,
    pub until: Instant,
    pub gave_up: bool,
}

/// A tool call an agent made: its name and the one argument that says what it does.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolCall {
    pub tool: String,
    pub input: String,
}

/// Which stream of a task a `line` event's text came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream<'a> {
    /// The agent's stdout, rendered from its stream-json.
    Agent,
    Stderr,
    /// porch's own note about the task.
    Porch,
    /// A command porch ran for the task (`setup`, `check`).
    Step(&'a str),
}

impl Stream<'_> {
    fn name(&self) -> &str {
        match self {
            Stream::Agent => "agent",
            Stream::Stderr => "stderr",
            Stream::Porch => "porch",
            Stream::Step(name) => name,
        }
    }
}

/// One event's JSON line, `event` and `time` first, then its own fields.
#[derive(Serialize)]
struct Stamped<'a, T: Serialize> {
    event: &'static str,
    time: &'a str,
    #[serde(flatten)]
    fields: T,
}

fn stamped(event: &'static str, time: &str, fields: impl Serialize) -> String {
    let stamped = Stamped {
        event,
        time,
        fields,
    };
    let mut json = serde_json::to_string(&stamped).expect("events serialise");
    json.push('\n');
    json
}

/// A task's name, or an empty string for an index no task has (never sent by porch).
fn name(names: &[String], task: usize) -> &str {
    names.get(task).map_or("", String::as_str)
}

/// The `--events` line of `event`, at `time` (RFC 3339).
pub fn event_json(event: &Event, names: &[String], time: &str) -> String {
    match event {
        Event::RunStarted {
            run_id,
            tasks_file,
            jobs,
            carried,
        } => {
            let carried = carried.iter().map(|&t| name(names, t)).collect();
            let fields = RunStarted {
                run_id,
                tasks_file,
                tasks: names,
                jobs: *jobs,
                carried,
            };
            stamped("run_started", time, fields)
        }
        Event::TaskStarted {
            task,
            branch,
            worktree,
            attempt,
        } => {
            let task = name(names, *task);
            let fields = TaskStarted {
                task,
                branch,
                worktree,
                attempt: *attempt,
            };
            stamped("task_started", time, fields)
        }
        Event::RateLimited {
            task,
            status,
            limit,
        } => {
            let task = name(names, *task);
            let (status, limit) = (*status, *limit);
            stamped(
                "rate_limited",
                time,
                RateLimited {
                    task,
                    status,
                    limit,
                },
            )
        }
        Event::UsageLimit(limit) => {
            let fields = UsageLimitFields {
                task: name(names, limit.task),
                kind: &limit.kind,
                resets_at: (limit.resets_at)
                    .map(|at| timestamp::rfc3339(UNIX_EPOCH + Duration::from_secs(at))),
                wait_ms: limit.wait.as_millis() as u64,
                gave_up: limit.gave_up,
            };
            stamped("usage_limit", time, fields)
        }
        Event::TaskFinished { task, result } => {
            let task = name(names, *task);
            stamped("task_finished", time, TaskFinished { task, result })
        }
        Event::RunFinished {
            exit_code,
            summary,
            results,
        } => {
            let exit_code = *exit_code;
            let fields = RunFinished {
                exit_code,
                summary,
                results,
            };
            stamped("run_finished", time, fields)
        }
    }
}

// Each event's own fields, in the order its line has them: README's table, field by field.

#[derive(Serialize)]
struct RunStarted<'a> {
    run_id: &'a str,
    tasks_file: &'a str,
    tasks: &'a [String],
    jobs: usize,
    carried: Vec<&'a str>,
}

#[derive(Serialize)]
struct TaskStarted<'a> {
    task: &'a str,
    branch: &'a str,
    worktree: &'a str,
    attempt: u32,
}

#[derive(Serialize)]
struct RateLimited<'a> {
    task: &'a str,
    status: Option<u16>,
    limit: usize,
}

#[derive(Serialize)]
struct UsageLimitFields<'a> {
    task: &'a str,
    #[serde(rename = "type")]
    kind: &'a str,
    resets_at: Option<String>,
    wait_ms: u64,
    gave_up: bool,
}

#[derive(Serialize)]
struct TaskFinished<'a> {
    task: &'a str,
    result: &'a TaskResult,
}

#[derive(Serialize)]
struct RunFinished<'a> {
    exit_code: u8,
    summary: &'a Counts,
    results: &'a str,
}

/// The `--events` line of a line the printer would show, `text` as it would show it.
pub fn line_json(names: &[String], task: usize, stream: Stream, text: &str, time: &str) -> String {
    #[derive(Serialize)]
    struct Fields<'a> {
        task: &'a str,
        stream: &'a str,
        text: &'a str,
    }
    let fields = Fields {
        task: name(names, task),
        stream: stream.name(),
        text,
    };
    stamped("line", time, fields)
}

/// The `--events` line of a tool call.
pub fn tool_call_json(names: &[String], task: usize, call: &ToolCall, time: &str) -> String {
    #[derive(Serialize)]
    struct Fields<'a> {
        task: &'a str,
        tool: &'a str,
        input: &'a str,
    }
    let fields = Fields {
        task: name(names, task),
        tool: &call.tool,
        input: &call.input,
    };
    stamped("tool_call", time, fields)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::Status;

    const TIME: &str = "2026-12-01T20:15:00.000Z";

    fn names() -> Vec<String> {
        vec!["a".into(), "b \"quoted\"".into()]
    }

    /// Every event's exact line: the stable interface, field by field, in this order.
    #[test]
    fn each_event_is_one_line_with_event_time_and_its_fields_in_order() {
        let result = TaskResult::example("a", Status::Succeeded);
        let result_json = serde_json::to_string(&result).unwrap();
        let cases = [
            (
                Event::RunStarted {
                    run_id: "20261201T201500Z-42".into(),
                    tasks_file: "tasks.json".into(),
                    jobs: 2,
                    carried: vec![1],
                },
                format!(
                    r#"{{"event":"run_started","time":"{TIME}","run_id":"20261201T201500Z-42","tasks_file":"tasks.json","tasks":["a","b \"quoted\""],"jobs":2,"carried":["b \"quoted\""]}}"#
                ),
            ),
            (
                Event::TaskStarted {
                    task: 0,
                    branch: "task/a".into(),
                    worktree: "/wt/a".into(),
                    attempt: 2,
                },
                format!(
                    r#"{{"event":"task_started","time":"{TIME}","task":"a","branch":"task/a","worktree":"/wt/a","attempt":2}}"#
                ),
            ),
            (
                Event::RateLimited {
                    task: 1,
                    status: None,
                    limit: 3,
                },
                format!(
                    r#"{{"event":"rate_limited","time":"{TIME}","task":"b \"quoted\"","status":null,"limit":3}}"#
                ),
            ),
            (
                Event::TaskFinished {
                    task: 0,
                    result: Box::new(result),
                },
                format!(
                    r#"{{"event":"task_finished","time":"{TIME}","task":"a","result":{result_json}}}"#
                ),
            ),
            (
                Event::RunFinished {
                    exit_code: 1,
                    summary: Counts {
                        total: 2,
                        succeeded: 1,
                        failed: 1,
                        ..Counts::default()
                    },
                    results: "/wt/.porch/runs/x.json".into(),
                },
                format!(
                    r#"{{"event":"run_finished","time":"{TIME}","exit_code":1,"summary":{{"total":2,"succeeded":1,"failed":1,"timed_out":0,"interrupted":0,"skipped":0,"cost_usd":0.0,"dropped_lines":0}},"results":"/wt/.porch/runs/x.json"}}"#
                ),
            ),
        ];
        for (event, expected) in cases {
            assert_eq!(event_json(&event, &names(), TIME), expected + "\n");
        }
    }

    #[test]
    fn a_usage_limit_names_its_window_its_reset_and_whether_porch_waits() {
        let cases = [
            (
                Event::UsageLimit(UsageLimit {
                    task: 0,
                    kind: "five_hour".into(),
                    resets_at: Some(1_795_634_463),
                    wait: Duration::from_millis(3_120),
                    until: Instant::now(),
                    gave_up: false,
                }),
                format!(
                    r#"{{"event":"usage_limit","time":"{TIME}","task":"a","type":"five_hour","resets_at":"2026-11-25T19:21:03.000Z","wait_ms":3120,"gave_up":false}}"#
                ),
            ),
            (
                Event::UsageLimit(UsageLimit {
                    task: 1,
                    kind: "seven_day".into(),
                    resets_at: None,
                    wait: Duration::from_secs(300),
                    until: Instant::now(),
                    gave_up: true,
                }),
                format!(
                    r#"{{"event":"usage_limit","time":"{TIME}","task":"b \"quoted\"","type":"seven_day","resets_at":null,"wait_ms":300000,"gave_up":true}}"#
                ),
            ),
        ];
        for (event, expected) in cases {
            assert_eq!(event_json(&event, &names(), TIME), expected + "\n");
        }
    }

    #[test]
    fn lines_name_their_stream_and_escape_their_text_as_json() {
        let cases = [
            (Stream::Agent, "agent"),
            (Stream::Stderr, "stderr"),
            (Stream::Porch, "porch"),
            (Stream::Step("setup"), "setup"),
        ];
        for (stream, name) in cases {
            let line = line_json(&names(), 0, stream, "say \"hi\"\\", TIME);
            assert_eq!(
                line,
                format!(
                    r#"{{"event":"line","time":"{TIME}","task":"a","stream":"{name}","text":"say \"hi\"\\"}}"#
                ) + "\n"
            );
        }
        let call = ToolCall {
            tool: "Bash".into(),
            input: "ls\tsrc".into(),
        };
        assert_eq!(
            tool_call_json(&names(), 1, &call, TIME),
            format!(
                r#"{{"event":"tool_call","time":"{TIME}","task":"b \"quoted\"","tool":"Bash","input":"ls\tsrc"}}"#
            ) + "\n"
        );
    }
}
