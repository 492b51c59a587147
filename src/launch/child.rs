//! One run of one process: started through `mycelium launch-exec` in its own
//! process group, its stdout and stderr read line by line, signalled through
//! its group, and its end reported.

use std::fmt;
use std::path::Path;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use rustix::process::{Pid, Signal, kill_process_group};
use tokio::sync::mpsc;

use super::logs;
use super::plan::ProcessSpec;

/// After a process has exited, how long to wait for the last of its output
/// (a grandchild may hold the pipes open for longer).
const DRAIN: Duration = Duration::from_millis(250);

/// What a run of a process reports.
#[derive(Debug)]
pub(crate) struct Event {
    /// Which process (its index in the plan).
    pub(crate) index: usize,
    /// Which run of it (1 for the first start).
    pub(crate) run: u64,
    /// What happened.
    pub(crate) what: What,
}

/// A line, or the end.
#[derive(Debug)]
pub(crate) enum What {
    /// A line on stdout.
    Out(String),
    /// A line on stderr.
    Err(String),
    /// The process ended.
    Ended(End),
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum End {
    /// It exited, or was killed by a signal.
    Exited(ExitStatus),
    /// It could not be started, or waiting for it failed.
    Lost(String),
}

impl End {
    /// Whether it exited with status 0.
    pub(crate) fn success(&self) -> bool {
        matches!(self, End::Exited(s) if s.success())
    }

    /// The signal that ended it, if one did.
    pub(crate) fn signal(&self) -> Option<i32> {
        use std::os::unix::process::ExitStatusExt;
        match self {
            End::Exited(s) => s.signal(),
            End::Lost(_) => None,
        }
    }
}

impl fmt::Display for End {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use std::os::unix::process::ExitStatusExt;
        match self {
            End::Exited(s) => match (s.code(), s.signal()) {
                (Some(code), _) => write!(f, "exit {code}"),
                (None, Some(sig)) => write!(f, "signal {sig} ({})", signal_name(sig)),
                (None, None) => write!(f, "{s}"),
            },
            End::Lost(why) => f.write_str(why),
        }
    }
}

/// The name of a signal number, for people.
pub(crate) fn signal_name(sig: i32) -> &'static str {
    match sig {
        1 => "SIGHUP",
        2 => "SIGINT",
        3 => "SIGQUIT",
        4 => "SIGILL",
        6 => "SIGABRT",
        7 => "SIGBUS",
        8 => "SIGFPE",
        9 => "SIGKILL",
        10 => "SIGUSR1",
        11 => "SIGSEGV",
        12 => "SIGUSR2",
        13 => "SIGPIPE",
        14 => "SIGALRM",
        15 => "SIGTERM",
        _ => "another signal",
    }
}

/// A running process: its pid, and a way to signal its process group.
#[derive(Debug)]
pub(crate) struct Handle {
    /// Its pid (also its process group's id).
    pub(crate) pid: u32,
    signals: mpsc::UnboundedSender<Signal>,
}

impl Handle {
    /// Sends `signal` to the process's group (it and whatever it started),
    /// unless it has ended.
    pub(crate) fn signal(&self, signal: Signal) {
        let _ = self.signals.send(signal);
    }

    /// A handle to no process (pid 0): signals go nowhere.
    pub(crate) fn detached() -> Self {
        Self { pid: 0, signals: mpsc::unbounded_channel().0 }
    }
}

/// Where a process runs and what it is told.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Context<'a> {
    /// The `mycelium` binary, for `launch-exec` and the coordinator.
    pub(crate) mycelium: &'a Path,
    /// The working directory.
    pub(crate) dir: &'a Path,
    /// `MYCELIUM_URL`.
    pub(crate) store: &'a str,
}

/// Starts run `run` of `spec` (process `index`); its lines and its end come
/// as [`Event`]s on `events`.
pub(crate) fn start(
    spec: &ProcessSpec,
    cx: Context<'_>,
    index: usize,
    run: u64,
    events: &mpsc::UnboundedSender<Event>,
) -> std::io::Result<Handle> {
    let mut cmd = tokio::process::Command::new(cx.mycelium);
    cmd.arg("launch-exec")
        .arg("--parent")
        .arg(std::process::id().to_string())
        .arg("--")
        .arg(&spec.program)
        .args(&spec.args)
        .current_dir(cx.dir)
        .envs(&spec.env)
        .env("MYCELIUM_URL", cx.store)
        .env("MYCELIUM_LAUNCH", &spec.label)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Its own group: a terminal's Ctrl-C reaches the launcher only, which
        // stops the processes in order; and signals reach what they start.
        .process_group(0)
        .kill_on_drop(true);
    let mut child = cmd.spawn()?;
    let pid = child.id().ok_or_else(|| std::io::Error::other("the process ended before it was seen"))?;
    let (signals, mut signal_rx) = mpsc::unbounded_channel::<Signal>();
    let send = move |tx: &mpsc::UnboundedSender<Event>, what| {
        let _ = tx.send(Event { index, run, what });
    };
    let mut pumps = Vec::new();
    if let Some(out) = child.stdout.take() {
        let tx = events.clone();
        pumps.push(tokio::spawn(logs::read_lines(out, move |l| send(&tx, What::Out(l)))));
    }
    if let Some(err) = child.stderr.take() {
        let tx = events.clone();
        pumps.push(tokio::spawn(logs::read_lines(err, move |l| send(&tx, What::Err(l)))));
    }
    let tx = events.clone();
    tokio::spawn(async move {
        let end = loop {
            tokio::select! {
                status = child.wait() => break status.map_or_else(|e| End::Lost(format!("lost: {e}")), End::Exited),
                Some(signal) = signal_rx.recv() => {
                    // `id()` is None once the process has been reaped, so a
                    // pid reused by another process is never signalled.
                    if let Some(pid) = child.id().and_then(|p| Pid::from_raw(p as i32)) {
                        let _ = kill_process_group(pid, signal);
                    }
                }
            }
        };
        let _ = tokio::time::timeout(DRAIN, async {
            for p in pumps {
                let _ = p.await;
            }
        })
        .await;
        send(&tx, What::Ended(end));
    });
    Ok(Handle { pid, signals })
}

#[cfg(test)]
mod tests {
    use std::os::unix::process::ExitStatusExt;

    use super::*;

    #[test]
    fn ends_read_well() {
        assert_eq!(End::Exited(ExitStatus::from_raw(0)).to_string(), "exit 0");
        assert_eq!(End::Exited(ExitStatus::from_raw(3 << 8)).to_string(), "exit 3");
        assert_eq!(End::Exited(ExitStatus::from_raw(9)).to_string(), "signal 9 (SIGKILL)");
        assert!(End::Exited(ExitStatus::from_raw(0)).success());
        assert!(!End::Exited(ExitStatus::from_raw(15)).success());
        assert!(!End::Lost("cannot start".into()).success());
    }
}
