//! The bench elf's flows: the flow workloads of `mycelium bench` (f1, f2,
//! f3).

use mycelium::flow::{Flow, FlowError};

use super::tasks;

/// This module's flows belong to the elf `bench`.
pub const ELF: &str = "bench";

/// f1: `n` sequential calls of `add1`, each a durable step.
#[mycelium::flow]
pub async fn chain(cx: &mut Flow, n: u64) -> Result<u64, FlowError> {
    let mut x = 0;
    for _ in 0..n {
        x = cx.call(tasks::add1::call(x)).await?;
    }
    Ok(x)
}

/// f2: maps `value` over `0..n` (a fan-out of `n` children) and sums.
#[mycelium::flow]
pub async fn fan(cx: &mut Flow, n: u64) -> Result<u64, FlowError> {
    let items: Vec<u64> = (0..n).collect();
    Ok(cx.map(items, tasks::value::call).await?.iter().sum())
}

/// f3: one call of `value`.
#[mycelium::flow]
pub async fn one(cx: &mut Flow, i: u64) -> Result<u64, FlowError> {
    Ok(cx.call(tasks::value::call(i)).await?)
}
