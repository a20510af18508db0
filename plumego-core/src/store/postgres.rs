//! The relational engine (feature `store-postgres`): KV entries and
//! idempotency records in PostgreSQL, for services that already run a
//! database and want these records durable, shared and backed up with it.
//!
//! Connections come from a [deadpool-postgres](https://docs.rs/deadpool-postgres)
//! pool: a `tokio_postgres::Client` is one connection that never reconnects,
//! and the pool adds reuse, a bounded size, a wait timeout and replacement of
//! broken connections, at the cost of one small tokio-native dependency.
//! Statements are prepared once per connection.
//!
//! The schema ships in the crate as `migrations/0001_store.sql`;
//! [`PostgresStore::migrate`] applies it. Every mutation is one statement or
//! one transaction, so instances sharing a database can never both claim an
//! idempotency key. Connections are plaintext (`NoTls`); for TLS build a pool
//! with your connector and use [`PostgresStore::from_pool`].
//!
//! ```no_run
//! use plumego_core::store::{Kv, postgres::{PostgresConfig, PostgresStore}};
//!
//! # async fn run() -> Result<(), plumego_core::store::StoreError> {
//! let store = PostgresStore::connect(PostgresConfig::new("postgres://postgres@127.0.0.1:5432/test", "billing")?).await?;
//! store.migrate().await?;
//! store.set("invoice:1", "{}".into(), None).await?;
//! # Ok(()) }
//! ```

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, RecyclingMethod, Runtime};
use tokio_postgres::types::ToSql;
use tokio_postgres::{NoTls, Row};

use super::idempotency::{check_candidate, check_completion_args};
use super::kv::expired_error;
use super::{
    DEFAULT_EXPIRED_RETENTION, IdempotencyRecord, IdempotencyStatus, IdempotencyStore, Kv,
    MAX_KEY_LEN, StoreError, StoreFuture, time, validate_completion_at, validate_idempotency_key,
    validate_key,
};

/// Statement parameters.
type Params<'a> = [&'a (dyn ToSql + Sync)];

/// The migrations shipped with the crate, in order: `(version, SQL)`.
pub const MIGRATIONS: &[(i32, &str)] = &[(1, include_str!("../../migrations/0001_store.sql"))];

/// The advisory-lock id `migrate` holds, so concurrent instances migrate once.
const MIGRATION_LOCK: i64 = 0x706c_756d_6567_6f01;

/// Options of [`PostgresStore`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostgresConfig {
    /// The connection URL, e.g. `postgres://user@host:5432/db`.
    pub url: String,
    /// The application's namespace: rows of other namespaces are invisible.
    pub namespace: String,
    /// The most pooled connections. Default 8.
    pub pool_size: usize,
    /// The longest wait for a pooled connection (including connecting).
    /// Default 5 s.
    pub connect_timeout: Duration,
    /// The longest KV key in bytes. Default [`MAX_KEY_LEN`].
    pub max_key_len: usize,
    /// How long an expired KV entry reads as `Expired` before
    /// [`PostgresStore::purge_expired`] may delete it. Default
    /// [`DEFAULT_EXPIRED_RETENTION`].
    pub kv_expired_retention: Duration,
    /// How often a background task deletes expired rows; `None` = never.
    /// Default 5 minutes.
    pub cleanup_interval: Option<Duration>,
}

impl PostgresConfig {
    /// Defaults for `url` and `namespace` (non-empty, no control characters,
    /// at most 64 bytes).
    pub fn new(url: impl Into<String>, namespace: impl Into<String>) -> Result<Self, StoreError> {
        let namespace = namespace.into();
        validate_key(&namespace, 64)?;
        Ok(Self {
            url: url.into(),
            namespace,
            pool_size: 8,
            connect_timeout: Duration::from_secs(5),
            max_key_len: MAX_KEY_LEN,
            kv_expired_retention: DEFAULT_EXPIRED_RETENTION,
            cleanup_interval: Some(Duration::from_secs(300)),
        })
    }

    /// Changes the pool size.
    #[must_use]
    pub fn pool_size(mut self, size: usize) -> Self {
        self.pool_size = size.max(1);
        self
    }

    /// Changes the background cleanup interval.
    #[must_use]
    pub fn cleanup_interval(mut self, interval: Option<Duration>) -> Self {
        self.cleanup_interval = interval.filter(|d| !d.is_zero());
        self
    }

    /// Changes how long expired KV entries read as expired.
    #[must_use]
    pub fn kv_expired_retention(mut self, retention: Duration) -> Self {
        self.kv_expired_retention = retention;
        self
    }
}

struct Inner {
    pool: Pool,
    config: PostgresConfig,
}

/// KV and idempotency records in PostgreSQL (see the [module docs](self)).
/// Clones share the pool.
#[derive(Clone)]
pub struct PostgresStore {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStore")
            .field("namespace", &self.inner.config.namespace)
            .finish_non_exhaustive()
    }
}

fn be(err: impl Into<crate::body::BoxError>) -> StoreError {
    StoreError::backend(err)
}

impl PostgresStore {
    /// Builds the pool and checks that one connection can be made, so a
    /// wrong URL or a down server fails here rather than on first use.
    pub async fn connect(config: PostgresConfig) -> Result<Self, StoreError> {
        let pg: tokio_postgres::Config = config.url.parse().map_err(be)?;
        let manager = Manager::from_config(
            pg,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(config.pool_size)
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(config.connect_timeout))
            .create_timeout(Some(config.connect_timeout))
            .build()
            .map_err(be)?;
        let store = Self::from_pool(pool, config);
        drop(store.client().await?);
        Ok(store)
    }

    /// A store over an existing pool (one with a TLS connector, say);
    /// `config.url` and `pool_size` are then ignored. Starts the cleanup task
    /// when called inside a tokio runtime.
    pub fn from_pool(pool: Pool, config: PostgresConfig) -> Self {
        let store = Self {
            inner: Arc::new(Inner { pool, config }),
        };
        if let (Some(every), Ok(_)) = (
            store.inner.config.cleanup_interval,
            tokio::runtime::Handle::try_current(),
        ) {
            super::spawn_sweeper(
                &store.inner,
                every,
                "postgres store: purging expired rows failed",
                |inner| async move { PostgresStore { inner }.purge_expired().await },
            );
        }
        store
    }

    /// The configuration.
    pub fn config(&self) -> &PostgresConfig {
        &self.inner.config
    }

    async fn client(&self) -> Result<Object, StoreError> {
        self.inner.pool.get().await.map_err(be)
    }

    /// Runs `sql` (prepared once per pooled connection) on a pooled
    /// connection; its row, if any.
    async fn query_opt(&self, sql: &str, params: &Params<'_>) -> Result<Option<Row>, StoreError> {
        let client = self.client().await?;
        let stmt = client.prepare_cached(sql).await.map_err(be)?;
        client.query_opt(&stmt, params).await.map_err(be)
    }

    /// As [`query_opt`](Self::query_opt), every row.
    async fn query(&self, sql: &str, params: &Params<'_>) -> Result<Vec<Row>, StoreError> {
        let client = self.client().await?;
        let stmt = client.prepare_cached(sql).await.map_err(be)?;
        client.query(&stmt, params).await.map_err(be)
    }

    /// As [`query_opt`](Self::query_opt), the number of rows changed.
    async fn execute(&self, sql: &str, params: &Params<'_>) -> Result<u64, StoreError> {
        let client = self.client().await?;
        let stmt = client.prepare_cached(sql).await.map_err(be)?;
        client.execute(&stmt, params).await.map_err(be)
    }

    fn ns(&self) -> &str {
        &self.inner.config.namespace
    }

    /// Applies the shipped migrations not yet recorded in
    /// `plumego_schema_migrations`, each in one transaction under an advisory
    /// lock, so concurrent instances (or test processes) migrate exactly once.
    /// Returns the versions applied now.
    pub async fn migrate(&self) -> Result<Vec<i32>, StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(be)?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
            .await
            .map_err(be)?;
        tx.batch_execute(
            "CREATE TABLE IF NOT EXISTS plumego_schema_migrations (
                 version INTEGER PRIMARY KEY,
                 applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
             )",
        )
        .await
        .map_err(be)?;
        let mut applied = Vec::new();
        for (version, sql) in MIGRATIONS {
            let done = tx
                .query_opt(
                    "SELECT 1 FROM plumego_schema_migrations WHERE version = $1",
                    &[version],
                )
                .await
                .map_err(be)?
                .is_some();
            if done {
                continue;
            }
            tx.batch_execute(sql).await.map_err(be)?;
            tx.execute(
                "INSERT INTO plumego_schema_migrations (version) VALUES ($1)",
                &[version],
            )
            .await
            .map_err(be)?;
            applied.push(*version);
        }
        tx.commit().await.map_err(be)?;
        Ok(applied)
    }

    /// Deletes this namespace's expired idempotency records and KV entries
    /// expired longer than the retention; returns how many rows went.
    pub async fn purge_expired(&self) -> Result<u64, StoreError> {
        let client = self.client().await?;
        let now = SystemTime::now();
        let kv_cutoff = now
            .checked_sub(self.inner.config.kv_expired_retention)
            .unwrap_or(SystemTime::UNIX_EPOCH);
        let kv = client
            .execute(
                "DELETE FROM plumego_kv WHERE namespace = $1 AND expires_at <= $2",
                &[&self.ns(), &kv_cutoff],
            )
            .await
            .map_err(be)?;
        let idem = client
            .execute(
                "DELETE FROM plumego_idempotency WHERE namespace = $1 AND expires_at <= $2",
                &[&self.ns(), &now],
            )
            .await
            .map_err(be)?;
        Ok(kv + idem)
    }

    fn check_kv_key(&self, key: &str) -> Result<(), StoreError> {
        validate_key(key, self.inner.config.max_key_len)
    }
}

/// The wall-clock expiry of a KV write with `ttl` at `now`.
fn kv_deadline(now: SystemTime, ttl: Option<Duration>) -> Option<SystemTime> {
    match ttl {
        Some(d) if !d.is_zero() => Some(time::truncate(now + d.max(Duration::from_micros(1)))),
        _ => None,
    }
}

/// Escapes `%`, `_` and `\` for a `LIKE … ESCAPE '\'` prefix pattern.
fn like_prefix(prefix: &str) -> String {
    let mut out = String::with_capacity(prefix.len() + 1);
    for c in prefix.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}

impl Kv for PostgresStore {
    fn get<'a>(&'a self, key: &'a str) -> StoreFuture<'a, Bytes> {
        Box::pin(async move {
            self.check_kv_key(key)?;
            let Some(row) = self
                .query_opt(
                    "SELECT value, expires_at FROM plumego_kv WHERE namespace = $1 AND key = $2",
                    &[&self.ns(), &key],
                )
                .await?
            else {
                return Err(StoreError::NotFound);
            };
            let value: Vec<u8> = row.try_get(0).map_err(be)?;
            let expires_at: Option<SystemTime> = row.try_get(1).map_err(be)?;
            let now = SystemTime::now();
            match expires_at {
                Some(at) if at <= now => Err(expired_error(
                    now.duration_since(at).unwrap_or_default(),
                    self.inner.config.kv_expired_retention,
                )),
                _ => Ok(Bytes::from(value)),
            }
        })
    }

    fn set<'a>(&'a self, key: &'a str, value: Bytes, ttl: Option<Duration>) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            self.check_kv_key(key)?;
            let now = SystemTime::now();
            self.execute(
                "INSERT INTO plumego_kv (namespace, key, value, expires_at, updated_at)
                 VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (namespace, key) DO UPDATE
                 SET value = EXCLUDED.value, expires_at = EXCLUDED.expires_at,
                     updated_at = EXCLUDED.updated_at",
                &[&self.ns(), &key, &&value[..], &kv_deadline(now, ttl), &now],
            )
            .await?;
            Ok(())
        })
    }

    fn delete<'a>(&'a self, key: &'a str) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            self.check_kv_key(key)?;
            let Some(row) = self
                .query_opt(
                    "DELETE FROM plumego_kv WHERE namespace = $1 AND key = $2 RETURNING expires_at",
                    &[&self.ns(), &key],
                )
                .await?
            else {
                return Err(StoreError::NotFound);
            };
            let expires_at: Option<SystemTime> = row.try_get(0).map_err(be)?;
            if expires_at.is_some_and(|at| at <= SystemTime::now()) {
                return Err(StoreError::NotFound);
            }
            Ok(())
        })
    }

    fn exists<'a>(&'a self, key: &'a str) -> StoreFuture<'a, bool> {
        Box::pin(async move {
            self.check_kv_key(key)?;
            let row = self
                .query_opt(
                    "SELECT 1 FROM plumego_kv WHERE namespace = $1 AND key = $2
                     AND (expires_at IS NULL OR expires_at > $3)",
                    &[&self.ns(), &key, &SystemTime::now()],
                )
                .await?;
            Ok(row.is_some())
        })
    }

    fn keys<'a>(
        &'a self,
        prefix: &'a str,
        after: Option<&'a str>,
        limit: usize,
    ) -> StoreFuture<'a, Vec<String>> {
        Box::pin(async move {
            let limit: Option<i64> = (limit > 0).then(|| i64::try_from(limit).unwrap_or(i64::MAX));
            let rows = self
                .query(
                    "SELECT key FROM plumego_kv
                     WHERE namespace = $1 AND key LIKE $2 ESCAPE '\\'
                       AND ($3::text IS NULL OR key > $3)
                       AND (expires_at IS NULL OR expires_at > $4)
                     ORDER BY key LIMIT $5",
                    &[
                        &self.ns(),
                        &like_prefix(prefix),
                        &after,
                        &SystemTime::now(),
                        &limit,
                    ],
                )
                .await?;
            rows.iter()
                .map(|r| r.try_get::<_, String>(0).map_err(be))
                .collect()
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
            self.check_kv_key(key)?;
            let now = SystemTime::now();
            let deadline = kv_deadline(now, ttl);
            // One statement each: the row lock taken by the UPDATE (or the
            // conflict arbiter of the INSERT) makes the comparison and the
            // write atomic under READ COMMITTED.
            let changed = match expected {
                Some(expected) => {
                    self.execute(
                        "UPDATE plumego_kv SET value = $3, expires_at = $4, updated_at = $5
                         WHERE namespace = $1 AND key = $2 AND value = $6
                           AND (expires_at IS NULL OR expires_at > $5)",
                        &[&self.ns(), &key, &&new[..], &deadline, &now, &expected],
                    )
                    .await?
                }
                None => {
                    self.execute(
                        "INSERT INTO plumego_kv (namespace, key, value, expires_at, updated_at)
                         VALUES ($1, $2, $3, $4, $5)
                         ON CONFLICT (namespace, key) DO UPDATE
                         SET value = EXCLUDED.value, expires_at = EXCLUDED.expires_at,
                             updated_at = EXCLUDED.updated_at
                         WHERE plumego_kv.expires_at IS NOT NULL AND plumego_kv.expires_at <= $5",
                        &[&self.ns(), &key, &&new[..], &deadline, &now],
                    )
                    .await?
                }
            };
            Ok(changed == 1)
        })
    }
}

fn decode_record(key: &str, row: &tokio_postgres::Row) -> Result<IdempotencyRecord, StoreError> {
    let status: String = row.try_get("status").map_err(be)?;
    let status = IdempotencyStatus::parse(&status).ok_or_else(|| {
        StoreError::Corrupt(format!("unknown idempotency status {status}").into())
    })?;
    Ok(IdempotencyRecord {
        key: key.to_owned(),
        request_hash: row.try_get("request_hash").map_err(be)?,
        status,
        response: row
            .try_get::<_, Option<Vec<u8>>>("response")
            .map_err(be)?
            .map(Bytes::from),
        created_at: row.try_get("created_at").map_err(be)?,
        updated_at: row.try_get("updated_at").map_err(be)?,
        expires_at: row.try_get("expires_at").map_err(be)?,
    })
}

/// The columns an idempotency record is read from, in `decode_record`'s
/// order; a macro so the queries are built at compile time.
macro_rules! record_columns {
    () => {
        "request_hash, status, response, created_at, updated_at, expires_at"
    };
}

impl IdempotencyStore for PostgresStore {
    fn get<'a>(&'a self, key: &'a str) -> StoreFuture<'a, Option<IdempotencyRecord>> {
        Box::pin(async move {
            validate_idempotency_key(key)?;
            let row = self
                .query_opt(
                    concat!(
                        "SELECT ",
                        record_columns!(),
                        " FROM plumego_idempotency
                         WHERE namespace = $1 AND key = $2 AND expires_at > $3"
                    ),
                    &[&self.ns(), &key, &SystemTime::now()],
                )
                .await?;
            row.map(|r| decode_record(key, &r)).transpose()
        })
    }

    fn put_if_absent<'a>(&'a self, record: &'a IdempotencyRecord) -> StoreFuture<'a, bool> {
        Box::pin(async move {
            let now = SystemTime::now();
            check_candidate(record, now)?;
            // Inserts, or takes over an expired record; a live one is left
            // alone (the conflict's WHERE is false) and 0 rows change.
            let response = record.response.as_deref();
            let inserted = self
                .execute(
                    "INSERT INTO plumego_idempotency
                         (namespace, key, request_hash, status, response, created_at, updated_at, expires_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
                     ON CONFLICT (namespace, key) DO UPDATE
                     SET request_hash = EXCLUDED.request_hash, status = EXCLUDED.status,
                         response = EXCLUDED.response, created_at = EXCLUDED.created_at,
                         updated_at = EXCLUDED.updated_at, expires_at = EXCLUDED.expires_at
                     WHERE plumego_idempotency.expires_at <= $9",
                    &[
                        &self.ns(),
                        &record.key,
                        &record.request_hash,
                        &record.status.as_str(),
                        &response,
                        &record.created_at,
                        &record.updated_at,
                        &record.expires_at,
                        &now,
                    ],
                )
                .await?;
            Ok(inserted == 1)
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
            let mut client = self.client().await?;
            let tx = client.transaction().await.map_err(be)?;
            let now = SystemTime::now();
            let select = tx
                .prepare_cached(concat!(
                    "SELECT ",
                    record_columns!(),
                    " FROM plumego_idempotency
                     WHERE namespace = $1 AND key = $2 AND expires_at > $3 FOR UPDATE"
                ))
                .await
                .map_err(be)?;
            let Some(row) = tx
                .query_opt(&select, &[&self.ns(), &key, &now])
                .await
                .map_err(be)?
            else {
                return Err(StoreError::NotFound);
            };
            let record = decode_record(key, &row)?;
            validate_completion_at(&record, request_hash, now)?;
            let update = tx
                .prepare_cached(
                    "UPDATE plumego_idempotency SET status = 'completed', response = $3, updated_at = $4
                     WHERE namespace = $1 AND key = $2",
                )
                .await
                .map_err(be)?;
            tx.execute(
                &update,
                &[&self.ns(), &key, &&response[..], &time::truncate(now)],
            )
            .await
            .map_err(be)?;
            tx.commit().await.map_err(be)?;
            Ok(())
        })
    }

    fn delete<'a>(&'a self, key: &'a str) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            validate_idempotency_key(key)?;
            let Some(row) = self
                .query_opt(
                    "DELETE FROM plumego_idempotency WHERE namespace = $1 AND key = $2 RETURNING expires_at",
                    &[&self.ns(), &key],
                )
                .await?
            else {
                return Err(StoreError::NotFound);
            };
            let expires_at: SystemTime = row.try_get(0).map_err(be)?;
            if expires_at <= SystemTime::now() {
                return Err(StoreError::NotFound);
            }
            Ok(())
        })
    }
}
