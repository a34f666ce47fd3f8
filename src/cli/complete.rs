//! `porch __complete tasks CURRENT PROGRAM WORDS...`, hidden: the task names the completion
//! scripts offer, one a line. WORDS are the words typed before the one being completed
//! (CURRENT), read as the command reads them: `run --only`/`--skip` offer the tasks file's
//! tasks, `logs` and `merge` the stored run's. It never fails loudly: whatever goes wrong, it
//! prints nothing and exits 0, since a shell is waiting on it.

use std::ffi::OsString;

use crate::cli::after;
use crate::cli::flags::Opt;
use crate::cli::flags::flag;
use crate::cli::lex;
use crate::cli::lex::Env;
use crate::cli::lex::Given;
use crate::cli::lex::Lexed;
use crate::cli::table;
use crate::cli::table::Name;
use crate::preflight::taskfile;
use crate::state::runs::RunChoice;

/// The word that asks for completions; no help or script names it.
pub const WORD: &str = "__complete";

/// Where the task names come from.
#[derive(Debug, PartialEq)]
pub enum Source {
    /// A tasks file's path: its tasks as written (`--only` names those).
    TasksFile(String),
    /// A stored run: its tasks as they ran, and the repeated tasks' names.
    Run(RunChoice),
    /// A stored run's succeeded tasks, and the repeated tasks with a winner: what `merge`
    /// and `pr` take.
    Succeeded(RunChoice),
    None,
}

#[derive(Debug, PartialEq)]
pub struct Request {
    pub source: Source,
    /// The word being completed, as typed so far.
    pub current: String,
    /// Whether the word is a comma-separated list (`--only a,b`).
    pub list: bool,
}

/// Reads what follows `__complete`. Pure, like the rest of the parser.
pub fn request(args: Vec<OsString>, env: &Env) -> Request {
    let mut args = args.into_iter().map(|a| a.to_string_lossy().into_owned());
    let kind = args.next();
    let current = args.next().unwrap_or_default();
    let words: Vec<String> = args.skip(1).collect();
    let nothing = Request {
        source: Source::None,
        current: current.clone(),
        list: false,
    };
    if kind.as_deref() != Some("tasks") {
        return nothing;
    }
    let Some((given, completing)) = read(&words, env) else {
        return nothing;
    };
    let source = match given.spec.name {
        Name::Run => tasks_file(&given).map_or(Source::None, Source::TasksFile),
        Name::Logs => run_choice(&given).map_or(Source::None, Source::Run),
        Name::Merge | Name::Pr => run_choice(&given).map_or(Source::None, Source::Succeeded),
        _ => Source::None,
    };
    Request {
        source,
        current,
        list: matches!(completing, Some(Opt::Only | Opt::Skip)),
    }
}

/// The words as the command reads them, and the flag whose value is being completed (the last
/// word, when it is a flag that takes a value).
fn read(words: &[String], env: &Env) -> Option<(Given, Option<Opt>)> {
    let (command, rest) = words.split_first()?;
    let spec = table::find(command)?;
    let mut rest = rest.to_vec();
    let completing = rest.last().and_then(|last| {
        spec.takes().map(|t| flag(t.opt)).find(|f| {
            f.takes_value()
                && (*last == f.name() || f.short.is_some_and(|c| *last == format!("-{c}")))
        })
    });
    if completing.is_some() {
        rest.pop();
    }
    let mut parser = lexopt::Parser::from_iter(std::iter::once("porch".to_string()).chain(rest));
    match lex::lex(&mut parser, spec, env).ok()? {
        Lexed::Given(given) => Some((given, completing.map(|f| f.opt))),
        Lexed::Help => None,
    }
}

fn tasks_file(given: &Given) -> Option<String> {
    let tasks = match given.string(Opt::Tasks).ok()? {
        Some((tasks, _)) => tasks,
        None => given.positionals.first()?.to_str()?.to_string(),
    };
    (tasks != "-" && !tasks.is_empty()).then_some(tasks)
}

fn run_choice(given: &Given) -> Option<RunChoice> {
    let repo = match given.spec.name {
        // TASK comes first; REPO is the second positional.
        Name::Logs => given.positionals.get(1).cloned(),
        _ => given
            .positionals
            .first()
            .filter(|first| after::is_repo_path(first))
            .cloned(),
    };
    after::choice(given, repo).ok()
}

/// The lines to print: the names that complete the current word.
pub fn answer(request: &Request) -> String {
    let names = match &request.source {
        Source::TasksFile(path) => names_in_file(path),
        Source::Run(choice) => names_in_run(choice, false),
        Source::Succeeded(choice) => names_in_run(choice, true),
        Source::None => Vec::new(),
    };
    candidates(&names, &request.current, request.list)
        .into_iter()
        .map(|name| format!("{name}\n"))
        .collect()
}

fn names_in_file(path: &str) -> Vec<String> {
    let Ok(bytes) = std::fs::read(path) else {
        return Vec::new();
    };
    let dir = taskfile::prompt_dir(path);
    let source = taskfile::Source {
        name: path,
        dir: &dir,
    };
    taskfile::parse(&source, &bytes)
        .map(|file| file.tasks.into_iter().map(|t| t.name).collect())
        .unwrap_or_default()
}

fn names_in_run(choice: &RunChoice, succeeded_only: bool) -> Vec<String> {
    let Ok((_, run)) = choice.load() else {
        return Vec::new();
    };
    let mut names: Vec<String> = Vec::new();
    let tasks = run.results.tasks.into_iter();
    for task in tasks.filter(|t| !succeeded_only || t.succeeded()) {
        for name in [Some(task.name), task.group].into_iter().flatten() {
            if !names.contains(&name) {
                names.push(name);
            }
        }
    }
    names
}

/// The names that start with what is typed; in a list, the ones not in it yet, after it.
pub fn candidates(names: &[String], current: &str, list: bool) -> Vec<String> {
    let (before, partial) = match current.rfind(',') {
        Some(at) if list => current.split_at(at + 1),
        _ => ("", current),
    };
    let typed: Vec<&str> = before.split(',').map(str::trim).collect();
    names
        .iter()
        .filter(|name| name.starts_with(partial) && !typed.contains(&name.as_str()))
        .map(|name| format!("{before}{name}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn request_for(words: &[&str], env: &Env) -> Request {
        let mut args: Vec<OsString> = vec!["tasks".into()];
        let (current, before) = words.split_last().unwrap();
        args.push(current.into());
        args.push("porch".into());
        args.extend(before.iter().map(OsString::from));
        request(args, env)
    }

    #[test]
    fn run_offers_the_tasks_file_for_only_and_skip() {
        let env = Env::default();
        let request = request_for(&["run", "t.json", "--only", "a,"], &env);
        assert_eq!(request.source, Source::TasksFile("t.json".to_string()));
        assert!(request.list);
        let request = request_for(&["run", "--tasks", "x.json", "--skip", ""], &env);
        assert_eq!(request.source, Source::TasksFile("x.json".to_string()));
        let request = request_for(&["run", "-", "--only", ""], &env);
        assert_eq!(request.source, Source::None, "stdin is not read");
    }

    #[test]
    fn logs_and_merge_offer_the_stored_run_where_the_run_was_made() {
        let env = Env::from_vars([("PORCH_WORKTREE_DIR".into(), "/wt".into())]);
        let request = request_for(&["logs", "--run", "R", ""], &env);
        let Source::Run(choice) = request.source else {
            panic!("{request:?}")
        };
        assert_eq!(choice.repo, Path::new("."));
        assert_eq!(choice.run.as_deref(), Some("R"));
        assert_eq!(choice.worktree_dir.as_deref(), Some(Path::new("/wt")));
        let request = request_for(&["merge", "a", "--worktree-dir", "/w", "b"], &env);
        let Source::Succeeded(choice) = request.source else {
            panic!("{request:?}")
        };
        assert_eq!(choice.worktree_dir.as_deref(), Some(Path::new("/w")));
        for words in [
            &["status", ""][..],
            &["bogus", ""],
            &["logs", "--frob", ""],
            &[""],
        ] {
            assert_eq!(request_for(words, &env).source, Source::None, "{words:?}");
        }
    }

    #[test]
    fn candidates_complete_a_name_or_the_next_of_a_list() {
        let names: Vec<String> = ["api", "app", "docs"].map(String::from).to_vec();
        assert_eq!(candidates(&names, "ap", false), ["api", "app"]);
        assert_eq!(candidates(&names, "", false), ["api", "app", "docs"]);
        assert_eq!(candidates(&names, "api,", true), ["api,app", "api,docs"]);
        assert_eq!(candidates(&names, "api,d", true), ["api,docs"]);
        assert!(candidates(&names, "api,", false).is_empty());
    }
}
