//! One module per subcommand: options in, one call, an exit code out.

pub mod clean;
pub mod dry_run;
pub mod init;
pub mod list;
pub mod logs;
pub mod merge;
pub mod merge_results;
pub mod plan;
pub mod pr;
pub mod report;
pub mod resume;
pub mod run;
pub mod status;
