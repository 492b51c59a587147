//! Signals of the agents: the declared ones with their receivers, and
//! emitting one (every subscribed receiver gets one job).

use axum::Json;
use axum::extract::{Extension, Path, State};
use schemars::JsonSchema;
use serde::Serialize;

use super::{Endpoint, Param, Payload, QueryMap};
use crate::agent::{Emission, Emitted, SignalDecl, Subscription};
use crate::model::{JobId, RunId};
use crate::serve::auth::Caller;
use crate::serve::error::ApiResult;
use crate::serve::server::AppState;

pub(super) fn endpoints() -> Vec<Endpoint> {
    vec![
        Endpoint::get(
            "/api/signals",
            "signals",
            "Every declared signal with its payload's JSON Schema, its emissions and its receivers.",
            list,
        )
        .returns::<Vec<SignalView>>()
        .errors(&[]),
        Endpoint::post(
            "/api/signals/{signal}",
            "signals",
            "Emits a signal; the body is its payload (any JSON matching the signal's schema; an empty body is \
             null). Every subscribed receiver gets one job, in one run.",
            emit,
        )
        .param(Param::query("key", "string", "An idempotency key: emitting again with it writes nothing."))
        .returns::<EmittedDoc>()
        .errors(&[400, 404, 413]),
    ]
}

/// A signal and who receives it.
#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct SignalView {
    /// The signal as declared.
    #[serde(flatten)]
    pub(crate) signal: SignalDecl,
    /// Its receivers: every emission gets one job of each.
    pub(crate) receivers: Vec<Subscription>,
}

/// One job an emission or a send created.
#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct DeliveryDoc {
    /// The elf that serves it.
    pub(crate) elf: String,
    /// The task.
    pub(crate) task: String,
    /// The job.
    pub(crate) job: JobId,
}

/// What an emission did.
#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct EmittedDoc {
    /// The signal.
    pub(crate) signal: String,
    /// The run holding its deliveries (absent when nobody subscribes).
    pub(crate) run: Option<RunId>,
    /// One job per subscribed receiver.
    pub(crate) deliveries: Vec<DeliveryDoc>,
    /// Whether its key matched an earlier emission (nothing new was written).
    pub(crate) existing: bool,
}

impl From<Emitted> for EmittedDoc {
    fn from(e: Emitted) -> Self {
        Self {
            signal: e.signal,
            run: e.run,
            deliveries: e
                .deliveries
                .into_iter()
                .map(|d| DeliveryDoc { elf: d.elf, task: d.task, job: d.job })
                .collect(),
            existing: e.existing,
        }
    }
}

async fn list(State(state): State<AppState>) -> ApiResult<Json<Vec<SignalView>>> {
    let (signals, subs) = state.db.run("read the signals", |s| Ok((s.signals()?, s.subscriptions(None)?))).await?;
    let views = signals
        .into_iter()
        .map(|signal| {
            let receivers = subs.iter().filter(|r| r.signal == signal.name).cloned().collect();
            SignalView { signal, receivers }
        })
        .collect();
    Ok(Json(views))
}

/// Emits `signal` with `payload` (also for webhooks); the doorbell rings.
pub(crate) async fn emit_signal(
    state: &AppState,
    signal: String,
    payload: serde_json::Value,
    key: Option<String>,
    sender: String,
) -> ApiResult<Emitted> {
    let emitted = state
        .db
        .run("emit a signal", move |s| {
            s.emit(&Emission { signal: &signal, payload: &payload, key: key.as_deref(), sender: &sender })
        })
        .await?;
    state.ring(emitted.readied.clone());
    tracing::info!(signal = %emitted.signal, deliveries = emitted.deliveries.len(), "emitted");
    Ok(emitted)
}

async fn emit(
    State(state): State<AppState>,
    caller: Option<Extension<Caller>>,
    Path(signal): Path<String>,
    q: QueryMap,
    Payload(payload): Payload,
) -> ApiResult<Json<EmittedDoc>> {
    let key = q.text("key").map(str::to_owned);
    let sender = Caller::program(caller.as_deref());
    let emitted = emit_signal(&state, signal, payload, key, sender).await?;
    Ok(Json(emitted.into()))
}
