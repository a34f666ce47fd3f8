//! The command lines of what comes after a run: status, logs, merge, clean and merge-results.
//! Like the rest of `cli`, no I/O happens here, beyond asking whether `porch merge`'s first
//! argument is a directory.

use std::ffi::OsString;
use std::path::PathBuf;

use crate::cli::Command;
use crate::cli::flags::Opt;
use crate::cli::lex::Given;
use crate::engine::resolver::RESOLVER_MODES;
use crate::error::Error;
use crate::preflight::options::CleanArgs;
use crate::preflight::options::DEFAULT_KEEP_RUNS;
use crate::preflight::options::LogsArgs;
use crate::preflight::options::MergeArgs;
use crate::preflight::options::MergeResultsArgs;
use crate::preflight::options::PrArgs;
use crate::preflight::options::ReportArgs;
use crate::preflight::options::StatusArgs;
use crate::state::runs::RunChoice;

/// Task names are letters, digits, `-`, `_` and `.`: never bytes that are not UTF-8.
const TASK_NAMES_HINT: &str = "name a task as `porch status` lists it";

/// The run a command is about, from REPO (`--repo`, else `repo`), `--worktree-dir` and `--run`.
pub fn choice(given: &Given, repo: Option<OsString>) -> Result<RunChoice, Error> {
    let repo = PathBuf::from(given.os(Opt::Repo).or(repo).unwrap_or_else(|| ".".into()));
    if repo.as_os_str().is_empty() {
        return Err(Error::usage("the repository path is empty").with_hint(given.spec.usage_hint()));
    }
    Ok(RunChoice {
        repo,
        worktree_dir: given.path(Opt::WorktreeDir)?,
        run: given.text(
            Opt::Run,
            "a run id",
            "`ls .porch/runs` under the worktree directory lists the ids",
        )?,
    })
}

/// REPO as a positional, unless `--repo` gave it; then the positionals after it.
fn repo_positional(given: &Given) -> (Option<OsString>, std::vec::IntoIter<OsString>) {
    let mut positionals = given.positionals.clone().into_iter();
    let repo = match given.os(Opt::Repo) {
        Some(_) => None,
        None => positionals.next(),
    };
    (repo, positionals)
}

pub fn status(given: &Given) -> Result<Command, Error> {
    let (repo, mut rest) = repo_positional(given);
    given.refuse_extra(rest.next())?;
    Ok(Command::Status(StatusArgs {
        choice: choice(given, repo)?,
        json: given.switch(Opt::Json),
    }))
}

pub fn report(given: &Given) -> Result<Command, Error> {
    let (repo, mut rest) = repo_positional(given);
    given.refuse_extra(rest.next())?;
    Ok(Command::Report(ReportArgs {
        choice: choice(given, repo)?,
        output: given.path(Opt::Output)?,
    }))
}

pub fn logs(given: &Given) -> Result<Command, Error> {
    // TASK comes first, then REPO.
    let mut positionals = given.positionals.clone().into_iter();
    let Some(task) = positionals.next() else {
        return Err(Error::usage("no task named").with_hint(given.spec.usage_hint()));
    };
    let repo = match given.os(Opt::Repo) {
        Some(_) => None,
        None => positionals.next(),
    };
    given.refuse_extra(positionals.next())?;
    Ok(Command::Logs(LogsArgs {
        choice: choice(given, repo)?,
        task: task_name(task)?,
        raw: given.switch(Opt::Raw),
        follow: given.switch(Opt::Follow),
    }))
}

fn task_name(value: OsString) -> Result<String, Error> {
    value.into_string().map_err(|raw| {
        Error::usage(format!(
            "TASK `{}` is not valid UTF-8",
            raw.to_string_lossy()
        ))
        .with_hint(TASK_NAMES_HINT)
    })
}

pub fn merge(given: &Given) -> Result<Command, Error> {
    // The first positional is REPO only when it is written as a path to a directory (`.`,
    // `../shop`, `~/src/shop/`): `porch merge docs` names the task `docs`, even with a docs/
    // directory at hand.
    let mut positionals = given.positionals.clone().into_iter().peekable();
    let repo = match given.os(Opt::Repo) {
        None => positionals.next_if(is_repo_path),
        Some(_) => None,
    };
    let into = given.text(
        Opt::Into,
        "a branch name",
        "name an existing branch, or leave --into out",
    )?;
    let permission_mode = given.choice(
        Opt::PermissionMode,
        "one of claude's permission modes",
        "the resolver edits files: use acceptEdits, auto or bypassPermissions",
    )?;
    if let Some(mode) = permission_mode
        && !RESOLVER_MODES.contains(&mode)
    {
        return Err(Error::usage(format!(
            "--permission-mode `{mode}` lets the resolver edit no file"
        ))
        .with_hint("the resolver edits files: use acceptEdits, auto or bypassPermissions"));
    }
    Ok(Command::Merge(MergeArgs {
        choice: choice(given, repo)?,
        into,
        tasks: positionals.map(task_name).collect::<Result<_, _>>()?,
        check: given.text(
            Opt::Check,
            "a command",
            "give a shell command, e.g. --check 'cargo test'",
        )?,
        resolve: given.switch(Opt::Resolve),
        json: given.switch(Opt::Json),
        timeout: given.duration(Opt::Timeout)?,
        max_cost_usd: crate::cli::run::max_cost_usd(given)?,
        claude: crate::cli::run::claude(given)?,
        permission_mode: permission_mode.map(String::from),
    }))
}

/// `porch pr [REPO] [TASK...]`: REPO is read as `porch merge` reads it.
pub fn pr(given: &Given) -> Result<Command, Error> {
    let mut positionals = given.positionals.clone().into_iter().peekable();
    let repo = match given.os(Opt::Repo) {
        None => positionals.next_if(is_repo_path),
        Some(_) => None,
    };
    if given.switch(Opt::Draft) && given.switch(Opt::Ready) {
        return Err(
            Error::usage("--draft and --ready were both given").with_hint(
                "pull requests are drafts by default; --ready opens them ready for review",
            ),
        );
    }
    let branch_hint = "name a branch of the remote, e.g. --base main";
    Ok(Command::Pr(PrArgs {
        choice: choice(given, repo)?,
        remote: given.text(
            Opt::Remote,
            "a remote",
            "name a remote, e.g. --remote origin",
        )?,
        draft: !given.switch(Opt::Ready),
        base: given.text(Opt::Base, "a branch name", branch_hint)?,
        tasks: positionals.map(task_name).collect::<Result<_, _>>()?,
    }))
}

pub fn is_repo_path(arg: &OsString) -> bool {
    let text = arg.to_string_lossy();
    (text == "." || text == ".." || text.contains('/')) && PathBuf::from(arg).is_dir()
}

pub fn clean(given: &Given) -> Result<Command, Error> {
    let (repo, mut rest) = repo_positional(given);
    given.refuse_extra(rest.next())?;
    let all = given.switch(Opt::All);
    let choice = choice(given, repo)?;
    if all && choice.run.is_some() {
        return Err(Error::usage("--run and --all were both given")
            .with_hint("clean one run with --run ID, or every run with --all"));
    }
    Ok(Command::Clean(CleanArgs {
        choice,
        all,
        branches: given.switch(Opt::Branches),
        dry_run: given.switch(Opt::DryRun),
        force: given.switch(Opt::Force),
        keep_runs: given
            .number(Opt::KeepRuns, 1..=u64::MAX, "a number of runs", "20")?
            .unwrap_or(DEFAULT_KEEP_RUNS),
    }))
}

pub fn merge_results(given: &Given) -> Result<Command, Error> {
    if given.positionals.iter().any(|file| file.is_empty()) {
        return Err(
            Error::usage("a results file's path is empty").with_hint(given.spec.usage_hint())
        );
    }
    if given.positionals.is_empty() {
        return Err(Error::usage("no results files to merge").with_hint(
            "porch merge-results A.json B.json ... > all.json, one results file per shard",
        ));
    }
    Ok(Command::MergeResults(MergeResultsArgs {
        files: given.positionals.iter().map(PathBuf::from).collect(),
        output: given.path(Opt::Output)?,
        allow_missing: given.switch(Opt::AllowMissing),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::lex::Env;

    fn parsed(args: &[&str]) -> Result<Command, Error> {
        crate::cli::parse(args.iter().copied(), &Env::default())
    }

    fn choice(repo: &str, run: Option<&str>) -> RunChoice {
        RunChoice {
            repo: PathBuf::from(repo),
            worktree_dir: None,
            run: run.map(String::from),
        }
    }

    #[test]
    fn report_takes_repo_run_and_an_output_file() {
        let table: [(&[&str], RunChoice, Option<&str>); 3] = [
            (&[], choice(".", None), None),
            (
                &["-o", "page.html", "r"],
                choice("r", None),
                Some("page.html"),
            ),
            (&["--run", "X", "--repo", "r"], choice("r", Some("X")), None),
        ];
        for (args, expected, output) in table {
            let mut all = vec!["report"];
            all.extend(args);
            assert_eq!(
                parsed(&all).unwrap(),
                Command::Report(ReportArgs {
                    choice: expected,
                    output: output.map(PathBuf::from),
                }),
                "{args:?}"
            );
        }
        let err = parsed(&["report", "a", "b"]).unwrap_err();
        assert!(err.to_string().contains('b'), "{err}");
    }

    #[test]
    fn status_takes_repo_run_and_json() {
        let table: [(&[&str], RunChoice, bool); 4] = [
            (&[], choice(".", None), false),
            (&["r"], choice("r", None), false),
            (&["--repo", "r", "--json"], choice("r", None), true),
            (&["--run", "X", "r"], choice("r", Some("X")), false),
        ];
        for (args, expected, json) in table {
            let mut all = vec!["status"];
            all.extend(args);
            assert_eq!(
                parsed(&all).unwrap(),
                Command::Status(StatusArgs {
                    choice: expected,
                    json
                }),
                "{args:?}"
            );
        }
    }

    #[test]
    fn logs_needs_a_task_first_then_repo() {
        let Command::Logs(logs) = parsed(&["logs", "a", "r", "--raw", "-f"]).unwrap() else {
            panic!("not logs")
        };
        assert_eq!(logs.task, "a");
        assert_eq!(logs.choice.repo, PathBuf::from("r"));
        assert!(logs.raw && logs.follow);
        let message = parsed(&["logs", "--raw"]).unwrap_err().to_string();
        assert!(message.contains("no task named"), "{message}");
        let message = parsed(&["logs", "a", "r", "x"]).unwrap_err().to_string();
        assert!(message.contains("unexpected argument `x`"), "{message}");
    }

    #[test]
    fn merge_reads_tasks_after_repo_and_into() {
        let dir = std::env::temp_dir();
        let dir = dir.to_str().unwrap();
        let Command::Merge(merge) = parsed(&["merge", dir, "a", "b", "--into", "dev"]).unwrap()
        else {
            panic!("not merge")
        };
        assert_eq!(merge.choice.repo, PathBuf::from(dir));
        assert_eq!(merge.tasks, ["a", "b"]);
        assert_eq!(merge.into.as_deref(), Some("dev"));
        // A first positional not written as a path to a directory is a task name; REPO is `.`.
        for first in ["no-such-dir-x", "src", "./no-such-dir-x"] {
            let Command::Merge(merge) = parsed(&["merge", first, "b"]).unwrap() else {
                panic!("not merge")
            };
            assert_eq!(merge.choice.repo, PathBuf::from("."), "{first}");
            assert_eq!(merge.tasks, [first, "b"]);
        }
    }

    #[test]
    fn pr_reads_tasks_after_repo_and_is_a_draft_unless_ready() {
        let Command::Pr(pr) = parsed(&["pr", "a", "--remote", "up", "--base", "dev"]).unwrap()
        else {
            panic!("not pr")
        };
        assert_eq!(pr.tasks, ["a"]);
        assert_eq!(pr.remote.as_deref(), Some("up"));
        assert_eq!(pr.base.as_deref(), Some("dev"));
        assert!(pr.draft);
        let Command::Pr(pr) = parsed(&["pr", "--ready"]).unwrap() else {
            panic!("not pr")
        };
        assert!(!pr.draft && pr.tasks.is_empty());
        let message = parsed(&["pr", "--draft", "--ready"])
            .unwrap_err()
            .to_string();
        assert!(message.contains("both given"), "{message}");
    }

    #[test]
    fn clean_flags_and_their_bad_values() {
        let Command::Clean(clean) = parsed(&["clean", "--all", "--branches", "-n"]).unwrap() else {
            panic!("not clean")
        };
        assert!(clean.all && clean.branches && !clean.force && clean.dry_run);
        assert_eq!(clean.keep_runs, DEFAULT_KEEP_RUNS);
        for (args, says) in [
            (vec!["--all", "--run", "x"], "both given"),
            (vec!["--keep-runs", "0"], "--keep-runs `0`"),
            (vec!["--keep-runs", "many"], "--keep-runs `many`"),
            (vec!["--bogus"], "--bogus"),
            (vec!["--run", ""], "--run needs a run id"),
            (vec!["--run", "a", "--run", "b"], "more than once"),
        ] {
            let mut all = vec!["clean"];
            all.extend(&args);
            let message = parsed(&all).unwrap_err().to_string();
            assert!(message.contains(says), "{args:?}: {message}");
        }
    }

    #[test]
    fn merge_results_takes_files_and_an_output() {
        assert_eq!(
            parsed(&["merge-results", "a.json", "-o", "all.json", "b.json"]).unwrap(),
            Command::MergeResults(MergeResultsArgs {
                files: vec![PathBuf::from("a.json"), PathBuf::from("b.json")],
                output: Some(PathBuf::from("all.json")),
                allow_missing: false,
            })
        );
        assert_eq!(
            parsed(&["merge-results", "--allow-missing", "a.json"]).unwrap(),
            Command::MergeResults(MergeResultsArgs {
                files: vec![PathBuf::from("a.json")],
                output: None,
                allow_missing: true,
            })
        );
        let err = parsed(&["merge-results"]).unwrap_err();
        assert_eq!(err.to_string(), "no results files to merge");
        let err = parsed(&["merge-results", "a.json", "--frob"]).unwrap_err();
        assert!(err.to_string().contains("--frob"), "{err}");
    }
}
