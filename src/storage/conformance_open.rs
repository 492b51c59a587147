//! The conformance cases of open runs (O1–O6): a run that takes its jobs in
//! chunks until its driver seals it, on every backend.

use serde_json::json;

use super::{claim, done, job, job_count, state, store, submit};
use crate::model::{EventKind, InstanceId, JobState, RunId, RunSpec, RunState};
use crate::storage::{Error, EventQuery, Store};

/// Opens a run named `name`.
fn open(s: &Store, name: &str) -> RunId {
    let run = s.open_run(&RunSpec::named(name)).expect("open a run");
    assert!(!run.sealed && run.state == RunState::Running && run.total == 0, "{run:?}");
    run.id
}

/// The kinds of the run-level events of `run`, in log order.
fn run_events(s: &Store, run: RunId) -> Vec<EventKind> {
    s.events(&EventQuery { run: Some(run), limit: 1000, ..Default::default() })
        .expect("events")
        .into_iter()
        .filter(|e| e.job.is_none())
        .map(|e| e.kind)
        .collect()
}

/// O1: an open run whose every job so far is final does not finish; sealing
/// it then finishes it at once (one `run_sealed`, one `run_finished`
/// event); sealing again changes nothing.
pub fn o01_an_open_run_finishes_only_once_sealed(url: &str) {
    let s = store(url);
    let run = open(&s, "o1");
    let ids = s.append(run, &[job("e", json!([1])), job("e", json!([2]))]).expect("append").jobs;
    let me = InstanceId::random();
    for c in claim(&s, &me, "e", 2, 60_000) {
        s.complete(&[done(c.lease, json!(1))]).expect("complete");
    }
    assert!(ids.iter().all(|id| state(&s, *id) == JobState::Succeeded));
    let r = s.run(run).expect("run").expect("exists");
    assert_eq!((r.state, r.total, r.open, r.sealed, r.finished_at), (RunState::Running, 2, 0, false, None));

    let sealed = s.seal(run).expect("seal");
    assert_eq!((sealed.state, sealed.sealed, sealed.open), (RunState::Succeeded, true, 0));
    assert!(sealed.finished_at.is_some());
    assert_eq!(s.run(run).expect("run"), Some(sealed.clone()));
    assert_eq!(s.seal(run).expect("seal again"), sealed, "sealing a sealed run changes nothing");
    assert_eq!(run_events(&s, run), vec![EventKind::RunCreated, EventKind::RunSealed, EventKind::RunFinished]);
}

/// O2: a run sealed with jobs still open ends when its last job does, failed
/// when one failed; a run submitted in one piece is sealed from the start.
pub fn o02_a_sealed_run_ends_with_its_last_job(url: &str) {
    let s = store(url);
    let run = open(&s, "o2");
    s.append(run, &[job("e", json!([1]))]).expect("first chunk");
    s.append(run, &[job("e", json!([2]))]).expect("second chunk");
    let r = s.seal(run).expect("seal");
    assert_eq!((r.state, r.total, r.open, r.sealed), (RunState::Running, 2, 2, true));
    let me = InstanceId::random();
    let mut claimed = claim(&s, &me, "e", 2, 60_000);
    assert_eq!(claimed.len(), 2, "both chunks' jobs are claimable");
    let last = claimed.remove(1);
    s.complete(&[done(claimed.remove(0).lease, json!(1))]).expect("complete");
    assert_eq!(s.run(run).expect("run").expect("exists").state, RunState::Running);
    let report = crate::model::FailureReport::new(crate::model::FailureKind::Error, "no");
    s.fail(&last.lease, &report).expect("fail");
    let r = s.run(run).expect("run").expect("exists");
    assert_eq!((r.state, r.open, r.failed), (RunState::Failed, 0, 1));

    let ids = submit(&s, vec![job("e", json!([1]))]);
    let whole = s.job(ids[0]).expect("read").expect("exists").run;
    assert!(s.run(whole).expect("run").expect("exists").sealed, "a submitted run is sealed");
}

/// O3: appending to a sealed run (sealed by its driver, or submitted in one
/// piece) is refused naming the run, and writes nothing.
pub fn o03_appending_to_a_sealed_run_is_refused(url: &str) {
    let s = store(url);
    let run = open(&s, "o3");
    s.append(run, &[job("e", json!([1]))]).expect("append");
    s.seal(run).expect("seal");
    let ids = submit(&s, vec![job("e", json!([1]))]);
    let whole = s.job(ids[0]).expect("read").expect("exists").run;
    let before = job_count(&s);
    for target in [run, whole] {
        let err = s.append(target, &[job("e", json!([2]))]).expect_err("a sealed run takes no more jobs");
        assert!(matches!(err, Error::Sealed { run, .. } if run == target), "{err}");
        let text = err.to_string();
        assert!(text.contains(&format!("run {target}")) && text.contains("open a new run"), "{text}");
    }
    assert_eq!(job_count(&s), before, "a refused chunk wrote something");
    assert_eq!(s.run(run).expect("run").expect("exists").total, 1);
}

/// O4: a chunk's jobs may consume outputs of earlier chunks' jobs by id: a
/// pending producer makes them pending (then ready when it succeeds), a
/// succeeded one ready, a failed one `upstream_failed`; within a chunk, keys
/// resolve as in a submission.
pub fn o04_chunks_reference_earlier_chunks(url: &str) {
    let s = store(url);
    let run = open(&s, "o4");
    let first = s.append(run, &[job("e", json!([1])), job("e", json!([2]))]).expect("first chunk").jobs;
    let (a, b) = (first[0], first[1]);
    let second = s
        .append(run, &[job("e", json!([{"$output": a.0}])).with_key("c"), job("e", json!([{"$output": "c"}]))])
        .expect("second chunk")
        .jobs;
    assert_eq!((state(&s, second[0]), state(&s, second[1])), (JobState::Pending, JobState::Pending));
    let consumer = s.job(second[0]).expect("read").expect("exists");
    assert_eq!((consumer.run, consumer.args.clone()), (run, json!([{"$output": a.0}])));
    assert_eq!(s.deps(run).expect("deps").len(), 2);

    let me = InstanceId::random();
    for c in claim(&s, &me, "e", 2, 60_000) {
        if c.lease.job == a {
            s.complete(&[done(c.lease, json!(10))]).expect("complete");
        } else {
            let report = crate::model::FailureReport::new(crate::model::FailureKind::Error, "no");
            s.fail(&c.lease, &report).expect("fail");
        }
    }
    assert_eq!(state(&s, second[0]), JobState::Ready, "its producer of an earlier chunk succeeded");
    let third = s
        .append(run, &[job("e", json!([{"$output": a.0}])), job("e", json!([{"$output": b.0}]))])
        .expect("third chunk")
        .jobs;
    assert_eq!((state(&s, third[0]), state(&s, third[1])), (JobState::Ready, JobState::UpstreamFailed));
    let r = s.run(run).expect("run").expect("exists");
    assert_eq!((r.total, r.open, r.failed, r.state), (6, 3, 2, RunState::Running));
}

/// O5: an unknown run is refused by append and seal, naming it; a chunk
/// referencing an unknown job, or a key not in the chunk, is refused naming
/// it, and the run keeps its chunks.
pub fn o05_unknown_runs_and_references_are_refused(url: &str) {
    let s = store(url);
    let nowhere = RunId(987_654);
    let err = s.append(nowhere, &[job("e", json!([1]))]).expect_err("unknown run");
    assert!(matches!(err, Error::UnknownRun(r) if r == nowhere) && err.to_string().contains("987654"), "{err}");
    assert!(matches!(s.seal(nowhere), Err(Error::UnknownRun(r)) if r == nowhere));

    let run = open(&s, "o5");
    s.append(run, &[job("e", json!([1]))]).expect("append");
    let before = job_count(&s);
    let err = s.append(run, &[job("e", json!([{"$output": 876_543}]))]).expect_err("unknown job");
    assert!(err.to_string().contains("876543"), "{err}");
    let err = s.append(run, &[job("e", json!([{"$output": "elsewhere"}]))]).expect_err("unknown key");
    assert!(err.to_string().contains("`elsewhere`"), "{err}");
    assert!(s.append(run, &[]).is_err(), "an empty chunk is refused");
    assert_eq!(job_count(&s), before, "a refused chunk wrote something");
    let r = s.run(run).expect("run").expect("exists");
    assert_eq!((r.total, r.open, r.sealed), (1, 1, false));
}

/// O6: cancelling an open run (its driver died) cancels its jobs and seals
/// it; opening with a used idempotency key answers with that run.
pub fn o06_cancel_ends_an_open_run(url: &str) {
    let s = store(url);
    let mut spec = RunSpec::named("o6");
    spec.idempotency_key = Some("o6-key".into());
    let run = s.open_run(&spec).expect("open").id;
    assert_eq!(s.open_run(&spec).expect("open again").id, run);
    s.append(run, &[job("e", json!([1])), job("e", json!([2]))]).expect("append");
    assert_eq!(s.cancel_run(run, "driver gone").expect("cancel"), 2);
    let r = s.run(run).expect("run").expect("exists");
    assert_eq!((r.state, r.sealed, r.open), (RunState::Cancelled, true, 0));
    assert!(matches!(s.append(run, &[job("e", json!([3]))]), Err(Error::Sealed { .. })));
    // An open run with no jobs yet is cancelled too.
    let empty = open(&s, "o6-empty");
    assert_eq!(s.cancel_run(empty, "driver gone").expect("cancel"), 0);
    assert_eq!(s.run(empty).expect("run").expect("exists").state, RunState::Cancelled);
}

/// O7: an open run's later chunks continue its order: after a claim moved
/// the virtual time, a new chunk's jobs come after the run's own earlier
/// ones instead of cutting in between them.
pub fn o07_later_chunks_come_after_earlier_ones(url: &str) {
    let s = store(url);
    let run = open(&s, "o7");
    let first = s.append(run, &(0..3).map(|i| job("e", json!(["a", i]))).collect::<Vec<_>>()).expect("chunk").jobs;
    let me = InstanceId::random();
    let taken: Vec<_> = claim(&s, &me, "e", 1, 60_000).into_iter().map(|c| c.lease.job).collect();
    assert_eq!(taken, vec![first[0]]);
    let second = s.append(run, &(0..3).map(|i| job("e", json!(["b", i]))).collect::<Vec<_>>()).expect("chunk").jobs;
    let rest: Vec<_> = claim(&s, &me, "e", 10, 60_000).into_iter().map(|c| c.lease.job).collect();
    let mut want = first[1..].to_vec();
    want.extend(&second);
    let mut by_turn = rest.clone();
    by_turn.sort_by_key(|id| s.job(*id).expect("read").expect("exists").turn);
    assert_eq!(by_turn, want, "the run's earlier jobs first, then the new chunk, in order");
}
