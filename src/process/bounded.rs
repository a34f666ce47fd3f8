//! A short command porch runs besides a task's own (a hook, `gh`, a push): started as a `Child`
//! (its own process group), its lines given to sinks, ended once it outlasts its limit. porch's
//! own signals do not end it: a hook after Ctrl-C is what the user asked for.

use std::io;
use std::process::{Command, ExitStatus};
use std::time::Duration;

use crate::process::child::Child;
use crate::process::child::Leftovers;
use crate::process::child::Limit;
use crate::process::child::Sink;
use crate::process::child::Stop;

/// Longest line kept from such a command; the rest of it is dropped.
const LINE_LIMIT: usize = 64 * 1024;

/// How a bounded command ended.
#[derive(Debug)]
pub enum Ended {
    Exited(ExitStatus),
    /// It outlasted its limit and porch ended it (its group: SIGTERM, then SIGKILL).
    TimedOut(Duration),
}

/// Runs `command` (made a group leader here) with `input` on stdin, to its end or its limit.
/// An error: it could not be started or waited for.
pub fn run(
    mut command: Command,
    input: Option<String>,
    limit: Duration,
    stdout: Sink,
    stderr: Sink,
) -> io::Result<Ended> {
    crate::process::child::in_own_group(&mut command);
    let child = Child::spawn(command, input, None, false)?;
    watch(child, limit, stdout, stderr)
}

/// `run` for a `Child` already started (git leads a session of its own): its lines to the
/// sinks, waited for to its end or its limit. An error: it could not be waited for.
pub fn watch(mut child: Child, limit: Duration, stdout: Sink, stderr: Sink) -> io::Result<Ended> {
    child.read_output(LINE_LIMIT, stdout, stderr)?;
    let clock = child.clock();
    let waited = child.wait(|| Stop::due(&clock, Some(Limit::whole(limit)), false));
    child.finish(Leftovers::Leave);
    match waited? {
        (status, None) => Ok(Ended::Exited(status)),
        (_, Some(_)) => Ok(Ended::TimedOut(limit)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::process::child::Tail;
    use crate::process::child::discard;

    fn sh(script: &str) -> Command {
        let mut command = Command::new("sh");
        command.args(["-c", script]);
        command
    }

    #[test]
    fn its_lines_reach_the_sinks_and_its_exit_is_told() {
        let said = Tail::new(10);
        let input = Some("from stdin\n".to_string());
        let limit = Duration::from_secs(60);
        let ended = run(sh("cat; exit 3"), input, limit, said.sink(), discard());
        let Ok(Ended::Exited(status)) = ended else {
            panic!("{ended:?}")
        };
        assert_eq!(status.code(), Some(3));
        assert_eq!(said.lines(), ["from stdin"]);
    }

    #[test]
    fn one_that_outlasts_its_limit_is_ended() {
        let limit = Duration::from_millis(200);
        let ended = run(sh("sleep 600"), None, limit, discard(), discard());
        assert!(
            matches!(ended, Ok(Ended::TimedOut(l)) if l == limit),
            "{ended:?}"
        );
    }
}
