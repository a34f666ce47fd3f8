//! `porch completions bash|zsh|fish`: shell completion scripts, made from the commands' table,
//! so each command is offered exactly the flags its parser takes. Task names come from
//! `porch __complete tasks` (`complete.rs`) when the script runs.

use std::fmt::Write as _;

use crate::cli::flags::Completes;
use crate::cli::flags::Flag;
use crate::cli::flags::flag;
use crate::cli::help;
use crate::cli::table::Argument;
use crate::cli::table::COMMANDS;
use crate::cli::table::Spec;
use crate::cli::table::TOP_FLAGS;
use crate::cli::table::TOPICS;

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Shell {
    Bash,
    Zsh,
    Fish,
}

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

pub fn script(shell: Shell) -> String {
    match shell {
        Shell::Bash => bash(),
        Shell::Zsh => zsh(),
        Shell::Fish => fish(),
    }
}

/// Every flag a command's completion offers, with the description its help gives.
fn offered(spec: &Spec) -> impl Iterator<Item = (&'static Flag, String)> + use<> {
    spec.takes().map(|t| (flag(t.opt), help::one_line(t)))
}

/// `-o --output`: the spellings a script offers (never an alias).
fn spellings(flag: &Flag) -> Vec<String> {
    let mut words: Vec<String> = flag.short.map(|c| format!("-{c}")).into_iter().collect();
    words.push(flag.name());
    words
}

/// The words `porch help` completes: the commands, and the topics.
fn topics() -> Vec<&'static str> {
    COMMANDS.iter().map(|s| s.word).chain(TOPICS).collect()
}

/// The spellings of the flags of `spec` that take a value.
fn valued(spec: &Spec) -> Vec<String> {
    offered(spec)
        .filter(|(f, _)| f.takes_value())
        .flat_map(|(f, _)| spellings(f))
        .collect()
}

const BASH_HEAD: &str = r#"# bash completion for porch: `source <(porch completions bash)`, or save it as
# ~/.local/share/bash-completion/completions/porch

# COMPREPLY from a command's output, a candidate a line: a name with spaces stays one.
_porch_reply() {
    COMPREPLY=()
    local line
    while IFS= read -r line; do
        [ -n "$line" ] && COMPREPLY+=("$line")
    done < <("$@")
}
_porch_files() { compopt -o filenames 2>/dev/null; _porch_reply compgen -f -- "$1"; }
# Directories, but never a .git directory or one inside it: no command of porch takes one.
_porch_dirs() {
    compopt -o filenames 2>/dev/null
    _porch_reply compgen -d -- "$1"
    local kept=() dir
    for dir in "${COMPREPLY[@]}"; do
        case "/$dir/" in */.git/*) ;; *) kept+=("$dir") ;; esac
    done
    COMPREPLY=("${kept[@]}")
}
# The task names porch reads from the tasks file or the stored run the words name.
_porch_tasks() {
    _porch_reply command porch __complete tasks "$1" "${COMP_WORDS[@]:0:COMP_CWORD}" 2>/dev/null
}
_porch() {
    local cur="${COMP_WORDS[COMP_CWORD]}"
    COMPREPLY=()
"#;

fn bash_reply(completes: Completes) -> String {
    match completes {
        Completes::Files => "_porch_files \"$cur\"".to_string(),
        Completes::Directories => "_porch_dirs \"$cur\"".to_string(),
        Completes::Words(words) => bash_words(words),
        Completes::Topics => bash_words(&topics()),
        Completes::Tasks => "_porch_tasks \"$cur\"".to_string(),
        Completes::RepoOrTask => "if [[ \"$cur\" == .* || \"$cur\" == */* ]]; then _porch_dirs \"$cur\"; else _porch_tasks \"$cur\"; fi".to_string(),
        Completes::Nothing => "COMPREPLY=()".to_string(),
    }
}

fn bash_words(words: &[&str]) -> String {
    format!(
        "_porch_reply compgen -W \"{}\" -- \"$cur\"",
        words.join(" ")
    )
}

fn bash() -> String {
    let mut out = String::from(BASH_HEAD);
    let mut first: Vec<String> = COMMANDS.iter().map(|s| s.word.to_string()).collect();
    first.extend(TOP_FLAGS.iter().flat_map(|t| spellings(flag(t.opt))));
    let _ = writeln!(
        out,
        "    if [ \"$COMP_CWORD\" -le 1 ]; then\n        {}\n        return 0\n    fi",
        bash_words(&first.iter().map(String::as_str).collect::<Vec<_>>())
    );
    out.push_str("    local command=\"${COMP_WORDS[1]}\" prev=\"${COMP_WORDS[COMP_CWORD-1]}\"\n");
    out.push_str("    local flags=\"\" takes_value=\"\"\n    case \"$command\" in\n");
    for spec in COMMANDS {
        let all: Vec<String> = offered(spec).flat_map(|(f, _)| spellings(f)).collect();
        let _ = writeln!(
            out,
            "        {}) flags=\"{}\"; takes_value=\" {} \" ;;",
            spec.word,
            all.join(" "),
            valued(spec).join(" ")
        );
    }
    out.push_str("    esac\n    case \"$command $prev\" in\n");
    for spec in COMMANDS {
        for (flag, _) in offered(spec) {
            let Some(value) = flag.value else { continue };
            let patterns: Vec<String> = spellings(flag)
                .iter()
                .map(|w| format!("\"{} {w}\"", spec.word))
                .collect();
            let reply = bash_reply(value.completes);
            let _ = writeln!(out, "        {}) {reply}; return 0 ;;", patterns.join("|"));
        }
    }
    out.push_str(BASH_POSITION);
    for spec in COMMANDS {
        for (index, argument) in spec.arguments.iter().enumerate() {
            let position = match argument.name.ends_with("...") {
                true => format!("\"{} \"{}*", spec.word, index),
                false => format!("\"{} {index}\"", spec.word),
            };
            let _ = writeln!(
                out,
                "        {position}) {} ;;",
                bash_reply(argument.completes)
            );
        }
    }
    out.push_str("    esac\n    return 0\n}\ncomplete -F _porch porch\n");
    out
}

/// After the flags' values: a flag being typed, else which positional the word is (the words
/// before it that are neither flags nor their values).
const BASH_POSITION: &str = r#"    esac
    if [[ "$cur" == -* ]]; then
        _porch_reply compgen -W "$flags" -- "$cur"
        return 0
    fi
    local i=2 position=0
    while [ "$i" -lt "$COMP_CWORD" ]; do
        local word="${COMP_WORDS[i]}"
        if [[ "$word" == -* ]]; then
            [[ "$word" != *=* && "$takes_value" == *" $word "* ]] && i=$((i + 1))
        else
            position=$((position + 1))
        fi
        i=$((i + 1))
    done
    case "$command $position" in
"#;

/// Text inside single quotes in zsh.
fn zsh_quote(text: &str) -> String {
    text.replace('\'', r"'\''")
}

/// Text inside a single-quoted zsh `_arguments` spec, in a description (`[…]`) or a message:
/// `_arguments` reads `\` as quoting the next character, so `[`, `]` and `:` keep their place.
fn zsh_escape(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        match c {
            '\'' => out.push_str(r"'\''"),
            '\\' | '[' | ']' | ':' => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out
}

fn zsh_action(completes: Completes) -> String {
    match completes {
        Completes::Files => "_files".to_string(),
        Completes::Directories => "_porch_dirs".to_string(),
        Completes::Words(words) => format!("({})", words.join(" ")),
        Completes::Topics => format!("({})", topics().join(" ")),
        Completes::Tasks => "_porch_tasks".to_string(),
        Completes::RepoOrTask => "_porch_repo_or_task".to_string(),
        Completes::Nothing => " ".to_string(),
    }
}

const ZSH_HEAD: &str = r#"#compdef porch
# zsh completion for porch: save it as _porch in a directory of $fpath
# (e.g. ~/.zfunc, with fpath=(~/.zfunc $fpath) before compinit in ~/.zshrc)

# The task names porch reads from the tasks file or the stored run the words name.
_porch_tasks() {
    local -a tasks
    tasks=(${(f)"$(command porch __complete tasks "${words[CURRENT]}" porch "${(@)words[1,CURRENT-1]}" 2>/dev/null)"})
    compadd -a tasks
}
# Directories, but never a .git directory or one inside it: no command of porch takes one.
_porch_dirs() {
    [[ "/$PREFIX" == */.git/* ]] && return 1
    _files -/ -F '(.git */.git)'
}
_porch_repo_or_task() {
    _alternative 'tasks:task:_porch_tasks' 'directories:directory:_porch_dirs'
}
_porch() {
    if (( CURRENT == 2 )); then
        local -a commands
        commands=(
"#;

fn zsh_flag(flag: &Flag, about: &str) -> String {
    let about = zsh_escape(about);
    let value = flag
        .value
        .map(|v| format!(":{}:{}", zsh_escape(v.placeholder), zsh_action(v.completes)))
        .unwrap_or_default();
    match flag.short {
        Some(c) => format!(
            "'(-{c} --{long})'{{-{c},--{long}}}'[{about}]{value}'",
            long = flag.long
        ),
        None => format!("'--{}[{about}]{value}'", flag.long),
    }
}

fn zsh_argument(index: usize, argument: &Argument) -> String {
    let position = match argument.name.ends_with("...") {
        true => "*".to_string(),
        false => (index + 1).to_string(),
    };
    let name = zsh_escape(argument.name.trim_end_matches("..."));
    format!("'{position}:{name}:{}'", zsh_action(argument.completes))
}

fn zsh() -> String {
    let mut out = String::from(ZSH_HEAD);
    for spec in COMMANDS {
        let (_, what) = spec.overview[0];
        let _ = writeln!(out, "            '{}:{}'", spec.word, zsh_quote(what));
    }
    for takes in TOP_FLAGS {
        for spelling in spellings(flag(takes.opt)) {
            let _ = writeln!(out, "            '{spelling}:{}'", zsh_quote(takes.about));
        }
    }
    out.push_str(
        "        )\n        _describe command commands\n        return\n    fi\n    shift words\n    (( CURRENT-- ))\n    case $words[1] in\n",
    );
    for spec in COMMANDS {
        let _ = writeln!(out, "        {})\n            _arguments -s \\", spec.word);
        for (flag, about) in offered(spec) {
            let _ = writeln!(out, "                {} \\", zsh_flag(flag, &about));
        }
        for (index, argument) in spec.arguments.iter().enumerate() {
            let _ = writeln!(out, "                {} \\", zsh_argument(index, argument));
        }
        out.push_str("            ;;\n");
    }
    out.push_str("    esac\n}\n_porch \"$@\"\n");
    out
}

fn fish_quote(text: &str) -> String {
    format!("'{}'", text.replace('\\', "\\\\").replace('\'', "\\'"))
}

const FISH_HEAD: &str = r#"# fish completion for porch: save it as ~/.config/fish/completions/porch.fish
complete -c porch -f

# The word being completed follows COMMAND.
function __porch_is --argument-names command
    set -l tokens (commandline -opc)
    test (count $tokens) -ge 2; and test "$tokens[2]" = "$command"
end

# The word being completed is argument N of COMMAND (N+: or a later one); the flags after N
# are those that take a value, whose value is no argument.
function __porch_argument --argument-names command want
    __porch_is $command; or return 1
    set -l valued $argv[3..-1]
    set -l position 0
    set -l skip 0
    for token in (commandline -opc)[3..-1]
        if test $skip = 1
            set skip 0
        else if string match -q -- '-*' $token
            contains -- $token $valued; and set skip 1
        else
            set position (math $position + 1)
        end
    end
    if string match -q -- '*+' $want
        test $position -ge (string trim -r -c + -- $want)
    else
        test $position -eq $want
    end
end

# Directories, but never a .git directory or one inside it: no command of porch takes one.
function __porch_dirs
    set -l current (commandline -ct)
    string match -q -- '*/.git/*' "/$current"; and return
    __fish_complete_directories $current | string match -v -r -- '(^|/)\.git/\t'
end

# The task names porch reads from the tasks file or the stored run the words name.
function __porch_tasks
    set -l current (commandline -ct)
    command porch __complete tasks "$current" (commandline -opc) 2>/dev/null
end
"#;

fn fish_value(completes: Completes) -> Option<String> {
    match completes {
        Completes::Files => Some("-F".to_string()),
        Completes::Directories => Some("-a '(__porch_dirs)'".to_string()),
        Completes::Words(words) => Some(format!("-a {}", fish_quote(&words.join(" ")))),
        Completes::Topics => Some(format!("-a {}", fish_quote(&topics().join(" ")))),
        Completes::Tasks => Some("-a '(__porch_tasks)'".to_string()),
        Completes::RepoOrTask => Some("-a '(__porch_tasks) (__porch_dirs)'".to_string()),
        Completes::Nothing => None,
    }
}

fn fish_flag(spec: &Spec, flag: &Flag, about: &str) -> String {
    let mut line = format!(
        "complete -c porch -n '__porch_is {}' -l {}",
        spec.word, flag.long
    );
    if let Some(c) = flag.short {
        let _ = write!(line, " -s {c}");
    }
    match flag.value.map(|v| v.completes) {
        None => {}
        Some(Completes::Files) => line.push_str(" -r -F"),
        Some(completes) => {
            line.push_str(" -x");
            if let Some(value) = fish_value(completes) {
                let _ = write!(line, " {value}");
            }
        }
    }
    format!("{line} -d {}", fish_quote(about))
}

fn fish() -> String {
    let mut out = String::from(FISH_HEAD);
    for spec in COMMANDS {
        let (_, what) = spec.overview[0];
        let _ = writeln!(
            out,
            "complete -c porch -n __fish_use_subcommand -a {} -d {}",
            spec.word,
            fish_quote(what)
        );
    }
    for spec in COMMANDS {
        for (flag, about) in offered(spec) {
            let _ = writeln!(out, "{}", fish_flag(spec, flag, &about));
        }
        let valued = valued(spec).join(" ");
        for (index, argument) in spec.arguments.iter().enumerate() {
            let Some(value) = fish_value(argument.completes) else {
                continue;
            };
            let want = match argument.name.ends_with("...") {
                true => format!("{index}+"),
                false => index.to_string(),
            };
            let when = format!("__porch_argument {} {want} {valued}", spec.word);
            let _ = writeln!(
                out,
                "complete -c porch -n {} {value}",
                fish_quote(when.trim())
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::flags::FLAGS;

    #[test]
    fn zsh_descriptions_keep_every_character() {
        assert_eq!(
            zsh_escape("the agent [env: PORCH_CLAUDE] it's ~/w"),
            r"the agent \[env\: PORCH_CLAUDE\] it'\''s ~/w"
        );
    }

    /// The flags (`-x`, `--long`) a script offers after `porch WORD`, read from its text.
    fn offered_in(shell: Shell, script: &str, word: &str) -> Vec<String> {
        let mut found: Vec<String> = match shell {
            Shell::Bash => {
                let line = format!("\n        {word}) flags=\"");
                let rest = script
                    .split(&line)
                    .nth(1)
                    .expect("bash has a line per command");
                let flags = rest.split('"').next().unwrap();
                flags.split_whitespace().map(String::from).collect()
            }
            Shell::Zsh => {
                let block = script
                    .split(&format!("\n        {word})\n"))
                    .nth(1)
                    .unwrap();
                let block = block.split(";;").next().unwrap();
                block
                    .lines()
                    .filter_map(|l| l.trim().strip_prefix('\''))
                    .flat_map(|spec| match spec.strip_prefix('(') {
                        // '(-o --output)'{-o,--output}'[…]…'
                        Some(both) => both.split(')').next().unwrap().split(' ').collect(),
                        None => vec![spec.split('[').next().unwrap()],
                    })
                    .filter(|f| f.starts_with('-'))
                    .map(String::from)
                    .collect()
            }
            Shell::Fish => script
                .lines()
                .filter_map(|l| {
                    l.strip_prefix(&format!("complete -c porch -n '__porch_is {word}' "))
                })
                .flat_map(|l| {
                    let words: Vec<&str> = l.split(' ').collect();
                    let mut flags = vec![format!("--{}", words[1])];
                    if words.get(2) == Some(&"-s") {
                        flags.push(format!("-{}", words[3]));
                    }
                    flags
                })
                .collect(),
        };
        found.sort();
        found
    }

    /// Each script offers each command exactly the flags of its row; the parser takes each of
    /// them, and refuses every flag of porch the command's row does not hold.
    #[test]
    fn each_script_offers_each_command_exactly_the_flags_its_parser_takes() {
        let env = crate::cli::lex::Env::default();
        for spec in COMMANDS {
            let mut expected: Vec<String> = offered(spec).flat_map(|(f, _)| spellings(f)).collect();
            expected.sort();
            for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
                let found = offered_in(shell, &script(shell), spec.word);
                assert_eq!(found, expected, "{shell:?}: porch {}", spec.word);
            }
            for flag in FLAGS {
                for spelling in spellings(flag) {
                    let mut args = vec![spec.word.to_string(), spelling.clone()];
                    if flag.takes_value() {
                        args.push("x".to_string());
                    }
                    args.push("--help".to_string());
                    let parsed = crate::cli::parse(&args, &env);
                    let help = crate::cli::Command::Help(crate::cli::HelpTopic::Command(spec.name));
                    let taken = expected.contains(&spelling);
                    let accepted = parsed.as_ref().is_ok_and(|c| *c == help);
                    assert_eq!(accepted, taken, "porch {args:?}: {parsed:?}");
                }
            }
        }
    }

    #[test]
    fn positionals_complete_by_position() {
        let bash = script(Shell::Bash);
        assert!(bash.contains("\"run 0\") _porch_files"), "{bash}");
        assert!(bash.contains("\"run 1\") _porch_dirs"), "{bash}");
        assert!(bash.contains("\"merge \"1*) _porch_tasks"), "{bash}");
        let fish = script(Shell::Fish);
        let repo = "'__porch_argument run 1 --tasks --repo --worktree-dir";
        assert!(fish.contains(repo), "{fish}");
    }
}
