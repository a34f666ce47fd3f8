//! A linked worktree registered by writing the files `git worktree add --no-checkout` writes,
//! without starting git: the entry is built aside and renamed into `worktrees/` whole, so no
//! reader ever sees it half-written, and no lock is needed. Only where the repository's layout
//! is one porch knows (`Registration::from_config`); git does it everywhere else.

use std::fs;
use std::io::ErrorKind;
use std::path::Path;

use crate::sys;

/// Who registers a new worktree in this repository.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Registration {
    /// porch writes the entry itself (`register`), many at once.
    Porch,
    /// `git worktree add`, one at a time under the repository lock: the layout has something
    /// porch does not write (per-worktree config, sparse patterns, reftable, relative paths).
    Git,
}

/// The `extensions.*` that change nothing in a worktree's registry entry. Any other (reftable
/// refs, per-worktree config, relative worktree paths, one newer than porch) leaves it to git.
const NEUTRAL_EXTENSIONS: &[&str] = &[
    "extensions.objectformat",
    "extensions.compatobjectformat",
    "extensions.partialclone",
    "extensions.preciousobjects",
    "extensions.noop",
];

impl Registration {
    /// Decided from the repository's configuration (`key value` pairs, keys in lower case as
    /// `git config --get-regexp` prints them).
    pub fn from_config<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Registration {
        let needs_git = |(key, value): (&str, &str)| match key {
            "extensions.refstorage" => !value.eq_ignore_ascii_case("files"),
            // `worktree add` copies the sparse patterns into the new worktree.
            "core.sparsecheckout" => !is_false(value),
            "worktree.userelativepaths" => !is_false(value),
            // git gives what it creates the group's permissions; porch writes with the umask.
            "core.sharedrepository" => !is_false(value) && !value.eq_ignore_ascii_case("umask"),
            "core.worktree" => true,
            _ => key.starts_with("extensions.") && !NEUTRAL_EXTENSIONS.contains(&key),
        };
        if pairs.into_iter().any(needs_git) {
            Registration::Git
        } else {
            Registration::Porch
        }
    }
}

/// git's spellings of false (`git config --type=bool`); anything else leaves it to git.
fn is_false(value: &str) -> bool {
    ["false", "no", "off", "0"].contains(&value.to_ascii_lowercase().as_str())
}

/// The keys `from_config` looks at, as alternatives of a `git config --get-regexp` pattern.
pub const CONFIG_KEYS: &str =
    r"extensions\..*|core\.(sparsecheckout|sharedrepository|worktree)|worktree\.userelativepaths";

/// Registers `dir` (which must not exist) as a worktree of the repository whose git common
/// directory is `common_dir`, its HEAD on `reference` (`refs/heads/…`, which exists), not checked
/// out: what `git worktree add --no-checkout DIR BRANCH` does. Returns false, with nothing left
/// behind, when porch leaves this one to git: a directory name git would change, a directory
/// already there, a file system that cannot rename without replacing, or any failure (git
/// then says what is wrong in its own words).
pub fn register(common_dir: &Path, dir: &Path, reference: &str) -> bool {
    let Some(id) = dir.file_name().and_then(|n| n.to_str()) else {
        return false;
    };
    if !is_plain_id(id) {
        return false;
    }
    let made =
        dir.parent().is_some_and(|p| fs::create_dir_all(p).is_ok()) && fs::create_dir(dir).is_ok();
    if !made {
        return false;
    }
    static SWEPT: std::sync::Once = std::sync::Once::new();
    SWEPT.call_once(|| sweep_abandoned(common_dir));
    let staging = common_dir.join(format!("{STAGING_PREFIX}{id}.{}", std::process::id()));
    let registered = write_entry(common_dir, &staging, dir, id, reference);
    if !matches!(registered, Ok(true)) {
        let _ = fs::remove_dir_all(&staging);
        let _ = fs::remove_dir_all(dir);
        return false;
    }
    true
}

/// How the directories an entry is built in begin: `porch-new-worktree.<id>.<pid>`.
const STAGING_PREFIX: &str = "porch-new-worktree.";

/// Removes the entries being built that a porch killed mid-registration left in `common_dir`
/// (their pid is gone): nothing reads them, and nothing else would ever remove them. Once per
/// process at the first registration, and at each `porch clean`. A live porch's are kept.
pub fn sweep_abandoned(common_dir: &Path) {
    let Ok(entries) = fs::read_dir(common_dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(rest) = name.to_str().and_then(|n| n.strip_prefix(STAGING_PREFIX)) else {
            continue;
        };
        let pid = rest
            .rsplit_once('.')
            .and_then(|(_, pid)| pid.parse::<i32>().ok());
        if pid.is_some_and(|pid| pid > 0 && !sys::process_exists(pid)) {
            let _ = fs::remove_dir_all(entry.path());
        }
    }
}

/// A worktree id git keeps as it is: `worktree add` names the entry after the directory,
/// sanitised as a ref component. Task names are such already; anything else goes to git.
fn is_plain_id(id: &str) -> bool {
    !id.is_empty()
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && !id.starts_with('.')
        && !id.contains("..")
        && !id.ends_with('.')
        && !id.ends_with(".lock")
}

/// Builds the entry in `staging` and renames it to `worktrees/<id>` (or `<id>1`, `<id>2`, … as
/// git numbers a taken name). Paths are written real, as git writes them.
fn write_entry(
    common_dir: &Path,
    staging: &Path,
    dir: &Path,
    id: &str,
    reference: &str,
) -> std::io::Result<bool> {
    // A directory a porch killed at this point left behind (same pid, reused) is junk.
    let _ = fs::remove_dir_all(staging);
    fs::create_dir(staging)?;
    fs::write(staging.join("commondir"), "../..\n")?;
    fs::write(staging.join("HEAD"), format!("ref: {reference}\n"))?;
    fs::create_dir(staging.join("refs"))?;
    let real_dir = fs::canonicalize(dir)?;
    fs::write(
        staging.join("gitdir"),
        format!("{}/.git\n", real_dir.display()),
    )?;
    let worktrees = fs::canonicalize(common_dir)?.join("worktrees");
    fs::create_dir_all(&worktrees)?;
    for number in 0..1000 {
        let name = match number {
            0 => id.to_string(),
            n => format!("{id}{n}"),
        };
        let entry = worktrees.join(&name);
        // Not even for a moment (a kill now would leave it) does `.git` name a taken entry.
        if entry.symlink_metadata().is_ok() {
            continue;
        }
        // Written before the entry appears: a `git worktree prune` that sees the entry finds the
        // directory its `gitdir` names, and keeps it.
        fs::write(dir.join(".git"), format!("gitdir: {}\n", entry.display()))?;
        // Fails rather than replace an empty directory a concurrent `git worktree add` just made.
        match sys::rename_no_replace(staging, &entry) {
            Ok(()) => return Ok(true),
            Err(err)
                if matches!(
                    err.kind(),
                    ErrorKind::AlreadyExists | ErrorKind::DirectoryNotEmpty
                ) => {}
            Err(err) => return Err(err),
        }
    }
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::git::run;
    use std::path::PathBuf;

    /// A repository with one commit and the branches `task/ours` and `task/theirs`.
    fn repository() -> (tempfile::TempDir, PathBuf) {
        let tmp = tempfile::tempdir().unwrap();
        let repo = tmp.path().join("repo");
        fs::create_dir(&repo).unwrap();
        run(&repo, &["init", "-q", "-b", "main"]).unwrap();
        fs::write(repo.join("a.txt"), "a\n").unwrap();
        run(&repo, &["add", "a.txt"]).unwrap();
        let identity = ["-c", "user.name=t", "-c", "user.email=t@t"];
        run(
            &repo,
            &[&identity[..], &["commit", "-q", "-m", "init"]].concat(),
        )
        .unwrap();
        for branch in ["refs/heads/task/ours", "refs/heads/task/theirs"] {
            run(&repo, &["update-ref", branch, "HEAD"]).unwrap();
        }
        (tmp, repo)
    }

    /// The names in `dir` and what each file holds, with `from` replaced by `to`.
    fn entry(dir: &Path, from: &str, to: &str) -> Vec<(String, String)> {
        let mut found: Vec<(String, String)> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .map(|path| {
                let name = path.file_name().unwrap().to_string_lossy().into_owned();
                let text = fs::read_to_string(&path).unwrap_or_else(|_| "(directory)".into());
                (name, text.replace(from, to))
            })
            .collect();
        found.sort();
        found
    }

    #[test]
    fn the_entry_porch_writes_is_the_one_git_writes_and_git_works_with_it() {
        let (tmp, repo) = repository();
        let common = repo.join(".git");
        let ours = tmp.path().join("wt/ours");
        let theirs = tmp.path().join("wt/theirs");
        assert!(register(&common, &ours, "refs/heads/task/ours"));
        let theirs_text = theirs.to_str().unwrap();
        run(
            &repo,
            &[
                "worktree",
                "add",
                "--no-checkout",
                "--",
                theirs_text,
                "task/theirs",
            ],
        )
        .unwrap();

        // git's own also holds `logs/HEAD`: the reflog of making HEAD, which the first commit
        // or checkout starts anyway.
        let mut git_made = entry(&common.join("worktrees/theirs"), "theirs", "ours");
        git_made.retain(|(name, _)| name != "logs");
        assert_eq!(entry(&common.join("worktrees/ours"), "", ""), git_made);
        let dot_git = |dir: &Path| fs::read_to_string(dir.join(".git")).unwrap();
        assert_eq!(dot_git(&ours), dot_git(&theirs).replace("theirs", "ours"));

        run(&ours, &["reset", "--quiet", "--hard"]).unwrap();
        assert_eq!(fs::read_to_string(ours.join("a.txt")).unwrap(), "a\n");
        run(&repo, &["worktree", "prune"]).unwrap();
        let listed = run(&repo, &["worktree", "list", "--porcelain"]).unwrap();
        let real = fs::canonicalize(&ours).unwrap();
        let line = format!("worktree {}\n", real.display());
        let at = listed.find(&line).unwrap_or_else(|| panic!("{listed}"));
        assert!(
            listed[at..].contains("branch refs/heads/task/ours"),
            "{listed}"
        );
        run(&repo, &["worktree", "remove", "--", ours.to_str().unwrap()]).unwrap();
        assert!(!common.join("worktrees/ours").exists());
        let leftovers: Vec<_> = fs::read_dir(&common)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .filter(|n| n.to_string_lossy().starts_with("porch-new-worktree"))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }

    #[test]
    fn a_taken_id_gets_the_next_number_as_git_numbers_it() {
        let (tmp, repo) = repository();
        let common = repo.join(".git");
        let first = tmp.path().join("one/ours");
        let second = tmp.path().join("two/ours");
        assert!(register(&common, &first, "refs/heads/task/ours"));
        assert!(register(&common, &second, "refs/heads/task/theirs"));
        let head = fs::read_to_string(common.join("worktrees/ours1/HEAD")).unwrap();
        assert_eq!(head, "ref: refs/heads/task/theirs\n");
        let dot_git = fs::read_to_string(second.join(".git")).unwrap();
        assert!(
            dot_git.trim_end().ends_with("/worktrees/ours1"),
            "{dot_git}"
        );
        run(&second, &["reset", "--quiet", "--hard"]).unwrap();
        assert_eq!(
            run(&second, &["branch", "--show-current"]).unwrap(),
            "task/theirs"
        );
    }

    #[test]
    fn a_directory_in_the_way_is_left_to_git_untouched() {
        let (tmp, repo) = repository();
        let dir = tmp.path().join("wt/ours");
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join("mine.txt"), "mine").unwrap();
        assert!(!register(&repo.join(".git"), &dir, "refs/heads/task/ours"));
        assert_eq!(fs::read_to_string(dir.join("mine.txt")).unwrap(), "mine");
        assert!(!repo.join(".git/worktrees").exists());
    }

    #[test]
    fn porch_registers_only_in_a_layout_it_knows() {
        let porch = [
            vec![],
            vec![("extensions.objectformat", "sha256")],
            vec![("extensions.refstorage", "files")],
            vec![("extensions.partialclone", "origin")],
            vec![("core.sparsecheckout", "false")],
            vec![("worktree.userelativepaths", "no")],
            vec![("core.sharedrepository", "umask")],
        ];
        for pairs in porch {
            assert_eq!(
                Registration::from_config(pairs.clone()),
                Registration::Porch,
                "{pairs:?}"
            );
        }
        let git = [
            vec![("extensions.refstorage", "reftable")],
            vec![("extensions.worktreeconfig", "true")],
            vec![("extensions.relativeworktrees", "true")],
            vec![("extensions.somethingnewer", "1")],
            vec![("core.sparsecheckout", "true")],
            vec![("core.sparsecheckout", "")],
            vec![("worktree.userelativepaths", "yes")],
            vec![("core.sparsecheckout", "2")],
            vec![("core.sharedrepository", "group")],
            vec![("core.worktree", "/elsewhere")],
        ];
        for pairs in git {
            assert_eq!(
                Registration::from_config(pairs.clone()),
                Registration::Git,
                "{pairs:?}"
            );
        }
    }

    #[test]
    fn ids_git_would_change_are_left_to_git() {
        for id in ["fix-login", "t0", "a.b_c"] {
            assert!(is_plain_id(id), "{id}");
        }
        for id in ["", ".hidden", "a..b", "x.lock", "end.", "sp ace", "é"] {
            assert!(!is_plain_id(id), "{id}");
        }
    }
}
