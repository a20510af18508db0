//! The durable single-instance engine (feature `store-redb`): every contract
//! in one [redb](https://docs.rs/redb) file.
//!
//! Why redb: a pure-Rust, crash-safe B-tree with ACID transactions and no
//! server or C library to ship. Each acknowledged write is one transaction
//! committed with [`Durability::Immediate`] (fsync before `commit` returns), so
//! an acknowledged write survives a crash or power loss, and a multi-key write
//! ([`RedbStore::kv_set_many`]) is all or nothing. Rate-limit state is the
//! exception: it is committed with [`Durability::Eventual`] (no fsync), since
//! losing the last decisions in a crash only refills a bucket early and an
//! fsync per request would cap throughput at the disk's flush rate.
//!
//! Expiries are stored as wall-clock microseconds beside each value, so TTLs
//! hold across restarts. Reads treat expired entries as the contracts say;
//! [`RedbStore::purge_expired`] reclaims them, and a background task calls it
//! every [`RedbConfig::cleanup_interval`] (5 minutes by default).
//!
//! redb calls block on disk I/O, so each runs under
//! `tokio::task::spawn_blocking`, never on a runtime worker.
//!
//! ```
//! use plumego_core::store::{Kv, redb::{RedbConfig, RedbStore}};
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let dir = std::env::temp_dir().join(format!("plumego-redb-doc-{}", std::process::id()));
//! let store = RedbStore::open(RedbConfig::new(&dir)).await.unwrap();
//! store.set("config:mode", "blue".into(), None).await.unwrap();
//! drop(store);
//! let reopened = RedbStore::open(RedbConfig::new(&dir)).await.unwrap();
//! assert_eq!(reopened.get("config:mode").await.unwrap(), "blue");
//! # drop(reopened);
//! # std::fs::remove_dir_all(&dir).unwrap();
//! # });
//! ```

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use redb::{Database, Durability, ReadableTable, TableDefinition, WriteTransaction};

use super::cache::parse_counter;
use super::idempotency::{check_candidate, check_completion_args};
use super::kv::{is_live, kv_expiry, kv_read};
use super::{
    Cache, CacheConfig, DEFAULT_EXPIRED_RETENTION, Decision, Gcra, IdempotencyRecord,
    IdempotencyStatus, IdempotencyStore, Kv, RateLimitStore, StoreError, StoreFuture, time,
    validate_completion_at, validate_idempotency_key, validate_key,
};

/// The database file's name inside [`RedbConfig::data_dir`].
pub const DB_FILE: &str = "plumego-store.redb";

/// `(expires_at µs, 0 = never; value)`.
const CACHE: TableDefinition<&str, (u64, &[u8])> = TableDefinition::new("cache");
/// `(expires_at µs, 0 = never; value)`.
const KV: TableDefinition<&str, (u64, &[u8])> = TableDefinition::new("kv");
/// `(request_hash, status, created µs, updated µs, expires µs, response)`.
type IdemRow<'a> = (&'a str, u8, u64, u64, u64, Option<&'a [u8]>);
const IDEMPOTENCY: TableDefinition<&str, IdemRow<'static>> = TableDefinition::new("idempotency");
/// The GCRA theoretical arrival time, µs.
const RATE: TableDefinition<&str, u64> = TableDefinition::new("rate_limit");

/// Options of [`RedbStore`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedbConfig {
    /// The directory holding [`DB_FILE`]; created if missing.
    pub data_dir: PathBuf,
    /// Key length and default TTL of the cache.
    pub cache: CacheConfig,
    /// How long an expired KV entry reads as `Expired` before `purge_expired`
    /// may reclaim it. Default [`DEFAULT_EXPIRED_RETENTION`].
    pub kv_expired_retention: Duration,
    /// How often a background task reclaims expired entries; `None` = never
    /// (call [`RedbStore::purge_expired`] yourself). Default 5 minutes, the Go
    /// cache's sweeper interval.
    pub cleanup_interval: Option<Duration>,
}

impl RedbConfig {
    /// Defaults, with the data in `data_dir`.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            data_dir: data_dir.into(),
            cache: CacheConfig::default(),
            kv_expired_retention: DEFAULT_EXPIRED_RETENTION,
            cleanup_interval: Some(Duration::from_secs(300)),
        }
    }

    /// Changes the cache options.
    #[must_use]
    pub fn cache(mut self, cache: CacheConfig) -> Self {
        self.cache = cache;
        self
    }

    /// Changes how long expired KV entries read as expired.
    #[must_use]
    pub fn kv_expired_retention(mut self, retention: Duration) -> Self {
        self.kv_expired_retention = retention;
        self
    }

    /// Changes the background cleanup interval.
    #[must_use]
    pub fn cleanup_interval(mut self, interval: Option<Duration>) -> Self {
        self.cleanup_interval = interval.filter(|d| !d.is_zero());
        self
    }

    /// The database file.
    pub fn db_path(&self) -> PathBuf {
        self.data_dir.join(DB_FILE)
    }
}

struct Inner {
    db: Database,
    config: RedbConfig,
}

/// Every store contract on one redb file (see the [module docs](self)).
/// Clones share the database.
#[derive(Clone)]
pub struct RedbStore {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for RedbStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedbStore")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

fn be(err: impl Into<redb::Error>) -> StoreError {
    StoreError::backend(err.into())
}

impl RedbStore {
    /// Opens (or creates) the store in `config.data_dir` off the runtime's
    /// workers. After a crash redb repairs the file while opening. Only one
    /// process may have the file open; a second gets a backend error.
    pub async fn open(config: RedbConfig) -> Result<Self, StoreError> {
        let store = tokio::task::spawn_blocking(move || Self::open_blocking_inner(config))
            .await
            .map_err(StoreError::backend)??;
        store.start_sweeper();
        Ok(store)
    }

    /// [`open`](Self::open) for synchronous code; starts the cleanup task only
    /// when called inside a tokio runtime.
    pub fn open_blocking(config: RedbConfig) -> Result<Self, StoreError> {
        let store = Self::open_blocking_inner(config)?;
        if tokio::runtime::Handle::try_current().is_ok() {
            store.start_sweeper();
        }
        Ok(store)
    }

    fn open_blocking_inner(config: RedbConfig) -> Result<Self, StoreError> {
        std::fs::create_dir_all(&config.data_dir).map_err(StoreError::backend)?;
        let db = Database::create(config.db_path()).map_err(be)?;
        // Create every table up front so read transactions never miss one.
        let txn = db.begin_write().map_err(be)?;
        txn.open_table(CACHE).map_err(be)?;
        txn.open_table(KV).map_err(be)?;
        txn.open_table(IDEMPOTENCY).map_err(be)?;
        txn.open_table(RATE).map_err(be)?;
        txn.commit().map_err(be)?;
        Ok(Self {
            inner: Arc::new(Inner { db, config }),
        })
    }

    fn start_sweeper(&self) {
        let Some(every) = self.inner.config.cleanup_interval else {
            return;
        };
        // Weakly held: the task must not keep the database open (and locked
        // against reopening) after the last handle is dropped.
        super::spawn_sweeper(
            &self.inner,
            every,
            "redb store: purging expired entries failed",
            |inner| async move { RedbStore { inner }.purge_expired().await },
        );
    }

    /// The configuration.
    pub fn config(&self) -> &RedbConfig {
        &self.inner.config
    }

    /// The database file.
    pub fn path(&self) -> PathBuf {
        self.inner.config.db_path()
    }

    /// Runs `f` on a blocking thread.
    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Inner) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || f(&inner))
            .await
            .map_err(StoreError::backend)?
    }

    /// Removes expired cache entries, idempotency records and rate-limit
    /// state, and KV entries expired longer than the retention; returns how
    /// many entries went.
    pub async fn purge_expired(&self) -> Result<u64, StoreError> {
        self.blocking(|inner| {
            let now = time::now_micros();
            let kv_cutoff =
                now.saturating_sub(time::duration_micros(inner.config.kv_expired_retention));
            inner.write(Durability::Immediate, |txn| {
                let mut removed = 0u64;
                let mut count = |keep: bool| {
                    removed += u64::from(!keep);
                    keep
                };
                txn.open_table(CACHE)
                    .map_err(be)?
                    .retain(|_, (exp, _)| count(is_live(exp, now)))
                    .map_err(be)?;
                txn.open_table(KV)
                    .map_err(be)?
                    .retain(|_, (exp, _)| count(is_live(exp, kv_cutoff)))
                    .map_err(be)?;
                txn.open_table(IDEMPOTENCY)
                    .map_err(be)?
                    .retain(|_, row| count(row.4 > now))
                    .map_err(be)?;
                txn.open_table(RATE)
                    .map_err(be)?
                    .retain(|_, tat| count(tat > now))
                    .map_err(be)?;
                Ok(removed)
            })
        })
        .await
    }

    /// Writes several KV entries in one transaction: after a crash either all
    /// of them are there or none. Keys are validated before anything is
    /// written.
    pub async fn kv_set_many(
        &self,
        entries: Vec<(String, Bytes, Option<Duration>)>,
    ) -> Result<(), StoreError> {
        let max = self.inner.config.cache.max_key_len;
        for (key, _, _) in &entries {
            validate_key(key, max)?;
        }
        self.blocking(move |inner| {
            let now = time::now_micros();
            inner.write(Durability::Immediate, |txn| {
                let mut table = txn.open_table(KV).map_err(be)?;
                for (key, value, ttl) in &entries {
                    let exp = kv_expiry(now, *ttl).unwrap_or(0);
                    table.insert(key.as_str(), (exp, &value[..])).map_err(be)?;
                }
                Ok(())
            })
        })
        .await
    }
}

impl Inner {
    /// One write transaction: committed with `durability` when `f` succeeds,
    /// aborted otherwise.
    fn write<T>(
        &self,
        durability: Durability,
        f: impl FnOnce(&WriteTransaction) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.write_if(durability, |txn| f(txn).map(|value| (value, true)))
    }

    /// One write transaction that `f` may also decline: `(value, false)`
    /// aborts it (nothing to commit or fsync) and still returns `value`.
    fn write_if<T>(
        &self,
        durability: Durability,
        f: impl FnOnce(&WriteTransaction) -> Result<(T, bool), StoreError>,
    ) -> Result<T, StoreError> {
        let mut txn = self.db.begin_write().map_err(be)?;
        txn.set_durability(durability);
        match f(&txn) {
            Ok((value, true)) => {
                txn.commit().map_err(be)?;
                Ok(value)
            }
            Ok((value, false)) => {
                txn.abort().map_err(be)?;
                Ok(value)
            }
            Err(err) => {
                txn.abort().map_err(be)?;
                Err(err)
            }
        }
    }

    /// A read-modify-write of one live cache value.
    fn cache_update(
        &self,
        key: &str,
        f: impl FnOnce(Option<&[u8]>) -> Result<Vec<u8>, StoreError>,
    ) -> Result<Vec<u8>, StoreError> {
        let now = time::now_micros();
        let default_exp = self.cache_expiry(now, None);
        self.write(Durability::Immediate, |txn| {
            let mut table = txn.open_table(CACHE).map_err(be)?;
            let current = table
                .get(key)
                .map_err(be)?
                .map(|g| {
                    let (exp, value) = g.value();
                    (exp, value.to_vec())
                })
                .filter(|(exp, _)| is_live(*exp, now));
            let (exp, value) = match current {
                Some((exp, value)) => (exp, f(Some(&value))?),
                None => (default_exp, f(None)?),
            };
            table.insert(key, (exp, &value[..])).map_err(be)?;
            Ok(value)
        })
    }

    fn cache_expiry(&self, now: u64, ttl: Option<Duration>) -> u64 {
        self.config
            .cache
            .effective_ttl(ttl)
            .map_or(0, |d| now.saturating_add(time::duration_micros(d).max(1)))
    }
}

impl Cache for RedbStore {
    fn get<'a>(&'a self, key: &'a str) -> StoreFuture<'a, Option<Bytes>> {
        Box::pin(async move {
            self.inner.config.cache.check_key(key)?;
            let key = key.to_owned();
            self.blocking(move |inner| {
                let now = time::now_micros();
                let txn = inner.db.begin_read().map_err(be)?;
                let table = txn.open_table(CACHE).map_err(be)?;
                Ok(table.get(key.as_str()).map_err(be)?.and_then(|g| {
                    let (exp, value) = g.value();
                    is_live(exp, now).then(|| Bytes::copy_from_slice(value))
                }))
            })
            .await
        })
    }

    fn set<'a>(&'a self, key: &'a str, value: Bytes, ttl: Option<Duration>) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            self.inner.config.cache.check_key(key)?;
            let key = key.to_owned();
            self.blocking(move |inner| {
                let exp = inner.cache_expiry(time::now_micros(), ttl);
                inner.write(Durability::Immediate, |txn| {
                    let mut table = txn.open_table(CACHE).map_err(be)?;
                    table.insert(key.as_str(), (exp, &value[..])).map_err(be)?;
                    Ok(())
                })
            })
            .await
        })
    }

    fn delete<'a>(&'a self, key: &'a str) -> StoreFuture<'a, bool> {
        Box::pin(async move {
            self.inner.config.cache.check_key(key)?;
            let key = key.to_owned();
            self.blocking(move |inner| {
                let now = time::now_micros();
                inner.write(Durability::Immediate, |txn| {
                    let mut table = txn.open_table(CACHE).map_err(be)?;
                    let removed = table.remove(key.as_str()).map_err(be)?;
                    Ok(removed.is_some_and(|g| is_live(g.value().0, now)))
                })
            })
            .await
        })
    }

    fn exists<'a>(&'a self, key: &'a str) -> StoreFuture<'a, bool> {
        Box::pin(async move { Ok(Cache::get(self, key).await?.is_some()) })
    }

    fn clear(&self) -> StoreFuture<'_, ()> {
        Box::pin(async move {
            self.blocking(|inner| {
                inner.write(Durability::Immediate, |txn| {
                    txn.delete_table(CACHE).map_err(be)?;
                    txn.open_table(CACHE).map_err(be)?;
                    Ok(())
                })
            })
            .await
        })
    }

    fn incr<'a>(&'a self, key: &'a str, delta: i64) -> StoreFuture<'a, i64> {
        Box::pin(async move {
            self.inner.config.cache.check_key(key)?;
            let key = key.to_owned();
            self.blocking(move |inner| {
                let mut result = 0;
                inner.cache_update(&key, |current| {
                    let base = current.map_or(Ok(0), parse_counter)?;
                    result = base.checked_add(delta).ok_or(StoreError::NotInteger)?;
                    Ok(result.to_string().into_bytes())
                })?;
                Ok(result)
            })
            .await
        })
    }

    fn append<'a>(&'a self, key: &'a str, suffix: Bytes) -> StoreFuture<'a, u64> {
        Box::pin(async move {
            self.inner.config.cache.check_key(key)?;
            let key = key.to_owned();
            self.blocking(move |inner| {
                let value = inner.cache_update(&key, |current| {
                    let mut joined = current.map(<[u8]>::to_vec).unwrap_or_default();
                    joined.extend_from_slice(&suffix);
                    Ok(joined)
                })?;
                Ok(value.len() as u64)
            })
            .await
        })
    }
}

impl Kv for RedbStore {
    fn get<'a>(&'a self, key: &'a str) -> StoreFuture<'a, Bytes> {
        Box::pin(async move {
            validate_key(key, self.inner.config.cache.max_key_len)?;
            let key = key.to_owned();
            self.blocking(move |inner| {
                let now = time::now_micros();
                let retention = time::duration_micros(inner.config.kv_expired_retention);
                let txn = inner.db.begin_read().map_err(be)?;
                let table = txn.open_table(KV).map_err(be)?;
                let Some(guard) = table.get(key.as_str()).map_err(be)? else {
                    return Err(StoreError::NotFound);
                };
                let (exp, value) = guard.value();
                kv_read(exp, now, retention).map(|()| Bytes::copy_from_slice(value))
            })
            .await
        })
    }

    fn set<'a>(&'a self, key: &'a str, value: Bytes, ttl: Option<Duration>) -> StoreFuture<'a, ()> {
        // `kv_set_many` validates the key.
        Box::pin(self.kv_set_many(vec![(key.to_owned(), value, ttl)]))
    }

    fn delete<'a>(&'a self, key: &'a str) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            validate_key(key, self.inner.config.cache.max_key_len)?;
            let key = key.to_owned();
            self.blocking(move |inner| {
                let now = time::now_micros();
                let live = inner.write(Durability::Immediate, |txn| {
                    let mut table = txn.open_table(KV).map_err(be)?;
                    let removed = table.remove(key.as_str()).map_err(be)?;
                    Ok(removed.is_some_and(|g| is_live(g.value().0, now)))
                })?;
                if live {
                    Ok(())
                } else {
                    Err(StoreError::NotFound)
                }
            })
            .await
        })
    }

    fn exists<'a>(&'a self, key: &'a str) -> StoreFuture<'a, bool> {
        Box::pin(async move {
            match Kv::get(self, key).await {
                Ok(_) => Ok(true),
                Err(StoreError::NotFound | StoreError::Expired) => Ok(false),
                Err(err) => Err(err),
            }
        })
    }

    fn keys<'a>(
        &'a self,
        prefix: &'a str,
        after: Option<&'a str>,
        limit: usize,
    ) -> StoreFuture<'a, Vec<String>> {
        Box::pin(async move {
            let prefix = prefix.to_owned();
            let after = after.map(str::to_owned);
            let limit = if limit == 0 { usize::MAX } else { limit };
            self.blocking(move |inner| {
                let now = time::now_micros();
                let txn = inner.db.begin_read().map_err(be)?;
                let table = txn.open_table(KV).map_err(be)?;
                let start = match &after {
                    Some(a) if a.as_str() >= prefix.as_str() => a.as_str(),
                    _ => prefix.as_str(),
                };
                let mut keys = Vec::new();
                for row in table.range(start..).map_err(be)? {
                    let (k, v) = row.map_err(be)?;
                    let k = k.value();
                    if !k.starts_with(prefix.as_str()) || keys.len() >= limit {
                        break;
                    }
                    if Some(k) == after.as_deref() || !is_live(v.value().0, now) {
                        continue;
                    }
                    keys.push(k.to_owned());
                }
                Ok(keys)
            })
            .await
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
            validate_key(key, self.inner.config.cache.max_key_len)?;
            let key = key.to_owned();
            let expected = expected.map(<[u8]>::to_vec);
            self.blocking(move |inner| {
                let now = time::now_micros();
                inner.write_if(Durability::Immediate, |txn| {
                    let mut table = txn.open_table(KV).map_err(be)?;
                    let matches = {
                        let current = table.get(key.as_str()).map_err(be)?;
                        let live = current
                            .as_ref()
                            .map(|g| g.value())
                            .filter(|(exp, _)| is_live(*exp, now))
                            .map(|(_, v)| v);
                        live == expected.as_deref()
                    };
                    if matches {
                        let exp = kv_expiry(now, ttl).unwrap_or(0);
                        table.insert(key.as_str(), (exp, &new[..])).map_err(be)?;
                    }
                    Ok((matches, matches))
                })
            })
            .await
        })
    }
}

const STATUS_IN_PROGRESS: u8 = 0;
const STATUS_COMPLETED: u8 = 1;

fn decode_record(key: &str, row: IdemRow<'_>) -> Result<IdempotencyRecord, StoreError> {
    let (hash, status, created, updated, expires, response) = row;
    let status = match status {
        STATUS_IN_PROGRESS => IdempotencyStatus::InProgress,
        STATUS_COMPLETED => IdempotencyStatus::Completed,
        other => {
            return Err(StoreError::Corrupt(
                format!("idempotency status {other}").into(),
            ));
        }
    };
    Ok(IdempotencyRecord {
        key: key.to_owned(),
        request_hash: hash.to_owned(),
        status,
        response: response.map(Bytes::copy_from_slice),
        created_at: time::from_micros(created),
        updated_at: time::from_micros(updated),
        expires_at: time::from_micros(expires),
    })
}

fn status_code(status: IdempotencyStatus) -> u8 {
    match status {
        IdempotencyStatus::InProgress => STATUS_IN_PROGRESS,
        IdempotencyStatus::Completed => STATUS_COMPLETED,
    }
}

impl IdempotencyStore for RedbStore {
    fn get<'a>(&'a self, key: &'a str) -> StoreFuture<'a, Option<IdempotencyRecord>> {
        Box::pin(async move {
            validate_idempotency_key(key)?;
            let key = key.to_owned();
            self.blocking(move |inner| {
                let now = time::now_micros();
                let txn = inner.db.begin_read().map_err(be)?;
                let table = txn.open_table(IDEMPOTENCY).map_err(be)?;
                let Some(guard) = table.get(key.as_str()).map_err(be)? else {
                    return Ok(None);
                };
                let row = guard.value();
                if row.4 <= now {
                    return Ok(None);
                }
                decode_record(&key, row).map(Some)
            })
            .await
        })
    }

    fn put_if_absent<'a>(&'a self, record: &'a IdempotencyRecord) -> StoreFuture<'a, bool> {
        Box::pin(async move {
            check_candidate(record, SystemTime::now())?;
            let record = record.clone();
            self.blocking(move |inner| {
                let now = time::now_micros();
                inner.write_if(Durability::Immediate, |txn| {
                    let mut table = txn.open_table(IDEMPOTENCY).map_err(be)?;
                    let taken = table
                        .get(record.key.as_str())
                        .map_err(be)?
                        .is_some_and(|g| g.value().4 > now);
                    if taken {
                        return Ok((false, false));
                    }
                    let row: IdemRow<'_> = (
                        &record.request_hash,
                        status_code(record.status),
                        time::micros(record.created_at),
                        time::micros(record.updated_at),
                        time::micros(record.expires_at),
                        record.response.as_deref(),
                    );
                    table.insert(record.key.as_str(), row).map_err(be)?;
                    Ok((true, true))
                })
            })
            .await
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
            let key = key.to_owned();
            let request_hash = request_hash.to_owned();
            self.blocking(move |inner| {
                let now = SystemTime::now();
                let now_us = time::micros(now);
                inner.write(Durability::Immediate, |txn| {
                    let mut table = txn.open_table(IDEMPOTENCY).map_err(be)?;
                    let record = {
                        let Some(guard) = table.get(key.as_str()).map_err(be)? else {
                            return Err(StoreError::NotFound);
                        };
                        let row = guard.value();
                        if row.4 <= now_us {
                            return Err(StoreError::NotFound);
                        }
                        decode_record(&key, row)?
                    };
                    validate_completion_at(&record, &request_hash, now)?;
                    let row: IdemRow<'_> = (
                        &record.request_hash,
                        STATUS_COMPLETED,
                        time::micros(record.created_at),
                        now_us,
                        time::micros(record.expires_at),
                        Some(&response[..]),
                    );
                    table.insert(key.as_str(), row).map_err(be)?;
                    Ok(())
                })
            })
            .await
        })
    }

    fn delete<'a>(&'a self, key: &'a str) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            validate_idempotency_key(key)?;
            let key = key.to_owned();
            self.blocking(move |inner| {
                let now = time::now_micros();
                let live = inner.write(Durability::Immediate, |txn| {
                    let mut table = txn.open_table(IDEMPOTENCY).map_err(be)?;
                    let removed = table.remove(key.as_str()).map_err(be)?;
                    Ok(removed.is_some_and(|g| g.value().4 > now))
                })?;
                if live {
                    Ok(())
                } else {
                    Err(StoreError::NotFound)
                }
            })
            .await
        })
    }
}

impl RateLimitStore for RedbStore {
    fn take<'a>(
        &'a self,
        key: &'a str,
        rate_per_second: f64,
        burst: u32,
        now: SystemTime,
    ) -> StoreFuture<'a, Decision> {
        Box::pin(async move {
            validate_key(key, self.inner.config.cache.max_key_len)?;
            let gcra = Gcra::new(rate_per_second, burst)?;
            let key = key.to_owned();
            let now = time::micros(now);
            self.blocking(move |inner| {
                inner.write_if(Durability::Eventual, |txn| {
                    let mut table = txn.open_table(RATE).map_err(be)?;
                    let tat = table.get(key.as_str()).map_err(be)?.map(|g| g.value());
                    let (decision, new_tat) = gcra.decide(tat, now);
                    // A denial changes nothing: abort rather than commit.
                    if let Some(t) = new_tat {
                        table.insert(key.as_str(), t).map_err(be)?;
                    }
                    Ok((decision, new_tat.is_some()))
                })
            })
            .await
        })
    }
}
