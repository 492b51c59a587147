//! What to launch, once the manifest has been checked: every process with its
//! resolved program, arguments, environment and restart policy.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

/// How long the launcher waits, after SIGTERM, before it SIGKILLs what is
/// left. Longer than an elf's own 10 s drain, so that elves release their
/// jobs themselves.
pub(crate) const DEFAULT_GRACE: Duration = Duration::from_secs(15);

/// A process that ran at least this long was healthy: its next restart
/// starts again from the first backoff delay.
pub(crate) const HEALTHY_AFTER: Duration = Duration::from_secs(10);

/// When a process that exited is started again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum Restart {
    /// After any exit, even a clean one.
    Always,
    /// After an exit with a non-zero status or by a signal (the default).
    OnFailure,
    /// Never.
    Never,
}

impl Restart {
    /// Whether a process that exited (`success` or not) is started again.
    pub(crate) fn restarts(self, success: bool) -> bool {
        match self {
            Restart::Always => true,
            Restart::OnFailure => !success,
            Restart::Never => false,
        }
    }
}

impl fmt::Display for Restart {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Restart::Always => "always",
            Restart::OnFailure => "on-failure",
            Restart::Never => "never",
        })
    }
}

/// What the death of one process means for the others.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum Mode {
    /// Each process is restarted by its own policy; the others go on (the
    /// default).
    #[default]
    Supervise,
    /// A deployment group: when any process exits, for any reason, all are
    /// stopped and the launcher exits (MicroAgent's `marun`).
    Group,
}

/// Exponential backoff between restarts, with a cap.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Backoff {
    /// The delay before the first restart.
    pub(crate) first: Duration,
    /// The longest delay.
    pub(crate) max: Duration,
    /// Each quick restart in a row multiplies the delay by this.
    pub(crate) factor: f64,
}

impl Default for Backoff {
    fn default() -> Self {
        Self { first: Duration::from_millis(500), max: Duration::from_secs(30), factor: 2.0 }
    }
}

impl Backoff {
    /// The delay before restart number `n` in a row (0 for the first one
    /// after a healthy run): `first * factor^n`, at most `max`.
    pub(crate) fn delay(&self, n: u32) -> Duration {
        let exp = i32::try_from(n).unwrap_or(i32::MAX);
        let secs = self.first.as_secs_f64() * self.factor.powi(exp);
        if !secs.is_finite() || secs >= self.max.as_secs_f64() {
            self.max
        } else {
            Duration::from_secs_f64(secs).min(self.max)
        }
    }
}

/// One process to run and supervise.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ProcessSpec {
    /// `<group>.<replica>`: the log prefix and `MYCELIUM_LAUNCH`.
    pub(crate) label: String,
    /// The program (an absolute path).
    pub(crate) program: PathBuf,
    /// Its arguments.
    pub(crate) args: Vec<String>,
    /// Environment variables set on top of the launcher's own.
    pub(crate) env: BTreeMap<String, String>,
    /// When it is started again.
    pub(crate) restart: Restart,
    /// How long it waits before it is.
    pub(crate) backoff: Backoff,
}

/// Everything a checked manifest asks for.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Plan {
    /// The store URL every process is given as `MYCELIUM_URL` (a relative
    /// SQLite path made absolute against the manifest's directory).
    pub(crate) store: String,
    /// The working directory of every process: the manifest's directory.
    pub(crate) dir: PathBuf,
    /// SIGTERM to SIGKILL, when stopping.
    pub(crate) grace: Duration,
    /// What one process's death means for the others.
    pub(crate) mode: Mode,
    /// The processes, in manifest order (the coordinator first).
    pub(crate) processes: Vec<ProcessSpec>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_its_cap() {
        let b = Backoff { first: Duration::from_millis(100), max: Duration::from_millis(1000), factor: 2.0 };
        let delays: Vec<u128> = (0..6).map(|n| b.delay(n).as_millis()).collect();
        assert_eq!(delays, vec![100, 200, 400, 800, 1000, 1000]);
        assert_eq!(b.delay(u32::MAX), Duration::from_millis(1000));
        let flat = Backoff { factor: 1.0, ..b };
        assert_eq!(flat.delay(50), Duration::from_millis(100));
    }

    #[test]
    fn restart_policies() {
        assert!(Restart::Always.restarts(true) && Restart::Always.restarts(false));
        assert!(!Restart::OnFailure.restarts(true) && Restart::OnFailure.restarts(false));
        assert!(!Restart::Never.restarts(true) && !Restart::Never.restarts(false));
        assert_eq!(Restart::OnFailure.to_string(), "on-failure");
    }
}
