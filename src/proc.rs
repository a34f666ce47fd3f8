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
pub fn end_leftovers(pgid: u32, marker: &str, grace: Duration) -> usize {
    signal_group(pgid, libc::SIGTERM);
    let first = marked_processes(marker);
    for &pid in &first {
        signal_pid(pid, libc::SIGTERM);
    }
    let mut seen: std::collections::BTreeSet<i32> = first.into_iter().collect();
    let deadline = Instant::now() + grace;
    loop {
        let alive = marked_processes(marker);
        seen.extend(&alive);
        if alive.is_empty() && !group_alive(pgid) {
            return seen.len();
        }
        if Instant::now() >= deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    // Whatever ignored SIGTERM; repeat, since a dying process may have forked.
    for _ in 0..10 {
        signal_group(pgid, libc::SIGKILL);
        let alive = marked_processes(marker);
        seen.extend(&alive);
        if alive.is_empty() {
            break;
        }
        for &pid in &alive {
            signal_pid(pid, libc::SIGKILL);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    seen.len()
}

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
