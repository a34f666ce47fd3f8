//! porch's own messages on stdout and stderr, outside the printer thread's stream: never a
//! panic when either is closed.

/// Writes to stdout, ignoring a reader that went away (`porch list | head -1`): println! would
/// panic on the broken pipe.
/// Returns whether all of it was written.
pub fn print_stdout(text: &str) -> bool {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .is_ok()
}

/// Prints what `--json` writes; where stdout does not take it all (closed, a full disk), says
/// so on stderr with `kept` (where the same document is) and returns false: a script must not
/// take the exit code of a command whose document it never read for success.
pub fn print_json(text: &str, kept: &str) -> bool {
    if print_stdout(text) {
        return true;
    }
    print_stderr(&format!(
        "porch: error: what --json writes did not all reach standard output (closed or full)\n\
         hint: {kept}\n"
    ));
    false
}

/// Writes to stderr, ignoring a stderr that is gone: after SIGHUP the terminal may be, and
/// porch must still finish its work and its results file rather than panic.
pub fn print_stderr(text: &str) {
    use std::io::Write;
    let _ = std::io::stderr().lock().write_all(text.as_bytes());
}
