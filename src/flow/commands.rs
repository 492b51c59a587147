//! The futures a flow awaits. Each resolves from what the history recorded,
//! or from what the claim said; otherwise it tells the machine what it
//! waits for, and the flow suspends there.

use std::future::Future;
use std::marker::PhantomData;
use std::panic::Location;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::context::{lock, steps_target};
use super::error::{SignalError, TaskFailed};
use super::machine::{Issue, Machine, digest};
use crate::lifecycle::Wait;
use crate::model::{JobState, StepKind};

/// Decodes a child's recorded outcome.
fn decode<T: DeserializeOwned>(m: &Machine, k: u32, task: &str, outcome: &Value) -> Result<T, TaskFailed> {
    if let Some(v) = outcome.get("ok") {
        return serde_json::from_value(v.clone()).map_err(|e| TaskFailed {
            job: m.child_of(k),
            task: task.to_owned(),
            state: Some(JobState::Succeeded),
            kind: None,
            failure: None,
            message: format!("its value does not decode as {}: {e}", std::any::type_name::<T>()),
        });
    }
    let failed = outcome.get("err").cloned().and_then(|e| serde_json::from_value::<TaskFailed>(e).ok());
    Err(failed.unwrap_or_else(|| TaskFailed {
        job: m.child_of(k),
        task: task.to_owned(),
        state: None,
        kind: None,
        failure: None,
        message: format!("its recorded outcome is unreadable: {outcome}"),
    }))
}

/// The outcome of one child: what [`Flow::call`](super::Flow::call) and
/// [`Flow::join`](super::Flow::join) return.
pub struct Awaited<T> {
    m: Arc<Mutex<Machine>>,
    k: Option<Result<u32, TaskFailed>>,
    task: String,
    join: Option<u32>,
    _t: PhantomData<fn() -> T>,
}

impl<T> Awaited<T> {
    pub(crate) fn new(m: Arc<Mutex<Machine>>, k: Result<u32, TaskFailed>, task: String, join: Option<u32>) -> Self {
        Self { m, k: Some(k), task, join, _t: PhantomData }
    }
}

impl<T> std::fmt::Debug for Awaited<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Awaited").field("task", &self.task).finish_non_exhaustive()
    }
}

impl<T: DeserializeOwned> Future for Awaited<T> {
    type Output = Result<T, TaskFailed>;

    fn poll(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Self::Output> {
        let k = match self.k.as_ref() {
            Some(Ok(k)) => *k,
            Some(Err(_)) => {
                let refused = self.k.take().and_then(Result::err);
                return Poll::Ready(Err(
                    refused.unwrap_or_else(|| TaskFailed::refused(self.task.clone(), String::new()))
                ));
            }
            None => return Poll::Pending,
        };
        let mut m = lock(&self.m);
        if m.failure.is_some() {
            return Poll::Pending;
        }
        match m.child_outcome(k) {
            Some(outcome) => {
                if let Some(j) = self.join {
                    m.settle(j, json!(true));
                }
                Poll::Ready(decode(&m, k, &self.task, &outcome))
            }
            None => {
                m.waits.push(Wait { children: vec![k], all: true, ..Wait::default() });
                Poll::Pending
            }
        }
    }
}

/// The outcomes of several children, in order: what
/// [`Flow::join_all`](super::Flow::join_all) returns.
pub struct JoinAll<T> {
    m: Arc<Mutex<Machine>>,
    children: Vec<(Result<u32, TaskFailed>, String)>,
    step: u32,
    _t: PhantomData<fn() -> T>,
}

impl<T> JoinAll<T> {
    pub(crate) fn new(m: Arc<Mutex<Machine>>, children: Vec<(Result<u32, TaskFailed>, String)>, step: u32) -> Self {
        Self { m, children, step, _t: PhantomData }
    }
}

impl<T> std::fmt::Debug for JoinAll<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JoinAll").field("children", &self.children.len()).finish_non_exhaustive()
    }
}

impl<T: DeserializeOwned> Future for JoinAll<T> {
    type Output = Vec<Result<T, TaskFailed>>;

    fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Self::Output> {
        let mut m = lock(&self.m);
        if m.failure.is_some() {
            return Poll::Pending;
        }
        let mut missing = Vec::new();
        let mut outcomes = Vec::with_capacity(self.children.len());
        for (k, _) in &self.children {
            if let Ok(k) = k {
                match m.child_outcome(*k) {
                    Some(o) => outcomes.push(Some(o)),
                    None => {
                        missing.push(*k);
                        outcomes.push(None);
                    }
                }
            } else {
                outcomes.push(None);
            }
        }
        if !missing.is_empty() {
            m.waits.push(Wait { children: missing, all: true, ..Wait::default() });
            return Poll::Pending;
        }
        m.settle(self.step, json!(true));
        let out = self
            .children
            .iter()
            .zip(outcomes)
            .map(|((k, task), o)| match (k, o) {
                (Ok(k), Some(o)) => decode(&m, *k, task, &o),
                (Err(refused), _) => Err(refused.clone()),
                (Ok(_), None) => Err(TaskFailed::refused(task.clone(), "no outcome".into())),
            })
            .collect();
        Poll::Ready(out)
    }
}

/// The values of a fan-out, in order, or its first failure in order: what
/// [`Flow::map`](super::Flow::map) returns.
pub struct Mapped<T>(JoinAll<T>);

impl<T> Mapped<T> {
    pub(crate) fn new(all: JoinAll<T>) -> Self {
        Self(all)
    }
}

impl<T> std::fmt::Debug for Mapped<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Mapped").field(&self.0).finish()
    }
}

impl<T: DeserializeOwned> Future for Mapped<T> {
    type Output = Result<Vec<T>, TaskFailed>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // `JoinAll` holds no self references: it is `Unpin`, and so is this.
        let inner = Pin::new(&mut self.get_mut().0);
        inner.poll(cx).map(|all| all.into_iter().collect())
    }
}

/// The first of several children to end: what
/// [`Flow::select`](super::Flow::select) returns.
pub struct Select<T> {
    m: Arc<Mutex<Machine>>,
    children: Vec<(Result<u32, TaskFailed>, String)>,
    cancel_rest: bool,
    at: &'static Location<'static>,
    step: Option<u32>,
    _t: PhantomData<fn() -> T>,
}

impl<T> std::fmt::Debug for Select<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Select").field("children", &self.children.len()).finish_non_exhaustive()
    }
}

impl<T> Select<T> {
    pub(crate) fn new(
        m: Arc<Mutex<Machine>>,
        children: Vec<(Result<u32, TaskFailed>, String)>,
        at: &'static Location<'static>,
    ) -> Self {
        Self { m, children, cancel_rest: false, at, step: None, _t: PhantomData }
    }

    /// Cancels the children that have not ended when the first one does
    /// (and what they started).
    pub fn cancel_rest(mut self) -> Self {
        self.cancel_rest = true;
        self
    }
}

impl<T: DeserializeOwned> Future for Select<T> {
    type Output = (usize, Result<T, TaskFailed>);

    fn poll(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        let mut m = lock(&this.m);
        if m.failure.is_some() {
            return Poll::Pending;
        }
        let ks: Vec<Option<u32>> = this.children.iter().map(|(k, _)| k.as_ref().ok().copied()).collect();
        let step = match this.step {
            Some(s) => s,
            None => {
                let all: Vec<u32> = ks.iter().flatten().copied().collect();
                let target = format!("{}{}", steps_target(&all), if this.cancel_rest { " cancel rest" } else { "" });
                match m.issue(Issue::new(StepKind::Select, target, digest(&[&format!("{all:?}")]), this.at)) {
                    Ok(s) => {
                        this.step = Some(s);
                        s
                    }
                    Err(_) => return Poll::Pending,
                }
            }
        };
        // A refused child "ends" at once.
        if let Some(i) = this.children.iter().position(|(k, _)| k.is_err()) {
            m.settle(step, json!({ "index": i }));
            let refused = this.children[i].0.clone().err();
            let task = this.children[i].1.clone();
            return Poll::Ready((i, Err(refused.unwrap_or_else(|| TaskFailed::refused(task, String::new())))));
        }
        let recorded = m.outcome(step).and_then(|o| o.get("index")).and_then(Value::as_u64).map(|i| i as usize);
        let winner = match recorded {
            Some(i) => Some(i),
            None => {
                // Of the children that ended, the one that ended first.
                let mut best: Option<(i64, usize)> = None;
                for (i, k) in ks.iter().enumerate() {
                    let Some(k) = k else { continue };
                    let seen = m.outcome(*k).is_some();
                    let ended = seen || m.child_outcome_peek(*k);
                    if !ended {
                        continue;
                    }
                    let at = if seen { i64::MIN } else { m.finished_at(*k).unwrap_or(i64::MAX) };
                    if best.is_none_or(|(b, _)| at < b) {
                        best = Some((at, i));
                    }
                }
                best.map(|(_, i)| i)
            }
        };
        let Some(i) = winner else {
            m.waits.push(Wait { children: ks.iter().flatten().copied().collect(), all: false, ..Wait::default() });
            return Poll::Pending;
        };
        let Some(k) = ks.get(i).copied().flatten() else {
            return Poll::Ready((i, Err(TaskFailed::refused(this.children[i].1.clone(), "no such child".into()))));
        };
        let Some(outcome) = m.child_outcome(k) else {
            m.waits.push(Wait { children: vec![k], all: true, ..Wait::default() });
            return Poll::Pending;
        };
        m.settle(step, json!({ "index": i }));
        if this.cancel_rest && recorded.is_none() {
            let rest: Vec<_> = ks
                .iter()
                .enumerate()
                .filter(|(j, _)| *j != i)
                .filter_map(|(_, k)| k.filter(|k| m.outcome(*k).is_none()).and_then(|k| m.child_of(k)))
                .collect();
            m.cancel(rest);
        }
        Poll::Ready((i, decode(&m, k, &this.children[i].1, &outcome)))
    }
}

/// A durable timer: what [`Flow::sleep`](super::Flow::sleep) returns.
#[derive(Debug)]
pub struct Sleep {
    m: Arc<Mutex<Machine>>,
    step: u32,
}

impl Sleep {
    pub(crate) fn new(m: Arc<Mutex<Machine>>, step: u32) -> Self {
        Self { m, step }
    }
}

impl std::fmt::Debug for Machine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Machine")
            .field("job", &self.job)
            .field("recorded", &self.recorded.len())
            .finish_non_exhaustive()
    }
}

impl Future for Sleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<()> {
        let mut m = lock(&self.m);
        if m.failure.is_some() {
            return Poll::Pending;
        }
        if m.outcome(self.step).is_some() {
            return Poll::Ready(());
        }
        let due = m.due_of(self.step).unwrap_or(0);
        let now = m.now();
        if now >= due {
            m.settle(self.step, json!({ "fired": now }));
            return Poll::Ready(());
        }
        m.waits.push(Wait { due: Some(due), ..Wait::default() });
        Poll::Pending
    }
}

/// A wait for a signal: what [`Flow::signal`](super::Flow::signal) returns.
pub struct SignalWait<T> {
    m: Arc<Mutex<Machine>>,
    name: String,
    timeout: Option<Duration>,
    at: &'static Location<'static>,
    step: Option<u32>,
    _t: PhantomData<fn() -> T>,
}

impl<T> std::fmt::Debug for SignalWait<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignalWait").field("name", &self.name).field("timeout", &self.timeout).finish_non_exhaustive()
    }
}

impl<T> SignalWait<T> {
    pub(crate) fn new(m: Arc<Mutex<Machine>>, name: String, at: &'static Location<'static>) -> Self {
        Self { m, name, timeout: None, at, step: None, _t: PhantomData }
    }

    /// Gives up after `limit` (counted on the store's clock from when the
    /// flow first waited) with [`SignalError::Timeout`].
    pub fn timeout(mut self, limit: Duration) -> Self {
        self.timeout = Some(limit);
        self
    }
}

impl<T: DeserializeOwned + JsonSchema> Future for SignalWait<T> {
    type Output = Result<T, SignalError>;

    fn poll(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        let mut m = lock(&this.m);
        if m.failure.is_some() {
            return Poll::Pending;
        }
        let ty = std::any::type_name::<T>();
        let step = match this.step {
            Some(s) => s,
            None => {
                let mut c = Issue::new(StepKind::Signal, this.name.clone(), digest(&[&this.name, ty]), this.at);
                c.due =
                    this.timeout.map(|t| m.now().saturating_add(i64::try_from(t.as_millis()).unwrap_or(i64::MAX / 4)));
                let schema = serde_json::to_value(schemars::schema_for!(T)).unwrap_or(Value::Null);
                c.detail = Some(json!({ "type": ty, "schema": schema }));
                match m.issue(c) {
                    Ok(s) => {
                        this.step = Some(s);
                        s
                    }
                    Err(_) => return Poll::Pending,
                }
            }
        };
        let outcome = match m.outcome(step).cloned() {
            Some(o) => Some(o),
            None => match m.take_signal(&this.name, step) {
                Some(s) => {
                    let o = json!({ "signal": s.id, "payload": s.payload });
                    m.settle(step, o.clone());
                    Some(o)
                }
                None => {
                    let due = m.due_of(step);
                    if due.is_some_and(|d| m.now() >= d) {
                        let waited = this.timeout.map_or(0, |t| u64::try_from(t.as_millis()).unwrap_or(u64::MAX));
                        let o = json!({ "timeout": waited });
                        m.settle(step, o.clone());
                        Some(o)
                    } else {
                        m.waits.push(Wait { due, signal: Some((step, this.name.clone())), ..Wait::default() });
                        None
                    }
                }
            },
        };
        let Some(outcome) = outcome else { return Poll::Pending };
        if let Some(after) = outcome.get("timeout") {
            return Poll::Ready(Err(SignalError::Timeout {
                name: this.name.clone(),
                after_ms: after.as_u64().unwrap_or(0),
            }));
        }
        let id = outcome.get("signal").and_then(Value::as_i64).unwrap_or(0);
        let payload = outcome.get("payload").cloned().unwrap_or(Value::Null);
        Poll::Ready(serde_json::from_value::<T>(payload).map_err(|e| SignalError::Payload {
            name: this.name.clone(),
            signal: id,
            ty: ty.to_owned(),
            problem: e.to_string(),
        }))
    }
}
