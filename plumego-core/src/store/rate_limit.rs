//! Rate-limit state: one atomic round trip per decision, by the generic cell
//! rate algorithm (GCRA).
//!
//! GCRA keeps a single number per key, the theoretical arrival time (TAT) of
//! the next request at the sustained rate. That is one read-modify-write per
//! decision (a Lua script on Redis, one transaction elsewhere), and no
//! background refill: the bucket refills by the passage of time alone, and a
//! clock that jumps backwards cannot refill it early.

use std::time::{Duration, SystemTime};

use super::{StoreError, StoreFuture};

/// The outcome of one [`RateLimitStore::take`], ready for `RateLimit-*` and
/// `Retry-After` headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    /// Whether the request may proceed.
    pub allowed: bool,
    /// Requests still allowed right now, after this one.
    pub remaining: u32,
    /// How long until the bucket is full again (no request counted).
    pub reset_after: Duration,
    /// When denied, how long until one request will be allowed.
    pub retry_after: Option<Duration>,
}

/// The GCRA parameters for a rate and a burst, in whole microseconds, and
/// the decision arithmetic every engine shares (the Redis script does the
/// same integer steps).
///
/// ```
/// use plumego_core::store::Gcra;
///
/// let gcra = Gcra::new(10.0, 3).unwrap(); // 10/s sustained, bursts of 3
/// let now = 1_000_000;
/// let (first, tat) = gcra.decide(None, now);
/// assert!(first.allowed);
/// assert_eq!(first.remaining, 2);
/// let (second, tat) = gcra.decide(tat, now);
/// let (third, tat) = gcra.decide(tat, now);
/// assert!(second.allowed && third.allowed && third.remaining == 0);
/// let (fourth, unchanged) = gcra.decide(tat, now);
/// assert!(!fourth.allowed);
/// assert_eq!(fourth.retry_after, Some(std::time::Duration::from_millis(100)));
/// assert_eq!(unchanged, None); // a denial writes nothing
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gcra {
    interval: u64,
    tolerance: u64,
}

impl Gcra {
    /// `rate_per_second` requests per second sustained (fractional rates
    /// allowed: `0.5` is one every two seconds), up to `burst` at once.
    /// Rejects a rate that is not positive and finite, and a zero burst.
    pub fn new(rate_per_second: f64, burst: u32) -> Result<Self, StoreError> {
        if !(rate_per_second.is_finite() && rate_per_second > 0.0) {
            return Err(StoreError::InvalidArgument(
                "rate must be a positive, finite number of requests per second".into(),
            ));
        }
        if burst == 0 {
            return Err(StoreError::InvalidArgument(
                "burst must be at least 1".into(),
            ));
        }
        let interval = (1_000_000.0 / rate_per_second).round();
        // Keep `now + tolerance + interval` (now is about 2^51 µs) within
        // f64's exact integers (2^53), so the Lua script computes the same.
        const MAX_EXACT: f64 = 2_251_799_813_685_248.0; // 2^51 µs, 71 years
        if interval > MAX_EXACT {
            return Err(StoreError::InvalidArgument("rate is too small".into()));
        }
        // `as` is exact here: 1 <= interval <= MAX_EXACT.
        let interval = (interval as u64).max(1);
        let tolerance = interval
            .checked_mul(u64::from(burst))
            .filter(|t| *t as f64 <= MAX_EXACT)
            .ok_or(StoreError::InvalidArgument(
                "burst is too large for this rate".into(),
            ))?;
        Ok(Self {
            interval,
            tolerance,
        })
    }

    /// The emission interval (1 / rate) in microseconds.
    pub fn interval_micros(&self) -> u64 {
        self.interval
    }

    /// The burst tolerance (burst × interval) in microseconds.
    pub fn tolerance_micros(&self) -> u64 {
        self.tolerance
    }

    /// Decides one request at `now` (µs since the epoch) given the stored TAT
    /// (`None`: no state). Returns the decision and, when allowed, the TAT to
    /// store; the state can be dropped once `now` passes it.
    pub fn decide(&self, stored_tat: Option<u64>, now: u64) -> (Decision, Option<u64>) {
        let tat = stored_tat.map_or(now, |t| t.max(now));
        let new_tat = tat.saturating_add(self.interval);
        let allow_at = new_tat.saturating_sub(self.tolerance);
        if now < allow_at {
            let decision = Decision {
                allowed: false,
                remaining: 0,
                reset_after: Duration::from_micros(tat - now),
                retry_after: Some(Duration::from_micros(allow_at - now)),
            };
            return (decision, None);
        }
        let remaining = (now + self.tolerance - new_tat) / self.interval;
        let decision = Decision {
            allowed: true,
            remaining: u32::try_from(remaining).unwrap_or(u32::MAX),
            reset_after: Duration::from_micros(new_tat - now),
            retry_after: None,
        };
        (decision, Some(new_tat))
    }
}

/// Stores rate-limit state for a rate-limit layer: each call is one atomic
/// decision, so instances sharing an engine share the limit exactly.
///
/// ```
/// # #[cfg(feature = "store-memory")] {
/// use std::time::SystemTime;
/// use plumego_core::store::{RateLimitStore, memory::{MemoryConfig, MemoryStore}};
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let store = MemoryStore::new(MemoryConfig::default()).unwrap();
/// let now = SystemTime::now();
/// assert!(store.take("ip:10.0.0.1", 1.0, 1, now).await.unwrap().allowed);
/// let denied = store.take("ip:10.0.0.1", 1.0, 1, now).await.unwrap();
/// assert!(!denied.allowed);
/// assert_eq!(denied.retry_after, Some(std::time::Duration::from_secs(1)));
/// # });
/// # }
/// ```
pub trait RateLimitStore: Send + Sync {
    /// Counts one request for `key` at `now` against `rate_per_second`
    /// sustained with bursts of `burst` (see [`Gcra::new`]). An invalid key
    /// is refused ([`StoreError::InvalidKey`]): a limiter fails closed.
    fn take<'a>(
        &'a self,
        key: &'a str,
        rate_per_second: f64,
        burst: u32,
        now: SystemTime,
    ) -> StoreFuture<'a, Decision>;
}
