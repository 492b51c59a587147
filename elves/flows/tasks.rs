//! The tasks the test flows call (elf `flowtasks`): each leaves a trace in
//! files of a directory it is given, so that tests count how often it ran.

use std::io::Write;
use std::time::Duration;

/// This module's tasks belong to the elf `flowtasks`.
pub const ELF: &str = "flowtasks";

/// Appends `line` to the file `name` in `dir`.
fn trace(dir: &str, name: &str, line: &str) -> Result<(), String> {
    let path = std::path::Path::new(dir).join(name);
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    writeln!(f, "{line}").map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// The store's clock as this machine sees it.
fn now_ms() -> i64 {
    mycelium::model::now_ms()
}

/// One step of a chain: waits `ms`, records that `name` ran, returns `x + 1`.
#[mycelium::task]
pub fn step(dir: String, name: String, x: u64, ms: u64) -> Result<u64, String> {
    std::thread::sleep(Duration::from_millis(ms));
    trace(&dir, "calls.log", &name)?;
    Ok(x + 1)
}

/// Starts a job in an "external system" (a file): records the creation and
/// when it happened; returns the job's id.
#[mycelium::task]
pub fn ext_create(dir: String) -> Result<u64, String> {
    trace(&dir, "created.log", &now_ms().to_string())?;
    Ok(7)
}

/// Whether the external job `id` is done: `after_ms` after its creation.
#[mycelium::task]
pub fn ext_status(dir: String, id: u64, after_ms: u64) -> Result<bool, String> {
    let path = std::path::Path::new(&dir).join("created.log");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("job {id}: cannot read {}: {e}", path.display()))?;
    let created: i64 = text.lines().next().and_then(|l| l.trim().parse().ok()).ok_or("no creation time")?;
    Ok(now_ms() - created >= i64::try_from(after_ms).unwrap_or(i64::MAX))
}

/// `x` squared.
#[mycelium::task]
pub fn square(x: u64) -> u64 {
    x * x
}

/// Sleeps `ms` without blocking a thread.
#[mycelium::task]
pub async fn nap(ms: u64) -> u64 {
    tokio::time::sleep(Duration::from_millis(ms)).await;
    ms
}
