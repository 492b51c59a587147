//! The server: options, shared state, the router and the listener.

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::middleware::{self, Next};
use axum::response::Response;

use super::auth::Auth;
use super::db::Db;
use super::hooks::Hooks;
use super::metrics::Metrics;
use super::sse::Feed;
use super::{api, assets};
use crate::doorbell::{self, Endpoint};
use crate::storage::{Readied, Store};

/// How `mycelium serve` runs.
#[derive(Clone, Debug)]
pub struct Options {
    /// The address to listen on (port 0 picks a free one; the ready line
    /// names it).
    pub listen: SocketAddr,
    /// Let requests from a loopback address in without a token, with the
    /// operator scope. Anything else still needs a token.
    pub allow_loopback_without_token: bool,
    /// The webhook configuration file (JSON), if any.
    pub hooks: Option<PathBuf>,
    /// The largest request body accepted, in bytes.
    pub max_body: usize,
    /// How often the event tail looks for new commits.
    pub poll: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 7070)),
            allow_loopback_without_token: false,
            hooks: None,
            max_body: 16 * 1024 * 1024 + 64 * 1024,
            poll: Duration::from_millis(5),
        }
    }
}

/// What every handler shares.
#[derive(Clone, Debug)]
pub(crate) struct AppState {
    pub(crate) db: Db,
    pub(crate) auth: Arc<Auth>,
    pub(crate) hooks: Arc<Hooks>,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) feed: Feed,
    pub(crate) registry: Arc<api::Registry>,
    doorbell: Option<Endpoint>,
}

impl AppState {
    /// Rings the coordinator's doorbell for jobs a write made ready, so that
    /// idle native elves wake at once (best effort).
    pub(crate) fn ring(&self, readied: Readied) {
        if let Some(endpoint) = self.doorbell.clone()
            && !readied.is_empty()
        {
            tokio::task::spawn_blocking(move || doorbell::ring(&endpoint, &readied));
        }
    }
}

/// Serves the API, the event stream, the hooks, the metrics and the
/// dashboard on `options.listen` until `shutdown` resolves. Prints one
/// `mycelium serve ready on http://ADDR` line once it listens.
pub async fn serve(
    store: Store,
    options: Options,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let hooks = match &options.hooks {
        Some(path) => Hooks::load(path)?,
        None => Hooks::default(),
    };
    let metrics = Arc::new(Metrics::default());
    let db = Db::new(store.clone(), metrics.clone());
    let feed = Feed::start(db.clone(), metrics.clone(), options.poll).await?;
    let state = AppState {
        auth: Arc::new(Auth::new(db.clone(), options.allow_loopback_without_token)),
        hooks: Arc::new(hooks),
        doorbell: Endpoint::for_store(&store),
        registry: Arc::default(),
        db,
        metrics,
        feed,
    };
    let app = router(state, options.max_body);
    let listener = tokio::net::TcpListener::bind(options.listen).await.with_context(|| {
        format!("listen on {} (is another server using it? pick another with --listen)", options.listen)
    })?;
    let addr = listener.local_addr().context("read the listening address")?;
    println!("mycelium serve ready on http://{addr} (store {})", store.url());
    axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(shutdown)
        .await
        .context("serve HTTP")
}

/// The whole application.
pub(crate) fn router(state: AppState, max_body: usize) -> Router {
    Router::new()
        .merge(api::router(&state))
        .merge(assets::router())
        .fallback(api::not_found)
        .layer(DefaultBodyLimit::max(max_body))
        .layer(middleware::from_fn_with_state(state.clone(), trace))
        .with_state(state)
}

/// One span per request, with its method, path and status.
async fn trace(State(state): State<AppState>, request: Request, next: Next) -> Response {
    use tracing::Instrument;
    let span = tracing::info_span!(
        "request",
        method = %request.method(),
        path = %request.uri().path(),
        status = tracing::field::Empty
    );
    let started = std::time::Instant::now();
    let response = next.run(request).instrument(span.clone()).await;
    span.record("status", response.status().as_u16());
    state.metrics.request(response.status().as_u16(), started.elapsed());
    response
}
