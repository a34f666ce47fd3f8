//! Records the git commit porch is built from, for `porch --version`. A build from a tarball
//! (no git, or no repository) gets the commit from `PORCH_BUILD_COMMIT` if the packager sets it,
//! and otherwise says it is unknown rather than failing the build.

use std::path::Path;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=PORCH_BUILD_COMMIT");
    let commit = std::env::var("PORCH_BUILD_COMMIT")
        .ok()
        .filter(|c| !c.trim().is_empty())
        .or_else(git_commit)
        .unwrap_or_else(|| "unknown commit".to_string());
    println!("cargo:rustc-env=PORCH_BUILD_COMMIT={}", commit.trim());
}

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .args(args)
        .current_dir(env_dir())
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
        .filter(|s| !s.is_empty())
}

fn env_dir() -> String {
    std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| ".".to_string())
}

fn git_commit() -> Option<String> {
    let commit = git(&["rev-parse", "--short=12", "HEAD"])?;
    // Rebuild when HEAD moves: HEAD names the branch, whose ref file or packed-refs holds the
    // commit. Only paths that exist are named: cargo reruns a build script on every build when
    // a named path is missing.
    let git_dir = git(&["rev-parse", "--absolute-git-dir"])?;
    let common_dir = Path::new(&env_dir()).join(git(&["rev-parse", "--git-common-dir"])?);
    let mut watched = vec![
        Path::new(&git_dir).join("HEAD"),
        common_dir.join("packed-refs"),
    ];
    if let Some(branch_ref) = git(&["symbolic-ref", "-q", "HEAD"]) {
        watched.push(common_dir.join(branch_ref));
    }
    for path in watched.iter().filter(|p| p.exists()) {
        println!("cargo:rerun-if-changed={}", path.display());
    }
    Some(commit)
}
