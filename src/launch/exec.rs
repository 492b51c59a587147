//! The first moments of every launched process: `mycelium launch-exec`.
//!
//! The launcher does not start a program directly. It starts its own binary
//! as `mycelium launch-exec --parent <pid> -- <program> <args>`, which asks
//! the kernel for SIGKILL when the launcher dies (`PR_SET_PDEATHSIG`), checks
//! that the launcher has not died already, and then `exec`s the program in
//! its place: same pid, same process group, and the parent-death signal
//! survives the `exec`. So a SIGKILLed launcher leaves no orphans.
//!
//! Setting the signal in the child between `fork` and `exec` would need a
//! `pre_exec` hook, which is `unsafe`; the project forbids `unsafe` code, and
//! one short-lived `exec` per start costs a few milliseconds.

use std::ffi::OsString;
use std::os::unix::process::CommandExt;
use std::process::ExitCode;

use clap::Args as ClapArgs;
use rustix::process::{Pid, Signal, getppid, set_parent_process_death_signal};

/// The exit status when the program cannot be run at all (as in shells).
pub(crate) const CANNOT_RUN: u8 = 127;

/// Arguments of the hidden `mycelium launch-exec`.
#[derive(Debug, ClapArgs)]
pub(crate) struct Args {
    /// The launcher's pid: if it is no longer the parent, exit at once.
    #[arg(long)]
    pub(crate) parent: i32,
    /// The program and its arguments.
    #[arg(last = true, required = true)]
    pub(crate) command: Vec<OsString>,
}

/// Becomes `args.command`, to die with the launcher; returns only if that
/// cannot be done.
pub(crate) fn run(args: Args) -> ExitCode {
    if let Err(e) = set_parent_process_death_signal(Some(Signal::KILL)) {
        eprintln!("error: cannot ask for SIGKILL on the launcher's death: {e}");
        return ExitCode::from(CANNOT_RUN);
    }
    // The launcher may have died before the request above: then no signal
    // will come, and the parent is someone else now.
    if getppid() != Pid::from_raw(args.parent) {
        eprintln!("error: the launcher (pid {}) is gone; not starting", args.parent);
        return ExitCode::from(CANNOT_RUN);
    }
    let Some((program, rest)) = args.command.split_first() else {
        eprintln!("error: no program to run");
        return ExitCode::from(CANNOT_RUN);
    };
    let err = std::process::Command::new(program).args(rest).exec();
    eprintln!("error: cannot run {}: {err}", program.to_string_lossy());
    ExitCode::from(CANNOT_RUN)
}
