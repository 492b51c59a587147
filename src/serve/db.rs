//! The server's one door to the store. Every read and write of `mycelium
//! serve` is a closure over the store's public methods run here, on a
//! blocking thread (the store's calls block), timed for `/metrics`. Porting
//! the server onto another store handle changes this file only.

use std::sync::Arc;
use std::time::Instant;

use super::error::{ApiError, ApiResult};
use super::metrics::Metrics;
use crate::storage::{self, Store};

/// The store, as the server uses it.
#[derive(Clone, Debug)]
pub(crate) struct Db {
    store: Store,
    metrics: Arc<Metrics>,
}

impl Db {
    pub(crate) fn new(store: Store, metrics: Arc<Metrics>) -> Self {
        Self { store, metrics }
    }

    /// Runs `f` against the store on a blocking thread; `what` names the
    /// operation in metrics and traces.
    pub(crate) async fn call<T, E>(
        &self,
        what: &'static str,
        f: impl FnOnce(&Store) -> Result<T, E> + Send + 'static,
    ) -> ApiResult<T>
    where
        T: Send + 'static,
        E: Into<ApiError> + Send + 'static,
    {
        let store = self.store.clone();
        let metrics = self.metrics.clone();
        let span = tracing::Span::current();
        let joined = tokio::task::spawn_blocking(move || {
            let _entered = span.enter();
            let started = Instant::now();
            let out = f(&store);
            metrics.store_call(what, started.elapsed());
            out
        })
        .await;
        match joined {
            Ok(out) => out.map_err(Into::into),
            Err(e) => Err(ApiError::internal(format!("the store call `{what}` ended abnormally: {e}"))),
        }
    }

    /// Like [`Db::call`] for store methods that return the store's own errors.
    pub(crate) async fn run<T: Send + 'static>(
        &self,
        what: &'static str,
        f: impl FnOnce(&Store) -> storage::Result<T> + Send + 'static,
    ) -> ApiResult<T> {
        self.call(what, f).await
    }
}
