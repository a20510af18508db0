//! Panics become the 500 error envelope, on tower-http's `CatchPanic`.
//!
//! A panic in the inner service's `call` or while its response future runs is
//! caught and answered with the error envelope (`internal_error`,
//! `INTERNAL_ERROR`, `internal server error`) carrying the request id. The
//! layer logs one `tracing` error event, `panic recovered`, with `panic_type`
//! (`&str`, `String` or `unknown`), `status` and `request_id`: the panic
//! payload itself is never sent or logged, because panic messages routinely
//! contain the data that caused them (tokens, SQL, user input).
//!
//! Differences from the Go toolkit, and what stays outside the layer:
//! - A panic while the response *body* streams is not caught: the head has
//!   already left, so there is nothing left to answer with (Go likewise appends
//!   nothing once the response started). The connection task ends instead.
//! - The process panic hook still runs before the panic is caught; the default
//!   hook prints the payload to stderr. Replace it in `main` (for instance with
//!   one that prints only the location) if payloads may carry secrets: a layer
//!   must not change process-wide state.
//! - tower-http's `CatchPanic` boxes every response body (one allocation per
//!   response); that boxed type is [`RecoveryBody`].
//!
//! ```
//! use plumego_layers::recovery::RecoveryLayer;
//! use tower::{ServiceBuilder, ServiceExt};
//! use http_body_util::BodyExt;
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let svc = ServiceBuilder::new()
//!     .layer(RecoveryLayer::new())
//!     .service_fn(|_req: http::Request<()>| async move {
//!         if true {
//!             panic!("db password was hunter2");
//!         }
//!         Ok::<_, std::convert::Infallible>(http::Response::new(http_body_util::Empty::<bytes::Bytes>::new()))
//!     });
//! let res = svc.oneshot(http::Request::new(())).await.unwrap();
//! assert_eq!(res.status(), 500);
//! let body = res.into_body().collect().await.unwrap().to_bytes();
//! assert!(!String::from_utf8_lossy(&body).contains("hunter2"));
//! # });
//! ```

use std::any::Any;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::Empty;
use pin_project_lite::pin_project;
use plumego_core::context::{RequestExt, RequestId};
use plumego_core::error::{ApiError, ErrorType};
use tower::{Layer, Service};
use tower_http::catch_panic::{self, CatchPanic, ResponseForPanic};

use crate::body::{ResponseBody, envelope};

/// The inner response body after `CatchPanic` boxed it. The service answers
/// `ResponseBody<RecoveryBody>`: the boxed inner body, or the envelope.
pub type RecoveryBody = tower_http::body::UnsyncBoxBody<Bytes, tower_http::BoxError>;

/// Adds [`RecoveryService`]. The behaviour is fixed by the contract, so there
/// is nothing to configure.
#[derive(Debug, Clone, Copy, Default)]
pub struct RecoveryLayer {
    _private: (),
}

impl RecoveryLayer {
    /// The layer.
    pub fn new() -> Self {
        Self::default()
    }
}

impl<S> Layer<S> for RecoveryLayer {
    type Service = RecoveryService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RecoveryService {
            inner: CatchPanic::custom(inner, MarkPanic),
        }
    }
}

/// Answers the 500 envelope when the inner service panics.
#[derive(Debug, Clone)]
pub struct RecoveryService<S> {
    inner: CatchPanic<S, MarkPanic>,
}

impl<S> RecoveryService<S> {
    /// Wraps `inner`.
    pub fn new(inner: S) -> Self {
        RecoveryLayer::new().layer(inner)
    }
}

impl<S, ReqB, ResB> Service<Request<ReqB>> for RecoveryService<S>
where
    S: Service<Request<ReqB>, Response = Response<ResB>>,
    ResB: http_body::Body<Data = Bytes> + Send + 'static,
    ResB::Error: Into<tower_http::BoxError>,
{
    type Response = Response<ResponseBody<RecoveryBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqB>) -> Self::Future {
        // Read before the request moves: the panic handler never sees it.
        let request_id = req.request_id().cloned();
        ResponseFuture {
            inner: self.inner.call(req),
            request_id,
        }
    }
}

pin_project! {
    /// The response future of [`RecoveryService`].
    pub struct ResponseFuture<F> {
        #[pin]
        inner: catch_panic::ResponseFuture<F, MarkPanic>,
        request_id: Option<RequestId>,
    }
}

impl<F, ResB, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<ResB>, E>>,
    ResB: http_body::Body<Data = Bytes> + Send + 'static,
    ResB::Error: Into<tower_http::BoxError>,
{
    type Output = Result<Response<ResponseBody<RecoveryBody>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let res = ready!(this.inner.poll(cx))?;
        let Some(recovered) = res.extensions().get::<Recovered>() else {
            return Poll::Ready(Ok(res.map(ResponseBody::inner)));
        };
        let request_id = this.request_id.as_ref();
        tracing::error!(
            panic_type = recovered.panic_type,
            status = 500u16,
            request_id = request_id.map(RequestId::as_str),
            "panic recovered"
        );
        let error = ApiError::builder()
            .error_type(ErrorType::Internal)
            .message("internal server error")
            .build();
        Poll::Ready(Ok(envelope(error, request_id)))
    }
}

/// The panic handler given to `CatchPanic`. It cannot see the request (so not
/// its id), so it only classifies the payload and marks the response; the
/// response future, which knows the id, logs and writes the envelope.
#[derive(Debug, Clone, Copy)]
struct MarkPanic;

/// The mark left on the placeholder response of a caught panic. Private, so no
/// inner service can forge it.
#[derive(Debug, Clone, Copy)]
struct Recovered {
    panic_type: &'static str,
}

impl ResponseForPanic for MarkPanic {
    type ResponseBody = Empty<Bytes>;

    fn response_for_panic(
        &mut self,
        payload: Box<dyn Any + Send + 'static>,
    ) -> Response<Empty<Bytes>> {
        let mut res = Response::new(Empty::new());
        *res.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
        res.extensions_mut().insert(Recovered {
            panic_type: payload_type(&*payload),
        });
        res
    }
}

/// The payload's type name, never its value (`panic!("{}", x)` gives a
/// `String`, `panic!("literal")` a `&str`, `panic_any(v)` anything).
fn payload_type(payload: &(dyn Any + Send)) -> &'static str {
    if payload.is::<&'static str>() {
        "&str"
    } else if payload.is::<String>() {
        "String"
    } else {
        "unknown"
    }
}
