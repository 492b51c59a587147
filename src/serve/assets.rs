//! The dashboard: plain HTML, CSS and JavaScript modules committed under
//! `assets/` and embedded in the binary, so that users need no build step
//! and browsers fetch nothing from elsewhere. Every page path serves the
//! same `index.html`; the script renders the page from the API.

use axum::Router;
use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::server::AppState;

/// The files under `assets/`: name, media type, content.
const FILES: &[(&str, &str, &str)] = &[
    ("app.js", "text/javascript", include_str!("assets/app.js")),
    ("api.js", "text/javascript", include_str!("assets/api.js")),
    ("pages.js", "text/javascript", include_str!("assets/pages.js")),
    ("graph.js", "text/javascript", include_str!("assets/graph.js")),
    ("failure.js", "text/javascript", include_str!("assets/failure.js")),
    ("agents.js", "text/javascript", include_str!("assets/agents.js")),
    ("style.css", "text/css", include_str!("assets/style.css")),
];

const INDEX: &str = include_str!("assets/index.html");

/// The dashboard's pages.
const PAGES: &[&str] = &[
    "/",
    "/runs",
    "/runs/{run}",
    "/jobs/{job}",
    "/failures",
    "/failures/{failure}",
    "/elves",
    "/tasks",
    "/tasks/{elf}/{task}",
    "/flows",
    "/flows/{flow}",
    "/signals",
    "/queues",
    "/queues/{queue}",
    "/schedules",
];

pub(crate) fn router() -> Router<AppState> {
    let mut router = Router::new().route("/assets/{file}", get(asset));
    for page in PAGES {
        router = router.route(page, get(index));
    }
    router
}

async fn index() -> Response {
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8"), (header::CACHE_CONTROL, "no-cache")], INDEX).into_response()
}

async fn asset(Path(file): Path<String>) -> Response {
    match FILES.iter().find(|(name, _, _)| *name == file) {
        Some((_, media, body)) => {
            ([(header::CONTENT_TYPE, *media), (header::CACHE_CONTROL, "no-cache")], *body).into_response()
        }
        None => (StatusCode::NOT_FOUND, format!("no dashboard file is named `{file}`")).into_response(),
    }
}
