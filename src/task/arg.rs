//! Typed arguments and outputs: what a driver passes to a task stub.
//!
//! An argument of type `T` accepts a literal `T`, an [`Output<T>`] of an
//! earlier call, or a structure holding outputs (`Vec<Output<T>>`, maps of
//! outputs, `Vec<Arg<T>>` mixing literals and outputs), so a wrongly wired
//! graph fails to compile.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::marker::PhantomData;
use std::time::Duration;

use serde::Serialize;
use serde_json::Value;

use super::TaskInfo;
use crate::model::{Backoff, JobId, RetryPolicy};
use crate::refs;

/// Where an output comes from.
#[doc(hidden)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Source {
    /// The `index`-th call of the orchestration `builder` (not submitted yet).
    Local {
        /// The orchestration under construction.
        builder: u64,
        /// The call's position in it.
        index: usize,
    },
    /// A job already in the mycelium.
    Job(JobId),
}

/// The future value of a task call, of type `T`: pass it to other calls, or
/// wait for it once the run is submitted.
pub struct Output<T> {
    pub(crate) source: Source,
    pub(crate) path: String,
    _t: PhantomData<fn() -> T>,
}

impl<T> Clone for Output<T> {
    fn clone(&self) -> Self {
        Self { source: self.source, path: self.path.clone(), _t: PhantomData }
    }
}

impl<T> fmt::Debug for Output<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Output").field("source", &self.source).field("path", &self.path).finish()
    }
}

impl<T> Output<T> {
    pub(crate) fn new(source: Source) -> Self {
        Self { source, path: String::new(), _t: PhantomData }
    }

    /// The output of an existing job (of this or an earlier run), typed by the
    /// caller.
    pub fn of_job(job: JobId) -> Self {
        Self::new(Source::Job(job))
    }

    /// The job producing it, once known (after submit, or for `of_job`).
    pub fn job(&self) -> Option<JobId> {
        match self.source {
            Source::Job(j) => Some(j),
            Source::Local { .. } => None,
        }
    }

    /// The part of the value at the JSON pointer `pointer` (`"/weight"`,
    /// `"/items/0"`), typed `U`.
    pub fn at<U>(&self, pointer: &str) -> Output<U> {
        Output { source: self.source, path: format!("{}{}", self.path, pointer), _t: PhantomData }
    }

    /// The field `name` of the value, typed `U`.
    pub fn field<U>(&self, name: &str) -> Output<U> {
        self.at(&format!("/{}", name.replace('~', "~0").replace('/', "~1")))
    }

    /// The reference object standing for this output inside arguments, for
    /// building arguments by hand (see [`Arg::from_json`]).
    ///
    /// The output of a call not yet submitted names its orchestration too
    /// (`{"$output": "#<orchestration>/<call>"}`), so that passing it into
    /// another orchestration is refused at `call` instead of wiring silently
    /// to that orchestration's call with the same index.
    pub fn to_json(&self) -> Value {
        match self.source {
            Source::Local { builder, index } => refs::key_reference(&local_key(builder, index), &self.path),
            Source::Job(job) => refs::reference(job, &self.path),
        }
    }
}

/// The reference key of call `index` of orchestration `builder`.
pub(crate) fn local_key(builder: u64, index: usize) -> String {
    format!("#{builder:x}/{index}")
}

/// The orchestration and call a reference key made by [`local_key`] names.
pub(crate) fn parse_local_key(key: &str) -> Option<(u64, usize)> {
    let (b, i) = key.strip_prefix('#')?.split_once('/')?;
    Some((u64::from_str_radix(b, 16).ok()?, i.parse().ok()?))
}

/// One argument of a call: JSON with output references, and the type it
/// stands for.
pub struct Arg<T> {
    pub(crate) json: Result<Value, String>,
    pub(crate) sources: Vec<Source>,
    _t: PhantomData<fn() -> T>,
}

impl<T> fmt::Debug for Arg<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Arg").field("json", &self.json).finish()
    }
}

impl<T> Arg<T> {
    /// An argument given as JSON, which may hold references made with
    /// [`Output::to_json`] (list them in `outputs` so that the orchestration
    /// can check they belong to it). The type is the caller's word.
    pub fn from_json(json: Value, outputs: &[&dyn AnyOutput]) -> Self {
        Self { json: Ok(json), sources: outputs.iter().map(|o| o.source()).collect(), _t: PhantomData }
    }

    fn literal(value: &impl Serialize) -> Self {
        Self { json: serde_json::to_value(value).map_err(|e| e.to_string()), sources: Vec::new(), _t: PhantomData }
    }

    fn output(out: &Output<T>) -> Self {
        Self { json: Ok(out.to_json()), sources: vec![out.source], _t: PhantomData }
    }

    fn collect<U>(items: impl IntoIterator<Item = (Option<String>, Arg<U>)>, map: bool) -> Self {
        let mut sources = Vec::new();
        let mut list = Vec::new();
        let mut obj = serde_json::Map::new();
        for (key, arg) in items {
            sources.extend(arg.sources);
            let json = match arg.json {
                Ok(j) => j,
                Err(e) => return Self { json: Err(e), sources, _t: PhantomData },
            };
            match key {
                Some(k) if map => {
                    obj.insert(k, json);
                }
                _ => list.push(json),
            }
        }
        let json = if map { Value::Object(obj) } else { Value::Array(list) };
        Self { json: Ok(json), sources, _t: PhantomData }
    }

    /// The untyped argument.
    pub(crate) fn erase(self) -> Arg<()> {
        Arg { json: self.json, sources: self.sources, _t: PhantomData }
    }
}

/// Any output, whatever its type (for [`Arg::from_json`]).
pub trait AnyOutput {
    /// Where it comes from.
    #[doc(hidden)]
    fn source(&self) -> Source;
}

impl<T> AnyOutput for Output<T> {
    fn source(&self) -> Source {
        self.source
    }
}

/// A value usable as an argument of type `T`.
pub trait IntoArg<T> {
    /// The argument.
    fn into_arg(self) -> Arg<T>;
}

impl<T: Serialize> IntoArg<T> for T {
    fn into_arg(self) -> Arg<T> {
        Arg::literal(&self)
    }
}

impl<T> IntoArg<T> for Output<T> {
    fn into_arg(self) -> Arg<T> {
        Arg::output(&self)
    }
}

impl<T> IntoArg<T> for &Output<T> {
    fn into_arg(self) -> Arg<T> {
        Arg::output(self)
    }
}

impl<T> IntoArg<T> for Arg<T> {
    fn into_arg(self) -> Arg<T> {
        self
    }
}

impl<T> IntoArg<Vec<T>> for Vec<Output<T>> {
    fn into_arg(self) -> Arg<Vec<T>> {
        Arg::collect(self.iter().map(|o| (None, Arg::output(o))), false)
    }
}

impl<T> IntoArg<Vec<T>> for &[Output<T>] {
    fn into_arg(self) -> Arg<Vec<T>> {
        Arg::collect(self.iter().map(|o| (None, Arg::output(o))), false)
    }
}

impl<T> IntoArg<Vec<T>> for Vec<Arg<T>> {
    fn into_arg(self) -> Arg<Vec<T>> {
        Arg::collect(self.into_iter().map(|a| (None, a)), false)
    }
}

impl<T> IntoArg<Vec<Vec<T>>> for Vec<Vec<Output<T>>> {
    fn into_arg(self) -> Arg<Vec<Vec<T>>> {
        Arg::collect(self.into_iter().map(|inner| (None, inner.into_arg())), false)
    }
}

impl<K: ToString + Ord, V> IntoArg<BTreeMap<K, V>> for BTreeMap<K, Output<V>> {
    fn into_arg(self) -> Arg<BTreeMap<K, V>> {
        Arg::collect(self.iter().map(|(k, o)| (Some(k.to_string()), Arg::output(o))), true)
    }
}

impl<K: ToString + Eq + std::hash::Hash, V> IntoArg<HashMap<K, V>> for HashMap<K, Output<V>> {
    fn into_arg(self) -> Arg<HashMap<K, V>> {
        Arg::collect(self.iter().map(|(k, o)| (Some(k.to_string()), Arg::output(o))), true)
    }
}

impl<T> IntoArg<Option<T>> for Option<Output<T>> {
    fn into_arg(self) -> Arg<Option<T>> {
        match self {
            Some(o) => Arg::output(&o).retype_from(),
            None => Arg { json: Ok(Value::Null), sources: Vec::new(), _t: PhantomData },
        }
    }
}

impl<T> IntoArg<Option<T>> for Option<&Output<T>> {
    fn into_arg(self) -> Arg<Option<T>> {
        self.cloned().into_arg()
    }
}

impl<A, B> IntoArg<(A, B)> for (Arg<A>, Arg<B>) {
    fn into_arg(self) -> Arg<(A, B)> {
        Arg::collect([(None, self.0.erase()), (None, self.1.erase())], false).retype()
    }
}

impl<T> Arg<T> {
    fn retype_from<U>(self) -> Arg<U> {
        Arg { json: self.json, sources: self.sources, _t: PhantomData }
    }
}

impl Arg<()> {
    fn retype<U>(self) -> Arg<U> {
        Arg { json: self.json, sources: self.sources, _t: PhantomData }
    }
}

/// Per-call options: they override the task's defaults.
#[derive(Clone, Debug, Default)]
pub struct CallOptions {
    /// The job's key within its run.
    pub key: Option<String>,
    /// Retry policy.
    pub retry: Option<RetryPolicy>,
    /// Per-attempt time limit.
    pub timeout: Option<Duration>,
    /// Higher runs first.
    pub priority: i32,
}

/// A task call not yet recorded: what a stub returns. Pass it to an
/// orchestration to record the job and get its [`Output`].
pub struct Call<T> {
    pub(crate) elf: String,
    pub(crate) task: String,
    pub(crate) info: Option<&'static TaskInfo>,
    pub(crate) args: Vec<Arg<()>>,
    pub(crate) options: CallOptions,
    _t: PhantomData<fn() -> T>,
}

impl<T> fmt::Debug for Call<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Call").field("elf", &self.elf).field("task", &self.task).field("args", &self.args).finish()
    }
}

impl<T> Call<T> {
    /// A call of a compiled task (what stubs build).
    pub fn typed(info: &'static TaskInfo, args: Vec<Arg<()>>) -> Self {
        Self {
            elf: info.elf.to_owned(),
            task: info.name.to_owned(),
            info: Some(info),
            args,
            options: CallOptions::default(),
            _t: PhantomData,
        }
    }

    /// A call of any task by name, with JSON arguments (one per parameter);
    /// references made with [`Output::to_json`] may appear inside.
    pub fn dynamic(elf: &str, task: &str, args: Vec<Value>) -> Self {
        Self {
            elf: elf.to_owned(),
            task: task.to_owned(),
            info: None,
            args: args.into_iter().map(|a| Arg::from_json(a, &[])).collect(),
            options: CallOptions::default(),
            _t: PhantomData,
        }
    }

    /// Names the job within its run.
    pub fn key(mut self, key: impl Into<String>) -> Self {
        self.options.key = Some(key.into());
        self
    }

    /// Allows `attempts` attempts in all, `delay` apart (fixed backoff).
    pub fn retries(mut self, attempts: u32, delay: Duration) -> Self {
        let delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
        self.options.retry = Some(RetryPolicy {
            max_lost: RetryPolicy::DEFAULT_MAX_LOST,
            max_attempts: attempts,
            backoff: Backoff::Fixed { delay_ms },
            max_delay_ms: delay_ms.max(1),
            jitter: false,
        });
        self
    }

    /// Sets the whole retry policy.
    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.options.retry = Some(policy);
        self
    }

    /// Limits each attempt to `limit`.
    pub fn timeout(mut self, limit: Duration) -> Self {
        self.options.timeout = Some(limit);
        self
    }

    /// Runs before lower priorities.
    pub fn priority(mut self, priority: i32) -> Self {
        self.options.priority = priority;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn literals_outputs_and_nested_outputs_become_json() {
        let a: Output<u64> = Output::new(Source::Local { builder: 1, index: 0 });
        let b: Output<u64> = Output::of_job(JobId(9));
        assert_eq!(IntoArg::<u64>::into_arg(3u64).json, Ok(json!(3)));
        // An unsubmitted output names its orchestration and call.
        assert_eq!(a.clone().into_arg().json, Ok(json!({"$output": "#1/0"})));
        assert_eq!(parse_local_key("#1/0"), Some((1, 0)));
        assert_eq!(parse_local_key(&local_key(0xdead_beef, 12)), Some((0xdead_beef, 12)));
        assert_eq!(parse_local_key("0"), None);
        let list: Arg<Vec<u64>> = vec![a.clone(), b.clone()].into_arg();
        assert_eq!(list.json, Ok(json!([{"$output": "#1/0"}, {"$output": 9}])));
        assert_eq!(list.sources.len(), 2);
        let mixed: Arg<Vec<u64>> = vec![5u64.into_arg(), a.into_arg()].into_arg();
        assert_eq!(mixed.json, Ok(json!([5, {"$output": "#1/0"}])));
        let w: Output<f64> = b.field("weight");
        assert_eq!(w.to_json(), json!({"$output": 9, "path": "/weight"}));
        let map: Arg<BTreeMap<String, u64>> = BTreeMap::from([("x".to_owned(), b)]).into_arg();
        assert_eq!(map.json, Ok(json!({"x": {"$output": 9}})));
    }
}
