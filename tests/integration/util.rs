//! Shared test harness: temp dirs and the binaries under test.

use std::process::Command;
use std::time::Duration;

use tempfile::TempDir;

/// A fresh SQLite store in its own temp dir: its URL and the dir's guard.
pub(crate) fn fresh_sqlite() -> (String, TempDir) {
    let dir = tempfile::tempdir().expect("create a temp dir");
    let url = format!("sqlite://{}", dir.path().join("mycelium.db").display());
    (url, dir)
}

/// The `mycelium` executable built for these tests.
pub(crate) const MYCELIUM: &str = env!("CARGO_BIN_EXE_mycelium");

/// The example elf binary `elf-<name>` (`"trials"`, `"flow-tasks"`, ...).
/// The elves are the package mycelium-elves, whose binaries cargo builds
/// into the same directory as `mycelium` (`cargo test --workspace` builds
/// them first: that package has integration tests).
pub(crate) fn elf_exe(name: &str) -> String {
    let exe = std::path::Path::new(MYCELIUM).with_file_name(format!("elf-{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(
        exe.is_file(),
        "{} is missing: the example elves are the package mycelium-elves; build them with \
         `cargo build -p mycelium-elves --bins` (with `--release` for release tests), or run \
         `cargo test --workspace`, which builds them",
        exe.display()
    );
    exe.display().to_string()
}

/// A child process (elf or coordinator), killed when dropped.
pub(crate) struct Proc {
    child: mycelium::testing::Child,
    /// The readiness line, once seen.
    pub(crate) ready_line: String,
}

impl Proc {
    pub(crate) fn start(exe: &str, url: &str, args: &[&str]) -> Proc {
        Proc::start_with(exe, url, args, &[])
    }

    /// [`Proc::start`] with extra environment variables.
    pub(crate) fn start_with(exe: &str, url: &str, args: &[&str], env: &[(&str, &str)]) -> Proc {
        let mut cmd = Command::new(exe);
        cmd.args(["--store", url]).args(args).envs(env.iter().copied());
        let child = mycelium::testing::Child::spawn(cmd).unwrap_or_else(|e| panic!("cannot start {exe}: {e}"));
        Proc { child, ready_line: String::new() }
    }

    /// Waits for the readiness line (`... ready ...`).
    pub(crate) fn ready(mut self) -> Proc {
        match self.child.ready(Duration::from_secs(30)) {
            Ok(l) => self.ready_line = l.to_owned(),
            Err(e) => panic!("no readiness line: {e}"),
        }
        self
    }

    /// Its process id.
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The next line of its output, if one comes within `within`.
    pub(crate) fn next_line(&mut self, within: Duration) -> Option<String> {
        self.child.next_line(within)
    }

    /// Waits up to `within` for a line holding `needle`.
    pub(crate) fn wait_for(&mut self, needle: &str, within: Duration) -> String {
        self.child.wait_for(needle, within).unwrap_or_else(|e| panic!("{e}"))
    }

    pub(crate) fn elf(name: &str, url: &str, args: &[&str]) -> Proc {
        Proc::elf_with(name, url, args, &[])
    }

    /// An elf with extra environment variables.
    pub(crate) fn elf_with(name: &str, url: &str, args: &[&str], env: &[(&str, &str)]) -> Proc {
        let exe = elf_exe(name);
        Proc::start_with(&exe, url, args, env).ready()
    }

    pub(crate) fn coordinator(url: &str) -> Proc {
        Proc::start(env!("CARGO_BIN_EXE_mycelium"), url, &["coordinator", "--tick-ms", "100"]).ready()
    }

    /// Whether it has exited (without waiting).
    pub(crate) fn exited(&mut self) -> bool {
        self.child.exited().is_some()
    }

    /// SIGKILL, and wait for it to be gone.
    pub(crate) fn kill9(&mut self) {
        let _ = self.child.kill9();
    }

    /// SIGTERM, then the exit status.
    pub(crate) fn stop(mut self) -> std::process::ExitStatus {
        self.child.stop(Duration::from_secs(30)).expect("stop")
    }
}

pub(crate) fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime")
}

pub(crate) fn within<T>(limit: Duration, f: impl std::future::Future<Output = T>) -> T {
    runtime().block_on(async { tokio::time::timeout(limit, f).await.expect("timed out") })
}
