//! How the user asked stdout to look: `--color`, the output mode, and the one rule for escape
//! codes (data, and a pure rule).

use std::ffi::OsStr;

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

/// What `porch run` writes on stdout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputMode {
    /// The sessions' lines, then the summary.
    Stream,
    /// `--quiet`: the summary only.
    Quiet,
    /// `--json`: the results object only, once the run ends.
    Json,
    /// `--events`: JSON Lines, one a line or event.
    Events,
}

/// Colour when asked for. With `auto`, only on a terminal, and never when `NO_COLOR` is set to
/// anything but the empty string (no-color.org) or `TERM` is `dumb`.
pub fn color_wanted(
    choice: ColorChoice,
    no_color: Option<&OsStr>,
    term: Option<&OsStr>,
    stdout_is_terminal: bool,
) -> bool {
    match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            no_color.is_none_or(OsStr::is_empty)
                && term.is_none_or(|t| t != "dumb")
                && stdout_is_terminal
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colour_when_asked_and_on_a_terminal_unless_told_not_to() {
        use ColorChoice::{Always, Auto, Never};
        let (none, empty, one, dumb, xterm) = (
            None,
            Some(OsStr::new("")),
            Some(OsStr::new("1")),
            Some(OsStr::new("dumb")),
            Some(OsStr::new("xterm-256color")),
        );
        // (rule, --color, NO_COLOR, TERM, stdout is a terminal, colour)
        let cases = [
            ("always, whatever else", Always, one, dumb, false, true),
            ("never, even on a terminal", Never, none, xterm, true, false),
            ("auto on a terminal", Auto, none, xterm, true, true),
            ("auto without TERM", Auto, none, none, true, true),
            ("auto into a pipe", Auto, none, xterm, false, false),
            ("auto with NO_COLOR set", Auto, one, xterm, true, false),
            ("auto with NO_COLOR empty", Auto, empty, xterm, true, true),
            ("auto on a dumb terminal", Auto, none, dumb, true, false),
        ];
        for (rule, choice, no_color, term, terminal, colour) in cases {
            assert_eq!(
                color_wanted(choice, no_color, term, terminal),
                colour,
                "{rule}"
            );
        }
    }
}
