//! The only `unsafe` code in porch: thin safe wrappers over the libc calls std lacks.
//!
//! What is here, and why each is sound:
//! - `kill(2)`, to signal a process, a process group, or ask whether a group exists
//!   ([`signal_process`], [`signal_group`], [`group_exists`]). kill has no memory-safety
//!   preconditions; the wrappers refuse pids and groups below 1, which kill would read as "every
//!   process porch may signal" or "porch's own group".
//! - `access(2)` with `W_OK` ([`writable`]): it reads a NUL-terminated path that the wrapper
//!   owns for the whole call.
//! - `renameat2(2)` with `RENAME_NOREPLACE` ([`rename_no_replace`]): it reads two NUL-terminated
//!   paths that the wrapper owns for the whole call.
//! - `sigaction(2)` ([`record_signals`], [`catch_stop_requests`]), with the handlers that go
//!   with it. A signal handler may only do what is async-signal-safe; the two here only store
//!   into atomics, and they and the installer are private, so no safe caller can install one
//!   that does more. The `sigaction` value starts zeroed, a valid "no flags, empty mask" value,
//!   and `SA_RESTART` keeps blocking reads and waits elsewhere in porch from failing with
//!   `EINTR`.
//! - `prctl(2)` with `PR_SET_CHILD_SUBREAPER` ([`become_child_subreaper`]): an integer argument.
//! - `waitpid(2)` on one pid with `WNOHANG` ([`reap`]): writes into a local; never `-1`.
//! - `raise(3)` ([`stop_self`]): no preconditions.
//! - `ioctl(2)` with `FICLONE` ([`clone_file`]), copy-on-write cloning of a file: it takes two
//!   open descriptors that the caller's `File`s keep open for the whole call, and touches no
//!   memory of porch's.
//! - `setsid(2)` in a child between fork and exec ([`in_new_session`]): it is
//!   async-signal-safe, touches no memory, and is the only thing the closure does.
//! - `prctl(2)` with `PR_SET_PDEATHSIG` and `getppid(2)` in a child between fork and exec
//!   ([`die_with_parent`]). Only async-signal-safe calls run there (both are plain system
//!   calls), nothing allocates, and the closure captures one integer.
//! - The same two calls in porch started as `exec_shim`'s child ([`die_with_parent_now`]):
//!   an integer argument each, in a process of its own before its `exec`.
//! - `ioctl(2)` with `TIOCGWINSZ` ([`terminal_columns`]): writes into a `winsize` the wrapper
//!   owns for the whole call; an fd that is no terminal makes it fail, not write.
//! - `posix_spawnp(3)`, `pipe2(2)` and a blocking `waitpid(2)` on one pid ([`spawn`]): each
//!   pointer passed points into values the wrapper owns for the whole call; its module says
//!   why porch does not use `std::process::Command` for git.

pub mod atomic_file;
pub mod bounded_read;
pub mod console;
pub mod exec_shim;
pub mod line_reader;
pub mod spawn;

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicUsize, Ordering};

/// Sends `signal` to one process. Returns whether kill(2) succeeded.
pub fn signal_process(pid: i32, signal: i32) -> bool {
    if pid < 1 {
        return false;
    }
    // SAFETY: kill(2) has no memory-safety preconditions; `pid` names one process.
    unsafe { libc::kill(pid, signal) == 0 }
}

/// Sends `signal` to every process in group `pgid`. Returns whether kill(2) succeeded.
pub fn signal_group(pgid: u32, signal: i32) -> bool {
    match group_pid(pgid) {
        // SAFETY: kill(2) has no memory-safety preconditions; a negative pid names a group.
        Some(group) => unsafe { libc::kill(group, signal) == 0 },
        None => false,
    }
}

/// Whether process group `pgid` still has a member (signal 0 only checks).
pub fn group_exists(pgid: u32) -> bool {
    signal_group(pgid, 0)
}

/// kill(2)'s name for group `pgid`: its negation. `None` for 0, which kill would read as
/// porch's own group, and for what does not fit a pid.
fn group_pid(pgid: u32) -> Option<i32> {
    i32::try_from(pgid)
        .ok()
        .filter(|&pgid| pgid >= 1)
        .map(|pgid| -pgid)
}

/// Whether a process with this id exists, whoever owns it (kill(2) with signal 0 says EPERM
/// for another user's).
pub fn process_exists(pid: i32) -> bool {
    signal_process(pid, 0)
        || (pid >= 1 && std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM))
}

/// `rename(2)` that fails with `AlreadyExists` rather than replace what is at `to` (renameat2
/// with `RENAME_NOREPLACE`; a file system without it says `InvalidInput`).
pub fn rename_no_replace(from: &Path, to: &Path) -> std::io::Result<()> {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    let c = |p: &Path| CString::new(p.as_os_str().as_bytes()).map_err(std::io::Error::other);
    let (from, to) = (c(from)?, c(to)?);
    // SAFETY: both are NUL-terminated paths that live across the call.
    let done = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            from.as_ptr(),
            libc::AT_FDCWD,
            to.as_ptr(),
            libc::RENAME_NOREPLACE,
        )
    };
    if done == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// Whether porch may write into `dir`, by access(2) with `W_OK`.
pub fn writable(dir: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let Ok(c_path) = std::ffi::CString::new(dir.as_os_str().as_bytes()) else {
        return false;
    };
    // SAFETY: access(2) reads a NUL-terminated path we own for the duration of the call.
    unsafe { libc::access(c_path.as_ptr(), libc::W_OK) == 0 }
}

/// Starts `command`'s process as the leader of a new session, with no controlling terminal:
/// opening `/dev/tty` then fails instead of stopping the process with SIGTTIN, and Ctrl-C at
/// porch's terminal does not reach it. It is also the leader of a new process group.
pub fn in_new_session(command: &mut std::process::Command) -> &mut std::process::Command {
    use std::os::unix::process::CommandExt;
    // SAFETY: the closure runs in the forked child before exec, where only async-signal-safe
    // calls are allowed: setsid(2) is one, and the closure does nothing else.
    unsafe {
        command.pre_exec(|| {
            if libc::setsid() == -1 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        })
    }
}

/// Makes the child that `command` starts die by SIGKILL when the thread that spawns it ends,
/// which is when porch ends, however it ends (the OOM killer's SIGKILL included). The caller
/// must spawn from a thread that outlives the child: the kernel sends the signal when the
/// spawning *thread* exits. A porch that died between fork and prctl is seen by getppid no
/// longer being porch: the child then fails to start instead of running unwatched.
pub fn die_with_parent(command: &mut std::process::Command) {
    use std::os::unix::process::CommandExt;
    let parent = std::process::id() as libc::pid_t;
    let hook = move || {
        // SAFETY: prctl with PR_SET_PDEATHSIG takes a signal number and no pointers; getppid
        // has no preconditions. Both are async-signal-safe, as a pre_exec hook must be.
        unsafe {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            if libc::getppid() != parent {
                return Err(std::io::Error::from_raw_os_error(libc::ESRCH));
            }
        }
        Ok(())
    };
    // SAFETY: the hook runs between fork and exec, where only async-signal-safe calls are
    // allowed: it makes two system calls and touches no memory but its captured pid.
    unsafe {
        command.pre_exec(hook);
    }
}

/// In a child porch started (`exec_shim`): SIGKILL when the thread that started it ends, as
/// `die_with_parent` arranges, asked for by the child itself. False when `parent` is already
/// gone (the child was re-parented): it must then not start its program.
pub fn die_with_parent_now(parent: libc::pid_t) -> bool {
    // SAFETY: prctl with PR_SET_PDEATHSIG takes a signal number and no pointers; getppid has
    // no preconditions.
    unsafe {
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong) == 0
            && libc::getppid() == parent
    }
}

/// Makes porch the reaper of its descendants' orphans (`PR_SET_CHILD_SUBREAPER`): a process
/// whose parent dies is re-parented to porch instead of to init, where porch can find it.
/// Returns whether the kernel agreed.
pub fn become_child_subreaper() -> bool {
    // SAFETY: prctl with PR_SET_CHILD_SUBREAPER takes an integer and no pointers.
    unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1 as libc::c_ulong) == 0 }
}

/// Reaps child `pid` if it has exited, without waiting. For children porch adopted only: a
/// child that std's `Child` waits for must never be reaped here, or its status is lost.
pub fn reap(pid: i32) -> bool {
    if pid < 1 {
        return false;
    }
    let mut status = 0;
    // SAFETY: waitpid writes the status into a local we own; `pid` names one process.
    unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) == pid }
}

/// Stops porch (SIGSTOP) and returns once it is continued. raise(3) directs the signal at the
/// calling thread, which therefore stops before the call returns; a SIGSTOP to the process
/// (kill) may be taken by another thread, and this one would run on for a moment.
pub fn stop_self() {
    // SAFETY: raise(3) has no memory-safety preconditions.
    unsafe {
        libc::raise(libc::SIGSTOP);
    }
}

static STOP_REQUESTED: AtomicBool = AtomicBool::new(false);

extern "C" fn record_stop(_signal: libc::c_int) {
    // Only an atomic here: anything else is not async-signal-safe.
    STOP_REQUESTED.store(true, Ordering::SeqCst);
}

/// Catches SIGTSTP (Ctrl-Z) with a handler that only records it, read by [`take_stop_request`].
pub fn catch_stop_requests() {
    install_handler(libc::SIGTSTP, record_stop);
}

/// Whether SIGTSTP arrived since the last call.
pub fn take_stop_request() -> bool {
    STOP_REQUESTED.swap(false, Ordering::SeqCst)
}

static FIRST_SIGNAL: AtomicI32 = AtomicI32::new(0);
static SIGNAL_COUNT: AtomicUsize = AtomicUsize::new(0);

extern "C" fn record(signal: libc::c_int) {
    // Only atomics here: anything else is not async-signal-safe.
    let _ = FIRST_SIGNAL.compare_exchange(0, signal, Ordering::SeqCst, Ordering::SeqCst);
    SIGNAL_COUNT.fetch_add(1, Ordering::SeqCst);
}

/// Catches `signals` with a handler that only records them, read by [`signals_received`].
pub fn record_signals(signals: &[i32]) {
    for &signal in signals {
        install_handler(signal, record);
    }
}

/// Private, so that only the handlers of this module, which touch nothing but atomics, are
/// ever installed.
fn install_handler(signal: i32, handler: extern "C" fn(libc::c_int)) {
    // SAFETY: see the module's doc: a zeroed sigaction is valid, the handlers only touch
    // atomics.
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = handler as libc::sighandler_t;
        action.sa_flags = libc::SA_RESTART;
        libc::sigemptyset(&mut action.sa_mask);
        libc::sigaction(signal, &action, std::ptr::null_mut());
    }
}

/// The first recorded signal (if any) and how many have arrived.
pub fn signals_received() -> (Option<i32>, usize) {
    let first = match FIRST_SIGNAL.load(Ordering::SeqCst) {
        0 => None,
        signal => Some(signal),
    };
    (first, SIGNAL_COUNT.load(Ordering::SeqCst))
}

/// Makes `target` share `source`'s blocks (the `FICLONE` ioctl: copy-on-write on btrfs, XFS
/// and others). `Ok(false)` when the file system cannot: then the bytes must be copied.
pub fn clone_file(source: &File, target: &File) -> io::Result<bool> {
    // SAFETY: FICLONE takes the source descriptor as its argument; both descriptors belong to
    // `File`s borrowed for the whole call, and the ioctl touches no memory of ours.
    let rc = unsafe { libc::ioctl(target.as_raw_fd(), libc::FICLONE, source.as_raw_fd()) };
    if rc == 0 {
        return Ok(true);
    }
    let err = io::Error::last_os_error();
    match err.raw_os_error() {
        // Not supported here, across file systems, or not for these files.
        Some(libc::EOPNOTSUPP | libc::EXDEV | libc::EINVAL | libc::ENOTTY | libc::ENOSYS) => {
            Ok(false)
        }
        _ => Err(err),
    }
}

/// The width in columns of the terminal `fd` is open on; `None` when it is no terminal or does
/// not say.
pub fn terminal_columns(fd: i32) -> Option<usize> {
    let mut size = libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ writes one `winsize` through the pointer, which points at a local
    // that lives for the whole call.
    let rc = unsafe { libc::ioctl(fd, libc::TIOCGWINSZ, &mut size) };
    (rc == 0 && size.ws_col > 0).then_some(usize::from(size.ws_col))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_group_is_named_by_its_negation_and_never_by_zero_or_an_overflow() {
        let cases = [
            (1, Some(-1)),
            (4242, Some(-4242)),
            (i32::MAX as u32, Some(-i32::MAX)),
            (0, None),
            (i32::MAX as u32 + 1, None),
            (u32::MAX, None),
        ];
        for (pgid, expected) in cases {
            assert_eq!(group_pid(pgid), expected, "pgid {pgid}");
        }
    }

    #[test]
    fn pids_and_groups_below_one_are_refused_before_kill() {
        // Signal 0 only asks; even so these must not reach kill, where 0 and -1 mean
        // "porch's group" and "everything porch may signal".
        assert!(!signal_process(0, 0));
        assert!(!signal_process(-1, 0));
        assert!(!signal_group(0, 0));
    }

    #[test]
    fn porch_can_ask_about_itself_and_its_own_group() {
        let own = std::process::id();
        assert!(signal_process(own as i32, 0));
        assert!(process_exists(own as i32));
        assert!(!process_exists(0));
        // The group is the third field after the command name in /proc/self/stat.
        let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
        let after_name = stat.rsplit_once(')').unwrap().1;
        let pgrp: u32 = after_name
            .split_whitespace()
            .nth(2)
            .unwrap()
            .parse()
            .unwrap();
        assert!(group_exists(pgrp));
    }

    #[test]
    fn a_writable_directory_is_writable_and_a_missing_one_is_not() {
        let dir = tempfile::tempdir().unwrap();
        assert!(writable(dir.path()));
        assert!(!writable(&dir.path().join("missing")));
        assert!(!writable(Path::new("bad\0path")));
    }
}
