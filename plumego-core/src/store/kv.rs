//! The key-value contract (Go `store/kv`): values that stay until deleted or
//! expired, listable by prefix, with compare-and-swap.

use std::time::Duration;

use bytes::Bytes;

use super::StoreFuture;

/// How long an expired KV entry still reads as [`StoreError::Expired`]
/// before the engine reclaims it and it reads as [`StoreError::NotFound`]:
/// one hour. The Go store kept expired entries until the next write; shared
/// engines (Redis, PostgreSQL) must reclaim space on their own, so the window
/// is bounded.
///
/// [`StoreError::Expired`]: super::StoreError::Expired
/// [`StoreError::NotFound`]: super::StoreError::NotFound
pub const DEFAULT_EXPIRED_RETENTION: Duration = Duration::from_secs(3600);

/// A key-value store. Unlike [`Cache`](super::Cache), entries without a TTL
/// never expire, and a read tells an expired key
/// ([`StoreError::Expired`](super::StoreError::Expired)) from a missing one
/// ([`StoreError::NotFound`](super::StoreError::NotFound)) — for at least
/// [`DEFAULT_EXPIRED_RETENTION`] after the expiry, unless the engine's
/// configuration shortens it.
///
/// Keys are validated like the cache's ([`validate_key`](super::validate_key)).
/// Listing is in byte order of the keys, so it is the same on every engine.
///
/// ```
/// # #[cfg(feature = "store-memory")] {
/// use plumego_core::store::{Kv, StoreError, memory::{MemoryConfig, MemoryStore}};
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let store = MemoryStore::new(MemoryConfig::default()).unwrap();
/// let kv: &dyn Kv = &store;
/// kv.set("user:1", "ann".into(), None).await.unwrap();
/// kv.set("user:2", "bob".into(), None).await.unwrap();
/// assert_eq!(kv.get("user:1").await.unwrap(), "ann");
/// assert!(matches!(kv.get("user:3").await, Err(StoreError::NotFound)));
/// assert_eq!(kv.keys("user:", Some("user:1"), 10).await.unwrap(), vec!["user:2".to_string()]);
/// assert!(kv.compare_and_swap("user:1", Some(b"ann"), "anne".into(), None).await.unwrap());
/// assert!(!kv.compare_and_swap("user:1", Some(b"ann"), "x".into(), None).await.unwrap());
/// # });
/// # }
/// ```
pub trait Kv: Send + Sync {
    /// The value; [`NotFound`](super::StoreError::NotFound) when missing,
    /// [`Expired`](super::StoreError::Expired) when past its expiry. Reading
    /// never removes anything.
    fn get<'a>(&'a self, key: &'a str) -> StoreFuture<'a, Bytes>;

    /// Stores `value`; it expires after `ttl` when that is non-zero, else never.
    fn set<'a>(&'a self, key: &'a str, value: Bytes, ttl: Option<Duration>) -> StoreFuture<'a, ()>;

    /// Removes the key. [`NotFound`](super::StoreError::NotFound) when there
    /// was no live entry (an expired one is removed all the same).
    fn delete<'a>(&'a self, key: &'a str) -> StoreFuture<'a, ()>;

    /// Whether a live (present and unexpired) entry exists.
    fn exists<'a>(&'a self, key: &'a str) -> StoreFuture<'a, bool>;

    /// Up to `limit` live keys starting with `prefix` and greater than
    /// `after`, in byte order; `limit` 0 means no limit. To page, pass the
    /// last key of a page as the next `after`; a page shorter than `limit` is
    /// the last one.
    fn keys<'a>(
        &'a self,
        prefix: &'a str,
        after: Option<&'a str>,
        limit: usize,
    ) -> StoreFuture<'a, Vec<String>>;

    /// Atomically replaces the value with `new` (expiring after `ttl` as in
    /// [`set`](Kv::set)) if the live value equals `expected`, where `None`
    /// expects no live entry (missing or expired). `true` when swapped.
    fn compare_and_swap<'a>(
        &'a self,
        key: &'a str,
        expected: Option<&'a [u8]>,
        new: Bytes,
        ttl: Option<Duration>,
    ) -> StoreFuture<'a, bool>;
}

/// The absolute expiry (µs since the epoch) of a KV write with `ttl` made at
/// `now` (µs); `None` = never.
#[cfg_attr(
    not(any(
        feature = "store-memory",
        feature = "store-redb",
        feature = "store-redis"
    )),
    allow(dead_code)
)]
pub(crate) fn kv_expiry(now: u64, ttl: Option<Duration>) -> Option<u64> {
    match ttl {
        Some(d) if !d.is_zero() => Some(now.saturating_add(super::time::duration_micros(d).max(1))),
        _ => None,
    }
}

/// Whether an entry with expiry `exp` (µs, 0 = never) is live at `now`.
#[cfg_attr(
    not(any(feature = "store-redb", feature = "store-redis")),
    allow(dead_code)
)]
pub(crate) fn is_live(exp: u64, now: u64) -> bool {
    exp == 0 || exp > now
}

/// What a KV read finds in an entry expiring at `exp` (µs, 0 = never) at
/// `now`: `Ok` while live, [`Expired`](StoreError::Expired) for `retention`
/// µs after the expiry, [`NotFound`](StoreError::NotFound) after that (the
/// contract's rule, shared by the engines that store raw microseconds).
#[cfg_attr(
    not(any(feature = "store-redb", feature = "store-redis")),
    allow(dead_code)
)]
pub(crate) fn kv_read(exp: u64, now: u64, retention: u64) -> Result<(), super::StoreError> {
    if is_live(exp, now) {
        Ok(())
    } else {
        Err(expired_error(now - exp, retention))
    }
}

/// What reading an entry that expired `since` ago gets, in any unit:
/// [`Expired`](super::StoreError::Expired) within `retention`,
/// [`NotFound`](super::StoreError::NotFound) after it. The one place the
/// contract's rule lives, for every engine.
#[cfg_attr(
    not(any(
        feature = "store-memory",
        feature = "store-postgres",
        feature = "store-redb",
        feature = "store-redis"
    )),
    allow(dead_code)
)]
pub(crate) fn expired_error<T: PartialOrd>(since: T, retention: T) -> super::StoreError {
    if since >= retention {
        super::StoreError::NotFound
    } else {
        super::StoreError::Expired
    }
}
