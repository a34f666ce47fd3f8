//! What stdout shows during a run: the printer thread, the run's events and the status line.

pub mod events;
pub mod mode;
pub mod printer;
pub mod status_line;
