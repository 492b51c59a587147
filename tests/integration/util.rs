//! Shared test harness: temp dirs and the binaries under test.

use tempfile::TempDir;

/// A fresh SQLite store in its own temp dir: its URL and the dir's guard.
pub(crate) fn fresh_sqlite() -> (String, TempDir) {
    let dir = tempfile::tempdir().expect("create a temp dir");
    let url = format!("sqlite://{}", dir.path().join("mycelium.db").display());
    (url, dir)
}

/// The `mycelium` executable built for these tests.
pub(crate) const MYCELIUM: &str = env!("CARGO_BIN_EXE_mycelium");
