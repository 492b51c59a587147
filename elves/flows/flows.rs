//! The test flows (elf `flows`): a chain of calls, create-then-poll with a
//! deadline, approvals by signal, fan-out, an inbox line, and two calls in
//! an order that version 2 (`flows_v2.rs`) swaps.

use std::time::Duration;

use mycelium::flow::{Flow, FlowError, SignalError};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::tasks;

/// This module's flows belong to the elf `flows`.
pub const ELF: &str = "flows";

/// `f4(f3(f2(f1(x))))`, each step a task; `f3` takes `slow_ms`.
#[mycelium::flow]
pub async fn chain(cx: &mut Flow, dir: String, x: u64, slow_ms: u64) -> Result<u64, FlowError> {
    let a = cx.call(tasks::step::call(dir.clone(), "f1".to_owned(), x, 0)).await?;
    let b = cx.call(tasks::step::call(dir.clone(), "f2".to_owned(), a, 0)).await?;
    let c = cx.call(tasks::step::call(dir.clone(), "f3".to_owned(), b, slow_ms)).await?;
    Ok(cx.call(tasks::step::call(dir, "f4".to_owned(), c, 0)).await?)
}

/// How polling an external job ended.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Polled {
    /// Whether the job finished in time.
    pub done: bool,
    /// How many times its status was read.
    pub polls: u32,
    /// When the flow gave up or saw it done, from its first start.
    pub elapsed_ms: i64,
}

/// Creates an external job, then polls it every 100 ms until it is done or
/// `deadline_ms` passed since the flow first started.
#[mycelium::flow]
pub async fn create_then_poll(
    cx: &mut Flow,
    dir: String,
    done_after_ms: u64,
    deadline_ms: i64,
) -> Result<Polled, FlowError> {
    let start = cx.now();
    let id = cx.call(tasks::ext_create::call(dir.clone())).await?;
    let mut polls = 0;
    loop {
        polls += 1;
        let done = cx.call(tasks::ext_status::call(dir.clone(), id, done_after_ms)).await?;
        let elapsed_ms = cx.now() - start;
        if done || elapsed_ms > deadline_ms {
            return Ok(Polled { done, polls, elapsed_ms });
        }
        cx.sleep(Duration::from_millis(100)).await;
    }
}

/// An approval, sent as a signal.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Approval {
    /// Who approved.
    pub by: String,
}

/// Calls a task that takes `first_ms`, then waits for the signal `approve`
/// (at most `timeout_ms`, when not 0); says who approved, or that it timed
/// out.
#[mycelium::flow]
pub async fn approval(cx: &mut Flow, first_ms: u64, timeout_ms: u64) -> Result<String, FlowError> {
    cx.call(tasks::nap::call(first_ms)).await?;
    let wait = cx.signal::<Approval>("approve");
    let wait = if timeout_ms > 0 { wait.timeout(Duration::from_millis(timeout_ms)) } else { wait };
    match wait.await {
        Ok(a) => Ok(format!("approved by {}", a.by)),
        Err(SignalError::Timeout { after_ms, .. }) => Ok(format!("no approval within {after_ms} ms")),
        Err(e) => Err(e.into()),
    }
}

/// Squares `0..n`, a list known only at run time, joined in order.
#[mycelium::flow]
pub async fn fan(cx: &mut Flow, n: u64) -> Result<Vec<u64>, FlowError> {
    let items: Vec<u64> = (0..n).collect();
    Ok(cx.map(items, tasks::square::call).await?)
}

/// Writes a line, waits for `go`, writes another.
#[mycelium::flow]
pub async fn greeter(cx: &mut Flow) -> Result<u32, FlowError> {
    cx.write("stdout", "hello from the flow")?;
    let _: () = cx.signal("go").await?;
    cx.write("stdout", "bye")?;
    Ok(2)
}

/// Two calls, then an approval.
#[mycelium::flow]
pub async fn ordered(cx: &mut Flow) -> Result<u64, FlowError> {
    let a = cx.call(tasks::square::call(2)).await?;
    let b = cx.call(tasks::nap::call(1)).await?;
    let _: Approval = cx.signal("approve").await?;
    Ok(a + b)
}

/// Passes its own output to a task: a flow cannot wait for itself.
#[mycelium::flow]
pub async fn narcissus(cx: &mut Flow) -> Result<String, FlowError> {
    let me = mycelium::Output::<u64>::of_job(cx.job());
    Ok(cx.call(tasks::square::call(me)).await.map(|v| v.to_string())?)
}

/// Sleeps until `ms` from now, `times` times; says how late it woke each
/// time (on the store's clock, as the flow saw it).
#[mycelium::flow]
pub async fn sleepy(cx: &mut Flow, ms: i64, times: u32) -> Result<Vec<i64>, FlowError> {
    let mut late = Vec::new();
    for _ in 0..times {
        let due = cx.now() + ms;
        cx.sleep_until(due).await;
        late.push(cx.now() - due);
    }
    Ok(late)
}
