//! Children that die with porch, started without forking porch: porch starts itself
//! (`/proc/self/exe`, which std spawns with `posix_spawn`), and that copy asks the kernel for
//! SIGKILL on its parent's death and `exec`s the program in its place, keeping the pid.
//!
//! `fork(2)` of porch copies the page tables of its task threads and their reader threads: at
//! 64 tasks, forking for the agents took a tenth of a run's CPU, as much as porch's whole
//! overhead over a shell script (docs/performance.md). A start of porch costs about a
//! millisecond. `PR_SET_PDEATHSIG` survives `exec`, so the program is watched as before.

use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;
use std::process::ExitCode;

use crate::sys::spawn::is_executable_file;
use crate::sys::spawn::on_path;

/// The first argument that makes porch this shim rather than the CLI: no command is named so.
const SHIM: &str = "__porch-exec-child";
/// The running executable as the kernel knows it, even if its file was replaced since.
const SELF_EXE: &str = "/proc/self/exe";

/// `command` made to start through the shim: the same program, arguments, environment changes
/// and directory. `None` where `/proc` is not mounted (or in a unit test): the caller forks as
/// before.
pub fn through_shim(command: &Command) -> Option<Command> {
    // A unit test's own executable is the test harness, not porch: it would not be the shim.
    if cfg!(test) || !Path::new(SELF_EXE).exists() {
        return None;
    }
    let mut shim = Command::new(SELF_EXE);
    shim.arg(SHIM)
        .arg(std::process::id().to_string())
        .arg("--")
        .arg(command.get_program())
        .args(command.get_args());
    for (name, value) in command.get_envs() {
        match value {
            Some(value) => shim.env(name, value),
            None => shim.env_remove(name),
        };
    }
    if let Some(dir) = command.get_current_dir() {
        shim.current_dir(dir);
    }
    Some(shim)
}

/// For a shim `command`: the error std's spawn would give for its program (missing, or not a
/// file anyone may execute), found before the spawn, where the shim could only say it after.
pub fn check_program(command: &Command) -> std::io::Result<()> {
    let Some(program) = program_of(command) else {
        return Ok(());
    };
    let missing = || std::io::Error::from(std::io::ErrorKind::NotFound);
    let file = if program.as_bytes().contains(&b'/') {
        let dir = command.get_current_dir().unwrap_or(Path::new("."));
        dir.join(&program)
    } else {
        let path = (command.get_envs())
            .find(|(name, _)| *name == "PATH")
            .map_or_else(
                || std::env::var_os("PATH"),
                |(_, value)| value.map(OsString::from),
            );
        on_path(&program, path.as_deref()).ok_or_else(missing)?
    };
    let meta = std::fs::metadata(&file)?;
    if is_executable_file(&meta) {
        Ok(())
    } else {
        Err(std::io::Error::from(std::io::ErrorKind::PermissionDenied))
    }
}

/// The program a shim `command` will start.
fn program_of(command: &Command) -> Option<OsString> {
    let mut args = command.get_args();
    (command.get_program() == SELF_EXE && args.next()? == SHIM).then_some(())?;
    args.nth(2).map(|p| p.to_os_string())
}

/// Run first in `main`: when porch was started as the shim, becomes the program (and returns
/// only if it could not), else returns `None` at once.
pub fn run_if_shim() -> Option<ExitCode> {
    let mut args = std::env::args_os().skip(1);
    if args.next()? != SHIM {
        return None;
    }
    let parent: libc::pid_t = args.next()?.to_str()?.parse().ok()?;
    args.next(); // "--"
    let program = args.next()?;
    if !crate::sys::die_with_parent_now(parent) {
        // porch ended before this could watch it: the program must not run unwatched.
        return Some(ExitCode::from(126));
    }
    let err = Command::new(&program).args(args).exec();
    let code = if err.kind() == std::io::ErrorKind::NotFound {
        127
    } else {
        126
    };
    eprintln!(
        "porch: could not start {}: {err}",
        program.to_string_lossy()
    );
    Some(ExitCode::from(code))
}
