//! A child process of ours: its own process group, its stdout read line by
//! line, readiness by a line (never a sleep), stopped with SIGTERM (or killed
//! with SIGKILL) through rustix, and killed when dropped. Shared by the
//! benchmark, the conformance suite and the integration tests.

use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use rustix::process::{Pid, Signal, kill_process_group};

/// A running child process.
#[derive(Debug)]
pub struct Child {
    child: std::process::Child,
    lines: mpsc::Receiver<String>,
    /// The line that said it was ready, once seen.
    ready_line: String,
    /// Every line read so far (while waiting for others).
    seen: Vec<String>,
}

impl Child {
    /// Starts `command` in its own process group with stdout piped (stderr
    /// inherited).
    pub fn spawn(mut command: Command) -> std::io::Result<Child> {
        let mut child = command.stdout(Stdio::piped()).stderr(Stdio::inherit()).process_group(0).spawn()?;
        let out = child.stdout.take().ok_or_else(|| std::io::Error::other("the child's stdout is not piped"))?;
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for l in BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(l).is_err() {
                    break;
                }
            }
        });
        Ok(Child { child, lines, ready_line: String::new(), seen: Vec::new() })
    }

    /// Its process id.
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// Waits up to `within` for a line holding `needle`; returns it.
    pub fn wait_for(&mut self, needle: &str, within: Duration) -> Result<String, String> {
        let deadline = Instant::now() + within;
        loop {
            match self.lines.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(l) if l.contains(needle) => {
                    self.seen.push(l.clone());
                    return Ok(l);
                }
                Ok(l) => self.seen.push(l),
                Err(_) => {
                    return Err(format!(
                        "no line with `{needle}` within {within:?} (status {:?}); its output so far:\n{}",
                        self.child.try_wait().ok().flatten(),
                        self.seen.join("\n")
                    ));
                }
            }
        }
    }

    /// Waits for its readiness line (`... ready ...`).
    pub fn ready(&mut self, within: Duration) -> Result<&str, String> {
        self.ready_line = self.wait_for("ready", within)?;
        Ok(&self.ready_line)
    }

    /// The readiness line, once seen.
    pub fn ready_line(&self) -> &str {
        &self.ready_line
    }

    /// The next line, if one comes within `within`.
    pub fn next_line(&mut self, within: Duration) -> Option<String> {
        let l = self.lines.recv_timeout(within).ok()?;
        self.seen.push(l.clone());
        Some(l)
    }

    /// Every line read so far.
    pub fn seen(&self) -> &[String] {
        &self.seen
    }

    /// Sends `signal` to its process group.
    pub fn signal(&self, signal: Signal) -> std::io::Result<()> {
        let pid = i32::try_from(self.child.id())
            .ok()
            .and_then(Pid::from_raw)
            .ok_or_else(|| std::io::Error::other("bad pid"))?;
        kill_process_group(pid, signal).map_err(std::io::Error::from)
    }

    /// SIGTERM, then waits up to `grace` for it to exit (SIGKILL after).
    pub fn stop(&mut self, grace: Duration) -> std::io::Result<ExitStatus> {
        let _ = self.signal(Signal::TERM);
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait()? {
                return Ok(status);
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        self.kill9()
    }

    /// SIGKILL, and waits for it to be gone.
    pub fn kill9(&mut self) -> std::io::Result<ExitStatus> {
        let _ = self.signal(Signal::KILL);
        self.child.wait()
    }

    /// Waits for it to exit on its own; returns its status and the rest of
    /// its output.
    pub fn finish(mut self) -> std::io::Result<(ExitStatus, Vec<String>)> {
        let status = self.child.wait()?;
        // The reader thread ends at the end of output, closing the channel.
        let rest: Vec<String> = self.lines.iter().collect();
        self.seen.extend(rest);
        Ok((status, std::mem::take(&mut self.seen)))
    }

    /// Its peak resident memory in bytes (VmHWM), while it runs.
    pub fn peak_rss(&self) -> u64 {
        std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .ok()
            .and_then(|s| {
                s.lines().find_map(|l| {
                    l.strip_prefix("VmHWM:").and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
                })
            })
            .map_or(0, |kb| kb * 1024)
    }

    /// Whether it has exited (reaping it if so).
    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        if self.exited().is_none() {
            let _ = self.kill9();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_readiness_and_signals() {
        let mut cmd = Command::new("sh");
        cmd.args([
            "-c",
            "trap 'echo bye; exit 3' TERM; echo starting; echo ready now; while true; do sleep 0.05; done",
        ]);
        let mut c = Child::spawn(cmd).expect("spawn sh");
        assert_eq!(c.ready(Duration::from_secs(10)).expect("ready"), "ready now");
        assert_eq!(c.seen(), ["starting", "ready now"]);
        let status = c.stop(Duration::from_secs(10)).expect("stop");
        assert_eq!(status.code(), Some(3), "SIGTERM reached the trap");
        let mut sleeper = Command::new("sleep");
        sleeper.arg("60");
        let mut s = Child::spawn(sleeper).expect("spawn sleep");
        let status = s.kill9().expect("kill");
        assert!(!status.success());
        let err = Child::spawn(Command::new("true")).expect("spawn").wait_for("x", Duration::from_millis(500));
        assert!(err.is_err_and(|e| e.contains("no line with `x`")));
    }
}
