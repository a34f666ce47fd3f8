//! Run locks. A run is going on while a porch holds its lock: the porch running it, a resume
//! of it, a clean or a merge of it. Each takes the lock first and only then looks at the run,
//! so two of them can never both find it free.

use std::fs::File;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use crate::error::Error;
use crate::error::IoContext;
use crate::state::StateDir;
use crate::sys::bounded_read;
use crate::util::clip;

/// The most of a lock file porch reads: a holder's words are a line of a few dozen bytes, and a
/// file of gigabytes (anyone with the user's rights may write one there) is not read whole.
const HOLDER_LIMIT: u64 = 4096;

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
    /// Why the lock file's words were not read (larger than porch writes, not text): then
    /// `holder` is empty.
    pub unreadable: Option<String>,
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
            Err(std::fs::TryLockError::WouldBlock) => Ok(Err(Busy::read(id, &file, &path))),
            Err(std::fs::TryLockError::Error(err)) => Err(err).context("lock", &path),
        }
    }
}

impl StateDir {
    /// Who holds run `id`'s lock now (`run ID`, `run ID (a resume of it)`, `porch clean (pid
    /// N)`; empty if it had not said), or `None` when nothing does. Creates nothing: a run
    /// without a lock file has no holder. The lock is tried under the gate, so no porch
    /// taking it meanwhile finds it held by this question.
    pub fn run_holder_now(&self, id: &str) -> Option<Busy> {
        let dir = self.locks_dir();
        let gate = File::open(&dir).ok()?;
        gate.lock().ok()?;
        let path = self.lock_file(id);
        let file = File::open(&path).ok()?;
        match file.try_lock() {
            Err(std::fs::TryLockError::WouldBlock) => Some(Busy::read(id, &file, &path)),
            Ok(()) | Err(std::fs::TryLockError::Error(_)) => None,
        }
    }
}

impl Busy {
    /// Run `id`'s lock, held by another porch: who, as its lock file `file` at `path` says, read
    /// no further than `HOLDER_LIMIT`.
    fn read(id: &str, file: &File, path: &Path) -> Busy {
        let (holder, unreadable) = match bounded_read::read_capped(file, HOLDER_LIMIT) {
            Ok(Some(bytes)) => match String::from_utf8(bytes) {
                Ok(holder) => (holder, None),
                Err(_) => (String::new(), Some("is not text".to_string())),
            },
            Ok(None) => {
                let limit = bounded_read::limit_text(HOLDER_LIMIT);
                (String::new(), Some(format!("holds more than {limit}")))
            }
            Err(err) => (String::new(), Some(format!("cannot be read: {err}"))),
        };
        let unreadable = unreadable.map(|why| {
            format!(
                "its lock file {} {why}, which is not what porch writes there",
                path.display()
            )
        });
        Busy {
            id: id.to_string(),
            holder,
            unreadable,
        }
    }

    /// What the user is told, with what to do about it.
    pub fn into_error(self, hint: &str) -> Error {
        Error::setup(self.what(), hint)
    }

    /// `run ID is still going on`, or what holds it. The holder is read from a file anyone
    /// with the user's rights may have written: its control characters are shown, not obeyed.
    pub fn what(&self) -> String {
        let Busy {
            id,
            holder,
            unreadable,
        } = self;
        if let Some(why) = unreadable {
            format!(
                "run {id} is in use by another porch ({})",
                clip::visible(why)
            )
        } else if *holder == run_holder(id) {
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
            unreadable: None,
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
        let now = state.run_holder_now("r-1").map(|busy| busy.holder);
        assert_eq!(now.as_deref(), Some("run r-1"));
        drop(other);
        drop(first);
        assert!(state.run_holder_now("r-1").is_none(), "asking took nothing");
        assert!(state.run_holder_now("never").is_none());
        assert!(state.lock_run("r-1", "run r-1").unwrap().is_ok());
    }

    #[test]
    fn a_lock_file_larger_than_porch_writes_is_not_read_but_said_to_be_malformed() {
        let tmp = tempfile::tempdir().unwrap();
        let state = StateDir::in_root(tmp.path());
        let _held = state.lock_run("r-1", "run r-1").unwrap().unwrap();
        let path = state.lock_file("r-1");
        // (what the file holds, what is said of it)
        let cases = [
            (vec![b'x'; 64 * 1024], "holds more than 4096 bytes"),
            (vec![0xff, 0xfe], "is not text"),
        ];
        for (bytes, said) in cases {
            std::fs::write(&path, &bytes).unwrap();
            let busy = state.lock_run("r-1", "porch clean (pid 7)").unwrap();
            let what = busy.unwrap_err().what();
            assert!(
                what.starts_with("run r-1 is in use by another porch ("),
                "{what}"
            );
            assert!(what.contains(&format!("r-1.lock {said}")), "{what}");
            assert!(!what.contains("xxxx"), "{what}");
            let now = state.run_holder_now("r-1").unwrap();
            assert_eq!(now.what(), what);
        }
    }
}
