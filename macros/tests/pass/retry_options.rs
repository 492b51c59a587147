//! Every retry and timeout option reaches `INFO`.

#[mycelium_macros::task(
    elf = "x",
    retries = 3,
    backoff_ms = 100,
    backoff_factor = 2.0,
    max_delay_ms = 5000,
    jitter = true,
    timeout_ms = 2000
)]
fn flaky(n: u32) -> Result<u32, Box<dyn std::error::Error + Send + Sync>> {
    Ok(n)
}

#[mycelium_macros::task(elf = "x", retries = 2, backoff_ms = 10, jitter)]
fn fixed() {}

#[mycelium_macros::task(elf = "x")]
fn defaults() {}

fn main() {
    let r = flaky::INFO.retry;
    assert_eq!((r.max_attempts, r.delay_ms, r.factor, r.max_delay_ms, r.jitter), (3, 100, 2.0, 5000, true));
    assert_eq!(flaky::INFO.timeout_ms, Some(2000));
    assert_eq!(flaky::INFO.output, "u32");
    let r = fixed::INFO.retry;
    assert_eq!((r.max_attempts, r.delay_ms, r.factor, r.max_delay_ms, r.jitter), (2, 10, 1.0, 60_000, true));
    let r = defaults::INFO.retry;
    assert_eq!((r.max_attempts, r.delay_ms, r.factor, r.max_delay_ms, r.jitter), (1, 0, 1.0, 60_000, false));
    assert_eq!(defaults::INFO.timeout_ms, None);
}
