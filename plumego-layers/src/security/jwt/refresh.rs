//! Keeping a [`KeySet`] current from where its keys live.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::Mutex;
use tokio::time::Instant;

use super::{JwtError, KeySet};

/// The future of [`KeySource::load`].
pub type RefreshFuture<'a> = Pin<Box<dyn Future<Output = Result<usize, JwtError>> + Send + 'a>>;

/// Somewhere keys live outside the process: a KV store shared by the
/// instances ([`KvKeyStore`](super::KvKeyStore)) or an identity provider's
/// JWKS URL ([`JwksSource`](super::JwksSource)).
pub trait KeySource: Send + Sync + 'static {
    /// Brings the source's current keys into `set`; how many it holds. On
    /// error `set` must be left as it was.
    fn load<'a>(&'a self, set: &'a KeySet) -> RefreshFuture<'a>;
}

impl<S: KeySource + ?Sized> KeySource for Arc<S> {
    fn load<'a>(&'a self, set: &'a KeySet) -> RefreshFuture<'a> {
        (**self).load(set)
    }
}

/// The default shortest time between two refreshes triggered by unknown
/// `kid`s.
pub const DEFAULT_MIN_INTERVAL: Duration = Duration::from_secs(30);

/// The default longest time one load from the source may take.
pub const DEFAULT_LOAD_TIMEOUT: Duration = Duration::from_secs(30);

/// The longest a request waits for a refresh another request started.
const WAIT_FOR_RUNNING: Duration = Duration::from_secs(5);

/// The longest background interval (longer ones are clamped, so the
/// timer's deadline cannot overflow).
const MAX_INTERVAL: Duration = Duration::from_secs(365 * 24 * 3600);

/// Refreshes a [`KeySet`] from a [`KeySource`]: on demand, on a background
/// interval ([`spawn`](Self::spawn)), and when a token names a key the set
/// does not have ([`refresh_if_due`](Self::refresh_if_due), which
/// [`JwtAuthenticator::with_refresher`](super::JwtAuthenticator::with_refresher)
/// calls). Refreshes never overlap: a request that finds one running waits
/// for it (at most 5 seconds) instead of starting another. Each load runs
/// in its own task with a timeout ([`DEFAULT_LOAD_TIMEOUT`]), so a client
/// that goes away cannot cancel a refresh half-way and a hung source cannot
/// hold requests for longer than the timeout. Cloning shares the state.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use std::sync::Arc;
/// use plumego_layers::security::jwt::{JwtError, KeyRefresher, KeySet, KeySource, RefreshFuture};
///
/// // A source that publishes one Ed25519 key.
/// struct Provider;
/// impl KeySource for Provider {
///     fn load<'a>(&'a self, set: &'a KeySet) -> RefreshFuture<'a> {
///         Box::pin(async move {
///             set.sync_jwks(r#"{"keys":[{"kty":"OKP","crv":"Ed25519","kid":"idp-1","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}"#)
///         })
///     }
/// }
///
/// let keys = Arc::new(KeySet::new());
/// let refresher = KeyRefresher::new(keys.clone(), Provider);
/// assert_eq!(refresher.refresh().await.unwrap(), 1);
/// assert!(keys.get("idp-1").is_some());
/// // A second unknown-kid refresh right away is not due.
/// assert!(!refresher.refresh_if_due().await.unwrap());
/// # }
/// ```
#[derive(Clone)]
pub struct KeyRefresher {
    inner: Arc<Inner>,
}

struct Inner {
    keys: Arc<KeySet>,
    source: Box<dyn KeySource>,
    min_interval: Duration,
    /// Milliseconds; shared by every clone.
    load_timeout_ms: AtomicU64,
    /// Held for the whole refresh (by the task doing it), so refreshes never
    /// overlap; holds when the last one started.
    last: Arc<Mutex<Option<Instant>>>,
}

impl std::fmt::Debug for KeyRefresher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyRefresher")
            .field("keys", &self.inner.keys)
            .field("min_interval", &self.inner.min_interval)
            .finish_non_exhaustive()
    }
}

impl KeyRefresher {
    /// A refresher of `keys` from `source`, with
    /// [`DEFAULT_MIN_INTERVAL`] between on-demand refreshes.
    pub fn new(keys: Arc<KeySet>, source: impl KeySource) -> Self {
        Self::with_min_interval(keys, source, DEFAULT_MIN_INTERVAL)
    }

    /// As [`new`](Self::new), with the shortest time between two refreshes
    /// that [`refresh_if_due`](Self::refresh_if_due) starts.
    pub fn with_min_interval(
        keys: Arc<KeySet>,
        source: impl KeySource,
        min_interval: Duration,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                keys,
                source: Box::new(source),
                min_interval,
                load_timeout_ms: AtomicU64::new(millis(DEFAULT_LOAD_TIMEOUT)),
                last: Arc::new(Mutex::new(None)),
            }),
        }
    }

    /// The longest one load may take (default [`DEFAULT_LOAD_TIMEOUT`],
    /// whole milliseconds, at least one); clones share it.
    #[must_use]
    pub fn with_load_timeout(self, timeout: Duration) -> Self {
        self.inner
            .load_timeout_ms
            .store(millis(timeout).max(1), Ordering::Relaxed);
        self
    }

    /// The set being refreshed.
    pub fn keys(&self) -> &Arc<KeySet> {
        &self.inner.keys
    }

    /// Loads from the source now (after any refresh already running); the
    /// number of keys the source holds. On error the set keeps its keys.
    pub async fn refresh(&self) -> Result<usize, JwtError> {
        let guard = self.inner.last.clone().lock_owned().await;
        self.load_in_task(guard).await
    }

    /// Loads from the source unless a refresh started less than the minimum
    /// interval ago; `true` when it loaded. A caller that finds a refresh
    /// running waits for it (at most 5 seconds) and does not start another.
    pub async fn refresh_if_due(&self) -> Result<bool, JwtError> {
        let Ok(guard) =
            tokio::time::timeout(WAIT_FOR_RUNNING, self.inner.last.clone().lock_owned()).await
        else {
            return Ok(false);
        };
        if guard.is_some_and(|at| at.elapsed() < self.inner.min_interval) {
            return Ok(false);
        }
        self.load_in_task(guard).await.map(|_| true)
    }

    /// Runs one load in its own task, holding `guard` until it ends, so
    /// dropping the caller (a client that went away) does not cancel it.
    async fn load_in_task(
        &self,
        mut guard: tokio::sync::OwnedMutexGuard<Option<Instant>>,
    ) -> Result<usize, JwtError> {
        *guard = Some(Instant::now());
        let inner = self.inner.clone();
        let timeout = Duration::from_millis(inner.load_timeout_ms.load(Ordering::Relaxed));
        let task = tokio::spawn(async move {
            let _guard = guard;
            tokio::time::timeout(timeout, inner.source.load(&inner.keys))
                .await
                .unwrap_or_else(|_| Err(JwtError::Fetch("key refresh timed out".into())))
        });
        task.await
            .unwrap_or_else(|_| Err(JwtError::Fetch("key refresh task failed".into())))
    }

    /// Refreshes every `every` in a tokio task (the first one after
    /// `every`: call [`refresh`](Self::refresh) at startup to fail fast). A
    /// failed refresh is logged as a warning and retried at the next tick;
    /// the set keeps its keys meanwhile. Dropping the returned handle stops
    /// the task.
    pub fn spawn(&self, every: Duration) -> RefreshTask {
        let this = self.clone();
        let every = every.clamp(Duration::from_millis(1), MAX_INTERVAL);
        let task = tokio::spawn(async move {
            let mut ticks = tokio::time::interval_at(Instant::now() + every, every);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                if let Err(e) = this.refresh().await {
                    tracing::warn!(error = %e, "jwt key refresh failed; keeping the current keys");
                }
            }
        });
        RefreshTask(task)
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// The background task of [`KeyRefresher::spawn`]; stops when dropped.
#[derive(Debug)]
pub struct RefreshTask(tokio::task::JoinHandle<()>);

impl Drop for RefreshTask {
    fn drop(&mut self) {
        self.0.abort();
    }
}
