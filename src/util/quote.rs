//! Commands porch prints for the user to copy: every word quoted for a POSIX shell, but only
//! when it needs it, so that plain paths stay readable and `rm -r /home/me/my projects/x`
//! can never be printed.

use std::borrow::Cow;

/// `text` as one shell word: as it is when the shell would read it back unchanged, else in
/// single quotes, each `'` in it written `'\''`.
pub fn word(text: &str) -> Cow<'_, str> {
    if is_plain(text) {
        return Cow::Borrowed(text);
    }
    Cow::Owned(format!("'{}'", text.replace('\'', r"'\''")))
}

/// The words, each quoted as needed, joined by spaces.
pub fn command<S: AsRef<str>>(words: &[S]) -> String {
    words
        .iter()
        .map(|w| word(w.as_ref()))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Characters no POSIX shell (nor bash or zsh) gives a meaning, in any position but the
/// first for `=` (zsh expands `=cmd`). Anything else, non-ASCII included, is quoted.
fn is_plain(text: &str) -> bool {
    !text.is_empty()
        && !text.starts_with('=')
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"@%+=:,./-_".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_word_is_quoted_only_when_a_shell_would_change_it() {
        // (the text, how it is printed, the rule)
        let cases = [
            (
                "/home/me/src/shop",
                "/home/me/src/shop",
                "a plain path stays as it is",
            ),
            ("task/add-auth", "task/add-auth", "so does a branch"),
            ("main...task/x", "main...task/x", "and a range"),
            (
                "a=b,c:d@e%f+g",
                "a=b,c:d@e%f+g",
                "these signs mean nothing to a shell",
            ),
            (
                "/home/me/my projects",
                "'/home/me/my projects'",
                "a space splits words",
            ),
            ("", "''", "an empty word would vanish"),
            (
                "it's",
                r"'it'\''s'",
                "a single quote ends the quotes, is escaped, reopens",
            ),
            ("$HOME", "'$HOME'", "variables are not expanded"),
            ("a;rm -rf ~", "'a;rm -rf ~'", "nor commands run"),
            ("`id`", "'`id`'", "nor command substitution"),
            ("~/wt", "'~/wt'", "nor the home directory"),
            ("*.rs", "'*.rs'", "nor globs"),
            ("a!b", "'a!b'", "nor history"),
            ("#x", "'#x'", "nor comments"),
            ("=ls", "'=ls'", "zsh's =cmd"),
            ("a\nb", "'a\nb'", "a newline would end the command"),
            ("naïve", "'naïve'", "non-ASCII is quoted, to be safe"),
        ];
        for (text, printed, rule) in cases {
            assert_eq!(word(text), printed, "{rule}");
        }
    }

    #[test]
    fn a_command_quotes_each_word() {
        assert_eq!(
            command(&["git", "-C", "/my repo", "diff", "main...task/a"]),
            "git -C '/my repo' diff main...task/a"
        );
    }

    #[test]
    fn a_quoted_word_reads_back_as_the_text_in_a_real_shell() {
        let texts = [
            "plain",
            "two words",
            "it's",
            "$HOME `id` \\ \"x\"",
            "=ls",
            "",
            "a'b'c",
        ];
        for text in texts {
            let out = std::process::Command::new("sh")
                .arg("-c")
                .arg(format!("printf %s {}", word(text)))
                .output()
                .unwrap();
            assert_eq!(String::from_utf8_lossy(&out.stdout), text, "{text:?}");
        }
    }
}
