//! A repository's runs as porch stored them: where its state directory is, which run is the
//! latest, and one run's results read back. The commands that come after a run (status, logs,
//! merge, clean, resume) start here.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::Error;
use crate::error::IoContext;
use crate::git::Repo;
use crate::results::MergeRecord;
use crate::results::Shard;
use crate::results::TaskResult;
use crate::results::has_results_shape;
use crate::state::StateDir;
use crate::state::lock::Busy;
use crate::state::lock::RunLock;
use crate::state::lock::run_holder;
use crate::sys::atomic_file;
use crate::util::timestamp;

/// The pid of the porch that made a run, from an id of the form `<UTC time>-<pid>`.
pub fn run_pid(id: &str) -> Option<u32> {
    let (_, pid) = id.rsplit_once('-')?;
    pid.parse().ok().filter(|&pid| pid > 0)
}

/// A run whose lock is free but whose results are not finished, and whose porch is still
/// there: a porch older than run locks is running it.
fn unlocked_but_going_on(run: &StoredRun) -> bool {
    run.results.finished_at.is_none()
        && run_pid(&run.id).is_some_and(|pid| {
            pid != std::process::id() && Path::new(&format!("/proc/{pid}")).exists()
        })
}

impl StateDir {
    /// Writes a run's results where the commands after it find them, its user's alone.
    pub fn record_results(&self, run_id: &str, json: &str) -> Result<(), Error> {
        atomic_file::write_private(&self.results_file(run_id), json.as_bytes())
    }
}

/// A run's id: its results file's name without `.json`.
pub fn run_id_of(results: &Path) -> String {
    results
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// A repository and the state directory porch keeps for it.
#[derive(Debug)]
pub struct Location {
    pub repo: Repo,
    /// `WORKTREE_DIR/<repo name>/.porch` (or the hashed name when two repositories share one).
    pub state: StateDir,
}

/// How a command names the run it is about: REPO, `--worktree-dir`, `--run`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RunChoice {
    pub repo: PathBuf,
    pub worktree_dir: Option<PathBuf>,
    /// A run id (a results file's stem under `.porch/runs/`), or the path of a results file.
    pub run: Option<String>,
}

/// One run's results file, read back.
#[derive(Debug)]
pub struct StoredRun {
    pub id: String,
    pub path: PathBuf,
    /// The file as stored, for `--json`.
    pub bytes: Vec<u8>,
    pub results: StoredResults,
}

/// What the after-run commands read of a results file. Every field has a default, so files
/// written by older and newer porch versions (schema version 1 only adds fields) both read.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct StoredResults {
    pub version: u32,
    pub run_id: Option<String>,
    /// The tasks file the run was given (a path, or `<stdin>`).
    pub tasks_file: Option<String>,
    /// `--shard K/N` of the run; null or absent without.
    pub shard: Option<Shard>,
    pub repo: String,
    /// The agent executable the run was given, when not `claude` on PATH.
    pub claude: Option<String>,
    pub started_at: String,
    pub finished_at: Option<String>,
    pub tasks: Vec<StoredTask>,
    /// What `porch merge` last did with the run; null until it merged.
    pub merge: Option<MergeRecord>,
}

/// A task's result as the after-run commands read it back: the results file's own type, so the
/// schema is written down once.
pub type StoredTask = TaskResult;

impl StoredRun {
    pub fn task(&self, name: &str) -> Result<&StoredTask, Error> {
        self.results
            .tasks
            .iter()
            .find(|t| t.name == name)
            .ok_or_else(|| {
                let names: Vec<&str> = self.results.tasks.iter().map(|t| t.name.as_str()).collect();
                Error::usage(format!("run {} has no task `{name}`", self.id)).with_hint(format!(
                    "its tasks are: {}",
                    if names.is_empty() {
                        "none".to_string()
                    } else {
                        names.join(", ")
                    }
                ))
            })
    }
}

impl RunChoice {
    /// The repository and its state directory. A `--run` naming a results file in a state
    /// directory means that one (the repository may have moved since, and porch would choose
    /// another now); the repository is still the one REPO names.
    pub fn locate(&self) -> Result<Location, Error> {
        let repo = Repo::open(&self.repo)?;
        let named = (self.run.as_deref())
            .filter(|run| looks_like_path(run))
            .and_then(|run| StateDir::of_results_file(Path::new(run)));
        if let Some(state) = named {
            return Ok(Location { repo, state });
        }
        let home = std::env::var_os("HOME")
            .filter(|h| !h.is_empty())
            .map(PathBuf::from);
        let worktree_dir =
            crate::state::worktree_dir(self.worktree_dir.as_deref(), home.as_deref())?;
        let state = StateDir::in_root(&crate::state::worktree_root(&worktree_dir, &repo));
        Ok(Location { repo, state })
    }

    /// The chosen run (default: the latest) of the repository.
    pub fn load(&self) -> Result<(Location, StoredRun), Error> {
        let location = self.locate()?;
        let run = location.select(self.run.as_deref())?;
        Ok((location, run))
    }

    /// The chosen run, its lock taken for `holder` before it is read: refused, with `hint`,
    /// while another porch works on it.
    pub fn claim(&self, holder: &str, hint: &str) -> Result<(Location, RunLock, StoredRun), Error> {
        let location = self.locate()?;
        let chosen = location.select(self.run.as_deref())?;
        let (lock, run) = location.claim(&chosen, holder, hint)?;
        Ok((location, lock, run))
    }
}

impl RunChoice {
    /// A porch command about run `run`, as the user can paste it where they typed the command
    /// this choice came from: `porch SUBCOMMAND --run RUN [--worktree-dir DIR] WORDS… REPO`,
    /// every word quoted for the shell. The worktree directory is given as porch resolved it:
    /// a quoted `~` would not be expanded.
    pub fn command(&self, subcommand: &str, run: &str, words: &[&str]) -> String {
        let mut all: Vec<String> = ["porch", subcommand, "--run", run].map(String::from).into();
        if let Some(asked) = &self.worktree_dir {
            let home = std::env::var_os("HOME").filter(|h| !h.is_empty());
            let dir = crate::state::worktree_dir(Some(asked), home.as_deref().map(Path::new))
                .unwrap_or_else(|_| asked.clone());
            all.extend(["--worktree-dir".to_string(), dir.display().to_string()]);
        }
        all.extend(words.iter().map(|w| w.to_string()));
        all.push(repo_word(&self.repo));
        let words: Vec<&str> = all.iter().map(String::as_str).collect();
        crate::util::quote::command(&words)
    }

    /// How to name run `id` again: by the results file's path when this choice gave one (a run
    /// found by its path may be in no state directory), else by its id.
    pub fn run_word<'a>(&'a self, id: &'a str) -> &'a str {
        match &self.run {
            Some(run) if looks_like_path(run) => run,
            _ => id,
        }
    }
}

/// REPO as a printed command gives it: a bare name (`shop`) would be read by `porch merge`
/// and `porch pr` as a task's, and one starting with `-` as an option, so it gets a `./`.
fn repo_word(repo: &Path) -> String {
    let shown = repo.display().to_string();
    let plain_name = repo.is_relative() && !shown.contains('/') && shown != "." && shown != "..";
    if plain_name {
        format!("./{shown}")
    } else {
        shown
    }
}

/// A run id is a file name; anything with a slash, or a `.json` file, is a results file's path.
fn looks_like_path(run: &str) -> bool {
    run.contains('/') || run.ends_with(".json")
}

impl Location {
    pub fn runs_dir(&self) -> PathBuf {
        self.state.runs_dir()
    }

    /// Takes a run's lock for `holder`, then reads the run again: as it is now that nothing
    /// else works on it. Refused, with `hint`, while another porch does.
    pub fn claim(
        &self,
        chosen: &StoredRun,
        holder: &str,
        hint: &str,
    ) -> Result<(RunLock, StoredRun), Error> {
        let lock = (self.state.lock_run(&chosen.id, holder)?).map_err(|b| b.into_error(hint))?;
        let run = read_run(&chosen.path)?;
        if unlocked_but_going_on(&run) {
            let holder = run_holder(&run.id);
            let busy = Busy {
                id: run.id,
                holder,
                unreadable: None,
            };
            return Err(busy.into_error(hint));
        }
        Ok((lock, run))
    }

    /// The ids of the stored runs, oldest first: by the start time their results file holds
    /// (to the millisecond; an older run's id has only the second), see `run_order`.
    pub fn run_ids(&self) -> Result<Vec<String>, Error> {
        let dir = self.runs_dir();
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(err) => return Err(err).context("read", &dir),
        };
        let ids: Vec<String> = entries
            .flatten()
            .filter_map(|e| {
                let name = e.file_name().into_string().ok()?;
                let id = name.strip_suffix(".json")?;
                (!id.starts_with('.') && e.path().is_file()).then(|| id.to_string())
            })
            .collect();
        let mut keyed: Vec<((u64, u32), String)> = ids
            .into_iter()
            .map(|id| {
                let started = started_at(&self.state.results_file(&id));
                (run_order(&id, &started), id)
            })
            .collect();
        keyed.sort();
        Ok(keyed.into_iter().map(|(_, id)| id).collect())
    }

    /// The run the results link names (the one started last), else the newest id.
    pub fn latest_id(&self) -> Result<Option<String>, Error> {
        let linked = std::fs::read_link(self.state.latest_link())
            .ok()
            .and_then(|target| {
                let id = target.file_stem()?.to_str()?.to_string();
                self.state.results_file(&id).is_file().then_some(id)
            });
        match linked {
            Some(id) => Ok(Some(id)),
            None => Ok(self.run_ids()?.pop()),
        }
    }

    /// `--run` as given: an id, a results file's path, or nothing for the latest run.
    pub fn select(&self, run: Option<&str>) -> Result<StoredRun, Error> {
        match run {
            Some(run) if looks_like_path(run) => read_run(Path::new(run)),
            Some(id) => self.load(id),
            None => self.load_latest(),
        }
    }

    /// Writes a run's results file again, as `json`; the caller holds the run's lock. The
    /// state directory's copy stays its user's alone.
    pub fn rewrite(&self, run: &StoredRun, json: &str) -> Result<(), Error> {
        if run.path == self.state.results_file(&run.id) {
            self.state.record_results(&run.id, json)
        } else {
            atomic_file::write_atomic(&run.path, json.as_bytes())
        }
    }

    /// Removes a run's stored files (its tasks, its settings, its merge's resolver logs, its lock, which the
    /// caller holds, and its results); worktrees and branches stay.
    pub fn forget(&self, id: &str) -> Result<(), Error> {
        let mut files = self.state.resolver_logs(id);
        files.extend([
            self.state.stored_tasks(id),
            self.state.recorded_settings(id),
            self.state.lock_file(id),
        ]);
        for path in files {
            match std::fs::remove_file(&path) {
                Err(err) if err.kind() != std::io::ErrorKind::NotFound => {
                    return Err(err).context("remove", &path);
                }
                _ => {}
            }
        }
        let path = self.state.results_file(id);
        std::fs::remove_file(&path).context("remove", &path)
    }

    pub fn load_latest(&self) -> Result<StoredRun, Error> {
        match self.latest_id()? {
            Some(id) => self.load(&id),
            None => Err(Error::setup(
                format!(
                    "no porch run of {} is stored in {}",
                    self.repo.toplevel.display(),
                    self.runs_dir().display()
                ),
                self.moved_runs_hint().unwrap_or_else(|| "run `porch run TASKS REPO` first; if that run had --worktree-dir DIR, pass the same --worktree-dir".to_string()),
            )),
        }
    }

    /// The state directory this repository had before it moved: the one above a worktree git
    /// still lists for it, whose owner file names a git directory that is gone. A move changes
    /// the worktree root porch chooses, so its runs are no longer found by themselves.
    fn state_before_a_move(&self) -> Option<StateDir> {
        let worktrees = self.repo.worktrees().ok()?;
        let candidates = (worktrees.iter())
            .filter(|w| w.path != self.repo.toplevel)
            .flat_map(|w| w.path.ancestors().skip(1))
            .map(StateDir::in_root);
        candidates.into_iter().find(|state| {
            let owner = std::fs::read_to_string(state.owner_file()).unwrap_or_default();
            let owner = Path::new(owner.trim());
            *state != self.state
                && state.runs_dir().is_dir()
                && !owner.as_os_str().is_empty()
                && owner != self.repo.common_dir
                && !owner.exists()
        })
    }

    /// Where the runs are when the repository moved since them, and how to name one.
    fn moved_runs_hint(&self) -> Option<String> {
        let state = self.state_before_a_move()?;
        let before = Location {
            repo: self.repo.clone(),
            state,
        };
        let latest = before.latest_id().ok()??;
        Some(format!(
            "the repository seems to have moved since its runs, which are in {}: name one by its results file, e.g. --run {}",
            before.runs_dir().display(),
            crate::util::quote::word(&before.state.results_file(&latest).to_string_lossy())
        ))
    }

    pub fn load(&self, id: &str) -> Result<StoredRun, Error> {
        let path = self.state.results_file(id);
        if id.is_empty() || id.starts_with('.') || !path.is_file() {
            let ids = self.run_ids()?;
            let known = if ids.is_empty() {
                self.moved_runs_hint().unwrap_or_else(|| {
                    "there are none yet: `porch run TASKS REPO` makes one".to_string()
                })
            } else {
                format!("the runs are, oldest first: {}", ids.join(", "))
            };
            return Err(Error::usage(format!(
                "--run `{id}`: no such run in {}",
                self.runs_dir().display()
            ))
            .with_hint(known));
        }
        read_run(&path)
    }
}

/// Where run `id` sorts among the others: when it started in milliseconds since the epoch (as
/// its results file says, `started_at`, else as its id says, to the second for an older id),
/// then its pid as a number; an id the time cannot be read from sorts first.
fn run_order(id: &str, started_at: &str) -> (u64, u32) {
    let started = timestamp::parse_rfc3339(started_at).or_else(|| id_time(id));
    (started.unwrap_or(0), run_pid(id).unwrap_or(0))
}

/// The time in an id (`20261201T201500.042Z-4242`, or an older one's `20261201T201500Z-4242`),
/// in milliseconds since the epoch.
fn id_time(id: &str) -> Option<u64> {
    let (compact, _) = id.rsplit_once('-')?;
    let (date, clock) = compact.strip_suffix('Z')?.split_once('T')?;
    let (clock, fraction) = clock.split_once('.').unwrap_or((clock, "0"));
    let digits = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(date, 8) || !digits(clock, 6) {
        return None;
    }
    let text = format!(
        "{}-{}-{}T{}:{}:{}.{fraction}Z",
        &date[..4],
        &date[4..6],
        &date[6..],
        &clock[..2],
        &clock[2..4],
        &clock[4..]
    );
    timestamp::parse_rfc3339(&text)
}

/// When the run of a results file started (RFC 3339), or "" if unreadable.
fn started_at(path: &Path) -> String {
    #[derive(Deserialize)]
    struct Start {
        #[serde(default)]
        started_at: String,
    }
    std::fs::read(path)
        .ok()
        .and_then(|bytes| serde_json::from_slice::<Start>(&bytes).ok())
        .map(|s| s.started_at)
        .unwrap_or_default()
}

/// Reads a results file; its id is its stem, or the `run_id` it stores.
pub fn read_run(path: &Path) -> Result<StoredRun, Error> {
    let bytes = std::fs::read(path).map_err(|err| {
        let hint = if err.kind() == std::io::ErrorKind::NotFound {
            "name an existing results file, or a run id (`porch status` shows the latest)"
        } else {
            "check the file's permissions"
        };
        Error::setup(
            format!("cannot read the results file {}: {err}", path.display()),
            hint,
        )
    })?;
    let refused = |why: String| {
        Error::setup(
            format!("{} is not a porch results file: {why}", path.display()),
            "name a file porch wrote (under .porch/runs/), or a run id",
        )
    };
    let value: serde_json::Value =
        serde_json::from_slice(&bytes).map_err(|err| refused(err.to_string()))?;
    if !value.as_object().is_some_and(has_results_shape) {
        return Err(refused("no `version` and `tasks` list".to_string()));
    }
    let results = StoredResults::deserialize(&value).map_err(|err| {
        // Only the bytes know the line and column of a field of the wrong type: ask them again.
        let placed = serde_json::from_slice::<StoredResults>(&bytes).err();
        refused(placed.unwrap_or(err).to_string())
    })?;
    let id = results
        .run_id
        .clone()
        .filter(|id| !id.is_empty())
        .unwrap_or_else(|| run_id_of(path));
    Ok(StoredRun {
        id,
        path: path.to_path_buf(),
        bytes,
        results,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_is_named_by_id_or_by_path() {
        for (given, is_path) in [
            ("20261201T201500Z-4242", false),
            ("results.json", true),
            ("./x", true),
            ("/tmp/run.json", true),
            ("latest", false),
        ] {
            assert_eq!(looks_like_path(given), is_path, "{given}");
        }
    }

    #[test]
    fn a_printed_command_names_the_run_the_worktree_directory_and_the_repository_as_given() {
        let choice = |worktree_dir: Option<&str>, run: Option<&str>| RunChoice {
            repo: PathBuf::from("../my shop"),
            worktree_dir: worktree_dir.map(PathBuf::from),
            run: run.map(String::from),
        };
        let plain = choice(None, None);
        assert_eq!(
            plain.command("merge", plain.run_word("r-1"), &[]),
            "porch merge --run r-1 '../my shop'"
        );
        for (repo, word) in [("shop", "./shop"), ("-x", "./-x"), (".", "."), ("/s", "/s")] {
            let bare = RunChoice {
                repo: PathBuf::from(repo),
                ..choice(None, None)
            };
            let said = bare.command("merge", "r-1", &[]);
            assert_eq!(said, format!("porch merge --run r-1 {word}"), "{repo}");
        }
        let given = choice(Some("/nonexistent/wt"), Some("/tmp/r.json"));
        assert_eq!(
            given.command("logs", given.run_word("r-1"), &["a"]),
            "porch logs --run /tmp/r.json --worktree-dir /nonexistent/wt a '../my shop'"
        );
    }

    #[test]
    fn the_pid_is_the_last_part_of_a_run_id() {
        for (id, pid) in [
            ("20261201T201500Z-4242", Some(4242)),
            ("results", None),
            ("x-0", None),
            ("a-b", None),
        ] {
            assert_eq!(run_pid(id), pid, "{id}");
        }
    }

    #[test]
    fn runs_sort_by_when_they_started_then_by_pid_as_a_number() {
        // (id, started_at as its results file says), oldest first.
        let runs = [
            ("unreadable", ""),
            ("20261201T201500Z-999", ""),
            ("20261201T201500Z-1000", ""),
            ("20261201T201500Z-2000", "2026-12-01T20:15:00.100Z"),
            ("20261201T201500Z-1", "2026-12-01T20:15:00.700Z"),
            ("20261201T201500.800Z-17", ""),
            ("20261201T201500.900Z-3", "2026-12-01T20:15:00.900Z"),
            ("20261201T201501Z-5", ""),
        ];
        let mut shuffled = runs.to_vec();
        shuffled.reverse();
        shuffled.sort_by_key(|(id, started)| run_order(id, started));
        assert_eq!(shuffled, runs);
    }

    #[test]
    fn an_id_says_when_its_run_started() {
        let second = timestamp::parse_rfc3339("2026-12-01T20:15:00Z");
        assert_eq!(id_time("20261201T201500Z-4242"), second);
        assert_eq!(
            id_time("20261201T201500.042Z-4242"),
            second.map(|ms| ms + 42)
        );
        for id in [
            "results",
            "2026-12-01-4",
            "20261201T2015Z-4",
            "x20261201T201500Z-4",
        ] {
            assert_eq!(id_time(id), None, "{id}");
        }
    }

    #[test]
    fn a_run_is_named_by_its_results_file() {
        let results = Path::new("/w/.porch/runs/20261201T201500Z-4242.json");
        assert_eq!(run_id_of(results), "20261201T201500Z-4242");
    }

    #[test]
    fn results_of_any_age_read_with_defaults() {
        let old: StoredResults = serde_json::from_str(
            r#"{"version":1,"repo":"/r","tasks":[{"name":"a","status":"failed","unknown":1}]}"#,
        )
        .unwrap();
        assert_eq!(old.run_id, None);
        assert_eq!(old.tasks[0].check_outcome(), None);
        assert!(!old.tasks[0].succeeded());
        let new: StoredTask = serde_json::from_str(
            r#"{"name":"a","status":"succeeded","check":{"exit_code":3,"duration_ms":5},"group":"a","winner":true}"#,
        )
        .unwrap();
        assert_eq!(new.check_outcome(), Some(Err(3)));
        assert_eq!(new.winner, Some(true));
        let passed: StoredTask =
            serde_json::from_str(r#"{"check":{"exit_code":0,"duration_ms":5}}"#).unwrap();
        assert_eq!(passed.check_outcome(), Some(Ok(())));
    }
}
