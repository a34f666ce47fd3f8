//! Sessions that end cleanly: -j, timeouts, signals, leftovers, retries, concurrent git.

#[allow(unused_imports)]
use crate::support::*;
