//! The command line of `porch plan`.

use std::ffi::OsString;
use std::path::PathBuf;

use crate::cli::Command;
use crate::cli::flags::Opt;
use crate::cli::lex::Given;
use crate::cli::run::claude;
use crate::cli::run::max_cost_usd;
use crate::error::Error;
use crate::preflight::options::DEFAULT_MAX_WAIT;
use crate::preflight::options::Goal;
use crate::preflight::options::PLAN_TIMEOUT;
use crate::preflight::options::PlanArgs;
use crate::preflight::proposal::DEFAULT_MAX_TASKS;
use crate::preflight::proposal::MAX_TASKS_LIMIT;

const GOAL_HINT: &str =
    "say what the tasks should achieve, e.g. porch plan 'Add a --json flag to every command'";

pub fn plan(given: &Given) -> Result<Command, Error> {
    let mut positionals = given.positionals.clone().into_iter();
    let goal = match given.path(Opt::GoalFile)? {
        Some(file) if file.as_os_str() == "-" => Goal::Stdin,
        Some(file) => Goal::File(file),
        None => goal(positionals.next(), given)?,
    };
    let repo = PathBuf::from(positionals.next().unwrap_or_else(|| ".".into()));
    if let Some(extra) = positionals.next() {
        let extra = extra.to_string_lossy();
        if given.raw(Opt::GoalFile).is_some() {
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
    let max_tasks = given.number(
        Opt::MaxTasks,
        1..=MAX_TASKS_LIMIT as u64,
        "a number of tasks",
        "5",
    )?;
    let model = given.text(
        Opt::Model,
        "a model name",
        "e.g. --model sonnet, or leave it out for claude's default",
    )?;
    Ok(Command::Plan(Box::new(PlanArgs {
        goal,
        repo,
        output: given
            .path(Opt::Output)?
            .unwrap_or_else(|| PathBuf::from("tasks.json")),
        force: given.switch(Opt::Force),
        max_tasks: max_tasks.unwrap_or(DEFAULT_MAX_TASKS),
        model,
        timeout: given.duration(Opt::Timeout)?.unwrap_or(PLAN_TIMEOUT),
        max_cost_usd: max_cost_usd(given)?,
        max_wait: given.duration(Opt::MaxWait)?.unwrap_or(DEFAULT_MAX_WAIT),
        claude: claude(given)?,
    })))
}

/// GOAL, when there is no `--goal-file`: text, or `-` for standard input.
fn goal(value: Option<OsString>, given: &Given) -> Result<Goal, Error> {
    let Some(value) = value else {
        return Err(Error::usage("no goal given").with_hint(given.spec.usage_hint()));
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
        return Err(Error::usage("the goal is empty").with_hint(GOAL_HINT));
    }
    Ok(Goal::Text(text))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan_args(args: &[&str]) -> PlanArgs {
        let all = std::iter::once("plan").chain(args.iter().copied());
        match crate::cli::parse(all, &crate::cli::Env::default()) {
            Ok(Command::Plan(plan)) => *plan,
            other => panic!("expected a plan command, got {other:?}"),
        }
    }

    fn refusal(args: &[&str]) -> (String, String) {
        let all = std::iter::once("plan").chain(args.iter().copied());
        match crate::cli::parse(all, &crate::cli::Env::default()) {
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
                timeout: PLAN_TIMEOUT,
                max_cost_usd: None,
                max_wait: DEFAULT_MAX_WAIT,
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
            "--timeout",
            "5m",
            "--max-cost-usd",
            "2.5",
            "--max-wait",
            "1h",
        ]);
        assert_eq!(full.repo, PathBuf::from("/r"));
        assert_eq!(full.timeout, std::time::Duration::from_secs(300));
        assert_eq!(full.max_cost_usd, Some(2.5));
        assert_eq!(full.max_wait, std::time::Duration::from_secs(3600));
        assert_eq!(full.output, PathBuf::from("p.json"));
        assert!(full.force);
        assert_eq!(full.max_tasks, 3);
        assert_eq!(full.model.as_deref(), Some("opus"));
        let claude = full.claude.unwrap();
        assert_eq!(
            (claude.value, claude.from.as_str()),
            ("/bin/claude".into(), "--claude")
        );
        // PORCH_CLAUDE stands in for --claude.
        let env = crate::cli::Env::from_vars([("PORCH_CLAUDE".into(), "/opt/claude".into())]);
        let Ok(Command::Plan(from_env)) = crate::cli::parse(["plan", "g"], &env) else {
            panic!("not a plan command");
        };
        let claude = from_env.claude.unwrap();
        assert_eq!(
            (claude.value, claude.from.as_str()),
            ("/opt/claude".into(), "PORCH_CLAUDE")
        );
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
                "see `porch plan --help`",
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
