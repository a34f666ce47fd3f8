//! The environment porch gives a task's setup, session and check: the `PORCH_*` variables that
//! say which task this is and where, a block of ports of its own, and the task's `env`.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::path::Path;

/// Each task gets this many ports, from `--port-base + PORTS_PER_TASK × its index`.
pub const PORTS_PER_TASK: u16 = 10;
pub const DEFAULT_PORT_BASE: u16 = 40_000;
/// Names porch sets itself: a task's `env` may not set them.
pub const RESERVED_PREFIX: &str = "PORCH_";

/// What the `PORCH_*` variables tell one task.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskIdentity<'a> {
    pub name: &'a str,
    /// 0-based, in tasks-file order.
    pub index: usize,
    pub worktree: &'a Path,
    pub branch: &'a str,
    pub base_commit: &'a str,
    pub run_id: &'a str,
    pub port: u16,
    /// A repeated task's name as written, for each of its rivals.
    pub group: Option<&'a str>,
}

/// The first port of task `index`'s block, or `None` when the block would pass 65535.
pub fn first_port(base: u16, index: usize) -> Option<u16> {
    let first = u32::from(base) + u32::from(PORTS_PER_TASK) * u32::try_from(index).ok()?;
    let last = first + u32::from(PORTS_PER_TASK) - 1;
    u16::try_from(last).ok()?;
    u16::try_from(first).ok()
}

/// Whether `tasks` blocks of ports fit from `base`; the error says why not, for `--port-base`.
pub fn check_port_base(base: u16, tasks: usize) -> Result<(), String> {
    if base == 0 {
        return Err("0 is not a port".to_string());
    }
    if tasks > 0 && first_port(base, tasks - 1).is_none() {
        let highest = 65_536 - u32::from(PORTS_PER_TASK) * tasks as u32;
        return Err(format!(
            "{PORTS_PER_TASK} ports for each of {tasks} tasks from {base} go past port 65535; the highest base for them is {highest}"
        ));
    }
    Ok(())
}

/// The `PORCH_*` variables, in a fixed order.
pub fn porch_vars(task: &TaskIdentity) -> Vec<(&'static str, String)> {
    vec![
        ("PORCH_TASK", task.name.to_string()),
        ("PORCH_TASK_INDEX", task.index.to_string()),
        ("PORCH_WORKTREE", task.worktree.display().to_string()),
        ("PORCH_BRANCH", task.branch.to_string()),
        ("PORCH_BASE", task.base_commit.to_string()),
        ("PORCH_RUN_ID", task.run_id.to_string()),
        ("PORCH_PORT", task.port.to_string()),
        // Set, empty, for a task run once, so that a value porch inherited never reaches it.
        ("PORCH_GROUP", task.group.unwrap_or_default().to_string()),
    ]
}

/// Values shorter than this are not hidden in output: "1" or "test" would blank out ordinary
/// text, and no key is that short.
pub const MIN_SECRET_LEN: usize = 6;

/// How a hidden value of the variable `name` is shown: `[env NAME]`.
fn shown_as(name: &str) -> String {
    format!("{HIDDEN_OPENING}{name}]")
}

const HIDDEN_OPENING: &str = "[env ";

/// Hides a task's `env` values in what its setup and session print, before porch shows, logs or
/// records it: the values may be keys, and a tool that echoes its environment must not leak
/// them into the terminal, the log or the results. Only for what is shown: what porch decides
/// (the paths the agent wrote, what it left in the worktree) is read from the real text.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Redactor {
    /// (name, text to hide): each value, and each line of a value of several lines; longest
    /// first, so a value inside another is not half-hidden.
    secrets: Vec<(String, String)>,
}

impl Redactor {
    pub fn new(env: &[(String, String)]) -> Redactor {
        let mut secrets: Vec<(String, String)> = env
            .iter()
            .flat_map(|(name, value)| {
                // Output is read a line at a time: a value of several lines (a PEM key) shows
                // up one line at a time, so each of its lines is hidden on its own too.
                let lines = value.contains('\n').then(|| value.lines().map(str::trim));
                std::iter::once(value.as_str())
                    .chain(lines.into_iter().flatten())
                    .filter(|piece| piece.len() >= MIN_SECRET_LEN)
                    .map(|piece| (name.clone(), piece.to_string()))
                    .collect::<Vec<_>>()
            })
            .collect();
        secrets.sort_by_key(|(_, value)| std::cmp::Reverse(value.len()));
        Redactor { secrets }
    }

    /// `text` with every value replaced by `[env NAME]`, also where JSON spells it with
    /// escapes (`\u00e4`, `\/`, `\n`, a surrogate pair…): claude's stream is JSON, and any
    /// character of a JSON string may be written as an escape.
    pub fn redact<'a>(&self, text: &'a str) -> Cow<'a, str> {
        if self.secrets.is_empty() {
            return Cow::Borrowed(text);
        }
        if text.contains('\\') {
            return self
                .redact_escaped(text)
                .map_or(Cow::Borrowed(text), Cow::Owned);
        }
        let mut text = Cow::Borrowed(text);
        for (name, value) in &self.secrets {
            if text.contains(value.as_str()) {
                text = Cow::Owned(text.replace(value.as_str(), &shown_as(name)));
            }
        }
        text
    }

    /// `text` with each value hidden where it stands as it is or where its escaped spelling
    /// decodes to it, longest first in one pass (a line of a value must not break the value
    /// up before the whole is found); `None` when there is none.
    fn redact_escaped(&self, text: &str) -> Option<String> {
        let decoded = Unescaped::of(text);
        // Where each hidden value starts in `text`: (its end, its name).
        let mut found: BTreeMap<usize, (usize, &str)> = BTreeMap::new();
        for (name, value) in &self.secrets {
            let as_is = text
                .match_indices(value.as_str())
                .map(|(at, _)| (at, at + value.len()));
            let escaped = (!decoded.breaks.is_empty())
                .then(|| decoded.text.match_indices(value.as_str()))
                .into_iter()
                .flatten()
                .map(|(at, _)| (decoded.source(at), decoded.source(at + value.len())));
            for (start, end) in as_is.chain(escaped) {
                let overlaps = found
                    .range(..end)
                    .next_back()
                    .is_some_and(|(_, (before_end, _))| *before_end > start);
                if !overlaps {
                    found.insert(start, (end, name));
                }
            }
        }
        if found.is_empty() {
            return None;
        }
        let mut hidden = String::with_capacity(text.len());
        let mut copied = 0;
        for (start, (end, name)) in found {
            hidden.push_str(&text[copied..start]);
            hidden.push_str(&shown_as(name));
            copied = end;
        }
        hidden.push_str(&text[copied..]);
        Some(hidden)
    }
}

/// A text with its JSON escapes decoded, and where each escape ends in both, to find a
/// position of the decoded text in the original.
struct Unescaped {
    text: String,
    /// (end in `text`, end in the original) of each escape, in order.
    breaks: Vec<(usize, usize)>,
}

impl Unescaped {
    fn of(original: &str) -> Unescaped {
        let mut text = String::with_capacity(original.len());
        let mut breaks = Vec::new();
        let (mut copied, mut from) = (0, 0);
        while let Some(offset) = original[from..].find('\\') {
            let at = from + offset;
            let Some((c, len)) = escape_at(&original[at..]) else {
                from = at + 1;
                continue;
            };
            text.push_str(&original[copied..at]);
            text.push(c);
            (copied, from) = (at + len, at + len);
            breaks.push((text.len(), copied));
        }
        text.push_str(&original[copied..]);
        Unescaped { text, breaks }
    }

    /// Where a character boundary of the decoded text is in the original: between escapes,
    /// both advance together.
    fn source(&self, at: usize) -> usize {
        match self.breaks.partition_point(|&(decoded, _)| decoded <= at) {
            0 => at,
            i => {
                let (decoded, original) = self.breaks[i - 1];
                original + (at - decoded)
            }
        }
    }
}

/// The character a JSON escape at the start of `text` stands for, and the escape's length;
/// `None` when `text` does not start with one.
fn escape_at(text: &str) -> Option<(char, usize)> {
    let c = match text.as_bytes().get(1)? {
        b'"' => '"',
        b'\\' => '\\',
        b'/' => '/',
        b'b' => '\u{8}',
        b'f' => '\u{c}',
        b'n' => '\n',
        b'r' => '\r',
        b't' => '\t',
        b'u' => return unicode_escape(text),
        _ => return None,
    };
    Some((c, 2))
}

/// `\uXXXX`, or a surrogate pair `\uD83D\uDE00` for a character past U+FFFF.
fn unicode_escape(text: &str) -> Option<(char, usize)> {
    let unit = |at: usize| {
        text.get(at..at + 4)
            .filter(|hex| hex.bytes().all(|b| b.is_ascii_hexdigit()))
            .and_then(|hex| u32::from_str_radix(hex, 16).ok())
    };
    let first = unit(2)?;
    if (0xD800..0xDC00).contains(&first) {
        let second = unit(8)
            .filter(|_| text.get(6..8) == Some("\\u"))
            .filter(|low| (0xDC00..0xE000).contains(low))?;
        let c = char::from_u32(0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00))?;
        return Some((c, 12));
    }
    Some((char::from_u32(first)?, 6))
}

/// Why `name` cannot be a variable of a task's `env`.
pub fn check_var_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("is empty".to_string());
    }
    if name.contains(['=', '\0']) {
        return Err("contains '=' or a NUL character".to_string());
    }
    if name.starts_with(RESERVED_PREFIX) {
        return Err(format!(
            "starts with {RESERVED_PREFIX}, which porch sets itself"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_task_gets_a_block_of_ten_ports() {
        // (base, task index, first port of its block)
        let cases = [
            (40_000, 0, Some(40_000)),
            (40_000, 1, Some(40_010)),
            (40_000, 7, Some(40_070)),
            (1024, 3, Some(1054)),
            (65_526, 0, Some(65_526)),
            (65_527, 0, None),
            (65_000, 52, Some(65_520)),
            (65_000, 53, None),
            (40_000, usize::MAX, None),
        ];
        for (base, index, first) in cases {
            assert_eq!(first_port(base, index), first, "base {base}, task {index}");
        }
    }

    #[test]
    fn a_port_base_must_leave_room_for_every_task() {
        assert_eq!(check_port_base(40_000, 16), Ok(()));
        assert_eq!(check_port_base(65_526, 1), Ok(()));
        assert_eq!(check_port_base(1, 0), Ok(()));
        let err = check_port_base(65_000, 60).unwrap_err();
        assert!(
            err.contains("from 65000 go past port 65535; the highest base for them is 64936"),
            "{err}"
        );
        assert_eq!(first_port(64_936, 59), Some(65_526));
        assert!(check_port_base(0, 1).unwrap_err().contains("not a port"));
    }

    #[test]
    fn porch_variables_name_the_task_and_its_place() {
        let task = TaskIdentity {
            name: "fix-login",
            index: 2,
            worktree: Path::new("/w/shop/fix-login"),
            branch: "task/fix-login",
            base_commit: "abc123",
            run_id: "20261201T201500Z-4242",
            port: 40_020,
            group: Some("fix"),
        };
        let once = TaskIdentity {
            group: None,
            ..task.clone()
        };
        assert_eq!(porch_vars(&once)[7], ("PORCH_GROUP", String::new()));
        assert_eq!(
            porch_vars(&task),
            [
                ("PORCH_TASK", "fix-login"),
                ("PORCH_TASK_INDEX", "2"),
                ("PORCH_WORKTREE", "/w/shop/fix-login"),
                ("PORCH_BRANCH", "task/fix-login"),
                ("PORCH_BASE", "abc123"),
                ("PORCH_RUN_ID", "20261201T201500Z-4242"),
                ("PORCH_PORT", "40020"),
                ("PORCH_GROUP", "fix"),
            ]
            .map(|(k, v)| (k, v.to_string()))
        );
    }

    #[test]
    fn env_names_porch_does_not_own() {
        // (name, accepted)
        let cases = [
            ("API_KEY", true),
            ("node_env", true),
            ("X1", true),
            ("", false),
            ("A=B", false),
            ("A\0", false),
            ("PORCH_PORT", false),
            ("PORCH_ANYTHING", false),
        ];
        for (name, ok) in cases {
            assert_eq!(check_var_name(name).is_ok(), ok, "{name:?}");
        }
    }

    #[test]
    fn env_values_are_hidden_in_output() {
        let env = [
            ("API_KEY", "sk-live-123456"),
            ("KEY_PREFIX", "sk-live"),
            ("DEBUG", "1"),
            ("MODE", "test"),
            ("QUOTED", "say\"hi\\x"),
        ]
        .map(|(k, v)| (k.to_string(), v.to_string()));
        let redactor = Redactor::new(&env);
        // (printed, shown)
        let cases = [
            ("nothing secret", "nothing secret"),
            ("key=sk-live-123456.", "key=[env API_KEY]."),
            (
                "sk-live-123456 sk-live-123456",
                "[env API_KEY] [env API_KEY]",
            ),
            ("prefix sk-live only", "prefix [env KEY_PREFIX] only"),
            ("DEBUG=1 MODE=test", "DEBUG=1 MODE=test"),
            (
                r#"{"text":"pw is say\"hi\\x"}"#,
                r#"{"text":"pw is [env QUOTED]"}"#,
            ),
            ("pw is say\"hi\\x", "pw is [env QUOTED]"),
        ];
        for (printed, shown) in cases {
            assert_eq!(redactor.redact(printed), shown, "{printed}");
        }
        assert!(matches!(
            redactor.redact("untouched"),
            std::borrow::Cow::Borrowed(_)
        ));
    }

    fn redactor(env: &[(&str, &str)]) -> Redactor {
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Redactor::new(&env)
    }

    #[test]
    fn a_value_of_several_lines_is_hidden_whole_and_line_by_line() {
        let pem = "-----BEGIN KEY-----\nMIIEvQIBADANBg\r\n  kqhkiG9w0BAQ\nab\n-----END KEY-----";
        let redactor = redactor(&[("PEM", pem)]);
        // (printed, shown)
        let cases = [
            ("MIIEvQIBADANBg", "[env PEM]"),
            ("  kqhkiG9w0BAQ", "  [env PEM]"),
            ("-----BEGIN KEY-----", "[env PEM]"),
            // Shorter than a secret: ordinary text.
            ("ab", "ab"),
            (
                r#"{"content":"-----BEGIN KEY-----\nMIIEvQIBADANBg\r\n  kqhkiG9w0BAQ\nab\n-----END KEY-----"}"#,
                r#"{"content":"[env PEM]"}"#,
            ),
            (
                r#"{"content":"key:\nMIIEvQIBADANBg\r\nkqhkiG9w0BAQ\n"}"#,
                r#"{"content":"key:\n[env PEM]\r\n[env PEM]\n"}"#,
            ),
        ];
        for (printed, shown) in cases {
            assert_eq!(redactor.redact(printed), shown, "{printed}");
        }
        assert_eq!(redactor.redact(pem), "[env PEM]");
    }

    #[test]
    fn every_json_spelling_of_a_value_is_hidden() {
        let redactor = redactor(&[
            ("PASSWORD", "pässwörd-ünï"),
            ("URL", "https://x.io/k"),
            ("EMOJI", "key-😀-42"),
            ("TOKEN", "sk-live-123456"),
        ]);
        // (printed, shown)
        let cases = [
            (
                r#""p\u00e4ssw\u00f6rd-\u00fcn\u00ef""#,
                r#""[env PASSWORD]""#,
            ),
            (
                r#""p\u00E4ssw\u00F6rd-\u00FCn\u00EF""#,
                r#""[env PASSWORD]""#,
            ),
            (r#""pässw\u00f6rd-ünï!""#, r#""[env PASSWORD]!""#),
            (r#""https:\/\/x.io\/k""#, r#""[env URL]""#),
            (r#""key-\ud83d\ude00-42""#, r#""[env EMOJI]""#),
            (r#""key-\uD83D\uDE00-42""#, r#""[env EMOJI]""#),
            (r#""\u0073k-live-123456""#, r#""[env TOKEN]""#),
            (
                r#"{"a":"sk-live-123456","b":"\u0073k-live-123456 and https:\/\/x.io\/k"}"#,
                r#"{"a":"[env TOKEN]","b":"[env TOKEN] and [env URL]"}"#,
            ),
            // Not escapes of the value: an escaped backslash, a lone surrogate, bad hex.
            (
                r#""p\\u00e4ssw\u00f6rd-ünï""#,
                r#""p\\u00e4ssw\u00f6rd-ünï""#,
            ),
            (r#""key-\ud83d-42 \u00zz""#, r#""key-\ud83d-42 \u00zz""#),
            (r"C:\new\path", r"C:\new\path"),
        ];
        for (printed, shown) in cases {
            assert_eq!(redactor.redact(printed), shown, "{printed}");
            if let Ok(before) = serde_json::from_str::<serde_json::Value>(printed) {
                let after: serde_json::Value = serde_json::from_str(shown)
                    .unwrap_or_else(|err| panic!("{shown} is no longer JSON: {err}"));
                assert!(
                    !after.to_string().contains("pässwörd"),
                    "{before} → {after}"
                );
            }
        }
        assert!(matches!(
            redactor.redact(r#""an \u00e4 alone""#),
            std::borrow::Cow::Borrowed(_)
        ));
    }

    #[test]
    fn a_value_inside_another_is_hidden_once_in_the_longer() {
        let redactor = redactor(&[("SHORT", "abcdef"), ("LONG", "xx-abcdef-yy")]);
        assert_eq!(
            redactor.redact(r#""xx-\u0061bcdef-yy, abcdef, \u0061bcdef""#),
            r#""[env LONG], [env SHORT], [env SHORT]""#
        );
    }
}
