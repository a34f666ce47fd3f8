//! One task, start to end, on its own thread: worktree, agent, outcome, commit, diff stats,
//! cleanup. Whatever happens, it returns a `TaskResult`; a task never ends the run.

use std::fs::File;
use std::io::{BufReader, BufWriter, Write};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crossbeam_channel::Sender;

use crate::agent::{self, ResultEvent, SessionLog, Tone};
use crate::git;
use crate::lines::read_capped_line;
use crate::preflight::{Plan, TaskPlan};
use crate::printer::{Line, Origin};
use crate::proc;
use crate::report::{Status, TaskResult};

/// Longest line kept from an agent. A result event larger than this is lost (and the task
/// reported as having none); anything else is cut in the log and on the terminal.
const LINE_LIMIT: usize = 16 * 1024 * 1024;
/// How long leftover processes get between SIGTERM and SIGKILL.
const LEFTOVER_GRACE: Duration = Duration::from_secs(2);
/// How long to wait for the output pipes to close once the agent and its leftovers are gone.
/// Only a process that escaped both the group and the marker can hold them longer.
const PIPE_DRAIN_DEADLINE: Duration = Duration::from_secs(5);

pub struct Context<'a> {
    pub plan: &'a Plan,
    pub printer: Sender<Line>,
    /// Unique to this porch process: part of every session marker.
    pub run_id: String,
}

pub fn result_template(plan: &TaskPlan, status: Status) -> TaskResult {
    TaskResult {
        name: plan.task.name.clone(),
        description: plan.task.description.clone(),
        status,
        branch: plan.branch.clone(),
        base_branch: plan.base_branch.clone(),
        base_commit: plan.base_commit.clone(),
        worktree: plan.worktree.display().to_string(),
        worktree_kept: false,
        log: None,
        exit_code: None,
        signal: None,
        duration_ms: 0,
        session_id: None,
        cost_usd: None,
        num_turns: None,
        result: None,
        error: None,
        permission_denials: 0,
        leftover_processes: 0,
        commits: 0,
        files_changed: 0,
        insertions: 0,
        deletions: 0,
        warnings: Vec::new(),
    }
}

struct Task<'a> {
    ctx: &'a Context<'a>,
    index: usize,
    plan: &'a TaskPlan,
}

impl Task<'_> {
    fn note(&self, tone: Tone, text: impl Into<String>) {
        let _ = self.ctx.printer.send(Line {
            task: self.index,
            origin: Origin::Porch,
            tone,
            text: text.into(),
        });
    }
}

pub fn run(ctx: &Context, index: usize) -> TaskResult {
    let plan = &ctx.plan.tasks[index];
    let task = Task { ctx, index, plan };
    let started = Instant::now();
    let mut result = result_template(plan, Status::Failed);
    run_inner(&task, &mut result);
    result.duration_ms = started.elapsed().as_millis() as u64;
    result
}

fn run_inner(task: &Task, result: &mut TaskResult) {
    let plan = task.plan;
    let repo = &task.ctx.plan.repo;
    if let Err(err) = repo.add_worktree(&plan.worktree, &plan.branch, &plan.base_commit) {
        result.error = Some(format!("could not create the worktree: {err}"));
        task.note(Tone::Bad, format!("could not create the worktree: {err}"));
        return;
    }
    result.worktree_kept = true;
    task.note(
        Tone::Dim,
        format!(
            "worktree {} on {} from {}",
            plan.worktree.display(),
            plan.branch,
            plan.base_branch
        ),
    );

    let session = match run_agent(task) {
        Ok(session) => session,
        Err(message) => {
            result.error = Some(message.clone());
            task.note(Tone::Bad, message);
            return;
        }
    };
    result.log = session.log_written.then(|| plan.log.display().to_string());
    result.leftover_processes = session.leftovers;
    if session.leftovers > 0 {
        let what = if session.leftovers == 1 {
            "process"
        } else {
            "processes"
        };
        task.note(
            Tone::Dim,
            format!(
                "ended {} {what} the session left running",
                session.leftovers
            ),
        );
    }
    judge(&session, result);

    keep_work(task, &session, result);

    if task.ctx.plan.cleanup && result.worktree_kept {
        remove_worktree(task, result);
    }
}

struct Session {
    status: ExitStatus,
    log: SessionLog,
    leftovers: usize,
    log_written: bool,
}

/// Starts claude in the worktree, streams its output to the printer and the log, and waits for
/// it. Returns once the agent has exited and what it left running has been ended.
fn run_agent(task: &Task) -> Result<Session, String> {
    let plan = task.plan;
    let ctx = task.ctx;
    let marker = format!("{}-{}", ctx.run_id, task.index);
    let mut command = agent::command(
        &ctx.plan.agent,
        &ctx.plan.permission_mode,
        &plan.task.allowed_tools,
        &plan.worktree,
        &marker,
    );
    command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    let mut child = command.spawn().map_err(|err| {
        format!(
            "could not start the agent {}: {err}",
            ctx.plan.agent.display()
        )
    })?;
    let pgid = child.id();

    let log_file = open_log(&plan.log);
    let log_written = log_file.is_some();
    let log_file = Arc::new(Mutex::new(log_file));
    let session_log = Arc::new(Mutex::new(SessionLog::default()));
    let (done_tx, done_rx) = crossbeam_channel::bounded::<()>(2);

    let stdin = child.stdin.take().expect("stdin was piped");
    let prompt = plan.task.prompt.clone();
    // A writer thread, because a prompt larger than the pipe buffer would block until the agent
    // reads it. An agent that exits without reading gets EPIPE, which is not porch's error.
    std::thread::spawn(move || {
        let mut stdin = stdin;
        let _ = stdin.write_all(prompt.as_bytes());
    });

    let stdout = child.stdout.take().expect("stdout was piped");
    let stderr = child.stderr.take().expect("stderr was piped");
    let readers = [
        spawn_reader(
            task,
            stdout,
            Origin::Agent,
            Arc::clone(&log_file),
            Arc::clone(&session_log),
            done_tx.clone(),
        ),
        spawn_reader(
            task,
            stderr,
            Origin::Stderr,
            Arc::clone(&log_file),
            Arc::clone(&session_log),
            done_tx,
        ),
    ];

    let status = child
        .wait()
        .map_err(|err| format!("could not wait for the agent: {err}"))?;
    // What the agent left running holds its pipes open; end it before waiting for them.
    let leftovers = proc::end_leftovers(pgid, &marker, LEFTOVER_GRACE);

    let deadline = Instant::now() + PIPE_DRAIN_DEADLINE;
    let mut open = readers.len();
    while open > 0 && done_rx.recv_deadline(deadline).is_ok() {
        open -= 1;
    }
    if open > 0 {
        task.note(
            Tone::Bad,
            "a process outside the session still holds its output open; porch stopped reading it",
        );
    } else {
        for reader in readers {
            let _ = reader.join();
        }
    }
    if let Some(file) = log_file.lock().unwrap_or_else(|p| p.into_inner()).as_mut() {
        let _ = file.flush();
    }
    let log = session_log
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    Ok(Session {
        status,
        log,
        leftovers,
        log_written,
    })
}

fn open_log(path: &Path) -> Option<BufWriter<File>> {
    let dir = path.parent()?;
    std::fs::create_dir_all(dir).ok()?;
    File::create(path).ok().map(BufWriter::new)
}

fn spawn_reader(
    task: &Task,
    pipe: impl std::io::Read + Send + 'static,
    origin: Origin,
    log_file: Arc<Mutex<Option<BufWriter<File>>>>,
    session_log: Arc<Mutex<SessionLog>>,
    done: Sender<()>,
) -> std::thread::JoinHandle<()> {
    let printer = task.ctx.printer.clone();
    let index = task.index;
    let worktree = task.plan.worktree.clone();
    std::thread::spawn(move || {
        let mut reader = BufReader::with_capacity(64 * 1024, pipe);
        let mut raw = Vec::new();
        while let Ok(Some(dropped)) = read_capped_line(&mut reader, &mut raw, LINE_LIMIT) {
            if let Some(file) = log_file.lock().unwrap_or_else(|p| p.into_inner()).as_mut() {
                let _ = match origin {
                    Origin::Stderr => file.write_all(b"[stderr] "),
                    _ => Ok(()),
                };
                let _ = file.write_all(&raw);
                if dropped > 0 {
                    let _ = write!(file, " [porch: {dropped} more bytes dropped]");
                }
                let _ = file.write_all(b"\n");
            }
            let text = String::from_utf8_lossy(&raw);
            let rendered = match origin {
                Origin::Agent => {
                    let mut log = session_log.lock().unwrap_or_else(|p| p.into_inner());
                    agent::observe_line(&mut log, &text, &worktree)
                }
                _ => vec![agent::Rendered {
                    tone: Tone::Plain,
                    text: text.into_owned(),
                }],
            };
            for line in rendered {
                let text = if dropped > 0 {
                    format!("{} … ({dropped} more bytes)", line.text)
                } else {
                    line.text
                };
                if printer
                    .send(Line {
                        task: index,
                        origin,
                        tone: line.tone,
                        text,
                    })
                    .is_err()
                {
                    break;
                }
            }
        }
        let _ = done.send(());
    })
}

/// Succeeded only when claude exited 0 and its result event says `is_error: false`.
fn judge(session: &Session, result: &mut TaskResult) {
    result.exit_code = session.status.code();
    result.signal = session.status.signal();
    result.session_id = session.log.session_id.clone();
    let exit = describe_exit(session.status);
    match &session.log.result {
        Some(event) => {
            record_result(event, result);
            if session.status.success() && !event.is_error {
                result.status = Status::Succeeded;
            } else if event.is_error {
                let why = event.error_text().unwrap_or_else(|| {
                    format!(
                        "claude reported an error ({})",
                        event.subtype.as_deref().unwrap_or("no detail")
                    )
                });
                result.error = Some(format!("{why} ({exit})"));
            } else {
                result.error = Some(format!("claude {exit} after reporting success"));
            }
        }
        None => {
            result.error = Some(format!(
                "no result event: claude {exit} without reporting an outcome"
            ));
        }
    }
}

fn record_result(event: &ResultEvent, result: &mut TaskResult) {
    result.cost_usd = event.total_cost_usd;
    result.num_turns = event.num_turns;
    result.result = event.result.clone();
    result.permission_denials = event.permission_denials;
}

fn describe_exit(status: ExitStatus) -> String {
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exited with code {code}"),
        (None, Some(signal)) => format!("was killed by {}", proc::describe_signal(signal)),
        _ => "ended".to_string(),
    }
}

/// Commits what the worktree holds on the task branch, then records what the branch holds
/// against its base. The work of a failed session is kept too: it may be most of the job.
fn keep_work(task: &Task, session: &Session, result: &mut TaskResult) {
    let plan = task.plan;
    let message = commit_message(plan, session, result.status);
    match git::commit_all(&plan.worktree, &message) {
        Ok(_) => {}
        Err(err) => {
            let text = format!(
                "could not commit the work: {err}; it is still in {}",
                plan.worktree.display()
            );
            task.note(Tone::Bad, text.clone());
            result.status = Status::Failed;
            result.error = Some(match result.error.take() {
                Some(earlier) => format!("{earlier}; {text}"),
                None => text,
            });
        }
    }
    match git::diff_stats(&plan.worktree, &plan.base_commit, &plan.branch) {
        Ok(stats) => {
            result.commits = stats.commits;
            result.files_changed = stats.files_changed;
            result.insertions = stats.insertions;
            result.deletions = stats.deletions;
        }
        Err(err) => result
            .warnings
            .push(format!("could not read the branch's diff stats: {err}")),
    }
    if result.files_changed > 0 {
        task.note(
            Tone::Dim,
            format!(
                "{} holds {} commit{}: {} file{} changed, +{} -{}",
                plan.branch,
                result.commits,
                if result.commits == 1 { "" } else { "s" },
                result.files_changed,
                if result.files_changed == 1 { "" } else { "s" },
                result.insertions,
                result.deletions
            ),
        );
    } else {
        task.note(Tone::Dim, format!("{} holds no changes", plan.branch));
    }
    if result.permission_denials > 0 {
        let denied = result.permission_denials;
        let calls = if denied == 1 {
            "tool call"
        } else {
            "tool calls"
        };
        let warning = if result.files_changed == 0 {
            format!(
                "the session changed nothing and claude denied {denied} {calls} in permission mode {}: \
                 rerun with --permission-mode acceptEdits, or list the tools in the task's allowed_tools",
                task.ctx.plan.permission_mode
            )
        } else {
            format!(
                "claude denied {denied} {calls} in permission mode {}",
                task.ctx.plan.permission_mode
            )
        };
        task.note(Tone::Bad, warning.clone());
        result.warnings.push(warning);
    }
}

fn commit_message(plan: &TaskPlan, session: &Session, status: Status) -> String {
    let title = plan
        .task
        .description
        .as_deref()
        .or_else(|| plan.task.prompt.lines().find(|l| !l.trim().is_empty()))
        .unwrap_or_default()
        .trim();
    let title: String = title.chars().take(72).collect();
    let status = match status {
        Status::Succeeded => "succeeded",
        _ => "failed",
    };
    format!(
        "{}: {title}\n\nWork of the claude session that porch ran for task {:?}.\n\nPorch-Task: {}\nPorch-Session: {}\nPorch-Status: {status}\n",
        plan.task.name,
        plan.task.name,
        plan.task.name,
        session.log.session_id.as_deref().unwrap_or("unknown"),
    )
}

fn remove_worktree(task: &Task, result: &mut TaskResult) {
    let worktree = &task.plan.worktree;
    match git::is_dirty(worktree) {
        Ok(false) => match task.ctx.plan.repo.remove_worktree(worktree) {
            Ok(()) => {
                result.worktree_kept = false;
                task.note(
                    Tone::Dim,
                    format!("removed the worktree; the work is on {}", task.plan.branch),
                );
            }
            Err(err) => result.warnings.push(format!("kept the worktree: {err}")),
        },
        Ok(true) => result
            .warnings
            .push("kept the worktree: it still holds uncommitted changes".to_string()),
        Err(err) => result.warnings.push(format!("kept the worktree: {err}")),
    }
}
