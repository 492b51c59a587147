//! Task sources: the tasks the elves serve, every recorded version of one,
//! one version, and the diff of two.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Path, State};
use schemars::JsonSchema;
use serde::Serialize;

use super::{Endpoint, Param, QueryMap};
use crate::cli::diff;
use crate::cli::lookup::{self, TaskRef};
use crate::model::{Millis, TaskSha, TaskVersion};
use crate::serve::error::{ApiError, ApiResult};
use crate::serve::server::AppState;

pub(super) fn endpoints() -> Vec<Endpoint> {
    vec![
        Endpoint::get(
            "/api/tasks",
            "tasks",
            "The tasks served by the elves the store knows, with their versions.",
            list,
        )
        .returns::<Vec<TaskSummary>>()
        .errors(&[]),
        Endpoint::get("/api/tasks/{elf}/{task}", "tasks", "Every recorded version of a task, oldest first.", versions)
            .returns::<Vec<TaskVersion>>(),
        Endpoint::get(
            "/api/tasks/{elf}/{task}/versions/{sha}",
            "tasks",
            "One version of a task, by sha prefix.",
            version,
        )
        .returns::<TaskVersion>(),
        Endpoint::get("/api/tasks/{elf}/{task}/diff", "tasks", "The unified diff of two versions of a task.", diff_of)
            .param(Param::query("from", "string", "The first version (sha prefix); required."))
            .param(Param::query("to", "string", "The second version (sha prefix); the latest when absent."))
            .returns::<Diff>(),
    ]
}

/// A task and its versions.
#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct TaskSummary {
    /// The elf.
    pub(crate) elf: String,
    /// The task.
    pub(crate) task: String,
    /// Its versions served by known elf instances, newest first seen last.
    pub(crate) versions: Vec<TaskSha>,
    /// When its latest version was first seen.
    pub(crate) latest_seen: Millis,
}

/// Two versions' diff.
#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct Diff {
    /// The first version.
    pub(crate) from: TaskSha,
    /// The second.
    pub(crate) to: TaskSha,
    /// Whether they differ.
    pub(crate) changed: bool,
    /// The unified diff, with the files' line numbers.
    pub(crate) unified: String,
}

async fn list(State(state): State<AppState>) -> ApiResult<Json<Vec<TaskSummary>>> {
    let tasks = state
        .db
        .run("read the tasks of the elves", |s| {
            let mut shas: Vec<TaskSha> = s.elves()?.into_iter().flat_map(|e| e.tasks).collect();
            shas.sort();
            shas.dedup();
            let mut by_name: BTreeMap<(String, String), TaskSummary> = BTreeMap::new();
            for sha in shas {
                if let Some(v) = s.task_version(&sha)? {
                    let t = by_name.entry((v.elf.clone(), v.name.clone())).or_insert_with(|| TaskSummary {
                        elf: v.elf.clone(),
                        task: v.name.clone(),
                        versions: Vec::new(),
                        latest_seen: 0,
                    });
                    t.versions.push(v.sha);
                    t.latest_seen = t.latest_seen.max(v.first_seen);
                }
            }
            Ok(by_name.into_values().collect())
        })
        .await?;
    Ok(Json(tasks))
}

fn task_ref(elf: &str, task: &str) -> ApiResult<TaskRef> {
    TaskRef::parse(&format!("{elf}/{task}")).map_err(|e| ApiError::bad_request(format!("{e:#}")))
}

async fn versions(
    State(state): State<AppState>,
    Path((elf, task)): Path<(String, String)>,
) -> ApiResult<Json<Vec<TaskVersion>>> {
    task_ref(&elf, &task)?;
    let all = state.db.call("read task versions", move |s| lookup::versions(s, &elf, &task)).await?;
    Ok(Json(all))
}

async fn version(
    State(state): State<AppState>,
    Path((elf, task, sha)): Path<(String, String, String)>,
) -> ApiResult<Json<TaskVersion>> {
    let t = TaskRef::parse(&format!("{elf}/{task}@{sha}")).map_err(|e| ApiError::bad_request(format!("{e:#}")))?;
    let v = state.db.call("read a task version", move |s| lookup::version(s, &t, None)).await?;
    Ok(Json(v))
}

async fn diff_of(
    State(state): State<AppState>,
    Path((elf, task)): Path<(String, String)>,
    q: QueryMap,
) -> ApiResult<Json<Diff>> {
    let t = task_ref(&elf, &task)?;
    let from = q
        .text("from")
        .ok_or_else(|| ApiError::bad_request("query parameter `from` is required: the first version's sha prefix"))?
        .to_owned();
    let to = q.text("to").map(str::to_owned);
    for sha in std::iter::once(&from).chain(to.as_ref()) {
        TaskRef::parse(&format!("{elf}/{task}@{sha}")).map_err(|e| ApiError::bad_request(format!("{e:#}")))?;
    }
    let (a, b) = state
        .db
        .call("read two task versions", move |s| {
            let a = lookup::version(s, &t, Some(&from))?;
            let b = lookup::version(s, &t, to.as_deref())?;
            Ok::<_, crate::cli::Error>((a, b))
        })
        .await?;
    let mut out = Vec::new();
    let name = |v: &TaskVersion| format!("{}/{}@{} ({}:{})", v.elf, v.name, v.sha.short(), v.file, v.line);
    let changed = diff::unified(&mut out, (&name(&a), &a.source, a.line), (&name(&b), &b.source, b.line), 3)
        .map_err(|e| ApiError::internal(format!("write a diff: {e}")))?;
    Ok(Json(Diff { from: a.sha, to: b.sha, changed, unified: String::from_utf8_lossy(&out).into_owned() }))
}
