//! Cross-site request forgery protection without tokens: browsers say where
//! a request comes from (`Sec-Fetch-Site`, `Origin`), and unsafe requests
//! from another origin are refused with the 403 envelope (`forbidden_request`,
//! `CSRF_REJECTED`, `cross-origin request rejected`).
//!
//! The algorithm is Go 1.25's `CrossOriginProtection` (tower-http's
//! `CsrfLayer` ports it too, but only from 0.7; this workspace is on 0.6):
//!
//! 1. `GET`, `HEAD` and `OPTIONS` pass (they must not change state);
//! 2. `Sec-Fetch-Site: same-origin` or `none` (typed in the address bar)
//!    passes; any other value passes only from a trusted origin;
//! 3. without `Sec-Fetch-Site`, a request without `Origin` passes (not a
//!    browser, or a browser that sends neither: nothing to check); a trusted
//!    `Origin` passes; an `Origin` whose host equals `Host` passes;
//! 4. everything else is refused.
//!
//! Routes registered with [`CsrfExempt`] metadata pass (when the layer runs
//! inside the router), for webhooks signed by other means.
//!
//! ```
//! use plumego_layers::security::csrf::{CsrfConfig, CsrfLayer};
//! use tower::{ServiceBuilder, ServiceExt};
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let svc = ServiceBuilder::new()
//!     .layer(CsrfLayer::new(CsrfConfig::default().trusted_origin("https://app.example.com")))
//!     .service_fn(|_req: http::Request<()>| async {
//!         Ok::<_, std::convert::Infallible>(http::Response::new(http_body_util::Empty::<bytes::Bytes>::new()))
//!     });
//! let evil = http::Request::post("/transfer")
//!     .header("sec-fetch-site", "cross-site")
//!     .header("origin", "https://evil.example")
//!     .body(()).unwrap();
//! assert_eq!(svc.clone().oneshot(evil).await.unwrap().status(), 403);
//! let app = http::Request::post("/transfer")
//!     .header("sec-fetch-site", "same-site")
//!     .header("origin", "https://app.example.com")
//!     .body(()).unwrap();
//! assert_eq!(svc.oneshot(app).await.unwrap().status(), 200);
//! # });
//! ```

use std::collections::HashSet;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::header::{HOST, ORIGIN};
use http::{HeaderName, Method, Request, Response};
use plumego_core::context::RequestExt;
use plumego_core::error::{ApiError, ErrorType};
use tower::{Layer, Service};

use super::auth::GuardFuture;
use crate::body::{ResponseBody, envelope};

/// `Sec-Fetch-Site`.
pub const SEC_FETCH_SITE: HeaderName = HeaderName::from_static("sec-fetch-site");

/// Route metadata: the CSRF layer lets this route through.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CsrfExempt;

/// CSRF options.
#[derive(Debug, Clone, Default)]
pub struct CsrfConfig {
    trusted: HashSet<String>,
}

impl CsrfConfig {
    /// Trusts unsafe requests from `origin` (`scheme://host[:port]`, compared
    /// case-insensitively; a trailing `/` is ignored).
    #[must_use]
    pub fn trusted_origin(mut self, origin: &str) -> Self {
        self.trusted.insert(normalise_origin(origin));
        self
    }

    fn is_trusted(&self, origin: &str) -> bool {
        !self.trusted.is_empty() && self.trusted.contains(&normalise_origin(origin))
    }

    /// Whether a request passes the check.
    pub fn allows<B>(&self, req: &Request<B>) -> bool {
        if matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS) {
            return true;
        }
        let header = |name: &HeaderName| {
            let mut values = req.headers().get_all(name).iter();
            match (values.next(), values.next()) {
                (Some(v), None) => Some(v.to_str().ok()),
                (None, _) => None,
                // Several values: unreadable, so untrusted.
                (Some(_), Some(_)) => Some(None),
            }
        };
        let origin = header(&ORIGIN);
        match header(&SEC_FETCH_SITE) {
            Some(Some(site))
                if site.eq_ignore_ascii_case("same-origin")
                    || site.eq_ignore_ascii_case("none") =>
            {
                return true;
            }
            Some(_) => return matches!(origin, Some(Some(o)) if self.is_trusted(o)),
            None => {}
        }
        let origin = match origin {
            None => return true,
            Some(None) => return false,
            Some(Some(o)) => o,
        };
        if self.is_trusted(origin) {
            return true;
        }
        let origin_host = origin
            .split_once("://")
            .map(|(_, rest)| rest.trim_end_matches('/'))
            .unwrap_or_default();
        let host = req
            .headers()
            .get(HOST)
            .and_then(|h| h.to_str().ok())
            .or_else(|| req.uri().authority().map(|a| a.as_str()));
        matches!(host, Some(h) if !origin_host.is_empty() && h.eq_ignore_ascii_case(origin_host))
    }
}

fn normalise_origin(origin: &str) -> String {
    origin.trim().trim_end_matches('/').to_ascii_lowercase()
}

/// Adds [`CsrfService`].
#[derive(Debug, Clone, Default)]
pub struct CsrfLayer {
    config: Arc<CsrfConfig>,
}

impl CsrfLayer {
    /// A layer with this configuration.
    pub fn new(config: CsrfConfig) -> Self {
        Self {
            config: Arc::new(config),
        }
    }
}

impl<S> Layer<S> for CsrfLayer {
    type Service = CsrfService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        CsrfService {
            inner,
            config: self.config.clone(),
        }
    }
}

/// Refuses cross-origin unsafe requests.
#[derive(Debug, Clone)]
pub struct CsrfService<S> {
    inner: S,
    config: Arc<CsrfConfig>,
}

/// The response future of [`CsrfService`].
pub type ResponseFuture<F, B> = GuardFuture<F, B>;

impl<S, ReqB, ResB> Service<Request<ReqB>> for CsrfService<S>
where
    S: Service<Request<ReqB>, Response = Response<ResB>>,
{
    type Response = Response<ResponseBody<ResB>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, ResB>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqB>) -> Self::Future {
        let exempt = req
            .route()
            .is_some_and(|r| r.metadata::<CsrfExempt>().is_some());
        if exempt || self.config.allows(&req) {
            return GuardFuture::inner(self.inner.call(req));
        }
        let error = ApiError::builder()
            .error_type(ErrorType::Forbidden)
            .code("CSRF_REJECTED")
            .message("cross-origin request rejected")
            .build();
        GuardFuture::reject(envelope(error, req.request_id()))
    }
}
