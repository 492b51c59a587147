//! The integration tests: real processes against real stores in temp dirs.

mod util;
// The example elves' task modules, for typed calls.
mod elves;

// The storage conformance suite on the embedded SQLite store.
mod conformance_sqlite;
// The same suite on ArangoDB, when MYCELIUM_ARANGO_URL names a server (skipped loudly otherwise).
mod conformance_arango;
// Opening stores that are missing, foreign, corrupt, unwritable or newer.
mod store_open;
// Orchestrations with real elf and coordinator processes.
mod orchestration;
// The mycelium command: inspection and operations.
mod cli;
// Failures that explain themselves: panics, error chains, retries, timeouts, replay, versions.
mod failures;
