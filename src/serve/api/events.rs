//! The event log, a page at a time: all of it, or the history of a run or
//! a job. (`/api/events/stream` follows it live: see `sse`.)

use axum::Json;
use axum::extract::{Path, State};

use super::{Endpoint, Page, Param, QueryMap};
use crate::model::Event;
use crate::serve::error::ApiResult;
use crate::serve::server::AppState;
use crate::storage::EventQuery;

pub(super) fn endpoints() -> Vec<Endpoint> {
    let paged = |e: Endpoint| {
        e.param(Param::query("after", "integer", "Only events with a seq above this cursor (default 0)."))
            .param(Param::query("limit", "integer", "At most this many (1-5000, default 500)."))
            .returns::<Page<Event>>()
    };
    vec![
        paged(Endpoint::get("/api/events", "events", "The event log in commit order, from a cursor.", all))
            .errors(&[400]),
        paged(Endpoint::get(
            "/api/runs/{run}/events",
            "events",
            "The history of a run: its events and its jobs'.",
            of_run,
        )),
        paged(Endpoint::get("/api/jobs/{job}/events", "events", "The history of a job.", of_job)),
    ]
}

fn query(q: &QueryMap) -> ApiResult<(EventQuery, usize)> {
    let limit = q.int("limit", 500, 1, 5000)? as usize;
    Ok((EventQuery { after: q.int("after", 0, 0, i64::MAX)?, limit: limit as u32 + 1, ..EventQuery::default() }, limit))
}

async fn read(state: &AppState, query: EventQuery, limit: usize) -> ApiResult<Json<Page<Event>>> {
    let events = state.db.run("read events", move |s| s.events(&query)).await?;
    Ok(Json(Page::of(events, limit, |e| e.seq)))
}

async fn all(State(state): State<AppState>, q: QueryMap) -> ApiResult<Json<Page<Event>>> {
    let (query, limit) = query(&q)?;
    read(&state, query, limit).await
}

async fn of_run(State(state): State<AppState>, Path(run): Path<String>, q: QueryMap) -> ApiResult<Json<Page<Event>>> {
    let (mut query, limit) = query(&q)?;
    query.run = Some(super::runs::find(&state, &run).await?.id);
    read(&state, query, limit).await
}

async fn of_job(State(state): State<AppState>, Path(job): Path<String>, q: QueryMap) -> ApiResult<Json<Page<Event>>> {
    let (mut query, limit) = query(&q)?;
    query.job = Some(super::jobs::find(&state, &job).await?.id);
    read(&state, query, limit).await
}
