//! `porch init`: a sample tasks file that runs as it is and shows the fields people set most
//! (`porch help tasks` documents them all).

use std::path::Path;

use crate::error::Error;
use crate::sys::atomic_file::create_new;
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
    } else if !create_new(file, SAMPLE.as_bytes())? {
        return Err(Error::setup(
            format!(
                "{} already exists; porch init does not overwrite it",
                file.display()
            ),
            "pass --force to replace it, or name another file: porch init other.json",
        ));
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

#[cfg(test)]
mod tests {
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
