//! The conformance suite: one set of cases, written once against [`Store`],
//! that every backend must pass (C1–C16, and the S cases of the claim order; the README lists what
//! each covers).
//!
//! Each case takes the URL of a fresh, empty store; the multi-process cases
//! also take the `mycelium` executable, whose hidden `probe` subcommand acts
//! on the store from other processes. A backend stamps the suite out with
//! [`conformance_suite!`](crate::conformance_suite), giving an expression
//! that yields `(url, guard)` for a fresh store (the guard is dropped at the
//! end of the case) and the executable's path.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::{ClaimRequest, Departure, Error, EventQuery, FailureQuery, JobQuery, ManualClock, Scope, Store, Token};

#[path = "conformance_agents.rs"]
mod agents;
#[path = "conformance_flows.rs"]
mod flows;
#[path = "conformance_open.rs"]
mod open;
#[path = "conformance_sched.rs"]
mod sched;
use crate::model::{
    Backoff, Completion, EventKind, FailureKind, FailureReport, InstanceId, JobId, JobSpec, JobState, Lease, Outcome,
    RetryPolicy, RunSpec, RunState, Submission, TaskSha, TaskVersion,
};
pub use agents::*;
pub use flows::*;
pub use open::*;
pub use sched::*;

/// Stamps out the whole suite as `#[test]` functions.
///
/// `$fresh` is an expression evaluating to `(String, impl Drop)`: a fresh
/// store's URL and a guard; `$exe` evaluates to the `mycelium` executable.
/// With `in_process`, only the cases that need no other process (for a
/// store other processes cannot see, such as `memory:`). Attributes written
/// first (`#[ignore = "needs a server"]`) go on every test.
#[macro_export]
macro_rules! conformance_suite {
    (#[$first:meta] $($rest:tt)*) => {
        $crate::conformance_suite!(@attrs [#[$first]] $($rest)*);
    };
    (@attrs [$($acc:tt)*] #[$next:meta] $($rest:tt)*) => {
        $crate::conformance_suite!(@attrs [$($acc)* #[$next]] $($rest)*);
    };
    (@attrs [$($acc:tt)*] in_process: $fresh:expr) => {
        $crate::conformance_suite!(@in_process [$($acc)*] $fresh);
    };
    (@attrs [$($acc:tt)*] $fresh:expr, $exe:expr) => {
        $crate::conformance_suite!(@all [$($acc)*] $fresh, $exe);
    };
    (in_process: $fresh:expr) => {
        $crate::conformance_suite!(@in_process [] $fresh);
    };
    (@in_process $meta:tt $fresh:expr) => {
        $crate::conformance_suite!(@cases $meta $fresh, "";
            c01_tasks_are_content_addressed,
            c02_submit_is_atomic_and_validated,
            c02_idempotent_resubmission,
            c02_cycles_are_rejected,
            c03_exclusive_claim_in_process,
            c04_priority_then_fifo_and_not_before,
            c04_a_claim_takes_only_the_tasks_it_names,
            c06_lease_expiry_and_fencing,
            c06_elf_gone_expires_leases_at_once,
            c06_lost_elves_do_not_spend_attempts,
            c07_diamond_and_wide_fan_in,
            c08_retries_then_terminal_failure_and_upstream,
            c08_cancel_reaches_the_holder,
            c08_manual_retry_reopens_the_run,
            c09_results_are_fenced_and_idempotent,
            c18_task_durations_are_measured_from_successes,
            c10_every_transition_has_one_event,
            c12_commits_wake_waiters,
            c14_payload_limits,
            c17_retention_deletes_only_runs_that_ended_long_enough_ago,
            release_gives_jobs_back,
            leadership_is_exclusive,
            tokens_are_hashed_and_revocable,
            f01_a_flows_children_join_its_run,
            f02_an_ended_child_wakes_its_flow,
            f03_timers_fire_when_due,
            f04_signals_are_kept_and_consumed_once,
            f05_bad_signals_are_refused,
            f06_a_stale_flow_report_writes_nothing,
            f07_cancel_reaches_what_a_flow_started,
            a01_signals_fan_out_to_subscribers,
            a02_bad_emissions_are_refused,
            a03_queues_dead_letters_requeue_and_purge,
            a04_exchanges_route_by_fanout_and_topic,
            a05_schedule_ticks_make_one_job_each,
            o01_an_open_run_finishes_only_once_sealed,
            o02_a_sealed_run_ends_with_its_last_job,
            o03_appending_to_a_sealed_run_is_refused,
            o04_chunks_reference_earlier_chunks,
            o05_unknown_runs_and_references_are_refused,
            o06_cancel_ends_an_open_run,
            o07_later_chunks_come_after_earlier_ones,
            s01_a_later_run_interleaves_and_priority_comes_first,
            s02_the_critical_path_goes_first,
            s03_reorder_rewrites_turns_of_unclaimed_jobs,
            s04_weights_share_claims_and_bad_weights_are_refused,
            s05_measured_durations_rank_longer_tasks_first;
            @exe
        );
    };
    (@all $meta:tt $fresh:expr, $exe:expr) => {
        $crate::conformance_suite!(@cases $meta $fresh, $exe;
            c01_tasks_are_content_addressed,
            c02_submit_is_atomic_and_validated,
            c02_idempotent_resubmission,
            c02_cycles_are_rejected,
            c03_exclusive_claim_in_process,
            c04_priority_then_fifo_and_not_before,
            c04_a_claim_takes_only_the_tasks_it_names,
            c06_lease_expiry_and_fencing,
            c06_elf_gone_expires_leases_at_once,
            c06_lost_elves_do_not_spend_attempts,
            c07_diamond_and_wide_fan_in,
            c08_retries_then_terminal_failure_and_upstream,
            c08_cancel_reaches_the_holder,
            c08_manual_retry_reopens_the_run,
            c09_results_are_fenced_and_idempotent,
            c18_task_durations_are_measured_from_successes,
            c10_every_transition_has_one_event,
            c12_commits_wake_waiters,
            c14_payload_limits,
            c17_retention_deletes_only_runs_that_ended_long_enough_ago,
            release_gives_jobs_back,
            leadership_is_exclusive,
            tokens_are_hashed_and_revocable,
            f01_a_flows_children_join_its_run,
            f02_an_ended_child_wakes_its_flow,
            f03_timers_fire_when_due,
            f04_signals_are_kept_and_consumed_once,
            f05_bad_signals_are_refused,
            f06_a_stale_flow_report_writes_nothing,
            f07_cancel_reaches_what_a_flow_started,
            a01_signals_fan_out_to_subscribers,
            a02_bad_emissions_are_refused,
            a03_queues_dead_letters_requeue_and_purge,
            a04_exchanges_route_by_fanout_and_topic,
            a05_schedule_ticks_make_one_job_each,
            o01_an_open_run_finishes_only_once_sealed,
            o02_a_sealed_run_ends_with_its_last_job,
            o03_appending_to_a_sealed_run_is_refused,
            o04_chunks_reference_earlier_chunks,
            o05_unknown_runs_and_references_are_refused,
            o06_cancel_ends_an_open_run,
            o07_later_chunks_come_after_earlier_ones,
            s01_a_later_run_interleaves_and_priority_comes_first,
            s02_the_critical_path_goes_first,
            s03_reorder_rewrites_turns_of_unclaimed_jobs,
            s04_weights_share_claims_and_bad_weights_are_refused,
            s05_measured_durations_rank_longer_tasks_first;
            @exe
            c03_exclusive_claim_across_processes,
            c05_every_process_makes_progress,
            c06_sigkilled_holder_is_fenced,
            c07_consumer_submitted_while_producer_completes,
            c10_tailing_under_concurrent_writers,
            c11_kill_mid_write_leaves_no_partial_state,
            c12_commits_of_other_processes_wake_waiters
        );
    };
    (@cases $meta:tt $fresh:expr, $exe:expr; $($case:ident),*; @exe $($pcase:ident),*) => {
        $( $crate::conformance_suite!(@case $meta $case { let (url, _guard) = $fresh; $crate::storage::conformance::$case(&url); }); )*
        $(
            $crate::conformance_suite!(@case $meta $pcase {
                let (url, _guard) = $fresh;
                $crate::storage::conformance::$pcase(&url, ::std::path::Path::new($exe));
            });
        )*
    };
    (@case [$($meta:tt)*] $name:ident $body:block) => {
        #[test]
        $($meta)*
        fn $name() $body
    };
    ($fresh:expr, $exe:expr) => {
        $crate::conformance_suite!(@all [] $fresh, $exe);
    };
}

fn store(url: &str) -> Store {
    match Store::open(url) {
        Ok(s) => s,
        Err(e) => panic!("cannot open the store under test {url}: {e}"),
    }
}

/// A handle on the store at `url` whose time is a manual clock: leases,
/// backoff and expiry are tested by moving it, not by racing sleeps.
fn clocked(url: &str) -> (Store, ManualClock) {
    let clock = ManualClock::starting_now();
    let backend = match crate::storage::registry::open_backend(url, crate::storage::OpenMode::Create) {
        Ok(b) => b,
        Err(e) => panic!("cannot open the store under test {url}: {e}"),
    };
    (Store::with_clock(backend, std::sync::Arc::new(clock.clone())), clock)
}

fn job(elf: &str, args: Value) -> JobSpec {
    JobSpec::new(elf, "t", args)
}

fn submit(s: &Store, jobs: Vec<JobSpec>) -> Vec<JobId> {
    match s.submit(&Submission { run: RunSpec::named("conformance"), jobs }) {
        Ok(done) => done.jobs,
        Err(e) => panic!("submit failed: {e}"),
    }
}

fn tasks() -> Vec<String> {
    vec!["t".to_owned()]
}

fn claim(s: &Store, instance: &InstanceId, elf: &str, max: u32, ttl_ms: i64) -> Vec<crate::model::Claimed> {
    let tasks = tasks();
    s.claim(&ClaimRequest { instance, elf, tasks: &tasks, max, ttl_ms }).expect("claim")
}

fn state(s: &Store, id: JobId) -> JobState {
    s.job(id).expect("read job").expect("job exists").state
}

fn done(lease: Lease, value: Value) -> Completion {
    Completion { lease, ran_sha: None, value, waited_ms: 0 }
}

fn job_count(s: &Store) -> usize {
    s.jobs(&JobQuery::default()).expect("read jobs").len()
}

/// C1: `record_tasks` is idempotent on the sha; a sha that is not the hash
/// of the source is rejected; versions are listed oldest first.
pub fn c01_tasks_are_content_addressed(url: &str) {
    let (s, clock) = clocked(url);
    let v1 = version("fn a() -> u32 { 1 }");
    s.record_tasks(std::slice::from_ref(&v1)).expect("record");
    s.record_tasks(std::slice::from_ref(&v1)).expect("record again (idempotent)");
    let got = s.task_version(&v1.sha).expect("read").expect("recorded");
    assert_eq!((got.source.as_str(), got.elf.as_str(), got.line), (v1.source.as_str(), "e", 3));
    let mut forged = version("fn a() -> u32 { 2 }");
    forged.sha = v1.sha.clone();
    let err = s.record_tasks(&[forged]).expect_err("a forged sha must be rejected");
    assert!(err.to_string().contains("sha256"), "{err}");
    clock.advance(2);
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
        &s,
        vec![job("e", json!([1])), job("e", json!([{"$output": "0"}, {"xs": [{"$output": "0", "path": "/a"}]}]))],
    );
    assert_eq!(state(&s, ids[0]), JobState::Ready);
    let consumer = s.job(ids[1]).expect("read").expect("exists");
    assert_eq!((consumer.state, consumer.unmet), (JobState::Pending, 1));
    assert_eq!(consumer.args, json!([{"$output": ids[0].0}, {"xs": [{"$output": ids[0].0, "path": "/a"}]}]));
    let deps = s.deps(consumer.run).expect("deps");
    assert_eq!(deps.len(), 2, "{deps:?}");
    assert!(deps.iter().any(|d| d.path == "/1/xs/0" && d.producer == ids[0]));

    let before = (job_count(&s), s.runs(&Default::default()).expect("runs").len());
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
        (job_count(&s), s.runs(&Default::default()).expect("runs").len()),
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
    let first = s.submit(&sub).expect("submit");
    let second = s.submit(&sub).expect("resubmit");
    let readied = second.readied.clone();
    assert!(!first.existing && second.existing);
    assert_eq!((first.run, first.jobs.clone()), (second.run, second.jobs));
    assert!(readied.is_empty());
    assert_eq!(job_count(&s), 2);
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
    assert_eq!(job_count(&s), 0);
}

/// C3: several threads, each with its own handle, claim until the queue is
/// empty; no job is claimed twice and every job is claimed.
pub fn c03_exclusive_claim_in_process(url: &str) {
    let s = store(url);
    let n = 2_000;
    submit(&s, (0..n).map(|i| job("e", json!([i]))).collect());
    let handles: Vec<_> = (0..4)
        .map(|t| {
            let s = store(url);
            std::thread::spawn(move || {
                let me = InstanceId::random();
                let mut got = Vec::new();
                loop {
                    let c = claim(&s, &me, "e", if t % 2 == 0 { 1 } else { 64 }, 60_000);
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
    let (s, clock) = clocked(url);
    let mut specs: Vec<JobSpec> = (0..6).map(|i| job("e", json!([i]))).collect();
    specs[4].priority = 5;
    specs[2].priority = 5;
    specs[5].priority = -1;
    specs[1].retry = RetryPolicy {
        max_attempts: 2,
        backoff: Backoff::Fixed { delay_ms: 400 },
        max_delay_ms: 400,
        jitter: false,
        max_lost: 5,
    };
    let ids = submit(&s, specs);
    let me = InstanceId::random();
    let order: Vec<JobId> = (0..6).flat_map(|_| claim(&s, &me, "e", 1, 60_000)).map(|c| c.lease.job).collect();
    assert_eq!(order, vec![ids[2], ids[4], ids[0], ids[1], ids[3], ids[5]]);
    // Fail job 1 once: it comes back only after its 400 ms backoff.
    let epoch = s.job(ids[1]).expect("read").expect("exists").epoch;
    let failed = s.fail(&Lease { job: ids[1], epoch }, &FailureReport::new(FailureKind::Error, "boom")).expect("fail");
    assert!(failed.retry_at.is_some());
    assert!(claim(&s, &me, "e", 10, 60_000).is_empty(), "claimed before not_before");
    clock.advance(399);
    assert!(claim(&s, &me, "e", 10, 60_000).is_empty(), "claimed 1 ms before not_before");
    clock.advance(1);
    let again = claim(&s, &me, "e", 10, 60_000);
    assert_eq!(again.iter().map(|c| (c.lease.job, c.attempt)).collect::<Vec<_>>(), vec![(ids[1], 2)]);
}

/// C4: a claim takes only jobs of the tasks it names, passing over other
/// tasks' jobs ahead of them in claim order, whether it finds one job, several
/// or none; the jobs it passes over stay ready for an elf that serves them.
pub fn c04_a_claim_takes_only_the_tasks_it_names(url: &str) {
    let s = store(url);
    let spec = |task: &str, priority: i32| {
        let mut j = JobSpec::new("e", task, json!([task, priority]));
        j.priority = priority;
        j
    };
    // Claim order: u(9), u(9), t(5), v(3), t(1), t(1), u(0).
    let ids = submit(
        &s,
        vec![spec("u", 9), spec("t", 5), spec("u", 9), spec("t", 1), spec("v", 3), spec("t", 1), spec("u", 0)],
    );
    let me = InstanceId::random();
    let take = |names: &[&str], max: u32| -> Vec<JobId> {
        let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
        let got =
            s.claim(&ClaimRequest { instance: &me, elf: "e", tasks: &names, max, ttl_ms: 60_000 }).expect("claim");
        for c in &got {
            assert!(names.contains(&c.task), "claimed {} of task {}, asked for {names:?}", c.lease.job, c.task);
            assert_eq!(c.attempt, 1);
        }
        got.iter().map(|c| c.lease.job).collect()
    };
    assert_eq!(take(&["t"], 1), vec![ids[1]], "one job, behind two of another task");
    assert_eq!(take(&["t"], 64), vec![ids[3], ids[5]], "the rest of the task, in claim order, past another task's");
    assert!(take(&["t"], 64).is_empty(), "nothing of the task is left");
    assert!(take(&["w"], 1).is_empty(), "a task with no jobs");
    for id in [ids[0], ids[2], ids[4], ids[6]] {
        assert_eq!(state(&s, id), JobState::Ready, "job {id} of another task was touched");
    }
    assert_eq!(take(&["v", "u"], 3), vec![ids[0], ids[2], ids[4]], "two tasks at once, in claim order");
    assert_eq!(take(&["u", "v"], 3), vec![ids[6]]);
    for id in &ids {
        assert_eq!(state(&s, *id), JobState::Claimed);
    }
}

/// C6: an expired lease is reaped; the next claim bumps the epoch; the stale
/// holder's complete, fail and heartbeat are refused and write nothing.
pub fn c06_lease_expiry_and_fencing(url: &str) {
    let (s, clock) = clocked(url);
    let mut spec = job("e", json!([1]));
    spec.retry.max_attempts = 3;
    let id = submit(&s, vec![spec])[0];
    let a = InstanceId::random();
    let b = InstanceId::random();
    let first = claim(&s, &a, "e", 1, 50).remove(0);
    clock.advance(50);
    assert!(s.reap().expect("reap").expired.is_empty(), "a lease expired at its last millisecond");
    clock.advance(1);
    let reaped = s.reap().expect("reap");
    assert_eq!(reaped.expired, vec![id]);
    let failures = s.failures(&FailureQuery { job: Some(id), ..Default::default() }).expect("failures");
    assert_eq!(failures.len(), 1);
    assert_eq!(failures[0].report.kind, FailureKind::LeaseExpired);
    let second = claim(&s, &b, "e", 1, 60_000).remove(0);
    assert!(second.lease.epoch > first.lease.epoch);
    // A lost lease is the infrastructure's loss, not the task's attempt.
    assert_eq!(second.attempt, 1);
    assert_eq!(s.job(id).expect("read").expect("exists").lost, 1);
    let outcomes = s.complete(&[done(first.lease, json!("stale"))]).expect("complete").outcomes;
    assert_eq!(outcomes, vec![Outcome::LeaseLost]);
    assert_eq!(
        s.fail(&first.lease, &FailureReport::new(FailureKind::Error, "stale")).expect("fail").outcome,
        Outcome::LeaseLost
    );
    assert_eq!(s.heartbeat(&a, &[first.lease], 60_000).expect("heartbeat"), vec![Outcome::LeaseLost]);
    assert_eq!(s.result(id).expect("result"), None);
    assert_eq!(s.heartbeat(&b, &[second.lease], 60_000).expect("heartbeat"), vec![Outcome::Ok]);
    let outcomes = s.complete(&[done(second.lease, json!("fresh"))]).expect("complete").outcomes;
    assert_eq!(outcomes, vec![Outcome::Ok]);
    assert_eq!(s.result(id).expect("result"), Some(json!("fresh")));
}

/// C6: `elf_gone` expires the instance's leases at once, as `elf_lost`.
pub fn c06_elf_gone_expires_leases_at_once(url: &str) {
    let s = store(url);
    let mut spec = job("e", json!([1]));
    spec.retry.max_attempts = 2;
    let id = submit(&s, vec![spec])[0];
    let a = InstanceId::random();
    let held = claim(&s, &a, "e", 1, 600_000).remove(0);
    let readied = s.elf_gone(&a, Departure::Lost).expect("elf gone");
    assert_eq!(readied.get("e"), Some(&1));
    assert_eq!(state(&s, id), JobState::Ready);
    let f = s.failures(&FailureQuery { job: Some(id), ..Default::default() }).expect("failures");
    assert_eq!(f[0].report.kind, FailureKind::ElfLost);
    assert!(f[0].report.message.contains(&a.0), "{}", f[0].report.message);
    let again = claim(&s, &InstanceId::random(), "e", 1, 60_000).remove(0);
    assert!(again.lease.epoch > held.lease.epoch);
}

/// C7: diamond and wide fan-in; the consumer becomes ready exactly once,
/// after its last producer, and receives every producer's result.
pub fn c07_diamond_and_wide_fan_in(url: &str) {
    let s = store(url);
    let me = InstanceId::random();
    // Diamond: a -> b, a -> c, (b, c) -> d.
    let ids = submit(
        &s,
        vec![
            job("e", json!([0])).with_key("a"),
            job("e", json!([{"$output": "a"}])).with_key("b"),
            job("e", json!([{"$output": "a"}])).with_key("c"),
            job("e", json!([{"$output": "b"}, {"$output": "c"}])).with_key("d"),
        ],
    );
    let mut seen_d = 0;
    while state(&s, ids[3]) != JobState::Succeeded {
        let claimed = claim(&s, &me, "e", 64, 60_000);
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
    let ids = submit(&s, specs);
    let consumer = *ids.last().expect("consumer");
    let mut done_count = 0;
    loop {
        let claimed = claim(&s, &me, "p", 64, 60_000);
        if claimed.is_empty() {
            break;
        }
        assert_eq!(state(&s, consumer), JobState::Pending, "ready before its last producer");
        done_count += claimed.len();
        let batch: Vec<_> = claimed.iter().map(|c| done(c.lease, json!(1))).collect();
        let readied = s.complete(&batch).expect("complete").readied;
        assert_eq!(readied.get("c").copied().unwrap_or(0), u32::from(done_count == n), "readied at the wrong time");
    }
    let c = claim(&s, &me, "c", 1, 60_000).remove(0);
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
    first.retry = RetryPolicy {
        max_attempts: 3,
        backoff: Backoff::Fixed { delay_ms: 0 },
        max_delay_ms: 0,
        jitter: false,
        max_lost: 5,
    };
    let ids = submit(
        &s,
        vec![first, job("e", json!([{"$output": "0"}])), job("e", json!([{"$output": "1"}])), job("e", json!([5]))],
    );
    let me = InstanceId::random();
    for attempt in 1..=3 {
        let c = claim(&s, &me, "e", 1, 60_000);
        let c = c.into_iter().find(|c| c.lease.job == ids[0]).expect("the failing job is claimable again");
        assert_eq!(c.attempt, attempt);
        let mut report = FailureReport::new(FailureKind::Error, format!("attempt {attempt} failed"));
        report.causes = vec!["root cause".into()];
        let failed = s.fail(&c.lease, &report).expect("fail");
        assert_eq!(failed.retry_at.is_some(), attempt < 3);
    }
    assert_eq!(state(&s, ids[0]), JobState::Failed);
    assert_eq!((state(&s, ids[1]), state(&s, ids[2])), (JobState::UpstreamFailed, JobState::UpstreamFailed));
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
    let c = claim(&s, &me, "e", 1, 60_000).remove(0);
    assert_eq!(c.lease.job, ids[3]);
    s.complete(&[done(c.lease, json!(5))]).expect("complete");
    let r = s.run(run).expect("run").expect("exists");
    assert_eq!((r.state, r.open, r.failed), (RunState::Failed, 0, 3));
}

/// C17: retention deletes finished runs past an age with their jobs,
/// results, events and (unless kept) failures; it never touches an open run
/// or a run that ended too recently, and a dry run deletes nothing.
pub fn c17_retention_deletes_only_runs_that_ended_long_enough_ago(url: &str) {
    use crate::storage::Retention;
    let (s, clock) = clocked(url);
    let me = InstanceId::random();
    // Run A: one job fails for good, its consumer is upstream-failed.
    let a = submit(&s, vec![job("ret", json!([1])), job("ret", json!([{"$output": "0"}]))]);
    let tasks = tasks();
    let take = |n: u32| s.claim(&ClaimRequest { instance: &me, elf: "ret", tasks: &tasks, max: n, ttl_ms: 60_000 });
    let c = take(1).expect("claim").remove(0);
    s.fail(&c.lease, &FailureReport::new(FailureKind::Error, "gone for good")).expect("fail");
    let run_a = s.job(a[0]).expect("read").expect("exists").run;
    assert_eq!(s.run(run_a).expect("run").expect("exists").state, RunState::Failed);
    // Task versions: one that run B's job ran, one that the open run C's
    // job pins, one nothing names.
    let ran = version("fn ret_ran() -> u32 { 1 }");
    let pinned = version("fn ret_pinned() -> u32 { 2 }");
    let lone = version("fn ret_lone() -> u32 { 3 }");
    s.record_tasks(&[ran.clone(), pinned.clone(), lone.clone()]).expect("record versions");
    // Run B: succeeds. Run C: stays open.
    let b = submit(&s, vec![job("ret", json!([2]))]);
    let c = take(1).expect("claim").remove(0);
    assert_eq!(c.lease.job, b[0]);
    s.complete(&[Completion { lease: c.lease, ran_sha: Some(ran.sha.clone()), value: json!(2), waited_ms: 0 }])
        .expect("complete");
    let run_b = s.job(b[0]).expect("read").expect("exists").run;
    let mut pin = job("ret", json!([3]));
    pin.expected_sha = Some(pinned.sha.clone());
    let open = submit(&s, vec![pin]);
    let run_c = s.job(open[0]).expect("read").expect("exists").run;
    let day = 86_400_000;
    // One job per write: every run is deleted over several writes.
    let r = |older_than_ms, keep_failures, dry_run| Retention {
        older_than_ms,
        keep_failures,
        dry_run,
        jobs_per_write: Some(1),
    };
    // Nothing ended a day ago yet.
    let first = s.collect(&r(day, false, false)).expect("collect");
    assert!(first.runs.is_empty());
    // A version nothing names goes even when no run does; the others stay.
    assert_eq!(first.deleted.versions, 1, "{:?}", first.deleted);
    assert!(s.task_version(&lone.sha).expect("read").is_none(), "a version nothing names is deleted");
    assert!(s.task_version(&ran.sha).expect("read").is_some(), "the version a kept job ran stays");
    clock.advance(2 * day);
    let dry = s.collect(&r(day, false, true)).expect("dry run");
    assert_eq!(dry.runs, vec![run_a, run_b]);
    assert_eq!((dry.deleted.runs, dry.deleted.jobs), (2, 3));
    assert!(s.run(run_a).expect("run").is_some(), "a dry run deletes nothing");
    // Keep A's failures, delete both runs.
    let events_of = |run| s.events(&EventQuery { run: Some(run), limit: 1000, ..Default::default() }).expect("events");
    assert!(!events_of(run_a).is_empty());
    let got = s.collect(&r(day, true, false)).expect("collect");
    assert_eq!(got.runs, vec![run_a, run_b]);
    assert_eq!((got.deleted.runs, got.deleted.jobs, got.deleted.results, got.deleted.failures), (2, 3, 1, 0));
    assert!(got.deleted.events > 0);
    for run in [run_a, run_b] {
        assert!(s.run(run).expect("run").is_none(), "run {run} is deleted");
        assert!(events_of(run).is_empty(), "run {run}'s events are deleted");
    }
    for j in [a[0], a[1], b[0]] {
        assert!(s.job(j).expect("job").is_none(), "job {j} is deleted");
    }
    assert_eq!(s.result(b[0]).expect("result"), None);
    let kept = s.failures(&FailureQuery { run: Some(run_a), ..Default::default() }).expect("failures");
    assert!(!kept.is_empty(), "failures were kept");
    // The version only deleted jobs ran goes; the one an open run's job
    // pins stays.
    assert!(s.task_version(&ran.sha).expect("read").is_none(), "the version deleted jobs ran is deleted");
    assert!(s.task_version(&pinned.sha).expect("read").is_some(), "a version an open run pins is kept");
    assert_eq!(got.deleted.versions, 1, "{:?}", got.deleted);
    // The open run is whole, and still runs.
    assert_eq!(s.run(run_c).expect("run").expect("exists").state, RunState::Running);
    let c = take(1).expect("claim").remove(0);
    assert_eq!(c.lease.job, open[0]);
    s.complete(&[done(c.lease, json!(3))]).expect("complete");
    // Without keeping failures, they go too; a second pass finds nothing.
    let d = submit(&s, vec![job("ret", json!([4]))]);
    let c = take(1).expect("claim").remove(0);
    s.fail(&c.lease, &FailureReport::new(FailureKind::Error, "again")).expect("fail");
    let run_d = s.job(d[0]).expect("read").expect("exists").run;
    clock.advance(2 * day);
    let got = s.collect(&r(day, false, false)).expect("collect");
    assert_eq!(got.runs, vec![run_c, run_d]);
    assert!(got.deleted.failures >= 1);
    assert!(s.failures(&FailureQuery { run: Some(run_d), ..Default::default() }).expect("failures").is_empty());
    assert_eq!(got.deleted.versions, 1, "the pinned version goes with the last job that named it");
    assert!(s.task_version(&pinned.sha).expect("read").is_none());
    assert!(s.collect(&r(day, false, false)).expect("collect").runs.is_empty());
    // A negative age is refused.
    assert!(s.collect(&r(-1, false, false)).is_err());
}

/// C8: cancelling a run reaches the holder of a claimed job at its next
/// heartbeat, and its late result is refused.
pub fn c08_cancel_reaches_the_holder(url: &str) {
    let s = store(url);
    let ids = submit(&s, vec![job("e", json!([1])), job("e", json!([{"$output": "0"}]))]);
    let me = InstanceId::random();
    let c = claim(&s, &me, "e", 1, 60_000).remove(0);
    let run = s.job(ids[0]).expect("read").expect("exists").run;
    assert_eq!(s.cancel_run(run, "operator said so").expect("cancel"), 2);
    assert_eq!(s.heartbeat(&me, &[c.lease], 60_000).expect("heartbeat"), vec![Outcome::Cancelled]);
    assert_eq!(s.complete(&[done(c.lease, json!(1))]).expect("complete").outcomes, vec![Outcome::Cancelled]);
    let r = s.run(run).expect("run").expect("exists");
    assert_eq!(r.state, RunState::Cancelled);
    assert!(matches!(s.cancel_run(crate::model::RunId(987_654), "x"), Err(Error::UnknownRun(_))));
}

/// C9: one result per job, tied to the winning epoch; a repeated completion
/// with the same lease is idempotent.
pub fn c09_results_are_fenced_and_idempotent(url: &str) {
    let s = store(url);
    let id = submit(&s, vec![job("e", json!([1]))])[0];
    let c = claim(&s, &InstanceId::random(), "e", 1, 60_000).remove(0);
    assert_eq!(s.complete(&[done(c.lease, json!({"v": 1}))]).expect("complete").outcomes, vec![Outcome::Ok]);
    assert_eq!(s.complete(&[done(c.lease, json!({"v": 2}))]).expect("complete").outcomes, vec![Outcome::Ok]);
    assert_eq!(s.result(id).expect("result"), Some(json!({"v": 1})));
    let older = Lease { job: id, epoch: c.lease.epoch - 1 };
    assert_eq!(s.complete(&[done(older, json!(0))]).expect("complete").outcomes, vec![Outcome::LeaseLost]);
    assert_eq!(s.results(&[id, JobId(424_242)]).expect("results"), vec![(id, json!({"v": 1}))]);
}

/// C18: a task's measured duration is the median of its most recent
/// successful attempts (start of the winning attempt, after any wait in its
/// elf, to its end); failed
/// attempts and other tasks do not count.
pub fn c18_task_durations_are_measured_from_successes(url: &str) {
    let (s, clock) = clocked(url);
    assert_eq!(s.task_duration("e", "t").expect("durations"), None);
    let ids = submit(&s, (0..4).map(|i| job("e", json!([i]))).collect());
    let other = submit(&s, vec![JobSpec::new("e", "u", json!([9]))]);
    let me = InstanceId::random();
    // Attempts of 10, 40 and 20 ms succeed, the second after waiting 35 ms
    // in its elf for a slot (so it ran 5); one of 500 ms fails for good.
    for (i, (ms, waited_ms)) in [(10, 0), (40, 35), (20, 0)].into_iter().enumerate() {
        let c = claim(&s, &me, "e", 1, 60_000).remove(0);
        assert_eq!(c.lease.job, ids[i]);
        clock.advance(ms);
        let d = Completion { waited_ms, ..done(c.lease, json!(i)) };
        assert_eq!(s.complete(&[d]).expect("complete").outcomes, vec![Outcome::Ok]);
    }
    let waited = s.job(ids[1]).expect("read").expect("exists");
    assert_eq!(waited.finished_at.zip(waited.started_at).map(|(f, s)| f - s), Some(5), "started after its wait");
    let c = claim(&s, &me, "e", 1, 60_000).remove(0);
    clock.advance(500);
    let mut report = FailureReport::new(FailureKind::Error, "no");
    report.retryable = false;
    s.fail(&c.lease, &report).expect("fail");
    let names = vec!["u".to_owned()];
    let u = s.claim(&ClaimRequest { instance: &me, elf: "e", tasks: &names, max: 1, ttl_ms: 60_000 }).expect("claim");
    assert_eq!(u.first().map(|c| c.lease.job), other.first().copied());
    clock.advance(7);
    s.complete(&[done(u[0].lease, json!(0))]).expect("complete");
    assert_eq!(s.task_duration("e", "t").expect("durations"), Some(10), "the median of 10, 5 and 20");
    let both = s.task_durations(&[("e".into(), "t".into()), ("e".into(), "u".into()), ("x".into(), "t".into())]);
    let both = both.expect("durations");
    assert_eq!(both.len(), 2);
    assert_eq!(both.get(&("e".to_owned(), "u".to_owned())), Some(&7));
}

/// C10: every state transition appends exactly one event, in order.
pub fn c10_every_transition_has_one_event(url: &str) {
    let s = store(url);
    let ids = submit(&s, vec![job("e", json!([1])), job("e", json!([{"$output": "0"}]))]);
    let me = InstanceId::random();
    for _ in 0..2 {
        let c = claim(&s, &me, "e", 1, 60_000).remove(0);
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
        assert_eq!(states(id).last().copied(), Some(state(&s, id)));
    }
}

/// C14: payloads up to the limit round-trip; larger arguments are refused
/// with a clear error and write nothing; a larger result fails its own job
/// (`Refused`), and the rest of its batch is stored.
pub fn c14_payload_limits(url: &str) {
    let s = store(url);
    let limit = s.limits().max_payload;
    // A JSON string of n bytes of payload serializes to n + 4 bytes (`["..."]`).
    let big = "x".repeat(limit - 4);
    let ids = submit(&s, vec![job("e", json!([big])), job("e", json!([1]))]);
    let claimed = claim(&s, &InstanceId::random(), "e", 2, 60_000);
    assert_eq!(claimed[0].args, json!([big]));
    let over = "x".repeat(limit);
    let before = job_count(&s);
    let err = s
        .submit(&Submission { run: RunSpec::named("big"), jobs: vec![job("e", json!([over]))] })
        .expect_err("too large");
    assert!(matches!(err, Error::TooLarge { .. }), "{err}");
    assert!(err.to_string().contains("max_payload"), "{err}");
    assert_eq!(job_count(&s), before, "a refused submission wrote jobs");
    let fits = "y".repeat(limit - 2);
    let outcomes = s
        .complete(&[done(claimed[0].lease, json!(over)), done(claimed[1].lease, json!(fits))])
        .expect("one oversized result does not fail the batch")
        .outcomes;
    assert_eq!(outcomes, vec![Outcome::Refused, Outcome::Ok]);
    assert_eq!(state(&s, ids[0]), JobState::Failed);
    let f = s.failures(&FailureQuery { job: Some(ids[0]), ..Default::default() }).expect("failures");
    assert!(f[0].report.message.contains("over the store's limit") && !f[0].will_retry, "{:?}", f[0].report);
    assert_eq!(s.result(ids[1]).expect("result"), Some(json!(fits)));
}

/// C6: a lost elf (a death, or a lease that ran out) costs the job nothing
/// from its attempts; losses have their own budget, past which the job fails
/// as a poison job and its consumers cannot run.
pub fn c06_lost_elves_do_not_spend_attempts(url: &str) {
    let (s, clock) = clocked(url);
    let mut spec = job("e", json!([1]));
    spec.retry.max_lost = 3;
    let ids = submit(&s, vec![spec, job("e", json!([{"$output": "0"}]))]);
    let id = ids[0];
    // First loss: a death.
    let a = InstanceId::random();
    claim(&s, &a, "e", 1, 60_000).remove(0);
    assert_eq!(s.elf_gone(&a, Departure::Lost).expect("gone").get("e"), Some(&1));
    let j = s.job(id).expect("read").expect("exists");
    assert_eq!((j.state, j.attempt, j.lost), (JobState::Ready, 0, 1), "the default single attempt is intact");
    // Second loss: a lease that ran out.
    let b = InstanceId::random();
    let c = claim(&s, &b, "e", 1, 100).remove(0);
    assert_eq!(c.attempt, 1, "the same attempt again");
    clock.advance(101);
    assert_eq!(s.reap().expect("reap").failed, Vec::<JobId>::new());
    let j = s.job(id).expect("read").expect("exists");
    assert_eq!((j.state, j.attempt, j.lost), (JobState::Ready, 0, 2));
    // Third loss spends the budget: a poison job.
    let c3 = InstanceId::random();
    claim(&s, &c3, "e", 1, 60_000).remove(0);
    s.elf_gone(&c3, Departure::Lost).expect("gone");
    assert_eq!(state(&s, id), JobState::Failed);
    assert_eq!(state(&s, ids[1]), JobState::UpstreamFailed);
    let f = s.failures(&FailureQuery { job: Some(id), ..Default::default() }).expect("failures");
    assert_eq!(f.len(), 3);
    assert_eq!(
        f.iter().map(|f| (f.report.kind, f.will_retry)).collect::<Vec<_>>(),
        vec![(FailureKind::Poison, false), (FailureKind::LeaseExpired, true), (FailureKind::ElfLost, true)]
    );
    assert!(
        f[0].report.message.contains("poison") && f[0].report.message.contains("3 times"),
        "{}",
        f[0].report.message
    );
    // A retry gives the job its losses back.
    s.retry(&[id]).expect("retry");
    let j = s.job(id).expect("read").expect("exists");
    assert_eq!((j.state, j.lost), (JobState::Ready, 0));
    // A repeated report of a death changes nothing.
    assert!(s.elf_gone(&c3, Departure::Lost).expect("gone again").is_empty());
}

/// C8: a manual retry re-queues a failed job and what could not run because
/// of it, reopens the run, and the run can then succeed.
pub fn c08_manual_retry_reopens_the_run(url: &str) {
    let s = store(url);
    let ids = submit(&s, vec![job("e", json!([1])), job("e", json!([{"$output": "0"}]))]);
    let run = s.job(ids[0]).expect("read").expect("exists").run;
    let me = InstanceId::random();
    let c = claim(&s, &me, "e", 1, 60_000).remove(0);
    s.fail(&c.lease, &FailureReport::new(FailureKind::Error, "boom")).expect("fail");
    assert_eq!(s.run(run).expect("run").expect("exists").state, RunState::Failed);
    assert!(matches!(s.retry(&[JobId(987_654)]), Err(Error::UnknownJob(_))));
    let retried = s.retry(&[ids[0]]).expect("retry");
    assert_eq!((retried.jobs.clone(), retried.reopened.clone()), (ids.clone(), vec![run]));
    assert_eq!(retried.readied.get("e"), Some(&1));
    assert_eq!((state(&s, ids[0]), state(&s, ids[1])), (JobState::Ready, JobState::Pending));
    assert_eq!(s.run(run).expect("run").expect("exists").state, RunState::Running);
    assert!(s.retry(&[ids[0]]).expect("retry a ready job").jobs.is_empty(), "only final jobs are retried");
    for _ in 0..2 {
        let c = claim(&s, &me, "e", 1, 60_000).remove(0);
        assert_eq!(c.attempt, if c.lease.job == ids[0] { 2 } else { 1 });
        s.complete(&[done(c.lease, json!(1))]).expect("complete");
    }
    let r = s.run(run).expect("run").expect("exists");
    assert_eq!((r.state, r.open, r.failed), (RunState::Succeeded, 0, 0));
    let reopened = s
        .events(&EventQuery { run: Some(run), limit: 1000, ..Default::default() })
        .expect("events")
        .into_iter()
        .filter(|e| e.kind == crate::model::EventKind::RunReopened)
        .count();
    assert_eq!(reopened, 1);
}

/// C12: a waiter wakes when another handle commits, and a commit made
/// between reading the counter and waiting is not lost.
pub fn c12_commits_wake_waiters(url: &str) {
    let s = store(url);
    let other = store(url);
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    rt.block_on(async {
        // A commit before the wait is seen at once.
        let seen = s.change_counter().expect("counter");
        submit(&other, vec![job("e", json!([1]))]);
        tokio::time::timeout(Duration::from_secs(2), s.changed(seen))
            .await
            .expect("a commit made before the wait was lost")
            .expect("changed");
        // A commit during the wait wakes it.
        let seen = s.change_counter().expect("counter");
        let waiter = tokio::spawn({
            let s = s.clone();
            async move { s.changed(seen).await }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!waiter.is_finished(), "woke with nothing committed");
        let started = Instant::now();
        submit(&other, vec![job("e", json!([2]))]);
        tokio::time::timeout(Duration::from_secs(2), waiter)
            .await
            .expect("the waiter was not woken")
            .expect("join")
            .expect("changed");
        assert!(started.elapsed() < Duration::from_millis(500), "woken late: {:?}", started.elapsed());
    });
}

/// C12: commits of another process wake a waiter too.
pub fn c12_commits_of_other_processes_wake_waiters(url: &str, exe: &Path) {
    let s = store(url);
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    rt.block_on(async {
        let seen = s.change_counter().expect("counter");
        let waiter = tokio::spawn({
            let s = s.clone();
            async move { s.changed(seen).await }
        });
        let probe = Probe::start(exe, url, &["submit", "--runs", "1"]);
        probe.finish();
        tokio::time::timeout(Duration::from_secs(2), waiter)
            .await
            .expect("a commit of another process did not wake the waiter")
            .expect("join")
            .expect("changed");
    });
}

/// Released jobs are ready again at once, without counting an attempt.
pub fn release_gives_jobs_back(url: &str) {
    let s = store(url);
    let id = submit(&s, vec![job("e", json!([1]))])[0];
    let c = claim(&s, &InstanceId::random(), "e", 1, 60_000).remove(0);
    let crate::storage::Released { outcomes, readied } = s.release(&[c.lease]).expect("release");
    assert_eq!((outcomes, readied.get("e").copied()), (vec![Outcome::Ok], Some(1)));
    let again = claim(&s, &InstanceId::random(), "e", 1, 60_000).remove(0);
    assert_eq!((again.lease.job, again.attempt), (id, 1));
    assert_eq!(s.release(&[c.lease]).expect("release").outcomes, vec![Outcome::LeaseLost]);
}

/// The leader lease is held by one holder at a time and passes on expiry.
pub fn leadership_is_exclusive(url: &str) {
    let (s, clock) = clocked(url);
    assert!(s.lead("coordinator", "a", 100).expect("lead"));
    assert!(!s.lead("coordinator", "b", 100).expect("lead"));
    assert!(s.lead("coordinator", "a", 100).expect("renew"));
    clock.advance(100);
    assert!(!s.lead("coordinator", "b", 100).expect("lead"), "taken over at the lease's last millisecond");
    clock.advance(1);
    assert!(s.lead("coordinator", "b", 100).expect("take over"));
    assert!(!s.lead("coordinator", "a", 100).expect("lead"));
    s.resign("coordinator", "b").expect("resign");
    assert!(s.lead("coordinator", "a", 100).expect("a resigned lead is free at once"));
}

// ---- multi-process cases ----

/// A child process running `mycelium probe`, killed when dropped.
struct Probe(crate::child::Child);

impl Probe {
    fn start(exe: &Path, url: &str, args: &[&str]) -> Probe {
        let mut cmd = Command::new(exe);
        cmd.arg("--store").arg(url).arg("probe").args(args);
        Probe(crate::child::Child::spawn(cmd).unwrap_or_else(|e| panic!("cannot start {}: {e}", exe.display())))
    }

    /// Waits for a line satisfying `pred`, collecting the lines before it.
    fn until(&mut self, pred: impl Fn(&str) -> bool, within: Duration) -> Vec<String> {
        let deadline = Instant::now() + within;
        let mut seen = Vec::new();
        loop {
            match self.0.next_line(deadline.saturating_duration_since(Instant::now())) {
                Some(line) if pred(&line) => {
                    seen.push(line);
                    return seen;
                }
                Some(line) => seen.push(line),
                None => panic!("probe gave no expected line within {within:?}; saw {seen:?}"),
            }
        }
    }

    fn finish(self) -> Vec<String> {
        let (status, lines) = self.0.finish().expect("wait for probe");
        assert!(status.success(), "probe failed: {status}");
        lines
    }

    fn kill9(&mut self) {
        self.0.kill9().expect("SIGKILL the probe");
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
        submit(&s, (0..n).map(|i| job(&format!("e{batch}"), json!([i]))).collect());
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
    let gap_bound_us: u64 = match s.describe().locality {
        crate::storage::Locality::Remote => 3_000_000,
        _ => 1_000_000,
    };
    let n = 4_000;
    submit(&s, (0..n).map(|i| job("e", json!([i]))).collect());
    let probes: Vec<_> =
        (0..4).map(|_| Probe::start(exe, url, &["claim-all", "--elf", "e", "--batch", "1", "--complete"])).collect();
    let mut counts = Vec::new();
    for p in probes {
        let lines = p.finish();
        let last = lines.iter().rev().find_map(|l| l.strip_prefix("done ")).expect("done line").to_owned();
        let mut parts = last.split(' ');
        let count: usize = parts.next().and_then(|c| c.parse().ok()).expect("count");
        let max_gap_us: u64 = parts.next().and_then(|c| c.parse().ok()).expect("gap");
        // A server answers each claim over HTTP, and the ArangoDB stand-in
        // is one single-threaded node process: on a loaded 2-core machine a
        // second can pass between answers without anyone starving.
        assert!(max_gap_us < gap_bound_us, "a process waited {max_gap_us} µs between claims");
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
    submit(&s, specs);
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
    assert!(claim(&s, &me, "e", 3, 60_000).is_empty(), "claimed while the dead holder's leases were live");
    std::thread::sleep(Duration::from_millis(350));
    let again = claim(&s, &me, "e", 3, 60_000);
    assert_eq!(again.len(), 3, "expired leases were not reclaimed by the claim path");
    for (old, new) in held.iter().zip(&again) {
        assert_eq!(old.job, new.lease.job);
        assert!(new.lease.epoch > old.epoch);
    }
    assert_eq!(s.complete(&[done(held[0], json!("zombie"))]).expect("complete").outcomes, vec![Outcome::LeaseLost]);
    let batch: Vec<_> = again.iter().map(|c| done(c.lease, json!("ok"))).collect();
    assert!(s.complete(&batch).expect("complete").outcomes.iter().all(|o| *o == Outcome::Ok));
    assert_eq!(s.result(held[0].job).expect("result"), Some(json!("ok")));
}

/// C7 write skew: consumers submitted while another process completes their
/// producers never stay pending.
pub fn c07_consumer_submitted_while_producer_completes(url: &str, exe: &Path) {
    let s = store(url);
    let n = 400;
    let producers = submit(&s, (0..n).map(|i| job("p", json!([i]))).collect());
    let worker =
        Probe::start(exe, url, &["claim-all", "--elf", "p", "--batch", "1", "--complete", "--patience", "100"]);
    let mut consumers = Vec::new();
    for p in &producers {
        consumers.extend(submit(&s, vec![job("c", json!([{"$output": p.0}]))]));
    }
    worker.finish();
    let pending: Vec<_> = consumers.iter().filter(|c| state(&s, **c) != JobState::Ready).collect();
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
    submit(&s, vec![job("w", json!([1]))]);
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

/// API tokens: stored with their hash only, names unique among active
/// tokens, revocation effective for every handle, bad ones refused.
///
/// Preconditions: a fresh store.
pub fn tokens_are_hashed_and_revocable(url: &str) {
    let s = store(url);
    let token = |name: &str, scope: Scope, fill: char| Token {
        name: name.to_owned(),
        scope,
        hash: fill.to_string().repeat(64),
        created_at: crate::model::now_ms(),
        revoked_at: None,
    };
    assert_eq!(s.tokens().expect("list"), Vec::new());
    s.create_token(&token("ci-reader", Scope::Read, 'a')).expect("create a read token");
    s.create_token(&token("deploy", Scope::Operator, 'b')).expect("create an operator token");
    let err = s.create_token(&token("ci-reader", Scope::Operator, 'c')).expect_err("an active name is taken");
    assert!(matches!(err, Error::Invalid { .. }) && err.to_string().contains("`ci-reader`"), "{err}");
    let bad = Token { hash: "not-a-sha".into(), ..token("x", Scope::Read, 'd') };
    assert!(s.create_token(&bad).is_err(), "a hash that is no sha256 is refused");

    // Another handle (another process, in practice) sees the same tokens.
    let other = store(url);
    let listed = other.tokens().expect("list");
    let names: Vec<_> = listed.iter().map(|t| (t.name.as_str(), t.scope, t.revoked_at.is_none())).collect();
    assert_eq!(names, [("ci-reader", Scope::Read, true), ("deploy", Scope::Operator, true)]);
    assert_eq!(listed[0].hash, "a".repeat(64));

    assert!(other.revoke_token("ci-reader").expect("revoke"));
    assert!(!s.revoke_token("ci-reader").expect("revoke again"), "a revoked token is not revoked twice");
    assert!(!s.revoke_token("nobody").expect("revoke an unknown name"));
    let listed = s.tokens().expect("list");
    assert!(listed.iter().any(|t| t.name == "ci-reader" && t.revoked_at.is_some()), "{listed:?}");
    // The name is free again once its token is revoked.
    s.create_token(&token("ci-reader", Scope::Read, 'e')).expect("reuse a revoked name");
    assert_eq!(s.tokens().expect("list").len(), 3);
}
