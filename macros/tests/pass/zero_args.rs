//! A task without parameters takes an empty argument list.

use mycelium::__private::{Body, TaskError};
use mycelium::Call;
use serde_json::json;

#[mycelium_macros::task(elf = "clock")]
fn answer() -> u32 {
    42
}

fn main() {
    assert!(answer::INFO.params.is_empty());
    let Body::Sync(body) = answer::TASK.body else { panic!("expected a sync body") };
    assert_eq!(body(json!([])).unwrap(), json!(42));
    assert!(matches!(body(json!([1])), Err(TaskError::BadInput(_))));
    assert!(matches!(body(json!(null)), Err(TaskError::BadInput(_))));
    let _: Call<u32> = answer::call();
}
