//! The agent: how claude is started, and what its stream-json output means.
//!
//! claude's event stream is parsed leniently: unknown event types and fields are kept in the
//! task's log and skipped on the terminal, since new ones appear with every release.

pub mod log;
pub mod session;
pub mod usage;

use std::borrow::Cow;
use std::collections::BTreeSet;
use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use crate::agent::usage::UsageStatus;
use crate::agent::usage::UsageWindow;
use crate::error::Error;
use crate::output::events::ToolCall;
use crate::output::printer::Tone;
use crate::process::env::REPO_ENV_VARS;
use crate::process::task_env::Redactor;
use crate::sys::spawn::is_executable_file;
use crate::sys::spawn::on_path;
use crate::util::clip;
use crate::util::duration;

/// Removed from the agent's environment: a claude started from inside another Claude Code
/// session (porch run by an agent) may refuse to start when it inherits them.
const NESTED_SESSION_VARS: [&str; 2] = ["CLAUDECODE", "CLAUDE_CODE_ENTRYPOINT"];

/// Set on every agent process and so inherited by all it starts: how porch finds the
/// descendants that left the agent's process group.
pub const SESSION_MARKER_VAR: &str = "PORCH_SESSION";

/// Finds the agent executable: the one given (by `--claude` or `PORCH_CLAUDE`, which `source`
/// names), else `claude` on PATH.
pub fn resolve_program(
    given: Option<(&OsStr, &str)>,
    path_var: Option<&OsStr>,
) -> Result<PathBuf, Error> {
    let (given, source) = match given {
        Some((value, source)) => (value.to_os_string(), source),
        None => (OsString::from("claude"), "the default"),
    };
    let given_path = Path::new(&given);
    let shown = given_path.display();
    if given_path.components().count() > 1 || given_path.is_absolute() {
        return match std::fs::metadata(given_path) {
            Ok(meta) if is_executable_file(&meta) => {
                Ok(std::path::absolute(given_path).unwrap_or_else(|_| given_path.to_path_buf()))
            }
            Ok(meta) if meta.is_file() => Err(Error::setup(
                format!("the agent executable {shown} (from {source}) is not executable"),
                format!(
                    "{}, or point --claude at the claude CLI",
                    crate::util::quote::command(&["chmod", "+x", &given_path.to_string_lossy()])
                ),
            )),
            Ok(_) => Err(Error::setup(
                format!("the agent executable {shown} (from {source}) is not a file"),
                "point --claude or PORCH_CLAUDE at the claude CLI",
            )),
            Err(err) => Err(Error::setup(
                format!("the agent executable {shown} (from {source}) cannot be used: {err}"),
                "point --claude or PORCH_CLAUDE at the claude CLI",
            )),
        };
    }
    // Absolute, since the agent runs in the worktree: a relative PATH entry would not be
    // found from there.
    let found = on_path(&given, path_var)
        .map(|candidate| std::path::absolute(&candidate).unwrap_or(candidate));
    found.ok_or_else(|| {
        Error::setup(
            format!("the agent executable `{shown}` (from {source}) is not on PATH"),
            "install Claude Code (npm install -g @anthropic-ai/claude-code), or name the executable with --claude PATH or PORCH_CLAUDE",
        )
    })
}

/// claude's permission modes, as `--permission-mode` takes them.
pub const PERMISSION_MODES: [&str; 6] = [
    "acceptEdits",
    "auto",
    "bypassPermissions",
    "default",
    "dontAsk",
    "plan",
];

/// The only tools of a session that reads the worktree and answers with an object (`porch
/// plan`, a task's review). claude adds `StructuredOutput` itself for `--json-schema`.
pub const READ_ONLY_TOOLS: [&str; 3] = ["Read", "Grep", "Glob"];
/// Their permission mode. Not `plan`: that mode makes claude tell the model to write a plan
/// file, launch agents and end with ExitPlanMode, none of which it has here. In `dontAsk` a
/// tool call that would need asking is denied, reads outside the worktree included, and with
/// only `READ_ONLY_TOOLS` nothing can write.
pub const READ_ONLY_PERMISSION_MODE: &str = "dontAsk";

/// claude's arguments for a session that only reads the worktree and answers with an object
/// held to `schema` (`--json-schema`): `settings` with the tools and permission mode above.
pub fn answering_arguments(schema: &Value, settings: Settings) -> Vec<String> {
    let mut args: Vec<String> = vec!["--tools".to_string()];
    args.extend(READ_ONLY_TOOLS.map(String::from));
    args.extend(["--json-schema".to_string(), schema.to_string()]);
    args.extend(settings.args.iter().cloned());
    arguments(&Settings {
        permission_mode: READ_ONLY_PERMISSION_MODE.to_string(),
        args,
        ..settings
    })
}

/// One session's claude settings: the run's, with the task's own laid over them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Settings {
    pub permission_mode: String,
    pub model: Option<String>,
    pub max_turns: Option<u64>,
    pub max_budget_usd: Option<f64>,
    pub append_system_prompt: Option<String>,
    pub disallowed_tools: Vec<String>,
    pub allowed_tools: Vec<String>,
    /// Passed through as given, after porch's own.
    pub args: Vec<String>,
    /// `porch resume`: the earlier session to continue (`--resume`).
    pub resume: Option<String>,
}

/// claude's arguments for one session, porch's own in a fixed order, then the task's `args`.
/// The prompt goes on stdin, never on the command line: it may be larger than an argument can
/// be, and `ps` would show it. The tool lists take every value up to the next option, so they
/// come after every option with one value, and `args` (which starts with an option) after them.
pub fn arguments(settings: &Settings) -> Vec<String> {
    let mut args: Vec<String> = [
        "-p",
        "--output-format",
        "stream-json",
        "--verbose",
        "--permission-mode",
    ]
    .map(String::from)
    .into();
    args.push(settings.permission_mode.clone());
    let mut option = |name: &str, value: Option<String>| {
        if let Some(value) = value {
            args.extend([name.to_string(), value]);
        }
    };
    option("--resume", settings.resume.clone());
    option("--model", settings.model.clone());
    option("--max-turns", settings.max_turns.map(|n| n.to_string()));
    option(
        "--max-budget-usd",
        settings.max_budget_usd.map(|x| x.to_string()),
    );
    option(
        "--append-system-prompt",
        settings.append_system_prompt.clone(),
    );
    for (name, tools) in [
        ("--disallowedTools", &settings.disallowed_tools),
        ("--allowedTools", &settings.allowed_tools),
    ] {
        if !tools.is_empty() {
            args.push(name.to_string());
            args.extend(tools.iter().cloned());
        }
    }
    args.extend(settings.args.iter().cloned());
    args
}

/// claude's options porch sets itself, in every spelling the CLI takes (2.1.197: commander
/// takes `--allowedTools` and `--allowed-tools` alike, and `--opt=value` for `--opt value`), and
/// what to do instead. A task's `args` may give none of them: claude would get the option
/// twice, and which one counts is the CLI's business, not the user's.
const OWNED_OPTIONS: [(&[&str], &str); 12] = [
    (&["-p", "--print"], "porch always runs claude headless"),
    (&["--output-format"], "porch reads stream-json"),
    (&["--input-format"], "porch sends the prompt as text"),
    (
        &["--verbose"],
        "porch always gives it (stream-json needs it)",
    ),
    (
        &["--permission-mode", "--dangerously-skip-permissions"],
        "use the field `permission_mode` (e.g. \"bypassPermissions\") or porch's --permission-mode",
    ),
    (&["--model"], "use the field `model`"),
    (&["--max-turns"], "use the field `max_turns`"),
    (
        &["--max-budget-usd"],
        "use the field `max_budget_usd` or porch's --max-cost-usd",
    ),
    (
        &["--append-system-prompt"],
        "use the field `append_system_prompt`",
    ),
    (
        &["--allowedTools", "--allowed-tools"],
        "use the field `allowed_tools`",
    ),
    (
        &["--disallowedTools", "--disallowed-tools"],
        "use the field `disallowed_tools`",
    ),
    (
        &["-r", "--resume", "-c", "--continue"],
        "porch starts each task's session afresh, and `porch resume` continues it",
    ),
];

/// Why `arg`, an entry of a task's `args`, is porch's to give, or `None` when it is not: an
/// owned option as written, `--opt=value`, or a short one with its value or further flags
/// attached (`-rID`, `-pc`).
pub fn owned_option(arg: &str) -> Option<&'static str> {
    let name = match arg.strip_prefix("--") {
        Some(long) => &arg[..2 + long.find('=').unwrap_or(long.len())],
        // A value that merely starts with a dash ("-p is for print") is no option cluster.
        None if arg.starts_with('-') && !arg.contains(char::is_whitespace) => {
            arg.get(..2).unwrap_or(arg)
        }
        None => return None,
    };
    OWNED_OPTIONS
        .iter()
        .find(|(spellings, _)| spellings.contains(&name))
        .map(|(_, instead)| *instead)
}

/// The command for one session: `args` from `arguments`, the task's environment `env`, and the
/// session marker every process it starts inherits.
pub fn command(
    program: &Path,
    args: &[String],
    worktree: &Path,
    marker: &str,
    env: &[(String, String)],
) -> Command {
    let mut cmd = Command::new(program);
    cmd.args(args);
    cmd.current_dir(worktree);
    for var in NESTED_SESSION_VARS.iter().chain(REPO_ENV_VARS.iter()) {
        cmd.env_remove(var);
    }
    cmd.envs(env.iter().map(|(k, v)| (k, v)));
    cmd.env(SESSION_MARKER_VAR, marker);
    cmd
}

/// What the stream told about the session, gathered as lines arrive.
#[derive(Debug, Default, Clone)]
pub struct SessionLog {
    pub session_id: Option<String>,
    pub result: Option<ResultEvent>,
    /// What the session said about the API since the reader last took them (`take_api_events`).
    pub api_events: Vec<ApiEvent>,
    /// The API has answered since the start or since the last `api_retry`.
    answered: bool,
    /// The paths the file tools (Write, Edit, MultiEdit, NotebookEdit) were called on, as
    /// claude gave them: what porch knows for certain the agent meant to write.
    pub written: BTreeSet<String>,
    /// The API has answered at least once.
    ever_answered: bool,
    /// The wait the CLI announced in its last `api_retry`: a floor for porch's own retry.
    pub last_retry_delay: Option<Duration>,
    /// What the stream said about usage windows since the reader last took it (`take_usage`).
    pub usage: Vec<UsageWindow>,
    /// The usage window that refused the session (`rejected`), unless a later event allowed it.
    refused_by: Option<UsageWindow>,
}

impl SessionLog {
    pub fn take_api_events(&mut self) -> Vec<ApiEvent> {
        std::mem::take(&mut self.api_events)
    }

    pub fn take_usage(&mut self) -> Vec<UsageWindow> {
        std::mem::take(&mut self.usage)
    }

    /// The usage window that ended the session: it said `rejected`, and the session did not
    /// succeed after it.
    pub fn usage_refusal(&self) -> Option<&UsageWindow> {
        let ended_well = self.result.as_ref().is_some_and(|r| !r.is_error);
        self.refused_by.as_ref().filter(|_| !ended_well)
    }

    pub fn ever_answered(&self) -> bool {
        self.ever_answered
    }
}

/// What a session's stream tells about the API, as it happens: how porch sees a rate limit
/// minutes before the CLI gives up.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ApiEvent {
    /// The API answered: the first assistant event since the start or the last retry.
    Answered,
    /// claude waits to retry a request (`api_retry`): the HTTP status (`None`: the API was
    /// unreachable) and the wait it announced.
    Retrying {
        status: Option<u16>,
        delay: Option<Duration>,
    },
    /// claude gave up: its result is an API error with this status (`None`: unreachable).
    GaveUp { status: Option<u16> },
}

impl ApiEvent {
    /// A rate limit: status 429 (rate limited), 529 (overloaded) or none (unreachable).
    pub fn is_rate_limit(&self) -> bool {
        match self {
            ApiEvent::Answered => false,
            ApiEvent::Retrying { status, .. } | ApiEvent::GaveUp { status } => {
                matches!(status, None | Some(429 | 529))
            }
        }
    }

    pub fn status(&self) -> Option<u16> {
        match self {
            ApiEvent::Answered => None,
            ApiEvent::Retrying { status, .. } | ApiEvent::GaveUp { status } => *status,
        }
    }
}

/// The final `result` event. Success is judged on `is_error` and the exit code, never on
/// `subtype`: API errors arrive as `subtype: "success"` with `is_error: true`.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct ResultEvent {
    pub is_error: bool,
    pub subtype: Option<String>,
    pub result: Option<String>,
    pub errors: Vec<String>,
    pub num_turns: Option<u64>,
    pub total_cost_usd: Option<f64>,
    pub duration_ms: Option<u64>,
    pub permission_denials: u64,
    pub api_error_status: Option<u64>,
    /// With `--json-schema`: the object the model gave the `StructuredOutput` tool, as the CLI
    /// validated it against the schema.
    pub structured_output: Option<Value>,
}

impl ResultEvent {
    fn from_json(event: &Value) -> ResultEvent {
        ResultEvent {
            is_error: event
                .get("is_error")
                .and_then(Value::as_bool)
                .unwrap_or(true),
            subtype: str_field(event, "subtype").map(String::from),
            result: str_field(event, "result").map(String::from),
            errors: event
                .get("errors")
                .and_then(Value::as_array)
                .map(|list| {
                    list.iter()
                        .map(|e| {
                            e.as_str()
                                .map(String::from)
                                .unwrap_or_else(|| e.to_string())
                        })
                        .collect()
                })
                .unwrap_or_default(),
            num_turns: event.get("num_turns").and_then(Value::as_u64),
            total_cost_usd: event.get("total_cost_usd").and_then(Value::as_f64),
            duration_ms: event.get("duration_ms").and_then(Value::as_u64),
            permission_denials: event
                .get("permission_denials")
                .and_then(Value::as_array)
                .map_or(0, |l| l.len() as u64),
            api_error_status: event.get("api_error_status").and_then(Value::as_u64),
            structured_output: event.get("structured_output").cloned(),
        }
    }

    /// An API error that may pass if the session is started again: rate limits, overload,
    /// server errors, an API that could not be reached. Not: a bad request, a bad key, the
    /// turn or budget limits.
    pub fn is_transient(&self) -> bool {
        if !self.is_error {
            return false;
        }
        if let Some(status) = self.api_error_status {
            return matches!(status, 408 | 409 | 429 | 500..=599);
        }
        let text = self
            .result
            .as_deref()
            .unwrap_or_default()
            .to_ascii_lowercase();
        [
            "unable to connect",
            "connectionrefused",
            "connection refused",
            "overloaded",
            "rate limit",
            "timed out",
            "econnreset",
            "socket hang up",
        ]
        .iter()
        .any(|needle| text.contains(needle))
    }

    /// The API error the session ended with: `Some(status)`, `Some(None)` when the API was
    /// unreachable; `None` for any other outcome.
    pub fn api_failure(&self) -> Option<Option<u16>> {
        if !self.is_error {
            return None;
        }
        match self.api_error_status {
            Some(status) => u16::try_from(status).ok().map(Some),
            None if self.is_transient() => Some(None),
            None => None,
        }
    }

    /// Why the session failed, in claude's words.
    pub fn error_text(&self) -> Option<String> {
        if !self.errors.is_empty() {
            return Some(self.errors.join("; "));
        }
        self.result.clone().filter(|_| self.is_error)
    }
}

fn str_field<'a>(value: &'a Value, key: &str) -> Option<&'a str> {
    value.get(key).and_then(Value::as_str)
}

/// One line for a person to read.
#[derive(Debug, Clone, PartialEq)]
pub struct Rendered {
    pub tone: Tone,
    pub text: String,
    /// The tool call the line shows, when it shows one.
    pub tool: Option<ToolCall>,
}

impl Rendered {
    pub fn new(tone: Tone, text: impl Into<String>) -> Rendered {
        Rendered {
            tone,
            text: text.into(),
            tool: None,
        }
    }

    /// The line with a task's `env` values hidden, and the tool call it shows.
    pub fn hide(&mut self, redactor: &Redactor) {
        if let Cow::Owned(hidden) = redactor.redact(&self.text) {
            self.text = hidden;
        }
        if let Some(call) = &mut self.tool
            && let Cow::Owned(hidden) = redactor.redact(&call.input)
        {
            call.input = hidden;
        }
    }
}

const ARGUMENT_LIMIT: usize = 160;

/// Records what one stdout line says and renders it for the terminal: no lines for the events a
/// person does not need (tool results that went fine, usage updates), several for multi-line text.
pub fn observe_line(log: &mut SessionLog, line: &str, worktree: &Path) -> Vec<Rendered> {
    let trimmed = line.trim_end_matches(['\r', '\n']);
    if !trimmed.trim_start().starts_with('{') {
        return vec![Rendered::new(Tone::Plain, trimmed)];
    }
    // Most lines are assistant and user events: a typed pass that skips what porch does not
    // show is several times faster than building a `Value` of the whole line.
    let head: Event = match serde_json::from_str(trimmed) {
        Ok(head) => head,
        // A field of a type porch does not expect: still an event, and if it is the result,
        // the one that decides the task's outcome.
        Err(_) => match serde_json::from_str::<Value>(trimmed) {
            Ok(event @ Value::Object(_)) => {
                if log.session_id.is_none() {
                    log.session_id = str_field(&event, "session_id").map(String::from);
                }
                if str_field(&event, "type") == Some("result") {
                    return observe_result(log, &event);
                }
                return Vec::new();
            }
            _ => return vec![Rendered::new(Tone::Plain, trimmed)],
        },
    };
    if log.session_id.is_none() {
        log.session_id = head.session_id.as_deref().map(String::from);
    }
    match head.kind.as_deref() {
        Some("system") if head.subtype.as_deref() == Some("init") => {
            let model = head.model.as_deref().unwrap_or("unknown model");
            let mode = head.permission_mode.as_deref().unwrap_or("?");
            // Its own id: a log read back holds the task's sessions and its reviewer's.
            let session = (head.session_id.as_deref())
                .or(log.session_id.as_deref())
                .unwrap_or("?");
            vec![Rendered::new(
                Tone::Dim,
                format!("session {session} started ({model}, {mode})"),
            )]
        }
        Some("system") if head.subtype.as_deref() == Some("api_retry") => {
            match serde_json::from_str::<Value>(trimmed) {
                Ok(event) => observe_api_retry(log, &event),
                Err(_) => Vec::new(),
            }
        }
        Some("assistant") | Some("user") => {
            let synthetic = head
                .message
                .as_ref()
                .is_some_and(|m| m.model.as_deref() == Some(SYNTHETIC_MODEL));
            if head.kind.as_deref() == Some("assistant") && !synthetic && !log.answered {
                log.answered = true;
                log.ever_answered = true;
                log.api_events.push(ApiEvent::Answered);
            }
            let blocks = head.message.map(|m| m.content).unwrap_or_default();
            if head.kind.as_deref() == Some("assistant") {
                record_writes(log, &blocks);
                render_assistant(&blocks, worktree)
            } else {
                render_tool_errors(&blocks)
            }
        }
        Some("result") => match serde_json::from_str::<Value>(trimmed) {
            Ok(event) => observe_result(log, &event),
            Err(_) => Vec::new(),
        },
        Some("rate_limit_event") => {
            if let Ok(event) = serde_json::from_str::<Value>(trimmed) {
                observe_usage(log, &event);
            }
            Vec::new()
        }
        _ => Vec::new(),
    }
}

/// A `rate_limit_event`: recorded for the scheduler, not shown (porch says once for the run
/// what it does about it).
fn observe_usage(log: &mut SessionLog, event: &Value) {
    let Some(window) = usage::parse(event) else {
        return;
    };
    log.refused_by = (window.status == UsageStatus::Rejected).then(|| window.clone());
    log.usage.push(window);
}

/// The model name of the assistant event the CLI makes up for an API error: not an answer.
const SYNTHETIC_MODEL: &str = "<synthetic>";

fn observe_api_retry(log: &mut SessionLog, event: &Value) -> Vec<Rendered> {
    let status = event
        .get("error_status")
        .and_then(Value::as_u64)
        .and_then(|s| u16::try_from(s).ok());
    let delay = event
        .get("retry_delay_ms")
        .and_then(Value::as_f64)
        .filter(|ms| ms.is_finite() && *ms >= 0.0)
        .map(|ms| Duration::from_secs_f64(ms / 1000.0));
    log.answered = false;
    log.last_retry_delay = delay.or(log.last_retry_delay);
    log.api_events.push(ApiEvent::Retrying { status, delay });
    let what = match (status, str_field(event, "error")) {
        (Some(status), Some(error)) => format!("API error {status} ({error})"),
        (Some(status), None) => format!("API error {status}"),
        (None, _) => "the API is unreachable".to_string(),
    };
    let attempt = match (
        event.get("attempt").and_then(Value::as_u64),
        event.get("max_retries").and_then(Value::as_u64),
    ) {
        (Some(attempt), Some(max)) => format!(" {attempt} of {max}"),
        _ => String::new(),
    };
    let wait = delay.map_or(String::new(), |d| format!(" in {}", duration::format(d)));
    vec![Rendered::new(
        Tone::Bad,
        format!("{what}: claude retries{attempt}{wait}"),
    )]
}

fn observe_result(log: &mut SessionLog, event: &Value) -> Vec<Rendered> {
    let result = ResultEvent::from_json(event);
    if let Some(id) = str_field(event, "session_id") {
        log.session_id = Some(id.to_string());
    }
    let text_reset = (result.result.as_deref())
        .filter(|_| result.is_error)
        .and_then(usage::reset_in_text);
    // A usage window that refused the session is no rate limit: the concurrency stays.
    match &mut log.refused_by {
        Some(window) => window.resets_at = window.resets_at.or(text_reset),
        // An older CLI said it only in the result's text.
        None if text_reset.is_some() => {
            let window = UsageWindow {
                status: UsageStatus::Rejected,
                kind: "unknown".to_string(),
                resets_at: text_reset,
                utilization: None,
            };
            log.refused_by = Some(window.clone());
            log.usage.push(window);
        }
        None => {
            if let Some(status) = result.api_failure() {
                log.api_events.push(ApiEvent::GaveUp { status });
            }
        }
    }
    let mut line = render_result(&result);
    if log.refused_by.is_some() && result.is_error {
        // porch starts it again after the reset: not a failure of the task.
        line.text = line
            .text
            .replacen("✗ failed:", "✗ refused by the usage limit:", 1);
    }
    log.result = Some(result);
    vec![line]
}

/// What porch reads of an event; the rest of the line is skipped, not built.
#[derive(Default, serde::Deserialize)]
struct Event<'a> {
    #[serde(rename = "type", borrow, default)]
    kind: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    subtype: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    session_id: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    model: Option<Cow<'a, str>>,
    #[serde(rename = "permissionMode", borrow, default)]
    permission_mode: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    message: Option<Message<'a>>,
}

#[derive(serde::Deserialize)]
struct Message<'a> {
    #[serde(borrow, default)]
    model: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "blocks_or_text")]
    content: Vec<Block<'a>>,
}

/// One content block. Only what porch renders is kept; a tool result's content is kept as a
/// `Value` because it is a string or a list of text parts.
#[derive(Default, serde::Deserialize)]
struct Block<'a> {
    #[serde(rename = "type", borrow, default)]
    kind: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    text: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    name: Option<Cow<'a, str>>,
    #[serde(default)]
    input: Option<Value>,
    #[serde(default)]
    is_error: Option<bool>,
    #[serde(default)]
    content: Option<Value>,
}

/// `content` is a list of blocks, or (in user messages) a plain string, which is skipped. A
/// visitor rather than an untagged enum: serde buffers an untagged enum's input first, which
/// made it the most expensive step of reading a line.
fn blocks_or_text<'de: 'a, 'a, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Vec<Block<'a>>, D::Error> {
    use serde::de::{IgnoredAny, MapAccess, SeqAccess, Visitor};
    struct Blocks<'a>(std::marker::PhantomData<&'a ()>);
    impl<'de: 'a, 'a> Visitor<'de> for Blocks<'a> {
        type Value = Vec<Block<'a>>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a list of content blocks or a string")
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            let mut blocks = Vec::new();
            while let Some(block) = seq.next_element()? {
                blocks.push(block);
            }
            Ok(blocks)
        }
        fn visit_str<E: serde::de::Error>(self, _: &str) -> Result<Self::Value, E> {
            Ok(Vec::new())
        }
        fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
            Ok(Vec::new())
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
            Ok(Vec::new())
        }
    }
    deserializer.deserialize_any(Blocks(std::marker::PhantomData))
}

/// Tools that write the file named in their input, and the keys that name it.
const FILE_WRITING_TOOLS: [(&str, &str); 4] = [
    ("Write", "file_path"),
    ("Edit", "file_path"),
    ("MultiEdit", "file_path"),
    ("NotebookEdit", "notebook_path"),
];

fn record_writes(log: &mut SessionLog, blocks: &[Block]) {
    for block in blocks {
        if block.kind.as_deref() != Some("tool_use") {
            continue;
        }
        let name = block.name.as_deref().unwrap_or_default();
        let path = FILE_WRITING_TOOLS
            .iter()
            .find(|(tool, _)| *tool == name)
            .and_then(|(_, key)| str_field(block.input.as_ref()?, key));
        if let Some(path) = path.filter(|p| !p.is_empty()) {
            log.written.insert(path.to_string());
        }
    }
}

fn render_assistant(blocks: &[Block], worktree: &Path) -> Vec<Rendered> {
    let mut lines = Vec::new();
    for block in blocks {
        match block.kind.as_deref() {
            Some("text") => {
                let text = block.text.as_deref().unwrap_or_default();
                lines.extend(
                    text.lines()
                        .filter(|l| !l.trim().is_empty())
                        .map(|l| Rendered::new(Tone::Plain, l)),
                );
            }
            Some("tool_use") => {
                let name = block.name.as_deref().unwrap_or("tool");
                let input = block.input.as_ref().unwrap_or(&Value::Null);
                let argument = tool_argument(name, input, worktree);
                let text = match &argument {
                    Some(arg) => format!("{name} {arg}"),
                    None => name.to_string(),
                };
                lines.push(Rendered {
                    tool: Some(ToolCall {
                        tool: name.to_string(),
                        input: argument.unwrap_or_default(),
                    }),
                    ..Rendered::new(Tone::Dim, format!("→ {text}"))
                });
            }
            _ => {}
        }
    }
    lines
}

/// The one argument that says what a tool call does: the file for file tools, the command for
/// Bash, the pattern for searches.
fn tool_argument(name: &str, input: &Value, worktree: &Path) -> Option<String> {
    let keys: &[&str] = match name {
        "Write" | "Edit" | "MultiEdit" | "Read" | "NotebookEdit" => &["file_path", "notebook_path"],
        "Bash" => &["command"],
        "Glob" | "Grep" => &["pattern"],
        "WebFetch" => &["url"],
        "WebSearch" => &["query"],
        "Task" | "Agent" => &["description", "prompt"],
        _ => &[],
    };
    let value = keys
        .iter()
        .find_map(|k| str_field(input, k))
        .or_else(|| input.as_object()?.values().find_map(Value::as_str))?;
    let value = if keys.first() == Some(&"file_path") {
        Path::new(value)
            .strip_prefix(worktree)
            .map(|p| p.display().to_string())
            .unwrap_or_else(|_| value.to_string())
    } else {
        value.to_string()
    };
    Some(clip::first_line(&value, ARGUMENT_LIMIT))
}

fn render_tool_errors(blocks: &[Block]) -> Vec<Rendered> {
    blocks
        .iter()
        .filter(|b| b.kind.as_deref() == Some("tool_result") && b.is_error == Some(true))
        .map(|b| {
            let content = match &b.content {
                Some(Value::String(s)) => s.clone(),
                Some(Value::Array(parts)) => parts
                    .iter()
                    .filter_map(|p| str_field(p, "text"))
                    .collect::<Vec<_>>()
                    .join(" "),
                _ => String::new(),
            };
            Rendered::new(
                Tone::Bad,
                format!(
                    "✗ tool error: {}",
                    clip::first_line(&content, ARGUMENT_LIMIT)
                ),
            )
        })
        .collect()
}

fn render_result(result: &ResultEvent) -> Rendered {
    let mut facts = Vec::new();
    if let Some(ms) = result.duration_ms {
        facts.push(duration::short_ms(ms));
    }
    if let Some(turns) = result.num_turns {
        facts.push(format!("{turns} turn{}", if turns == 1 { "" } else { "s" }));
    }
    if let Some(cost) = result.total_cost_usd {
        facts.push(format!("${cost:.4}"));
    }
    if result.permission_denials > 0 {
        facts.push(format!(
            "{} permission denial{}",
            result.permission_denials,
            if result.permission_denials == 1 {
                ""
            } else {
                "s"
            }
        ));
    }
    let facts = facts.join(", ");
    if result.is_error {
        let why = result
            .error_text()
            .unwrap_or_else(|| result.subtype.clone().unwrap_or_default());
        Rendered::new(
            Tone::Bad,
            format!("✗ failed: {} ({facts})", clip::shorten(&why, 300)),
        )
    } else {
        Rendered::new(Tone::Good, format!("✓ finished ({facts})"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_hold_porchs_options_then_the_tasks_settings_then_args() {
        let plain = Settings {
            permission_mode: "acceptEdits".into(),
            ..Settings::default()
        };
        let head = "-p --output-format stream-json --verbose --permission-mode";
        // (settings, the arguments after `head`)
        let cases = [
            (plain.clone(), "acceptEdits"),
            (
                Settings {
                    allowed_tools: vec!["Read".into(), "Bash(git diff:*)".into()],
                    ..plain.clone()
                },
                "acceptEdits --allowedTools Read Bash(git diff:*)",
            ),
            (
                Settings {
                    permission_mode: "plan".into(),
                    model: Some("opus".into()),
                    max_turns: Some(12),
                    max_budget_usd: Some(2.5),
                    append_system_prompt: Some("Be brief.".into()),
                    ..plain.clone()
                },
                "plan --model opus --max-turns 12 --max-budget-usd 2.5 --append-system-prompt Be brief.",
            ),
            (
                Settings {
                    max_budget_usd: Some(3.0),
                    ..plain.clone()
                },
                "acceptEdits --max-budget-usd 3",
            ),
            (
                Settings {
                    disallowed_tools: vec!["Bash".into()],
                    allowed_tools: vec!["Read".into()],
                    args: vec!["--add-dir".into(), "../lib".into()],
                    ..plain.clone()
                },
                "acceptEdits --disallowedTools Bash --allowedTools Read --add-dir ../lib",
            ),
        ];
        for (settings, tail) in cases {
            assert_eq!(arguments(&settings).join(" "), format!("{head} {tail}"));
        }
        let spaced = Settings {
            append_system_prompt: Some("two words".into()),
            ..plain
        };
        assert_eq!(
            arguments(&spaced).last().map(String::as_str),
            Some("two words"),
            "a value with spaces stays one argument"
        );
    }

    #[test]
    fn every_option_porch_gives_is_refused_in_args_in_every_spelling() {
        let everything = Settings {
            permission_mode: "plan".into(),
            model: Some("opus".into()),
            max_turns: Some(3),
            max_budget_usd: Some(1.0),
            append_system_prompt: Some("x".into()),
            disallowed_tools: vec!["Bash".into()],
            allowed_tools: vec!["Read".into()],
            args: Vec::new(),
            resume: Some("s-1".into()),
        };
        for given in arguments(&everything).iter().filter(|a| a.starts_with('-')) {
            assert!(owned_option(given).is_some(), "{given}");
            assert!(owned_option(&format!("{given}=x")).is_some(), "{given}=x");
        }
        // (an entry of args, refused, the rule)
        let cases = [
            ("--allowed-tools", true, "the CLI's kebab-case spelling"),
            ("--disallowed-tools=Bash", true, "with its value attached"),
            ("--print", true, "-p's long name"),
            ("-rabc", true, "a short option with its value attached"),
            ("-pc", true, "short flags run together"),
            ("--continue", true, "another session than porch's"),
            (
                "--dangerously-skip-permissions",
                true,
                "a permission mode by another name",
            ),
            ("--add-dir", false, "an option porch leaves to the task"),
            ("--add-dir=../lib", false, "in either form"),
            ("--models", false, "a longer name is another option"),
            ("-p is for print", false, "a value that starts with a dash"),
            ("../lib", false, "a value"),
        ];
        for (arg, refused, rule) in cases {
            assert_eq!(owned_option(arg).is_some(), refused, "{arg}: {rule}");
        }
    }

    /// What the real claude 2.1.197 printed, recorded (see fixtures/claude-samples/README.md).
    const SAMPLES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/claude-samples");

    fn observe_all(text: &str) -> (SessionLog, Vec<Rendered>) {
        let mut log = SessionLog::default();
        let mut lines = Vec::new();
        for line in text.lines() {
            lines.extend(observe_line(
                &mut log,
                line,
                Path::new("/home/dev/work/r-stream"),
            ));
        }
        (log, lines)
    }

    #[test]
    fn renders_the_real_stream() {
        let text = r#"{"type":"system","subtype":"init","session_id":"s1","model":"m","permissionMode":"acceptEdits"}
{"type":"assistant","message":{"content":[{"type":"text","text":"I'll do it.\n\nNow."}]},"session_id":"s1"}
{"type":"assistant","message":{"content":[{"type":"tool_use","name":"Write","input":{"file_path":"/home/dev/work/r-stream/src/a.rs","content":"x"}}]},"session_id":"s1"}
{"type":"assistant","message":{"content":[{"type":"tool_use","name":"Bash","input":{"command":"cargo test\necho hi","description":"d"}}]},"session_id":"s1"}
{"type":"user","message":{"content":[{"type":"tool_result","content":"Exit code 137","is_error":true}]},"session_id":"s1"}
{"type":"rate_limit_event","session_id":"s1"}
not json at all
{"type":"result","subtype":"success","is_error":false,"num_turns":2,"total_cost_usd":0.0342,"duration_ms":1500,"result":"done","session_id":"s1","permission_denials":[]}"#;
        let (log, lines) = observe_all(text);
        let texts: Vec<&str> = lines.iter().map(|l| l.text.as_str()).collect();
        assert_eq!(
            texts,
            [
                "session s1 started (m, acceptEdits)",
                "I'll do it.",
                "Now.",
                "→ Write src/a.rs",
                "→ Bash cargo test…",
                "✗ tool error: Exit code 137",
                "not json at all",
                "✓ finished (1.5s, 2 turns, $0.0342)",
            ]
        );
        assert_eq!(log.session_id.as_deref(), Some("s1"));
        let result = log.result.unwrap();
        assert!(!result.is_error);
        assert_eq!(result.num_turns, Some(2));
    }

    /// A tool call → the path it records as written, if any.
    #[test]
    fn the_file_tools_record_the_paths_they_write() {
        let call = |name: &str, input: &str| {
            format!(
                r#"{{"type":"assistant","message":{{"content":[{{"type":"tool_use","name":"{name}","input":{input}}}]}}}}"#
            )
        };
        let rows = [
            (call("Write", r#"{"file_path":"/w/a.txt","content":"x"}"#), Some("/w/a.txt")),
            (call("Edit", r#"{"file_path":"/w/b.rs","old_string":"a","new_string":"b"}"#), Some("/w/b.rs")),
            (call("MultiEdit", r#"{"file_path":"c.md","edits":[]}"#), Some("c.md")),
            (call("NotebookEdit", r#"{"notebook_path":"/w/n.ipynb","new_source":""}"#), Some("/w/n.ipynb")),
            // Reading, running and searching write nothing porch can name.
            (call("Read", r#"{"file_path":"/w/r.txt"}"#), None),
            (call("Bash", r#"{"command":"echo > /w/s.txt"}"#), None),
            (call("Write", r#"{"file_path":""}"#), None),
            (call("Write", r#"{"file_path":7}"#), None),
            (call("Write", r#"{}"#), None),
            // A tool result names the file too, but is not a call.
            (
                r#"{"type":"user","message":{"content":[{"type":"tool_result","content":"File created successfully at: /w/u.txt"}]}}"#.to_string(),
                None,
            ),
        ];
        for (line, written) in rows {
            let (log, _) = observe_all(&line);
            let recorded: Vec<&str> = log.written.iter().map(String::as_str).collect();
            assert_eq!(recorded, written.into_iter().collect::<Vec<_>>(), "{line}");
        }
        // Each path once, however often it was written.
        let twice = format!(
            "{}\n{}",
            call("Write", r#"{"file_path":"/w/a.txt"}"#),
            call("Edit", r#"{"file_path":"/w/a.txt"}"#)
        );
        let (log, _) = observe_all(&twice);
        assert_eq!(log.written.len(), 1);
    }

    #[test]
    fn a_result_with_fields_of_unexpected_types_is_still_the_result() {
        for odd in [
            r#""model":{"id":"x"}"#,
            r#""message":"hi""#,
            r#""subtype":7"#,
        ] {
            let line = format!(
                r#"{{"type":"result",{odd},"is_error":false,"num_turns":1,"result":"done","session_id":"s"}}"#
            );
            let (log, _) = observe_all(&line);
            let result = log
                .result
                .unwrap_or_else(|| panic!("no result from {line}"));
            assert!(!result.is_error);
            assert_eq!(log.session_id.as_deref(), Some("s"));
        }
    }

    #[test]
    fn error_subtypes_carry_errors_not_result() {
        let path = Path::new(SAMPLES).join("max-turns.json");
        let text =
            std::fs::read_to_string(&path).expect("the recorded samples are in the repository");
        let (log, lines) = observe_all(&text);
        let result = log.result.unwrap();
        assert!(result.is_error);
        assert_eq!(
            result.error_text().as_deref(),
            Some("Reached maximum number of turns (1)")
        );
        assert_eq!(lines[0].tone, Tone::Bad);
    }

    #[test]
    fn every_recorded_sample_parses() {
        let dir = std::fs::read_dir(SAMPLES).expect("the recorded samples are in the repository");
        for entry in dir.flatten() {
            let text = String::from_utf8_lossy(&std::fs::read(entry.path()).unwrap()).into_owned();
            let (log, _) = observe_all(&text);
            if text.contains("\"type\":\"result\"") {
                assert!(log.result.is_some(), "{}", entry.path().display());
            }
        }
    }

    /// `--json-schema`: the object the model gave `StructuredOutput`, in the result; none when
    /// the model never called it.
    #[test]
    fn the_structured_output_is_read_from_the_result() {
        let given = |file: &str| {
            let text = std::fs::read_to_string(Path::new(SAMPLES).join(file)).expect(file);
            let (log, _) = observe_all(&text);
            let result = log.result.expect(file);
            assert!(!result.is_error, "{file}");
            result.structured_output
        };
        let first = serde_json::json!({"tasks": [
            {"name": "add-tests", "prompt": "Add unit tests for the parser"},
            {"name": "docs", "prompt": "Document the parser", "depends_on": ["add-tests"]}
        ]});
        assert_eq!(given("structured-output.jsonl"), Some(first));
        let b = serde_json::json!({"tasks": [{"name": "b", "prompt": "do b"}]});
        assert_eq!(
            given("structured-output-schema-refused.jsonl"),
            Some(b.clone())
        );
        assert_eq!(given("structured-output-resumed.jsonl"), Some(b));
        assert_eq!(given("structured-output-never-called.jsonl"), None);
    }

    #[test]
    fn transient_errors_are_told_apart() {
        let samples = [
            ("api-error-500.json", true),
            ("unreachable.json", true),
            ("api-error-400.json", false),
            ("invalid-key.json", false),
            ("max-turns.json", false),
            ("max-budget-usd.json", false),
            ("json.json", false),
        ];
        for (file, transient) in samples {
            let text = std::fs::read_to_string(Path::new(SAMPLES).join(file)).expect(file);
            let (log, _) = observe_all(&text);
            assert_eq!(log.result.unwrap().is_transient(), transient, "{file}");
        }
    }

    /// API status, or claude's words when it gives none → worth another attempt.
    #[test]
    fn transient_errors_are_the_ones_that_may_pass() {
        let status = |code| ResultEvent {
            is_error: true,
            api_error_status: Some(code),
            result: Some(format!("API Error: {code}")),
            ..ResultEvent::default()
        };
        let said = |text: &str| ResultEvent {
            is_error: true,
            result: Some(text.to_string()),
            ..ResultEvent::default()
        };
        let rows = [
            // Rate limits, overload, server errors, timeouts, conflicts: try again.
            (status(429), true),
            (status(529), true),
            (status(500), true),
            (status(502), true),
            (status(503), true),
            (status(408), true),
            (status(409), true),
            // The request, the key, the permissions: the same again fails the same way.
            (status(400), false),
            (status(401), false),
            (status(403), false),
            (status(404), false),
            (status(413), false),
            // No status: claude's words decide.
            (
                said("API Error: Unable to connect to API (ConnectionRefused)"),
                true,
            ),
            (said("API Error: Connection refused"), true),
            (said("Overloaded"), true),
            (said("Rate limit reached"), true),
            (said("Request timed out."), true),
            (said("read ECONNRESET"), true),
            (said("socket hang up"), true),
            (said("Invalid API key · Please run /login"), false),
            (said("Reached maximum number of turns (1)"), false),
            (said("Exceeded USD budget (0.01)"), false),
            (
                ResultEvent {
                    is_error: true,
                    ..ResultEvent::default()
                },
                false,
            ),
            // The status decides over the words.
            (
                ResultEvent {
                    result: Some("overloaded".into()),
                    ..status(400)
                },
                false,
            ),
            // Not an error at all, whatever it says.
            (
                ResultEvent {
                    is_error: false,
                    ..status(529)
                },
                false,
            ),
            (
                ResultEvent {
                    is_error: false,
                    ..said("rate limit")
                },
                false,
            ),
        ];
        for (event, transient) in rows {
            assert_eq!(event.is_transient(), transient, "{event:?}");
        }
    }

    #[test]
    fn api_retries_and_the_result_they_end_in_are_api_events() {
        // (sample recorded from the real CLI, what porch learns from it)
        let retrying = |status, ms: u64| ApiEvent::Retrying {
            status: Some(status),
            delay: Some(Duration::from_millis(ms)),
        };
        let cases = [
            (
                "api-retry-429.jsonl",
                vec![
                    retrying(429, 517),
                    retrying(429, 1168),
                    ApiEvent::GaveUp { status: Some(429) },
                ],
            ),
            (
                "api-retry-529.jsonl",
                vec![retrying(529, 592), ApiEvent::GaveUp { status: Some(529) }],
            ),
            ("unreachable.json", vec![ApiEvent::GaveUp { status: None }]),
            (
                "api-error-400.json",
                vec![ApiEvent::GaveUp { status: Some(400) }],
            ),
            ("max-turns.json", vec![]),
        ];
        for (file, expected) in cases {
            let text = std::fs::read_to_string(Path::new(SAMPLES).join(file)).expect(file);
            let (log, _) = observe_all(&text);
            // Delays to the millisecond: the samples say 517.4697… ms.
            let events: Vec<ApiEvent> = log
                .api_events
                .iter()
                .map(|e| match *e {
                    ApiEvent::Retrying { status, delay } => ApiEvent::Retrying {
                        status,
                        delay: delay.map(|d| Duration::from_millis(d.as_millis() as u64)),
                    },
                    other => other,
                })
                .collect();
            assert_eq!(events, expected, "{file}");
        }
    }

    #[test]
    fn an_api_retry_is_shown() {
        let text = std::fs::read_to_string(Path::new(SAMPLES).join("api-retry-429.jsonl")).unwrap();
        let (_, lines) = observe_all(&text);
        assert_eq!(
            (lines[1].tone, lines[1].text.as_str()),
            (
                Tone::Bad,
                "API error 429 (rate_limit): claude retries 1 of 2 in 517ms"
            )
        );
        let unreachable = r#"{"type":"system","subtype":"api_retry","attempt":3,"max_retries":10,"retry_delay_ms":2100,"error_status":null,"error":"unknown","session_id":"s"}"#;
        let (_, lines) = observe_all(unreachable);
        assert_eq!(
            lines[0].text,
            "the API is unreachable: claude retries 3 of 10 in 2s"
        );
    }

    #[test]
    fn the_api_answered_once_per_start_and_once_after_each_retry() {
        let answer = r#"{"type":"assistant","message":{"model":"claude-opus-4-8","content":[{"type":"text","text":"hi"}]},"session_id":"s"}"#;
        let synthetic = r#"{"type":"assistant","message":{"model":"<synthetic>","content":[{"type":"text","text":"API Error: 429"}]},"session_id":"s"}"#;
        let retry = r#"{"type":"system","subtype":"api_retry","attempt":1,"max_retries":10,"retry_delay_ms":500,"error_status":429,"error":"rate_limit","session_id":"s"}"#;
        let stream = [answer, answer, retry, synthetic, answer, answer].join("\n");
        let (log, _) = observe_all(&stream);
        let retried = ApiEvent::Retrying {
            status: Some(429),
            delay: Some(Duration::from_millis(500)),
        };
        assert_eq!(
            log.api_events,
            [ApiEvent::Answered, retried, ApiEvent::Answered]
        );
    }

    #[test]
    fn rate_limits_are_429_529_and_unreachable() {
        let cases = [
            (Some(429), true),
            (Some(529), true),
            (None, true),
            (Some(500), false),
            (Some(400), false),
        ];
        for (status, rate_limit) in cases {
            let retrying = ApiEvent::Retrying {
                status,
                delay: None,
            };
            assert_eq!(retrying.is_rate_limit(), rate_limit, "{status:?}");
            assert_eq!(ApiEvent::GaveUp { status }.is_rate_limit(), rate_limit);
        }
        assert!(!ApiEvent::Answered.is_rate_limit());
    }

    #[test]
    fn resolves_the_agent() {
        let given = (OsStr::new("/nonexistent/claude"), "PORCH_CLAUDE");
        let err = resolve_program(Some(given), None).unwrap_err();
        assert!(
            err.to_string()
                .contains("/nonexistent/claude (from PORCH_CLAUDE)")
        );
        let err = resolve_program(None, Some(OsStr::new("/nonexistent"))).unwrap_err();
        assert!(err.to_string().contains("not on PATH"));
        let given = (OsStr::new("sh"), "--claude");
        let sh = resolve_program(Some(given), std::env::var_os("PATH").as_deref()).unwrap();
        assert!(sh.is_absolute());
    }
}
