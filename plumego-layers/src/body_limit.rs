//! Request bodies larger than a limit are answered with the 413 envelope.
//!
//! Two checks, so that neither honest nor lying clients get past:
//! - **Early**: a `Content-Length` above the limit is rejected before the inner
//!   service runs (`seen_bytes` is the declared length). The Go toolkit did not
//!   pre-check and let the handler start on a body it could never accept.
//! - **While streaming** (chunked bodies, or a length that lies): the inner
//!   service sees the body as a [`Limited`], which yields an error
//!   ([`BodyTooLarge`]) as soon as more than `max_bytes` have arrived, so a
//!   handler sees a failed body, never a silently truncated one. If that
//!   happens before the inner service answers, the layer discards the answer
//!   and sends the 413 envelope instead (`seen_bytes` counts every byte
//!   received up to and including the frame that crossed the limit). This
//!   replaces Go's "block later writes" writer trick: the handler's response
//!   is dropped whole.
//!
//! A limit tripped after the response head has left (a handler streaming the
//! request body into its response) cannot change the status any more; the
//! handler still sees the body error. The details of the envelope are
//! `max_bytes`, `seen_bytes` and `at` (UTC, RFC 3339 with nanoseconds). Each
//! rejection also logs a `tracing` warning, `request body too large`.
//!
//! The inner service's request body type becomes [`Limited<B>`], so put the
//! layer around a whole service: an axum `Router::layer` accepts it (axum
//! routes take any body), and a Plumego router behind it is a
//! `Router<Limited<B>>`. A router group layer cannot change the body type.
//!
//! The limit is always positive; Go's "0 disables" becomes "do not add the
//! layer" (`tower::util::option_layer` for a configurable switch).
//!
//! ```
//! use plumego_layers::body_limit::{BodyLimitConfig, BodyLimitLayer, Limited};
//! use tower::{ServiceBuilder, ServiceExt};
//! use http_body_util::{BodyExt, Full};
//! use bytes::Bytes;
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let svc = ServiceBuilder::new()
//!     .layer(BodyLimitLayer::new(BodyLimitConfig::new(4).unwrap()))
//!     .service_fn(|req: http::Request<Limited<Full<Bytes>>>| async move {
//!         let len = req.into_body().collect().await.map(|b| b.to_bytes().len()).unwrap_or(0);
//!         Ok::<_, std::convert::Infallible>(http::Response::new(Full::new(Bytes::from(len.to_string()))))
//!     });
//! let req = http::Request::new(Full::new(Bytes::from("too long")));
//! let res = svc.oneshot(req).await.unwrap();
//! assert_eq!(res.status(), 413);
//! # });
//! ```

use std::future::Future;
use std::num::NonZeroU64;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll, ready};
use std::time::SystemTime;

use bytes::Buf;
use http::{Request, Response};
use http_body::{Frame, SizeHint};
use pin_project_lite::pin_project;
use plumego_core::BoxError;
use plumego_core::context::{RequestExt, RequestId};
use plumego_core::error::{ApiError, ErrorType};
use plumego_core::health::rfc3339_nanos;
use tower::{Layer, Service};

use crate::body::{ResponseBody, envelope};

/// The default limit, 1 MiB (the Go reference service's default).
pub const DEFAULT_MAX_BYTES: u64 = 1 << 20;

/// Body-limit options.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BodyLimitConfig {
    max_bytes: NonZeroU64,
}

impl Default for BodyLimitConfig {
    /// [`DEFAULT_MAX_BYTES`].
    fn default() -> Self {
        const DEFAULT: NonZeroU64 = match NonZeroU64::new(DEFAULT_MAX_BYTES) {
            Some(n) => n,
            None => NonZeroU64::MIN,
        };
        Self { max_bytes: DEFAULT }
    }
}

impl BodyLimitConfig {
    /// At most `max_bytes` of request body; 0 is refused rather than read as
    /// "no limit" (leave the layer out for that).
    ///
    /// ```
    /// use plumego_layers::body_limit::BodyLimitConfig;
    ///
    /// assert_eq!(BodyLimitConfig::new(1024).unwrap().max_bytes(), 1024);
    /// assert!(BodyLimitConfig::new(0).is_err());
    /// ```
    pub fn new(max_bytes: u64) -> Result<Self, InvalidBodyLimit> {
        NonZeroU64::new(max_bytes)
            .map(|max_bytes| Self { max_bytes })
            .ok_or(InvalidBodyLimit)
    }

    /// The limit in bytes.
    pub fn max_bytes(&self) -> u64 {
        self.max_bytes.get()
    }
}

/// A body limit of 0 was requested.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvalidBodyLimit;

impl std::fmt::Display for InvalidBodyLimit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("body limit: max_bytes must be greater than 0")
    }
}

impl std::error::Error for InvalidBodyLimit {}

/// The error a [`Limited`] body yields once the limit is exceeded. Handlers
/// find it with `err.downcast_ref::<BodyTooLarge>()` (or in the source chain).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BodyTooLarge {
    max_bytes: u64,
    seen_bytes: u64,
}

impl BodyTooLarge {
    /// The configured limit.
    pub fn max_bytes(&self) -> u64 {
        self.max_bytes
    }

    /// Bytes received when the limit tripped (more than `max_bytes`).
    pub fn seen_bytes(&self) -> u64 {
        self.seen_bytes
    }
}

impl std::fmt::Display for BodyTooLarge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("request body too large")
    }
}

impl std::error::Error for BodyTooLarge {}

/// Adds [`BodyLimitService`].
#[derive(Debug, Clone, Copy, Default)]
pub struct BodyLimitLayer {
    config: BodyLimitConfig,
}

impl BodyLimitLayer {
    /// A layer with this configuration.
    pub fn new(config: BodyLimitConfig) -> Self {
        Self { config }
    }
}

impl<S> Layer<S> for BodyLimitLayer {
    type Service = BodyLimitService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        BodyLimitService {
            inner,
            max_bytes: self.config.max_bytes(),
        }
    }
}

/// Rejects oversized bodies early and limits the rest while they stream.
#[derive(Debug, Clone)]
pub struct BodyLimitService<S> {
    inner: S,
    max_bytes: u64,
}

impl<S, ReqB, ResB> Service<Request<ReqB>> for BodyLimitService<S>
where
    S: Service<Request<Limited<ReqB>>, Response = Response<ResB>>,
    ReqB: http_body::Body,
{
    type Response = Response<ResponseBody<ResB>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqB>) -> Self::Future {
        let request_id = req.request_id().cloned();
        let max_bytes = self.max_bytes;
        // An unparsable length is left to the streaming check.
        if let Some(declared) =
            crate::body::content_length(req.headers()).filter(|&n| n > max_bytes)
        {
            return ResponseFuture {
                kind: Kind::Rejected {
                    seen_bytes: declared,
                },
                max_bytes,
                request_id,
            };
        }
        // The trip cell is only needed for a body that can exceed the limit;
        // an empty GET (or one whose exact size fits) skips the allocation.
        let fits = {
            let body = req.body();
            body.is_end_stream() || body.size_hint().upper().is_some_and(|n| n <= max_bytes)
        };
        let trip = (!fits).then(|| Arc::new(Trip::default()));
        let req = req.map(|body| Limited {
            inner: body,
            seen: 0,
            max_bytes,
            tripped: false,
            trip: trip.clone(),
        });
        ResponseFuture {
            kind: Kind::Called {
                future: self.inner.call(req),
                trip,
            },
            max_bytes,
            request_id,
        }
    }
}

/// Where the body reports that the limit tripped, for the response future.
/// Holds the byte count at the trip; 0 means "not tripped" (a trip always
/// counts more than `max_bytes` ≥ 1 bytes).
#[derive(Debug, Default)]
struct Trip(AtomicU64);

impl Trip {
    fn set(&self, seen: u64) {
        // First trip wins; later polls repeat the error but not the count.
        let _ = self
            .0
            .compare_exchange(0, seen, Ordering::Release, Ordering::Relaxed);
    }

    fn get(&self) -> Option<u64> {
        Some(self.0.load(Ordering::Acquire)).filter(|&n| n != 0)
    }
}

pin_project! {
    /// The request body as the inner service sees it: the original body,
    /// failing with [`BodyTooLarge`] once more than the limit has arrived.
    pub struct Limited<B> {
        #[pin]
        inner: B,
        seen: u64,
        max_bytes: u64,
        tripped: bool,
        trip: Option<Arc<Trip>>,
    }
}

impl<B> std::fmt::Debug for Limited<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Limited")
            .field("seen", &self.seen)
            .field("max_bytes", &self.max_bytes)
            .field("tripped", &self.tripped)
            .finish_non_exhaustive()
    }
}

impl<B> Limited<B> {
    /// The limit.
    pub fn max_bytes(&self) -> u64 {
        self.max_bytes
    }

    /// Data bytes received so far.
    pub fn seen_bytes(&self) -> u64 {
        self.seen
    }

    fn error(&self) -> BoxError {
        Box::new(BodyTooLarge {
            max_bytes: self.max_bytes,
            seen_bytes: self.seen,
        })
    }
}

impl<B> http_body::Body for Limited<B>
where
    B: http_body::Body,
    B::Error: Into<BoxError>,
{
    type Data = B::Data;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<B::Data>, BoxError>>> {
        if self.tripped {
            // Repeated, as Go's reader does: a body never resumes after the error.
            return Poll::Ready(Some(Err(self.error())));
        }
        let this = self.as_mut().project();
        let frame = match ready!(this.inner.poll_frame(cx)) {
            Some(Ok(frame)) => frame,
            Some(Err(e)) => return Poll::Ready(Some(Err(e.into()))),
            None => return Poll::Ready(None),
        };
        if let Some(data) = frame.data_ref() {
            let len = u64::try_from(data.remaining()).unwrap_or(u64::MAX);
            *this.seen = this.seen.saturating_add(len);
            if *this.seen > *this.max_bytes {
                *this.tripped = true;
                if let Some(trip) = this.trip {
                    trip.set(*this.seen);
                }
                return Poll::Ready(Some(Err(self.error())));
            }
        }
        Poll::Ready(Some(Ok(frame)))
    }

    fn is_end_stream(&self) -> bool {
        // Once tripped, the next poll is an error, not the end.
        !self.tripped && self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        let mut hint = self.inner.size_hint();
        let remaining = self.max_bytes.saturating_sub(self.seen);
        // A body that must overrun keeps its own hint (capping it would break
        // `lower <= upper`); otherwise no successful read yields more than the rest.
        if hint.lower() <= remaining {
            hint.set_upper(hint.upper().map_or(remaining, |u| u.min(remaining)));
        }
        hint
    }
}

pin_project! {
    /// The response future of [`BodyLimitService`].
    pub struct ResponseFuture<F> {
        #[pin]
        kind: Kind<F>,
        max_bytes: u64,
        request_id: Option<RequestId>,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<F> {
        Called {
            #[pin]
            future: F,
            trip: Option<Arc<Trip>>,
        },
        Rejected {
            seen_bytes: u64,
        },
    }
}

impl<F, ResB, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<ResB>, E>>,
{
    type Output = Result<Response<ResponseBody<ResB>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let seen_bytes = match this.kind.project() {
            KindProj::Rejected { seen_bytes } => *seen_bytes,
            KindProj::Called { future, trip } => {
                let res = ready!(future.poll(cx))?;
                match trip.as_ref().and_then(|t| t.get()) {
                    Some(seen) => seen,
                    None => return Poll::Ready(Ok(res.map(ResponseBody::inner))),
                }
            }
        };
        Poll::Ready(Ok(too_large(
            *this.max_bytes,
            seen_bytes,
            this.request_id.as_ref(),
        )))
    }
}

fn too_large<B>(
    max_bytes: u64,
    seen_bytes: u64,
    request_id: Option<&RequestId>,
) -> Response<ResponseBody<B>> {
    tracing::warn!(
        max_bytes,
        seen_bytes,
        request_id = request_id.map(RequestId::as_str),
        "request body too large"
    );
    let error = ApiError::builder()
        .error_type(ErrorType::PayloadTooLarge)
        .message("request body exceeds configured limit")
        .detail("max_bytes", max_bytes)
        .detail("seen_bytes", seen_bytes)
        .detail("at", rfc3339_nanos(SystemTime::now()))
        .build();
    envelope(error, request_id)
}
