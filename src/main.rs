//! porch: run many headless Claude Code sessions in parallel against one git repository, each
//! in its own worktree on its own branch, and gather what they did.

mod agent;
mod cli;
mod commands;
mod engine;
mod error;
mod git;
mod output;
mod preflight;
mod process;
mod results;
mod state;
mod sys;
mod task;
mod util;

use std::process::ExitCode;

use cli::Command;
use error::Error;

/// Exit code for bad usage or configuration: nothing was created.
const EXIT_USAGE: u8 = 2;

fn main() -> ExitCode {
    match dispatch() {
        Ok(code) => code,
        Err(err) => {
            let mut text = format!("porch: error: {err}\n");
            if let Some(hint) = err.hint() {
                text.push_str(&format!("hint: {hint}\n"));
            }
            sys::console::print_stderr(&text);
            ExitCode::from(EXIT_USAGE)
        }
    }
}

fn dispatch() -> Result<ExitCode, Error> {
    match cli::parse(std::env::args_os().skip(1))? {
        Command::Run(args) => commands::run::run(&args),
        Command::Init { file, force } => {
            commands::init::init(&file, force).map(|()| ExitCode::SUCCESS)
        }
        Command::List { repo } => commands::list::list(&repo).map(|()| ExitCode::SUCCESS),
        Command::Status(args) => commands::status::status(&args),
        Command::Logs(args) => commands::logs::logs(&args),
        Command::Merge(args) => commands::merge::merge(&args),
        Command::Clean(args) => commands::clean::clean(&args),
        Command::Resume(args) => commands::resume::resume(&args),
        Command::MergeResults(args) => commands::merge_results::merge_results(&args),
        Command::Plan(args) => commands::plan::plan(&args),
        Command::Help(topic) => {
            sys::console::print_stdout(&format!("{}\n", cli::help_text(topic)));
            Ok(ExitCode::SUCCESS)
        }
        Command::Completions(shell) => {
            sys::console::print_stdout(&cli::completions::script(shell));
            Ok(ExitCode::SUCCESS)
        }
        Command::Version => {
            sys::console::print_stdout(&format!(
                "porch {} ({})\n",
                env!("CARGO_PKG_VERSION"),
                env!("PORCH_BUILD_COMMIT")
            ));
            Ok(ExitCode::SUCCESS)
        }
    }
}
