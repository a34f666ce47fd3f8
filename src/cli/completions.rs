//! `porch completions bash|zsh|fish`: shell completion scripts. The flags of each command are
//! read from its help text's option lines (`  -o, --output FILE   what it does`), so a flag
//! documented in the help is completed, and one completed is documented.

use std::fmt::Write as _;

use crate::agent::PERMISSION_MODES;
use crate::cli::after::Topic;
use crate::cli::{self, HelpTopic};

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Shell {
    Bash,
    Zsh,
    Fish,
}

pub const SHELLS: [&str; 3] = ["bash", "zsh", "fish"];

impl Shell {
    pub fn from_name(name: &str) -> Option<Shell> {
        match name {
            "bash" => Some(Shell::Bash),
            "zsh" => Some(Shell::Zsh),
            "fish" => Some(Shell::Fish),
            _ => None,
        }
    }
}

/// `--color`'s values, as `cli` reads them.
pub const COLOR_CHOICES: [&str; 3] = ["auto", "always", "never"];

/// What a flag's value or a positional argument completes to.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Completes {
    Files,
    Directories,
    Words(&'static [&'static str]),
    /// A value porch cannot guess (a number, a duration, a task's name).
    Nothing,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Flag {
    pub short: Option<char>,
    pub long: String,
    /// None: the flag takes no value.
    pub value: Option<Completes>,
    pub about: String,
}

#[derive(Debug)]
pub struct CommandSpec {
    pub name: &'static str,
    pub flags: Vec<Flag>,
    /// What each positional argument completes to, in order; the last one repeats.
    pub positionals: &'static [Completes],
}

/// `porch help`'s topics besides the commands.
const HELP_TOPICS: [&str; 1] = ["tasks"];

/// Every command, its help and its positionals.
const COMMANDS: [(&str, HelpTopic, &[Completes]); 12] = [
    (
        "run",
        HelpTopic::Run,
        &[Completes::Files, Completes::Directories, Completes::Nothing],
    ),
    (
        "init",
        HelpTopic::Init,
        &[Completes::Files, Completes::Nothing],
    ),
    (
        "plan",
        HelpTopic::Plan,
        &[
            Completes::Nothing,
            Completes::Directories,
            Completes::Nothing,
        ],
    ),
    (
        "list",
        HelpTopic::List,
        &[Completes::Directories, Completes::Nothing],
    ),
    (
        "status",
        HelpTopic::After(Topic::Status),
        &[Completes::Directories, Completes::Nothing],
    ),
    (
        "logs",
        HelpTopic::After(Topic::Logs),
        &[
            Completes::Nothing,
            Completes::Directories,
            Completes::Nothing,
        ],
    ),
    (
        "resume",
        HelpTopic::After(Topic::Resume),
        &[Completes::Directories, Completes::Nothing],
    ),
    (
        "merge",
        HelpTopic::After(Topic::Merge),
        &[Completes::Directories, Completes::Nothing],
    ),
    (
        "clean",
        HelpTopic::After(Topic::Clean),
        &[Completes::Directories, Completes::Nothing],
    ),
    (
        "merge-results",
        HelpTopic::After(Topic::MergeResults),
        &[Completes::Files],
    ),
    ("help", HelpTopic::Main, &[Completes::Nothing]),
    (
        "completions",
        HelpTopic::Completions,
        &[Completes::Words(&SHELLS), Completes::Nothing],
    ),
];

/// Every command and what it completes.
pub fn commands() -> Vec<CommandSpec> {
    COMMANDS
        .iter()
        .map(|&(name, topic, positionals)| {
            let mut flags = if name == "help" {
                Vec::new()
            } else {
                flags_of(cli::help_text(topic))
            };
            // `porch resume` takes every option of `porch run`, as its help says.
            if name == "resume" {
                for flag in flags_of(cli::help_text(HelpTopic::Run)) {
                    if !flags.iter().any(|f| f.long == flag.long) {
                        flags.push(flag);
                    }
                }
            }
            let positionals = if name == "help" {
                &HELP_WORDS
            } else {
                positionals
            };
            CommandSpec {
                name,
                flags,
                positionals,
            }
        })
        .collect()
}

/// `porch help WORD`: a command or a topic.
const HELP_WORDS: [Completes; 2] = [
    Completes::Words(&[
        "run",
        "init",
        "plan",
        "list",
        "status",
        "logs",
        "resume",
        "merge",
        "clean",
        "merge-results",
        "help",
        "completions",
        HELP_TOPICS[0],
    ]),
    Completes::Nothing,
];

/// The flags a help text's option lines describe: `-x, --long VALUE  about` or
/// `--long  about`. A line of another shape (prose that starts with a dash) is not a flag.
pub fn flags_of(help: &str) -> Vec<Flag> {
    help.lines().filter_map(flag_line).collect()
}

fn flag_line(line: &str) -> Option<Flag> {
    // Option lines are indented; prose that wraps onto a `--flag` is not.
    let trimmed = line.trim_start();
    if !line.starts_with(' ') || !trimmed.starts_with('-') {
        return None;
    }
    let mut words = trimmed.split_whitespace().peekable();
    let mut short = None;
    if let Some(first) = words.next_if(|w| w.len() == 3 && w.starts_with('-') && w.ends_with(',')) {
        short = first.chars().nth(1);
    }
    let long = words.next()?.strip_prefix("--")?;
    if long.is_empty() || !long.chars().all(|c| c.is_ascii_lowercase() || c == '-') {
        return None;
    }
    // A placeholder is in capitals (`FILE`, `NAME,...`); the description is not.
    let is_placeholder = |w: &&str| {
        w.starts_with(|c: char| c.is_ascii_uppercase())
            && !w.chars().any(|c| c.is_ascii_lowercase())
    };
    let value = words.next_if(is_placeholder).map(value_of);
    let about = words.collect::<Vec<_>>().join(" ");
    Some(Flag {
        short,
        long: long.to_string(),
        value,
        about,
    })
}

/// What a placeholder of the help (`DIR`, `FILE`, `WHEN`, …) completes to.
fn value_of(placeholder: &str) -> Completes {
    match placeholder {
        "DIR" | "REPO" => Completes::Directories,
        "FILE" | "PATH" | "TASKS" => Completes::Files,
        "WHEN" => Completes::Words(&COLOR_CHOICES),
        "MODE" => Completes::Words(&PERMISSION_MODES),
        _ => Completes::Nothing,
    }
}

pub fn script(shell: Shell) -> String {
    let commands = commands();
    match shell {
        Shell::Bash => bash(&commands),
        Shell::Zsh => zsh(&commands),
        Shell::Fish => fish(&commands),
    }
}

fn names(commands: &[CommandSpec]) -> String {
    commands
        .iter()
        .map(|c| c.name)
        .collect::<Vec<_>>()
        .join(" ")
}

fn flag_words(flag: &Flag) -> Vec<String> {
    let mut words: Vec<String> = flag.short.map(|c| format!("-{c}")).into_iter().collect();
    words.push(format!("--{}", flag.long));
    words
}

fn bash_reply(completes: Completes) -> String {
    match completes {
        Completes::Files => {
            "compopt -o filenames 2>/dev/null; COMPREPLY=($(compgen -f -- \"$cur\"))".to_string()
        }
        Completes::Directories => {
            "compopt -o filenames 2>/dev/null; COMPREPLY=($(compgen -d -- \"$cur\"))".to_string()
        }
        Completes::Words(words) => {
            format!(
                "COMPREPLY=($(compgen -W \"{}\" -- \"$cur\"))",
                words.join(" ")
            )
        }
        Completes::Nothing => "COMPREPLY=()".to_string(),
    }
}

fn bash(commands: &[CommandSpec]) -> String {
    let mut out = String::from(
        "# bash completion for porch: `source <(porch completions bash)`, or save it as\n\
         # ~/.local/share/bash-completion/completions/porch\n\
         _porch() {\n    local cur=\"${COMP_WORDS[COMP_CWORD]}\"\n    COMPREPLY=()\n",
    );
    let _ = writeln!(
        out,
        "    if [ \"$COMP_CWORD\" -le 1 ]; then\n        COMPREPLY=($(compgen -W \"{} -h --help -V --version\" -- \"$cur\"))\n        return 0\n    fi",
        names(commands)
    );
    out.push_str("    local command=\"${COMP_WORDS[1]}\" prev=\"${COMP_WORDS[COMP_CWORD-1]}\"\n");
    out.push_str("    local flags=\"\" takes_value=\"\"\n    case \"$command\" in\n");
    for command in commands {
        let all: Vec<String> = command.flags.iter().flat_map(flag_words).collect();
        let valued: Vec<String> = command
            .flags
            .iter()
            .filter(|f| f.value.is_some())
            .flat_map(flag_words)
            .collect();
        let _ = writeln!(
            out,
            "        {}) flags=\"{}\"; takes_value=\" {} \" ;;",
            command.name,
            all.join(" "),
            valued.join(" ")
        );
    }
    out.push_str("    esac\n    case \"$command $prev\" in\n");
    for command in commands {
        for flag in &command.flags {
            let Some(value) = flag.value else { continue };
            let patterns: Vec<String> = flag_words(flag)
                .iter()
                .map(|w| format!("\"{} {w}\"", command.name))
                .collect();
            let _ = writeln!(
                out,
                "        {}) {}; return 0 ;;",
                patterns.join("|"),
                bash_reply(value)
            );
        }
    }
    out.push_str(
        "    esac\n    if [[ \"$cur\" == -* ]]; then\n        COMPREPLY=($(compgen -W \"$flags\" -- \"$cur\"))\n        return 0\n    fi\n",
    );
    // Which positional the word is: the words before it that are neither flags nor values.
    out.push_str(
        "    local i=2 position=0\n    while [ \"$i\" -lt \"$COMP_CWORD\" ]; do\n        local word=\"${COMP_WORDS[i]}\"\n        if [[ \"$word\" == -* ]]; then\n            [[ \"$word\" != *=* && \"$takes_value\" == *\" $word \"* ]] && i=$((i + 1))\n        else\n            position=$((position + 1))\n        fi\n        i=$((i + 1))\n    done\n    case \"$command $position\" in\n",
    );
    for command in commands {
        for (index, completes) in command.positionals.iter().enumerate() {
            let last = index + 1 == command.positionals.len();
            let position = if last {
                "*".to_string()
            } else {
                index.to_string()
            };
            let _ = writeln!(
                out,
                "        \"{} \"{position}) {} ;;",
                command.name,
                bash_reply(*completes)
            );
        }
    }
    out.push_str("    esac\n    return 0\n}\ncomplete -F _porch porch\n");
    out
}

/// Text safe inside a zsh `_arguments` description (`[...]`) in single quotes.
fn zsh_about(about: &str) -> String {
    about
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || " ,.-/".contains(*c))
        .collect()
}

fn zsh_action(completes: Completes) -> String {
    match completes {
        Completes::Files => "_files".to_string(),
        Completes::Directories => "_files -/".to_string(),
        Completes::Words(words) => format!("({})", words.join(" ")),
        Completes::Nothing => " ".to_string(),
    }
}

fn zsh(commands: &[CommandSpec]) -> String {
    let mut out = String::from(
        "#compdef porch\n# zsh completion for porch: save it as _porch in a directory of $fpath\n\
         # (e.g. ~/.zfunc, with fpath=(~/.zfunc $fpath) before compinit in ~/.zshrc)\n\
         _porch() {\n    if (( CURRENT == 2 )); then\n",
    );
    let _ = writeln!(
        out,
        "        compadd -- {} -h --help -V --version\n        return\n    fi",
        names(commands)
    );
    out.push_str("    shift words\n    (( CURRENT-- ))\n    case $words[1] in\n");
    for command in commands {
        let _ = writeln!(
            out,
            "        {})\n            _arguments -s \\",
            command.name
        );
        for flag in &command.flags {
            let about = zsh_about(&flag.about);
            let value = flag
                .value
                .map(|v| format!(":value:{}", zsh_action(v)))
                .unwrap_or_default();
            let spec = match flag.short {
                Some(c) => format!(
                    "'(-{c} --{long})'{{-{c},--{long}}}'[{about}]{value}'",
                    long = flag.long
                ),
                None => format!("'--{}[{about}]{value}'", flag.long),
            };
            let _ = writeln!(out, "                {spec} \\");
        }
        for (index, completes) in command.positionals.iter().enumerate() {
            let last = index + 1 == command.positionals.len();
            let position = if last {
                "*".to_string()
            } else {
                (index + 1).to_string()
            };
            let _ = writeln!(
                out,
                "                '{position}:argument:{}' \\",
                zsh_action(*completes)
            );
        }
        out.push_str("            ;;\n");
    }
    out.push_str("    esac\n}\n_porch \"$@\"\n");
    out
}

fn fish_quote(text: &str) -> String {
    format!("'{}'", text.replace('\\', "\\\\").replace('\'', "\\'"))
}

fn fish(commands: &[CommandSpec]) -> String {
    let mut out = String::from(
        "# fish completion for porch: save it as ~/.config/fish/completions/porch.fish\n\
         complete -c porch -f\n",
    );
    let _ = writeln!(
        out,
        "complete -c porch -n __fish_use_subcommand -a {}",
        fish_quote(&names(commands))
    );
    for command in commands {
        let when = format!("__fish_seen_subcommand_from {}", command.name);
        for flag in &command.flags {
            let mut line = format!(
                "complete -c porch -n {} -l {}",
                fish_quote(&when),
                flag.long
            );
            if let Some(c) = flag.short {
                let _ = write!(line, " -s {c}");
            }
            match flag.value {
                None => {}
                Some(Completes::Files) => line.push_str(" -r -F"),
                Some(Completes::Directories) => {
                    line.push_str(" -x -a '(__fish_complete_directories)'")
                }
                Some(Completes::Words(words)) => {
                    let _ = write!(line, " -x -a {}", fish_quote(&words.join(" ")));
                }
                Some(Completes::Nothing) => line.push_str(" -x"),
            }
            let _ = writeln!(out, "{line} -d {}", fish_quote(&flag.about));
        }
        // fish cannot tell one positional from the next: each command gets what its first
        // one wants.
        let first = command.positionals.first().copied();
        let arguments = match first {
            Some(Completes::Files) => Some("-F".to_string()),
            Some(Completes::Directories) => Some("-a '(__fish_complete_directories)'".to_string()),
            Some(Completes::Words(words)) => Some(format!("-a {}", fish_quote(&words.join(" ")))),
            Some(Completes::Nothing) | None => None,
        };
        if let Some(arguments) = arguments {
            let _ = writeln!(
                out,
                "complete -c porch -n {} {arguments}",
                fish_quote(&when)
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn option_lines_of_a_help_text_are_flags_and_prose_is_not() {
        let flag = |short, long: &str, value, about: &str| Flag {
            short,
            long: long.to_string(),
            value,
            about: about.to_string(),
        };
        // (line, the flag it describes)
        let cases = [
            (
                "  -o, --output FILE           write the results",
                Some(flag(
                    Some('o'),
                    "output",
                    Some(Completes::Files),
                    "write the results",
                )),
            ),
            (
                "      --worktree-dir DIR      where worktrees go",
                Some(flag(
                    None,
                    "worktree-dir",
                    Some(Completes::Directories),
                    "where worktrees go",
                )),
            ),
            (
                "      --cleanup               remove each worktree",
                Some(flag(None, "cleanup", None, "remove each worktree")),
            ),
            (
                "      --color WHEN            auto, always or never",
                Some(flag(
                    None,
                    "color",
                    Some(Completes::Words(&COLOR_CHOICES)),
                    "auto, always or never",
                )),
            ),
            (
                "      --only NAME,...         run only these tasks",
                Some(flag(
                    None,
                    "only",
                    Some(Completes::Nothing),
                    "run only these tasks",
                )),
            ),
            ("  --permission-mode, --cleanup, -o, ...", None),
            ("  and every option of `porch run`", None),
            ("Options:", None),
            ("--resume) where it had one", None),
        ];
        for (line, expected) in cases {
            assert_eq!(flag_line(line), expected, "{line}");
        }
    }

    /// Every `--flag` on an option line of a command's help, found by a plain scan, is in each
    /// shell's script.
    #[test]
    fn every_flag_of_every_help_text_is_completed_in_every_shell() {
        let scripts: Vec<String> = [Shell::Bash, Shell::Zsh, Shell::Fish].map(script).to_vec();
        for (name, topic, _) in COMMANDS {
            if name == "help" {
                continue;
            }
            let help = cli::help_text(topic);
            let on_option_lines = help
                .lines()
                .filter(|l| l.starts_with(' ') && l.trim_start().starts_with('-'))
                // The flags before the description: `-o, --output FILE  write…`.
                .flat_map(|l| {
                    l.split_whitespace()
                        .take_while(|w| !w.starts_with(char::is_lowercase))
                })
                .filter_map(|w| w.trim_end_matches(',').strip_prefix("--"))
                .filter(|w| !w.is_empty());
            for long in on_option_lines {
                for (shell, script) in SHELLS.iter().zip(&scripts) {
                    let spelled = match *shell {
                        "fish" => format!("__fish_seen_subcommand_from {name}' -l {long}"),
                        _ => format!("--{long}"),
                    };
                    assert!(script.contains(&spelled), "{shell}: porch {name} --{long}");
                }
            }
        }
    }

    #[test]
    fn values_complete_as_the_parser_reads_them() {
        let run = commands().into_iter().find(|c| c.name == "run").unwrap();
        let value = |long: &str| run.flags.iter().find(|f| f.long == long).unwrap().value;
        assert_eq!(value("color"), Some(Completes::Words(&COLOR_CHOICES)));
        assert_eq!(
            value("permission-mode"),
            Some(Completes::Words(&PERMISSION_MODES))
        );
        assert_eq!(value("output"), Some(Completes::Files));
        assert_eq!(value("worktree-dir"), Some(Completes::Directories));
        assert_eq!(value("cleanup"), None);
        for color in COLOR_CHOICES {
            assert!(
                cli::parse(["run", "t", "--color", color]).is_ok(),
                "{color}"
            );
        }
        let resume = commands().into_iter().find(|c| c.name == "resume").unwrap();
        for long in ["run", "timeout", "junit", "color"] {
            assert!(
                resume.flags.iter().any(|f| f.long == long),
                "resume --{long}"
            );
        }
    }

    #[test]
    fn every_command_completed_is_one_porch_has() {
        for (name, topic, _) in COMMANDS {
            let asked = if name == "help" {
                [name, "help"]
            } else {
                [name, "--help"]
            };
            assert_eq!(
                cli::parse(asked).ok(),
                Some(cli::Command::Help(topic)),
                "{name}"
            );
            assert!(cli::MAIN_HELP.contains(&format!("porch {name}")), "{name}");
        }
        // And every command the main help lists is completed.
        let listed = cli::MAIN_HELP
            .lines()
            .filter_map(|l| l.strip_prefix("  porch "))
            .filter_map(|l| l.split_whitespace().next());
        for name in listed {
            assert!(
                COMMANDS.iter().any(|(command, _, _)| *command == name),
                "porch {name} is completed"
            );
        }
        for shell in SHELLS {
            assert!(Shell::from_name(shell).is_some());
        }
    }
}
