//! A task's log read back: which lines were the agent's stdout, its stderr or porch's notes,
//! and its last lines rendered as the screen showed them.

use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use crate::agent;
use crate::agent::SessionLog;
use crate::output::printer::Origin;

/// The log marks what was not the agent's stdout: `[stderr] ` lines and porch's `[porch] ` notes.
pub fn split_origin(line: &str) -> (Origin, &str) {
    if let Some(rest) = line.strip_prefix("[stderr] ") {
        (Origin::Stderr, rest)
    } else if let Some(rest) = line.strip_prefix("[porch] ") {
        (Origin::Porch, rest)
    } else {
        (Origin::Agent, line)
    }
}

/// How much of a log's end `rendered_tail` reads: enough for its lines, bounded for a log of
/// any size.
const TAIL_BYTES: u64 = 256 * 1024;

/// The last `count` lines of a task's log as `porch logs` shows them (without the task's
/// prefix), control characters made visible. Empty when there is no log.
pub fn rendered_tail(log: &Path, worktree: &Path, count: usize) -> Vec<String> {
    let Ok(mut file) = std::fs::File::open(log) else {
        return Vec::new();
    };
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let start = len.saturating_sub(TAIL_BYTES);
    let mut bytes = Vec::new();
    if file.seek(SeekFrom::Start(start)).is_err() || file.read_to_end(&mut bytes).is_err() {
        return Vec::new();
    }
    // Read from the middle of the log, the first line is a part of one: left out.
    let mut lines: Vec<&[u8]> = bytes.split(|&b| b == b'\n').collect();
    if start > 0 {
        lines.remove(0);
    }
    if lines.last().is_some_and(|l| l.is_empty()) {
        lines.pop();
    }
    let mut session = SessionLog::default();
    let mut shown = std::collections::VecDeque::with_capacity(count + 1);
    for line in lines {
        let text = String::from_utf8_lossy(line);
        let (origin, text) = split_origin(&text);
        let rendered = match origin {
            Origin::Agent => agent::observe_line(&mut session, text, worktree)
                .into_iter()
                .map(|r| r.text)
                .collect(),
            _ => vec![text.to_string()],
        };
        let label = match origin {
            Origin::Stderr => "[stderr] ",
            Origin::Porch => "[porch] ",
            _ => "",
        };
        for text in rendered {
            shown.push_back(format!("{label}{}", crate::util::clip::visible(&text)));
            if shown.len() > count {
                shown.pop_front();
            }
        }
    }
    shown.into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_lines_say_where_they_came_from() {
        for (line, origin, text) in [
            ("[stderr] oops", Origin::Stderr, "oops"),
            ("[porch] attempt 2", Origin::Porch, "attempt 2"),
            (
                "{\"type\":\"system\"}",
                Origin::Agent,
                "{\"type\":\"system\"}",
            ),
            ("[stderr]x", Origin::Agent, "[stderr]x"),
        ] {
            assert_eq!(split_origin(line), (origin, text), "{line}");
        }
    }
}
