//! The rules that decide how a task ends: the verdict on a finished session, and whether a
//! failed attempt is tried again. Plain values in, plain values out, so the rules are tested
//! apart from the processes they judge.

use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;
use std::time::Duration;

use crate::agent::ResultEvent;
use crate::agent::session::StopReason;
use crate::agent::session::describe_stop;
use crate::process::groups;
use crate::results::Status;

/// How a session ended, in the task's terms.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionVerdict {
    pub status: Status,
    /// Why the session did not succeed; `None` when it did.
    pub error: Option<String>,
    /// What the person should know although it did not decide the outcome.
    pub warning: Option<String>,
}

/// Succeeded only when claude exited 0 and its result event says `is_error: false`, or when it
/// said so and then hung until porch ended it. Ended by porch for any other reason: timed out or
/// interrupted, whatever claude said before.
pub fn judge_session(
    exit: ExitStatus,
    result: Option<&ResultEvent>,
    stopped: Option<StopReason>,
) -> SessionVerdict {
    let warning = match stopped {
        Some(reason @ StopReason::Interrupted(_)) => {
            return SessionVerdict::ended_by_porch(
                Status::Interrupted,
                format!("interrupted: {}", describe_stop(reason, false)),
            );
        }
        Some(reason @ (StopReason::Timeout(_) | StopReason::Idle(_))) => {
            return SessionVerdict::ended_by_porch(Status::TimedOut, describe_stop(reason, false));
        }
        Some(reason @ StopReason::RateLimited) => {
            return SessionVerdict::ended_by_porch(Status::Failed, describe_stop(reason, false));
        }
        Some(reason @ StopReason::HungAfterResult(_)) => {
            Some(format!("{}; porch ended it", describe_stop(reason, false)))
        }
        None => None,
    };
    let error = result_error(exit, result, stopped.is_some());
    SessionVerdict {
        status: if error.is_none() {
            Status::Succeeded
        } else {
            Status::Failed
        },
        error,
        warning,
    }
}

impl SessionVerdict {
    fn ended_by_porch(status: Status, error: String) -> SessionVerdict {
        SessionVerdict {
            status,
            error: Some(error),
            warning: None,
        }
    }
}

/// What is wrong with a session porch let end by itself (or ended after its result): `None`
/// when nothing is.
fn result_error(
    exit: ExitStatus,
    result: Option<&ResultEvent>,
    ended_by_porch: bool,
) -> Option<String> {
    let exit_text = describe_exit(exit);
    match result {
        Some(event) if !event.is_error && (exit.success() || ended_by_porch) => None,
        Some(event) if event.is_error => {
            let why = event.error_text().unwrap_or_else(|| {
                format!(
                    "claude reported an error ({})",
                    event.subtype.as_deref().unwrap_or("no detail")
                )
            });
            Some(format!("{why} ({exit_text})"))
        }
        Some(_) => Some(format!("claude {exit_text} after reporting success")),
        None => Some(format!(
            "no result event: claude {exit_text} without reporting an outcome"
        )),
    }
}

/// How a process ended, as the end of a sentence about it.
pub fn describe_exit(status: ExitStatus) -> String {
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exited with code {code}"),
        (None, Some(signal)) => format!("was killed by {}", groups::describe_signal(signal)),
        _ => "ended".to_string(),
    }
}

/// Whether a finished attempt is tried again: only a failure claude calls transient (see
/// `ResultEvent::is_transient`), only while `--retries` leaves attempts, and never once porch
/// was told to stop. `attempt` counts from 1; `retries` is how many may follow the first.
pub fn may_retry(
    status: Status,
    transient: bool,
    attempt: u32,
    retries: u32,
    porch_signalled: bool,
) -> bool {
    status == Status::Failed && transient && attempt <= retries && !porch_signalled
}

/// How long to wait before the attempt after `attempt`: `--retry-backoff`, doubled for each
/// attempt already retried, at most 64 times over.
pub fn backoff(base: Duration, attempt: u32) -> Duration {
    base.saturating_mul(1 << attempt.saturating_sub(1).min(6))
}

/// The wait before a retry: `backoff` with jitter (between half of it and all of it, by
/// `random`, a number in [0, 1)), so that sessions that failed together do not retry together;
/// never shorter than the delay the CLI last asked for (`retry_delay_ms`).
pub fn retry_wait(backoff: Duration, random: f64, floor: Option<Duration>) -> Duration {
    let half = backoff / 2;
    let jittered = half + half.mul_f64(random.clamp(0.0, 1.0));
    jittered.max(floor.unwrap_or_default())
}

/// The error of an attempt that failed transiently and whose retry porch's signal cancelled.
pub fn interrupted_before_retry(signal: i32, attempt_error: Option<&str>) -> String {
    format!(
        "interrupted while waiting to retry: porch received {}; the attempt had failed: {}",
        groups::describe_signal(signal),
        attempt_error.unwrap_or("transient API error")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(code: i32) -> ExitStatus {
        ExitStatus::from_raw(code << 8)
    }

    fn killed(signal: i32) -> ExitStatus {
        ExitStatus::from_raw(signal)
    }

    fn ok() -> Option<ResultEvent> {
        Some(ResultEvent {
            is_error: false,
            subtype: Some("success".into()),
            result: Some("done".into()),
            ..ResultEvent::default()
        })
    }

    fn error() -> Option<ResultEvent> {
        Some(ResultEvent {
            is_error: true,
            subtype: Some("success".into()),
            result: Some("API Error: 500".into()),
            ..ResultEvent::default()
        })
    }

    const NONE: Option<ResultEvent> = None;
    const SELF: Option<StopReason> = None;
    const TIMEOUT: Option<StopReason> = Some(StopReason::Timeout(Duration::from_secs(60)));
    const IDLE: Option<StopReason> = Some(StopReason::Idle(Duration::from_secs(30)));
    const HUNG: Option<StopReason> = Some(StopReason::HungAfterResult(Duration::from_secs(5)));
    const SIGINT: Option<StopReason> = Some(StopReason::Interrupted(libc::SIGINT));

    use Status::{Failed, Interrupted, Succeeded, TimedOut};

    /// exit × result event × why porch stopped it → status. "SELF" is a session that ended by
    /// itself.
    #[test]
    fn the_verdict_follows_exit_result_and_stop_reason() {
        let rows = [
            // Ended by itself: claude's exit and result event decide, and both must agree.
            (code(0), ok(), SELF, Succeeded),
            (code(0), error(), SELF, Failed),
            (code(0), NONE, SELF, Failed),
            (code(1), ok(), SELF, Failed),
            (code(1), error(), SELF, Failed),
            (code(1), NONE, SELF, Failed),
            (killed(libc::SIGKILL), ok(), SELF, Failed),
            (killed(libc::SIGKILL), NONE, SELF, Failed),
            // Hung after its result: the result decides, whatever porch's signal did to it.
            (killed(libc::SIGTERM), ok(), HUNG, Succeeded),
            (code(143), ok(), HUNG, Succeeded),
            (killed(libc::SIGTERM), error(), HUNG, Failed),
            (killed(libc::SIGTERM), NONE, HUNG, Failed),
            // Ended by a limit: timed out, whatever claude said.
            (killed(libc::SIGTERM), ok(), TIMEOUT, TimedOut),
            (code(0), ok(), TIMEOUT, TimedOut),
            (code(143), NONE, TIMEOUT, TimedOut),
            (killed(libc::SIGKILL), error(), IDLE, TimedOut),
            (code(0), ok(), IDLE, TimedOut),
            // Ended because porch was signalled: interrupted, whatever claude said.
            (code(0), ok(), SIGINT, Interrupted),
            (killed(libc::SIGTERM), error(), SIGINT, Interrupted),
            (code(130), NONE, SIGINT, Interrupted),
        ];
        for (exit, result, stopped, status) in rows {
            let verdict = judge_session(exit, result.as_ref(), stopped);
            let row = format!("{exit:?} {result:?} {stopped:?}");
            assert_eq!(verdict.status, status, "{row}");
            assert_eq!(verdict.error.is_none(), status == Succeeded, "{row}");
        }
    }

    #[test]
    fn only_a_session_that_hung_after_its_result_carries_a_warning() {
        let hung = judge_session(killed(libc::SIGTERM), ok().as_ref(), HUNG);
        assert!(
            hung.warning.as_deref().is_some_and(|w| w
                .starts_with("claude printed its result but did not exit")
                && w.ends_with("; porch ended it")),
            "{hung:?}"
        );
        for stopped in [SELF, TIMEOUT, IDLE, SIGINT] {
            assert_eq!(judge_session(code(0), ok().as_ref(), stopped).warning, None);
        }
    }

    #[test]
    fn the_error_says_what_claude_said_and_how_it_exited() {
        let with_errors = ResultEvent {
            is_error: true,
            subtype: Some("error_max_turns".into()),
            errors: vec!["Reached maximum number of turns (1)".into()],
            ..ResultEvent::default()
        };
        let silent = ResultEvent {
            is_error: true,
            subtype: Some("error_during_execution".into()),
            ..ResultEvent::default()
        };
        let rows = [
            (code(1), error(), "API Error: 500 (exited with code 1)"),
            (
                code(1),
                Some(with_errors),
                "Reached maximum number of turns (1) (exited with code 1)",
            ),
            (
                code(1),
                Some(silent),
                "claude reported an error (error_during_execution) (exited with code 1)",
            ),
            (
                code(2),
                ok(),
                "claude exited with code 2 after reporting success",
            ),
            (
                killed(libc::SIGKILL),
                NONE,
                "no result event: claude was killed by signal 9 (SIGKILL) without reporting an outcome",
            ),
        ];
        for (exit, result, text) in rows {
            let verdict = judge_session(exit, result.as_ref(), SELF);
            assert_eq!(verdict.error.as_deref(), Some(text));
        }
    }

    #[test]
    fn a_session_porch_ended_says_why() {
        let rows = [
            (TIMEOUT, "timed out after 1m"),
            (IDLE, "printed nothing for 30s (--idle-timeout)"),
            (SIGINT, "interrupted: porch received signal 2 (SIGINT)"),
        ];
        for (stopped, text) in rows {
            let verdict = judge_session(killed(libc::SIGTERM), ok().as_ref(), stopped);
            assert_eq!(verdict.error.as_deref(), Some(text));
        }
    }

    #[test]
    fn an_exit_reads_as_the_end_of_a_sentence() {
        let rows = [
            (code(0), "exited with code 0"),
            (code(3), "exited with code 3"),
            (killed(libc::SIGKILL), "was killed by signal 9 (SIGKILL)"),
            (killed(libc::SIGTERM), "was killed by signal 15 (SIGTERM)"),
        ];
        for (exit, text) in rows {
            assert_eq!(describe_exit(exit), text);
        }
    }

    const TRANSIENT: bool = true;
    const PERMANENT: bool = false;
    const SIGNALLED: bool = true;
    const CALM: bool = false;

    /// status × transient × attempt × --retries × porch signalled → tried again.
    #[test]
    fn a_failed_attempt_is_retried_only_when_transient_with_attempts_left() {
        let rows = [
            (Failed, TRANSIENT, 1, 1, CALM, true),
            (Failed, TRANSIENT, 1, 3, CALM, true),
            (Failed, TRANSIENT, 3, 3, CALM, true),
            // --retries used up (or none asked for).
            (Failed, TRANSIENT, 4, 3, CALM, false),
            (Failed, TRANSIENT, 1, 0, CALM, false),
            // A bad request, a bad key, the turn or budget limit: the same again would fail.
            (Failed, PERMANENT, 1, 3, CALM, false),
            // porch was told to stop.
            (Failed, TRANSIENT, 1, 3, SIGNALLED, false),
            // Only failures: never what succeeded, timed out or was interrupted.
            (Succeeded, TRANSIENT, 1, 3, CALM, false),
            (TimedOut, TRANSIENT, 1, 3, CALM, false),
            (Interrupted, TRANSIENT, 1, 3, CALM, false),
        ];
        for (status, transient, attempt, retries, signalled, retried) in rows {
            assert_eq!(
                may_retry(status, transient, attempt, retries, signalled),
                retried,
                "{status:?} transient={transient} attempt {attempt} of 1+{retries} signalled={signalled}"
            );
        }
    }

    #[test]
    fn the_backoff_doubles_per_attempt_up_to_sixty_four_times() {
        let base = Duration::from_secs(10);
        let rows = [
            (1, 10),
            (2, 20),
            (3, 40),
            (6, 320),
            (7, 640),
            (8, 640),
            (100, 640),
        ];
        for (attempt, seconds) in rows {
            assert_eq!(
                backoff(base, attempt),
                Duration::from_secs(seconds),
                "attempt {attempt}"
            );
        }
        assert_eq!(backoff(Duration::MAX, 5), Duration::MAX);
        assert_eq!(backoff(Duration::ZERO, 5), Duration::ZERO);
    }

    #[test]
    fn a_cancelled_retry_keeps_the_attempts_error() {
        assert_eq!(
            interrupted_before_retry(libc::SIGTERM, Some("API Error: 529 (exited with code 1)")),
            "interrupted while waiting to retry: porch received signal 15 (SIGTERM); \
             the attempt had failed: API Error: 529 (exited with code 1)"
        );
        assert_eq!(
            interrupted_before_retry(libc::SIGINT, None),
            "interrupted while waiting to retry: porch received signal 2 (SIGINT); \
             the attempt had failed: transient API error"
        );
    }

    #[test]
    fn a_retry_waits_half_to_all_of_the_backoff_and_at_least_what_the_cli_asked() {
        let ms = Duration::from_millis;
        // (backoff, random, floor, wait)
        let cases = [
            (ms(1000), 0.0, None, ms(500)),
            (ms(1000), 0.5, None, ms(750)),
            (ms(1000), 0.999, None, ms(999)),
            (ms(1000), 0.0, Some(ms(1168)), ms(1168)),
            (ms(1000), 0.5, Some(ms(600)), ms(750)),
            (ms(0), 0.5, None, ms(0)),
        ];
        for (backoff, random, floor, wait) in cases {
            let got = retry_wait(backoff, random, floor);
            assert_eq!(
                got.as_millis(),
                wait.as_millis(),
                "{backoff:?} {random} {floor:?}"
            );
        }
    }
}
