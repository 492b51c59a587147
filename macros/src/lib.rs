//! The `#[task]` and `#[flow]` attributes of mycelium (use them as
//! `mycelium::task` and `mycelium::flow`).
//!
//! A task is a free function that an elf runs and a driver calls. The
//! attribute keeps the function exactly as written, so it stays an ordinary
//! function (call it directly in unit tests), and generates beside it a
//! module of the same name holding:
//!
//! * `INFO`, the task's `TaskInfo`: its elf, name, **exact source text**
//!   (from the first doc comment or attribute after `#[task]` to the closing
//!   brace, byte for byte; its sha256 is the task version), file, line, doc
//!   comment, parameters, value type, and default retry and timeout policy;
//! * `TASK`, what an elf serves: `INFO` and a body that decodes the
//!   arguments (a JSON array in parameter order), runs the function and
//!   encodes its value (`Result`s: `Err` becomes a failure);
//! * `call(..)`, the typed stub: each parameter of type `T` accepts a `T`, an
//!   `Output<T>` of an earlier call, or anything else implementing
//!   `IntoArg<T>`, and the call returns a `Call<V>` for the value type `V`.
//!
//! ```ignore
//! use mycelium::task;
//!
//! /// The elf of tasks that do not name one.
//! pub const ELF: &str = "animals";
//!
//! #[task(elf = "animals")]
//! /// Draws a random animal.
//! pub fn draw(seed: u64) -> Animal {
//!     Animal::from_seed(seed)
//! }
//!
//! #[task(retries = 3, backoff_ms = 100, backoff_factor = 2.0, timeout_ms = 2000)]
//! /// Weighs an animal (elf `ELF`).
//! pub async fn weigh(animal: Animal, factor: f64) -> Result<f64, ScaleError> {
//!     Ok(scale::weigh(&animal).await? * factor)
//! }
//!
//! // In a driver:
//! let animal = run.add(draw::call(7u64));
//! let weight = run.add(weigh::call(&animal, 1.5));
//! // In the elf:
//! let tasks = [&draw::TASK, &weigh::TASK];
//! ```
//!
//! # Options
//!
//! | key              | type    | default | meaning                                  |
//! |------------------|---------|---------|------------------------------------------|
//! | `elf`            | string  | `ELF`   | the elf serving the task; without it, the `ELF: &str` const of the enclosing module (a compile error says so when there is none) |
//! | `retries`        | integer | 1       | attempts in all                          |
//! | `backoff_ms`     | integer | 0       | delay before the first retry             |
//! | `backoff_factor` | number  | 1.0     | delay multiplier per retry (1 = fixed)   |
//! | `max_delay_ms`   | integer | 60000   | longest delay                            |
//! | `jitter`         | bool    | false   | spread each delay over [delay/2, delay]  |
//! | `timeout_ms`     | integer | none    | time limit of one attempt                |
//!
//! # Where an error arose
//!
//! A backtrace taken once a function has returned `Err` holds no frame of
//! the function. So the body of a task that returns `Result` is rewritten,
//! keeping every expression's type and meaning, to record where an `Err`
//! leaves it: at each `?`, `return`, tail expression (through `if`, `match`
//! and blocks) and `bail!(..)`, the location (`file!()`, `line!()`,
//! `column!()` of that token) is noted on the thread when the value is an
//! `Err`. The elf shows it as the innermost frame of the task, and `mycelium
//! failure` marks that line. Closures, `async` blocks and nested items are
//! left as written (their `?` leaves something else), and so are the
//! insides of other macros.
//!
//! # Restrictions
//!
//! Arguments travel as JSON, so a task must be a free, non-generic, safe,
//! non-`const` function whose parameters are plain names of owned
//! deserializable types (no `&str`, no `impl Trait`, no `self`), and whose
//! value (`T`, or `T` of `Result<T, E>` with `E` convertible into
//! `Box<dyn Error + Send + Sync>`) is serializable. Anything else is a
//! compile error pointing at the offending token. The generated module sees
//! the enclosing module through `use super::*`, so the function must be an
//! item of a module (not of a function body).

mod agent;
mod args;
mod expand;
mod flow;
mod signature;
mod source;
mod trace;
mod types;

use proc_macro::TokenStream;

/// Declares a task: keeps the function and generates the module of the same
/// name with its `INFO`, `TASK` and typed `call` stub (see the crate docs).
#[proc_macro_attribute]
pub fn task(attr: TokenStream, item: TokenStream) -> TokenStream {
    let item = proc_macro2::TokenStream::from(item);
    match expand::expand(attr.into(), item.clone()) {
        Ok(tokens) => tokens.into(),
        // Keep the item so that its other uses do not add errors.
        Err(error) => {
            let error = error.into_compile_error();
            quote::quote!(#error #item).into()
        }
    }
}

/// Declares a durable flow: an `async fn(cx: &mut Flow, args..)` whose
/// commands are recorded as its history. Keeps the function and generates
/// the module of the same name with its `INFO`, `FLOW` (what an elf serves
/// with `Elf::flow`) and typed `call` stub, taking the same options as
/// `#[task]`.
#[proc_macro_attribute]
pub fn flow(attr: TokenStream, item: TokenStream) -> TokenStream {
    let item = proc_macro2::TokenStream::from(item);
    match flow::expand(attr.into(), item.clone()) {
        Ok(tokens) => tokens.into(),
        Err(error) => {
            let error = error.into_compile_error();
            quote::quote!(#error #item).into()
        }
    }
}
