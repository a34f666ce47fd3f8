//! Small pure helpers that know nothing of porch: clipping, quoting, durations, timestamps, hashing,
//! strict JSON.

pub mod clip;
pub mod duration;
pub mod quote;
pub mod sha256;
pub mod strict_json;
pub mod timestamp;
