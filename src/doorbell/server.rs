//! The coordinator's side of the doorbell.

use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::sync::mpsc;

use crate::host;
use crate::model::InstanceId;
use crate::storage::{Departure, Store};

/// Where the coordinator listens.
#[derive(Clone, Debug, Default)]
pub(crate) struct ServerOptions {
    /// The unix socket beside the store, if any.
    pub unix: Option<PathBuf>,
    /// A TCP address for remote elves, if any.
    pub tcp: Option<String>,
    /// The token remote peers must present (none when empty).
    pub token: String,
}

/// Idle elves waiting for a wake, per elf name (FIFO): each connection's id,
/// its free slots, its line.
type Idle = Arc<Mutex<HashMap<String, VecDeque<(u64, u32, mpsc::UnboundedSender<&'static str>)>>>>;

/// The running doorbell.
#[derive(Debug)]
pub(crate) struct Server {
    idle: Idle,
}

impl Server {
    /// Starts listening; connections are served on the current runtime.
    pub(crate) async fn start(options: ServerOptions, store: Store) -> std::io::Result<Server> {
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
                    // A peer on this host: when its line closes without a
                    // goodbye and its process is gone, that is evidence of death.
                    let peer = s.peer_cred().ok().and_then(|c| c.pid()).and_then(|p| u32::try_from(p).ok());
                    let (r, w) = s.into_split();
                    tokio::spawn(serve(r, w, next, String::new(), peer, idle.clone(), store.clone()));
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
                    // A remote peer's closed line proves nothing: a network
                    // blip or a NAT timeout closes it too. Its jobs wait for
                    // their lease.
                    tokio::spawn(serve(r, w, next, token.clone(), None, idle.clone(), store.clone()));
                }
            });
        }
        Ok(Server { idle })
    }

    /// Wakes as many idle instances of `elf` as `n` new jobs need.
    pub(crate) fn ring(&self, elf: &str, n: u32) {
        wake(&self.idle, elf, n);
    }
}

/// Wakes idle instances of `elf`, longest idle first, until their free
/// slots cover `n` jobs (an instance that never said how many slots it has
/// counts for one job).
fn wake(idle: &Idle, elf: &str, n: u32) {
    let Ok(mut idle) = idle.lock() else { return };
    let Some(queue) = idle.get_mut(elf) else { return };
    let mut left = n;
    while left > 0 {
        let Some((_, free, tx)) = queue.pop_front() else { break };
        if tx.send("wake\n").is_ok() {
            left = left.saturating_sub(free.max(1));
        }
    }
}

/// Serves one connection: an elf's line, or a writer's rings. `peer` is
/// the process at the other end, when it is on this host.
async fn serve(
    reader: impl AsyncRead + Unpin,
    mut writer: impl AsyncWrite + Unpin + Send + 'static,
    id: u64,
    token: String,
    peer: Option<u32>,
    idle: Idle,
    store: Store,
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
    // Free slots, as the elf last said (`slots <n>`); 1 until it does.
    let mut free: u32 = 1;
    let mut said_bye = false;
    let mut lines = BufReader::new(reader).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        let parts: Vec<&str> = line.split(' ').collect();
        match parts.as_slice() {
            ["hello", t, elf, instance] if accepts(t) => {
                me = Some(((*elf).to_owned(), InstanceId((*instance).to_owned())))
            }
            ["slots", n] => free = n.parse().unwrap_or(1),
            ["idle"] => {
                if let Some((elf, _)) = &me
                    && let Ok(mut idle) = idle.lock()
                {
                    let queue = idle.entry(elf.clone()).or_default();
                    queue.retain(|(other, _, _)| *other != id);
                    queue.push_back((id, free, tx.clone()));
                }
            }
            ["bye"] => said_bye = true,
            ["ring", t, elf, n] if accepts(t) => wake(&idle, elf, n.parse().unwrap_or(1)),
            ["hello", ..] | ["ring", ..] => {
                tracing::warn!("doorbell: a peer presented a wrong token; closing its line");
                break;
            }
            _ => {
                // A newer peer's message: ignore it, keep the line.
                tracing::warn!(line, "doorbell: unknown message ignored");
            }
        }
    }
    if let Some((elf, instance)) = me {
        if let Ok(mut idle) = idle.lock()
            && let Some(q) = idle.get_mut(&elf)
        {
            q.retain(|(other, _, _)| *other != id);
        }
        if !said_bye && let Some(pid) = peer {
            // The line closed without a goodbye. Only a process that is gone
            // counts as dead: it may still be exiting (its socket closes
            // before it is reaped), so look for a little while.
            let mut dead = false;
            for _ in 0..20 {
                if !host::is_alive(pid, None) {
                    dead = true;
                    break;
                }
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
            if !dead {
                return;
            }
            let gone = store.call(move |s| s.elf_gone(&instance, Departure::Lost)).await;
            match gone {
                Ok(readied) => {
                    println!("elf {elf} (pid {pid}) died: its jobs were given back");
                    for (e, n) in readied {
                        wake(&idle, &e, n);
                    }
                }
                Err(e) => tracing::warn!("doorbell: could not give back a dead elf's jobs: {e}"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Ten new jobs wake two idle elves of eight free slots each, not ten
    /// elves; an elf that never said its slots counts for one job.
    #[test]
    fn a_ring_wakes_as_many_elves_as_the_jobs_need() {
        let idle: Idle = Arc::default();
        let mut rxs = Vec::new();
        {
            let mut q = idle.lock().expect("lock");
            let queue = q.entry("e".to_owned()).or_default();
            for (id, free) in [(1, 8), (2, 8), (3, 8), (4, 1)] {
                let (tx, rx) = mpsc::unbounded_channel();
                queue.push_back((id, free, tx));
                rxs.push(rx);
            }
        }
        wake(&idle, "e", 10);
        let woken: Vec<bool> = rxs.iter_mut().map(|rx| rx.try_recv().is_ok()).collect();
        assert_eq!(woken, vec![true, true, false, false]);
        wake(&idle, "e", 9);
        let woken: Vec<bool> = rxs.iter_mut().map(|rx| rx.try_recv().is_ok()).collect();
        assert_eq!(woken, vec![false, false, true, true]);
        wake(&idle, "other", 5);
        assert_eq!(idle.lock().expect("lock").get("e").map(VecDeque::len), Some(0));
    }
}
