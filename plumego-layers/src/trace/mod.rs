//! W3C trace context and one OpenTelemetry server span per request.
//!
//! For each request the layer:
//!
//! 1. extracts the caller's context (`traceparent`, `tracestate`, and whatever
//!    else the configured propagator reads) from the request headers; an absent
//!    or malformed `traceparent` (checked against the exact W3C syntax before
//!    any propagator sees it) starts a new trace;
//! 2. starts a `Server` span, child of that context, named after the method
//!    (`GET`) with the semantic-convention request attributes
//!    (`http.request.method`, `url.path`, `url.scheme`, `server.address`,
//!    `server.port`, `user_agent.original`, `network.protocol.version`,
//!    `network.peer.address`);
//! 3. puts a [`TraceContext`] (trace id, server span id, parent span id, flags,
//!    baggage) and the span's `opentelemetry::Context` into the request
//!    extensions, so access logs and error envelopes can carry the ids and
//!    handlers can start child spans or propagate the context downstream;
//! 4. when the response head returns, renames the span `"{method} {route}"`
//!    from the router's pattern (the layer wraps the router and reads the
//!    [`RouteSlot`] it fills; inside the router the name is right from the
//!    start; an unmatched request keeps the method alone, never the raw path,
//!    which would make span names unbounded), sets `http.route`
//!    and `http.response.status_code`, marks 5xx answers as errors, writes the
//!    span id to `X-Span-ID` and optionally injects `traceparent` into the
//!    response;
//! 5. ends the span when the response *body* ends, fails or is dropped, so the
//!    span covers the transfer and not only the handler.
//!
//! The tracer and the propagator are configuration values: the layer never
//! reads OpenTelemetry's global providers.
//!
//! ```
//! use std::convert::Infallible;
//!
//! use opentelemetry::trace::TracerProvider;
//! use opentelemetry_sdk::trace::SdkTracerProvider;
//! use plumego_core::RequestExt;
//! use plumego_layers::trace::{TraceConfig, TraceLayer};
//! use tower::{ServiceBuilder, ServiceExt};
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let provider = SdkTracerProvider::builder().build(); // add an exporter in a real service
//! let svc = ServiceBuilder::new()
//!     .layer(TraceLayer::new(TraceConfig::new(provider.tracer("my-service"))))
//!     .service_fn(|req: http::Request<()>| async move {
//!         let trace_id = req.trace_context().unwrap().trace_id.to_string();
//!         Ok::<_, Infallible>(http::Response::new(http_body_util::Full::new(bytes::Bytes::from(trace_id))))
//!     });
//! let req = http::Request::builder()
//!     .header("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
//!     .body(())
//!     .unwrap();
//! let res = svc.oneshot(req).await.unwrap();
//! assert_eq!(res.headers()["x-span-id"].len(), 16);
//! let body = http_body_util::BodyExt::collect(res.into_body()).await.unwrap().to_bytes();
//! assert_eq!(body, "4bf92f3577b34da6a3ce929d0e0e4736");
//! # });
//! ```

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use http::{HeaderMap, HeaderName, HeaderValue, Request, Response, Version, header};
use http_body::{Frame, SizeHint};
use opentelemetry::KeyValue;
use opentelemetry::baggage::BaggageExt;
use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry::trace::{SpanBuilder, SpanContext, SpanKind, Status, TraceContextExt, Tracer};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use pin_project_lite::pin_project;
use plumego_core::context::{PeerAddr, RouteSlot, SpanId, TraceContext, TraceId};
use tower::{Layer, Service};

pub use plumego_core::context::SPAN_ID_HEADER;

const ATTR_METHOD_ORIGINAL: &str = "http.request.method_original";
const ATTR_PATH: &str = "url.path";
const ATTR_SERVER_ADDRESS: &str = "server.address";
const ATTR_SERVER_PORT: &str = "server.port";
const ATTR_USER_AGENT: &str = "user_agent.original";
const ATTR_PROTOCOL_VERSION: &str = "network.protocol.version";
const ATTR_PEER_ADDRESS: &str = "network.peer.address";
const ATTR_PEER_PORT: &str = "network.peer.port";

use crate::semconv::{
    ATTR_ERROR_TYPE, ATTR_METHOD, ATTR_ROUTE, ATTR_SCHEME, ATTR_STATUS, OTHER, method_label,
    scheme_label,
};

type StartSpan =
    dyn Fn(SpanBuilder, &opentelemetry::Context) -> opentelemetry::Context + Send + Sync;

/// Tracing options.
///
/// There is no `Default`: the tracer is the one required value, and a default
/// one would mean OpenTelemetry's global provider, which this layer never
/// reads.
#[derive(Clone)]
pub struct TraceConfig {
    /// Starts the server span as a child of the given context and returns
    /// the context holding it. A closure over the concrete tracer, so the
    /// span is boxed once (by `opentelemetry::Context`), not twice.
    start_span: Arc<StartSpan>,
    propagator: Arc<dyn TextMapPropagator + Send + Sync>,
    /// The response header that receives the server span id; `None` writes
    /// none. Default [`SPAN_ID_HEADER`].
    pub span_id_header: Option<HeaderName>,
    /// Inject the server span's context (`traceparent`, `tracestate`) into
    /// the response headers, for callers that correlate without a tracing
    /// backend of their own. Default false: it tells any client the ids.
    pub inject_response_context: bool,
    /// Whether this server terminates TLS, so requests without a scheme in
    /// their URI get `url.scheme="https"`. Default false.
    pub https: bool,
}

impl std::fmt::Debug for TraceConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TraceConfig")
            .field("propagator", &self.propagator)
            .field("span_id_header", &self.span_id_header)
            .field("inject_response_context", &self.inject_response_context)
            .field("https", &self.https)
            .finish_non_exhaustive()
    }
}

impl TraceConfig {
    /// Starts spans with `tracer` (for instance
    /// `SdkTracerProvider::tracer("my-service")`) and reads W3C trace context
    /// with [`TraceContextPropagator`].
    pub fn new<T>(tracer: T) -> Self
    where
        T: Tracer + Send + Sync + 'static,
        T::Span: Send + Sync + 'static,
    {
        Self {
            start_span: Arc::new(
                move |builder: SpanBuilder, parent: &opentelemetry::Context| {
                    parent.with_span(tracer.build_with_context(builder, parent))
                },
            ),
            propagator: Arc::new(TraceContextPropagator::new()),
            span_id_header: Some(HeaderName::from_static(SPAN_ID_HEADER)),
            inject_response_context: false,
            https: false,
        }
    }

    /// Extracts and injects with `propagator` instead, e.g. a
    /// `TextMapCompositePropagator` of trace context and baggage.
    #[must_use]
    pub fn propagator(
        mut self,
        propagator: impl TextMapPropagator + Send + Sync + 'static,
    ) -> Self {
        self.propagator = Arc::new(propagator);
        self
    }

    /// Changes (or with `None` removes) the span-id response header.
    #[must_use]
    pub fn span_id_header(mut self, header: Option<HeaderName>) -> Self {
        self.span_id_header = header;
        self
    }

    /// Whether to inject the server span's context into responses.
    #[must_use]
    pub fn inject_response_context(mut self, enabled: bool) -> Self {
        self.inject_response_context = enabled;
        self
    }

    /// Declares that this server terminates TLS.
    #[must_use]
    pub fn https(mut self, https: bool) -> Self {
        self.https = https;
        self
    }
}

/// Adds [`TraceService`].
#[derive(Debug, Clone)]
pub struct TraceLayer {
    config: Arc<TraceConfig>,
}

impl TraceLayer {
    /// A layer with this configuration.
    pub fn new(config: TraceConfig) -> Self {
        Self {
            config: Arc::new(config),
        }
    }
}

impl<S> Layer<S> for TraceLayer {
    type Service = TraceService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        TraceService {
            inner,
            config: self.config.clone(),
        }
    }
}

/// Runs every request it passes on inside a server span.
#[derive(Debug, Clone)]
pub struct TraceService<S> {
    inner: S,
    config: Arc<TraceConfig>,
}

impl<S, ReqB, ResB> Service<Request<ReqB>> for TraceService<S>
where
    S: Service<Request<ReqB>, Response = Response<ResB>>,
{
    type Response = Response<TraceBody<ResB>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<ReqB>) -> Self::Future {
        // Inside a router (as a route or group layer) the match is known now.
        let slot = RouteSlot::ensure_routed(req.extensions_mut());
        // The parent is what the request carries, never the ambient
        // `Context::current()` of whatever task polls this service.
        let parent = self.config.propagator.extract_with_context(
            &opentelemetry::Context::new(),
            &HeaderExtractor::new(req.headers()),
        );
        let method = method_label(req.method());
        let builder = SpanBuilder::from_name(span_name(method, slot.pattern()))
            .with_kind(SpanKind::Server)
            .with_attributes(request_attributes(&req, method, self.config.https));
        let cx = (self.config.start_span)(builder, &parent);

        if let Some(trace_context) = trace_context(&parent, cx.span().span_context()) {
            req.extensions_mut().insert(trace_context);
        }
        req.extensions_mut().insert(cx.clone());
        let guard = SpanGuard {
            cx,
            slot,
            method,
            ended: false,
            responded: false,
        };
        ResponseFuture {
            inner: self.inner.call(req),
            span: Some(guard),
            config: self.config.clone(),
        }
    }
}

/// `"{method} {route}"`, or the method alone before routing or without a
/// match; an unknown method is written `HTTP`, as the conventions say.
fn span_name(method: &'static str, route: Option<&str>) -> Cow<'static, str> {
    let method = if method == OTHER { "HTTP" } else { method };
    match route {
        Some(route) => Cow::Owned(format!("{method} {route}")),
        None => Cow::Borrowed(method),
    }
}

/// A `Host` header's host and port (`example.com:8080`, `[::1]:8080`),
/// read in place rather than parsed into an owned `Authority`; `None` when
/// it is empty or malformed.
fn split_host_port(value: &str) -> Option<(&str, Option<u16>)> {
    let (host, port) = if let Some(rest) = value.strip_prefix('[') {
        let end = rest.find(']')?;
        let port = &rest[end + 1..];
        (&value[..end + 2], port.strip_prefix(':'))
    } else {
        match value.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (value, None),
        }
    };
    if host.is_empty() || host.contains(|c: char| c.is_whitespace() || c == '/' || c == '@') {
        return None;
    }
    match port {
        None => Some((host, None)),
        Some(port) => port.parse().ok().map(|p| (host, Some(p))),
    }
}

fn request_attributes<B>(req: &Request<B>, method: &'static str, https: bool) -> Vec<KeyValue> {
    let mut attrs = Vec::with_capacity(10);
    attrs.push(KeyValue::new(ATTR_METHOD, method));
    if method == OTHER {
        attrs.push(KeyValue::new(
            ATTR_METHOD_ORIGINAL,
            req.method().as_str().to_owned(),
        ));
    }
    attrs.push(KeyValue::new(ATTR_PATH, req.uri().path().to_owned()));
    attrs.push(KeyValue::new(ATTR_SCHEME, scheme_label(req.uri(), https)));
    // HTTP/2 carries `:authority` in the URI; HTTP/1.1 the Host header.
    let host = match req.uri().authority() {
        Some(authority) => Some((authority.host(), authority.port_u16())),
        None => req
            .headers()
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .and_then(split_host_port),
    };
    if let Some((host, port)) = host {
        attrs.push(KeyValue::new(ATTR_SERVER_ADDRESS, host.to_owned()));
        if let Some(port) = port {
            attrs.push(KeyValue::new(ATTR_SERVER_PORT, i64::from(port)));
        }
    }
    if let Some(ua) = req
        .headers()
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
    {
        attrs.push(KeyValue::new(ATTR_USER_AGENT, ua.to_owned()));
    }
    let version = match req.version() {
        Version::HTTP_09 => Some("0.9"),
        Version::HTTP_10 => Some("1.0"),
        Version::HTTP_11 => Some("1.1"),
        Version::HTTP_2 => Some("2"),
        Version::HTTP_3 => Some("3"),
        _ => None,
    };
    if let Some(version) = version {
        attrs.push(KeyValue::new(ATTR_PROTOCOL_VERSION, version));
    }
    if let Some(peer) = req.extensions().get::<PeerAddr>() {
        attrs.push(KeyValue::new(ATTR_PEER_ADDRESS, peer.0.ip().to_string()));
        attrs.push(KeyValue::new(ATTR_PEER_PORT, i64::from(peer.0.port())));
    }
    attrs
}

/// Plumego's [`TraceContext`] for the server span, `None` when the tracer
/// produced no valid ids (a no-op tracer).
fn trace_context(parent: &opentelemetry::Context, span: &SpanContext) -> Option<TraceContext> {
    let trace_id = TraceId::from_bytes(span.trace_id().to_bytes())?;
    let span_id = SpanId::from_bytes(span.span_id().to_bytes())?;
    let parent_span = parent.span();
    let parent_span = parent_span.span_context();
    let parent_span_id = if parent_span.is_valid() {
        SpanId::from_bytes(parent_span.span_id().to_bytes())
    } else {
        None
    };
    let baggage: BTreeMap<String, String> = parent
        .baggage()
        .iter()
        .map(|(k, (v, _))| (k.to_string(), v.to_string()))
        .collect();
    Some(TraceContext {
        trace_id,
        span_id,
        parent_span_id,
        flags: span.trace_flags().to_u8(),
        baggage,
    })
}

pin_project! {
    /// The response future of [`TraceService`].
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        span: Option<SpanGuard>,
        config: Arc<TraceConfig>,
    }
}

impl<F, ResB, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<ResB>, E>>,
{
    type Output = Result<Response<TraceBody<ResB>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        match ready!(this.inner.poll(cx)) {
            Ok(mut res) => {
                let mut span = this.span.take();
                if let Some(guard) = span.as_mut() {
                    guard.respond(res.status());
                    let config = &**this.config;
                    let span_context = guard.cx.span().span_context().clone();
                    if let Some(name) = &config.span_id_header {
                        if span_context.is_valid() && !res.headers().contains_key(name) {
                            let value = span_id_header_value(span_context.span_id());
                            res.headers_mut().insert(name.clone(), value);
                        }
                    }
                    if config.inject_response_context {
                        config
                            .propagator
                            .inject_context(&guard.cx, &mut HeaderInjector(res.headers_mut()));
                    }
                }
                Poll::Ready(Ok(res.map(|inner| TraceBody { inner, span })))
            }
            Err(err) => {
                if let Some(mut guard) = this.span.take() {
                    guard.fail("inner service error");
                }
                Poll::Ready(Err(err))
            }
        }
    }
}

pin_project! {
    /// The response body of [`TraceService`]: the inner body, ending the
    /// server span when it ends, fails or is dropped.
    pub struct TraceBody<B> {
        #[pin]
        inner: B,
        span: Option<SpanGuard>,
    }
}

/// A body built outside this layer ends no span.
impl<B: Default> Default for TraceBody<B> {
    fn default() -> Self {
        Self {
            inner: B::default(),
            span: None,
        }
    }
}

impl<B> http_body::Body for TraceBody<B>
where
    B: http_body::Body,
{
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<B::Data>, B::Error>>> {
        let mut this = self.project();
        let frame = ready!(this.inner.as_mut().poll_frame(cx));
        match &frame {
            // hyper stops polling once the body says it has ended.
            Some(Ok(_)) if !this.inner.is_end_stream() => {}
            Some(Ok(_)) | None => {
                if let Some(mut guard) = this.span.take() {
                    guard.end();
                }
            }
            Some(Err(_)) => {
                if let Some(mut guard) = this.span.take() {
                    guard.fail("response body error");
                }
            }
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// The request's span, ended exactly once: explicitly when the body ends, or
/// on drop. A future dropped before the response (a panic, an outer timeout,
/// a client gone before the head) ends the span as an error.
struct SpanGuard {
    cx: opentelemetry::Context,
    slot: RouteSlot,
    method: &'static str,
    ended: bool,
    responded: bool,
}

/// The span id as 16 lowercase hex digits, formatted on the stack (one
/// allocation: the header value's own buffer).
fn span_id_header_value(id: opentelemetry::trace::SpanId) -> HeaderValue {
    let mut out = [0u8; 16];
    for (digits, byte) in out.chunks_exact_mut(2).zip(id.to_bytes()) {
        digits.copy_from_slice(&crate::hex::pair(byte));
    }
    HeaderValue::from_maybe_shared(bytes::Bytes::from_owner(out))
        .unwrap_or_else(|_| HeaderValue::from_static("0000000000000000"))
}

impl SpanGuard {
    fn respond(&mut self, status: http::StatusCode) {
        self.responded = true;
        let span = self.cx.span();
        if let Some(route) = self.slot.get() {
            // The router's shared pattern: a reference count, not a copy.
            let pattern = opentelemetry::Value::String(route.shared_pattern().clone().into());
            span.set_attribute(KeyValue::new(ATTR_ROUTE, pattern));
            span.update_name(span_name(self.method, Some(route.pattern())));
        }
        span.set_attribute(KeyValue::new(ATTR_STATUS, i64::from(status.as_u16())));
        // Server spans leave 4xx unset: the client erred, not the server.
        if status.is_server_error() {
            span.set_attribute(KeyValue::new(ATTR_ERROR_TYPE, status.as_u16().to_string()));
            span.set_status(Status::error(
                status.canonical_reason().unwrap_or("server error"),
            ));
        }
    }

    fn fail(&mut self, description: &'static str) {
        let span = self.cx.span();
        span.set_attribute(KeyValue::new(ATTR_ERROR_TYPE, OTHER));
        span.set_status(Status::error(description));
        self.end();
    }

    fn end(&mut self) {
        if !std::mem::replace(&mut self.ended, true) {
            self.cx.span().end();
        }
    }
}

impl Drop for SpanGuard {
    fn drop(&mut self) {
        if self.ended {
            return;
        }
        if self.responded {
            self.end();
        } else {
            self.fail("request dropped before a response");
        }
    }
}

impl std::fmt::Debug for SpanGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SpanGuard")
            .field("span", self.cx.span().span_context())
            .field("ended", &self.ended)
            .finish()
    }
}

/// Reads propagation fields from request headers; values that are not visible
/// ASCII are treated as absent.
///
/// A `traceparent` that is not well formed hides both it and `tracestate`
/// (W3C Trace Context §3.3: a vendor that cannot parse `traceparent` must not
/// use `tracestate`), whatever the propagator: the SDK's parser reads the hex
/// fields with `from_str_radix`, so it would take a 31-digit or `+`-signed
/// trace id as a parent.
struct HeaderExtractor<'a> {
    headers: &'a HeaderMap,
    trace_context_ok: bool,
}

const TRACEPARENT: &str = "traceparent";
const TRACESTATE: &str = "tracestate";
/// The propagator asks for these on every request: pre-parsed names skip
/// parsing the `&str` key each time.
static TRACEPARENT_NAME: HeaderName = HeaderName::from_static(TRACEPARENT);
static TRACESTATE_NAME: HeaderName = HeaderName::from_static(TRACESTATE);

/// `key` as a header name, without parsing it when it is a trace-context one.
fn lookup<'h>(headers: &'h HeaderMap, key: &str) -> http::header::GetAll<'h, HeaderValue> {
    match key {
        TRACEPARENT => headers.get_all(&TRACEPARENT_NAME),
        TRACESTATE => headers.get_all(&TRACESTATE_NAME),
        other => headers.get_all(other),
    }
}

impl<'a> HeaderExtractor<'a> {
    fn new(headers: &'a HeaderMap) -> Self {
        let mut values = headers.get_all(&TRACEPARENT_NAME).iter();
        let trace_context_ok = match (values.next(), values.next()) {
            (Some(v), None) => v.to_str().is_ok_and(well_formed_traceparent),
            // Absent: nothing to hide. Repeated: ambiguous, so invalid.
            (None, _) => true,
            (Some(_), Some(_)) => false,
        };
        Self {
            headers,
            trace_context_ok,
        }
    }

    fn hidden(&self, key: &str) -> bool {
        !self.trace_context_ok
            && (key.eq_ignore_ascii_case(TRACEPARENT) || key.eq_ignore_ascii_case(TRACESTATE))
    }
}

/// `version-traceid-parentid-flags` with the exact W3C lengths and lowercase
/// hex; version `ff` is invalid, and only versions after `00` may carry more
/// fields after a further `-`.
fn well_formed_traceparent(value: &str) -> bool {
    let b = value.trim_matches([' ', '\t']).as_bytes();
    let hex = |r: &[u8]| r.iter().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f'));
    let (Some(version), Some(rest)) = (b.get(..2), b.get(2..55)) else {
        return false;
    };
    let fields = rest[0] == b'-'
        && hex(&rest[1..33])
        && rest[33] == b'-'
        && hex(&rest[34..50])
        && rest[50] == b'-'
        && hex(&rest[51..53]);
    let tail = match version {
        b"00" => b.len() == 55,
        _ => b.len() == 55 || b[55] == b'-',
    };
    hex(version) && version != b"ff" && fields && tail
}

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        if self.hidden(key) {
            return None;
        }
        lookup(self.headers, key)
            .iter()
            .next()
            .and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.headers
            .keys()
            .map(HeaderName::as_str)
            .filter(|k| !self.hidden(k))
            .collect()
    }

    fn get_all(&self, key: &str) -> Option<Vec<&str>> {
        if self.hidden(key) {
            return None;
        }
        let values: Vec<&str> = lookup(self.headers, key)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        (!values.is_empty()).then_some(values)
    }
}

/// Writes propagation fields into response headers, skipping any name or
/// value a propagator produced that is not a valid header.
struct HeaderInjector<'a>(&'a mut HeaderMap);

impl Injector for HeaderInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(key.as_bytes()),
            HeaderValue::from_str(&value),
        ) {
            self.0.insert(name, value);
        }
    }
}

#[cfg(test)]
mod host_tests {
    use super::split_host_port;

    #[test]
    fn host_headers_split_like_authorities() {
        assert_eq!(split_host_port("example.com"), Some(("example.com", None)));
        assert_eq!(
            split_host_port("example.com:8080"),
            Some(("example.com", Some(8080)))
        );
        assert_eq!(split_host_port("[::1]:8080"), Some(("[::1]", Some(8080))));
        assert_eq!(split_host_port("[::1]"), Some(("[::1]", None)));
        for bad in [
            "",
            ":80",
            "example.com:x",
            "example.com:99999",
            "[::1",
            "a b",
            "u@h",
            "h/p",
        ] {
            assert_eq!(split_host_port(bad), None, "{bad:?}");
        }
    }
}
