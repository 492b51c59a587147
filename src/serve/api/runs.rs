//! Runs: the list, one run with its progress and first jobs, its jobs, its
//! graph.

use axum::Json;
use axum::extract::{Path, State};
use schemars::JsonSchema;
use serde::Serialize;

use super::input::id;
use super::{Endpoint, Page, Param, QueryMap};
use crate::model::{Job, JobState, Run, RunId, RunState};
use crate::serve::error::{ApiError, ApiResult};
use crate::serve::graph::{self, Graph};
use crate::serve::server::AppState;
use crate::storage::{JobQuery, RunQuery};

pub(super) fn endpoints() -> Vec<Endpoint> {
    vec![
        Endpoint::get("/api/runs", "runs", "Runs, most recent first, a page at a time (by offset).", list)
            .param(Param::query("state", "string", "Only runs in this state: running, succeeded, failed or cancelled."))
            .param(Param::query("limit", "integer", "At most this many (1-500, default 50)."))
            .param(Param::query("offset", "integer", "Skip this many (the `next` of the previous page)."))
            .returns::<Page<Run>>()
            .errors(&[400]),
        Endpoint::get("/api/runs/{run}", "runs", "One run: its progress and its first jobs.", one)
            .param(Param::query("jobs", "integer", "How many of its jobs to include (0-1000, default 50)."))
            .returns::<RunView>(),
        Endpoint::get("/api/runs/{run}/jobs", "runs", "A run's jobs by id, a page at a time.", jobs)
            .param(Param::query(
                "state",
                "string",
                "Only in these states, comma-separated (e.g. failed,upstream_failed).",
            ))
            .param(Param::query("elf", "string", "Only of this elf."))
            .param(Param::query("task", "string", "Only of this task (its name, or elf/task)."))
            .param(Param::query("after", "integer", "Only with an id above this (the `next` of the previous page)."))
            .param(Param::query("limit", "integer", "At most this many (1-1000, default 100)."))
            .returns::<Page<Job>>(),
        Endpoint::get(
            "/api/runs/{run}/graph",
            "runs",
            "A run's graph in layers; summarised by task and state when it has more jobs than `max_nodes`.",
            graph_of,
        )
        .param(Param::query("max_nodes", "integer", "Draw jobs one by one up to this many (1-5000, default 400)."))
        .returns::<Graph>(),
    ]
}

/// How far a run has come.
#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct Progress {
    /// Jobs in all.
    pub(crate) total: u64,
    /// Succeeded.
    pub(crate) succeeded: u64,
    /// Failed, could not run or cancelled.
    pub(crate) failed: u64,
    /// Not final yet.
    pub(crate) open: u64,
}

impl Progress {
    pub(crate) fn of(run: &Run) -> Self {
        Self {
            total: run.total,
            succeeded: run.total.saturating_sub(run.open + run.failed),
            failed: run.failed,
            open: run.open,
        }
    }
}

/// A run, its progress and its first jobs.
#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct RunView {
    /// The run.
    pub(crate) run: Run,
    /// Its progress.
    pub(crate) progress: Progress,
    /// Its first jobs (page on with `/api/runs/{run}/jobs?after=`).
    pub(crate) jobs: Page<Job>,
}

/// The run a path names, or 404 naming it.
pub(crate) async fn find(state: &AppState, text: &str) -> ApiResult<Run> {
    let rid: RunId = id("run", text)?;
    state
        .db
        .run("read a run", move |s| s.run(rid))
        .await?
        .ok_or_else(|| ApiError::not_found(format!("run {rid} does not exist (list runs with GET /api/runs)")))
}

async fn list(State(state): State<AppState>, q: QueryMap) -> ApiResult<Json<Page<Run>>> {
    let run_state: Option<RunState> = q.parse("state")?;
    let limit = q.int("limit", 50, 1, 500)? as usize;
    let offset = q.int("offset", 0, 0, i64::from(u32::MAX))? as usize;
    // The store pages runs by count only: read through the offset and skip it.
    let want = u32::try_from(offset + limit + 1).unwrap_or(u32::MAX);
    let runs = state.db.run("read runs", move |s| s.runs(&RunQuery { state: run_state, limit: Some(want) })).await?;
    let items: Vec<Run> = runs.into_iter().skip(offset).collect();
    let more = items.len() > limit;
    let mut page = Page::of(items, limit, |_| 0);
    page.next = more.then_some((offset + limit) as i64);
    Ok(Json(page))
}

async fn one(State(state): State<AppState>, Path(text): Path<String>, q: QueryMap) -> ApiResult<Json<RunView>> {
    let n = q.int("jobs", 50, 0, 1000)? as u32;
    let run = find(&state, &text).await?;
    let rid = run.id;
    let jobs = if n == 0 {
        Vec::new()
    } else {
        let query = JobQuery { run: Some(rid), limit: Some(n + 1), ..JobQuery::default() };
        state.db.run("read a run's jobs", move |s| s.jobs(&query)).await?
    };
    let progress = Progress::of(&run);
    Ok(Json(RunView { run, progress, jobs: Page::of(jobs, n as usize, |j| j.id.0) }))
}

/// The job filters of a query: states, elf, task, after, limit.
pub(crate) fn job_query(q: &QueryMap, default_limit: i64) -> ApiResult<(JobQuery, usize)> {
    let mut query = JobQuery::default();
    if let Some(states) = q.text("state") {
        for s in states.split(',').filter(|s| !s.is_empty()) {
            query.states.push(
                s.parse::<JobState>().map_err(|e| ApiError::bad_request(format!("query parameter `state`: {e}")))?,
            );
        }
    }
    query.elf = q.text("elf").map(str::to_owned);
    if let Some(task) = q.text("task") {
        match task.split_once('/') {
            Some((elf, name)) => {
                if query.elf.as_deref().is_some_and(|e| e != elf) {
                    return Err(ApiError::bad_request(format!(
                        "query parameters `task` ({task}) and `elf` ({}) name different elves",
                        query.elf.as_deref().unwrap_or_default()
                    )));
                }
                query.elf = Some(elf.to_owned());
                query.task = Some(name.to_owned());
            }
            None => query.task = Some(task.to_owned()),
        }
    }
    query.after = q.parse("after")?;
    let limit = q.int("limit", default_limit, 1, 1000)? as usize;
    query.limit = Some(limit as u32 + 1);
    Ok((query, limit))
}

async fn jobs(State(state): State<AppState>, Path(text): Path<String>, q: QueryMap) -> ApiResult<Json<Page<Job>>> {
    let run = find(&state, &text).await?;
    let (mut query, limit) = job_query(&q, 100)?;
    query.run = Some(run.id);
    let jobs = state.db.run("read a run's jobs", move |s| s.jobs(&query)).await?;
    Ok(Json(Page::of(jobs, limit, |j| j.id.0)))
}

async fn graph_of(State(state): State<AppState>, Path(text): Path<String>, q: QueryMap) -> ApiResult<Json<Graph>> {
    let cap = q.int("max_nodes", 400, 1, 5000)? as usize;
    let run = find(&state, &text).await?;
    let rid = run.id;
    let (jobs, deps) = state
        .db
        .run("read a run's graph", move |s| {
            let jobs = s.jobs(&JobQuery { run: Some(rid), ..JobQuery::default() })?;
            Ok((jobs, s.deps(rid)?))
        })
        .await?;
    Ok(Json(graph::layout(&run, &jobs, &deps, cap)))
}
