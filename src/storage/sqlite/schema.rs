//! The SQLite schema and its migrations.
//!
//! The schema version is `PRAGMA user_version`; `PRAGMA application_id`
//! marks the file as a mycelium store, so that another application's database
//! is never mistaken for one (and never changed).

/// `PRAGMA application_id` of a mycelium store ("MYCL").
pub(super) const APPLICATION_ID: i64 = 0x4D59_434C;

/// Migration `i` takes a store from version `i` to version `i + 1`.
pub(super) const MIGRATIONS: &[&str] = &[V1, V2];

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
