//! The integration tests: real processes against real stores in temp dirs.

mod util;
// The example elves' task modules, for typed calls.
mod elves;

// The storage conformance suite on the embedded SQLite store.
mod conformance_sqlite;
// The same suite on ArangoDB, when MYCELIUM_ARANGO_URL names a server (skipped loudly otherwise).
#[cfg(feature = "arangodb")]
mod conformance_arango;
// The ArangoDB backend's own cases against the stand-in: every query checked, EXPLAIN, clocks, lost answers.
#[cfg(feature = "arangodb")]
mod arango_backend;
// The strict ArangoDB stand-in (node, tests/arango/): its test suite, a server helper and the AQL checker.
mod arango_standin;
// Opening stores that are missing, foreign, corrupt, unwritable or newer.
mod store_open;
// Orchestrations with real elf and coordinator processes.
mod orchestration;
// Open runs: a driver streaming chunks SIGKILLed mid-stream; its run stays open, whole chunks only.
mod open_runs;
// Elves and coordinators SIGKILLed over and over during a run: nothing lost, nothing waits.
mod chaos;
// The claim order with real elves: a small run behind a big one finishes long before it.
mod scheduling;
// The mycelium command: inspection and operations.
mod cli;
// Every elf binary's command line: flags with environment fallbacks.
mod elf_cli;
// Failures that explain themselves: panics, error chains, retries, timeouts, replay, versions.
mod failures;
// The launcher: restarts with backoff, group mode, draining stops, no orphans, manifest checks.
mod launch;
// Agents with real processes: fan-out to a late receiver, queues and dead letters, exchanges, RPC, schedules across failovers.
mod agents;
// Durable flows with real processes: kill -9 mid-flow, create-then-poll, signals, fan-out, inboxes, versions.
mod flows;
// `mycelium serve`: the HTTP API, auth, SSE, the elf protocol (Python elf), webhooks, the http elf.
mod serve;
// The dashboard in headless Chromium: pages, live progress, screenshots, 10,000-job runs.
mod dashboard;
// Headless Chromium over the DevTools protocol: the browser tests that click and type.
mod devtools;
// OpenTelemetry: an elf's job spans reach an in-test OTLP collector (the `otel` feature).
#[cfg(feature = "otel")]
mod otel;
// `mycelium gc`: retention of finished runs on a real store, the file shrinking.
mod gc;
// The coordinator's scheduling: self-repair, the critical path, a standby rebuilding the graphs.
mod coordinator_sched;
