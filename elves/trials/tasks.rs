//! The trials elf: tasks that fail in every way a task can, for the
//! "When things fail" walkthrough and the failure tests.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// This module's tasks belong to the elf `trials`.
pub const ELF: &str = "trials";

/// Picks the `n`-th of three fruits (panics past the end).
#[mycelium::task]
pub fn pick(n: u32) -> String {
    let fruits = ["apple", "pear", "quince"];
    fruits[n as usize].to_owned()
}

/// A parsed setting.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Setting {
    /// Its name.
    pub name: String,
    /// Its value.
    pub value: u32,
}

/// Why a setting could not be read.
#[derive(Debug, thiserror::Error)]
pub enum SettingError {
    /// The line has no `=`.
    #[error("setting `{0}` has no `=`")]
    NoEquals(String),
    /// The value is not a number.
    #[error("setting `{name}` has a bad value")]
    BadValue {
        /// The setting.
        name: String,
        /// Why.
        #[source]
        source: std::num::ParseIntError,
    },
}

/// Parses `name=value`.
#[mycelium::task]
pub fn parse_setting(line: String) -> Result<Setting, SettingError> {
    let (name, value) = line.split_once('=').ok_or_else(|| SettingError::NoEquals(line.clone()))?;
    let value = value.trim().parse().map_err(|source| SettingError::BadValue { name: name.to_owned(), source })?;
    Ok(Setting { name: name.trim().to_owned(), value })
}

/// Fails until it has been called more than `failures` times (counted in the
/// file `counter`), then returns the number of calls.
#[mycelium::task]
pub fn flaky(counter: String, failures: u32) -> Result<u32, String> {
    let calls = std::fs::read_to_string(&counter).ok().and_then(|s| s.trim().parse::<u32>().ok()).unwrap_or(0) + 1;
    std::fs::write(&counter, calls.to_string()).map_err(|e| format!("cannot write {counter}: {e}"))?;
    if calls <= failures {
        return Err(format!("call {calls} of {failures} failing calls"));
    }
    Ok(calls)
}

/// Refuses `reason` outright: retrying cannot help.
#[mycelium::task]
pub fn refuse(reason: String) -> Result<u32, mycelium::Fatal> {
    Err(mycelium::Fatal::msg(format!("refused: {reason}")))
}

/// Reads a number from the file at `path`.
#[mycelium::task]
pub fn read_number(path: String) -> Result<u64, Box<dyn std::error::Error + Send + Sync>> {
    let text = std::fs::read_to_string(&path).map_err(|e| format!("cannot read {path}: {e}"))?;
    Ok(text.trim().parse::<u64>()?)
}

/// Sums the numbers in the file at `path`, one a line (anyhow errors, with
/// context; `bail!` on an empty file).
#[mycelium::task]
pub fn sum_file(path: String) -> anyhow::Result<u64> {
    use anyhow::Context;
    let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read {path}"))?;
    if text.trim().is_empty() {
        anyhow::bail!("{path} holds no number");
    }
    let mut sum = 0u64;
    for line in text.lines() {
        sum += line.trim().parse::<u64>().with_context(|| format!("`{line}` is not a number"))?;
    }
    Ok(sum)
}

/// Checks that `age` is plausible (an explicit `return Err`).
#[mycelium::task]
pub fn check_age(age: i64) -> Result<i64, SettingError> {
    if age < 0 {
        return Err(SettingError::NoEquals(format!("age {age}")));
    }
    Ok(age)
}

/// Halves `n` after `ms` milliseconds, failing on odd numbers (an async task
/// with `?`).
#[mycelium::task]
pub async fn halve_later(n: u64, ms: u64) -> Result<u64, std::io::Error> {
    tokio::time::sleep(Duration::from_millis(ms)).await;
    let half = even(n).ok_or_else(|| std::io::Error::other(format!("{n} is odd")))?;
    Ok(half)
}

/// Half of `n` when it is even.
fn even(n: u64) -> Option<u64> {
    n.is_multiple_of(2).then_some(n / 2)
}

/// Sleeps `ms` milliseconds without blocking a thread.
#[mycelium::task]
pub async fn nap(ms: u64) -> u64 {
    tokio::time::sleep(Duration::from_millis(ms)).await;
    ms
}

/// Greets `name`.
#[mycelium::task]
pub fn greet(name: String) -> String {
    format!("hello, {name}")
}

/// Kills the process that runs it (SIGKILL to itself, by `kill`): a job
/// no elf survives. Its losses are not its attempts; once they pass its
/// budget of losses it fails as a poison job.
#[mycelium::task]
pub fn crash(n: u32) -> u32 {
    let me = std::process::id().to_string();
    let _ = std::process::Command::new("kill").args(["-KILL", &me]).status();
    // The signal is on its way; nothing after it runs.
    loop {
        std::thread::sleep(Duration::from_secs(1));
        let _ = n;
    }
}
