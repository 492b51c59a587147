//! Elf instances and their health.

use axum::Json;
use axum::extract::State;
use schemars::JsonSchema;
use serde::Serialize;

use super::{Endpoint, Param, QueryMap};
use crate::model::{ElfInstance, ElfState, now_ms};
use crate::serve::error::ApiResult;
use crate::serve::server::AppState;

pub(super) fn endpoints() -> Vec<Endpoint> {
    vec![
        Endpoint::get("/api/elves", "elves", "Elf instances, most recently started first, with their health.", list)
            .param(Param::query("state", "string", "Only instances in this state: running, stopped or lost."))
            .returns::<Vec<ElfView>>()
            .errors(&[400]),
    ]
}

/// How an instance is doing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Health {
    /// Running, and its lease is current.
    Healthy,
    /// Running by its record, but its lease ran out: about to be marked lost.
    Overdue,
    /// Shut down cleanly.
    Stopped,
    /// Found dead.
    Lost,
}

/// An instance and its health.
#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct ElfView {
    /// The instance as stored.
    #[serde(flatten)]
    pub(crate) elf: ElfInstance,
    /// Its health now.
    pub(crate) health: Health,
    /// Milliseconds since its last heartbeat.
    pub(crate) heartbeat_age_ms: i64,
}

async fn list(State(state): State<AppState>, q: QueryMap) -> ApiResult<Json<Vec<ElfView>>> {
    let only: Option<ElfState> = q.parse("state")?;
    let elves = state.db.run("read the elf instances", |s| s.elves()).await?;
    let now = now_ms();
    let views = elves
        .into_iter()
        .filter(|e| only.is_none_or(|s| e.state == s))
        .map(|elf| {
            let health = match elf.state {
                ElfState::Running if elf.lease_until >= now => Health::Healthy,
                ElfState::Running => Health::Overdue,
                ElfState::Stopped => Health::Stopped,
                _ => Health::Lost,
            };
            ElfView { heartbeat_age_ms: now - elf.heartbeat_at, health, elf }
        })
        .collect();
    Ok(Json(views))
}
