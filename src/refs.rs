//! Output references inside job arguments.
//!
//! A job's arguments are plain JSON in which an upstream output stands as
//! `{"$output": <producer>, "path": "/json/pointer"}`, nested anywhere (inside
//! lists and maps too). `<producer>` is the integer id of a job or, inside a
//! submission only, the key of a job of the same submission; `path` is
//! optional and selects a part of the producer's result.
//!
//! Any JSON object with a `$output` member is a reference; a literal object
//! must not use that member name.

use std::collections::HashMap;

use serde_json::{Map, Value};

use crate::model::JobId;

/// The member that marks a reference object.
pub(crate) const OUTPUT: &str = "$output";
/// The optional member selecting a part of the producer's result.
pub(crate) const PATH: &str = "path";

/// Who produces a referenced value.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Producer {
    /// An existing job.
    Job(JobId),
    /// A job of the same submission, by key.
    Key(String),
}

/// One reference found in arguments.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Reference {
    /// The producing job.
    pub producer: Producer,
    /// The part of its result (a JSON pointer; empty for the whole result).
    pub path: String,
    /// Where the reference sits in the arguments (a JSON pointer).
    pub at: String,
}

/// A malformed reference or an unresolvable one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum Error {
    /// The reference object is not of the documented shape.
    #[error(
        "malformed output reference at `{at}`: {problem} (write {{\"$output\": <job id or key>, \"path\": \"/optional/pointer\"}})"
    )]
    Malformed {
        /// Where in the arguments.
        at: String,
        /// What is wrong.
        problem: String,
    },
    /// The producer's result is not available.
    #[error("the result of job {job}, referenced at `{at}`, is not available")]
    Missing {
        /// The producer.
        job: JobId,
        /// Where in the arguments.
        at: String,
    },
    /// The path selects nothing in the producer's result.
    #[error("path `{path}` selects nothing in the result of job {job} (referenced at `{at}`)")]
    NoSuchPath {
        /// The producer.
        job: JobId,
        /// The pointer.
        path: String,
        /// Where in the arguments.
        at: String,
    },
}

/// A reference object to `job`'s result, or to the part of it at `path`.
pub(crate) fn reference(job: JobId, path: &str) -> Value {
    let mut m = Map::new();
    m.insert(OUTPUT.to_owned(), Value::from(job.0));
    if !path.is_empty() {
        m.insert(PATH.to_owned(), Value::from(path));
    }
    Value::Object(m)
}

/// A reference object to the job keyed `key` in the same submission.
pub(crate) fn key_reference(key: &str, path: &str) -> Value {
    let mut m = Map::new();
    m.insert(OUTPUT.to_owned(), Value::from(key));
    if !path.is_empty() {
        m.insert(PATH.to_owned(), Value::from(path));
    }
    Value::Object(m)
}

/// Every reference in `args`, in document order.
pub(crate) fn scan(args: &Value) -> Result<Vec<Reference>, Error> {
    let mut out = Vec::new();
    let mut at = String::new();
    walk(args, &mut at, &mut out)?;
    Ok(out)
}

fn walk(v: &Value, at: &mut String, out: &mut Vec<Reference>) -> Result<(), Error> {
    match v {
        Value::Object(m) if m.contains_key(OUTPUT) => out.push(parse(m, at)?),
        Value::Object(m) => {
            for (k, child) in m {
                let len = at.len();
                push_token(at, k);
                walk(child, at, out)?;
                at.truncate(len);
            }
        }
        Value::Array(a) => {
            for (i, child) in a.iter().enumerate() {
                let len = at.len();
                at.push('/');
                at.push_str(&i.to_string());
                walk(child, at, out)?;
                at.truncate(len);
            }
        }
        _ => {}
    }
    Ok(())
}

fn push_token(at: &mut String, key: &str) {
    at.push('/');
    for c in key.chars() {
        match c {
            '~' => at.push_str("~0"),
            '/' => at.push_str("~1"),
            c => at.push(c),
        }
    }
}

fn parse(m: &Map<String, Value>, at: &str) -> Result<Reference, Error> {
    let malformed = |problem: String| Error::Malformed { at: at.to_owned(), problem };
    if let Some(extra) = m.keys().find(|k| *k != OUTPUT && *k != PATH) {
        return Err(malformed(format!("unexpected member `{extra}`")));
    }
    let producer = match &m[OUTPUT] {
        Value::Number(n) => match n.as_i64() {
            Some(id) if id > 0 => Producer::Job(JobId(id)),
            _ => return Err(malformed(format!("`{n}` is not a job id (a positive integer)"))),
        },
        Value::String(s) if !s.is_empty() => Producer::Key(s.clone()),
        other => return Err(malformed(format!("`{other}` names no job"))),
    };
    let path = match m.get(PATH) {
        None => String::new(),
        Some(Value::String(p)) if p.is_empty() || p.starts_with('/') => p.clone(),
        Some(other) => {
            return Err(malformed(format!("path `{other}` is not a JSON pointer (\"\" or \"/a/0\")")));
        }
    };
    Ok(Reference { producer, path, at: at.to_owned() })
}

/// Rewrites every reference's producer with `bind`, in place (used at submit
/// to turn keys into job ids).
pub(crate) fn bind<E>(args: &mut Value, bind: &mut impl FnMut(&Producer) -> Result<JobId, E>) -> Result<(), E> {
    match args {
        Value::Object(m) if m.contains_key(OUTPUT) => {
            let producer = match &m[OUTPUT] {
                Value::Number(n) => n.as_i64().map(|id| Producer::Job(JobId(id))),
                Value::String(s) => Some(Producer::Key(s.clone())),
                _ => None,
            };
            if let Some(p) = producer {
                m.insert(OUTPUT.to_owned(), Value::from(bind(&p)?.0));
            }
        }
        Value::Object(m) => {
            for child in m.values_mut() {
                self::bind(child, bind)?;
            }
        }
        Value::Array(a) => {
            for child in a {
                self::bind(child, bind)?;
            }
        }
        _ => {}
    }
    Ok(())
}

/// `args` with every reference replaced by the value it points at.
pub(crate) fn resolve(args: &Value, results: &HashMap<JobId, Value>) -> Result<Value, Error> {
    let mut at = String::new();
    resolve_at(args, results, &mut at)
}

fn resolve_at(v: &Value, results: &HashMap<JobId, Value>, at: &mut String) -> Result<Value, Error> {
    Ok(match v {
        Value::Object(m) if m.contains_key(OUTPUT) => {
            let r = parse(m, at)?;
            let Producer::Job(job) = r.producer else {
                return Err(Error::Malformed {
                    at: at.clone(),
                    problem: "a key reference was never bound to a job".to_owned(),
                });
            };
            let whole = results.get(&job).ok_or_else(|| Error::Missing { job, at: at.clone() })?;
            whole.pointer(&r.path).cloned().ok_or_else(|| Error::NoSuchPath {
                job,
                path: r.path.clone(),
                at: at.clone(),
            })?
        }
        Value::Object(m) => {
            let mut out = Map::with_capacity(m.len());
            for (k, child) in m {
                let len = at.len();
                push_token(at, k);
                out.insert(k.clone(), resolve_at(child, results, at)?);
                at.truncate(len);
            }
            Value::Object(out)
        }
        Value::Array(a) => {
            let mut out = Vec::with_capacity(a.len());
            for (i, child) in a.iter().enumerate() {
                let len = at.len();
                at.push('/');
                at.push_str(&i.to_string());
                out.push(resolve_at(child, results, at)?);
                at.truncate(len);
            }
            Value::Array(out)
        }
        other => other.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn scan_finds_nested_references_with_their_position() {
        let args = json!([1, {"xs": [{"$output": 7}, {"$output": "a", "path": "/w"}]}, {"a/b": {"$output": 3}}]);
        let refs = scan(&args).expect("well formed");
        assert_eq!(refs.len(), 3);
        assert_eq!(refs[0], Reference { producer: Producer::Job(JobId(7)), path: String::new(), at: "/1/xs/0".into() });
        assert_eq!(refs[1].producer, Producer::Key("a".into()));
        assert_eq!(refs[1].path, "/w");
        assert_eq!(refs[2].at, "/2/a~1b");
    }

    #[test]
    fn malformed_references_name_the_place() {
        for bad in [
            json!({"$output": 0}),
            json!({"$output": true}),
            json!({"$output": 1, "x": 2}),
            json!({"$output": 1, "path": "w"}),
        ] {
            let err = scan(&json!({"k": [bad]})).unwrap_err();
            assert!(err.to_string().contains("`/k/0`"), "{err}");
        }
    }

    #[test]
    fn bind_then_resolve_substitutes_values_and_paths() {
        let mut args = json!({"a": {"$output": "x"}, "b": [{"$output": "x", "path": "/w"}]});
        bind(&mut args, &mut |p| match p {
            Producer::Key(k) if k == "x" => Ok::<_, ()>(JobId(5)),
            _ => Err(()),
        })
        .expect("bound");
        assert_eq!(args, json!({"a": {"$output": 5}, "b": [{"$output": 5, "path": "/w"}]}));
        let results = HashMap::from([(JobId(5), json!({"w": 42}))]);
        assert_eq!(resolve(&args, &results).expect("resolves"), json!({"a": {"w": 42}, "b": [42]}));
        let missing = resolve(&args, &HashMap::new()).unwrap_err();
        assert!(matches!(missing, Error::Missing { job: JobId(5), .. }));
        let bad_path = resolve(&json!({"$output": 5, "path": "/nope"}), &results).unwrap_err();
        assert!(matches!(bad_path, Error::NoSuchPath { .. }));
    }
}
