//! `porch plan`'s command line and help.

use std::ffi::OsString;
use std::path::PathBuf;

use lexopt::prelude::*;

use crate::cli::Command;
use crate::cli::HelpTopic;
use crate::cli::nonempty_path;
use crate::cli::set_once;
use crate::error::Error;
use crate::preflight::options::Goal;
use crate::preflight::options::PlanArgs;
use crate::preflight::proposal::DEFAULT_MAX_TASKS;
use crate::preflight::proposal::MAX_TASKS_LIMIT;

pub const HELP: &str = "\
porch plan: split a goal into tasks and write the tasks file, from one claude session that
reads the repository and can change nothing

Usage:
  porch plan [OPTIONS] GOAL [REPO]
  porch plan [OPTIONS] --goal-file FILE [REPO]

Arguments:
  GOAL    what the tasks should achieve, sent to the session as it is; - reads it from
          standard input
  REPO    any directory inside the git work tree to plan for [default: .]

Options:
      --goal-file FILE   read the goal from FILE instead of GOAL
  -o, --output FILE      the tasks file to write [default: tasks.json]
      --force            replace FILE if it exists
      --max-tasks N      the most tasks the plan may have, 1 to 30 [default: 8]
      --model MODEL      claude's --model for the planning session
      --claude PATH      the agent executable [env: PORCH_CLAUDE] [default: claude on PATH]
  -h, --help             show this help

The session runs in a detached worktree of REPO's HEAD in the temporary directory, removed
afterwards: REPO keeps no branch, worktree or file of it. It may only read and search that
worktree (Read, Grep, Glob; nothing outside it), and answers through claude's --json-schema
with a tasks file that gives each task only name, description, prompt, depends_on and check.
porch checks the plan as `porch run` checks a tasks file; a plan it refuses is sent back once,
in the same session, with the reason. FILE is written only for a plan porch accepts.

A plan is model output shaped by what the repository says, and `porch run` runs each task's
check: porch prints every command the plan runs. Read them, and the prompts, before the run.

Exit codes: 0 the tasks file was written; 1 the session failed or its plan stayed invalid
(nothing written); 2 bad usage: no goal, an empty one, REPO not a repository, FILE exists;
130, 143, 129 stopped by SIGINT, SIGTERM, SIGHUP (nothing written).";

const USAGE: &str =
    "usage: porch plan [OPTIONS] GOAL [REPO], or porch plan --goal-file FILE [REPO]";

pub fn parse(parser: &mut lexopt::Parser) -> Result<Command, Error> {
    let mut goal_file = None;
    let mut output = None;
    let mut force = false;
    let mut max_tasks = None;
    let mut model = None;
    let mut claude = None;
    let mut positionals: Vec<OsString> = Vec::new();
    while let Some(arg) = parser.next()? {
        match arg {
            Short('h') | Long("help") => return Ok(Command::Help(HelpTopic::Plan)),
            Long("goal-file") => set_once(
                &mut goal_file,
                "--goal-file",
                nonempty_path(parser, "--goal-file")?,
            )?,
            Short('o') | Long("output") => {
                set_once(&mut output, "--output", nonempty_path(parser, "--output")?)?
            }
            Long("force") => force = true,
            Long("max-tasks") => set_once(&mut max_tasks, "--max-tasks", count(parser)?)?,
            Long("model") => {
                let value = parser.value()?.string()?;
                if value.trim().is_empty() {
                    return Err(Error::usage("--model needs a model name")
                        .with_hint("e.g. --model sonnet, or leave it out for claude's default"));
                }
                set_once(&mut model, "--model", value)?;
            }
            Long("claude") => {
                set_once(&mut claude, "--claude", nonempty_path(parser, "--claude")?)?
            }
            Value(value) => positionals.push(value),
            _ => return Err(Error::from(arg.unexpected()).with_hint(USAGE)),
        }
    }
    let mut positionals = positionals.into_iter();
    let from_file = goal_file.is_some();
    let goal = match goal_file {
        Some(file) if file.as_os_str() == "-" => Goal::Stdin,
        Some(file) => Goal::File(file),
        None => goal(positionals.next())?,
    };
    let repo = positionals
        .next()
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."));
    if let Some(extra) = positionals.next() {
        let extra = extra.to_string_lossy();
        if from_file {
            return Err(Error::usage(format!(
                "both a GOAL and --goal-file given (`{extra}` after REPO)"
            ))
            .with_hint("give the goal once: as GOAL, or in the file --goal-file names"));
        }
        return Err(Error::usage(format!("unexpected argument `{extra}`")).with_hint(
            "quote the goal as one argument: porch plan 'Add a --json flag to every command' [REPO]",
        ));
    }
    if repo.as_os_str().is_empty() {
        return Err(Error::usage("the repository path is empty")
            .with_hint("name a directory inside a git work tree, or leave REPO out for ."));
    }
    Ok(Command::Plan(Box::new(PlanArgs {
        goal,
        repo,
        output: output.unwrap_or_else(|| PathBuf::from("tasks.json")),
        force,
        max_tasks: max_tasks.unwrap_or(DEFAULT_MAX_TASKS),
        model,
        claude: claude.map(PathBuf::into_os_string),
    })))
}

/// GOAL, when there is no `--goal-file`: text, or `-` for standard input.
fn goal(value: Option<OsString>) -> Result<Goal, Error> {
    let Some(value) = value else {
        return Err(Error::usage("no goal given").with_hint(USAGE));
    };
    let text = value.into_string().map_err(|raw| {
        Error::usage(format!(
            "the goal `{}` is not valid UTF-8",
            raw.to_string_lossy()
        ))
        .with_hint("write the goal as UTF-8 text, or give it with --goal-file")
    })?;
    if text == "-" {
        return Ok(Goal::Stdin);
    }
    if text.trim().is_empty() {
        return Err(Error::usage("the goal is empty")
            .with_hint("say what the tasks should achieve, e.g. porch plan 'Add a --json flag to every command'"));
    }
    Ok(Goal::Text(text))
}

fn count(parser: &mut lexopt::Parser) -> Result<usize, Error> {
    let text = parser.value()?.string()?;
    text.parse::<usize>()
        .ok()
        .filter(|n| (1..=MAX_TASKS_LIMIT).contains(n))
        .ok_or_else(|| {
            Error::usage(format!("--max-tasks `{text}` is not a number of tasks")).with_hint(
                format!("give a whole number from 1 to {MAX_TASKS_LIMIT}, e.g. --max-tasks 5"),
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan_args(args: &[&str]) -> PlanArgs {
        let all = std::iter::once("plan").chain(args.iter().copied());
        match crate::cli::parse(all) {
            Ok(Command::Plan(plan)) => *plan,
            other => panic!("expected a plan command, got {other:?}"),
        }
    }

    fn refusal(args: &[&str]) -> (String, String) {
        let all = std::iter::once("plan").chain(args.iter().copied());
        match crate::cli::parse(all) {
            Err(err) => (err.to_string(), err.hint().unwrap_or_default().into_owned()),
            Ok(command) => panic!("expected an error, got {command:?}"),
        }
    }

    #[test]
    fn defaults_and_every_option() {
        let plain = plan_args(&["Add a flag"]);
        assert_eq!(
            plain,
            PlanArgs {
                goal: Goal::Text("Add a flag".to_string()),
                repo: PathBuf::from("."),
                output: PathBuf::from("tasks.json"),
                force: false,
                max_tasks: DEFAULT_MAX_TASKS,
                model: None,
                claude: None,
            }
        );
        let full = plan_args(&[
            "--max-tasks",
            "3",
            "Add a flag",
            "/r",
            "-o",
            "p.json",
            "--force",
            "--model",
            "opus",
            "--claude",
            "/bin/claude",
        ]);
        assert_eq!(full.repo, PathBuf::from("/r"));
        assert_eq!(full.output, PathBuf::from("p.json"));
        assert!(full.force);
        assert_eq!(full.max_tasks, 3);
        assert_eq!(full.model.as_deref(), Some("opus"));
        assert_eq!(full.claude, Some(OsString::from("/bin/claude")));
    }

    #[test]
    fn the_goal_comes_from_an_argument_standard_input_or_a_file() {
        assert_eq!(plan_args(&["-", "r"]).goal, Goal::Stdin);
        assert_eq!(plan_args(&["--goal-file", "-"]).goal, Goal::Stdin);
        let from_file = plan_args(&["--goal-file", "g.md", "r"]);
        assert_eq!(from_file.goal, Goal::File(PathBuf::from("g.md")));
        assert_eq!(from_file.repo, PathBuf::from("r"));
    }

    #[test]
    fn bad_command_lines_are_refused_with_a_hint() {
        let cases: [(&[&str], &str, &str); 8] = [
            (&[], "no goal given", "usage: porch plan"),
            (&[" \n"], "the goal is empty", "porch plan '"),
            (
                &["--goal-file", "g.md", "goal", "r"],
                "both a GOAL and --goal-file given",
                "give the goal once",
            ),
            (
                &["two", "words", "r"],
                "unexpected argument `r`",
                "quote the goal",
            ),
            (
                &["g", "--max-tasks", "31"],
                "--max-tasks `31` is not a number of tasks",
                "from 1 to 30",
            ),
            (
                &["g", "--max-tasks", "x"],
                "--max-tasks `x`",
                "from 1 to 30",
            ),
            (
                &["g", "--model", ""],
                "--model needs a model name",
                "--model sonnet",
            ),
            (
                &["g", "--jobs", "2"],
                "invalid option '--jobs'",
                "usage: porch plan",
            ),
        ];
        for (args, message, hint) in cases {
            let (got, got_hint) = refusal(args);
            assert!(got.contains(message), "{args:?}: {got}");
            assert!(got_hint.contains(hint), "{args:?}: {got_hint}");
        }
        let (twice, _) = refusal(&["g", "-o", "a", "-o", "b"]);
        assert_eq!(twice, "--output was given more than once");
    }
}
