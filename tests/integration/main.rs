//! Integration tests: the built porch binary on real temporary git repositories, with
//! `fixtures/claude` standing in for the claude CLI.

mod support;

mod after;
mod bare_system;
mod budget;
mod command_line;
mod completions;
mod dependencies;
mod distributed;
mod dry_run;
mod errors;
mod git_process;
mod git_safety;
mod hooks;
mod hostile;
mod junit;
mod keeping;
mod layers;
mod lifecycle;
mod limits;
mod max_fail;
mod outputs;
mod pasted;
mod plan;
mod pulls;
mod queue;
mod remember;
mod report;
mod review;
mod rivals;
mod run;
mod secrets;
mod settings;
mod shown;
mod unsaved;
mod usage;
mod validation;
