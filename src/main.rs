//! porch: run many headless Claude Code sessions in parallel against one git repository, each
//! in its own worktree on its own branch, and gather what they did.

mod agent;
mod atomic_file;
mod base;
mod branch_template;
mod budget;
mod check;
mod clean;
mod cli;
mod cli_after;
mod clip;
mod completions;
mod concurrency;
mod conflicts;
mod console;
mod copy;
mod dependencies;
mod duration;
mod env;
mod error;
mod events;
mod git;
mod init;
mod junit;
mod line_reader;
mod list;
mod logs;
mod merge;
mod merge_results;
mod options;
mod plan;
mod preflight;
mod prepare;
mod printer;
mod proc;
mod quote;
mod remote;
mod report;
mod resume;
mod rivals;
mod run;
mod runs;
mod scheduler;
mod session;
mod sha256;
mod shard;
mod shutdown;
mod slots;
mod status;
mod status_line;
mod step;
mod summary;
mod suspend;
mod sys;
mod task;
mod task_env;
mod taskfile;
mod timestamp;
mod unsaved;
mod verdict;

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
            console::print_stderr(&text);
            ExitCode::from(EXIT_USAGE)
        }
    }
}

fn dispatch() -> Result<ExitCode, Error> {
    match cli::parse(std::env::args_os().skip(1))? {
        Command::Run(args) => run::run(&args),
        Command::Init { file, force } => init::init(&file, force).map(|()| ExitCode::SUCCESS),
        Command::List { repo } => list::list(&repo).map(|()| ExitCode::SUCCESS),
        Command::Status(args) => status::status(&args),
        Command::Logs(args) => logs::logs(&args),
        Command::Merge(args) => merge::merge(&args),
        Command::Clean(args) => clean::clean(&args),
        Command::Resume(args) => resume::resume(&args),
        Command::MergeResults(args) => merge_results::merge_results(&args),
        Command::Help(topic) => {
            console::print_stdout(&format!("{}\n", cli::help_text(topic)));
            Ok(ExitCode::SUCCESS)
        }
        Command::Completions(shell) => {
            console::print_stdout(&completions::script(shell));
            Ok(ExitCode::SUCCESS)
        }
        Command::Version => {
            console::print_stdout(&format!(
                "porch {} ({})\n",
                env!("CARGO_PKG_VERSION"),
                env!("PORCH_BUILD_COMMIT")
            ));
            Ok(ExitCode::SUCCESS)
        }
    }
}
