//! The write-key guard: routes marked [`WriteGuarded`] in their metadata
//! require `X-Write-Key` to equal the configured key (compared in constant
//! time). An empty configured key disables the guard.

use std::convert::Infallible;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures_util::future::{Either, Ready, ready};
use plumego::core::error::{ApiError, ErrorType};
use plumego::{IntoResponse, Request, RequestExt, Response};
use subtle::ConstantTimeEq;
use tower::{Layer, Service};

/// Route metadata: this route changes data and needs the write key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriteGuarded;

/// Adds [`WriteKeyGuard`] to a group of routes.
#[derive(Clone)]
pub struct WriteKeyLayer {
    key: Arc<[u8]>,
}

impl WriteKeyLayer {
    /// Guards with `key`; empty disables the guard.
    pub fn new(key: &str) -> Self {
        Self {
            key: key.as_bytes().into(),
        }
    }
}

impl<S> Layer<S> for WriteKeyLayer {
    type Service = WriteKeyGuard<S>;

    fn layer(&self, inner: S) -> Self::Service {
        WriteKeyGuard {
            inner,
            key: self.key.clone(),
        }
    }
}

/// Rejects writes without the right `X-Write-Key` (401 `auth.key.invalid`).
#[derive(Clone)]
pub struct WriteKeyGuard<S> {
    inner: S,
    key: Arc<[u8]>,
}

impl<S> Service<Request> for WriteKeyGuard<S>
where
    S: Service<Request, Response = Response, Error = Infallible>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Either<Ready<Result<Response, Infallible>>, S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request) -> Self::Future {
        let guarded = req
            .route()
            .is_some_and(|r| r.metadata::<WriteGuarded>().is_some());
        if !guarded || self.key.is_empty() {
            return Either::Right(self.inner.call(req));
        }
        let given = req
            .headers()
            .get("x-write-key")
            .map(|v| v.as_bytes())
            .unwrap_or_default();
        if bool::from(given.ct_eq(&self.key)) {
            return Either::Right(self.inner.call(req));
        }
        // The router adds the request id to the envelope on the way out.
        let error = ApiError::builder()
            .error_type(ErrorType::Unauthorized)
            .code("auth.key.invalid")
            .message("missing or invalid X-Write-Key")
            .build();
        Either::Left(ready(Ok(error.into_response())))
    }
}
