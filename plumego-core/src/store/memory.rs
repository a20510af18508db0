//! The in-process engine (feature `store-memory`): every contract in memory,
//! bounded in entries and bytes, for tests and single-process services.
//!
//! The cache, idempotency records and rate-limit state live in
//! [moka](https://docs.rs/moka) caches: a full cache evicts by TinyLFU rather
//! than refusing writes (the Go cache answered `ErrCacheFull`), and per-entry
//! expiry is exact. The KV map is a `BTreeMap` so prefix listing is ordered
//! and cheap; it evicts the entry written longest ago, as the Go KV did.
//!
//! Each of the four namespaces is bounded on its own by
//! [`MemoryConfig::max_entries`] and [`MemoryConfig::max_bytes`]. An entry is
//! charged its key and value bytes plus [`ENTRY_OVERHEAD`], and at least
//! `max_bytes / max_entries`, so keeping the total charge within `max_bytes`
//! keeps both bounds with one moka weigher.
//!
//! ```
//! use plumego_core::store::{Cache, memory::{MemoryConfig, MemoryStore}};
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let store = MemoryStore::new(MemoryConfig::default().max_entries(2).max_bytes(1 << 20)).unwrap();
//! for i in 0..10 {
//!     store.set(&format!("k{i}"), "v".into(), None).await.unwrap();
//! }
//! store.run_pending_tasks();
//! assert!(store.cache_usage().entries <= 2);
//! # });
//! ```

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use bytes::{Bytes, BytesMut};
use moka::Expiry;
use moka::ops::compute::{CompResult, Op};
use moka::sync::Cache as Moka;

use super::cache::parse_counter;
use super::idempotency::{check_candidate, check_completion_args};
use super::kv::{expired_error, kv_expiry};
use super::{
    Cache, CacheConfig, DEFAULT_EXPIRED_RETENTION, Decision, Gcra, IdempotencyRecord,
    IdempotencyStatus, IdempotencyStore, Kv, RateLimitStore, StoreError, StoreFuture, time,
    validate_completion_at, validate_idempotency_key, validate_key,
};

/// Bytes charged per entry on top of its key and value (the Go KV's figure):
/// the map node, the expiry and the bookkeeping.
pub const ENTRY_OVERHEAD: u64 = 64;

/// Options of [`MemoryStore`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemoryConfig {
    /// Key length and default TTL of the cache.
    pub cache: CacheConfig,
    /// The most entries each namespace holds. Default 100,000 (the Go KV's).
    pub max_entries: u64,
    /// The most bytes each namespace holds (keys, values and
    /// [`ENTRY_OVERHEAD`]). Default 64 MiB.
    pub max_bytes: u64,
    /// How long an expired KV entry reads as `Expired` before it reads as
    /// `NotFound`. Default [`DEFAULT_EXPIRED_RETENTION`].
    pub kv_expired_retention: Duration,
}

impl Default for MemoryConfig {
    fn default() -> Self {
        Self {
            cache: CacheConfig::default(),
            max_entries: 100_000,
            max_bytes: 64 << 20,
            kv_expired_retention: DEFAULT_EXPIRED_RETENTION,
        }
    }
}

impl MemoryConfig {
    /// Changes the cache options.
    #[must_use]
    pub fn cache(mut self, cache: CacheConfig) -> Self {
        self.cache = cache;
        self
    }

    /// Changes the entry bound.
    #[must_use]
    pub fn max_entries(mut self, max: u64) -> Self {
        self.max_entries = max;
        self
    }

    /// Changes the byte bound.
    #[must_use]
    pub fn max_bytes(mut self, max: u64) -> Self {
        self.max_bytes = max;
        self
    }

    /// Changes how long expired KV entries read as expired.
    #[must_use]
    pub fn kv_expired_retention(mut self, retention: Duration) -> Self {
        self.kv_expired_retention = retention;
        self
    }

    /// The charge of an entry of `raw` bytes (key, value, overhead).
    fn charge(&self, raw: u64) -> u64 {
        raw.max(self.max_bytes / self.max_entries)
    }
}

/// Entries and charged bytes of one namespace (see [`MemoryStore::cache_usage`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Usage {
    /// Entries held.
    pub entries: u64,
    /// Bytes charged.
    pub bytes: u64,
}

/// A value with its expiry, as the moka caches hold it.
#[derive(Debug, Clone)]
struct Timed<V> {
    value: V,
    expires_at: Option<Instant>,
}

impl<V> Timed<V> {
    fn is_live(&self, now: Instant) -> bool {
        self.expires_at.is_none_or(|at| at > now)
    }
}

/// Tells moka each entry's own expiry.
struct TimedExpiry;

impl<V> Expiry<String, Timed<V>> for TimedExpiry {
    fn expire_after_create(
        &self,
        _key: &String,
        value: &Timed<V>,
        now: Instant,
    ) -> Option<Duration> {
        value.expires_at.map(|at| at.saturating_duration_since(now))
    }

    fn expire_after_update(
        &self,
        _key: &String,
        value: &Timed<V>,
        now: Instant,
        _current: Option<Duration>,
    ) -> Option<Duration> {
        value.expires_at.map(|at| at.saturating_duration_since(now))
    }
}

/// The instant a wall-clock deadline corresponds to.
fn instant_at(deadline: SystemTime) -> Instant {
    let now = Instant::now();
    match deadline.duration_since(SystemTime::now()) {
        Ok(left) => instant_after(now, left),
        Err(_) => now,
    }
}

/// `now + d`, or a century from now when that overflows the platform's
/// `Instant` (a TTL that long means "never" in practice).
fn instant_after(now: Instant, d: Duration) -> Instant {
    now.checked_add(d)
        .unwrap_or(now + Duration::from_secs(100 * 365 * 86_400))
}

struct KvEntry {
    value: Bytes,
    expires_at: Option<Instant>,
    seq: u64,
}

#[derive(Default)]
struct KvMap {
    entries: BTreeMap<String, KvEntry>,
    /// Write order, for evicting the oldest write first.
    by_seq: BTreeMap<u64, String>,
    bytes: u64,
    next_seq: u64,
}

impl KvMap {
    fn remove(&mut self, key: &str) -> Option<KvEntry> {
        let entry = self.entries.remove(key)?;
        self.by_seq.remove(&entry.seq);
        self.bytes = self.bytes.saturating_sub(raw_size(key, &entry.value));
        Some(entry)
    }

    fn insert(&mut self, key: &str, value: Bytes, expires_at: Option<Instant>) {
        self.remove(key);
        let seq = self.next_seq;
        self.next_seq += 1;
        self.bytes += raw_size(key, &value);
        self.by_seq.insert(seq, key.to_owned());
        self.entries.insert(
            key.to_owned(),
            KvEntry {
                value,
                expires_at,
                seq,
            },
        );
    }

    fn evict(&mut self, max_entries: u64, max_bytes: u64) {
        while self.entries.len() as u64 > max_entries || self.bytes > max_bytes {
            let Some((_, key)) = self.by_seq.pop_first() else {
                break;
            };
            if let Some(entry) = self.entries.remove(&key) {
                self.bytes = self.bytes.saturating_sub(raw_size(&key, &entry.value));
            }
        }
    }
}

fn raw_size(key: &str, value: &[u8]) -> u64 {
    (key.len() + value.len()) as u64 + ENTRY_OVERHEAD
}

/// Every store contract in memory (see the [module docs](self)).
pub struct MemoryStore {
    config: MemoryConfig,
    cache: Moka<String, Timed<Bytes>>,
    kv: Mutex<KvMap>,
    idempotency: Moka<String, Timed<IdempotencyRecord>>,
    rate: Moka<String, Timed<u64>>,
}

impl std::fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryStore")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl MemoryStore {
    /// A store with these bounds; zero bounds are
    /// [`StoreError::InvalidArgument`].
    pub fn new(config: MemoryConfig) -> Result<Self, StoreError> {
        if config.max_entries == 0 || config.max_bytes == 0 {
            return Err(StoreError::InvalidArgument(
                "max_entries and max_bytes must be at least 1".into(),
            ));
        }
        Ok(Self {
            cache: moka_cache(&config, |k, v: &Timed<Bytes>| raw_size(k, &v.value)),
            kv: Mutex::default(),
            idempotency: moka_cache(&config, |k, v: &Timed<IdempotencyRecord>| {
                let rec = &v.value;
                raw_size(k, rec.request_hash.as_bytes())
                    + rec.key.len() as u64
                    + rec.response.as_ref().map_or(0, |r| r.len() as u64)
            }),
            rate: moka_cache(&config, |k, _| raw_size(k, &[0; 8])),
            config,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &MemoryConfig {
        &self.config
    }

    /// Applies moka's pending evictions and expirations now (they otherwise
    /// run in small steps on later calls), so usage figures are exact.
    pub fn run_pending_tasks(&self) {
        self.cache.run_pending_tasks();
        self.idempotency.run_pending_tasks();
        self.rate.run_pending_tasks();
    }

    /// The cache's entries and charged bytes.
    pub fn cache_usage(&self) -> Usage {
        Usage {
            entries: self.cache.entry_count(),
            bytes: self.cache.weighted_size(),
        }
    }

    /// The KV map's entries and bytes.
    pub fn kv_usage(&self) -> Usage {
        let kv = self.kv();
        Usage {
            entries: kv.entries.len() as u64,
            bytes: kv.bytes,
        }
    }

    fn kv(&self) -> MutexGuard<'_, KvMap> {
        // The map is consistent after every statement that can panic.
        self.kv.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn check_size(&self, raw: u64) -> Result<(), StoreError> {
        let max = self.config.max_bytes.min(u64::from(u32::MAX));
        if raw > max {
            return Err(StoreError::ValueTooLarge { size: raw, max });
        }
        Ok(())
    }

    /// A KV key and value the store can hold: a valid key, and an entry no
    /// larger than the whole store.
    fn check_kv_entry(&self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        validate_key(key, self.config.cache.max_key_len)?;
        let raw = raw_size(key, value);
        if raw > self.config.max_bytes {
            return Err(StoreError::ValueTooLarge {
                size: raw,
                max: self.config.max_bytes,
            });
        }
        Ok(())
    }

    fn cache_expiry(&self, ttl: Option<Duration>) -> Option<Instant> {
        let now = Instant::now();
        self.config
            .cache
            .effective_ttl(ttl)
            .map(|d| instant_after(now, d))
    }

    fn live_cache(&self, key: &str) -> Result<Option<Timed<Bytes>>, StoreError> {
        self.config.cache.check_key(key)?;
        Ok(self.cache.get(key).filter(|e| e.is_live(Instant::now())))
    }

    /// A read-modify-write of one cache entry under moka's per-key lock:
    /// `f` gets the live value (if any) and returns the new one.
    fn cache_update(
        &self,
        key: &str,
        f: impl FnOnce(Option<&Bytes>) -> Result<Bytes, StoreError>,
    ) -> Result<Bytes, StoreError> {
        self.config.cache.check_key(key)?;
        let default_expiry = self.cache_expiry(None);
        let result = self
            .cache
            .entry(key.to_owned())
            .and_try_compute_with(|current| {
                let now = Instant::now();
                let live = current.map(|e| e.into_value()).filter(|e| e.is_live(now));
                let (value, expires_at) = match &live {
                    Some(e) => (f(Some(&e.value))?, e.expires_at),
                    None => (f(None)?, default_expiry),
                };
                self.check_size(raw_size(key, &value))?;
                Ok::<_, StoreError>(Op::Put(Timed { value, expires_at }))
            })?;
        match result {
            CompResult::Inserted(e) | CompResult::ReplacedWith(e) => Ok(e.into_value().value),
            // `f` always puts; these cannot happen, but answer sensibly.
            CompResult::Unchanged(e) => Ok(e.into_value().value),
            CompResult::StillNone(_) | CompResult::Removed(_) => Err(StoreError::NotFound),
        }
    }
}

fn moka_cache<V: Clone + Send + Sync + 'static>(
    config: &MemoryConfig,
    size: impl Fn(&str, &Timed<V>) -> u64 + Send + Sync + 'static,
) -> Moka<String, Timed<V>> {
    let config = config.clone();
    Moka::builder()
        .max_capacity(config.max_bytes)
        .weigher(move |k: &String, v: &Timed<V>| {
            u32::try_from(config.charge(size(k, v))).unwrap_or(u32::MAX)
        })
        .expire_after(TimedExpiry)
        .build()
}

impl Cache for MemoryStore {
    fn get<'a>(&'a self, key: &'a str) -> StoreFuture<'a, Option<Bytes>> {
        Box::pin(async move { Ok(self.live_cache(key)?.map(|e| e.value)) })
    }

    fn set<'a>(&'a self, key: &'a str, value: Bytes, ttl: Option<Duration>) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            self.config.cache.check_key(key)?;
            self.check_size(raw_size(key, &value))?;
            let expires_at = self.cache_expiry(ttl);
            self.cache
                .insert(key.to_owned(), Timed { value, expires_at });
            Ok(())
        })
    }

    fn delete<'a>(&'a self, key: &'a str) -> StoreFuture<'a, bool> {
        Box::pin(async move {
            self.config.cache.check_key(key)?;
            Ok(self
                .cache
                .remove(key)
                .is_some_and(|e| e.is_live(Instant::now())))
        })
    }

    fn exists<'a>(&'a self, key: &'a str) -> StoreFuture<'a, bool> {
        Box::pin(async move { Ok(self.live_cache(key)?.is_some()) })
    }

    fn clear(&self) -> StoreFuture<'_, ()> {
        Box::pin(async move {
            self.cache.invalidate_all();
            Ok(())
        })
    }

    fn incr<'a>(&'a self, key: &'a str, delta: i64) -> StoreFuture<'a, i64> {
        Box::pin(async move {
            let mut result = 0;
            self.cache_update(key, |current| {
                let base = current.map_or(Ok(0), |v| parse_counter(v))?;
                result = base.checked_add(delta).ok_or(StoreError::NotInteger)?;
                Ok(Bytes::from(result.to_string()))
            })?;
            Ok(result)
        })
    }

    fn append<'a>(&'a self, key: &'a str, suffix: Bytes) -> StoreFuture<'a, u64> {
        Box::pin(async move {
            let value = self.cache_update(key, |current| {
                Ok(match current {
                    Some(v) => {
                        let mut joined = BytesMut::with_capacity(v.len() + suffix.len());
                        joined.extend_from_slice(v);
                        joined.extend_from_slice(&suffix);
                        joined.freeze()
                    }
                    None => suffix.clone(),
                })
            })?;
            Ok(value.len() as u64)
        })
    }
}

impl Kv for MemoryStore {
    fn get<'a>(&'a self, key: &'a str) -> StoreFuture<'a, Bytes> {
        Box::pin(async move {
            validate_key(key, self.config.cache.max_key_len)?;
            let now = Instant::now();
            let mut kv = self.kv();
            let Some(entry) = kv.entries.get(key) else {
                return Err(StoreError::NotFound);
            };
            match entry.expires_at {
                Some(at) if at <= now => {
                    let error = expired_error(
                        now.saturating_duration_since(at),
                        self.config.kv_expired_retention,
                    );
                    if matches!(error, StoreError::NotFound) {
                        kv.remove(key);
                    }
                    Err(error)
                }
                _ => Ok(entry.value.clone()),
            }
        })
    }

    fn set<'a>(&'a self, key: &'a str, value: Bytes, ttl: Option<Duration>) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            self.check_kv_entry(key, &value)?;
            let expires_at = kv_deadline(ttl);
            let mut kv = self.kv();
            kv.insert(key, value, expires_at);
            kv.evict(self.config.max_entries, self.config.max_bytes);
            Ok(())
        })
    }

    fn delete<'a>(&'a self, key: &'a str) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            validate_key(key, self.config.cache.max_key_len)?;
            let removed = self.kv().remove(key);
            match removed {
                Some(e) if e.expires_at.is_none_or(|at| at > Instant::now()) => Ok(()),
                _ => Err(StoreError::NotFound),
            }
        })
    }

    fn exists<'a>(&'a self, key: &'a str) -> StoreFuture<'a, bool> {
        Box::pin(async move {
            validate_key(key, self.config.cache.max_key_len)?;
            let now = Instant::now();
            Ok(self
                .kv()
                .entries
                .get(key)
                .is_some_and(|e| e.expires_at.is_none_or(|at| at > now)))
        })
    }

    fn keys<'a>(
        &'a self,
        prefix: &'a str,
        after: Option<&'a str>,
        limit: usize,
    ) -> StoreFuture<'a, Vec<String>> {
        Box::pin(async move {
            use std::ops::Bound;
            let now = Instant::now();
            let limit = if limit == 0 { usize::MAX } else { limit };
            let start = match after {
                Some(a) if a >= prefix => Bound::Excluded(a),
                _ => Bound::Included(prefix),
            };
            let kv = self.kv();
            Ok(kv
                .entries
                .range::<str, _>((start, Bound::Unbounded))
                .take_while(|(k, _)| k.starts_with(prefix))
                .filter(|(_, e)| e.expires_at.is_none_or(|at| at > now))
                .take(limit)
                .map(|(k, _)| k.clone())
                .collect())
        })
    }

    fn compare_and_swap<'a>(
        &'a self,
        key: &'a str,
        expected: Option<&'a [u8]>,
        new: Bytes,
        ttl: Option<Duration>,
    ) -> StoreFuture<'a, bool> {
        Box::pin(async move {
            self.check_kv_entry(key, &new)?;
            let now = Instant::now();
            let mut kv = self.kv();
            let current = kv
                .entries
                .get(key)
                .filter(|e| e.expires_at.is_none_or(|at| at > now))
                .map(|e| &e.value[..]);
            if current != expected {
                return Ok(false);
            }
            kv.insert(key, new, kv_deadline(ttl));
            kv.evict(self.config.max_entries, self.config.max_bytes);
            Ok(true)
        })
    }
}

/// The monotonic deadline of a KV write with `ttl`.
fn kv_deadline(ttl: Option<Duration>) -> Option<Instant> {
    let now = Instant::now();
    kv_expiry(0, ttl).map(|us| instant_after(now, Duration::from_micros(us)))
}

impl IdempotencyStore for MemoryStore {
    fn get<'a>(&'a self, key: &'a str) -> StoreFuture<'a, Option<IdempotencyRecord>> {
        Box::pin(async move {
            validate_idempotency_key(key)?;
            let now = SystemTime::now();
            Ok(self
                .idempotency
                .get(key)
                .map(|e| e.value)
                .filter(|r| !r.is_expired_at(now)))
        })
    }

    fn put_if_absent<'a>(&'a self, record: &'a IdempotencyRecord) -> StoreFuture<'a, bool> {
        Box::pin(async move {
            check_candidate(record, SystemTime::now())?;
            let result = self
                .idempotency
                .entry(record.key.clone())
                .and_compute_with(|current| {
                    let now = SystemTime::now();
                    match current {
                        Some(e) if !e.value().value.is_expired_at(now) => Op::Nop,
                        _ => Op::Put(Timed {
                            value: record.clone(),
                            expires_at: Some(instant_at(record.expires_at)),
                        }),
                    }
                });
            Ok(matches!(
                result,
                CompResult::Inserted(_) | CompResult::ReplacedWith(_)
            ))
        })
    }

    fn complete<'a>(
        &'a self,
        key: &'a str,
        request_hash: &'a str,
        response: Bytes,
    ) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            check_completion_args(key, request_hash)?;
            self.idempotency
                .entry(key.to_owned())
                .and_try_compute_with(|current| {
                    let now = SystemTime::now();
                    let Some(entry) = current.map(|e| e.into_value()) else {
                        return Err(StoreError::NotFound);
                    };
                    if entry.value.is_expired_at(now) {
                        return Err(StoreError::NotFound);
                    }
                    validate_completion_at(&entry.value, request_hash, now)?;
                    let mut record = entry.value;
                    record.status = IdempotencyStatus::Completed;
                    record.response = Some(response);
                    record.updated_at = time::truncate(now);
                    Ok(Op::Put(Timed {
                        value: record,
                        expires_at: entry.expires_at,
                    }))
                })?;
            Ok(())
        })
    }

    fn delete<'a>(&'a self, key: &'a str) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            validate_idempotency_key(key)?;
            match self.idempotency.remove(key) {
                Some(e) if !e.value.is_expired_at(SystemTime::now()) => Ok(()),
                _ => Err(StoreError::NotFound),
            }
        })
    }
}

impl RateLimitStore for MemoryStore {
    fn take<'a>(
        &'a self,
        key: &'a str,
        rate_per_second: f64,
        burst: u32,
        now: SystemTime,
    ) -> StoreFuture<'a, Decision> {
        Box::pin(async move {
            validate_key(key, self.config.cache.max_key_len)?;
            let gcra = Gcra::new(rate_per_second, burst)?;
            let now_us = time::micros(now);
            let mut decision = None;
            self.rate.entry(key.to_owned()).and_compute_with(|current| {
                let tat = current.map(|e| e.into_value().value);
                let (d, new_tat) = gcra.decide(tat, now_us);
                decision = Some(d);
                match new_tat {
                    Some(t) => Op::Put(Timed {
                        value: t,
                        expires_at: Some(Instant::now() + Duration::from_micros(t - now_us)),
                    }),
                    None => Op::Nop,
                }
            });
            decision.ok_or_else(|| StoreError::backend("rate-limit decision was not computed"))
        })
    }
}
