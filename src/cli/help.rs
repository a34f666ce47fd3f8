//! The help texts, made from the commands' table: usage, arguments, each flag with its value,
//! description and `[env: VAR]`, then the command's notes.

use crate::cli::flags::flag;
use crate::cli::table::Argument;
use crate::cli::table::COMMANDS;
use crate::cli::table::MAIN_ABOUT;
use crate::cli::table::MAIN_NOTES;
use crate::cli::table::Spec;
use crate::cli::table::TOP_FLAGS;
use crate::cli::table::Takes;

/// No line of help is wider.
const WIDTH: usize = 99;
/// Descriptions start in this column at most; a wider flag pushes its first line right.
const MAX_COLUMN: usize = 30;

/// `porch --help`.
pub fn main_help() -> String {
    let rows: Vec<(String, Vec<String>)> = COMMANDS
        .iter()
        .flat_map(|spec| spec.overview.iter())
        .map(|(usage, what)| (format!("  {usage}"), vec![what.to_string()]))
        .collect();
    let mut sections = vec![
        MAIN_ABOUT.to_string(),
        format!("Usage:\n{}", table(&rows, usize::MAX)),
        format!("Options:\n{}", options(TOP_FLAGS.iter())),
    ];
    sections.extend(MAIN_NOTES.iter().map(|note| note.to_string()));
    sections.join("\n\n")
}

/// `porch help COMMAND`, and `porch COMMAND --help`.
pub fn command_help(spec: &Spec) -> String {
    let usage: Vec<String> = spec.usage.iter().map(|u| format!("  {u}")).collect();
    let mut sections = vec![
        spec.about.to_string(),
        format!("Usage:\n{}", usage.join("\n")),
    ];
    if !spec.arguments.is_empty() {
        sections.push(format!("Arguments:\n{}", arguments(spec.arguments)));
    }
    sections.push(format!("Options:\n{}", options(spec.takes())));
    sections.extend(spec.notes.iter().map(|note| note.to_string()));
    sections.join("\n\n")
}

fn arguments(arguments: &[Argument]) -> String {
    let rows: Vec<(String, Vec<String>)> = arguments
        .iter()
        .map(|a| {
            let name = a.name.trim_end_matches("...");
            (
                format!("  {name}"),
                a.about.lines().map(String::from).collect(),
            )
        })
        .collect();
    let widest = rows.iter().map(|(left, _)| left.len()).max().unwrap_or(0);
    table(&rows, widest + 4)
}

/// A flag as the help's left column writes it: `  -o, --output FILE`, `      --cleanup`.
fn spelling(takes: &Takes) -> String {
    let flag = flag(takes.opt);
    let mut left = match flag.short {
        Some(c) => format!("  -{c}, --{}", flag.long),
        None => format!("      --{}", flag.long),
    };
    if let Some(value) = flag.value {
        left.push(' ');
        left.push_str(value.placeholder);
    }
    left
}

fn options<'a>(takes: impl Iterator<Item = &'a Takes>) -> String {
    let takes: Vec<&Takes> = takes.collect();
    let lefts: Vec<String> = takes.iter().map(|t| spelling(t)).collect();
    let widest = lefts.iter().map(String::len).max().unwrap_or(0);
    let column = (widest + 2).min(MAX_COLUMN);
    let rows: Vec<(String, Vec<String>)> = takes
        .iter()
        .zip(lefts)
        .map(|(t, left)| (left, described(t, column)))
        .collect();
    table(&rows, column)
}

/// A flag's description lines, with `[env: VAR]` at the end of the last one when it fits.
fn described(takes: &Takes, column: usize) -> Vec<String> {
    let mut lines: Vec<String> = takes.about.lines().map(String::from).collect();
    if let Some(var) = flag(takes.opt).env {
        let tag = format!("[env: {var}]");
        match lines.last_mut() {
            Some(last) if column + last.len() + 1 + tag.len() <= WIDTH => {
                last.push(' ');
                last.push_str(&tag);
            }
            _ => lines.push(tag),
        }
    }
    lines
}

/// A flag's description on one line, as a completion shows it.
pub fn one_line(takes: &Takes) -> String {
    let about = takes.about.split_whitespace().collect::<Vec<_>>().join(" ");
    match flag(takes.opt).env {
        Some(var) => format!("{about} [env: {var}]"),
        None => about,
    }
}

/// Rows of a left column and description lines starting at `column` (`usize::MAX`: two
/// spaces after the widest left column).
fn table(rows: &[(String, Vec<String>)], column: usize) -> String {
    let column = match column {
        usize::MAX => rows.iter().map(|(left, _)| left.len()).max().unwrap_or(0) + 2,
        column => column,
    };
    let mut out = Vec::new();
    for (left, lines) in rows {
        let mut lines = lines.iter();
        let first = lines.next().map(String::as_str).unwrap_or("");
        let pad = column.saturating_sub(left.len()).max(2);
        out.push(
            format!("{left}{}{first}", " ".repeat(pad))
                .trim_end()
                .to_string(),
        );
        out.extend(lines.map(|line| format!("{}{line}", " ".repeat(column))));
    }
    out.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::table::Name;
    use crate::cli::table::spec;

    #[test]
    fn no_line_is_too_wide_and_every_flag_is_described() {
        let mut texts = vec![main_help()];
        texts.extend(
            COMMANDS
                .iter()
                .filter(|s| s.name != Name::Help)
                .map(command_help),
        );
        for text in &texts {
            for line in text.lines() {
                assert!(line.len() <= WIDTH, "too wide: {line}");
                assert_eq!(line, line.trim_end(), "trailing space: {line:?}");
            }
        }
        for spec in COMMANDS.iter().filter(|s| s.name != Name::Help) {
            let help = command_help(spec);
            for takes in spec.takes() {
                assert!(
                    help.contains(&spelling(takes)),
                    "{}: {}",
                    spec.word,
                    spelling(takes)
                );
            }
        }
    }

    #[test]
    fn options_line_up_and_variables_are_shown() {
        let help = command_help(spec(Name::Status));
        assert!(
            help.contains(
                "      --run ID            the run to show: an id from .porch/runs/, or a results file's path\n                          [default: the run started last]"
            ),
            "{help}"
        );
        assert!(
            help.contains(
                "[default: ~/worktrees]\n                          [env: PORCH_WORKTREE_DIR]"
            ),
            "{help}"
        );
        let run = command_help(spec(Name::Run));
        assert!(
            run.contains("      --claude PATH           the agent executable [default: claude on PATH] [env: PORCH_CLAUDE]"),
            "{run}"
        );
        // A flag wider than the column starts its description two spaces after it.
        assert!(
            run.contains("      --branch-template TEMPLATE  each task's branch"),
            "{run}"
        );
    }
}
