//! The environment of the processes porch starts: what it must not pass on to them.

/// Variables that git hooks and wrappers set and that would point git (or the agent's git) at
/// another repository than the worktree it runs in. Removed from every git and agent process.
pub const REPO_ENV_VARS: [&str; 7] = [
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_INDEX_FILE",
    "GIT_COMMON_DIR",
    "GIT_OBJECT_DIRECTORY",
    "GIT_ALTERNATE_OBJECT_DIRECTORIES",
    "GIT_PREFIX",
];
