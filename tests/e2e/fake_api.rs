//! A scripted Anthropic Messages API on 127.0.0.1, std only, for the real claude CLI to talk to.
//!
//! The script is in the task's prompt, one directive a line, each answering one request:
//!
//!   STEP write NAME TEXT   a Write tool call creating NAME (in the session's working directory)
//!   STEP bash COMMAND      a Bash tool call
//!   STEP read NAME         a Read tool call on NAME (in the session's working directory)
//!   STEP structured JSON   a StructuredOutput tool call (`--json-schema`) with JSON as its input
//!   FAIL CODE              an HTTP error with status CODE instead of an answer
//!   SLEEP SECONDS          wait that long before the next answer (not itself an answer)
//!   REPLY TEXT             the final answer's text [default: done]
//!
//! Request k of a session (k = the number of assistant turns already in it) gets directive k;
//! once they are used up, the final text answer ends the session.
//!
//! A prompt of `porch merge --resolve` (it holds `RESOLVER_OPENING`) is answered as a model
//! resolving conflicts would: for each file it lists, a Read tool call, then a Write tool call
//! with what the Read returned, both sides' lines kept and the conflict markers dropped; then
//! the final text. Its quoted task prompts (`> STEP …`) are not directives.
//!
//! `FakeApi::serving_at_most(K)` is an API that rate-limits: it answers at most K of the
//! sessions' requests at once (a `SLEEP` before an answer holds the request's place) and
//! refuses the others with 429 `rate_limit_error` and `retry-after: 1`, as the real API does.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};

#[derive(Debug, Clone)]
pub struct Seen {
    pub prompt: String,
    pub step: usize,
    /// The names of the tools the request offered the model.
    pub tools: Vec<String>,
    /// The text of the request's last message, tool results included: what the model answers.
    pub latest: String,
    /// The system prompt's text.
    pub system: String,
}

impl Seen {
    /// The tools the request offered, sorted by name.
    pub fn sorted_tools(&self) -> Vec<String> {
        let mut tools = self.tools.clone();
        tools.sort();
        tools
    }
}

pub struct FakeApi {
    pub port: u16,
    seen: Arc<Mutex<Vec<Seen>>>,
    limiter: Arc<Limiter>,
}

/// How many sessions' requests the API answers at once, and what it answered and refused.
#[derive(Debug, Default)]
struct Limiter {
    /// `None`: no limit.
    at_once: Option<usize>,
    in_flight: AtomicUsize,
    refused: AtomicUsize,
}

/// A request's place among those answered at once, given back when it is dropped.
struct Place<'a>(&'a Limiter);

impl Limiter {
    fn take_place(&self) -> Option<Place<'_>> {
        let Some(at_once) = self.at_once else {
            return Some(Place(self));
        };
        let taken = self
            .in_flight
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                (n < at_once).then_some(n + 1)
            });
        if taken.is_err() {
            self.refused.fetch_add(1, Ordering::SeqCst);
            return None;
        }
        Some(Place(self))
    }
}

impl Drop for Place<'_> {
    fn drop(&mut self) {
        if self.0.at_once.is_some() {
            self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

impl FakeApi {
    pub fn start() -> FakeApi {
        FakeApi::with_limiter(Limiter::default())
    }

    /// An API that answers at most `at_once` sessions' requests at once and refuses the others
    /// with 429 `rate_limit_error` and `retry-after: 1`.
    pub fn serving_at_most(at_once: usize) -> FakeApi {
        FakeApi::with_limiter(Limiter {
            at_once: Some(at_once),
            ..Limiter::default()
        })
    }

    fn with_limiter(limiter: Limiter) -> FakeApi {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
        let port = listener.local_addr().unwrap().port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let limiter = Arc::new(limiter);
        let (shared, limits) = (Arc::clone(&seen), Arc::clone(&limiter));
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (seen, limiter) = (Arc::clone(&shared), Arc::clone(&limits));
                std::thread::spawn(move || {
                    let _ = handle(stream, &seen, &limiter);
                });
            }
        });
        FakeApi {
            port,
            seen,
            limiter,
        }
    }

    /// The sessions' requests refused with a 429 so far.
    pub fn refused(&self) -> usize {
        self.limiter.refused.load(Ordering::SeqCst)
    }

    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Messages requests so far whose prompt contains `needle`.
    pub fn requests_for(&self, needle: &str) -> Vec<Seen> {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .filter(|s| s.prompt.contains(needle))
            .cloned()
            .collect()
    }
}

struct Request {
    method: String,
    path: String,
    body: Vec<u8>,
}

fn read_request(stream: &mut BufReader<TcpStream>) -> std::io::Result<Option<Request>> {
    let mut line = String::new();
    if stream.read_line(&mut line)? == 0 {
        return Ok(None);
    }
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or_default().to_string();
    let path = parts.next().unwrap_or_default().to_string();
    let mut length = 0usize;
    let mut chunked = false;
    loop {
        let mut header = String::new();
        stream.read_line(&mut header)?;
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        let (name, value) = header.split_once(':').unwrap_or((header, ""));
        match name.trim().to_ascii_lowercase().as_str() {
            "content-length" => length = value.trim().parse().unwrap_or(0),
            "transfer-encoding" => chunked = value.to_ascii_lowercase().contains("chunked"),
            _ => {}
        }
    }
    let mut body = Vec::new();
    if chunked {
        loop {
            let mut size_line = String::new();
            stream.read_line(&mut size_line)?;
            let size = usize::from_str_radix(size_line.trim().split(';').next().unwrap_or("0"), 16)
                .unwrap_or(0);
            let mut chunk = vec![0; size + 2];
            stream.read_exact(&mut chunk)?;
            if size == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..size]);
        }
    } else {
        body.resize(length, 0);
        stream.read_exact(&mut body)?;
    }
    Ok(Some(Request { method, path, body }))
}

fn handle(stream: TcpStream, seen: &Mutex<Vec<Seen>>, limiter: &Limiter) -> std::io::Result<()> {
    let mut writer = stream.try_clone()?;
    let mut reader = BufReader::new(stream);
    while let Some(request) = read_request(&mut reader)? {
        if request.method != "POST" || !request.path.starts_with("/v1/messages") {
            let body = if request.method == "HEAD" { "" } else { "{}" };
            write!(
                writer,
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            )?;
            continue;
        }
        let body: Value = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
        // Only the sessions' own requests (they offer tools) count against the limit: the
        // CLI's side requests would otherwise take places at random.
        let offers_tools = body["tools"].as_array().is_some_and(|t| !t.is_empty());
        let _place = match offers_tools.then(|| limiter.take_place()) {
            Some(None) => return refuse(&mut writer),
            place => place,
        };
        answer(&mut writer, &body, seen)?;
        return Ok(());
    }
    Ok(())
}

/// A 429 as the API sends it when the rate limit is reached: retry after a second.
fn refuse(out: &mut TcpStream) -> std::io::Result<()> {
    let body = json!({"type": "error", "error": {"type": "rate_limit_error", "message": "fake server: rate limited, too many requests at once"}}).to_string();
    write!(
        out,
        "HTTP/1.1 429 Too Many Requests\r\nContent-Type: application/json\r\nretry-after: 1\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

fn text_of(content: &Value) -> String {
    match content {
        Value::String(s) => s.clone(),
        Value::Array(blocks) => blocks
            .iter()
            .filter_map(|b| b.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    }
}

/// Every text in a message's content, tool results' included, one a line.
fn all_text(content: &Value) -> String {
    match content {
        Value::String(s) => s.clone(),
        Value::Array(items) => items.iter().map(all_text).collect::<Vec<_>>().join("\n"),
        Value::Object(block) => ["text", "content"]
            .iter()
            .filter_map(|key| block.get(*key))
            .map(all_text)
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    }
}

/// How porch's resolver prompt opens.
const RESOLVER_OPENING: &str = "You are resolving a git merge that stopped on conflicts";

/// The resolver's step `step`: Read the next conflicted file, or Write what the last Read
/// returned, resolved; `None` once every file is written.
fn resolver_action(prompt: &str, step: usize, cwd: &str, latest: &str) -> Option<Action> {
    let files: Vec<&str> = (prompt.lines())
        .skip_while(|line| !line.ends_with("are in these files:"))
        .skip(1)
        .map_while(|line| line.strip_prefix("- "))
        .collect();
    let file = files.get(step / 2)?;
    let path = format!("{cwd}/{file}");
    if step.is_multiple_of(2) {
        return Some(Action::Read(path));
    }
    Some(Action::Write(path, resolved(latest)))
}

/// A Read tool's result (`     1→text` or `     1\ttext` a line) as the file's text, with both
/// sides of each conflict kept and its markers (and a diff3 base section) dropped.
fn resolved(read: &str) -> String {
    let mut text = String::new();
    let mut in_base = false;
    for line in read.lines() {
        let trimmed = line.trim_start();
        let digits = trimmed.len()
            - trimmed
                .trim_start_matches(|c: char| c.is_ascii_digit())
                .len();
        if digits == 0 {
            continue;
        }
        let rest = &trimmed[digits..];
        let Some(content) = rest.strip_prefix('→').or_else(|| rest.strip_prefix('\t')) else {
            continue;
        };
        if content.starts_with("|||||||") {
            in_base = true;
        } else if content == "=======" {
            in_base = false;
        } else if !(content.starts_with("<<<<<<<") || content.starts_with(">>>>>>>") || in_base) {
            text.push_str(content);
            text.push('\n');
        }
    }
    // The Read tool numbers the empty line after the last newline too.
    format!("{}\n", text.trim_end_matches('\n'))
}

enum Action {
    Write(String, String),
    Bash(String),
    Read(String),
    Structured(Value),
    Fail(u16),
}

fn answer(out: &mut TcpStream, body: &Value, seen: &Mutex<Vec<Seen>>) -> std::io::Result<()> {
    let messages = body["messages"].as_array().cloned().unwrap_or_default();
    let prompt = messages
        .first()
        .map(|m| text_of(&m["content"]))
        .unwrap_or_default();
    let step = messages.iter().filter(|m| m["role"] == "assistant").count();
    let has_tools = body["tools"].as_array().is_some_and(|t| !t.is_empty());
    let cwd = text_of(&body["system"])
        .lines()
        .find_map(|l| {
            let at = l.find("orking directory: ")?;
            Some(l[at + "orking directory: ".len()..].trim().to_string())
        })
        .unwrap_or_else(|| "/tmp".to_string());

    let mut actions = Vec::new();
    let mut delays = Vec::new();
    let mut pending_delay = 0.0;
    let mut reply = "done".to_string();
    for line in prompt.lines().map(str::trim) {
        let (word, rest) = line.split_once(' ').unwrap_or((line, ""));
        match word {
            "STEP" => {
                let (kind, arg) = rest.split_once(' ').unwrap_or((rest, ""));
                let action = match kind {
                    "write" => {
                        let (name, text) = arg.split_once(' ').unwrap_or((arg, ""));
                        Action::Write(format!("{cwd}/{name}"), text.to_string())
                    }
                    "read" => Action::Read(format!("{cwd}/{arg}")),
                    "structured" => {
                        Action::Structured(serde_json::from_str(arg).unwrap_or(Value::Null))
                    }
                    _ => Action::Bash(arg.to_string()),
                };
                actions.push(action);
                delays.push(std::mem::take(&mut pending_delay));
            }
            "FAIL" => {
                actions.push(Action::Fail(rest.trim().parse().unwrap_or(400)));
                delays.push(std::mem::take(&mut pending_delay));
            }
            "SLEEP" => pending_delay += rest.trim().parse::<f64>().unwrap_or(0.0),
            "REPLY" => reply = rest.to_string(),
            _ => {}
        }
    }
    if has_tools {
        let tools = body["tools"].as_array().into_iter().flatten();
        seen.lock().unwrap().push(Seen {
            prompt: prompt.clone(),
            step,
            tools: tools
                .filter_map(|t| t["name"].as_str())
                .map(String::from)
                .collect(),
            latest: messages
                .last()
                .map(|m| all_text(&m["content"]))
                .unwrap_or_default(),
            system: text_of(&body["system"]),
        });
    }
    let delay = if step < delays.len() {
        delays[step]
    } else {
        pending_delay
    };
    if has_tools && delay > 0.0 {
        std::thread::sleep(Duration::from_secs_f64(delay));
    }
    let latest = (messages.last())
        .map(|m| all_text(&m["content"]))
        .unwrap_or_default();
    let resolving = (prompt.contains(RESOLVER_OPENING) && has_tools)
        .then(|| resolver_action(&prompt, step, &cwd, &latest))
        .flatten();
    if prompt.contains(RESOLVER_OPENING) {
        reply = "Resolved the conflicts, keeping both sides.".to_string();
    }
    let action = match (&resolving, has_tools) {
        (Some(action), _) => Some(action),
        (None, true) if !prompt.contains(RESOLVER_OPENING) => actions.get(step),
        _ => None,
    };
    if let Some(Action::Fail(code)) = action {
        let body = json!({"type": "error", "error": {"type": "api_error", "message": format!("fake server: scripted failure ({code})")}}).to_string();
        return write!(
            out,
            "HTTP/1.1 {code} Error\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
    }
    let mut blocks = vec![];
    let stop_reason = match action {
        Some(Action::Write(path, text)) => {
            blocks.push(json!({"type": "text", "text": format!("I'll do step {}.", step + 1)}));
            blocks.push(json!({"type": "tool_use", "id": format!("toolu_{step:04}"), "name": "Write", "input": {"file_path": path, "content": text}}));
            "tool_use"
        }
        Some(Action::Bash(command)) => {
            blocks.push(json!({"type": "text", "text": format!("I'll do step {}.", step + 1)}));
            blocks.push(json!({"type": "tool_use", "id": format!("toolu_{step:04}"), "name": "Bash", "input": {"command": command, "description": "scripted command"}}));
            "tool_use"
        }
        Some(Action::Read(path)) => {
            blocks.push(json!({"type": "tool_use", "id": format!("toolu_{step:04}"), "name": "Read", "input": {"file_path": path}}));
            "tool_use"
        }
        Some(Action::Structured(input)) => {
            blocks.push(json!({"type": "tool_use", "id": format!("toolu_{step:04}"), "name": "StructuredOutput", "input": input}));
            "tool_use"
        }
        _ => {
            let text = if has_tools {
                reply.clone()
            } else {
                "ok".to_string()
            };
            blocks.push(json!({"type": "text", "text": text}));
            "end_turn"
        }
    };
    let model = body["model"]
        .as_str()
        .unwrap_or("claude-opus-4-8")
        .to_string();
    let usage = json!({"input_tokens": 3200 + 100 * step, "output_tokens": 30, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0});
    let id = format!("msg_fake_{step}_{}", std::process::id());
    if body["stream"] != true {
        let message = json!({"id": id, "type": "message", "role": "assistant", "model": model, "content": blocks, "stop_reason": stop_reason, "stop_sequence": null, "usage": usage});
        let text = message.to_string();
        return write!(
            out,
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
            text.len()
        );
    }
    write!(
        out,
        "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\nConnection: close\r\n\r\n"
    )?;
    let mut event = |name: &str, data: Value| write!(out, "event: {name}\ndata: {data}\n\n");
    event(
        "message_start",
        json!({"type": "message_start", "message": {"id": id, "type": "message", "role": "assistant", "model": model, "content": [], "stop_reason": null, "stop_sequence": null, "usage": usage}}),
    )?;
    for (index, block) in blocks.iter().enumerate() {
        if block["type"] == "text" {
            event(
                "content_block_start",
                json!({"type": "content_block_start", "index": index, "content_block": {"type": "text", "text": ""}}),
            )?;
            event(
                "content_block_delta",
                json!({"type": "content_block_delta", "index": index, "delta": {"type": "text_delta", "text": block["text"]}}),
            )?;
        } else {
            event(
                "content_block_start",
                json!({"type": "content_block_start", "index": index, "content_block": {"type": "tool_use", "id": block["id"], "name": block["name"], "input": {}}}),
            )?;
            event(
                "content_block_delta",
                json!({"type": "content_block_delta", "index": index, "delta": {"type": "input_json_delta", "partial_json": block["input"].to_string()}}),
            )?;
        }
        event(
            "content_block_stop",
            json!({"type": "content_block_stop", "index": index}),
        )?;
    }
    event(
        "message_delta",
        json!({"type": "message_delta", "delta": {"stop_reason": stop_reason, "stop_sequence": null}, "usage": {"output_tokens": 30}}),
    )?;
    event("message_stop", json!({"type": "message_stop"}))?;
    out.flush()
}
