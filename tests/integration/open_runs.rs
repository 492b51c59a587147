//! Open runs with real processes: a driver streams chunks into one run while
//! an elf works, is SIGKILLed mid-stream, and the run stays open with every
//! chunk it committed until a new driver takes it up and seals it.

use std::process::Command;
use std::time::Duration;

use mycelium::Output;
use mycelium::model::{EventKind, JobState, RunId, RunState};
use mycelium::storage::{EventQuery, JobQuery, Store};

use crate::elves::bench;
use crate::util::{MYCELIUM, Proc, fresh_sqlite, within};

/// Jobs per chunk the probe driver streams.
const CHUNK: u64 = 500;

/// Waits until `check` holds, looking again whenever the store changes.
fn until(store: &Store, limit: Duration, check: impl Fn(&Store) -> bool) {
    within(limit, async {
        let mut seen = store.change_counter().expect("change counter");
        while !check(store) {
            seen = store.changed(seen).await.expect("wait for a change");
        }
    });
}

#[test]
fn a_driver_killed_mid_stream_leaves_its_run_open_with_every_chunk_it_committed() {
    let (url, _dir) = fresh_sqlite();
    let _coordinator = Proc::coordinator(&url);
    let _elf = Proc::elf("bench", &url, &[]);
    let chunk = CHUNK.to_string();
    let mut driver = Proc::start(MYCELIUM, &url, &["probe", "stream-forever", "--chunk", &chunk]);
    let line = driver.wait_for("run ", Duration::from_secs(30));
    let run = RunId(line.trim().trim_start_matches("run ").parse().expect("a run id"));
    for _ in 0..4 {
        driver.wait_for("chunk ", Duration::from_secs(60));
    }
    driver.kill9();

    let myc = mycelium::connect(&url).expect("connect");
    let store = myc.store().clone();
    let r = store.run(run).expect("read").expect("the run exists");
    assert!(!r.sealed && r.status() == "open", "{r:?}");
    assert!(r.total >= 4 * CHUNK && r.total.is_multiple_of(CHUNK), "only whole chunks are committed: {r:?}");
    let jobs = store.jobs(&JobQuery { run: Some(run), ..Default::default() }).expect("jobs");
    assert_eq!(jobs.len() as u64, r.total);

    // `mycelium runs` shows it open.
    let out = Command::new(MYCELIUM).args(["--store", &url, "runs"]).output().expect("run mycelium runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.lines().any(|l| l.contains("stream-forever") && l.contains(" open ")), "{text}");

    // The elf finishes every committed job; the run stays open all the same.
    until(&store, Duration::from_secs(120), |s| s.run(run).expect("read").is_some_and(|r| r.open == 0));
    let r = store.run(run).expect("read").expect("exists");
    assert_eq!((r.state, r.finished_at, r.failed), (RunState::Running, None, 0), "{r:?}");
    let ids: Vec<_> = jobs.iter().map(|j| j.id).collect();
    let values = store.results(&ids).expect("results");
    assert_eq!(values.len(), ids.len(), "one result per committed job");
    for (g, (id, v)) in values.iter().enumerate() {
        // Each chunk's first job takes the chunk before's last value.
        let g = g as u64;
        let expected = if g > 0 && g.is_multiple_of(CHUNK) { g - 1 } else { g };
        assert_eq!(v.as_u64(), Some(expected), "job {id} (call {g})");
    }

    // A new driver takes the run up, adds a job consuming a committed one,
    // and seals it: the run ends.
    let mut open = myc.resume_run(run).expect("resume the open run");
    assert_eq!(open.jobs().len(), ids.len());
    let last = Output::<u64>::of_job(*ids.last().expect("jobs"));
    let out = open.call(bench::value::call(last));
    let handle = open.seal_blocking().expect("seal");
    assert_eq!(handle.wait_blocking(&out).expect("the new job's value"), r.total - 1);
    until(&store, Duration::from_secs(60), |s| s.run(run).expect("read").is_some_and(|r| r.state.is_final()));
    let r = store.run(run).expect("read").expect("exists");
    assert_eq!((r.state, r.sealed, r.total, r.open), (RunState::Succeeded, true, ids.len() as u64 + 1, 0));
    let kinds: Vec<_> = store
        .events(&EventQuery { run: Some(run), limit: u32::MAX, ..Default::default() })
        .expect("events")
        .into_iter()
        .filter(|e| e.job.is_none())
        .map(|e| e.kind)
        .collect();
    assert_eq!(kinds, vec![EventKind::RunCreated, EventKind::RunSealed, EventKind::RunFinished]);
    assert!(
        store
            .jobs(&JobQuery { run: Some(run), ..Default::default() })
            .expect("jobs")
            .iter()
            .all(|j| j.state == JobState::Succeeded)
    );
}
