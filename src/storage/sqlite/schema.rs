//! The SQLite schema and its migrations.
//!
//! The schema version is `PRAGMA user_version`; `PRAGMA application_id`
//! marks the file as a mycelium store, so that another application's database
//! is never mistaken for one (and never changed).

/// `PRAGMA application_id` of a mycelium store ("MYCL").
pub(super) const APPLICATION_ID: i64 = 0x4D59_434C;

/// Migration `i` takes a store from version `i` to version `i + 1`.
pub(super) const MIGRATIONS: &[&str] =
    &[V1, V2, V3, TOKENS, FLOWS, AGENTS, SEALED, SCHED, VTIME, RETRY_DEFAULT, CHECKS];

/// The newest schema version this build knows.
pub(super) const CURRENT: u32 = MIGRATIONS.len() as u32;

/// The first schema: documents, the graph and the event log.
const V1: &str = r#"
CREATE TABLE tasks(
  sha TEXT PRIMARY KEY CHECK (length(sha) = 64),
  source TEXT NOT NULL,
  file TEXT NOT NULL,
  line INTEGER NOT NULL,
  signature TEXT NOT NULL,
  doc TEXT NOT NULL,
  first_seen INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

CREATE TABLE task_names(
  elf TEXT NOT NULL,
  task TEXT NOT NULL,
  sha TEXT NOT NULL REFERENCES tasks(sha),
  first_seen INTEGER NOT NULL,
  PRIMARY KEY (elf, task, sha)
) STRICT, WITHOUT ROWID;

CREATE TABLE elves(
  instance TEXT PRIMARY KEY,
  elf TEXT NOT NULL,
  host TEXT NOT NULL,
  pid INTEGER NOT NULL,
  build TEXT NOT NULL,
  tasks TEXT NOT NULL,
  slots INTEGER NOT NULL,
  started_at INTEGER NOT NULL,
  heartbeat_at INTEGER NOT NULL,
  lease_until INTEGER NOT NULL,
  state TEXT NOT NULL CHECK (state IN ('running', 'stopped', 'lost'))
) STRICT;

CREATE TABLE runs(
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL,
  labels TEXT NOT NULL,
  created_by TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  finished_at INTEGER,
  state TEXT NOT NULL CHECK (state IN ('running', 'succeeded', 'failed', 'cancelled')),
  idem_key TEXT UNIQUE,
  total INTEGER NOT NULL,
  open INTEGER NOT NULL,
  failed INTEGER NOT NULL
) STRICT;

CREATE TABLE jobs(
  id INTEGER PRIMARY KEY,
  run INTEGER NOT NULL,
  key TEXT,
  elf TEXT NOT NULL,
  task TEXT NOT NULL,
  args TEXT NOT NULL,
  state TEXT NOT NULL CHECK (state IN
    ('pending', 'ready', 'claimed', 'succeeded', 'failed', 'upstream_failed', 'cancelled')),
  unmet INTEGER NOT NULL,
  ndeps INTEGER NOT NULL,
  priority INTEGER NOT NULL,
  attempt INTEGER NOT NULL DEFAULT 0,
  max_attempts INTEGER NOT NULL,
  retry TEXT NOT NULL,
  timeout_ms INTEGER,
  expected_sha TEXT,
  ran_sha TEXT,
  holder TEXT,
  lease_until INTEGER,
  epoch INTEGER NOT NULL DEFAULT 0,
  not_before INTEGER NOT NULL DEFAULT 0,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  started_at INTEGER,
  finished_at INTEGER
) STRICT;
CREATE UNIQUE INDEX jobs_key ON jobs(run, key) WHERE key IS NOT NULL;
CREATE INDEX jobs_run ON jobs(run);
CREATE INDEX jobs_ready ON jobs(elf, priority DESC, id) WHERE state = 'ready';
CREATE INDEX jobs_lease ON jobs(lease_until) WHERE state = 'claimed';

CREATE TABLE deps(
  consumer INTEGER NOT NULL,
  path TEXT NOT NULL,
  producer INTEGER NOT NULL,
  PRIMARY KEY (consumer, path)
) STRICT, WITHOUT ROWID;
CREATE INDEX deps_producer ON deps(producer, consumer);

CREATE TABLE results(
  job INTEGER PRIMARY KEY,
  epoch INTEGER NOT NULL,
  value TEXT NOT NULL,
  at INTEGER NOT NULL
) STRICT;

CREATE TABLE failures(
  id INTEGER PRIMARY KEY,
  job INTEGER NOT NULL,
  run INTEGER NOT NULL,
  elf TEXT NOT NULL,
  task TEXT NOT NULL,
  attempt INTEGER NOT NULL,
  epoch INTEGER NOT NULL,
  kind TEXT NOT NULL,
  signature TEXT NOT NULL,
  instance TEXT,
  host TEXT,
  pid INTEGER,
  started_at INTEGER,
  at INTEGER NOT NULL,
  will_retry INTEGER NOT NULL,
  report TEXT NOT NULL
) STRICT;
CREATE INDEX failures_job ON failures(job);
CREATE INDEX failures_run ON failures(run);

CREATE TABLE events(
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  at INTEGER NOT NULL,
  kind TEXT NOT NULL,
  run INTEGER,
  job INTEGER,
  state TEXT,
  data TEXT
) STRICT;
CREATE INDEX events_job ON events(job) WHERE job IS NOT NULL;
CREATE INDEX events_run ON events(run) WHERE job IS NULL;
"#;

/// Coordinator leadership, and grouping failures by signature across runs.
const V2: &str = r#"
CREATE TABLE leader(
  role TEXT PRIMARY KEY,
  holder TEXT NOT NULL,
  lease_until INTEGER NOT NULL
) STRICT;
CREATE INDEX failures_signature ON failures(signature, at);
CREATE INDEX failures_at ON failures(at);
"#;

/// Infrastructure losses counted apart from attempts; elf instances'
/// launch labels and process start times (to tell a dead pid from a reused
/// one).
const V3: &str = r#"
ALTER TABLE jobs ADD COLUMN lost INTEGER NOT NULL DEFAULT 0;
ALTER TABLE elves ADD COLUMN label TEXT;
ALTER TABLE elves ADD COLUMN process_start INTEGER;
"#;

/// API tokens of `mycelium serve`: the sha256 of each secret, never the secret.
const TOKENS: &str = r#"
CREATE TABLE tokens(
  name TEXT NOT NULL,
  scope TEXT NOT NULL CHECK (scope IN ('read', 'operator')),
  hash TEXT NOT NULL UNIQUE CHECK (length(hash) = 64),
  created_at INTEGER NOT NULL,
  revoked_at INTEGER
) STRICT;
CREATE UNIQUE INDEX tokens_active_name ON tokens(name) WHERE revoked_at IS NULL;
"#;

/// Durable flows: the `waiting` job state (the jobs table is rebuilt to
/// widen its state check, as SQLite cannot alter a CHECK constraint), each
/// job's parent flow, the flows' histories (one row per command) and the
/// signals sent to them.
///
/// The rebuild copies the jobs table's columns by name: a later migration
/// that adds a column to `jobs` must come after this one.
const FLOWS: &str = r#"
CREATE TABLE jobs_flows(
  id INTEGER PRIMARY KEY,
  run INTEGER NOT NULL,
  key TEXT,
  elf TEXT NOT NULL,
  task TEXT NOT NULL,
  args TEXT NOT NULL,
  state TEXT NOT NULL CHECK (state IN
    ('pending', 'ready', 'claimed', 'waiting', 'succeeded', 'failed', 'upstream_failed', 'cancelled')),
  unmet INTEGER NOT NULL,
  ndeps INTEGER NOT NULL,
  priority INTEGER NOT NULL,
  attempt INTEGER NOT NULL DEFAULT 0,
  max_attempts INTEGER NOT NULL,
  retry TEXT NOT NULL,
  timeout_ms INTEGER,
  expected_sha TEXT,
  ran_sha TEXT,
  holder TEXT,
  lease_until INTEGER,
  epoch INTEGER NOT NULL DEFAULT 0,
  not_before INTEGER NOT NULL DEFAULT 0,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  started_at INTEGER,
  finished_at INTEGER,
  lost INTEGER NOT NULL DEFAULT 0,
  parent INTEGER
) STRICT;
INSERT INTO jobs_flows(id, run, key, elf, task, args, state, unmet, ndeps, priority, attempt, max_attempts, retry,
  timeout_ms, expected_sha, ran_sha, holder, lease_until, epoch, not_before, created_at, updated_at, started_at,
  finished_at, lost)
SELECT id, run, key, elf, task, args, state, unmet, ndeps, priority, attempt, max_attempts, retry,
  timeout_ms, expected_sha, ran_sha, holder, lease_until, epoch, not_before, created_at, updated_at, started_at,
  finished_at, lost FROM jobs;
DROP TABLE jobs;
ALTER TABLE jobs_flows RENAME TO jobs;
CREATE UNIQUE INDEX jobs_key ON jobs(run, key) WHERE key IS NOT NULL;
CREATE INDEX jobs_run ON jobs(run);
CREATE INDEX jobs_ready ON jobs(elf, priority DESC, id) WHERE state = 'ready';
CREATE INDEX jobs_lease ON jobs(lease_until) WHERE state = 'claimed';
CREATE INDEX jobs_waiting ON jobs(elf, not_before) WHERE state = 'waiting';
CREATE INDEX jobs_parent ON jobs(parent) WHERE parent IS NOT NULL;

CREATE TABLE flow_steps(
  flow INTEGER NOT NULL,
  k INTEGER NOT NULL,
  kind TEXT NOT NULL,
  target TEXT NOT NULL,
  hash TEXT NOT NULL,
  child INTEGER,
  due INTEGER,
  outcome TEXT,
  awaited INTEGER NOT NULL DEFAULT 0,
  sha TEXT,
  location TEXT,
  detail TEXT,
  at INTEGER NOT NULL,
  PRIMARY KEY (flow, k)
) STRICT, WITHOUT ROWID;
CREATE INDEX flow_steps_child ON flow_steps(child) WHERE child IS NOT NULL;
CREATE INDEX flow_steps_open ON flow_steps(flow, k) WHERE child IS NOT NULL AND outcome IS NULL;

CREATE TABLE flow_signals(
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  flow INTEGER NOT NULL,
  name TEXT NOT NULL,
  payload TEXT NOT NULL,
  sent_at INTEGER NOT NULL,
  consumed_by INTEGER
) STRICT;
CREATE INDEX flow_signals_open ON flow_signals(flow, id) WHERE consumed_by IS NULL;
CREATE INDEX flow_signals_flow ON flow_signals(flow, name);
"#;

/// The agents' catalog (signals, subscriptions, queues, schedules, as JSON
/// documents by kind and key), and the failed jobs of a task counted without
/// a scan (a queue's dead messages).
const AGENTS: &str = r#"
CREATE TABLE catalog(
  kind TEXT NOT NULL,
  key TEXT NOT NULL,
  value TEXT NOT NULL,
  PRIMARY KEY (kind, key)
) STRICT, WITHOUT ROWID;
CREATE INDEX jobs_failed ON jobs(elf, task) WHERE state = 'failed';
"#;

/// Runs that take their jobs in chunks: whether a run takes no more jobs.
/// The runs of an older store were each submitted in one piece: sealed.
const SEALED: &str = r#"
ALTER TABLE runs ADD COLUMN sealed INTEGER NOT NULL DEFAULT 1;
"#;

/// Scheduling: each job's turn (fair share between runs, critical path
/// within its run) and the rank it came from; each run's virtual start and
/// weight; the store's virtual time (the largest turn claimed so far). The
/// claim's index orders ready jobs by (priority, turn, id). Jobs of an older
/// store get turn 0: they come first, in id order, as they did.
const SCHED: &str = r#"
ALTER TABLE jobs ADD COLUMN turn INTEGER NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN rank_ms INTEGER NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN vstart INTEGER NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN weight INTEGER NOT NULL DEFAULT 1;
CREATE TABLE sched(
  id INTEGER PRIMARY KEY CHECK (id = 1),
  vtime INTEGER NOT NULL
) STRICT;
INSERT INTO sched(id, vtime) VALUES (1, 0);
DROP INDEX jobs_ready;
CREATE INDEX jobs_ready ON jobs(elf, priority DESC, turn, id) WHERE state = 'ready';
"#;

/// The virtual time moves from its own table into a row of `sqlite_sequence`
/// named [`VTIME_ROW`]. Every claim raises it, and every claim also appends
/// events, whose `AUTOINCREMENT` rewrites that table's one page anyway: in
/// its own table the virtual time cost each claim transaction one more page
/// written to the WAL (measured: 3 pages per transaction against 2 for an
/// event and the virtual time in a test of 100 transactions; the claim of 64
/// jobs wrote about 25 pages, 4% of them for this one row).
const VTIME: &str = r#"
INSERT INTO sqlite_sequence(name, seq) SELECT 'mycelium.vtime', vtime FROM sched;
DROP TABLE sched;
"#;

/// Changes no table: from this version on, a job row stores the default
/// retry policy as nothing (`rows::DEFAULT_RETRY`) instead of its JSON,
/// about 110 of a row's 200 bytes. The version exists so that older builds,
/// which would read the empty text as broken JSON, refuse the store by its
/// version instead; rows written before keep their JSON and read as before.
const RETRY_DEFAULT: &str = "-- the default retry policy is stored as ''";

/// The state checks of `jobs`, `runs` and `elves` spelled as `state = 'a' OR
/// state = 'b' ...` instead of `state IN ('a', 'b', ...)`: SQLite builds a
/// temporary table for an `IN` list of more than two constants each time a
/// statement runs, and a CHECK runs for every row written, so every job
/// inserted, claimed or completed paid for one (measured: an insert into a
/// table with the 8-state `IN` check took 3.7 times as long as with none;
/// with the `OR` form, no longer than with none). The tables are rebuilt
/// (SQLite cannot alter a CHECK constraint); their columns, in order, and
/// indexes stay as they were. A later migration that adds a column to one of
/// them must come after this one.
const CHECKS: &str = r#"
CREATE TABLE jobs_checked(
  id INTEGER PRIMARY KEY,
  run INTEGER NOT NULL,
  key TEXT,
  elf TEXT NOT NULL,
  task TEXT NOT NULL,
  args TEXT NOT NULL,
  state TEXT NOT NULL CHECK (state = 'pending'
    OR state = 'ready'
    OR state = 'claimed'
    OR state = 'waiting'
    OR state = 'succeeded'
    OR state = 'failed'
    OR state = 'upstream_failed'
    OR state = 'cancelled'),
  unmet INTEGER NOT NULL,
  ndeps INTEGER NOT NULL,
  priority INTEGER NOT NULL,
  attempt INTEGER NOT NULL DEFAULT 0,
  max_attempts INTEGER NOT NULL,
  retry TEXT NOT NULL,
  timeout_ms INTEGER,
  expected_sha TEXT,
  ran_sha TEXT,
  holder TEXT,
  lease_until INTEGER,
  epoch INTEGER NOT NULL DEFAULT 0,
  not_before INTEGER NOT NULL DEFAULT 0,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  started_at INTEGER,
  finished_at INTEGER,
  lost INTEGER NOT NULL DEFAULT 0,
  parent INTEGER,
  turn INTEGER NOT NULL DEFAULT 0,
  rank_ms INTEGER NOT NULL DEFAULT 0
) STRICT;
INSERT INTO jobs_checked SELECT id, run, key, elf, task, args, state, unmet, ndeps, priority, attempt, max_attempts,
  retry, timeout_ms, expected_sha, ran_sha, holder, lease_until, epoch, not_before, created_at, updated_at, started_at,
  finished_at, lost, parent, turn, rank_ms FROM jobs;
DROP TABLE jobs;
ALTER TABLE jobs_checked RENAME TO jobs;
CREATE UNIQUE INDEX jobs_key ON jobs(run, key) WHERE key IS NOT NULL;
CREATE INDEX jobs_run ON jobs(run);
CREATE INDEX jobs_ready ON jobs(elf, priority DESC, turn, id) WHERE state = 'ready';
CREATE INDEX jobs_lease ON jobs(lease_until) WHERE state = 'claimed';
CREATE INDEX jobs_waiting ON jobs(elf, not_before) WHERE state = 'waiting';
CREATE INDEX jobs_parent ON jobs(parent) WHERE parent IS NOT NULL;
CREATE INDEX jobs_failed ON jobs(elf, task) WHERE state = 'failed';

CREATE TABLE runs_checked(
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL,
  labels TEXT NOT NULL,
  created_by TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  finished_at INTEGER,
  state TEXT NOT NULL CHECK (state = 'running'
    OR state = 'succeeded'
    OR state = 'failed'
    OR state = 'cancelled'),
  idem_key TEXT UNIQUE,
  total INTEGER NOT NULL,
  open INTEGER NOT NULL,
  failed INTEGER NOT NULL,
  sealed INTEGER NOT NULL DEFAULT 1,
  vstart INTEGER NOT NULL DEFAULT 0,
  weight INTEGER NOT NULL DEFAULT 1
) STRICT;
INSERT INTO runs_checked SELECT id, name, labels, created_by, created_at, finished_at, state, idem_key, total, open,
  failed, sealed, vstart, weight FROM runs;
DROP TABLE runs;
ALTER TABLE runs_checked RENAME TO runs;

CREATE TABLE elves_checked(
  instance TEXT PRIMARY KEY,
  elf TEXT NOT NULL,
  host TEXT NOT NULL,
  pid INTEGER NOT NULL,
  build TEXT NOT NULL,
  tasks TEXT NOT NULL,
  slots INTEGER NOT NULL,
  started_at INTEGER NOT NULL,
  heartbeat_at INTEGER NOT NULL,
  lease_until INTEGER NOT NULL,
  state TEXT NOT NULL CHECK (state = 'running'
    OR state = 'stopped'
    OR state = 'lost'),
  label TEXT,
  process_start INTEGER
) STRICT;
INSERT INTO elves_checked SELECT instance, elf, host, pid, build, tasks, slots, started_at, heartbeat_at, lease_until,
  state, label, process_start FROM elves;
DROP TABLE elves;
ALTER TABLE elves_checked RENAME TO elves;
"#;

/// The name of the row of `sqlite_sequence` that holds the virtual time (no
/// table can have it: a table's name would need quoting to contain a dot).
pub(super) const VTIME_ROW: &str = "mycelium.vtime";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ElfState, JobState, RunState};

    /// The names the first state check (`CHECK (state = 'a' OR state = 'b'
    /// ...)`) of the latest definition of `table` allows (a migration that
    /// rebuilds a table creates it under another name, then renames it).
    fn checked_names(table: &str) -> Vec<String> {
        let ddl = MIGRATIONS.join("\n");
        let rename = format!(" RENAME TO {table};");
        let created = match ddl.rfind(&rename) {
            Some(at) => {
                let head = &ddl[..at];
                head[head.rfind("ALTER TABLE ").map_or(0, |i| i + "ALTER TABLE ".len())..].trim().to_owned()
            }
            None => table.to_owned(),
        };
        let at = ddl.rfind(&format!("CREATE TABLE {created}(")).unwrap_or_else(|| panic!("no table {created}"));
        let rest = &ddl[at..];
        let open = rest.find("CHECK (state = ").unwrap_or_else(|| panic!("no state check in {table}"));
        let list = &rest[open + "CHECK (".len()..];
        let list = &list[..list.find(')').unwrap_or(0)];
        list.split(" OR ")
            .map(|term| {
                let name = term.trim().strip_prefix("state = ").unwrap_or_else(|| panic!("not a state term: {term}"));
                name.trim_matches('\'').to_owned()
            })
            .collect()
    }

    fn names<T: crate::model::names::Named>() -> Vec<String> {
        T::VARIANTS.iter().map(|v| Into::<&'static str>::into(*v).to_owned()).collect()
    }

    /// The state names the DDL spells out (CHECK constraints, which old
    /// migrations cannot change) are the enums' own, so no query text can
    /// drift from the states the compiler checks.
    #[test]
    fn the_schema_spells_states_as_the_enums_do() {
        assert_eq!(checked_names("jobs"), names::<JobState>());
        assert_eq!(checked_names("runs"), names::<RunState>());
        assert_eq!(checked_names("elves"), names::<ElfState>());
        let ddl = MIGRATIONS.join("\n");
        assert!(ddl.contains(&format!("WHERE state = '{}'", JobState::Ready.as_str())));
        assert!(ddl.contains(&format!("WHERE state = '{}'", JobState::Claimed.as_str())));
    }

    /// A store of every version migrates to the latest: the claim then runs
    /// on the partial index `jobs_ready` in its order (priority, turn, id),
    /// with no sort step, and older jobs get turn 0.
    #[test]
    fn the_claim_is_an_index_scan_in_claim_order_after_migrating() {
        let conn = rusqlite::Connection::open_in_memory().expect("open");
        let sched = MIGRATIONS.iter().position(|m| *m == SCHED).expect("the migration that adds turns");
        let (old, new) = MIGRATIONS.split_at(sched);
        for step in old {
            conn.execute_batch(step).expect("migrate");
        }
        conn.execute(
            "INSERT INTO jobs(id, run, elf, task, args, state, unmet, ndeps, priority, max_attempts, retry, \
             created_at, updated_at) VALUES (1, 1, 'e', 't', '[]', 'ready', 0, 0, 0, 1, '{}', 0, 0)",
            [],
        )
        .expect("a job of the previous schema");
        for step in new {
            conn.execute_batch(step).expect("migrate to the latest");
        }
        let (turn, rank): (i64, i64) = conn
            .query_row("SELECT turn, rank_ms FROM jobs WHERE id = 1", [], |r| Ok((r.get(0)?, r.get(1)?)))
            .expect("row");
        assert_eq!((turn, rank), (0, 0));
        let vtime: i64 = conn
            .query_row("SELECT seq FROM sqlite_sequence WHERE name = ?1", [VTIME_ROW], |r| r.get(0))
            .expect("vtime");
        assert_eq!(vtime, 0);
        let plan: Vec<String> = conn
            .prepare(&format!("EXPLAIN QUERY PLAN {}", &*super::super::sql::CLAIMABLE))
            .and_then(|mut s| {
                s.query_map(rusqlite::params!["e", 0, "[\"t\"]", 8], |r| r.get::<_, String>(3))
                    .and_then(|rows| rows.collect::<rusqlite::Result<Vec<String>>>())
            })
            .expect("explain");
        let text = plan.join(" | ");
        assert!(text.contains("USING INDEX jobs_ready"), "the claim does not use jobs_ready: {text}");
        assert!(!text.contains("TEMP B-TREE"), "the claim sorts: {text}");
        // The claim that writes as it reads scans the same index the same way.
        let plan: Vec<String> = conn
            .prepare(&format!("EXPLAIN QUERY PLAN {}", &*super::super::sql::CLAIM_READY))
            .and_then(|mut s| {
                s.query_map(rusqlite::params!["e", 0, "[\"t\"]", 8, "holder", 10], |r| r.get::<_, String>(3))
                    .and_then(|rows| rows.collect::<rusqlite::Result<Vec<String>>>())
            })
            .expect("explain");
        let text = plan.join(" | ");
        assert!(text.contains("USING INDEX jobs_ready"), "the writing claim does not use jobs_ready: {text}");
        assert!(!text.contains("TEMP B-TREE FOR ORDER BY"), "the writing claim sorts: {text}");
        // The look that finds up to two jobs steps through the same index in
        // claim order: with no sort step it stops after the rows it needs.
        let plan: Vec<String> = conn
            .prepare(&format!("EXPLAIN QUERY PLAN {}", &*super::super::sql::PICK_READY))
            .and_then(|mut s| {
                s.query_map(rusqlite::params!["e", 0], |r| r.get::<_, String>(3))
                    .and_then(|rows| rows.collect::<rusqlite::Result<Vec<String>>>())
            })
            .expect("explain");
        let text = plan.join(" | ");
        assert!(text.contains("USING INDEX jobs_ready"), "the pick does not use jobs_ready: {text}");
        assert!(!text.contains("TEMP B-TREE"), "the pick sorts: {text}");
    }

    /// The virtual time of a store that kept it in its own table is carried
    /// into `sqlite_sequence`, where the events' sequence already is.
    #[test]
    fn the_virtual_time_moves_into_sqlite_sequence_with_its_value() {
        let conn = rusqlite::Connection::open_in_memory().expect("open");
        let at = MIGRATIONS.iter().position(|m| *m == VTIME).expect("the migration of the virtual time");
        for step in &MIGRATIONS[..at] {
            conn.execute_batch(step).expect("migrate");
        }
        conn.execute("UPDATE sched SET vtime = 42", []).expect("a virtual time");
        for step in &MIGRATIONS[at..] {
            conn.execute_batch(step).expect("migrate to the latest");
        }
        let vtime: i64 = conn
            .query_row("SELECT seq FROM sqlite_sequence WHERE name = ?1", [VTIME_ROW], |r| r.get(0))
            .expect("vtime");
        assert_eq!(vtime, 42);
        let tables: i64 = conn
            .query_row("SELECT count(*) FROM sqlite_schema WHERE name = 'sched'", [], |r| r.get(0))
            .expect("schema");
        assert_eq!(tables, 0, "the old table is dropped");
    }

    /// The state checks' rebuild keeps every table's columns, in order, its
    /// indexes and its rows; the checks still refuse a state no enum has;
    /// and writing a job, a run or an elf builds no temporary table.
    #[test]
    fn the_state_checks_rebuild_keeps_columns_indexes_and_rows() {
        let conn = rusqlite::Connection::open_in_memory().expect("open");
        let at = MIGRATIONS.iter().position(|m| *m == CHECKS).expect("the migration of the checks");
        let (old, new) = MIGRATIONS.split_at(at);
        for step in old {
            conn.execute_batch(step).expect("migrate");
        }
        let shape = |conn: &rusqlite::Connection| -> Vec<String> {
            let mut out = Vec::new();
            for table in ["jobs", "runs", "elves"] {
                let mut s = conn.prepare(&format!("PRAGMA table_info({table})")).expect("table info");
                let cols = s
                    .query_map([], |r| {
                        Ok(format!(
                            "{table}.{} {} notnull={} default={:?} pk={}",
                            r.get::<_, String>(1)?,
                            r.get::<_, String>(2)?,
                            r.get::<_, i64>(3)?,
                            r.get::<_, Option<String>>(4)?,
                            r.get::<_, i64>(5)?
                        ))
                    })
                    .and_then(|rows| rows.collect::<rusqlite::Result<Vec<String>>>())
                    .expect("columns");
                out.extend(cols);
            }
            let mut s = conn
                .prepare("SELECT tbl_name, name, sql FROM sqlite_schema WHERE type = 'index' ORDER BY name")
                .expect("indexes");
            let idx = s
                .query_map([], |r| {
                    Ok(format!(
                        "{} {} {:?}",
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, Option<String>>(2)?
                    ))
                })
                .and_then(|rows| rows.collect::<rusqlite::Result<Vec<String>>>())
                .expect("index list");
            out.extend(idx);
            out
        };
        conn.execute_batch(
            "INSERT INTO runs(id, name, labels, created_by, created_at, state, idem_key, total, open, failed, sealed) \
             VALUES (7, 'r', '{}', '{}', 1, 'running', 'k', 1, 1, 0, 0); \
             INSERT INTO jobs(id, run, elf, task, args, state, unmet, ndeps, priority, max_attempts, retry, \
             created_at, updated_at, parent, turn) VALUES (3, 7, 'e', 't', '[1]', 'waiting', 0, 0, 2, 1, '', 1, 1, 9, 5); \
             INSERT INTO elves(instance, elf, host, pid, build, tasks, slots, started_at, heartbeat_at, lease_until, \
             state, label) VALUES ('i', 'e', 'h', 1, 'b', '[]', 4, 1, 1, 1, 'lost', 'l');",
        )
        .expect("rows of the previous schema");
        let before = shape(&conn);
        for step in new {
            conn.execute_batch(step).expect("migrate to the latest");
        }
        assert_eq!(shape(&conn), before, "the rebuild changed a column or an index");
        let row: (String, i64, i64, i64, String) = conn
            .query_row("SELECT state, priority, parent, turn, args FROM jobs WHERE id = 3", [], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
            })
            .expect("the job");
        assert_eq!(row, ("waiting".to_owned(), 2, 9, 5, "[1]".to_owned()));
        let run: (String, i64, i64) = conn
            .query_row("SELECT idem_key, sealed, weight FROM runs WHERE id = 7", [], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })
            .expect("the run");
        assert_eq!(run, ("k".to_owned(), 0, 1));
        let elf: (String, String) =
            conn.query_row("SELECT state, label FROM elves", [], |r| Ok((r.get(0)?, r.get(1)?))).expect("the elf");
        assert_eq!(elf, ("lost".to_owned(), "l".to_owned()));
        for bad in [
            "UPDATE jobs SET state = 'done' WHERE id = 3",
            "UPDATE runs SET state = 'ready' WHERE id = 7",
            "UPDATE elves SET state = 'gone'",
        ] {
            let err = conn.execute(bad, []).expect_err(bad);
            assert!(err.to_string().contains("CHECK constraint failed"), "{bad}: {err}");
        }
        for write in [
            "UPDATE jobs SET state = 'claimed' WHERE id = 3",
            "UPDATE runs SET state = 'failed' WHERE id = 7",
            "UPDATE elves SET state = 'stopped'",
        ] {
            let mut s = conn.prepare(&format!("EXPLAIN {write}")).expect("explain");
            let ops = s
                .query_map([], |r| r.get::<_, String>(1))
                .and_then(|rows| rows.collect::<rusqlite::Result<Vec<String>>>())
                .expect("opcodes");
            assert!(!ops.iter().any(|o| o == "OpenEphemeral"), "{write} builds a temporary table: {ops:?}");
        }
    }
}
