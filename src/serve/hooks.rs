//! Inbound webhooks: `POST /hooks/<name>` mapped to an action by a JSON file
//! (`mycelium serve --hooks hooks.json`).
//!
//! ```json
//! { "hooks": {
//!     "push": {
//!       "action": { "submit": { "elf": "ci", "task": "build", "run": "push" } },
//!       "secret_env": "PUSH_HOOK_SECRET",
//!       "idempotency_header": "X-GitHub-Delivery"
//!     } } }
//! ```
//!
//! The request's JSON body becomes the action's input. The actions:
//!
//! * `{"submit": {"elf": .., "task": .., "run": ..}}` submits a run of one
//!   task whose single argument is the body;
//! * `{"emit": {"signal": "deployed"}}` emits an agent signal with the body
//!   as its payload (the idempotency header, when set, is its key);
//! * `{"signal": {"flow": "<job, r12 or key>", "signal": "approve"}}` sends
//!   a signal to a durable flow with the body as its payload; instead of a
//!   fixed `flow`, `"flow_param": "flow"` takes the flow from that query
//!   parameter of each request (`POST /hooks/approve?flow=deploy-42`).
//!
//! A hook with a secret (`secret`, or `secret_env` naming a variable)
//! accepts only requests signed GitHub-style: `X-Hub-Signature-256:
//! sha256=<hex of HMAC-SHA256(secret, body)>`, compared in constant time. A
//! hook without one needs an operator token, like the API.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, bail};
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, StatusCode};
use hmac::{Hmac, Mac};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::Sha256;

use super::api::{Endpoint, Peer, QueryMap, emit_signal, find_flow};
use super::error::{ApiError, ApiResult};
use super::server::AppState;
use crate::model::{JobId, JobSpec, Origin, RetryPolicy, RunId, RunSpec, Submission};
use crate::storage::Scope;

/// The header GitHub (and many others) sign with.
pub(crate) const DEFAULT_SIGNATURE_HEADER: &str = "X-Hub-Signature-256";

/// The hooks file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    hooks: BTreeMap<String, HookSpec>,
}

/// One hook as written in the file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct HookSpec {
    action: Action,
    #[serde(default)]
    secret: Option<String>,
    #[serde(default)]
    secret_env: Option<String>,
    #[serde(default)]
    signature_header: Option<String>,
    #[serde(default)]
    idempotency_header: Option<String>,
}

/// What a hook does with a request.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
enum Action {
    /// Submits a run of one task, the body as its argument.
    Submit(SubmitAction),
    /// Emits an agent signal, the body as its payload.
    Emit(EmitAction),
    /// Sends a signal to a durable flow, the body as its payload.
    Signal(SignalAction),
}

/// An emission.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EmitAction {
    signal: String,
}

/// A signal to a flow.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SignalAction {
    /// The flow: a job, `r12`, or the run's idempotency key.
    #[serde(default)]
    flow: Option<String>,
    /// Or the query parameter of each request that names it.
    #[serde(default)]
    flow_param: Option<String>,
    /// The signal's name.
    signal: String,
}

/// A run of one task.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SubmitAction {
    elf: String,
    task: String,
    /// The run's name (default: `hook <name>`).
    #[serde(default)]
    run: Option<String>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    retry: RetryPolicy,
    #[serde(default)]
    timeout_ms: Option<u64>,
    #[serde(default)]
    priority: i32,
}

/// A hook ready to serve.
#[derive(Debug)]
struct Hook {
    action: Action,
    secret: Option<Vec<u8>>,
    signature_header: String,
    idempotency_header: Option<String>,
}

/// The configured hooks.
#[derive(Debug, Default)]
pub(crate) struct Hooks(BTreeMap<String, Hook>);

impl Hooks {
    /// Reads and checks the hooks file at `path`.
    pub(crate) fn load(path: &Path) -> anyhow::Result<Self> {
        Self::check(path, |k| std::env::var(k).ok())
    }

    /// Reads the file at `path` with `env` for the variables it names.
    pub(crate) fn check(path: &Path, env: impl Fn(&str) -> Option<String>) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path).with_context(|| format!("read the hooks file {}", path.display()))?;
        Self::parse(&text, env).with_context(|| format!("hooks file {}", path.display()))
    }

    fn parse(text: &str, env: impl Fn(&str) -> Option<String>) -> anyhow::Result<Self> {
        let file: File = serde_json::from_str(text).context(
            "it is not a hooks document: expected {\"hooks\": {\"<name>\": {\"action\": {\"submit\": \
             {\"elf\": \"..\", \"task\": \"..\"}}, \"secret_env\": \"VAR\"}}}",
        )?;
        let mut hooks = BTreeMap::new();
        for (name, spec) in file.hooks {
            if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)) {
                bail!("hook name `{name}` is not 1 or more letters, digits, `-`, `_` or `.`");
            }
            match &spec.action {
                Action::Submit(a) if a.elf.is_empty() || a.task.is_empty() => {
                    bail!("hook `{name}`: the submit action needs an `elf` and a `task`")
                }
                Action::Emit(a) if a.signal.is_empty() => {
                    bail!("hook `{name}`: the emit action needs a `signal` (its name)")
                }
                Action::Signal(a) if a.signal.is_empty() => {
                    bail!("hook `{name}`: the signal action needs a `signal` (the name the flow awaits)")
                }
                Action::Signal(a) if a.flow.is_some() == a.flow_param.is_some() => bail!(
                    "hook `{name}`: the signal action needs either `flow` (a job, r12 or a run's key) or \
                     `flow_param` (the query parameter naming the flow), not both or neither"
                ),
                _ => {}
            }
            let action = spec.action;
            let secret = match (spec.secret, spec.secret_env) {
                (Some(_), Some(_)) => bail!("hook `{name}`: give `secret` or `secret_env`, not both"),
                (Some(s), None) => Some(s),
                (None, Some(var)) => Some(env(&var).filter(|v| !v.is_empty()).with_context(|| {
                    format!("hook `{name}`: environment variable `{var}` (its secret_env) is not set")
                })?),
                (None, None) => None,
            };
            let hook = Hook {
                action,
                secret: secret.map(String::into_bytes),
                signature_header: spec.signature_header.unwrap_or_else(|| DEFAULT_SIGNATURE_HEADER.to_owned()),
                idempotency_header: spec.idempotency_header,
            };
            hooks.insert(name, hook);
        }
        Ok(Self(hooks))
    }
}

/// What a hook did.
#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct Accepted {
    /// The hook.
    pub(crate) hook: String,
    /// Its action: `submit`, `emit` or `signal`.
    pub(crate) action: String,
    /// The run it submitted, or that holds the emission's deliveries
    /// (absent when no receiver subscribes, and for a signal to a flow).
    pub(crate) run: Option<RunId>,
    /// Whether the delivery was seen before (same idempotency header): nothing new was written.
    pub(crate) existing: bool,
    /// `emit`: the jobs of the receivers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) deliveries: Vec<JobId>,
    /// `signal`: the flow's job.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) flow: Option<JobId>,
    /// `signal`: whether the flow was waiting for it and woke.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) woke: Option<bool>,
}

pub(crate) fn endpoints() -> Vec<Endpoint> {
    vec![
        Endpoint::post(
            "/hooks/{name}",
            "hooks",
            "An inbound webhook: the JSON body becomes the input of the hook's action (a task's argument, a \
             signal's payload, a flow signal's payload). Signed hooks check `X-Hub-Signature-256: \
             sha256=<hex HMAC-SHA256>`; unsigned ones need an operator token.",
            receive,
        )
        .returns::<Accepted>()
        .status(202)
        .errors(&[400, 401, 403, 404, 413])
        .public(),
    ]
}

/// Checks `header` (`sha256=<hex>`) against the HMAC-SHA256 of `body`.
pub(crate) fn verify(secret: &[u8], body: &[u8], header: &str) -> bool {
    let Some(hex) = header.trim().strip_prefix("sha256=") else { return false };
    let Some(expected) = decode_hex(hex) else { return false };
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret) else { return false };
    mac.update(body);
    mac.verify_slice(&expected).is_ok()
}

fn decode_hex(hex: &str) -> Option<Vec<u8>> {
    if !hex.len().is_multiple_of(2) {
        return None;
    }
    (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok()).collect()
}

async fn receive(
    State(state): State<AppState>,
    UrlPath(name): UrlPath<String>,
    Peer(peer): Peer,
    query: QueryMap,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<Accepted>)> {
    let hook = state.hooks.0.get(&name).ok_or_else(|| {
        let known: Vec<&str> = state.hooks.0.keys().map(String::as_str).collect();
        ApiError::not_found(format!(
            "no hook is named `{name}` (configured: {}; hooks come from `mycelium serve --hooks FILE`)",
            if known.is_empty() { "none".to_owned() } else { known.join(", ") }
        ))
    })?;
    match &hook.secret {
        Some(secret) => {
            let header =
                headers.get(hook.signature_header.as_str()).and_then(|v| v.to_str().ok()).ok_or_else(|| {
                    ApiError::new(
                        StatusCode::UNAUTHORIZED,
                        format!(
                            "hook `{name}` needs a signature: send `{}: sha256=<hex of the HMAC-SHA256 of the body \
                         with the hook's secret>`",
                            hook.signature_header
                        ),
                    )
                })?;
            if !verify(secret, &body, header) {
                return Err(ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    format!(
                        "the `{}` header does not match the body: sign the exact body with the hook's secret",
                        hook.signature_header
                    ),
                ));
            }
        }
        None => {
            let auth = headers.get("authorization").and_then(|v| v.to_str().ok());
            let caller = state.auth.caller(auth, peer).await?;
            if !caller.scope.allows(Scope::Operator) {
                return Err(ApiError::new(
                    StatusCode::FORBIDDEN,
                    format!(
                        "hook `{name}` has no secret, so it needs an operator token; `{}` is {}",
                        caller.name, caller.scope
                    ),
                ));
            }
        }
    }
    let payload: Value = serde_json::from_slice(&body).map_err(|e| {
        ApiError::bad_request(format!(
            "the body of hook `{name}` is not JSON: {e} (it becomes the input of the hook's action)"
        ))
    })?;
    let delivery = hook
        .idempotency_header
        .as_ref()
        .and_then(|h| headers.get(h.as_str()))
        .and_then(|v| v.to_str().ok())
        .map(|key| format!("hook:{name}:{key}"));
    let accepted = match &hook.action {
        Action::Submit(a) => submit(&state, &name, a, payload, delivery).await?,
        Action::Emit(a) => {
            let sender = format!("mycelium serve (hook {name})");
            let e = emit_signal(&state, a.signal.clone(), payload, delivery, sender).await?;
            tracing::info!(hook = %name, signal = %e.signal, "webhook emitted a signal");
            Accepted {
                hook: name,
                action: "emit".to_owned(),
                run: e.run,
                existing: e.existing,
                deliveries: e.deliveries.iter().map(|d| d.job).collect(),
                flow: None,
                woke: None,
            }
        }
        Action::Signal(a) => {
            let flow = match (&a.flow, &a.flow_param) {
                (Some(f), _) => f.clone(),
                (None, Some(p)) => query.text(p).map(str::to_owned).ok_or_else(|| {
                    ApiError::bad_request(format!(
                        "hook `{name}` takes the flow from the query parameter `{p}`: add `?{p}=<job, r12 or the run's key>`"
                    ))
                })?,
                (None, None) => return Err(ApiError::internal(format!("hook `{name}` names no flow"))),
            };
            let job = find_flow(&state, &flow).await?.id;
            let signal = a.signal.clone();
            let sent =
                state.db.run("send a hook's signal to a flow", move |s| s.signal(job, &signal, &payload)).await?;
            state.ring(sent.readied.clone());
            tracing::info!(hook = %name, flow = %job, woke = sent.woke, "webhook signalled a flow");
            Accepted {
                hook: name,
                action: "signal".to_owned(),
                run: None,
                existing: false,
                deliveries: Vec::new(),
                flow: Some(job),
                woke: Some(sent.woke),
            }
        }
    };
    Ok((StatusCode::ACCEPTED, Json(accepted)))
}

/// Submits a run of one task, `payload` its argument.
async fn submit(
    state: &AppState,
    name: &str,
    a: &SubmitAction,
    payload: Value,
    delivery: Option<String>,
) -> ApiResult<Accepted> {
    let mut job = JobSpec::new(a.elf.clone(), a.task.clone(), Value::Array(vec![payload]));
    job.retry = a.retry.clone();
    job.timeout_ms = a.timeout_ms;
    job.priority = a.priority;
    let mut run = RunSpec::named(a.run.clone().unwrap_or_else(|| format!("hook {name}")));
    run.created_by = Origin { program: format!("mycelium serve (hook {name})"), ..Origin::current() };
    run.labels = a.labels.clone();
    run.labels.insert("hook".to_owned(), name.to_owned());
    run.idempotency_key = delivery;
    let submission = Submission { run, jobs: vec![job] };
    let submitted = state.db.run("submit a hook's run", move |s| s.submit(&submission)).await?;
    state.ring(submitted.readied.clone());
    tracing::info!(hook = %name, run = %submitted.run, "webhook submitted a run");
    Ok(Accepted {
        hook: name.to_owned(),
        action: "submit".to_owned(),
        run: Some(submitted.run),
        existing: submitted.existing,
        deliveries: Vec::new(),
        flow: None,
        woke: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn github_style_signatures_verify() {
        // HMAC-SHA256("It's a Secret to Everybody", "Hello, World!"), from GitHub's documentation.
        let sig = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
        assert!(verify(b"It's a Secret to Everybody", b"Hello, World!", sig));
        assert!(!verify(b"another secret", b"Hello, World!", sig));
        assert!(!verify(b"It's a Secret to Everybody", b"Hello, World?", sig));
        assert!(!verify(b"It's a Secret to Everybody", b"Hello, World!", "sha1=00"));
        assert!(!verify(b"It's a Secret to Everybody", b"Hello, World!", "sha256=zz"));
    }

    #[test]
    fn the_file_names_its_mistakes() {
        let ok = r#"{"hooks": {"push": {"action": {"submit": {"elf": "e", "task": "t"}}, "secret_env": "S"}}}"#;
        let hooks = Hooks::parse(ok, |_| Some("x".into())).expect("valid");
        assert_eq!(hooks.0["push"].secret.as_deref(), Some(&b"x"[..]));
        let err = Hooks::parse(ok, |_| None).expect_err("secret missing").to_string();
        assert!(err.contains("`S`"), "{err}");
        let emit = r#"{"hooks": {"h": {"action": {"emit": {"signal": "deployed"}}}}}"#;
        assert!(matches!(Hooks::parse(emit, |_| None).expect("valid").0["h"].action, Action::Emit(_)));
        let both = r#"{"hooks": {"h": {"action": {"signal": {"flow": "j1", "flow_param": "f", "signal": "go"}}}}}"#;
        let err = format!("{:#}", Hooks::parse(both, |_| None).expect_err("ambiguous"));
        assert!(err.contains("not both or neither"), "{err}");
        let neither = r#"{"hooks": {"h": {"action": {"signal": {"signal": "go"}}}}}"#;
        assert!(Hooks::parse(neither, |_| None).is_err());
        assert!(Hooks::parse(r#"{"hooks": {"h": {"action": {"submit": {"elf": "e"}}}}}"#, |_| None).is_err());
    }
}
