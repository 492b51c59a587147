//! A task returning `Result`: `Ok` is the value, `Err` a failure.

use mycelium::__private::{Body, TaskError};
use mycelium::{Call, Fatal};
use serde_json::json;

#[derive(Debug)]
pub struct Negative;

impl std::fmt::Display for Negative {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("negative")
    }
}

impl std::error::Error for Negative {}

#[mycelium_macros::task(elf = "math")]
fn root(x: f64) -> Result<f64, Negative> {
    if x < 0.0 { Err(Negative) } else { Ok(x.sqrt()) }
}

#[mycelium_macros::task(elf = "math")]
async fn parse(text: String) -> Result<Vec<u32>, Box<dyn std::error::Error + Send + Sync>> {
    if text.is_empty() {
        return Err(Fatal::msg("nothing to parse").into());
    }
    Ok(text.split(',').map(str::parse).collect::<Result<_, _>>()?)
}

fn main() {
    assert!(root::INFO.fallible);
    assert_eq!(root::INFO.output, "f64");
    assert_eq!(parse::INFO.output, "Vec<u32>");
    let Body::Sync(body) = root::TASK.body else { panic!("expected a sync body") };
    assert_eq!(body(json!([9.0])).unwrap(), json!(3.0));
    match body(json!([-1.0])) {
        Err(TaskError::Failed { error, retryable, .. }) => {
            assert_eq!(error.to_string(), "negative");
            assert!(retryable);
        }
        other => panic!("{other:?}"),
    }
    let Body::Async(body) = parse::TASK.body else { panic!("expected an async body") };
    let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
    assert_eq!(runtime.block_on(body(json!(["1,2"]))).unwrap(), json!([1, 2]));
    assert!(matches!(runtime.block_on(body(json!(["1,x"]))), Err(TaskError::Failed { retryable: true, .. })));
    assert!(matches!(runtime.block_on(body(json!([""]))), Err(TaskError::Failed { retryable: false, .. })));
    let _: Call<f64> = root::call(2.0);
    let _: Call<Vec<u32>> = parse::call(String::from("1"));
}
