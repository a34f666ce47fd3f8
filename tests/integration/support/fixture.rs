//! The stand-in for the claude CLI (`fixtures/claude`) and what it recorded of its runs.

use std::path::{Path, PathBuf};

pub fn fixture_agent() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join("claude")
}

/// The `run`th invocation (from 1) of the fixture agent in the worktree named `worktree`, as it
/// recorded it under FAKE_CLAUDE_ARGS_DIR=`dir`: its exact argv, in order.
pub fn recorded_argv(dir: &Path, worktree: &str, run: u32) -> Vec<String> {
    let path = dir.join(format!("{worktree}.{run}.argv"));
    let bytes = std::fs::read(&path)
        .unwrap_or_else(|err| panic!("the fixture recorded no {}: {err}", path.display()));
    let text = String::from_utf8(bytes).expect("test arguments are UTF-8");
    if text.is_empty() {
        return Vec::new();
    }
    let args = text
        .strip_suffix('\0')
        .unwrap_or_else(|| panic!("{} is not NUL-terminated: {text:?}", path.display()));
    args.split('\0').map(String::from).collect()
}

/// The prompt the `run`th invocation of the fixture agent in `worktree` read on stdin.
pub fn recorded_prompt(dir: &Path, worktree: &str, run: u32) -> Vec<u8> {
    let path = dir.join(format!("{worktree}.{run}.prompt"));
    std::fs::read(&path)
        .unwrap_or_else(|err| panic!("the fixture recorded no {}: {err}", path.display()))
}

/// The command line porch gives claude: `claude` and these, in this order.
pub fn expected_claude_argv(permission_mode: &str, allowed_tools: &[&str]) -> Vec<String> {
    let mut argv: Vec<String> = [
        "-p",
        "--output-format",
        "stream-json",
        "--verbose",
        "--permission-mode",
        permission_mode,
    ]
    .map(String::from)
    .to_vec();
    if !allowed_tools.is_empty() {
        argv.push("--allowedTools".to_string());
        argv.extend(allowed_tools.iter().map(|t| t.to_string()));
    }
    argv
}
