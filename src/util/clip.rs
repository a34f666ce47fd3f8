//! Text made fit for a terminal line: cut short (a commit too), and with control characters made
//! visible.

use std::borrow::Cow;

/// At most `limit` characters of `text`, with `…` when something was cut.
pub fn shorten(text: &str, limit: usize) -> String {
    let mut chars = text.chars();
    let mut out: String = chars.by_ref().take(limit).collect();
    if chars.next().is_some() {
        out.push('…');
    }
    out
}

/// A commit's id as porch prints it: its first 12 hex digits, unique in any repository a run
/// meets, where git's default 7 can stop being unique as a repository grows.
pub fn short_commit(commit: &str) -> &str {
    commit.get(..12).unwrap_or(commit)
}

/// The first line of `text`, shortened, with `…` when there was more.
pub fn first_line(text: &str, limit: usize) -> String {
    let mut lines = text.lines();
    let first = lines.next().unwrap_or_default();
    let mut out = shorten(first, limit);
    if lines.next().is_some() && !out.ends_with('…') {
        out.push('…');
    }
    out
}

/// `text` on one line (white space folded), shortened.
pub fn one_line(text: &str, limit: usize) -> String {
    shorten(
        &text.split_whitespace().collect::<Vec<_>>().join(" "),
        limit,
    )
}

/// `text` with its control characters made visible (see `push_visible`).
pub fn visible(text: &str) -> Cow<'_, str> {
    if !text.chars().any(is_hidden_control) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        push_visible(&mut out, c);
    }
    Cow::Owned(out)
}

/// The bidirectional controls: embeddings, overrides, isolates and marks. A terminal obeys
/// them silently, so `main.rs` shown after U+202E reads `sr.niam`, and a value quoted in an
/// error can look like another value.
const BIDI_CONTROLS: [char; 12] = [
    '\u{061c}', '\u{200e}', '\u{200f}', '\u{202a}', '\u{202b}', '\u{202c}', '\u{202d}', '\u{202e}',
    '\u{2066}', '\u{2067}', '\u{2068}', '\u{2069}',
];

/// A character `push_visible` writes as an escape rather than as itself.
pub fn is_hidden_control(c: char) -> bool {
    c.is_control() || BIDI_CONTROLS.contains(&c)
}

/// Appends `c` as the terminal should show text that is not porch's: a tab as four spaces,
/// any other control character as `\xNN`, a bidirectional control as `\u{NNNN}`, so that an
/// agent's words cannot clear the screen, move the cursor, set the window title or reorder
/// what follows them, wherever porch prints them.
pub fn push_visible(out: &mut String, c: char) {
    match c {
        '\t' => out.push_str("    "),
        c if c.is_control() => out.push_str(&format!("\\x{:02x}", c as u32)),
        c if BIDI_CONTROLS.contains(&c) => out.push_str(&format!("\\u{{{:04x}}}", c as u32)),
        c => out.push(c),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shortens_by_characters() {
        assert_eq!(shorten("héllo", 2), "hé…");
        assert_eq!(shorten("hi", 2), "hi");
        assert_eq!(first_line("cargo test\necho", 20), "cargo test…");
        assert_eq!(one_line("a\n  b\tc", 10), "a b c");
    }

    #[test]
    fn a_commit_is_cut_to_twelve_digits() {
        let commit = "0123456789abcdef0123456789abcdef01234567";
        assert_eq!(short_commit(commit), "0123456789ab");
        assert_eq!(short_commit("abc"), "abc", "a shorter id stays whole");
    }

    #[test]
    fn control_characters_are_shown_not_obeyed() {
        // (the text, how it is shown, the rule)
        let cases = [
            (
                "plain text",
                "plain text",
                "text without controls is left alone",
            ),
            (
                "\x1b[2Jgone",
                "\\x1b[2Jgone",
                "clear-screen is shown as text",
            ),
            (
                "\x1b]0;owned\x07",
                "\\x1b]0;owned\\x07",
                "so is a window title",
            ),
            ("\u{9b}31m", "\\x9b31m", "and the one-byte CSI"),
            ("a\tb", "a    b", "a tab is spaces"),
            ("a\r\nb", "a\\x0d\\x0ab", "line ends are shown"),
            ("héllo", "héllo", "non-ASCII letters are not controls"),
            (
                "x\u{202e}txt.exe",
                "x\\u{202e}txt.exe",
                "a right-to-left override is shown, not obeyed",
            ),
            (
                "\u{2066}a\u{2069}\u{200f}\u{061c}",
                "\\u{2066}a\\u{2069}\\u{200f}\\u{061c}",
                "and so are isolates and marks",
            ),
            ("עברית", "עברית", "right-to-left letters are text"),
        ];
        for (text, shown, rule) in cases {
            assert_eq!(visible(text), shown, "{rule}");
        }
    }
}
