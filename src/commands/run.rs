//! `porch run`: the tasks file checked into a plan, the plan run (or only shown, `--dry-run`),
//! its exit code.

use std::process::ExitCode;

use crate::commands::dry_run;
use crate::engine;
use crate::error::Error;
use crate::preflight;
use crate::preflight::Environment;
use crate::preflight::options::RunArgs;

pub fn run(args: &RunArgs) -> Result<ExitCode, Error> {
    let plan = preflight::plan(args, &Environment::from_process())?;
    if args.dry_run {
        return Ok(dry_run::show(&plan, args));
    }
    engine::run(plan, args.color, args.output_mode)
}
