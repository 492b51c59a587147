//! Failures: listed with filters, grouped by signature, and one failure's
//! story (the same as `mycelium failure`): traceback, the source that ran
//! with the failing line marked, inputs and their producers.

use axum::Json;
use axum::extract::{Path, State};
use schemars::JsonSchema;
use serde::Serialize;

use super::{Endpoint, Page, Param, QueryMap};
use crate::cli::failure as story;
use crate::cli::failures::{Group, group};
use crate::model::{Failure, FailureKind, Job, TaskSha, TaskVersion, now_ms};
use crate::serve::error::{ApiError, ApiResult};
use crate::serve::server::AppState;
use crate::storage::FailureQuery;

pub(super) fn endpoints() -> Vec<Endpoint> {
    let filters = |e: Endpoint| {
        e.param(Param::query("run", "string", "Only of this run (12 or r12)."))
            .param(Param::query("job", "string", "Only of this job (34 or j34)."))
            .param(Param::query("elf", "string", "Only of this elf."))
            .param(Param::query("task", "string", "Only of this task (its name, or elf/task)."))
            .param(Param::query(
                "kind",
                "string",
                "Only of this kind: error, panic, timeout, lease_expired, elf_lost, bad_input, upstream_failed.",
            ))
            .param(Param::query("since_ms", "integer", "Only this recent: failed at most this many milliseconds ago."))
    };
    vec![
        filters(Endpoint::get("/api/failures", "failures", "Failed attempts, most recent first, by offset.", list))
            .param(Param::query("limit", "integer", "At most this many (1-500, default 50)."))
            .param(Param::query("offset", "integer", "Skip this many (the `next` of the previous page)."))
            .returns::<Page<Failure>>()
            .errors(&[400]),
        filters(Endpoint::get(
            "/api/failures/groups",
            "failures",
            "Failures grouped by signature (what `mycelium failures --group` prints), largest group first.",
            groups,
        ))
        .returns::<Vec<Group>>()
        .errors(&[400]),
        Endpoint::get(
            "/api/failures/{failure}",
            "failures",
            "One failure: traceback beside the source that ran (failing line marked), inputs, attempts, lineage.",
            one,
        )
        .returns::<FailureView>(),
    ]
}

/// One line of recorded source.
#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct SourceLine {
    /// Its line in the file.
    pub(crate) line: u32,
    /// Its text.
    pub(crate) text: String,
    /// Whether it is the failing line.
    pub(crate) marked: bool,
}

/// A producer of the failed job's inputs.
#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct Lineage {
    /// Where its value goes in the arguments (a JSON pointer).
    pub(crate) path: String,
    /// The producing job, when it still exists.
    pub(crate) producer: Option<Job>,
}

/// The whole story of a failure.
#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct FailureView {
    /// The failure (its report holds the message, causes, frames and inputs).
    pub(crate) failure: Failure,
    /// Its job, as it is now.
    pub(crate) job: Option<Job>,
    /// The task version that ran, when recorded.
    pub(crate) version: Option<TaskVersion>,
    /// That version's source, line by line, the failing line marked.
    pub(crate) source: Vec<SourceLine>,
    /// The failing line of the file, when a frame falls within the source.
    pub(crate) failing_line: Option<u32>,
    /// A newer version of the task than the one that failed, if any.
    pub(crate) newer_version: Option<TaskSha>,
    /// Every failed attempt of the job, most recent first.
    pub(crate) attempts: Vec<Failure>,
    /// The producers of its inputs.
    pub(crate) lineage: Vec<Lineage>,
    /// The command that replays the job locally (none for an upstream
    /// failure, which never ran the task).
    pub(crate) reproduce: Option<String>,
    /// For an upstream failure: the failure upstream that caused it.
    pub(crate) cause: Option<Failure>,
}

fn query(q: &QueryMap) -> ApiResult<FailureQuery> {
    let mut f = FailureQuery::default();
    if let Some(run) = q.text("run") {
        f.run = Some(super::input::id("run", run)?);
    }
    if let Some(job) = q.text("job") {
        f.job = Some(super::input::id("job", job)?);
    }
    f.elf = q.text("elf").map(str::to_owned);
    if let Some(task) = q.text("task") {
        match task.split_once('/') {
            Some((elf, name)) => {
                f.elf = Some(elf.to_owned());
                f.task = Some(name.to_owned());
            }
            None => f.task = Some(task.to_owned()),
        }
    }
    f.kind = q.parse::<FailureKind>("kind")?;
    if q.text("since_ms").is_some() {
        f.since = Some(now_ms() - q.int("since_ms", 0, 0, i64::MAX / 2)?);
    }
    Ok(f)
}

async fn list(State(state): State<AppState>, q: QueryMap) -> ApiResult<Json<Page<Failure>>> {
    let mut f = query(&q)?;
    let limit = q.int("limit", 50, 1, 500)? as usize;
    let offset = q.int("offset", 0, 0, i64::from(u32::MAX))? as usize;
    f.limit = Some(u32::try_from(offset + limit + 1).unwrap_or(u32::MAX));
    let all = state.db.run("read failures", move |s| s.failures(&f)).await?;
    let items: Vec<Failure> = all.into_iter().skip(offset).collect();
    let more = items.len() > limit;
    let mut page = Page::of(items, limit, |_| 0);
    page.next = more.then_some((offset + limit) as i64);
    Ok(Json(page))
}

async fn groups(State(state): State<AppState>, q: QueryMap) -> ApiResult<Json<Vec<Group>>> {
    let f = query(&q)?;
    let all = state.db.run("read failures", move |s| s.failures(&f)).await?;
    Ok(Json(group(&all)))
}

async fn one(State(state): State<AppState>, Path(text): Path<String>) -> ApiResult<Json<FailureView>> {
    // Parse first, so that a malformed id is 400 and not a lookup.
    let fid: crate::model::FailureId = super::input::id("failure", &text)?;
    let view = state
        .db
        .call("read a failure's story", move |s| {
            let st = match story::read(s, &fid.to_string()) {
                Ok(st) => st,
                Err(e) if e.code() == crate::cli::exit::NOT_FOUND => {
                    return Err(ApiError::not_found(format!(
                        "failure {fid} does not exist (list failures with GET /api/failures)"
                    )));
                }
                Err(e) => return Err(e.into()),
            };
            let reproduce = story::reproduce(s, &st.failure);
            Ok(view(st, reproduce))
        })
        .await?;
    Ok(Json(view))
}

fn view(st: story::Story, reproduce: Option<String>) -> FailureView {
    let marked = st.marked();
    let newer_version = st.newer().map(|v| v.sha.clone());
    let source = st
        .version
        .as_ref()
        .map(|v| {
            v.source
                .lines()
                .enumerate()
                .map(|(i, text)| {
                    let line = v.line + i as u32;
                    SourceLine { line, text: text.to_owned(), marked: marked == Some(line) }
                })
                .collect()
        })
        .unwrap_or_default();
    FailureView {
        failing_line: marked,
        newer_version,
        source,
        lineage: st.lineage.into_iter().map(|(path, producer)| Lineage { path, producer }).collect(),
        failure: st.failure,
        job: st.job,
        version: st.version,
        attempts: st.attempts,
        reproduce,
        cause: st.cause,
    }
}
