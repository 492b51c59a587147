//! The JSON API under `/api/`: every endpoint is one [`Endpoint`] of the
//! table [`endpoints`] builds, which makes both the router and the OpenAPI
//! document, so that neither can have an endpoint the other lacks.

mod elves;
mod endpoint;
mod events;
mod failures;
mod flows;
mod input;
mod jobs;
mod ops;
mod protocol;
mod queues;
mod runs;
mod schedules;
mod signals;
mod tasks;

use axum::Router;
use axum::http::{Method, Uri};
use axum::middleware;

pub(crate) use endpoint::{Doc, Endpoint, In, Param, describe_path_param};
pub(crate) use flows::find as find_flow;
pub(crate) use input::{Body, Page, Payload, Peer, QueryMap, id as input_id};
pub(crate) use protocol::Registry;
pub(crate) use signals::emit_signal;

use super::auth::{Guard, guard};
use super::error::ApiError;
use super::server::AppState;

/// Every endpoint of the API, in the order of the OpenAPI document.
pub(crate) fn endpoints() -> Vec<Endpoint> {
    let mut all = Vec::new();
    all.extend(runs::endpoints());
    all.extend(jobs::endpoints());
    all.extend(failures::endpoints());
    all.extend(tasks::endpoints());
    all.extend(events::endpoints());
    all.extend(elves::endpoints());
    all.extend(ops::endpoints());
    all.extend(flows::endpoints());
    all.extend(signals::endpoints());
    all.extend(queues::endpoints());
    all.extend(schedules::endpoints());
    all.extend(protocol::endpoints());
    all.extend(super::sse::endpoints());
    all.extend(super::hooks::endpoints());
    all.extend(super::metrics::endpoints());
    all.extend(super::openapi::own_endpoints());
    all
}

/// The routes of every endpoint, each behind its scope's guard.
pub(crate) fn router(state: &AppState) -> Router<AppState> {
    let mut router = Router::new();
    for e in endpoints() {
        let handler = match e.scope {
            Some(scope) => {
                e.handler.layer(middleware::from_fn_with_state(Guard { auth: state.auth.clone(), scope }, guard))
            }
            None => e.handler,
        };
        router = router.route(e.path, handler);
    }
    router.method_not_allowed_fallback(method_not_allowed)
}

/// 404 for a path no endpoint serves.
pub(crate) async fn not_found(method: Method, uri: Uri) -> ApiError {
    ApiError::not_found(format!(
        "no endpoint serves {method} {} (the endpoints are listed in /api/openapi.json)",
        uri.path()
    ))
}

/// 405 for a path served with other methods.
async fn method_not_allowed(method: Method, uri: Uri) -> ApiError {
    let path = uri.path();
    let allowed: Vec<String> =
        endpoints().iter().filter(|e| endpoint::matches(e.path, path)).map(|e| e.method.to_string()).collect();
    let mut error = ApiError::new(
        axum::http::StatusCode::METHOD_NOT_ALLOWED,
        format!("{path} does not take {method}: use {} (see /api/openapi.json)", allowed.join(" or ")),
    );
    error.allow = allowed;
    error
}
