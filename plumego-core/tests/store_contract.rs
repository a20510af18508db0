//! One contract suite per store trait, run against every engine: memory,
//! redb, Redis and PostgreSQL.
//!
//! Redis and PostgreSQL come from `PLUMEGO_REDIS_URL` and
//! `PLUMEGO_POSTGRES_URL` (defaults `redis://127.0.0.1:6379` and
//! `postgres://postgres@127.0.0.1:5432/test`). An unreachable service fails
//! the test with a message saying so: a suite that passes without having run
//! would hide exactly the bugs it exists to find. Every test uses its own key
//! prefix (Redis) or namespace (PostgreSQL), so parallel tests and parallel
//! runs never collide, and removes its keys at the end.

#![cfg(any(
    feature = "store-memory",
    feature = "store-redb",
    feature = "store-redis",
    feature = "store-postgres"
))]
#![allow(dead_code)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use futures_util::future::join_all;
use plumego_core::store::{
    Cache, CacheConfig, Gcra, IdempotencyRecord, IdempotencyStatus, IdempotencyStore, Kv,
    RateLimitStore, StoreError,
};

/// The default TTL every cache under test is built with, so the contract can
/// observe it without waiting ten minutes.
const DEFAULT_TTL: Duration = Duration::from_millis(800);

/// Comfortably longer than any short TTL used below, so a loaded machine
/// does not make an expiry check flaky.
const PAST_SHORT_TTL: Duration = Duration::from_millis(700);
const SHORT_TTL: Duration = Duration::from_millis(150);

fn cache_config() -> CacheConfig {
    CacheConfig::default().default_ttl(Some(DEFAULT_TTL))
}

/// A name no other test or run uses.
fn unique(tag: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!(
        "plumego-test-{tag}-{}-{nanos}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

macro_rules! assert_err {
    ($result:expr, $pattern:pat) => {
        match $result {
            Err($pattern) => {}
            other => panic!(
                "{} gave {:?}, expected Err({})",
                stringify!($result),
                other,
                stringify!($pattern)
            ),
        }
    };
}

// ---------------------------------------------------------------- contracts

/// The cache contract. `default_ttl` is the TTL the cache gives entries
/// written without one.
async fn cache_contract(c: &dyn Cache, default_ttl: Duration) {
    // Missing keys.
    assert_eq!(c.get("missing").await.unwrap(), None);
    assert!(!c.exists("missing").await.unwrap());
    assert!(
        !c.delete("missing").await.unwrap(),
        "deleting a missing key succeeds with false"
    );

    // Key validation, on every kind of call.
    let long = "k".repeat(257);
    assert_err!(c.get("").await, StoreError::InvalidKey(_));
    assert_err!(c.set("", "v".into(), None).await, StoreError::InvalidKey(_));
    assert_err!(
        c.get(&long).await,
        StoreError::KeyTooLong { len: 257, max: 256 }
    );
    assert_err!(
        c.set("a\nb", "v".into(), None).await,
        StoreError::InvalidKey(_)
    );
    assert_err!(c.incr("a\u{0}b", 1).await, StoreError::InvalidKey(_));
    assert_err!(c.append("\t", "x".into()).await, StoreError::InvalidKey(_));
    assert!(c.set(&"k".repeat(256), "v".into(), None).await.is_ok());

    // Round trip, binary safe, overwrite.
    let binary = Bytes::from_static(b"\x00\xff\x01bin\r\n");
    c.set("bin", binary.clone(), Some(Duration::from_secs(60)))
        .await
        .unwrap();
    assert_eq!(c.get("bin").await.unwrap(), Some(binary));
    assert!(c.exists("bin").await.unwrap());
    c.set("bin", "second".into(), Some(Duration::from_secs(60)))
        .await
        .unwrap();
    assert_eq!(c.get("bin").await.unwrap().unwrap(), "second");

    // An explicit TTL expires; expired entries behave as absent.
    c.set("short", "v".into(), Some(SHORT_TTL)).await.unwrap();
    // No TTL and a zero TTL both mean the default TTL.
    c.set("default", "v".into(), None).await.unwrap();
    c.set("zero", "v".into(), Some(Duration::ZERO))
        .await
        .unwrap();
    assert!(c.exists("default").await.unwrap() && c.exists("zero").await.unwrap());
    tokio::time::sleep(PAST_SHORT_TTL).await;
    assert_eq!(c.get("short").await.unwrap(), None);
    assert!(!c.exists("short").await.unwrap());
    assert!(
        !c.delete("short").await.unwrap(),
        "an expired entry is not live"
    );
    tokio::time::sleep(default_ttl.saturating_sub(PAST_SHORT_TTL) + Duration::from_millis(400))
        .await;
    assert_eq!(
        c.get("default").await.unwrap(),
        None,
        "no TTL means the default TTL"
    );
    assert_eq!(
        c.get("zero").await.unwrap(),
        None,
        "a zero TTL means the default TTL"
    );

    // Delete.
    c.set("del", "v".into(), None).await.unwrap();
    assert!(c.delete("del").await.unwrap());
    assert_eq!(c.get("del").await.unwrap(), None);

    // Counters: start at 0, stored as decimal text.
    assert_eq!(c.incr("n", 5).await.unwrap(), 5);
    assert_eq!(c.incr("n", 3).await.unwrap(), 8);
    assert_eq!(c.decr("n", 10).await.unwrap(), -2);
    assert_eq!(c.get("n").await.unwrap().unwrap(), "-2");
    assert_eq!(c.decr("fresh", 4).await.unwrap(), -4);
    c.set("n", "41".into(), None).await.unwrap();
    assert_eq!(c.incr("n", 1).await.unwrap(), 42);
    // Not an integer, and overflow: refused, value unchanged.
    c.set("text", "abc".into(), None).await.unwrap();
    assert_err!(c.incr("text", 1).await, StoreError::NotInteger);
    assert_eq!(c.get("text").await.unwrap().unwrap(), "abc");
    c.set("max", i64::MAX.to_string().into(), None)
        .await
        .unwrap();
    assert_err!(c.incr("max", 1).await, StoreError::NotInteger);
    assert_eq!(c.get("max").await.unwrap().unwrap(), i64::MAX.to_string());
    assert_err!(c.decr("max", i64::MIN).await, StoreError::NotInteger);
    c.set("min", i64::MIN.to_string().into(), None)
        .await
        .unwrap();
    assert_err!(c.decr("min", 1).await, StoreError::NotInteger);

    // Counters and appends keep the expiry; an expired key starts over.
    c.set("ttl-n", "1".into(), Some(SHORT_TTL)).await.unwrap();
    c.append("ttl-a", "x".into()).await.unwrap();
    c.set("ttl-a", "a".into(), Some(SHORT_TTL)).await.unwrap();
    assert_eq!(c.incr("ttl-n", 1).await.unwrap(), 2);
    assert_eq!(c.append("ttl-a", "b".into()).await.unwrap(), 2);
    tokio::time::sleep(PAST_SHORT_TTL).await;
    assert_eq!(
        c.get("ttl-n").await.unwrap(),
        None,
        "incr kept the short expiry"
    );
    assert_eq!(
        c.get("ttl-a").await.unwrap(),
        None,
        "append kept the short expiry"
    );
    assert_eq!(
        c.incr("ttl-n", 7).await.unwrap(),
        7,
        "an expired counter starts at 0"
    );

    // Append creates, appends, is binary safe.
    assert_eq!(c.append("log", "a".into()).await.unwrap(), 1);
    assert_eq!(
        c.append("log", Bytes::from_static(b"\x00\xff"))
            .await
            .unwrap(),
        3
    );
    assert_eq!(c.get("log").await.unwrap().unwrap(), &b"a\x00\xff"[..]);

    // Concurrent increments are atomic.
    let bumps = (0..50).map(|_| c.incr("race", 2));
    let results = join_all(bumps).await;
    assert!(results.iter().all(Result::is_ok));
    assert_eq!(c.get("race").await.unwrap().unwrap(), "100");

    // Clear removes everything.
    c.set("c1", "v".into(), None).await.unwrap();
    c.set("c2", "v".into(), None).await.unwrap();
    c.clear().await.unwrap();
    assert_eq!(c.get("c1").await.unwrap(), None);
    assert_eq!(c.get("c2").await.unwrap(), None);
    assert_eq!(c.get("log").await.unwrap(), None);
}

/// The KV contract.
async fn kv_contract(kv: &dyn Kv) {
    // Missing.
    assert_err!(kv.get("missing").await, StoreError::NotFound);
    assert!(!kv.exists("missing").await.unwrap());
    assert_err!(kv.delete("missing").await, StoreError::NotFound);

    // Validation.
    assert_err!(kv.get("").await, StoreError::InvalidKey(_));
    assert_err!(
        kv.set("a\u{7}", "v".into(), None).await,
        StoreError::InvalidKey(_)
    );
    assert_err!(
        kv.set(&"k".repeat(257), "v".into(), None).await,
        StoreError::KeyTooLong { .. }
    );

    // Round trip; no TTL means no expiry; binary values.
    let binary = Bytes::from_static(b"\x00\xffv\n");
    kv.set("forever", binary.clone(), None).await.unwrap();
    kv.set("zero-ttl", "z".into(), Some(Duration::ZERO))
        .await
        .unwrap();
    assert_eq!(kv.get("forever").await.unwrap(), binary);
    assert!(kv.exists("forever").await.unwrap());

    // Expired is told apart from missing, and reading does not remove it.
    kv.set("short", "v".into(), Some(SHORT_TTL)).await.unwrap();
    kv.set("renewed", "v".into(), Some(SHORT_TTL))
        .await
        .unwrap();
    kv.set("renewed", "w".into(), None).await.unwrap();
    tokio::time::sleep(PAST_SHORT_TTL).await;
    assert_err!(kv.get("short").await, StoreError::Expired);
    assert_err!(kv.get("short").await, StoreError::Expired);
    assert!(!kv.exists("short").await.unwrap());
    assert_eq!(
        kv.get("renewed").await.unwrap(),
        "w",
        "a set without TTL clears the old expiry"
    );
    assert_eq!(kv.get("forever").await.unwrap(), binary);
    assert_eq!(
        kv.get("zero-ttl").await.unwrap(),
        "z",
        "a zero TTL never expires"
    );
    // Deleting an expired key removes it but reports there was nothing live.
    assert_err!(kv.delete("short").await, StoreError::NotFound);
    assert_err!(kv.get("short").await, StoreError::NotFound);

    // Delete.
    kv.delete("renewed").await.unwrap();
    assert_err!(kv.get("renewed").await, StoreError::NotFound);

    // Listing: prefix, byte order, pagination, expired entries skipped.
    for key in [
        "p:d", "p:b", "p:a", "p:c", "p:b/x", "p:é", "q:a", "p", "o:z",
    ] {
        kv.set(key, key.to_owned().into(), None).await.unwrap();
    }
    kv.set("p:expired", "v".into(), Some(SHORT_TTL))
        .await
        .unwrap();
    tokio::time::sleep(PAST_SHORT_TTL).await;
    let all = kv.keys("p:", None, 0).await.unwrap();
    assert_eq!(all, ["p:a", "p:b", "p:b/x", "p:c", "p:d", "p:é"]);
    assert_eq!(kv.keys("p:", None, 2).await.unwrap(), ["p:a", "p:b"]);
    assert_eq!(
        kv.keys("p:", Some("p:b"), 2).await.unwrap(),
        ["p:b/x", "p:c"]
    );
    assert_eq!(kv.keys("p:", Some("p:d"), 2).await.unwrap(), ["p:é"]);
    assert!(kv.keys("p:", Some("p:é"), 2).await.unwrap().is_empty());
    assert_eq!(
        kv.keys("p:", Some("a"), 0).await.unwrap(),
        all,
        "`after` before the prefix"
    );
    assert!(kv.keys("p:", Some("z"), 0).await.unwrap().is_empty());
    assert!(kv.keys("nothing:", None, 0).await.unwrap().is_empty());
    // Paging through everything with a small page size sees each key once.
    let mut paged = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = kv.keys("p:", after.as_deref(), 4).await.unwrap();
        paged.extend(page.iter().cloned());
        if page.len() < 4 {
            break;
        }
        after = page.last().cloned();
    }
    assert_eq!(paged, all);
    // An empty prefix lists every key; pattern characters are literal.
    assert_eq!(kv.keys("", None, 3).await.unwrap(), ["forever", "o:z", "p"]);
    kv.set("x%_1", "v".into(), None).await.unwrap();
    kv.set("xab1", "v".into(), None).await.unwrap();
    kv.set("x*?[1", "v".into(), None).await.unwrap();
    assert_eq!(kv.keys("x%_", None, 0).await.unwrap(), ["x%_1"]);
    assert_eq!(kv.keys("x*?[", None, 0).await.unwrap(), ["x*?[1"]);

    // Compare-and-swap.
    assert!(
        kv.compare_and_swap("cas", None, "1".into(), None)
            .await
            .unwrap()
    );
    assert!(
        !kv.compare_and_swap("cas", None, "2".into(), None)
            .await
            .unwrap()
    );
    assert!(
        !kv.compare_and_swap("cas", Some(b"9"), "2".into(), None)
            .await
            .unwrap()
    );
    assert_eq!(kv.get("cas").await.unwrap(), "1");
    assert!(
        kv.compare_and_swap("cas", Some(b"1"), "2".into(), Some(SHORT_TTL))
            .await
            .unwrap()
    );
    assert_eq!(kv.get("cas").await.unwrap(), "2");
    tokio::time::sleep(PAST_SHORT_TTL).await;
    assert!(
        !kv.compare_and_swap("cas", Some(b"2"), "3".into(), None)
            .await
            .unwrap(),
        "an expired value does not match"
    );
    assert!(
        kv.compare_and_swap("cas", None, "4".into(), None)
            .await
            .unwrap(),
        "an expired entry counts as absent"
    );
    assert_eq!(kv.get("cas").await.unwrap(), "4");
    assert_eq!(kv.keys("cas", None, 0).await.unwrap(), ["cas"]);
    // Exactly one of many concurrent swaps from the same value wins.
    let swaps =
        (0..20).map(|i| kv.compare_and_swap("cas", Some(b"4"), Bytes::from(format!("w{i}")), None));
    let won = join_all(swaps)
        .await
        .into_iter()
        .filter(|r| matches!(r, Ok(true)))
        .count();
    assert_eq!(won, 1);
}

/// The idempotency contract.
async fn idempotency_contract(s: &dyn IdempotencyStore) {
    let now = SystemTime::now();
    let minute = Duration::from_secs(60);
    assert_eq!(s.get("missing").await.unwrap(), None);
    assert_err!(s.delete("missing").await, StoreError::NotFound);
    assert_err!(
        s.complete("missing", "h", "r".into()).await,
        StoreError::NotFound
    );

    // Validation.
    let mut bad = IdempotencyRecord::in_progress("k", " ", now, minute);
    assert_err!(s.put_if_absent(&bad).await, StoreError::InvalidRecord(_));
    bad.request_hash = "h".into();
    bad.key = "  ".into();
    assert_err!(s.put_if_absent(&bad).await, StoreError::InvalidKey(_));
    bad.key = "k\u{1b}".into();
    assert_err!(s.put_if_absent(&bad).await, StoreError::InvalidKey(_));
    bad.key = "k".into();
    bad.expires_at = bad.created_at - Duration::from_secs(1);
    assert_err!(s.put_if_absent(&bad).await, StoreError::InvalidRecord(_));
    let stale = IdempotencyRecord::in_progress("k", "h", now - minute, Duration::from_secs(1));
    assert_err!(s.put_if_absent(&stale).await, StoreError::Expired);
    assert_eq!(
        s.get("k").await.unwrap(),
        None,
        "refused candidates leave nothing"
    );
    assert_err!(s.get("").await, StoreError::InvalidKey(_));
    assert_err!(
        s.complete("k", "", "r".into()).await,
        StoreError::InvalidRecord(_)
    );

    // Claim once.
    let rec = IdempotencyRecord::in_progress("order-1", "hash-a", now, minute);
    assert!(s.put_if_absent(&rec).await.unwrap());
    assert!(!s.put_if_absent(&rec).await.unwrap());
    let other = IdempotencyRecord::in_progress("order-1", "hash-b", now, minute);
    assert!(
        !s.put_if_absent(&other).await.unwrap(),
        "a live record is never replaced"
    );
    assert_eq!(
        s.get("order-1").await.unwrap(),
        Some(rec.clone()),
        "read back exactly"
    );

    // Complete: hash checked, once only, expiry kept.
    assert_err!(
        s.complete("order-1", "hash-b", "x".into()).await,
        StoreError::RequestMismatch
    );
    let response = Bytes::from_static(b"\x00201 created\xff");
    s.complete("order-1", "hash-a", response.clone())
        .await
        .unwrap();
    let done = s.get("order-1").await.unwrap().unwrap();
    assert_eq!(done.status, IdempotencyStatus::Completed);
    assert_eq!(done.response, Some(response));
    assert_eq!(done.request_hash, "hash-a");
    assert_eq!(done.created_at, rec.created_at);
    assert_eq!(done.expires_at, rec.expires_at);
    assert!(done.updated_at >= rec.updated_at);
    assert_err!(
        s.complete("order-1", "hash-a", "again".into()).await,
        StoreError::AlreadyCompleted
    );
    assert_err!(
        s.complete("order-1", "hash-b", "again".into()).await,
        StoreError::RequestMismatch
    );

    // A completed record can be stored as such too.
    let mut finished = IdempotencyRecord::in_progress("order-2", "h2", now, minute);
    finished.status = IdempotencyStatus::Completed;
    finished.response = Some("ok".into());
    assert!(s.put_if_absent(&finished).await.unwrap());
    assert_eq!(s.get("order-2").await.unwrap(), Some(finished));

    // Expiry: gone for reads and completion, and the key can be claimed anew.
    let short = IdempotencyRecord::in_progress("short", "h", SystemTime::now(), SHORT_TTL);
    assert!(s.put_if_absent(&short).await.unwrap());
    tokio::time::sleep(PAST_SHORT_TTL).await;
    assert_eq!(s.get("short").await.unwrap(), None);
    assert_err!(
        s.complete("short", "h", "r".into()).await,
        StoreError::NotFound
    );
    let again = IdempotencyRecord::in_progress("short", "h2", SystemTime::now(), minute);
    assert!(
        s.put_if_absent(&again).await.unwrap(),
        "an expired record is replaced"
    );
    assert_eq!(s.get("short").await.unwrap().unwrap().request_hash, "h2");

    // Delete.
    s.delete("order-1").await.unwrap();
    assert_eq!(s.get("order-1").await.unwrap(), None);
    assert_err!(s.delete("order-1").await, StoreError::NotFound);

    // Exactly one of many concurrent claims wins.
    let claims: Vec<_> = (0..16)
        .map(|i| IdempotencyRecord::in_progress("race", format!("h{i}"), SystemTime::now(), minute))
        .collect();
    let results = join_all(claims.iter().map(|r| s.put_if_absent(r))).await;
    let winners = results.iter().filter(|r| matches!(r, Ok(true))).count();
    assert_eq!(winners, 1, "{results:?}");
}

/// The rate-limit contract: every decision equals the reference GCRA.
async fn rate_limit_contract(r: &dyn RateLimitStore) {
    let start = SystemTime::now();
    let gcra = Gcra::new(10.0, 3).unwrap();
    let mut tat = None;
    let mut expect = |at: SystemTime| {
        let now = at.duration_since(UNIX_EPOCH).unwrap().as_micros() as u64;
        let (d, new_tat) = gcra.decide(tat, now);
        if new_tat.is_some() {
            tat = new_tat;
        }
        d
    };
    let ms = Duration::from_millis;
    // A burst of 3, then denial, then one more each 100 ms.
    let steps = [
        ms(0),
        ms(0),
        ms(0),
        ms(0),
        ms(50),
        ms(100),
        ms(100),
        ms(350),
        ms(350),
        ms(350),
    ];
    for (i, offset) in steps.iter().enumerate() {
        let at = start + *offset;
        let got = r.take("user:1", 10.0, 3, at).await.unwrap();
        assert_eq!(got, expect(at), "step {i} at +{offset:?}");
    }
    // Spot checks of the reference itself, so the suite is not circular.
    let fresh = r.take("user:2", 10.0, 3, start).await.unwrap();
    assert!(fresh.allowed);
    assert_eq!(fresh.remaining, 2);
    assert_eq!(fresh.reset_after, ms(100));
    r.take("user:2", 10.0, 3, start).await.unwrap();
    let last = r.take("user:2", 10.0, 3, start).await.unwrap();
    assert!(last.allowed && last.remaining == 0);
    let denied = r.take("user:2", 10.0, 3, start).await.unwrap();
    assert!(!denied.allowed);
    assert_eq!(denied.remaining, 0);
    assert_eq!(denied.retry_after, Some(ms(100)));
    assert_eq!(denied.reset_after, ms(300));
    // A clock that jumps back does not refill the bucket.
    let back = r
        .take("user:2", 10.0, 3, start - Duration::from_secs(10))
        .await
        .unwrap();
    assert!(!back.allowed);
    // Time refills it.
    let later = r.take("user:2", 10.0, 3, start + ms(1000)).await.unwrap();
    assert!(later.allowed);
    assert_eq!(later.remaining, 2);
    // Keys are independent; fractional rates work.
    let slow = r.take("slow", 0.5, 1, start).await.unwrap();
    assert!(slow.allowed);
    let slow2 = r.take("slow", 0.5, 1, start + ms(1000)).await.unwrap();
    assert_eq!(slow2.retry_after, Some(ms(1000)));
    // Invalid input fails closed.
    assert_err!(r.take("", 1.0, 1, start).await, StoreError::InvalidKey(_));
    assert_err!(
        r.take("k", 0.0, 1, start).await,
        StoreError::InvalidArgument(_)
    );
    assert_err!(
        r.take("k", f64::NAN, 1, start).await,
        StoreError::InvalidArgument(_)
    );
    assert_err!(
        r.take("k", 1.0, 0, start).await,
        StoreError::InvalidArgument(_)
    );
    // Concurrent decisions at one instant admit exactly the burst.
    let takes = (0..20).map(|_| r.take("crowd", 1.0, 5, start));
    let allowed = join_all(takes)
        .await
        .into_iter()
        .filter(|d| d.as_ref().is_ok_and(|d| d.allowed))
        .count();
    assert_eq!(allowed, 5);
}

// ---------------------------------------------------------------- memory

#[cfg(feature = "store-memory")]
mod memory {
    use super::*;
    use plumego_core::store::memory::{ENTRY_OVERHEAD, MemoryConfig, MemoryStore};

    fn store() -> MemoryStore {
        MemoryStore::new(MemoryConfig::default().cache(cache_config())).unwrap()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn cache() {
        cache_contract(&store(), DEFAULT_TTL).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn kv() {
        kv_contract(&store()).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn idempotency() {
        idempotency_contract(&store()).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn rate_limit() {
        rate_limit_contract(&store()).await;
    }

    #[tokio::test]
    async fn cache_is_bounded_by_entries_and_bytes() {
        let by_entries = MemoryStore::new(MemoryConfig::default().max_entries(10)).unwrap();
        for i in 0..200 {
            Cache::set(&by_entries, &format!("k{i}"), "v".into(), None)
                .await
                .unwrap();
        }
        by_entries.run_pending_tasks();
        let usage = by_entries.cache_usage();
        assert!(usage.entries <= 10 && usage.entries > 0, "{usage:?}");

        let by_bytes = MemoryStore::new(MemoryConfig::default().max_bytes(16 * 1024)).unwrap();
        let value = Bytes::from(vec![7u8; 1024]);
        for i in 0..100 {
            Cache::set(&by_bytes, &format!("k{i}"), value.clone(), None)
                .await
                .unwrap();
        }
        by_bytes.run_pending_tasks();
        let usage = by_bytes.cache_usage();
        assert!(usage.bytes <= 16 * 1024 && usage.entries >= 1, "{usage:?}");
        assert!(usage.entries <= 16);

        let too_big = Bytes::from(vec![0u8; 16 * 1024]);
        assert_err!(
            Cache::set(&by_bytes, "big", too_big, None).await,
            StoreError::ValueTooLarge { .. }
        );

        // An entry is charged its key, its value and the overhead.
        let exact = MemoryStore::new(
            MemoryConfig::default()
                .max_entries(1 << 20)
                .max_bytes(1 << 20),
        )
        .unwrap();
        Cache::set(&exact, "k", "vv".into(), None).await.unwrap();
        exact.run_pending_tasks();
        assert_eq!(exact.cache_usage().bytes, 3 + ENTRY_OVERHEAD);
    }

    #[tokio::test]
    async fn kv_evicts_the_oldest_write() {
        let s = MemoryStore::new(MemoryConfig::default().max_entries(3)).unwrap();
        for k in ["a", "b", "c"] {
            Kv::set(&s, k, "v".into(), None).await.unwrap();
        }
        Kv::set(&s, "a", "rewritten".into(), None).await.unwrap();
        Kv::set(&s, "d", "v".into(), None).await.unwrap();
        assert_err!(Kv::get(&s, "b").await, StoreError::NotFound);
        assert_eq!(Kv::get(&s, "a").await.unwrap(), "rewritten");
        assert_eq!(s.kv_usage().entries, 3);
        let big = Bytes::from(vec![0u8; 200]);
        let tiny = MemoryStore::new(MemoryConfig::default().max_bytes(256)).unwrap();
        assert_err!(
            Kv::set(&tiny, "k", big, None).await,
            StoreError::ValueTooLarge { .. }
        );
    }

    #[tokio::test]
    async fn kv_expired_entries_read_as_missing_after_the_retention() {
        let s = MemoryStore::new(
            MemoryConfig::default().kv_expired_retention(Duration::from_millis(100)),
        )
        .unwrap();
        Kv::set(&s, "k", "v".into(), Some(Duration::from_millis(50)))
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(80)).await;
        assert_err!(Kv::get(&s, "k").await, StoreError::Expired);
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_err!(Kv::get(&s, "k").await, StoreError::NotFound);
    }
}

// ---------------------------------------------------------------- redb

#[cfg(feature = "store-redb")]
mod redb {
    use super::*;
    use plumego_core::store::redb::{RedbConfig, RedbStore};

    /// A data directory removed when the test ends.
    struct TempDir(std::path::PathBuf);

    impl TempDir {
        fn new() -> Self {
            let dir = std::env::temp_dir().join(unique("redb"));
            std::fs::create_dir_all(&dir).unwrap();
            Self(dir)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    async fn store(dir: &TempDir) -> RedbStore {
        RedbStore::open(RedbConfig::new(&dir.0).cache(cache_config()))
            .await
            .unwrap()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn cache() {
        let dir = TempDir::new();
        cache_contract(&store(&dir).await, DEFAULT_TTL).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn kv() {
        let dir = TempDir::new();
        kv_contract(&store(&dir).await).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn idempotency() {
        let dir = TempDir::new();
        idempotency_contract(&store(&dir).await).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn rate_limit() {
        let dir = TempDir::new();
        rate_limit_contract(&store(&dir).await).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn data_and_expiries_survive_a_reopen() {
        let dir = TempDir::new();
        let s = store(&dir).await;
        Kv::set(&s, "kept", "v".into(), None).await.unwrap();
        Kv::set(&s, "short", "v".into(), Some(Duration::from_millis(400)))
            .await
            .unwrap();
        Cache::set(&s, "cached", "c".into(), Some(Duration::from_millis(400)))
            .await
            .unwrap();
        let rec =
            IdempotencyRecord::in_progress("idem", "h", SystemTime::now(), Duration::from_secs(60));
        assert!(s.put_if_absent(&rec).await.unwrap());
        // The file is locked while open: a second store cannot share it.
        assert_err!(
            RedbStore::open(RedbConfig::new(&dir.0)).await,
            StoreError::Backend(_)
        );
        drop(s);

        let s = store(&dir).await;
        assert_eq!(Kv::get(&s, "kept").await.unwrap(), "v");
        assert_eq!(Kv::get(&s, "short").await.unwrap(), "v");
        assert_eq!(Cache::get(&s, "cached").await.unwrap().unwrap(), "c");
        assert_eq!(IdempotencyStore::get(&s, "idem").await.unwrap(), Some(rec));
        drop(s);
        tokio::time::sleep(Duration::from_millis(600)).await;
        let s = store(&dir).await;
        assert_err!(Kv::get(&s, "short").await, StoreError::Expired);
        assert_eq!(Cache::get(&s, "cached").await.unwrap(), None);
        // Purging reclaims expired cache entries (KV ones only after the retention).
        assert_eq!(s.purge_expired().await.unwrap(), 1);
        assert_err!(Kv::get(&s, "short").await, StoreError::Expired);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn set_many_is_one_transaction() {
        let dir = TempDir::new();
        let s = store(&dir).await;
        let entries = (0..10)
            .map(|i| (format!("b:{i}"), Bytes::from(vec![i as u8; 8]), None))
            .collect();
        s.kv_set_many(entries).await.unwrap();
        assert_eq!(Kv::keys(&s, "b:", None, 0).await.unwrap().len(), 10);
        // One invalid key refuses the whole batch.
        let bad = vec![
            ("b:ok".to_owned(), Bytes::new(), None),
            (String::new(), Bytes::new(), None),
        ];
        assert_err!(s.kv_set_many(bad).await, StoreError::InvalidKey(_));
        assert_err!(Kv::get(&s, "b:ok").await, StoreError::NotFound);
    }
}

// ---------------------------------------------------------------- redis

#[cfg(feature = "store-redis")]
mod redis {
    use super::*;
    use plumego_core::store::redis::{RedisConfig, RedisStore};

    fn url() -> String {
        std::env::var("PLUMEGO_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
    }

    /// A store under a fresh prefix, or a failure that says what is missing.
    async fn store_with_prefix(prefix: &str) -> RedisStore {
        let config = RedisConfig::new(url(), prefix)
            .unwrap()
            .cache(cache_config());
        match RedisStore::connect(config).await {
            Ok(store) => store,
            Err(err) => panic!(
                "Redis is unreachable at {} ({err}); start it or set PLUMEGO_REDIS_URL \
                 (CI={}): these tests never pass without a server",
                url(),
                std::env::var("CI").unwrap_or_default()
            ),
        }
    }

    /// Removes every key of the prefix when the test ends.
    struct Cleanup(String);

    impl Drop for Cleanup {
        fn drop(&mut self) {
            let prefix = self.0.clone();
            let _ = std::thread::spawn(move || {
                let Ok(client) = ::redis::Client::open(url().as_str()) else {
                    return;
                };
                let Ok(mut conn) = client.get_connection() else {
                    return;
                };
                for pattern in [format!("{prefix}:*"), format!("{{{prefix}}}:*")] {
                    let keys: Vec<String> = ::redis::cmd("KEYS")
                        .arg(&pattern)
                        .query(&mut conn)
                        .unwrap_or_default();
                    if !keys.is_empty() {
                        let _: Result<(), _> = ::redis::cmd("DEL").arg(&keys).query(&mut conn);
                    }
                }
            })
            .join();
        }
    }

    async fn store() -> (RedisStore, Cleanup) {
        let prefix = unique("redis");
        (store_with_prefix(&prefix).await, Cleanup(prefix))
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn cache() {
        let (s, _cleanup) = store().await;
        cache_contract(&s, DEFAULT_TTL).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn kv() {
        let (s, _cleanup) = store().await;
        kv_contract(&s).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn idempotency() {
        let (s, _cleanup) = store().await;
        idempotency_contract(&s).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn rate_limit() {
        let (s, _cleanup) = store().await;
        rate_limit_contract(&s).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn instances_share_state_and_prefixes_isolate_it() {
        let prefix = unique("redis-shared");
        let _cleanup = Cleanup(prefix.clone());
        let a = store_with_prefix(&prefix).await;
        let b = store_with_prefix(&prefix).await;
        let (other, _cleanup_other) = store().await;
        Kv::set(&a, "k", "from-a".into(), None).await.unwrap();
        assert_eq!(Kv::get(&b, "k").await.unwrap(), "from-a");
        assert_err!(Kv::get(&other, "k").await, StoreError::NotFound);
        Cache::set(&a, "c", "v".into(), None).await.unwrap();
        Cache::clear(&other).await.unwrap();
        assert!(
            Cache::exists(&b, "c").await.unwrap(),
            "clear stays within its prefix"
        );
        // Claims race across instances: one wins.
        let now = SystemTime::now();
        let ra = IdempotencyRecord::in_progress("pay", "ha", now, Duration::from_secs(60));
        let rb = IdempotencyRecord::in_progress("pay", "hb", now, Duration::from_secs(60));
        let (x, y) = tokio::join!(a.put_if_absent(&ra), b.put_if_absent(&rb));
        assert!(x.unwrap() ^ y.unwrap());
        // Rate limits are shared.
        assert!(a.take("ip", 1.0, 1, now).await.unwrap().allowed);
        assert!(!b.take("ip", 1.0, 1, now).await.unwrap().allowed);
        assert!(a.ping().await.is_ok());
    }

    #[tokio::test]
    async fn a_bad_prefix_is_refused() {
        assert_err!(RedisConfig::new(url(), ""), StoreError::InvalidKey(_));
        assert_err!(
            RedisConfig::new(url(), "a{b}"),
            StoreError::InvalidArgument(_)
        );
    }
}

// ---------------------------------------------------------------- postgres

#[cfg(feature = "store-postgres")]
mod postgres {
    use super::*;
    use plumego_core::store::postgres::{PostgresConfig, PostgresStore};

    fn url() -> String {
        std::env::var("PLUMEGO_POSTGRES_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
    }

    async fn store_in(namespace: &str) -> PostgresStore {
        let config = PostgresConfig::new(url(), namespace).unwrap().pool_size(4);
        let store = match PostgresStore::connect(config).await {
            Ok(store) => store,
            Err(err) => panic!(
                "PostgreSQL is unreachable at {} ({err}); start it or set PLUMEGO_POSTGRES_URL \
                 (CI={}): these tests never pass without a server",
                url(),
                std::env::var("CI").unwrap_or_default()
            ),
        };
        store.migrate().await.unwrap();
        store
    }

    /// Deletes the namespace's rows when the test ends.
    struct Cleanup(String);

    impl Drop for Cleanup {
        fn drop(&mut self) {
            let namespace = self.0.clone();
            let _ = std::thread::spawn(move || {
                let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                else {
                    return;
                };
                rt.block_on(async {
                    let Ok((client, conn)) =
                        tokio_postgres::connect(&url(), tokio_postgres::NoTls).await
                    else {
                        return;
                    };
                    tokio::spawn(conn);
                    for table in ["plumego_kv", "plumego_idempotency"] {
                        let sql = format!("DELETE FROM {table} WHERE namespace = $1");
                        let _ = client.execute(&sql, &[&namespace]).await;
                    }
                });
            })
            .join();
        }
    }

    async fn store() -> (PostgresStore, Cleanup) {
        let namespace = unique("pg");
        (store_in(&namespace).await, Cleanup(namespace))
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn kv() {
        let (s, _cleanup) = store().await;
        kv_contract(&s).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn idempotency() {
        let (s, _cleanup) = store().await;
        idempotency_contract(&s).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn migrations_apply_once_and_namespaces_isolate() {
        let (a, _cleanup_a) = store().await;
        let (b, _cleanup_b) = store().await;
        let again = join_all([a.migrate(), b.migrate(), a.migrate()]).await;
        for applied in again {
            assert_eq!(applied.unwrap(), Vec::<i32>::new());
        }
        Kv::set(&a, "k", "v".into(), None).await.unwrap();
        assert_err!(Kv::get(&b, "k").await, StoreError::NotFound);
        assert!(Kv::keys(&b, "", None, 0).await.unwrap().is_empty());
        Kv::set(&a, "old", "v".into(), Some(Duration::from_millis(10)))
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
        // Expired KV rows stay (they read as Expired) until the retention.
        assert_eq!(a.purge_expired().await.unwrap(), 0);
        assert_err!(Kv::get(&a, "old").await, StoreError::Expired);
    }
}
