//! At most N requests in flight, a bounded queue in front of them, and 503
//! envelopes when either is exhausted.
//!
//! Two semaphores, as in the Go toolkit: admission holds `max_concurrent +
//! queue_depth` slots, and a worker slot is one of `max_concurrent`.
//! - No admission slot left: immediate 503 (`service_unavailable`,
//!   `server_busy`, `server is throttling concurrent requests`).
//! - Admitted but no worker within `queue_timeout` (default 100 ms): 503
//!   (`server_queue_timeout`, `request timed out waiting for an available
//!   worker`) with details `queue_occupancy` (requests waiting, this one
//!   included) and `queue_capacity` (`queue_depth`).
//! - Both carry `Retry-After: 1`.
//! - A queue depth of 0 is load shedding: a request that cannot run at once
//!   is refused at once.
//!
//! Waiters get workers in arrival order (tokio's semaphore is fair). A client
//! that goes away (the response future is dropped) leaves the queue, or frees
//! its worker, without anything being written, as in Go.
//!
//! # Readiness
//!
//! `poll_ready` only asks the inner service; it never waits for a slot. The
//! queueing happens in the response future, so the service stays `Clone`,
//! needs no `tower::buffer::Buffer`, and works as an axum or Plumego router
//! layer. A queued request moves the inner service that `poll_ready` made
//! ready into its future (a clone stays behind), and the worker wait is a
//! boxed future: one allocation, on the queued path only.
//!
//! # When a slot is released
//!
//! Both slots are released when the response head is ready, not when the
//! body ends (tower's `ConcurrencyLimit` does the same). The limit protects
//! the handler's work; holding slots for the body would let slow readers and
//! long streams (SSE, downloads) occupy every worker without using the CPU.
//! Bound bodies with the timeout layer's body timeouts instead.
//!
//! The slots belong to the layer value: every service it wraps (every route,
//! when used as an axum or router group layer) shares one limit.
//!
//! ```
//! use plumego_layers::concurrency_limit::{ConcurrencyLimitConfig, ConcurrencyLimitLayer};
//! use tower::{Service, ServiceBuilder, ServiceExt};
//!
//! # tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build().unwrap().block_on(async {
//! let config = ConcurrencyLimitConfig::new(1).unwrap().load_shed();
//! let mut svc = ServiceBuilder::new()
//!     .layer(ConcurrencyLimitLayer::new(config))
//!     .service_fn(|_req: http::Request<()>| async move {
//!         Ok::<_, std::convert::Infallible>(http::Response::new(http_body_util::Empty::<bytes::Bytes>::new()))
//!     });
//! let first = svc.ready().await.unwrap().call(http::Request::new(())); // holds the only worker
//! let second = svc.ready().await.unwrap().call(http::Request::new(()));
//! let res = second.await.unwrap();
//! assert_eq!(res.status(), 503);
//! assert_eq!(res.headers()["retry-after"], "1");
//! assert_eq!(first.await.unwrap().status(), 200);
//! # });
//! ```

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use http::{HeaderValue, Request, Response, header};
use pin_project_lite::pin_project;
use plumego_core::context::{RequestExt, RequestId};
use plumego_core::error::{ApiError, ErrorType};
use tokio::sync::{AcquireError, OwnedSemaphorePermit, Semaphore};
use tokio::time::Sleep;
use tower::{Layer, Service};

use crate::body::{ResponseBody, envelope};

/// The default queue timeout, 100 ms (Go's `DefaultConfig`).
pub const DEFAULT_QUEUE_TIMEOUT: Duration = Duration::from_millis(100);

/// Concurrency-limit options.
///
/// There is no `Default`: the right number of workers depends on the service
/// (Go's `DefaultConfig` also takes it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConcurrencyLimitConfig {
    max_concurrent: usize,
    queue_depth: usize,
    queue_timeout: Duration,
}

impl ConcurrencyLimitConfig {
    /// At most `max_concurrent` requests in flight, with a queue as deep as
    /// that (a burst of twice the capacity waits rather than fails) and the
    /// default queue timeout. `max_concurrent` must be between 1 and
    /// tokio's `Semaphore::MAX_PERMITS`; Go's "0 disables" becomes "do not add
    /// the layer".
    ///
    /// ```
    /// use std::time::Duration;
    /// use plumego_layers::concurrency_limit::ConcurrencyLimitConfig;
    ///
    /// let config = ConcurrencyLimitConfig::new(64).unwrap();
    /// assert_eq!(config.queue_depth(), 64);
    /// assert_eq!(config.queue_timeout(), Duration::from_millis(100));
    /// let shed = config.load_shed();
    /// assert_eq!(shed.queue_depth(), 0);
    /// assert!(ConcurrencyLimitConfig::new(0).is_err());
    /// ```
    pub fn new(max_concurrent: usize) -> Result<Self, InvalidConcurrencyLimit> {
        if max_concurrent == 0 || max_concurrent > Semaphore::MAX_PERMITS {
            return Err(InvalidConcurrencyLimit);
        }
        Ok(Self {
            max_concurrent,
            queue_depth: max_concurrent.min(Semaphore::MAX_PERMITS - max_concurrent),
            queue_timeout: DEFAULT_QUEUE_TIMEOUT,
        })
    }

    /// Sets how many requests may wait for a worker; 0 is load shedding. Capped
    /// so that workers plus queue fit in one semaphore.
    #[must_use]
    pub fn with_queue_depth(mut self, depth: usize) -> Self {
        self.queue_depth = depth.min(Semaphore::MAX_PERMITS - self.max_concurrent);
        self
    }

    /// Sets how long a queued request waits for a worker.
    #[must_use]
    pub fn with_queue_timeout(mut self, timeout: Duration) -> Self {
        self.queue_timeout = timeout;
        self
    }

    /// No queue: what cannot run now is refused now.
    #[must_use]
    pub fn load_shed(self) -> Self {
        self.with_queue_depth(0)
    }

    /// The number of workers.
    pub fn max_concurrent(&self) -> usize {
        self.max_concurrent
    }

    /// The queue depth.
    pub fn queue_depth(&self) -> usize {
        self.queue_depth
    }

    /// The queue timeout.
    pub fn queue_timeout(&self) -> Duration {
        self.queue_timeout
    }
}

/// `max_concurrent` was 0 or more than a tokio semaphore can hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvalidConcurrencyLimit;

impl std::fmt::Display for InvalidConcurrencyLimit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(
            "concurrency limit: max_concurrent must be between 1 and Semaphore::MAX_PERMITS",
        )
    }
}

impl std::error::Error for InvalidConcurrencyLimit {}

/// The shared slots.
#[derive(Debug)]
struct Limits {
    admission: Arc<Semaphore>,
    workers: Arc<Semaphore>,
    config: ConcurrencyLimitConfig,
}

impl Limits {
    /// Requests admitted but without a worker. Read from two semaphores
    /// without a lock, so it is a snapshot; clamped to the queue's capacity.
    fn queue_occupancy(&self) -> usize {
        let c = &self.config;
        let admitted =
            (c.max_concurrent + c.queue_depth).saturating_sub(self.admission.available_permits());
        let running = c
            .max_concurrent
            .saturating_sub(self.workers.available_permits());
        admitted.saturating_sub(running).min(c.queue_depth)
    }
}

/// Adds [`ConcurrencyLimitService`].
#[derive(Debug, Clone)]
pub struct ConcurrencyLimitLayer {
    limits: Arc<Limits>,
}

impl ConcurrencyLimitLayer {
    /// A layer with this configuration and its own slots.
    pub fn new(config: ConcurrencyLimitConfig) -> Self {
        Self {
            limits: Arc::new(Limits {
                admission: Arc::new(Semaphore::new(config.max_concurrent + config.queue_depth)),
                workers: Arc::new(Semaphore::new(config.max_concurrent)),
                config,
            }),
        }
    }
}

impl<S> Layer<S> for ConcurrencyLimitLayer {
    type Service = ConcurrencyLimitService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ConcurrencyLimitService {
            inner,
            limits: self.limits.clone(),
        }
    }
}

/// Limits the requests in flight; see the [module docs](self).
#[derive(Debug, Clone)]
pub struct ConcurrencyLimitService<S> {
    inner: S,
    limits: Arc<Limits>,
}

impl<S, ReqB, ResB> Service<Request<ReqB>> for ConcurrencyLimitService<S>
where
    S: Service<Request<ReqB>, Response = Response<ResB>> + Clone,
{
    type Response = Response<ResponseBody<ResB>>;
    type Error = S::Error;
    type Future = ResponseFuture<S, ReqB>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqB>) -> Self::Future {
        let request_id = req.request_id().cloned();
        let limits = self.limits.clone();
        let state = match limits.admission.clone().try_acquire_owned() {
            Err(_) => State::Busy,
            Ok(admission) => match limits.workers.clone().try_acquire_owned() {
                Ok(worker) => State::Running {
                    future: self.inner.call(req),
                    _permits: Permits {
                        _worker: worker,
                        _admission: admission,
                    },
                },
                Err(_) => {
                    // Take the service `poll_ready` readied; the clone left
                    // behind is readied by the next `poll_ready`.
                    let clone = self.inner.clone();
                    let ready = std::mem::replace(&mut self.inner, clone);
                    State::Queued {
                        acquire: Box::pin(limits.workers.clone().acquire_owned()),
                        deadline: tokio::time::sleep(limits.config.queue_timeout),
                        pending: Some(Pending {
                            service: ready,
                            request: req,
                            admission,
                        }),
                    }
                }
            },
        };
        ResponseFuture {
            state,
            limits,
            request_id,
        }
    }
}

type Acquire = Pin<Box<dyn Future<Output = Result<OwnedSemaphorePermit, AcquireError>> + Send>>;

/// Slots held while the inner future runs; the worker is released first so a
/// waiter never sees a free admission slot without a free worker.
struct Permits {
    _worker: OwnedSemaphorePermit,
    _admission: OwnedSemaphorePermit,
}

/// A queued call, waiting for a worker.
struct Pending<S, R> {
    service: S,
    request: R,
    admission: OwnedSemaphorePermit,
}

pin_project! {
    /// The response future of [`ConcurrencyLimitService`].
    pub struct ResponseFuture<S, ReqB>
    where
        S: Service<Request<ReqB>>,
    {
        #[pin]
        state: State<S, ReqB>,
        limits: Arc<Limits>,
        request_id: Option<RequestId>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<S, ReqB>
    where
        S: Service<Request<ReqB>>,
    {
        Running {
            #[pin]
            future: S::Future,
            _permits: Permits,
        },
        Queued {
            acquire: Acquire,
            #[pin]
            deadline: Sleep,
            pending: Option<Pending<S, Request<ReqB>>>,
        },
        Busy,
        Done,
    }
}

impl<S, ReqB, ResB> Future for ResponseFuture<S, ReqB>
where
    S: Service<Request<ReqB>, Response = Response<ResB>>,
{
    type Output = Result<Response<ResponseBody<ResB>>, S::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            let next = match this.state.as_mut().project() {
                StateProj::Running { future, .. } => {
                    let output = ready!(future.poll(cx));
                    // Release both slots now, not whenever the caller drops us.
                    this.state.set(State::Done);
                    return Poll::Ready(output.map(|res| res.map(ResponseBody::inner)));
                }
                // `Done` is only reachable if polled after completion.
                StateProj::Busy | StateProj::Done => {
                    return Poll::Ready(Ok(busy(this.request_id.as_ref())));
                }
                StateProj::Queued {
                    acquire,
                    deadline,
                    pending,
                } => match acquire.as_mut().poll(cx) {
                    Poll::Ready(Ok(worker)) => match pending.take() {
                        Some(Pending {
                            mut service,
                            request,
                            admission,
                        }) => State::Running {
                            future: service.call(request),
                            _permits: Permits {
                                _worker: worker,
                                _admission: admission,
                            },
                        },
                        // Only reachable if polled after completion.
                        None => State::Busy,
                    },
                    // The semaphores are never closed; answer busy rather than panic.
                    Poll::Ready(Err(_)) => State::Busy,
                    Poll::Pending => {
                        if deadline.poll(cx).is_pending() {
                            return Poll::Pending;
                        }
                        // Counted while this request still holds its admission slot.
                        let occupancy = this.limits.queue_occupancy();
                        *pending = None;
                        return Poll::Ready(Ok(queue_timeout(
                            occupancy,
                            this.limits.config.queue_depth,
                            this.request_id.as_ref(),
                        )));
                    }
                },
            };
            this.state.set(next);
        }
    }
}

fn with_retry_after<B>(mut res: Response<ResponseBody<B>>) -> Response<ResponseBody<B>> {
    res.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    res
}

fn busy<B>(request_id: Option<&RequestId>) -> Response<ResponseBody<B>> {
    let error = ApiError::builder()
        .error_type(ErrorType::ServiceUnavailable)
        .code("server_busy")
        .message("server is throttling concurrent requests")
        .build();
    with_retry_after(envelope(error, request_id))
}

fn queue_timeout<B>(
    occupancy: usize,
    capacity: usize,
    request_id: Option<&RequestId>,
) -> Response<ResponseBody<B>> {
    let error = ApiError::builder()
        .error_type(ErrorType::ServiceUnavailable)
        .code("server_queue_timeout")
        .message("request timed out waiting for an available worker")
        .detail("queue_occupancy", occupancy)
        .detail("queue_capacity", capacity)
        .build();
    with_retry_after(envelope(error, request_id))
}
