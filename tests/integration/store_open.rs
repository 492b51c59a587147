//! Bad stores: each gives a typed error naming the input and the fix, and
//! changes nothing on disk.

use std::fs;
use std::path::Path;

use mycelium::storage::sqlite::{Options, SqliteStore};
use mycelium::storage::{Error, ErrorKind, open};

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
    // An older build's store (schema version 1) with a job in it.
    {
        let old = SqliteStore::open_at_version(&path, Options::default(), 1).expect("create v1");
        assert_eq!(old.schema_version().expect("version"), 1);
        use mycelium::Store;
        old.submit(&mycelium::model::Submission {
            run: mycelium::model::RunSpec::named("old"),
            jobs: vec![mycelium::model::JobSpec::new("e", "t", serde_json::json!([1]))],
        })
        .expect("submit on v1");
    }
    let store = SqliteStore::open(&path, Options::default()).expect("migrate");
    let latest = store.schema_version().expect("version");
    assert!(latest > 1);
    use mycelium::Store;
    assert_eq!(store.jobs(&Default::default()).expect("jobs").len(), 1, "migration lost data");
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
