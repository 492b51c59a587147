//! The event log as server-sent events.
//!
//! One tail per server ([`Feed`]) polls the store's change counter every
//! few milliseconds, reads what was committed since its cursor and
//! broadcasts it. A stream (`GET /api/events/stream`) first replays from its
//! cursor (`Last-Event-ID`, else `?after=`, else from now) out of the store,
//! then follows the broadcast; each event goes out once, in `seq` order,
//! with `id: <seq>` so that a client that reconnects resumes where it was.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use futures_util::Stream;
use tokio::sync::{broadcast, mpsc, watch};

use super::api::{Endpoint, Param, QueryMap};
use super::db::Db;
use super::error::{ApiError, ApiResult};
use super::metrics::Metrics;
use super::server::AppState;
use crate::model::{Event, JobId, RunId};
use crate::storage::EventQuery;

/// Events read from the store per query.
const PAGE: u32 = 1000;

/// The server's tail of the event log.
#[derive(Clone, Debug)]
pub(crate) struct Feed {
    events: broadcast::Sender<Arc<Event>>,
    latest: watch::Receiver<i64>,
    db: Db,
}

/// The last `seq` of the log: a galloping search with one-event reads, so
/// that a server starts at once on a log of millions.
async fn last_seq(db: &Db) -> ApiResult<i64> {
    let probe = |after: i64| {
        let db = db.clone();
        async move {
            let q = EventQuery { after, limit: 1, ..EventQuery::default() };
            Ok::<_, ApiError>(db.run("find the end of the log", move |s| s.events(&q)).await?.first().map(|e| e.seq))
        }
    };
    let Some(mut lo) = probe(0).await? else { return Ok(0) };
    // Invariant: an event exists with seq >= lo; find hi with none after it.
    let mut step = 1024i64;
    let mut hi = loop {
        match probe(lo.saturating_add(step)).await? {
            Some(seq) => {
                lo = seq;
                step = step.saturating_mul(4);
            }
            None => break lo.saturating_add(step),
        }
    };
    // The last event lies in [lo, hi]: none after hi, one at or after lo.
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        match probe(mid).await? {
            Some(seq) => lo = seq,
            None => hi = mid,
        }
    }
    Ok(lo)
}

impl Feed {
    /// Starts the tail at the end of the log.
    pub(crate) async fn start(db: Db, metrics: Arc<Metrics>, poll: Duration) -> anyhow::Result<Feed> {
        let start = last_seq(&db).await.map_err(|e| anyhow::anyhow!("read the end of the event log: {}", e.message))?;
        let (events, _) = broadcast::channel(4096);
        let (tx, latest) = watch::channel(start);
        let feed = Feed { events: events.clone(), latest, db: db.clone() };
        tokio::spawn(async move {
            let mut cursor = start;
            let mut counter = None;
            loop {
                tokio::time::sleep(poll).await;
                let now = db.run("poll the change counter", |s| s.change_counter()).await.ok();
                if now.is_some() && now == counter {
                    continue;
                }
                counter = now;
                loop {
                    let q = EventQuery { after: cursor, limit: PAGE, ..EventQuery::default() };
                    let page = match db.run("tail the event log", move |s| s.events(&q)).await {
                        Ok(p) => p,
                        Err(e) => {
                            tracing::warn!("tail the event log: {}", e.message);
                            counter = None;
                            break;
                        }
                    };
                    let full = page.len() == PAGE as usize;
                    for e in page {
                        cursor = e.seq;
                        metrics.event(&e);
                        let _ = events.send(Arc::new(e));
                    }
                    let _ = tx.send(cursor);
                    if !full {
                        break;
                    }
                }
            }
        });
        Ok(feed)
    }

    /// A receiver that changes whenever new events were read.
    pub(crate) fn changes(&self) -> watch::Receiver<i64> {
        self.latest.clone()
    }
}

pub(crate) fn endpoints() -> Vec<Endpoint> {
    vec![
        Endpoint::get(
            "/api/events/stream",
            "events",
            "The event log as server-sent events (`id:` is the seq, `event:` the kind, `data:` the Event), \
             resumable from a cursor.",
            stream,
        )
        .param(Param::header(
            "Last-Event-ID",
            "Resume after this seq (sent by EventSource on reconnect); wins over `after`.",
        ))
        .param(Param::query("after", "integer", "Start after this seq (0: the whole log). Default: from now."))
        .param(Param::query("run", "string", "Only events of this run and its jobs."))
        .param(Param::query("job", "string", "Only events of this job."))
        .returns_text("text/event-stream")
        .errors(&[400]),
    ]
}

/// Whether `e` passes the stream's filters.
fn wanted(e: &Event, run: Option<RunId>, job: Option<JobId>) -> bool {
    run.is_none_or(|r| e.run == Some(r)) && job.is_none_or(|j| e.job == Some(j))
}

fn sse_event(e: &Event) -> SseEvent {
    let data = serde_json::to_string(e).unwrap_or_else(|_| "{}".to_owned());
    SseEvent::default().id(e.seq.to_string()).event(e.kind.as_str()).data(data)
}

async fn stream(
    State(state): State<AppState>,
    headers: HeaderMap,
    q: QueryMap,
) -> ApiResult<Sse<impl Stream<Item = Result<SseEvent, Infallible>>>> {
    let resume = headers.get("last-event-id").map(|v| {
        v.to_str().ok().and_then(|t| t.trim().parse::<i64>().ok()).filter(|n| *n >= 0).ok_or_else(|| {
            ApiError::bad_request("header `Last-Event-ID` is not an event seq: expected a non-negative integer")
        })
    });
    let run: Option<RunId> = q.text("run").map(|r| super::api::input_id("run", r)).transpose()?;
    let job: Option<JobId> = q.text("job").map(|j| super::api::input_id("job", j)).transpose()?;
    // Subscribe before reading the store, so that nothing falls in between.
    let mut live = state.feed.events.subscribe();
    let mut last = match resume {
        Some(r) => r?,
        None if q.text("after").is_some() => q.int("after", 0, 0, i64::MAX)?,
        None => *state.feed.latest.borrow(),
    };
    let (tx, mut rx) = mpsc::channel::<SseEvent>(256);
    let db = state.feed.db.clone();
    tokio::spawn(async move {
        'outer: loop {
            // Catch up from the store.
            loop {
                let query = EventQuery { after: last, run, job, limit: PAGE };
                let page = match db.run("replay the event log", move |s| s.events(&query)).await {
                    Ok(p) => p,
                    Err(e) => {
                        tracing::warn!("replay the event log: {}", e.message);
                        return;
                    }
                };
                let full = page.len() == PAGE as usize;
                for e in &page {
                    if tx.send(sse_event(e)).await.is_err() {
                        return;
                    }
                    last = e.seq;
                }
                if !full {
                    break;
                }
            }
            // Follow the tail.
            loop {
                match live.recv().await {
                    Ok(e) if e.seq <= last => {}
                    Ok(e) => {
                        if wanted(&e, run, job) && tx.send(sse_event(&e)).await.is_err() {
                            return;
                        }
                        last = e.seq;
                    }
                    // Too slow a reader: catch up from the store again.
                    Err(broadcast::error::RecvError::Lagged(_)) => continue 'outer,
                    Err(broadcast::error::RecvError::Closed) => return,
                }
            }
        }
    });
    let stream = futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx).map(|o| o.map(Ok)));
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}
