//! The subscription's usage windows as claude's stream tells them (`rate_limit_event`): a
//! window used up refuses every session until it resets. Only a Claude.ai login gets them; with
//! an API key the CLI never prints one.

use serde_json::Value;

/// What a `rate_limit_event` said about the status of a usage window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UsageStatus {
    Allowed,
    /// Allowed, but most of the window is used (`allowed_warning`).
    Warning,
    /// Used up: every session is refused until the window resets.
    Rejected,
}

/// One `rate_limit_event`'s `rate_limit_info`, as far as porch uses it.
#[derive(Debug, Clone, PartialEq)]
pub struct UsageWindow {
    pub status: UsageStatus,
    /// `rateLimitType`: `five_hour`, `seven_day`, `seven_day_opus`, …; `unknown` when not given.
    pub kind: String,
    /// `resetsAt`: when the window resets, in Unix seconds.
    pub resets_at: Option<u64>,
    /// How much of the window is used, from 0 to 1.
    pub utilization: Option<f64>,
}

/// The window a `rate_limit_event` tells of; `None` when it carries no status porch knows (a
/// new one is kept in the log and otherwise left alone).
pub fn parse(event: &Value) -> Option<UsageWindow> {
    let info = event.get("rate_limit_info")?;
    let status = match info.get("status").and_then(Value::as_str)? {
        "allowed" => UsageStatus::Allowed,
        "allowed_warning" => UsageStatus::Warning,
        "rejected" => UsageStatus::Rejected,
        _ => return None,
    };
    let kind = info
        .get("rateLimitType")
        .and_then(Value::as_str)
        .filter(|kind| !kind.is_empty())
        .unwrap_or("unknown");
    Some(UsageWindow {
        status,
        kind: kind.to_string(),
        resets_at: info.get("resetsAt").and_then(Value::as_u64),
        utilization: (info.get("utilization").and_then(Value::as_f64))
            .filter(|u| u.is_finite() && *u >= 0.0),
    })
}

/// The reset that older CLIs wrote at the end of their result text instead of an event
/// ("Claude AI usage limit reached|1753077600").
pub fn reset_in_text(text: &str) -> Option<u64> {
    let (said, digits) = text.trim_end().rsplit_once('|')?;
    let digits_only = digits.len() >= 9 && digits.bytes().all(|b| b.is_ascii_digit());
    (digits_only && said.to_ascii_lowercase().contains("limit"))
        .then(|| digits.parse().ok())
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rate_limit_event_is_read_as_the_cli_prints_it() {
        let event = |info: &str| {
            serde_json::from_str::<Value>(&format!(
                r#"{{"type":"rate_limit_event","rate_limit_info":{info},"session_id":"s","uuid":"u"}}"#
            ))
            .unwrap()
        };
        let window = |status, kind: &str, resets_at, utilization| UsageWindow {
            status,
            kind: kind.to_string(),
            resets_at,
            utilization,
        };
        let cases = [
            (
                r#"{"status":"rejected","resetsAt":1765000800,"rateLimitType":"five_hour","utilization":1.0,"isUsingOverage":false}"#,
                Some(window(
                    UsageStatus::Rejected,
                    "five_hour",
                    Some(1765000800),
                    Some(1.0),
                )),
            ),
            (
                r#"{"status":"allowed_warning","resetsAt":1765000800,"rateLimitType":"seven_day","utilization":0.93}"#,
                Some(window(
                    UsageStatus::Warning,
                    "seven_day",
                    Some(1765000800),
                    Some(0.93),
                )),
            ),
            (
                r#"{"status":"allowed"}"#,
                Some(window(UsageStatus::Allowed, "unknown", None, None)),
            ),
            // A status porch does not know, or none: left alone.
            (
                r#"{"status":"throttled","rateLimitType":"five_hour"}"#,
                None,
            ),
            (r#"{"rateLimitType":"five_hour"}"#, None),
        ];
        for (info, expected) in cases {
            assert_eq!(parse(&event(info)), expected, "{info}");
        }
        assert_eq!(
            parse(&serde_json::json!({"type": "rate_limit_event"})),
            None
        );
    }

    /// The stream of a session the window refused, as the fixture prints it after the real
    /// CLI's shapes: no line of its own, then the refusal.
    const REFUSED: &str = r#"{"type":"system","subtype":"init","session_id":"s1","model":"m","permissionMode":"acceptEdits"}
{"type":"rate_limit_event","rate_limit_info":{"status":"rejected","resetsAt":1765000800,"rateLimitType":"five_hour","utilization":1.0},"session_id":"s1"}
{"type":"assistant","message":{"model":"<synthetic>","content":[{"type":"text","text":"You've hit your limit · resets 3pm (UTC)"}]},"session_id":"s1","error":"rate_limit"}
{"type":"result","subtype":"success","is_error":true,"api_error_status":429,"num_turns":1,"result":"You've hit your limit · resets 3pm (UTC)","session_id":"s1"}"#;

    fn observe_all(text: &str) -> (crate::agent::SessionLog, Vec<String>) {
        let mut log = crate::agent::SessionLog::default();
        let mut lines = Vec::new();
        for line in text.lines() {
            let rendered = crate::agent::observe_line(&mut log, line, std::path::Path::new("/w"));
            lines.extend(rendered.into_iter().map(|r| r.text));
        }
        (log, lines)
    }

    #[test]
    fn a_refused_session_is_the_windows_not_a_rate_limit() {
        let (mut log, lines) = observe_all(REFUSED);
        let refusal = log.usage_refusal().cloned().expect("refused");
        assert_eq!(refusal.kind, "five_hour");
        assert_eq!(refusal.resets_at, Some(1765000800));
        assert_eq!(log.take_usage(), [refusal]);
        // No `GaveUp` 429: the concurrency limit is not lowered for a usage window.
        assert_eq!(log.take_api_events(), []);
        assert_eq!(
            lines.last().map(String::as_str),
            Some("✗ refused by the usage limit: You've hit your limit · resets 3pm (UTC) (1 turn)")
        );
    }

    #[test]
    fn a_session_that_succeeds_after_a_rejection_or_is_only_warned_was_not_refused() {
        let rejected = REFUSED.lines().nth(1).unwrap();
        let warning = rejected
            .replace(r#""status":"rejected""#, r#""status":"allowed_warning""#)
            .replace("1.0}", "0.93}");
        let success = r#"{"type":"result","subtype":"success","is_error":false,"result":"done","session_id":"s1"}"#;
        for stream in [
            format!("{rejected}\n{success}"),
            format!("{warning}\n{success}"),
            format!("{warning}\n{}", REFUSED.lines().last().unwrap()),
        ] {
            let (log, _) = observe_all(&stream);
            assert_eq!(log.usage_refusal(), None, "{stream}");
        }
        let (mut log, _) = observe_all(&warning);
        let told = log.take_usage();
        assert_eq!(told.len(), 1);
        assert_eq!(told[0].status, UsageStatus::Warning);
        assert_eq!(told[0].utilization, Some(0.93));
    }

    #[test]
    fn an_older_cli_said_it_in_the_result_text_only() {
        let result = r#"{"type":"result","subtype":"success","is_error":true,"result":"Claude AI usage limit reached|1753077600","session_id":"s1"}"#;
        let (mut log, _) = observe_all(result);
        let refusal = log.usage_refusal().cloned().expect("refused");
        assert_eq!(
            (refusal.kind.as_str(), refusal.resets_at),
            ("unknown", Some(1753077600))
        );
        assert_eq!(log.take_usage().len(), 1, "the scheduler hears of it too");
        assert_eq!(log.take_api_events(), []);
    }

    #[test]
    fn an_older_cli_wrote_the_reset_after_a_bar() {
        let cases = [
            ("Claude AI usage limit reached|1753077600", Some(1753077600)),
            (
                "Claude AI usage limit reached|1753077600\n",
                Some(1753077600),
            ),
            ("You've hit your limit · resets 3pm (Europe/Paris)", None),
            ("a|b", None),
            ("exit code|1", None),
            ("a build id|1753077600", None),
        ];
        for (text, reset) in cases {
            assert_eq!(reset_in_text(text), reset, "{text}");
        }
    }
}
