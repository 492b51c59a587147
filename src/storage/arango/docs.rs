//! Stored documents to model types.
//!
//! Numbers computed by AQL or the server's JavaScript (timestamps, epochs,
//! counters) may come back as doubles (`2.0`); the model's integer fields
//! are restored before decoding. Payloads are stored as JSON text (exact
//! integers) and parsed here. User data inside documents (arguments,
//! results, a failure's inputs) is never touched.

use serde::de::DeserializeOwned;
use serde_json::{Map, Number, Value};

use crate::model::{Event, Failure, Job};
use crate::storage::{Error, Result};

/// An integral double as an integer; anything else unchanged.
fn integral(v: &mut Value) {
    if let Value::Number(n) = v
        && n.as_i64().is_none()
        && n.as_u64().is_none()
        && let Some(f) = n.as_f64()
        && f.fract() == 0.0
        && f.abs() < 9.0e18
    {
        *v = Value::Number(Number::from(f as i64));
    }
}

/// [`integral`] on every top-level member but `skip`.
fn shallow(map: &mut Map<String, Value>, skip: &[&str]) {
    for (k, v) in map.iter_mut() {
        if !skip.contains(&k.as_str()) {
            integral(v);
        }
    }
}

/// [`integral`] everywhere in `v` (for documents of our own making).
fn deep(v: &mut Value) {
    match v {
        Value::Array(items) => items.iter_mut().for_each(deep),
        Value::Object(map) => map.values_mut().for_each(deep),
        other => integral(other),
    }
}

/// Parses a payload stored as JSON text.
pub(super) fn payload(what: &str, v: Value) -> Result<Value> {
    match v {
        Value::String(text) => {
            serde_json::from_str(&text).map_err(|e| Error::backend(format!("decode the stored {what}"), e))
        }
        other => Ok(other),
    }
}

fn decode<T: DeserializeOwned>(what: &str, v: Value) -> Result<T> {
    serde_json::from_value(v).map_err(|e| Error::backend(format!("decode a stored {what}"), e))
}

/// A document of plain fields (run, elf, task version, leader).
pub(super) fn plain<T: DeserializeOwned>(what: &str, mut v: Value) -> Result<T> {
    if let Value::Object(map) = &mut v {
        shallow(map, &["labels", "created_by", "build", "signature"]);
    }
    decode(what, v)
}

/// A job.
pub(super) fn job(mut v: Value) -> Result<Job> {
    if let Value::Object(map) = &mut v {
        shallow(map, &["args", "retry"]);
        if let Some(args) = map.remove("args") {
            map.insert("args".to_owned(), payload("arguments", args)?);
        }
    }
    decode("job", v)
}

/// An event: its data is ours, numbers throughout.
pub(super) fn event(mut v: Value) -> Result<Event> {
    deep(&mut v);
    decode("event", v)
}

/// A failure: the report's own fields are ours, its inputs are not.
pub(super) fn failure(mut v: Value) -> Result<Failure> {
    if let Value::Object(map) = &mut v {
        shallow(map, &["report"]);
        if let Some(Value::Object(report)) = map.get_mut("report") {
            shallow(report, &["inputs", "frames", "causes"]);
            if let Some(Value::Array(frames)) = report.get_mut("frames") {
                for f in frames {
                    if let Value::Object(f) = f {
                        shallow(f, &[]);
                    }
                }
            }
        }
    }
    decode("failure", v)
}

/// A list of documents.
pub(super) fn all<T>(rows: Vec<Value>, f: impl Fn(Value) -> Result<T>) -> Result<Vec<T>> {
    rows.into_iter().map(f).collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::model::{JobState, Run};

    #[test]
    fn doubles_become_integers_but_payloads_stay_exact() {
        let stored = json!({
            "_key": "7", "_id": "jobs/7", "_rev": "_x", "id": 7.0, "run": 3, "key": null, "elf": "e", "task": "t",
            "args": "[9007199254740993, 1.0]", "state": "claimed", "unmet": 0.0, "priority": -2, "rank": 2,
            "attempt": 1.0, "max_attempts": 2.0,
            "retry": { "max_attempts": 2, "backoff": { "kind": "exponential", "initial_ms": 10, "factor": 1.5 },
                       "max_delay_ms": 100, "jitter": false },
            "timeout_ms": null, "expected_sha": null, "ran_sha": null, "holder": "i", "lease_until": 1.7e12,
            "epoch": 2.0, "not_before": 0, "created_at": 1.7e12, "updated_at": 1.7e12, "started_at": 1.7e12,
            "finished_at": null, "ready_elf": null, "producers": [1, 2]
        });
        let j = job(stored).expect("decodes");
        assert_eq!((j.id.0, j.epoch, j.attempt, j.state), (7, 2, 1, JobState::Claimed));
        assert_eq!(j.lease_until, Some(1_700_000_000_000));
        assert_eq!(j.args.to_string(), "[9007199254740993,1.0]", "payload numbers are untouched");
    }

    #[test]
    fn events_and_runs_decode() {
        let e = event(json!({ "_key": "3", "seq": 3.0, "at": 1.7e12, "kind": "job_state", "run": 1, "job": 2.0,
                              "state": "ready", "data": { "retry": 2.0 }, "expires": 1.7e9 }))
        .expect("event");
        assert_eq!((e.seq, e.job.map(|j| j.0), e.data["retry"].as_i64()), (3, Some(2), Some(2)));
        let e = event(json!({ "seq": 4, "at": 1, "kind": "run_created", "data": null })).expect("event");
        assert_eq!((e.run, e.state, e.data), (None, None, Value::Null));
        let r: Run = plain(
            "run",
            json!({ "id": 1, "name": "n", "labels": {}, "created_by": { "host": "h", "pid": 1, "program": "p" },
                    "created_at": 5.0, "finished_at": null, "state": "running", "idem_key": null, "total": 2.0,
                    "open": 2, "failed": 0 }),
        )
        .expect("run");
        assert_eq!((r.total, r.created_at), (2, 5));
    }
}
