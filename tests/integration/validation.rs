//! Bad input: every case exits 2 with a message naming what is wrong, and creates nothing.

#[allow(unused_imports)]
use crate::support::*;
