//! Fatal errors: the ones that stop porch before (or instead of) running tasks.
//!
//! A task that fails is not an `Error`: it is data in the results file. An `Error` means the
//! command line, the tasks file or the environment is wrong, and maps to exit code 2.

use std::borrow::Cow;
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

#[derive(Debug)]
pub enum Error {
    /// A bad command line.
    Usage {
        message: String,
        hint: Option<String>,
    },
    /// A tasks file that cannot be used. `task` is `tasks[2] ("name")` when it is about one task.
    Tasks {
        file: String,
        task: Option<String>,
        field: Option<String>,
        message: String,
        hint: Option<String>,
    },
    /// The repository, the worktree directory, the agent, git itself: anything else found wrong
    /// before the run starts.
    Setup {
        message: String,
        hint: Option<String>,
    },
    /// An I/O error while doing `action` on `path`.
    Io {
        action: &'static str,
        path: PathBuf,
        source: io::Error,
    },
}

impl Error {
    pub fn usage(message: impl Into<String>) -> Error {
        Error::Usage {
            message: message.into(),
            hint: None,
        }
    }

    pub fn setup(message: impl Into<String>, hint: impl Into<String>) -> Error {
        Error::Setup {
            message: message.into(),
            hint: Some(hint.into()),
        }
    }

    pub fn with_hint(mut self, text: impl Into<String>) -> Error {
        let text = Some(text.into());
        match &mut self {
            Error::Usage { hint, .. } | Error::Tasks { hint, .. } | Error::Setup { hint, .. } => {
                *hint = text
            }
            Error::Io { .. } => {}
        }
        self
    }

    /// The error with `hide` applied to every text it quotes (message, hint, task, field,
    /// path): what a tasks file's `env` values are hidden from.
    pub fn hiding(self, hide: impl Fn(&str) -> String) -> Error {
        let hide_opt = |text: Option<String>| text.map(|t| hide(&t));
        match self {
            Error::Usage { message, hint } => Error::Usage {
                message: hide(&message),
                hint: hide_opt(hint),
            },
            Error::Setup { message, hint } => Error::Setup {
                message: hide(&message),
                hint: hide_opt(hint),
            },
            Error::Tasks {
                file,
                task,
                field,
                message,
                hint,
            } => Error::Tasks {
                file: hide(&file),
                task: hide_opt(task),
                field: hide_opt(field),
                message: hide(&message),
                hint: hide_opt(hint),
            },
            Error::Io {
                action,
                path,
                source,
            } => Error::Io {
                action,
                path: PathBuf::from(hide(&path.to_string_lossy())),
                source,
            },
        }
    }

    pub fn hint(&self) -> Option<Cow<'_, str>> {
        match self {
            Error::Usage { hint, .. } | Error::Tasks { hint, .. } | Error::Setup { hint, .. } => {
                hint.as_deref().map(Cow::Borrowed)
            }
            Error::Io { path, source, .. } => io_hint(path, source.kind()).map(Cow::Owned),
        }
    }
}

/// What to do about an I/O error, where its kind says: the path is the one porch needed.
fn io_hint(path: &Path, kind: io::ErrorKind) -> Option<String> {
    let path = path.display();
    match kind {
        io::ErrorKind::NotFound => Some(format!("check that {path} exists")),
        io::ErrorKind::PermissionDenied => Some(format!(
            "check the permissions of {path} and its directories, or run porch as a user who may use them"
        )),
        io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded => {
            Some(format!("free some space on the file system of {path}"))
        }
        io::ErrorKind::ReadOnlyFilesystem => Some(format!(
            "{path} is on a read-only file system: choose a path on a writable one"
        )),
        io::ErrorKind::IsADirectory => Some(format!("{path} is a directory: name a file")),
        io::ErrorKind::NotADirectory => Some(format!(
            "a part of {path} is a file where a directory should be"
        )),
        _ => None,
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Usage { message, .. } | Error::Setup { message, .. } => f.write_str(message),
            Error::Tasks {
                file,
                task,
                field,
                message,
                ..
            } => {
                write!(f, "{file}")?;
                if let Some(task) = task {
                    write!(f, ": {task}")?;
                }
                if let Some(field) = field {
                    write!(f, ": field `{field}`")?;
                }
                write!(f, ": {message}")
            }
            Error::Io {
                action,
                path,
                source,
            } => {
                write!(f, "cannot {action} {}: {source}", path.display())
            }
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io { source, .. } => Some(source),
            Error::Usage { .. } | Error::Tasks { .. } | Error::Setup { .. } => None,
        }
    }
}

impl From<lexopt::Error> for Error {
    fn from(err: lexopt::Error) -> Error {
        Error::usage(err.to_string()).with_hint("see `porch --help`")
    }
}

/// Attaches what porch was doing, and to which path, to an I/O error.
pub trait IoContext<T> {
    fn context(self, action: &'static str, path: &Path) -> Result<T, Error>;
}

impl<T> IoContext<T> for io::Result<T> {
    fn context(self, action: &'static str, path: &Path) -> Result<T, Error> {
        self.map_err(|source| Error::Io {
            action,
            path: path.to_path_buf(),
            source,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::error::Error as _;

    #[test]
    fn an_io_error_keeps_its_cause_as_the_source() {
        let err = Err::<(), _>(io::Error::new(io::ErrorKind::PermissionDenied, "denied"))
            .context("write", Path::new("/r/results.json"))
            .unwrap_err();
        assert_eq!(err.to_string(), "cannot write /r/results.json: denied");
        assert_eq!(
            err.hint().as_deref(),
            Some(
                "check the permissions of /r/results.json and its directories, or run porch as a user who may use them"
            )
        );
        let source = err.source().expect("the I/O error is the source");
        assert_eq!(source.to_string(), "denied");
    }

    #[test]
    fn errors_porch_found_itself_have_no_source() {
        let errors = [
            Error::usage("no tasks file"),
            Error::setup(
                "REPO /x is not inside a git work tree",
                "run porch on a git checkout",
            ),
            Error::Tasks {
                file: "tasks.json".into(),
                task: None,
                field: None,
                message: "empty".into(),
                hint: None,
            },
        ];
        for err in errors {
            assert!(err.source().is_none(), "{err}");
        }
    }
}
