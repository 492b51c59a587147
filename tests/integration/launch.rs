//! `mycelium launch`: real launcher, elf and coordinator processes on a store
//! in a temp dir; SIGKILL and SIGTERM are test inputs. Every wait is for a
//! line of the launcher's log stream, never a blind sleep.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use mycelium::model::JobState;
use rustix::process::{Pid, Signal, kill_process};
use tempfile::TempDir;

use crate::elves::trials;
use crate::util::MYCELIUM;

/// How long any one expected line may take.
const PATIENCE: Duration = Duration::from_secs(30);

/// A running `mycelium launch`, its log stream read line by line.
struct Launcher {
    child: Child,
    dir: TempDir,
    lines: mpsc::Receiver<(Instant, String)>,
    /// Every line so far, with when it was read.
    seen: Vec<(Instant, String)>,
    /// Lines before this index have been matched already.
    cursor: usize,
    stderr: mpsc::Receiver<String>,
}

impl Launcher {
    /// Writes `manifest` to `mycelium.toml` in a fresh temp dir and launches it.
    fn start(manifest: &str) -> Launcher {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join("mycelium.toml"), manifest).expect("write the manifest");
        let mut child = Command::new(MYCELIUM)
            .arg("launch")
            .current_dir(dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start mycelium launch");
        let out = child.stdout.take().expect("stdout");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for l in BufReader::new(out).lines().map_while(Result::ok) {
                let _ = tx.send((Instant::now(), normalize(&l)));
            }
        });
        let mut err = child.stderr.take().expect("stderr");
        let (etx, stderr) = mpsc::channel();
        std::thread::spawn(move || {
            let mut s = String::new();
            let _ = err.read_to_string(&mut s);
            let _ = etx.send(s);
        });
        Launcher { child, dir, lines, seen: Vec::new(), cursor: 0, stderr }
    }

    fn url(&self) -> String {
        format!("sqlite://{}", self.dir.path().join("mycelium.db").display())
    }

    /// Waits until every one of `needles` is in a line after the cursor (in
    /// any order), moves the cursor past the last of them, and returns the
    /// matching lines with when they were read.
    fn expect_all(&mut self, needles: &[&str]) -> Vec<(Instant, String)> {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let found: Vec<Option<usize>> =
                needles.iter().map(|n| (self.cursor..self.seen.len()).find(|&i| self.seen[i].1.contains(n))).collect();
            if found.iter().all(Option::is_some) {
                let idx: Vec<usize> = found.into_iter().flatten().collect();
                self.cursor = idx.iter().max().map_or(self.cursor, |m| m + 1);
                return idx.into_iter().map(|i| self.seen[i].clone()).collect();
            }
            match self.lines.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(line) => self.seen.push(line),
                Err(_) => panic!("no line with {needles:?} in time; the log so far:\n{}", self.log()),
            }
        }
    }

    /// Waits for one line holding `needle`.
    fn expect(&mut self, needle: &str) -> (Instant, String) {
        self.expect_all(&[needle]).remove(0)
    }

    /// The row of `label` in the next status table.
    fn status_row(&mut self, label: &str) -> String {
        self.expect("launch | PROCESS");
        let start = self.cursor;
        let (_, row) = self.expect(&format!("launch | {label} "));
        assert!(self.seen[start..self.cursor - 1].iter().all(|(_, l)| l.starts_with("launch | ")), "one table");
        row
    }

    /// The pid in the next `<label> started` or `restarted` line.
    fn pid_of(&mut self, label: &str) -> i32 {
        let (_, line) = self.expect(&format!("launch | {label} "));
        pid_in(&line).unwrap_or_else(|| panic!("no pid in `{line}`"))
    }

    fn signal(&self, signal: Signal) {
        kill_process(Pid::from_raw(self.child.id() as i32).expect("pid"), signal).expect("signal the launcher");
    }

    /// Waits for the launcher to exit: its status, whole log and stderr.
    fn wait(&mut self) -> (ExitStatus, String, String) {
        let deadline = Instant::now() + PATIENCE;
        let status = loop {
            if let Some(s) = self.child.try_wait().expect("wait") {
                break s;
            }
            assert!(Instant::now() < deadline, "the launcher did not exit; its log:\n{}", self.log());
            std::thread::sleep(Duration::from_millis(10));
        };
        while let Ok(line) = self.lines.recv_timeout(Duration::from_secs(5)) {
            self.seen.push(line);
        }
        let stderr = self.stderr.recv_timeout(Duration::from_secs(5)).unwrap_or_default();
        (status, self.log(), stderr)
    }

    fn log(&self) -> String {
        self.seen.iter().map(|(_, l)| format!("{l}\n")).collect()
    }
}

impl Drop for Launcher {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `trials.1      | text` as `trials.1 | text`: the padding depends on the
/// longest label.
fn normalize(line: &str) -> String {
    match line.split_once(" | ") {
        Some((label, rest)) => format!("{} | {rest}", label.trim_end()),
        None => line.to_owned(),
    }
}

/// The number after `pid ` in a line.
fn pid_in(line: &str) -> Option<i32> {
    let rest = line.split_once("pid ")?.1;
    rest.split(|c: char| !c.is_ascii_digit()).next()?.parse().ok()
}

/// Whether process `pid` is gone (or a zombie no one has reaped yet: it
/// runs nothing any more).
fn gone(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        // The state follows the parenthesised command name.
        Ok(stat) => stat.rsplit_once(") ").is_some_and(|(_, rest)| rest.starts_with('Z') || rest.starts_with('X')),
    }
}

/// `mycelium launch --check` on `manifest` (in a temp dir with a
/// not-executable file `not-exec`): exit code and stderr.
fn check(manifest: &str) -> (Option<i32>, String, String) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("m.toml");
    std::fs::write(&path, manifest).expect("write");
    std::fs::write(dir.path().join("not-exec"), "#!/bin/sh\n").expect("write");
    let out = Command::new(MYCELIUM).args(["launch", "--check"]).arg(&path).output().expect("run --check");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).replace(&dir.path().display().to_string(), "DIR");
    (out.status.code(), stdout, stderr)
}

#[test]
fn an_elf_killed_is_restarted_with_a_growing_backoff() {
    let mut l = Launcher::start(
        "store = \"sqlite://mycelium.db\"\n\
         coordinator = false\n\
         [elves.trials]\n\
         binary = \"elf-trials\"\n\
         backoff_ms = 300\n\
         backoff_max_ms = 5000\n",
    );
    let first = l.pid_of("trials.1");
    l.expect("trials.1 | elf trials ready");

    let t0 = Instant::now();
    kill_process(Pid::from_raw(first).expect("pid"), Signal::KILL).expect("kill the elf");
    l.expect("trials.1 exited after");
    l.expect("trials.1: restart 1 in 300ms");
    let (t1, line) = l.expect("launch | trials.1 restarted (restart 1)");
    let second = pid_in(&line).expect("pid");
    assert_ne!(second, first);
    assert!(t1 - t0 >= Duration::from_millis(300), "restarted after {:?}", t1 - t0);
    l.expect("trials.1 | elf trials ready");

    // Killed again before it ran 10 s: the delay doubles.
    let t2 = Instant::now();
    kill_process(Pid::from_raw(second).expect("pid"), Signal::KILL).expect("kill the elf");
    l.expect("trials.1: restart 2 in 600ms");
    let (t3, _) = l.expect("launch | trials.1 restarted (restart 2)");
    assert!(t3 - t2 >= Duration::from_millis(600), "restarted after {:?}", t3 - t2);
    l.expect("trials.1 | elf trials ready");

    // The status summary counts the restarts and shows the last exit.
    l.signal(Signal::USR1);
    let row = l.status_row("trials.1");
    assert!(row.contains("running") && row.contains(" 2 ") && row.contains("signal 9 (SIGKILL)"), "{row}");

    l.signal(Signal::TERM);
    let (status, log, _) = l.wait();
    assert_eq!(status.code(), Some(0), "the last run stopped cleanly:\n{log}");
}

#[test]
fn a_crash_loop_shows_its_stderr_and_its_backoff_reaches_the_cap() {
    let mut l = Launcher::start(
        "store = \"sqlite://mycelium.db\"\n\
         coordinator = false\n\
         [elves.broken]\n\
         binary = \"elf-trials\"\n\
         args = [\"--bogus\"]\n\
         backoff_ms = 100\n\
         backoff_max_ms = 400\n",
    );
    l.expect("broken.1 exited after");
    l.expect("broken.1 stderr: error: unexpected argument '--bogus' found");
    l.expect("broken.1: restart 1 in 100ms");
    l.expect("broken.1: restart 2 in 200ms");
    l.expect("broken.1: restart 3 in 400ms");
    l.expect("broken.1: restart 4 in 400ms");
    l.signal(Signal::USR1);
    let row = l.status_row("broken.1");
    assert!(row.contains("exit 2"), "{row}");
    l.expect("launch |   last stderr: For more information, try '--help'.");
    l.signal(Signal::TERM);
    let (status, log, stderr) = l.wait();
    assert_eq!(status.code(), Some(5), "the last run failed:\n{log}");
    assert!(stderr.contains("not clean: broken.1 (exit 2)"), "{stderr}");
}

#[test]
fn in_group_mode_one_death_stops_all() {
    let mut l = Launcher::start(
        "store = \"sqlite://mycelium.db\"\n\
         mode = \"group\"\n\
         [coordinator]\n\
         tick_ms = 100\n\
         [elves.trials]\n\
         binary = \"elf-trials\"\n\
         replicas = 2\n",
    );
    let pids: Vec<i32> = ["coordinator.1", "trials.1", "trials.2"].iter().map(|p| l.pid_of(p)).collect();
    l.expect_all(&["coordinator.1 | coordinator ready", "trials.1 | elf trials ready", "trials.2 | elf trials ready"]);
    kill_process(Pid::from_raw(pids[1]).expect("pid"), Signal::KILL).expect("kill one elf");
    l.expect("mode = \"group\": one process ended, so all stop");
    let (status, log, stderr) = l.wait();
    assert!(log.contains("trials.2 | elf trials stopped"), "{log}");
    assert!(log.contains("trials.2 exited after") && log.contains("coordinator.1 exited after"), "{log}");
    assert!(!log.contains("restart 1"), "nothing restarts in group mode:\n{log}");
    assert_eq!(status.code(), Some(5), "one process died by a signal:\n{log}");
    assert!(stderr.contains("trials.1 (signal 9 (SIGKILL))"), "{stderr}");
    assert!(pids.iter().all(|p| gone(*p)), "every process is gone");
}

#[test]
fn sigterm_drains_a_slow_job_and_the_launcher_exits_0() {
    let mut l = Launcher::start(
        "store = \"sqlite://mycelium.db\"\n\
         grace_ms = 12000\n\
         [coordinator]\n\
         tick_ms = 100\n\
         [elves.trials]\n\
         binary = \"elf-trials\"\n",
    );
    l.expect_all(&["coordinator.1 | coordinator ready", "trials.1 | elf trials ready"]);
    let myc = mycelium::connect(&l.url()).expect("connect");
    let mut o = myc.orchestration("drain");
    let nap = o.call(trials::nap::call(1500));
    let run = o.submit_blocking().expect("submit");
    let job = run.jobs()[0];
    let deadline = Instant::now() + PATIENCE;
    while myc.store().job(job).expect("read").expect("job").state != JobState::Claimed {
        assert!(Instant::now() < deadline, "the job was never claimed");
        std::thread::sleep(Duration::from_millis(5));
    }
    l.signal(Signal::TERM);
    l.expect("stopping (SIGTERM): SIGTERM to 2 process(es)");
    l.expect("trials.1 | elf trials stopping: finishing 1 job(s)");
    let (status, log, _) = l.wait();
    assert_eq!(status.code(), Some(0), "{log}");
    assert!(log.contains("trials.1 exited after") && log.contains(": exit 0"), "{log}");
    let j = myc.store().job(job).expect("read").expect("job");
    assert_eq!(j.state, JobState::Succeeded, "the elf finished its job before it exited");
    assert_eq!(crate::util::within(Duration::from_secs(5), run.wait(&nap)).expect("result"), 1500);
}

/// A process that ignores SIGTERM outlives the grace period: the launcher
/// SIGKILLs it and exits 6, naming it.
#[test]
fn a_process_that_outlives_the_grace_period_is_killed_and_the_launcher_exits_6() {
    let mut l = Launcher::start(
        "store = \"sqlite://mycelium.db\"\n\
         coordinator = false\n\
         grace_ms = 300\n\
         [elves.stubborn]\n\
         binary = \"/bin/sh\"\n\
         args = [\"-c\", \"trap '' TERM; echo stubborn ready; while true; do sleep 0.05; done\"]\n",
    );
    let pid = l.pid_of("stubborn.1");
    l.expect("stubborn.1 | stubborn ready");
    let asked = Instant::now();
    l.signal(Signal::TERM);
    let (status, log, stderr) = l.wait();
    assert_eq!(status.code(), Some(6), "{log}\n{stderr}");
    assert!(asked.elapsed() >= Duration::from_millis(300), "killed before its grace period ended");
    assert!(stderr.contains("SIGKILLed after the grace period: stubborn.1"), "{stderr}");
    assert!(log.contains("killed by the launcher"), "{log}");
    assert!(gone(pid), "the stubborn process is gone");
}

#[test]
fn a_sigkilled_launcher_leaves_no_orphans() {
    let mut l = Launcher::start(
        "store = \"sqlite://mycelium.db\"\n\
         [elves.trials]\n\
         binary = \"elf-trials\"\n\
         replicas = 2\n",
    );
    let pids: Vec<i32> = ["coordinator.1", "trials.1", "trials.2"].iter().map(|p| l.pid_of(p)).collect();
    l.expect_all(&["coordinator.1 | coordinator ready", "trials.1 | elf trials ready", "trials.2 | elf trials ready"]);
    assert!(pids.iter().all(|p| !gone(*p)), "all run before");
    l.signal(Signal::KILL);
    let (status, _, _) = l.wait();
    assert_eq!(std::os::unix::process::ExitStatusExt::signal(&status), Some(9), "{status}");
    let deadline = Instant::now() + Duration::from_secs(2);
    while !pids.iter().all(|p| gone(*p)) {
        if Instant::now() >= deadline {
            let orphans: Vec<i32> = pids.iter().copied().filter(|p| !gone(*p)).collect();
            for p in &orphans {
                let _ = kill_process(Pid::from_raw(*p).expect("pid"), Signal::KILL);
            }
            panic!("orphans left (now killed): {orphans:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn every_line_comes_whole_behind_its_prefix_with_the_launch_environment() {
    let mut l = Launcher::start(
        "store = \"sqlite://mycelium.db\"\n\
         coordinator = false\n\
         [elves.sh]\n\
         binary = \"/bin/sh\"\n\
         replicas = 2\n\
         restart = \"never\"\n\
         args = [\"-c\", '''printf 'half'; sleep 0.2; printf ' line of %s\\n' \"$MYCELIUM_LAUNCH\"; echo \"url=$MYCELIUM_URL dir=$(pwd)\"; echo oops >&2; printf 'no newline'''']\n",
    );
    let url = l.url();
    let dir = l.dir.path().display().to_string();
    // The two processes' lines interleave in any order, but each comes whole.
    l.expect_all(&[
        "sh.1 | half line of sh.1",
        "sh.2 | half line of sh.2",
        &format!("sh.1 | url={url} dir={dir}"),
        &format!("sh.2 | url={url} dir={dir}"),
        "sh.1 | oops",
        "sh.2 | oops",
        "sh.1 | no newline",
        "sh.2 | no newline",
    ]);
    let (status, log, _) = l.wait();
    assert_eq!(status.code(), Some(0), "every process ended with exit 0 and none restarts:\n{log}");
    assert!(log.contains("sh.1 is not restarted (restart = \"never\")"), "{log}");
}

/// The line a problem is reported at, in `--check`'s stderr.
fn problem_line(stderr: &str, needle: &str) -> Option<usize> {
    let at = stderr.lines().find(|l| l.contains(needle))?;
    at.split(':').nth(1)?.parse().ok()
}

#[test]
fn check_reports_every_problem_at_once_with_its_line_and_fix() {
    let manifest = r#"store = "sqlite://m.db"

[elves.animals]
binary = "elf-no-such-binary"
replica = 2

[elves.trials]
binary = "elf-trials"
replicas = 0
restart = "sometimes"

[elves.coordinator]
binary = "elf-trials"

[elves.printer]
binary = "elf-printer"

[elves.printer]
binary = "elf-printer"
"#;
    let (code, _, stderr) = check(manifest);
    assert_eq!(code, Some(1), "{stderr}");
    let expect = [
        (
            4,
            "binary `elf-no-such-binary` of [elves.animals] not found",
            "fix: build it (cargo build --release --bin elf-no-such-binary) or give its path; looked for",
        ),
        (5, "unknown key `replica` in [elves.animals]", "fix: did you mean `replicas`?"),
        (9, "[elves.trials] has zero replicas", "fix: set replicas = 1 or more, or remove the group"),
        (
            10,
            "`sometimes` is not a valid value in [elves.trials]",
            "fix: use one of \"always\", \"on-failure\", \"never\"",
        ),
        (12, "duplicate name: `coordinator` is the launcher's own name", "fix: call the group something else"),
        (
            18,
            "duplicate name: `[elves.printer]` is declared twice (first on line 15)",
            "fix: give each group its own name",
        ),
    ];
    for (line, message, fix) in expect {
        assert_eq!(problem_line(&stderr, message), Some(line), "`{message}` on line {line}:\n{stderr}");
        assert!(stderr.contains(&format!("DIR/m.toml:{line}:")), "{stderr}");
        assert!(stderr.contains(fix), "`{fix}`:\n{stderr}");
    }
    // Where it looked for the missing binary: next to mycelium first.
    let exe_dir = Path::new(MYCELIUM).parent().expect("dir").join("elf-no-such-binary");
    assert!(stderr.contains(&exe_dir.display().to_string()), "{stderr}");
    assert!(stderr.contains("error: 6 problem(s) in DIR/m.toml; nothing was started"), "{stderr}");
}

#[test]
fn check_names_each_kind_of_problem_and_passes_a_good_manifest() {
    // (manifest, line, message, fix)
    let cases: &[(&str, usize, &str, &str)] = &[
        (
            "store = \"sqlite://m.db\"\nreplicas = 3\n",
            2,
            "unknown key `replicas` in the top level",
            "remove it: the top level takes",
        ),
        (
            "store = \"sqlite://m.db\"\n[serve]\nport = 8080\n",
            3,
            "unknown key `port` in [serve]",
            "remove it: [serve] takes enabled, listen, allow_loopback_without_token",
        ),
        (
            "store = \"sqlite://m.db\"\n[serve]\nlisten = \"localhost:8080\"\n",
            3,
            "listen = \"localhost:8080\" in [serve] is not an IP address and port",
            "such as listen = \"127.0.0.1:7070\"",
        ),
        (
            "store = \"sqlite://m.db\"\n[serve]\nlisten = \"127.0.0.1\"\n",
            3,
            "listen = \"127.0.0.1\" in [serve] is not an IP address and port",
            "port 0 picks a free one",
        ),
        (
            "store = \"sqlite://m.db\"\n[serve]\nallow_loopback_without_token = \"yes\"\n",
            3,
            "invalid type: string \"yes\", expected a boolean in [serve]",
            "write true or false",
        ),
        (
            "store = \"sqlite://m.db\"\n[serve]\nhooks = \"no-hooks.json\"\n",
            3,
            "hooks = \"no-hooks.json\" in [serve] cannot be used: read the hooks file DIR/no-hooks.json",
            "point `hooks` at a webhooks file",
        ),
        (
            "store = \"sqlite://m.db\"\n[serve]\nenv = { MYCELIUM_URL = \"x\" }\n",
            2,
            "env of [serve] sets MYCELIUM_URL",
            "remove MYCELIUM_URL",
        ),
        (
            "store = \"sqlite://m.db\"\n[elves.serve]\nbinary = \"elf-trials\"\n",
            2,
            "duplicate name: `serve` is the launcher's own name",
            "call the group something else",
        ),
        (
            "[elves.trials]\nbinary = \"elf-trials\"\n",
            0,
            "the manifest has no `store`",
            "add a first line such as store =",
        ),
        ("store = \"postgres://x\"\n", 1, "`store` is not a store URL", "write sqlite://"),
        (
            "store = \"sqlite://m.db\"\n[elves.a]\nbinary = \"./missing\"\n",
            3,
            "binary `./missing` of [elves.a] not found",
            "correct the path",
        ),
        (
            "store = \"sqlite://m.db\"\n[elves.a]\nbinary = \"./not-exec\"\n",
            3,
            "cannot run: it is not executable",
            "chmod +x",
        ),
        (
            "store = \"sqlite://m.db\"\n[elves.a]\nreplicas = 1\n",
            2,
            "[elves.a] has no `binary`",
            "add binary = \"elf-a\"",
        ),
        (
            "store = \"sqlite://m.db\"\n[elves.a]\nbinary = \"elf-trials\"\nrestart = \"on_failure\"\n",
            4,
            "`on_failure` is not a valid value",
            "did you mean \"on-failure\"?",
        ),
        (
            "store = \"sqlite://m.db\"\n[elves.a]\nbinary = \"elf-trials\"\nreplicas = -1\n",
            4,
            "invalid value: integer `-1`",
            "a whole number",
        ),
        (
            "store = \"sqlite://m.db\"\nmode = \"group\"\n[elves.a]\nbinary = \"elf-trials\"\nrestart = \"always\"\n",
            5,
            "has no effect in mode = \"group\"",
            "remove the `restart` line",
        ),
        (
            "store = \"sqlite://m.db\"\n[elves.a]\nbinary = \"elf-trials\"\nenv = { MYCELIUM_URL = \"x\" }\n",
            4,
            "sets MYCELIUM_URL, which the launcher sets itself",
            "remove MYCELIUM_URL",
        ),
        (
            "store = \"sqlite://m.db\"\n[elves.a]\nbinary = \"elf-trials\"\nbackoff_factor = 0.5\n",
            4,
            "backoff_factor = 0.5 would not grow",
            "use 1.0",
        ),
        (
            "store = \"sqlite://m.db\"\n[elves.a]\nbinary = \"elf-trials\"\nbackoff_ms = 900\nbackoff_max_ms = 100\n",
            5,
            "backoff_max_ms (100 ms) is below backoff_ms (900 ms)",
            "at least backoff_ms",
        ),
        ("store = \"sqlite://m.db\"\ncoordinator = false\n", 0, "the manifest launches nothing", "add a group"),
        (
            "store = \"sqlite://m.db\"\n[elves.a.b]\nbinary = 1\n",
            2,
            "unknown key `b` in [elves.a]",
            "a group takes binary",
        ),
        ("store = \"sqlite://m.db\"\n[elves.a]\nbinary = \"x\n", 3, "this is not valid TOML", "fix the syntax"),
    ];
    for (manifest, line, message, fix) in cases {
        let (code, _, stderr) = check(manifest);
        assert_eq!(code, Some(1), "{manifest}\n{stderr}");
        let want = if *line == 0 { "DIR/m.toml: ".to_owned() } else { format!("DIR/m.toml:{line}:") };
        let at = stderr.lines().find(|l| l.contains(message)).unwrap_or_else(|| panic!("no `{message}`:\n{stderr}"));
        assert!(at.starts_with(&want), "`{message}` should be at {want}:\n{stderr}");
        assert!(stderr.contains(fix), "`{fix}`:\n{stderr}");
    }

    let (code, stdout, stderr) =
        check("store = \"sqlite://m.db\"\n[elves.trials]\nbinary = \"elf-trials\"\nreplicas = 2\nslots = 3\n");
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stdout.contains("ok, 3 process(es)"), "{stdout}");
    let trials = PathBuf::from(MYCELIUM).with_file_name("elf-trials");
    assert!(stdout.contains(&format!("trials.2       {} --slots 3", trials.display())), "{stdout}");

    // [serve] is one more process: `mycelium serve` with its options.
    let (code, stdout, stderr) = check(
        "store = \"sqlite://m.db\"\n[serve]\nlisten = \"0.0.0.0:8080\"\nallow_loopback_without_token = true\n\
         max_body_bytes = 1024\n",
    );
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stdout.contains("ok, 2 process(es)"), "{stdout}");
    let line = stdout.lines().find(|l| l.trim_start().starts_with("serve.1")).unwrap_or_else(|| panic!("{stdout}"));
    assert!(
        line.ends_with(&format!(
            "{MYCELIUM} serve --listen 0.0.0.0:8080 --allow-loopback-without-token --max-body-bytes 1024  \
             (restart on-failure)"
        )),
        "{line}"
    );
    let (code, stdout, stderr) = check("store = \"sqlite://m.db\"\ncoordinator = false\nserve = true\n");
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stdout.contains(&format!("serve.1  {MYCELIUM} serve --listen 127.0.0.1:7070  (restart")), "{stdout}");
}

#[test]
fn a_bad_manifest_starts_nothing() {
    let mut l =
        Launcher::start("store = \"sqlite://mycelium.db\"\n[elves.trials]\nbinary = \"elf-trials\"\nreplicas = 0\n");
    let (status, log, stderr) = l.wait();
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("mycelium.toml:4:12: [elves.trials] has zero replicas"), "{stderr}");
    assert!(log.is_empty(), "nothing was launched: {log}");
    assert!(!l.dir.path().join("mycelium.db").exists(), "the store was not created");
}

#[test]
fn the_example_manifests_check() {
    for name in ["demo.toml", "bench.toml"] {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples").join(name);
        let out = Command::new(MYCELIUM).args(["launch", "--check"]).arg(&path).output().expect("run --check");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{name}: {}{stdout}", String::from_utf8_lossy(&out.stderr));
        assert!(stdout.contains(": ok, "), "{stdout}");
    }
}

#[test]
fn mycelium_elves_shows_the_launched_instances() {
    let mut l = Launcher::start(
        "store = \"sqlite://mycelium.db\"\n\
         coordinator = false\n\
         [elves.trials]\n\
         binary = \"elf-trials\"\n\
         replicas = 2\n",
    );
    l.expect_all(&["trials.1 | elf trials ready", "trials.2 | elf trials ready"]);
    let out = Command::new(MYCELIUM).args(["--store", &l.url(), "elves", "--json"]).output().expect("mycelium elves");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let elves: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let mut labels: Vec<&str> = elves
        .as_array()
        .expect("a list")
        .iter()
        .filter(|e| e["state"] == "running")
        .filter_map(|e| e["label"].as_str())
        .collect();
    labels.sort_unstable();
    assert_eq!(labels, vec!["trials.1", "trials.2"]);
    let table = Command::new(MYCELIUM).args(["--store", &l.url(), "elves"]).output().expect("mycelium elves");
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(text.to_lowercase().contains("launched as") && text.contains("trials.2"), "{text}");
    l.signal(Signal::TERM);
    let (status, log, _) = l.wait();
    assert_eq!(status.code(), Some(0), "{log}");
}

#[test]
fn sigterm_runs_an_elf_s_on_stop_hook_after_it_drained() {
    let mut l = Launcher::start(
        "store = \"sqlite://mycelium.db\"\n\
         [coordinator]\n\
         tick_ms = 100\n\
         [elves.agents]\n\
         binary = \"elf-agents-a\"\n",
    );
    // The start hook runs before the elf says it is ready (and claims).
    l.expect("agents.1 | agents-a: on-start hook ran");
    l.expect("agents.1 | elf agents-a ready");
    l.signal(Signal::TERM);
    l.expect("agents.1 | elf agents-a stopping");
    l.expect("agents.1 | agents-a: on-stop hook ran");
    l.expect("agents.1 | elf agents-a stopped");
    let (status, log, _) = l.wait();
    assert_eq!(status.code(), Some(0), "{log}");
}

#[test]
fn a_serve_section_runs_the_http_api_under_supervision_and_stops_with_the_rest() {
    let mut l = Launcher::start(
        "store = \"sqlite://mycelium.db\"\n\
         [coordinator]\n\
         tick_ms = 100\n\
         [serve]\n\
         listen = \"127.0.0.1:0\"\n\
         [elves.trials]\n\
         binary = \"elf-trials\"\n",
    );
    let pids: Vec<i32> = ["coordinator.1", "serve.1", "trials.1"].iter().map(|p| l.pid_of(p)).collect();
    let ready = l.expect_all(&["serve.1 | mycelium serve ready on http://127.0.0.1:", "trials.1 | elf trials ready"]);
    let ready = &ready[0].1;
    let base = ready
        .split("ready on ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .unwrap_or_else(|| panic!("no address in `{ready}`"))
        .to_owned();

    // A run through the launched elves, then seen through the launched API.
    let myc = mycelium::connect(&l.url()).expect("connect");
    let mut o = myc.orchestration("served");
    let nap = o.call(trials::nap::call(1));
    let run = o.submit_blocking().expect("submit");
    assert_eq!(crate::util::within(PATIENCE, run.wait(&nap)).expect("result"), 1);
    let out = Command::new(MYCELIUM)
        .args(["--store", &l.url(), "--json", "token", "create", "--scope", "read", "--name", "launched"])
        .output()
        .expect("mycelium token create");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let token: serde_json::Value = serde_json::from_slice(&out.stdout).expect("token JSON");
    let token = token["secret"].as_str().expect("a secret").to_owned();
    let runs = format!("{base}/api/runs");
    let (without, with) = crate::util::runtime().block_on(async {
        let c = reqwest::Client::new();
        (
            crate::serve::call(&c, "GET", &runs, None, None).await,
            crate::serve::call(&c, "GET", &runs, Some(token.as_str()), None).await,
        )
    });
    assert_eq!(without.0, 401, "no token, no loopback option: {}", without.1);
    assert_eq!(with.0, 200, "{}", with.1);
    let ids: Vec<i64> = with.1["items"].as_array().expect("items").iter().filter_map(|r| r["id"].as_i64()).collect();
    assert_eq!(ids, vec![run.id().0], "{}", with.1);

    l.signal(Signal::TERM);
    l.expect("stopping (SIGTERM): SIGTERM to 3 process(es)");
    let (status, log, stderr) = l.wait();
    assert_eq!(status.code(), Some(0), "everything stopped cleanly:\n{log}{stderr}");
    let serve_end =
        log.lines().find(|l| l.contains("launch | serve.1 exited after")).unwrap_or_else(|| panic!("{log}"));
    assert!(serve_end.ends_with(": exit 0"), "{serve_end}");
    assert!(
        log.lines().any(|l| l.starts_with("launch | serve.1 ") && l.contains(" ended ") && l.contains(" exit 0 ")),
        "the final status has the server:\n{log}"
    );
    assert!(pids.iter().all(|p| gone(*p)), "every process is gone");
}

#[test]
fn a_server_that_cannot_listen_is_a_crash_shown_with_its_stderr() {
    // Something listens on the port already: the server exits at once with
    // its reason, and is restarted by its policy like any process.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = taken.local_addr().expect("addr");
    let mut l = Launcher::start(&format!(
        "store = \"sqlite://mycelium.db\"\n\
         coordinator = false\n\
         [serve]\n\
         listen = \"{addr}\"\n\
         allow_loopback_without_token = true\n\
         backoff_ms = 100\n"
    ));
    l.expect("serve.1 exited after");
    l.expect(&format!("serve.1 stderr: error: listen on {addr} (is another server using it?"));
    l.expect("serve.1: restart 1 in 100ms (restart = \"on-failure\")");
    drop(taken);
    l.expect("serve.1 | mycelium serve ready on http://");
    let (status, body) = crate::util::runtime().block_on(async {
        crate::serve::call(&reqwest::Client::new(), "GET", &format!("http://{addr}/api/runs"), None, None).await
    });
    assert_eq!(status, 200, "loopback without a token, as configured: {body}");
    l.signal(Signal::INT);
    let (status, log, stderr) = l.wait();
    assert_eq!(status.code(), Some(0), "its last run stopped cleanly:\n{log}{stderr}");
}
