//! Opening (or creating) an SQLite store, and the plumbing every call shares.

use std::fs::{File, OpenOptions};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use rusqlite::{Connection, ErrorCode, OpenFlags, Transaction, TransactionBehavior};

use super::{gate, schema};
use crate::storage::{Error, Limits, Result};

/// How hard SQLite pushes each commit to disk.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Synchronous {
    /// Durable against any process crash; after a power loss the store is
    /// consistent but may miss the last commits. The default.
    #[default]
    Normal,
    /// Durable against power loss too: an fsync per commit (6-10x slower).
    Full,
}

/// How to open an SQLite store.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// Commit durability.
    pub synchronous: Synchronous,
    /// Payload limits.
    pub limits: Limits,
}

/// The SQLite backend of the mycelium.
#[derive(Debug)]
pub struct SqliteStore {
    pub(super) path: PathBuf,
    pub(super) limits: Limits,
    writer: Mutex<Connection>,
    reader: Mutex<Connection>,
    gate: File,
}

const HEADER: &[u8; 16] = b"SQLite format 3\0";

impl SqliteStore {
    /// Opens the store at `path`, creating it when the file does not exist,
    /// and migrating it when an older build wrote it. Nothing is written when
    /// the file is not a mycelium store or comes from a newer build.
    pub fn open(path: impl AsRef<Path>, options: Options) -> Result<Self> {
        Self::open_at_version(path.as_ref(), options, schema::CURRENT)
    }

    /// Opens or creates the store, migrating it only up to `version`. For
    /// tests of migration; use [`SqliteStore::open`].
    #[doc(hidden)]
    pub fn open_at_version(path: &Path, options: Options, version: u32) -> Result<Self> {
        let path = path.to_path_buf();
        let exists = check_file(&path)?;
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
            | OpenFlags::SQLITE_OPEN_URI
            | if exists { OpenFlags::empty() } else { OpenFlags::SQLITE_OPEN_CREATE };
        let writer = Connection::open_with_flags(&path, flags).map_err(|e| open_error(&path, e))?;
        identify(&writer, &path, exists)?;
        configure(&writer, &options).map_err(|e| open_error(&path, e))?;
        let gate_path = gate_path(&path);
        let gate = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&gate_path)
            .map_err(|e| Error::Unwritable { path: gate_path.clone(), detail: e.to_string() })?;
        let store = Self {
            reader: Mutex::new(open_reader(&path)?),
            writer: Mutex::new(writer),
            gate,
            limits: options.limits,
            path,
        };
        store.migrate(version)?;
        Ok(store)
    }

    /// The schema version of the store.
    pub fn schema_version(&self) -> Result<u32> {
        let conn = self.reader();
        let v: i64 =
            conn.query_row("PRAGMA user_version", [], |r| r.get(0)).map_err(self.err("read the schema version"))?;
        Ok(u32::try_from(v).unwrap_or(0))
    }

    fn migrate(&self, target: u32) -> Result<()> {
        let found = self.schema_version()?;
        if found > schema::CURRENT {
            return Err(Error::NewerSchema {
                store: self.path.display().to_string(),
                found,
                supported: schema::CURRENT,
            });
        }
        if found >= target {
            return Ok(());
        }
        self.write("migrate the schema", |tx| {
            // Read again under the gate: another process may have migrated.
            let now: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
            let now = u32::try_from(now).unwrap_or(0);
            for (i, step) in schema::MIGRATIONS.iter().enumerate().take(target as usize).skip(now as usize) {
                tx.execute_batch(step)?;
                tx.pragma_update(None, "user_version", i as i64 + 1)?;
            }
            tx.pragma_update(None, "application_id", schema::APPLICATION_ID)?;
            Ok(())
        })
    }

    /// Runs `f` in a write transaction: the writer gate, then `BEGIN
    /// IMMEDIATE`, then `COMMIT`. On error nothing is written.
    pub(super) fn write<T>(&self, context: &str, f: impl FnOnce(&Transaction<'_>) -> Result<T>) -> Result<T> {
        let mut conn = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        let _held = gate::enter(&self.gate).map_err(|e| Error::Unavailable {
            store: self.path.display().to_string(),
            detail: format!("writer gate: {e}"),
        })?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(self.err(context))?;
        let out = f(&tx)?;
        tx.commit().map_err(self.err(context))?;
        Ok(out)
    }

    /// The read connection (WAL readers never block the writer).
    pub(super) fn reader(&self) -> MutexGuard<'_, Connection> {
        self.reader.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Maps a SQLite error met while doing `context` to a storage error.
    pub(super) fn err(&self, context: &str) -> impl Fn(rusqlite::Error) -> Error + '_ {
        let context = context.to_owned();
        move |e| classify(&self.path, &context, e)
    }

    /// Runs a passive checkpoint: moves committed pages from the WAL into the
    /// database without blocking writers or readers.
    pub(super) fn passive_checkpoint(&self) -> Result<()> {
        let conn = self.reader();
        conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())).map_err(self.err("checkpoint"))
    }
}

impl From<rusqlite::Error> for Error {
    fn from(e: rusqlite::Error) -> Self {
        Error::backend("run a statement", e)
    }
}

/// The gate file beside the store.
fn gate_path(path: &Path) -> PathBuf {
    let mut p = path.as_os_str().to_owned();
    p.push("-gate");
    PathBuf::from(p)
}

/// Checks the path before SQLite touches it. Returns whether the file exists.
fn check_file(path: &Path) -> Result<bool> {
    match std::fs::metadata(path) {
        Ok(m) if m.is_dir() => Err(Error::NotAStore { path: path.to_owned(), detail: "it is a directory".into() }),
        Ok(m) if m.len() == 0 => Ok(true),
        Ok(_) => {
            let mut head = [0u8; 16];
            let mut f =
                File::open(path).map_err(|e| Error::Unwritable { path: path.to_owned(), detail: e.to_string() })?;
            match f.read_exact(&mut head) {
                Ok(()) if &head == HEADER => Ok(true),
                _ => Err(Error::NotAStore { path: path.to_owned(), detail: "it is not an SQLite database".into() }),
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
            if !dir.is_dir() {
                return Err(Error::Unwritable {
                    path: path.to_owned(),
                    detail: format!("directory `{}` does not exist", dir.display()),
                });
            }
            Ok(false)
        }
        Err(e) => Err(Error::Unwritable { path: path.to_owned(), detail: e.to_string() }),
    }
}

/// Refuses SQLite databases that are not mycelium stores.
fn identify(conn: &Connection, path: &Path, existed: bool) -> Result<()> {
    if !existed {
        return Ok(());
    }
    let app: i64 = conn.query_row("PRAGMA application_id", [], |r| r.get(0)).map_err(|e| open_error(path, e))?;
    let tables: i64 =
        conn.query_row("SELECT count(*) FROM sqlite_schema", [], |r| r.get(0)).map_err(|e| open_error(path, e))?;
    if app != schema::APPLICATION_ID && tables > 0 {
        return Err(Error::NotAStore {
            path: path.to_owned(),
            detail: format!(
                "it is an SQLite database of another application (application_id {app:#x}, {tables} schema objects)"
            ),
        });
    }
    Ok(())
}

fn configure(conn: &Connection, options: &Options) -> rusqlite::Result<()> {
    conn.busy_timeout(Duration::from_secs(10))?;
    let mode: String = conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        // WAL needs shared memory beside the file (not NFS, not some
        // network or FUSE filesystems); without it several processes
        // cannot share the store safely.
        return Err(rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CANTOPEN),
            Some(format!(
                "the filesystem refused write-ahead logging (journal mode stayed `{mode}`): put the store on a local disk"
            )),
        ));
    }
    conn.pragma_update(
        None,
        "synchronous",
        match options.synchronous {
            Synchronous::Normal => "NORMAL",
            Synchronous::Full => "FULL",
        },
    )?;
    // Checkpoints run off the hot path (the coordinator, or `checkpoint`);
    // this large automatic one only bounds the WAL when nobody runs them.
    conn.pragma_update(None, "wal_autocheckpoint", 20_000)?;
    conn.pragma_update(None, "foreign_keys", false)?;
    conn.pragma_update(None, "cache_size", -65_536)?;
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    conn.set_prepared_statement_cache_capacity(64);
    stable_plans(conn)?;
    Ok(())
}

/// Keeps SQLite from recompiling cached statements whenever a bound value
/// changes (without it, 41% of the hot path's instructions went to
/// re-preparing the claim and completion statements: rusqlite clears the
/// bindings of a cached statement, so every bind counted as a change).
fn stable_plans(conn: &Connection) -> rusqlite::Result<()> {
    conn.set_db_config(rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)?;
    Ok(())
}

fn open_reader(path: &Path) -> Result<Connection> {
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX)
        .map_err(|e| open_error(path, e))?;
    conn.busy_timeout(Duration::from_secs(10)).map_err(|e| open_error(path, e))?;
    conn.pragma_update(None, "cache_size", -65_536).map_err(|e| open_error(path, e))?;
    conn.set_prepared_statement_cache_capacity(64);
    stable_plans(&conn).map_err(|e| open_error(path, e))?;
    Ok(conn)
}

fn open_error(path: &Path, e: rusqlite::Error) -> Error {
    classify(path, "open the store", e)
}

/// The one place SQLite's error codes become storage errors.
fn classify(path: &Path, context: &str, e: rusqlite::Error) -> Error {
    let code = e.sqlite_error_code();
    let detail = e.to_string();
    match code {
        Some(ErrorCode::NotADatabase) => Error::NotAStore { path: path.to_owned(), detail },
        Some(ErrorCode::DatabaseCorrupt) => Error::Corrupt { path: path.to_owned(), detail },
        Some(ErrorCode::CannotOpen | ErrorCode::ReadOnly | ErrorCode::PermissionDenied) => {
            Error::Unwritable { path: path.to_owned(), detail }
        }
        Some(
            ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked | ErrorCode::DiskFull | ErrorCode::SystemIoFailure,
        ) => Error::Unavailable { store: path.display().to_string(), detail: format!("{context}: {detail}") },
        _ => Error::backend(context.to_owned(), e),
    }
}
