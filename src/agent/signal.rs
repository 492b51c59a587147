//! Signals: declared, typed events. Emitting one records one job for every
//! subscribed receiver, in the emission's transaction.

use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::model::{Millis, RetryPolicy};

/// A signal: a Rust type whose values are emitted, with the name it is
/// known by in the mycelium.
///
/// ```
/// use mycelium::agent::Signal;
///
/// /// A user signed up.
/// #[derive(serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
/// pub struct UserCreated {
///     pub user_id: u64,
///     pub email: String,
/// }
///
/// impl Signal for UserCreated {
///     const NAME: &'static str = "user_created";
/// }
/// assert_eq!(UserCreated::NAME, "user_created");
/// ```
pub trait Signal: Serialize + DeserializeOwned + JsonSchema + Send + Sync + 'static {
    /// The signal's name: letters, digits, `_`, `-`, `.`, `:`.
    const NAME: &'static str;

    /// The JSON Schema of its payload, recorded in the mycelium.
    fn schema() -> Value {
        crate::agent::schema_of::<Self>()
    }
}

/// A signal that asks a question: each receiver's value is its answer, of
/// type `Reply` (see `Mycelium::call`).
pub trait Request: Signal {
    /// What every receiver answers.
    type Reply: DeserializeOwned + Send + 'static;
}

/// A signal as the mycelium knows it: declared by the elves that receive or
/// emit it, with its payload's JSON Schema.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SignalDecl {
    /// Its name.
    pub name: String,
    /// The JSON Schema every payload must match (the most recent declaration's).
    pub schema: Value,
    /// The elf that declared it last.
    pub declared_by: String,
    /// When.
    pub declared_at: Millis,
    /// Emissions so far.
    #[serde(default)]
    pub emitted: u64,
    /// When it was last emitted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_emitted_at: Option<Millis>,
}

/// A receiver's subscription to a signal: every emission gets one job of
/// `elf`/`task`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Subscription {
    /// The signal.
    pub signal: String,
    /// The receiving elf.
    pub elf: String,
    /// Its receiving task.
    pub task: String,
    /// Whether the task takes the payload as its argument (else it takes none).
    pub takes_payload: bool,
    /// The receiver's retry policy, for each delivery.
    pub retry: RetryPolicy,
    /// Its time limit per attempt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
    /// Since when it is subscribed.
    pub since: Millis,
}

impl Subscription {
    /// Its key in the catalog: `signal/elf/task`.
    pub fn key(&self) -> String {
        format!("{}/{}/{}", self.signal, self.elf, self.task)
    }
}
