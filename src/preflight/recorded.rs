//! A run's settings recorded with it (`.porch/settings/<run id>.json`), so that `porch resume`
//! runs it as it ran and `porch merge --resolve` knows its permission mode: made from the run's
//! options, read back, and put under what a resume is given itself.

use std::ops::RangeInclusive;
use std::time::Duration;

use serde::Deserialize;
use serde::Serialize;

use crate::agent::PERMISSION_MODES;
use crate::git::remote;
use crate::preflight::options::JOBS;
use crate::preflight::options::MAX_FAIL;
use crate::preflight::options::PORTS;
use crate::preflight::options::RETRIES;
use crate::preflight::options::Recordable;
use crate::preflight::options::RunArgs;
use crate::preflight::options::is_cost_limit;
use crate::state::StateDir;
use crate::task::plan::MaxFail;
use crate::util::quote;

/// What a run records of its command line: what decides how its sessions run and what happens
/// when it ends. Not recorded: what finds the run (REPO, `--worktree-dir`), what only this
/// command shows or writes (`--color`, `--quiet`, `--json`, `--events`, `-o`, `--junit`,
/// `--report`), and a `--push` URL holding a password. The agent is in the results (`claude`).
/// Every field has a default, so a record a newer porch wrote reads too.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RecordedSettings {
    pub permission_mode: Option<String>,
    pub timeout: Option<Duration>,
    pub idle_timeout: Option<Duration>,
    pub retries: Option<u32>,
    pub retry_backoff: Option<Duration>,
    pub max_cost_usd: Option<f64>,
    /// `--max-fail N`; `fail_fast` when it was given as `--fail-fast`.
    pub max_fail: Option<usize>,
    pub fail_fast: bool,
    pub max_wait: Option<Duration>,
    /// `-j` as given (none: as many as memory holds), and how, for `--dry-run` to say.
    pub jobs: Option<usize>,
    pub jobs_given: Option<String>,
    pub stagger: Option<Duration>,
    pub keep_leftovers: bool,
    pub cleanup: bool,
    /// `--push`, resolved (a path made absolute).
    pub push: Option<String>,
    /// `--push` was a URL with a password, which porch keeps nowhere.
    pub push_withheld: bool,
    pub port_base: Option<u16>,
    pub on_finish: Option<String>,
    pub on_task_finish: Option<String>,
    /// `porch resume --no-on-finish`, `--no-on-task-finish`: no such hook, not even the tasks
    /// file's, for a resume of this run either.
    pub no_on_finish: bool,
    pub no_on_task_finish: bool,
    pub pr: bool,
    pub remote: Option<String>,
}

impl RecordedSettings {
    /// The settings of a run given `args`, whose `--push` resolved to `push`.
    pub fn of(args: &RunArgs, push: Option<&str>) -> RecordedSettings {
        let settings = &args.settings;
        let secret_push = push.is_some_and(|push| remote::shown(push) != push);
        RecordedSettings {
            permission_mode: Some(settings.permission_mode.clone()),
            timeout: args.timeout,
            idle_timeout: settings.idle_timeout,
            retries: Some(settings.retries),
            retry_backoff: Some(settings.retry_backoff),
            max_cost_usd: settings.max_cost_usd,
            max_fail: settings.max_fail.map(|m| m.tasks),
            fail_fast: settings.max_fail.is_some_and(|m| m.fail_fast),
            max_wait: Some(settings.max_wait),
            jobs: args.jobs,
            jobs_given: args.jobs_given.clone(),
            stagger: settings.stagger,
            keep_leftovers: settings.keep_leftovers,
            cleanup: settings.cleanup,
            push: push.filter(|_| !secret_push).map(str::to_string),
            push_withheld: secret_push,
            port_base: Some(args.port_base),
            on_finish: args.on_finish.clone(),
            on_task_finish: args.on_task_finish.clone(),
            no_on_finish: args.no_on_finish,
            no_on_task_finish: args.no_on_task_finish,
            pr: args.pr,
            remote: args.remote.clone(),
        }
    }

    /// The record as stored.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// A stored record read back.
    pub fn from_json(bytes: &[u8]) -> Result<RecordedSettings, String> {
        serde_json::from_slice(bytes).map_err(|err| err.to_string())
    }

    /// The settings run `id` recorded in `state`: none for a run by an older porch, which
    /// recorded none; why not when the record cannot be read.
    pub fn read(state: &StateDir, id: &str) -> Result<Option<RecordedSettings>, String> {
        match std::fs::read(state.recorded_settings(id)) {
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(err) => Err(err.to_string()),
            Ok(bytes) => RecordedSettings::from_json(&bytes).map(Some),
        }
    }

    /// Each recorded value a resume given `given` takes, checked as its flag checks it: a
    /// record edited by hand runs nothing a flag could not ask for. The first refused, if any.
    pub fn check(&self, given: &[Recordable]) -> Result<(), Refused> {
        let mode = self.permission_mode.as_deref();
        let cost = self.max_cost_usd;
        let checks = [
            (
                Recordable::PermissionMode,
                ("permission_mode", "--permission-mode"),
                (mode.filter(|m| !PERMISSION_MODES.contains(m)))
                    .map(|m| format!("{m:?} is not one of claude's permission modes")),
            ),
            (
                Recordable::Retries,
                ("retries", "--retries"),
                (self.retries.filter(|r| !within(&RETRIES, *r))).map(|r| {
                    let most = RETRIES.end();
                    format!("{r} is more retries than the {most} --retries takes")
                }),
            ),
            (
                Recordable::Jobs,
                ("jobs", "-j"),
                (self.jobs.filter(|j| !within(&JOBS, *j))).map(|j| {
                    let (least, most) = (JOBS.start(), JOBS.end());
                    format!("{j} is not a number of sessions from {least} to {most}")
                }),
            ),
            (
                Recordable::PortBase,
                ("port_base", "--port-base"),
                (self.port_base.filter(|p| !within(&PORTS, *p)))
                    .map(|p| format!("{p} is not a port")),
            ),
            (
                Recordable::MaxCostUsd,
                ("max_cost_usd", "--max-cost-usd"),
                (cost.filter(|d| !is_cost_limit(*d)))
                    .map(|d| format!("{d} is not an amount of dollars")),
            ),
            (
                Recordable::MaxFail,
                ("max_fail", "--max-fail"),
                (self.max_fail.filter(|m| !within(&MAX_FAIL, *m)))
                    .map(|m| format!("{m} is not a number of tasks")),
            ),
        ];
        let refused = (checks.into_iter())
            .filter(|(setting, _, _)| !given.contains(setting))
            .find_map(|(_, (field, flag), why)| Some((field, flag, why?)));
        match refused {
            Some((field, flag, reason)) => Err(Refused {
                field,
                flag,
                reason,
            }),
            None => Ok(()),
        }
    }

    /// The commands the record gives a resume that was not given them itself, as the flags
    /// that would give them (`--on-finish 'notify-send done'`): the user is told before they run.
    pub fn commands_taken(&self, given: &[Recordable]) -> Vec<String> {
        let hooks = [
            (Recordable::OnFinish, "--on-finish", &self.on_finish),
            (
                Recordable::OnTaskFinish,
                "--on-task-finish",
                &self.on_task_finish,
            ),
        ];
        (hooks.into_iter())
            .filter(|(setting, _, _)| !given.contains(setting))
            .filter_map(|(_, flag, command)| {
                Some(format!("{flag} {}", quote::word(command.as_deref()?)))
            })
            .collect()
    }

    /// The recorded settings put into `args`, but for those `given` names: what the resume was
    /// given itself (a flag, or its `PORCH_*` variable) wins. A switch recorded on stays on,
    /// unless turned off (`--no-cleanup`). Returns what the user must be told: a `--push` porch did not keep.
    pub fn apply(self, args: &mut RunArgs, given: &[Recordable]) -> Option<String> {
        self.apply_switches(args, given);
        let taken = |setting: Recordable| !given.contains(&setting);
        let settings = &mut args.settings;
        let mode = &mut settings.permission_mode;
        take(
            mode,
            self.permission_mode,
            taken(Recordable::PermissionMode),
        );
        take(
            &mut settings.retries,
            self.retries,
            taken(Recordable::Retries),
        );
        let backoff = &mut settings.retry_backoff;
        take(backoff, self.retry_backoff, taken(Recordable::RetryBackoff));
        take(
            &mut settings.max_wait,
            self.max_wait,
            taken(Recordable::MaxWait),
        );
        take(
            &mut args.port_base,
            self.port_base,
            taken(Recordable::PortBase),
        );
        if taken(Recordable::Jobs) {
            (args.jobs, args.jobs_given) = (self.jobs, self.jobs_given);
        }
        if taken(Recordable::MaxFail) {
            settings.max_fail = self.max_fail.map(|tasks| MaxFail {
                tasks,
                fail_fast: self.fail_fast,
            });
        }
        let optional = [
            (Recordable::Timeout, &mut args.timeout, self.timeout),
            (
                Recordable::IdleTimeout,
                &mut settings.idle_timeout,
                self.idle_timeout,
            ),
            (Recordable::Stagger, &mut settings.stagger, self.stagger),
        ];
        for (setting, slot, recorded) in optional {
            if taken(setting) {
                *slot = recorded;
            }
        }
        let texts = [
            (Recordable::OnFinish, &mut args.on_finish, self.on_finish),
            (
                Recordable::OnTaskFinish,
                &mut args.on_task_finish,
                self.on_task_finish,
            ),
            (Recordable::Remote, &mut args.remote, self.remote),
            (Recordable::Push, &mut settings.push, self.push),
        ];
        for (setting, slot, recorded) in texts {
            if taken(setting) {
                *slot = recorded;
            }
        }
        if taken(Recordable::MaxCostUsd) {
            settings.max_cost_usd = self.max_cost_usd;
        }
        (self.push_withheld && taken(Recordable::Push)).then(|| {
            "porch: the run pushed to a URL with a password, which porch does not keep: give --push again to push this resume's branches\n".to_string()
        })
    }
}

impl RecordedSettings {
    /// The switches recorded on put into `args`, but for those `given` names: a switch the
    /// resume was given, or turned off with its `--no-…` flag; a hook turned off, given again.
    fn apply_switches(&self, args: &mut RunArgs, given: &[Recordable]) {
        let settings = &mut args.settings;
        let switches = [
            (Recordable::Cleanup, &mut settings.cleanup, self.cleanup),
            (
                Recordable::KeepLeftovers,
                &mut settings.keep_leftovers,
                self.keep_leftovers,
            ),
            (Recordable::Pr, &mut args.pr, self.pr),
            (
                Recordable::OnFinish,
                &mut args.no_on_finish,
                self.no_on_finish,
            ),
            (
                Recordable::OnTaskFinish,
                &mut args.no_on_task_finish,
                self.no_on_task_finish,
            ),
        ];
        for (setting, slot, recorded) in switches {
            if !given.contains(&setting) {
                *slot |= recorded;
            }
        }
    }
}

/// A recorded value its flag would refuse: the record's field, the flag, and why.
#[derive(Debug, PartialEq)]
pub struct Refused {
    pub field: &'static str,
    pub flag: &'static str,
    pub reason: String,
}

/// `value` lies in its flag's `range`.
fn within(range: &RangeInclusive<u64>, value: impl TryInto<u64>) -> bool {
    value.try_into().is_ok_and(|value| range.contains(&value))
}

/// A setting that always has a value: the recorded one, unless the resume was given its own or
/// the record has none (a record by an older porch may lack it).
fn take<T>(slot: &mut T, recorded: Option<T>, taken: bool) {
    if taken && let Some(value) = recorded {
        *slot = value;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::task::plan::RunSettings;

    fn args() -> RunArgs {
        RunArgs {
            tasks: "t.json".into(),
            repo: ".".into(),
            settings: RunSettings {
                worktree_dir: None,
                permission_mode: "acceptEdits".into(),
                cleanup: false,
                output: None,
                junit: None,
                report: None,
                stagger: None,
                idle_timeout: None,
                keep_leftovers: false,
                retries: 0,
                retry_backoff: Duration::from_secs(10),
                max_cost_usd: None,
                max_fail: None,
                max_wait: Duration::from_secs(3600),
                push: None,
            },
            claude: None,
            color: crate::preflight::options::ColorChoice::Auto,
            output_mode: crate::preflight::options::OutputMode::Stream,
            jobs: None,
            jobs_given: None,
            timeout: None,
            branch_template: None,
            port_base: 40000,
            only: Vec::new(),
            skip: Vec::new(),
            shard: None,
            dry_run: false,
            pr: false,
            remote: None,
            on_finish: None,
            no_on_finish: false,
            no_on_task_finish: false,
            on_task_finish: None,
        }
    }

    #[test]
    fn what_a_resume_is_given_wins_over_the_record_and_the_rest_is_taken() {
        let mut run = args();
        run.settings.permission_mode = "bypassPermissions".into();
        run.settings.retries = 3;
        run.settings.cleanup = true;
        run.settings.max_fail = Some(MaxFail {
            tasks: 1,
            fail_fast: true,
        });
        (run.timeout, run.jobs, run.jobs_given) = (
            Some(Duration::from_secs(3600)),
            Some(2),
            Some("-j 2".into()),
        );
        run.on_finish = Some("notify".into());
        let recorded = RecordedSettings::from_json(
            RecordedSettings::of(&run, Some("/srv/r.git"))
                .to_json()
                .as_bytes(),
        )
        .unwrap();

        let mut resume = args();
        resume.timeout = Some(Duration::from_secs(60));
        let note = recorded.apply(&mut resume, &[Recordable::Timeout]);
        assert_eq!(note, None);
        assert_eq!(resume.timeout, Some(Duration::from_secs(60)), "given: kept");
        assert_eq!(resume.settings.permission_mode, "bypassPermissions");
        assert_eq!(resume.settings.retries, 3);
        assert!(resume.settings.cleanup);
        assert_eq!(
            resume.settings.max_fail,
            Some(MaxFail {
                tasks: 1,
                fail_fast: true
            })
        );
        assert_eq!(
            (resume.jobs, resume.jobs_given.as_deref()),
            (Some(2), Some("-j 2"))
        );
        assert_eq!(resume.on_finish.as_deref(), Some("notify"));
        assert_eq!(resume.settings.push.as_deref(), Some("/srv/r.git"));
    }

    #[test]
    fn a_switch_recorded_on_stays_on_unless_the_resume_turns_it_off() {
        let mut run = args();
        (run.settings.cleanup, run.settings.keep_leftovers, run.pr) = (true, true, true);
        let recorded = RecordedSettings::of(&run, None);
        let mut resume = args();
        recorded.clone().apply(&mut resume, &[]);
        let on = |r: &RunArgs| (r.settings.cleanup, r.settings.keep_leftovers, r.pr);
        assert_eq!(on(&resume), (true, true, true));
        // (what the resume was given, what stays on)
        let cases = [
            (Recordable::Cleanup, (false, true, true)),
            (Recordable::KeepLeftovers, (true, false, true)),
            (Recordable::Pr, (true, true, false)),
        ];
        for (given, stays) in cases {
            let mut resume = args();
            recorded.clone().apply(&mut resume, &[given]);
            assert_eq!(on(&resume), stays, "{given:?}");
        }
    }

    #[test]
    fn a_hook_turned_off_stays_off_for_a_resume_of_the_resume_unless_given() {
        let mut resume = args();
        (resume.no_on_finish, resume.no_on_task_finish) = (true, true);
        let recorded = RecordedSettings::of(&resume, None);
        let mut again = args();
        recorded.clone().apply(&mut again, &[]);
        assert!(again.no_on_finish && again.no_on_task_finish);
        let mut given = args();
        given.on_finish = Some("notify".into());
        recorded.apply(&mut given, &[Recordable::OnFinish]);
        assert!(!given.no_on_finish && given.no_on_task_finish);
    }

    #[test]
    fn a_push_url_with_a_password_is_not_kept_and_the_resume_says_so() {
        let recorded = RecordedSettings::of(&args(), Some("https://me:secret@host/r.git"));
        assert!(
            !recorded.to_json().contains("secret"),
            "{}",
            recorded.to_json()
        );
        let mut resume = args();
        let note = recorded.clone().apply(&mut resume, &[]);
        assert!(note.is_some_and(|n| n.contains("give --push again")));
        assert_eq!(resume.settings.push, None);
        // Given --push again: nothing to say.
        assert_eq!(recorded.apply(&mut args(), &[Recordable::Push]), None);
    }

    #[test]
    fn a_record_missing_fields_keeps_the_resumes_own() {
        let recorded = RecordedSettings::from_json(br#"{"retries": 2}"#).unwrap();
        let mut resume = args();
        recorded.apply(&mut resume, &[]);
        assert_eq!(resume.settings.retries, 2);
        assert_eq!(resume.settings.permission_mode, "acceptEdits");
        assert_eq!(resume.port_base, 40000);
        assert!(RecordedSettings::from_json(b"not json").is_err());
    }
}
