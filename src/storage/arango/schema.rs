//! The collections, indexes, named graph and JSON Schema rules of an
//! ArangoDB mycelium, created on first use.
//!
//! Creation is idempotent and safe to race: several processes opening a new
//! database at once all succeed. The `meta/schema` document records the
//! layout version; a store written by a newer build is refused.
//!
//! Each collection validates its documents against the JSON Schema that
//! `schemas/` holds for its document kind (ArangoDB speaks draft 4, so the
//! generated draft 2020-12 schemas are translated: see [`rule`]).

use serde_json::{Map, Value, json};

/// The layout version this build writes and understands.
pub(super) const VERSION: u32 = 1;

/// The collection holding the counters (`meta/counters`) and the layout
/// version (`meta/schema`). Every write takes an exclusive lock on it: the
/// store's writer gate.
pub(super) const META: &str = "meta";
/// The named graph over `jobs` and `deps`.
pub(super) const GRAPH: &str = "jobgraph";

/// Events are kept this long (a TTL index on `expires`, in seconds).
pub(super) const EVENT_RETENTION_S: u64 = 30 * 24 * 3600;
/// Stopped and lost elf instances are kept this long after they stopped.
pub(super) const ELF_RETENTION_S: u64 = 7 * 24 * 3600;

/// A collection of the mycelium.
#[derive(Debug)]
pub(super) struct Collection {
    /// Its name.
    pub(super) name: &'static str,
    /// Whether it is an edge collection.
    pub(super) edge: bool,
    /// Its JSON Schema (draft 2020-12, as generated), if validated.
    schema: Option<&'static str>,
    /// Its secondary indexes.
    pub(super) indexes: &'static [Index],
}

/// A secondary index.
#[derive(Debug)]
pub(super) struct Index {
    name: &'static str,
    fields: &'static [&'static str],
    kind: IndexKind,
}

#[derive(Debug)]
enum IndexKind {
    Persistent { unique: bool, sparse: bool },
    Ttl { expire_after: u64 },
}

const fn persistent(name: &'static str, fields: &'static [&'static str], unique: bool, sparse: bool) -> Index {
    Index { name, fields, kind: IndexKind::Persistent { unique, sparse } }
}

const fn ttl(name: &'static str, field: &'static [&'static str], expire_after: u64) -> Index {
    Index { name, fields: field, kind: IndexKind::Ttl { expire_after } }
}

const TASK_NAME_SCHEMA: &str = r#"{"type":"object","required":["elf","task","sha","first_seen"],
  "properties":{"elf":{"type":"string"},"task":{"type":"string"},
  "sha":{"type":"string","pattern":"^[0-9a-f]{64}$"},"first_seen":{"type":"integer"}}}"#;
const DEP_SCHEMA: &str = r#"{"type":"object","required":["producer","consumer","path","run"],
  "properties":{"producer":{"type":"integer","minimum":1},"consumer":{"type":"integer","minimum":1},
  "path":{"type":"string"},"run":{"type":"integer","minimum":1}}}"#;
const RESULT_SCHEMA: &str = r#"{"type":"object","required":["job","epoch","value","at"],
  "properties":{"job":{"type":"integer","minimum":1},"epoch":{"type":"integer"},
  "value":{"type":"string","description":"The result as JSON text (exact integers survive)."},
  "at":{"type":"integer"}}}"#;
const LEADER_SCHEMA: &str = r#"{"type":"object","required":["role","holder","lease_until"],
  "properties":{"role":{"type":"string"},"holder":{"type":"string"},"lease_until":{"type":"integer"}}}"#;

/// Every collection, in creation order.
pub(super) const COLLECTIONS: &[Collection] = &[
    Collection { name: META, edge: false, schema: None, indexes: &[] },
    Collection {
        name: "tasks",
        edge: false,
        schema: Some(include_str!("../../../schemas/task.schema.json")),
        indexes: &[],
    },
    Collection {
        name: "task_names",
        edge: false,
        schema: Some(TASK_NAME_SCHEMA),
        indexes: &[persistent("task_names_key", &["elf", "task", "sha"], true, false)],
    },
    Collection {
        name: "elves",
        edge: false,
        schema: Some(include_str!("../../../schemas/elf.schema.json")),
        indexes: &[
            persistent("elves_instance", &["instance"], true, false),
            persistent("elves_lease", &["state", "lease_until"], false, false),
            ttl("elves_retention", &["gone_at"], ELF_RETENTION_S),
        ],
    },
    Collection {
        name: "runs",
        edge: false,
        schema: Some(include_str!("../../../schemas/run.schema.json")),
        indexes: &[
            persistent("runs_id", &["id"], true, false),
            persistent("runs_idem", &["idem_key"], true, true),
            persistent("runs_state", &["state", "id"], false, false),
        ],
    },
    Collection {
        name: "jobs",
        edge: false,
        schema: Some(include_str!("../../../schemas/job.schema.json")),
        indexes: &[
            persistent("jobs_id", &["id"], true, false),
            // Only ready jobs carry `ready_elf`: a sparse index is the
            // partial index of ready jobs, in claim order.
            persistent("jobs_ready", &["ready_elf", "rank", "id"], false, true),
            // Only claimed jobs carry `lease_until`: the reaper's index.
            persistent("jobs_lease", &["lease_until"], false, true),
            persistent("jobs_holder", &["holder", "state"], false, true),
            persistent("jobs_run", &["run", "state"], false, false),
        ],
    },
    Collection {
        name: "deps",
        edge: true,
        schema: Some(DEP_SCHEMA),
        indexes: &[
            persistent("deps_path", &["consumer", "path"], true, false),
            persistent("deps_run", &["run"], false, false),
        ],
    },
    Collection { name: "results", edge: false, schema: Some(RESULT_SCHEMA), indexes: &[] },
    Collection {
        name: "failures",
        edge: false,
        schema: Some(include_str!("../../../schemas/failure.schema.json")),
        indexes: &[
            persistent("failures_id", &["id"], true, false),
            persistent("failures_job", &["job"], false, false),
            persistent("failures_run", &["run"], false, false),
            persistent("failures_signature", &["signature", "at"], false, false),
            persistent("failures_at", &["at"], false, false),
        ],
    },
    Collection {
        name: "events",
        edge: false,
        schema: Some(include_str!("../../../schemas/event.schema.json")),
        indexes: &[
            persistent("events_seq", &["seq"], true, false),
            persistent("events_job", &["job", "seq"], false, true),
            persistent("events_run", &["run", "seq"], false, true),
            ttl("events_retention", &["expires"], EVENT_RETENTION_S),
        ],
    },
    Collection {
        name: "leaders",
        edge: false,
        schema: Some(LEADER_SCHEMA),
        indexes: &[persistent("leaders_role", &["role"], true, false)],
    },
];

/// The collections every write transaction declares (all but `meta`, which
/// it takes exclusively).
pub(super) fn written() -> Vec<&'static str> {
    COLLECTIONS.iter().map(|c| c.name).filter(|n| *n != META).collect()
}

impl Collection {
    /// The body of `POST /_api/collection`.
    pub(super) fn create_body(&self) -> Value {
        let mut body = json!({
            "name": self.name,
            "type": if self.edge { 3 } else { 2 },
            "keyOptions": { "type": "traditional", "allowUserKeys": true },
        });
        if let Some(schema) = self.schema_property() {
            body["schema"] = schema;
        }
        body
    }

    /// The collection's `schema` property: the translated rule, validated
    /// for new documents and for changes to valid ones.
    pub(super) fn schema_property(&self) -> Option<Value> {
        let text = self.schema?;
        // The embedded files are generated by this crate and checked by a
        // unit test; an unreadable one would validate nothing.
        let schema: Value = serde_json::from_str(text).ok()?;
        Some(json!({
            "rule": rule(&schema),
            "level": "moderate",
            "message": format!(
                "a `{}` document does not match its schema (schemas/ in the mycelium repository)",
                self.name
            ),
        }))
    }
}

impl Index {
    /// The body of `POST /_api/index?collection=...`.
    pub(super) fn create_body(&self) -> Value {
        match self.kind {
            IndexKind::Persistent { unique, sparse } => json!({
                "type": "persistent", "name": self.name, "fields": self.fields,
                "unique": unique, "sparse": sparse, "inBackground": true,
            }),
            IndexKind::Ttl { expire_after } => json!({
                "type": "ttl", "name": self.name, "fields": self.fields, "expireAfter": expire_after,
            }),
        }
    }
}

/// The body of `POST /_api/gharial`: the named graph of jobs and their
/// dependency edges (producer -> consumer).
pub(super) fn graph_body() -> Value {
    json!({
        "name": GRAPH,
        "edgeDefinitions": [{ "collection": "deps", "from": ["jobs"], "to": ["jobs"] }],
    })
}

/// The initial `meta/counters` document.
pub(super) fn counters() -> Value {
    json!({ "_key": "counters", "seq": 0, "job": 0, "run": 0, "failure": 0 })
}

/// Translates a generated JSON Schema (draft 2020-12) into a rule ArangoDB's
/// draft-4 validator applies as meant:
///
/// * `$ref`s into `$defs` are inlined (and `$defs` dropped);
/// * `const` becomes a one-value `enum`; boolean schemas become `{}` and
///   `{"not": {}}`;
/// * annotations (`description`, `format`, `default`, `$schema`, `title`)
///   are dropped: draft 4 ignores or rejects them;
/// * `integer` becomes `number`: values computed by AQL and the server's
///   JavaScript (timestamps, epochs, counters) are stored as doubles, which
///   a strict draft-4 validator may refuse as integers.
pub(super) fn rule(schema: &Value) -> Value {
    let defs = schema.get("$defs").and_then(Value::as_object).cloned().unwrap_or_default();
    translate(schema, &defs, 0)
}

fn translate(v: &Value, defs: &Map<String, Value>, depth: usize) -> Value {
    match v {
        Value::Bool(true) => json!({}),
        Value::Bool(false) => json!({ "not": {} }),
        Value::Object(map) => {
            if let Some(target) = map.get("$ref").and_then(Value::as_str)
                && let Some(def) = target.strip_prefix("#/$defs/").and_then(|name| defs.get(name))
                && depth < 32
            {
                return translate(def, defs, depth + 1);
            }
            let mut out = Map::new();
            for (key, value) in map {
                match key.as_str() {
                    "$schema" | "$id" | "$defs" | "$ref" | "title" | "description" | "format" | "default"
                    | "examples" | "deprecated" | "readOnly" | "writeOnly" => {}
                    "const" => {
                        out.insert("enum".to_owned(), json!([value]));
                    }
                    "type" => {
                        out.insert(key.clone(), integer_as_number(value));
                    }
                    "properties" | "patternProperties" => {
                        let props = value
                            .as_object()
                            .map(|m| m.iter().map(|(k, s)| (k.clone(), translate(s, defs, depth))).collect())
                            .unwrap_or_default();
                        out.insert(key.clone(), Value::Object(props));
                    }
                    _ => {
                        out.insert(key.clone(), translate(value, defs, depth));
                    }
                }
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(items.iter().map(|i| translate(i, defs, depth)).collect()),
        other => other.clone(),
    }
}

fn integer_as_number(t: &Value) -> Value {
    match t {
        Value::String(s) if s == "integer" => json!("number"),
        Value::Array(ts) => {
            let mut out: Vec<Value> = Vec::new();
            for t in ts {
                let t = integer_as_number(t);
                if !out.contains(&t) {
                    out.push(t);
                }
            }
            Value::Array(out)
        }
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn walk(v: &Value, f: &mut impl FnMut(&str, &Value)) {
        match v {
            Value::Object(m) => {
                for (k, x) in m {
                    f(k, x);
                    walk(x, f);
                }
            }
            Value::Array(xs) => xs.iter().for_each(|x| walk(x, f)),
            _ => {}
        }
    }

    #[test]
    fn every_embedded_schema_translates_to_plain_draft_4() {
        for c in COLLECTIONS {
            let Some(text) = c.schema else { continue };
            assert!(serde_json::from_str::<Value>(text).is_ok(), "{}: the embedded schema is not JSON", c.name);
            let prop = c.schema_property().expect("schema");
            assert_eq!(prop["level"], "moderate");
            walk(&prop["rule"], &mut |k, v| {
                assert!(
                    !matches!(k, "$ref" | "$defs" | "const" | "format" | "$schema"),
                    "{}: `{k}` left in the rule",
                    c.name
                );
                assert!(!(k == "type" && v.to_string().contains("integer")), "{}: integer type left", c.name);
                if matches!(k, "properties") {
                    for (name, s) in v.as_object().expect("properties is an object") {
                        assert!(s.is_object(), "{}: property `{name}` has a non-object schema", c.name);
                    }
                }
            });
        }
    }

    #[test]
    fn refs_are_inlined_and_consts_become_enums() {
        let schema = json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$defs": { "Id": { "type": "integer", "format": "int64" }, "K": { "const": "fixed", "type": "string" } },
            "type": "object",
            "properties": { "id": { "$ref": "#/$defs/Id" }, "k": { "anyOf": [{ "$ref": "#/$defs/K" }, { "type": "null" }] },
                            "any": true, "t": { "type": ["integer", "null"] } },
            "required": ["id"],
        });
        assert_eq!(
            rule(&schema),
            json!({
                "type": "object",
                "properties": { "id": { "type": "number" }, "k": { "anyOf": [{ "enum": ["fixed"], "type": "string" }, { "type": "null" }] },
                                "any": {}, "t": { "type": ["number", "null"] } },
                "required": ["id"],
            })
        );
    }

    #[test]
    fn stored_documents_validate_against_the_translated_rules() {
        // A job as the submit transaction writes it, internal fields included.
        let job = json!({
            "_key": "7", "id": 7, "run": 3, "key": null, "elf": "e", "task": "t", "args": "[1]", "state": "ready",
            "unmet": 0, "priority": 0, "rank": 0, "attempt": 0, "max_attempts": 1,
            "retry": { "max_attempts": 1, "backoff": { "kind": "fixed", "delay_ms": 0 }, "max_delay_ms": 60000, "jitter": false },
            "timeout_ms": null, "expected_sha": null, "ran_sha": null, "holder": null, "lease_until": null,
            "epoch": 1.0, "not_before": 0, "created_at": 1.7e12, "updated_at": 1.7e12, "started_at": null,
            "finished_at": null, "ready_elf": "e", "producers": []
        });
        let jobs = COLLECTIONS.iter().find(|c| c.name == "jobs").expect("jobs");
        let rule = jobs.schema_property().expect("schema")["rule"].clone();
        let validator = jsonschema::draft4::new(&rule).expect("a draft-4 schema");
        assert!(
            validator.is_valid(&job),
            "{:?}",
            validator.iter_errors(&job).map(|e| e.to_string()).collect::<Vec<_>>()
        );
        let mut bad = job.clone();
        bad["state"] = json!("napping");
        assert!(!validator.is_valid(&bad), "an unknown state must be refused");
        let event = json!({ "_key": "1", "seq": 1, "at": 1.7e12, "kind": "job_state", "run": 3, "job": 7,
                            "state": "claimed", "data": { "epoch": 1 }, "expires": 1_700_000_000 });
        let events = COLLECTIONS.iter().find(|c| c.name == "events").expect("events");
        let rule = events.schema_property().expect("schema")["rule"].clone();
        let validator = jsonschema::draft4::new(&rule).expect("a draft-4 schema");
        assert!(validator.is_valid(&event));
    }

    #[test]
    fn indexes_and_collections_have_the_documented_bodies() {
        let jobs = COLLECTIONS.iter().find(|c| c.name == "jobs").expect("jobs");
        let body = jobs.create_body();
        assert_eq!((body["type"].as_i64(), body["schema"]["level"].as_str()), (Some(2), Some("moderate")));
        let ready = jobs.indexes.iter().find(|i| i.name == "jobs_ready").expect("ready index").create_body();
        assert_eq!(
            ready,
            json!({ "type": "persistent", "name": "jobs_ready", "fields": ["ready_elf", "rank", "id"],
                    "unique": false, "sparse": true, "inBackground": true })
        );
        let events = COLLECTIONS.iter().find(|c| c.name == "events").expect("events");
        let ttl = events.indexes.iter().find(|i| i.name == "events_retention").expect("ttl").create_body();
        assert_eq!(
            ttl,
            json!({ "type": "ttl", "name": "events_retention", "fields": ["expires"], "expireAfter": 2_592_000 })
        );
        let deps = COLLECTIONS.iter().find(|c| c.name == "deps").expect("deps");
        assert_eq!(deps.create_body()["type"], 3);
        assert_eq!(graph_body()["edgeDefinitions"][0]["collection"], "deps");
        assert!(!written().contains(&META) && written().contains(&"events"));
        for c in COLLECTIONS {
            assert!(c.indexes.iter().filter(|i| matches!(i.kind, IndexKind::Ttl { .. })).count() <= 1, "{}", c.name);
        }
    }
}
