//! The elf's and the writer's side of the doorbell.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::sync::{Notify, mpsc, oneshot};

use crate::storage::{Readied, Store};

/// Where the coordinator's doorbell is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Endpoint {
    /// A unix socket beside the store.
    Unix(PathBuf),
    /// A TCP address, with the shared token (empty when none).
    Tcp(String, String),
}

impl Endpoint {
    /// The doorbell for `store`: `MYCELIUM_DOORBELL=host:port` (token in
    /// `MYCELIUM_DOORBELL_TOKEN`) when set, else the unix socket the backend
    /// names beside a local store.
    pub(crate) fn for_store(store: &Store) -> Option<Endpoint> {
        if let Ok(addr) = std::env::var("MYCELIUM_DOORBELL")
            && !addr.is_empty()
        {
            return Some(Endpoint::Tcp(addr, std::env::var("MYCELIUM_DOORBELL_TOKEN").unwrap_or_default()));
        }
        store.describe().doorbell.clone().map(Endpoint::Unix)
    }

    fn token(&self) -> &str {
        match self {
            Endpoint::Unix(_) => "-",
            Endpoint::Tcp(_, t) if t.is_empty() => "-",
            Endpoint::Tcp(_, t) => t,
        }
    }
}

/// Rings the doorbell once for `readied` (best effort, blocking, quick):
/// for drivers and the command line after a commit.
pub(crate) fn ring(endpoint: &Endpoint, readied: &Readied) {
    if readied.is_empty() {
        return;
    }
    let mut text = String::new();
    for (elf, n) in readied {
        text.push_str(&format!("ring {} {elf} {n}\n", endpoint.token()));
    }
    let _ = match endpoint {
        Endpoint::Unix(path) => {
            std::os::unix::net::UnixStream::connect(path).and_then(|mut s| s.write_all(text.as_bytes()))
        }
        Endpoint::Tcp(addr, _) => std::net::TcpStream::connect(addr).and_then(|mut s| {
            s.set_write_timeout(Some(Duration::from_millis(200)))?;
            s.write_all(text.as_bytes())
        }),
    };
}

/// A line to send, and whom to tell once it was flushed (the last one).
type Line = (String, Option<oneshot::Sender<()>>);

/// An elf's open line to the coordinator.
#[derive(Debug, Clone)]
pub(crate) struct Bell {
    out: mpsc::UnboundedSender<Line>,
    woken: Arc<Notify>,
    token: String,
}

impl Bell {
    /// Connects as elf `elf` instance `instance`; `None` when no coordinator
    /// listens (the elf then relies on polling and tries again later).
    pub(crate) async fn connect(endpoint: &Endpoint, elf: &str, instance: &str) -> Option<Bell> {
        let (reader, writer): (
            Box<dyn tokio::io::AsyncRead + Send + Unpin>,
            Box<dyn tokio::io::AsyncWrite + Send + Unpin>,
        ) = match endpoint {
            Endpoint::Unix(path) => {
                let s = tokio::net::UnixStream::connect(path).await.ok()?;
                let (r, w) = s.into_split();
                (Box::new(r), Box::new(w))
            }
            Endpoint::Tcp(addr, _) => {
                let s = tokio::time::timeout(Duration::from_secs(2), tokio::net::TcpStream::connect(addr))
                    .await
                    .ok()?
                    .ok()?;
                let _ = s.set_nodelay(true);
                let (r, w) = s.into_split();
                (Box::new(r), Box::new(w))
            }
        };
        let (out, mut rx) = mpsc::unbounded_channel::<Line>();
        let woken = Arc::new(Notify::new());
        let token = endpoint.token().to_owned();
        let _ = out.send((format!("hello {token} {elf} {instance}\n"), None));
        tokio::spawn(async move {
            let mut writer = writer;
            while let Some((line, flushed)) = rx.recv().await {
                if writer.write_all(line.as_bytes()).await.is_err() {
                    break;
                }
                if let Some(done) = flushed {
                    // The last line: make sure it left before saying so.
                    let _ = writer.flush().await;
                    let _ = writer.shutdown().await;
                    let _ = done.send(());
                    break;
                }
            }
        });
        let w = woken.clone();
        tokio::spawn(async move {
            let mut lines = BufReader::new(reader).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                if line == "wake" {
                    w.notify_one();
                }
            }
        });
        Some(Bell { out, woken, token })
    }

    /// Whether the line is still open.
    pub(crate) fn is_open(&self) -> bool {
        !self.out.is_closed()
    }

    /// Tells the coordinator this elf has `free` slots and found no work
    /// (`slots <free>` first: a coordinator that does not know it ignores
    /// it and wakes the elf per job, as before).
    pub(crate) fn idle(&self, free: u32) {
        let _ = self.out.send((format!("slots {free}\nidle\n"), None));
    }

    /// Rings for jobs a commit made ready.
    pub(crate) fn ring(&self, readied: &Readied) {
        for (elf, n) in readied {
            let _ = self.out.send((format!("ring {} {elf} {n}\n", self.token), None));
        }
    }

    /// Says goodbye (a clean shutdown, not a death) and closes the line,
    /// returning once the goodbye has been written (or after a second).
    pub(crate) async fn bye(&self) {
        let (done, flushed) = oneshot::channel();
        if self.out.send(("bye\n".to_owned(), Some(done))).is_ok() {
            let _ = tokio::time::timeout(Duration::from_secs(1), flushed).await;
        }
    }

    /// Resolves when the coordinator wakes this elf.
    pub(crate) async fn woken(&self) {
        self.woken.notified().await;
    }
}
