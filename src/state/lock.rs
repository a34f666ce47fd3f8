//! Run locks. A run is going on while a porch holds its lock: the porch running it, a resume
//! of it, a clean or a merge of it. Each takes the lock first and only then looks at the run,
//! so two of them can never both find it free.

use std::fs::File;
use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;

use crate::error::{Error, IoContext};
use crate::state::StateDir;
use crate::util::clip;

/// A run's lock, held until dropped. The kernel lets it go when porch dies, however it dies.
#[derive(Debug)]
pub struct RunLock {
    _file: File,
}

/// A run's lock another porch holds, and who that is in its own words.
#[derive(Debug)]
pub struct Busy {
    pub id: String,
    /// `run ID` for the run itself, else what holds it (`run ID (a resume of it)`,
    /// `porch clean (pid N)`); empty if it had not said yet.
    pub holder: String,
}

/// How a run names itself as the holder of its own lock.
pub fn run_holder(id: &str) -> String {
    format!("run {id}")
}

impl StateDir {
    /// Takes the lock of run `id` for `holder`, or says who has it. Never waits for a run.
    pub fn lock_run(&self, id: &str, holder: &str) -> Result<Result<RunLock, Busy>, Error> {
        let dir = self.locks_dir();
        self.create_private_dir(&dir)?;
        // Held for the moment of taking a lock and saying who took it, so whoever finds a lock
        // taken also finds the name of who took it.
        let gate = File::open(&dir).context("open", &dir)?;
        gate.lock().context("lock", &dir)?;
        let path = self.lock_file(id);
        let mut file = File::options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&path)
            .context("open", &path)?;
        match file.try_lock() {
            Ok(()) => {
                let said = file
                    .set_len(0)
                    .and_then(|()| file.write_all(holder.as_bytes()));
                said.context("write", &path)?;
                Ok(Ok(RunLock { _file: file }))
            }
            Err(std::fs::TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                Ok(Err(Busy {
                    id: id.to_string(),
                    holder,
                }))
            }
            Err(std::fs::TryLockError::Error(err)) => Err(err).context("lock", &path),
        }
    }
}

impl StateDir {
    /// Who holds run `id`'s lock now (`run ID`, `run ID (a resume of it)`, `porch clean (pid
    /// N)`; empty if it had not said), or `None` when nothing does. Creates nothing: a run
    /// without a lock file has no holder. The lock is tried under the gate, so no porch
    /// taking it meanwhile finds it held by this question.
    pub fn run_holder_now(&self, id: &str) -> Option<String> {
        let dir = self.locks_dir();
        let gate = File::open(&dir).ok()?;
        gate.lock().ok()?;
        let mut file = File::open(self.lock_file(id)).ok()?;
        match file.try_lock() {
            Err(std::fs::TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                Some(holder)
            }
            Ok(()) | Err(std::fs::TryLockError::Error(_)) => None,
        }
    }
}

impl Busy {
    /// What the user is told, with what to do about it.
    pub fn into_error(self, hint: &str) -> Error {
        Error::setup(self.what(), hint)
    }

    /// `run ID is still going on`, or what holds it. The holder is read from a file anyone
    /// with the user's rights may have written: its control characters are shown, not obeyed.
    pub fn what(&self) -> String {
        let Busy { id, holder } = self;
        if *holder == run_holder(id) {
            format!("run {id} is still going on")
        } else if holder.is_empty() {
            format!("run {id} is in use by another porch")
        } else {
            format!(
                "run {id} is in use: {} is still going on",
                clip::visible(holder)
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_holders_control_characters_are_shown_not_obeyed() {
        let busy = Busy {
            id: "r-1".to_string(),
            holder: "porch clean\x1b[2J\r\u{202e}".to_string(),
        };
        let what = busy.what();
        assert!(!what.chars().any(clip::is_hidden_control), "{what:?}");
        assert!(what.contains("porch clean\\x1b[2J\\x0d"), "{what}");
    }

    #[test]
    fn a_lock_is_refused_to_a_second_taker_naming_the_first_until_dropped() {
        let tmp = tempfile::tempdir().unwrap();
        let state = StateDir::in_root(tmp.path());
        let first = state.lock_run("r-1", &run_holder("r-1")).unwrap().unwrap();
        let busy = state
            .lock_run("r-1", "porch clean (pid 7)")
            .unwrap()
            .unwrap_err();
        assert_eq!(busy.holder, "run r-1");
        let said = busy.into_error("wait").to_string();
        assert!(said.contains("run r-1 is still going on"), "{said}");
        // Another run's lock is another lock.
        let other = state.lock_run("r-2", "run r-3 (a resume of it)").unwrap();
        let busy = state.lock_run("r-2", "x").unwrap().unwrap_err();
        let said = busy.into_error("wait").to_string();
        assert!(
            said.contains("run r-2 is in use: run r-3 (a resume of it) is still going on"),
            "{said}"
        );
        assert_eq!(state.run_holder_now("r-1").as_deref(), Some("run r-1"));
        drop(other);
        drop(first);
        assert_eq!(state.run_holder_now("r-1"), None, "asking took nothing");
        assert_eq!(state.run_holder_now("never"), None);
        assert!(state.lock_run("r-1", "run r-1").unwrap().is_ok());
    }
}
