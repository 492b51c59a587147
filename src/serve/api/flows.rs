//! Durable flows: start a flow (or any task) as a run of one job, list the
//! flows waiting, read a flow's history and what it waits for, send it a
//! signal, read its inbox lines (also as a live stream).
//!
//! A flow is named as `mycelium flow` names it: a job (`j34`, `34`), a run
//! whose one open top-level job is the flow (`r12`), or the idempotency key
//! the run was started with.

use std::convert::Infallible;
use std::time::Duration;

use axum::Json;
use axum::extract::{Extension, Path, State};
use axum::http::StatusCode;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use futures_util::Stream;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::mpsc;

use super::{Endpoint, Page, Param, Payload, QueryMap};
use crate::cli::flow::target;
use crate::cli::lookup::TaskRef;
use crate::model::{
    Job, JobId, JobSpec, JobState, Millis, RunId, RunSpec, Signal, SignalId, Step, StepKind, Submission,
};
use crate::serve::auth::Caller;
use crate::serve::error::{ApiError, ApiResult};
use crate::serve::server::AppState;
use crate::storage::{InboxLine, JobQuery};

/// How often an inbox stream looks again when no event woke it.
const INBOX_POLL: Duration = Duration::from_millis(250);

pub(super) fn endpoints() -> Vec<Endpoint> {
    vec![
        Endpoint::post(
            "/api/flows",
            "flows",
            "Starts a flow (or any task) as a run of one job, with JSON arguments: the dynamic form of \
             `mycelium start`. An idempotency key starts nothing new when it was used before.",
            start,
        )
        .takes::<StartRequest>()
        .returns::<Started>()
        .status(201)
        .errors(&[400, 413]),
        Endpoint::get("/api/flows", "flows", "Flows suspended now (state waiting), by job id.", waiting)
            .param(Param::query("after", "integer", "Only jobs with an id above this cursor."))
            .param(Param::query("limit", "integer", "At most this many (1-1000, default 100)."))
            .returns::<Page<Job>>()
            .errors(&[400]),
        Endpoint::get(
            "/api/flows/{flow}",
            "flows",
            "A flow: its job, its history (one step per command), the signals sent to it, and what it waits for now.",
            show,
        )
        .returns::<FlowView>(),
        Endpoint::post(
            "/api/flows/{flow}/signals/{signal}",
            "flows",
            "Sends a signal to a flow; the body is its payload (any JSON; an empty body is null). A flow waiting \
             for it wakes; otherwise it is kept until the flow waits for that name.",
            signal,
        )
        .returns::<FlowSignalSent>()
        .errors(&[400, 404, 413]),
        Endpoint::get("/api/flows/{flow}/inbox", "flows", "The lines a flow wrote to its inboxes, in order.", inbox)
            .param(Param::query("name", "string", "Only this inbox (`stdout`); every inbox when absent."))
            .param(Param::query("from", "integer", "Only lines written by this step or later (default 0)."))
            .returns::<Vec<InboxLineDoc>>(),
        Endpoint::get(
            "/api/flows/{flow}/inbox/stream",
            "flows",
            "A flow's inbox lines as server-sent events (`id:` the step, `event: line`, `data:` the line's \
             document), then new ones as they are written; `event: end` once the flow has ended.",
            inbox_stream,
        )
        .param(Param::query("name", "string", "Only this inbox; every inbox when absent."))
        .param(Param::query("from", "integer", "Start at this step (default 0: every line)."))
        .returns_text("text/event-stream"),
    ]
}

/// What to start.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct StartRequest {
    /// The flow or task, `elf/name`.
    pub(crate) task: String,
    /// Its arguments, a JSON list in parameter order (default `[]`).
    #[serde(default = "empty_list")]
    pub(crate) args: Value,
    /// The run's name (default: the task's).
    #[serde(default)]
    pub(crate) name: Option<String>,
    /// An idempotency key: starting again with it starts nothing new, and the
    /// flow can be named by it (`/api/flows/<key>`).
    #[serde(default)]
    pub(crate) key: Option<String>,
}

fn empty_list() -> Value {
    Value::Array(Vec::new())
}

/// What a start did.
#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct Started {
    /// The run.
    pub(crate) run: RunId,
    /// Its one job: the flow.
    pub(crate) job: Option<JobId>,
    /// Whether the key was used before: nothing new was started.
    pub(crate) existing: bool,
}

/// A flow and where it stands.
#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct FlowView {
    /// The flow's job.
    pub(crate) job: Job,
    /// Its history: one step per command, in order.
    pub(crate) steps: Vec<Step>,
    /// The signals sent to it, oldest first (consumed ones name their step).
    pub(crate) signals: Vec<Signal>,
    /// What it waits for now.
    pub(crate) waits: Waits,
    /// The names of the inboxes it wrote to.
    pub(crate) inboxes: Vec<String>,
}

/// What a suspended flow waits for: any one of these wakes it.
#[derive(Debug, Default, Serialize, JsonSchema)]
pub(crate) struct Waits {
    /// Whether it is suspended (state waiting).
    pub(crate) waiting: bool,
    /// The steps it waits on (a child's outcome, a signal).
    pub(crate) steps: Vec<Step>,
    /// The names of the signals it waits for.
    pub(crate) signals: Vec<String>,
    /// When its timer (a sleep, a signal's timeout) is due, if it has one.
    pub(crate) timer_due: Option<Millis>,
}

/// What sending a signal did.
#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct FlowSignalSent {
    /// The signal's id.
    pub(crate) signal: SignalId,
    /// The flow's job.
    pub(crate) flow: JobId,
    /// Whether it woke the flow (which was waiting for it); otherwise it is
    /// kept until the flow waits for it.
    pub(crate) woke: bool,
}

/// One line of a flow's inbox.
#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct InboxLineDoc {
    /// The flow.
    pub(crate) flow: JobId,
    /// The step that wrote it.
    pub(crate) step: u32,
    /// The inbox (`stdout`).
    pub(crate) inbox: String,
    /// The line.
    pub(crate) line: String,
    /// When it was recorded.
    pub(crate) at: Millis,
}

impl From<InboxLine> for InboxLineDoc {
    fn from(l: InboxLine) -> Self {
        Self { flow: l.flow, step: l.step, inbox: l.inbox, line: l.line, at: l.at }
    }
}

/// The flow `text` names.
pub(crate) async fn find(state: &AppState, text: &str) -> ApiResult<Job> {
    let text = text.to_owned();
    state.db.call("find a flow", move |s| target(s, &text)).await
}

async fn start(
    State(state): State<AppState>,
    caller: Option<Extension<Caller>>,
    super::Body(request): super::Body<StartRequest>,
) -> ApiResult<(StatusCode, Json<Started>)> {
    let task = TaskRef::parse(&request.task)
        .map_err(|e| ApiError::bad_request(format!("`task` is `{}`: {e:#}", request.task)))?;
    if !request.args.is_array() {
        return Err(ApiError::bad_request(format!(
            "`args` is `{}`: write the arguments as a JSON list, one value per parameter (e.g. [3])",
            request.args
        )));
    }
    let mut run = RunSpec::named(request.name.unwrap_or_else(|| task.task.clone()));
    run.idempotency_key = request.key;
    run.created_by.program = Caller::program(caller.as_deref());
    let submission = Submission { run, jobs: vec![JobSpec::new(&task.elf, &task.task, request.args)] };
    let submitted = state.db.run("start a flow", move |s| s.submit(&submission)).await?;
    state.ring(submitted.readied.clone());
    tracing::info!(run = %submitted.run, task = %task.name(), "started");
    let status = if submitted.existing { StatusCode::OK } else { StatusCode::CREATED };
    Ok((
        status,
        Json(Started { run: submitted.run, job: submitted.jobs.first().copied(), existing: submitted.existing }),
    ))
}

async fn waiting(State(state): State<AppState>, q: QueryMap) -> ApiResult<Json<Page<Job>>> {
    let limit = q.int("limit", 100, 1, 1000)? as usize;
    let after = q.int("after", 0, 0, i64::MAX)?;
    let query = JobQuery {
        states: vec![JobState::Waiting],
        after: (after > 0).then_some(JobId(after)),
        limit: Some(limit as u32 + 1),
        ..JobQuery::default()
    };
    let jobs = state.db.run("list waiting flows", move |s| s.jobs(&query)).await?;
    Ok(Json(Page::of(jobs, limit, |j| j.id.0)))
}

/// What `job`, with history `steps`, waits for.
fn waits_of(job: &Job, steps: &[Step]) -> Waits {
    if job.state != JobState::Waiting {
        return Waits::default();
    }
    let awaited: Vec<Step> = steps.iter().filter(|s| s.awaited).cloned().collect();
    let signals = awaited.iter().filter(|s| s.kind == StepKind::Signal).map(|s| s.target.clone()).collect();
    let timer_due = (job.not_before > 0 && job.not_before < i64::MAX).then_some(job.not_before);
    Waits { waiting: true, steps: awaited, signals, timer_due }
}

async fn show(State(state): State<AppState>, Path(flow): Path<String>) -> ApiResult<Json<FlowView>> {
    let job = find(&state, &flow).await?;
    let jid = job.id;
    let (steps, signals) =
        state.db.run("read a flow", move |s| Ok((s.flow_steps(jid, 0)?, s.flow_signals(jid, false)?))).await?;
    let waits = waits_of(&job, &steps);
    let mut inboxes: Vec<String> =
        steps.iter().filter(|s| s.kind == StepKind::Write).map(|s| s.target.clone()).collect();
    inboxes.sort();
    inboxes.dedup();
    Ok(Json(FlowView { job, steps, signals, waits, inboxes }))
}

async fn signal(
    State(state): State<AppState>,
    Path((flow, name)): Path<(String, String)>,
    Payload(payload): Payload,
) -> ApiResult<Json<FlowSignalSent>> {
    let job = find(&state, &flow).await?;
    let jid = job.id;
    let sent = state.db.run("send a signal to a flow", move |s| s.signal(jid, &name, &payload)).await?;
    state.ring(sent.readied.clone());
    tracing::info!(flow = %jid, signal = sent.signal, woke = sent.woke, "signalled a flow");
    Ok(Json(FlowSignalSent { signal: sent.signal, flow: sent.flow, woke: sent.woke }))
}

/// The `name` and `from` of an inbox request.
fn inbox_query(q: &QueryMap) -> ApiResult<(Option<String>, u32)> {
    Ok((q.text("name").map(str::to_owned), q.int("from", 0, 0, i64::from(u32::MAX))? as u32))
}

async fn inbox(
    State(state): State<AppState>,
    Path(flow): Path<String>,
    q: QueryMap,
) -> ApiResult<Json<Vec<InboxLineDoc>>> {
    let (name, from) = inbox_query(&q)?;
    let jid = find(&state, &flow).await?.id;
    let lines = state.db.run("read a flow's inbox", move |s| s.inbox(jid, name.as_deref(), from)).await?;
    Ok(Json(lines.into_iter().map(InboxLineDoc::from).collect()))
}

fn line_event(l: InboxLine) -> SseEvent {
    let id = l.step.to_string();
    let data = serde_json::to_string(&InboxLineDoc::from(l)).unwrap_or_else(|_| "{}".to_owned());
    SseEvent::default().id(id).event("line").data(data)
}

async fn inbox_stream(
    State(state): State<AppState>,
    Path(flow): Path<String>,
    q: QueryMap,
) -> ApiResult<Sse<impl Stream<Item = Result<SseEvent, Infallible>>>> {
    let (name, mut from) = inbox_query(&q)?;
    let jid: JobId = find(&state, &flow).await?.id;
    let mut changes = state.feed.changes();
    let db = state.db.clone();
    let (tx, mut rx) = mpsc::channel::<SseEvent>(64);
    tokio::spawn(async move {
        loop {
            // Whether the flow had ended before this read: then the read saw
            // every line it will ever write.
            let ended = match db.run("read a flow", move |s| s.job(jid)).await {
                Ok(j) => j.is_none_or(|j| j.state.is_final()),
                Err(e) => {
                    tracing::warn!("follow an inbox: {}", e.message);
                    return;
                }
            };
            let n = name.clone();
            let lines = match db.run("read a flow's inbox", move |s| s.inbox(jid, n.as_deref(), from)).await {
                Ok(l) => l,
                Err(e) => {
                    tracing::warn!("follow an inbox: {}", e.message);
                    return;
                }
            };
            for l in lines {
                from = l.step + 1;
                if tx.send(line_event(l)).await.is_err() {
                    return;
                }
            }
            if ended {
                let _ = tx.send(SseEvent::default().event("end").data(format!("{{\"flow\":{}}}", jid.0))).await;
                return;
            }
            let _ = tokio::time::timeout(INBOX_POLL, changes.changed()).await;
            if tx.is_closed() {
                return;
            }
        }
    });
    let stream = futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx).map(|o| o.map(Ok)));
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}
