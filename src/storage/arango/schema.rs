//! The collections, indexes, named graph and JSON Schema rules of an
//! ArangoDB mycelium, created on first use.
//!
//! Each collection validates its documents with the JSON Schema `schemas/`
//! holds for its document kind, translated to the draft 4 ArangoDB speaks
//! ([`rule`]), with the few fields this backend stores differently named in
//! [`Collection::stored`] (user payloads kept as exact JSON text, for
//! example). The `meta/schema` document records the layout version; a store
//! written by a newer build is refused.

use serde_json::{Map, Value, json};

/// The layout version this build writes and understands. Version 1 was the
/// layout of the JavaScript-transaction backend; version 2 stores payloads
/// as text and indexes ready jobs without a sparse index; version 3 adds
/// flows (`flow_steps`, `flow_signals`, the signal counter, the indexes of
/// waiting jobs and of flows' children) and the agents' `catalog`; version 4
/// adds runs' `sealed` field (a run of an older layout, without it, counts
/// as sealed; upgrading rewrites the collections' rules to allow it);
/// version 5 adds scheduling: jobs' `turn` and `rank_ms`, runs' `vstart`
/// and `weight`, the counters' `vtime`, and the claim's index `jobs_claim`
/// (`state`, `elf`, `rank`, `turn`, `id`) in place of `jobs_ready` (a store
/// upgraded from an older layout keeps that index, unused: drop it at will).
pub(super) const VERSION: u32 = 5;

/// The oldest layout this build upgrades in place (by adding what is
/// missing: collections, indexes, counters).
pub(super) const UPGRADABLE: u32 = 2;

/// The collection holding the counters (`meta/counters`) and the layout
/// version (`meta/schema`). Every write transaction takes it exclusively:
/// the store's writer lock.
pub(super) const META: &str = "meta";
/// The named graph over `jobs` and `deps` (for people looking at a run in
/// ArangoDB's web interface; the store itself never traverses it).
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
    /// Properties stored differently from the schema's document, each with
    /// the schema of its stored form (JSON text), replacing or adding to the
    /// translated rule's `properties`.
    stored: &'static [(&'static str, &'static str)],
    /// Its secondary indexes.
    pub(super) indexes: &'static [Index],
}

/// A secondary index.
#[derive(Debug)]
pub(super) struct Index {
    pub(super) name: &'static str,
    pub(super) fields: &'static [&'static str],
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

/// JSON text of a payload: exact, whatever its numbers.
const TEXT: &str = r#"{"type":"string"}"#;
/// An integer the user chose (kept as decimal text beyond 2^53).
const EXACT: &str = r#"{"type":["integer","string","null"],"pattern":"^[0-9]+$"}"#;
const INTEGER: &str = r#"{"type":"integer"}"#;
const INTEGER_OR_NULL: &str = r#"{"type":["integer","null"]}"#;
/// JSON text, or nothing.
const TEXT_OR_NULL: &str = r#"{"type":["string","null"]}"#;
/// A time the user chose (kept as decimal text beyond 2^53), or nothing.
const EXACT_TIME_OR_NULL: &str = r#"{"type":["integer","string","null"],"pattern":"^-?[0-9]+$"}"#;

const TASK_NAME_SCHEMA: &str = r#"{"type":"object","required":["elf","task","sha","first_seen"],
  "properties":{"elf":{"type":"string"},"task":{"type":"string"},
  "sha":{"type":"string","pattern":"^[0-9a-f]{64}$"},"first_seen":{"type":"integer"}}}"#;
const DEP_SCHEMA: &str = r#"{"type":"object","required":["producer","consumer","path"],
  "properties":{"producer":{"type":"integer","minimum":1},"consumer":{"type":"integer","minimum":1},
  "path":{"type":"string"}}}"#;
const RESULT_SCHEMA: &str = r#"{"type":"object","required":["job","epoch","value","at"],
  "properties":{"job":{"type":"integer","minimum":1},"epoch":{"type":"integer"},
  "value":{"type":"string","description":"The result as JSON text (exact integers survive)."},
  "at":{"type":"integer"}}}"#;
const TOKEN_SCHEMA: &str = r#"{"type":"object","required":["name","scope","hash","created_at"],
  "properties":{"name":{"type":"string"},"scope":{"enum":["read","operator"]},
  "hash":{"type":"string","pattern":"^[0-9a-f]{64}$"},"created_at":{"type":"number"},
  "revoked_at":{"type":["number","null"]},"active_name":{"type":["string","null"]}}}"#;
const LEADER_SCHEMA: &str = r#"{"type":"object","required":["role","holder","lease_until"],
  "properties":{"role":{"type":"string"},"holder":{"type":"string"},"lease_until":{"type":"integer"}}}"#;
const CATALOG_SCHEMA: &str = r#"{"type":"object","required":["kind","key","value"],
  "properties":{"kind":{"type":"string"},"key":{"type":"string"},
  "value":{"type":"string","description":"The declaration as JSON text."}}}"#;
const COUNTERS_SCHEMA: &str = r#"{"type":"object",
  "properties":{"job":{"type":"integer","minimum":0},"run":{"type":"integer","minimum":0},
  "failure":{"type":"integer","minimum":0},"signal":{"type":"integer","minimum":0},"vtime":{"type":"integer","minimum":0},"seq":{"type":"integer","minimum":0},"commits":{"type":"integer","minimum":0},
  "version":{"type":"integer","minimum":1}}}"#;

/// Every collection, in creation order.
pub(super) const COLLECTIONS: &[Collection] = &[
    Collection { name: META, edge: false, schema: Some(COUNTERS_SCHEMA), stored: &[], indexes: &[] },
    Collection {
        name: "tasks",
        edge: false,
        schema: Some(include_str!("../../../schemas/task.schema.json")),
        stored: &[],
        indexes: &[],
    },
    Collection {
        name: "task_names",
        edge: false,
        schema: Some(TASK_NAME_SCHEMA),
        stored: &[],
        indexes: &[persistent("task_names_key", &["elf", "task", "sha"], true, false)],
    },
    Collection {
        name: "elves",
        edge: false,
        schema: Some(include_str!("../../../schemas/elf.schema.json")),
        stored: &[("process_start", EXACT), ("gone_at", INTEGER_OR_NULL)],
        indexes: &[
            persistent("elves_instance", &["instance"], true, false),
            persistent("elves_state", &["state", "started_at"], false, false),
            ttl("elves_retention", &["gone_at"], ELF_RETENTION_S),
        ],
    },
    Collection {
        name: "runs",
        edge: false,
        schema: Some(include_str!("../../../schemas/run.schema.json")),
        stored: &[("idem_key", r#"{"type":["string","null"]}"#), ("vstart", INTEGER), ("weight", INTEGER)],
        indexes: &[
            persistent("runs_id", &["id"], true, false),
            // Only runs submitted with a key carry one: sparse, so that the
            // many without are not one null entry each; looked up with
            // `== @key`, a non-null value, which a sparse index serves.
            persistent("runs_idem", &["idem_key"], true, true),
            persistent("runs_state", &["state", "id"], false, false),
        ],
    },
    Collection {
        name: "jobs",
        edge: false,
        schema: Some(include_str!("../../../schemas/job.schema.json")),
        stored: &[
            ("args", TEXT),
            ("retry", TEXT),
            ("timeout_ms", EXACT),
            ("ndeps", INTEGER),
            // `-priority`: one sort direction for the claim's index.
            ("rank", INTEGER),
            // The claim order after `rank` (`crate::lifecycle::sched`), and
            // the rank in ms it came from.
            ("turn", INTEGER),
            ("rank_ms", INTEGER),
            // A waiting job's `not_before`, else null (`jobs_waiting`).
            ("wait_until", INTEGER_OR_NULL),
        ],
        indexes: &[
            persistent("jobs_id", &["id"], true, false),
            // The claim's index: ready jobs of an elf in claim order. Not
            // sparse: arangod uses a sparse index for a sort only when every
            // field is known not to be null, and for a filter only when it
            // covers every field (SortedIndexAttributeMatcher); this one is
            // used for `state == "ready" AND elf == @elf SORT rank, turn, id`,
            // with no sort step (the live check EXPLAINs it on a real server).
            persistent("jobs_claim", &["state", "elf", "rank", "turn", "id"], false, false),
            // The reaper's: claimed jobs by lease expiry.
            persistent("jobs_lease", &["state", "lease_until"], false, false),
            persistent("jobs_holder", &["holder", "state"], false, false),
            persistent("jobs_run", &["run", "id"], false, false),
            // Flows' timers: waiting jobs of an elf by their timer
            // (`wait_until`, null unless waiting: the claim's filter matches
            // no more of this index than of `jobs_ready`).
            persistent("jobs_waiting", &["elf", "wait_until"], false, false),
            // Flows' children; most jobs have no parent.
            persistent("jobs_parent", &["parent"], false, true),
        ],
    },
    Collection {
        name: "flow_steps",
        edge: false,
        schema: Some(include_str!("../../../schemas/flow-step.schema.json")),
        stored: &[("outcome", TEXT_OR_NULL), ("detail", TEXT_OR_NULL), ("due", EXACT_TIME_OR_NULL)],
        indexes: &[
            // The key is `flow:k`; this index orders a flow's steps.
            persistent("flow_steps_flow", &["flow", "k"], true, false),
            persistent("flow_steps_child", &["child"], false, true),
        ],
    },
    Collection {
        name: "flow_signals",
        edge: false,
        schema: Some(include_str!("../../../schemas/flow-signal.schema.json")),
        stored: &[("payload", TEXT)],
        indexes: &[
            persistent("flow_signals_flow", &["flow", "id"], false, false),
            persistent("flow_signals_name", &["flow", "name"], false, false),
        ],
    },
    Collection {
        name: "catalog",
        edge: false,
        schema: Some(CATALOG_SCHEMA),
        stored: &[],
        indexes: &[persistent("catalog_key", &["kind", "key"], true, false)],
    },
    Collection {
        name: "deps",
        edge: true,
        schema: Some(DEP_SCHEMA),
        stored: &[],
        indexes: &[persistent("deps_path", &["consumer", "path"], true, false)],
    },
    Collection { name: "results", edge: false, schema: Some(RESULT_SCHEMA), stored: &[], indexes: &[] },
    Collection {
        name: "failures",
        edge: false,
        schema: Some(include_str!("../../../schemas/failure.schema.json")),
        // The report holds the task's inputs: exact text.
        stored: &[("report", TEXT), ("kind", r#"{"type":"string"}"#)],
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
        stored: &[("data", r#"{"type":["string","null"]}"#), ("expires", INTEGER)],
        indexes: &[
            persistent("events_seq", &["seq"], true, false),
            persistent("events_job", &["job", "seq"], false, false),
            persistent("events_run", &["run", "seq"], false, false),
            ttl("events_retention", &["expires"], EVENT_RETENTION_S),
        ],
    },
    Collection {
        name: "leaders",
        edge: false,
        schema: Some(LEADER_SCHEMA),
        stored: &[],
        indexes: &[persistent("leaders_role", &["role"], true, false)],
    },
    Collection {
        name: "tokens",
        edge: false,
        schema: Some(TOKEN_SCHEMA),
        stored: &[],
        indexes: &[
            persistent("tokens_active_name", &["active_name"], true, true),
            persistent("tokens_hash", &["hash"], true, false),
        ],
    },
];

/// The names of every collection.
pub(super) fn names() -> Vec<&'static str> {
    COLLECTIONS.iter().map(|c| c.name).collect()
}

/// The collections a write transaction declares for (shared) write access:
/// all but `meta`, which it takes exclusively.
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
        let mut rule = rule(&schema);
        if let Some(props) = rule.get_mut("properties").and_then(Value::as_object_mut) {
            for (name, stored) in self.stored {
                let stored: Value = serde_json::from_str(stored).ok()?;
                props.insert((*name).to_owned(), translate(&stored, &Map::new(), 0));
            }
        }
        Some(json!({
            "rule": rule,
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
                "unique": unique, "sparse": sparse,
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
    json!({ "_key": "counters", "seq": 0, "job": 0, "run": 0, "failure": 0, "signal": 0, "commits": 0, "vtime": 0 })
}

/// Translates a generated JSON Schema (draft 2020-12) into a rule ArangoDB's
/// draft-4 validator applies as meant:
///
/// * `$ref`s into `$defs` are inlined (and `$defs` dropped);
/// * `const` becomes a one-value `enum`; `prefixItems` becomes draft 4's
///   array form of `items`; a numeric `exclusiveMinimum`/`exclusiveMaximum`
///   becomes draft 4's `minimum` with a boolean flag;
/// * boolean *schemas* (`true`, `false` where a schema stands: a property,
///   `items`, `additionalProperties`, an `anyOf` branch, ...) become `{}` and
///   `{"not": {}}`, and nothing else: a boolean keyword value
///   (`uniqueItems: true`, `additionalProperties: false`) stays a boolean;
/// * annotations (`description`, `format`, `default`, `$schema`, `title`,
///   ...) are dropped: draft 4 ignores or rejects them;
/// * `integer` becomes `number` with `multipleOf: 1`, as ArangoDB's
///   documentation advises: its validator checks `integer` against the
///   stored number type, and numbers AQL computes are doubles.
pub(super) fn rule(schema: &Value) -> Value {
    let defs = schema.get("$defs").and_then(Value::as_object).cloned().unwrap_or_default();
    translate(schema, &defs, 0)
}

/// Keywords whose value is one schema.
const SCHEMA_KEYWORDS: &[&str] = &["not", "additionalItems", "contains", "propertyNames"];
/// Keywords whose value is a list of schemas.
const SCHEMA_LISTS: &[&str] = &["anyOf", "oneOf", "allOf"];
/// Keywords whose value maps names to schemas.
const SCHEMA_MAPS: &[&str] = &["properties", "patternProperties", "definitions"];
/// Annotations and keywords draft 4 does not know.
const DROPPED: &[&str] = &[
    "$schema",
    "$id",
    "$defs",
    "$ref",
    "$comment",
    "title",
    "description",
    "format",
    "default",
    "examples",
    "deprecated",
    "readOnly",
    "writeOnly",
];

/// Translates `v`, which stands where a schema stands.
fn translate(v: &Value, defs: &Map<String, Value>, depth: usize) -> Value {
    let map = match v {
        Value::Bool(true) => return json!({}),
        Value::Bool(false) => return json!({ "not": {} }),
        Value::Object(map) => map,
        // Not a schema at all: a generator bug; refuse everything rather
        // than accept everything.
        _ => return json!({ "not": {} }),
    };
    if let Some(target) = map.get("$ref").and_then(Value::as_str)
        && let Some(def) = target.strip_prefix("#/$defs/").and_then(|name| defs.get(name))
        && depth < 32
    {
        return translate(def, defs, depth + 1);
    }
    let mut out = Map::new();
    let mut integer = false;
    for (key, value) in map {
        let k = key.as_str();
        if DROPPED.contains(&k) {
            continue;
        }
        let translated = if SCHEMA_MAPS.contains(&k) {
            let schemas = value
                .as_object()
                .map(|m| m.iter().map(|(name, s)| (name.clone(), translate(s, defs, depth))).collect())
                .unwrap_or_default();
            Value::Object(schemas)
        } else if SCHEMA_LISTS.contains(&k) {
            Value::Array(value.as_array().into_iter().flatten().map(|s| translate(s, defs, depth)).collect())
        } else if SCHEMA_KEYWORDS.contains(&k) {
            translate(value, defs, depth)
        } else {
            match k {
                // A schema or, in draft 4 already, a list of them.
                "items" => match value {
                    Value::Array(list) => Value::Array(list.iter().map(|s| translate(s, defs, depth)).collect()),
                    one => translate(one, defs, depth),
                },
                // `false` forbids other properties; a schema constrains them.
                "additionalProperties" => match value {
                    Value::Bool(b) => Value::Bool(*b),
                    s => translate(s, defs, depth),
                },
                "prefixItems" => {
                    let list = value.as_array().into_iter().flatten().map(|s| translate(s, defs, depth)).collect();
                    out.insert("items".to_owned(), Value::Array(list));
                    continue;
                }
                "const" => {
                    out.insert("enum".to_owned(), json!([value]));
                    continue;
                }
                "type" => {
                    let (t, had_integer) = integer_as_number(value);
                    integer = had_integer;
                    t
                }
                "exclusiveMinimum" | "exclusiveMaximum" if value.is_number() => {
                    let bound = if k == "exclusiveMinimum" { "minimum" } else { "maximum" };
                    out.insert(bound.to_owned(), value.clone());
                    out.insert(k.to_owned(), Value::Bool(true));
                    continue;
                }
                // Every other keyword's value is data (`required`, `enum`,
                // `minimum`, `uniqueItems`, `pattern`, ...): kept as it is.
                _ => value.clone(),
            }
        };
        out.insert(key.clone(), translated);
    }
    if integer && !out.contains_key("multipleOf") {
        out.insert("multipleOf".to_owned(), json!(1));
    }
    Value::Object(out)
}

/// `type` with `integer` as `number`; whether it named `integer` without
/// `number` (so that `multipleOf: 1` keeps it whole).
fn integer_as_number(t: &Value) -> (Value, bool) {
    match t {
        Value::String(s) if s == "integer" => (json!("number"), true),
        Value::Array(ts) => {
            let names: Vec<&str> = ts.iter().filter_map(Value::as_str).collect();
            let integer = names.contains(&"integer") && !names.contains(&"number");
            let mut out: Vec<Value> = Vec::new();
            for t in ts {
                let t = integer_as_number(t).0;
                if !out.contains(&t) {
                    out.push(t);
                }
            }
            (Value::Array(out), integer)
        }
        other => (other.clone(), false),
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

    fn collection(name: &str) -> &'static Collection {
        COLLECTIONS.iter().find(|c| c.name == name).expect("a collection of that name")
    }

    fn validator(name: &str) -> jsonschema::Validator {
        let rule = collection(name).schema_property().expect("schema")["rule"].clone();
        jsonschema::draft4::new(&rule).expect("a draft-4 schema")
    }

    #[test]
    fn every_embedded_schema_translates_to_plain_draft_4() {
        for c in COLLECTIONS {
            let Some(text) = c.schema else { continue };
            assert!(serde_json::from_str::<Value>(text).is_ok(), "{}: the embedded schema is not JSON", c.name);
            let prop = c.schema_property().expect("schema");
            assert_eq!(prop["level"], "moderate");
            assert!(jsonschema::draft4::new(&prop["rule"]).is_ok(), "{}: not a draft-4 schema", c.name);
            walk(&prop["rule"], &mut |k, v| {
                assert!(
                    !matches!(k, "$ref" | "$defs" | "const" | "format" | "$schema" | "prefixItems"),
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
                "properties": { "id": { "type": "number", "multipleOf": 1 },
                                "k": { "anyOf": [{ "enum": ["fixed"], "type": "string" }, { "type": "null" }] },
                                "any": {}, "t": { "type": ["number", "null"], "multipleOf": 1 } },
                "required": ["id"],
            })
        );
    }

    #[test]
    fn booleans_become_schemas_only_where_a_schema_stands() {
        // Issue 11: translate() turned every boolean into a schema, so that
        // `uniqueItems: true` became `uniqueItems: {}` and a default of
        // `true` a schema, which draft 4 rejects or misreads.
        let schema = json!({
            "type": "object",
            "properties": {
                "tags": { "type": "array", "items": { "type": "string" }, "uniqueItems": true },
                "pair": { "type": "array", "prefixItems": [true, { "type": "integer" }] },
                "strict": { "type": "object", "additionalProperties": false },
                "never": false,
                "flag": { "type": "boolean", "default": true, "enum": [true, false] },
                "positive": { "type": "number", "exclusiveMinimum": 0 },
            },
        });
        let r = rule(&schema);
        let p = &r["properties"];
        assert_eq!(p["tags"]["uniqueItems"], json!(true));
        assert_eq!(p["pair"]["items"], json!([{}, { "type": "number", "multipleOf": 1 }]));
        assert_eq!(p["strict"]["additionalProperties"], json!(false));
        assert_eq!(p["never"], json!({ "not": {} }));
        assert_eq!(p["flag"], json!({ "type": "boolean", "enum": [true, false] }));
        assert_eq!(p["positive"], json!({ "type": "number", "minimum": 0, "exclusiveMinimum": true }));
        let v = jsonschema::draft4::new(&r).expect("draft 4");
        assert!(v.is_valid(&json!({ "tags": ["a", "b"], "pair": ["x", 1], "positive": 1 })));
        assert!(!v.is_valid(&json!({ "tags": ["a", "a"] })), "uniqueItems still holds");
        assert!(!v.is_valid(&json!({ "strict": { "x": 1 } })), "additionalProperties false still holds");
        assert!(!v.is_valid(&json!({ "never": 1 })));
        assert!(!v.is_valid(&json!({ "positive": 0 })));
        assert!(!v.is_valid(&json!({ "pair": ["x", 1.5] })));
    }

    #[test]
    fn stored_documents_validate_against_the_translated_rules() {
        // A job as this backend writes it: payloads as text, an exact
        // timeout beyond 2^53 as decimal text.
        let job = json!({
            "_key": "7", "id": 7, "run": 3, "key": null, "elf": "e", "task": "t", "args": "[1]", "state": "ready",
            "unmet": 0, "ndeps": 0, "priority": 2, "rank": -2, "attempt": 0, "max_attempts": 1, "lost": 0,
            "retry": r#"{"max_attempts":1,"backoff":{"kind":"fixed","delay_ms":0},"max_delay_ms":60000,"jitter":false}"#,
            "timeout_ms": "18446744073709551615", "expected_sha": null, "ran_sha": null, "holder": null,
            "lease_until": null, "epoch": 1.0, "not_before": 0, "created_at": 1.7e12, "updated_at": 1.7e12,
            "started_at": null, "finished_at": null
        });
        let jobs = validator("jobs");
        assert!(jobs.is_valid(&job), "{:?}", jobs.iter_errors(&job).map(|e| e.to_string()).collect::<Vec<_>>());
        for (field, bad) in
            [("state", json!("napping")), ("args", json!([1])), ("epoch", json!(1.5)), ("timeout_ms", json!("soon"))]
        {
            let mut wrong = job.clone();
            wrong[field] = bad;
            assert!(!jobs.is_valid(&wrong), "a job with {field} = {} must be refused", wrong[field]);
        }
        let event = json!({ "_key": "1", "seq": 1, "at": 1.7e12, "kind": "job_state", "run": 3, "job": 7,
                            "state": "claimed", "data": "{\"epoch\":1}", "expires": 1_700_000_000 });
        assert!(validator("events").is_valid(&event));
        let failure = json!({ "_key": "4", "id": 4, "job": 7, "run": 3, "elf": "e", "task": "t", "attempt": 1,
                              "epoch": 1, "instance": null, "host": null, "pid": null, "started_at": null,
                              "at": 5, "signature": "ab", "will_retry": false, "kind": "panic",
                              "report": "{\"inputs\":[12345678901234567890]}" });
        assert!(validator("failures").is_valid(&failure));
    }

    #[test]
    fn flow_and_catalog_documents_validate_against_the_translated_rules() {
        // A waiting flow with no timer (not_before at 2^53 - 1) and a child.
        let job = json!({
            "_key": "8", "id": 8, "run": 3, "key": null, "elf": "e", "task": "f", "args": "[]", "state": "waiting",
            "unmet": 0, "ndeps": 0, "priority": 0, "rank": 0, "attempt": 1, "max_attempts": 1, "lost": 0,
            "retry": "{}", "timeout_ms": null, "expected_sha": null, "ran_sha": null, "holder": null,
            "lease_until": null, "epoch": 2, "not_before": 9_007_199_254_740_991_i64,
            "wait_until": 9_007_199_254_740_991_i64, "created_at": 1,
            "updated_at": 2, "started_at": 1, "finished_at": null, "parent": 7
        });
        let jobs = validator("jobs");
        assert!(jobs.is_valid(&job), "{:?}", jobs.iter_errors(&job).map(|e| e.to_string()).collect::<Vec<_>>());
        let step = json!({
            "_key": "8:0", "flow": 8, "k": 0, "kind": "sleep", "target": "", "hash": "ab", "child": null,
            "due": "9223372036854775807", "outcome": "{\"ok\":1}", "awaited": true, "sha": null,
            "location": "f.rs:2", "detail": null, "at": 5
        });
        let steps = validator("flow_steps");
        assert!(steps.is_valid(&step), "{:?}", steps.iter_errors(&step).map(|e| e.to_string()).collect::<Vec<_>>());
        for (field, bad) in [("kind", json!("nap")), ("outcome", json!({ "ok": 1 })), ("due", json!("soon"))] {
            let mut wrong = step.clone();
            wrong[field] = bad;
            assert!(!steps.is_valid(&wrong), "a step with {field} = {} must be refused", wrong[field]);
        }
        let signal = json!({ "_key": "1", "id": 1, "flow": 8, "name": "go", "payload": "[1]", "sent_at": 5,
                             "consumed_by": null });
        assert!(validator("flow_signals").is_valid(&signal));
        assert!(!validator("flow_signals").is_valid(&json!({ "id": 1, "flow": 8, "name": "go", "payload": [1],
                                                             "sent_at": 5 })));
        let entry = json!({ "_key": "queue:q", "kind": "queue", "key": "q", "value": "{}" });
        assert!(validator("catalog").is_valid(&entry));
        assert!(!validator("catalog").is_valid(&json!({ "kind": "queue", "key": "q", "value": {} })));
    }

    #[test]
    fn indexes_and_collections_have_the_documented_bodies() {
        let jobs = collection("jobs");
        let body = jobs.create_body();
        assert_eq!((body["type"].as_i64(), body["schema"]["level"].as_str()), (Some(2), Some("moderate")));
        let ready = jobs.indexes.iter().find(|i| i.name == "jobs_claim").expect("claim index").create_body();
        assert_eq!(
            ready,
            json!({ "type": "persistent", "name": "jobs_claim", "fields": ["state", "elf", "rank", "turn", "id"],
                    "unique": false, "sparse": false })
        );
        let ttl = collection("events").indexes.iter().find(|i| i.name == "events_retention").expect("ttl");
        assert_eq!(
            ttl.create_body(),
            json!({ "type": "ttl", "name": "events_retention", "fields": ["expires"], "expireAfter": 2_592_000 })
        );
        assert_eq!(collection("deps").create_body()["type"], 3);
        assert_eq!(graph_body()["edgeDefinitions"][0]["collection"], "deps");
        assert!(!written().contains(&META) && written().contains(&"events"));
        assert_eq!(names().len(), written().len() + 1);
        for c in COLLECTIONS {
            assert!(c.indexes.iter().filter(|i| matches!(i.kind, IndexKind::Ttl { .. })).count() <= 1, "{}", c.name);
        }
    }
}
