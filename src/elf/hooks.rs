//! An elf's lifecycle hooks and long-running servers: `on_start` hooks run
//! after the elf registered and before it claims anything; servers (an HTTP
//! endpoint, a socket listener, ...) run beside the claim loop, supervised:
//! one that crashes (an error or a panic) is recorded in the mycelium and
//! stops the elf cleanly (it drains, gives back what it holds, exits 1); one
//! that ends by itself stops it too (exit 0). `on_stop` hooks run on SIGTERM
//! after the elf has drained, before it exits.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::agent::Bus;
use crate::model::InstanceId;
use crate::storage::Store;

/// A hook's or a server's error.
pub type HookError = Box<dyn std::error::Error + Send + Sync>;

type HookFuture = Pin<Box<dyn Future<Output = Result<(), HookError>> + Send>>;
type HookFn = Arc<dyn Fn(Hook) -> HookFuture + Send + Sync>;

/// What a hook or a server is given: the store, who the elf is, and a way to
/// learn that it is stopping.
#[derive(Clone, Debug)]
pub struct Hook {
    store: Store,
    elf: String,
    instance: InstanceId,
    stopping: watch::Receiver<bool>,
}

impl Hook {
    /// The store the elf serves.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// A bus for emitting signals and sending messages.
    pub fn bus(&self) -> Bus {
        Bus::new(self.store.clone())
    }

    /// The elf's name.
    pub fn elf(&self) -> &str {
        &self.elf
    }

    /// This instance.
    pub fn instance(&self) -> &InstanceId {
        &self.instance
    }

    /// Resolves when the elf is stopping: a server should return then.
    pub async fn stopping(&mut self) {
        while !*self.stopping.borrow_and_update() {
            if self.stopping.changed().await.is_err() {
                return;
            }
        }
    }
}

/// An elf's hooks and servers, in declaration order.
#[derive(Clone, Default)]
pub(super) struct Hooks {
    pub(super) on_start: Vec<(String, HookFn)>,
    pub(super) on_stop: Vec<(String, HookFn)>,
    pub(super) servers: Vec<(String, HookFn)>,
}

impl std::fmt::Debug for Hooks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names = |v: &Vec<(String, HookFn)>| v.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>();
        f.debug_struct("Hooks")
            .field("on_start", &names(&self.on_start))
            .field("on_stop", &names(&self.on_stop))
            .field("servers", &names(&self.servers))
            .finish()
    }
}

/// Boxes a hook.
pub(super) fn hook<F, Fut, E>(f: F) -> HookFn
where
    F: Fn(Hook) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), E>> + Send + 'static,
    E: Into<HookError>,
{
    Arc::new(move |h| {
        let fut = f(h);
        Box::pin(async move { fut.await.map_err(Into::into) })
    })
}

/// Runs `f`, turning a panic into an error.
async fn guarded(f: &HookFn, h: Hook) -> Result<(), String> {
    let fut = match super::panic::catch(|| f(h)) {
        Ok(fut) => fut,
        Err(p) => return Err(format!("panicked: {}", super::panic::message_of(&*p))),
    };
    // A panic while polling ends the spawned task; it comes back as a join error.
    match tokio::spawn(fut).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => {
            let mut text = e.to_string();
            let mut source = e.source();
            while let Some(s) = source {
                text.push_str(&format!(": {s}"));
                source = s.source();
            }
            Err(text)
        }
        Err(join) => Err(match join.try_into_panic() {
            Ok(p) => format!("panicked: {}", super::panic::message_of(&*p)),
            Err(e) => e.to_string(),
        }),
    }
}

/// The hooks' side of a running elf.
pub(super) struct Supervisor {
    hook: Hook,
    stop_tx: watch::Sender<bool>,
    ended_rx: tokio::sync::mpsc::UnboundedReceiver<(String, Result<(), String>)>,
    ended_tx: tokio::sync::mpsc::UnboundedSender<(String, Result<(), String>)>,
    running: Vec<(String, tokio::task::JoinHandle<()>)>,
    /// The first server that ended, and how.
    pub(super) ended: Option<(String, Result<(), String>)>,
}

impl Supervisor {
    pub(super) fn new(store: Store, elf: &str, instance: InstanceId) -> Self {
        let (stop_tx, stopping) = watch::channel(false);
        let (ended_tx, ended_rx) = tokio::sync::mpsc::unbounded_channel();
        Self {
            hook: Hook { store, elf: elf.to_owned(), instance, stopping },
            stop_tx,
            ended_rx,
            ended_tx,
            running: Vec::new(),
            ended: None,
        }
    }

    /// Runs hooks one after the other; the first failure is returned with
    /// the hook's name.
    pub(super) async fn run(&self, hooks: &[(String, HookFn)]) -> Result<(), (String, String)> {
        for (name, f) in hooks {
            guarded(f, self.hook.clone()).await.map_err(|e| (name.clone(), e))?;
        }
        Ok(())
    }

    /// Starts the servers.
    pub(super) fn start(&mut self, servers: &[(String, HookFn)]) {
        for (name, f) in servers {
            let (name, f, h, tx) = (name.clone(), f.clone(), self.hook.clone(), self.ended_tx.clone());
            let n = name.clone();
            self.running.push((
                name,
                tokio::spawn(async move {
                    let out = guarded(&f, h).await;
                    let _ = tx.send((n, out));
                }),
            ));
        }
    }

    /// Resolves when a server ends (never, without servers).
    pub(super) async fn server_ended(&mut self) {
        if self.running.is_empty() {
            return std::future::pending().await;
        }
        if let Some(e) = self.ended_rx.recv().await {
            self.ended.get_or_insert(e);
        }
    }

    /// Tells the servers to stop and waits up to `grace` for them (the rest
    /// are aborted).
    pub(super) async fn stop_servers(&mut self, grace: Duration) {
        let _ = self.stop_tx.send(true);
        let deadline = tokio::time::Instant::now() + grace;
        for (name, handle) in std::mem::take(&mut self.running) {
            let abort = handle.abort_handle();
            if tokio::time::timeout_at(deadline, handle).await.is_err() {
                abort.abort();
                tracing::warn!(server = %name, "server did not stop within the grace period: aborted");
            }
        }
        // A server that crashes while stopping crashed; one that returns
        // then did as asked.
        while let Ok((name, out)) = self.ended_rx.try_recv() {
            if out.is_err() {
                self.ended.get_or_insert((name, out));
            }
        }
    }
}
