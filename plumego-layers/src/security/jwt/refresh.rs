//! Keeping a [`KeySet`] current from where its keys live.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
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

/// Refreshes a [`KeySet`] from a [`KeySource`]: on demand, on a background
/// interval ([`spawn`](Self::spawn)), and when a token names a key the set
/// does not have ([`refresh_if_due`](Self::refresh_if_due), which
/// [`JwtAuthenticator::with_refresher`](super::JwtAuthenticator::with_refresher)
/// calls). Refreshes never overlap; requests that find one running wait for
/// it instead of starting another. Cloning shares the state.
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
    /// Held for the whole refresh, so refreshes never overlap; holds when
    /// the last one started.
    last: Mutex<Option<Instant>>,
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
                last: Mutex::new(None),
            }),
        }
    }

    /// The set being refreshed.
    pub fn keys(&self) -> &Arc<KeySet> {
        &self.inner.keys
    }

    /// Loads from the source now (after any refresh already running); the
    /// number of keys the source holds. On error the set keeps its keys.
    pub async fn refresh(&self) -> Result<usize, JwtError> {
        let mut last = self.inner.last.lock().await;
        *last = Some(Instant::now());
        self.inner.source.load(&self.inner.keys).await
    }

    /// Loads from the source unless a refresh started less than the minimum
    /// interval ago; `true` when it loaded. A caller that finds a refresh
    /// running waits for it and does not start another.
    pub async fn refresh_if_due(&self) -> Result<bool, JwtError> {
        let mut last = self.inner.last.lock().await;
        if last.is_some_and(|at| at.elapsed() < self.inner.min_interval) {
            return Ok(false);
        }
        *last = Some(Instant::now());
        self.inner.source.load(&self.inner.keys).await.map(|_| true)
    }

    /// Refreshes every `every` in a tokio task (the first one after
    /// `every`: call [`refresh`](Self::refresh) at startup to fail fast). A
    /// failed refresh is logged as a warning and retried at the next tick;
    /// the set keeps its keys meanwhile. Dropping the returned handle stops
    /// the task.
    pub fn spawn(&self, every: Duration) -> RefreshTask {
        let this = self.clone();
        let every = every.max(Duration::from_millis(1));
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

/// The background task of [`KeyRefresher::spawn`]; stops when dropped.
#[derive(Debug)]
pub struct RefreshTask(tokio::task::JoinHandle<()>);

impl Drop for RefreshTask {
    fn drop(&mut self) {
        self.0.abort();
    }
}
