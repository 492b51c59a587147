//! The server's clock, as seen from a client: leases and timers of every
//! process are measured on it, so that machines whose clocks disagree agree
//! on when a lease runs out.
//!
//! The client asks the server for its time (`RETURN DATE_NOW()`) and keeps
//! the offset between that and its own clock, taken at the midpoint of the
//! request. The error of the estimate is at most half the round trip of the
//! sample kept (the fastest of a few), plus the server clock's millisecond
//! resolution, plus what the local clock drifts until the next sample (a
//! quartz clock: tens of microseconds a minute). Samples are refreshed every
//! [`REFRESH`], and at once when the local wall clock jumps against the
//! monotonic one (an NTP step, a suspended machine), so a jump is never
//! carried for long. Between samples the time is the local clock plus the
//! offset: it never stalls when the server is out of reach (it just keeps
//! the last offset).

use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::aql::{self, Query};
use super::db::Db;
use crate::lifecycle::Clock;
use crate::model::{Millis, now_ms};

/// How long an offset is trusted.
pub(super) const REFRESH: Duration = Duration::from_secs(30);
/// Samples taken when the offset is (re)measured; the fastest one is kept.
const SAMPLES: usize = 3;
/// A wall-clock jump against the monotonic clock larger than this starts a
/// new measurement.
const JUMP_MS: i64 = 250;
/// How soon to try again when the server could not be asked.
const RETRY: Duration = Duration::from_secs(1);

/// One measurement of the server's clock.
#[derive(Clone, Copy, Debug)]
struct Sample {
    /// Server time minus local time, in milliseconds.
    offset: i64,
    /// Half the round trip: the bound of the offset's error.
    error: i64,
    /// When it was taken, locally (wall clock and monotonic).
    wall: Millis,
    at: Instant,
}

/// The server's clock, estimated.
#[derive(Debug)]
pub(super) struct ServerClock {
    db: Db,
    /// This machine's clock is taken to be off by this much (a test aid:
    /// `clock_skew_ms` on the URL); the offset absorbs it.
    skew_ms: i64,
    state: Mutex<State>,
}

#[derive(Clone, Copy, Debug)]
struct State {
    sample: Sample,
    /// When to measure again.
    next: Instant,
    /// When the last measurement failed, if the last one did.
    failed: Option<Instant>,
}

impl State {
    fn due(&self, jumped: bool) -> bool {
        Instant::now() >= self.next || (jumped && self.failed.is_none_or(|t| t.elapsed() >= RETRY))
    }
}

impl ServerClock {
    /// Measures the server's clock.
    pub(super) fn measure(db: Db, skew_ms: i64) -> Result<Self, arangors::ClientError> {
        let sample = take(&db, skew_ms)?;
        Ok(Self { db, skew_ms, state: Mutex::new(State { sample, next: sample.at + REFRESH, failed: None }) })
    }

    /// The current error bound of the estimate, in milliseconds.
    pub(super) fn error_ms(&self) -> i64 {
        self.state.lock().unwrap_or_else(|p| p.into_inner()).sample.error
    }
}

/// This machine's wall clock, as skewed.
fn local(skew_ms: i64) -> Millis {
    now_ms().saturating_add(skew_ms)
}

/// The best of a few samples.
fn take(db: &Db, skew_ms: i64) -> Result<Sample, arangors::ClientError> {
    let mut best: Option<Sample> = None;
    let q = Query::new("read the server's clock", aql::SERVER_TIME);
    for _ in 0..SAMPLES {
        let started = Instant::now();
        let before = local(skew_ms);
        let answer = db.query_one(&q, None)?;
        let after = local(skew_ms);
        let round_trip = i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX);
        let server = answer
            .as_i64()
            .or_else(|| answer.as_f64().map(|f| f as i64))
            .ok_or_else(|| arangors::ClientError::HttpClient(format!("the server's DATE_NOW() answered {answer}")))?;
        let midpoint = before + (after - before) / 2;
        let sample = Sample { offset: server - midpoint, error: round_trip / 2 + 1, wall: after, at: Instant::now() };
        if best.is_none_or(|b| sample.error < b.error) {
            best = Some(sample);
        }
    }
    best.ok_or_else(|| arangors::ClientError::HttpClient("no clock sample".into()))
}

impl Clock for ServerClock {
    fn now(&self) -> Millis {
        let wall = local(self.skew_ms);
        let state = *self.state.lock().unwrap_or_else(|p| p.into_inner());
        let s = state.sample;
        let monotonic = i64::try_from(s.at.elapsed().as_millis()).unwrap_or(i64::MAX);
        // Where the last sample says the server is, by the monotonic clock.
        let steady = s.wall.saturating_add(monotonic).saturating_add(s.offset);
        let jumped = (wall - s.wall - monotonic).abs() > JUMP_MS;
        if state.due(jumped)
            && let Ok(mut guard) = self.state.try_lock()
            && guard.due(jumped)
        {
            // One thread measures; the others keep the last offset meanwhile.
            match take(&self.db, self.skew_ms) {
                Ok(fresh) => {
                    *guard = State { sample: fresh, next: fresh.at + REFRESH, failed: None };
                    return local(self.skew_ms) + fresh.offset;
                }
                Err(e) => {
                    tracing::debug!("could not read the server's clock, keeping the last offset: {e}");
                    guard.next = Instant::now() + RETRY;
                    guard.failed = Some(Instant::now());
                }
            }
        }
        // A jumped wall clock is not followed: the server's did not jump.
        if jumped { steady } else { wall + s.offset }
    }
}
