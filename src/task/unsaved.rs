//! Work in a worktree that no commit on the task branch can hold: files the agent wrote to
//! ignored paths, repositories it created inside the worktree, and commits or changes inside a
//! submodule that exist nowhere but in the worktree. porch finds them around its commit, so it
//! can leave them out of the commit (a gitlink to a commit the repository does not have is not
//! work), keep the worktree even with `--cleanup`, and say where they are.

use std::collections::BTreeSet;
use std::path::{Component, Path, PathBuf};

use crate::git;
use crate::git::GitError;
use crate::util::clip::short_commit;

/// A repository inside the worktree whose work is not on the task branch, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Nested {
    /// Relative to the worktree, as git names it (no trailing `/`).
    pub path: String,
    pub state: NestedState,
}

#[derive(Debug, Clone, PartialEq)]
pub enum NestedState {
    /// A repository the session created (`git init`, a project generator, a clone): git would
    /// commit only a link to a commit the repository does not have.
    Created,
    /// A submodule checked out at a commit found neither in the repository nor on the
    /// submodule's remote-tracking branches: it exists only in this worktree.
    UnpublishedCommit(String),
    /// A submodule holding changes or new files not committed inside it.
    UncommittedChanges,
    /// A link the session committed itself, to a commit found only in this worktree (or
    /// nowhere): the branch holds it, but it is not work anyone else can check out.
    CommittedLink(String),
}

impl Nested {
    /// Left out of porch's commit: recording it would record a link to nothing.
    pub fn left_out(&self) -> bool {
        matches!(
            self.state,
            NestedState::Created | NestedState::UnpublishedCommit(_)
        )
    }

    /// The warning for the results and the screen; `worktree` is where the files are.
    pub fn warning(&self, worktree: &Path) -> String {
        let at = worktree.join(&self.path);
        let at = at.display();
        let path = &self.path;
        match &self.state {
            NestedState::Created => format!(
                "{path} is a git repository the session created inside the worktree: porch did not commit it \
                 (the branch would hold only a link to a commit the repository does not have); its files are in {at}"
            ),
            NestedState::UnpublishedCommit(commit) => format!(
                "submodule {path} is at commit {} that exists only in this worktree: porch did not commit the link to it; \
                 the work is in {at}",
                short_commit(commit)
            ),
            NestedState::UncommittedChanges => format!(
                "submodule {path} holds changes not committed inside it, so they are on no branch; the work is in {at}"
            ),
            NestedState::CommittedLink(commit) => format!(
                "the session committed {path} as a link to commit {} that exists only in this worktree: \
                 the branch's counts leave it out; the work is in {at}",
                short_commit(commit)
            ),
        }
    }
}

/// What one `git status` of the worktree says before porch commits.
#[derive(Debug, Default)]
pub struct BeforeCommit {
    /// The repositories inside the worktree whose work a commit of it would not hold.
    pub nested: Vec<Nested>,
    /// The commit HEAD is at (`None` before the first commit): when it is the base, the
    /// session committed nothing itself and porch's commit is the branch's only one.
    pub head_commit: Option<String>,
}

/// The repositories inside the worktree whose work a commit of the worktree would not hold.
/// Asked before porch commits, so the caller can leave out what [`Nested::left_out`] says.
pub fn nested_repositories(worktree: &Path) -> Result<Vec<Nested>, GitError> {
    Ok(before_commit(worktree)?.nested)
}

/// The worktree read before porch commits: its nested repositories and where HEAD is.
pub fn before_commit(worktree: &Path) -> Result<BeforeCommit, GitError> {
    let status = git::porcelain_status(worktree)?;
    Ok(BeforeCommit {
        nested: nested_in(worktree, &status)?,
        head_commit: head_commit_in(&status),
    })
}

/// The `# branch.oid` header of `git status --porcelain=v2 --branch`; `None` for `(initial)`.
fn head_commit_in(status: &str) -> Option<String> {
    let commit = status
        .split('\0')
        .find_map(|field| field.strip_prefix("# branch.oid "))?;
    commit
        .bytes()
        .all(|b| b.is_ascii_hexdigit())
        .then(|| commit.to_string())
}

fn nested_in(worktree: &Path, status: &str) -> Result<Vec<Nested>, GitError> {
    let mut nested = Vec::new();
    for entry in parse_status(status) {
        match entry {
            Entry::EmbeddedRepository(path) => nested.push(Nested {
                path,
                state: NestedState::Created,
            }),
            Entry::Submodule {
                path,
                new_commit,
                changed_inside,
            } => {
                if new_commit {
                    let commit = git::head_commit(&worktree.join(&path))?;
                    if !is_published(worktree, &path, &commit) {
                        nested.push(Nested {
                            path: path.clone(),
                            state: NestedState::UnpublishedCommit(commit),
                        });
                    }
                }
                if changed_inside {
                    nested.push(Nested {
                        path,
                        state: NestedState::UncommittedChanges,
                    });
                }
            }
        }
    }
    Ok(nested)
}

/// Whether `commit` of the submodule at `path` can be found outside this worktree: in the
/// repository's own objects, or on a remote-tracking branch of the submodule (it was fetched
/// from somewhere that has it).
fn is_published(worktree: &Path, path: &str, commit: &str) -> bool {
    if git::has_commit(worktree, commit) {
        return true;
    }
    // Without a `.git` of its own, `git -C` would ask the enclosing repository instead.
    let inner = worktree.join(path);
    inner.join(".git").symlink_metadata().is_ok() && git::on_remote_tracking_branch(&inner, commit)
}

/// Links to a commit (gitlinks) that a branch holds against its base (`raw`, the branch's
/// [`git::BranchDiff::raw`]) and that point at commits found only in this worktree: the
/// session committed them itself. With what they add to the branch's diff counts, so the
/// caller can leave them out.
pub fn committed_links(worktree: &Path, raw: &str) -> (Vec<Nested>, LinkCounts) {
    let mut dangling = Vec::new();
    let mut counts = LinkCounts::default();
    for link in parse_links(raw) {
        if is_published(worktree, &link.path, &link.commit) {
            continue;
        }
        counts.add(&link);
        dangling.push(Nested {
            path: link.path,
            state: NestedState::CommittedLink(link.commit),
        });
    }
    (dangling, counts)
}

/// What links add to `git diff --numstat`: one line `Subproject commit <id>` each, and one
/// removed when they replace another link.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct LinkCounts {
    pub files: u64,
    pub insertions: u64,
    pub deletions: u64,
}

impl LinkCounts {
    fn add(&mut self, link: &Link) {
        self.insertions += 1;
        match link.old_mode.as_str() {
            // New, or a link replacing a link: the entry is the link alone.
            "000000" => self.files += 1,
            "160000" => {
                self.files += 1;
                self.deletions += 1;
            }
            // A file became a link: the file's removal is real work, and counted.
            _ => {}
        }
    }
}

#[derive(Debug, PartialEq)]
struct Link {
    path: String,
    commit: String,
    old_mode: String,
}

/// The entries of `git diff --raw -z` whose new side is a link (mode 160000).
fn parse_links(text: &str) -> Vec<Link> {
    let mut links = Vec::new();
    let mut fields = text.split('\0');
    while let Some(meta) = fields.next() {
        let Some(path) = fields.next() else { break };
        // `:OLDMODE NEWMODE OLDID NEWID STATUS`
        let parts: Vec<&str> = meta.trim_start_matches(':').split(' ').collect();
        if let [old_mode, "160000", _, commit, status] = parts[..]
            && !status.starts_with('D')
        {
            links.push(Link {
                path: path.to_string(),
                commit: commit.to_string(),
                old_mode: old_mode.to_string(),
            });
        }
    }
    links
}

/// What porch reads of one `git status --porcelain=v2` entry.
#[derive(Debug, PartialEq)]
enum Entry {
    /// An untracked directory git does not descend into: it holds a `.git` of its own.
    EmbeddedRepository(String),
    Submodule {
        path: String,
        /// Checked out at another commit than the index records.
        new_commit: bool,
        /// Modified or untracked files inside it.
        changed_inside: bool,
    },
}

/// Parses `git status --porcelain=v2 -z --untracked-files=all`. With `all`, git lists every
/// untracked file, so an untracked entry naming a directory (ending in `/`) is a repository of
/// its own, which git does not look into.
fn parse_status(text: &str) -> Vec<Entry> {
    let mut entries = Vec::new();
    let mut fields = text.split('\0');
    while let Some(field) = fields.next() {
        let (kind, rest) = field.split_once(' ').unwrap_or((field, ""));
        match kind {
            "?" => {
                if let Some(dir) = rest.strip_suffix('/') {
                    entries.push(Entry::EmbeddedRepository(dir.to_string()));
                }
            }
            "1" | "2" => {
                // `2` (a rename) is followed by the original path as a field of its own.
                if kind == "2" {
                    fields.next();
                }
                let columns = if kind == "1" { 7 } else { 8 };
                let parts: Vec<&str> = rest.splitn(columns + 1, ' ').collect();
                let (Some(submodule), Some(path)) = (parts.get(1), parts.get(columns)) else {
                    continue;
                };
                if let Some(flags) = submodule.strip_prefix('S') {
                    let flags = flags.as_bytes();
                    entries.push(Entry::Submodule {
                        path: path.to_string(),
                        new_commit: flags.first() == Some(&b'C'),
                        changed_inside: flags.get(1) == Some(&b'M') || flags.get(2) == Some(&b'U'),
                    });
                }
            }
            _ => {}
        }
    }
    entries
}

/// The files the agent wrote with its file tools (`written`, as claude named them) that still
/// exist and that git ignores: on no branch, and gone when the worktree is removed. Sorted.
/// `held` are paths (relative to the worktree) the caller knows git tracks: git ignores no
/// tracked file, so they are not asked about, and when every written file is one of them git
/// is not started at all.
pub fn ignored_writes(
    worktree: &Path,
    written: &BTreeSet<String>,
    held: &BTreeSet<String>,
) -> Result<Vec<String>, GitError> {
    let canonical = worktree.canonicalize().ok();
    let candidates: BTreeSet<String> = written
        .iter()
        .filter_map(|path| inside(worktree, canonical.as_deref(), path))
        .filter(|relative| worktree.join(relative).symlink_metadata().is_ok())
        .filter_map(|relative| relative.to_str().map(String::from))
        .filter(|relative| !held.contains(relative))
        .collect();
    if candidates.is_empty() {
        return Ok(Vec::new());
    }
    match git::ignored_paths(worktree, candidates.iter()) {
        Ok(ignored) => Ok(ignored),
        // git refuses the whole list when one path is inside a submodule or beyond a symbolic
        // link; asked one at a time, only that one goes unanswered.
        Err(_) => Ok(candidates
            .iter()
            .filter_map(|path| git::ignored_paths(worktree, std::iter::once(path)).ok())
            .flatten()
            .collect()),
    }
}

/// The warning for files the agent wrote that git ignores; `None` when there are none.
pub fn ignored_warning(files: &[String], worktree: &Path) -> Option<String> {
    let (first, rest) = files.split_first()?;
    let listed = match rest.len() {
        0 => first.clone(),
        1..=4 => files.join(", "),
        more => format!("{}, and {} more", files[..4].join(", "), more - 3),
    };
    let (count, are) = match files.len() {
        1 => ("1 file".to_string(), "is"),
        n => (format!("{n} files"), "are"),
    };
    Some(format!(
        "{count} the session wrote {are} ignored by git, so on no branch: {listed}; they are in {}",
        worktree.display()
    ))
}

/// `written` relative to the worktree, if it is inside it (and not in its `.git`). claude names
/// files by absolute path, from its working directory as the kernel gives it: symbolic links
/// resolved, hence `canonical`.
fn inside(worktree: &Path, canonical: Option<&Path>, written: &str) -> Option<PathBuf> {
    let path = Path::new(written);
    let relative = if path.is_absolute() {
        path.strip_prefix(worktree)
            .ok()
            .or_else(|| path.strip_prefix(canonical?).ok())?
    } else {
        path
    };
    let mut clean = PathBuf::new();
    for component in relative.components() {
        match component {
            Component::Normal(part) => clean.push(part),
            Component::CurDir => {}
            // `..` could lead anywhere, outside the worktree too: not porch's to judge.
            _ => return None,
        }
    }
    let first = clean.components().next()?;
    (first.as_os_str() != ".git").then_some(clean)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_entries_name_embedded_repositories_and_submodules() {
        let rows: [(&str, Vec<Entry>); 7] = [
            ("", vec![]),
            // Untracked files, and a directory: only the directory is a repository.
            (
                "? plain.txt\0? gen/\0? a/b/\0",
                vec![
                    Entry::EmbeddedRepository("gen".into()),
                    Entry::EmbeddedRepository("a/b".into()),
                ],
            ),
            // An ordinary modified file is nothing to porch here.
            ("1 .M N... 100644 100644 100644 aaa aaa README.md\0", vec![]),
            (
                "1 .M SC.. 160000 160000 160000 aaa aaa lib\0",
                vec![Entry::Submodule {
                    path: "lib".into(),
                    new_commit: true,
                    changed_inside: false,
                }],
            ),
            (
                "1 .M S.M. 160000 160000 160000 aaa aaa vendor/lib one\0\
                 1 .M S..U 160000 160000 160000 aaa aaa other\0",
                vec![
                    Entry::Submodule {
                        path: "vendor/lib one".into(),
                        new_commit: false,
                        changed_inside: true,
                    },
                    Entry::Submodule {
                        path: "other".into(),
                        new_commit: false,
                        changed_inside: true,
                    },
                ],
            ),
            // A rename carries its original path as a field of its own, which is skipped.
            (
                "2 R. N... 100644 100644 100644 aaa aaa R100 new.txt\0old/\0? gen/\0",
                vec![Entry::EmbeddedRepository("gen".into())],
            ),
            (
                "2 R. SCMU 160000 160000 160000 aaa aaa R100 lib2\0lib\0",
                vec![Entry::Submodule {
                    path: "lib2".into(),
                    new_commit: true,
                    changed_inside: true,
                }],
            ),
        ];
        for (text, expected) in rows {
            assert_eq!(parse_status(text), expected, "{text:?}");
        }
    }

    /// `git diff --raw -z` → the links it adds, and what they add to the counts.
    #[test]
    fn links_are_read_from_the_raw_diff_and_counted_as_numstat_counts_them() {
        let z = "0000000000000000000000000000000000000000";
        let a = "6ad1a8e5e3996f581bcc1eb7aef04bcb5f31b81e";
        let b = "9dabe77ad676ea32a74375ce50dac3a31a3fdc6a";
        let rows = [
            ("".to_string(), vec![], LinkCounts::default()),
            // An ordinary file is not a link.
            (
                format!(":000000 100644 {z} {a} A\0f.txt\0"),
                vec![],
                LinkCounts::default(),
            ),
            (
                format!(":000000 160000 {z} {a} A\0app\0:000000 100644 {z} {b} A\0f\0"),
                vec![("app", a, "000000")],
                LinkCounts {
                    files: 1,
                    insertions: 1,
                    deletions: 0,
                },
            ),
            (
                format!(":160000 160000 {a} {b} M\0lib one\0"),
                vec![("lib one", b, "160000")],
                LinkCounts {
                    files: 1,
                    insertions: 1,
                    deletions: 1,
                },
            ),
            // A file replaced by a link: the file's removal stays counted.
            (
                format!(":100644 160000 {a} {b} T\0x\0"),
                vec![("x", b, "100644")],
                LinkCounts {
                    files: 0,
                    insertions: 1,
                    deletions: 0,
                },
            ),
            // A link removed is not a link the branch holds.
            (
                format!(":160000 000000 {a} {z} D\0gone\0"),
                vec![],
                LinkCounts::default(),
            ),
        ];
        for (text, expected, counts) in rows {
            let links = parse_links(&text);
            let found: Vec<(&str, &str, &str)> = links
                .iter()
                .map(|l| (l.path.as_str(), l.commit.as_str(), l.old_mode.as_str()))
                .collect();
            assert_eq!(found, expected, "{text:?}");
            let mut total = LinkCounts::default();
            links.iter().for_each(|l| total.add(l));
            assert_eq!(total, counts, "{text:?}");
        }
    }

    /// What claude named → the path inside the worktree porch asks git about.
    #[test]
    fn written_paths_are_taken_relative_to_the_worktree() {
        let worktree = Path::new("/home/me/wt/shop/fix");
        let canonical = Some(Path::new("/data/wt/shop/fix"));
        let rows = [
            ("/home/me/wt/shop/fix/dist/app.js", Some("dist/app.js")),
            ("/data/wt/shop/fix/.env", Some(".env")),
            ("src/a.rs", Some("src/a.rs")),
            ("./src/./b.rs", Some("src/b.rs")),
            ("/home/me/wt/shop/fix", None),
            ("/home/me/wt/shop/other/x", None),
            ("/tmp/notes.md", None),
            ("../escape.txt", None),
            ("/home/me/wt/shop/fix/../fix/x", None),
            ("/home/me/wt/shop/fix/.git/hooks/pre-commit", None),
            (".git/config", None),
        ];
        for (written, expected) in rows {
            assert_eq!(
                inside(worktree, canonical, written).as_deref(),
                expected.map(Path::new),
                "{written}"
            );
        }
    }

    /// The ignored files found → the warning: up to five named, the rest counted.
    #[test]
    fn the_ignored_files_warning_names_them_and_where_they_are() {
        let files = |n: usize| (1..=n).map(|i| format!("f{i}")).collect::<Vec<_>>();
        let at = "; they are in /w/x";
        let rows = [
            (0, None),
            (
                1,
                Some(format!(
                    "1 file the session wrote is ignored by git, so on no branch: f1{at}"
                )),
            ),
            (
                2,
                Some(format!(
                    "2 files the session wrote are ignored by git, so on no branch: f1, f2{at}"
                )),
            ),
            (
                5,
                Some(format!(
                    "5 files the session wrote are ignored by git, so on no branch: f1, f2, f3, f4, f5{at}"
                )),
            ),
            (
                7,
                Some(format!(
                    "7 files the session wrote are ignored by git, so on no branch: f1, f2, f3, f4, and 3 more{at}"
                )),
            ),
        ];
        for (count, warning) in rows {
            assert_eq!(
                ignored_warning(&files(count), Path::new("/w/x")),
                warning,
                "{count}"
            );
        }
    }

    #[test]
    fn only_links_to_nothing_are_left_out_of_the_commit() {
        let nested = |state| Nested {
            path: "lib".into(),
            state,
        };
        let rows = [
            (NestedState::Created, true),
            (
                NestedState::UnpublishedCommit("0123456789abcdef".into()),
                true,
            ),
            (NestedState::UncommittedChanges, false),
            (NestedState::CommittedLink("0123456789abcdef".into()), false),
        ];
        for (state, left_out) in rows {
            let entry = nested(state);
            assert_eq!(entry.left_out(), left_out, "{entry:?}");
            let warning = entry.warning(Path::new("/w/x"));
            assert!(warning.contains("/w/x/lib"), "{warning}");
        }
        let warning = nested(NestedState::UnpublishedCommit("0123456789abcdef".into()))
            .warning(Path::new("/w/x"));
        assert!(warning.contains("commit 0123456789ab "), "{warning}");
    }
}
