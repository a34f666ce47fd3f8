//! Where a repository's worktrees and state go: the worktree directory, and one directory per
//! repository in it. Pure rules; `state` reads the disk for them.

use std::path::{Path, PathBuf};

use crate::error::Error;

/// `--worktree-dir` with `~` expanded, else `~/worktrees`.
pub fn worktree_dir(asked: Option<&Path>, home: Option<&Path>) -> Result<PathBuf, Error> {
    match (asked, home) {
        (Some(dir), _) => expand_tilde(dir, home),
        (None, Some(home)) => Ok(home.join("worktrees")),
        (None, None) => Err(Error::setup(
            "HOME is not set, so the default worktree directory ~/worktrees is unknown",
            "pass --worktree-dir DIR (after a run, the one that run was given)",
        )),
    }
}

/// A leading `~` component is HOME, as a shell would expand it; `~user` is left alone.
pub fn expand_tilde(path: &Path, home: Option<&Path>) -> Result<PathBuf, Error> {
    let Ok(rest) = path.strip_prefix("~") else {
        return Ok(path.to_path_buf());
    };
    match home {
        Some(home) => Ok(home.join(rest)),
        None => Err(Error::setup(
            format!(
                "--worktree-dir {} starts with ~ but HOME is not set",
                path.display()
            ),
            "give an absolute path",
        )),
    }
}

/// `DIR/<repo name>`, unless another repository of the same name already uses it (its `owner`
/// file names another git directory): then `DIR/<repo name>-<hash of its git directory>`, so
/// two checkouts called `shop` never share worktrees, logs or results.
pub fn root_rule(
    worktree_dir: &Path,
    repo_name: &str,
    common_dir: &Path,
    owner: Option<&str>,
) -> PathBuf {
    match owner {
        Some(owner) if Path::new(owner.trim()) != common_dir => worktree_dir.join(format!(
            "{repo_name}-{:08x}",
            fnv1a(common_dir.as_os_str().as_encoded_bytes()) as u32
        )),
        _ => worktree_dir.join(repo_name),
    }
}

/// How a worktree root and a repository's work tree overlap, in words, if they do: either
/// one inside the other (or both the same directory).
pub fn overlap(root: &Path, work_tree: &Path) -> Option<&'static str> {
    if root.starts_with(work_tree) {
        Some("is inside")
    } else if work_tree.starts_with(root) {
        Some("holds")
    } else {
        None
    }
}

/// FNV-1a: a hash that stays the same across Rust releases, unlike std's.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &b| {
        (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn where_worktrees_go() {
        let home = Some(Path::new("/home/me"));
        // (--worktree-dir, HOME, the directory, the rule)
        let cases: &[(Option<&str>, Option<&Path>, &str, &str)] = &[
            (
                None,
                home,
                "/home/me/worktrees",
                "the default is ~/worktrees",
            ),
            (
                Some("/srv/wt"),
                home,
                "/srv/wt",
                "an absolute path is taken as it is",
            ),
            (
                Some("wt"),
                home,
                "wt",
                "a relative one too (made absolute later)",
            ),
            (Some("~/wt"), home, "/home/me/wt", "a leading ~ is HOME"),
            (Some("~"), home, "/home/me", "~ alone is HOME"),
            (Some("~bob/wt"), home, "~bob/wt", "~user is not expanded"),
            (Some("wt/~"), None, "wt/~", "a ~ further on is a name"),
            (
                Some("/srv/wt"),
                None,
                "/srv/wt",
                "without HOME, a path without ~ works",
            ),
        ];
        for &(asked, home, dir, rule) in cases {
            let chosen = worktree_dir(asked.map(Path::new), home).unwrap();
            assert_eq!(chosen, PathBuf::from(dir), "{rule}");
        }
    }

    #[test]
    fn without_home_a_tilde_or_the_default_is_an_error() {
        for asked in [None, Some("~/wt")] {
            let err = worktree_dir(asked.map(Path::new), None).unwrap_err();
            assert!(
                err.to_string().contains("HOME is not set"),
                "{asked:?}: {err}"
            );
            assert!(err.hint().is_some(), "{asked:?}");
        }
    }

    #[test]
    fn one_directory_per_repository() {
        let git_dir = Path::new("/src/shop/.git");
        // (what DIR/shop/.porch/repo holds, the root chosen, the rule)
        let cases: &[(Option<&str>, &str, &str)] = &[
            (None, "/wt/shop", "a new repository takes DIR/<its name>"),
            (
                Some("/src/shop/.git"),
                "/wt/shop",
                "as does the repository that owns it",
            ),
            (
                Some("/src/shop/.git\n"),
                "/wt/shop",
                "whatever whitespace the file ends with",
            ),
            (
                Some("/home/other/shop/.git"),
                "/wt/shop-8e6ef6a8",
                "another repository of the same name adds the hash of its git directory",
            ),
        ];
        for &(owner, root, rule) in cases {
            assert_eq!(
                root_rule(Path::new("/wt"), "shop", git_dir, owner),
                PathBuf::from(root),
                "{rule}"
            );
        }
    }

    #[test]
    fn a_worktree_root_must_stay_out_of_the_work_tree() {
        // (the worktree root, the repository's work tree, the overlap, the rule)
        let cases = [
            (
                "/src/shop",
                "/src/shop",
                Some("is inside"),
                "--worktree-dir .. from the repository",
            ),
            (
                "/src/shop/wt/shop",
                "/src/shop",
                Some("is inside"),
                "a directory of the checkout",
            ),
            (
                "/code/shop",
                "/code/shop/shop",
                Some("holds"),
                "a root holding the checkout",
            ),
            ("/wt/shop", "/src/shop", None, "apart: the usual case"),
            (
                "/src/shop-wt/shop",
                "/src/shop",
                None,
                "a name that only starts alike",
            ),
            (
                "/src/shop2",
                "/src/shop",
                None,
                "nor is a sibling named alike",
            ),
        ];
        for (root, work_tree, overlaps, rule) in cases {
            assert_eq!(
                overlap(Path::new(root), Path::new(work_tree)),
                overlaps,
                "{rule}"
            );
        }
    }

    #[test]
    fn the_hash_is_the_standard_fnv1a() {
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
    }
}
