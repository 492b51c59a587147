//! Wall-clock milliseconds, the one time unit of the mycelium.

use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch. Every timestamp in the mycelium is one.
pub type Millis = i64;

/// The host's wall clock in milliseconds since the Unix epoch.
///
/// All processes on one machine share this clock, which is why the embedded
/// store may compute leases from it (the ArangoDB backend uses the server's).
pub fn now_ms() -> Millis {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX)).unwrap_or(0)
}
