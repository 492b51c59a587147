//! The `#[task]` expansion, exercised directly.

use mycelium::__private::{Body, TaskError, Value};
use mycelium::model::{JobId, TaskSha};
use mycelium::{Fatal, Output};
use serde::{Deserialize, Serialize};
use serde_json::json;

/// The elf of the tasks here that do not name one.
pub const ELF: &str = "zoo";

/// An animal.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
pub struct Animal {
    /// Its name.
    pub name: String,
    /// Its weight.
    pub weight: f64,
}

const DRAW_LINE: u32 = line!() + 3;
#[rustfmt::skip] // Keeps the tab; an attribute before `#[task]` is not part of the source.
#[mycelium_macros::task(elf = "animals")]
/// Draws an animal.
///
/// Déjà vu: the text is not ASCII.
pub fn draw(seed: u64) -> Animal {
	// A tab-indented comment, kept in the source.
    Animal { name: format!("animal-{seed}"), weight: seed as f64 }
}

/// Written before the attribute: part of the doc, not of the source.
#[mycelium_macros::task]
pub async fn weigh(animal: Animal, factor: f64) -> Result<f64, std::io::Error> {
    if factor < 0.0 {
        return Err(std::io::Error::other("negative factor"));
    }
    Ok(animal.weight * factor)
}

#[mycelium_macros::task(
    retries = 3,
    backoff_ms = 100,
    backoff_factor = 2.0,
    max_delay_ms = 5000,
    jitter = true,
    timeout_ms = 2000
)]
fn ping() {}

#[mycelium_macros::task(elf = "x")]
fn check(n: u32) -> Result<u32, Fatal> {
    if n == 0 { Err(Fatal::msg("zero")) } else { Ok(n) }
}

const SITES: u32 = line!();
#[mycelium_macros::task(elf = "sites")]
fn parse_number(text: String) -> Result<u64, Box<dyn std::error::Error + Send + Sync>> {
    let n: u64 = text.trim().parse()?;
    if n == 0 {
        return Err("zero".into());
    }
    if n > 100 { Err(format!("{n} is too big").into()) } else { Ok(n) }
}

const ANYHOW_SITES: u32 = line!();
#[mycelium_macros::task(elf = "sites")]
fn sum_lines(text: String) -> anyhow::Result<u64> {
    use anyhow::Context;
    if text.is_empty() {
        anyhow::bail!("no lines");
    }
    let parse = |l: &str| -> Option<u64> { l.trim().parse::<u64>().ok()?.checked_mul(2).map(|n| n / 2) };
    let mut sum = 0;
    for line in text.lines() {
        sum += parse(line).with_context(|| format!("`{line}` is not a number"))?;
    }
    Ok(sum)
}

const ASYNC_SITES: u32 = line!();
#[mycelium_macros::task(elf = "sites")]
async fn halve(n: u64) -> Result<u64, std::io::Error> {
    tokio::task::yield_now().await;
    let half = n.is_multiple_of(2).then_some(n / 2).ok_or_else(|| std::io::Error::other("odd"))?;
    Ok(half)
}

/// The line and column of the site a failed task recorded.
fn site_of(result: Result<Value, TaskError>) -> (u32, u32, &'static str) {
    match result {
        Err(TaskError::Failed { site: Some(site), .. }) => {
            assert!(site.file.ends_with("expand.rs"), "{site:?}");
            (site.line, site.column, site.function)
        }
        other => panic!("expected a failure with its site, got {other:?}"),
    }
}

fn run_sync(body: Body, args: Value) -> Result<Value, TaskError> {
    match body {
        Body::Sync(f) => f(args),
        Body::Async(_) => panic!("expected a sync body"),
    }
}

#[test]
fn the_function_stays_callable() {
    assert_eq!(draw(2), Animal { name: "animal-2".into(), weight: 2.0 });
    assert!(check(0).is_err());
    ping();
}

#[test]
fn info_records_the_exact_source() {
    let info = &draw::INFO;
    assert_eq!((info.elf, info.name), ("animals", "draw"));
    assert!(info.file.ends_with("expand.rs"), "{}", info.file);
    assert_eq!(info.line, DRAW_LINE);
    assert!(info.source.starts_with("/// Draws an animal.\n"), "{}", info.source);
    assert!(info.source.ends_with("weight: seed as f64 }\n}"), "{}", info.source);
    assert!(info.source.contains("\n\t// A tab-indented comment, kept in the source.\n"));
    // Byte for byte the file's text, starting on `line`.
    let file = include_str!("expand.rs");
    let start: usize = file.split_inclusive('\n').take(DRAW_LINE as usize - 1).map(str::len).sum();
    assert!(file[start..].starts_with(info.source));
    assert_eq!(info.sha(), TaskSha::of_source(&file[start..start + info.source.len()]));
    assert_eq!(info.doc, "Draws an animal.\n\nDéjà vu: the text is not ASCII.");
    assert_eq!(info.params, &[("seed", "u64")]);
    assert_eq!(info.output, "Animal");
    assert!(!info.is_async && !info.fallible);
    assert_eq!(info.retry.max_attempts, 1);
    assert_eq!(info.timeout_ms, None);
}

#[test]
fn attributes_before_task_are_doc_but_not_source() {
    let info = &weigh::INFO;
    assert_eq!(info.elf, ELF);
    assert!(info.source.starts_with("pub async fn weigh(animal: Animal, factor: f64)"), "{}", info.source);
    assert_eq!(info.doc, "Written before the attribute: part of the doc, not of the source.");
    assert_eq!(info.params, &[("animal", "Animal"), ("factor", "f64")]);
    assert_eq!(info.output, "f64");
    assert!(info.is_async && info.fallible);
}

#[test]
fn retry_options_reach_the_info() {
    let info = &ping::INFO;
    let r = info.retry;
    assert_eq!((r.max_attempts, r.delay_ms, r.factor, r.max_delay_ms, r.jitter), (3, 100, 2.0, 5000, true));
    assert_eq!(info.timeout_ms, Some(2000));
    assert_eq!(info.source, "fn ping() {}");
    assert_eq!((info.params.len(), info.output, info.doc), (0, "()", ""));
}

#[test]
fn sync_bodies_decode_run_and_encode() -> Result<(), TaskError> {
    assert_eq!(run_sync(draw::TASK.body, json!([7]))?, json!({"name": "animal-7", "weight": 7.0}));
    assert_eq!(run_sync(ping::TASK.body, json!([]))?, Value::Null);
    assert_eq!(run_sync(check::TASK.body, json!([4]))?, json!(4));
    for bad in [json!(["seven"]), json!([]), json!([1, 2]), json!({"seed": 7}), json!(7)] {
        let result = run_sync(draw::TASK.body, bad.clone());
        assert!(matches!(result, Err(TaskError::BadInput(_))), "{bad}: {result:?}");
    }
    assert!(matches!(run_sync(ping::TASK.body, json!([1])), Err(TaskError::BadInput(_))));
    match run_sync(check::TASK.body, json!([0])) {
        Err(TaskError::Failed { error, retryable, .. }) => {
            assert_eq!(error.to_string(), "zero");
            assert!(!retryable);
        }
        other => panic!("expected a failure, got {other:?}"),
    }
    Ok(())
}

#[tokio::test]
async fn async_bodies_decode_run_and_encode() -> Result<(), TaskError> {
    let Body::Async(body) = weigh::TASK.body else { panic!("expected an async body") };
    let animal = json!({"name": "cat", "weight": 4.0});
    assert_eq!(body(json!([animal, 1.5])).await?, json!(6.0));
    match body(json!([animal, -1.0])).await {
        Err(TaskError::Failed { error, retryable, .. }) => {
            assert_eq!(error.to_string(), "negative factor");
            assert!(retryable);
        }
        other => panic!("expected a failure, got {other:?}"),
    }
    assert!(matches!(body(json!([1.5, animal])).await, Err(TaskError::BadInput(_))));
    Ok(())
}

#[test]
fn stubs_take_values_and_outputs() {
    let call = format!("{:?}", draw::call(7u64));
    assert!(call.contains("\"animals\"") && call.contains("\"draw\"") && call.contains("Number(7)"), "{call}");
    let animal: Output<Animal> = Output::of_job(JobId(3));
    let call = format!("{:?}", weigh::call(&animal, 1.5));
    assert!(call.contains("\"zoo\"") && call.contains("weigh"), "{call}");
    let _: mycelium::Call<f64> = weigh::call(animal, Output::of_job(JobId(4)));
    let _: mycelium::Call<()> = ping::call();
    let _: mycelium::Call<u32> = check::call(1u32);
}

#[test]
fn an_error_records_the_line_where_it_left_the_task() {
    let body = parse_number::TASK.body;
    let (line, column, function) = site_of(run_sync(body, json!(["x"])));
    assert_eq!((line, column), (SITES + 3, 37), "the `?`");
    assert_eq!(function, "expand::parse_number");
    assert_eq!(site_of(run_sync(body, json!(["0"]))).0, SITES + 5, "the `return`");
    assert_eq!(site_of(run_sync(body, json!(["101"]))).0, SITES + 7, "the tail");
    assert_eq!(run_sync(body, json!(["7"])).ok(), Some(json!(7)));

    let body = sum_lines::TASK.body;
    assert_eq!(site_of(run_sync(body, json!([""]))).0, ANYHOW_SITES + 5, "`bail!`");
    // The `?` in the closure leaves the closure, not the task: the `?` after
    // `with_context` is where the task gave up.
    assert_eq!(site_of(run_sync(body, json!(["1\nx"]))).0, ANYHOW_SITES + 10);
    assert_eq!(run_sync(body, json!(["1\n2"])).ok(), Some(json!(3)));
}

#[tokio::test]
async fn an_async_task_records_its_site_in_the_poll_that_fails() {
    let Body::Async(body) = halve::TASK.body else { panic!("expected an async body") };
    assert_eq!(site_of(body(json!([3])).await).0, ASYNC_SITES + 4);
    assert_eq!(body(json!([4])).await.ok(), Some(json!(2)));
}

#[test]
fn a_direct_call_is_an_ordinary_function() {
    // No elf involved: the function means what it says, sites or not.
    assert_eq!(parse_number("12".into()).ok(), Some(12));
    assert!(parse_number("0".into()).is_err());
    assert_eq!(sum_lines("1\n2".into()).ok(), Some(3));
}
