//! `porch resume`: runs again what an earlier run did not finish, from the tasks that run
//! stored, in the same worktrees and branches, continuing each claude session where there was
//! one. The new run's results hold every task of the earlier one.

use std::process::ExitCode;

use crate::engine;
use crate::error::Error;
use crate::preflight;
use crate::preflight::Environment;
use crate::preflight::Resumption;
use crate::preflight::options::ResumeArgs;

pub fn resume(args: &ResumeArgs) -> Result<ExitCode, Error> {
    match preflight::plan_resume(args, &Environment::from_process())? {
        Resumption::Nothing { id } => {
            crate::sys::console::print_stdout(&format!(
                "every task of run {id} succeeded: nothing to resume\n"
            ));
            Ok(ExitCode::SUCCESS)
        }
        Resumption::Plan {
            plan,
            remembered,
            args,
            ..
        } if args.dry_run => {
            crate::sys::console::print_stderr(&remembered);
            Ok(crate::commands::dry_run::show(&plan, &args))
        }
        Resumption::Plan {
            plan,
            remembered,
            resuming,
            args,
        } => {
            crate::sys::console::print_stderr(&format!("{remembered}{resuming}"));
            engine::run(*plan, args.color, args.output_mode)
        }
    }
}
