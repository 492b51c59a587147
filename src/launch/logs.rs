//! One log stream: every line of every process, whole, behind its prefix
//! (`animals.1   | ...`), like docker compose; and the last lines of each
//! process's stderr, kept for crash reports.

use std::collections::VecDeque;
use std::io::Write;
use std::sync::mpsc;

use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};

/// A line longer than this is passed on in pieces of this size.
pub(crate) const MAX_LINE: usize = 16 * 1024;

/// How many lines of stderr are kept per process.
pub(crate) const TAIL: usize = 5;

/// The launcher's own prefix.
pub(crate) const LAUNCHER: &str = "launch";

/// Lines waiting for the writer thread; beyond this many, new ones are
/// dropped (and counted) rather than stall the supervisor.
pub(crate) const BACKLOG: usize = 8 * 1024;

/// Where lines go: each line written whole with its prefix, in order, by a
/// thread of its own, so that a log reader that stalls (a full pipe) never
/// stalls the supervision of the processes.
pub(crate) struct Stream {
    tx: Option<mpsc::SyncSender<String>>,
    writer: Option<std::thread::JoinHandle<()>>,
    width: usize,
    dropped: u64,
}

impl Stream {
    /// Lines to `out`, prefixes padded to the longest of `labels`.
    pub(crate) fn new<'a>(mut out: Box<dyn Write + Send>, labels: impl IntoIterator<Item = &'a str>) -> Self {
        let width = labels.into_iter().map(str::len).chain([LAUNCHER.len()]).max().unwrap_or(0);
        let (tx, rx) = mpsc::sync_channel::<String>(BACKLOG);
        let writer = std::thread::spawn(move || {
            // A broken pipe is ignored: the processes matter more than
            // whoever stopped reading their logs.
            for line in rx {
                let _ = out.write_all(line.as_bytes());
                let _ = out.flush();
            }
        });
        Self { tx: Some(tx), writer: Some(writer), width, dropped: 0 }
    }

    /// Writes `text` (one line, no newline) behind `label`, in one write.
    pub(crate) fn line(&mut self, label: &str, text: &str) {
        let Some(tx) = &self.tx else { return };
        if self.dropped > 0 {
            let note = format!(
                "{LAUNCHER:<width$} | ({} line(s) dropped: the log stream was not read fast enough)\n",
                self.dropped,
                width = self.width
            );
            if tx.try_send(note).is_err() {
                self.dropped += 1;
                return;
            }
            self.dropped = 0;
        }
        if tx.try_send(format!("{label:<width$} | {text}\n", width = self.width)).is_err() {
            self.dropped += 1;
        }
    }

    /// A line of the launcher's own.
    pub(crate) fn say(&mut self, text: &str) {
        self.line(LAUNCHER, text);
    }

    /// Writes out every line still waiting.
    pub(crate) fn finish(&mut self) {
        self.tx = None;
        if let Some(w) = self.writer.take() {
            let _ = w.join();
        }
    }
}

impl Drop for Stream {
    fn drop(&mut self) {
        self.finish();
    }
}

/// The last [`TAIL`] lines a process wrote to stderr.
#[derive(Debug, Default, Clone)]
pub(crate) struct Tail {
    lines: VecDeque<String>,
}

impl Tail {
    /// Keeps `line` (unless blank), forgetting the oldest beyond [`TAIL`].
    pub(crate) fn push(&mut self, line: &str) {
        if line.trim().is_empty() {
            return;
        }
        if self.lines.len() == TAIL {
            self.lines.pop_front();
        }
        self.lines.push_back(line.to_owned());
    }

    /// The kept lines, oldest first.
    pub(crate) fn lines(&self) -> impl Iterator<Item = &str> {
        self.lines.iter().map(String::as_str)
    }

    /// The newest line.
    pub(crate) fn last(&self) -> Option<&str> {
        self.lines.back().map(String::as_str)
    }

    /// Forgets everything (a new run of the process).
    pub(crate) fn clear(&mut self) {
        self.lines.clear();
    }
}

/// Reads `input` line by line until it ends, calling `each` with every
/// line (without its `\n` or `\r\n`, invalid UTF-8 replaced); a last line
/// without a newline counts, and a line over [`MAX_LINE`] comes in pieces.
pub(crate) async fn read_lines(input: impl AsyncRead + Unpin, mut each: impl FnMut(String)) {
    let mut reader = BufReader::with_capacity(8 * 1024, input);
    let mut line: Vec<u8> = Vec::new();
    // An error reading is the end of the stream, like its end.
    while let Ok(buf) = reader.fill_buf().await {
        if buf.is_empty() {
            break;
        }
        let room = MAX_LINE - line.len();
        match buf.iter().take(room).position(|b| *b == b'\n') {
            Some(i) => {
                line.extend_from_slice(&buf[..i]);
                reader.consume(i + 1);
                each(text(&line));
                line.clear();
            }
            None => {
                let n = buf.len().min(room);
                line.extend_from_slice(&buf[..n]);
                reader.consume(n);
                if line.len() == MAX_LINE {
                    each(text(&line));
                    line.clear();
                }
            }
        }
    }
    if !line.is_empty() {
        each(text(&line));
    }
}

fn text(line: &[u8]) -> String {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    String::from_utf8_lossy(line).into_owned()
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().expect("lock").extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn prefixes_are_padded_to_the_longest_label() {
        let buf = Shared::default();
        let mut s = Stream::new(Box::new(buf.clone()), ["animals.1", "a.1"]);
        s.line("a.1", "hello");
        s.say("started");
        s.finish();
        let out = String::from_utf8(buf.0.lock().expect("lock").clone()).expect("utf8");
        assert_eq!(out, "a.1       | hello\nlaunch    | started\n");
    }

    /// A reader that stalls until told to go on.
    struct Stalled(Arc<(Mutex<bool>, std::sync::Condvar)>);

    impl Write for Stalled {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            let (go, cv) = &*self.0;
            let mut go = go.lock().expect("lock");
            while !*go {
                go = cv.wait(go).expect("wait");
            }
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_stalled_reader_costs_lines_not_the_supervisor() {
        let gate = Arc::new((Mutex::new(false), std::sync::Condvar::new()));
        let mut s = Stream::new(Box::new(Stalled(gate.clone())), ["a.1"]);
        for i in 0..BACKLOG + 5 {
            s.line("a.1", &format!("line {i}"));
        }
        assert!(s.dropped >= 3, "dropped {}", s.dropped);
        *gate.0.lock().expect("lock") = true;
        gate.1.notify_all();
        s.finish();
    }

    #[tokio::test]
    async fn lines_come_whole_and_long_ones_in_pieces() {
        let mut input = b"one\r\ntwo\n\xffthree".to_vec();
        input.extend(std::iter::repeat_n(b'x', MAX_LINE + 3));
        input.extend(b"\nlast");
        let mut got = Vec::new();
        read_lines(&input[..], |l| got.push(l)).await;
        assert_eq!(got[0], "one");
        assert_eq!(got[1], "two");
        assert!(got[2].starts_with("\u{fffd}three"));
        assert_eq!(got[2].len() + got[3].len(), "\u{fffd}three".len() + MAX_LINE + 3);
        assert_eq!(got[4], "last");
        assert_eq!(got.len(), 5);
    }

    #[test]
    fn the_tail_keeps_the_last_lines() {
        let mut t = Tail::default();
        for i in 0..8 {
            t.push(&format!("l{i}"));
            t.push("  ");
        }
        assert_eq!(t.lines().collect::<Vec<_>>(), vec!["l3", "l4", "l5", "l6", "l7"]);
        assert_eq!(t.last(), Some("l7"));
    }
}
