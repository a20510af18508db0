//! `X-Request-ID`: reuse a valid inbound id, or generate a time-sortable one;
//! store it in the request extensions (for handlers, envelopes and logs, and
//! for tower-http's request-id extractors) and echo it on the response.
//!
//! ```
//! use plumego_layers::request_id::{RequestIdConfig, RequestIdLayer};
//! use plumego_core::RequestExt;
//! use tower::{ServiceBuilder, ServiceExt};
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let svc = ServiceBuilder::new()
//!     .layer(RequestIdLayer::new(RequestIdConfig::default()))
//!     .service_fn(|req: http::Request<()>| async move {
//!         let id = req.request_id().unwrap().to_string();
//!         Ok::<_, std::convert::Infallible>(http::Response::new(http_body_util::Full::new(bytes::Bytes::from(id))))
//!     });
//! let req = http::Request::builder().header("x-request-id", " abc ").body(()).unwrap();
//! let res = svc.oneshot(req).await.unwrap();
//! assert_eq!(res.headers()["x-request-id"], "abc");
//! # });
//! ```

mod generator;

pub use generator::{DecodedId, EPOCH_MS, RequestIdGenerator};

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use http::{HeaderName, HeaderValue, Request, Response};
use pin_project_lite::pin_project;
use plumego_core::context::{REQUEST_ID_HEADER, RequestId};
use tower::{Layer, Service};

type GenerateFn = Arc<dyn Fn() -> String + Send + Sync>;

/// Request-id options.
#[derive(Clone)]
pub struct RequestIdConfig {
    /// The header read and written. Default `x-request-id`.
    pub header: HeaderName,
    /// Also write the id into the inbound request's header, for services that
    /// read headers rather than extensions. Default true.
    pub set_request_header: bool,
    generator: Option<GenerateFn>,
    default_generator: RequestIdGenerator,
}

impl std::fmt::Debug for RequestIdConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequestIdConfig")
            .field("header", &self.header)
            .field("set_request_header", &self.set_request_header)
            .field("custom_generator", &self.generator.is_some())
            .finish()
    }
}

impl Default for RequestIdConfig {
    fn default() -> Self {
        Self {
            header: HeaderName::from_static(REQUEST_ID_HEADER),
            set_request_header: true,
            generator: None,
            default_generator: RequestIdGenerator::new(),
        }
    }
}

impl RequestIdConfig {
    /// Uses `generate` for new ids; an id it returns that is not valid (blank,
    /// too long, control characters) is replaced by a generated one.
    #[must_use]
    pub fn generator(mut self, generate: impl Fn() -> String + Send + Sync + 'static) -> Self {
        self.generator = Some(Arc::new(generate));
        self
    }

    /// Changes the header.
    #[must_use]
    pub fn header(mut self, header: HeaderName) -> Self {
        self.header = header;
        self
    }

    /// Whether to write the id into the inbound request header.
    #[must_use]
    pub fn set_request_header(mut self, enabled: bool) -> Self {
        self.set_request_header = enabled;
        self
    }

    fn generate(&self) -> RequestId {
        if let Some(id) = self.generator.as_ref().and_then(|g| RequestId::new(&g())) {
            return id;
        }
        // One allocation, shared by every clone of the id (the extension,
        // the request and response headers, envelopes).
        let id = bytes::Bytes::from_owner(self.default_generator.generate_bytes());
        RequestId::from_shared(id).expect("12 base62 characters are a valid request id")
    }
}

/// Adds [`RequestIdService`].
#[derive(Debug, Clone, Default)]
pub struct RequestIdLayer {
    config: Arc<RequestIdConfig>,
}

impl RequestIdLayer {
    /// A layer with this configuration.
    pub fn new(config: RequestIdConfig) -> Self {
        Self {
            config: Arc::new(config),
        }
    }
}

impl<S> Layer<S> for RequestIdLayer {
    type Service = RequestIdService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RequestIdService {
            inner,
            config: self.config.clone(),
        }
    }
}

/// Ensures every request has a [`RequestId`] and echoes it on the response.
#[derive(Debug, Clone)]
pub struct RequestIdService<S> {
    inner: S,
    config: Arc<RequestIdConfig>,
}

impl<S, ReqB, ResB> Service<Request<ReqB>> for RequestIdService<S>
where
    S: Service<Request<ReqB>, Response = Response<ResB>>,
{
    type Response = Response<ResB>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<ReqB>) -> Self::Future {
        let id = match req.extensions().get::<RequestId>() {
            Some(id) => id.clone(),
            None => {
                let id = req
                    .headers()
                    .get(&self.config.header)
                    .and_then(RequestId::from_header)
                    .unwrap_or_else(|| self.config.generate());
                req.extensions_mut().insert(id.clone());
                id
            }
        };
        if self.config.set_request_header {
            req.headers_mut()
                .insert(self.config.header.clone(), id.header_value().clone());
        }
        req.extensions_mut()
            .insert(tower_http::request_id::RequestId::new(
                id.header_value().clone(),
            ));
        ResponseFuture {
            inner: self.inner.call(req),
            header: self.config.header.clone(),
            id: id.header_value().clone(),
        }
    }
}

pin_project! {
    /// The response future of [`RequestIdService`].
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        header: HeaderName,
        id: HeaderValue,
    }
}

impl<F, ResB, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<ResB>, E>>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let mut res = ready!(this.inner.poll(cx))?;
        if !res.headers().contains_key(&*this.header) {
            res.headers_mut()
                .insert(this.header.clone(), this.id.clone());
        }
        Poll::Ready(Ok(res))
    }
}
