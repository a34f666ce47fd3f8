//! `porch report`: a stored run as one self-contained HTML page, each task's diff stat asked of
//! git now and its log's last lines read back.

use std::process::ExitCode;

use crate::engine::finish::report_extras;
use crate::error::Error;
use crate::preflight::options::ReportArgs;
use crate::results::Results;
use crate::results::report;
use crate::sys::atomic_file::write_atomic;

pub fn report(args: &ReportArgs) -> Result<ExitCode, Error> {
    let (location, run) = args.choice.load()?;
    let results: Results = serde_json::from_slice(&run.bytes).map_err(|err| {
        Error::setup(
            format!("{}: not a porch results file: {err}", run.path.display()),
            "name a results file porch wrote (.porch/runs/ID.json, or run -o FILE)",
        )
    })?;
    let extras = report_extras(&location.repo.toplevel, &results);
    let page = report::render(&results, &extras, None, run.results.merge.as_ref());
    match &args.output {
        Some(path) => write_atomic(path, page.as_bytes())?,
        None => {
            crate::sys::console::print_stdout(&page);
        }
    }
    Ok(ExitCode::SUCCESS)
}
