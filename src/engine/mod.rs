//! One run of many tasks: which task starts when, at what concurrency, in what order of dependencies, and what their branches share.

pub mod concurrency;
pub mod conflicts;
pub mod dependencies;
pub mod rules;
