//! What commits and worktrees hold: a branch's changes against its base (counted, listed, raw),
//! one tree's against another, what a commit tracks at given paths, and a worktree's status,
//! ignored files and objects.

use std::path::Path;

use crate::git::GitError;
use crate::git::failure;
use crate::git::nul_separated;
use crate::git::query;
use crate::git::run;
use crate::git::run_bytes;
use crate::git::run_with_input;

#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct DiffStats {
    pub commits: u64,
    pub files_changed: u64,
    pub insertions: u64,
    pub deletions: u64,
}

/// What `branch` holds that `base_commit` does not.
pub fn diff_stats(dir: &Path, base_commit: &str, branch: &str) -> Result<DiffStats, GitError> {
    Ok(branch_diff(dir, base_commit, branch, None)?.stats)
}

/// A branch's changes against its base from one `git diff`: the counts, and the raw entries
/// (modes and full object ids, `OLDMODE NEWMODE OLDID NEWID STATUS` then the path, each field
/// NUL-terminated as `--raw -z` gives them) that say which entries are links to commits.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct BranchDiff {
    pub stats: DiffStats,
    pub raw: String,
}

/// What `branch` holds against `base_commit`, read in one `git diff --raw --numstat` (renames
/// as a deletion and an addition). `known_commits` is the number of commits when the caller
/// knows it (porch made the branch's only commit), which spares a `git rev-list`.
pub fn branch_diff(
    dir: &Path,
    base_commit: &str,
    branch: &str,
    known_commits: Option<u64>,
) -> Result<BranchDiff, GitError> {
    let head = format!("refs/heads/{branch}");
    let commits = match known_commits {
        Some(commits) => commits,
        None => {
            let range = format!("{base_commit}..{head}");
            run(dir, &["rev-list", "--count", &range, "--"])?
                .trim()
                .parse()
                .unwrap_or(0)
        }
    };
    let mut diff = parse_branch_diff(&raw_diff(dir, base_commit, &head, &["--numstat"])?);
    diff.stats.commits = commits;
    Ok(diff)
}

/// `git diff --raw -z --no-renames --no-abbrev` of `head` against `base_commit`, with `more`
/// options: the one reading of a branch's entries that its counts and its paths share.
fn raw_diff(dir: &Path, base_commit: &str, head: &str, more: &[&str]) -> Result<String, GitError> {
    let mut args = vec!["diff", "--raw"];
    args.extend_from_slice(more);
    args.extend(["-z", "--no-renames", "--no-abbrev", base_commit, head, "--"]);
    Ok(String::from_utf8_lossy(&run_bytes(dir, &args)?).into_owned())
}

/// Splits `git diff --raw --numstat -z`: raw entries (a `:` field, then the path) first, then
/// one `ADDED<TAB>DELETED<TAB>PATH` field a file (`-` for a binary file: a file with no lines).
fn parse_branch_diff(text: &str) -> BranchDiff {
    let mut diff = BranchDiff::default();
    let mut fields = text.split('\0').filter(|field| !field.is_empty());
    while let Some(field) = fields.next() {
        if field.starts_with(':') {
            let Some(path) = fields.next() else { break };
            diff.raw.push_str(&format!("{field}\0{path}\0"));
            continue;
        }
        let mut counts = field.splitn(3, '\t');
        let (Some(added), Some(removed), Some(_path)) =
            (counts.next(), counts.next(), counts.next())
        else {
            continue;
        };
        diff.stats.files_changed += 1;
        diff.stats.insertions += added.parse::<u64>().unwrap_or(0);
        diff.stats.deletions += removed.parse::<u64>().unwrap_or(0);
    }
    diff
}

/// Every path `branch` changes against `base_commit`, both sides of a rename included, as git
/// spells them (NUL-separated, so that no name is quoted or split), each with what it holds
/// afterwards: `MODE OBJECT`, or `None` when the branch deletes it.
pub fn changed_entries(
    dir: &Path,
    base_commit: &str,
    branch: &str,
) -> Result<Vec<(String, Option<String>)>, GitError> {
    let head = format!("refs/heads/{branch}");
    Ok(raw_entries(&raw_diff(dir, base_commit, &head, &[])?))
}

/// The paths of `git diff --raw -z --no-renames --no-abbrev` output (`BranchDiff::raw` is
/// one), each with what it holds afterwards (`MODE OBJECT`), `None` when deleted.
pub fn raw_entries(raw: &str) -> Vec<(String, Option<String>)> {
    let fields: Vec<&str> = raw.split('\0').filter(|field| !field.is_empty()).collect();
    fields
        .chunks(2)
        .filter_map(|pair| match pair {
            // `:OLDMODE NEWMODE OLDID NEWID STATUS`, then the path.
            [meta, path] => {
                let parts: Vec<&str> = meta.trim_start_matches(':').split(' ').collect();
                let [_, mode, _, object, status] = parts[..] else {
                    return None;
                };
                let after = (!status.starts_with('D')).then(|| format!("{mode} {object}"));
                Some((path.to_string(), after))
            }
            _ => None,
        })
        .collect()
}

/// What `branch` changes against `base` as a reviewer reads it: the stat, then the patch.
/// Never an external diff program or a text conversion the repository configures: those run
/// commands.
pub fn patch(dir: &Path, base: &str, branch: &str) -> Result<Vec<u8>, GitError> {
    let head = format!("refs/heads/{branch}");
    let args = [
        "diff",
        "--no-color",
        "--no-ext-diff",
        "--no-textconv",
        "--stat",
        "--patch",
        base,
        &head,
        "--",
    ];
    run_bytes(dir, &args)
}

/// What `to` changes against `from`, as (git's status letter, path): `A` a path `from` has
/// not, `D` one `to` has not, `M` and `T` one both have. Renames are an `A` and a `D`.
pub fn tree_changes(dir: &Path, from: &str, to: &str) -> Result<Vec<(char, String)>, GitError> {
    let args = [
        "diff",
        "--name-status",
        "-z",
        "--no-renames",
        from,
        to,
        "--",
    ];
    let fields: Vec<String> = nul_separated(&run_bytes(dir, &args)?).collect();
    Ok(fields
        .chunks(2)
        .filter_map(|pair| match pair {
            [status, path] => Some((status.chars().next()?, path.clone())),
            _ => None,
        })
        .collect())
}

/// How a commit holds a path.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Tracked {
    File,
    Link,
    Directory,
    Submodule,
}

/// What `commit` holds at each of `paths` (relative to the repository's root) that it holds
/// anything at, as git spells the path. One `ls-tree` for all of them, without `-r`: each path
/// is found as itself (a directory as one entry, not its files), and a submodule's mode is
/// read from the tree without asking for its commit, which this repository may not have.
pub fn tracked_at(
    dir: &Path,
    commit: &str,
    paths: &[String],
) -> Result<Vec<(String, Tracked)>, GitError> {
    let mut args = vec!["ls-tree", "-z", "--full-tree", commit, "--"];
    args.extend(paths.iter().map(String::as_str));
    let out = run_bytes(dir, &args)?;
    // Each entry: `MODE TYPE OBJECT<TAB>PATH`.
    let entries = nul_separated(&out).filter_map(|entry| {
        let (meta, path) = entry.split_once('\t')?;
        let kind = match meta.split(' ').next()? {
            "040000" => Tracked::Directory,
            "120000" => Tracked::Link,
            "160000" => Tracked::Submodule,
            _ => Tracked::File,
        };
        Some((path.to_string(), kind))
    });
    Ok(entries.collect())
}

/// Whether the index of `dir`'s work tree tracks the file at `path`.
pub fn is_tracked(dir: &Path, path: &str) -> bool {
    run(dir, &["ls-files", "--error-unmatch", "--", path]).is_ok()
}

/// Does the worktree hold changes git would commit (tracked or new, not ignored)?
pub fn is_dirty(dir: &Path) -> Result<bool, GitError> {
    run(dir, &["status", "--porcelain", "--untracked-files=all"]).map(|s| !s.is_empty())
}

/// `git status --porcelain=v2 -z` with every untracked file and the state inside each
/// submodule: what is in the worktree that its branch does not hold; and, in `# branch.`
/// headers, the commit HEAD is at.
pub fn porcelain_status(dir: &Path) -> Result<String, GitError> {
    let args = [
        "status",
        "--porcelain=v2",
        "--branch",
        "-z",
        "--untracked-files=all",
        "--ignore-submodules=none",
    ];
    run(dir, &args)
}

/// Whether the repository `dir` is in has the commit `commit` among its objects.
pub fn has_commit(dir: &Path, commit: &str) -> bool {
    let object = format!("{commit}^{{commit}}");
    query(dir, &["cat-file", "-e", &object]).unwrap_or(false)
}

/// The paths of `paths` (relative to `dir`) that git ignores, sorted.
pub fn ignored_paths<'a>(
    dir: &Path,
    paths: impl Iterator<Item = &'a String>,
) -> Result<Vec<String>, GitError> {
    let mut input = Vec::new();
    for path in paths {
        input.extend_from_slice(path.as_bytes());
        input.push(0);
    }
    let args = ["check-ignore", "-z", "--stdin"];
    let out = run_with_input(dir, &args, &input)?;
    match out.status.code() {
        // 1: none of them is ignored.
        Some(0 | 1) => {
            let mut ignored: Vec<String> = nul_separated(&out.stdout).collect();
            ignored.sort();
            Ok(ignored)
        }
        _ => Err(failure(&args, &out)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_diff_gives_the_counts_and_the_raw_entries() {
        let zero = "0".repeat(40);
        let link = "a".repeat(40);
        let blob = "b".repeat(40);
        let text = format!(
            ":000000 160000 {zero} {link} A\0sub\0:100644 100644 {blob} {blob} M\0a:b.txt\0\
             1\t0\tsub\03\t2\ta:b.txt\0-\t-\timage.png\0"
        );
        let diff = parse_branch_diff(&text);
        assert_eq!(
            diff.stats,
            DiffStats {
                commits: 0,
                files_changed: 3,
                insertions: 4,
                deletions: 2,
            }
        );
        assert_eq!(
            diff.raw,
            format!(
                ":000000 160000 {zero} {link} A\0sub\0:100644 100644 {blob} {blob} M\0a:b.txt\0"
            )
        );
        assert_eq!(parse_branch_diff(""), BranchDiff::default());
    }
}
