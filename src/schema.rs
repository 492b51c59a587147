//! JSON Schemas of the documents of the mycelium.
//!
//! `schemas/` at the root of the crate holds one JSON Schema (draft 2020-12)
//! per document kind, generated from the Rust types of [`crate::model`] by
//! `schemars`, so that programs in other languages can read and write the
//! documents of the mycelium. The schemas describe what the mycelium accepts
//! (a member with a default may be left out).
//!
//! The files are generated, never edited: the unit test `schemas_are_fresh`
//! fails when a committed file no longer matches its type, and
//! `MYCELIUM_BLESS=1 cargo test --lib schema` regenerates them.

use std::io;
use std::path::Path;

use schemars::{JsonSchema, SchemaGenerator};
use serde_json::{Map, Value};

use crate::model::{
    Claimed, Completion, ElfInstance, Event, Failure, FailureReport, Job, JobSpec, Lease, Run, RunSpec, Signal, Step,
    Submission, TaskVersion,
};

/// The directory, relative to the root of the crate, that holds the schemas.
pub const DIR: &str = "schemas";

/// The file name ending every schema file has.
pub const SUFFIX: &str = ".schema.json";

/// Every document kind's schema: `(file name, schema)`, in a fixed order.
///
/// Object members are sorted by name at every depth, so that the files stay
/// the same from one build to the next.
pub fn all() -> Vec<(&'static str, Value)> {
    vec![
        ("task.schema.json", schema_of::<TaskVersion>()),
        ("elf.schema.json", schema_of::<ElfInstance>()),
        ("run.schema.json", schema_of::<Run>()),
        ("run-spec.schema.json", schema_of::<RunSpec>()),
        ("submission.schema.json", schema_of::<Submission>()),
        ("job-spec.schema.json", schema_of::<JobSpec>()),
        ("job.schema.json", schema_of::<Job>()),
        ("claimed.schema.json", schema_of::<Claimed>()),
        ("completion.schema.json", schema_of::<Completion>()),
        ("lease.schema.json", schema_of::<Lease>()),
        ("failure-report.schema.json", schema_of::<FailureReport>()),
        ("failure.schema.json", schema_of::<Failure>()),
        ("event.schema.json", schema_of::<Event>()),
        ("flow-step.schema.json", schema_of::<Step>()),
        ("flow-signal.schema.json", schema_of::<Signal>()),
        ("signal.schema.json", schema_of::<crate::agent::SignalDecl>()),
        ("subscription.schema.json", schema_of::<crate::agent::Subscription>()),
        ("queue.schema.json", schema_of::<crate::agent::QueueDecl>()),
        ("schedule.schema.json", schema_of::<crate::agent::Schedule>()),
    ]
}

/// The text of a schema file: pretty JSON with sorted members and a trailing
/// newline.
pub fn render(schema: &Value) -> String {
    // Serializing a `Value` cannot fail: its keys are strings.
    let mut text = serde_json::to_string_pretty(&sorted(schema.clone())).unwrap_or_default();
    text.push('\n');
    text
}

/// Writes every schema of [`all`] into `dir` (created when missing). A file
/// whose content is already right is left untouched.
pub fn write_all(dir: &Path) -> io::Result<()> {
    std::fs::create_dir_all(dir)?;
    for (name, schema) in all() {
        let path = dir.join(name);
        let text = render(&schema);
        if std::fs::read_to_string(&path).ok().as_deref() != Some(text.as_str()) {
            std::fs::write(&path, text)?;
        }
    }
    Ok(())
}

/// The root schema of `T`, with sorted members.
fn schema_of<T: JsonSchema>() -> Value {
    sorted(SchemaGenerator::default().into_root_schema_for::<T>().to_value())
}

/// `value` with the members of every object sorted by name, whether or not
/// `serde_json` was built to preserve insertion order.
fn sorted(value: Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(String, Value)> = map.into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            Value::Object(entries.into_iter().map(|(k, v)| (k, sorted(v))).collect::<Map<String, Value>>())
        }
        Value::Array(items) => Value::Array(items.into_iter().map(sorted).collect()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::path::PathBuf;

    use serde::Serialize;
    use serde::de::DeserializeOwned;
    use serde_json::json;

    use super::*;
    use crate::model::{
        Backoff, Build, ElfState, EventKind, FailureId, FailureKind, Frame, InstanceId, JobId, JobState, Origin, Param,
        RetryPolicy, RunId, RunState, Signature, TaskSha,
    };

    const BLESS: &str = "MYCELIUM_BLESS";

    fn committed_dir() -> PathBuf {
        PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/schemas"))
    }

    #[test]
    fn schemas_are_fresh() {
        let dir = committed_dir();
        let bless = std::env::var(BLESS).is_ok_and(|v| v == "1");
        let generated = all();
        let known: Vec<&str> = generated.iter().map(|(name, _)| *name).collect();
        let extra: Vec<PathBuf> = std::fs::read_dir(&dir)
            .map(|entries| {
                entries
                    .filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|p| {
                        p.file_name()
                            .and_then(|n| n.to_str())
                            .is_some_and(|n| n.ends_with(SUFFIX) && !known.contains(&n))
                    })
                    .collect()
            })
            .unwrap_or_default();
        if bless {
            write_all(&dir).expect("write the schemas");
            for path in &extra {
                std::fs::remove_file(path).expect("remove a schema of no document kind");
            }
            return;
        }
        let mut stale = Vec::new();
        for (name, schema) in &generated {
            let path = dir.join(name);
            match std::fs::read_to_string(&path) {
                Ok(text) if text == render(schema) => {}
                Ok(_) => stale.push(format!("{DIR}/{name} is stale: it differs from the schema of its Rust type")),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => stale.push(format!("{DIR}/{name} is missing")),
                Err(e) => stale.push(format!("{DIR}/{name} cannot be read ({e})")),
            }
        }
        for path in &extra {
            stale.push(format!("{} is the schema of no document kind", path.display()));
        }
        assert!(
            stale.is_empty(),
            "the committed JSON Schemas do not match the Rust types:\n  {}\nrun `{BLESS}=1 cargo test --lib schema` to regenerate",
            stale.join("\n  ")
        );
    }

    #[test]
    fn every_document_kind_has_one_file() {
        let generated = all();
        let mut names: Vec<&str> = generated.iter().map(|(n, _)| *n).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), generated.len(), "two kinds share a file name");
        for (name, schema) in &generated {
            assert!(name.ends_with(SUFFIX), "{name}");
            assert_eq!(
                schema.get("$schema").and_then(Value::as_str),
                Some("https://json-schema.org/draft/2020-12/schema"),
                "{name}"
            );
            assert_eq!(schema.get("type").and_then(Value::as_str), Some("object"), "{name}");
        }
    }

    #[test]
    fn rendering_sorts_members_and_ends_with_a_newline() {
        let text = render(&json!({"b": {"z": 1, "a": [{"y": 2, "x": 3}]}, "a": true}));
        assert!(text.ends_with("}\n"), "{text}");
        let order: Vec<usize> = ["\"a\": true", "\"b\"", "\"a\": [", "\"x\"", "\"y\"", "\"z\""]
            .iter()
            .map(|needle| text.find(needle).expect(needle))
            .collect();
        assert!(order.windows(2).all(|w| w[0] < w[1]), "{text}");
    }

    fn sha(text: &str) -> TaskSha {
        TaskSha::of_source(text)
    }

    fn origin() -> Origin {
        Origin { host: "build-7".into(), pid: 4242, program: "nightly-driver".into() }
    }

    /// A realistic submission: keys, retry policies and output references
    /// nested inside lists and maps, to earlier and later jobs and to an
    /// existing job by id.
    fn submission() -> Submission {
        let mut fetch = JobSpec::new("crawler", "fetch", json!(["https://example.org/index.html", {"timeout_s": 10}]))
            .with_key("fetch");
        fetch.retry = RetryPolicy {
            max_lost: 5,
            max_attempts: 4,
            backoff: Backoff::Exponential { initial_ms: 250, factor: 2.0 },
            max_delay_ms: 10_000,
            jitter: true,
        };
        fetch.timeout_ms = Some(30_000);
        let mut parse = JobSpec::new(
            "crawler",
            "parse",
            json!([
                {"$output": "fetch", "path": "/body"},
                {"base": {"$output": "fetch", "path": "/url"}, "strict": true, "tags": ["a", "img"]}
            ]),
        )
        .with_key("parse");
        parse.expected_sha = Some(sha("fn parse(body: String, opts: Opts) -> Links { todo!() }"));
        let mut report = JobSpec::new(
            "stats",
            "report",
            json!([[{"$output": "parse"}, {"$output": 17, "path": "/links/0"}], {"title": "nightly"}]),
        )
        .with_key("report");
        report.priority = 5;
        report.retry = RetryPolicy { backoff: Backoff::Fixed { delay_ms: 1_000 }, ..RetryPolicy::default() };
        Submission {
            run: RunSpec {
                name: "nightly".into(),
                labels: BTreeMap::from([("env".into(), "ci".into()), ("team".into(), "search".into())]),
                created_by: origin(),
                idempotency_key: Some("nightly-2024-06-01".into()),
                weight: Some(2),
            },
            // `report` comes first: a reference to a key may point forward.
            jobs: vec![report, fetch, parse],
        }
    }

    fn report() -> FailureReport {
        FailureReport {
            kind: FailureKind::Panic,
            message: "index out of bounds: the len is 0 but the index is 0".into(),
            causes: vec!["while parsing https://example.org/index.html".into()],
            frames: vec![
                Frame {
                    function: "crawler::parse".into(),
                    file: Some("elves/crawler/src/main.rs".into()),
                    line: Some(42),
                    column: Some(17),
                    of_interest: true,
                },
                Frame {
                    function: "std::panicking::begin_panic".into(),
                    file: None,
                    line: None,
                    column: None,
                    of_interest: false,
                },
            ],
            ran_sha: Some(sha("fn parse(body: String, opts: Opts) -> Links { todo!() }")),
            inputs: json!(["<html></html>", {"base": "https://example.org/", "strict": true}]),
            inputs_truncated: false,
            inputs_size: 61,
            retryable: true,
            mismatch: None,
        }
    }

    fn failure() -> Failure {
        let report = report();
        Failure {
            id: FailureId(3),
            job: JobId(18),
            run: RunId(2),
            elf: "crawler".into(),
            task: "parse".into(),
            attempt: 1,
            epoch: 1,
            instance: Some(InstanceId("0b3e1c9a-5d2f-4e86-9a51-3f0c2d7b8e14".into())),
            host: Some("build-7".into()),
            pid: Some(5151),
            started_at: Some(1_717_200_000_000),
            at: 1_717_200_000_250,
            signature: report.signature("crawler", "parse"),
            will_retry: true,
            report,
        }
    }

    fn event() -> Event {
        Event {
            seq: 981,
            at: 1_717_200_000_250,
            kind: EventKind::JobState,
            run: Some(RunId(2)),
            job: Some(JobId(18)),
            state: Some(JobState::Ready),
            data: json!({"failure": 3, "retry": 2, "not_before": 1_717_200_000_500_i64}),
        }
    }

    fn task_version() -> TaskVersion {
        let source = "/// Parses a page.\n#[task]\nfn parse(body: String, opts: Opts) -> Links { todo!() }".to_owned();
        TaskVersion {
            sha: sha(&source),
            elf: "crawler".into(),
            name: "parse".into(),
            source,
            file: "src/main.rs".into(),
            line: 40,
            signature: Signature {
                params: vec![
                    Param { name: "body".into(), ty: "String".into() },
                    Param { name: "opts".into(), ty: "Opts".into() },
                ],
                output: "Links".into(),
                is_async: false,
                fallible: false,
                flow: false,
            },
            doc: "Parses a page.".into(),
            first_seen: 1_717_100_000_000,
        }
    }

    fn elf() -> ElfInstance {
        ElfInstance {
            instance: InstanceId("0b3e1c9a-5d2f-4e86-9a51-3f0c2d7b8e14".into()),
            elf: "crawler".into(),
            host: "build-7".into(),
            pid: 5151,
            build: Build {
                version: "0.1.0".into(),
                commit: Some("3f9a2c1".into()),
                program: Some("elf-animals".into()),
            },
            tasks: vec![task_version().sha],
            slots: 4,
            started_at: 1_717_199_990_000,
            heartbeat_at: 1_717_200_000_000,
            lease_until: 1_717_200_030_000,
            state: ElfState::Running,
            label: Some("crawler.1".into()),
            process_start: Some(4_242_424),
        }
    }

    fn run() -> Run {
        Run {
            id: RunId(2),
            name: "nightly".into(),
            labels: BTreeMap::from([("env".into(), "ci".into())]),
            created_by: origin(),
            created_at: 1_717_199_999_000,
            finished_at: None,
            state: RunState::Running,
            total: 3,
            open: 2,
            failed: 0,
            sealed: true,
        }
    }

    fn job() -> Job {
        Job {
            id: JobId(19),
            run: RunId(2),
            key: Some("report".into()),
            elf: "stats".into(),
            task: "report".into(),
            args: json!([[{"$output": 18}, {"$output": 17, "path": "/links/0"}], {"title": "nightly"}]),
            state: JobState::Claimed,
            unmet: 0,
            priority: 5,
            attempt: 1,
            max_attempts: 3,
            lost: 0,
            retry: RetryPolicy::default(),
            timeout_ms: None,
            parent: None,
            expected_sha: None,
            ran_sha: None,
            holder: Some(InstanceId("7d1f".into())),
            lease_until: Some(1_717_200_060_000),
            epoch: 1,
            not_before: 0,
            created_at: 1_717_199_999_000,
            updated_at: 1_717_200_000_000,
            started_at: Some(1_717_200_000_000),
            finished_at: None,
            turn: 4_097,
            rank_ms: 250,
        }
    }

    fn claimed() -> Claimed {
        Claimed {
            lease: Lease { job: JobId(19), epoch: 1 },
            run: RunId(2),
            task: "report".into(),
            args: job().args,
            inputs: vec![(JobId(17), json!({"links": ["https://example.org/a"]})), (JobId(18), json!(["b", "c"]))],
            attempt: 1,
            max_attempts: 1,
            timeout_ms: Some(5_000),
            lease_until: 1_717_200_060_000,
        }
    }

    fn completion() -> Completion {
        Completion {
            lease: Lease { job: JobId(19), epoch: 1 },
            ran_sha: Some(sha("fn report() {}")),
            value: json!({"pages": 3, "ok": true}),
            waited_ms: 0,
        }
    }

    /// Every document kind, as JSON, with the file of its schema.
    fn examples() -> Vec<(&'static str, Value)> {
        fn doc<T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug>(value: T) -> Value {
            let json = serde_json::to_value(&value).expect("serialize an example");
            let back: T = serde_json::from_value(json.clone()).expect("deserialize an example");
            assert_eq!(back, value, "an example does not round-trip through JSON");
            json
        }
        let submission = submission();
        vec![
            ("task.schema.json", doc(task_version())),
            ("elf.schema.json", doc(elf())),
            ("run.schema.json", doc(run())),
            ("run-spec.schema.json", doc(submission.run.clone())),
            ("job-spec.schema.json", doc(submission.jobs[2].clone())),
            ("submission.schema.json", doc(submission)),
            ("job.schema.json", doc(job())),
            ("claimed.schema.json", doc(claimed())),
            ("completion.schema.json", doc(completion())),
            ("lease.schema.json", doc(Lease { job: JobId(19), epoch: 1 })),
            ("failure-report.schema.json", doc(report())),
            ("failure.schema.json", doc(failure())),
            ("event.schema.json", doc(event())),
            ("flow-step.schema.json", doc(step())),
            ("flow-signal.schema.json", doc(signal())),
            ("signal.schema.json", doc(agents::signal())),
            ("subscription.schema.json", doc(agents::subscription())),
            ("queue.schema.json", doc(agents::queue())),
            ("schedule.schema.json", doc(agents::schedule())),
        ]
    }

    /// Examples of the agents' documents.
    mod agents {
        use serde_json::json;

        use crate::agent::schedule::Origin;
        use crate::agent::{Missed, Overlap, QueueDecl, Schedule, SignalDecl, Spec, Subscription};
        use crate::model::{JobId, RetryPolicy};

        pub(super) fn signal() -> SignalDecl {
            SignalDecl {
                name: "user_created".into(),
                schema: json!({"type": "object", "properties": {"user_id": {"type": "integer"}}}),
                declared_by: "users".into(),
                declared_at: 1_717_200_000_000,
                emitted: 3,
                last_emitted_at: Some(1_717_200_001_000),
            }
        }

        pub(super) fn subscription() -> Subscription {
            Subscription {
                signal: "user_created".into(),
                elf: "mailer".into(),
                task: "welcome".into(),
                takes_payload: true,
                retry: RetryPolicy::default(),
                timeout_ms: Some(5_000),
                since: 1_717_200_000_000,
            }
        }

        pub(super) fn queue() -> QueueDecl {
            QueueDecl {
                name: "push_ios".into(),
                elf: "push".into(),
                task: "send_push".into(),
                schema: json!({"type": "object"}),
                retry: RetryPolicy { max_attempts: 3, ..RetryPolicy::default() },
                timeout_ms: None,
                exchange: Some("push3".into()),
                topics: vec!["*.ios".into()],
                declared_at: 1_717_200_000_000,
            }
        }

        pub(super) fn schedule() -> Schedule {
            Schedule {
                name: "report/daily".into(),
                elf: "report".into(),
                task: "daily".into(),
                args: json!([]),
                spec: Spec::Cron { expr: "0 */4 * * *".into(), tz: "Europe/Paris".into() },
                missed: Missed::Once,
                overlap: Overlap::Queue,
                retry: RetryPolicy::default(),
                timeout_ms: None,
                origin: Origin::Declared,
                paused: false,
                anchor: 1_717_200_000_000,
                next_due: 1_717_214_400_000,
                last_tick: Some(1_717_200_000_000),
                last_job: Some(JobId(12)),
                fired: 1,
                skipped: 0,
                created_at: 1_717_200_000_000,
                updated_at: 1_717_200_000_000,
            }
        }
    }

    fn step() -> Step {
        Step {
            flow: JobId(19),
            k: 3,
            kind: crate::model::StepKind::Call,
            target: "etl/parse".into(),
            hash: "1a2b3c4d5e6f".into(),
            child: Some(JobId(23)),
            due: None,
            outcome: Some(json!({"ok": 42})),
            awaited: false,
            sha: Some(sha("async fn nightly(cx: &mut Flow) {}")),
            location: Some("elves/etl/flows.rs:40".into()),
            detail: None,
            at: 1_717_200_000_000,
        }
    }

    fn signal() -> Signal {
        Signal {
            id: 4,
            flow: JobId(19),
            name: "approve".into(),
            payload: json!({"by": "ana"}),
            sent_at: 1_717_200_000_000,
            consumed_by: Some(7),
        }
    }

    fn validator(file: &str) -> jsonschema::Validator {
        let schemas: BTreeMap<&str, Value> = all().into_iter().collect();
        let schema = schemas.get(file).unwrap_or_else(|| panic!("no schema {file}"));
        jsonschema::validator_for(schema).unwrap_or_else(|e| panic!("{file} is not a valid JSON Schema: {e}"))
    }

    fn errors(file: &str, document: &Value) -> Vec<String> {
        validator(file).iter_errors(document).map(|e| format!("{}: {e}", e.instance_path())).collect()
    }

    #[test]
    fn the_submission_example_has_nested_references() {
        let s = submission();
        let found: Vec<_> = s.jobs.iter().map(|j| crate::refs::scan(&j.args).expect("well-formed").len()).collect();
        assert_eq!(found, [2, 0, 2]);
    }

    #[test]
    fn example_documents_are_valid() {
        let examples = examples();
        assert_eq!(examples.len(), all().len(), "every kind needs an example");
        for (file, document) in &examples {
            let errs = errors(file, document);
            assert!(errs.is_empty(), "{file} rejects its example:\n{}\n{document:#}", errs.join("\n"));
        }
    }

    #[test]
    fn documents_with_defaults_left_out_are_valid() {
        // What a driver in another language would write by hand.
        let submission = json!({
            "run": {"name": "w1"},
            "jobs": [
                {"key": "a", "elf": "e", "task": "t", "args": [1]},
                {"elf": "e", "task": "t", "args": [{"$output": "a"}]}
            ]
        });
        assert_eq!(errors("submission.schema.json", &submission), Vec::<String>::new());
        let parsed: Submission = serde_json::from_value(submission).expect("the schema and serde agree");
        assert_eq!(parsed.jobs[1].retry, RetryPolicy::default());
        let report = json!({"kind": "error", "message": "boom", "retryable": false});
        assert_eq!(errors("failure-report.schema.json", &report), Vec::<String>::new());
    }

    #[test]
    fn malformed_documents_are_rejected() {
        let mut event = serde_json::to_value(event()).expect("serialize");
        event["kind"] = json!("job_exploded");
        assert!(!errors("event.schema.json", &event).is_empty(), "unknown event kind accepted");

        let mut submission = serde_json::to_value(submission()).expect("serialize");
        if let Some(job) = submission["jobs"][0].as_object_mut() {
            job.remove("args");
        }
        let errs = errors("submission.schema.json", &submission);
        assert!(errs.iter().any(|e| e.contains("args")), "{errs:?}");

        let mut failure = serde_json::to_value(failure()).expect("serialize");
        failure["attempt"] = json!(-1);
        assert!(!errors("failure.schema.json", &failure).is_empty(), "negative attempt accepted");

        let mut claimed = serde_json::to_value(claimed()).expect("serialize");
        claimed["lease"] = json!({"job": 19});
        assert!(!errors("claimed.schema.json", &claimed).is_empty(), "lease without epoch accepted");
    }
}
