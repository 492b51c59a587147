//! Version 2 of the test flow `ordered`: its two calls swapped.

use mycelium::flow::{Flow, FlowError};

use super::flows::Approval;
use super::tasks;

/// This module's flows belong to the elf `flows`.
pub const ELF: &str = "flows";

/// Two calls (swapped since version 1), then an approval.
#[mycelium::flow]
pub async fn ordered(cx: &mut Flow) -> Result<u64, FlowError> {
    let b = cx.call(tasks::nap::call(1)).await?;
    let a = cx.call(tasks::square::call(2)).await?;
    let _: Approval = cx.signal("approve").await?;
    Ok(a + b)
}
