//! Helpers shared by the integration tests that need a running service.
#![allow(dead_code)]

use std::time::{SystemTime, UNIX_EPOCH};

use plumego_core::store::redis::{RedisConfig, RedisStore};

/// Redis from `PLUMEGO_REDIS_URL` (default `redis://127.0.0.1:6379`).
pub fn redis_url() -> String {
    std::env::var("PLUMEGO_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

/// A key prefix no other test run shares.
pub fn unique_prefix(tag: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("plumego-test-{tag}-{}-{nanos}", std::process::id())
}

/// A new connection to Redis under `prefix`; an unreachable Redis fails the
/// test (never a skip).
pub async fn redis(prefix: &str) -> RedisStore {
    let config = RedisConfig::new(redis_url(), prefix).unwrap();
    match RedisStore::connect(config).await {
        Ok(store) => store,
        Err(err) => panic!(
            "Redis is unreachable at {} ({err}); start it or set PLUMEGO_REDIS_URL (CI={})",
            redis_url(),
            std::env::var("CI").unwrap_or_default()
        ),
    }
}
