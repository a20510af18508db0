//! Type-erased route services.
//!
//! A route is called through `&self` (the router is shared by every
//! connection), so each call clones the concrete service, which is free for
//! `handler_fn` closures, and boxes the response future: one allocation.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

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
        let oneshot = self.0.clone().oneshot(req);
        Box::pin(async move {
            match oneshot.await {
                Ok(res) => res.into_response(),
                Err(never) => match never {},
            }
        })
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
