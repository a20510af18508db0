//! Development only: plain-text and empty error responses become the JSON error
//! envelope, with the request's method, path and query, and a hint on 404.
//!
//! Off unless added; do not add it in production (it echoes request details
//! back). When the status is 4xx or 5xx and the body is empty or `text/plain`,
//! the body is read (up to [`DebugErrorsConfig::max_body_bytes`], default
//! 64 KiB) and replaced by an envelope:
//!
//! - type: 404 `resource_not_found`, 405 `method_not_allowed`, 406
//!   `not_acceptable`, 5xx `internal_error`, other 4xx `bad_request`;
//! - code: the lowercased status text with underscores (`not_found`); message:
//!   the lowercased status text (`not found`);
//! - details: `method`, `path`, `query` (raw, when there is one), `hint` (404
//!   only), and `response_preview` (the first 1024 bytes of the original body,
//!   `...` when cut) when [`DebugErrorsConfig::include_body`] is on;
//! - the request id of the [`RequestId`] extension.
//!
//! The other response headers are kept; `Content-Length` is dropped and
//! `Content-Type` becomes `application/json`.
//!
//! Passed through untouched: success responses, other content types, encoded
//! bodies, bodies whose size is unknown (streams) or above the cap, `HEAD`
//! requests (no body to replace), `CONNECT`, WebSocket upgrades and
//! `Accept: text/event-stream` requests.
//!
//! The decision is made from the response head (status, type, encoding, size
//! hint and `Content-Length`), so the original body is never buffered: it is
//! dropped unread, or, for the preview, read up to 1 KiB. Go buffered the whole
//! response up to the cap.
//!
//! **Fixed from Go:** the original status is kept. Go answered with the type's
//! canonical status, so a 418 became 400 and a 502 or 503 became 500, which
//! changed what clients and retries saw depending on whether this development
//! layer was on.
//!
//! ```
//! use http_body_util::BodyExt;
//! use plumego_layers::debug_errors::{DebugErrorsConfig, DebugErrorsLayer};
//! use tower::{ServiceBuilder, ServiceExt};
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let svc = ServiceBuilder::new()
//!     .layer(DebugErrorsLayer::new(DebugErrorsConfig::default()))
//!     .service_fn(|_req: http::Request<()>| async {
//!         let mut res = http::Response::new(http_body_util::Full::new(bytes::Bytes::from("teapot")));
//!         *res.status_mut() = http::StatusCode::IM_A_TEAPOT;
//!         Ok::<_, std::convert::Infallible>(res)
//!     });
//! let res = svc.oneshot(http::Request::get("/brew?kind=tea").body(()).unwrap()).await.unwrap();
//! assert_eq!(res.status(), 418);
//! assert_eq!(res.headers()["content-type"], "application/json");
//! let body = res.into_body().collect().await.unwrap().to_bytes();
//! assert_eq!(
//!     body,
//!     "{\"error\":{\"code\":\"i'm_a_teapot\",\"message\":\"i'm a teapot\",\
//!      \"category\":\"client_error\",\"type\":\"bad_request\",\
//!      \"details\":{\"method\":\"GET\",\"path\":\"/brew\",\"query\":\"kind=tea\"}}}\n"
//! );
//! # });
//! ```

use std::borrow::Cow;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use bytes::{Bytes, BytesMut};
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode, Uri, header};
use http_body::Body;
use pin_project_lite::pin_project;
use plumego_core::context::RequestId;
use plumego_core::error::{ApiError, ErrorType, status_text};
use tower::{Layer, Service};

use crate::body::{ResponseBody, envelope};

/// The default [`DebugErrorsConfig::max_body_bytes`]: 64 KiB.
pub const DEFAULT_MAX_BODY_BYTES: usize = 64 * 1024;

/// The default [`DebugErrorsConfig::not_found_hint`].
pub const DEFAULT_NOT_FOUND_HINT: &str =
    "no route matches this method and path; check the path, its parameters and the method";

/// How much of the original body `response_preview` shows.
const PREVIEW_BYTES: usize = 1024;

/// Debug error options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DebugErrorsConfig {
    /// Add `method` and `path` to the details. Default true.
    pub include_request: bool,
    /// Add the raw `query` to the details. Default true.
    pub include_query: bool,
    /// Add `response_preview`, the start of the original body. Default false.
    pub include_body: bool,
    /// The largest body read to decide; larger ones pass through. Default 64 KiB.
    pub max_body_bytes: usize,
    /// The `hint` on 404s; `None` for none. Default [`DEFAULT_NOT_FOUND_HINT`].
    pub not_found_hint: Option<Cow<'static, str>>,
}

impl Default for DebugErrorsConfig {
    fn default() -> Self {
        Self {
            include_request: true,
            include_query: true,
            include_body: false,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            not_found_hint: Some(Cow::Borrowed(DEFAULT_NOT_FOUND_HINT)),
        }
    }
}

impl DebugErrorsConfig {
    /// Whether to add `method` and `path`.
    #[must_use]
    pub fn include_request(mut self, enabled: bool) -> Self {
        self.include_request = enabled;
        self
    }

    /// Whether to add `query`.
    #[must_use]
    pub fn include_query(mut self, enabled: bool) -> Self {
        self.include_query = enabled;
        self
    }

    /// Whether to add `response_preview`.
    #[must_use]
    pub fn include_body(mut self, enabled: bool) -> Self {
        self.include_body = enabled;
        self
    }

    /// Sets the body cap.
    #[must_use]
    pub fn max_body_bytes(mut self, bytes: usize) -> Self {
        self.max_body_bytes = bytes;
        self
    }

    /// Sets the 404 hint.
    #[must_use]
    pub fn not_found_hint(mut self, hint: impl Into<Cow<'static, str>>) -> Self {
        self.not_found_hint = Some(hint.into());
        self
    }

    /// Sends no 404 hint.
    #[must_use]
    pub fn without_not_found_hint(mut self) -> Self {
        self.not_found_hint = None;
        self
    }
}

/// Adds [`DebugErrorsService`].
#[derive(Debug, Clone, Default)]
pub struct DebugErrorsLayer {
    config: Arc<DebugErrorsConfig>,
}

impl DebugErrorsLayer {
    /// A layer with this configuration.
    pub fn new(config: DebugErrorsConfig) -> Self {
        Self {
            config: Arc::new(config),
        }
    }
}

impl<S> Layer<S> for DebugErrorsLayer {
    type Service = DebugErrorsService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        DebugErrorsService {
            inner,
            config: self.config.clone(),
        }
    }
}

/// Rewrites plain error responses as envelopes (see the [module docs](self)).
#[derive(Debug, Clone)]
pub struct DebugErrorsService<S> {
    inner: S,
    config: Arc<DebugErrorsConfig>,
}

/// What the envelope needs to know about the request.
#[derive(Debug)]
struct RequestInfo {
    method: Method,
    uri: Uri,
    request_id: Option<RequestId>,
    config: Arc<DebugErrorsConfig>,
}

fn skipped<B>(req: &Request<B>) -> bool {
    let headers = req.headers();
    req.method() == Method::HEAD
        || req.method() == Method::CONNECT
        || header_has(headers, header::UPGRADE, "websocket")
        || header_has(headers, header::ACCEPT, "text/event-stream")
}

fn header_has(headers: &HeaderMap, name: header::HeaderName, needle: &str) -> bool {
    headers
        .get_all(name)
        .iter()
        .any(|v| crate::body::contains_ignore_ascii_case(v.as_bytes(), needle.as_bytes()))
}

impl<S, ReqB, ResB> Service<Request<ReqB>> for DebugErrorsService<S>
where
    S: Service<Request<ReqB>, Response = Response<ResB>>,
    ResB: Body<Data = Bytes>,
{
    type Response = Response<ResponseBody<ResB>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, ResB>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqB>) -> Self::Future {
        let info = (!skipped(&req)).then(|| {
            Box::new(RequestInfo {
                method: req.method().clone(),
                uri: req.uri().clone(),
                request_id: req.extensions().get::<RequestId>().cloned(),
                config: self.config.clone(),
            })
        });
        ResponseFuture {
            state: State::Waiting {
                fut: self.inner.call(req),
            },
            info,
        }
    }
}

pin_project! {
    /// The response future of [`DebugErrorsService`].
    pub struct ResponseFuture<F, B> {
        #[pin]
        state: State<F, B>,
        info: Option<Box<RequestInfo>>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<F, B> {
        Waiting {
            #[pin]
            fut: F,
        },
        // Reading the start of the body for `response_preview`.
        Previewing {
            #[pin]
            body: B,
            parts: Option<http::response::Parts>,
            buf: BytesMut,
        },
        Done,
    }
}

/// Whether the response is rewritten: an error status, an empty or plain-text
/// unencoded body, and a size bounded by the cap (by the body's size hint and
/// by `Content-Length`). The body's bytes do not matter, so the decision needs
/// no buffering.
fn wants_rewrite<B: Body>(res: &Response<B>, cap: usize) -> bool {
    let status = res.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return false;
    }
    let headers = res.headers();
    if headers.contains_key(header::CONTENT_ENCODING) {
        return false;
    }
    let plain = match headers.get(header::CONTENT_TYPE) {
        None => true,
        Some(ct) => ct
            .as_bytes()
            .trim_ascii_start()
            .get(..10)
            .is_some_and(|p| p.eq_ignore_ascii_case(b"text/plain")),
    };
    if !plain {
        return false;
    }
    let cap = cap as u64;
    let declared_ok = crate::body::content_length(headers).is_none_or(|len| len <= cap);
    // An unknown upper bound is a stream: it may never end.
    declared_ok
        && res
            .body()
            .size_hint()
            .upper()
            .is_some_and(|upper| upper <= cap)
}

impl<F, B, E> Future for ResponseFuture<F, B>
where
    F: Future<Output = Result<Response<B>, E>>,
    B: Body<Data = Bytes>,
{
    type Output = Result<Response<ResponseBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            match this.state.as_mut().project() {
                StateProj::Waiting { fut } => {
                    let res = ready!(fut.poll(cx))?;
                    let info = match this.info.take() {
                        Some(info) if wants_rewrite(&res, info.config.max_body_bytes) => info,
                        _ => {
                            this.state.set(State::Done);
                            return Poll::Ready(Ok(res.map(ResponseBody::inner)));
                        }
                    };
                    let (parts, body) = res.into_parts();
                    if !info.config.include_body {
                        // The original body is replaced unread.
                        this.state.set(State::Done);
                        return Poll::Ready(Ok(rewrite(parts, &[], &info)));
                    }
                    *this.info = Some(info);
                    this.state.set(State::Previewing {
                        body,
                        parts: Some(parts),
                        buf: BytesMut::new(),
                    });
                }
                StateProj::Previewing { body, parts, buf } => {
                    let more = match ready!(body.poll_frame(cx)) {
                        Some(Ok(frame)) => {
                            if let Ok(data) = frame.into_data() {
                                buf.extend_from_slice(&data);
                            }
                            true
                        }
                        // A failing body still gets its envelope, with what was read.
                        Some(Err(_)) | None => false,
                    };
                    // One byte past the preview is enough to know it was cut.
                    if more && buf.len() <= PREVIEW_BYTES {
                        continue;
                    }
                    let read = std::mem::take(buf);
                    let (Some(parts), Some(info)) = (parts.take(), this.info.take()) else {
                        // Both are set when entering this state and taken only here.
                        this.state.set(State::Done);
                        continue;
                    };
                    this.state.set(State::Done);
                    return Poll::Ready(Ok(rewrite(parts, &read, &info)));
                }
                StateProj::Done => {
                    // Polled after completion: stay pending rather than panic.
                    return Poll::Pending;
                }
            }
        }
    }
}

/// The envelope for this error response, keeping its status and other headers.
fn rewrite<B>(
    mut parts: http::response::Parts,
    body: &[u8],
    info: &RequestInfo,
) -> Response<ResponseBody<B>> {
    let status = parts.status;
    let error_type = match status.as_u16() {
        404 => ErrorType::ResourceNotFound,
        405 => ErrorType::MethodNotAllowed,
        406 => ErrorType::NotAcceptable,
        500.. => ErrorType::Internal,
        _ => ErrorType::BadRequest,
    };
    let text = status_text(status).to_ascii_lowercase();
    let config = &info.config;
    let mut builder = ApiError::builder()
        .error_type(error_type)
        .code(text.replace(' ', "_"))
        .message(text);
    if config.include_request {
        builder = builder
            .detail("method", info.method.as_str())
            .detail("path", info.uri.path());
    }
    if config.include_query {
        if let Some(query) = info.uri.query().filter(|q| !q.is_empty()) {
            builder = builder.detail("query", query);
        }
    }
    if status == StatusCode::NOT_FOUND {
        if let Some(hint) = &config.not_found_hint {
            builder = builder.detail("hint", hint.as_ref());
        }
    }
    if config.include_body && !body.is_empty() {
        builder = builder.detail("response_preview", preview(body));
    }
    let (envelope_parts, envelope_body) =
        envelope::<B>(builder.build(), info.request_id.as_ref()).into_parts();
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(
        header::CONTENT_TYPE,
        envelope_parts
            .headers
            .get(header::CONTENT_TYPE)
            .cloned()
            .unwrap_or_else(|| HeaderValue::from_static("application/json")),
    );
    // `parts.status` is still the original: the envelope's canonical status
    // (in `envelope_parts`) is not used.
    Response::from_parts(parts, envelope_body)
}

/// The first [`PREVIEW_BYTES`] of the body as text, cut on a character
/// boundary, with `...` when cut.
fn preview(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    if text.len() <= PREVIEW_BYTES {
        return text.into_owned();
    }
    let mut end = PREVIEW_BYTES;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &text[..end])
}
