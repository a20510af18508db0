//! The cache contract (Go `store/cache`): values that may vanish, with a TTL
//! on every entry and atomic counters.

use std::time::Duration;

use bytes::Bytes;

use super::{MAX_KEY_LEN, StoreError, StoreFuture, validate_key};

/// The TTL an entry gets when the caller gives none: 10 minutes, as the Go
/// cache's `DefaultConfig()`. A cache entry that never expires is a leak
/// waiting to happen, so "no TTL" means "the default", not "forever".
pub const DEFAULT_CACHE_TTL: Duration = Duration::from_secs(600);

/// Options every cache engine shares.
///
/// ```
/// use std::time::Duration;
/// use plumego_core::store::CacheConfig;
///
/// let config = CacheConfig::default();
/// assert_eq!(config.effective_ttl(None), Some(Duration::from_secs(600)));
/// assert_eq!(config.effective_ttl(Some(Duration::ZERO)), Some(Duration::from_secs(600)));
/// assert_eq!(config.effective_ttl(Some(Duration::from_secs(5))), Some(Duration::from_secs(5)));
/// assert_eq!(CacheConfig::default().default_ttl(None).effective_ttl(None), None);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheConfig {
    /// The longest key in bytes; 0 = unlimited. Default [`MAX_KEY_LEN`] (256).
    pub max_key_len: usize,
    /// The TTL of entries written without one; `None` = they never expire.
    /// Default [`DEFAULT_CACHE_TTL`] (10 minutes).
    pub default_ttl: Option<Duration>,
}

impl Default for CacheConfig {
    fn default() -> Self {
        Self {
            max_key_len: MAX_KEY_LEN,
            default_ttl: Some(DEFAULT_CACHE_TTL),
        }
    }
}

impl CacheConfig {
    /// Changes the longest key.
    #[must_use]
    pub fn max_key_len(mut self, max: usize) -> Self {
        self.max_key_len = max;
        self
    }

    /// Changes the default TTL (`None`: entries without a TTL never expire).
    #[must_use]
    pub fn default_ttl(mut self, ttl: Option<Duration>) -> Self {
        self.default_ttl = ttl.filter(|d| !d.is_zero());
        self
    }

    /// The TTL an entry written with `ttl` gets: `ttl` when non-zero, else the
    /// default (the Go rule `ttl <= 0 → DefaultTTL`).
    pub fn effective_ttl(&self, ttl: Option<Duration>) -> Option<Duration> {
        match ttl {
            Some(d) if !d.is_zero() => Some(d),
            _ => self.default_ttl,
        }
    }

    /// Checks a key against this configuration.
    pub fn check_key(&self, key: &str) -> Result<(), StoreError> {
        validate_key(key, self.max_key_len)
    }
}

/// A cache: every entry has a TTL (see [`CacheConfig::effective_ttl`]);
/// expired entries behave exactly as absent ones. Counters are stored as
/// decimal text, so `get` after `incr` reads `b"42"`.
///
/// Every method validates its key first ([`StoreError::InvalidKey`],
/// [`StoreError::KeyTooLong`]).
///
/// ```
/// # #[cfg(feature = "store-memory")] {
/// use plumego_core::store::{Cache, memory::{MemoryConfig, MemoryStore}};
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let store = MemoryStore::new(MemoryConfig::default()).unwrap();
/// let cache: &dyn Cache = &store;
/// cache.set("greeting", "hello".into(), None).await.unwrap();
/// cache.append("greeting", " world".into()).await.unwrap();
/// assert_eq!(cache.get("greeting").await.unwrap().unwrap(), "hello world");
/// assert_eq!(cache.incr("visits", 2).await.unwrap(), 2);
/// assert_eq!(cache.decr("visits", 5).await.unwrap(), -3);
/// assert!(cache.delete("greeting").await.unwrap());
/// assert_eq!(cache.get("greeting").await.unwrap(), None);
/// # });
/// # }
/// ```
pub trait Cache: Send + Sync {
    /// The value, or `None` when the key is missing or expired.
    fn get<'a>(&'a self, key: &'a str) -> StoreFuture<'a, Option<Bytes>>;

    /// Stores `value` for `ttl` (`None` or zero: the default TTL), replacing
    /// any previous value and expiry.
    fn set<'a>(&'a self, key: &'a str, value: Bytes, ttl: Option<Duration>) -> StoreFuture<'a, ()>;

    /// Removes the key; `true` when a live entry was removed. Deleting a
    /// missing key succeeds (`false`), as in the Go cache.
    fn delete<'a>(&'a self, key: &'a str) -> StoreFuture<'a, bool>;

    /// Whether a live entry exists.
    fn exists<'a>(&'a self, key: &'a str) -> StoreFuture<'a, bool>;

    /// Removes every entry of this cache (of this application's prefix, for
    /// shared engines).
    fn clear(&self) -> StoreFuture<'_, ()>;

    /// Adds `delta` atomically and returns the new value. A missing or expired
    /// key starts at 0 with the default TTL; an existing key keeps its expiry.
    /// A value that is not a decimal `i64`, or an overflow, is
    /// [`StoreError::NotInteger`] and leaves the value unchanged.
    fn incr<'a>(&'a self, key: &'a str, delta: i64) -> StoreFuture<'a, i64>;

    /// Subtracts `delta` atomically (see [`incr`](Cache::incr)).
    fn decr<'a>(&'a self, key: &'a str, delta: i64) -> StoreFuture<'a, i64> {
        match delta.checked_neg() {
            Some(neg) => self.incr(key, neg),
            None => Box::pin(async { Err(StoreError::NotInteger) }),
        }
    }

    /// Appends `suffix` atomically, creating the key (with the default TTL)
    /// when missing or expired and keeping the expiry otherwise; returns the
    /// new length.
    fn append<'a>(&'a self, key: &'a str, suffix: Bytes) -> StoreFuture<'a, u64>;
}

/// Parses a counter stored as decimal text (shared by the engines).
#[cfg_attr(
    not(any(feature = "store-memory", feature = "store-redb")),
    allow(dead_code)
)]
pub(crate) fn parse_counter(value: &[u8]) -> Result<i64, StoreError> {
    // Exactly what Redis' INCRBY accepts: an optional '-' and digits, no
    // blanks or '+', so every engine agrees on which values are counters.
    std::str::from_utf8(value)
        .ok()
        .filter(|s| !s.starts_with('+'))
        .and_then(|s| s.parse::<i64>().ok())
        .ok_or(StoreError::NotInteger)
}
