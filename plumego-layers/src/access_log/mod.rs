//! One structured `tracing` event per request, `request completed` on target
//! [`TARGET`], emitted when the response body *ends* rather than when the head
//! is sent, so `bytes` and `latency_ms` describe what the client actually got.
//!
//! The event still fires when the client goes away mid-body (the body is
//! dropped unfinished: `incomplete=true`), when the body fails (`error`), and
//! when the handler panics (`panicked=true`, status 500 if no head was sent;
//! the panic then carries on unwinding to whoever catches it).
//!
//! Fields use the names in [`plumego_core::log::fields`]: `method`, `route`
//! (the matched pattern, [`UNMATCHED_ROUTE`] when no route matched; never the
//! raw path, which would give log indexes unbounded cardinality), `route_name`,
//! `path` (without the query string, which often carries tokens), `status`,
//! `bytes`, `latency_ms`, `client_ip`, `user_agent`, `request_id`, `trace_id`,
//! `span_id` (from the request's extensions, else from the response's
//! `X-Request-ID` / `X-Span-ID`), `error`; plus `incomplete`, `panicked` and, when headers are
//! configured, `headers` (a JSON object with sensitive values as `***`).
//!
//! The layer wraps the router, so it cannot see the route state the router
//! adds to the request it passes on; it puts a
//! [`plumego_core::context::RouteSlot`] in the request instead, which
//! Plumego's router fills on a match.
//!
//! ```
//! use plumego_layers::access_log::{AccessLogConfig, AccessLogLayer};
//! use tower::{ServiceBuilder, ServiceExt};
//! use http_body_util::BodyExt;
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let config = AccessLogConfig::default()
//!     .trusted_proxy("10.0.0.0/8".parse().unwrap())
//!     .log_header(http::HeaderName::from_static("authorization"));
//! let svc = ServiceBuilder::new()
//!     .layer(AccessLogLayer::new(config))
//!     .service_fn(|_req: http::Request<()>| async {
//!         Ok::<_, std::convert::Infallible>(http::Response::new(http_body_util::Full::new(bytes::Bytes::from("hi"))))
//!     });
//! let res = svc.oneshot(http::Request::new(())).await.unwrap();
//! // The event is emitted here, once the body has been read to the end.
//! let body = res.into_body().collect().await.unwrap().to_bytes();
//! assert_eq!(body, "hi");
//! # });
//! ```

mod client_ip;

pub use client_ip::{InvalidIpNet, IpNet};

use std::fmt::Display;
use std::future::Future;
use std::net::IpAddr;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use crate::body::contains_ignore_ascii_case;
use bytes::Bytes;
use http::{
    HeaderMap, HeaderName, HeaderValue, Method, Request, Response, StatusCode, Uri, header,
};
use http_body::{Frame, SizeHint};
use pin_project_lite::pin_project;
use plumego_core::context::{
    PeerAddr, REQUEST_ID_HEADER, RequestId, RouteSlot, SPAN_ID_HEADER, SpanId, TraceContext,
    TraceId,
};
use plumego_core::log::fields;
use tower::{Layer, Service};
use tracing::Level;

/// The `tracing` target of access events, for filters such as
/// `plumego::access=info`.
pub const TARGET: &str = "plumego::access";

/// The `route` of a request no route matched: a fixed label, so unmatched
/// (often hostile) paths cannot create new series in log indexes.
pub const UNMATCHED_ROUTE: &str = "<unmatched>";

/// The value logged in place of a sensitive one.
pub const REDACTED: &str = "***";

/// Substrings that make a field name sensitive (the Go toolkit's rule).
const SENSITIVE_PARTS: [&str; 4] = ["token", "secret", "signature", "password"];

/// Whether a field or header name is sensitive by the shared rule: its
/// lowercased name contains `token`, `secret`, `signature` or `password`.
///
/// [`AccessLogConfig::is_redacted`] adds the configured extra keys.
///
/// ```
/// use plumego_layers::access_log::redact_key;
///
/// assert!(redact_key("X-Api-Token"));
/// assert!(redact_key("client_secret"));
/// assert!(!redact_key("x-tenant"));
/// ```
pub fn redact_key(name: &str) -> bool {
    SENSITIVE_PARTS
        .iter()
        .any(|part| contains_ignore_ascii_case(name.as_bytes(), part.as_bytes()))
}

/// Access-log options.
#[derive(Debug, Clone)]
pub struct AccessLogConfig {
    /// The level of the event. Default INFO.
    pub level: Level,
    trusted_proxies: Vec<IpNet>,
    headers: Vec<HeaderName>,
    redacted: Vec<String>,
}

impl Default for AccessLogConfig {
    /// INFO, no trusted proxies, no request headers logged, and the credential
    /// headers (`authorization`, `proxy-authorization`, `cookie`, `set-cookie`)
    /// redacted on top of [`redact_key`]: they carry secrets under names the
    /// shared rule does not catch.
    fn default() -> Self {
        Self {
            level: Level::INFO,
            trusted_proxies: Vec::new(),
            headers: Vec::new(),
            redacted: [
                "authorization",
                "proxy-authorization",
                "cookie",
                "set-cookie",
            ]
            .map(String::from)
            .to_vec(),
        }
    }
}

impl AccessLogConfig {
    /// Changes the level of the event.
    #[must_use]
    pub fn level(mut self, level: Level) -> Self {
        self.level = level;
        self
    }

    /// Trusts `X-Forwarded-For` / `X-Real-IP` on connections from this
    /// network (your load balancers). Without any, `client_ip` is always the
    /// peer address, so clients cannot spoof it.
    #[must_use]
    pub fn trusted_proxy(mut self, net: IpNet) -> Self {
        self.trusted_proxies.push(net);
        self
    }

    /// Trusts several proxy networks.
    #[must_use]
    pub fn trusted_proxies(mut self, nets: impl IntoIterator<Item = IpNet>) -> Self {
        self.trusted_proxies.extend(nets);
        self
    }

    /// Logs this request header in the `headers` field (redacted if
    /// [`is_redacted`](Self::is_redacted)).
    #[must_use]
    pub fn log_header(mut self, name: HeaderName) -> Self {
        if !self.headers.contains(&name) {
            self.headers.push(name);
        }
        self
    }

    /// Also redacts keys equal to `key` (case-insensitive), beyond
    /// [`redact_key`] and the default credential headers.
    #[must_use]
    pub fn redact(mut self, key: impl Into<String>) -> Self {
        let key = key.into().trim().to_ascii_lowercase();
        if !key.is_empty() && !self.redacted.contains(&key) {
            self.redacted.push(key);
        }
        self
    }

    /// Whether the value of `key` is logged as `***`: [`redact_key`], or an
    /// extra key (the defaults or [`redact`](Self::redact)).
    pub fn is_redacted(&self, key: &str) -> bool {
        let key = key.trim();
        redact_key(key) || self.redacted.iter().any(|k| k.eq_ignore_ascii_case(key))
    }

    /// The configured request headers as a JSON object, values redacted;
    /// `None` when no header is configured. Repeated headers are joined with
    /// `, `; absent ones are left out; non-UTF-8 bytes are replaced.
    pub fn logged_headers(&self, headers: &HeaderMap) -> Option<String> {
        if self.headers.is_empty() {
            return None;
        }
        let mut object = serde_json::Map::new();
        for name in &self.headers {
            let mut values = headers.get_all(name).iter().peekable();
            if values.peek().is_none() {
                continue;
            }
            let value = if self.is_redacted(name.as_str()) {
                REDACTED.to_owned()
            } else {
                values
                    .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            object.insert(name.as_str().to_owned(), serde_json::Value::String(value));
        }
        Some(serde_json::Value::Object(object).to_string())
    }

    /// The client address of a request from `peer` (see the module docs on
    /// forwarded headers): the peer unless it is a trusted proxy.
    pub fn client_ip(&self, peer: Option<IpAddr>, headers: &HeaderMap) -> Option<IpAddr> {
        client_ip::resolve(&self.trusted_proxies, peer, headers)
    }
}

/// Adds [`AccessLogService`].
#[derive(Debug, Clone, Default)]
pub struct AccessLogLayer {
    config: Arc<AccessLogConfig>,
}

impl AccessLogLayer {
    /// A layer with this configuration.
    pub fn new(config: AccessLogConfig) -> Self {
        Self {
            config: Arc::new(config),
        }
    }
}

impl<S> Layer<S> for AccessLogLayer {
    type Service = AccessLogService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        AccessLogService {
            inner,
            config: self.config.clone(),
        }
    }
}

/// Logs each request when its response body ends.
#[derive(Debug, Clone)]
pub struct AccessLogService<S> {
    inner: S,
    config: Arc<AccessLogConfig>,
}

impl<S, ReqB, ResB> Service<Request<ReqB>> for AccessLogService<S>
where
    S: Service<Request<ReqB>, Response = Response<ResB>>,
    ResB: http_body::Body,
{
    type Response = Response<AccessLogBody<ResB>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<ReqB>) -> Self::Future {
        let route = RouteSlot::ensure(req.extensions_mut());
        let peer = req.extensions().get::<PeerAddr>().map(|p| p.0.ip());
        let record = Record {
            config: self.config.clone(),
            start: Instant::now(),
            method: req.method().clone(),
            uri: req.uri().clone(),
            route,
            client_ip: self.config.client_ip(peer, req.headers()),
            user_agent: req.headers().get(header::USER_AGENT).cloned(),
            request_id: req.extensions().get::<RequestId>().cloned(),
            trace_id: req.extensions().get::<TraceContext>().map(|t| t.trace_id),
            span_id: req.extensions().get::<TraceContext>().map(|t| t.span_id),
            headers: self.config.logged_headers(req.headers()),
        };
        ResponseFuture {
            inner: self.inner.call(req),
            log: AwaitingHead::new(record),
        }
    }
}

pin_project! {
    /// The response future of [`AccessLogService`].
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        log: AwaitingHead,
    }
}

impl<F, ResB, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<ResB>, E>>,
    ResB: http_body::Body,
{
    type Output = Result<Response<AccessLogBody<ResB>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        // Caught only to log before re-raising: an outer layer that catches
        // the panic itself may drop this future long after unwinding ended,
        // when the drop guard could no longer tell a panic from a cancel.
        let polled = match catch_unwind(AssertUnwindSafe(|| this.inner.as_mut().poll(cx))) {
            Ok(polled) => polled,
            Err(panic) => {
                this.log.finish(None, Ending::Panicked);
                resume_unwind(panic)
            }
        };
        match polled {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Err(e)) => {
                this.log.finish(
                    Some(StatusCode::INTERNAL_SERVER_ERROR),
                    Ending::Error("inner service failed".into()),
                );
                Poll::Ready(Err(e))
            }
            Poll::Ready(Ok(res)) => {
                let (parts, body) = res.into_parts();
                let mut log = this.log.take_for(parts.status, &parts.headers);
                // A body that is over before it starts may never be polled
                // (hyper just drops it), so it is logged now.
                if body.is_end_stream() {
                    log.finish(Ending::Complete);
                }
                let body = AccessLogBody::new(body, log);
                Poll::Ready(Ok(Response::from_parts(parts, body)))
            }
        }
    }
}

pin_project! {
    /// The response body of [`AccessLogService`]: the inner body, counting the
    /// bytes it yields and logging the request when it ends, fails or is dropped.
    pub struct AccessLogBody<B> {
        #[pin]
        inner: B,
        log: Finishing,
    }
}

/// A body built outside this layer logs nothing.
impl<B: Default> Default for AccessLogBody<B> {
    fn default() -> Self {
        Self {
            inner: B::default(),
            log: Finishing {
                record: None,
                status: StatusCode::OK,
                bytes: 0,
            },
        }
    }
}

impl<B> AccessLogBody<B> {
    fn new(inner: B, log: Finishing) -> Self {
        Self { inner, log }
    }
}

impl<B> std::fmt::Debug for AccessLogBody<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessLogBody")
            .field("bytes", &self.log.bytes)
            .field("logged", &self.log.record.is_none())
            .finish_non_exhaustive()
    }
}

impl<B> http_body::Body for AccessLogBody<B>
where
    B: http_body::Body<Data = Bytes>,
    B::Error: Display,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let mut this = self.project();
        let polled = match catch_unwind(AssertUnwindSafe(|| this.inner.as_mut().poll_frame(cx))) {
            Ok(polled) => polled,
            Err(panic) => {
                this.log.finish(Ending::Panicked);
                resume_unwind(panic)
            }
        };
        match polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    this.log.bytes += data.len() as u64;
                }
                if this.inner.is_end_stream() {
                    this.log.finish(Ending::Complete);
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => {
                this.log.finish(Ending::Error(e.to_string()));
                Poll::Ready(Some(Err(e)))
            }
            Poll::Ready(None) => {
                this.log.finish(Ending::Complete);
                Poll::Ready(None)
            }
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// What the access event describes, captured when the request comes in.
struct Record {
    config: Arc<AccessLogConfig>,
    start: Instant,
    method: Method,
    uri: Uri,
    route: RouteSlot,
    client_ip: Option<IpAddr>,
    user_agent: Option<HeaderValue>,
    request_id: Option<RequestId>,
    trace_id: Option<TraceId>,
    span_id: Option<SpanId>,
    headers: Option<String>,
}

/// How the exchange ended.
enum Ending {
    Complete,
    Incomplete,
    Panicked,
    Error(String),
}

/// The record while the head is awaited. Dropping it unlogged (a cancelled
/// request, or unwinding from a panic) logs it.
struct AwaitingHead(Option<Record>);

impl AwaitingHead {
    fn new(record: Record) -> Self {
        Self(Some(record))
    }

    fn finish(&mut self, status: Option<StatusCode>, ending: Ending) {
        if let Some(record) = self.0.take() {
            record.emit(status, 0, ending);
        }
    }

    /// Hands the record to the body, with what the response head adds.
    fn take_for(&mut self, status: StatusCode, headers: &HeaderMap) -> Finishing {
        let mut record = self.0.take();
        // Ids an inner layer set on the response (the Go toolkit's tracing
        // middleware announced its span in `X-Span-ID`).
        if let Some(record) = record.as_mut() {
            if record.request_id.is_none() {
                record.request_id = headers
                    .get(REQUEST_ID_HEADER)
                    .and_then(RequestId::from_header);
            }
            if record.span_id.is_none() {
                record.span_id = headers
                    .get(SPAN_ID_HEADER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| SpanId::parse(v.trim()));
            }
        }
        Finishing {
            record,
            status,
            bytes: 0,
        }
    }
}

impl Drop for AwaitingHead {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.finish(None, Ending::Panicked);
        } else {
            self.finish(None, Ending::Incomplete);
        }
    }
}

/// The record while the body is read. Dropping it unlogged logs it.
struct Finishing {
    record: Option<Record>,
    status: StatusCode,
    bytes: u64,
}

impl Finishing {
    fn finish(&mut self, ending: Ending) {
        if let Some(record) = self.record.take() {
            record.emit(Some(self.status), self.bytes, ending);
        }
    }

    /// Whether a body dropped unread was nonetheless fully delivered: there
    /// is none to send for HEAD, 1xx, 204 and 304.
    fn bodiless(&self) -> bool {
        self.status.is_informational()
            || self.status == StatusCode::NO_CONTENT
            || self.status == StatusCode::NOT_MODIFIED
            || self
                .record
                .as_ref()
                .is_some_and(|r| r.method == Method::HEAD)
    }
}

impl Drop for Finishing {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.finish(Ending::Panicked);
        } else if self.bytes == 0 && self.bodiless() {
            self.finish(Ending::Complete);
        } else {
            self.finish(Ending::Incomplete);
        }
    }
}

/// Emits at a level chosen at run time: `tracing` callsites need a constant.
macro_rules! event_at {
    ($level:expr, $($rest:tt)+) => {
        if $level == Level::ERROR {
            tracing::event!(target: TARGET, Level::ERROR, $($rest)+)
        } else if $level == Level::WARN {
            tracing::event!(target: TARGET, Level::WARN, $($rest)+)
        } else if $level == Level::INFO {
            tracing::event!(target: TARGET, Level::INFO, $($rest)+)
        } else if $level == Level::DEBUG {
            tracing::event!(target: TARGET, Level::DEBUG, $($rest)+)
        } else {
            tracing::event!(target: TARGET, Level::TRACE, $($rest)+)
        }
    };
}

impl Record {
    /// The one event. `status` is `None` when no head was produced: 500 if the
    /// handler panicked (what recovery will answer), otherwise left out.
    fn emit(self, status: Option<StatusCode>, bytes: u64, ending: Ending) {
        let panicked = matches!(ending, Ending::Panicked);
        let status = match (status, panicked) {
            (None, true) => Some(StatusCode::INTERNAL_SERVER_ERROR),
            (status, _) => status,
        };
        let incomplete = !matches!(ending, Ending::Complete);
        let error = match &ending {
            Ending::Error(e) => Some(e.as_str()),
            _ => None,
        };
        let latency_ms = self.start.elapsed().as_secs_f64() * 1000.0;
        let route_info = self.route.get();
        let route = route_info.map_or(UNMATCHED_ROUTE, |r| r.pattern());
        let route_name = route_info.and_then(|r| r.name());
        let user_agent = self.user_agent.as_ref().and_then(|v| v.to_str().ok());
        let request_id = self.request_id.as_ref().map(RequestId::as_str);
        let trace_id = self.trace_id.map(tracing::field::display);
        let span_id = self.span_id.map(tracing::field::display);
        event_at!(
            self.config.level,
            { fields::METHOD } = self.method.as_str(),
            { fields::ROUTE } = route,
            route_name,
            { fields::PATH } = self.uri.path(),
            { fields::STATUS } = status.map(|s| s.as_u16()),
            { fields::BYTES } = bytes,
            { fields::LATENCY_MS } = latency_ms,
            { fields::CLIENT_IP } = self.client_ip.map(tracing::field::display),
            { fields::USER_AGENT } = user_agent,
            { fields::REQUEST_ID } = request_id,
            { fields::TRACE_ID } = trace_id,
            { fields::SPAN_ID } = span_id,
            { fields::ERROR } = error,
            incomplete,
            panicked,
            headers = self.headers.as_deref(),
            "request completed"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redaction_rules() {
        for key in [
            "token",
            "X-CSRF-Token",
            "clientSecret",
            "x-signature",
            "PASSWORD_hash",
        ] {
            assert!(redact_key(key), "{key}");
        }
        for key in ["authorization", "x-tenant", "", "tok"] {
            assert!(!redact_key(key), "{key}");
        }
        let config = AccessLogConfig::default().redact("X-Internal");
        assert!(config.is_redacted("authorization"));
        assert!(config.is_redacted("Cookie"));
        assert!(config.is_redacted("x-internal"));
        assert!(config.is_redacted("x-api-token"));
        assert!(!config.is_redacted("x-tenant"));
    }

    #[test]
    fn logged_headers_are_redacted_json() {
        let config = AccessLogConfig::default()
            .log_header(HeaderName::from_static("authorization"))
            .log_header(HeaderName::from_static("x-tenant"))
            .log_header(HeaderName::from_static("x-missing"));
        let mut h = HeaderMap::new();
        h.insert("authorization", HeaderValue::from_static("Bearer abc"));
        h.append("x-tenant", HeaderValue::from_static("a"));
        h.append("x-tenant", HeaderValue::from_static("b"));
        assert_eq!(
            config.logged_headers(&h).unwrap(),
            r#"{"authorization":"***","x-tenant":"a, b"}"#
        );
        assert_eq!(AccessLogConfig::default().logged_headers(&h), None);
    }
}
