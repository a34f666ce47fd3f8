//! What the repository's configuration says for a whole run, read with one git call: the
//! committer identity porch adds where none is set, and who registers the tasks' worktrees.

use std::path::Path;

use crate::git::output;
use crate::git::registry;
use crate::git::registry::Registration;

/// The run-wide answers of the repository's configuration.
#[derive(Debug, Clone)]
pub struct RunConfig {
    /// Who commits the agent's work: the repository's identity where it has one, porch's
    /// otherwise, so a commit works on a server where nobody configured git. As `-c key=value`
    /// arguments.
    pub identity: Vec<String>,
    pub registration: Registration,
}

/// Reads `RunConfig` from the repository at `dir`. A configuration git cannot read leaves the
/// identity to porch's and the worktrees to git, which then says what is wrong.
pub fn run_config(dir: &Path) -> RunConfig {
    let pattern = format!(r"^(user\.(name|email)|{})$", registry::CONFIG_KEYS);
    let args = ["config", "-z", "--get-regexp", &pattern];
    // Exit 1: no key matched, an answer like any other.
    let answer = output(dir, &args)
        .ok()
        .filter(|out| matches!(out.status.code(), Some(0 | 1)))
        .map(|out| String::from_utf8_lossy(&out.stdout).into_owned());
    let pairs: Vec<(&str, &str)> = answer
        .as_deref()
        .unwrap_or_default()
        .split('\0')
        .filter(|entry| !entry.is_empty())
        .map(|entry| entry.split_once('\n').unwrap_or((entry, "")))
        .collect();
    RunConfig {
        identity: identity_overrides(&pairs),
        registration: match answer {
            Some(_) => Registration::from_config(pairs.iter().copied()),
            None => Registration::Git,
        },
    }
}

fn identity_overrides(pairs: &[(&str, &str)]) -> Vec<String> {
    let mut overrides = Vec::new();
    for (key, fallback) in [("user.name", "porch"), ("user.email", "porch@localhost")] {
        let has = (pairs.iter()).any(|&(k, v)| k == key && !v.trim().is_empty());
        if !has {
            overrides.push("-c".to_string());
            overrides.push(format!("{key}={fallback}"));
        }
    }
    overrides
}
