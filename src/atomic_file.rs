//! Files a reader never sees half-written: a whole new file, or a link, replaced in one rename.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{Error, IoContext};

/// Writes `bytes` to `path` so that a reader sees the old file or the new one, never half:
/// a temporary file beside it, fsync, rename.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), Error> {
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
        let mut file = File::create(&temp)?;
        file.write_all(bytes)?;
        file.sync_all()
    })();
    if let Err(err) = written {
        let _ = std::fs::remove_file(&temp);
        return Err(err).context("write", &temp);
    }
    std::fs::rename(&temp, path)
        .inspect_err(|_| {
            let _ = std::fs::remove_file(&temp);
        })
        .context("replace", path)
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
