//! Jobs: the list across runs, and one job with its result, failures,
//! producers and consumers.

use axum::Json;
use axum::extract::{Path, State};
use schemars::JsonSchema;
use serde::Serialize;
use serde_json::Value;

use super::input::id;
use super::runs::job_query;
use super::{Endpoint, Page, Param, QueryMap};
use crate::model::{Failure, Job, JobId, JobState, RunId};
use crate::serve::error::{ApiError, ApiResult};
use crate::serve::server::AppState;
use crate::storage::FailureQuery;

pub(super) fn endpoints() -> Vec<Endpoint> {
    vec![
        Endpoint::get("/api/jobs", "jobs", "Jobs by id, across runs or of one, a page at a time.", list)
            .param(Param::query("run", "string", "Only of this run (12 or r12)."))
            .param(Param::query("state", "string", "Only in these states, comma-separated."))
            .param(Param::query("elf", "string", "Only of this elf."))
            .param(Param::query("task", "string", "Only of this task (its name, or elf/task)."))
            .param(Param::query("after", "integer", "Only with an id above this (the `next` of the previous page)."))
            .param(Param::query("limit", "integer", "At most this many (1-1000, default 100)."))
            .returns::<Page<Job>>()
            .errors(&[400]),
        Endpoint::get("/api/jobs/{job}", "jobs", "One job: its result or failures, producers and consumers.", one)
            .returns::<JobView>(),
    ]
}

/// A job another job is wired to.
#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct Link {
    /// Where in the consumer's arguments the value goes (a JSON pointer).
    pub(crate) path: String,
    /// The other job.
    pub(crate) job: JobId,
    /// Its elf.
    pub(crate) elf: String,
    /// Its task.
    pub(crate) task: String,
    /// Its state.
    pub(crate) state: JobState,
    /// Its run.
    pub(crate) run: RunId,
}

/// A job and what is around it.
#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct JobView {
    /// The job.
    pub(crate) job: Job,
    /// Its result, once it succeeded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) result: Option<Value>,
    /// Its failed attempts, most recent first.
    pub(crate) failures: Vec<Failure>,
    /// The jobs whose results it consumes.
    pub(crate) producers: Vec<Link>,
    /// The jobs of its run that consume its result.
    pub(crate) consumers: Vec<Link>,
}

/// The job a path names, or 404 naming it.
pub(crate) async fn find(state: &AppState, text: &str) -> ApiResult<Job> {
    let jid: JobId = id("job", text)?;
    state.db.run("read a job", move |s| s.job(jid)).await?.ok_or_else(|| {
        ApiError::not_found(format!("job {jid} does not exist (list a run's jobs with GET /api/runs/{{run}}/jobs)"))
    })
}

async fn list(State(state): State<AppState>, q: QueryMap) -> ApiResult<Json<Page<Job>>> {
    let (mut query, limit) = job_query(&q, 100)?;
    if let Some(run) = q.text("run") {
        query.run = Some(super::runs::find(&state, run).await?.id);
    }
    let jobs = state.db.run("read jobs", move |s| s.jobs(&query)).await?;
    Ok(Json(Page::of(jobs, limit, |j| j.id.0)))
}

async fn one(State(state): State<AppState>, Path(text): Path<String>) -> ApiResult<Json<JobView>> {
    let job = find(&state, &text).await?;
    let span = tracing::info_span!("job", run = %job.run, job = %job.id);
    let _entered = span.enter();
    let (jid, rid, succeeded) = (job.id, job.run, job.state == JobState::Succeeded);
    let (result, failures, producers, consumers) = state
        .db
        .run("read a job's surroundings", move |s| {
            let result = if succeeded { s.result(jid)? } else { None };
            let failures = s.failures(&FailureQuery { job: Some(jid), ..FailureQuery::default() })?;
            let deps = s.deps(rid)?;
            let mut producers = Vec::new();
            let mut consumers = Vec::new();
            for d in deps {
                if d.consumer == jid
                    && let Some(p) = s.job(d.producer)?
                {
                    producers.push(link(d.path, &p));
                } else if d.producer == jid
                    && let Some(c) = s.job(d.consumer)?
                {
                    consumers.push(link(d.path, &c));
                }
            }
            Ok((result, failures, producers, consumers))
        })
        .await?;
    Ok(Json(JobView { job, result, failures, producers, consumers }))
}

fn link(path: String, j: &Job) -> Link {
    Link { path, job: j.id, elf: j.elf.clone(), task: j.task.clone(), state: j.state, run: j.run }
}
