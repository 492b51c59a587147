//! Elves in any language: the claim / heartbeat / complete / fail protocol
//! of native elves, over HTTP, with the same documents (`schemas/`) and the
//! same fencing: a write carried by a stale epoch is refused with 409 and
//! writes nothing.
//!
//! An elf registers (`POST /api/elves`, its task versions with their exact
//! source), then loops: claim (optionally waiting for work), run, complete
//! or fail, heartbeating every third of its lease while it holds jobs; it
//! says bye when it stops. If it dies instead, its lease runs out and the
//! coordinator marks it lost and gives its jobs to others, as for a native
//! elf.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{Body, Endpoint};
use crate::model::{
    Build, Claimed, Completion, ElfInstance, ElfState, FailureId, FailureReport, InstanceId, Lease, Millis, Origin,
    Outcome, TaskVersion, now_ms,
};
use crate::serve::error::{ApiError, ApiResult};
use crate::serve::server::AppState;
use crate::storage::{ClaimRequest, Store};

/// The lease length when an elf asks for none.
const DEFAULT_TTL_MS: i64 = 30_000;
/// The longest a claim may wait for work.
const MAX_WAIT_MS: u64 = 30_000;

pub(super) fn endpoints() -> Vec<Endpoint> {
    vec![
        Endpoint::post(
            "/api/elves",
            "elf protocol",
            "Registers an elf instance and records its task versions (each version's sha is the sha256 of its source).",
            register,
        )
        .takes::<Register>()
        .returns::<Registered>()
        .status(201),
        Endpoint::post(
            "/api/elves/{instance}/claim",
            "elf protocol",
            "Claims up to `max` ready jobs of the elf's tasks, each with a lease; waits up to `wait_ms` for work.",
            claim,
        )
        .takes::<ClaimBody>()
        .returns::<ClaimAnswer>()
        .errors(&[400, 404, 409]),
        Endpoint::post(
            "/api/elves/{instance}/heartbeat",
            "elf protocol",
            "Renews the instance's lease and those of the jobs it holds; one outcome per lease (stop jobs not `ok`).",
            heartbeat,
        )
        .takes::<HeartbeatBody>()
        .returns::<Outcomes>()
        .errors(&[400, 404, 409]),
        Endpoint::post(
            "/api/elves/{instance}/complete",
            "elf protocol",
            "Stores results. 409 when a lease is stale (its job was reclaimed or cancelled): nothing written for it.",
            complete,
        )
        .takes::<CompleteBody>()
        .returns::<Outcomes>()
        .errors(&[400, 404, 409, 413]),
        Endpoint::post(
            "/api/elves/{instance}/fail",
            "elf protocol",
            "Records a failed attempt (the FailureReport document, frames included). 409 when the lease is stale.",
            fail,
        )
        .takes::<FailBody>()
        .returns::<FailAnswer>()
        .errors(&[400, 404, 409]),
        Endpoint::post(
            "/api/elves/{instance}/bye",
            "elf protocol",
            "Marks the instance stopped; jobs it still holds go back to ready.",
            bye,
        )
        .takes::<ByeBody>()
        .returns::<ByeAnswer>(),
    ]
}

/// An elf instance registering.
#[derive(Debug, Deserialize, JsonSchema)]
pub(crate) struct Register {
    /// The elf's name; every instance of an elf serves the same tasks.
    pub(crate) elf: String,
    /// The task versions it serves (schemas/task.schema.json), exact source included.
    pub(crate) tasks: Vec<TaskVersion>,
    /// How many jobs it runs at once (default 1).
    #[serde(default)]
    pub(crate) slots: Option<u32>,
    /// Its host (default: the caller's address).
    #[serde(default)]
    pub(crate) host: Option<String>,
    /// Its process id.
    #[serde(default)]
    pub(crate) pid: Option<u32>,
    /// What it was built from (`program` is what replays a job).
    #[serde(default)]
    pub(crate) build: Option<Build>,
    /// Its lease length in milliseconds (default 30000); heartbeat every third.
    #[serde(default)]
    pub(crate) lease_ttl_ms: Option<i64>,
}

/// A registered instance.
#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct Registered {
    /// The instance id for every later call.
    pub(crate) instance: InstanceId,
    /// Its lease length.
    pub(crate) lease_ttl_ms: i64,
    /// How often to heartbeat.
    pub(crate) heartbeat_ms: i64,
}

/// A claim.
#[derive(Debug, Deserialize, JsonSchema)]
pub(crate) struct ClaimBody {
    /// At most this many jobs (its free slots).
    pub(crate) max: u32,
    /// Only these tasks (default: every task it registered).
    #[serde(default)]
    pub(crate) tasks: Option<Vec<String>>,
    /// When nothing is ready, wait up to this long for work (0-30000, default 0).
    #[serde(default)]
    pub(crate) wait_ms: Option<u64>,
}

/// Jobs handed out.
#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct ClaimAnswer {
    /// The jobs (schemas/claimed.schema.json): write back with their lease.
    pub(crate) claimed: Vec<Claimed>,
}

/// A heartbeat.
#[derive(Debug, Default, Deserialize, JsonSchema)]
pub(crate) struct HeartbeatBody {
    /// The leases it holds.
    #[serde(default)]
    pub(crate) held: Vec<Lease>,
}

/// One outcome per lease, in order.
#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct Outcomes {
    /// `ok`, `lease_lost` or `cancelled`.
    pub(crate) outcomes: Vec<Outcome>,
}

/// Results to store.
#[derive(Debug, Deserialize, JsonSchema)]
pub(crate) struct CompleteBody {
    /// The completions (schemas/completion.schema.json).
    pub(crate) completions: Vec<Completion>,
}

/// A failed attempt.
#[derive(Debug, Deserialize, JsonSchema)]
pub(crate) struct FailBody {
    /// The lease it ran under.
    pub(crate) lease: Lease,
    /// What happened (schemas/failure-report.schema.json).
    pub(crate) report: FailureReport,
}

/// What a failure led to.
#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct FailAnswer {
    /// The failure record.
    pub(crate) failure: Option<FailureId>,
    /// When the next attempt may start, if one is scheduled.
    pub(crate) retry_at: Option<Millis>,
}

/// A goodbye.
#[derive(Debug, Default, Deserialize, JsonSchema)]
pub(crate) struct ByeBody {}

/// What a goodbye did.
#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct ByeAnswer {
    /// Jobs it held that became ready again, per elf.
    pub(crate) readied: BTreeMap<String, u32>,
}

/// What the server remembers of an instance.
#[derive(Clone, Debug)]
pub(crate) struct Known {
    elf: String,
    tasks: Vec<String>,
    ttl_ms: i64,
}

/// Instances registered through this server (others are read from the store).
#[derive(Debug, Default)]
pub(crate) struct Registry(Mutex<HashMap<InstanceId, Known>>);

impl Registry {
    fn get(&self, id: &InstanceId) -> Option<Known> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).get(id).cloned()
    }

    fn put(&self, id: InstanceId, known: Known) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).insert(id, known);
    }
}

/// The instance a path names: known here, or running in the store.
async fn instance(state: &AppState, text: &str) -> ApiResult<(InstanceId, Known)> {
    let id = InstanceId(text.to_owned());
    if let Some(k) = state.registry.get(&id) {
        return Ok((id, k));
    }
    let wanted = id.clone();
    let found = state
        .db
        .run("read an elf instance", move |s| {
            let Some(e) = s.elves()?.into_iter().find(|e| e.instance == wanted) else { return Ok(None) };
            let mut tasks = Vec::new();
            for sha in &e.tasks {
                if let Some(v) = s.task_version(sha)? {
                    tasks.push(v.name);
                }
            }
            Ok(Some((e, tasks)))
        })
        .await?;
    match found {
        None => Err(ApiError::not_found(format!(
            "elf instance `{text}` is not registered (register with POST /api/elves and use the instance it returns)"
        ))),
        Some((e, _)) if e.state != ElfState::Running => Err(ApiError::conflict(format!(
            "elf instance `{text}` is {}: it may not claim or heartbeat (register again with POST /api/elves)",
            e.state.as_str()
        ))),
        Some((e, tasks)) => {
            let known = Known { elf: e.elf, tasks, ttl_ms: (e.lease_until - e.heartbeat_at).max(1000) };
            state.registry.put(id.clone(), known.clone());
            Ok((id, known))
        }
    }
}

async fn register(
    State(state): State<AppState>,
    super::Peer(peer): super::Peer,
    Body(r): Body<Register>,
) -> ApiResult<(StatusCode, Json<Registered>)> {
    if r.elf.trim().is_empty() {
        return Err(ApiError::bad_request("`elf` is empty: name the elf (e.g. \"python\")"));
    }
    if r.tasks.is_empty() {
        return Err(ApiError::bad_request("`tasks` is empty: an elf serves at least one task"));
    }
    if let Some(t) = r.tasks.iter().find(|t| t.elf != r.elf) {
        return Err(ApiError::bad_request(format!(
            "task `{}` says it belongs to elf `{}`, but the instance registers as `{}`: make them agree",
            t.name, t.elf, r.elf
        )));
    }
    let ttl_ms = r.lease_ttl_ms.unwrap_or(DEFAULT_TTL_MS);
    if !(1000..=600_000).contains(&ttl_ms) {
        return Err(ApiError::bad_request(format!("`lease_ttl_ms` is {ttl_ms}: expected 1000 to 600000")));
    }
    let instance = InstanceId::random();
    let now = now_ms();
    let me = ElfInstance {
        instance: instance.clone(),
        elf: r.elf.clone(),
        host: r.host.unwrap_or_else(|| peer.map_or_else(|| Origin::current().host, |p| p.ip().to_string())),
        pid: r.pid.unwrap_or(0),
        build: r.build.unwrap_or_default(),
        tasks: r.tasks.iter().map(|t| t.sha.clone()).collect(),
        slots: r.slots.unwrap_or(1).max(1),
        started_at: now,
        heartbeat_at: now,
        lease_until: now + ttl_ms,
        state: ElfState::Running,
        label: None,
        process_start: None,
    };
    let names: Vec<String> = r.tasks.iter().map(|t| t.name.clone()).collect();
    let versions = r.tasks;
    state
        .db
        .run("register an elf", move |s| {
            s.record_tasks(&versions)?;
            s.register_elf(&me)
        })
        .await?;
    tracing::info!(%instance, elf = %r.elf, "elf registered over HTTP");
    state.registry.put(instance.clone(), Known { elf: r.elf, tasks: names, ttl_ms });
    Ok((StatusCode::CREATED, Json(Registered { instance, lease_ttl_ms: ttl_ms, heartbeat_ms: ttl_ms / 3 })))
}

async fn claim(
    State(state): State<AppState>,
    Path(text): Path<String>,
    Body(body): Body<ClaimBody>,
) -> ApiResult<Json<ClaimAnswer>> {
    let (id, known) = instance(&state, &text).await?;
    let tasks = match body.tasks {
        Some(t) => {
            if let Some(bad) = t.iter().find(|t| !known.tasks.contains(t)) {
                return Err(ApiError::bad_request(format!(
                    "task `{bad}` is not one instance `{text}` registered (it serves {})",
                    known.tasks.join(", ")
                )));
            }
            t
        }
        None => known.tasks.clone(),
    };
    let wait = Duration::from_millis(body.wait_ms.unwrap_or(0).min(MAX_WAIT_MS));
    let deadline = Instant::now() + wait;
    let mut changes = state.feed.changes();
    // Only commits after this point wake the wait.
    changes.borrow_and_update();
    loop {
        let (i, elf, t, max, ttl) = (id.clone(), known.elf.clone(), tasks.clone(), body.max, known.ttl_ms);
        let claimed = state
            .db
            .run("claim jobs", move |s: &Store| {
                s.claim(&ClaimRequest { instance: &i, elf: &elf, tasks: &t, max, ttl_ms: ttl })
            })
            .await?;
        let now = Instant::now();
        if !claimed.is_empty() || body.max == 0 || now >= deadline {
            for c in &claimed {
                tracing::info!(run = %c.run, job = %c.lease.job, epoch = c.lease.epoch, instance = %id, "claimed over HTTP");
            }
            return Ok(Json(ClaimAnswer { claimed }));
        }
        // Wait for the next commit anywhere (or the deadline), then look again.
        let _ = tokio::time::timeout(deadline - now, changes.changed()).await;
    }
}

async fn heartbeat(
    State(state): State<AppState>,
    Path(text): Path<String>,
    Body(body): Body<HeartbeatBody>,
) -> ApiResult<Json<Outcomes>> {
    let (id, known) = instance(&state, &text).await?;
    let outcomes = state.db.run("heartbeat", move |s| s.heartbeat(&id, &body.held, known.ttl_ms)).await?;
    Ok(Json(Outcomes { outcomes }))
}

/// The 409 for writes refused by fencing, saying why for each.
async fn refused(state: &AppState, refused: Vec<(Lease, Outcome)>, written: usize) -> ApiError {
    let ids: Vec<_> = refused.iter().map(|(l, _)| l.job).collect();
    let now: HashMap<_, _> = state
        .db
        .run("read refused jobs", move |s| {
            let mut out = HashMap::new();
            for id in ids {
                if let Some(j) = s.job(id)? {
                    out.insert(id, (j.epoch, j.state));
                }
            }
            Ok(out)
        })
        .await
        .unwrap_or_default();
    let reasons: Vec<String> = refused
        .iter()
        .map(|(lease, outcome)| {
            let why = match (outcome, now.get(&lease.job)) {
                (Outcome::Cancelled, _) => "the job was cancelled".to_owned(),
                (_, Some((epoch, st))) if *epoch != lease.epoch => {
                    format!("the lease is stale: the job was claimed again (epoch {epoch}, now {st})")
                }
                (_, Some((_, st))) => format!("the lease is gone (the job is {st})"),
                (_, None) => "the job does not exist".to_owned(),
            };
            format!("job {} epoch {}: {why}", lease.job, lease.epoch)
        })
        .collect();
    let also =
        if written > 0 { format!("; the other {written} write(s) of this request took effect") } else { String::new() };
    ApiError::conflict(format!(
        "refused, nothing written for {}{also} (drop these jobs: another holder owns them)",
        reasons.join("; ")
    ))
}

async fn complete(
    State(state): State<AppState>,
    Path(text): Path<String>,
    Body(body): Body<CompleteBody>,
) -> ApiResult<Json<Outcomes>> {
    instance(&state, &text).await?;
    let leases: Vec<Lease> = body.completions.iter().map(|c| c.lease).collect();
    let done = body.completions;
    let crate::storage::Completed { outcomes, readied } =
        state.db.run("complete jobs", move |s| s.complete(&done)).await?;
    state.ring(readied);
    // A refused result (over the size limit) failed its job: written, and
    // reported in the outcomes; stale leases are the caller's error.
    let bad: Vec<(Lease, Outcome)> = leases
        .iter()
        .copied()
        .zip(outcomes.iter().copied())
        .filter(|(_, o)| !matches!(o, Outcome::Ok | Outcome::Refused))
        .collect();
    if !bad.is_empty() {
        let written = outcomes.len() - bad.len();
        return Err(refused(&state, bad, written).await);
    }
    Ok(Json(Outcomes { outcomes }))
}

async fn fail(
    State(state): State<AppState>,
    Path(text): Path<String>,
    Body(body): Body<FailBody>,
) -> ApiResult<Json<FailAnswer>> {
    instance(&state, &text).await?;
    let lease = body.lease;
    let span = tracing::info_span!("job", job = %lease.job, epoch = lease.epoch);
    let _entered = span.enter();
    let failed = state.db.run("record a failure", move |s| s.fail(&lease, &body.report)).await?;
    if failed.outcome != Outcome::Ok {
        return Err(refused(&state, vec![(lease, failed.outcome)], 0).await);
    }
    state.ring(failed.readied);
    Ok(Json(FailAnswer { failure: failed.failure, retry_at: failed.retry_at }))
}

async fn bye(
    State(state): State<AppState>,
    Path(text): Path<String>,
    Body(_): Body<ByeBody>,
) -> ApiResult<Json<ByeAnswer>> {
    let (id, _) = instance(&state, &text).await?;
    let readied = state.db.run("stop an elf", move |s| s.elf_gone(&id, crate::storage::Departure::Stopped)).await?;
    state.ring(readied.clone());
    Ok(Json(ByeAnswer { readied }))
}
