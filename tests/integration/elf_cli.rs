//! Every elf binary's command line: each setting is a flag that falls back
//! to its environment variable, and `--help` says both.

use std::process::Command;
use std::time::{Duration, Instant};

use mycelium::model::ElfInstance;

use crate::elves::trials;
use crate::util::{MYCELIUM, elf_exe, fresh_sqlite, within};

/// An elf-trials process started with `args` and `env` only (no inherited
/// `MYCELIUM_*`), its output in `log`; killed when dropped.
struct Elf {
    child: std::process::Child,
    log: std::path::PathBuf,
}

impl Elf {
    fn start(args: &[&str], env: &[(&str, &str)], log: std::path::PathBuf) -> Elf {
        let mut cmd = Command::new(elf_exe("trials"));
        for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("MYCELIUM_")) {
            cmd.env_remove(k);
        }
        let out = std::fs::File::create(&log).expect("create the log");
        let err = out.try_clone().expect("clone the log");
        let child = cmd.args(args).envs(env.iter().copied()).stdout(out).stderr(err).spawn().expect("start elf-trials");
        Elf { child, log }
    }

    fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits for `needle` in the elf's output.
    fn wait_for(&mut self, needle: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !self.output().contains(needle) {
            let status = self.child.try_wait().ok().flatten();
            assert!(
                Instant::now() < deadline && status.is_none(),
                "no {needle:?} (exit: {status:?}):\n{}",
                self.output()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Elf {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The one elf instance registered in the store at `url`, once `elf` says
/// it is ready.
fn registered(url: &str, elf: &mut Elf) -> ElfInstance {
    elf.wait_for(" ready: ");
    let out = Command::new(MYCELIUM).args(["--store", url, "--json", "elves"]).output().expect("mycelium elves");
    let mut elves: Vec<ElfInstance> = serde_json::from_slice(&out.stdout).expect("elves as JSON");
    assert_eq!(elves.len(), 1, "{elves:?}");
    elves.remove(0)
}

#[test]
fn help_names_every_flag_and_its_variable() {
    let out = Command::new(elf_exe("trials")).arg("--help").output().expect("elf-trials --help");
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{help}");
    for needle in [
        "--store <STORE>",
        "[env: MYCELIUM_URL",
        "--slots <SLOTS>",
        "[env: MYCELIUM_SLOTS=]",
        "--lease-ttl-ms",
        "[env: MYCELIUM_LEASE_TTL_MS=]",
        "--poll-ms",
        "[env: MYCELIUM_POLL_MS=]",
        "--grace-ms",
        "[env: MYCELIUM_GRACE_MS=]",
        "--log <LOG>",
        "[env: MYCELIUM_LOG=]",
        "--panic-stderr",
        "[env: MYCELIUM_PANIC_STDERR=]",
        "--lazy-symbols",
        "[env: MYCELIUM_LAZY_SYMBOLS=]",
        "MYCELIUM_DOORBELL",
        "MYCELIUM_ARANGO_PASSWORD_FILE",
        "replay",
    ] {
        assert!(help.contains(needle), "{needle:?} missing from\n{help}");
    }
}

#[test]
fn flags_set_what_the_environment_would_and_win_over_it() {
    let (url, dir) = fresh_sqlite();
    // Flags alone.
    let flags = ["--store", &url, "--slots", "3", "--lease-ttl-ms", "900", "--log", "mycelium=debug"];
    let mut elf = Elf::start(&flags, &[], dir.path().join("flags.log"));
    let me = registered(&url, &mut elf);
    assert_eq!(me.slots, 3);
    assert!((900..1_000).contains(&(me.lease_until - me.started_at)), "{me:?}");
    // `--log mycelium=debug` shows the symbolizer's warm-up at start.
    elf.wait_for("symbolizer warmed up");
    drop(elf);

    // The environment alone, then a flag over it.
    for (args, slots) in [(&[][..], 5), (&["--slots", "2"][..], 2)] {
        let (url, dir) = fresh_sqlite();
        let env = [("MYCELIUM_URL", url.as_str()), ("MYCELIUM_SLOTS", "5"), ("MYCELIUM_LEASE_TTL_MS", "1200")];
        let mut elf = Elf::start(args, &env, dir.path().join("env.log"));
        let me = registered(&url, &mut elf);
        assert_eq!(me.slots, slots, "{args:?}");
        assert!((1_200..1_300).contains(&(me.lease_until - me.started_at)), "{me:?}");
    }
}

#[test]
fn panic_stderr_prints_caught_panics_too() {
    let (url, dir) = fresh_sqlite();
    let mut elf = Elf::start(&["--store", &url, "--panic-stderr"], &[], dir.path().join("elf.log"));
    registered(&url, &mut elf);
    let myc = mycelium::connect(&url).expect("connect");
    let mut o = myc.orchestration("loud");
    let bad = o.call(trials::pick::call(9));
    let run = o.submit_blocking().expect("submit");
    within(Duration::from_secs(30), run.wait(&bad)).expect_err("panics");
    elf.wait_for("index out of bounds: the len is 3 but the index is 9");
}

#[test]
fn a_bad_setting_is_refused_by_name() {
    for (args, env, needle) in [
        (&["--slots", "many"][..], &[][..], "--slots"),
        (&[], &[("MYCELIUM_LEASE_TTL_MS", "soon")][..], "--lease-ttl-ms"),
    ] {
        let mut cmd = Command::new(elf_exe("trials"));
        let out = cmd.args(args).envs(env.iter().copied()).output().expect("run elf-trials");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(err.contains(needle) && err.contains("invalid value"), "{err}");
    }
}
