//! Operations that change the mycelium: submit (the dynamic JSON form),
//! cancel and retry.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Extension, Path, State};
use axum::http::StatusCode;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{Body, Endpoint};
use crate::model::{JobId, JobState, Origin, RunId, Submission, Submitted};
use crate::serve::auth::Caller;
use crate::serve::error::ApiResult;
use crate::serve::server::AppState;
use crate::storage::{JobQuery, Retried};

pub(super) fn endpoints() -> Vec<Endpoint> {
    vec![
        Endpoint::post(
            "/api/runs",
            "operations",
            "Submits a run: the Submission document (schemas/submission.schema.json), written in one transaction.",
            submit,
        )
        .takes::<Submission>()
        .returns::<Submitted>()
        .status(201)
        .errors(&[400, 413]),
        Endpoint::post(
            "/api/runs/{run}/cancel",
            "operations",
            "Cancels every job of a run that has not ended.",
            cancel,
        )
        .takes::<CancelRequest>()
        .returns::<Cancelled>(),
        Endpoint::post(
            "/api/runs/{run}/retry",
            "operations",
            "Re-queues a run's failed, upstream-failed and cancelled jobs as new attempts, reopening it.",
            retry_run,
        )
        .returns::<RetryResult>(),
        Endpoint::post(
            "/api/jobs/{job}/retry",
            "operations",
            "Re-queues a failed job, and what could not run because of it, as new attempts.",
            retry_job,
        )
        .returns::<RetryResult>(),
    ]
}

/// Why a run is cancelled.
#[derive(Debug, Default, Deserialize, JsonSchema)]
pub(crate) struct CancelRequest {
    /// Recorded in the event log.
    #[serde(default)]
    pub(crate) reason: Option<String>,
}

/// What a cancel did.
#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct Cancelled {
    /// The run.
    pub(crate) run: RunId,
    /// How many jobs it cancelled (0 when the run had ended).
    pub(crate) cancelled: u64,
}

/// What a retry did.
#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct RetryResult {
    /// Jobs re-queued (those asked for and those downstream of them).
    pub(crate) jobs: Vec<JobId>,
    /// Of those, ready at once, per elf.
    pub(crate) readied: BTreeMap<String, u32>,
    /// Runs reopened.
    pub(crate) reopened: Vec<RunId>,
}

impl From<Retried> for RetryResult {
    fn from(r: Retried) -> Self {
        Self { jobs: r.jobs, readied: r.readied, reopened: r.reopened }
    }
}

async fn submit(
    State(state): State<AppState>,
    caller: Option<Extension<Caller>>,
    Body(mut submission): Body<Submission>,
) -> ApiResult<(StatusCode, Json<Submitted>)> {
    if submission.run.created_by == Origin::default() {
        let mut origin = Origin::current();
        origin.program = Caller::program(caller.as_deref());
        submission.run.created_by = origin;
    }
    let submitted = state.db.run("submit a run", move |s| s.submit(&submission)).await?;
    tracing::info!(run = %submitted.run, jobs = submitted.jobs.len(), existing = submitted.existing, "submitted");
    state.ring(submitted.readied.clone());
    let status = if submitted.existing { StatusCode::OK } else { StatusCode::CREATED };
    Ok((status, Json(submitted)))
}

async fn cancel(
    State(state): State<AppState>,
    Path(run): Path<String>,
    Body(request): Body<CancelRequest>,
) -> ApiResult<Json<Cancelled>> {
    let run = super::runs::find(&state, &run).await?;
    let rid = run.id;
    let reason = request.reason.unwrap_or_else(|| "cancelled through the HTTP API".to_owned());
    let cancelled = state.db.run("cancel a run", move |s| s.cancel_run(rid, &reason)).await?;
    Ok(Json(Cancelled { run: rid, cancelled }))
}

async fn retry_run(State(state): State<AppState>, Path(run): Path<String>) -> ApiResult<Json<RetryResult>> {
    let rid = super::runs::find(&state, &run).await?.id;
    let retried = state
        .db
        .run("retry a run", move |s| {
            let states = vec![JobState::Failed, JobState::UpstreamFailed, JobState::Cancelled];
            let jobs: Vec<JobId> = s
                .jobs(&JobQuery { run: Some(rid), states, ..JobQuery::default() })?
                .into_iter()
                .map(|j| j.id)
                .collect();
            s.retry(&jobs)
        })
        .await?;
    state.ring(retried.readied.clone());
    Ok(Json(retried.into()))
}

async fn retry_job(State(state): State<AppState>, Path(job): Path<String>) -> ApiResult<Json<RetryResult>> {
    let jid = super::jobs::find(&state, &job).await?.id;
    let retried = state.db.run("retry a job", move |s| s.retry(&[jid])).await?;
    state.ring(retried.readied.clone());
    Ok(Json(retried.into()))
}
