//! Small pure helpers that know nothing of porch: clipping, quoting, durations, timestamps, hashing.

pub mod clip;
pub mod duration;
pub mod quote;
pub mod sha256;
pub mod timestamp;
