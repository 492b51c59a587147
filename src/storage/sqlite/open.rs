//! Opening (or creating) an SQLite store, and the plumbing every call shares.

use std::fs::{File, OpenOptions};
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use rusqlite::{Connection, ErrorCode, OpenFlags, TransactionBehavior};

use super::sql::Sql;
use super::{gate, schema};
use crate::storage::registry::OpenMode;
use crate::storage::seam::{Backend, Description, Locality, Read, Reclaimed, Tx};
use crate::storage::{Error, Limits, Result};

/// How hard SQLite pushes each commit to disk.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub(crate) enum Synchronous {
    /// Durable against any process crash; after a power loss the store is
    /// consistent but may miss the last commits. The default.
    #[default]
    Normal,
    /// Durable against power loss too: an fsync per commit (6-10x slower).
    Full,
}

/// How to open an SQLite store.
#[derive(Clone, Debug, Default)]
pub(crate) struct Options {
    /// Commit durability.
    pub synchronous: Synchronous,
    /// Payload limits.
    pub limits: Limits,
}

/// The SQLite backend of the mycelium.
#[derive(Debug)]
pub(crate) struct SqliteBackend {
    pub(super) path: PathBuf,
    description: Description,
    writer: Mutex<Connection>,
    reader: Mutex<Connection>,
    gate: File,
}

const HEADER: &[u8; 16] = b"SQLite format 3\0";

impl SqliteBackend {
    /// Opens the store at `path`, creating it when the file does not exist
    /// and `mode` allows, and migrating it when an older build wrote it.
    /// Nothing is written when the file is not a mycelium store, comes from
    /// a newer build, or does not exist and may not be created.
    pub(crate) fn open(path: &Path, options: Options, mode: OpenMode) -> Result<Self> {
        Self::open_at_version(path, options, mode, schema::CURRENT)
    }

    /// Opens or creates the store, migrating it only up to `version`. For
    /// tests of migration.
    pub(crate) fn open_at_version(path: &Path, options: Options, mode: OpenMode, version: u32) -> Result<Self> {
        let path = path.to_path_buf();
        let exists = check_file(&path)?;
        if !exists && mode == OpenMode::Existing {
            return Err(Error::NoStore { store: format!("sqlite://{}", path.display()) });
        }
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
            | OpenFlags::SQLITE_OPEN_URI
            | if exists { OpenFlags::empty() } else { OpenFlags::SQLITE_OPEN_CREATE };
        let writer = Connection::open_with_flags(&path, flags).map_err(|e| open_error(&path, e))?;
        // Wait for other processes before the first read: one may be
        // creating the store or switching it to write-ahead logging.
        writer.busy_timeout(BUSY).map_err(|e| open_error(&path, e))?;
        // Identify the file before anything could change it: a foreign or
        // newer store is refused byte for byte as it was.
        patiently(|| identify(&writer, &path, exists))?;
        if !exists {
            // Before the first table and the switch to WAL (which writes the
            // file's first page): deleted data can then go back to the
            // filesystem page by page (`mycelium gc`), with no full rewrite.
            // A no-op if a racing process made the tables first.
            patiently(|| writer.pragma_update(None, "auto_vacuum", "INCREMENTAL").map_err(|e| open_error(&path, e)))?;
        }
        patiently(|| configure(&writer, &options).map_err(|e| open_error(&path, e)))?;
        let gate_path = gate_path(&path);
        let gate = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&gate_path)
            .map_err(|e| Error::Unwritable { path: gate_path.clone(), detail: e.to_string() })?;
        let mut doorbell = path.as_os_str().to_owned();
        doorbell.push(".sock");
        let description = Description {
            url: format!("sqlite://{}", path.display()),
            scheme: "sqlite",
            locality: Locality::Local,
            doorbell: Some(PathBuf::from(doorbell)),
            poll: (Duration::from_millis(10), Duration::from_millis(10)),
            lease: Duration::from_secs(10),
            limits: options.limits,
        };
        let store =
            Self { reader: Mutex::new(open_reader(&path)?), writer: Mutex::new(writer), gate, description, path };
        store.migrate(version)?;
        Ok(store)
    }

    /// The schema version of the store.
    pub(crate) fn schema_version(&self) -> Result<u32> {
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
        self.transaction("migrate the schema", |conn| {
            // Read again under the gate: another process may have migrated.
            let now: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
            let now = u32::try_from(now).unwrap_or(0);
            for (i, step) in schema::MIGRATIONS.iter().enumerate().take(target as usize).skip(now as usize) {
                conn.execute_batch(step)?;
                conn.pragma_update(None, "user_version", i as i64 + 1)?;
            }
            conn.pragma_update(None, "application_id", schema::APPLICATION_ID)?;
            Ok(())
        })
        .map_err(self.err("migrate the schema"))
    }

    /// Runs raw SQL in one write transaction (migrations).
    fn transaction(&self, context: &str, f: impl FnOnce(&Connection) -> rusqlite::Result<()>) -> rusqlite::Result<()> {
        let mut conn = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        let _held = gate::enter(&self.gate).map_err(|e| {
            rusqlite::Error::SqliteFailure(
                rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_BUSY),
                Some(format!("{context}: writer gate: {e}")),
            )
        })?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        f(&tx)?;
        tx.commit()
    }

    /// The read connection (WAL readers never block the writer).
    pub(super) fn reader(&self) -> MutexGuard<'_, Connection> {
        self.reader.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// `conn`'s data version, which SQLite moves for other connections'
    /// commits.
    fn data_version(&self, conn: &Connection) -> Result<i64> {
        conn.query_row("PRAGMA data_version", [], |r| r.get(0)).map_err(self.err("read the data version"))
    }

    /// Maps a SQLite error met while doing `context` to a storage error.
    pub(super) fn err(&self, context: &str) -> impl Fn(rusqlite::Error) -> Error + '_ {
        let context = context.to_owned();
        move |e| classify(&self.path, &context, e)
    }
}

impl Backend for SqliteBackend {
    fn describe(&self) -> &Description {
        &self.description
    }

    fn read(&self, body: &mut dyn FnMut(&mut dyn Read) -> Result<()>) -> Result<()> {
        let conn = self.reader();
        // One snapshot for the whole body.
        conn.execute_batch("BEGIN DEFERRED").map_err(self.err("begin a read"))?;
        let out = body(&mut Sql::new(&conn, &self.path));
        let end = conn.execute_batch("COMMIT").map_err(self.err("end a read"));
        out.and(end)
    }

    /// The writer gate, then `BEGIN IMMEDIATE`, the body, `COMMIT`. On error
    /// nothing is written.
    fn write(&self, what: &'static str, body: &mut dyn FnMut(&mut dyn Tx) -> Result<()>) -> Result<()> {
        let mut conn = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        let _held = gate::enter(&self.gate).map_err(|e| Error::Unavailable {
            store: self.path.display().to_string(),
            detail: format!("writer gate: {e}"),
        })?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(self.err(what))?;
        body(&mut Sql::new(&tx, &self.path))?;
        tx.commit().map_err(self.err(what))
    }

    fn change_counter(&self) -> Result<i64> {
        self.data_version(&self.reader())
    }

    /// The writer connection's data version: SQLite moves it for commits of
    /// other connections only, so this handle's own writes leave it as it
    /// was (the reader's moves for those too).
    fn others_change_counter(&self) -> Result<i64> {
        self.data_version(&self.writer.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// Frees at most `max_pages` of the pages deleted data left (an
    /// incremental vacuum step); once none is left, checkpoints so that the
    /// file shrinks. A store created before incremental vacuuming existed
    /// needs one full rewrite first.
    fn reclaim(&self, max_pages: u32) -> Result<Reclaimed> {
        if self
            .reader()
            .query_row("PRAGMA freelist_count", [], |r| r.get::<_, i64>(0))
            .map_err(self.err("read the free pages"))?
            == 0
        {
            // Nothing left to free: copy the log into the store without
            // holding up writers, so that the truncating checkpoint below,
            // which does, has only what they wrote meanwhile left to copy.
            self.checkpoint()?;
        }
        let conn = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        let _held = gate::enter(&self.gate).map_err(|e| Error::Unavailable {
            store: self.path.display().to_string(),
            detail: format!("writer gate: {e}"),
        })?;
        let pragma = |name: &str| -> Result<i64> {
            conn.query_row(&format!("PRAGMA {name}"), [], |r| r.get(0)).map_err(self.err("read the free pages"))
        };
        let (mode, free, page) = (pragma("auto_vacuum")?, pragma("freelist_count")?, pragma("page_size")?);
        if mode != 2 {
            return Ok(if free > 0 { Reclaimed::NeedsVacuum } else { Reclaimed::Bytes { bytes: 0 } });
        }
        if free == 0 {
            conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(())).map_err(self.err("checkpoint"))?;
            return Ok(Reclaimed::Bytes { bytes: 0 });
        }
        let step = free.min(i64::from(max_pages.max(1)));
        // The pragma frees one page per row it steps through.
        let freed = conn.prepare(&format!("PRAGMA incremental_vacuum({step})")).and_then(|mut stmt| {
            let mut rows = stmt.query([])?;
            while rows.next()?.is_some() {}
            Ok(())
        });
        freed.map_err(self.err("vacuum incrementally"))?;
        let left = pragma("freelist_count")?;
        Ok(Reclaimed::Bytes { bytes: u64::try_from((free - left).max(0) * page).unwrap_or(0) })
    }

    /// Rewrites the whole store (`VACUUM`), switching it to incremental
    /// vacuuming; other writers wait meanwhile.
    fn vacuum(&self) -> Result<Reclaimed> {
        let conn = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        let _held = gate::enter(&self.gate).map_err(|e| Error::Unavailable {
            store: self.path.display().to_string(),
            detail: format!("writer gate: {e}"),
        })?;
        let before = std::fs::metadata(&self.path).map(|m| m.len()).unwrap_or(0);
        conn.execute_batch("PRAGMA auto_vacuum = INCREMENTAL; VACUUM").map_err(self.err("vacuum"))?;
        conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(())).map_err(self.err("checkpoint"))?;
        let after = std::fs::metadata(&self.path).map(|m| m.len()).unwrap_or(0);
        Ok(Reclaimed::Bytes { bytes: before.saturating_sub(after) })
    }

    /// A passive checkpoint: moves committed pages from the WAL into the
    /// database without blocking writers or readers.
    fn checkpoint(&self) -> Result<()> {
        let conn = self.reader();
        conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())).map_err(self.err("checkpoint"))
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
    // One statement, so one snapshot: another process may be creating the
    // store right now, and must be seen either before or after its commit.
    let (tables, app, found): (i64, i64, i64) = conn
        .query_row(
            "SELECT count(*), (SELECT application_id FROM pragma_application_id), \
             (SELECT user_version FROM pragma_user_version) FROM sqlite_schema",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .map_err(|e| open_error(path, e))?;
    if app != schema::APPLICATION_ID && tables > 0 {
        return Err(Error::NotAStore {
            path: path.to_owned(),
            detail: format!(
                "it is an SQLite database of another application (application_id {app:#x}, {tables} schema objects)"
            ),
        });
    }
    let found = u32::try_from(found).unwrap_or(u32::MAX);
    if found > schema::CURRENT {
        return Err(Error::NewerSchema { store: path.display().to_string(), found, supported: schema::CURRENT });
    }
    Ok(())
}

/// How long a connection waits for another process's lock.
const BUSY: Duration = Duration::from_secs(10);

/// Runs `step` again while the store answers busy (some of SQLite's locks
/// taken while a store is created or switched to WAL do not wait on the
/// busy handler), for at most [`BUSY`].
fn patiently<T>(mut step: impl FnMut() -> Result<T>) -> Result<T> {
    let deadline = std::time::Instant::now() + BUSY;
    loop {
        match step() {
            Err(Error::Unavailable { .. }) if std::time::Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(5));
            }
            other => return other,
        }
    }
}

fn configure(conn: &Connection, options: &Options) -> rusqlite::Result<()> {
    conn.busy_timeout(BUSY)?;
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
    conn.busy_timeout(BUSY).map_err(|e| open_error(path, e))?;
    conn.pragma_update(None, "cache_size", -65_536).map_err(|e| open_error(path, e))?;
    conn.set_prepared_statement_cache_capacity(64);
    stable_plans(&conn).map_err(|e| open_error(path, e))?;
    Ok(conn)
}

fn open_error(path: &Path, e: rusqlite::Error) -> Error {
    classify(path, "open the store", e)
}

/// The one place SQLite's error codes become storage errors.
pub(super) fn classify(path: &Path, context: &str, e: rusqlite::Error) -> Error {
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
