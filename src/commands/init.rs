//! `porch init`: a sample tasks file that runs as it is and shows the fields people set most
//! (`porch help tasks` documents them all).

use std::path::Path;

use crate::error::{Error, IoContext};
use crate::sys::atomic_file::write_atomic;

pub const SAMPLE: &str = r#"{
  "branch_template": "task/{name}",
  "defaults": {
    "model": "sonnet",
    "max_turns": 40,
    "timeout": "30m",
    "allowed_tools": ["Read", "Glob", "Grep", "Edit", "Write"],
    "disallowed_tools": ["Bash(git push:*)"],
    "copy": [],
    "setup": ["sh", "-c", "echo \"$PORCH_TASK on $PORCH_BRANCH, ports from $PORCH_PORT\""],
    "env": {}
  },
  "tasks": [
    {
      "name": "add-contributing-guide",
      "description": "Write CONTRIBUTING.md from what the repository shows",
      "prompt": "Read the build files and the README, then write CONTRIBUTING.md: how to build, how to run the tests, how to submit a change. Keep it short.",
      "allowed_tools": ["Read", "Glob", "Grep", "Write"],
      "max_budget_usd": 2.5
    },
    {
      "name": "fix-typos",
      "description": "Fix spelling mistakes in comments and documentation",
      "prompt": "Find and fix spelling mistakes in comments and documentation files. Do not change code behaviour.",
      "append_system_prompt": "Change only spelling; leave wording and formatting alone.",
      "permission_mode": "acceptEdits",
      "args": []
    }
  ]
}
"#;

pub fn init(file: &Path, force: bool) -> Result<(), Error> {
    if file.is_dir() {
        return Err(Error::setup(
            format!("{} is a directory", file.display()),
            "name a file, e.g. `porch init tasks.json`",
        ));
    }
    if force {
        write_atomic(file, SAMPLE.as_bytes())?;
    } else {
        create_new(file, SAMPLE.as_bytes())?;
    }
    crate::sys::console::print_stdout(&format!(
        "wrote {} with 2 sample tasks
edit it (`porch help tasks` describes every field), then run: {}
",
        file.display(),
        crate::util::quote::command(&["porch", "run", &file.to_string_lossy(), "/path/to/repo"])
    ));
    Ok(())
}

/// Writes `bytes` to `file`, which must not exist yet. Written whole beside the target, then
/// linked into place: the link fails if the file exists (two inits racing cannot both win) and
/// never shows a half-written file.
fn create_new(file: &Path, bytes: &[u8]) -> Result<(), Error> {
    let dir = file
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let temp = dir.join(format!(".porch-init.{}.tmp", std::process::id()));
    std::fs::write(&temp, bytes).context("write", &temp)?;
    let linked = std::fs::hard_link(&temp, file);
    let _ = std::fs::remove_file(&temp);
    match linked {
        Ok(()) => Ok(()),
        Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => Err(Error::setup(
            format!(
                "{} already exists; porch init does not overwrite it",
                file.display()
            ),
            "pass --force to replace it, or name another file: porch init other.json",
        )),
        Err(err) => Err(err).context("create", file),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_file_is_created_once_and_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("tasks.json");
        create_new(&file, b"first").unwrap();
        let second = create_new(&file, b"second").unwrap_err();
        assert!(
            second
                .to_string()
                .ends_with("already exists; porch init does not overwrite it"),
            "{second}"
        );
        assert_eq!(std::fs::read(&file).unwrap(), b"first");
        // Only the file: no temporary file left beside it.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn the_sample_is_a_valid_tasks_file() {
        let tasks = crate::preflight::taskfile::parse(
            &crate::preflight::taskfile::Source {
                name: "sample",
                dir: std::path::Path::new("."),
            },
            super::SAMPLE.as_bytes(),
        )
        .unwrap();
        assert_eq!(tasks.tasks.len(), 2);
    }
}
