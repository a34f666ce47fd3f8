//! The one thread that writes porch's stream on stdout: sessions' lines, each whole and prefixed
//! with its task's name, so twenty sessions talking at once stay readable; the status line or
//! the start and end of each task; or, for `--events`, all of it as JSON Lines.

use std::io::{self, Write};
use std::os::fd::AsRawFd;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crossbeam_channel::{Receiver, SendTimeoutError, Sender, TrySendError};

use crate::output::events;
use crate::output::events::Event;
use crate::output::events::Stream;
use crate::output::events::ToolCall;
use crate::output::status_line::Board;
use crate::results::Status;
use crate::sys;
use crate::util::duration;
use crate::util::timestamp;

/// How a rendered line should look.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tone {
    Plain,
    /// porch's own notes and tool calls: secondary.
    Dim,
    Good,
    Bad,
}

/// How many lines may wait for the printer. Past this, a session's line is not shown (`offer`):
/// sessions never wait for the terminal, and porch's memory does not grow.
pub const CHANNEL_CAPACITY: usize = 4096;
/// Longest line shown on the terminal; the task's log keeps the whole of it.
pub const DISPLAY_LIMIT: usize = 4096;
const PREFIX_WIDTH_LIMIT: usize = 24;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// A line the agent printed on stdout, rendered.
    Agent,
    /// A line the agent printed on stderr, as it was.
    Stderr,
    /// porch's own note about the task.
    Porch,
    /// A line a command porch ran for the task (`setup`) printed, labelled with its name.
    Step(&'static str),
}

/// A line an `--on-task-finish` hook printed.
pub const HOOK: Origin = Origin::Step("hook");

#[derive(Debug)]
pub struct Line {
    pub task: usize,
    pub origin: Origin,
    pub tone: Tone,
    pub text: String,
}

/// What the printer's channel carries: everything that reaches stdout during a run goes
/// through it, so that it arrives in the order it happened.
#[derive(Debug)]
pub enum Message {
    Line(Line),
    /// A tool call the agent made: its line on the terminal, a `tool_call` event for
    /// `--events`.
    ToolCall(Line, ToolCall),
    Event(Event),
    /// Write and flush everything queued before this, erase the status line for good, then
    /// say so: what porch writes next on stdout itself (the results, with `-o /dev/stdout`)
    /// must come after the stream.
    Drain(Sender<()>),
}

impl From<Line> for Message {
    fn from(line: Line) -> Message {
        Message::Line(line)
    }
}

/// What the printer writes on stdout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Show {
    /// The sessions' lines, prefixed. Under them the live status line when `status_line`
    /// (a terminal that allows escapes), else a plain line when each task starts and ends.
    Stream { status_line: bool },
    /// Nothing on stdout (`--quiet`, `--json`); porch's notes that say something went wrong
    /// go to stderr.
    Quiet,
    /// `--events`: every line and event as one JSON object a line.
    Events,
}

/// How the printer writes: the tasks' names, colour, and what it shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Look {
    pub names: Vec<String>,
    pub color: bool,
    pub show: Show,
}

/// The running printer thread. It ends on `finish`, not when every sender is gone: a reader
/// thread that porch gave up on (a pipe held open by a process porch could not end) keeps its
/// sender, and must not keep porch from exiting.
pub struct PrinterThread {
    stop: Sender<()>,
    finished: crossbeam_channel::Receiver<()>,
    thread: JoinHandle<()>,
}

/// How long `finish` waits for the printer to write what is queued. A stdout nobody reads
/// must not keep porch from writing its results and exiting.
const FINISH_DEADLINE: std::time::Duration = std::time::Duration::from_secs(10);

impl PrinterThread {
    /// Prints what is queued, then ends the thread. False when the printer is stuck in a
    /// write that nobody reads: stdout then stays locked by it, and porch must not print more.
    pub fn finish(self) -> bool {
        let _ = self.stop.send(());
        if self.finished.recv_timeout(FINISH_DEADLINE).is_err() {
            return false;
        }
        let _ = self.thread.join();
        true
    }
}

/// How long porch's own note may wait for room in the printer's queue. Past it the note is
/// dropped: when nobody reads stdout (a pager left open, Ctrl-S), timeouts, signals and commits
/// must go on.
const NOTE_WAIT: std::time::Duration = std::time::Duration::from_secs(1);

/// Queues porch's own note about a task.
pub fn note(printer: &Sender<Message>, task: usize, tone: Tone, text: String) {
    let line = Line {
        task,
        origin: Origin::Porch,
        tone,
        text,
    };
    send_waiting(printer, Message::Line(line));
}

/// Queues a line that must not be dropped, waiting for room as a note does.
pub fn send(printer: &Sender<Message>, line: Line) {
    send_waiting(printer, Message::Line(line));
}

/// Queues an event of the run, waiting for room as a note does.
pub fn event(printer: &Sender<Message>, event: Event) {
    send_waiting(printer, Message::Event(event));
}

fn send_waiting(printer: &Sender<Message>, message: Message) {
    if let Err(SendTimeoutError::Timeout(message)) = printer.send_timeout(message, NOTE_WAIT) {
        count_not_shown(&message);
    }
}

/// Waits until the printer has written everything queued so far (`Message::Drain`). False
/// when it did not within `FINISH_DEADLINE`: stdout is stuck, or the printer is gone.
pub fn drain(printer: &Sender<Message>) -> bool {
    let (done, drained) = crossbeam_channel::bounded(1);
    printer
        .send_timeout(Message::Drain(done), FINISH_DEADLINE)
        .is_ok()
        && drained.recv_timeout(FINISH_DEADLINE).is_ok()
}

/// stdout refused a write (closed, full): what the printer wrote after that is lost.
static STDOUT_FAILED: AtomicBool = AtomicBool::new(false);

/// Whether stdout refused one of the printer's writes.
pub fn stdout_failed() -> bool {
    STDOUT_FAILED.load(Ordering::Relaxed)
}

/// Lines not shown because the terminal fell behind, since porch started.
static DROPPED_LINES: AtomicU64 = AtomicU64::new(0);

/// Queues a line of a session's output if the printer has room, and otherwise counts it as not
/// shown: a stdout nobody reads (a pager left open, a full pipe) must never hold up a session.
/// The task's log, written by the reader before this, has every line. False once the printer is
/// gone.
pub fn offer(printer: &Sender<Message>, line: impl Into<Message>) -> bool {
    match printer.try_send(line.into()) {
        Ok(()) => true,
        Err(TrySendError::Full(line)) => {
            count_not_shown(&line);
            true
        }
        Err(TrySendError::Disconnected(_)) => false,
    }
}

/// A message the printer had no room for: counted in the run's total, and in its task's.
fn count_not_shown(message: &Message) {
    DROPPED_LINES.fetch_add(1, Ordering::Relaxed);
    if let Message::Line(line) | Message::ToolCall(line, _) = message {
        count_dropped(line.task);
    }
}

/// How many lines of session output the terminal did not get (see `offer`).
pub fn dropped_lines() -> u64 {
    DROPPED_LINES.load(Ordering::Relaxed)
}

/// The lines not shown, by task index: the task's `dropped_lines` in the results.
static DROPPED_BY_TASK: Mutex<Vec<u64>> = Mutex::new(Vec::new());

fn count_dropped(task: usize) {
    let mut counts = DROPPED_BY_TASK.lock().unwrap_or_else(|p| p.into_inner());
    if counts.len() <= task {
        counts.resize(task + 1, 0);
    }
    counts[task] += 1;
}

/// How many lines of task `task`'s output the terminal did not get.
pub fn dropped_lines_of(task: usize) -> u64 {
    let counts = DROPPED_BY_TASK.lock().unwrap_or_else(|p| p.into_inner());
    counts.get(task).copied().unwrap_or(0)
}

/// The note the printer writes once it can write again after lines were dropped.
fn dropped_note(count: u64) -> String {
    format!(
        "{count} line(s) of output not shown: the terminal fell behind (every task's log has them)"
    )
}

/// Starts the printer thread; an error when the system refuses a thread.
pub fn spawn(look: Look) -> io::Result<(Sender<Message>, PrinterThread)> {
    let (sender, receiver) = crossbeam_channel::bounded(CHANNEL_CAPACITY);
    let (stop, stopped) = crossbeam_channel::bounded(1);
    let (finished_tx, finished) = crossbeam_channel::bounded(1);
    let printer = Printer::new(look, stdout_columns);
    let handle = std::thread::Builder::new()
        .name("printer".into())
        // stdout is line-buffered: without a buffer of our own, every line would be a write(2).
        .spawn(move || {
            // Not locked for the thread's life: the results may go to porch's own stdout
            // (`-o /dev/stdout`) while the printer still runs (see `drain`).
            let out = io::BufWriter::with_capacity(64 * 1024, io::stdout());
            printer.run(receiver, stopped, &DROPPED_LINES, out, io::stderr());
            let _ = finished_tx.send(());
        })?;
    let thread = PrinterThread {
        stop,
        finished,
        thread: handle,
    };
    Ok((sender, thread))
}

/// The terminal's width, asked at every redraw: the window may have been resized.
fn stdout_columns() -> usize {
    sys::terminal_columns(io::stdout().as_raw_fd()).unwrap_or(80)
}

/// How often the status line is redrawn when nothing else is printed: its elapsed time counts
/// whole seconds.
const REDRAW: Duration = Duration::from_secs(1);

/// Moves to the start of the line and erases it: where the status line was.
const ERASE_LINE: &str = "\r\x1b[2K";

/// What erases the status line, drawn `drawn` columns wide, on a terminal now `columns` wide.
/// Drawn one column short of the width it had, it fits one row; but a terminal that shrank
/// since has wrapped it onto more rows (terminals reflow their lines on a resize), with the
/// cursor on the last: erasing that row alone would leave the others in the scrollback. So
/// the cursor goes up to its first row, and everything from there down is erased.
fn erase_status_line(drawn: usize, columns: usize) -> String {
    match drawn.div_ceil(columns.max(1)) {
        0 | 1 => ERASE_LINE.to_string(),
        rows => format!("\r\x1b[{}A\x1b[J", rows - 1),
    }
}

struct Printer {
    names: Vec<String>,
    prefixes: Vec<String>,
    color: bool,
    show: Show,
    /// The tasks' states, kept for the status line: only with one.
    board: Option<Board>,
    started: Instant,
    columns: fn() -> usize,
    /// How often the status line is drawn again when nothing else is printed.
    redraw_every: Duration,
    /// The time since `started`, as the status line shows it.
    elapsed: fn(Instant) -> Duration,
    /// `run_finished` was written: nothing may follow it in `--events`.
    finished: bool,
}

const PALETTE: [&str; 6] = ["36", "33", "35", "32", "34", "31"];

/// Where the printer writes, and what it has written.
struct Sink<'a, O: Write, E: Write> {
    out: O,
    err: E,
    /// stdout failed: nobody reads it any more.
    broken: bool,
    buffer: String,
    dropped: &'a AtomicU64,
    /// How many dropped lines the printer has told of.
    told: u64,
    /// The status line is on the screen, under the last line: how many columns it took.
    status_shown: Option<usize>,
    /// The terminal's width now, asked when the status line is erased.
    columns: fn() -> usize,
}

impl<O: Write, E: Write> Sink<'_, O, E> {
    /// Writes the buffer to stdout, and empties it.
    fn write(&mut self) {
        if !self.broken && !self.buffer.is_empty() {
            self.broken = self.out.write_all(self.buffer.as_bytes()).is_err();
            STDOUT_FAILED.fetch_or(self.broken, Ordering::Relaxed);
        }
        self.buffer.clear();
    }

    fn flush(&mut self) {
        if !self.broken {
            self.broken = self.out.flush().is_err();
            STDOUT_FAILED.fetch_or(self.broken, Ordering::Relaxed);
        }
    }

    /// Lines dropped since the printer last said so, not yet told.
    fn untold_drops(&mut self) -> Option<u64> {
        let now = self.dropped.load(Ordering::Relaxed);
        let untold = now.saturating_sub(self.told);
        self.told = now;
        (untold > 0).then_some(untold)
    }

    fn erase_status(&mut self) {
        if let Some(drawn) = self.status_shown.take() {
            self.buffer
                .push_str(&erase_status_line(drawn, (self.columns)()));
        }
    }
}

impl Printer {
    fn new(look: Look, columns: fn() -> usize) -> Printer {
        let Look { names, color, show } = look;
        let width = names
            .iter()
            .map(|n| n.chars().count())
            .max()
            .unwrap_or(0)
            .min(PREFIX_WIDTH_LIMIT);
        let prefixes = names
            .iter()
            .enumerate()
            .map(|(i, name)| {
                let padded = format!("{name:<width$}");
                if color {
                    format!(
                        "\x1b[{}m{padded}\x1b[0m \x1b[2m│\x1b[0m ",
                        PALETTE[i % PALETTE.len()]
                    )
                } else {
                    format!("{padded} │ ")
                }
            })
            .collect();
        let board = (show == Show::Stream { status_line: true }).then(|| Board::new(names.len()));
        Printer {
            names,
            prefixes,
            color,
            show,
            board,
            started: Instant::now(),
            columns,
            redraw_every: REDRAW,
            elapsed: |started| started.elapsed(),
            finished: false,
        }
    }

    /// Writes what arrives until stopped, then what is still queued. Before each line, if lines
    /// were dropped (`dropped` grew) since it last said so, a note saying how many: it shows
    /// where the gap is, once the terminal takes output again.
    fn run(
        mut self,
        receiver: Receiver<Message>,
        stop: Receiver<()>,
        dropped: &AtomicU64,
        out: impl Write,
        err: impl Write,
    ) {
        let mut sink = Sink {
            out,
            err,
            broken: false,
            buffer: String::new(),
            dropped,
            told: 0,
            status_shown: None,
            columns: self.columns,
        };
        let redraw = match self.board {
            Some(_) => crossbeam_channel::tick(self.redraw_every),
            None => crossbeam_channel::never(),
        };
        loop {
            crossbeam_channel::select! {
                recv(receiver) -> message => match message {
                    Ok(message) => {
                        self.handle(message, &mut sink);
                        if receiver.is_empty() {
                            self.settle(&mut sink);
                        }
                    }
                    Err(_) => break,
                },
                recv(stop) -> _ => {
                    for message in receiver.try_iter() {
                        self.handle(message, &mut sink);
                    }
                    break;
                }
                recv(redraw) -> _ => self.settle(&mut sink),
            }
        }
        self.close(&mut sink);
    }

    /// Nothing more waits: the status line is drawn again under the lines, and all of it
    /// goes out.
    fn settle<O: Write, E: Write>(&self, sink: &mut Sink<O, E>) {
        if let Some(board) = &self.board {
            sink.erase_status();
            let line = board.render(
                (self.elapsed)(self.started),
                Instant::now(),
                (self.columns)(),
            );
            sink.status_shown = Some(line.chars().count());
            if self.color {
                sink.buffer.push_str(&format!("\x1b[2m{line}\x1b[0m"));
            } else {
                sink.buffer.push_str(&line);
            }
            sink.write();
        }
        sink.flush();
    }

    /// The end: a last note about dropped lines, and the status line erased, so that what
    /// porch prints next (the summary) starts on a clean line.
    fn close<O: Write, E: Write>(&self, sink: &mut Sink<O, E>) {
        if let Show::Stream { .. } = self.show
            && let Some(count) = sink.untold_drops()
        {
            sink.erase_status();
            self.format_dropped(count, &mut sink.buffer);
        }
        sink.erase_status();
        sink.write();
        sink.flush();
    }

    fn handle<O: Write, E: Write>(&mut self, message: Message, sink: &mut Sink<O, E>) {
        if let Message::Drain(done) = message {
            self.board = None;
            sink.erase_status();
            sink.write();
            sink.flush();
            let _ = done.send(());
            return;
        }
        // Keep draining when stdout is gone: the agents' work must not depend on who reads
        // the terminal.
        if sink.broken || self.finished {
            return;
        }
        match message {
            Message::Line(line) => self.line(&line, None, sink),
            Message::ToolCall(line, call) => self.line(&line, Some(&call), sink),
            Message::Event(event) => self.event(&event, sink),
            Message::Drain(_) => {}
        }
    }

    fn line<O: Write, E: Write>(
        &self,
        line: &Line,
        call: Option<&ToolCall>,
        sink: &mut Sink<O, E>,
    ) {
        match self.show {
            Show::Stream { .. } => self.stream(line, sink),
            Show::Quiet | Show::Events if line.origin == HOOK => self.hook_line(line, sink),
            Show::Quiet => {
                if line.origin == Origin::Porch && line.tone == Tone::Bad {
                    let mut text = format!("porch: {}: ", self.name(line.task));
                    push_sanitised(&mut text, &line.text);
                    text.push('\n');
                    let _ = sink.err.write_all(text.as_bytes());
                }
            }
            Show::Events => {
                let time = timestamp::rfc3339(SystemTime::now());
                let json = match call {
                    Some(call) => events::tool_call_json(&self.names, line.task, call, &time),
                    None => {
                        let mut shown = String::new();
                        push_sanitised(&mut shown, &line.text);
                        let stream = stream_of(line.origin);
                        events::line_json(&self.names, line.task, stream, &shown, &time)
                    }
                };
                sink.buffer.push_str(&json);
                sink.write();
            }
        }
    }

    /// A hook's line when stdout is not the stream: on stderr, `TASK: [hook] TEXT`, so that
    /// stdout stays the summary (`--quiet`), the results (`--json`) or only events.
    fn hook_line<O: Write, E: Write>(&self, line: &Line, sink: &mut Sink<O, E>) {
        let mut text = format!("{}: [hook] ", self.name(line.task));
        push_sanitised(&mut text, &line.text);
        text.push('\n');
        let _ = sink.err.write_all(text.as_bytes());
    }

    /// A line of the stream, under any note about dropped lines, in place of the status line.
    fn stream<O: Write, E: Write>(&self, line: &Line, sink: &mut Sink<O, E>) {
        sink.erase_status();
        if let Some(count) = sink.untold_drops() {
            self.format_dropped(count, &mut sink.buffer);
        }
        self.format(line, &mut sink.buffer);
        sink.write();
    }

    fn event<O: Write, E: Write>(&mut self, event: &Event, sink: &mut Sink<O, E>) {
        if let Some(board) = &mut self.board {
            board.observe(event);
        }
        match self.show {
            Show::Stream { status_line: false } => {
                if let Some(line) = start_or_end(event) {
                    self.stream(&line, sink);
                }
            }
            Show::Stream { status_line: true } | Show::Quiet => {}
            Show::Events => {
                let time = timestamp::rfc3339(SystemTime::now());
                sink.buffer
                    .push_str(&events::event_json(event, &self.names, &time));
                sink.write();
                self.finished = matches!(event, Event::RunFinished { .. });
            }
        }
    }

    fn name(&self, task: usize) -> &str {
        self.names.get(task).map_or("", String::as_str)
    }

    /// The note about `count` dropped lines, without a task's prefix: they may be anyone's.
    fn format_dropped(&self, count: u64, buffer: &mut String) {
        let text = format!("[porch] {}", dropped_note(count));
        if self.color {
            buffer.push_str(&format!("\x1b[2m{text}\x1b[0m\n"));
        } else {
            buffer.push_str(&text);
            buffer.push('\n');
        }
    }

    fn format(&self, line: &Line, buffer: &mut String) {
        buffer.push_str(self.prefixes.get(line.task).map_or("", String::as_str));
        let step_label;
        let label = match line.origin {
            Origin::Agent => "",
            Origin::Stderr => "[stderr] ",
            Origin::Porch => "[porch] ",
            Origin::Step(name) => {
                step_label = format!("[{name}] ");
                &step_label
            }
        };
        let style = match (line.origin, line.tone) {
            (Origin::Stderr, _) | (_, Tone::Bad) => Some("31"),
            (_, Tone::Good) => Some("32"),
            (Origin::Porch, _) | (_, Tone::Dim) => Some("2"),
            (_, Tone::Plain) => None,
        };
        let style = style.filter(|_| self.color);
        if let Some(code) = style {
            buffer.push_str("\x1b[");
            buffer.push_str(code);
            buffer.push('m');
        }
        buffer.push_str(label);
        push_sanitised(buffer, &line.text);
        if style.is_some() {
            buffer.push_str("\x1b[0m");
        }
        buffer.push('\n');
    }
}

/// The plain line off a terminal when a task starts (its first attempt) or ends.
fn start_or_end(event: &Event) -> Option<Line> {
    let (task, tone, text) = match event {
        Event::TaskStarted {
            task, attempt: 1, ..
        } => (*task, Tone::Dim, "started".to_string()),
        Event::TaskFinished { task, result } => {
            let tone = match result.status {
                Status::Succeeded => Tone::Good,
                _ => Tone::Bad,
            };
            let mut facts = vec![duration::short_ms(result.duration_ms)];
            if let Some(cost) = result.cost_usd {
                facts.push(format!("${cost:.2}"));
            }
            let status = result.status;
            (
                *task,
                tone,
                format!("finished: {status} ({})", facts.join(", ")),
            )
        }
        _ => return None,
    };
    Some(Line {
        task,
        origin: Origin::Porch,
        tone,
        text,
    })
}

fn stream_of(origin: Origin) -> Stream<'static> {
    match origin {
        Origin::Agent => Stream::Agent,
        Origin::Stderr => Stream::Stderr,
        Origin::Porch => Stream::Porch,
        Origin::Step(name) => Stream::Step(name),
    }
}

/// Appends text with terminal control characters made visible, so an agent's output cannot
/// move the cursor, clear the screen or change colours, and cut to `DISPLAY_LIMIT`.
fn push_sanitised(buffer: &mut String, text: &str) {
    if text.len() <= DISPLAY_LIMIT && !text.chars().any(crate::util::clip::is_hidden_control) {
        buffer.push_str(text);
        return;
    }
    for (shown, (offset, c)) in text.char_indices().enumerate() {
        if shown == DISPLAY_LIMIT {
            buffer.push_str(&format!("… ({} more bytes)", text.len() - offset));
            return;
        }
        crate::util::clip::push_visible(buffer, c);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn look(names: &[&str], color: bool, show: Show) -> Look {
        Look {
            names: names.iter().map(|s| s.to_string()).collect(),
            color,
            show,
        }
    }

    /// A printer that never redraws on its own, on a terminal 80 columns wide.
    fn printer(look: Look) -> Printer {
        let mut printer = Printer::new(look, || 80);
        printer.redraw_every = Duration::from_secs(24 * 3600);
        printer.elapsed = |_| Duration::ZERO;
        printer
    }

    /// What the printer writes on stdout and stderr for `messages`, all queued before it runs.
    fn output(look: Look, messages: Vec<Message>) -> (String, String) {
        let (tx, rx) = crossbeam_channel::unbounded();
        for message in messages {
            tx.send(message).unwrap();
        }
        drop(tx);
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let never = crossbeam_channel::never();
        printer(look).run(rx, never, &AtomicU64::new(0), &mut out, &mut err);
        (
            String::from_utf8(out).unwrap(),
            String::from_utf8(err).unwrap(),
        )
    }

    fn print(names: &[&str], color: bool, lines: Vec<Line>) -> String {
        let look = look(names, color, Show::Stream { status_line: false });
        output(look, lines.into_iter().map(Message::Line).collect()).0
    }

    fn line(task: usize, origin: Origin, text: &str) -> Line {
        Line {
            task,
            origin,
            tone: Tone::Plain,
            text: text.to_string(),
        }
    }

    #[test]
    fn prefixes_are_aligned_and_labelled() {
        let out = print(
            &["a", "longer"],
            false,
            vec![
                line(0, Origin::Agent, "hi"),
                line(1, Origin::Stderr, "oops"),
                line(0, Origin::Porch, "note"),
                line(1, Origin::Step("setup"), "added 12 packages"),
            ],
        );
        assert_eq!(
            out,
            "a      │ hi\nlonger │ [stderr] oops\na      │ [porch] note\nlonger │ [setup] added 12 packages\n"
        );
    }

    #[test]
    fn control_characters_are_made_visible_and_long_lines_cut() {
        let long = "x".repeat(DISPLAY_LIMIT + 10);
        let out = print(
            &["t"],
            false,
            vec![
                line(0, Origin::Agent, "a\x1b[2Jb\r"),
                line(0, Origin::Agent, &long),
            ],
        );
        let mut lines = out.lines();
        assert_eq!(lines.next(), Some("t │ a\\x1b[2Jb\\x0d"));
        assert!(lines.next().unwrap().ends_with("x… (10 more bytes)"));
    }

    /// A writer that counts lines dropped meanwhile, as readers do while the terminal blocks.
    struct DropsWhileWriting<'a> {
        out: Vec<u8>,
        dropped: &'a AtomicU64,
        per_write: u64,
    }

    impl Write for DropsWhileWriting<'_> {
        fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
            self.dropped.fetch_add(self.per_write, Ordering::Relaxed);
            self.out.write(bytes)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn dropped_lines_are_told_once_the_printer_writes_again_and_at_the_end() {
        let printer = printer(look(&["t"], false, Show::Stream { status_line: false }));
        let (tx, rx) = crossbeam_channel::unbounded();
        for text in ["one", "two"] {
            tx.send(Message::Line(line(0, Origin::Agent, text)))
                .unwrap();
        }
        drop(tx);
        let dropped = AtomicU64::new(5);
        let mut out = DropsWhileWriting {
            out: Vec::new(),
            dropped: &dropped,
            per_write: 3,
        };
        let never = crossbeam_channel::never();
        printer.run(rx, never, &dropped, &mut out, Vec::new());
        let note = |n| format!("[porch] {}", dropped_note(n));
        let expected = [
            note(5),
            "t │ one".into(),
            note(3),
            "t │ two".into(),
            note(3),
        ];
        assert_eq!(
            String::from_utf8(out.out).unwrap(),
            expected.join("\n") + "\n"
        );
    }

    #[test]
    fn nothing_is_said_when_nothing_was_dropped() {
        let out = print(&["t"], false, vec![line(0, Origin::Agent, "hi")]);
        assert_eq!(out, "t │ hi\n");
    }

    #[test]
    fn a_full_printer_drops_and_counts_a_sessions_line_and_a_gone_one_says_so() {
        let (tx, rx) = crossbeam_channel::bounded(1);
        let before = dropped_lines();
        assert!(offer(&tx, line(0, Origin::Agent, "queued")));
        assert!(offer(&tx, line(0, Origin::Agent, "dropped")));
        assert!(dropped_lines() > before);
        let Message::Line(queued) = rx.try_recv().unwrap() else {
            panic!("a line was queued");
        };
        assert_eq!(queued.text, "queued");
        drop(rx);
        assert!(!offer(&tx, line(0, Origin::Agent, "nobody")));
    }

    #[test]
    fn colour_only_when_asked() {
        assert!(!print(&["t"], false, vec![line(0, Origin::Stderr, "e")]).contains('\x1b'));
        assert!(print(&["t"], true, vec![line(0, Origin::Stderr, "e")]).contains("\x1b[31m"));
    }

    fn started(task: usize, attempt: u32) -> Message {
        Message::Event(Event::TaskStarted {
            task,
            branch: "task/t".into(),
            worktree: "/wt/t".into(),
            attempt,
        })
    }

    fn finished(task: usize, status: Status, cost_usd: Option<f64>) -> Message {
        let result = crate::results::TaskResult {
            duration_ms: 1500,
            cost_usd,
            ..crate::results::TaskResult::example("t", status)
        };
        Message::Event(Event::TaskFinished {
            task,
            result: Box::new(result),
        })
    }

    fn run_finished() -> Message {
        Message::Event(Event::RunFinished {
            exit_code: 0,
            summary: crate::results::Counts::default(),
            results: "/r.json".into(),
        })
    }

    fn tool_call(task: usize) -> Message {
        let call = ToolCall {
            tool: "Bash".into(),
            input: "ls".into(),
        };
        Message::ToolCall(line(task, Origin::Agent, "→ Bash ls"), call)
    }

    fn bad_note(task: usize, text: &str) -> Message {
        Message::Line(Line {
            tone: Tone::Bad,
            ..line(task, Origin::Porch, text)
        })
    }

    #[test]
    fn off_a_terminal_each_task_says_when_it_starts_and_ends_and_a_retry_does_not() {
        let (out, err) = output(
            look(&["t", "u"], false, Show::Stream { status_line: false }),
            vec![
                started(0, 1),
                Message::Line(line(0, Origin::Agent, "hi")),
                tool_call(0),
                started(0, 2),
                finished(0, Status::Succeeded, Some(0.25)),
                finished(1, Status::Skipped, None),
                run_finished(),
            ],
        );
        assert_eq!(
            out,
            "t │ [porch] started\n\
             t │ hi\n\
             t │ → Bash ls\n\
             t │ [porch] finished: succeeded (1.5s, $0.25)\n\
             u │ [porch] finished: skipped (1.5s)\n"
        );
        assert_eq!(err, "");
    }

    #[test]
    fn quiet_writes_nothing_on_stdout_and_porchs_bad_notes_on_stderr() {
        let (out, err) = output(
            look(&["t"], false, Show::Quiet),
            vec![
                started(0, 1),
                Message::Line(line(0, Origin::Agent, "hi")),
                Message::Line(line(0, Origin::Porch, "worktree made")),
                bad_note(0, "could not \x1b[2J create"),
                Message::Line(Line {
                    tone: Tone::Bad,
                    ..line(0, Origin::Agent, "✗ failed")
                }),
                tool_call(0),
                finished(0, Status::Failed, None),
                run_finished(),
            ],
        );
        assert_eq!(out, "");
        assert_eq!(err, "porch: t: could not \\x1b[2J create\n");
    }

    #[test]
    fn events_are_one_json_object_a_line_and_nothing_follows_run_finished() {
        let (out, err) = output(
            look(&["t"], true, Show::Events),
            vec![
                started(0, 1),
                Message::Line(line(0, Origin::Agent, "a\x1b[2Jb")),
                tool_call(0),
                Message::Line(line(0, Origin::Step("setup"), "ok")),
                bad_note(0, "oops"),
                finished(0, Status::Succeeded, None),
                run_finished(),
                Message::Line(line(0, Origin::Stderr, "late")),
            ],
        );
        assert_eq!(err, "");
        assert!(!out.contains('\x1b'), "{out}");
        let parsed: Vec<serde_json::Value> = out
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let kinds: Vec<(&str, &str)> = parsed
            .iter()
            .map(|e| {
                let stream = e.get("stream").and_then(|s| s.as_str()).unwrap_or("");
                (e["event"].as_str().unwrap(), stream)
            })
            .collect();
        assert_eq!(
            kinds,
            [
                ("task_started", ""),
                ("line", "agent"),
                ("tool_call", ""),
                ("line", "setup"),
                ("line", "porch"),
                ("task_finished", ""),
                ("run_finished", ""),
            ]
        );
        assert_eq!(
            parsed[1]["text"], "a\\x1b[2Jb",
            "shown as the terminal shows it"
        );
        assert!(
            parsed
                .iter()
                .all(|e| e["time"].as_str().unwrap().ends_with('Z'))
        );
    }

    #[test]
    fn on_a_terminal_the_status_line_stays_under_the_lines_and_is_erased_at_the_end() {
        let (out, _) = output(
            look(&["t"], false, Show::Stream { status_line: true }),
            vec![
                started(0, 1),
                Message::Line(line(0, Origin::Agent, "hi")),
                finished(0, Status::Succeeded, Some(0.5)),
            ],
        );
        // All three were queued at once: one redraw once the queue is empty, then the end.
        let status = "[porch] 0 running · 0 queued · 1 done · 0 failed · $0.50 · 0s";
        assert_eq!(out, format!("t │ hi\n{status}{ERASE_LINE}"));
    }

    /// A sink writing into memory, on a terminal as wide as `printer` finds it.
    fn sink<'a>(printer: &Printer, dropped: &'a AtomicU64) -> Sink<'a, Vec<u8>, Vec<u8>> {
        Sink {
            out: Vec::new(),
            err: Vec::new(),
            broken: false,
            buffer: String::new(),
            dropped,
            told: 0,
            status_shown: None,
            columns: printer.columns,
        }
    }

    #[test]
    fn a_line_erases_the_status_line_and_the_status_line_comes_back_under_it() {
        let mut printer = printer(look(&["t"], true, Show::Stream { status_line: true }));
        let dropped = AtomicU64::new(0);
        let mut sink = sink(&printer, &dropped);
        printer.handle(started(0, 1), &mut sink);
        printer.settle(&mut sink);
        printer.handle(Message::Line(line(0, Origin::Agent, "hi")), &mut sink);
        printer.settle(&mut sink);
        printer.close(&mut sink);
        let status = "\x1b[2m[porch] 1 running · 0 queued · 0 done · 0 failed · $0.00 · 0s\x1b[0m";
        let prefix = "\x1b[36mt\x1b[0m \x1b[2m│\x1b[0m ";
        assert_eq!(
            String::from_utf8(sink.out).unwrap(),
            format!("{status}{ERASE_LINE}{prefix}hi\n{status}{ERASE_LINE}")
        );
    }

    /// The width the test's terminal has: it shrinks while the status line is shown.
    static COLUMNS: AtomicU64 = AtomicU64::new(80);

    #[test]
    fn a_terminal_that_shrank_under_the_status_line_has_every_row_of_it_erased() {
        let mut printer = printer(look(&["t"], false, Show::Stream { status_line: true }));
        printer.columns = || COLUMNS.load(Ordering::Relaxed) as usize;
        let dropped = AtomicU64::new(0);
        let mut sink = sink(&printer, &dropped);
        printer.handle(started(0, 1), &mut sink);
        printer.settle(&mut sink);
        let status = "[porch] 1 running · 0 queued · 0 done · 0 failed · $0.00 · 0s";
        assert_eq!(sink.status_shown, Some(status.chars().count()));
        // 62 columns drawn: on 25 columns the terminal wrapped them onto 3 rows.
        COLUMNS.store(25, Ordering::Relaxed);
        printer.handle(Message::Line(line(0, Origin::Agent, "hi")), &mut sink);
        let out = String::from_utf8(std::mem::take(&mut sink.out)).unwrap();
        assert_eq!(out, format!("{status}\r\x1b[2A\x1b[Jt │ hi\n"));
        printer.settle(&mut sink);
        printer.close(&mut sink);
        let out = String::from_utf8(sink.out).unwrap();
        assert!(
            out.ends_with(ERASE_LINE),
            "drawn to fit 25 columns: {out:?}"
        );
        // (columns drawn, columns now, what erases it)
        for (drawn, now, erase) in [
            (79, 80, ERASE_LINE.to_string()),
            (79, 200, ERASE_LINE.to_string()),
            (79, 40, "\r\x1b[1A\x1b[J".to_string()),
            (80, 40, "\r\x1b[1A\x1b[J".to_string()),
            (0, 0, ERASE_LINE.to_string()),
        ] {
            assert_eq!(erase_status_line(drawn, now), erase, "{drawn} on {now}");
        }
    }

    #[test]
    fn a_drain_is_answered_once_what_came_before_is_written_and_the_status_line_is_gone() {
        let (done, drained) = crossbeam_channel::bounded(1);
        let (out, _) = output(
            look(&["t"], false, Show::Stream { status_line: true }),
            vec![
                started(0, 1),
                Message::Line(line(0, Origin::Agent, "hi")),
                Message::Drain(done),
                finished(0, Status::Succeeded, None),
            ],
        );
        assert_eq!(drained.try_recv(), Ok(()));
        // No status line after the drain: nothing is drawn under what porch writes next.
        assert_eq!(out, "t │ hi\n");
    }
}
