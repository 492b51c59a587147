//! The agents test elves: receivers, responders, consumers that fail on
//! purpose, topic and fanout consumers, and a clock. Three binaries serve
//! them: `elf-agents-a`, `elf-agents-b` and `elf-agents-clock`.

use std::time::Duration;

use mycelium::agent::{Context, Request, Signal};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A ping, received by both `agents-a` and `agents-b`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Ping {
    /// Which one.
    pub n: u64,
}

impl Signal for Ping {
    const NAME: &'static str = "ping";
}

/// A question both elves answer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Ask {
    /// The number asked about.
    pub x: u64,
    /// How long to think first, in milliseconds.
    #[serde(default)]
    pub think_ms: u64,
}

impl Signal for Ask {
    const NAME: &'static str = "ask";
}

impl Request for Ask {
    type Reply = u64;
}

/// A message of the test queues.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Job {
    /// Its number.
    pub n: u64,
    /// How long consuming it takes, in milliseconds.
    #[serde(default)]
    pub ms: u64,
    /// For `doomed`: it succeeds once this file exists.
    #[serde(default)]
    pub unless: Option<String>,
}

/// `agents-a`'s receiver of pings: answers with the ping's number.
#[mycelium::task(elf = "agents-a", receives = [Ping])]
pub fn ping_a(p: Ping) -> u64 {
    p.n
}

/// `agents-b`'s receiver of pings.
#[mycelium::task(elf = "agents-b", receives = [Ping])]
pub fn ping_b(p: Ping) -> u64 {
    p.n
}

/// `agents-a` answers `x + 1`.
#[mycelium::task(elf = "agents-a", receives = [Ask])]
pub async fn answer_a(q: Ask) -> u64 {
    tokio::time::sleep(Duration::from_millis(q.think_ms)).await;
    q.x + 1
}

/// `agents-b` answers `x * 2`.
#[mycelium::task(elf = "agents-b", receives = [Ask])]
pub async fn answer_b(q: Ask) -> u64 {
    tokio::time::sleep(Duration::from_millis(q.think_ms)).await;
    q.x * 2
}

/// Calls `ask` with a 200 ms timeout, then waits 500 ms more in the same
/// task: the call's timeout must not cancel the later wait.
#[mycelium::task(elf = "agents-b")]
pub async fn ask_then_wait(cx: &Context) -> Result<usize, mycelium::agent::Error> {
    let got = cx.call(&Ask { x: 1, think_ms: 0 })?.timeout(Duration::from_millis(200)).await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    Ok(got.answers.len())
}

/// Fails every message's first two attempts, then succeeds.
#[mycelium::task(elf = "agents-a", consumes = "flaky", retries = 3, backoff_ms = 50)]
pub fn flaky(cx: &Context, job: Job) -> Result<u64, String> {
    if cx.attempt() <= 2 {
        return Err(format!("message {} fails on attempt {}", job.n, cx.attempt()));
    }
    Ok(job.n)
}

/// Fails until the file named in the message exists.
#[mycelium::task(elf = "agents-a", consumes = "doomed", retries = 2, backoff_ms = 20)]
pub fn doomed(job: Job) -> Result<u64, String> {
    match &job.unless {
        Some(path) if std::path::Path::new(path).exists() => Ok(job.n),
        _ => Err(format!("message {} cannot be consumed yet", job.n)),
    }
}

/// Takes `ms` to consume a message; answers with its pid.
#[mycelium::task(elf = "agents-a", consumes = "work")]
pub async fn work(job: Job) -> (u64, u32) {
    tokio::time::sleep(Duration::from_millis(job.ms)).await;
    (job.n, std::process::id())
}

/// Topic exchange `push3`, keys `*.ios`.
#[mycelium::task(elf = "agents-a", consumes = "t_ios", exchange = "push3", topics = ["*.ios"])]
pub fn t_ios(job: Job) -> u64 {
    job.n
}

/// Topic exchange `push3`, keys `msg.#`.
#[mycelium::task(elf = "agents-a", consumes = "t_msg", exchange = "push3", topics = ["msg.#"])]
pub fn t_msg(job: Job) -> u64 {
    job.n
}

/// Fanout exchange `bcast`.
#[mycelium::task(elf = "agents-a", consumes = "f_one", exchange = "bcast")]
pub fn f_one(job: Job) -> u64 {
    job.n
}

/// Fanout exchange `bcast`.
#[mycelium::task(elf = "agents-a", consumes = "f_two", exchange = "bcast")]
pub fn f_two(job: Job) -> u64 {
    job.n
}

/// Ticks every second; answers with its tick's time.
#[mycelium::task(elf = "agents-clock", every = "1s")]
pub fn beat(cx: &Context) -> i64 {
    cx.tick().unwrap_or(-1)
}
