//! The nightly ETL as a durable flow (elf `etl`): it fans out over the
//! files found at run time, sleeps, waits for an approval sent with
//! `mycelium signal`, and writes to its stdout inbox. Any process may die
//! at any point; the flow resumes from its history.

use std::time::Duration;

use mycelium::flow::{Flow, FlowError, SignalError};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::tasks;

/// This module's flows belong to the elf `etl`.
pub const ELF: &str = "etl";

/// Who approved the night's numbers.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct Approval {
    /// Their name.
    pub by: String,
}

/// What a night produced.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Report {
    /// Files counted.
    pub files: u64,
    /// Rows in all.
    pub rows: u64,
    /// Who approved.
    pub approved_by: String,
    /// Where the report is.
    pub path: String,
}

/// Counts the rows of every `.csv` file in `dir`, lets them settle for
/// `settle_ms`, waits up to a day for an approval, then publishes.
#[mycelium::flow]
pub async fn nightly(cx: &mut Flow, dir: String, settle_ms: u64) -> Result<Report, FlowError> {
    let files = cx.call(tasks::list_files::call(dir.clone())).await?;
    let counts = cx.map(files.clone(), tasks::count_rows::call).await?;
    let rows: u64 = counts.iter().sum();
    cx.write("stdout", format!("counted {rows} rows in {} files", files.len()))?;
    cx.sleep(Duration::from_millis(settle_ms)).await;
    cx.write("stdout", "waiting for an approval (mycelium signal <flow> approve --data '{\"by\": ..}')")?;
    let approval = match cx.signal::<Approval>("approve").timeout(Duration::from_secs(86_400)).await {
        Ok(a) => a,
        Err(SignalError::Timeout { .. }) => {
            cx.write("stdout", "nobody approved within a day: not published")?;
            return Err("not approved".into());
        }
        Err(e) => return Err(e.into()),
    };
    let n = files.len() as u64;
    let path = cx.call(tasks::publish::call(dir, n, rows, approval.by.clone())).await?;
    cx.write("stdout", format!("published {path}, approved by {}", approval.by))?;
    Ok(Report { files: n, rows, approved_by: approval.by, path })
}
