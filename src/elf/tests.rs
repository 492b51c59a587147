//! The elf runtime, the coordinator and the driver in one process, against
//! the in-memory store: what needs no process is tested without one.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use serde_json::json;
use tokio::sync::oneshot;

use super::{Elf, Options, serve};
use crate::Mycelium;
use crate::model::{ElfState, FailureKind, JobState, RunState};
use crate::storage::{FailureQuery, JobQuery, Store};
use crate::task::Call;

/// The tasks of these tests belong to the elf `inproc`.
const ELF: &str = "inproc";

/// Doubles its argument.
#[crate::task]
fn double(x: u64) -> u64 {
    x * 2
}

/// Adds its arguments.
#[crate::task]
fn add(a: u64, b: u64) -> u64 {
    a + b
}

/// Fails when asked to.
#[crate::task]
fn refuse(why: String) -> Result<u64, std::io::Error> {
    Err(std::io::Error::other(why))
}

/// Sleeps `ms`, then returns it.
#[crate::task]
async fn nap(ms: u64) -> u64 {
    tokio::time::sleep(Duration::from_millis(ms)).await;
    ms
}

/// How many `counted_nap`s run now, and the most that ever ran at once.
static RUNNING: AtomicU32 = AtomicU32::new(0);
static MOST: AtomicU32 = AtomicU32::new(0);

/// Sleeps `ms` on its thread, counting how many run at once.
#[crate::task]
fn counted_nap(ms: u64) -> u64 {
    let now = RUNNING.fetch_add(1, Ordering::SeqCst) + 1;
    MOST.fetch_max(now, Ordering::SeqCst);
    std::thread::sleep(Duration::from_millis(ms));
    RUNNING.fetch_sub(1, Ordering::SeqCst);
    ms
}

fn elf() -> Elf {
    Elf::new(ELF).task(&double::TASK).task(&add::TASK).task(&refuse::TASK).task(&nap::TASK).task(&counted_nap::TASK)
}

/// Serves the test elf on `store` until the returned sender fires.
fn start_elf(store: &Store) -> (oneshot::Sender<()>, tokio::task::JoinHandle<Result<(), crate::storage::Error>>) {
    let (stop, stopped) = oneshot::channel::<()>();
    let store = store.clone();
    let handle = tokio::spawn(async move {
        let options = Options { slots: 8, ..Options::default() };
        serve(&elf(), store, &options, async move {
            let _ = stopped.await;
        })
        .await
    });
    (stop, handle)
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime")
}

#[test]
fn an_elf_runs_a_graph_and_batches_its_writes() {
    runtime().block_on(async {
        let store = Store::memory();
        let (stop, handle) = start_elf(&store);
        let myc = Mycelium::new(store.clone());
        let n = 1_000u64;
        let mut o = myc.orchestration("inproc");
        let doubled: Vec<_> = (0..n).map(|i| o.call(double::call(i))).collect();
        let total = doubled.iter().skip(1).fold(doubled[0].clone(), |acc, d| o.call(add::call(acc, d.clone())));
        let run = o.submit().await.expect("submit");
        let before = store.transactions();
        let sum: u64 =
            tokio::time::timeout(Duration::from_secs(60), run.wait(&total)).await.expect("in time").expect("sum");
        assert_eq!(sum, n * (n - 1));
        let p = run.finished().await.expect("finished");
        assert_eq!((p.state, p.open, p.failed), (RunState::Succeeded, 0, 0));
        // Invariant 6: results go out with the next claim, in batches. The
        // chain of adds is sequential (one job per turn), the doubles are not.
        // Unbatched, each job would cost two (its claim, its result): about
        // 4n. On a loaded machine the doubles finish one by one too, so the
        // bound leaves room for that, not for unbatched writes.
        let transactions = store.transactions() - before;
        assert!(transactions < 3 * n, "{transactions} write transactions for {} jobs: not batched", 2 * n - 1);
        let _ = stop.send(());
        handle.await.expect("join").expect("the elf stopped cleanly");
        let elves = store.elves().expect("elves");
        assert_eq!(elves.len(), 1);
        assert_eq!(elves[0].state, ElfState::Stopped, "a clean stop is recorded as such");
    });
}

#[test]
fn a_failing_task_fails_its_consumers_and_the_run() {
    runtime().block_on(async {
        let store = Store::memory();
        let (stop, handle) = start_elf(&store);
        let myc = Mycelium::new(store.clone());
        let mut o = myc.orchestration("fails");
        let bad = o.call(refuse::call("no".to_owned()));
        let after = o.call(double::call(bad.clone()));
        let run = o.submit().await.expect("submit");
        let err = run.wait(&after).await.expect_err("upstream failed");
        assert!(err.to_string().contains("upstream_failed"), "{err}");
        let p = run.finished().await.expect("finished");
        assert_eq!((p.state, p.failed), (RunState::Failed, 2));
        let f = store.failures(&FailureQuery { run: Some(run.id()), ..Default::default() }).expect("failures");
        assert_eq!(
            f.iter().map(|f| f.report.kind).collect::<Vec<_>>(),
            vec![FailureKind::UpstreamFailed, FailureKind::Error]
        );
        let _ = stop.send(());
        handle.await.expect("join").expect("stopped");
    });
}

#[test]
fn outputs_of_another_orchestration_are_refused_at_call() {
    let myc = Mycelium::new(Store::memory());
    let mut a = myc.orchestration("a");
    let x = a.call(double::call(1));
    let mut b = myc.orchestration("b");
    let _first = b.call(double::call(2));
    // Typed: the output's orchestration is known.
    b.call(double::call(x.clone()));
    let err = b.submit_blocking().expect_err("a foreign output must be refused");
    assert!(err.to_string().contains("another orchestration"), "{err}");
    // Through the JSON API: the reference names its orchestration.
    let mut c = myc.orchestration("c");
    let _first = c.call(double::call(3));
    c.call(Call::<u64>::dynamic(ELF, "double", vec![x.to_json()]));
    let err = c.submit_blocking().expect_err("a foreign JSON reference must be refused");
    let text = err.to_string();
    assert!(text.contains("another orchestration") && text.contains('#'), "{text}");
    // A reference to a call not made yet is refused too.
    let mut d = myc.orchestration("d");
    let later = json!({"$output": format!("#{}/5", "0")});
    d.call(Call::<u64>::dynamic(ELF, "double", vec![later]));
    assert!(d.submit_blocking().is_err());
    assert!(myc.store().runs(&Default::default()).expect("runs").is_empty(), "nothing was written");
}

#[test]
fn a_driver_that_comes_back_sees_its_run() {
    runtime().block_on(async {
        let store = Store::memory();
        let id = {
            let myc = Mycelium::new(store.clone());
            let mut o = myc.orchestration("again");
            for i in 0..5 {
                o.call(double::call(i));
            }
            o.submit().await.expect("submit").id()
        };
        // The first driver is gone; a new one reattaches by id.
        let myc = Mycelium::new(store.clone());
        let run = myc.run(id).expect("attach");
        assert_eq!(run.jobs().len(), 5);
        // Nothing serves the task yet: a bounded wait says so.
        let err = run.finished_within(Duration::from_millis(300)).await.expect_err("no elf runs");
        assert!(err.to_string().contains("did not get there"), "{err}");
        let unserved = run.unserved().expect("unserved");
        assert_eq!((unserved[0].elf.as_str(), unserved[0].task.as_str(), unserved[0].ready), (ELF, "double", 5));
        let (stop, handle) = start_elf(&store);
        run.finished_within(Duration::from_secs(30)).await.expect("finished");
        let values = run.values().expect("values");
        assert_eq!(values.len(), 5);
        assert!(run.unserved().expect("unserved").is_empty());
        assert!(myc.run(crate::model::RunId(999)).is_err(), "an unknown run is an error");
        let _ = stop.send(());
        handle.await.expect("join").expect("stopped");
    });
}

#[test]
fn a_stopping_elf_gives_back_what_it_cannot_finish() {
    runtime().block_on(async {
        let store = Store::memory();
        let myc = Mycelium::new(store.clone());
        let mut o = myc.orchestration("slow");
        let out = o.call(nap::call(60_000));
        let run = o.submit().await.expect("submit");
        let (stop, stopped) = oneshot::channel::<()>();
        let handle = tokio::spawn({
            let store = store.clone();
            async move {
                let options = Options { grace: Duration::from_millis(50), ..Options::default() };
                serve(&elf(), store, &options, async move {
                    let _ = stopped.await;
                })
                .await
            }
        });
        let job = run.jobs()[0];
        while store.job(job).expect("job").map(|j| j.state) != Some(JobState::Claimed) {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        let _ = stop.send(());
        handle.await.expect("join").expect("stopped");
        let j = store.job(job).expect("job").expect("exists");
        assert_eq!((j.state, j.attempt, j.lost), (JobState::Ready, 0, 0), "released, not charged, not lost");
        assert!(store.failures(&FailureQuery { job: Some(job), ..Default::default() }).expect("failures").is_empty());
        assert_eq!(store.elves().expect("elves")[0].state, ElfState::Stopped);
        // Another elf finishes it.
        let _ = out;
    });
}

/// A store that is unavailable for a while (busy, restarting) delays the
/// run: the waiting driver and the elf retry, and neither ends.
#[test]
fn a_store_outage_is_ridden_out_by_the_elf_and_the_waiting_driver() {
    runtime().block_on(async {
        let (store, faults) = Store::memory_with_faults();
        let myc = Mycelium::new(store.clone());
        let mut o = myc.orchestration("outage");
        let four = o.call(double::call(2));
        let run = o.submit().await.expect("submit");
        // The driver meets the outage first: no elf is running yet.
        faults.fail_next(6);
        let waiting = tokio::spawn({
            let (run, four) = (run.clone(), four.clone());
            async move { run.wait(&four).await }
        });
        let first = tokio::time::timeout(Duration::from_secs(60), async {
            while faults.left() == 6 {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        });
        assert!(first.await.is_ok(), "the driver never looked");
        let (stop, handle) = start_elf(&store);
        let got = tokio::time::timeout(Duration::from_secs(60), waiting).await.expect("in time").expect("joined");
        assert_eq!(got.ok(), Some(4));
        assert_eq!((faults.failed(), faults.left()), (6, 0));
        let _ = stop.send(());
        let served = handle.await.expect("joined");
        assert!(served.is_ok(), "the elf ended badly: {served:?}");
    });
}

/// Claiming ahead: an elf of one slot claims its slot's next job shortly
/// before the running one is expected to end, and starts it when the slot
/// frees; it never runs more than its slots, and the recorded start of a job
/// that waited is when it started, not when it was claimed: the job after a
/// 150 ms one, claimed when 80 ms were expected, waits about 70 ms, which its
/// recorded duration does not include (the naps are long enough that a
/// scheduling hiccup of a loaded machine, up to 30 ms, is not mistaken for
/// the wait).
#[test]
fn a_slot_s_next_job_is_claimed_before_the_slot_frees() {
    runtime().block_on(async {
        let store = Store::memory();
        let (stop, stopped) = oneshot::channel::<()>();
        let handle = tokio::spawn({
            let store = store.clone();
            async move {
                let options = Options { slots: 1, ..Options::default() };
                serve(&elf(), store, &options, async move {
                    let _ = stopped.await;
                })
                .await
            }
        });
        let myc = Mycelium::new(store.clone());
        let mut o = myc.orchestration("ahead");
        let naps = [80, 80, 80, 80, 80, 80, 150, 80, 80, 80, 80, 80];
        for ms in naps {
            o.call(counted_nap::call(ms));
        }
        let run = o.submit().await.expect("submit");
        let claimed = JobQuery { run: Some(run.id()), states: vec![JobState::Claimed], ..Default::default() };
        let mut most_held = 0;
        let watch = async {
            loop {
                most_held = most_held.max(store.jobs(&claimed).expect("jobs").len());
                if run.progress().expect("progress").state.is_final() {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        };
        tokio::time::timeout(Duration::from_secs(60), watch).await.expect("the run ends");
        assert_eq!(run.values().expect("values").len(), 12);
        assert_eq!(MOST.load(Ordering::SeqCst), 1, "one slot runs one job at a time");
        assert_eq!(most_held, 2, "the next job was claimed while one ran, and only one");
        let jobs = store.jobs(&JobQuery { run: Some(run.id()), ..Default::default() }).expect("jobs");
        let recorded: Vec<i64> =
            jobs.iter().map(|j| j.finished_at.expect("finished") - j.started_at.expect("started")).collect();
        for (ms, took) in naps.iter().map(|&ms| ms as i64).zip(&recorded) {
            assert!((ms - 1..ms + 30).contains(took), "a {ms} ms run recorded as {took} ms: {recorded:?}");
        }
        let _ = stop.send(());
        handle.await.expect("join").expect("stopped");
    });
}
