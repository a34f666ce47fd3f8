//! Text cut to fit a terminal line.

/// At most `limit` characters of `text`, with `…` when something was cut.
pub fn shorten(text: &str, limit: usize) -> String {
    let mut chars = text.chars();
    let mut out: String = chars.by_ref().take(limit).collect();
    if chars.next().is_some() {
        out.push('…');
    }
    out
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
}
