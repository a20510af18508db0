//! The 504 envelope when the response head takes too long, with per-route
//! overrides.
//!
//! The deadline covers the inner service's response future, that is the time
//! until the status and headers are ready. When it passes, the layer answers
//! the error envelope (`gateway_timeout`, `TIMEOUT`, `request timed out`,
//! status 504) and the inner future is dropped, which cancels the handler at
//! its next `.await`.
//!
//! Differences from the Go toolkit:
//! - Go ran the handler on another goroutine that kept running after the
//!   deadline (it could not be stopped), and buffered the whole response to
//!   replay it. Here the handler is cancelled, nothing is buffered, so Go's
//!   "response exceeded buffer limit" and "too large for timeout buffering"
//!   500s cannot happen, and the body streams as soon as the head is ready.
//! - A panic in the handler propagates to the outer layers (recovery), and a
//!   late panic after the deadline cannot happen: the handler no longer runs.
//! - The body is not covered. For slow bodies use tower-http's
//!   [`RequestBodyTimeoutLayer`] and [`ResponseBodyTimeoutLayer`] (re-exported
//!   here), which fail a body that stays idle too long.
//!
//! # Per-route timeouts
//!
//! A route registered on Plumego's router with `.meta(RouteTimeout(..))` gets
//! that timeout instead of the configured one, wherever the layer sits:
//! - inside the router, as a group layer (`group.layer(TimeoutLayer::new(..))`),
//!   it reads the matched route from the request;
//! - wrapping the whole router (a global layer), it puts a
//!   [`RouteSlot`] into the request (or
//!   shares the one an outer layer put there), calls the router, which
//!   records its match in the slot before it returns its future, and picks
//!   the deadline then. The clock starts before the call either way.
//!
//! A zero duration (configured or per route) means no deadline, as in Go; a
//! route can opt out of its group's timeout with `RouteTimeout(Duration::ZERO)`
//! (useful for streaming endpoints).
//!
//! The deadline is a `tokio::time::Sleep`: the service must run on a tokio
//! runtime with the time driver enabled. The timer is created only when the
//! handler first returns `Pending`: a response ready on the first poll (most
//! cached or computed answers) registers no timer and never touches the
//! runtime handle's shared refcount, and the response future stays small
//! because the timer lives in a box that only slow requests pay for.
//!
//! ```
//! use std::time::Duration;
//! use plumego_layers::timeout::{TimeoutConfig, TimeoutLayer};
//! use tower::{ServiceBuilder, ServiceExt};
//!
//! # tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build().unwrap().block_on(async {
//! let svc = ServiceBuilder::new()
//!     .layer(TimeoutLayer::new(TimeoutConfig::new(Duration::from_secs(1))))
//!     .service_fn(|_req: http::Request<()>| async move {
//!         tokio::time::sleep(Duration::from_secs(5)).await;
//!         Ok::<_, std::convert::Infallible>(http::Response::new(http_body_util::Empty::<bytes::Bytes>::new()))
//!     });
//! let res = svc.oneshot(http::Request::new(())).await.unwrap();
//! assert_eq!(res.status(), 504);
//! # });
//! ```

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use http::{Request, Response};
use pin_project_lite::pin_project;
use plumego_core::context::{RequestExt, RequestId, RouteInfo, RouteSlot};
use plumego_core::error::{ApiError, ErrorType};
use tokio::time::{Instant, Sleep};
use tower::{Layer, Service};

pub use tower_http::timeout::{
    RequestBodyTimeout, RequestBodyTimeoutLayer, ResponseBodyTimeout, ResponseBodyTimeoutLayer,
    TimeoutBody, TimeoutError,
};

use crate::body::{ResponseBody, envelope};

/// The default timeout, 30 seconds (the Go reference service's value).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// Timeout options.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeoutConfig {
    /// Time allowed until the response head; zero means no deadline. Default
    /// [`DEFAULT_TIMEOUT`]. A route's [`RouteTimeout`] takes precedence.
    pub timeout: Duration,
}

impl Default for TimeoutConfig {
    fn default() -> Self {
        Self {
            timeout: DEFAULT_TIMEOUT,
        }
    }
}

impl TimeoutConfig {
    /// A configuration with this timeout.
    pub fn new(timeout: Duration) -> Self {
        Self { timeout }
    }

    /// Changes the timeout.
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }
}

/// Route metadata overriding the timeout for one route, inside or around the
/// router (see the [module docs](self)).
///
/// ```
/// use std::time::Duration;
/// use plumego_core::{handler_fn, Body};
/// use plumego_layers::timeout::{RouteTimeout, TimeoutConfig, TimeoutLayer};
/// use plumego_router::RouterBuilder;
/// use tower::ServiceExt;
///
/// # tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build().unwrap().block_on(async {
/// let slow = handler_fn(|_req: http::Request<Body>| async {
///     tokio::time::sleep(Duration::from_secs(3)).await;
///     "done"
/// });
/// let mut routes = RouterBuilder::new();
/// routes.group("/api", |api| {
///     api.layer(TimeoutLayer::new(TimeoutConfig::new(Duration::from_secs(1))));
///     api.get("/report", slow.clone())?.meta(RouteTimeout(Duration::from_secs(10)));
///     api.get("/other", slow)?;
///     Ok(())
/// })?;
/// let router = routes.build();
/// let res = router.clone().oneshot(http::Request::get("/api/report").body(Body::empty())?).await?;
/// assert_eq!(res.status(), 200);
/// let res = router.oneshot(http::Request::get("/api/other").body(Body::empty())?).await?;
/// assert_eq!(res.status(), 504);
/// # Ok::<_, Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RouteTimeout(pub Duration);

/// Adds [`TimeoutService`].
#[derive(Debug, Clone, Copy, Default)]
pub struct TimeoutLayer {
    config: TimeoutConfig,
}

impl TimeoutLayer {
    /// A layer with this configuration.
    pub fn new(config: TimeoutConfig) -> Self {
        Self { config }
    }
}

impl<S> Layer<S> for TimeoutLayer {
    type Service = TimeoutService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        TimeoutService {
            inner,
            timeout: self.config.timeout,
        }
    }
}

/// Answers the 504 envelope when the inner service is too slow.
#[derive(Debug, Clone)]
pub struct TimeoutService<S> {
    inner: S,
    timeout: Duration,
}

impl<S, ReqB, ResB> Service<Request<ReqB>> for TimeoutService<S>
where
    S: Service<Request<ReqB>, Response = Response<ResB>>,
{
    type Response = Response<ResponseBody<ResB>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<ReqB>) -> Self::Future {
        // Started at call, before the inner service runs: its own work counts.
        let started = Instant::now();
        let request_id = req.request_id().cloned();
        // Inside the router the match is known now; around it, the router
        // fills the slot while it is called.
        let (inner, route_timeout) = match req.route() {
            Some(state) => {
                let timeout = route_timeout(Some(state.route()));
                (self.inner.call(req), timeout)
            }
            None => {
                let slot = RouteSlot::ensure(req.extensions_mut());
                let inner = self.inner.call(req);
                (inner, route_timeout(slot.get().map(|r| &**r)))
            }
        };
        let timeout = route_timeout.unwrap_or(self.timeout);
        ResponseFuture {
            inner,
            deadline: (!timeout.is_zero()).then(|| started + timeout),
            sleep: None,
            request_id,
        }
    }
}

/// The route's own timeout, if it has one.
fn route_timeout(route: Option<&RouteInfo>) -> Option<Duration> {
    route
        .and_then(|r| r.metadata::<RouteTimeout>())
        .map(|t| t.0)
}

pin_project! {
    /// The response future of [`TimeoutService`].
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        deadline: Option<Instant>,
        // Created at the first `Pending`; see the module docs.
        sleep: Option<Pin<Box<Sleep>>>,
        request_id: Option<RequestId>,
    }
}

impl<F, ResB, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<ResB>, E>>,
{
    type Output = Result<Response<ResponseBody<ResB>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        // The handler first: an answer ready at the deadline still wins.
        if let Poll::Ready(res) = this.inner.poll(cx) {
            return Poll::Ready(res.map(|res| res.map(ResponseBody::inner)));
        }
        let Some(deadline) = *this.deadline else {
            return Poll::Pending;
        };
        let sleep = this
            .sleep
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        ready!(sleep.as_mut().poll(cx));
        let error = ApiError::builder()
            .error_type(ErrorType::GatewayTimeout)
            .code("TIMEOUT")
            .message("request timed out")
            .build();
        Poll::Ready(Ok(envelope(error, this.request_id.as_ref())))
    }
}
