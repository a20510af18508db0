//! The shared engine (feature `store-redis`): every contract on Redis, for
//! services running as several instances.
//!
//! One [`ConnectionManager`] multiplexes every call over a single connection
//! and reconnects on its own after a failure, so the store needs no pool.
//! Every read-modify-write is one Lua script (sent as `EVALSHA` by
//! [`redis::Script`], loaded on first use), so it is atomic across instances:
//! two instances can never both claim an idempotency key, and a rate-limit
//! decision is one round trip. Cache TTLs are Redis TTLs.
//!
//! Keys are `<prefix>:c:<key>` (cache), `{<prefix>}:kv:<key>` plus the index
//! `{<prefix>}:kv` (a sorted set for ordered listing; the hash tag keeps the
//! KV keys on one cluster slot, as the listing script touches many),
//! `<prefix>:i:<key>` (idempotency) and `<prefix>:rl:<key>` (rate limits).
//! The prefix separates applications sharing a server.
//!
//! KV entries are hashes `{v: value, e: expiry µs or 0}`: the expiry is kept
//! beside the value so a read can answer `Expired`, and Redis reclaims the
//! entry [`RedisConfig::kv_expired_retention`] after it expires.
//!
//! ```no_run
//! use plumego_core::store::{Cache, redis::{RedisConfig, RedisStore}};
//!
//! # async fn run() -> Result<(), plumego_core::store::StoreError> {
//! let store = RedisStore::connect(RedisConfig::new("redis://127.0.0.1:6379", "billing")?).await?;
//! store.set("rates", "{}".into(), None).await?;
//! # Ok(()) }
//! ```

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{Script, Value};

use super::idempotency::{check_candidate, check_completion_args};
use super::kv::{is_live, kv_expiry, kv_read};
use super::{
    Cache, CacheConfig, DEFAULT_EXPIRED_RETENTION, Decision, Gcra, IdempotencyRecord,
    IdempotencyStatus, IdempotencyStore, Kv, RateLimitStore, StoreError, StoreFuture, time,
    validate_idempotency_key, validate_key,
};

/// Options of [`RedisStore`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisConfig {
    /// The server, e.g. `redis://127.0.0.1:6379/0` or `rediss://…`.
    pub url: String,
    /// Prepended to every key so applications can share a server.
    pub prefix: String,
    /// Key length and default TTL of the cache.
    pub cache: CacheConfig,
    /// How long an expired KV entry reads as `Expired` before Redis
    /// reclaims it. Default [`DEFAULT_EXPIRED_RETENTION`].
    pub kv_expired_retention: Duration,
    /// The longest wait for a (re)connection. Default 2 s.
    pub connection_timeout: Duration,
    /// The longest wait for a reply. Default 5 s.
    pub response_timeout: Duration,
}

impl RedisConfig {
    /// Defaults for `url`, with keys under `prefix`. The prefix must be
    /// non-empty, free of control characters, braces (used for the hash tag)
    /// and at most 64 bytes.
    pub fn new(url: impl Into<String>, prefix: impl Into<String>) -> Result<Self, StoreError> {
        let prefix = prefix.into();
        validate_key(&prefix, 64)?;
        if prefix.contains(['{', '}']) {
            return Err(StoreError::InvalidArgument(
                "the prefix may not contain braces".into(),
            ));
        }
        Ok(Self {
            url: url.into(),
            prefix,
            cache: CacheConfig::default(),
            kv_expired_retention: DEFAULT_EXPIRED_RETENTION,
            connection_timeout: Duration::from_secs(2),
            response_timeout: Duration::from_secs(5),
        })
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
}

/// The Lua scripts, compiled once per store.
struct Scripts {
    incr: Script,
    append: Script,
    kv_set: Script,
    kv_delete: Script,
    kv_keys: Script,
    kv_cas: Script,
    idem_put: Script,
    idem_complete: Script,
    idem_delete: Script,
    rate_take: Script,
}

/// `{status, value}`: status 0 when the value is not an integer or INCRBY
/// would overflow (Redis refuses both); a new key gets the default TTL.
const INCR: &str = r"
local existed = redis.call('EXISTS', KEYS[1])
local n = redis.pcall('INCRBY', KEYS[1], ARGV[1])
if type(n) == 'table' and n.err then return {0, 0} end
if existed == 0 and ARGV[2] ~= '0' then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return {1, n}
";

const APPEND: &str = r"
local existed = redis.call('EXISTS', KEYS[1])
local n = redis.call('APPEND', KEYS[1], ARGV[1])
if existed == 0 and ARGV[2] ~= '0' then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return n
";

/// KEYS: entry, index. ARGV: key, value, expiry µs (0 = never), reclaim-at
/// ms (0 = never).
const KV_SET: &str = r"
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'v', ARGV[2], 'e', ARGV[3])
if ARGV[4] ~= '0' then redis.call('PEXPIREAT', KEYS[1], ARGV[4]) end
redis.call('ZADD', KEYS[2], 0, ARGV[1])
return 1
";

/// KEYS: entry, index. ARGV: key, now µs. 1 when a live entry was removed.
const KV_DELETE: &str = r"
local e = redis.call('HGET', KEYS[1], 'e')
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
if not e then return 0 end
if e ~= '0' and tonumber(e) <= tonumber(ARGV[2]) then return 0 end
return 1
";

/// KEYS: index. ARGV: entry key prefix, lex min, lex max, limit (0 = all),
/// now µs. Walks the index in byte order, drops members whose entry Redis has
/// reclaimed, skips expired ones.
const KV_KEYS: &str = r"
local out = {}
local min = ARGV[2]
local limit = tonumber(ARGV[4])
local now = tonumber(ARGV[5])
while true do
  local batch = redis.call('ZRANGEBYLEX', KEYS[1], min, ARGV[3], 'LIMIT', 0, 256)
  for _, m in ipairs(batch) do
    local e = redis.call('HGET', ARGV[1] .. m, 'e')
    if not e then
      redis.call('ZREM', KEYS[1], m)
    elseif e == '0' or tonumber(e) > now then
      out[#out + 1] = m
      if limit > 0 and #out >= limit then return out end
    end
  end
  if #batch < 256 then return out end
  min = '(' .. batch[#batch]
end
";

/// KEYS: entry, index. ARGV: key, expect a value ('1') or absence ('0'),
/// expected value, new value, expiry µs, reclaim-at ms, now µs.
const KV_CAS: &str = r"
local cur = redis.call('HMGET', KEYS[1], 'v', 'e')
local live = cur[1] and cur[2] and (cur[2] == '0' or tonumber(cur[2]) > tonumber(ARGV[7]))
if ARGV[2] == '1' then
  if not live or cur[1] ~= ARGV[3] then return 0 end
elseif live then
  return 0
end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'v', ARGV[4], 'e', ARGV[5])
if ARGV[6] ~= '0' then redis.call('PEXPIREAT', KEYS[1], ARGV[6]) end
redis.call('ZADD', KEYS[2], 0, ARGV[1])
return 1
";

/// KEYS: record. ARGV: now µs, hash, status, created, updated, expires (µs),
/// has response, response, expire-at ms.
const IDEM_PUT: &str = r"
local e = redis.call('HGET', KEYS[1], 'e')
if e and tonumber(e) > tonumber(ARGV[1]) then return 0 end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'h', ARGV[2], 's', ARGV[3], 'c', ARGV[4], 'u', ARGV[5], 'e', ARGV[6])
if ARGV[7] == '1' then redis.call('HSET', KEYS[1], 'r', ARGV[8]) end
redis.call('PEXPIREAT', KEYS[1], ARGV[9])
return 1
";

/// KEYS: record. ARGV: now µs, hash, response. The checks of
/// `validate_completion_at`, in its order, after the existence check.
const IDEM_COMPLETE: &str = r"
local cur = redis.call('HMGET', KEYS[1], 'h', 's', 'e')
if not cur[1] or not cur[3] or tonumber(cur[3]) <= tonumber(ARGV[1]) then return 'not_found' end
if cur[1] ~= ARGV[2] then return 'mismatch' end
if cur[2] == 'completed' then return 'completed' end
redis.call('HSET', KEYS[1], 's', 'completed', 'r', ARGV[3], 'u', ARGV[1])
return 'ok'
";

/// KEYS: record. ARGV: now µs. 1 when a live record was removed.
const IDEM_DELETE: &str = r"
local e = redis.call('HGET', KEYS[1], 'e')
redis.call('DEL', KEYS[1])
if not e or tonumber(e) <= tonumber(ARGV[1]) then return 0 end
return 1
";

/// KEYS: state. ARGV: now, interval, tolerance (µs). The same integer steps
/// as `Gcra::decide`; returns {allowed, remaining, reset_after, retry_after}.
const RATE_TAKE: &str = r"
local now = tonumber(ARGV[1])
local interval = tonumber(ARGV[2])
local tolerance = tonumber(ARGV[3])
local tat = now
local stored = redis.call('GET', KEYS[1])
if stored then tat = math.max(tonumber(stored), now) end
local new_tat = tat + interval
local allow_at = new_tat - tolerance
if now < allow_at then return {0, 0, tat - now, allow_at - now} end
local ttl = math.max(1, math.ceil((new_tat - now) / 1000))
redis.call('SET', KEYS[1], string.format('%.0f', new_tat), 'PX', ttl)
return {1, math.floor((now + tolerance - new_tat) / interval), new_tat - now, 0}
";

struct Inner {
    conn: ConnectionManager,
    config: RedisConfig,
    scripts: Scripts,
    /// Derived from the configuration once, not per call.
    kv_prefix: String,
    kv_index: String,
    default_ttl_ms: u64,
    kv_retention_us: u64,
}

/// Every store contract on Redis (see the [module docs](self)). Clones share
/// the connection.
#[derive(Clone)]
pub struct RedisStore {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("prefix", &self.inner.config.prefix)
            .finish_non_exhaustive()
    }
}

fn be(err: redis::RedisError) -> StoreError {
    StoreError::backend(err)
}

impl RedisStore {
    /// Connects (failing if the server cannot be reached within the
    /// connection timeout and a few retries).
    pub async fn connect(config: RedisConfig) -> Result<Self, StoreError> {
        let client = redis::Client::open(config.url.as_str()).map_err(be)?;
        let manager_config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(config.connection_timeout))
            .set_response_timeout(Some(config.response_timeout))
            .set_number_of_retries(2);
        let conn = ConnectionManager::new_with_config(client, manager_config)
            .await
            .map_err(be)?;
        Ok(Self {
            inner: Arc::new(Inner {
                conn,
                kv_prefix: format!("{{{}}}:kv:", config.prefix),
                kv_index: format!("{{{}}}:kv", config.prefix),
                default_ttl_ms: config.cache.default_ttl.map_or(0, ttl_ms),
                kv_retention_us: time::duration_micros(config.kv_expired_retention),
                config,
                scripts: Scripts {
                    incr: Script::new(INCR),
                    append: Script::new(APPEND),
                    kv_set: Script::new(KV_SET),
                    kv_delete: Script::new(KV_DELETE),
                    kv_keys: Script::new(KV_KEYS),
                    kv_cas: Script::new(KV_CAS),
                    idem_put: Script::new(IDEM_PUT),
                    idem_complete: Script::new(IDEM_COMPLETE),
                    idem_delete: Script::new(IDEM_DELETE),
                    rate_take: Script::new(RATE_TAKE),
                },
            }),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &RedisConfig {
        &self.inner.config
    }

    /// Checks the connection (`PING`), for health checks.
    pub async fn ping(&self) -> Result<(), StoreError> {
        let mut conn = self.conn();
        redis::cmd("PING")
            .query_async::<String>(&mut conn)
            .await
            .map_err(be)?;
        Ok(())
    }

    fn conn(&self) -> ConnectionManager {
        self.inner.conn.clone()
    }

    fn cache_key(&self, key: &str) -> Result<String, StoreError> {
        self.inner.config.cache.check_key(key)?;
        Ok(format!("{}:c:{key}", self.inner.config.prefix))
    }

    fn kv_key(&self, key: &str) -> Result<String, StoreError> {
        validate_key(key, self.inner.config.cache.max_key_len)?;
        Ok(format!("{}{key}", self.inner.kv_prefix))
    }

    fn idem_key(&self, key: &str) -> Result<String, StoreError> {
        validate_idempotency_key(key)?;
        Ok(format!("{}:i:{key}", self.inner.config.prefix))
    }

    /// The expiry (µs, 0 = never) and reclaim time (ms, 0 = never) of a KV
    /// write with `ttl` now.
    fn kv_times(&self, ttl: Option<Duration>) -> (u64, u64) {
        match kv_expiry(time::now_micros(), ttl) {
            Some(exp) => (exp, ms_ceil(exp.saturating_add(self.inner.kv_retention_us))),
            None => (0, 0),
        }
    }
}

/// A reclaim or expiry deadline rounded up to whole milliseconds.
fn ms_ceil(us: u64) -> u64 {
    us.div_ceil(1000)
}

/// A TTL in whole milliseconds, at least 1 (Redis reads 0 as "none").
fn ttl_ms(ttl: Duration) -> u64 {
    u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1)
}

impl Cache for RedisStore {
    fn get<'a>(&'a self, key: &'a str) -> StoreFuture<'a, Option<Bytes>> {
        Box::pin(async move {
            let key = self.cache_key(key)?;
            let value: Option<Vec<u8>> = redis::cmd("GET")
                .arg(&key)
                .query_async(&mut self.conn())
                .await
                .map_err(be)?;
            Ok(value.map(Bytes::from))
        })
    }

    fn set<'a>(&'a self, key: &'a str, value: Bytes, ttl: Option<Duration>) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let key = self.cache_key(key)?;
            let mut cmd = redis::cmd("SET");
            cmd.arg(&key).arg(&value[..]);
            if let Some(ttl) = self.inner.config.cache.effective_ttl(ttl) {
                cmd.arg("PX").arg(ttl_ms(ttl));
            }
            cmd.query_async::<()>(&mut self.conn()).await.map_err(be)
        })
    }

    fn delete<'a>(&'a self, key: &'a str) -> StoreFuture<'a, bool> {
        Box::pin(async move {
            let key = self.cache_key(key)?;
            let removed: u64 = redis::cmd("DEL")
                .arg(&key)
                .query_async(&mut self.conn())
                .await
                .map_err(be)?;
            Ok(removed > 0)
        })
    }

    fn exists<'a>(&'a self, key: &'a str) -> StoreFuture<'a, bool> {
        Box::pin(async move {
            let key = self.cache_key(key)?;
            let n: u64 = redis::cmd("EXISTS")
                .arg(&key)
                .query_async(&mut self.conn())
                .await
                .map_err(be)?;
            Ok(n > 0)
        })
    }

    fn clear(&self) -> StoreFuture<'_, ()> {
        Box::pin(async move {
            // SCAN is incremental, so clearing a large cache never blocks the
            // server; entries written meanwhile may survive, as with any clear
            // that is not a FLUSHDB.
            let pattern = format!("{}:c:*", glob_escape(&self.inner.config.prefix));
            let mut conn = self.conn();
            let mut cursor: u64 = 0;
            loop {
                let (next, keys): (u64, Vec<Vec<u8>>) = redis::cmd("SCAN")
                    .arg(cursor)
                    .arg("MATCH")
                    .arg(&pattern)
                    .arg("COUNT")
                    .arg(500)
                    .query_async(&mut conn)
                    .await
                    .map_err(be)?;
                if !keys.is_empty() {
                    redis::cmd("UNLINK")
                        .arg(&keys)
                        .query_async::<()>(&mut conn)
                        .await
                        .map_err(be)?;
                }
                if next == 0 {
                    return Ok(());
                }
                cursor = next;
            }
        })
    }

    fn incr<'a>(&'a self, key: &'a str, delta: i64) -> StoreFuture<'a, i64> {
        Box::pin(async move {
            let key = self.cache_key(key)?;
            let (ok, value): (i64, i64) = self
                .inner
                .scripts
                .incr
                .key(&key)
                .arg(delta)
                .arg(self.inner.default_ttl_ms)
                .invoke_async(&mut self.conn())
                .await
                .map_err(be)?;
            if ok == 1 {
                Ok(value)
            } else {
                Err(StoreError::NotInteger)
            }
        })
    }

    fn append<'a>(&'a self, key: &'a str, suffix: Bytes) -> StoreFuture<'a, u64> {
        Box::pin(async move {
            let key = self.cache_key(key)?;
            self.inner
                .scripts
                .append
                .key(&key)
                .arg(&suffix[..])
                .arg(self.inner.default_ttl_ms)
                .invoke_async(&mut self.conn())
                .await
                .map_err(be)
        })
    }
}

/// Escapes glob metacharacters for `SCAN MATCH`.
fn glob_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn parse_u64(raw: &[u8]) -> Result<u64, StoreError> {
    std::str::from_utf8(raw)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or(StoreError::Corrupt(
            "a stored timestamp is not a number".into(),
        ))
}

impl Kv for RedisStore {
    fn get<'a>(&'a self, key: &'a str) -> StoreFuture<'a, Bytes> {
        Box::pin(async move {
            let entry = self.kv_key(key)?;
            let (value, exp): (Option<Vec<u8>>, Option<Vec<u8>>) = redis::cmd("HMGET")
                .arg(&entry)
                .arg("v")
                .arg("e")
                .query_async(&mut self.conn())
                .await
                .map_err(be)?;
            let (Some(value), Some(exp)) = (value, exp) else {
                return Err(StoreError::NotFound);
            };
            let exp = parse_u64(&exp)?;
            kv_read(exp, time::now_micros(), self.inner.kv_retention_us)
                .map(|()| Bytes::from(value))
        })
    }

    fn set<'a>(&'a self, key: &'a str, value: Bytes, ttl: Option<Duration>) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let entry = self.kv_key(key)?;
            let (exp, reclaim) = self.kv_times(ttl);
            self.inner
                .scripts
                .kv_set
                .key(&entry)
                .key(&self.inner.kv_index)
                .arg(key)
                .arg(&value[..])
                .arg(exp)
                .arg(reclaim)
                .invoke_async::<i64>(&mut self.conn())
                .await
                .map_err(be)?;
            Ok(())
        })
    }

    fn delete<'a>(&'a self, key: &'a str) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let entry = self.kv_key(key)?;
            let live: i64 = self
                .inner
                .scripts
                .kv_delete
                .key(&entry)
                .key(&self.inner.kv_index)
                .arg(key)
                .arg(time::now_micros())
                .invoke_async(&mut self.conn())
                .await
                .map_err(be)?;
            if live == 1 {
                Ok(())
            } else {
                Err(StoreError::NotFound)
            }
        })
    }

    fn exists<'a>(&'a self, key: &'a str) -> StoreFuture<'a, bool> {
        Box::pin(async move {
            let entry = self.kv_key(key)?;
            let exp: Option<Vec<u8>> = redis::cmd("HGET")
                .arg(&entry)
                .arg("e")
                .query_async(&mut self.conn())
                .await
                .map_err(be)?;
            match exp {
                None => Ok(false),
                Some(raw) => {
                    let exp = parse_u64(&raw)?;
                    Ok(is_live(exp, time::now_micros()))
                }
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
            let min: Vec<u8> = match after {
                Some(a) if a >= prefix => [b"(", a.as_bytes()].concat(),
                _ if prefix.is_empty() => b"-".to_vec(),
                _ => [b"[", prefix.as_bytes()].concat(),
            };
            // No key holds 0xFF (it never occurs in UTF-8), so every key
            // starting with `prefix` sorts before `prefix` + 0xFF.
            let max: Vec<u8> = if prefix.is_empty() {
                b"+".to_vec()
            } else {
                [b"(", prefix.as_bytes(), b"\xff"].concat()
            };
            let keys: Vec<String> = self
                .inner
                .scripts
                .kv_keys
                .key(&self.inner.kv_index)
                .arg(&self.inner.kv_prefix)
                .arg(min)
                .arg(max)
                .arg(limit)
                .arg(time::now_micros())
                .invoke_async(&mut self.conn())
                .await
                .map_err(be)?;
            Ok(keys)
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
            let entry = self.kv_key(key)?;
            let (exp, reclaim) = self.kv_times(ttl);
            let swapped: i64 = self
                .inner
                .scripts
                .kv_cas
                .key(&entry)
                .key(&self.inner.kv_index)
                .arg(key)
                .arg(if expected.is_some() { "1" } else { "0" })
                .arg(expected.unwrap_or_default())
                .arg(&new[..])
                .arg(exp)
                .arg(reclaim)
                .arg(time::now_micros())
                .invoke_async(&mut self.conn())
                .await
                .map_err(be)?;
            Ok(swapped == 1)
        })
    }
}

fn decode_record(
    key: &str,
    mut fields: HashMap<String, Vec<u8>>,
) -> Result<IdempotencyRecord, StoreError> {
    let mut take = |name: &str| {
        fields.remove(name).ok_or_else(|| {
            StoreError::Corrupt(format!("idempotency field {name} is missing").into())
        })
    };
    let request_hash = String::from_utf8(take("h")?)
        .map_err(|_| StoreError::Corrupt("idempotency hash is not UTF-8".into()))?;
    let status = std::str::from_utf8(&take("s")?)
        .ok()
        .and_then(IdempotencyStatus::parse)
        .ok_or(StoreError::Corrupt("unknown idempotency status".into()))?;
    let created_at = time::from_micros(parse_u64(&take("c")?)?);
    let updated_at = time::from_micros(parse_u64(&take("u")?)?);
    let expires_at = time::from_micros(parse_u64(&take("e")?)?);
    Ok(IdempotencyRecord {
        key: key.to_owned(),
        request_hash,
        status,
        response: fields.remove("r").map(Bytes::from),
        created_at,
        updated_at,
        expires_at,
    })
}

impl IdempotencyStore for RedisStore {
    fn get<'a>(&'a self, key: &'a str) -> StoreFuture<'a, Option<IdempotencyRecord>> {
        Box::pin(async move {
            let rkey = self.idem_key(key)?;
            let fields: HashMap<String, Vec<u8>> = redis::cmd("HGETALL")
                .arg(&rkey)
                .query_async(&mut self.conn())
                .await
                .map_err(be)?;
            if fields.is_empty() {
                return Ok(None);
            }
            let record = decode_record(key, fields)?;
            Ok((!record.is_expired_at(SystemTime::now())).then_some(record))
        })
    }

    fn put_if_absent<'a>(&'a self, record: &'a IdempotencyRecord) -> StoreFuture<'a, bool> {
        Box::pin(async move {
            check_candidate(record, SystemTime::now())?;
            let rkey = self.idem_key(&record.key)?;
            let expires = time::micros(record.expires_at);
            let inserted: i64 = self
                .inner
                .scripts
                .idem_put
                .key(&rkey)
                .arg(time::now_micros())
                .arg(&record.request_hash)
                .arg(record.status.as_str())
                .arg(time::micros(record.created_at))
                .arg(time::micros(record.updated_at))
                .arg(expires)
                .arg(if record.response.is_some() { "1" } else { "0" })
                .arg(record.response.as_deref().unwrap_or_default())
                .arg(ms_ceil(expires))
                .invoke_async(&mut self.conn())
                .await
                .map_err(be)?;
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
            let rkey = self.idem_key(key)?;
            let outcome: String = self
                .inner
                .scripts
                .idem_complete
                .key(&rkey)
                .arg(time::now_micros())
                .arg(request_hash)
                .arg(&response[..])
                .invoke_async(&mut self.conn())
                .await
                .map_err(be)?;
            match outcome.as_str() {
                "ok" => Ok(()),
                "not_found" => Err(StoreError::NotFound),
                "mismatch" => Err(StoreError::RequestMismatch),
                "completed" => Err(StoreError::AlreadyCompleted),
                other => Err(StoreError::Corrupt(
                    format!("unexpected script reply {other}").into(),
                )),
            }
        })
    }

    fn delete<'a>(&'a self, key: &'a str) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let rkey = self.idem_key(key)?;
            let live: i64 = self
                .inner
                .scripts
                .idem_delete
                .key(&rkey)
                .arg(time::now_micros())
                .invoke_async(&mut self.conn())
                .await
                .map_err(be)?;
            if live == 1 {
                Ok(())
            } else {
                Err(StoreError::NotFound)
            }
        })
    }
}

impl RateLimitStore for RedisStore {
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
            let rkey = format!("{}:rl:{key}", self.inner.config.prefix);
            let reply: Vec<Value> = self
                .inner
                .scripts
                .rate_take
                .key(&rkey)
                .arg(time::micros(now))
                .arg(gcra.interval_micros())
                .arg(gcra.tolerance_micros())
                .invoke_async(&mut self.conn())
                .await
                .map_err(be)?;
            let num = |i: usize| match reply.get(i) {
                Some(Value::Int(n)) => u64::try_from(*n).map_err(|_| ()),
                _ => Err(()),
            };
            let parsed = (|| Ok::<_, ()>((num(0)?, num(1)?, num(2)?, num(3)?)))();
            let (allowed, remaining, reset, retry) = parsed
                .map_err(|()| StoreError::Corrupt("unexpected rate-limit script reply".into()))?;
            Ok(Decision {
                allowed: allowed == 1,
                remaining: u32::try_from(remaining).unwrap_or(u32::MAX),
                reset_after: Duration::from_micros(reset),
                retry_after: (allowed != 1).then(|| Duration::from_micros(retry)),
            })
        })
    }
}
