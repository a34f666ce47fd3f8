//! `porch run` on real repositories: parallel sessions, outcomes, commits, output, results.

#[allow(unused_imports)]
use crate::support::*;
