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
    if let Some(code) = sys::exec_shim::run_if_shim() {
        return code;
    }
    match dispatch() {
        Ok(code) => code,
        Err(err) => {
            let mut text = format!("porch: error: {}\n", shown(&err.to_string()));
            if let Some(hint) = err.hint() {
                text.push_str(&format!("hint: {}\n", shown(&hint)));
            }
            sys::console::print_stderr(&text);
            ExitCode::from(EXIT_USAGE)
        }
    }
}

/// An error's text as the terminal shows it: the values it quotes (a task's name, a path, a
/// field of the tasks file) may hold control characters, which are made visible; the error's
/// own line breaks stay.
fn shown(text: &str) -> String {
    let lines: Vec<_> = text.split('\n').map(util::clip::visible).collect();
    lines.join("\n")
}

fn dispatch() -> Result<ExitCode, Error> {
    let env = cli::Env::from_vars(std::env::vars_os());
    match cli::parse(std::env::args_os().skip(1), &env)? {
        Command::Run(args) => commands::run::run(&args),
        Command::Init { file, force } => {
            commands::init::init(&file, force).map(|()| ExitCode::SUCCESS)
        }
        Command::List { repo } => commands::list::list(&repo).map(|()| ExitCode::SUCCESS),
        Command::Status(args) => commands::status::status(&args),
        Command::Report(args) => commands::report::report(&args),
        Command::Logs(args) => commands::logs::logs(&args),
        Command::Merge(args) => commands::merge::merge(&args),
        Command::Pr(args) => commands::pr::pr(&args),
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
        Command::CompleteTasks(request) => {
            sys::console::print_stdout(&cli::complete::answer(&request));
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
