//! Files read whole into memory, but bounded: never more than a limit, and, where only a
//! regular file will do, never a wait on a FIFO that nobody writes.

use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::Path;

/// Why a file was not read.
#[derive(Debug)]
pub enum Refusal {
    /// It holds more than the limit.
    TooLarge,
    /// Not a regular file: what it is instead ("a named pipe (FIFO)", "a device", …).
    NotRegular(&'static str),
    Io(io::Error),
}

/// All of `reader` if it gives at most `limit` bytes; `None` as soon as it gives more. A
/// stream has no size to ask first: `/dev/zero` would otherwise fill the memory.
pub fn read_capped(reader: impl Read, limit: u64) -> io::Result<Option<Vec<u8>>> {
    let mut bytes = Vec::new();
    reader
        .take(limit.saturating_add(1))
        .read_to_end(&mut bytes)?;
    Ok((bytes.len() as u64 <= limit).then_some(bytes))
}

/// The bytes of the regular file at `path` (links followed), if it holds at most `limit`.
/// Anything else is refused before it is read: opening a FIFO waits until a process writes to
/// it, which may be never, and a device may never end.
pub fn read_regular_file(path: &Path, limit: u64) -> Result<Vec<u8>, Refusal> {
    let meta = std::fs::metadata(path).map_err(Refusal::Io)?;
    if let Some(kind) = irregular_kind(&meta) {
        return Err(Refusal::NotRegular(kind));
    }
    // Without waiting even if the path became a FIFO since: the open returns at once, and the
    // file it gives is asked again.
    let file = File::options()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .map_err(Refusal::Io)?;
    let meta = file.metadata().map_err(Refusal::Io)?;
    if let Some(kind) = irregular_kind(&meta) {
        return Err(Refusal::NotRegular(kind));
    }
    if meta.len() > limit {
        return Err(Refusal::TooLarge);
    }
    // Bounded all the same: the file may grow while it is read.
    read_capped(file, limit)
        .map_err(Refusal::Io)?
        .ok_or(Refusal::TooLarge)
}

/// What a file that is not a regular file is, in words; `None` for a regular file.
fn irregular_kind(meta: &std::fs::Metadata) -> Option<&'static str> {
    let kind = meta.file_type();
    if kind.is_file() {
        None
    } else if kind.is_dir() {
        Some("a directory")
    } else if kind.is_fifo() {
        Some("a named pipe (FIFO)")
    } else if kind.is_char_device() || kind.is_block_device() {
        Some("a device")
    } else if kind.is_socket() {
        Some("a socket")
    } else {
        Some("not a regular file")
    }
}

/// A limit in words: `1 MiB`, `64 MiB`, `512 bytes`.
pub fn limit_text(limit: u64) -> String {
    const MIB: u64 = 1024 * 1024;
    if limit >= MIB && limit.is_multiple_of(MIB) {
        format!("{} MiB", limit / MIB)
    } else {
        format!("{limit} bytes")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stream_is_read_up_to_its_limit_and_no_further() {
        assert_eq!(read_capped(&b"abc"[..], 3).unwrap().unwrap(), b"abc");
        assert_eq!(read_capped(&b"abcd"[..], 3).unwrap(), None);
        let endless = std::fs::File::open("/dev/zero").unwrap();
        assert_eq!(read_capped(endless, 1024).unwrap(), None);
    }

    #[test]
    fn only_a_regular_file_within_the_limit_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let small = dir.path().join("small");
        std::fs::write(&small, "hello").unwrap();
        assert_eq!(read_regular_file(&small, 5).unwrap(), b"hello");
        assert!(matches!(
            read_regular_file(&small, 4),
            Err(Refusal::TooLarge)
        ));
        // (the path, what it is said to be)
        let cases = [
            (dir.path().to_path_buf(), "a directory"),
            (Path::new("/dev/zero").to_path_buf(), "a device"),
        ];
        for (path, kind) in cases {
            match read_regular_file(&path, 5) {
                Err(Refusal::NotRegular(said)) => assert_eq!(said, kind, "{}", path.display()),
                other => panic!("{}: {other:?}", path.display()),
            }
        }
        let missing = read_regular_file(&dir.path().join("missing"), 5);
        assert!(matches!(missing, Err(Refusal::Io(e)) if e.kind() == io::ErrorKind::NotFound));
    }

    #[test]
    fn limits_are_said_in_mebibytes_when_they_are_whole() {
        assert_eq!(limit_text(1024 * 1024), "1 MiB");
        assert_eq!(limit_text(64 * 1024 * 1024), "64 MiB");
        assert_eq!(limit_text(512), "512 bytes");
    }
}
