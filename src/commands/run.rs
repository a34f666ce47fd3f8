//! `porch run`: the tasks file checked into a plan, the plan run, its exit code.

use std::process::ExitCode;

use crate::engine;
use crate::error::Error;
use crate::preflight::options::RunArgs;
use crate::preflight::{self, Environment};

pub fn run(args: &RunArgs) -> Result<ExitCode, Error> {
    let plan = preflight::plan(args, &Environment::from_process())?;
    engine::run(plan, args.color, args.output_mode)
}
