//! An async task runs on the elf's runtime.

use mycelium::__private::Body;
use mycelium::Call;
use serde_json::json;

#[mycelium_macros::task(elf = "math")]
/// Doubles slowly.
pub async fn double(n: u64) -> u64 {
    tokio::task::yield_now().await;
    n * 2
}

fn main() {
    assert!(double::INFO.is_async);
    assert_eq!(double::INFO.output, "u64");
    let Body::Async(body) = double::TASK.body else { panic!("expected an async body") };
    let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
    assert_eq!(runtime.block_on(body(json!([21]))).unwrap(), json!(42));
    assert_eq!(runtime.block_on(double(1)), 2);
    let _: Call<u64> = double::call(4u64);
}
