//! Bad stores: each gives a typed error naming the input and the fix, and
//! changes nothing on disk.

use std::fs;
use std::path::Path;

use mycelium::__private::testing_hooks::{sqlite_at_version, sqlite_schema_version};
use mycelium::Store;
use mycelium::storage::{Error, ErrorKind};

fn open(url: &str) -> Result<Store, Error> {
    Store::open(url)
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<_> = fs::read_dir(dir)
        .expect("read dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn a_text_file_is_not_a_store_and_is_left_alone() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("notes.txt");
    fs::write(&path, "dear diary, today I was not an SQLite database\n").expect("write");
    let err = open(&format!("sqlite://{}", path.display())).expect_err("not a store");
    assert!(matches!(err, Error::NotAStore { .. }), "{err}");
    let text = err.to_string();
    assert!(text.contains("notes.txt") && text.contains("--store"), "{text}");
    assert_eq!(fs::read_to_string(&path).expect("read"), "dear diary, today I was not an SQLite database\n");
    assert_eq!(files_in(dir.path()), vec!["notes.txt"]);
}

#[test]
fn another_applications_database_is_refused_unchanged() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("other.db");
    foreign_db(&path);
    let before = fs::read(&path).expect("read");
    let err = open(&format!("sqlite://{}", path.display())).expect_err("foreign db");
    assert!(err.to_string().contains("another application"), "{err}");
    assert_eq!(fs::read(&path).expect("read"), before);
}

/// Creates an SQLite database of another application.
fn foreign_db(path: &Path) {
    let conn = rusqlite::Connection::open(path).expect("create");
    conn.execute_batch(
        "CREATE TABLE photos(id INTEGER PRIMARY KEY, name TEXT); INSERT INTO photos(name) VALUES ('cat');",
    )
    .expect("fill");
}

#[test]
fn a_corrupt_store_is_reported_as_corrupt() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("mycelium.db");
    let url = format!("sqlite://{}", path.display());
    {
        let s = open(&url).expect("create");
        s.checkpoint().expect("checkpoint");
    }
    for f in ["mycelium.db-wal", "mycelium.db-shm"] {
        let _ = fs::remove_file(dir.path().join(f));
    }
    let mut bytes = fs::read(&path).expect("read");
    let len = bytes.len();
    for b in &mut bytes[100..len.min(8192)] {
        *b = 0xA5;
    }
    fs::write(&path, &bytes).expect("write garbage");
    let err = open(&url).expect_err("corrupt");
    assert!(matches!(err.kind(), ErrorKind::Corrupt | ErrorKind::BadInput), "{err:?}");
    let text = err.to_string();
    assert!(text.contains("mycelium.db"), "{text}");
    assert_eq!(fs::read(&path).expect("read"), bytes, "the corrupt file was changed");
}

#[test]
fn a_missing_directory_is_unwritable_and_nothing_is_created() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("no/such/dir/mycelium.db");
    let err = open(&format!("sqlite://{}", path.display())).expect_err("missing dir");
    assert!(matches!(err, Error::Unwritable { .. }), "{err}");
    assert!(err.to_string().contains("does not exist"), "{err}");
    assert!(files_in(dir.path()).is_empty());
    // A directory where nobody may create files (root bypasses permission
    // bits, so use a filesystem that refuses files outright).
    let err = open("sqlite:///proc/mycelium.db").expect_err("unwritable");
    assert!(matches!(err, Error::Unwritable { .. }), "{err}");
}

#[test]
fn a_directory_is_not_a_store() {
    let dir = tempfile::tempdir().expect("tempdir");
    let err = open(&format!("sqlite://{}", dir.path().display())).expect_err("a directory");
    assert!(err.to_string().contains("is a directory"), "{err}");
}

#[test]
fn a_newer_schema_is_refused_and_an_older_one_migrated() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("mycelium.db");
    // An older build's store (schema version 1) with a job in it, written
    // as that build wrote it.
    assert_eq!(sqlite_at_version(&path, 1).expect("create v1"), 1);
    {
        let conn = rusqlite::Connection::open(&path).expect("open v1");
        conn.execute_batch(
            "INSERT INTO runs(id, name, labels, created_by, created_at, state, total, open, failed) \
               VALUES (1, 'old', '{}', '{}', 1, 'running', 1, 1, 0); \
             INSERT INTO jobs(id, run, elf, task, args, state, unmet, ndeps, priority, max_attempts, retry, \
               created_at, updated_at) VALUES (1, 1, 'e', 't', '[1]', 'ready', 0, 0, 0, 1, \
               '{\"max_attempts\":1,\"backoff\":{\"kind\":\"fixed\",\"delay_ms\":0},\"max_delay_ms\":0,\"jitter\":false}', 1, 1);",
        )
        .expect("fill v1");
    }
    let store = open(&format!("sqlite://{}", path.display())).expect("migrate");
    let latest = sqlite_schema_version(&path).expect("version");
    assert!(latest > 1);
    let jobs = store.jobs(&Default::default()).expect("jobs");
    assert_eq!(jobs.len(), 1, "migration lost data");
    assert_eq!((jobs[0].lost, jobs[0].retry.max_lost), (0, 5), "new fields get their defaults");
    assert!(store.lead("coordinator", "me", 1000).expect("the v2 table exists"));
    drop(store);
    // Pretend a newer build wrote it.
    rusqlite::Connection::open(&path).expect("open").pragma_update(None, "user_version", 99).expect("set version");
    let before = fs::read(&path).expect("read");
    let err = open(&format!("sqlite://{}", path.display())).expect_err("newer schema");
    assert!(matches!(err, Error::NewerSchema { found: 99, .. }), "{err}");
    assert!(err.to_string().contains("upgrade mycelium"), "{err}");
    assert_eq!(fs::read(&path).expect("read"), before);
}

/// A newer build's store in rollback-journal mode (as a backup tool or
/// `sqlite3` may leave it) is refused before anything switches it to WAL:
/// its bytes stay the same and no file appears beside it (no `-wal`,
/// `-shm` or writer `-gate`).
#[test]
fn a_newer_store_in_rollback_journal_mode_is_refused_without_a_trace() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("mycelium.db");
    drop(open(&format!("sqlite://{}", path.display())).expect("create"));
    {
        let conn = rusqlite::Connection::open(&path).expect("open");
        let mode: String = conn.query_row("PRAGMA journal_mode=DELETE", [], |r| r.get(0)).expect("journal mode");
        assert_eq!(mode, "delete");
        conn.pragma_update(None, "user_version", 99).expect("set version");
    }
    for leftover in files_in(dir.path()).into_iter().filter(|f| f != "mycelium.db") {
        fs::remove_file(dir.path().join(leftover)).expect("clean up");
    }
    let before = fs::read(&path).expect("read");
    let err = open(&format!("sqlite://{}", path.display())).expect_err("newer schema");
    assert!(matches!(err, Error::NewerSchema { found: 99, .. }), "{err}");
    assert_eq!(fs::read(&path).expect("read"), before, "the refused store's bytes changed");
    assert_eq!(files_in(dir.path()), vec!["mycelium.db"], "refusing left a file beside the store");
    let conn = rusqlite::Connection::open(&path).expect("open");
    let mode: String = conn.query_row("PRAGMA journal_mode", [], |r| r.get(0)).expect("journal mode");
    assert_eq!(mode, "delete", "the refused store was switched to WAL");
}

/// Refusing another application's database leaves no file beside it.
#[test]
fn a_refused_database_gets_no_file_beside_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("other.db");
    foreign_db(&path);
    assert_eq!(files_in(dir.path()), vec!["other.db"]);
    open(&format!("sqlite://{}", path.display())).expect_err("foreign db");
    assert_eq!(files_in(dir.path()), vec!["other.db"], "refusing left a file beside the database");
}

#[test]
fn many_processes_creating_one_store_at_once_all_succeed() {
    // They race to create and migrate it: none may see it half made.
    for _ in 0..3 {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("sqlite://{}", dir.path().join("fresh.db").display());
        let children: Vec<_> = (0..10)
            .map(|_| {
                std::process::Command::new(env!("CARGO_BIN_EXE_mycelium"))
                    .args(["--store", &url, "probe", "submit", "--runs", "1"])
                    .stdout(std::process::Stdio::null())
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .expect("spawn")
            })
            .collect();
        for c in children {
            let out = c.wait_with_output().expect("wait");
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        }
        assert_eq!(open(&url).expect("open").runs(&Default::default()).expect("runs").len(), 10);
    }
}

#[test]
fn read_only_commands_do_not_create_stores() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("typo.db");
    let url = format!("sqlite://{}", path.display());
    for args in [vec!["runs"], vec!["elves"], vec!["failures"], vec!["run", "1"], vec!["cancel", "1"]] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_mycelium"))
            .args(["--store", &url])
            .args(&args)
            .output()
            .expect("run mycelium");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} succeeded on a missing store");
        assert!(err.contains("there is no store at") && err.contains("typo.db"), "{args:?}: {err}");
        assert!(files_in(dir.path()).is_empty(), "{args:?} created {:?}", files_in(dir.path()));
    }
}
