//! The GitHub CLI, `gh` (on PATH, or `PORCH_GH`): a branch's pull request looked up, opened,
//! edited. Run in the repository, which tells gh the GitHub repository; gh keeps the login.
//! Each call is a bounded `Child`: a gh that stops answering is ended, not waited for.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::process::bounded;
use crate::process::bounded::Ended;
use crate::process::child::Tail;
use crate::process::env::REPO_ENV_VARS;
use crate::results::PullRequest;

/// How long one gh call may take.
const GH_TIMEOUT: Duration = Duration::from_secs(2 * 60);
/// How many of gh's last lines of each stream a call keeps.
const KEPT_LINES: usize = 20;
/// What gh says, on stderr with exit 1, of a branch without a pull request.
const NONE_FOUND: &str = "no pull requests found";

/// A pull request as porch asks gh to open or edit it.
pub struct Proposal<'a> {
    pub head: &'a str,
    pub base: &'a str,
    pub title: &'a str,
    pub body: &'a str,
    pub draft: bool,
}

/// gh, run in one repository.
pub struct Gh {
    pub program: OsString,
    pub repo: PathBuf,
}

/// What a gh call printed, and how it ended.
struct Said {
    ok: bool,
    stdout: Vec<String>,
    stderr: Vec<String>,
    /// Why it failed, as a phrase, when it did.
    failure: String,
}

impl Gh {
    /// gh from `PORCH_GH` (a path, or a name looked up on PATH), else `gh` on PATH.
    pub fn new(repo: &Path) -> Gh {
        let program = std::env::var_os("PORCH_GH")
            .filter(|value| !value.is_empty())
            .unwrap_or_else(|| OsString::from("gh"));
        Gh {
            program,
            repo: repo.to_path_buf(),
        }
    }

    /// The open pull request whose head is `branch`, if there is one.
    pub fn find(&self, branch: &str) -> Result<Option<PullRequest>, String> {
        let said = self.call(&["pr", "view", branch, "--json", "url,number"], None)?;
        if !said.ok {
            if said.stderr.iter().any(|line| line.contains(NONE_FOUND)) {
                return Ok(None);
            }
            return Err(said.failure);
        }
        let text = said.stdout.join("\n");
        serde_json::from_str::<PullRequest>(&text)
            .map(Some)
            .map_err(|err| format!("`gh pr view {branch}` answered what is not {{url, number}} JSON ({err}): {text}"))
    }

    /// Opens a pull request; gh prints its URL, which ends in its number.
    pub fn create(&self, proposal: &Proposal) -> Result<PullRequest, String> {
        let mut args = vec!["pr", "create", "--head", proposal.head];
        args.extend(described(proposal));
        if proposal.draft {
            args.push("--draft");
        }
        let said = self.call(&args, Some(proposal.body))?;
        if !said.ok {
            return Err(said.failure);
        }
        let url = (said.stdout.iter().rev())
            .map(|line| line.trim())
            .find(|line| line.starts_with("http"))
            .unwrap_or_default()
            .to_string();
        let number = url.rsplit('/').next().and_then(|n| n.parse().ok());
        match number {
            Some(number) => Ok(PullRequest { url, number }),
            None => Err(format!(
                "`gh pr create` printed no pull request URL: {}",
                said.stdout.join("; ")
            )),
        }
    }

    /// Brings the pull request of `proposal.head` up to date: title, body, base.
    pub fn edit(&self, proposal: &Proposal) -> Result<(), String> {
        let mut args = vec!["pr", "edit", proposal.head];
        args.extend(described(proposal));
        let said = self.call(&args, Some(proposal.body))?;
        if said.ok { Ok(()) } else { Err(said.failure) }
    }

    /// Marks the pull request of `branch` ready for review (`gh pr ready`): a draft opened by
    /// an earlier `porch pr` is un-drafted; gh leaves one that is ready as it is.
    pub fn ready(&self, branch: &str) -> Result<(), String> {
        let said = self.call(&["pr", "ready", branch], None)?;
        if said.ok { Ok(()) } else { Err(said.failure) }
    }

    /// Runs gh with `args`; an error when it could not start or outlasted its limit.
    fn call(&self, args: &[&str], input: Option<&str>) -> Result<Said, String> {
        let shown = format!(
            "gh {}",
            args.iter().take(2).copied().collect::<Vec<_>>().join(" ")
        );
        let mut command = Command::new(&self.program);
        command.args(args).current_dir(&self.repo);
        for var in REPO_ENV_VARS {
            command.env_remove(var);
        }
        let (out, err) = (Tail::new(KEPT_LINES), Tail::new(KEPT_LINES));
        let ended = bounded::run(
            command,
            input.map(str::to_string),
            GH_TIMEOUT,
            out.sink(),
            err.sink(),
        )
        .map_err(|e| {
            format!(
                "`{shown}` could not be run ({}: {e}); install the GitHub CLI or set PORCH_GH",
                self.program.to_string_lossy()
            )
        })?;
        let status = match ended {
            Ended::Exited(status) => status,
            Ended::TimedOut(limit) => {
                return Err(format!(
                    "`{shown}` did not answer within {}s: porch ended it",
                    limit.as_secs()
                ));
            }
        };
        let stderr = err.lines();
        let failure = format!("`{shown}` failed ({status}): {}", stderr.join("; "));
        Ok(Said {
            ok: status.success(),
            stdout: out.lines(),
            stderr,
            failure,
        })
    }
}

/// The base, the title, and the body read from stdin: what `create` and `edit` both set.
fn described<'p>(proposal: &Proposal<'p>) -> [&'p str; 6] {
    [
        "--base",
        proposal.base,
        "--title",
        proposal.title,
        "--body-file",
        "-",
    ]
}
