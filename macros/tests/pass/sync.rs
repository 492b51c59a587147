//! A sync task: exact source, line, stable sha, body and stubs.

use mycelium::__private::{Body, TaskError};
use mycelium::model::{JobId, TaskSha};
use mycelium::{Call, Output};
use serde::{Deserialize, Serialize};
use serde_json::json;

#[derive(Debug, PartialEq, Serialize, Deserialize)]
pub struct Animal {
    pub kind: String,
    pub seed: u64,
}

const DRAW_LINE: u32 = line!() + 2;
#[mycelium_macros::task(elf = "animals")]
/// Draws a random animal.
pub fn draw(seed: u64) -> Animal {
    Animal { kind: if seed % 2 == 0 { "cat" } else { "dog" }.to_owned(), seed }
}

#[mycelium_macros::task(elf = "animals")]
pub fn pet(animal: Animal) -> String {
    format!("petted a {}", animal.kind)
}

const DRAW_SOURCE: &str = "/// Draws a random animal.
pub fn draw(seed: u64) -> Animal {
    Animal { kind: if seed % 2 == 0 { \"cat\" } else { \"dog\" }.to_owned(), seed }
}";

fn main() {
    let info = &draw::INFO;
    assert!(info.source.starts_with("/// Draws a random animal.\n"), "{}", info.source);
    assert!(info.source.ends_with('}'));
    assert_eq!(info.source, DRAW_SOURCE);
    assert_eq!(info.line, DRAW_LINE);
    assert_eq!(info.sha(), TaskSha::of_source(DRAW_SOURCE));
    assert_eq!(info.sha(), draw::INFO.sha());
    assert_eq!((info.elf, info.name, info.doc, info.output), ("animals", "draw", "Draws a random animal.", "Animal"));
    assert_eq!(info.params, &[("seed", "u64")]);
    assert!(!info.is_async && !info.fallible);
    assert!(info.file.ends_with("sync.rs"), "{}", info.file);
    assert_eq!(draw(2), Animal { kind: "cat".into(), seed: 2 });

    let Body::Sync(body) = draw::TASK.body else { panic!("expected a sync body") };
    assert_eq!(body(json!([7])).unwrap(), json!({"kind": "dog", "seed": 7}));
    assert!(matches!(body(json!(["seven"])), Err(TaskError::BadInput(_))));
    assert!(matches!(body(json!([7, 8])), Err(TaskError::BadInput(_))));
    let Body::Sync(pet_body) = pet::TASK.body else { panic!("expected a sync body") };
    assert_eq!(pet_body(json!([{"kind": "cat", "seed": 2}])).unwrap(), json!("petted a cat"));

    let _: Call<Animal> = draw::call(7u64);
    let seed: Output<u64> = Output::of_job(JobId(1));
    let _: Call<Animal> = draw::call(seed);
    let animal: Output<Animal> = Output::of_job(JobId(2));
    let _: Call<String> = pet::call(&animal);
    let _: Call<String> = pet::call(animal);
    let _: Call<String> = pet::call(Animal { kind: "cat".into(), seed: 0 });
}
