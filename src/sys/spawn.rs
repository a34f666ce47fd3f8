//! Starts a short-lived program (git) in a session of its own with `posix_spawnp(3)`, which
//! glibc runs as `clone(CLONE_VM | CLONE_VFORK)`: the child shares porch's memory until it
//! execs, so nothing of porch is copied. `std::process::Command` can only start a new session
//! from a `pre_exec` closure, which makes it `fork(2)` instead: with 64 task threads, every
//! git call copied porch's page tables and then faulted them back in (a quarter of a 64-task
//! run's CPU, measured with `perf`; docs/performance.md).
//!
//! The child gets: the program found on porch's PATH (run by /bin/sh when it is a script
//! without a `#!` line, as execvp(3) runs one), the arguments, the environment given,
//! standard input from `/dev/null` or a pipe, standard output and error on pipes, an empty
//! signal mask, SIGPIPE at its default (Rust ignores it in porch; std does the same for the
//! children it starts), and a new session without a controlling terminal.

use std::ffi::{CString, OsStr, OsString};
use std::fs::File;
use std::io;
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;

/// Where the child's standard input comes from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Input {
    /// `/dev/null`.
    Null,
    /// A pipe porch writes to ([`Spawned::stdin`]).
    Piped,
}

/// A started child: its pid (wait for it with [`wait`]) and porch's ends of its pipes.
#[derive(Debug)]
pub struct Spawned {
    pub pid: libc::pid_t,
    pub stdin: Option<File>,
    pub stdout: File,
    pub stderr: File,
}

/// Starts `program` (looked up on PATH when it has no `/`) with `args` and exactly the
/// environment `env`, in a new session.
pub fn spawn_in_new_session(
    program: &OsStr,
    args: &[&OsStr],
    env: &[(OsString, OsString)],
    input: Input,
) -> io::Result<Spawned> {
    let program = c_string(program.as_bytes())?;
    let mut argv_owned = vec![program.clone()];
    for arg in args {
        argv_owned.push(c_string(arg.as_bytes())?);
    }
    let mut envp_owned = Vec::with_capacity(env.len());
    for (key, value) in env {
        let mut entry = key.as_bytes().to_vec();
        entry.push(b'=');
        entry.extend_from_slice(value.as_bytes());
        envp_owned.push(c_string(&entry)?);
    }
    let argv = null_terminated(&argv_owned);
    let envp = null_terminated(&envp_owned);

    let stdin_pipe = match input {
        Input::Piped => Some(pipe()?),
        Input::Null => None,
    };
    let (stdout_read, stdout_write) = pipe()?;
    let (stderr_read, stderr_write) = pipe()?;
    let dev_null = c"/dev/null";

    let mut actions = FileActions::new()?;
    match &stdin_pipe {
        Some((read, _)) => actions.dup2(read, 0)?,
        None => actions.open_read_only(dev_null, 0)?,
    }
    actions.dup2(&stdout_write, 1)?;
    actions.dup2(&stderr_write, 2)?;
    let attributes = Attributes::new_session()?;

    let mut pid = start(&program, &argv, &envp, &actions, &attributes);
    if pid == Err(libc::ENOEXEC)
        && let Some(script) = found_on_path(program.as_bytes())
    {
        // What execvp(3) and every shell do with a file the kernel will not run (a script
        // without a `#!` line): hand it to /bin/sh. glibc's posix_spawnp no longer does.
        let shell = c"/bin/sh".to_owned();
        let shell_argv: Vec<CString> = [shell.clone(), script]
            .into_iter()
            .chain(argv_owned.iter().skip(1).cloned())
            .collect();
        let shell_argv = null_terminated(&shell_argv);
        pid = start(&shell, &shell_argv, &envp, &actions, &attributes);
    }
    let pid = pid.map_err(io::Error::from_raw_os_error)?;
    // The child's ends close here, in porch: the child holds its own copies.
    drop((stdout_write, stderr_write));
    let stdin = stdin_pipe.map(|(read, write)| {
        drop(read);
        File::from(write)
    });
    Ok(Spawned {
        pid,
        stdin,
        stdout: File::from(stdout_read),
        stderr: File::from(stderr_read),
    })
}

/// Starts `program` (looked up on PATH when it has no `/`): its pid, or the error number.
fn start(
    program: &CString,
    argv: &[*mut libc::c_char],
    envp: &[*mut libc::c_char],
    actions: &FileActions,
    attributes: &Attributes,
) -> Result<libc::pid_t, libc::c_int> {
    let mut pid: libc::pid_t = 0;
    // SAFETY: every pointer is valid for the call: `program` is a CString, `argv` and `envp`
    // point into CStrings the caller owns and are NULL-terminated; `actions` and `attributes`
    // were initialised by their constructors and are destroyed only when dropped after the
    // call. glibc reports a failed exec as the return value (it waits for the vfork child),
    // never in the child.
    let rc = unsafe {
        libc::posix_spawnp(
            &mut pid,
            program.as_ptr(),
            &actions.0,
            &attributes.0,
            argv.as_ptr(),
            envp.as_ptr(),
        )
    };
    if rc == 0 { Ok(pid) } else { Err(rc) }
}

/// The file `program` names, as execvp(3) finds it: itself when it holds a `/`, else the
/// first executable file of that name on PATH (without PATH, glibc's default `/bin:/usr/bin`).
fn found_on_path(program: &[u8]) -> Option<CString> {
    if program.contains(&b'/') {
        return CString::new(program).ok();
    }
    let path = std::env::var_os("PATH").unwrap_or_else(|| "/bin:/usr/bin".into());
    let file = on_path(OsStr::from_bytes(program), Some(&path))?;
    CString::new(file.into_os_string().into_vec()).ok()
}

/// The first executable file named `name` in a directory of `path_var` (PATH's value), as the
/// system looks for a program; an empty entry is the current directory, so the file found may
/// be a relative path.
pub fn on_path(name: &OsStr, path_var: Option<&OsStr>) -> Option<std::path::PathBuf> {
    path_var
        .into_iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join(name))
        .find(|file| std::fs::metadata(file).is_ok_and(|meta| is_executable_file(&meta)))
}

/// A regular file someone may execute.
pub fn is_executable_file(meta: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::PermissionsExt;
    meta.is_file() && meta.permissions().mode() & 0o111 != 0
}

/// Waits for child `pid`, started by [`spawn_in_new_session`], to end, and reaps it.
pub fn wait(pid: libc::pid_t) -> io::Result<ExitStatus> {
    loop {
        let mut status = 0;
        // SAFETY: waitpid writes the status into a local we own; `pid` names one child of
        // porch's, never -1.
        let rc = unsafe { libc::waitpid(pid, &mut status, 0) };
        if rc == pid {
            return Ok(ExitStatus::from_raw(status));
        }
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::Interrupted {
            return Err(err);
        }
    }
}

fn c_string(bytes: &[u8]) -> io::Result<CString> {
    CString::new(bytes).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            "an argument or environment variable holds a NUL byte",
        )
    })
}

fn null_terminated(strings: &[CString]) -> Vec<*mut libc::c_char> {
    strings
        .iter()
        .map(|s| s.as_ptr().cast_mut())
        .chain(std::iter::once(std::ptr::null_mut()))
        .collect()
}

/// A pipe whose both ends close on exec: the child gets only the copies `dup2` makes.
fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: pipe2 writes two descriptors into the array we own.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: pipe2 succeeded, so both descriptors are open and owned by nobody else.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

struct FileActions(libc::posix_spawn_file_actions_t);

impl FileActions {
    fn new() -> io::Result<FileActions> {
        // SAFETY: a zeroed value is only storage; posix_spawn_file_actions_init initialises it.
        let mut actions: libc::posix_spawn_file_actions_t = unsafe { std::mem::zeroed() };
        // SAFETY: `actions` is valid storage for the call.
        check(unsafe { libc::posix_spawn_file_actions_init(&mut actions) })?;
        Ok(FileActions(actions))
    }

    /// The child's descriptor `target` becomes a copy of `fd` (porch's `fd` stays open in
    /// porch: the caller owns it). Rust opens 0, 1 and 2 before main, so a pipe is never one
    /// of them and `dup2` always makes a copy, which does not close on exec.
    fn dup2(&mut self, fd: &OwnedFd, target: libc::c_int) -> io::Result<()> {
        use std::os::fd::AsRawFd;
        // SAFETY: `self.0` was initialised; the descriptor is open for as long as the caller
        // holds `fd`, which is past the spawn.
        check(unsafe {
            libc::posix_spawn_file_actions_adddup2(&mut self.0, fd.as_raw_fd(), target)
        })
    }

    fn open_read_only(&mut self, path: &std::ffi::CStr, target: libc::c_int) -> io::Result<()> {
        // SAFETY: `self.0` was initialised; `path` is NUL-terminated and 'static here; glibc
        // copies it.
        check(unsafe {
            libc::posix_spawn_file_actions_addopen(
                &mut self.0,
                target,
                path.as_ptr(),
                libc::O_RDONLY,
                0,
            )
        })
    }
}

impl Drop for FileActions {
    fn drop(&mut self) {
        // SAFETY: initialised in `new`, destroyed once.
        unsafe {
            libc::posix_spawn_file_actions_destroy(&mut self.0);
        }
    }
}

struct Attributes(libc::posix_spawnattr_t);

impl Attributes {
    /// A new session, an empty signal mask, SIGPIPE at its default.
    fn new_session() -> io::Result<Attributes> {
        // SAFETY: a zeroed value is only storage; posix_spawnattr_init initialises it.
        let mut attributes: libc::posix_spawnattr_t = unsafe { std::mem::zeroed() };
        // SAFETY: `attributes` is valid storage for the call.
        check(unsafe { libc::posix_spawnattr_init(&mut attributes) })?;
        let mut attributes = Attributes(attributes);
        // SAFETY: sigemptyset/sigaddset write into locals we own; the setters copy the sets
        // into the initialised attributes.
        unsafe {
            let mut empty: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut empty);
            check(libc::posix_spawnattr_setsigmask(&mut attributes.0, &empty))?;
            let mut defaults: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut defaults);
            libc::sigaddset(&mut defaults, libc::SIGPIPE);
            check(libc::posix_spawnattr_setsigdefault(
                &mut attributes.0,
                &defaults,
            ))?;
            let flags = libc::POSIX_SPAWN_SETSID
                | libc::POSIX_SPAWN_SETSIGMASK as libc::c_short
                | libc::POSIX_SPAWN_SETSIGDEF as libc::c_short;
            check(libc::posix_spawnattr_setflags(&mut attributes.0, flags))?;
        }
        Ok(attributes)
    }
}

impl Drop for Attributes {
    fn drop(&mut self) {
        // SAFETY: initialised in `new_session`, destroyed once.
        unsafe {
            libc::posix_spawnattr_destroy(&mut self.0);
        }
    }
}

fn check(rc: libc::c_int) -> io::Result<()> {
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::from_raw_os_error(rc))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    fn env_now() -> Vec<(OsString, OsString)> {
        std::env::vars_os().collect()
    }

    fn run(program: &str, args: &[&str], input: Option<&[u8]>) -> (ExitStatus, String, String) {
        let args: Vec<&OsStr> = args.iter().map(OsStr::new).collect();
        let mode = if input.is_some() {
            Input::Piped
        } else {
            Input::Null
        };
        let mut child =
            spawn_in_new_session(OsStr::new(program), &args, &env_now(), mode).expect("spawns");
        if let (Some(mut stdin), Some(bytes)) = (child.stdin.take(), input) {
            stdin.write_all(bytes).unwrap();
        }
        let mut err = String::new();
        child.stderr.read_to_string(&mut err).unwrap();
        let mut out = String::new();
        child.stdout.read_to_string(&mut out).unwrap();
        (wait(child.pid).unwrap(), out, err)
    }

    #[test]
    fn the_child_reads_its_input_and_its_output_and_status_come_back() {
        let (status, out, err) = run(
            "sh",
            &["-c", "tr a-z A-Z; echo oops >&2; exit 3"],
            Some(b"hi"),
        );
        assert_eq!(status.code(), Some(3));
        assert_eq!(out, "HI");
        assert_eq!(err, "oops\n");
    }

    #[test]
    fn the_child_leads_a_new_session_with_null_input_and_no_terminal() {
        let (status, out, _) = run(
            "sh",
            &[
                "-c",
                "ps -o sid= -p $$; echo $$; cat; (exec 3</dev/tty) 2>/dev/null && echo tty || echo no-tty",
            ],
            None,
        );
        assert!(status.success());
        let lines: Vec<&str> = out.lines().map(str::trim).collect();
        assert_eq!(
            lines[0], lines[1],
            "session id is the child's own pid: {out}"
        );
        assert_eq!(lines[2], "no-tty", "{out}");
    }

    #[test]
    fn sigpipe_is_at_its_default_in_the_child() {
        let (status, out, _) = run("sh", &["-c", "grep SigIgn /proc/self/status"], None);
        assert!(status.success());
        let mask = u64::from_str_radix(out.split_whitespace().nth(1).unwrap(), 16).unwrap();
        assert_eq!(
            mask & (1 << (libc::SIGPIPE - 1)),
            0,
            "SIGPIPE ignored: {out}"
        );
    }

    #[test]
    fn a_program_not_on_path_is_not_found() {
        let err = spawn_in_new_session(
            OsStr::new("porch-no-such-program"),
            &[],
            &env_now(),
            Input::Null,
        )
        .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
    }

    #[test]
    fn a_script_without_a_shebang_line_runs_under_sh_with_its_arguments() {
        let tmp = tempfile::tempdir().unwrap();
        let script = tmp.path().join("plain");
        // Written by another process: a file this one held open for writing could be lent to
        // a child another test forks meanwhile, and running it would fail "Text file busy".
        let written = std::process::Command::new("sh")
            .args([
                "-c",
                r#"echo 'echo "$0:$1:$2"' > "$1" && chmod 755 "$1""#,
                "sh",
            ])
            .arg(&script)
            .status()
            .unwrap();
        assert!(written.success());
        let (status, out, _) = run(script.to_str().unwrap(), &["a b", "c"], None);
        assert!(status.success());
        assert_eq!(out, format!("{}:a b:c\n", script.display()));
    }

    #[test]
    fn the_environment_is_exactly_what_was_given() {
        let args = [OsStr::new("-c"), OsStr::new("env")];
        let env = [(OsString::from("ONLY"), OsString::from("this"))];
        let mut child =
            spawn_in_new_session(OsStr::new("/bin/sh"), &args, &env, Input::Null).expect("spawns");
        let mut out = String::new();
        child.stdout.read_to_string(&mut out).unwrap();
        assert!(wait(child.pid).unwrap().success());
        let vars: Vec<&str> = out
            .lines()
            .filter(|line| {
                !line.starts_with("PWD=") && !line.starts_with("SHLVL=") && !line.starts_with("_=")
            })
            .collect();
        assert_eq!(vars, ["ONLY=this"]);
    }
}
