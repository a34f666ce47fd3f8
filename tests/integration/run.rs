//! `porch run` on real repositories: parallel sessions, outcomes, commits, output, results.

use crate::support::*;
