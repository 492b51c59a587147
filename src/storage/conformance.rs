//! The conformance suite: one set of cases, written once against [`Store`],
//! that every backend must pass (research/backends.md §4, C1–C14).
//!
//! Each case takes the URL of a fresh, empty store; the multi-process cases
//! also take the `mycelium` executable, whose hidden `probe` subcommand acts
//! on the store from other processes. A backend stamps the suite out with
//! [`conformance_suite!`](crate::conformance_suite), giving an expression
//! that yields `(url, guard)` for a fresh store (the guard is dropped at the
//! end of the case) and the executable's path.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::{ClaimRequest, Error, EventQuery, FailureQuery, JobQuery, Store, open};
use crate::model::{
    Backoff, Completion, EventKind, FailureKind, FailureReport, InstanceId, JobId, JobSpec, JobState, Lease, Outcome,
    RetryPolicy, RunSpec, RunState, Submission, TaskSha, TaskVersion,
};

/// Stamps out the whole suite as `#[test]` functions.
///
/// `$fresh` is an expression evaluating to `(String, impl Drop)`: a fresh
/// store's URL and a guard; `$exe` evaluates to the `mycelium` executable.
#[macro_export]
macro_rules! conformance_suite {
    ($fresh:expr, $exe:expr) => {
        $crate::conformance_suite!(@cases $fresh, $exe;
            c01_tasks_are_content_addressed,
            c02_submit_is_atomic_and_validated,
            c02_idempotent_resubmission,
            c02_cycles_are_rejected,
            c03_exclusive_claim_in_process,
            c04_priority_then_fifo_and_not_before,
            c06_lease_expiry_and_fencing,
            c06_elf_gone_expires_leases_at_once,
            c07_diamond_and_wide_fan_in,
            c08_retries_then_terminal_failure_and_upstream,
            c08_cancel_reaches_the_holder,
            c09_results_are_fenced_and_idempotent,
            c10_every_transition_has_one_event,
            c14_payload_limits,
            release_gives_jobs_back,
            leadership_is_exclusive;
            @exe
            c03_exclusive_claim_across_processes,
            c05_every_process_makes_progress,
            c06_sigkilled_holder_is_fenced,
            c07_consumer_submitted_while_producer_completes,
            c10_tailing_under_concurrent_writers,
            c11_kill_mid_write_leaves_no_partial_state
        );
    };
    (@cases $fresh:expr, $exe:expr; $($case:ident),*; @exe $($pcase:ident),*) => {
        $(
            #[test]
            fn $case() {
                let (url, _guard) = $fresh;
                $crate::storage::conformance::$case(&url);
            }
        )*
        $(
            #[test]
            fn $pcase() {
                let (url, _guard) = $fresh;
                $crate::storage::conformance::$pcase(&url, ::std::path::Path::new($exe));
            }
        )*
    };
}

fn store(url: &str) -> Arc<dyn Store> {
    match open(url) {
        Ok(s) => s,
        Err(e) => panic!("cannot open the store under test {url}: {e}"),
    }
}

fn job(elf: &str, args: Value) -> JobSpec {
    JobSpec::new(elf, "t", args)
}

fn submit(s: &dyn Store, jobs: Vec<JobSpec>) -> Vec<JobId> {
    match s.submit(&Submission { run: RunSpec::named("conformance"), jobs }) {
        Ok((done, _)) => done.jobs,
        Err(e) => panic!("submit failed: {e}"),
    }
}

fn tasks() -> Vec<String> {
    vec!["t".to_owned()]
}

fn claim(s: &dyn Store, instance: &InstanceId, elf: &str, max: u32, ttl_ms: i64) -> Vec<crate::model::Claimed> {
    let tasks = tasks();
    s.claim(&ClaimRequest { instance, elf, tasks: &tasks, max, ttl_ms }).expect("claim")
}

fn state(s: &dyn Store, id: JobId) -> JobState {
    s.job(id).expect("read job").expect("job exists").state
}

fn done(lease: Lease, value: Value) -> Completion {
    Completion { lease, ran_sha: None, value }
}

fn job_count(s: &dyn Store) -> usize {
    s.jobs(&JobQuery::default()).expect("read jobs").len()
}

/// C1: `record_tasks` is idempotent on the sha; a sha that is not the hash
/// of the source is rejected; versions are listed oldest first.
pub fn c01_tasks_are_content_addressed(url: &str) {
    let s = store(url);
    let v1 = version("fn a() -> u32 { 1 }");
    s.record_tasks(std::slice::from_ref(&v1)).expect("record");
    s.record_tasks(std::slice::from_ref(&v1)).expect("record again (idempotent)");
    let got = s.task_version(&v1.sha).expect("read").expect("recorded");
    assert_eq!((got.source.as_str(), got.elf.as_str(), got.line), (v1.source.as_str(), "e", 3));
    let mut forged = version("fn a() -> u32 { 2 }");
    forged.sha = v1.sha.clone();
    let err = s.record_tasks(&[forged]).expect_err("a forged sha must be rejected");
    assert!(err.to_string().contains("sha256"), "{err}");
    std::thread::sleep(Duration::from_millis(2));
    let v2 = version("fn a() -> u32 { 3 }");
    s.record_tasks(std::slice::from_ref(&v2)).expect("record v2");
    let all = s.task_versions("e", "a").expect("versions");
    assert_eq!(all.iter().map(|v| v.sha.clone()).collect::<Vec<_>>(), vec![v1.sha, v2.sha]);
    assert!(s.task_versions("e", "missing").expect("versions").is_empty());
}

fn version(source: &str) -> TaskVersion {
    TaskVersion {
        sha: TaskSha::of_source(source),
        elf: "e".into(),
        name: "a".into(),
        source: source.into(),
        file: "src/a.rs".into(),
        line: 3,
        signature: Default::default(),
        doc: String::new(),
        first_seen: 0,
    }
}

/// C2: a submission is all or nothing; bad input names itself; jobs with
/// unmet dependencies start `pending`.
pub fn c02_submit_is_atomic_and_validated(url: &str) {
    let s = store(url);
    let ids = submit(
        &*s,
        vec![job("e", json!([1])), job("e", json!([{"$output": "0"}, {"xs": [{"$output": "0", "path": "/a"}]}]))],
    );
    assert_eq!(state(&*s, ids[0]), JobState::Ready);
    let consumer = s.job(ids[1]).expect("read").expect("exists");
    assert_eq!((consumer.state, consumer.unmet), (JobState::Pending, 1));
    assert_eq!(consumer.args, json!([{"$output": ids[0].0}, {"xs": [{"$output": ids[0].0, "path": "/a"}]}]));
    let deps = s.deps(consumer.run).expect("deps");
    assert_eq!(deps.len(), 2, "{deps:?}");
    assert!(deps.iter().any(|d| d.path == "/1/xs/0" && d.producer == ids[0]));

    let before = (job_count(&*s), s.runs(&Default::default()).expect("runs").len());
    let bad: Vec<(Vec<JobSpec>, &str)> = vec![
        (vec![job("e", json!([1])), job("e", json!([{"$output": 999_999}]))], "999999"),
        (vec![job("e", json!([{"$output": "nope"}]))], "`nope`"),
        (vec![job("e", json!([{"$output": 1, "extra": 2}]))], "`extra`"),
        (vec![job("", json!([]))], "elf name"),
        (vec![job("e", json!([])).with_key("k"), job("e", json!([])).with_key("k")], "`k`"),
        (vec![], "no jobs"),
    ];
    for (jobs, needle) in bad {
        let err = s.submit(&Submission { run: RunSpec::named("bad"), jobs }).expect_err("bad input must be rejected");
        assert!(err.to_string().contains(needle), "error `{err}` should name `{needle}`");
    }
    assert_eq!(
        (job_count(&*s), s.runs(&Default::default()).expect("runs").len()),
        before,
        "rejected submissions wrote something"
    );
}

/// C2: resubmitting with the same idempotency key returns the same ids and
/// writes nothing.
pub fn c02_idempotent_resubmission(url: &str) {
    let s = store(url);
    let mut run = RunSpec::named("idem");
    run.idempotency_key = Some("nightly-2026-11-23".into());
    let sub = Submission { run, jobs: vec![job("e", json!([1])), job("e", json!([{"$output": "0"}]))] };
    let (first, _) = s.submit(&sub).expect("submit");
    let (second, readied) = s.submit(&sub).expect("resubmit");
    assert!(!first.existing && second.existing);
    assert_eq!((first.run, first.jobs.clone()), (second.run, second.jobs));
    assert!(readied.is_empty());
    assert_eq!(job_count(&*s), 2);
}

/// C2: references that close a cycle are rejected, naming the jobs.
pub fn c02_cycles_are_rejected(url: &str) {
    let s = store(url);
    let jobs = vec![
        job("e", json!([{"$output": "c"}])).with_key("a"),
        job("e", json!([{"$output": "a"}])).with_key("b"),
        job("e", json!([{"$output": "b"}])).with_key("c"),
    ];
    let err = s.submit(&Submission { run: RunSpec::named("cycle"), jobs }).expect_err("cycle");
    assert!(matches!(err, Error::Cycle(_)), "{err}");
    let text = err.to_string();
    assert!(text.contains("`a`") && text.contains("`b`") && text.contains("`c`"), "{text}");
    let self_loop = vec![job("e", json!([{"$output": "x"}])).with_key("x")];
    assert!(matches!(s.submit(&Submission { run: RunSpec::named("self"), jobs: self_loop }), Err(Error::Cycle(_))));
    assert_eq!(job_count(&*s), 0);
}

/// C3: several threads, each with its own handle, claim until the queue is
/// empty; no job is claimed twice and every job is claimed.
pub fn c03_exclusive_claim_in_process(url: &str) {
    let s = store(url);
    let n = 2_000;
    submit(&*s, (0..n).map(|i| job("e", json!([i]))).collect());
    let handles: Vec<_> = (0..4)
        .map(|t| {
            let s = store(url);
            std::thread::spawn(move || {
                let me = InstanceId::random();
                let mut got = Vec::new();
                loop {
                    let c = claim(&*s, &me, "e", if t % 2 == 0 { 1 } else { 64 }, 60_000);
                    if c.is_empty() {
                        return got;
                    }
                    got.extend(c.into_iter().map(|c| c.lease.job));
                }
            })
        })
        .collect();
    let mut all = Vec::new();
    for h in handles {
        all.extend(h.join().expect("claimer thread"));
    }
    let unique: HashSet<_> = all.iter().collect();
    assert_eq!((all.len(), unique.len()), (n as usize, n as usize), "a job was claimed twice or not at all");
    let claimed = s.jobs(&JobQuery { states: vec![JobState::Claimed], ..Default::default() }).expect("jobs");
    assert_eq!(claimed.len(), n as usize);
}

/// C4: higher priority first, then FIFO; `not_before` holds a job back.
pub fn c04_priority_then_fifo_and_not_before(url: &str) {
    let s = store(url);
    let mut specs: Vec<JobSpec> = (0..6).map(|i| job("e", json!([i]))).collect();
    specs[4].priority = 5;
    specs[2].priority = 5;
    specs[5].priority = -1;
    specs[1].retry =
        RetryPolicy { max_attempts: 2, backoff: Backoff::Fixed { delay_ms: 400 }, max_delay_ms: 400, jitter: false };
    let ids = submit(&*s, specs);
    let me = InstanceId::random();
    let order: Vec<JobId> = (0..6).flat_map(|_| claim(&*s, &me, "e", 1, 60_000)).map(|c| c.lease.job).collect();
    assert_eq!(order, vec![ids[2], ids[4], ids[0], ids[1], ids[3], ids[5]]);
    // Fail job 1 once: it comes back only after its 400 ms backoff.
    let epoch = s.job(ids[1]).expect("read").expect("exists").epoch;
    let failed = s.fail(&Lease { job: ids[1], epoch }, &FailureReport::new(FailureKind::Error, "boom")).expect("fail");
    assert!(failed.retry_at.is_some());
    assert!(claim(&*s, &me, "e", 10, 60_000).is_empty(), "claimed before not_before");
    std::thread::sleep(Duration::from_millis(450));
    let again = claim(&*s, &me, "e", 10, 60_000);
    assert_eq!(again.iter().map(|c| (c.lease.job, c.attempt)).collect::<Vec<_>>(), vec![(ids[1], 2)]);
}

/// C6: an expired lease is reaped; the next claim bumps the epoch; the stale
/// holder's complete, fail and heartbeat are refused and write nothing.
pub fn c06_lease_expiry_and_fencing(url: &str) {
    let s = store(url);
    let mut spec = job("e", json!([1]));
    spec.retry.max_attempts = 3;
    let id = submit(&*s, vec![spec])[0];
    let a = InstanceId::random();
    let b = InstanceId::random();
    let first = claim(&*s, &a, "e", 1, 50).remove(0);
    std::thread::sleep(Duration::from_millis(80));
    let reaped = s.reap().expect("reap");
    assert_eq!(reaped.expired, vec![id]);
    let failures = s.failures(&FailureQuery { job: Some(id), ..Default::default() }).expect("failures");
    assert_eq!(failures.len(), 1);
    assert_eq!(failures[0].report.kind, FailureKind::LeaseExpired);
    let second = claim(&*s, &b, "e", 1, 60_000).remove(0);
    assert!(second.lease.epoch > first.lease.epoch);
    assert_eq!(second.attempt, 2);
    let (outcomes, _) = s.complete(&[done(first.lease, json!("stale"))]).expect("complete");
    assert_eq!(outcomes, vec![Outcome::LeaseLost]);
    assert_eq!(
        s.fail(&first.lease, &FailureReport::new(FailureKind::Error, "stale")).expect("fail").outcome,
        Outcome::LeaseLost
    );
    assert_eq!(s.heartbeat(&a, &[first.lease], 60_000).expect("heartbeat"), vec![Outcome::LeaseLost]);
    assert_eq!(s.result(id).expect("result"), None);
    assert_eq!(s.heartbeat(&b, &[second.lease], 60_000).expect("heartbeat"), vec![Outcome::Ok]);
    let (outcomes, _) = s.complete(&[done(second.lease, json!("fresh"))]).expect("complete");
    assert_eq!(outcomes, vec![Outcome::Ok]);
    assert_eq!(s.result(id).expect("result"), Some(json!("fresh")));
}

/// C6: `elf_gone` expires the instance's leases at once, as `elf_lost`.
pub fn c06_elf_gone_expires_leases_at_once(url: &str) {
    let s = store(url);
    let mut spec = job("e", json!([1]));
    spec.retry.max_attempts = 2;
    let id = submit(&*s, vec![spec])[0];
    let a = InstanceId::random();
    let held = claim(&*s, &a, "e", 1, 600_000).remove(0);
    let readied = s.elf_gone(&a, true).expect("elf gone");
    assert_eq!(readied.get("e"), Some(&1));
    assert_eq!(state(&*s, id), JobState::Ready);
    let f = s.failures(&FailureQuery { job: Some(id), ..Default::default() }).expect("failures");
    assert_eq!(f[0].report.kind, FailureKind::ElfLost);
    assert!(f[0].report.message.contains(&a.0), "{}", f[0].report.message);
    let again = claim(&*s, &InstanceId::random(), "e", 1, 60_000).remove(0);
    assert!(again.lease.epoch > held.lease.epoch);
}

/// C7: diamond and wide fan-in; the consumer becomes ready exactly once,
/// after its last producer, and receives every producer's result.
pub fn c07_diamond_and_wide_fan_in(url: &str) {
    let s = store(url);
    let me = InstanceId::random();
    // Diamond: a -> b, a -> c, (b, c) -> d.
    let ids = submit(
        &*s,
        vec![
            job("e", json!([0])).with_key("a"),
            job("e", json!([{"$output": "a"}])).with_key("b"),
            job("e", json!([{"$output": "a"}])).with_key("c"),
            job("e", json!([{"$output": "b"}, {"$output": "c"}])).with_key("d"),
        ],
    );
    let mut seen_d = 0;
    while state(&*s, ids[3]) != JobState::Succeeded {
        let claimed = claim(&*s, &me, "e", 64, 60_000);
        assert!(!claimed.is_empty(), "stuck: nothing claimable");
        for c in claimed {
            if c.lease.job == ids[3] {
                seen_d += 1;
                let mut inputs: Vec<_> = c.inputs.iter().map(|(j, _)| *j).collect();
                inputs.sort();
                assert_eq!(inputs, vec![ids[1], ids[2]]);
            }
            s.complete(&[done(c.lease, json!(c.lease.job.0))]).expect("complete");
        }
    }
    assert_eq!(seen_d, 1);
    // Wide fan-in: 1000 producers, one consumer.
    let n = 1000;
    let mut specs: Vec<JobSpec> = (0..n).map(|i| job("p", json!([i]))).collect();
    specs.push(job("c", json!([(0..n).map(|i| json!({"$output": i.to_string()})).collect::<Vec<_>>()])));
    let ids = submit(&*s, specs);
    let consumer = *ids.last().expect("consumer");
    let mut done_count = 0;
    loop {
        let claimed = claim(&*s, &me, "p", 64, 60_000);
        if claimed.is_empty() {
            break;
        }
        assert_eq!(state(&*s, consumer), JobState::Pending, "ready before its last producer");
        done_count += claimed.len();
        let batch: Vec<_> = claimed.iter().map(|c| done(c.lease, json!(1))).collect();
        let (_, readied) = s.complete(&batch).expect("complete");
        assert_eq!(readied.get("c").copied().unwrap_or(0), u32::from(done_count == n), "readied at the wrong time");
    }
    let c = claim(&*s, &me, "c", 1, 60_000).remove(0);
    assert_eq!(c.inputs.len(), n);
    let ready_events = s
        .events(&EventQuery { job: Some(consumer), limit: 100, ..Default::default() })
        .expect("events")
        .into_iter()
        .filter(|e| e.state == Some(JobState::Ready))
        .count();
    assert_eq!(ready_events, 1);
}

/// C8: retries with backoff until attempts run out, then a terminal failure
/// whose consumers become `upstream_failed` transitively; the run fails.
pub fn c08_retries_then_terminal_failure_and_upstream(url: &str) {
    let s = store(url);
    let mut first = job("e", json!([1]));
    first.retry =
        RetryPolicy { max_attempts: 3, backoff: Backoff::Fixed { delay_ms: 0 }, max_delay_ms: 0, jitter: false };
    let ids = submit(
        &*s,
        vec![first, job("e", json!([{"$output": "0"}])), job("e", json!([{"$output": "1"}])), job("e", json!([5]))],
    );
    let me = InstanceId::random();
    for attempt in 1..=3 {
        let c = claim(&*s, &me, "e", 1, 60_000);
        let c = c.into_iter().find(|c| c.lease.job == ids[0]).expect("the failing job is claimable again");
        assert_eq!(c.attempt, attempt);
        let mut report = FailureReport::new(FailureKind::Error, format!("attempt {attempt} failed"));
        report.causes = vec!["root cause".into()];
        let failed = s.fail(&c.lease, &report).expect("fail");
        assert_eq!(failed.retry_at.is_some(), attempt < 3);
    }
    assert_eq!(state(&*s, ids[0]), JobState::Failed);
    assert_eq!((state(&*s, ids[1]), state(&*s, ids[2])), (JobState::UpstreamFailed, JobState::UpstreamFailed));
    let failures = s.failures(&FailureQuery { job: Some(ids[0]), ..Default::default() }).expect("failures");
    assert_eq!(failures.len(), 3);
    assert_eq!(failures[0].report.causes, vec!["root cause".to_owned()]);
    assert_eq!(failures.iter().filter(|f| f.will_retry).count(), 2);
    let up =
        s.failures(&FailureQuery { kind: Some(FailureKind::UpstreamFailed), ..Default::default() }).expect("failures");
    assert_eq!(up.len(), 2);
    // The independent job still runs; then the run ends failed.
    let run = s.job(ids[0]).expect("read").expect("exists").run;
    assert_eq!(s.run(run).expect("run").expect("exists").state, RunState::Running);
    let c = claim(&*s, &me, "e", 1, 60_000).remove(0);
    assert_eq!(c.lease.job, ids[3]);
    s.complete(&[done(c.lease, json!(5))]).expect("complete");
    let r = s.run(run).expect("run").expect("exists");
    assert_eq!((r.state, r.open, r.failed), (RunState::Failed, 0, 3));
}

/// C8: cancelling a run reaches the holder of a claimed job at its next
/// heartbeat, and its late result is refused.
pub fn c08_cancel_reaches_the_holder(url: &str) {
    let s = store(url);
    let ids = submit(&*s, vec![job("e", json!([1])), job("e", json!([{"$output": "0"}]))]);
    let me = InstanceId::random();
    let c = claim(&*s, &me, "e", 1, 60_000).remove(0);
    let run = s.job(ids[0]).expect("read").expect("exists").run;
    assert_eq!(s.cancel_run(run, "operator said so").expect("cancel"), 2);
    assert_eq!(s.heartbeat(&me, &[c.lease], 60_000).expect("heartbeat"), vec![Outcome::Cancelled]);
    assert_eq!(s.complete(&[done(c.lease, json!(1))]).expect("complete").0, vec![Outcome::Cancelled]);
    let r = s.run(run).expect("run").expect("exists");
    assert_eq!(r.state, RunState::Cancelled);
    assert!(matches!(s.cancel_run(crate::model::RunId(987_654), "x"), Err(Error::UnknownRun(_))));
}

/// C9: one result per job, tied to the winning epoch; a repeated completion
/// with the same lease is idempotent.
pub fn c09_results_are_fenced_and_idempotent(url: &str) {
    let s = store(url);
    let id = submit(&*s, vec![job("e", json!([1]))])[0];
    let c = claim(&*s, &InstanceId::random(), "e", 1, 60_000).remove(0);
    assert_eq!(s.complete(&[done(c.lease, json!({"v": 1}))]).expect("complete").0, vec![Outcome::Ok]);
    assert_eq!(s.complete(&[done(c.lease, json!({"v": 2}))]).expect("complete").0, vec![Outcome::Ok]);
    assert_eq!(s.result(id).expect("result"), Some(json!({"v": 1})));
    let older = Lease { job: id, epoch: c.lease.epoch - 1 };
    assert_eq!(s.complete(&[done(older, json!(0))]).expect("complete").0, vec![Outcome::LeaseLost]);
    assert_eq!(s.results(&[id, JobId(424_242)]).expect("results"), vec![(id, json!({"v": 1}))]);
}

/// C10: every state transition appends exactly one event, in order.
pub fn c10_every_transition_has_one_event(url: &str) {
    let s = store(url);
    let ids = submit(&*s, vec![job("e", json!([1])), job("e", json!([{"$output": "0"}]))]);
    let me = InstanceId::random();
    for _ in 0..2 {
        let c = claim(&*s, &me, "e", 1, 60_000).remove(0);
        s.complete(&[done(c.lease, json!(1))]).expect("complete");
    }
    let states = |id: JobId| -> Vec<JobState> {
        s.events(&EventQuery { job: Some(id), limit: 100, ..Default::default() })
            .expect("events")
            .into_iter()
            .filter_map(|e| e.state)
            .collect()
    };
    assert_eq!(states(ids[0]), vec![JobState::Ready, JobState::Claimed, JobState::Succeeded]);
    assert_eq!(states(ids[1]), vec![JobState::Pending, JobState::Ready, JobState::Claimed, JobState::Succeeded]);
    let all = s.events(&EventQuery { limit: 1000, ..Default::default() }).expect("events");
    assert!(all.windows(2).all(|w| w[0].seq < w[1].seq));
    assert_eq!(all.iter().filter(|e| e.kind == EventKind::RunFinished).count(), 1);
    // Job state is a projection of the log.
    for id in ids {
        assert_eq!(states(id).last().copied(), Some(state(&*s, id)));
    }
}

/// C14: payloads up to the limit round-trip; larger ones are refused with a
/// clear error and write nothing.
pub fn c14_payload_limits(url: &str) {
    let s = store(url);
    let limit = s.limits().max_payload;
    // A JSON string of n bytes of payload serializes to n + 4 bytes (`["..."]`).
    let big = "x".repeat(limit - 4);
    let id = submit(&*s, vec![job("e", json!([big]))])[0];
    let c = claim(&*s, &InstanceId::random(), "e", 1, 60_000).remove(0);
    assert_eq!(c.args, json!([big]));
    let over = "x".repeat(limit);
    let err = s
        .submit(&Submission { run: RunSpec::named("big"), jobs: vec![job("e", json!([over]))] })
        .expect_err("too large");
    assert!(matches!(err, Error::TooLarge { .. }), "{err}");
    assert!(err.to_string().contains("max_payload"), "{err}");
    let err = s.complete(&[done(c.lease, json!(over))]).expect_err("result too large");
    assert!(matches!(err, Error::TooLarge { .. }), "{err}");
    assert_eq!(state(&*s, id), JobState::Claimed);
    let fits = "y".repeat(limit - 2);
    assert_eq!(s.complete(&[done(c.lease, json!(fits))]).expect("complete").0, vec![Outcome::Ok]);
    assert_eq!(s.result(id).expect("result"), Some(json!(fits)));
}

/// Released jobs are ready again at once, without counting an attempt.
pub fn release_gives_jobs_back(url: &str) {
    let s = store(url);
    let id = submit(&*s, vec![job("e", json!([1]))])[0];
    let c = claim(&*s, &InstanceId::random(), "e", 1, 60_000).remove(0);
    let (outcomes, readied) = s.release(&[c.lease]).expect("release");
    assert_eq!((outcomes, readied.get("e").copied()), (vec![Outcome::Ok], Some(1)));
    let again = claim(&*s, &InstanceId::random(), "e", 1, 60_000).remove(0);
    assert_eq!((again.lease.job, again.attempt), (id, 1));
    assert_eq!(s.release(&[c.lease]).expect("release").0, vec![Outcome::LeaseLost]);
}

/// The leader lease is held by one holder at a time and passes on expiry.
pub fn leadership_is_exclusive(url: &str) {
    let s = store(url);
    assert!(s.lead("coordinator", "a", 100).expect("lead"));
    assert!(!s.lead("coordinator", "b", 100).expect("lead"));
    assert!(s.lead("coordinator", "a", 100).expect("renew"));
    std::thread::sleep(Duration::from_millis(150));
    assert!(s.lead("coordinator", "b", 100).expect("take over"));
    assert!(!s.lead("coordinator", "a", 100).expect("lead"));
}

// ---- multi-process cases ----

/// A child process running `mycelium probe`, killed when dropped.
struct Probe {
    child: Child,
    lines: std::sync::mpsc::Receiver<String>,
}

impl Probe {
    fn start(exe: &Path, url: &str, args: &[&str]) -> Probe {
        let mut child = Command::new(exe)
            .arg("--store")
            .arg(url)
            .arg("probe")
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", exe.display()));
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Probe { child, lines }
    }

    /// Waits for a line satisfying `pred`, collecting the lines before it.
    fn until(&self, pred: impl Fn(&str) -> bool, within: Duration) -> Vec<String> {
        let deadline = Instant::now() + within;
        let mut seen = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if pred(&line) => {
                    seen.push(line);
                    return seen;
                }
                Ok(line) => seen.push(line),
                Err(_) => panic!("probe gave no expected line within {within:?}; saw {seen:?}"),
            }
        }
    }

    fn finish(mut self) -> Vec<String> {
        let status = self.child.wait().expect("wait for probe");
        assert!(status.success(), "probe failed: {status}");
        // The reader thread ends at end of output, closing the channel.
        self.lines.iter().collect()
    }

    fn kill9(&mut self) {
        self.child.kill().expect("SIGKILL the probe");
        let _ = self.child.wait();
    }
}

impl Drop for Probe {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn claimed_ids(lines: &[String]) -> Vec<i64> {
    lines.iter().filter_map(|l| l.strip_prefix("claimed ")).filter_map(|r| r.split(' ').next()?.parse().ok()).collect()
}

/// C3: 4 processes claim concurrently (k = 1 and k = 64) until the queue is
/// empty: no job is claimed twice, every job is claimed.
pub fn c03_exclusive_claim_across_processes(url: &str, exe: &Path) {
    let s = store(url);
    for batch in ["1", "64"] {
        let n = 3_000;
        submit(&*s, (0..n).map(|i| job(&format!("e{batch}"), json!([i]))).collect());
        let elf = format!("e{batch}");
        let probes: Vec<_> =
            (0..4).map(|_| Probe::start(exe, url, &["claim-all", "--elf", &elf, "--batch", batch])).collect();
        let mut all = Vec::new();
        for p in probes {
            all.extend(claimed_ids(&p.finish()));
        }
        let unique: HashSet<_> = all.iter().collect();
        assert_eq!((all.len(), unique.len()), (n, n), "batch {batch}: duplicates or missing claims");
        let claimed =
            s.jobs(&JobQuery { states: vec![JobState::Claimed], elf: Some(elf), ..Default::default() }).expect("jobs");
        assert_eq!(claimed.len(), n);
    }
}

/// C5: with 4 processes claiming and completing, each makes progress and
/// none waits long between claims while work is available.
pub fn c05_every_process_makes_progress(url: &str, exe: &Path) {
    let s = store(url);
    let n = 4_000;
    submit(&*s, (0..n).map(|i| job("e", json!([i]))).collect());
    let probes: Vec<_> =
        (0..4).map(|_| Probe::start(exe, url, &["claim-all", "--elf", "e", "--batch", "1", "--complete"])).collect();
    let mut counts = Vec::new();
    for p in probes {
        let lines = p.finish();
        let last = lines.iter().rev().find_map(|l| l.strip_prefix("done ")).expect("done line").to_owned();
        let mut parts = last.split(' ');
        let count: usize = parts.next().and_then(|c| c.parse().ok()).expect("count");
        let max_gap_us: u64 = parts.next().and_then(|c| c.parse().ok()).expect("gap");
        assert!(max_gap_us < 1_000_000, "a process waited {max_gap_us} µs between claims");
        counts.push(count);
    }
    assert_eq!(counts.iter().sum::<usize>(), n);
    assert!(counts.iter().all(|&c| c >= n / 20), "a process starved: {counts:?}");
}

/// C6 with a real crash: a process holding leases is SIGKILLed; another
/// claims the jobs with a bumped epoch once they expire, and the dead
/// holder's writes are refused.
pub fn c06_sigkilled_holder_is_fenced(url: &str, exe: &Path) {
    let s = store(url);
    let mut specs: Vec<JobSpec> = (0..3).map(|i| job("e", json!([i]))).collect();
    for spec in &mut specs {
        spec.retry.max_attempts = 2;
    }
    submit(&*s, specs);
    let mut holder = Probe::start(exe, url, &["hold", "--elf", "e", "--count", "3", "--ttl-ms", "300"]);
    let lines = holder.until(|l| l == "ready", Duration::from_secs(20));
    let held: Vec<Lease> = lines
        .iter()
        .filter_map(|l| l.strip_prefix("held "))
        .map(|r| {
            let mut p = r.split(' ').map(|x| x.parse::<i64>().expect("number"));
            Lease { job: JobId(p.next().expect("job")), epoch: p.next().expect("epoch") }
        })
        .collect();
    assert_eq!(held.len(), 3);
    holder.kill9();
    let me = InstanceId::random();
    assert!(claim(&*s, &me, "e", 3, 60_000).is_empty(), "claimed while the dead holder's leases were live");
    std::thread::sleep(Duration::from_millis(350));
    let again = claim(&*s, &me, "e", 3, 60_000);
    assert_eq!(again.len(), 3, "expired leases were not reclaimed by the claim path");
    for (old, new) in held.iter().zip(&again) {
        assert_eq!(old.job, new.lease.job);
        assert!(new.lease.epoch > old.epoch);
    }
    assert_eq!(s.complete(&[done(held[0], json!("zombie"))]).expect("complete").0, vec![Outcome::LeaseLost]);
    let batch: Vec<_> = again.iter().map(|c| done(c.lease, json!("ok"))).collect();
    assert!(s.complete(&batch).expect("complete").0.iter().all(|o| *o == Outcome::Ok));
    assert_eq!(s.result(held[0].job).expect("result"), Some(json!("ok")));
}

/// C7 write skew: consumers submitted while another process completes their
/// producers never stay pending.
pub fn c07_consumer_submitted_while_producer_completes(url: &str, exe: &Path) {
    let s = store(url);
    let n = 400;
    let producers = submit(&*s, (0..n).map(|i| job("p", json!([i]))).collect());
    let worker =
        Probe::start(exe, url, &["claim-all", "--elf", "p", "--batch", "1", "--complete", "--patience", "100"]);
    let mut consumers = Vec::new();
    for p in &producers {
        consumers.extend(submit(&*s, vec![job("c", json!([{"$output": p.0}]))]));
    }
    worker.finish();
    let pending: Vec<_> = consumers.iter().filter(|c| state(&*s, **c) != JobState::Ready).collect();
    assert!(pending.is_empty(), "{} consumers are not ready: {:?}", pending.len(), &pending[..pending.len().min(5)]);
}

/// C10: a reader tailing the log by cursor while 3 processes write sees
/// every event exactly once, in order, with no gaps.
pub fn c10_tailing_under_concurrent_writers(url: &str, exe: &Path) {
    let s = store(url);
    let writers: Vec<_> = (0..3).map(|_| Probe::start(exe, url, &["submit", "--runs", "300"])).collect();
    let mut seen = Vec::new();
    let mut cursor = 0;
    let deadline = Instant::now() + Duration::from_secs(60);
    let expected = 3 * 300 * 2; // run_created + the job's event per run
    while seen.len() < expected && Instant::now() < deadline {
        let batch = s.events(&EventQuery { after: cursor, limit: 97, ..Default::default() }).expect("events");
        if let Some(last) = batch.last() {
            cursor = last.seq;
        }
        seen.extend(batch.into_iter().map(|e| e.seq));
    }
    for w in writers {
        w.finish();
    }
    seen.extend(
        s.events(&EventQuery { after: cursor, limit: 10_000, ..Default::default() })
            .expect("events")
            .into_iter()
            .map(|e| e.seq),
    );
    let all: Vec<i64> = s
        .events(&EventQuery { limit: 100_000, ..Default::default() })
        .expect("events")
        .into_iter()
        .map(|e| e.seq)
        .collect();
    assert_eq!(all.len(), expected);
    assert_eq!(seen, all, "tailing missed or repeated events");
}

/// C11: a process killed with SIGKILL in the middle of writing leaves no
/// partial state, and does not wedge the writers after it.
pub fn c11_kill_mid_write_leaves_no_partial_state(url: &str, exe: &Path) {
    let s = store(url);
    for round in 0..4 {
        let mut writer = Probe::start(exe, url, &["submit-forever", "--jobs", "200"]);
        writer.until(|l| l == "started", Duration::from_secs(20));
        std::thread::sleep(Duration::from_millis(60 + 37 * round));
        writer.kill9();
    }
    let start = Instant::now();
    submit(&*s, vec![job("w", json!([1]))]);
    assert!(start.elapsed() < Duration::from_secs(5), "a dead writer wedged the store");
    let runs = s.runs(&Default::default()).expect("runs");
    let mut per_run: BTreeMap<_, u64> = BTreeMap::new();
    for j in s.jobs(&JobQuery::default()).expect("jobs") {
        *per_run.entry(j.run).or_default() += 1;
    }
    for r in &runs {
        assert_eq!(per_run.get(&r.id).copied().unwrap_or(0), r.total, "run {} is partial", r.id);
    }
    let events: HashMap<JobId, usize> = s
        .events(&EventQuery { limit: 1_000_000, ..Default::default() })
        .expect("events")
        .into_iter()
        .filter_map(|e| e.job)
        .fold(HashMap::new(), |mut m, j| {
            *m.entry(j).or_default() += 1;
            m
        });
    assert!(
        per_run.values().sum::<u64>() as usize == events.len(),
        "a job without its event, or an event without its job"
    );
}
