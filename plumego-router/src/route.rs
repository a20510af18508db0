//! Type-erased route services.
//!
//! A route is called through `&self` (the router is shared by every
//! connection), so each call clones the concrete service, which is free for
//! `handler_fn` closures, and boxes the response future: one allocation.
//!
//! Readiness is checked once with a no-op waker: services that are always
//! ready (handlers, most layers) are then called directly and only their own
//! future is boxed. A service that is not ready yet goes through `oneshot`,
//! which polls readiness again with the task's real waker.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker, ready};

use pin_project_lite::pin_project;
use plumego_core::{IntoResponse, Response};
use tower::{Service, ServiceExt};

/// A boxed response future of a [`Route`].
pub type BoxResponseFuture = Pin<Box<dyn Future<Output = Response> + Send>>;

trait ErasedService<B>: Send + Sync {
    fn call(&self, req: http::Request<B>) -> BoxResponseFuture;
}

struct Erased<S>(S);

impl<S, B> ErasedService<B> for Erased<S>
where
    S: Service<http::Request<B>, Error = Infallible> + Clone + Send + Sync + 'static,
    S::Response: IntoResponse,
    S::Future: Send + 'static,
    B: Send + 'static,
{
    fn call(&self, req: http::Request<B>) -> BoxResponseFuture {
        let mut service = self.0.clone();
        let mut cx = Context::from_waker(Waker::noop());
        match service.poll_ready(&mut cx) {
            Poll::Ready(Ok(())) => Box::pin(IntoResponseFuture {
                inner: service.call(req),
            }),
            Poll::Ready(Err(never)) => match never {},
            Poll::Pending => Box::pin(IntoResponseFuture {
                inner: service.oneshot(req),
            }),
        }
    }
}

/// Any tower service, erased: what the router stores for each route and what
/// group layers wrap.
pub struct Route<B>(Arc<dyn ErasedService<B>>);

impl<B> Clone for Route<B> {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

impl<B> std::fmt::Debug for Route<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Route")
    }
}

impl<B: Send + 'static> Route<B> {
    /// Erases a service.
    pub fn new<S>(service: S) -> Self
    where
        S: Service<http::Request<B>, Error = Infallible> + Clone + Send + Sync + 'static,
        S::Response: IntoResponse,
        S::Future: Send + 'static,
    {
        Self(Arc::new(Erased(service)))
    }

    pub(crate) fn call_ref(&self, req: http::Request<B>) -> BoxResponseFuture {
        self.0.call(req)
    }
}

impl<B: Send + 'static> Service<http::Request<B>> for Route<B> {
    type Response = Response;
    type Error = Infallible;
    type Future = RouteFuture;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<B>) -> RouteFuture {
        RouteFuture(self.0.call(req))
    }
}

/// The response future of [`Route`].
pub struct RouteFuture(BoxResponseFuture);

impl Future for RouteFuture {
    type Output = Result<Response, Infallible>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.0.as_mut().poll(cx).map(Ok)
    }
}

pin_project! {
    /// Converts a route's response into the router's response type.
    struct IntoResponseFuture<F> {
        #[pin]
        inner: F,
    }
}

impl<F, R> Future for IntoResponseFuture<F>
where
    F: Future<Output = Result<R, Infallible>>,
    R: IntoResponse,
{
    type Output = Response;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Response> {
        match ready!(self.project().inner.poll(cx)) {
            Ok(res) => Poll::Ready(res.into_response()),
            Err(never) => match never {},
        }
    }
}
