//! `mycelium launch [manifest] [--check]`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use clap::Args as ClapArgs;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc;

use super::binary::Locator;
use super::check::check;
use super::logs::Stream;
use super::plan::{Mode, Plan};
use super::status;
use super::supervisor::{Control, Supervisor};
use crate::cli::Error::Exit;
use crate::cli::{Context as _, Result, exit};

/// A process did not stop cleanly: its last run exited non-zero or by a
/// signal other than the launcher's SIGTERM (a crash not restarted, a
/// failure when asked to stop).
pub(crate) const UNCLEAN: u8 = 5;
/// A process outlived the grace period (or a second Ctrl-C) and was SIGKILLed.
pub(crate) const KILLED: u8 = 6;

/// The text of `mycelium launch --help` after the options.
pub(crate) const HELP: &str = "\
The manifest (TOML) names the store, the coordinator (on unless
`[coordinator] enabled = false`), optionally `mycelium serve` (`[serve]` with
listen, allow_loopback_without_token, hooks, max_body_bytes) and groups of
elves (`[elves.<name>]` with binary, replicas, slots, args, env, restart,
backoff_ms, backoff_max_ms, backoff_factor); see examples/demo.toml. Every
process (the coordinator and the server too) gets MYCELIUM_URL
and MYCELIUM_LAUNCH=<group>.<replica>, runs in the manifest's directory in
its own process group, and dies with the launcher, even a SIGKILLed one.
The global --store and --json do not apply: the store is the manifest's.

Signals: SIGINT or SIGTERM stops everything (SIGTERM to each process, SIGKILL
after grace_ms); a second one SIGKILLs at once. SIGUSR1 prints the status.

Exit codes:
  0  every process stopped cleanly (exit 0, or the launcher's SIGTERM when
     stopping), or --check found no problem
  1  the manifest has problems (each named with its line and fix), or error
  2  usage error
  5  not clean: a process's last run exited non-zero or by a signal
  6  not clean: a process outlived the grace period and was SIGKILLed";

/// Arguments of `mycelium launch`.
#[derive(Debug, ClapArgs)]
#[command(after_help = HELP)]
pub(crate) struct Args {
    /// The manifest.
    #[arg(default_value = "mycelium.toml")]
    pub(crate) manifest: PathBuf,
    /// Check the manifest (keys, values, binaries) and start nothing.
    #[arg(long)]
    pub(crate) check: bool,
}

/// Runs `mycelium launch`.
pub(crate) fn run(args: Args) -> Result<()> {
    let (plan, mycelium) = load(&args.manifest)?;
    if args.check {
        print!("{}", describe(&args.manifest, &plan));
        return Ok(());
    }
    // One thread: the children's parent-death signal follows the thread
    // that forked them (see `supervisor`).
    let runtime =
        tokio::runtime::Builder::new_current_thread().enable_all().build().context("start the async runtime")?;
    let report = runtime.block_on(async {
        let control = signals().context("listen for signals")?;
        let log = Stream::new(Box::new(std::io::stdout()), plan.processes.iter().map(|p| p.label.as_str()));
        Ok::<_, crate::cli::Error>(Supervisor::new(&plan, &mycelium, log).run(control).await)
    })?;
    if !report.killed.is_empty() {
        return Err(Exit {
            code: KILLED,
            message: format!("not clean: SIGKILLed after the grace period: {}", report.killed.join(", ")),
        });
    }
    if !report.failed.is_empty() {
        let failed: Vec<String> = report.failed.iter().map(|(l, how)| format!("{l} ({how})")).collect();
        return Err(Exit { code: UNCLEAN, message: format!("not clean: {}", failed.join(", ")) });
    }
    Ok(())
}

/// Reads and checks the manifest: the plan and the `mycelium` binary, or an
/// error after every problem has been printed to stderr.
fn load(path: &Path) -> Result<(Plan, PathBuf)> {
    let text = std::fs::read_to_string(path).map_err(|e| Exit {
        code: exit::ERROR,
        message: format!(
            "cannot read the manifest {}: {e}; write one (see examples/demo.toml) or name it: mycelium launch path/to/manifest.toml",
            path.display()
        ),
    })?;
    let dir = std::fs::canonicalize(path)
        .with_context(|| format!("find the directory of {}", path.display()))?
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let mycelium = std::env::current_exe().context("find the mycelium executable")?;
    match check(&text, &dir, &Locator::new(&dir), &mycelium) {
        Ok(plan) => Ok((plan, mycelium)),
        Err(problems) => {
            for p in &problems {
                eprintln!("{}\n", p.render(path, &text));
            }
            Err(Exit {
                code: exit::ERROR,
                message: format!("{} problem(s) in {}; nothing was started", problems.len(), path.display()),
            })
        }
    }
}

/// What `--check` prints for a good manifest.
fn describe(path: &Path, plan: &Plan) -> String {
    let mut out = String::new();
    let mode = match plan.mode {
        Mode::Supervise => "supervise",
        Mode::Group => "group",
    };
    let _ = writeln!(out, "{}: ok, {} process(es)", path.display(), plan.processes.len());
    let _ = writeln!(out, "  store  {}", crate::storage::redact(&plan.store));
    let _ = writeln!(out, "  mode   {mode}, grace {}", status::human(plan.grace));
    let width = plan.processes.iter().map(|p| p.label.len()).max().unwrap_or(0);
    for p in &plan.processes {
        let args: String = p.args.iter().map(|a| format!(" {a}")).collect();
        let _ = writeln!(out, "  {:<width$}  {}{args}  (restart {})", p.label, p.program.display(), p.restart);
    }
    out
}

/// SIGINT and SIGTERM ask to stop, SIGUSR1 for the status.
fn signals() -> std::io::Result<mpsc::UnboundedReceiver<Control>> {
    let (tx, rx) = mpsc::unbounded_channel();
    let mut int = signal(SignalKind::interrupt())?;
    let mut term = signal(SignalKind::terminate())?;
    let mut usr1 = signal(SignalKind::user_defined1())?;
    tokio::spawn(async move {
        loop {
            let c = tokio::select! {
                _ = int.recv() => Control::Stop("SIGINT"),
                _ = term.recv() => Control::Stop("SIGTERM"),
                _ = usr1.recv() => Control::Status,
            };
            if tx.send(c).is_err() {
                break;
            }
        }
    });
    Ok(rx)
}
