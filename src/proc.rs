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
pub fn marked_processes(marker: &str) -> Vec<i32> {
    let needle = format!("{}={marker}", crate::agent::SESSION_MARKER_VAR);
    let own = std::process::id() as i32;
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|&pid| pid != own)
        .filter(|&pid| {
            // A zombie's environ reads empty, so the dead are never counted.
            std::fs::read(format!("/proc/{pid}/environ"))
                .map(|env| env.split(|&b| b == 0).any(|var| var == needle.as_bytes()))
                .unwrap_or(false)
        })
        .collect()
}

/// Ends every process left behind by a session: its process group and every process carrying
/// its marker. SIGTERM first, then SIGKILL for whatever is still there after `grace`. Returns
/// how many processes were found.
///
/// A scan can miss a process in the middle of `execve` (its environment reads empty for a
/// moment), so "none left" means two scans in a row found none.
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
        std::thread::sleep(SCAN_INTERVAL);
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
