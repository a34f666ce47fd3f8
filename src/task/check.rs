//! A task's `check`: the user's own command, run on the committed work to say whether the
//! branch works. It runs as a step (`step.rs`); this module turns how it ended into the task's
//! verdict and the results' `check`.

use crate::process::groups;
use crate::process::step;
use crate::process::step::Ran;
use crate::process::step::Step;
use crate::process::step::StepEnd;
use crate::results::CheckRun;
use crate::results::Phase;

/// How many of the check's last lines the task's error quotes.
const QUOTED_LINES: usize = 5;

/// What the check says about the task.
#[derive(Debug, PartialEq)]
pub enum CheckVerdict {
    Passed,
    /// The task's error: "check failed: exited with code 1; last lines: …".
    Failed(String),
    /// The task's error, when porch was told to stop while the check ran.
    Interrupted(String),
}

pub struct Checked {
    pub run: CheckRun,
    pub verdict: CheckVerdict,
}

/// Runs the check to its end.
pub fn run(step: &Step) -> Checked {
    let ran = step::run_to_end(step);
    let phase = Phase::ending_now(ran.ran);
    Checked {
        run: CheckRun {
            exit_code: ran.exit_code,
            duration_ms: ran.ran.as_millis() as u64,
            started_at: phase.started_at,
            ended_at: phase.ended_at,
        },
        verdict: check_verdict(&ran),
    }
}

fn check_verdict(ran: &Ran) -> CheckVerdict {
    match &ran.end {
        StepEnd::Succeeded => CheckVerdict::Passed,
        StepEnd::Failed(how) => CheckVerdict::Failed(failure(how, &ran.last_lines)),
        StepEnd::Interrupted(signal) => CheckVerdict::Interrupted(format!(
            "interrupted during check: porch received {}; the work is committed",
            groups::describe_signal(*signal)
        )),
    }
}

/// The error of a failed check: how it ended, and its last lines, which usually say why.
fn failure(how: &str, last_lines: &[String]) -> String {
    let quoted: Vec<&str> = last_lines
        .iter()
        .map(|line| line.trim_end())
        .filter(|line| !line.is_empty())
        .collect();
    let quoted = &quoted[quoted.len().saturating_sub(QUOTED_LINES)..];
    if quoted.is_empty() {
        return format!("check failed: {how}");
    }
    format!("check failed: {how}; last lines: {}", quoted.join(" | "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ran(end: StepEnd, lines: &[&str]) -> Ran {
        Ran {
            end,
            exit_code: None,
            ran: std::time::Duration::ZERO,
            last_lines: lines.iter().map(|l| l.to_string()).collect(),
        }
    }

    #[test]
    fn a_check_passes_only_when_its_step_succeeded() {
        // (how the step ended, what it printed last, the verdict)
        let failed = |how: &str| StepEnd::Failed(how.to_string());
        let cases = [
            (StepEnd::Succeeded, vec!["ok"], CheckVerdict::Passed),
            (
                failed("exited with code 3"),
                vec![],
                CheckVerdict::Failed("check failed: exited with code 3".into()),
            ),
            (
                failed("exited with code 1"),
                vec!["test a ... ok", "", "test b ... FAILED  "],
                CheckVerdict::Failed(
                    "check failed: exited with code 1; last lines: test a ... ok | test b ... FAILED"
                        .into(),
                ),
            ),
            (
                failed("timed out after 5m"),
                vec!["1", "2", "3", "4", "5", "6", "7"],
                CheckVerdict::Failed(
                    "check failed: timed out after 5m; last lines: 3 | 4 | 5 | 6 | 7".into(),
                ),
            ),
            (
                StepEnd::Interrupted(libc::SIGINT),
                vec!["x"],
                CheckVerdict::Interrupted(
                    "interrupted during check: porch received signal 2 (SIGINT); the work is committed"
                        .into(),
                ),
            ),
        ];
        for (end, lines, expected) in cases {
            assert_eq!(
                check_verdict(&ran(end.clone(), &lines)),
                expected,
                "{end:?}"
            );
        }
    }
}
