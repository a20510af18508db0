//! Turning async functions into tower services.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use pin_project_lite::pin_project;
use tower::Service;

use crate::context::RequestId;
use crate::envelope::attach_request_id;
use crate::response::{IntoResponse, Response};

/// Wraps `async fn(Request<B>) -> impl IntoResponse` (or a closure) as a `Clone`
/// tower [`Service`] that never fails.
///
/// Envelopes returned by the handler get the request id of the request
/// automatically.
///
/// ```
/// use plumego_core::{handler_fn, IntoResponse};
/// use tower::ServiceExt;
///
/// async fn hello(_req: http::Request<plumego_core::Body>) -> &'static str {
///     "hello"
/// }
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let res = handler_fn(hello).oneshot(http::Request::new(plumego_core::Body::empty())).await.unwrap();
/// assert_eq!(res.status(), 200);
/// # });
/// ```
pub fn handler_fn<F>(f: F) -> HandlerFn<F> {
    HandlerFn { f }
}

/// The service made by [`handler_fn`].
#[derive(Clone, Copy)]
pub struct HandlerFn<F> {
    f: F,
}

impl<F> std::fmt::Debug for HandlerFn<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HandlerFn").finish_non_exhaustive()
    }
}

impl<F, Fut, R, B> Service<http::Request<B>> for HandlerFn<F>
where
    F: FnMut(http::Request<B>) -> Fut,
    Fut: Future<Output = R>,
    R: IntoResponse,
{
    type Response = Response;
    type Error = Infallible;
    type Future = HandlerFuture<Fut>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        let request_id = req.extensions().get::<RequestId>().cloned();
        HandlerFuture {
            inner: (self.f)(req),
            request_id,
        }
    }
}

pin_project! {
    /// The response future of [`HandlerFn`].
    pub struct HandlerFuture<Fut> {
        #[pin]
        inner: Fut,
        request_id: Option<RequestId>,
    }
}

impl<Fut, R> Future for HandlerFuture<Fut>
where
    Fut: Future<Output = R>,
    R: IntoResponse,
{
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let mut response = ready!(this.inner.poll(cx)).into_response();
        if let Some(id) = this.request_id {
            attach_request_id(&mut response, id);
        }
        Poll::Ready(Ok(response))
    }
}
