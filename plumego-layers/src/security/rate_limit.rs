//! Rate limiting by GCRA, keyed by client IP (default), API key, principal
//! or a function, with per-route quotas and headers on every response.
//!
//! Decisions go through [`plumego_core::store::RateLimitStore`], so the same
//! layer limits one process (with [`MemoryRateLimiter`], the default) or a
//! fleet (with a shared store such as Redis). The in-process limiter is
//! called synchronously: no allocation, no clone of the inner service. The
//! service is `Clone` and shares its state between clones, so it works in
//! axum without `Buffer` (tower's `RateLimit` does not).
//!
//! Every response that went through the limiter carries
//! `X-RateLimit-Limit` (the burst), `X-RateLimit-Remaining`,
//! `X-RateLimit-Reset` (Unix seconds when the bucket is full again), and the
//! IETF `RateLimit-Policy: "default";q=<burst>;w=<seconds>` and
//! `RateLimit: "default";r=<remaining>;t=<seconds>` fields. A denied request
//! gets the 429 envelope (`rate_limited`, `RATE_LIMITED`, `too many
//! requests`, details `limit`, `remaining`, `retry_after` in fractional
//! seconds and `reset_at` in UTC) and `Retry-After` in whole seconds, at
//! least 1.
//!
//! The client is the connection's peer address ([`PeerAddr`], set by the
//! Plumego server). `X-Forwarded-For` is read only when the peer is one of
//! the configured trusted proxies, and then from the right: the first
//! address that is not itself a trusted proxy is the client, so a client
//! cannot choose its own key by sending the header. IPv6 clients are keyed
//! by their /64 by default (one host usually owns a whole /64).
//!
//! Fails closed: an invalid configuration, a request with no key (no peer
//! address: in axum, insert [`PeerAddr`] from `ConnectInfo`, or key by a
//! function), or a store failure answers 503 `RATE_LIMIT_UNAVAILABLE`
//! instead of letting requests through, unless [`RateLimitConfig::fail_open`].
//! Differences from the Go abuse guard: GCRA instead of a token bucket (same
//! limits, one number of state per key), per-route quotas, and the 503
//! rather than a silent 429 for the fail-closed cases.
//!
//! ```
//! use std::time::{Duration, UNIX_EPOCH};
//! use plumego_core::context::PeerAddr;
//! use plumego_layers::security::ManualClock;
//! use plumego_layers::security::rate_limit::{Quota, RateLimitConfig, RateLimitLayer};
//! use tower::{ServiceBuilder, ServiceExt};
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let clock = ManualClock::new(UNIX_EPOCH + Duration::from_secs(1_000));
//! let svc = ServiceBuilder::new()
//!     .layer(RateLimitLayer::new(RateLimitConfig::new(Quota::per_second(2)).clock(clock.clone())))
//!     .service_fn(|_req: http::Request<()>| async {
//!         Ok::<_, std::convert::Infallible>(http::Response::new(http_body_util::Empty::<bytes::Bytes>::new()))
//!     });
//! let req = || {
//!     let mut req = http::Request::new(());
//!     req.extensions_mut().insert(PeerAddr("203.0.113.9:5000".parse().unwrap()));
//!     req
//! };
//! let first = svc.clone().oneshot(req()).await.unwrap();
//! assert_eq!(first.headers()["x-ratelimit-remaining"], "1");
//! svc.clone().oneshot(req()).await.unwrap();
//! let third = svc.clone().oneshot(req()).await.unwrap();
//! assert_eq!(third.status(), 429);
//! assert_eq!(third.headers()["retry-after"], "1");
//! clock.advance(Duration::from_millis(500));
//! assert_eq!(svc.oneshot(req()).await.unwrap().status(), 200);
//! # });
//! ```

use std::collections::HashMap;
use std::future::Future;
use std::hash::{BuildHasher, RandomState};
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, ready};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::header::RETRY_AFTER;
use http::{HeaderName, HeaderValue, Request, Response};
use pin_project_lite::pin_project;
use plumego_core::context::{RequestExt, RequestId};
use plumego_core::error::{ApiError, ErrorType};
use plumego_core::health::rfc3339_nanos;
use plumego_core::store::{Decision, Gcra, RateLimitStore, StoreError, StoreFuture, unix_micros};
use tower::{Layer, Service};

use super::clock::{Clock, SystemClock};
use super::view::RequestView;
use crate::body::{ResponseBody, envelope};

pub use plumego_core::context::PeerAddr;

/// `X-RateLimit-Limit`.
pub const X_RATELIMIT_LIMIT: HeaderName = HeaderName::from_static("x-ratelimit-limit");
/// `X-RateLimit-Remaining`.
pub const X_RATELIMIT_REMAINING: HeaderName = HeaderName::from_static("x-ratelimit-remaining");
/// `X-RateLimit-Reset`.
pub const X_RATELIMIT_RESET: HeaderName = HeaderName::from_static("x-ratelimit-reset");
/// The IETF `RateLimit` field.
pub const RATELIMIT: HeaderName = HeaderName::from_static("ratelimit");
/// The IETF `RateLimit-Policy` field.
pub const RATELIMIT_POLICY: HeaderName = HeaderName::from_static("ratelimit-policy");

/// A sustained rate and a burst.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Quota {
    rate_per_second: f64,
    burst: u32,
}

impl Quota {
    /// `rate_per_second` sustained, up to `burst` at once.
    pub fn new(rate_per_second: f64, burst: u32) -> Self {
        Self {
            rate_per_second,
            burst,
        }
    }

    /// `n` a second, bursts of `n`.
    pub fn per_second(n: u32) -> Self {
        Self::new(f64::from(n), n)
    }

    /// `n` a minute, bursts of `n`.
    pub fn per_minute(n: u32) -> Self {
        Self::new(f64::from(n) / 60.0, n)
    }

    /// `n` an hour, bursts of `n`.
    pub fn per_hour(n: u32) -> Self {
        Self::new(f64::from(n) / 3600.0, n)
    }

    /// Changes the burst.
    #[must_use]
    pub fn burst(mut self, burst: u32) -> Self {
        self.burst = burst;
        self
    }

    /// The sustained rate.
    pub fn rate_per_second(&self) -> f64 {
        self.rate_per_second
    }

    /// The burst (the `X-RateLimit-Limit`).
    pub fn burst_size(&self) -> u32 {
        self.burst
    }

    /// The GCRA parameters; an error when the rate is not positive and
    /// finite or the burst is zero.
    pub fn gcra(&self) -> Result<Gcra, StoreError> {
        Gcra::new(self.rate_per_second, self.burst)
    }

    /// The time an empty bucket takes to fill, whole seconds, at least 1
    /// (the `w` of `RateLimit-Policy`).
    fn window_secs(&self) -> u64 {
        let secs = f64::from(self.burst) / self.rate_per_second;
        if secs.is_finite() && secs >= 1.0 {
            secs.ceil() as u64
        } else {
            1
        }
    }
}

impl Default for Quota {
    /// The Go abuse guard's defaults: 100 a second, bursts of 200.
    fn default() -> Self {
        Self::new(100.0, 200)
    }
}

/// Route metadata: a route's own quota (counted in its own buckets), or no
/// limit at all. Read when the layer runs inside Plumego's router.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RouteRateLimit(Option<Quota>);

impl RouteRateLimit {
    /// This route is limited by `quota`, separately from other routes.
    pub fn new(quota: Quota) -> Self {
        Self(Some(quota))
    }

    /// This route is not limited.
    pub fn exempt() -> Self {
        Self(None)
    }
}

/// An IP network, for trusted proxies: `10.0.0.0/8`, `2001:db8::/32`, or one
/// address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IpNet {
    addr: IpAddr,
    prefix: u8,
}

impl IpNet {
    /// Parses `addr/prefix` or a bare address.
    pub fn parse(s: &str) -> Option<Self> {
        let s = s.trim();
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => {
                (a.parse::<IpAddr>().ok()?, p.parse::<u8>().ok()?)
            }
            Some(_) => return None,
            None => {
                let a = s.parse::<IpAddr>().ok()?;
                (a, if a.is_ipv4() { 32 } else { 128 })
            }
        };
        let addr = canonical(addr);
        let max = if addr.is_ipv4() { 32 } else { 128 };
        (prefix <= max).then_some(Self { addr, prefix })
    }

    /// Whether `ip` is in the network.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, canonical(ip)) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

/// IPv4-mapped IPv6 addresses as IPv4, so one client has one key.
fn canonical(ip: IpAddr) -> IpAddr {
    ip.to_canonical()
}

/// What a request is counted against.
#[derive(Clone)]
enum KeyBy {
    PeerIp,
    Header(HeaderName),
    Principal,
    Custom(KeyFn),
}

type KeyFn = Arc<dyn Fn(&RequestView<'_>) -> Option<String> + Send + Sync>;
type SkipFn = Arc<dyn Fn(&RequestView<'_>) -> bool + Send + Sync>;

/// Rate-limit options.
#[derive(Clone)]
pub struct RateLimitConfig {
    quota: Quota,
    key_by: KeyBy,
    trusted_proxies: Vec<IpNet>,
    invalid_proxies: Vec<String>,
    ipv6_prefix: u8,
    include_headers: bool,
    policy_name: Arc<str>,
    key_prefix: String,
    fail_open: bool,
    skip: Option<SkipFn>,
    clock: Arc<dyn Clock>,
    store: Option<Arc<dyn RateLimitStore>>,
    memory: MemoryLimiterConfig,
}

impl std::fmt::Debug for RateLimitConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let key_by = match &self.key_by {
            KeyBy::PeerIp => "peer ip",
            KeyBy::Header(_) => "header",
            KeyBy::Principal => "principal",
            KeyBy::Custom(_) => "custom",
        };
        f.debug_struct("RateLimitConfig")
            .field("quota", &self.quota)
            .field("key_by", &key_by)
            .field("trusted_proxies", &self.trusted_proxies)
            .field("ipv6_prefix", &self.ipv6_prefix)
            .field("include_headers", &self.include_headers)
            .field("policy_name", &self.policy_name)
            .field("fail_open", &self.fail_open)
            .field("shared_store", &self.store.is_some())
            .finish()
    }
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        Self::new(Quota::default())
    }
}

/// A configuration the layer refuses to run with (it then fails closed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError(String);

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "invalid rate-limit configuration: {}", self.0)
    }
}

impl std::error::Error for ConfigError {}

impl RateLimitConfig {
    /// `quota` per client IP, in process, with headers.
    pub fn new(quota: Quota) -> Self {
        Self {
            quota,
            key_by: KeyBy::PeerIp,
            trusted_proxies: Vec::new(),
            invalid_proxies: Vec::new(),
            ipv6_prefix: 64,
            include_headers: true,
            policy_name: Arc::from("default"),
            key_prefix: "rl:".to_owned(),
            fail_open: false,
            skip: None,
            clock: Arc::new(SystemClock),
            store: None,
            memory: MemoryLimiterConfig::default(),
        }
    }

    /// Changes the default quota (routes may override it).
    #[must_use]
    pub fn quota(mut self, quota: Quota) -> Self {
        self.quota = quota;
        self
    }

    /// Keys by the value of `header` (an API key; only its digest is used).
    /// Requests without it are keyed by client IP.
    #[must_use]
    pub fn key_by_header(mut self, header: HeaderName) -> Self {
        self.key_by = KeyBy::Header(header);
        self
    }

    /// Keys by the authenticated principal (tenant and subject); put the
    /// layer after authentication. Anonymous requests are keyed by client IP.
    #[must_use]
    pub fn key_by_principal(mut self) -> Self {
        self.key_by = KeyBy::Principal;
        self
    }

    /// Keys by a function; `None` or a blank key falls back to the client IP.
    #[must_use]
    pub fn key_by(
        mut self,
        f: impl Fn(&RequestView<'_>) -> Option<String> + Send + Sync + 'static,
    ) -> Self {
        self.key_by = KeyBy::Custom(Arc::new(f));
        self
    }

    /// Trusts `X-Forwarded-For` from peers in `cidr` (`10.0.0.0/8`, an
    /// address...). An unparsable entry makes the configuration invalid.
    #[must_use]
    pub fn trust_proxy(mut self, cidr: &str) -> Self {
        match IpNet::parse(cidr) {
            Some(net) => self.trusted_proxies.push(net),
            None => self.invalid_proxies.push(cidr.to_owned()),
        }
        self
    }

    /// The prefix IPv6 clients are grouped by. Default 64; 128 keys each
    /// address.
    #[must_use]
    pub fn ipv6_prefix(mut self, prefix: u8) -> Self {
        self.ipv6_prefix = prefix;
        self
    }

    /// Whether responses carry the rate-limit headers. Default true.
    #[must_use]
    pub fn include_headers(mut self, include: bool) -> Self {
        self.include_headers = include;
        self
    }

    /// The policy name in the IETF fields (letters, digits, `-`, `_`, `.`).
    /// Default `default`.
    #[must_use]
    pub fn policy_name(mut self, name: &str) -> Self {
        self.policy_name = Arc::from(name);
        self
    }

    /// Prefixed to every store key, to share a store between limiters.
    /// Default `rl:`.
    #[must_use]
    pub fn key_prefix(mut self, prefix: &str) -> Self {
        self.key_prefix = prefix.to_owned();
        self
    }

    /// Lets requests through (without headers) when the store fails or no
    /// key can be found, instead of answering 503. Default false. An invalid
    /// configuration still fails closed.
    #[must_use]
    pub fn fail_open(mut self, open: bool) -> Self {
        self.fail_open = open;
        self
    }

    /// Requests for which `skip` is true are not counted and get no headers.
    #[must_use]
    pub fn skip(mut self, skip: impl Fn(&RequestView<'_>) -> bool + Send + Sync + 'static) -> Self {
        self.skip = Some(Arc::new(skip));
        self
    }

    /// The clock (tests inject a [`ManualClock`](super::ManualClock)).
    #[must_use]
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Decides through a shared store instead of the in-process limiter.
    #[must_use]
    pub fn store(mut self, store: Arc<dyn RateLimitStore>) -> Self {
        self.store = Some(store);
        self
    }

    /// Bounds of the in-process limiter.
    #[must_use]
    pub fn memory(mut self, memory: MemoryLimiterConfig) -> Self {
        self.memory = memory;
        self
    }

    /// Checks the configuration.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.quota
            .gcra()
            .map_err(|e| ConfigError(format!("default quota: {e}")))?;
        if let Some(bad) = self.invalid_proxies.first() {
            return Err(ConfigError(format!(
                "trusted proxy {bad:?} is not an address or network"
            )));
        }
        if self.ipv6_prefix > 128 {
            return Err(ConfigError("ipv6 prefix is longer than 128".into()));
        }
        if self.policy_name.is_empty()
            || !self
                .policy_name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        {
            return Err(ConfigError(
                "policy name must be letters, digits, '-', '_' or '.'".into(),
            ));
        }
        if self.memory.max_keys == 0 || self.memory.shards == 0 {
            return Err(ConfigError(
                "the in-process limiter needs keys and shards".into(),
            ));
        }
        Ok(())
    }
}

/// Bounds of [`MemoryRateLimiter`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryLimiterConfig {
    /// The most keys held; past it the keys nearest to a full bucket are
    /// evicted (forgetting them only makes those clients' buckets full a
    /// little early). Default 100,000 (the Go abuse guard's).
    pub max_keys: usize,
    /// Lock shards. Default 16.
    pub shards: usize,
    /// How often a shard drops idle keys (whose bucket is full again,
    /// which loses nothing). Default one minute.
    pub sweep_interval: Duration,
}

impl Default for MemoryLimiterConfig {
    fn default() -> Self {
        Self {
            max_keys: 100_000,
            shards: 16,
            sweep_interval: Duration::from_secs(60),
        }
    }
}

struct Shard {
    tats: HashMap<Box<str>, u64>,
    last_sweep: u64,
}

/// The in-process GCRA limiter: a sharded map from key to theoretical
/// arrival time, bounded in keys, with idle keys dropped as time passes.
/// A key is only ever dropped once its bucket is full again (its state then
/// equals no state), or under memory pressure.
pub struct MemoryRateLimiter {
    shards: Box<[Mutex<Shard>]>,
    hasher: RandomState,
    max_per_shard: usize,
    sweep_us: u64,
    evictions: AtomicU64,
}

impl std::fmt::Debug for MemoryRateLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryRateLimiter")
            .field("shards", &self.shards.len())
            .field("keys", &self.len())
            .finish()
    }
}

impl Default for MemoryRateLimiter {
    fn default() -> Self {
        Self::new(MemoryLimiterConfig::default())
    }
}

impl MemoryRateLimiter {
    /// A limiter with these bounds (zeros are raised to 1).
    pub fn new(config: MemoryLimiterConfig) -> Self {
        let shards = config.shards.max(1);
        Self {
            shards: (0..shards)
                .map(|_| {
                    Mutex::new(Shard {
                        tats: HashMap::new(),
                        last_sweep: 0,
                    })
                })
                .collect(),
            hasher: RandomState::new(),
            max_per_shard: config.max_keys.div_ceil(shards).max(1),
            sweep_us: u64::try_from(config.sweep_interval.as_micros()).unwrap_or(u64::MAX),
            evictions: AtomicU64::new(0),
        }
    }

    /// Counts one request for `key` at `now`: the decision, synchronously.
    /// This is the hot path the layer calls (and the one to benchmark).
    pub fn check(&self, key: &str, gcra: &Gcra, now: SystemTime) -> Decision {
        let now_us = unix_micros(now);
        let index = (self.hasher.hash_one(key) % self.shards.len() as u64) as usize;
        let Some(shard) = self.shards.get(index) else {
            return gcra.decide(None, now_us).0;
        };
        let mut shard = shard.lock().unwrap_or_else(PoisonError::into_inner);
        if now_us.saturating_sub(shard.last_sweep) >= self.sweep_us {
            shard.tats.retain(|_, tat| *tat > now_us);
            shard.last_sweep = now_us;
        }
        let stored = shard.tats.get(key).copied();
        let (decision, new_tat) = gcra.decide(stored, now_us);
        if let Some(tat) = new_tat {
            match shard.tats.get_mut(key) {
                Some(slot) => *slot = tat,
                None => {
                    if shard.tats.len() >= self.max_per_shard {
                        self.make_room(&mut shard, now_us);
                    }
                    shard.tats.insert(key.into(), tat);
                }
            }
        }
        decision
    }

    /// Drops idle keys; if none, the eighth of keys closest to a full bucket,
    /// so a flood of new keys costs amortised constant time per key.
    fn make_room(&self, shard: &mut Shard, now_us: u64) {
        let before = shard.tats.len();
        shard.tats.retain(|_, tat| *tat > now_us);
        if shard.tats.len() >= self.max_per_shard {
            let mut tats: Vec<u64> = shard.tats.values().copied().collect();
            let nth = (tats.len() / 8).min(tats.len().saturating_sub(1));
            let (_, threshold, _) = tats.select_nth_unstable(nth);
            let threshold = *threshold;
            shard.tats.retain(|_, tat| *tat > threshold);
            let evicted = before - shard.tats.len();
            self.evictions.fetch_add(evicted as u64, Ordering::Relaxed);
        }
    }

    /// Keys held now.
    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().unwrap_or_else(PoisonError::into_inner).tats.len())
            .sum()
    }

    /// Whether no key is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Keys evicted under memory pressure so far (idle keys not counted).
    pub fn evictions(&self) -> u64 {
        self.evictions.load(Ordering::Relaxed)
    }
}

impl RateLimitStore for MemoryRateLimiter {
    fn take<'a>(
        &'a self,
        key: &'a str,
        rate_per_second: f64,
        burst: u32,
        now: SystemTime,
    ) -> StoreFuture<'a, Decision> {
        let result = plumego_core::store::validate_key(key, 0)
            .and_then(|()| Gcra::new(rate_per_second, burst))
            .map(|gcra| self.check(key, &gcra, now));
        Box::pin(std::future::ready(result))
    }
}

enum Backend {
    Memory(MemoryRateLimiter),
    Store(Arc<dyn RateLimitStore>),
}

struct Shared {
    config: RateLimitConfig,
    /// `None` when the configuration is invalid: every request is refused.
    gcra: Option<Gcra>,
    backend: Backend,
}

/// Adds [`RateLimitService`]. Clones share the limiter state.
#[derive(Clone)]
pub struct RateLimitLayer {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for RateLimitLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimitLayer")
            .field("config", &self.shared.config)
            .field("valid", &self.shared.gcra.is_some())
            .finish()
    }
}

impl Default for RateLimitLayer {
    fn default() -> Self {
        Self::new(RateLimitConfig::default())
    }
}

impl RateLimitLayer {
    /// A layer with this configuration. An invalid configuration is logged
    /// and the layer refuses every request (see [`try_new`](Self::try_new)
    /// to fail at startup instead).
    pub fn new(config: RateLimitConfig) -> Self {
        let gcra = match config.validate() {
            Ok(()) => config.quota.gcra().ok(),
            Err(e) => {
                tracing::error!(error = %e, "rate limiter refuses every request");
                None
            }
        };
        let backend = match &config.store {
            Some(store) => Backend::Store(store.clone()),
            None => Backend::Memory(MemoryRateLimiter::new(config.memory)),
        };
        Self {
            shared: Arc::new(Shared {
                config,
                gcra,
                backend,
            }),
        }
    }

    /// A layer, or the configuration error.
    pub fn try_new(config: RateLimitConfig) -> Result<Self, ConfigError> {
        config.validate()?;
        Ok(Self::new(config))
    }

    /// The in-process limiter, when no shared store is configured.
    pub fn memory_limiter(&self) -> Option<&MemoryRateLimiter> {
        match &self.shared.backend {
            Backend::Memory(m) => Some(m),
            Backend::Store(_) => None,
        }
    }
}

impl<S> Layer<S> for RateLimitLayer {
    type Service = RateLimitService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RateLimitService {
            inner,
            shared: self.shared.clone(),
        }
    }
}

/// Counts each request and answers 429 over the limit.
#[derive(Clone)]
pub struct RateLimitService<S> {
    inner: S,
    shared: Arc<Shared>,
}

impl<S> std::fmt::Debug for RateLimitService<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimitService")
            .field("config", &self.shared.config)
            .finish()
    }
}

/// The client IP of a request: the peer address, or behind trusted proxies
/// the rightmost `X-Forwarded-For` entry that is not a trusted proxy.
/// Exposed for logging and custom key functions.
pub fn client_ip(request: &RequestView<'_>, trusted_proxies: &[IpNet]) -> Option<IpAddr> {
    let peer = canonical(request.peer_addr()?.ip());
    if !trusted_proxies.iter().any(|n| n.contains(peer)) {
        return Some(peer);
    }
    let mut leftmost = None;
    static X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
    for value in request.headers.get_all(&X_FORWARDED_FOR).iter().rev() {
        // A header we cannot read means nothing further left can be trusted.
        let Ok(value) = value.to_str() else {
            return Some(peer);
        };
        for entry in value.rsplit(',') {
            let Some(ip) = parse_forwarded_ip(entry.trim()) else {
                return Some(leftmost.unwrap_or(peer));
            };
            if !trusted_proxies.iter().any(|n| n.contains(ip)) {
                return Some(ip);
            }
            leftmost = Some(ip);
        }
    }
    Some(leftmost.unwrap_or(peer))
}

fn parse_forwarded_ip(entry: &str) -> Option<IpAddr> {
    entry
        .parse::<IpAddr>()
        .ok()
        .or_else(|| entry.parse::<SocketAddr>().ok().map(|s| s.ip()))
        .map(canonical)
}

impl Shared {
    fn ip_key(&self, view: &RequestView<'_>) -> Option<String> {
        let ip = client_ip(view, &self.config.trusted_proxies)?;
        Some(match ip {
            IpAddr::V4(v4) => format!("ip:{v4}"),
            IpAddr::V6(v6) => {
                let prefix = u32::from(self.config.ipv6_prefix.min(128));
                let mask = u128::MAX.checked_shl(128 - prefix).unwrap_or(0);
                format!("ip:{}/{prefix}", Ipv6Addr::from(u128::from(v6) & mask))
            }
        })
    }

    fn client_key(&self, view: &RequestView<'_>) -> Option<String> {
        let key = match &self.config.key_by {
            KeyBy::PeerIp => None,
            KeyBy::Header(name) => view
                .headers
                .get(name)
                .map(|v| v.as_bytes())
                .filter(|v| !v.trim_ascii().is_empty())
                .map(|v| {
                    let digest = super::api_key::secret_digest(v.trim_ascii());
                    format!("key:{}", crate::hex::lower(&digest[..16]))
                }),
            KeyBy::Principal => view.principal().map(|p| {
                let clean = |s: &str| s.chars().filter(|c| !c.is_control()).collect::<String>();
                format!(
                    "sub:{}/{}",
                    clean(p.tenant.as_deref().unwrap_or_default()),
                    clean(&p.subject)
                )
            }),
            KeyBy::Custom(f) => f(view).filter(|k| !k.trim().is_empty()),
        };
        key.or_else(|| self.ip_key(view))
    }
}

/// What to do with one request.
enum Plan {
    PassThrough,
    /// No key could be found (no peer address): fail closed unless open.
    NoKey,
    Unavailable(&'static str),
    Check {
        key: String,
        quota: Quota,
        gcra: Gcra,
    },
}

impl<S> RateLimitService<S> {
    fn plan<B>(&self, req: &Request<B>) -> Plan {
        let shared = &self.shared;
        let Some(default_gcra) = shared.gcra else {
            return Plan::Unavailable("invalid configuration");
        };
        let view = RequestView::new(req);
        if shared.config.skip.as_ref().is_some_and(|skip| skip(&view)) {
            return Plan::PassThrough;
        }
        let route = req.route();
        let route_limit = route.and_then(|r| r.metadata::<RouteRateLimit>());
        let (quota, gcra, scope) = match route_limit {
            Some(RouteRateLimit(None)) => return Plan::PassThrough,
            Some(RouteRateLimit(Some(quota))) => match quota.gcra() {
                Ok(gcra) => (*quota, gcra, route.map(|r| r.pattern())),
                Err(_) => return Plan::Unavailable("invalid route quota"),
            },
            None => (shared.config.quota, default_gcra, None),
        };
        let Some(client) = shared.client_key(&view) else {
            return Plan::NoKey;
        };
        let key = match scope {
            Some(pattern) => format!("{}{pattern}|{client}", shared.config.key_prefix),
            None => format!("{}{client}", shared.config.key_prefix),
        };
        Plan::Check { key, quota, gcra }
    }
}

/// The numbers of one decision's headers; the values are only formatted
/// once the response is there (keeps the future small).
struct RateHeaders {
    policy: Arc<str>,
    limit: u32,
    remaining: u32,
    reset_unix: u64,
    reset_secs: u64,
    window_secs: u64,
}

impl RateHeaders {
    fn new(config: &RateLimitConfig, quota: &Quota, decision: &Decision, now: SystemTime) -> Self {
        let reset_at = now + decision.reset_after;
        Self {
            policy: config.policy_name.clone(),
            limit: quota.burst,
            remaining: decision.remaining,
            reset_unix: reset_at.duration_since(UNIX_EPOCH).map_or(0, ceil_secs),
            reset_secs: ceil_secs(decision.reset_after),
            window_secs: quota.window_secs(),
        }
    }

    fn apply(self, headers: &mut http::HeaderMap) {
        let text = |s: String| HeaderValue::from_str(&s).ok();
        headers.insert(X_RATELIMIT_LIMIT, HeaderValue::from(self.limit));
        headers.insert(X_RATELIMIT_REMAINING, HeaderValue::from(self.remaining));
        headers.insert(X_RATELIMIT_RESET, HeaderValue::from(self.reset_unix));
        // The name is validated to sf-token characters, so these parse.
        if let Some(v) = text(format!(
            "\"{}\";q={};w={}",
            self.policy, self.limit, self.window_secs
        )) {
            headers.insert(RATELIMIT_POLICY, v);
        }
        if let Some(v) = text(format!(
            "\"{}\";r={};t={}",
            self.policy, self.remaining, self.reset_secs
        )) {
            headers.insert(RATELIMIT, v);
        }
    }
}

fn ceil_secs(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

fn unavailable<B>(request_id: Option<&RequestId>) -> Response<ResponseBody<B>> {
    let error = ApiError::builder()
        .error_type(ErrorType::ServiceUnavailable)
        .code("RATE_LIMIT_UNAVAILABLE")
        .message("rate limiter unavailable")
        .build();
    envelope(error, request_id)
}

fn too_many<B>(
    shared: &Shared,
    quota: &Quota,
    decision: &Decision,
    now: SystemTime,
    request_id: Option<&RequestId>,
) -> Response<ResponseBody<B>> {
    let retry_after = decision.retry_after.unwrap_or(Duration::from_secs(1));
    let error = ApiError::builder()
        .error_type(ErrorType::RateLimited)
        .message("too many requests")
        .detail("limit", quota.burst)
        .detail("remaining", decision.remaining)
        .detail("retry_after", retry_after.as_secs_f64())
        .detail("reset_at", rfc3339_nanos(now + decision.reset_after))
        .build();
    let mut res = envelope(error, request_id);
    res.headers_mut().insert(
        RETRY_AFTER,
        HeaderValue::from(ceil_secs(retry_after).max(1)),
    );
    if shared.config.include_headers {
        RateHeaders::new(&shared.config, quota, decision, now).apply(res.headers_mut());
    }
    res
}

/// What a decision means for the request.
enum Verdict<B> {
    /// Call the inner service, then add these headers.
    Pass(Option<RateHeaders>),
    /// Answer this instead.
    Reject(Response<ResponseBody<B>>),
}

fn decide<B>(
    shared: &Shared,
    quota: &Quota,
    result: Result<Decision, StoreError>,
    now: SystemTime,
    request_id: Option<&RequestId>,
) -> Verdict<B> {
    match result {
        Ok(d) if d.allowed => Verdict::Pass(
            shared
                .config
                .include_headers
                .then(|| RateHeaders::new(&shared.config, quota, &d, now)),
        ),
        Ok(d) => {
            tracing::warn!(
                limit = quota.burst,
                remaining = d.remaining,
                "request rate limited"
            );
            Verdict::Reject(too_many(shared, quota, &d, now, request_id))
        }
        Err(e) => {
            tracing::warn!(error = %e, "rate-limit store failed");
            if shared.config.fail_open {
                Verdict::Pass(None)
            } else {
                Verdict::Reject(unavailable(request_id))
            }
        }
    }
}

type StoreCall = Pin<Box<dyn Future<Output = Result<Decision, StoreError>> + Send>>;

impl<S, ReqB, ResB> Service<Request<ReqB>> for RateLimitService<S>
where
    S: Service<Request<ReqB>, Response = Response<ResB>> + Clone,
{
    type Response = Response<ResponseBody<ResB>>;
    type Error = S::Error;
    type Future = ResponseFuture<S, ReqB, ResB>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqB>) -> Self::Future {
        let (key, quota, gcra) = match self.plan(&req) {
            Plan::PassThrough => return ResponseFuture::inner(self.inner.call(req), None),
            Plan::NoKey if self.shared.config.fail_open => {
                return ResponseFuture::inner(self.inner.call(req), None);
            }
            Plan::NoKey => {
                tracing::warn!(
                    "rate limiter refused a request with no client key (no peer address)"
                );
                return ResponseFuture::done(unavailable(req.request_id()));
            }
            Plan::Unavailable(why) => {
                tracing::warn!(reason = why, "rate limiter refused a request");
                return ResponseFuture::done(unavailable(req.request_id()));
            }
            Plan::Check { key, quota, gcra } => (key, quota, gcra),
        };
        let now = self.shared.config.clock.now();
        match &self.shared.backend {
            Backend::Memory(limiter) => {
                let decision = limiter.check(&key, &gcra, now);
                match decide(&self.shared, &quota, Ok(decision), now, req.request_id()) {
                    Verdict::Pass(headers) => ResponseFuture::inner(self.inner.call(req), headers),
                    Verdict::Reject(res) => ResponseFuture::done(res),
                }
            }
            Backend::Store(store) => {
                let store = store.clone();
                let call: StoreCall = Box::pin(async move {
                    store
                        .take(&key, quota.rate_per_second, quota.burst, now)
                        .await
                });
                let clone = self.inner.clone();
                let inner = std::mem::replace(&mut self.inner, clone);
                ResponseFuture {
                    state: State::Checking {
                        call,
                        request: Some((req, inner)),
                        shared: self.shared.clone(),
                        quota,
                        now,
                    },
                }
            }
        }
    }
}

pin_project! {
    /// The response future of [`RateLimitService`].
    pub struct ResponseFuture<S, ReqB, ResB>
    where
        S: Service<Request<ReqB>>,
    {
        #[pin]
        state: State<S, ReqB, ResB>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<S, ReqB, ResB>
    where
        S: Service<Request<ReqB>>,
    {
        Checking {
            call: StoreCall,
            request: Option<(Request<ReqB>, S)>,
            shared: Arc<Shared>,
            quota: Quota,
            now: SystemTime,
        },
        Inner {
            #[pin]
            fut: S::Future,
            headers: Option<RateHeaders>,
        },
        Done {
            response: Option<Response<ResponseBody<ResB>>>,
        },
    }
}

impl<S, ReqB, ResB> ResponseFuture<S, ReqB, ResB>
where
    S: Service<Request<ReqB>>,
{
    fn inner(fut: S::Future, headers: Option<RateHeaders>) -> Self {
        Self {
            state: State::Inner { fut, headers },
        }
    }

    fn done(response: Response<ResponseBody<ResB>>) -> Self {
        Self {
            state: State::Done {
                response: Some(response),
            },
        }
    }
}

impl<S, ReqB, ResB> Future for ResponseFuture<S, ReqB, ResB>
where
    S: Service<Request<ReqB>, Response = Response<ResB>>,
{
    type Output = Result<Response<ResponseBody<ResB>>, S::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            let next = match this.state.as_mut().project() {
                StateProj::Checking {
                    call,
                    request,
                    shared,
                    quota,
                    now,
                } => {
                    let result = ready!(call.as_mut().poll(cx));
                    let Some((req, mut inner)) = request.take() else {
                        return Poll::Ready(Ok(unavailable(None)));
                    };
                    match decide(shared, quota, result, *now, req.request_id()) {
                        Verdict::Pass(headers) => State::Inner {
                            fut: inner.call(req),
                            headers,
                        },
                        Verdict::Reject(res) => State::Done {
                            response: Some(res),
                        },
                    }
                }
                StateProj::Inner { fut, headers } => {
                    let mut res = ready!(fut.poll(cx))?;
                    if let Some(h) = headers.take() {
                        h.apply(res.headers_mut());
                    }
                    return Poll::Ready(Ok(res.map(ResponseBody::inner)));
                }
                StateProj::Done { response } => {
                    return Poll::Ready(Ok(response.take().unwrap_or_else(|| unavailable(None))));
                }
            };
            this.state.set(next);
        }
    }
}
