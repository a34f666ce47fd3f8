//! Process groups and signals: the only `unsafe` in porch.
//!
//! Every agent runs in its own process group, so one `kill(-pgid)` reaches the agent and the
//! children that stayed in its group. That is not enough: claude runs Bash-tool commands in
//! their own session (`setsid`), and agents background servers. Those are found by the marker
//! variable porch sets on each agent (`PORCH_SESSION=<run>-<task>`), which every descendant
//! inherits and `/proc/PID/environ` shows. A subreaper plus parent links would miss a process
//! whose parent chain was broken before porch looked; the marker survives any reparenting and
//! is only lost by a process that clears its own environment, which the group kill still
//! catches unless it also left the group.

use std::time::{Duration, Instant};

pub fn signal_group(pgid: u32, signal: i32) {
    // SAFETY: kill(2) has no memory-safety preconditions; a negative pid names a group.
    unsafe {
        libc::kill(-(pgid as i32), signal);
    }
}

fn signal_pid(pid: i32, signal: i32) {
    // SAFETY: as above.
    unsafe {
        libc::kill(pid, signal);
    }
}

/// Live processes (not zombies) whose environment holds `PORCH_SESSION=marker`.
///
/// A process in the middle of `execve` reads an empty environment for a moment; such a process
/// (empty, yet neither a zombie nor a kernel thread) is looked at again until it says.
pub fn marked_processes(marker: &str) -> Vec<i32> {
    let needle = format!("{}={marker}", crate::agent::SESSION_MARKER_VAR);
    let own = std::process::id() as i32;
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut marked = Vec::new();
    let mut unsure = Vec::new();
    for pid in entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
    {
        if pid == own {
            continue;
        }
        match classify(pid, needle.as_bytes()) {
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
        unsure.retain(|&pid| match classify(pid, needle.as_bytes()) {
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
fn classify(pid: i32, needle: &[u8]) -> Option<bool> {
    let Ok(environ) = std::fs::read(format!("/proc/{pid}/environ")) else {
        return Some(false);
    };
    if environ.split(|&b| b == 0).any(|var| var == needle) {
        return Some(true);
    }
    if !environ.is_empty() {
        return Some(false);
    }
    // Empty: a zombie, a kernel thread, or a process caught mid-exec.
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    const PF_KTHREAD: u64 = 0x0020_0000;
    let zombie = fields
        .first()
        .is_some_and(|state| *state == "Z" || *state == "X");
    let kernel = fields
        .get(6)
        .and_then(|f| f.parse::<u64>().ok())
        .is_some_and(|flags| flags & PF_KTHREAD != 0);
    if zombie || kernel { Some(false) } else { None }
}

/// Ends every process left behind by a session: its process group and every process carrying
/// its marker. SIGTERM first, then SIGKILL for whatever is still there after `grace`. Returns
/// how many processes were found.
///
/// "None left" means two scans in a row found none, a moment apart, so that a process forked
/// by a dying group member during the first scan is seen by the second.
pub fn end_leftovers(pgid: u32, marker: &str, grace: Duration) -> usize {
    let mut seen = std::collections::BTreeSet::new();
    let scan_and_signal = |signal: i32, seen: &mut std::collections::BTreeSet<i32>| {
        signal_group(pgid, signal);
        let alive = marked_processes(marker);
        for &pid in &alive {
            if seen.insert(pid) || signal == libc::SIGKILL {
                signal_pid(pid, signal);
            }
        }
        alive.is_empty() && !group_alive(pgid)
    };
    let deadline = Instant::now() + grace;
    let mut quiet_scans = 0;
    while quiet_scans < 2 {
        if scan_and_signal(libc::SIGTERM, &mut seen) {
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
    if quiet_scans >= 2 {
        return seen.len();
    }
    // Whatever ignored SIGTERM. Bounded, in case something keeps forking faster than this kills.
    let mut quiet_scans = 0;
    for _ in 0..50 {
        if scan_and_signal(libc::SIGKILL, &mut seen) {
            quiet_scans += 1;
            if quiet_scans >= 2 {
                break;
            }
        } else {
            quiet_scans = 0;
        }
        std::thread::sleep(SCAN_INTERVAL);
    }
    seen.len()
}

const SCAN_INTERVAL: Duration = Duration::from_millis(25);
const CONFIRM_INTERVAL: Duration = Duration::from_millis(5);

fn group_alive(pgid: u32) -> bool {
    // SAFETY: signal 0 only checks that the group exists.
    unsafe { libc::kill(-(pgid as i32), 0) == 0 }
}

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
