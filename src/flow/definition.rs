//! What `#[mycelium::flow]` generates for an elf to serve.

use serde_json::Value;

use super::context::Flow;
use super::run::FlowFuture;
use crate::model::TaskVersion;
use crate::task::TaskInfo;

/// A flow an elf serves: its description (the same as a task's: exact
/// source, version, signature) and its body. Pass `my_flow::FLOW` to
/// [`Elf::flow`](crate::elf::Elf::flow).
#[derive(Debug)]
pub struct Definition {
    /// What it is.
    pub info: &'static TaskInfo,
    /// How to run it: the context and the arguments (a JSON array in
    /// parameter order) in, the body's future out.
    pub body: fn(Flow, Value) -> FlowFuture,
}

impl Definition {
    /// The version the store records, marked as a flow.
    pub fn version(&self) -> TaskVersion {
        let mut v = self.info.version();
        v.signature.flow = true;
        v
    }
}
