//! `porch init`: a sample tasks file that runs as it is and shows every field.

use std::path::Path;

use crate::atomic_file::write_atomic;
use crate::error::{Error, IoContext};

pub const SAMPLE: &str = r#"{
  "tasks": [
    {
      "name": "add-contributing-guide",
      "description": "Write CONTRIBUTING.md from what the repository shows",
      "prompt": "Read the build files and the README, then write CONTRIBUTING.md: how to build, how to run the tests, how to submit a change. Keep it short.",
      "allowed_tools": ["Read", "Glob", "Grep", "Write"]
    },
    {
      "name": "fix-typos",
      "description": "Fix spelling mistakes in comments and documentation",
      "prompt": "Find and fix spelling mistakes in comments and documentation files. Do not change code behaviour.",
      "allowed_tools": ["Read", "Glob", "Grep", "Edit"]
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
        // Written whole beside the target, then linked into place: the link fails if the file
        // exists (two inits racing cannot both win) and never shows a half-written file.
        let dir = file
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let temp = dir.join(format!(".porch-init.{}.tmp", std::process::id()));
        std::fs::write(&temp, SAMPLE).context("write", &temp)?;
        let linked = std::fs::hard_link(&temp, file);
        let _ = std::fs::remove_file(&temp);
        match linked {
            Ok(()) => {}
            Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => {
                return Err(Error::setup(
                    format!(
                        "{} already exists; porch init does not overwrite it",
                        file.display()
                    ),
                    "pass --force to replace it, or name another file: porch init other.json",
                ));
            }
            Err(err) => return Err(err).context("create", file),
        }
    }
    crate::console::print_stdout(&format!(
        "wrote {} with 2 sample tasks\nedit it, then run: porch run {} /path/to/repo\n",
        file.display(),
        file.display()
    ));
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_sample_is_a_valid_tasks_file() {
        let tasks = crate::taskfile::parse(
            &crate::taskfile::Source { name: "sample" },
            super::SAMPLE.as_bytes(),
        )
        .unwrap();
        assert_eq!(tasks.len(), 2);
    }
}
