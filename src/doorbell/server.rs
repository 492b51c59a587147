//! The coordinator's side of the doorbell.

use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::sync::mpsc;

use crate::model::InstanceId;
use crate::storage::Store;

/// Where the coordinator listens.
#[derive(Clone, Debug, Default)]
pub struct ServerOptions {
    /// The unix socket beside the store, if any.
    pub unix: Option<PathBuf>,
    /// A TCP address for remote elves, if any.
    pub tcp: Option<String>,
    /// The token remote peers must present (none when empty).
    pub token: String,
}

/// Idle elves waiting for a wake, per elf name (FIFO).
type Idle = Arc<Mutex<HashMap<String, VecDeque<(u64, mpsc::UnboundedSender<&'static str>)>>>>;

/// The running doorbell.
#[derive(Debug)]
pub struct Server {
    idle: Idle,
}

impl Server {
    /// Starts listening; connections are served on the current runtime.
    pub async fn start(options: ServerOptions, store: Arc<dyn Store>) -> std::io::Result<Server> {
        let idle: Idle = Arc::default();
        if let Some(path) = &options.unix {
            // A socket file left by a dead coordinator would refuse the bind.
            if std::os::unix::net::UnixStream::connect(path).is_err() {
                let _ = std::fs::remove_file(path);
            }
            let listener = tokio::net::UnixListener::bind(path)?;
            let (idle, store) = (idle.clone(), store.clone());
            tokio::spawn(async move {
                let mut next = 0u64;
                while let Ok((s, _)) = listener.accept().await {
                    next += 1;
                    let (r, w) = s.into_split();
                    tokio::spawn(serve(r, w, next, String::new(), idle.clone(), store.clone()));
                }
            });
        }
        if let Some(addr) = &options.tcp {
            let listener = tokio::net::TcpListener::bind(addr).await?;
            let (idle, store, token) = (idle.clone(), store.clone(), options.token.clone());
            tokio::spawn(async move {
                let mut next = 1u64 << 40;
                while let Ok((s, _)) = listener.accept().await {
                    next += 1;
                    let _ = s.set_nodelay(true);
                    let (r, w) = s.into_split();
                    tokio::spawn(serve(r, w, next, token.clone(), idle.clone(), store.clone()));
                }
            });
        }
        Ok(Server { idle })
    }

    /// Wakes up to `n` idle instances of `elf`.
    pub fn ring(&self, elf: &str, n: u32) {
        wake(&self.idle, elf, n);
    }
}

fn wake(idle: &Idle, elf: &str, n: u32) {
    let Ok(mut idle) = idle.lock() else { return };
    let Some(queue) = idle.get_mut(elf) else { return };
    let mut woken = 0;
    while woken < n {
        let Some((_, tx)) = queue.pop_front() else { break };
        if tx.send("wake\n").is_ok() {
            woken += 1;
        }
    }
}

/// Serves one connection: an elf's line, or a writer's rings.
async fn serve(
    reader: impl AsyncRead + Unpin,
    mut writer: impl AsyncWrite + Unpin + Send + 'static,
    id: u64,
    token: String,
    idle: Idle,
    store: Arc<dyn Store>,
) {
    let (tx, mut rx) = mpsc::unbounded_channel::<&'static str>();
    tokio::spawn(async move {
        while let Some(msg) = rx.recv().await {
            if writer.write_all(msg.as_bytes()).await.is_err() {
                break;
            }
        }
    });
    let accepts = |t: &str| token.is_empty() || t == token;
    let mut me: Option<(String, InstanceId)> = None;
    let mut said_bye = false;
    let mut lines = BufReader::new(reader).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        let parts: Vec<&str> = line.split(' ').collect();
        match parts.as_slice() {
            ["hello", t, elf, instance] if accepts(t) => {
                me = Some(((*elf).to_owned(), InstanceId((*instance).to_owned())))
            }
            ["idle"] => {
                if let Some((elf, _)) = &me
                    && let Ok(mut idle) = idle.lock()
                {
                    let queue = idle.entry(elf.clone()).or_default();
                    queue.retain(|(other, _)| *other != id);
                    queue.push_back((id, tx.clone()));
                }
            }
            ["bye"] => said_bye = true,
            ["ring", t, elf, n] if accepts(t) => wake(&idle, elf, n.parse().unwrap_or(1)),
            _ => {
                tracing::warn!(line, "doorbell: unknown or unauthorized message; closing");
                break;
            }
        }
    }
    if let Some((elf, instance)) = me {
        if let Ok(mut idle) = idle.lock()
            && let Some(q) = idle.get_mut(&elf)
        {
            q.retain(|(other, _)| *other != id);
        }
        if !said_bye {
            // The process died (or lost its connection): expire its leases now.
            let readied = tokio::task::spawn_blocking(move || store.elf_gone(&instance, true)).await;
            match readied {
                Ok(Ok(readied)) => {
                    println!("elf {elf} instance {} closed its doorbell without goodbye: its jobs were expired", id);
                    for (e, n) in readied {
                        wake(&idle, &e, n);
                    }
                }
                Ok(Err(e)) => tracing::warn!("doorbell: could not expire a lost elf's jobs: {e}"),
                Err(e) => tracing::warn!("doorbell: {e}"),
            }
        }
    }
}
