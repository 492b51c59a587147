//! Elf instances: the running processes that serve tasks.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{InstanceId, Millis, TaskSha};

/// How an elf instance stands.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    JsonSchema,
    strum::IntoStaticStr,
    strum::VariantArray,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
#[non_exhaustive]
pub enum ElfState {
    /// Heartbeating.
    Running,
    /// Shut down cleanly.
    Stopped,
    /// Stopped heartbeating or its connection closed: presumed dead.
    Lost,
}

super::names::named!(ElfState, "elf state");

/// What an elf binary was built from.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Build {
    /// The crate version.
    pub version: String,
    /// The git commit, when known at build time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    /// The binary's file name (what to run to replay a job).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub program: Option<String>,
}

/// One running (or once running) elf process.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ElfInstance {
    /// The instance.
    pub instance: InstanceId,
    /// The elf's name; every instance of one elf serves the same tasks.
    pub elf: String,
    /// Host name.
    pub host: String,
    /// Process id.
    pub pid: u32,
    /// Build.
    pub build: Build,
    /// Task versions it serves.
    pub tasks: Vec<TaskSha>,
    /// How many jobs it runs at once.
    pub slots: u32,
    /// Started.
    pub started_at: Millis,
    /// Last heartbeat.
    pub heartbeat_at: Millis,
    /// Presumed dead after this unless it heartbeats.
    pub lease_until: Millis,
    /// How it stands.
    pub state: ElfState,
    /// A name given by whoever started it (`mycelium launch` sets
    /// `group.replica`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// When its process started, in the host's own units (clock ticks since
    /// boot on Linux): with `pid`, tells a dead process from a new one that
    /// reused its pid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub process_start: Option<u64>,
}
