//! A task's `copy`: files and directories git does not track (`.env`, `node_modules`) copied
//! from the main checkout into a new worktree, at the same path. Copy-on-write where the file
//! system can (`FICLONE` on btrfs and XFS, as `cp --reflink=auto`), a plain copy otherwise;
//! modes kept; a symbolic link is copied as a link, never followed.

use std::fs::{self, File};
use std::io;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

use crate::git::Tracked;
use crate::sys;

/// What one copy did: how many files, and how many of them share their blocks with the source.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct Copied {
    pub files: u64,
    pub cloned: u64,
    pub bytes: u64,
}

/// Why an entry of `copy` cannot be used, checked before anything is created. `entry` is the
/// path as the tasks file gives it; `repo` the main checkout's root.
pub fn check_entry(repo: &Path, entry: &str) -> Result<PathBuf, String> {
    let path = check_syntax(entry)?;
    let source = repo.join(&path);
    if source.symlink_metadata().is_err() {
        return Err(format!("{} does not exist", source.display()));
    }
    // The entry itself may be a link (it is copied as one), but the directories leading to it
    // must not lead out of the repository.
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        let real_repo = fs::canonicalize(repo).map_err(|e| e.to_string())?;
        let real_parent = fs::canonicalize(repo.join(parent)).map_err(|e| e.to_string())?;
        if !real_parent.starts_with(&real_repo) {
            return Err(format!(
                "leads out of the repository through a symbolic link ({} is {})",
                repo.join(parent).display(),
                real_parent.display()
            ));
        }
        // A link inside the repository can lead into `.git` or into a directory git tracks,
        // where the checks on the path as written see nothing: name the real path instead.
        if real_parent != real_repo.join(parent) {
            return Err(format!(
                "goes through a symbolic link ({} is {}): name the path it leads to",
                repo.join(parent).display(),
                real_parent.display()
            ));
        }
    }
    Ok(path)
}

/// The rules a `copy` entry must follow whatever the repository holds: a relative path that
/// stays inside the repository and is not git's own directory.
pub fn check_syntax(entry: &str) -> Result<PathBuf, String> {
    if entry.is_empty() {
        return Err("is empty".to_string());
    }
    if entry.contains('\0') {
        return Err("contains a NUL character".to_string());
    }
    let path = Path::new(entry);
    let mut kept = PathBuf::new();
    for component in path.components() {
        match component {
            Component::Normal(part) => kept.push(part),
            Component::CurDir => {}
            Component::RootDir | Component::Prefix(_) => {
                return Err("is an absolute path".to_string());
            }
            Component::ParentDir => {
                return Err("holds \"..\", which could leave the repository".to_string());
            }
        }
    }
    if kept.as_os_str().is_empty() {
        return Err("names the repository itself".to_string());
    }
    if kept.starts_with(".git") {
        return Err("is inside .git, which the worktree has its own of".to_string());
    }
    Ok(kept)
}

/// What to ask git about a `copy` entry (as `check_syntax` made it): the path itself and each
/// directory leading to it, as git spells paths.
pub fn paths_to_ask(path: &Path) -> Vec<String> {
    path.ancestors()
        .filter(|p| !p.as_os_str().is_empty())
        .map(|p| p.to_string_lossy().into_owned())
        .collect()
}

/// Why copying `path` would change what git tracks, from what the base commit holds at the
/// paths of `paths_to_ask` (`tracked`); `None` when it changes nothing git tracks. A copied
/// file that git tracks brings the main checkout's version (a draft, uncommitted work) into
/// the worktree, where porch would commit it as the session's work; one over a tracked link,
/// or through one, changes the link or what it points to.
pub fn changes_tracked(path: &Path, tracked: &[(String, Tracked)]) -> Option<String> {
    let kind_of = |p: &str| tracked.iter().find(|(t, _)| t == p).map(|(_, kind)| *kind);
    let asked = paths_to_ask(path);
    let (own, leading) = asked.split_first()?;
    if let Some(kind) = kind_of(own) {
        return Some(
            match kind {
                Tracked::File => "is a file git tracks",
                Tracked::Link => "is a symbolic link git tracks",
                Tracked::Directory => "is a directory holding files git tracks",
                Tracked::Submodule => "is a submodule git tracks",
            }
            .to_string(),
        );
    }
    // The nearest directory first: the one the copy would go through.
    leading.iter().find_map(|dir| match kind_of(dir)? {
        Tracked::Directory => None,
        Tracked::Submodule => Some(format!("is inside the submodule {dir}")),
        Tracked::File | Tracked::Link => Some(format!(
            "is inside {dir}, which git tracks as a file or a symbolic link"
        )),
    })
}

/// Copies `from_root/path` to `to_root/path`, creating the directories leading to it. What the
/// destination already holds is replaced file by file; directories are merged.
pub fn copy(from_root: &Path, to_root: &Path, path: &Path) -> io::Result<Copied> {
    let target = to_root.join(path);
    if let Some(parent) = target.parent() {
        fs::create_dir_all(parent)?;
        // A directory the worktree holds as a link (a tracked symlink) must not carry the copy
        // out of the worktree.
        if !fs::canonicalize(parent)?.starts_with(fs::canonicalize(to_root)?) {
            return Err(io::Error::other(format!(
                "{} leads out of the worktree through a symbolic link",
                parent.display()
            )));
        }
    }
    let mut copier = Copier {
        clone_works: true,
        copied: Copied::default(),
    };
    copier.copy_any(&from_root.join(path), &target)?;
    Ok(copier.copied)
}

struct Copier {
    /// Cleared at the first clone the file system refuses: the rest are copied plainly, without
    /// asking again for every file.
    clone_works: bool,
    copied: Copied,
}

impl Copier {
    fn copy_any(&mut self, from: &Path, to: &Path) -> io::Result<()> {
        let meta = from.symlink_metadata()?;
        let kind = meta.file_type();
        if kind.is_symlink() {
            replace_non_directory(to)?;
            std::os::unix::fs::symlink(fs::read_link(from)?, to)
        } else if kind.is_dir() {
            self.copy_dir(from, to, meta.permissions().mode())
        } else if kind.is_file() {
            replace_non_directory(to)?;
            self.copy_file(from, to, meta.permissions().mode(), meta.len())
        } else {
            Err(io::Error::other(format!(
                "{} is not a file, a directory or a symbolic link",
                from.display()
            )))
        }
    }

    fn copy_dir(&mut self, from: &Path, to: &Path, mode: u32) -> io::Result<()> {
        match to.symlink_metadata() {
            Ok(meta) if meta.is_dir() => {}
            Ok(_) => {
                fs::remove_file(to)?;
                create_dir(to)?;
            }
            Err(_) => create_dir(to)?,
        }
        for entry in fs::read_dir(from)? {
            let entry = entry?;
            self.copy_any(&entry.path(), &to.join(entry.file_name()))?;
        }
        // Last, so that a read-only directory is filled before it becomes read-only.
        fs::set_permissions(to, fs::Permissions::from_mode(mode & 0o7777))
    }

    fn copy_file(&mut self, from: &Path, to: &Path, mode: u32, len: u64) -> io::Result<()> {
        let mut source = File::open(from)?;
        let mut target = File::options()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(to)?;
        let try_clone = self.clone_works && len > 0;
        let cloned = try_clone && sys::clone_file(&source, &target)?;
        if cloned {
            self.copied.cloned += 1;
        } else {
            self.clone_works &= !try_clone;
            // std copies with copy_file_range(2) where it can: in the kernel, not through porch.
            io::copy(&mut source, &mut target)?;
        }
        target.set_permissions(fs::Permissions::from_mode(mode & 0o7777))?;
        self.copied.files += 1;
        self.copied.bytes += len;
        Ok(())
    }
}

fn create_dir(path: &Path) -> io::Result<()> {
    // Writable by porch until its contents are in; `copy_dir` sets the real mode after.
    fs::DirBuilder::new().mode(0o700).create(path)
}

/// Makes room for a file or link at `path`: removes what is there unless it is a directory.
fn replace_non_directory(path: &Path) -> io::Result<()> {
    match path.symlink_metadata() {
        Ok(meta) if meta.is_dir() => Err(io::Error::other(format!(
            "{} is a directory in the worktree, where the copy is not",
            path.display()
        ))),
        Ok(_) => fs::remove_file(path),
        Err(_) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn entries_must_stay_inside_the_repository() {
        // (entry, the path copied, or the start of what is wrong)
        let cases: &[(&str, Result<&str, &str>)] = &[
            (".env", Ok(".env")),
            ("node_modules", Ok("node_modules")),
            ("./config/local.toml", Ok("config/local.toml")),
            ("web/node_modules/", Ok("web/node_modules")),
            ("", Err("is empty")),
            (".", Err("names the repository itself")),
            ("/etc/passwd", Err("is an absolute path")),
            ("../secrets", Err("holds \"..\"")),
            ("a/../../b", Err("holds \"..\"")),
            ("a/../b", Err("holds \"..\"")),
            (".git", Err("is inside .git")),
            (".git/config", Err("is inside .git")),
            ("a\0b", Err("contains a NUL")),
        ];
        for (entry, expected) in cases {
            match (check_syntax(entry), expected) {
                (Ok(path), Ok(want)) => assert_eq!(path, Path::new(want), "{entry:?}"),
                (Err(err), Err(want)) => assert!(err.starts_with(want), "{entry:?}: {err}"),
                (got, want) => panic!("{entry:?}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn a_copy_may_change_nothing_git_tracks() {
        let tracked = [
            ("README", Tracked::File),
            ("docs", Tracked::Directory),
            ("lib", Tracked::Link),
            ("vendor", Tracked::Submodule),
            ("web", Tracked::Directory),
        ]
        .map(|(path, kind)| (path.to_string(), kind));
        // (the entry, what is wrong with it, or None)
        let cases: &[(&str, Option<&str>)] = &[
            ("README", Some("is a file git tracks")),
            ("docs", Some("is a directory holding files git tracks")),
            ("lib", Some("is a symbolic link git tracks")),
            ("vendor", Some("is a submodule git tracks")),
            (
                "lib/local.toml",
                Some("is inside lib, which git tracks as a file or a symbolic link"),
            ),
            ("vendor/build", Some("is inside the submodule vendor")),
            ("web/node_modules", None),
            (".env", None),
        ];
        for &(entry, wrong) in cases {
            let path = check_syntax(entry).unwrap();
            assert_eq!(
                changes_tracked(&path, &tracked).as_deref(),
                wrong,
                "{entry}"
            );
        }
        assert_eq!(
            paths_to_ask(Path::new("web/node_modules/x")),
            ["web/node_modules/x", "web/node_modules", "web"]
        );
    }

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("porch-copy-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn a_directory_is_copied_with_modes_and_links_as_links() {
        let root = temp_dir("tree");
        let (from, to) = (root.join("repo"), root.join("worktree"));
        let deps = from.join("node_modules/pkg");
        fs::create_dir_all(&deps).unwrap();
        fs::write(deps.join("index.js"), "module.exports = 1;\n").unwrap();
        fs::write(deps.join("empty"), "").unwrap();
        fs::write(deps.join("run.sh"), "#!/bin/sh\n").unwrap();
        fs::set_permissions(deps.join("run.sh"), fs::Permissions::from_mode(0o751)).unwrap();
        symlink("pkg/index.js", from.join("node_modules/main.js")).unwrap();
        symlink("/nonexistent/outside", from.join("node_modules/dangling")).unwrap();
        fs::create_dir_all(&to).unwrap();

        let copied = copy(&from, &to, Path::new("node_modules")).unwrap();

        assert_eq!(copied.files, 3);
        assert_eq!(copied.bytes, 20 + 10);
        let out = to.join("node_modules");
        assert_eq!(
            fs::read_to_string(out.join("pkg/index.js")).unwrap(),
            "module.exports = 1;\n"
        );
        assert_eq!(fs::read(out.join("pkg/empty")).unwrap(), b"");
        let mode = fs::metadata(out.join("pkg/run.sh")).unwrap().permissions();
        assert_eq!(mode.mode() & 0o7777, 0o751);
        assert_eq!(
            fs::read_link(out.join("main.js")).unwrap(),
            Path::new("pkg/index.js")
        );
        assert_eq!(
            fs::read_link(out.join("dangling")).unwrap(),
            Path::new("/nonexistent/outside")
        );
        fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn files_share_their_blocks_exactly_where_the_file_system_can() {
        let root = temp_dir("clone");
        let (from, to) = (root.join("repo"), root.join("worktree"));
        fs::create_dir_all(from.join("deps")).unwrap();
        fs::create_dir_all(&to).unwrap();
        for i in 0..3 {
            fs::write(from.join(format!("deps/{i}.js")), vec![b'x'; 8192]).unwrap();
        }
        // What `cp --reflink=always` manages is what the file system offers (btrfs, XFS: yes;
        // ext4, tmpfs: no). TMPDIR on such a file system tests the clone path.
        let can_clone = std::process::Command::new("cp")
            .arg("--reflink=always")
            .arg(from.join("deps/0.js"))
            .arg(root.join("probe"))
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success());

        let copied = copy(&from, &to, Path::new("deps")).unwrap();

        assert_eq!(copied.files, 3);
        assert_eq!(copied.cloned, if can_clone { 3 } else { 0 });
        for i in 0..3 {
            assert_eq!(
                fs::read(to.join(format!("deps/{i}.js"))).unwrap(),
                [b'x'; 8192]
            );
        }
        fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn what_the_worktree_holds_is_replaced_and_directories_merged() {
        let root = temp_dir("merge");
        let (from, to) = (root.join("repo"), root.join("worktree"));
        fs::create_dir_all(from.join("config")).unwrap();
        fs::write(from.join("config/.env"), "KEY=new\n").unwrap();
        fs::create_dir_all(to.join("config")).unwrap();
        fs::write(to.join("config/.env"), "KEY=old\n").unwrap();
        fs::write(to.join("config/tracked.toml"), "x = 1\n").unwrap();

        copy(&from, &to, Path::new("config")).unwrap();

        assert_eq!(
            fs::read_to_string(to.join("config/.env")).unwrap(),
            "KEY=new\n"
        );
        assert_eq!(
            fs::read_to_string(to.join("config/tracked.toml")).unwrap(),
            "x = 1\n"
        );
        fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn a_nested_entry_gets_its_directories() {
        let root = temp_dir("nested");
        let (from, to) = (root.join("repo"), root.join("worktree"));
        fs::create_dir_all(from.join("web/app")).unwrap();
        fs::write(from.join("web/app/.env.local"), "A=1\n").unwrap();
        fs::create_dir_all(&to).unwrap();

        copy(&from, &to, Path::new("web/app/.env.local")).unwrap();

        assert_eq!(
            fs::read_to_string(to.join("web/app/.env.local")).unwrap(),
            "A=1\n"
        );
        fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn a_source_reached_through_a_link_out_of_the_repository_is_refused() {
        let root = temp_dir("escape");
        let repo = root.join("repo");
        fs::create_dir_all(root.join("outside")).unwrap();
        fs::write(root.join("outside/secret"), "s").unwrap();
        fs::create_dir_all(&repo).unwrap();
        symlink(root.join("outside"), repo.join("out")).unwrap();
        fs::write(repo.join(".env"), "A=1\n").unwrap();

        let err = check_entry(&repo, "out/secret").unwrap_err();
        assert!(err.starts_with("leads out of the repository"), "{err}");
        let err = check_entry(&repo, "missing.env").unwrap_err();
        assert!(err.ends_with("does not exist"), "{err}");
        assert_eq!(check_entry(&repo, ".env"), Ok(PathBuf::from(".env")));
        // The link itself is fine: it is copied as a link.
        assert_eq!(check_entry(&repo, "out"), Ok(PathBuf::from("out")));
        fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn a_source_reached_through_a_link_inside_the_repository_is_refused() {
        let root = temp_dir("inside");
        let repo = root.join("repo");
        fs::create_dir_all(repo.join(".git")).unwrap();
        fs::write(repo.join(".git/config"), "[remote]").unwrap();
        symlink(".git", repo.join("linkgit")).unwrap();
        let err = check_entry(&repo, "linkgit/config").unwrap_err();
        assert!(err.starts_with("goes through a symbolic link"), "{err}");
        fs::remove_dir_all(&root).unwrap();
    }
}
