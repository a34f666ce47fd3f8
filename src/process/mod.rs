//! Child processes: process groups and leftovers, porch's own signals, the commands run for a task and their environments.

pub mod bounded;
pub mod child;
pub mod env;
pub mod groups;
pub mod shutdown;
pub mod step;
pub mod suspend;
pub mod task_env;
