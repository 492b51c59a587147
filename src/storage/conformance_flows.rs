//! The conformance cases of durable flows (F1–F7): the store's rules for a
//! flow's history, its children, its waits, timers and signals, on every
//! backend. The reports an elf would send are written by hand here.

use serde_json::{Value, json};

use super::{clocked, store, submit};
use crate::model::{
    Claimed, InstanceId, JobId, JobSpec, JobState, Lease, Outcome, RunState, Signature, Step, StepKind, TaskSha,
    TaskVersion,
};
use crate::storage::{ClaimRequest, Error, FlowClaim, FlowEnd, FlowReport, FlowTurn, NewStep, Store, Wait};

/// The flow's task name in these cases (its children run task `t`).
const FLOW: &str = "f";

/// Records `elf`/`f` as a flow, so that it may receive signals.
fn record_flow(s: &Store, elf: &str) -> TaskSha {
    let source = format!("async fn f(cx: &mut Flow) {{ /* {elf} */ }}");
    let v = TaskVersion {
        sha: TaskSha::of_source(&source),
        elf: elf.to_owned(),
        name: FLOW.to_owned(),
        source,
        file: "flows.rs".into(),
        line: 1,
        signature: Signature { flow: true, ..Signature::default() },
        doc: String::new(),
        first_seen: 0,
    };
    s.record_tasks(std::slice::from_ref(&v)).expect("record the flow");
    v.sha
}

/// Submits one flow job of `elf`.
fn start_flow(s: &Store, elf: &str) -> JobId {
    submit(s, vec![JobSpec::new(elf, FLOW, json!([]))])[0]
}

/// One turn of an elf serving `f` and `t`: commits `reports`, claims up to
/// `max`.
fn turn(s: &Store, me: &InstanceId, elf: &str, reports: &[FlowReport], max: u32) -> FlowTurn {
    let tasks = vec![FLOW.to_owned(), "t".to_owned()];
    let flows = vec![FLOW.to_owned()];
    let request = ClaimRequest { instance: me, elf, tasks: &tasks, max, ttl_ms: 60_000 };
    s.flow_turn(&[], reports, &FlowClaim { request, flows: &flows }).expect("turn")
}

/// Claims the flow `job` (and nothing else, when it is alone and ready).
fn claim_flow(s: &Store, me: &InstanceId, elf: &str, job: JobId) -> (Claimed, crate::storage::Resume) {
    let t = turn(s, me, elf, &[], 8);
    let c = t.claimed.into_iter().find(|c| c.lease.job == job).expect("the flow is claimed");
    let r = t.resumes.into_iter().find(|r| r.job == job).expect("its resume");
    (c, r)
}

fn step(k: u32, kind: StepKind, target: &str) -> Step {
    Step {
        flow: JobId(0),
        k,
        kind,
        target: target.to_owned(),
        hash: String::new(),
        child: None,
        due: None,
        outcome: None,
        awaited: false,
        sha: None,
        location: None,
        detail: None,
        at: 0,
    }
}

/// A call (or spawn) of `elf`/`t` with `arg`.
fn call(k: u32, kind: StepKind, elf: &str, arg: Value) -> NewStep {
    NewStep { step: step(k, kind, &format!("{elf}/t")), child: Some(JobSpec::new(elf, "t", json!([arg]))) }
}

fn report(lease: Lease, steps: Vec<NewStep>, end: FlowEnd) -> FlowReport {
    FlowReport {
        lease,
        sha: TaskSha::of_source("flow"),
        steps,
        observed: Vec::new(),
        consumed: Vec::new(),
        cancel: Vec::new(),
        end,
    }
}

fn all(ks: &[u32]) -> FlowEnd {
    FlowEnd::Suspend(Wait { children: ks.to_vec(), all: true, ..Wait::default() })
}

fn job_of(s: &Store, id: JobId) -> crate::model::Job {
    s.job(id).expect("read job").expect("job exists")
}

/// F1: a flow's call records its step and creates the child in the flow's
/// run (the run grows), in one transaction; the flow waits, holding no
/// lease, and the claim's attempt is given back.
pub fn f01_a_flows_children_join_its_run(url: &str) {
    let s = store(url);
    let me = InstanceId::random();
    let flow = start_flow(&s, "fa");
    let (c, resume) = claim_flow(&s, &me, "fa", flow);
    assert_eq!((resume.len, resume.open.len(), resume.signals.len()), (0, 0, 0));
    let t = turn(&s, &me, "fa", &[report(c.lease, vec![call(0, StepKind::Call, "fa", json!(1))], all(&[0]))], 0);
    let committed = &t.committed[0];
    assert_eq!((committed.outcome, committed.state), (Outcome::Ok, Some(JobState::Waiting)));
    let child = committed.children[0].1;
    let f = job_of(&s, flow);
    assert_eq!((f.state, f.attempt, f.unmet, f.lease_until), (JobState::Waiting, 0, 1, None));
    let ch = job_of(&s, child);
    assert_eq!((ch.parent, ch.run, ch.state, ch.elf.as_str()), (Some(flow), f.run, JobState::Ready, "fa"));
    let run = s.run(f.run).expect("run").expect("exists");
    assert_eq!((run.total, run.open, run.state), (2, 2, RunState::Running));
    let steps = s.flow_steps(flow, 0).expect("steps");
    assert_eq!(steps.len(), 1);
    assert_eq!((steps[0].k, steps[0].kind, steps[0].child, steps[0].awaited), (0, StepKind::Call, Some(child), true));
    assert_eq!(s.children(flow).expect("children"), vec![child]);
}

/// F2: the transaction that ends an awaited child makes its flow ready;
/// the claim brings the child's outcome (a value, or a failure as a
/// value); what the flow saw is recorded with its next report.
pub fn f02_an_ended_child_wakes_its_flow(url: &str) {
    let s = store(url);
    let me = InstanceId::random();
    let flow = start_flow(&s, "fb");
    let (c, _) = claim_flow(&s, &me, "fb", flow);
    let steps = vec![call(0, StepKind::Spawn, "fb", json!(1)), call(1, StepKind::Spawn, "fb", json!(2))];
    let t = turn(&s, &me, "fb", &[report(c.lease, steps, all(&[0, 1]))], 0);
    let (a, b) = (t.committed[0].children[0].1, t.committed[0].children[1].1);
    assert_eq!(job_of(&s, flow).unmet, 2);
    // Ending one of two awaited children does not wake the flow.
    let got = super::claim(&s, &me, "fb", 2, 60_000);
    let lease_of = |id: JobId| got.iter().find(|c| c.lease.job == id).expect("claimed").lease;
    s.complete(&[super::done(lease_of(a), json!(10))]).expect("complete");
    assert_eq!((job_of(&s, flow).state, job_of(&s, flow).unmet), (JobState::Waiting, 1));
    let mut report_b = crate::model::FailureReport::new(crate::model::FailureKind::Error, "b broke");
    report_b.retryable = false;
    s.fail(&lease_of(b), &report_b).expect("fail");
    assert_eq!(job_of(&s, flow).state, JobState::Ready, "the last awaited child woke it");
    let (c, resume) = claim_flow(&s, &me, "fb", flow);
    assert_eq!(resume.len, 2);
    let outcome = |child: JobId| resume.open.iter().find(|o| o.child == child).and_then(|o| o.outcome.clone());
    assert_eq!(outcome(a), Some(json!({"ok": 10})));
    let err = outcome(b).expect("b ended");
    assert_eq!((err["err"]["kind"].as_str(), err["err"]["message"].as_str()), (Some("error"), Some("b broke")));
    let mut r = report(c.lease, Vec::new(), FlowEnd::Complete(json!("done")));
    r.observed = vec![(0, json!({"ok": 10})), (1, err)];
    let t = turn(&s, &me, "fb", &[r], 0);
    assert_eq!(t.committed[0].state, Some(JobState::Succeeded));
    let f = job_of(&s, flow);
    assert_eq!((f.state, f.attempt), (JobState::Succeeded, 1), "two runs, one attempt");
    assert!(s.flow_steps(flow, 0).expect("steps").iter().all(|st| st.outcome.is_some() && !st.awaited));
    let run = s.run(f.run).expect("run").expect("exists");
    assert_eq!((run.state, run.total, run.open, run.failed), (RunState::Failed, 3, 0, 1));
}

/// F3: a timer is in the store: the flow waits with `not_before` at its due
/// time, holding nothing; the elf's turn fires it when due, not before,
/// and reports the next timer.
pub fn f03_timers_fire_when_due(url: &str) {
    let (s, clock) = clocked(url);
    let me = InstanceId::random();
    let flow = start_flow(&s, "fc");
    let (c, _) = claim_flow(&s, &me, "fc", flow);
    let due = s.now() + 60_000;
    let mut sleep = NewStep { step: step(0, StepKind::Sleep, ""), child: None };
    sleep.step.due = Some(due);
    let end = FlowEnd::Suspend(Wait { due: Some(due), ..Wait::default() });
    let t = turn(&s, &me, "fc", &[report(c.lease, vec![sleep], end)], 0);
    assert_eq!(t.next_timer, Some(due));
    let f = job_of(&s, flow);
    assert_eq!((f.state, f.not_before), (JobState::Waiting, due));
    // An idle elf's look before a claim agrees with the turn: nothing
    // before the timer is due, the flow once it is.
    let tasks = vec![FLOW.to_owned(), "t".to_owned()];
    let look = ClaimRequest { instance: &me, elf: "fc", tasks: &tasks, max: 8, ttl_ms: 60_000 };
    let may = || s.may_claim(&look, &[FLOW.to_owned()]).expect("a look");
    clock.advance(59_999);
    assert!(!may(), "a look found a timer not yet due");
    assert!(turn(&s, &me, "fc", &[], 8).claimed.is_empty(), "not due yet");
    clock.advance(1);
    assert!(may(), "a look missed a due timer");
    assert!(!s.may_claim(&look, &[]).expect("a look"), "a timer of a flow the elf does not serve");
    let t = turn(&s, &me, "fc", &[], 8);
    assert_eq!(t.claimed.iter().map(|c| c.lease.job).collect::<Vec<_>>(), vec![flow], "fired and claimed at once");
    assert_eq!(t.next_timer, None);
}

/// F4: a signal is stored: one sent before the flow waits is kept and
/// handed to the flow's next run; one sent while it waits wakes it; each
/// is consumed once; a payload that does not match the awaited type is
/// refused when the type is known.
pub fn f04_signals_are_kept_and_consumed_once(url: &str) {
    let s = store(url);
    let me = InstanceId::random();
    record_flow(&s, "fd");
    let flow = start_flow(&s, "fd");
    let early = s.signal(flow, "approve", &json!({"by": "ana"})).expect("kept");
    assert!(!early.woke);
    let (c, resume) = claim_flow(&s, &me, "fd", flow);
    assert_eq!(resume.signals.iter().map(|x| x.id).collect::<Vec<_>>(), vec![early.signal]);
    // It consumes the early one at step 0, then waits for a second at step 1.
    let schema = json!({
        "type": "object", "properties": {"by": {"type": "string"}}, "required": ["by"]
    });
    let wait_step = |k: u32| {
        let mut st = step(k, StepKind::Signal, "approve");
        st.detail = Some(json!({"type": "Approval", "schema": schema}));
        st
    };
    let mut first = NewStep { step: wait_step(0), child: None };
    first.step.outcome = Some(json!({"signal": early.signal, "payload": {"by": "ana"}}));
    let second = NewStep { step: wait_step(1), child: None };
    let mut r = report(
        c.lease,
        vec![first, second],
        FlowEnd::Suspend(Wait { signal: Some((1, "approve".into())), ..Wait::default() }),
    );
    r.consumed = vec![(early.signal, 0)];
    let t = turn(&s, &me, "fd", &[r], 0);
    assert_eq!(t.committed[0].state, Some(JobState::Waiting), "the consumed signal does not wake it again");
    let bad = s.signal(flow, "approve", &json!({"who": 1})).expect_err("not an Approval");
    assert!(matches!(bad, Error::Invalid { .. }) && bad.to_string().contains("Approval"), "{bad}");
    assert_eq!(s.flow_signals(flow, false).expect("signals").len(), 1, "a refused signal is not stored");
    let late = s.signal(flow, "approve", &json!({"by": "bo"})).expect("sent");
    assert!(late.woke);
    assert_eq!(job_of(&s, flow).state, JobState::Ready);
    let (_, resume) = claim_flow(&s, &me, "fd", flow);
    assert_eq!(resume.signals.iter().map(|x| x.id).collect::<Vec<_>>(), vec![late.signal], "the early one is consumed");
    let consumed = s.flow_signals(flow, false).expect("signals");
    assert_eq!(consumed.iter().map(|x| x.consumed_by).collect::<Vec<_>>(), vec![Some(0), None]);
}

/// F5: signals to what cannot receive them are refused, naming the job and
/// the fix, and write nothing.
pub fn f05_bad_signals_are_refused(url: &str) {
    let s = store(url);
    let me = InstanceId::random();
    let unknown = s.signal(JobId(9_999_999), "go", &json!(1)).expect_err("no such job");
    assert!(unknown.to_string().contains("does not exist"), "{unknown}");
    let task = submit(&s, vec![JobSpec::new("fe", "t", json!([1]))])[0];
    let unregistered = s.signal(task, "go", &json!(1)).expect_err("unknown task");
    assert!(unregistered.to_string().contains("not known to be a flow"), "{unregistered}");
    let mut v = super::version("fn t(x: u32) -> u32 { x }");
    "fe".clone_into(&mut v.elf);
    "t".clone_into(&mut v.name);
    s.record_tasks(&[v]).expect("record");
    let not_flow = s.signal(task, "go", &json!(1)).expect_err("a task");
    assert!(not_flow.to_string().contains("is a task, not a flow"), "{not_flow}");
    record_flow(&s, "fe");
    let flow = start_flow(&s, "fe");
    let (c, _) = claim_flow(&s, &me, "fe", flow);
    turn(&s, &me, "fe", &[report(c.lease, Vec::new(), FlowEnd::Complete(json!(1)))], 0);
    let ended = s.signal(flow, "go", &json!(1)).expect_err("ended");
    assert!(ended.to_string().contains("already ended"), "{ended}");
    assert!(s.signal(flow, "", &json!(1)).is_err(), "an empty name");
    assert!(s.flow_signals(flow, false).expect("signals").is_empty());
}

/// F6: a report under a stale lease writes nothing (no step, no child).
pub fn f06_a_stale_flow_report_writes_nothing(url: &str) {
    let s = store(url);
    let me = InstanceId::random();
    let flow = start_flow(&s, "ff");
    let (c, _) = claim_flow(&s, &me, "ff", flow);
    let stale = Lease { job: flow, epoch: c.lease.epoch - 1 };
    let t = turn(&s, &me, "ff", &[report(stale, vec![call(0, StepKind::Call, "ff", json!(1))], all(&[0]))], 0);
    assert_eq!(t.committed[0].outcome, Outcome::LeaseLost);
    assert!(s.flow_steps(flow, 0).expect("steps").is_empty());
    assert!(s.children(flow).expect("children").is_empty());
    assert_eq!(job_of(&s, flow).state, JobState::Claimed);
}

/// F7: cancelling a flow cancels what it started that is still open, and
/// the run ends.
pub fn f07_cancel_reaches_what_a_flow_started(url: &str) {
    let s = store(url);
    let me = InstanceId::random();
    let flow = start_flow(&s, "fg");
    let (c, _) = claim_flow(&s, &me, "fg", flow);
    let steps = vec![call(0, StepKind::Spawn, "fg", json!(1)), call(1, StepKind::Spawn, "fg", json!(2))];
    let t = turn(&s, &me, "fg", &[report(c.lease, steps, all(&[0, 1]))], 0);
    let kids: Vec<JobId> = t.committed[0].children.iter().map(|(_, c)| *c).collect();
    let mut cancelled = s.cancel_job(flow, "no longer needed").expect("cancel");
    cancelled.sort_unstable();
    let mut want = vec![flow];
    want.extend(&kids);
    want.sort_unstable();
    assert_eq!(cancelled, want);
    let run = s.run(job_of(&s, flow).run).expect("run").expect("exists");
    assert_eq!((run.open, run.state.is_final()), (0, true));
    assert!(matches!(s.cancel_job(JobId(8_888_888), "x"), Err(Error::UnknownJob(_))));
}
