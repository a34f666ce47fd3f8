//! The one thread that writes sessions' output to the terminal, each line whole and prefixed
//! with its task's name, so twenty sessions talking at once stay readable.

use std::io::{self, Write};
use std::thread::JoinHandle;

use std::sync::atomic::{AtomicU64, Ordering};

use crossbeam_channel::{Receiver, SendTimeoutError, Sender, TrySendError};

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

#[derive(Debug)]
pub struct Line {
    pub task: usize,
    pub origin: Origin,
    pub tone: Tone,
    pub text: String,
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
pub fn note(printer: &Sender<Line>, task: usize, tone: Tone, text: String) {
    let line = Line {
        task,
        origin: Origin::Porch,
        tone,
        text,
    };
    if let Err(SendTimeoutError::Timeout(_)) = printer.send_timeout(line, NOTE_WAIT) {
        DROPPED_LINES.fetch_add(1, Ordering::Relaxed);
    }
}

/// Lines not shown because the terminal fell behind, since porch started.
static DROPPED_LINES: AtomicU64 = AtomicU64::new(0);

/// Queues a line of a session's output if the printer has room, and otherwise counts it as not
/// shown: a stdout nobody reads (a pager left open, a full pipe) must never hold up a session.
/// The task's log, written by the reader before this, has every line. False once the printer is
/// gone.
pub fn offer(printer: &Sender<Line>, line: Line) -> bool {
    match printer.try_send(line) {
        Ok(()) => true,
        Err(TrySendError::Full(_)) => {
            DROPPED_LINES.fetch_add(1, Ordering::Relaxed);
            true
        }
        Err(TrySendError::Disconnected(_)) => false,
    }
}

/// How many lines of session output the terminal did not get (see `offer`).
pub fn dropped_lines() -> u64 {
    DROPPED_LINES.load(Ordering::Relaxed)
}

/// The note the printer writes once it can write again after lines were dropped.
fn dropped_note(count: u64) -> String {
    format!(
        "{count} line(s) of output not shown: the terminal fell behind (every task's log has them)"
    )
}

/// Starts the printer thread; an error when the system refuses a thread.
pub fn spawn(names: Vec<String>, color: bool) -> io::Result<(Sender<Line>, PrinterThread)> {
    let (sender, receiver) = crossbeam_channel::bounded(CHANNEL_CAPACITY);
    let (stop, stopped) = crossbeam_channel::bounded(1);
    let (finished_tx, finished) = crossbeam_channel::bounded(1);
    let printer = Printer::new(names, color);
    let handle = std::thread::Builder::new()
        .name("printer".into())
        // stdout is line-buffered: without a buffer of our own, every line would be a write(2).
        .spawn(move || {
            printer.run(
                receiver,
                stopped,
                &DROPPED_LINES,
                io::BufWriter::with_capacity(64 * 1024, io::stdout().lock()),
            );
            let _ = finished_tx.send(());
        })?;
    let thread = PrinterThread {
        stop,
        finished,
        thread: handle,
    };
    Ok((sender, thread))
}

struct Printer {
    prefixes: Vec<String>,
    color: bool,
}

const PALETTE: [&str; 6] = ["36", "33", "35", "32", "34", "31"];

impl Printer {
    fn new(names: Vec<String>, color: bool) -> Printer {
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
        Printer { prefixes, color }
    }

    /// Writes lines until stopped. Before each, if lines were dropped (`dropped` grew) since it
    /// last said so, a note saying how many: it shows where the gap is, once the terminal takes
    /// output again.
    fn run(
        self,
        receiver: Receiver<Line>,
        stop: Receiver<()>,
        dropped: &AtomicU64,
        mut out: impl Write,
    ) {
        let mut broken = false;
        let mut buffer = String::new();
        let mut told = 0;
        let mut print = |line: Line, flush: bool| {
            if broken {
                // Keep draining: the agents' work must not depend on who reads the terminal.
                return;
            }
            buffer.clear();
            let now_dropped = dropped.load(Ordering::Relaxed);
            if now_dropped > told {
                self.format_dropped(now_dropped - told, &mut buffer);
                told = now_dropped;
            }
            self.format(&line, &mut buffer);
            let mut result = out.write_all(buffer.as_bytes());
            if result.is_ok() && flush {
                result = out.flush();
            }
            broken = result.is_err();
        };
        loop {
            crossbeam_channel::select! {
                recv(receiver) -> line => match line {
                    Ok(line) => print(line, receiver.is_empty()),
                    Err(_) => break,
                },
                recv(stop) -> _ => {
                    for line in receiver.try_iter() {
                        print(line, false);
                    }
                    break;
                }
            }
        }
        let now_dropped = dropped.load(Ordering::Relaxed);
        if !broken && now_dropped > told {
            buffer.clear();
            self.format_dropped(now_dropped - told, &mut buffer);
            let _ = out.write_all(buffer.as_bytes());
        }
        let _ = out.flush();
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

/// Appends text with terminal control characters made visible, so an agent's output cannot
/// move the cursor, clear the screen or change colours, and cut to `DISPLAY_LIMIT`.
fn push_sanitised(buffer: &mut String, text: &str) {
    if text.len() <= DISPLAY_LIMIT && !text.chars().any(char::is_control) {
        buffer.push_str(text);
        return;
    }
    for (shown, (offset, c)) in text.char_indices().enumerate() {
        if shown == DISPLAY_LIMIT {
            buffer.push_str(&format!("… ({} more bytes)", text.len() - offset));
            return;
        }
        crate::clip::push_visible(buffer, c);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn print(names: &[&str], color: bool, lines: Vec<Line>) -> String {
        let printer = Printer::new(names.iter().map(|s| s.to_string()).collect(), color);
        let (tx, rx) = crossbeam_channel::unbounded();
        for line in lines {
            tx.send(line).unwrap();
        }
        drop(tx);
        let mut out = Vec::new();
        printer.run(rx, crossbeam_channel::never(), &AtomicU64::new(0), &mut out);
        String::from_utf8(out).unwrap()
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
        let printer = Printer::new(vec!["t".into()], false);
        let (tx, rx) = crossbeam_channel::unbounded();
        for text in ["one", "two"] {
            tx.send(line(0, Origin::Agent, text)).unwrap();
        }
        drop(tx);
        let dropped = AtomicU64::new(5);
        let mut out = DropsWhileWriting {
            out: Vec::new(),
            dropped: &dropped,
            per_write: 3,
        };
        printer.run(rx, crossbeam_channel::never(), &dropped, &mut out);
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
        assert_eq!(rx.try_recv().unwrap().text, "queued");
        drop(rx);
        assert!(!offer(&tx, line(0, Origin::Agent, "nobody")));
    }

    #[test]
    fn colour_only_when_asked() {
        assert!(!print(&["t"], false, vec![line(0, Origin::Stderr, "e")]).contains('\x1b'));
        assert!(print(&["t"], true, vec![line(0, Origin::Stderr, "e")]).contains("\x1b[31m"));
    }
}
