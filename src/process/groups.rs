//! Process groups and the processes a session leaves behind.
//!
//! Every agent runs in its own process group, so one `kill(-pgid)` reaches the agent and the
//! children that stayed in its group. That is not enough: claude runs Bash-tool commands in
//! their own session (`setsid`), and agents background servers. Those are found by the marker
//! variable porch sets on each agent (`PORCH_SESSION=<run>-<task>`), which every descendant
//! inherits and `/proc/PID/environ` shows. The marker survives any reparenting and is only lost
//! by a process that clears its own environment, which the group kill still catches unless it
//! also left the group. For that last case porch records each session's process tree while it
//! runs (`Lineage`), so such a process is still its session's leftover; and porch is a child
//! subreaper (`adopt_orphans`): one no poll saw, once its parent exits, is porch's child, ended
//! when the run ends (`end_orphans`). Adopted processes are reaped one pid at a time, never
//! with `waitpid(-1)`, which would take std's `Child` statuses.
//!
//! The system calls themselves are in `sys`.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::sys;

/// `/proc`'s entries, when a procfs is mounted there (`/proc/self` is its sign: an empty
/// directory or a tmpfs lists nothing without failing). Without one, the marker and the
/// lineage find nothing: what a session leaves outside its process group goes unfound,
/// unended and uncounted. porch says so once, on stderr, rather than report no leftovers.
fn proc_entries() -> Option<std::fs::ReadDir> {
    proc_entries_in(std::path::Path::new("/proc"), &WARNED_WITHOUT_PROC)
}

static WARNED_WITHOUT_PROC: AtomicBool = AtomicBool::new(false);

fn proc_entries_in(proc: &std::path::Path, warned: &AtomicBool) -> Option<std::fs::ReadDir> {
    let mounted = proc.join("self/stat").is_file();
    let entries = std::fs::read_dir(proc).ok().filter(|_| mounted);
    if entries.is_none() && !warned.swap(true, Ordering::Relaxed) {
        sys::console::print_stderr(&format!(
            "porch: warning: {} is not mounted: processes a session leaves outside its process \
             group cannot be found, ended or counted (the group itself still is)\n",
            proc.display()
        ));
    }
    entries
}

/// Sends `signal` to every process in group `pgid`; a group already gone is no error.
pub fn signal_group(pgid: u32, signal: i32) {
    sys::signal_group(pgid, signal);
}

/// The sessions running now, each by its process group and marker, so that Ctrl-Z can reach
/// them all (`stop_sessions`).
static RUNNING: Mutex<Vec<(u32, Marker)>> = Mutex::new(Vec::new());

/// A running session's entry in the list `stop_sessions` works from; dropping it takes the
/// session off.
pub struct Registration {
    pgid: u32,
}

impl Drop for Registration {
    fn drop(&mut self) {
        running().retain(|(pgid, _)| *pgid != self.pgid);
    }
}

fn running() -> std::sync::MutexGuard<'static, Vec<(u32, Marker)>> {
    RUNNING
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Puts a session (its process group and marker) on the list of running ones while the
/// returned registration lives.
pub fn register_session(pgid: u32, marker: &Marker) -> Registration {
    running().push((pgid, marker.clone()));
    Registration { pgid }
}

/// What `stop_sessions` stopped: process groups and single processes.
pub struct Stopped {
    groups: Vec<u32>,
    processes: Vec<i32>,
}

/// SIGSTOP to every running session's process group and to every process carrying its marker
/// (a Bash tool's own session, a background server). Returns what it stopped, to continue.
pub fn stop_sessions() -> Stopped {
    let sessions = running();
    let mut stopped = Stopped {
        groups: Vec::new(),
        processes: Vec::new(),
    };
    for (pgid, marker) in sessions.iter() {
        if sys::signal_group(*pgid, libc::SIGSTOP) {
            stopped.groups.push(*pgid);
        }
        for pid in marked_processes(marker) {
            if sys::signal_process(pid, libc::SIGSTOP) {
                stopped.processes.push(pid);
            }
        }
    }
    stopped
}

/// SIGCONT to what `stop_sessions` stopped.
pub fn continue_processes(stopped: &Stopped) {
    for &pgid in &stopped.groups {
        sys::signal_group(pgid, libc::SIGCONT);
    }
    for &pid in &stopped.processes {
        sys::signal_process(pid, libc::SIGCONT);
    }
}

/// The environment entry (`NAME=value`) that every process of one session inherits.
#[derive(Clone)]
pub struct Marker {
    entry: Vec<u8>,
}

impl Marker {
    pub fn new(name: &str, value: &str) -> Marker {
        Marker {
            entry: format!("{name}={value}").into_bytes(),
        }
    }

    /// Whether an environment as `/proc/PID/environ` gives it (NUL-separated) holds the marker.
    fn is_in(&self, environ: &[u8]) -> bool {
        environ.split(|&b| b == 0).any(|var| var == self.entry)
    }
}

/// Live processes (not zombies) whose environment holds the marker.
pub fn marked_processes(marker: &Marker) -> Vec<i32> {
    let Some(entries) = proc_entries() else {
        return Vec::new();
    };
    let pids = entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok());
    marked_among(pids, marker)
}

/// The processes of `table` that carry the marker, reading the environment only of those
/// started at or after `since` (the agent's start): the marker is inherited from the agent, so
/// an older process cannot carry it, and an environment costs more to read than a stat. With
/// 64 sessions ending at once, reading every process's environment twice per session was most
/// of what porch spent in `/proc`.
///
/// Nor is the environment read of a process in the group of another running session
/// (`others`): one a session's agent started stays in that group unless it left it, and a
/// process cannot join a group of another session's agent it was not born in (it would
/// have to know and pick it). With 64 sessions ending together, each read the environments of
/// all the others' processes.
fn marked_in(table: &[Entry], marker: &Marker, since: Option<u64>, others: &[u32]) -> Vec<i32> {
    let young = table
        .iter()
        .filter(|e| since.is_none_or(|since| e.start >= since) && !e.place.is_zombie())
        .filter(|e| !u32::try_from(e.place.pgrp).is_ok_and(|pgrp| others.contains(&pgrp)))
        .map(|e| e.pid);
    marked_among(young, marker)
}

/// The process groups of the running sessions but `pgid`'s.
fn other_sessions(pgid: u32) -> Vec<u32> {
    (running().iter())
        .map(|(group, _)| *group)
        .filter(|&group| group != pgid)
        .collect()
}

/// Those of `pids` (never porch) whose environment holds the marker, zombies not counted.
///
/// A process in the middle of `execve` reads an empty environment for a moment; such a process
/// (empty, yet neither a zombie nor a kernel thread) is looked at again until it says.
fn marked_among(pids: impl Iterator<Item = i32>, marker: &Marker) -> Vec<i32> {
    let own = std::process::id() as i32;
    let mut marked = Vec::new();
    let mut unsure = Vec::new();
    for pid in pids.filter(|&pid| pid != own) {
        match classify(pid, marker) {
            Some(true) => marked.push(pid),
            Some(false) => {}
            None => unsure.push(pid),
        }
    }
    // An exec takes well under 20 ms; a process whose environment stays empty longer
    // (`env -i`) has none, so carries no marker.
    for _ in 0..10 {
        if unsure.is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(2));
        unsure.retain(|&pid| match classify(pid, marker) {
            Some(true) => {
                marked.push(pid);
                false
            }
            Some(false) => false,
            None => true,
        });
    }
    marked
}

/// `Some(true)`: marked; `Some(false)`: not marked, gone, or not ours to read; `None`: unsure.
fn classify(pid: i32, marker: &Marker) -> Option<bool> {
    let Ok(environ) = std::fs::read(format!("/proc/{pid}/environ")) else {
        return Some(false);
    };
    if marker.is_in(&environ) {
        return Some(true);
    }
    if !environ.is_empty() {
        return Some(false);
    }
    // Empty: a zombie, a kernel thread, or a process caught mid-exec.
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    if has_no_environment(&stat)? {
        Some(false)
    } else {
        None
    }
}

/// Whether `/proc/PID/stat` shows a process that has no environment to read: a zombie (state
/// `Z` or `X`) or a kernel thread (`PF_KTHREAD` in its flags). `None` when it does not parse.
/// The command name comes before the fields and may hold spaces and parentheses, hence the
/// last `)`.
fn has_no_environment(stat: &str) -> Option<bool> {
    const PF_KTHREAD: u64 = 0x0020_0000;
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let zombie = fields
        .first()
        .is_some_and(|state| *state == "Z" || *state == "X");
    let kernel = fields
        .get(6)
        .and_then(|f| f.parse::<u64>().ok())
        .is_some_and(|flags| flags & PF_KTHREAD != 0);
    Some(zombie || kernel)
}

/// Where `/proc/PID/stat` places a process: its state letter, parent, group and session.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Place {
    state: char,
    ppid: i32,
    pgrp: i32,
    sid: i32,
}

impl Place {
    /// The fields after the command name, which may hold spaces and parentheses: hence the
    /// last `)`.
    fn parse(stat: &str) -> Option<Place> {
        let mut fields = stat.rsplit_once(')')?.1.split_whitespace();
        let state = fields.next()?.chars().next()?;
        let mut number = || fields.next()?.parse::<i32>().ok();
        Some(Place {
            state,
            ppid: number()?,
            pgrp: number()?,
            sid: number()?,
        })
    }

    fn of(pid: i32) -> Option<Place> {
        Place::parse(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
    }

    fn is_zombie(&self) -> bool {
        matches!(self.state, 'Z' | 'X')
    }
}

/// One process as `/proc` shows it: where it is, when it started (clock ticks after boot, so
/// a pid the kernel reused is never taken for the process seen before) and its name.
#[derive(Debug, Clone, PartialEq)]
struct Entry {
    pid: i32,
    place: Place,
    start: u64,
    name: String,
}

impl Entry {
    fn parse(pid: i32, stat: &str) -> Option<Entry> {
        let place = Place::parse(stat)?;
        let (head, rest) = stat.rsplit_once(')')?;
        let name = head.split_once('(')?.1;
        // After the name: state, ppid, pgrp, session, tty, tpgid, flags, 4 fault counts, 4
        // times, priority, nice, threads, itrealvalue, then the start time.
        let start = rest.split_whitespace().nth(19)?.parse().ok()?;
        Some(Entry {
            pid,
            place,
            start,
            name: crate::util::clip::visible(name).into_owned(),
        })
    }
}

/// Every process, as `/proc` shows it now.
fn scan() -> Vec<Entry> {
    let Some(entries) = proc_entries() else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter_map(|pid| {
            Entry::parse(
                pid,
                &std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?,
            )
        })
        .collect()
}

/// How old a scan the sessions' polls share may be: one walk of `/proc` serves every session
/// polling meanwhile, however many run.
const SHARED_SCAN_AGE: Duration = Duration::from_millis(200);

/// For the sessions' polls: the last walk if it is at most `SHARED_SCAN_AGE` old.
fn shared_scan() -> Arc<Vec<Entry>> {
    let moment = Instant::now().checked_sub(SHARED_SCAN_AGE);
    scan_after(moment.unwrap_or_else(Instant::now))
}

static LAST_SCAN: Mutex<Option<(Instant, Arc<Vec<Entry>>)>> = Mutex::new(None);

/// A walk of `/proc` begun at or after `moment` (say, once the caller's signal was sent): the
/// last one taken, if it began late enough, or a new one. Callers wait while one is taken and
/// share it when it began after their moment: sessions ending together walk `/proc` once
/// between them instead of once each, and each still sees what its signal left.
fn scan_after(moment: Instant) -> Arc<Vec<Entry>> {
    let mut cached = LAST_SCAN.lock().unwrap_or_else(|p| p.into_inner());
    if let Some((began, table)) = cached.as_ref()
        && *began >= moment
    {
        return Arc::clone(table);
    }
    let began = Instant::now();
    let table = Arc::new(scan());
    *cached = Some((began, Arc::clone(&table)));
    table
}

/// The processes of one session's tree, as porch saw them while it ran: the agent, what it
/// started, what those started, and so on, each by pid and start time. A process whose parent
/// exits is re-parented to porch and no longer shows where it came from; seen here before, it
/// is still the session's, and ended and counted as its leftover, whatever its environment or
/// session. Only what a poll saw is known: a process that left the tree (its parent exited)
/// within a poll of its start is not.
#[derive(Debug, Default)]
pub struct Lineage {
    agent: i32,
    /// The agent's start time, read when it started: once std has reaped the agent, its pid
    /// may be another process's, which must not be taken for the agent.
    agent_start: Option<u64>,
    seen: BTreeMap<i32, u64>,
}

impl Lineage {
    /// The lineage of the agent just started as `agent` (its pid and process group).
    pub fn new(agent: u32) -> Lineage {
        let agent = agent as i32;
        let agent_start = std::fs::read_to_string(format!("/proc/{agent}/stat"))
            .ok()
            .and_then(|stat| Entry::parse(agent, &stat))
            .map(|e| e.start);
        Lineage {
            agent,
            agent_start,
            seen: BTreeMap::new(),
        }
    }

    /// A poll while the session runs: records its tree from a scan shared with other sessions.
    pub fn record(&mut self) {
        let table = shared_scan();
        self.record_in(&table, &[]);
    }

    /// Adds to the record every process of `table` in the tree: the agent, members of its
    /// process group, `roots`, processes seen before (same start time), and their descendants.
    fn record_in(&mut self, table: &[Entry], roots: &[i32]) {
        // A process that has the agent's pid but not its start time: the agent was reaped and
        // the pid given again, so the group of that number is no longer the agent's.
        let pid_reused = table
            .iter()
            .any(|e| e.pid == self.agent && Some(e.start) != self.agent_start);
        let mut members: BTreeSet<i32> = table
            .iter()
            .filter(|e| {
                (e.pid == self.agent && Some(e.start) == self.agent_start)
                    || (e.place.pgrp == self.agent && !pid_reused)
                    || roots.contains(&e.pid)
                    || self.seen.get(&e.pid) == Some(&e.start)
            })
            .map(|e| e.pid)
            .collect();
        loop {
            let before = members.len();
            for entry in table {
                if members.contains(&entry.place.ppid) {
                    members.insert(entry.pid);
                }
            }
            if members.len() == before {
                break;
            }
        }
        for entry in table.iter().filter(|e| members.contains(&e.pid)) {
            self.seen.insert(entry.pid, entry.start);
        }
    }

    /// The recorded processes of `table` still running (the same start time, not zombies),
    /// but the agent, which std waits for.
    fn alive_in<'t>(&self, table: &'t [Entry]) -> Vec<&'t Entry> {
        table
            .iter()
            .filter(|e| e.pid != self.agent && !e.place.is_zombie())
            .filter(|e| self.seen.get(&e.pid) == Some(&e.start))
            .collect()
    }

    /// What of the session's tree still runs now, named: for `--keep-leftovers`, which counts
    /// it and leaves it.
    pub fn alive_now(&mut self, marked: &[i32]) -> Vec<Process> {
        let table = scan();
        self.record_in(&table, marked);
        self.alive_in(&table)
            .into_iter()
            .map(Process::from)
            .collect()
    }
}

/// A process porch ended or left running for a session, for its `[porch]` line.
#[derive(Debug, Clone, PartialEq)]
pub struct Process {
    pub pid: i32,
    pub name: String,
}

impl From<&Entry> for Process {
    fn from(entry: &Entry) -> Process {
        Process {
            pid: entry.pid,
            name: entry.name.clone(),
        }
    }
}

/// The name of a live process (`/proc/PID/stat`), for messages.
fn name_of(pid: i32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| Entry::parse(pid, &stat))
        .map_or_else(|| "?".to_string(), |e| e.name)
}

/// Makes porch a child subreaper: a process of a session whose parent dies is re-parented to
/// porch, not to init, so that one that escaped both the session's group and its marker (it
/// wiped its environment, `env -i`, in a session of its own) is still porch's to find and end.
/// Only processes porch adopted are ever reaped by it, each by its own pid: std's `Child`
/// statuses stay std's.
pub fn adopt_orphans() {
    sys::become_child_subreaper();
}

/// Porch's children as `/proc` shows them now. Besides the adopted orphans these include what
/// porch started itself (agents, git commands) while they run.
fn children_of_porch() -> Vec<(i32, Place)> {
    let own = std::process::id() as i32;
    let Some(entries) = proc_entries() else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter_map(|pid| Some((pid, Place::of(pid)?)))
        .filter(|(_, place)| place.ppid == own)
        .collect()
}

/// Reaps the adopted children of one session that `table` shows dead: members of its group
/// other than the agent (std waits for the agent), and what porch ended for it (`ended`). One
/// that died after the table was read is reaped by the next round.
fn reap_adopted(pgid: u32, ended: &BTreeMap<i32, String>, table: &[Entry]) {
    let own = std::process::id() as i32;
    let agent = pgid as i32;
    for entry in table.iter().filter(|e| e.place.ppid == own) {
        let pid = entry.pid;
        let its = (entry.place.pgrp == agent || ended.contains_key(&pid)) && pid != agent;
        if its && entry.place.is_zombie() {
            sys::reap(pid);
        }
    }
}

/// Ends whatever porch adopted that is still running once every session has ended: processes
/// that escaped their session and could not be told apart while others ran. SIGTERM, then
/// SIGKILL after `grace`; each is reaped by its pid. Returns how many it ended. Called only once
/// every task is done, when none of porch's own children are left for std to wait for.
pub fn end_orphans(grace: Duration) -> usize {
    let mut ended = BTreeSet::new();
    escalate(grace, |signal| {
        let mut none_left = true;
        for (pid, place) in children_of_porch() {
            if place.is_zombie() {
                sys::reap(pid);
                continue;
            }
            none_left = false;
            if ended.insert(pid) || signal == libc::SIGKILL {
                sys::signal_process(pid, signal);
            }
        }
        none_left
    });
    ended.len()
}

/// Ends every process left behind by a session: its process group, every process carrying
/// its marker and, given the session's `lineage`, every process of its tree still running
/// (seen under the agent while it ran, or a descendant of one of these now). SIGTERM first,
/// then SIGKILL for whatever is still there after `grace`; what porch adopted of it is reaped.
/// Returns the processes found, named.
pub fn end_leftovers(
    pgid: u32,
    marker: &Marker,
    mut lineage: Option<&mut Lineage>,
    grace: Duration,
) -> Vec<Process> {
    let mut seen = BTreeMap::new();
    let since = lineage.as_ref().and_then(|lineage| lineage.agent_start);
    escalate(grace, |signal| {
        let signalled = Instant::now();
        sys::signal_group(pgid, signal);
        // One walk of `/proc` per round serves the marker, the lineage and the reaping, and
        // every session ending at the same moment.
        let table = scan_after(signalled);
        let mut alive = marked_in(&table, marker, since, &other_sessions(pgid));
        if let Some(lineage) = lineage.as_deref_mut() {
            // Before any of them is signalled: a parent that dies re-parents its children to
            // porch, and they would no longer show whose they are.
            lineage.record_in(&table, &alive);
            for entry in lineage.alive_in(&table) {
                if !alive.contains(&entry.pid) {
                    alive.push(entry.pid);
                }
            }
        }
        for &pid in &alive {
            let new = !seen.contains_key(&pid);
            if new {
                seen.insert(pid, name_of(pid));
            }
            if new || signal == libc::SIGKILL {
                sys::signal_process(pid, signal);
            }
        }
        reap_adopted(pgid, &seen, &table);
        alive.is_empty() && !sys::group_exists(pgid)
    });
    seen.into_iter()
        .map(|(pid, name)| Process { pid, name })
        .collect()
}

/// Ends what `scan_and_signal` finds, given the signal to send: SIGTERM until it finds none
/// left, SIGKILL for whatever is still there after `grace`. "None left" means two scans in a
/// row found none, a moment apart, so that a process forked by a dying one during the first
/// scan is seen by the second.
fn escalate(grace: Duration, mut scan_and_signal: impl FnMut(i32) -> bool) {
    let deadline = Instant::now() + grace;
    let mut quiet_scans = 0;
    while quiet_scans < 2 {
        if scan_and_signal(libc::SIGTERM) {
            quiet_scans += 1;
        } else {
            quiet_scans = 0;
        }
        if Instant::now() >= deadline && quiet_scans == 0 {
            break;
        }
        std::thread::sleep(if quiet_scans > 0 {
            CONFIRM_INTERVAL
        } else {
            SCAN_INTERVAL
        });
    }
    if quiet_scans < 2 {
        // Whatever ignored SIGTERM. Bounded, in case something keeps forking faster than this
        // kills.
        let mut quiet_scans = 0;
        for _ in 0..50 {
            if scan_and_signal(libc::SIGKILL) {
                quiet_scans += 1;
                if quiet_scans >= 2 {
                    break;
                }
            } else {
                quiet_scans = 0;
            }
            std::thread::sleep(SCAN_INTERVAL);
        }
    }
}

const SCAN_INTERVAL: Duration = Duration::from_millis(25);
const CONFIRM_INTERVAL: Duration = Duration::from_millis(5);

/// "signal 15 (SIGTERM)", for messages.
pub fn describe_signal(signal: i32) -> String {
    let name = match signal {
        libc::SIGHUP => "SIGHUP",
        libc::SIGINT => "SIGINT",
        libc::SIGQUIT => "SIGQUIT",
        libc::SIGABRT => "SIGABRT",
        libc::SIGKILL => "SIGKILL",
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGPIPE => "SIGPIPE",
        libc::SIGTERM => "SIGTERM",
        libc::SIGBUS => "SIGBUS",
        _ => return format!("signal {signal}"),
    };
    format!("signal {signal} ({name})")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signal_is_described_by_number_and_by_name_when_porch_knows_it() {
        let cases = [
            (libc::SIGINT, "signal 2 (SIGINT)"),
            (libc::SIGKILL, "signal 9 (SIGKILL)"),
            (libc::SIGTERM, "signal 15 (SIGTERM)"),
            (libc::SIGHUP, "signal 1 (SIGHUP)"),
            (libc::SIGUSR1, "signal 10"),
            (64, "signal 64"),
        ];
        for (signal, described) in cases {
            assert_eq!(describe_signal(signal), described);
        }
    }

    #[test]
    fn the_marker_is_a_whole_environment_entry() {
        let marker = Marker::new("PORCH_SESSION", "41-7");
        let cases: [(&[u8], bool); 7] = [
            (b"PORCH_SESSION=41-7", true),
            (b"HOME=/root\0PORCH_SESSION=41-7\0PATH=/bin\0", true),
            (b"PORCH_SESSION=41-70\0", false),
            (b"PORCH_SESSION=41-\0", false),
            (b"XPORCH_SESSION=41-7\0", false),
            (b"HOME=/root\0", false),
            (b"", false),
        ];
        for (environ, marked) in cases {
            assert_eq!(
                marker.is_in(environ),
                marked,
                "{}",
                String::from_utf8_lossy(environ)
            );
        }
    }

    /// A `/proc` row: pid, parent, group, start time.
    fn entry(pid: i32, ppid: i32, pgrp: i32, start: u64) -> Entry {
        Entry {
            pid,
            place: Place {
                state: 'S',
                ppid,
                pgrp,
                sid: pgrp,
            },
            start,
            name: format!("p{pid}"),
        }
    }

    fn pids(entries: Vec<&Entry>) -> Vec<i32> {
        entries.iter().map(|e| e.pid).collect()
    }

    #[test]
    fn a_session_owns_what_was_seen_under_its_agent_even_once_re_parented() {
        const PORCH: i32 = 50;
        let mut lineage = Lineage {
            agent: 100,
            agent_start: Some(5),
            seen: BTreeMap::new(),
        };
        // While the agent runs: its child left the group (setsid), the grandchild too.
        let running = [
            entry(100, PORCH, 100, 5),
            entry(101, 100, 101, 6),
            entry(102, 101, 102, 7),
            entry(200, 1, 200, 3),
            entry(300, PORCH, 300, 8),
        ];
        lineage.record_in(&running, &[]);
        assert_eq!(
            pids(lineage.alive_in(&running)),
            [101, 102],
            "the tree, not the agent"
        );
        // The agent and the child are gone; the grandchild is porch's now, and forked; pid 100
        // is one of porch's own git commands; 101 is another process that got the pid again.
        let later = [
            entry(100, PORCH, 100, 40),
            entry(101, PORCH, 101, 41),
            entry(102, PORCH, 102, 7),
            entry(103, 102, 102, 42),
            entry(200, 1, 200, 3),
            entry(300, PORCH, 300, 8),
        ];
        lineage.record_in(&later, &[]);
        assert_eq!(
            pids(lineage.alive_in(&later)),
            [102, 103],
            "the re-parented grandchild and what it started, not reused pids or porch's own"
        );
        // A marked process given as a root brings its children, whatever their environment.
        let marked = [entry(400, 1, 400, 50), entry(401, 400, 401, 51)];
        lineage.record_in(&marked, &[400]);
        assert_eq!(pids(lineage.alive_in(&marked)), [400, 401]);
    }

    #[test]
    fn a_marked_process_is_found_unless_it_started_before_the_agent() {
        let marker = Marker::new(
            "PORCH_TEST_MARKER",
            &format!("groups-{}", std::process::id()),
        );
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .env(
                "PORCH_TEST_MARKER",
                format!("groups-{}", std::process::id()),
            )
            .spawn()
            .expect("sleep starts");
        let pid = child.id() as i32;
        // Until the exec is done, the environment may still be the test's own.
        let deadline = Instant::now() + Duration::from_secs(30);
        while !marked_processes(&marker).contains(&pid) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        let table = scan();
        let start = table
            .iter()
            .find(|e| e.pid == pid)
            .expect("in the table")
            .start;
        let found = marked_in(&table, &marker, Some(start), &[]);
        let older = marked_in(&table, &marker, Some(start + 1), &[]);
        let unfiltered = marked_in(&table, &marker, None, &[]);
        let group = table.iter().find(|e| e.pid == pid).unwrap().place.pgrp as u32;
        let in_another_session = marked_in(&table, &marker, None, &[group]);
        child.kill().ok();
        child.wait().ok();
        assert_eq!(found, [pid]);
        assert!(older.is_empty(), "{older:?}");
        assert_eq!(unfiltered, [pid]);
        assert!(in_another_session.is_empty(), "{in_another_session:?}");
    }

    #[test]
    fn an_entry_is_read_with_its_start_time_and_name() {
        let stat = "4242 (my (odd) name) S 1 4242 4242 0 -1 4194560 10 0 0 0 1 2 0 0 20 0 1 0 987654 1000 10";
        let entry = Entry::parse(4242, stat).unwrap();
        assert_eq!(entry.start, 987654);
        assert_eq!(entry.name, "my (odd) name");
        assert_eq!(entry.place.ppid, 1);
        assert_eq!(Entry::parse(1, "1 (x) S 0 1"), None);
    }

    #[test]
    fn a_place_is_read_after_the_last_parenthesis() {
        let place = |state, ppid, pgrp, sid| {
            Some(Place {
                state,
                ppid,
                pgrp,
                sid,
            })
        };
        let cases = [
            ("12 (sleep) S 1 12 10 0 -1 4194560", place('S', 1, 12, 10)),
            ("12 (a) b Z) Z 7 8 9 0", place('Z', 7, 8, 9)),
            ("12 (sh) X 7 8", None),
            ("no closing parenthesis", None),
        ];
        for (stat, expected) in cases {
            assert_eq!(Place::parse(stat), expected, "{stat}");
        }
        assert!(Place::parse("1 (z) Z 0 1 1").unwrap().is_zombie());
        assert!(!Place::parse("1 (r) R 0 1 1").unwrap().is_zombie());
    }

    #[test]
    fn zombies_and_kernel_threads_have_no_environment_to_read() {
        let cases = [
            ("12 (sleep) S 1 12 12 0 -1 4194560 0 0", Some(false)),
            ("12 (sleep) Z 1 12 12 0 -1 4194560 0 0", Some(true)),
            ("12 (sleep) X 1 12 12 0 -1 4194560 0 0", Some(true)),
            ("2 (kthreadd) S 0 0 0 0 -1 2129984 0 0", Some(true)),
            // A command name with spaces and a parenthesis of its own.
            ("12 (a) b S) R 1 12 12 0 -1 4194304 0 0", Some(false)),
            ("12 (a) b Z) Z 1 12 12 0 -1 4194304 0 0", Some(true)),
            ("no closing parenthesis", None),
        ];
        for (stat, no_environment) in cases {
            assert_eq!(has_no_environment(stat), no_environment, "{stat}");
        }
    }
}
