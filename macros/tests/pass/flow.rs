//! A flow: its context first, its arguments after, its commands awaited.

use std::time::Duration;

use mycelium::Call;
use mycelium::flow::{Flow, FlowError};

#[mycelium_macros::task(elf = "etl")]
/// Counts the lines of a file.
pub fn count(path: String) -> u64 {
    path.len() as u64
}

#[mycelium_macros::flow(elf = "etl", retries = 2)]
/// Counts every file, waits, and asks for an approval.
pub async fn nightly(cx: &mut Flow, files: Vec<String>, pause_ms: u64) -> Result<u64, FlowError> {
    let counts = cx.map(files, |f| count::call(f)).await?;
    cx.sleep(Duration::from_millis(pause_ms)).await;
    let by: String = cx.signal("approve").timeout(Duration::from_secs(60)).await?;
    cx.write("stdout", format!("approved by {by}"))?;
    Ok(counts.iter().sum())
}

#[mycelium_macros::flow(elf = "etl")]
/// A flow that cannot fail, without arguments.
async fn tick(cx: &mut mycelium::flow::Flow) -> i64 {
    cx.now()
}

fn main() {
    assert_eq!(nightly::INFO.name, "nightly");
    assert_eq!(nightly::INFO.params, &[("files", "Vec<String>"), ("pause_ms", "u64")]);
    assert_eq!(nightly::INFO.output, "u64");
    assert!(nightly::INFO.fallible && nightly::INFO.is_async);
    assert_eq!(nightly::INFO.retry.max_attempts, 2);
    assert!(nightly::FLOW.version().signature.flow, "recorded as a flow");
    assert!(nightly::INFO.source.starts_with("/// Counts every file"));
    let _: Call<u64> = nightly::call(vec!["a".to_owned()], 5u64);
    assert_eq!(tick::INFO.params.len(), 0);
    assert!(!tick::INFO.fallible);
    let _: Call<i64> = tick::call();
}
