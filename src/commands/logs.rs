//! `porch logs`: a task's log rendered as it was on screen, or byte for byte (`--raw`), and
//! followed while the run goes on (`--follow`).

use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use crossbeam_channel::Sender;

use crate::agent;
use crate::agent::SessionLog;
use crate::agent::log::split_origin;
use crate::error::Error;
use crate::error::IoContext;
use crate::output::printer;
use crate::output::printer::Line;
use crate::output::printer::Look;
use crate::output::printer::Message;
use crate::output::printer::Origin;
use crate::output::printer::Show;
use crate::preflight::branch_template;
use crate::preflight::options::LogsArgs;
use crate::results::Status;
use crate::state::runs;
use crate::state::runs::StoredRun;
use crate::state::runs::StoredTask;

pub fn logs(args: &LogsArgs) -> Result<ExitCode, Error> {
    let (location, run) = args.choice.load()?;
    let task = run.task(&args.task)?.clone();
    // While a task runs, its results entry has no `log` yet: the log is where porch puts it.
    let path = task.log.as_ref().map(PathBuf::from).unwrap_or_else(|| {
        let slot = branch_template::slot(&task.branch);
        location
            .state
            .log(if slot.is_empty() { &task.name } else { slot })
    });
    let mut sink = Sink::new(&task, args.raw)?;
    if args.follow {
        follow(&run, &task.name, &path, &mut sink)?;
    } else {
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                return Err(no_log(&run, &task, &path));
            }
            Err(err) => return Err(err).context("read", &path),
        };
        sink.write(&bytes);
        sink.finish_partial();
    }
    sink.close();
    Ok(ExitCode::SUCCESS)
}

fn no_log(run: &StoredRun, task: &StoredTask, path: &Path) -> Error {
    let why = match task.status {
        Status::Pending | Status::Skipped => "its session never started".to_string(),
        Status::Running => "its session has not started writing yet".to_string(),
        _ => format!("{} does not exist (removed?)", path.display()),
    };
    Error::setup(
        format!("task `{}` of run {} has no log: {why}", task.name, run.id),
        "`porch status` shows each task's status; --follow waits for a running one",
    )
}

/// Where the log's bytes go: stdout as they are (`--raw`), or rendered, line by line, through
/// the same printer a run uses, so the lines look as they did then.
struct Sink {
    raw: bool,
    worktree: PathBuf,
    session: SessionLog,
    /// The bytes after the last newline, waiting for the rest of their line.
    partial: Vec<u8>,
    printer: Option<(Sender<Message>, printer::PrinterThread)>,
}

impl Sink {
    fn new(task: &StoredTask, raw: bool) -> Result<Sink, Error> {
        let printer = if raw {
            None
        } else {
            let spawned = printer::spawn(Look {
                names: vec![task.name.clone()],
                color: false,
                show: Show::Stream { status_line: false },
            })
            .map_err(|err| {
                Error::setup(
                    format!("the system refused a thread for the printer: {err}"),
                    "too many threads or processes may be running (see ulimit -u)",
                )
            })?;
            Some(spawned)
        };
        Ok(Sink {
            raw,
            worktree: PathBuf::from(&task.worktree),
            session: SessionLog::default(),
            partial: Vec::new(),
            printer,
        })
    }

    fn write(&mut self, bytes: &[u8]) {
        if self.raw {
            let mut out = std::io::stdout().lock();
            let _ = out.write_all(bytes).and_then(|()| out.flush());
            return;
        }
        self.partial.extend_from_slice(bytes);
        let Some(end) = self.partial.iter().rposition(|&b| b == b'\n') else {
            return;
        };
        let complete: Vec<u8> = self.partial.drain(..=end).collect();
        for line in complete[..end].split(|&b| b == b'\n') {
            self.render(line);
        }
    }

    /// A last line without its newline: a session cut off mid-line.
    fn finish_partial(&mut self) {
        if !self.raw && !self.partial.is_empty() {
            let line = std::mem::take(&mut self.partial);
            self.render(&line);
        }
    }

    fn render(&mut self, line: &[u8]) {
        let Some((sender, _)) = &self.printer else {
            return;
        };
        let text = String::from_utf8_lossy(line);
        let (origin, text) = split_origin(&text);
        let rendered = match origin {
            Origin::Agent => agent::observe_line(&mut self.session, text, &self.worktree),
            _ => vec![agent::Rendered::new(printer::Tone::Plain, text)],
        };
        for line in rendered {
            let _ = sender.send(Message::Line(Line {
                task: 0,
                origin,
                tone: line.tone,
                text: line.text,
            }));
        }
    }

    fn close(self) {
        if let Some((sender, thread)) = self.printer {
            drop(sender);
            thread.finish();
        }
    }
}

/// How often `--follow` looks for new output and at the task's status.
const FOLLOW_POLL: Duration = Duration::from_millis(200);

/// Prints the log as it grows, until the results say the task is done (then prints the rest)
/// or the porch that ran it is gone.
fn follow(run: &StoredRun, task: &str, path: &Path, sink: &mut Sink) -> Result<(), Error> {
    let mut offset = 0u64;
    let porch_pid = runs::run_pid(&run.id);
    loop {
        // Read before the log, so that what the log holds is at least what the status says.
        let status = runs::read_run(&run.path)
            .ok()
            .and_then(|r| r.results.tasks.into_iter().find(|t| t.name == task))
            .map(|t| t.status);
        let waiting = status == Some(Status::Pending);
        if !waiting {
            offset = read_from(path, offset, sink)?;
        }
        match status {
            Some(Status::Pending | Status::Running) => {}
            _ => break,
        }
        if let Some(pid) = porch_pid
            && !Path::new(&format!("/proc/{pid}")).exists()
        {
            read_from(path, offset, sink)?;
            sink.finish_partial();
            crate::sys::console::print_stderr(&format!(
                "porch: the porch that ran {} (pid {pid}) is gone; the task was not finished\n",
                run.id
            ));
            return Ok(());
        }
        std::thread::sleep(FOLLOW_POLL);
    }
    sink.finish_partial();
    Ok(())
}

/// Prints what the log holds past `offset`; returns the new offset. A log that shrank was
/// started again (a new first attempt): it is read from its start.
fn read_from(path: &Path, offset: u64, sink: &mut Sink) -> Result<u64, Error> {
    let mut file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(offset),
        Err(err) => return Err(err).context("read", path),
    };
    let len = file.metadata().context("read", path)?.len();
    let start = if len < offset { 0 } else { offset };
    file.seek(SeekFrom::Start(start)).context("read", path)?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes).context("read", path)?;
    sink.write(&bytes);
    Ok(start + bytes.len() as u64)
}
