//! Named components started in order, stopped in reverse, rolled back on a
//! failed start.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use tokio::sync::Mutex;

use crate::body::BoxError;

type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;
type Phase = Arc<dyn Fn() -> BoxFuture<'static, Result<(), BoxError>> + Send + Sync>;

/// Something with a start, a stop and a readiness check (a store, a consumer,
/// a background worker...).
pub trait Lifecycle: Send + Sync {
    /// Starts the component.
    fn start(&self) -> BoxFuture<'_, Result<(), BoxError>>;
    /// Stops the component.
    fn stop(&self) -> BoxFuture<'_, Result<(), BoxError>>;
    /// Whether the component can serve; ready by default.
    fn ready(&self) -> BoxFuture<'_, Result<(), BoxError>> {
        Box::pin(async { Ok(()) })
    }
}

/// A [`Lifecycle`] made of closures; a missing phase succeeds.
///
/// ```
/// use plumego_core::server::{Component, LifecycleGroup};
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let group = LifecycleGroup::new()
///     .add("db", Component::new().on_start(|| async { Ok(()) }))
///     .add("worker", Component::new());
/// group.start().await.unwrap();
/// group.stop().await.unwrap();
/// # });
/// ```
#[derive(Clone, Default)]
#[must_use]
pub struct Component {
    on_start: Option<Phase>,
    on_stop: Option<Phase>,
    on_ready: Option<Phase>,
}

fn phase<F, Fut>(f: F) -> Phase
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), BoxError>> + Send + 'static,
{
    Arc::new(move || Box::pin(f()))
}

impl Component {
    /// A component whose phases all succeed.
    pub fn new() -> Self {
        Self::default()
    }

    /// The start phase.
    pub fn on_start<F, Fut>(mut self, f: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), BoxError>> + Send + 'static,
    {
        self.on_start = Some(phase(f));
        self
    }

    /// The stop phase.
    pub fn on_stop<F, Fut>(mut self, f: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), BoxError>> + Send + 'static,
    {
        self.on_stop = Some(phase(f));
        self
    }

    /// The readiness check.
    pub fn on_ready<F, Fut>(mut self, f: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), BoxError>> + Send + 'static,
    {
        self.on_ready = Some(phase(f));
        self
    }
}

fn run(phase: &Option<Phase>) -> BoxFuture<'static, Result<(), BoxError>> {
    match phase {
        Some(f) => f(),
        None => Box::pin(async { Ok(()) }),
    }
}

impl Lifecycle for Component {
    fn start(&self) -> BoxFuture<'_, Result<(), BoxError>> {
        run(&self.on_start)
    }
    fn stop(&self) -> BoxFuture<'_, Result<(), BoxError>> {
        run(&self.on_stop)
    }
    fn ready(&self) -> BoxFuture<'_, Result<(), BoxError>> {
        run(&self.on_ready)
    }
}

/// Why a group failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum LifecycleError {
    /// `start` was called twice.
    AlreadyStarted,
    /// A component failed to start; the ones before it were stopped.
    Start {
        /// The component.
        name: String,
        /// Its error.
        source: BoxError,
    },
    /// Components failed to stop (all were asked to).
    Stop(Vec<(String, BoxError)>),
    /// Components are not ready.
    NotReady(Vec<(String, BoxError)>),
}

impl fmt::Display for LifecycleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let join = |f: &mut fmt::Formatter<'_>, items: &[(String, BoxError)], what: &str| {
            for (i, (name, err)) in items.iter().enumerate() {
                if i > 0 {
                    f.write_str("\n")?;
                }
                match what {
                    "stop" => write!(f, "core: stop {name:?}: {err}")?,
                    _ => write!(f, "core: {name:?} not ready: {err}")?,
                }
            }
            Ok(())
        };
        match self {
            Self::AlreadyStarted => f.write_str("core: LifecycleGroup already started"),
            Self::Start { name, source } => write!(f, "core: start {name:?}: {source}"),
            Self::Stop(items) => join(f, items, "stop"),
            Self::NotReady(items) => join(f, items, "ready"),
        }
    }
}

impl std::error::Error for LifecycleError {}

/// Components supervised together; a group is itself a [`Lifecycle`], so groups nest.
#[derive(Default)]
pub struct LifecycleGroup {
    components: Vec<(String, Box<dyn Lifecycle>)>,
    /// How many components are running (`None` before the first start).
    started: Mutex<Option<usize>>,
}

impl fmt::Debug for LifecycleGroup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<_> = self.components.iter().map(|(n, _)| n).collect();
        f.debug_struct("LifecycleGroup")
            .field("components", &names)
            .finish()
    }
}

impl LifecycleGroup {
    /// An empty group.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a component; start order is the order of `add`.
    #[must_use]
    pub fn add(mut self, name: impl Into<String>, component: impl Lifecycle + 'static) -> Self {
        self.components.push((name.into(), Box::new(component)));
        self
    }

    /// Starts every component in order. On the first failure, stops the ones
    /// already started, in reverse, and returns the failure.
    pub async fn start(&self) -> Result<(), LifecycleError> {
        let mut started = self.started.lock().await;
        if started.is_some() {
            return Err(LifecycleError::AlreadyStarted);
        }
        for (i, (name, component)) in self.components.iter().enumerate() {
            if let Err(source) = component.start().await {
                for (prev_name, prev) in self.components[..i].iter().rev() {
                    if let Err(err) = prev.stop().await {
                        tracing::warn!(component = %prev_name, error = %err, "rollback stop failed");
                    }
                }
                return Err(LifecycleError::Start {
                    name: name.clone(),
                    source,
                });
            }
        }
        *started = Some(self.components.len());
        Ok(())
    }

    /// Stops every started component in reverse order, collecting all errors.
    pub async fn stop(&self) -> Result<(), LifecycleError> {
        let mut started = self.started.lock().await;
        let count = started.take().unwrap_or(0);
        let mut errors = Vec::new();
        for (name, component) in self.components[..count].iter().rev() {
            if let Err(err) = component.stop().await {
                errors.push((name.clone(), err));
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(LifecycleError::Stop(errors))
        }
    }

    /// Checks every component, collecting all failures.
    pub async fn ready(&self) -> Result<(), LifecycleError> {
        let mut errors = Vec::new();
        for (name, component) in &self.components {
            if let Err(err) = component.ready().await {
                errors.push((name.clone(), err));
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(LifecycleError::NotReady(errors))
        }
    }
}

impl Lifecycle for LifecycleGroup {
    fn start(&self) -> BoxFuture<'_, Result<(), BoxError>> {
        Box::pin(async { LifecycleGroup::start(self).await.map_err(Into::into) })
    }
    fn stop(&self) -> BoxFuture<'_, Result<(), BoxError>> {
        Box::pin(async { LifecycleGroup::stop(self).await.map_err(Into::into) })
    }
    fn ready(&self) -> BoxFuture<'_, Result<(), BoxError>> {
        Box::pin(async { LifecycleGroup::ready(self).await.map_err(Into::into) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex as StdMutex;

    fn recording(
        log: &Arc<StdMutex<Vec<String>>>,
        name: &'static str,
        fail_start: bool,
    ) -> Component {
        let (a, b, c) = (log.clone(), log.clone(), log.clone());
        Component::new()
            .on_start(move || {
                let log = a.clone();
                async move {
                    log.lock().unwrap().push(format!("start {name}"));
                    if fail_start {
                        Err("boom".into())
                    } else {
                        Ok(())
                    }
                }
            })
            .on_stop(move || {
                let log = b.clone();
                async move {
                    log.lock().unwrap().push(format!("stop {name}"));
                    Ok(())
                }
            })
            .on_ready(move || {
                let log = c.clone();
                async move {
                    log.lock().unwrap().push(format!("ready {name}"));
                    if name == "b" {
                        Err("not yet".into())
                    } else {
                        Ok(())
                    }
                }
            })
    }

    #[tokio::test]
    async fn starts_in_order_and_stops_in_reverse() {
        let log = Arc::new(StdMutex::new(Vec::new()));
        let group = LifecycleGroup::new()
            .add("a", recording(&log, "a", false))
            .add("b", recording(&log, "b", false))
            .add("c", recording(&log, "c", false));
        group.start().await.unwrap();
        assert_eq!(
            group.start().await.unwrap_err().to_string(),
            "core: LifecycleGroup already started"
        );
        group.stop().await.unwrap();
        assert_eq!(
            *log.lock().unwrap(),
            [
                "start a", "start b", "start c", "stop c", "stop b", "stop a"
            ]
        );
    }

    #[tokio::test]
    async fn failed_start_rolls_back_in_reverse() {
        let log = Arc::new(StdMutex::new(Vec::new()));
        let group = LifecycleGroup::new()
            .add("a", recording(&log, "a", false))
            .add("b", recording(&log, "b", false))
            .add("c", recording(&log, "c", true))
            .add("d", recording(&log, "d", false));
        let err = group.start().await.unwrap_err();
        assert_eq!(err.to_string(), "core: start \"c\": boom");
        assert_eq!(
            *log.lock().unwrap(),
            ["start a", "start b", "start c", "stop b", "stop a"]
        );
        // Nothing is running, so stop has nothing to do.
        log.lock().unwrap().clear();
        group.stop().await.unwrap();
        assert!(log.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn ready_collects_every_failure_and_groups_nest() {
        let log = Arc::new(StdMutex::new(Vec::new()));
        let inner = LifecycleGroup::new().add("b", recording(&log, "b", false));
        let outer = LifecycleGroup::new()
            .add("a", recording(&log, "a", false))
            .add("inner", inner);
        outer.start().await.unwrap();
        let err = outer.ready().await.unwrap_err().to_string();
        assert!(
            err.contains("core: \"inner\" not ready: core: \"b\" not ready: not yet"),
            "{err}"
        );
        outer.stop().await.unwrap();
        assert_eq!(log.lock().unwrap().last().unwrap(), "stop a");
    }
}
