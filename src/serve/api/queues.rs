//! Queues of the agents: their depths and oldest messages, the waiting and
//! dead messages of one, requeueing dead letters, purging, sending, and
//! publishing through an exchange.

use axum::Json;
use axum::extract::{Extension, Path, State};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::ops::RetryResult;
use super::{Body, Endpoint, Param, QueryMap};
use crate::agent::{Outgoing, QueueDecl, QueueStatus, Sent};
use crate::model::{Failure, Job, JobId, Millis, RunId, now_ms};
use crate::serve::auth::Caller;
use crate::serve::error::{ApiError, ApiResult};
use crate::serve::server::AppState;
use crate::storage::{FailureQuery, Messages};

pub(super) fn endpoints() -> Vec<Endpoint> {
    let limit = |e: Endpoint, default: &'static str| e.param(Param::query("limit", "integer", default));
    vec![
        Endpoint::get(
            "/api/queues",
            "queues",
            "Every queue with its consumer, its messages waiting, in flight and dead, and its oldest message's age.",
            list,
        )
        .returns::<Vec<QueueView>>()
        .errors(&[]),
        limit(
            Endpoint::get("/api/queues/{queue}", "queues", "A queue and its waiting and in-flight messages.", show),
            "At most this many messages (1-1000, default 50).",
        )
        .returns::<QueueDetail>(),
        limit(
            Endpoint::get(
                "/api/queues/{queue}/dead",
                "queues",
                "A queue's dead messages (out of attempts), each with its last failure.",
                dead,
            ),
            "At most this many (1-1000, default 50).",
        )
        .returns::<Vec<DeadLetter>>(),
        Endpoint::post(
            "/api/queues/{queue}/requeue",
            "queues",
            "Requeues dead messages as new attempts: those named in `jobs`, or all of them.",
            requeue,
        )
        .takes::<RequeueRequest>()
        .returns::<RetryResult>(),
        Endpoint::post(
            "/api/queues/{queue}/purge",
            "queues",
            "Drops the messages waiting in a queue (messages being consumed finish).",
            purge,
        )
        .returns::<Purged>(),
        Endpoint::post(
            "/api/queues/{queue}/messages",
            "queues",
            "Sends messages to a queue, in one transaction; each must match the queue's schema.",
            send,
        )
        .takes::<SendRequest>()
        .returns::<SentDoc>()
        .errors(&[400, 404, 413]),
        Endpoint::post(
            "/api/exchanges/{exchange}/messages",
            "queues",
            "Publishes messages to an exchange with a routing key: every bound queue that matches gets each.",
            publish,
        )
        .takes::<PublishRequest>()
        .returns::<SentDoc>()
        .errors(&[400, 404, 413]),
    ]
}

/// A queue and how it stands.
#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct QueueView {
    /// The queue as its consumer declared it.
    #[serde(flatten)]
    pub(crate) queue: QueueDecl,
    /// Messages waiting for the consumer.
    pub(crate) waiting: u64,
    /// Messages being consumed now.
    pub(crate) in_flight: u64,
    /// Dead messages: out of attempts, waiting to be requeued or purged.
    pub(crate) dead: u64,
    /// When the oldest waiting or in-flight message was sent.
    pub(crate) oldest_at: Option<Millis>,
    /// How old it is now, in milliseconds.
    pub(crate) oldest_age_ms: Option<i64>,
}

impl From<QueueStatus> for QueueView {
    fn from(q: QueueStatus) -> Self {
        let now = now_ms();
        Self {
            oldest_age_ms: q.oldest_at.map(|t| (now - t).max(0)),
            queue: q.queue,
            waiting: q.waiting,
            in_flight: q.in_flight,
            dead: q.dead,
            oldest_at: q.oldest_at,
        }
    }
}

/// A queue with its messages.
#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct QueueDetail {
    /// The queue.
    pub(crate) queue: QueueView,
    /// Its waiting and in-flight messages (jobs of its consumer; the message
    /// is the first argument).
    pub(crate) messages: Vec<Job>,
}

/// A dead message and why it died.
#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct DeadLetter {
    /// The message's job (the message is its first argument).
    pub(crate) job: Job,
    /// Its last failure.
    pub(crate) last_failure: Option<Failure>,
}

/// Which dead messages to requeue.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RequeueRequest {
    /// Their job ids; every dead message when empty or absent.
    #[serde(default)]
    pub(crate) jobs: Vec<JobId>,
}

/// What a purge did.
#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct Purged {
    /// The queue.
    pub(crate) queue: String,
    /// How many waiting messages it dropped.
    pub(crate) purged: u64,
}

/// Messages for a queue.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SendRequest {
    /// The messages, each any JSON matching the queue's schema.
    pub(crate) messages: Vec<Value>,
    /// An idempotency key for the whole send.
    #[serde(default)]
    pub(crate) key: Option<String>,
}

/// Messages for an exchange.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct PublishRequest {
    /// The routing key (`user.ios`); a fanout exchange ignores it.
    #[serde(default)]
    pub(crate) topic: String,
    /// The messages.
    pub(crate) messages: Vec<Value>,
    /// An idempotency key for the whole publish.
    #[serde(default)]
    pub(crate) key: Option<String>,
}

/// One message sent: the queue it reached and its job.
#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct SentMessage {
    /// The queue.
    pub(crate) queue: String,
    /// The message's job.
    pub(crate) job: JobId,
}

/// What a send or a publish did.
#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct SentDoc {
    /// The run holding the messages (absent when no queue was routed to).
    pub(crate) run: Option<RunId>,
    /// One job per message and queue it reached.
    pub(crate) messages: Vec<SentMessage>,
    /// Whether its key matched an earlier send (nothing new was written).
    pub(crate) existing: bool,
}

impl From<Sent> for SentDoc {
    fn from(s: Sent) -> Self {
        Self {
            run: s.run,
            messages: s.messages.into_iter().map(|(queue, job)| SentMessage { queue, job }).collect(),
            existing: s.existing,
        }
    }
}

async fn list(State(state): State<AppState>) -> ApiResult<Json<Vec<QueueView>>> {
    let queues = state.db.run("read the queues", |s| s.queues()).await?;
    Ok(Json(queues.into_iter().map(QueueView::from).collect()))
}

async fn show(State(state): State<AppState>, Path(queue): Path<String>, q: QueryMap) -> ApiResult<Json<QueueDetail>> {
    let limit = q.int("limit", 50, 1, 1000)? as u32;
    let (status, messages) = state
        .db
        .run("read a queue", move |s| Ok((s.queue(&queue)?, s.queue_messages(&queue, Messages::Queued, limit)?)))
        .await?;
    Ok(Json(QueueDetail { queue: status.into(), messages }))
}

async fn dead(
    State(state): State<AppState>,
    Path(queue): Path<String>,
    q: QueryMap,
) -> ApiResult<Json<Vec<DeadLetter>>> {
    let limit = q.int("limit", 50, 1, 1000)? as u32;
    let letters = state
        .db
        .run("read a queue's dead messages", move |s| {
            let jobs = s.queue_messages(&queue, Messages::Dead, limit)?;
            let mut out = Vec::with_capacity(jobs.len());
            for job in jobs {
                let last =
                    s.failures(&FailureQuery { job: Some(job.id), limit: Some(1), ..FailureQuery::default() })?;
                out.push(DeadLetter { job, last_failure: last.into_iter().next() });
            }
            Ok(out)
        })
        .await?;
    Ok(Json(letters))
}

async fn requeue(
    State(state): State<AppState>,
    Path(queue): Path<String>,
    Body(request): Body<RequeueRequest>,
) -> ApiResult<Json<RetryResult>> {
    let retried = state
        .db
        .run("requeue dead messages", move |s| {
            s.requeue(&queue, if request.jobs.is_empty() { None } else { Some(&request.jobs) })
        })
        .await?;
    state.ring(retried.readied.clone());
    Ok(Json(retried.into()))
}

async fn purge(
    State(state): State<AppState>,
    caller: Option<Extension<Caller>>,
    Path(queue): Path<String>,
) -> ApiResult<Json<Purged>> {
    let reason = format!("purged through the HTTP API by {}", Caller::program(caller.as_deref()));
    let name = queue.clone();
    let purged = state.db.run("purge a queue", move |s| s.purge(&name, &reason)).await?;
    Ok(Json(Purged { queue, purged }))
}

fn check_messages(messages: &[Value]) -> ApiResult<()> {
    if messages.is_empty() {
        return Err(ApiError::bad_request(
            "`messages` is empty: send at least one message, e.g. {\"messages\": [{\"n\": 1}]}",
        ));
    }
    Ok(())
}

async fn send(
    State(state): State<AppState>,
    caller: Option<Extension<Caller>>,
    Path(queue): Path<String>,
    Body(request): Body<SendRequest>,
) -> ApiResult<Json<SentDoc>> {
    check_messages(&request.messages)?;
    let sender = Caller::program(caller.as_deref());
    let sent = state
        .db
        .run("send messages", move |s| {
            s.send(&queue, &Outgoing { messages: &request.messages, key: request.key.as_deref(), sender: &sender })
        })
        .await?;
    state.ring(sent.readied.clone());
    Ok(Json(sent.into()))
}

async fn publish(
    State(state): State<AppState>,
    caller: Option<Extension<Caller>>,
    Path(exchange): Path<String>,
    Body(request): Body<PublishRequest>,
) -> ApiResult<Json<SentDoc>> {
    check_messages(&request.messages)?;
    let sender = Caller::program(caller.as_deref());
    let sent = state
        .db
        .run("publish messages", move |s| {
            let out = Outgoing { messages: &request.messages, key: request.key.as_deref(), sender: &sender };
            s.publish(&exchange, &request.topic, &out)
        })
        .await?;
    state.ring(sent.readied.clone());
    Ok(Json(sent.into()))
}
