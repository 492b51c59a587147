//! The JavaScript transactions (`POST /_api/transaction`) that carry the
//! store's multi-document writes.
//!
//! Why JavaScript transactions rather than one AQL query per operation or
//! stream transactions: a completion must, atomically, check the fence,
//! store the result, append events with consecutive `seq` numbers, make
//! consumers ready, count the run down and maybe finish it; a failure must
//! also walk the graph downstream. AQL allows one UPDATE per collection per
//! query and nothing after it on that collection, which makes these
//! read-decide-write sequences unreadable at best. Stream transactions would
//! hold the writer lock across several network round trips (and arangors
//! drops the last batch of multi-batch cursors inside them). A JavaScript
//! transaction runs the whole decision on the server in one round trip,
//! holding the lock only while it runs. The cost: ArangoDB must run with
//! JavaScript enabled (the default; not with `--javascript.enabled false`).

use std::sync::OnceLock;

use serde_json::{Value, json};

use super::schema::{META, written};

/// The operations, in JavaScript.
pub(super) const SOURCE: &str = include_str!("actions.js");

/// Seconds a transaction waits for the writer lock before giving up (it is
/// then retried like a write conflict).
const LOCK_TIMEOUT_S: u64 = 30;

/// The `action` of every transaction: the operations, then a call of the one
/// named by `params.op`.
pub(super) fn action() -> &'static str {
    static ACTION: OnceLock<String> = OnceLock::new();
    ACTION.get_or_init(|| {
        format!(
            "function (params) {{\nvar db = require('@arangodb').db;\n{SOURCE}\n\
             var query = function (name, binds) {{ return db._query(QUERIES[name], binds).toArray(); }};\n\
             return mycelium(db, query)[params.op](params);\n}}"
        )
    })
}

/// The body of `POST /_api/transaction` running `op` with `params`.
pub(super) fn body(op: &str, mut params: Value) -> Value {
    if let Value::Object(map) = &mut params {
        map.insert("op".to_owned(), Value::from(op));
    }
    json!({
        "collections": { "exclusive": [META], "write": written() },
        "action": action(),
        "params": params,
        "waitForSync": false,
        "lockTimeout": LOCK_TIMEOUT_S,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_transaction_takes_the_writer_lock() {
        let b = body("complete", json!({ "done": [] }));
        assert_eq!(b["collections"]["exclusive"], json!(["meta"]));
        let write = b["collections"]["write"].as_array().expect("write list");
        for c in ["jobs", "deps", "results", "failures", "events", "runs", "elves", "tasks", "task_names", "leaders"] {
            assert!(write.contains(&json!(c)), "{c} is not declared");
        }
        assert_eq!(b["params"]["op"], "complete");
        let action = b["action"].as_str().expect("action");
        assert!(action.starts_with("function (params) {") && action.ends_with("}"));
        assert!(action.contains("mycelium(db, query)[params.op](params)"));
    }

    #[test]
    fn every_operation_the_store_calls_exists() {
        for op in [
            "record_tasks",
            "register_elf",
            "heartbeat",
            "elf_gone",
            "submit",
            "cancel_run",
            "complete",
            "fail",
            "release",
            "reap",
            "lead",
            "retry",
        ] {
            assert!(SOURCE.contains(&format!("    {op}: function")), "{op} is missing from actions.js");
        }
        // Timestamps come from the server's clock only.
        assert!(SOURCE.contains("var now = Date.now();"));
    }

    /// Runs every transaction's logic under node against an in-memory
    /// database (actions_test.js), including failure signatures that must
    /// equal `FailureReport::signature`.
    #[test]
    fn actions_logic_under_node() {
        use std::io::Write;

        use crate::model::{FailureKind, FailureReport, Frame};

        if std::process::Command::new("node").arg("--version").output().is_err() {
            let _ = writeln!(std::io::stderr(), "=== actions_logic_under_node SKIPPED: node is not installed ===");
            return;
        }
        let frame =
            |f: &str, of_interest| Frame { function: f.into(), file: None, line: None, column: None, of_interest };
        let mut with_frames = FailureReport::new(FailureKind::Panic, "boom");
        with_frames.frames = vec![frame("std::x", false), frame("app::a", true), frame("app::b", true)];
        let cases: Vec<Value> = [
            (FailureReport::new(FailureKind::Error, "plain"), "e", "t"),
            (FailureReport::new(FailureKind::UpstreamFailed, "upstream job 4 failed (failure 2)"), "elf-x", "draw"),
            (FailureReport::new(FailureKind::LeaseExpired, "ünïcödé ✓ 🦀"), "e", "t"),
            (with_frames, "e", "t"),
        ]
        .into_iter()
        .map(|(r, elf, task)| json!({ "report": r, "elf": elf, "task": task, "signature": r.signature(elf, task) }))
        .collect();
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("signatures.json");
        std::fs::write(&file, Value::from(cases).to_string()).expect("write the cases");
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/src/storage/arango/actions_test.js");
        let out = std::process::Command::new("node").arg(script).arg(&file).output().expect("run node");
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(out.status.success(), "actions_test.js failed:\n{text}");
        assert!(text.contains("12 passed, 0 failed"), "{text}");
    }
}
