//! Storage contracts (cache, key-value, idempotency records, rate-limit state)
//! and the engines behind them, each engine a cargo feature.
//!
//! The contracts keep the Go toolkit's semantics (`store/cache`, `store/kv`,
//! `store/idempotency`) so services and layers are written once against
//! `&dyn Cache`, `&dyn Kv`, `&dyn IdempotencyStore` or `&dyn RateLimitStore`
//! and run on whichever engine a deployment picks:
//!
//! | feature | type | cache | kv | idempotency | rate limit | use it for |
//! |---|---|---|---|---|---|---|
//! | `store-memory` | [`MemoryStore`](memory::MemoryStore) | ✓ | ✓ | ✓ | ✓ | tests, one process, bounded |
//! | `store-redb` | [`RedbStore`](redb::RedbStore) | ✓ | ✓ | ✓ | ✓ | one instance, durable |
//! | `store-redis` | [`RedisStore`](redis::RedisStore) | ✓ | ✓ | ✓ | ✓ | many instances, shared |
//! | `store-postgres` | [`PostgresStore`](postgres::PostgresStore) | | ✓ | ✓ | | many instances, durable |
//!
//! The traits are object safe (each method returns a boxed [`StoreFuture`]) so
//! a store can be chosen at run time and shared as `Arc<dyn Trait>`.
//!
//! ```
//! use plumego_core::store::{Cache, StoreError, validate_key, MAX_KEY_LEN};
//!
//! // Keys are checked the same way by every engine.
//! assert!(validate_key("user:42", MAX_KEY_LEN).is_ok());
//! assert!(matches!(validate_key("", MAX_KEY_LEN), Err(StoreError::InvalidKey(_))));
//! assert!(matches!(validate_key("a\nb", MAX_KEY_LEN), Err(StoreError::InvalidKey(_))));
//!
//! // Code written against the contract runs on any engine.
//! async fn hits(cache: &dyn Cache) -> Result<i64, StoreError> {
//!     cache.incr("hits", 1).await
//! }
//! ```

mod cache;
mod error;
mod idempotency;
mod kv;
mod rate_limit;
mod time;

#[cfg(feature = "store-memory")]
pub mod memory;
#[cfg(feature = "store-postgres")]
pub mod postgres;
#[cfg(feature = "store-redb")]
pub mod redb;
#[cfg(feature = "store-redis")]
pub mod redis;

use std::future::Future;
use std::pin::Pin;

pub use cache::{Cache, CacheConfig, DEFAULT_CACHE_TTL};
pub use error::StoreError;
pub use idempotency::{
    IdempotencyRecord, IdempotencyStatus, IdempotencyStore, validate_completion_at,
    validate_idempotency_key,
};
pub use kv::{DEFAULT_EXPIRED_RETENTION, Kv};
pub use rate_limit::{Decision, Gcra, RateLimitStore};
pub use time::micros as unix_micros;

/// The future every store method returns: boxed so the traits stay object
/// safe, `Send` so it can be awaited on any tokio worker.
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'a>>;

/// Runs `purge` every `every` (first after one period) for as long as
/// `inner` has another owner. The task holds only a weak reference, so it
/// never keeps a store (and its database) open after the last handle is
/// dropped; a failed purge is logged as `message` and retried next period.
#[cfg(any(feature = "store-redb", feature = "store-postgres"))]
pub(crate) fn spawn_sweeper<I, F, Fut>(
    inner: &std::sync::Arc<I>,
    every: std::time::Duration,
    message: &'static str,
    purge: F,
) where
    I: Send + Sync + 'static,
    F: Fn(std::sync::Arc<I>) -> Fut + Send + 'static,
    Fut: Future<Output = Result<u64, StoreError>> + Send,
{
    let weak = std::sync::Arc::downgrade(inner);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.tick().await;
        loop {
            tick.tick().await;
            let Some(inner) = weak.upgrade() else { break };
            if let Err(err) = purge(inner).await {
                tracing::warn!(error = %err, "{message}");
            }
        }
    });
}

/// The default longest key, in bytes (the Go cache's `MaxKeyLength`).
pub const MAX_KEY_LEN: usize = 256;

/// Checks a key the way every engine does: non-empty, at most `max_len` bytes
/// (0 = unlimited) and free of control characters, which would corrupt logs
/// and line-oriented protocols.
///
/// ```
/// use plumego_core::store::{validate_key, StoreError};
/// assert!(matches!(validate_key(&"k".repeat(300), 256), Err(StoreError::KeyTooLong { len: 300, max: 256 })));
/// assert!(validate_key(&"k".repeat(300), 0).is_ok());
/// ```
pub fn validate_key(key: &str, max_len: usize) -> Result<(), StoreError> {
    if key.is_empty() {
        return Err(StoreError::InvalidKey("key is empty"));
    }
    if max_len > 0 && key.len() > max_len {
        return Err(StoreError::KeyTooLong {
            len: key.len(),
            max: max_len,
        });
    }
    if key.chars().any(char::is_control) {
        return Err(StoreError::InvalidKey("key contains a control character"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_validated() {
        assert!(validate_key("a", 1).is_ok());
        assert!(matches!(
            validate_key("ab", 1),
            Err(StoreError::KeyTooLong { len: 2, max: 1 })
        ));
        assert!(matches!(
            validate_key("", 0),
            Err(StoreError::InvalidKey(_))
        ));
        assert!(matches!(
            validate_key("a\u{7f}", 0),
            Err(StoreError::InvalidKey(_))
        ));
        assert!(matches!(
            validate_key("a\u{85}", 0),
            Err(StoreError::InvalidKey(_))
        ));
        assert!(validate_key("ünïcode:ok", 0).is_ok());
    }
}
