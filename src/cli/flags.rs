//! Every flag porch takes, written once: its spellings, its value and what completes it, and
//! the environment variable that stands in for it. Which command takes which flag, and what it
//! means there, is the commands' table (`table.rs`).

use crate::agent::PERMISSION_MODES;

/// A flag, whatever command takes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Opt {
    Help,
    Version,
    Tasks,
    Repo,
    WorktreeDir,
    PermissionMode,
    Cleanup,
    Output,
    Junit,
    /// `--report FILE` of run and resume: the HTML report.
    Report,
    Claude,
    Color,
    Quiet,
    Json,
    Events,
    Jobs,
    Stagger,
    Timeout,
    IdleTimeout,
    KeepLeftovers,
    Retries,
    RetryBackoff,
    MaxCostUsd,
    MaxFail,
    FailFast,
    MaxWait,
    BranchTemplate,
    PortBase,
    Only,
    Skip,
    Shard,
    Push,
    /// `--run ID` of the commands that read a stored run.
    Run,
    Raw,
    Follow,
    Into,
    All,
    Branches,
    DryRun,
    /// `porch clean --force`.
    Force,
    /// `porch init -f, --force`.
    Overwrite,
    KeepRuns,
    /// `porch merge-results --allow-missing`.
    AllowMissing,
    /// `porch plan --goal-file FILE`.
    GoalFile,
    MaxTasks,
    Model,
    /// `porch run --pr`: pull requests at the end of the run.
    Pr,
    /// `--remote NAME` of the pull requests.
    Remote,
    Draft,
    Ready,
    /// `porch pr --base BRANCH`.
    Base,
    OnFinish,
    OnTaskFinish,
    /// `porch merge --check CMD`: run after each merge.
    Check,
    /// `porch merge --resolve`: a claude session resolves conflicts.
    Resolve,
    /// `porch resume --no-cleanup`, and the others below: a recorded setting turned off.
    NoCleanup,
    NoKeepLeftovers,
    NoPush,
    NoPr,
    NoOnFinish,
    NoOnTaskFinish,
}

/// What a flag's value or a positional argument completes to.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Completes {
    Files,
    Directories,
    Words(&'static [&'static str]),
    /// Task names: the tasks file's (`run --only`), or the stored run's (`logs`, `merge`).
    Tasks,
    /// `porch merge`'s first argument: a directory when written as a path, else a task.
    RepoOrTask,
    /// `porch help`'s argument: a command, or `tasks`.
    Topics,
    /// A value porch cannot guess (a number, a duration, a branch).
    Nothing,
}

/// A flag's value: how the help writes it, and what completes it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Value {
    pub placeholder: &'static str,
    pub completes: Completes,
}

#[derive(Debug, PartialEq)]
pub struct Flag {
    pub opt: Opt,
    pub long: &'static str,
    pub short: Option<char>,
    /// Other long spellings the parser takes and nothing offers (`--colour`).
    pub aliases: &'static [&'static str],
    /// None: a switch.
    pub value: Option<Value>,
    /// The variable read when the flag is not given: only for a setting a user gives once per
    /// machine, not per run.
    pub env: Option<&'static str>,
}

impl Flag {
    /// `--long`, as errors name the flag whichever spelling was typed.
    pub fn name(&self) -> String {
        format!("--{}", self.long)
    }

    /// The shortest spelling, as an example in a hint shows it: `-j`, else `--long`.
    pub fn shortest(&self) -> String {
        match self.short {
            Some(c) => format!("-{c}"),
            None => self.name(),
        }
    }

    pub fn takes_value(&self) -> bool {
        self.value.is_some()
    }
}

/// `--color`'s values.
pub const COLOR_CHOICES: [&str; 3] = ["auto", "always", "never"];

/// The shells `porch completions` writes a script for.
pub const SHELLS: [&str; 3] = ["bash", "zsh", "fish"];

const fn value(placeholder: &'static str, completes: Completes) -> Option<Value> {
    Some(Value {
        placeholder,
        completes,
    })
}

const fn switch(opt: Opt, long: &'static str, short: Option<char>) -> Flag {
    Flag {
        opt,
        long,
        short,
        aliases: &[],
        value: None,
        env: None,
    }
}

const fn valued(opt: Opt, long: &'static str, short: Option<char>, value: Option<Value>) -> Flag {
    Flag {
        opt,
        long,
        short,
        aliases: &[],
        value,
        env: None,
    }
}

const DURATION: Option<Value> = value("DURATION", Completes::Nothing);
const DIR: Option<Value> = value("DIR", Completes::Directories);
const FILE: Option<Value> = value("FILE", Completes::Files);

/// Every flag. The variables are the settings of a machine rather than of a run:
/// - `PORCH_WORKTREE_DIR`: where this machine has room for worktrees. Every command that finds
///   a run needs the directory the run used, so a value given once keeps them all agreeing.
/// - `PORCH_JOBS`: how many sessions this machine holds (its memory, its cores).
/// - `PORCH_CLAUDE`: where the agent is installed on this machine.
/// - `PORCH_PORT_BASE`: which block of ports is free on this machine.
pub const FLAGS: &[Flag] = &[
    switch(Opt::Help, "help", Some('h')),
    switch(Opt::Version, "version", Some('V')),
    valued(Opt::Tasks, "tasks", None, value("TASKS", Completes::Files)),
    valued(
        Opt::Repo,
        "repo",
        None,
        value("REPO", Completes::Directories),
    ),
    Flag {
        env: Some("PORCH_WORKTREE_DIR"),
        ..valued(Opt::WorktreeDir, "worktree-dir", None, DIR)
    },
    valued(
        Opt::PermissionMode,
        "permission-mode",
        None,
        value("MODE", Completes::Words(&PERMISSION_MODES)),
    ),
    switch(Opt::Cleanup, "cleanup", None),
    valued(Opt::Output, "output", Some('o'), FILE),
    valued(Opt::Junit, "junit", None, FILE),
    valued(Opt::Report, "report", None, FILE),
    Flag {
        env: Some("PORCH_CLAUDE"),
        ..valued(Opt::Claude, "claude", None, value("PATH", Completes::Files))
    },
    Flag {
        aliases: &["colour"],
        ..valued(
            Opt::Color,
            "color",
            None,
            value("WHEN", Completes::Words(&COLOR_CHOICES)),
        )
    },
    switch(Opt::Quiet, "quiet", Some('q')),
    switch(Opt::Json, "json", None),
    switch(Opt::Events, "events", None),
    Flag {
        env: Some("PORCH_JOBS"),
        ..valued(Opt::Jobs, "jobs", Some('j'), value("N", Completes::Nothing))
    },
    valued(Opt::Stagger, "stagger", None, DURATION),
    valued(Opt::Timeout, "timeout", None, DURATION),
    valued(Opt::IdleTimeout, "idle-timeout", None, DURATION),
    switch(Opt::KeepLeftovers, "keep-leftovers", None),
    valued(
        Opt::Retries,
        "retries",
        None,
        value("N", Completes::Nothing),
    ),
    valued(Opt::RetryBackoff, "retry-backoff", None, DURATION),
    valued(
        Opt::MaxCostUsd,
        "max-cost-usd",
        None,
        value("X", Completes::Nothing),
    ),
    valued(Opt::MaxWait, "max-wait", None, DURATION),
    valued(
        Opt::MaxFail,
        "max-fail",
        None,
        value("N", Completes::Nothing),
    ),
    switch(Opt::FailFast, "fail-fast", None),
    valued(
        Opt::BranchTemplate,
        "branch-template",
        None,
        value("TEMPLATE", Completes::Nothing),
    ),
    Flag {
        env: Some("PORCH_PORT_BASE"),
        ..valued(
            Opt::PortBase,
            "port-base",
            None,
            value("N", Completes::Nothing),
        )
    },
    valued(Opt::Only, "only", None, value("NAME,...", Completes::Tasks)),
    valued(Opt::Skip, "skip", None, value("NAME,...", Completes::Tasks)),
    valued(Opt::Shard, "shard", None, value("K/N", Completes::Nothing)),
    valued(Opt::Push, "push", None, value("REMOTE", Completes::Nothing)),
    valued(Opt::Run, "run", None, value("ID", Completes::Nothing)),
    switch(Opt::Raw, "raw", None),
    switch(Opt::Follow, "follow", Some('f')),
    valued(Opt::Into, "into", None, value("BRANCH", Completes::Nothing)),
    switch(Opt::All, "all", None),
    switch(Opt::Branches, "branches", None),
    switch(Opt::DryRun, "dry-run", Some('n')),
    switch(Opt::Force, "force", None),
    switch(Opt::Overwrite, "force", Some('f')),
    valued(
        Opt::KeepRuns,
        "keep-runs",
        None,
        value("N", Completes::Nothing),
    ),
    switch(Opt::AllowMissing, "allow-missing", None),
    valued(Opt::GoalFile, "goal-file", None, FILE),
    valued(
        Opt::MaxTasks,
        "max-tasks",
        None,
        value("N", Completes::Nothing),
    ),
    valued(
        Opt::Model,
        "model",
        None,
        value("MODEL", Completes::Nothing),
    ),
    switch(Opt::Pr, "pr", None),
    valued(
        Opt::Remote,
        "remote",
        None,
        value("NAME", Completes::Nothing),
    ),
    switch(Opt::Draft, "draft", None),
    switch(Opt::Ready, "ready", None),
    valued(Opt::Base, "base", None, value("BRANCH", Completes::Nothing)),
    valued(
        Opt::OnFinish,
        "on-finish",
        None,
        value("CMD", Completes::Nothing),
    ),
    valued(
        Opt::OnTaskFinish,
        "on-task-finish",
        None,
        value("CMD", Completes::Nothing),
    ),
    valued(Opt::Check, "check", None, value("CMD", Completes::Nothing)),
    switch(Opt::Resolve, "resolve", None),
    switch(Opt::NoCleanup, "no-cleanup", None),
    switch(Opt::NoKeepLeftovers, "no-keep-leftovers", None),
    switch(Opt::NoPush, "no-push", None),
    switch(Opt::NoPr, "no-pr", None),
    switch(Opt::NoOnFinish, "no-on-finish", None),
    switch(Opt::NoOnTaskFinish, "no-on-task-finish", None),
];

pub fn flag(opt: Opt) -> &'static Flag {
    FLAGS
        .iter()
        .find(|f| f.opt == opt)
        .expect("every Opt is in FLAGS")
}

/// Every variable a flag reads, for `Env` to keep.
pub fn variables() -> impl Iterator<Item = &'static str> {
    FLAGS.iter().filter_map(|f| f.env)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_flag_is_written_once_and_its_variable_is_porchs() {
        for a in FLAGS {
            assert_eq!(flag(a.opt), a, "{:?} is in FLAGS once", a.opt);
            if let Some(var) = a.env {
                assert!(var.starts_with("PORCH_") && a.takes_value(), "{var}");
            }
        }
    }
}
