//! A task without a return type has the value `()` (JSON `null`).

use mycelium::__private::Body;
use mycelium::Call;
use serde_json::json;

#[mycelium_macros::task(elf = "log")]
fn note(message: String, count: Option<u8>) {
    let _ = (message, count);
}

#[mycelium_macros::task(elf = "log")]
fn try_note(message: String) -> std::io::Result<()> {
    let _ = message;
    Ok(())
}

fn main() {
    assert_eq!(note::INFO.output, "()");
    assert_eq!(note::INFO.params, &[("message", "String"), ("count", "Option<u8>")]);
    let Body::Sync(body) = note::TASK.body else { panic!("expected a sync body") };
    assert_eq!(body(json!(["hi", null])).unwrap(), json!(null));
    assert_eq!(try_note::INFO.output, "()");
    assert!(try_note::INFO.fallible);
    let _: Call<()> = note::call(String::from("hi"), Some(1u8));
    let _: Call<()> = try_note::call(String::from("hi"));
}
