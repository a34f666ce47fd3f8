//! Helpers shared by the integration tests and (through `#[path]`) the e2e tests.
//!
//! - `sandbox`: a temporary git repository with a hermetic environment, and the results file
//! - `porch`: the one way to build and run a porch command, and assertions on what it printed
//! - `process`: waiting on files and processes, signals, ending what a test started
//! - `fixture`: the stand-in for the claude CLI and what it recorded of its runs

#![allow(dead_code)]

mod fixture;
mod porch;
mod process;
mod sandbox;

pub use fixture::*;
pub use porch::*;
pub use process::*;
pub use sandbox::*;
