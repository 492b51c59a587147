//! Shared test harness: temp dirs and the binaries under test.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use tempfile::TempDir;

/// A fresh SQLite store in its own temp dir: its URL and the dir's guard.
pub(crate) fn fresh_sqlite() -> (String, TempDir) {
    let dir = tempfile::tempdir().expect("create a temp dir");
    let url = format!("sqlite://{}", dir.path().join("mycelium.db").display());
    (url, dir)
}

/// The `mycelium` executable built for these tests.
pub(crate) const MYCELIUM: &str = env!("CARGO_BIN_EXE_mycelium");

/// A child process (elf or coordinator), killed when dropped.
pub(crate) struct Proc {
    pub(crate) child: Child,
    pub(crate) lines: mpsc::Receiver<String>,
}

impl Proc {
    pub(crate) fn start(exe: &str, url: &str, args: &[&str]) -> Proc {
        let mut child = Command::new(exe)
            .args(["--store", url])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {exe}: {e}"));
        let out = child.stdout.take().expect("stdout");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for l in BufReader::new(out).lines().map_while(Result::ok) {
                let _ = tx.send(l);
            }
        });
        Proc { child, lines }
    }

    /// Waits for the readiness line (`... ready ...`).
    pub(crate) fn ready(self) -> Proc {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            match self.lines.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(l) if l.contains("ready") => return self,
                Ok(_) => {}
                Err(e) => panic!("no readiness line: {e}"),
            }
        }
    }

    pub(crate) fn elf(name: &str, url: &str, args: &[&str]) -> Proc {
        let exe = match name {
            "sender" => env!("CARGO_BIN_EXE_elf-sender"),
            "printer" => env!("CARGO_BIN_EXE_elf-printer"),
            "trials" => env!("CARGO_BIN_EXE_elf-trials"),
            "trials-v2" => env!("CARGO_BIN_EXE_elf-trials-v2"),
            other => panic!("no elf {other}"),
        };
        Proc::start(exe, url, args).ready()
    }

    pub(crate) fn coordinator(url: &str) -> Proc {
        Proc::start(env!("CARGO_BIN_EXE_mycelium"), url, &["coordinator", "--tick-ms", "100"]).ready()
    }

    /// SIGTERM, then the exit status.
    pub(crate) fn stop(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        self.child.wait().expect("wait")
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime")
}

pub(crate) fn within<T>(limit: Duration, f: impl std::future::Future<Output = T>) -> T {
    runtime().block_on(async { tokio::time::timeout(limit, f).await.expect("timed out") })
}
