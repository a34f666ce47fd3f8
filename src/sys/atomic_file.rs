//! Files a reader never sees half-written: a whole new file, or a link, replaced in one rename.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::Error;
use crate::error::IoContext;

/// Where a write to a path lands once symbolic links are followed.
#[derive(Debug, PartialEq)]
pub enum Destination {
    /// A regular file, or nothing yet, at this path (the end of any chain of links): replaced
    /// whole by a rename beside it, so the links stay links.
    File(PathBuf),
    /// A device, FIFO or socket (`/dev/null`, a named pipe), a link to one, or one of porch's
    /// own open files (`/dev/stdout`): written through, appended to, never replaced. Renaming over `/dev/null` as root would turn it into a
    /// regular file for the whole machine.
    Stream(PathBuf),
}

/// The longest chain of symbolic links followed, as the kernel's own limit.
const MAX_LINKS: usize = 40;

pub fn destination(path: &Path) -> Destination {
    let chain = link_chain(path);
    // `/dev/stdout`, `/dev/fd/N`, `/proc/self/fd/N` name one of porch's own open files: a
    // terminal, a pipe, or a file the shell redirected porch's output into, which a rename
    // would replace (and porch's own output with it).
    let own_open_file = chain
        .iter()
        .any(|p| p.starts_with("/proc/") || p.starts_with("/dev/fd/"));
    match std::fs::metadata(path) {
        _ if own_open_file => Destination::Stream(path.to_path_buf()),
        Ok(meta) if meta.is_file() => {
            Destination::File(std::fs::canonicalize(path).unwrap_or(path.to_path_buf()))
        }
        Ok(meta) if !meta.is_dir() => Destination::Stream(path.to_path_buf()),
        // Nothing there yet, or a link to nothing: the file is created where the links lead.
        _ => Destination::File(chain.last().cloned().unwrap_or(path.to_path_buf())),
    }
}

/// `path`, then where each symbolic link on the way points, as far as they go.
fn link_chain(path: &Path) -> Vec<PathBuf> {
    let mut chain = vec![path.to_path_buf()];
    for _ in 0..MAX_LINKS {
        let current = chain.last().expect("the chain starts with the path");
        let Ok(target) = std::fs::read_link(current) else {
            break;
        };
        let next = match current.parent() {
            Some(dir) => dir.join(target),
            None => target,
        };
        chain.push(next);
    }
    chain
}

/// Writes `bytes` to `path` so that a reader sees the old file or the new one, never half: a
/// temporary file beside it, fsync, rename. A device or FIFO (or a link to one) is written
/// through instead, and a link to a regular file keeps being a link: its target is replaced.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    write_as(path, bytes, UMASK_DECIDES)
}

/// `write_atomic` for a file only its owner may read (0600), whatever the umask: the new file
/// is created so, never open to others for a moment.
pub fn write_private(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    write_as(path, bytes, PRIVATE)
}

fn write_as(path: &Path, bytes: &[u8], mode: u32) -> Result<(), Error> {
    match destination(path) {
        Destination::File(file) => replace_file(&file, bytes, mode),
        Destination::Stream(stream) => write_through(&stream, bytes),
    }
}

/// The mode a new file asks for: `File::create`'s, which the umask then narrows.
const UMASK_DECIDES: u32 = 0o666;
/// Its owner's alone; a umask only takes bits away.
const PRIVATE: u32 = 0o600;

fn replace_file(path: &Path, bytes: &[u8], mode: u32) -> Result<(), Error> {
    use std::os::unix::fs::OpenOptionsExt;
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let temp = dir.join(format!(".{file_name}.{}.tmp", std::process::id()));
    let written = (|| {
        // A temporary file a killed porch left has whatever mode it had: made anew.
        let _ = std::fs::remove_file(&temp);
        let mut file = File::options()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&temp)?;
        file.write_all(bytes)?;
        file.sync_all()
    })();
    if let Err(err) = written {
        let _ = std::fs::remove_file(&temp);
        // The temporary name is porch's business; a missing directory is the user's.
        if err.kind() == std::io::ErrorKind::NotFound && !dir.is_dir() {
            return Err(err).context("write into the directory", &dir);
        }
        return Err(err).context("write", path);
    }
    std::fs::rename(&temp, path)
        .inspect_err(|_| {
            let _ = std::fs::remove_file(&temp);
        })
        .context("replace", path)
}

/// Writes into a device or FIFO as it is. A FIFO nobody reads is an error rather than a wait:
/// opening one for writing blocks until a reader comes, and no signal would end that wait.
fn write_through(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
    let is_fifo = std::fs::metadata(path).is_ok_and(|m| m.file_type().is_fifo());
    // Held open while the blocking open below runs, which a reader present returns at once.
    let _reader_present = if is_fifo {
        let probe = File::options()
            .write(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(path);
        match probe {
            Err(err) if err.raw_os_error() == Some(libc::ENXIO) => {
                let err = std::io::Error::other("it is a FIFO that no process reads");
                return Err(err).context("write", path);
            }
            probe => Some(probe.context("write", path)?),
        }
    } else {
        None
    };
    // porch's stdout or stderr: written through porch's own descriptor, at its offset, so a file
    // the shell redirected porch's output into (`>`) keeps what porch printed and what it
    // prints next follows, rather than overwriting the results.
    match own_descriptor(path) {
        Some(1) => return write_std(std::io::stdout().lock(), path, bytes),
        Some(2) => return write_std(std::io::stderr().lock(), path, bytes),
        _ => {}
    }
    // Appended: a file opened anew keeps what it holds.
    let mut file = File::options()
        .append(true)
        .open(path)
        .context("write", path)?;
    file.write_all(bytes).context("write", path)
}

fn write_std(mut out: impl Write, path: &Path, bytes: &[u8]) -> Result<(), Error> {
    out.write_all(bytes)
        .and_then(|()| out.flush())
        .context("write", path)
}

/// The descriptor of porch's own that a path such as `/dev/stdout` (through `/proc/self/fd/1`)
/// or `/dev/fd/2` names.
fn own_descriptor(path: &Path) -> Option<u32> {
    link_chain(path).iter().find_map(|p| {
        ["/proc/self/fd/", "/dev/fd/"]
            .iter()
            .find_map(|prefix| p.to_str()?.strip_prefix(prefix)?.parse().ok())
    })
}

/// Writes `bytes` to `file`, which must not exist yet: written whole and synced beside it, then
/// linked into place. The link fails if the file exists, so two writers racing cannot both win
/// and a reader never sees half a file. `Ok(false)`: `file` exists, and is left as it was.
pub fn create_new(file: &Path, bytes: &[u8]) -> Result<bool, Error> {
    let dir = file
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let temp = dir.join(format!(".porch-new.{}.tmp", std::process::id()));
    let written = (|| {
        let mut out = File::create(&temp)?;
        out.write_all(bytes)?;
        out.sync_all()
    })();
    let linked = written
        .inspect_err(|_| {
            let _ = std::fs::remove_file(&temp);
        })
        .context("write", &temp)
        .map(|()| std::fs::hard_link(&temp, file));
    let _ = std::fs::remove_file(&temp);
    match linked? {
        Ok(()) => Ok(true),
        Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
        Err(err) => Err(err).context("create", file),
    }
}

/// Points `link` at `target` (relative to the link's directory), replacing what was there in
/// one rename.
pub fn point_link(link: &Path, target: &Path) -> Result<(), Error> {
    let dir = link.parent().unwrap_or(Path::new("."));
    let relative = target.strip_prefix(dir).unwrap_or(target);
    let temp = dir.join(format!(".results-link.{}.tmp", std::process::id()));
    let _ = std::fs::remove_file(&temp);
    std::os::unix::fs::symlink(relative, &temp).context("create", &temp)?;
    std::fs::rename(&temp, link)
        .inspect_err(|_| {
            let _ = std::fs::remove_file(&temp);
        })
        .context("replace", link)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_replaces_and_leaves_no_temp() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.json");
        write_atomic(&path, b"one").unwrap();
        write_atomic(&path, b"two").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"two");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn a_new_file_is_created_once_and_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("tasks.json");
        assert!(create_new(&file, b"first").unwrap());
        assert!(!create_new(&file, b"second").unwrap());
        assert_eq!(std::fs::read(&file).unwrap(), b"first");
        // Only the file: no temporary file left beside it.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn a_link_to_a_file_stays_a_link_and_its_target_is_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("real.json");
        std::fs::write(&target, "old").unwrap();
        let link = dir.path().join("link.json");
        std::os::unix::fs::symlink("real.json", &link).unwrap();
        write_atomic(&link, b"new").unwrap();
        assert_eq!(std::fs::read_link(&link).unwrap(), Path::new("real.json"));
        assert_eq!(std::fs::read(&target).unwrap(), b"new");
    }

    /// What is at the path → where the write lands.
    #[test]
    fn the_destination_follows_links_and_tells_streams_from_files() {
        use std::os::fd::AsRawFd;
        let dir = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(dir.path()).unwrap();
        let file = root.join("file.json");
        std::fs::write(&file, "x").unwrap();
        let opened = File::open(&file).unwrap();
        let link = |name: &str, to: &str| {
            let path = root.join(name);
            std::os::unix::fs::symlink(to, &path).unwrap();
            path
        };
        let rows = [
            (file.clone(), Destination::File(file.clone())),
            (
                link("to-file", "file.json"),
                Destination::File(file.clone()),
            ),
            (link("to-link", "to-file"), Destination::File(file.clone())),
            (
                root.join("new.json"),
                Destination::File(root.join("new.json")),
            ),
            (
                link("dangling", "sub/made.json"),
                Destination::File(root.join("sub/made.json")),
            ),
            (
                PathBuf::from("/dev/null"),
                Destination::Stream(PathBuf::from("/dev/null")),
            ),
            (
                link("to-null", "/dev/null"),
                Destination::Stream(root.join("to-null")),
            ),
            // porch's own open files, whatever they are: here a regular file.
            (
                PathBuf::from(format!("/proc/self/fd/{}", opened.as_raw_fd())),
                Destination::Stream(PathBuf::from(format!(
                    "/proc/self/fd/{}",
                    opened.as_raw_fd()
                ))),
            ),
            (
                link("to-stdout", "/dev/stdout"),
                Destination::Stream(root.join("to-stdout")),
            ),
        ];
        for (path, expected) in rows {
            assert_eq!(destination(&path), expected, "{}", path.display());
        }
    }

    #[test]
    fn porch_own_descriptors_are_named_through_any_link() {
        let dir = tempfile::tempdir().unwrap();
        let link = dir.path().join("out");
        std::os::unix::fs::symlink("/dev/stdout", &link).unwrap();
        let rows = [
            (PathBuf::from("/dev/stdout"), Some(1)),
            (PathBuf::from("/dev/stderr"), Some(2)),
            (PathBuf::from("/dev/fd/1"), Some(1)),
            (PathBuf::from("/proc/self/fd/7"), Some(7)),
            (link, Some(1)),
            (PathBuf::from("/dev/null"), None),
            (dir.path().join("results.json"), None),
        ];
        for (path, fd) in rows {
            assert_eq!(own_descriptor(&path), fd, "{}", path.display());
        }
    }

    #[test]
    fn a_fifo_nobody_reads_is_an_error_not_a_wait() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(made.success());
        let err = write_atomic(&fifo, b"{}").unwrap_err().to_string();
        assert!(err.contains("no process reads"), "{err}");
    }

    #[test]
    fn a_link_points_relative_to_its_directory_and_moves_on() {
        let dir = tempfile::tempdir().unwrap();
        let runs = dir.path().join("runs");
        std::fs::create_dir(&runs).unwrap();
        let (first, second) = (runs.join("1.json"), runs.join("2.json"));
        std::fs::write(&first, "first").unwrap();
        std::fs::write(&second, "second").unwrap();
        let link = dir.path().join("results.json");

        point_link(&link, &first).unwrap();
        assert_eq!(std::fs::read_link(&link).unwrap(), Path::new("runs/1.json"));
        point_link(&link, &second).unwrap();
        assert_eq!(std::fs::read_to_string(&link).unwrap(), "second");
        // The link, and the runs directory: no temporary link left beside them.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);
    }
}
