//! Emitting signals: the payload checked against the signal's schema, and
//! one job per subscribed receiver, in the emission's transaction.

use std::collections::BTreeMap;

use serde_json::Value;

use super::Store;
use super::catalog::{self, SIGNAL, SUBSCRIPTION};
use super::submit::submit_in;
use super::work::Work;
use crate::agent::{Delivery, Emission, Emitted, SignalDecl, Subscription, validate};
use crate::model::{JobSpec, RunSpec, Submission};
use crate::storage::{Error, Result};

impl Store {
    /// Emits a signal: checks its payload against the signal's schema and
    /// records one job for every receiver subscribed now, in one
    /// transaction. An unknown signal or a payload that does not match is
    /// an error naming the signal, the field and the fix; nothing is written.
    pub fn emit(&self, e: &Emission<'_>) -> Result<Emitted> {
        catalog::check_name("signal", e.signal)?;
        let max = self.limits().max_payload;
        self.write("emit a signal", |w| emit(w, e, max))
    }

    /// Every declared signal, by name.
    pub fn signals(&self) -> Result<Vec<SignalDecl>> {
        self.read(|r| catalog::list(r, SIGNAL, ""))
    }

    /// The receivers subscribed to `signal` (every signal's when `None`).
    pub fn subscriptions(&self, signal: Option<&str>) -> Result<Vec<Subscription>> {
        let prefix = signal.map(|s| format!("{s}/")).unwrap_or_default();
        self.read(|r| catalog::list(r, SUBSCRIPTION, &prefix))
    }
}

/// The declared signal `name`, or an error listing the known ones.
pub(super) fn known(w: &mut Work<'_>, name: &str) -> Result<SignalDecl> {
    if let Some(s) = catalog::get::<SignalDecl>(w.tx, SIGNAL, name)? {
        return Ok(s);
    }
    let known: Vec<String> = catalog::list::<SignalDecl>(w.tx, SIGNAL, "")?.into_iter().map(|s| s.name).collect();
    Err(Error::Unknown {
        kind: "signal",
        name: name.to_owned(),
        detail: format!(
            "no elf declares it ({}); an elf declares the signals its receivers take, and those it emits, when it starts",
            if known.is_empty() {
                "no signal is declared yet".to_owned()
            } else {
                format!("known: {}", known.join(", "))
            }
        ),
    })
}

/// Checks `payload` against `schema`, naming the signal or queue at fault.
pub(super) fn check_payload(what: &str, schema: &Value, payload: &Value) -> Result<()> {
    validate::check(schema, payload).map_err(|m| {
        Error::invalid(
            format!("payload of {what}"),
            format!("{}: {}", m.place(), m.problem),
            "send a value of its type (its JSON Schema: `mycelium signals --schema` or `mycelium queue show`)",
        )
    })
}

fn emit(w: &mut Work<'_>, e: &Emission<'_>, max_payload: usize) -> Result<Emitted> {
    let mut decl = known(w, e.signal)?;
    check_payload(&format!("signal `{}`", e.signal), &decl.schema, e.payload)?;
    let subs: Vec<Subscription> = catalog::list(w.tx, SUBSCRIPTION, &format!("{}/", e.signal))?;
    let mut out = Emitted { signal: e.signal.to_owned(), ..Emitted::default() };
    if !subs.is_empty() {
        let jobs: Vec<JobSpec> = subs
            .iter()
            .map(|s| {
                let args =
                    if s.takes_payload { Value::Array(vec![e.payload.clone()]) } else { Value::Array(Vec::new()) };
                let mut spec = JobSpec::new(&s.elf, &s.task, args);
                spec.retry = s.retry.clone();
                spec.timeout_ms = s.timeout_ms;
                spec
            })
            .collect();
        let mut run = RunSpec::named(format!("signal {}", e.signal));
        run.labels =
            BTreeMap::from([("signal".to_owned(), e.signal.to_owned()), ("sender".to_owned(), e.sender.to_owned())]);
        run.idempotency_key = e.key.map(|k| format!("signal:{}:{k}", e.signal));
        let done = submit_in(w, &Submission { run, jobs }, max_payload)?;
        let rows = w.tx.job_rows(&done.jobs)?;
        out.run = Some(done.run);
        out.existing = done.existing;
        out.deliveries = rows.into_iter().map(|r| Delivery { elf: r.elf, task: r.task, job: r.id }).collect();
        out.readied = done.readied;
    }
    if !out.existing {
        decl.emitted += 1;
        decl.last_emitted_at = Some(w.now);
        catalog::put(w, SIGNAL, e.signal, &decl)?;
    }
    Ok(out)
}
