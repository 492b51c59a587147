//! Schedules of the agents: every one with its next fire time; add one of
//! an existing task, remove one; pause, resume, and trigger one now.
//!
//! A declared schedule is named `elf/task`: its slash is written `%2F` in
//! a path (`/api/schedules/clock%2Fbeat/pause`).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Body, Endpoint};
use crate::agent::schedule::Origin;
use crate::agent::{Fired, Missed, Overlap, Schedule, ScheduleStatus, Spec};
use crate::model::{JobId, Millis, now_ms};
use crate::serve::error::{ApiError, ApiResult};
use crate::serve::server::AppState;

pub(super) fn endpoints() -> Vec<Endpoint> {
    vec![
        Endpoint::get(
            "/api/schedules",
            "schedules",
            "Every schedule with its next fire time, its counts and whether its last job still runs.",
            list,
        )
        .returns::<Vec<ScheduleView>>()
        .errors(&[]),
        Endpoint::post(
            "/api/schedules",
            "schedules",
            "Adds a schedule of an existing task: every interval or at a cron expression, with its arguments.",
            add,
        )
        .takes::<NewSchedule>()
        .returns::<Schedule>()
        .status(201)
        .errors(&[400]),
        Endpoint::delete(
            "/api/schedules/{schedule}",
            "schedules",
            "Removes a schedule (a declared one comes back when its elf registers again, unless its task no longer declares it).",
            remove,
        )
        .returns::<Schedule>()
        .errors(&[404]),
        Endpoint::post(
            "/api/schedules/{schedule}/pause",
            "schedules",
            "Pauses a schedule: its ticks make no job until it is resumed.",
            pause,
        )
        .returns::<Schedule>(),
        Endpoint::post(
            "/api/schedules/{schedule}/resume",
            "schedules",
            "Resumes a paused schedule, from its next tick.",
            resume,
        )
        .returns::<Schedule>(),
        Endpoint::post("/api/schedules/{schedule}/trigger", "schedules", "Makes one job of a schedule now.", trigger)
            .returns::<Triggered>(),
    ]
}

/// A schedule to add (what `mycelium schedules add` takes): give `every`
/// or `cron`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewSchedule {
    /// Its name: letters, digits and `_ - . : /`.
    pub(crate) name: String,
    /// The task, `elf/task`; its elf must have registered once.
    pub(crate) task: String,
    /// An interval (`15s`, `1h30m`).
    #[serde(default)]
    pub(crate) every: Option<String>,
    /// The delay before an interval's first tick (`10s`).
    #[serde(default)]
    pub(crate) start_after: Option<String>,
    /// A five-field cron expression (`0 */4 * * *`, `@daily`).
    #[serde(default)]
    pub(crate) cron: Option<String>,
    /// The cron expression's time zone, an IANA name (UTC by default).
    #[serde(default)]
    pub(crate) tz: Option<String>,
    /// The task's arguments, a JSON list in parameter order (`[]` by default).
    #[serde(default)]
    pub(crate) args: Option<Value>,
    /// Missed ticks: `skip`, `once` or `catch_up` (the default).
    #[serde(default)]
    pub(crate) missed: Option<String>,
    /// A tick while the previous job runs: `allow` (the default), `skip` or `queue`.
    #[serde(default)]
    pub(crate) overlap: Option<String>,
}

impl NewSchedule {
    /// The schedule it asks for, or 400 naming the field at fault.
    fn schedule(self) -> ApiResult<Schedule> {
        let field = |name: &str, e: String| ApiError::bad_request(format!("body field `{name}`: {e}"));
        let Some((elf, task)) = self.task.split_once('/').filter(|(e, t)| !e.is_empty() && !t.is_empty()) else {
            return Err(field("task", format!("`{}` is not a task: expected elf/task, such as clock/beat", self.task)));
        };
        let spec = match (&self.every, &self.cron) {
            (Some(every), None) => {
                if self.tz.is_some() {
                    return Err(field("tz", "a time zone goes with `cron`, not `every`".to_owned()));
                }
                Spec::every(every, self.start_after.as_deref()).map_err(|e| field("every", e))?
            }
            (None, Some(cron)) => {
                if self.start_after.is_some() {
                    return Err(field("start_after", "`start_after` goes with `every`, not `cron`".to_owned()));
                }
                // The expression first, so that each error names its field.
                let spec = Spec::cron(cron, None).map_err(|e| field("cron", e))?;
                match &self.tz {
                    Some(tz) => Spec::cron(cron, Some(tz)).map_err(|e| field("tz", e))?,
                    None => spec,
                }
            }
            _ => {
                return Err(ApiError::bad_request(
                    "body fields `every` and `cron`: give exactly one (e.g. {\"every\": \"15s\"} or {\"cron\": \"0 * * * *\"})",
                ));
            }
        };
        let missed: Missed = match &self.missed {
            Some(m) => m.parse().map_err(|e| field("missed", e))?,
            None => Missed::default(),
        };
        let overlap: Overlap = match &self.overlap {
            Some(o) => o.parse().map_err(|e| field("overlap", e))?,
            None => Overlap::default(),
        };
        let args = self.args.unwrap_or_else(|| Value::Array(Vec::new()));
        Ok(Schedule {
            missed,
            overlap,
            ..Schedule::new(self.name, elf.to_owned(), task.to_owned(), args, spec, Origin::Added)
        })
    }
}

/// A schedule and where it stands.
#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct ScheduleView {
    /// The schedule.
    #[serde(flatten)]
    pub(crate) schedule: Schedule,
    /// `paused`, `running` (its last job has not finished) or `idle`.
    pub(crate) state: String,
    /// Whether its last job has not finished yet.
    pub(crate) running: bool,
    /// In how many milliseconds its next tick is due (negative: overdue);
    /// absent when paused.
    pub(crate) next_in_ms: Option<i64>,
}

impl From<ScheduleStatus> for ScheduleView {
    fn from(st: ScheduleStatus) -> Self {
        let s = st.schedule;
        let state = if s.paused {
            "paused"
        } else if st.running {
            "running"
        } else {
            "idle"
        };
        let next_in_ms = (!s.paused).then(|| s.next_due - now_ms());
        Self { state: state.to_owned(), running: st.running, next_in_ms, schedule: s }
    }
}

/// One job a trigger made.
#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct TriggeredJob {
    /// The schedule.
    pub(crate) schedule: String,
    /// The tick it stands for (now).
    pub(crate) tick: Millis,
    /// The job.
    pub(crate) job: JobId,
}

/// What a trigger did.
#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct Triggered {
    /// The jobs made (one).
    pub(crate) jobs: Vec<TriggeredJob>,
}

impl From<Fired> for Triggered {
    fn from(f: Fired) -> Self {
        Self { jobs: f.jobs.into_iter().map(|(schedule, tick, job)| TriggeredJob { schedule, tick, job }).collect() }
    }
}

async fn list(State(state): State<AppState>) -> ApiResult<Json<Vec<ScheduleView>>> {
    let all = state.db.run("read the schedules", |s| s.schedules()).await?;
    Ok(Json(all.into_iter().map(ScheduleView::from).collect()))
}

async fn pause(State(state): State<AppState>, Path(name): Path<String>) -> ApiResult<Json<Schedule>> {
    Ok(Json(state.db.run("pause a schedule", move |s| s.pause_schedule(&name, true)).await?))
}

async fn resume(State(state): State<AppState>, Path(name): Path<String>) -> ApiResult<Json<Schedule>> {
    Ok(Json(state.db.run("resume a schedule", move |s| s.pause_schedule(&name, false)).await?))
}

async fn trigger(State(state): State<AppState>, Path(name): Path<String>) -> ApiResult<Json<Triggered>> {
    let fired = state.db.run("trigger a schedule", move |s| s.trigger_schedule(&name)).await?;
    state.ring(fired.readied.clone());
    Ok(Json(fired.into()))
}

async fn add(State(state): State<AppState>, Body(doc): Body<NewSchedule>) -> ApiResult<(StatusCode, Json<Schedule>)> {
    let schedule = doc.schedule()?;
    let task = format!("{}/{}", schedule.elf, schedule.task);
    let added = state.db.run("add a schedule", move |s| s.add_schedule(&schedule)).await.map_err(|e| {
        // An unknown task is a wrong body field here, not a missing resource.
        if e.status == StatusCode::NOT_FOUND {
            ApiError::bad_request(format!("body field `task` ({task}): {}", e.message))
        } else {
            e
        }
    })?;
    Ok((StatusCode::CREATED, Json(added)))
}

async fn remove(State(state): State<AppState>, Path(name): Path<String>) -> ApiResult<Json<Schedule>> {
    Ok(Json(state.db.run("remove a schedule", move |s| s.remove_schedule(&name)).await?))
}
