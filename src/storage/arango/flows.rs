//! Durable flows on ArangoDB: the seam's [`FlowRead`] and [`FlowTx`].
//!
//! A flow's history is the collection `flow_steps`, one document per step
//! keyed `flow:k`; the signals sent to flows are `flow_signals`, keyed by
//! their id (from `meta/counters`, like job and failure ids). What the user
//! handed over (outcomes, details, payloads) is kept as JSON text. New steps
//! and signals are buffered and inserted by the transaction's flush;
//! changes to them are merged into a buffered insert of the same document,
//! or else sent after it ([`aql::CHANGES`]).

use serde_json::{Map, Value, json};

use super::aql::{self, Query};
use super::docs::{Doc, EXACT_MAX};
use super::view::View;
use crate::model::{JobId, JobState, Millis, Signal, SignalId, Step, TaskSha};
use crate::storage::flow_seam::{FlowRead, FlowTx};
use crate::storage::rows::JobRow;
use crate::storage::{Error, Result};

/// The lower bound of `wait_until` in the timer queries: below every time,
/// above null (which every job that does not wait has).
pub(super) const EARLIEST: i64 = -(EXACT_MAX as i64);

/// Job ids, distinct and ascending.
fn ids(jobs: &[JobId]) -> Vec<i64> {
    let mut v: Vec<i64> = jobs.iter().map(|j| j.0).collect();
    v.sort_unstable();
    v.dedup();
    v
}

/// The key of step `k` of `flow`.
fn step_key(flow: JobId, k: u32) -> String {
    format!("{}:{k}", flow.0)
}

/// A time the user chose (a sleep's end), as a number when a double keeps it
/// exact, else as decimal text.
fn exact_time(t: Millis) -> Value {
    if t.unsigned_abs() <= EXACT_MAX { json!(t) } else { Value::String(t.to_string()) }
}

/// The document of a step.
fn step_doc(s: &Step) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("_key".into(), json!(step_key(s.flow, s.k)));
    m.insert("flow".into(), json!(s.flow.0));
    m.insert("k".into(), json!(s.k));
    m.insert("kind".into(), json!(s.kind.as_str()));
    m.insert("target".into(), json!(s.target));
    m.insert("hash".into(), json!(s.hash));
    m.insert("child".into(), json!(s.child.map(|c| c.0)));
    m.insert("due".into(), s.due.map_or(Value::Null, exact_time));
    m.insert("outcome".into(), json!(s.outcome.as_ref().map(Value::to_string)));
    m.insert("awaited".into(), json!(s.awaited));
    m.insert("sha".into(), json!(s.sha.as_ref().map(TaskSha::as_str)));
    m.insert("location".into(), json!(s.location));
    m.insert("detail".into(), json!(s.detail.as_ref().map(Value::to_string)));
    m.insert("at".into(), json!(s.at));
    m
}

/// JSON text kept in `field`, if there is any (text `null` is a JSON null,
/// a missing or null field none at all).
fn optional_json(d: &Doc<'_>, field: &str) -> Result<Option<Value>> {
    match d.opt_str(field)? {
        Some(_) => d.json_text::<Value>(field).map(Some),
        None => Ok(None),
    }
}

/// A stored step.
fn step_of(v: &Value) -> Result<Step> {
    let d = Doc::new("flow step", v)?;
    Ok(Step {
        flow: JobId(d.int("flow")?),
        k: d.u32("k")?,
        kind: d.parsed("kind")?,
        target: d.string("target")?,
        hash: d.string("hash")?,
        child: d.opt_int("child")?.map(JobId),
        due: d.opt_int("due")?,
        outcome: optional_json(&d, "outcome")?,
        awaited: d.bool("awaited")?,
        sha: d.sha("sha")?,
        location: d.opt_str("location")?.map(str::to_owned),
        detail: optional_json(&d, "detail")?,
        at: d.int("at")?,
    })
}

/// The document of a signal with the id the transaction gave it.
fn signal_doc(s: &Signal, id: SignalId) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("_key".into(), json!(id.to_string()));
    m.insert("id".into(), json!(id));
    m.insert("flow".into(), json!(s.flow.0));
    m.insert("name".into(), json!(s.name));
    m.insert("payload".into(), Value::String(s.payload.to_string()));
    m.insert("sent_at".into(), json!(s.sent_at));
    m.insert("consumed_by".into(), json!(s.consumed_by));
    m
}

/// A stored signal.
fn signal_of(v: &Value) -> Result<Signal> {
    let d = Doc::new("signal", v)?;
    Ok(Signal {
        id: d.int("id")?,
        flow: JobId(d.int("flow")?),
        name: d.string("name")?,
        payload: d.json_text("payload")?,
        sent_at: d.int("sent_at")?,
        consumed_by: d.opt_u64("consumed_by")?.map(|k| u32::try_from(k).unwrap_or(u32::MAX)),
    })
}

impl View<'_> {
    /// Buffers a change to a step: into its buffered insert, or for after
    /// the inserts.
    fn change_step(&mut self, change: Map<String, Value>) {
        if let Some(change) = self.pending.steps.merge(change) {
            self.pending.step_changes.put(change);
        }
    }
}

impl FlowRead for View<'_> {
    fn steps(&mut self, flow: JobId, from: u32) -> Result<Vec<Step>> {
        let q = Query::new("read a flow's history", aql::STEPS).bind("flow", flow.0).bind("from", from);
        self.decoded(q, step_of)
    }

    fn last_steps(&mut self, flows: &[JobId]) -> Result<Vec<Step>> {
        if flows.is_empty() {
            return Ok(Vec::new());
        }
        let q = Query::new("read the last steps of flows", aql::LAST_STEPS).bind("flows", ids(flows));
        self.decoded(q, step_of)
    }

    fn child_steps(&mut self, children: &[JobId]) -> Result<Vec<Step>> {
        if children.is_empty() {
            return Ok(Vec::new());
        }
        let q = Query::new("read the steps that created jobs", aql::CHILD_STEPS).bind("children", ids(children));
        self.decoded(q, step_of)
    }

    fn open_steps(&mut self, flows: &[JobId]) -> Result<Vec<Step>> {
        if flows.is_empty() {
            return Ok(Vec::new());
        }
        let q = Query::new("read the open steps of flows", aql::OPEN_STEPS).bind("flows", ids(flows));
        self.decoded(q, step_of)
    }

    fn signals(&mut self, flows: &[JobId], open: bool) -> Result<Vec<Signal>> {
        if flows.is_empty() {
            return Ok(Vec::new());
        }
        let text = if open { aql::OPEN_SIGNALS } else { aql::SIGNALS };
        self.decoded(Query::new("read signals", text).bind("flows", ids(flows)), signal_of)
    }

    fn due(&mut self, elf: &str, now: Millis, limit: u32) -> Result<Vec<JobRow>> {
        let q = Query::new("find due timers", aql::DUE)
            .bind("elf", elf)
            .bind("earliest", EARLIEST)
            .bind("now", now)
            .bind("limit", limit);
        let rows = self.decoded(q, super::docs::job_row)?;
        // `wait_until` is set only on waiting jobs; a document written
        // otherwise is no timer.
        Ok(rows.into_iter().filter(|r| r.state == JobState::Waiting).collect())
    }

    fn next_due(&mut self, elf: &str) -> Result<Option<Millis>> {
        // Waiting jobs with no timer are stored with `wait_until` at
        // EXACT_MAX (see docs::stored_not_before).
        let q = Query::new("find the next timer", aql::NEXT_DUE)
            .bind("elf", elf)
            .bind("earliest", EARLIEST)
            .bind("never", EXACT_MAX);
        let rows = self.rows(q)?;
        match rows.first().filter(|v| !v.is_null()) {
            None => Ok(None),
            Some(v) => Doc::new("timer", &json!({ "t": v }))?.opt_int("t"),
        }
    }

    fn children(&mut self, parents: &[JobId]) -> Result<Vec<JobRow>> {
        if parents.is_empty() {
            return Ok(Vec::new());
        }
        let q = Query::new("read a flow's children", aql::CHILDREN).bind("parents", ids(parents));
        self.decoded(q, super::docs::job_row)
    }
}

impl FlowTx for View<'_> {
    fn insert_steps(&mut self, steps: &[Step]) -> Result<()> {
        for s in steps {
            let doc = step_doc(s);
            // One already stored is refused by the insert (its key is taken).
            if self.pending.steps.contains(&step_key(s.flow, s.k)) {
                return Err(Error::backend(
                    "record flow steps",
                    std::io::Error::other(format!("step {} of flow {} is recorded twice", s.k, s.flow.0)),
                ));
            }
            self.pending.steps.put(doc);
        }
        Ok(())
    }

    fn observe_steps(&mut self, outcomes: &[(JobId, u32, String)]) -> Result<()> {
        for (flow, k, outcome) in outcomes {
            let mut m = Map::new();
            m.insert("_key".into(), json!(step_key(*flow, *k)));
            m.insert("outcome".into(), json!(outcome));
            m.insert("awaited".into(), json!(false));
            self.change_step(m);
        }
        Ok(())
    }

    fn await_steps(&mut self, steps: &[(JobId, u32, bool)]) -> Result<()> {
        for (flow, k, awaited) in steps {
            let mut m = Map::new();
            m.insert("_key".into(), json!(step_key(*flow, *k)));
            m.insert("awaited".into(), json!(awaited));
            self.change_step(m);
        }
        Ok(())
    }

    fn insert_signal(&mut self, signal: &Signal) -> Result<SignalId> {
        let c = self.counters()?;
        c.signal += 1;
        let id = c.signal;
        self.bump.signal += 1;
        self.pending.signals.put(signal_doc(signal, id));
        Ok(id)
    }

    fn consume_signals(&mut self, consumed: &[(SignalId, u32)]) -> Result<()> {
        for (id, k) in consumed {
            let mut m = Map::new();
            m.insert("_key".into(), json!(id.to_string()));
            m.insert("consumed_by".into(), json!(k));
            if let Some(change) = self.pending.signals.merge(m) {
                self.pending.signal_changes.put(change);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::StepKind;

    #[test]
    fn steps_and_signals_round_trip_exactly() {
        let step = Step {
            flow: JobId(4),
            k: 2,
            kind: StepKind::Call,
            target: "e/t".into(),
            hash: "h".into(),
            child: Some(JobId(9)),
            due: Some(i64::MAX),
            outcome: Some(serde_json::from_str(r#"{"ok":12345678901234567890}"#).expect("json")),
            awaited: true,
            sha: None,
            location: Some("f.rs:3".into()),
            detail: Some(Value::Null),
            at: 1_700_000_000_000,
        };
        let doc = Value::Object(step_doc(&step));
        assert_eq!(doc["_key"], json!("4:2"));
        assert_eq!(doc["due"], json!(i64::MAX.to_string()), "beyond 2^53 as text");
        assert_eq!(step_of(&doc).expect("decode"), step);
        let none = Step { outcome: None, detail: None, child: None, due: None, ..step };
        assert_eq!(step_of(&Value::Object(step_doc(&none))).expect("decode"), none);

        let signal = Signal {
            id: 0,
            flow: JobId(4),
            name: "approve".into(),
            payload: serde_json::from_str("[18446744073709551615]").expect("json"),
            sent_at: 5,
            consumed_by: None,
        };
        let back = signal_of(&Value::Object(signal_doc(&signal, 7))).expect("decode");
        assert_eq!(back, Signal { id: 7, ..signal });
    }
}
