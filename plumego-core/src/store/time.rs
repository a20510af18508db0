//! Wall-clock helpers. Every engine stores instants as whole microseconds since
//! the Unix epoch: persisted expiries must survive restarts (so no `Instant`),
//! and one precision everywhere makes records compare equal after a round trip
//! through any engine (PostgreSQL keeps microseconds).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// `t` as microseconds since the epoch, the unit every engine and
/// [`Gcra`](super::Gcra) work in; instants before it clamp to 0 and instants
/// after year 294,000 to `u64::MAX`.
pub fn micros(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}

/// The instant `us` microseconds after the epoch.
pub(crate) fn from_micros(us: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_micros(us)
}

/// `t` truncated to whole microseconds.
pub(crate) fn truncate(t: SystemTime) -> SystemTime {
    from_micros(micros(t))
}

/// The current time in microseconds.
#[cfg_attr(
    not(any(feature = "store-redb", feature = "store-redis")),
    allow(dead_code)
)]
pub(crate) fn now_micros() -> u64 {
    micros(SystemTime::now())
}

/// A duration in whole microseconds, saturating.
#[cfg_attr(
    not(any(
        feature = "store-memory",
        feature = "store-redb",
        feature = "store-redis"
    )),
    allow(dead_code)
)]
pub(crate) fn duration_micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}
