//! The conformance cases of the claim order (S1–S5): priority, then turn
//! (fair share between runs, critical path within a run), then id, on every
//! backend.

use serde_json::json;

use super::{claim, clocked, done, job, store};
use crate::model::{InstanceId, JobId, JobSpec, RunId, RunSpec, Submission};
use crate::storage::{ClaimRequest, Error, Store};

/// Submits `jobs` as a run of weight `weight`; its id and its jobs' ids.
fn submit_weighted(s: &Store, name: &str, weight: Option<u32>, jobs: Vec<JobSpec>) -> (RunId, Vec<JobId>) {
    let mut run = RunSpec::named(name);
    run.weight = weight;
    let done = s.submit(&Submission { run, jobs }).expect("submit");
    (done.run, done.jobs)
}

/// Claims one job at a time until none is left; the ids in claim order.
fn claim_all(s: &Store, me: &InstanceId) -> Vec<JobId> {
    let mut out = Vec::new();
    loop {
        let got = claim(s, me, "e", 1, 60_000);
        if got.is_empty() {
            return out;
        }
        out.extend(got.iter().map(|c| c.lease.job));
    }
}

/// S1: a run submitted while another is being worked gets its share at
/// once: its jobs interleave with the earlier run's remaining ones (turn),
/// an explicit priority still goes first, and equal turns go by id.
pub fn s01_a_later_run_interleaves_and_priority_comes_first(url: &str) {
    let s = store(url);
    let me = InstanceId::random();
    let (_, a) = submit_weighted(&s, "a", None, (0..6).map(|i| job("e", json!([i]))).collect());
    let first: Vec<JobId> = claim(&s, &me, "e", 2, 60_000).iter().map(|c| c.lease.job).collect();
    assert_eq!(first, vec![a[0], a[1]], "one run alone: in order");
    let mut urgent = job("e", json!(["urgent"]));
    urgent.priority = 1;
    let (_, b) = submit_weighted(
        &s,
        "b",
        None,
        vec![job("e", json!(["b0"])), job("e", json!(["b1"])), urgent, job("e", json!(["b3"]))],
    );
    let order = claim_all(&s, &me);
    assert_eq!(
        order,
        vec![b[2], b[0], a[2], b[1], a[3], a[4], b[3], a[5]],
        "priority first, then the two runs take turns"
    );
}

/// S2: within a run, the critical path goes first: the head of a chain
/// before independent jobs submitted before it, and each link of the chain
/// as soon as it is ready.
pub fn s02_the_critical_path_goes_first(url: &str) {
    let s = store(url);
    let me = InstanceId::random();
    let mut jobs: Vec<JobSpec> = (0..3).map(|i| job("e", json!([i])).with_key(format!("i{i}"))).collect();
    jobs.push(job("e", json!(["c0"])).with_key("c0"));
    jobs.push(job("e", json!([{ "$output": "c0" }])).with_key("c1"));
    jobs.push(job("e", json!([{ "$output": "c1" }])).with_key("c2"));
    let (_, ids) = submit_weighted(&s, "chain", None, jobs);
    let read = |id: JobId| s.job(id).expect("read").expect("exists");
    let d = crate::storage::sched::DEFAULT_DURATION_MS;
    let ranks: Vec<u64> = ids.iter().map(|id| read(*id).rank_ms).collect();
    assert_eq!(ranks, vec![d, d, d, 3 * d, 2 * d, d], "ranks: the longest remaining path, at the default duration");
    assert!(read(ids[3]).turn < read(ids[4]).turn && read(ids[4]).turn < read(ids[0]).turn, "turns follow ranks");
    let head = claim(&s, &me, "e", 1, 60_000).remove(0);
    assert_eq!(head.lease.job, ids[3], "the chain's head goes first");
    let filler = claim(&s, &me, "e", 1, 60_000).remove(0);
    assert_eq!(filler.lease.job, ids[0], "then the first independent job");
    s.complete(&[done(head.lease, json!(1))]).expect("complete");
    let next = claim(&s, &me, "e", 1, 60_000).remove(0);
    assert_eq!(next.lease.job, ids[4], "the chain's second link before the other independent jobs");
    s.complete(&[done(next.lease, json!(2))]).expect("complete");
    let rest: Vec<JobId> = claim_all(&s, &me);
    assert_eq!(rest, vec![ids[1], ids[2], ids[5]], "equal ranks go by id");
}

/// S3: `reorder` rewrites the turns of a run's unclaimed jobs by rank
/// (highest first) and leaves claimed jobs and other runs' jobs alone; an
/// unknown run is refused.
pub fn s03_reorder_rewrites_turns_of_unclaimed_jobs(url: &str) {
    let s = store(url);
    let me = InstanceId::random();
    let (run, ids) = submit_weighted(&s, "r", None, (0..4).map(|i| job("e", json!([i]))).collect());
    let (_, other) = submit_weighted(&s, "other", None, vec![job("f", json!([0]))]);
    let taken = claim(&s, &me, "e", 1, 60_000).remove(0);
    assert_eq!(taken.lease.job, ids[0]);
    let n = s.reorder(run, &[(ids[0], 50), (ids[1], 1), (ids[2], 2), (ids[3], 3), (other[0], 99)]).expect("reorder");
    assert_eq!(n, 3, "only the run's unclaimed jobs are reordered");
    let read = |id: JobId| s.job(id).expect("read").expect("exists");
    assert_eq!((read(ids[3]).rank_ms, read(ids[0]).rank_ms), (3, crate::storage::sched::DEFAULT_DURATION_MS));
    assert_eq!(claim_all(&s, &me), vec![ids[3], ids[2], ids[1]]);
    assert!(matches!(s.reorder(RunId(run.0 + 1000), &[(ids[1], 1)]), Err(Error::UnknownRun(_))));
    assert_eq!(s.reorder(run, &[]).expect("nothing to reorder"), 0);
    let tasks = vec!["t".to_owned()];
    let f = s.claim(&ClaimRequest { instance: &me, elf: "f", tasks: &tasks, max: 1, ttl_ms: 60_000 }).expect("claim");
    assert_eq!(f.iter().map(|c| c.lease.job).collect::<Vec<_>>(), vec![other[0]], "the other run's job is intact");
    // In batches that continue one another: the second batch's jobs come
    // after the first's, not level with them.
    let (big, b) = submit_weighted(&s, "batched", None, (0..4).map(|i| job("e", json!(["b", i]))).collect());
    let mut cursor = None;
    assert_eq!(s.reorder_batch(big, &[(b[0], 10), (b[1], 20)], &mut cursor).expect("first batch"), 2);
    assert_eq!(s.reorder_batch(big, &[(b[2], 5), (b[3], 1)], &mut cursor).expect("second batch"), 2);
    let turns: Vec<i64> = [b[1], b[0], b[2], b[3]].iter().map(|id| read(*id).turn).collect();
    assert!(turns.windows(2).all(|w| w[0] < w[1]), "turns follow the ranks across batches: {turns:?}");
    assert_eq!(claim_all(&s, &me), vec![b[1], b[0], b[2], b[3]]);
}

/// S4: runs share claims in proportion to their weights; a weight of 0, or
/// beyond the largest, is refused naming the run and the weight, and writes
/// nothing.
pub fn s04_weights_share_claims_and_bad_weights_are_refused(url: &str) {
    let s = store(url);
    let me = InstanceId::random();
    let (_, a) = submit_weighted(&s, "light", None, (0..12).map(|i| job("e", json!(["a", i]))).collect());
    let (_, b) = submit_weighted(&s, "heavy", Some(2), (0..12).map(|i| job("e", json!(["b", i]))).collect());
    let first: Vec<JobId> = (0..9).flat_map(|_| claim(&s, &me, "e", 1, 60_000)).map(|c| c.lease.job).collect();
    let heavy = first.iter().filter(|id| b.contains(id)).count();
    let light = first.iter().filter(|id| a.contains(id)).count();
    assert_eq!((heavy, light), (6, 3), "weight 2 gets twice the claims of weight 1: {first:?}");
    for bad in [0, crate::storage::sched::MAX_WEIGHT + 1] {
        let mut run = RunSpec::named("bad");
        run.weight = Some(bad);
        let before = s.jobs(&crate::storage::JobQuery::default()).expect("jobs").len();
        let err = s.submit(&Submission { run: run.clone(), jobs: vec![job("e", json!([1]))] }).expect_err("refused");
        let text = err.to_string();
        assert!(text.contains("weight") && text.contains(&bad.to_string()) && text.contains("`bad`"), "{text}");
        assert!(s.open_run(&run).is_err(), "an open run with weight {bad} is refused too");
        assert_eq!(s.jobs(&crate::storage::JobQuery::default()).expect("jobs").len(), before, "nothing written");
    }
}

/// S5: ranks use measured durations: after a task is seen to take longer
/// than another, a submission of one of each puts the longer first.
pub fn s05_measured_durations_rank_longer_tasks_first(url: &str) {
    let (s, clock) = clocked(url);
    let me = InstanceId::random();
    let tasks = vec!["fast".to_owned(), "slow".to_owned()];
    let take = |s: &Store| {
        s.claim(&ClaimRequest { instance: &me, elf: "e", tasks: &tasks, max: 1, ttl_ms: 60_000 }).expect("claim")
    };
    // Teach the store: `slow` takes 500 ms, `fast` 10 ms.
    for (task, ms) in [("slow", 500), ("fast", 10), ("slow", 400), ("fast", 20), ("slow", 600)] {
        submit_weighted(&s, "teach", None, vec![JobSpec::new("e", task, json!([ms]))]);
        let c = take(&s).remove(0);
        clock.advance(ms);
        s.complete(&[done(c.lease, json!(ms))]).expect("complete");
    }
    let (_, ids) = submit_weighted(
        &s,
        "mixed",
        None,
        vec![JobSpec::new("e", "fast", json!(["f"])), JobSpec::new("e", "slow", json!(["s"]))],
    );
    let first = take(&s).remove(0);
    assert_eq!(first.lease.job, ids[1], "the slow task (median 500 ms) before the fast one (median 10 ms)");
    assert_eq!(take(&s).remove(0).lease.job, ids[0]);
}
