//! `Idempotency-Key` (IETF draft `draft-ietf-httpapi-idempotency-key-header`):
//! a client that retries an unsafe request with the same key gets the first
//! response again instead of a second execution.
//!
//! For a request whose method is in [`methods`](IdempotencyConfig::methods)
//! (POST, PUT, PATCH, DELETE) and that carries the header:
//!
//! 1. The body is buffered (up to
//!    [`max_request_bytes`](IdempotencyConfig::max_request_bytes), else 413)
//!    and the request's fingerprint is the SHA-256 of its method, path and
//!    query, and body.
//! 2. The key is claimed in the [`IdempotencyStore`] with an `in_progress`
//!    record, atomically: of two concurrent requests, even on two instances
//!    sharing Redis or PostgreSQL, exactly one runs the handler.
//! 3. The response (status, headers, body up to
//!    [`max_response_bytes`](IdempotencyConfig::max_response_bytes)) is
//!    recorded and the record `completed`; it expires after
//!    [`ttl`](IdempotencyConfig::ttl) (24 h).
//!
//! A request whose key is already claimed gets:
//! - the recorded response, with `Idempotent-Replayed: true`, when it has the
//!   same fingerprint and the first request completed;
//! - **409** (`IDEMPOTENCY_REQUEST_IN_PROGRESS`, with `Retry-After: 1`) while
//!   the first request is still running;
//! - **422** (`IDEMPOTENCY_KEY_REUSED`) when the payload differs.
//!
//! A missing key is **400** (`IDEMPOTENCY_KEY_MISSING`) when
//! [`require_key`](IdempotencyConfig::require_key) is set or the matched route
//! carries the [`RequireIdempotencyKey`] metadata (read from the route state,
//! so apply the layer inside the router, e.g. as a Plumego group layer, for
//! that); otherwise the request passes through untouched. A malformed key
//! (empty, over 255 characters, repeated header) is 400
//! `IDEMPOTENCY_KEY_INVALID`. The key may be sent bare or as a structured-field
//! string (`"…"`), as the draft writes it. All errors are envelopes.
//!
//! Keys are scoped to the caller: the stored key is a SHA-256 of the
//! authenticated principal's tenant and subject (if any) and the key, so two
//! clients choosing the same key never see each other's responses.
//!
//! The key is released (the record deleted) when the handler fails (`Err`),
//! answers 5xx (unless
//! [`store_server_errors`](IdempotencyConfig::store_server_errors)), its
//! response body fails, or the request is cancelled: a retry then runs the
//! handler again, as the first attempt did not produce an answer to replay. A
//! response body larger than the cap still reaches the caller whole, but only
//! its status is recorded: a retry gets 409 `IDEMPOTENCY_RESPONSE_NOT_STORED`
//! rather than a second execution. If the store fails, requests with a key
//! get 503 `IDEMPOTENCY_STORE_UNAVAILABLE` rather than running unprotected.
//!
//! The inner service keeps the request body type: the buffered body is
//! rebuilt with `From<Bytes>`, which Plumego's, axum's and `Full` bodies
//! implement. Request trailers are not forwarded for keyed requests.
//!
//! ```
//! use std::sync::Arc;
//! use std::sync::atomic::{AtomicUsize, Ordering};
//! use bytes::Bytes;
//! use http_body_util::{BodyExt, Full};
//! use plumego_core::store::memory::{MemoryConfig, MemoryStore};
//! use plumego_layers::idempotency::{IdempotencyConfig, IdempotencyLayer};
//! use tower::{Layer, ServiceExt};
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let store = Arc::new(MemoryStore::new(MemoryConfig::default()).unwrap());
//! let calls = Arc::new(AtomicUsize::new(0));
//! let counter = calls.clone();
//! let svc = IdempotencyLayer::new(store, IdempotencyConfig::default()).layer(tower::service_fn(
//!     move |_req: http::Request<Full<Bytes>>| {
//!         let n = counter.fetch_add(1, Ordering::SeqCst) + 1;
//!         async move {
//!             let mut res = http::Response::new(Full::new(Bytes::from(format!("order {n}"))));
//!             *res.status_mut() = http::StatusCode::CREATED;
//!             Ok::<_, std::convert::Infallible>(res)
//!         }
//!     },
//! ));
//! let post = || {
//!     http::Request::post("/orders")
//!         .header("idempotency-key", "8e03978e-40d5-43e8-bc93-6894a57f9324")
//!         .body(Full::new(Bytes::from("{\"item\":1}")))
//!         .unwrap()
//! };
//! let first = svc.clone().oneshot(post()).await.unwrap();
//! let retry = svc.clone().oneshot(post()).await.unwrap();
//! assert_eq!(calls.load(Ordering::SeqCst), 1);
//! assert_eq!(retry.status(), 201);
//! assert_eq!(retry.headers()["idempotent-replayed"], "true");
//! assert_eq!(retry.into_body().collect().await.unwrap().to_bytes(), "order 1");
//! # let _ = first;
//! # });
//! ```

mod record;

/// The body the first caller reads when its response could not be recorded whole.
pub type IdempotencyBody<B> = crate::resumed_body::ResumedBody<B>;

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, Response, Uri, header};
use http_body::Frame;
use http_body_util::BodyExt;
use pin_project_lite::pin_project;
use plumego_core::context::{RequestExt, RequestId};
use plumego_core::error::{ApiError, ErrorType};
use plumego_core::store::{IdempotencyRecord, IdempotencyStatus, IdempotencyStore, StoreError};
use sha2::{Digest, Sha256};
use tower::{Layer, Service};

use crate::body::{ResponseBody, envelope};
use record::StoredResponse;

/// The request header, `Idempotency-Key`.
pub const IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");

/// The header marking a replayed response, `Idempotent-Replayed` (the name
/// the draft's examples and Stripe use).
pub const REPLAYED_HEADER: HeaderName = HeaderName::from_static("idempotent-replayed");

/// Route metadata: requests to this route must carry an `Idempotency-Key`
/// (400 otherwise). Attach it when registering the route.
///
/// ```
/// use plumego_core::context::RouteInfo;
/// use plumego_layers::idempotency::RequireIdempotencyKey;
///
/// let mut metadata = http::Extensions::new();
/// metadata.insert(RequireIdempotencyKey);
/// let route = RouteInfo::new("/payments", None, Vec::<String>::new(), metadata);
/// assert!(route.metadata::<RequireIdempotencyKey>().is_some());
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RequireIdempotencyKey;

/// Idempotency options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyConfig {
    /// The header carrying the key. Default [`IDEMPOTENCY_KEY`].
    pub header: HeaderName,
    /// Methods the layer handles. Default POST, PUT, PATCH and DELETE: safe
    /// methods are idempotent already.
    pub methods: Vec<Method>,
    /// Every handled request must carry a key. Default false (only routes
    /// with [`RequireIdempotencyKey`] do).
    pub require_key: bool,
    /// How long a record lives, counted from the first request. It must
    /// exceed the slowest handler, or a retry could run while the first is
    /// still going. Default 24 h; at least 1 s.
    pub ttl: Duration,
    /// The longest key, in characters. Default 255.
    pub max_key_len: usize,
    /// The largest request body buffered for fingerprinting; larger bodies
    /// with a key get 413. Default 1 MiB.
    pub max_request_bytes: usize,
    /// The largest response body recorded for replay. Default 1 MiB.
    pub max_response_bytes: usize,
    /// Record 5xx responses too, instead of releasing the key so the client
    /// can retry. Default false.
    pub store_server_errors: bool,
    /// Added with the value `true` to replayed responses; `None` adds nothing.
    /// Default [`REPLAYED_HEADER`].
    pub replayed_header: Option<HeaderName>,
}

impl Default for IdempotencyConfig {
    fn default() -> Self {
        Self {
            header: IDEMPOTENCY_KEY,
            methods: vec![Method::POST, Method::PUT, Method::PATCH, Method::DELETE],
            require_key: false,
            ttl: Duration::from_secs(24 * 3600),
            max_key_len: 255,
            max_request_bytes: 1 << 20,
            max_response_bytes: 1 << 20,
            store_server_errors: false,
            replayed_header: Some(REPLAYED_HEADER),
        }
    }
}

impl IdempotencyConfig {
    /// Whether every handled request needs a key.
    #[must_use]
    pub fn require_key(mut self, required: bool) -> Self {
        self.require_key = required;
        self
    }

    /// Changes the record lifetime (at least 1 s).
    #[must_use]
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl.max(Duration::from_secs(1));
        self
    }

    /// Replaces the handled methods.
    #[must_use]
    pub fn methods(mut self, methods: impl IntoIterator<Item = Method>) -> Self {
        self.methods = methods.into_iter().collect();
        self
    }

    /// Changes the request buffering cap.
    #[must_use]
    pub fn max_request_bytes(mut self, max: usize) -> Self {
        self.max_request_bytes = max;
        self
    }

    /// Changes the response recording cap.
    #[must_use]
    pub fn max_response_bytes(mut self, max: usize) -> Self {
        self.max_response_bytes = max;
        self
    }

    /// Whether 5xx responses are recorded.
    #[must_use]
    pub fn store_server_errors(mut self, store: bool) -> Self {
        self.store_server_errors = store;
        self
    }

    /// Changes (or with `None` drops) the replay marker header.
    #[must_use]
    pub fn replayed_header(mut self, header: Option<HeaderName>) -> Self {
        self.replayed_header = header;
        self
    }
}

struct Shared {
    config: IdempotencyConfig,
    store: Arc<dyn IdempotencyStore>,
}

/// Adds [`IdempotencyService`]; every service it makes shares the store.
#[derive(Clone)]
pub struct IdempotencyLayer {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for IdempotencyLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdempotencyLayer")
            .field("config", &self.shared.config)
            .finish_non_exhaustive()
    }
}

impl IdempotencyLayer {
    /// A layer recording into `store` (memory, redb, Redis or PostgreSQL; a
    /// shared engine for several instances).
    pub fn new(store: Arc<dyn IdempotencyStore>, config: IdempotencyConfig) -> Self {
        Self {
            shared: Arc::new(Shared { config, store }),
        }
    }
}

impl<S> Layer<S> for IdempotencyLayer {
    type Service = IdempotencyService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        IdempotencyService {
            inner,
            shared: self.shared.clone(),
        }
    }
}

/// Records and replays keyed requests (see the [module docs](self)).
#[derive(Clone)]
pub struct IdempotencyService<S> {
    inner: S,
    shared: Arc<Shared>,
}

impl<S> std::fmt::Debug for IdempotencyService<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdempotencyService")
            .field("config", &self.shared.config)
            .finish_non_exhaustive()
    }
}

/// The response type of [`IdempotencyService`].
type Res<B> = Response<ResponseBody<IdempotencyBody<B>>>;

impl<S, ReqB, ResB> Service<Request<ReqB>> for IdempotencyService<S>
where
    S: Service<Request<ReqB>, Response = Response<ResB>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    ReqB: http_body::Body<Data = Bytes> + From<Bytes> + Send + 'static,
    ResB: http_body::Body<Data = Bytes> + Send + 'static,
    ResB::Error: Send + 'static,
{
    type Response = Res<ResB>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, ResB, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqB>) -> Self::Future {
        let config = &self.shared.config;
        if !config.methods.contains(req.method()) {
            return ResponseFuture::passthrough(self.inner.call(req));
        }
        let key = match parse_key(req.headers(), &config.header, config.max_key_len) {
            KeyHeader::Valid(key) => key,
            KeyHeader::Missing => {
                let required = config.require_key
                    || req
                        .route()
                        .is_some_and(|r| r.metadata::<RequireIdempotencyKey>().is_some());
                if !required {
                    return ResponseFuture::passthrough(self.inner.call(req));
                }
                let err = api_error(
                    ErrorType::BadRequest,
                    "IDEMPOTENCY_KEY_MISSING",
                    "this request requires an Idempotency-Key header",
                );
                return ResponseFuture::ready(envelope(err, req.request_id()));
            }
            KeyHeader::Invalid(why) => {
                let err = ApiError::builder()
                    .error_type(ErrorType::BadRequest)
                    .code("IDEMPOTENCY_KEY_INVALID")
                    .message("the Idempotency-Key header is invalid")
                    .detail("reason", why)
                    .build();
                return ResponseFuture::ready(envelope(err, req.request_id()));
            }
        };
        // The ready service runs this request; the clone left behind is
        // polled ready before the next call, as tower requires.
        let clone = self.inner.clone();
        let inner = std::mem::replace(&mut self.inner, clone);
        ResponseFuture::keyed(Box::pin(keyed(inner, self.shared.clone(), req, key)))
    }
}

fn api_error(t: ErrorType, code: &'static str, message: &'static str) -> ApiError {
    ApiError::builder()
        .error_type(t)
        .code(code)
        .message(message)
        .build()
}

enum KeyHeader {
    Missing,
    Invalid(&'static str),
    Valid(String),
}

fn parse_key(headers: &HeaderMap, name: &HeaderName, max_len: usize) -> KeyHeader {
    let mut values = headers.get_all(name).iter();
    let Some(value) = values.next() else {
        return KeyHeader::Missing;
    };
    if values.next().is_some() {
        return KeyHeader::Invalid("more than one Idempotency-Key header");
    }
    let Ok(text) = value.to_str() else {
        return KeyHeader::Invalid("the key is not visible ASCII");
    };
    let text = text.trim();
    // The draft sends the key as a structured-field string: `"…"`.
    let key = match text.strip_prefix('"') {
        Some(rest) => match rest.strip_suffix('"') {
            Some(inner) if !inner.contains(['"', '\\']) => inner,
            _ => return KeyHeader::Invalid("the quoted key is malformed"),
        },
        None => text,
    };
    if key.trim().is_empty() {
        return KeyHeader::Invalid("the key is empty");
    }
    if key.chars().count() > max_len {
        return KeyHeader::Invalid("the key is too long");
    }
    if key.chars().any(char::is_control) {
        return KeyHeader::Invalid("the key holds a control character");
    }
    KeyHeader::Valid(key.to_owned())
}

/// The stored key: the client's key scoped to the caller, hashed so that any
/// key the header allows is a valid, bounded store key.
fn storage_key(tenant: Option<&str>, subject: Option<&str>, key: &str) -> String {
    let mut h = Sha256::new();
    h.update(b"plumego-idempotency\0");
    for part in [tenant.unwrap_or_default(), subject.unwrap_or_default(), key] {
        h.update((part.len() as u64).to_be_bytes());
        h.update(part.as_bytes());
    }
    crate::hex::lower(&h.finalize())
}

/// What makes two requests "the same": method, path and query, body.
fn fingerprint(method: &Method, uri: &Uri, body: &[u8]) -> String {
    let target = uri.path_and_query().map_or("/", |pq| pq.as_str());
    let mut h = Sha256::new();
    for part in [method.as_str().as_bytes(), target.as_bytes(), body] {
        h.update((part.len() as u64).to_be_bytes());
        h.update(part);
    }
    crate::hex::lower(&h.finalize())
}

enum ReadError {
    TooLarge,
    Failed,
}

/// Reads the whole request body, refusing more than `max` bytes.
async fn read_body<B>(body: B, max: usize) -> Result<Bytes, ReadError>
where
    B: http_body::Body<Data = Bytes>,
{
    if body.size_hint().lower() > max as u64 {
        return Err(ReadError::TooLarge);
    }
    let mut body = std::pin::pin!(body);
    let mut chunks: Vec<Bytes> = Vec::new();
    let mut len = 0usize;
    while let Some(frame) = body.frame().await {
        let Ok(frame) = frame else {
            return Err(ReadError::Failed);
        };
        // Trailers of a keyed request are dropped (see the module docs).
        if let Ok(data) = frame.into_data() {
            len += data.len();
            if len > max {
                return Err(ReadError::TooLarge);
            }
            chunks.push(data);
        }
    }
    Ok(crate::resumed_body::concat(chunks))
}

/// What reading the response body for the record gave.
enum Recorded<B: http_body::Body> {
    /// The whole body, within the cap.
    Whole(Bytes),
    /// Over the cap, or trailers: the caller gets it all, the record only
    /// the status.
    Partial(IdempotencyBody<B>),
    /// The body failed: the caller gets the frames read and the error.
    Failed(IdempotencyBody<B>),
}

async fn record_body<B>(body: B, cap: usize) -> Recorded<B>
where
    B: http_body::Body<Data = Bytes>,
{
    if body.size_hint().lower() > cap as u64 {
        return Recorded::Partial(IdempotencyBody::inner(body));
    }
    let mut body = Box::pin(body);
    let mut frames: VecDeque<Frame<Bytes>> = VecDeque::new();
    let mut len = 0usize;
    loop {
        match body.frame().await {
            None => {
                let chunks = frames
                    .into_iter()
                    .filter_map(|f| f.into_data().ok())
                    .collect();
                return Recorded::Whole(crate::resumed_body::concat(chunks));
            }
            Some(Ok(frame)) => {
                let over = match frame.data_ref() {
                    Some(data) => {
                        len += data.len();
                        len > cap
                    }
                    None => true, // trailers cannot be recorded
                };
                frames.push_back(frame);
                if over {
                    return Recorded::Partial(IdempotencyBody::resumed(frames, None, Some(body)));
                }
            }
            Some(Err(err)) => {
                return Recorded::Failed(IdempotencyBody::resumed(frames, Some(err), None));
            }
        }
    }
}

/// The claim on a key while its request runs: released (the record deleted)
/// if the request ends without a recorded response, including when the
/// future is dropped (client gone, timeout), so a retry can run.
struct Lease {
    store: Arc<dyn IdempotencyStore>,
    key: String,
    armed: bool,
}

impl Lease {
    async fn release(mut self) {
        self.armed = false;
        release(&*self.store, &self.key).await;
    }

    fn disarm(&mut self) {
        self.armed = false;
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            let store = self.store.clone();
            let key = std::mem::take(&mut self.key);
            handle.spawn(async move { release(&*store, &key).await });
        }
    }
}

async fn release(store: &dyn IdempotencyStore, key: &str) {
    match store.delete(key).await {
        Ok(()) | Err(StoreError::NotFound) => {}
        Err(err) => {
            tracing::warn!(error = %err, "idempotency: releasing a key failed; it stays claimed until it expires");
        }
    }
}

fn unavailable(err: &StoreError) -> ApiError {
    tracing::warn!(error = %err, "idempotency: the store failed");
    api_error(
        ErrorType::ServiceUnavailable,
        "IDEMPOTENCY_STORE_UNAVAILABLE",
        "idempotency records are unavailable; retry later",
    )
}

fn in_progress<B: http_body::Body>(request_id: Option<&RequestId>) -> Res<B> {
    let err = api_error(
        ErrorType::ResourceConflict,
        "IDEMPOTENCY_REQUEST_IN_PROGRESS",
        "a request with this Idempotency-Key is still being processed",
    );
    let mut res = envelope(err, request_id);
    res.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    res
}

fn replay<B: http_body::Body>(
    record: &IdempotencyRecord,
    config: &IdempotencyConfig,
    request_id: Option<&RequestId>,
) -> Res<B> {
    let Some(stored) = record.response.as_deref().and_then(StoredResponse::decode) else {
        tracing::warn!("idempotency: a completed record holds no readable response");
        let err = api_error(
            ErrorType::Internal,
            "IDEMPOTENCY_RECORD_CORRUPT",
            "the recorded response cannot be replayed",
        );
        return envelope(err, request_id);
    };
    let Some(body) = stored.body else {
        let err = ApiError::builder()
            .error_type(ErrorType::ResourceConflict)
            .code("IDEMPOTENCY_RESPONSE_NOT_STORED")
            .message("the request with this Idempotency-Key was processed, but its response was too large to keep")
            .detail("original_status", stored.status.as_u16())
            .build();
        return envelope(err, request_id);
    };
    let mut res = Response::new(ResponseBody::full(body));
    *res.status_mut() = stored.status;
    *res.headers_mut() = stored.headers;
    if let Some(name) = &config.replayed_header {
        res.headers_mut()
            .insert(name.clone(), HeaderValue::from_static("true"));
    }
    res
}

async fn keyed<S, ReqB, ResB>(
    mut inner: S,
    shared: Arc<Shared>,
    req: Request<ReqB>,
    key: String,
) -> Result<Res<ResB>, S::Error>
where
    S: Service<Request<ReqB>, Response = Response<ResB>>,
    ReqB: http_body::Body<Data = Bytes> + From<Bytes>,
    ResB: http_body::Body<Data = Bytes>,
{
    let config = &shared.config;
    let store = &shared.store;
    let request_id = req.request_id().cloned();
    let rid = request_id.as_ref();
    let principal = req.principal();
    let storage_key = storage_key(
        principal.and_then(|p| p.tenant.as_deref()),
        principal.map(|p| p.subject.as_str()),
        &key,
    );
    let (parts, body) = req.into_parts();
    let bytes = match read_body(body, config.max_request_bytes).await {
        Ok(bytes) => bytes,
        Err(ReadError::TooLarge) => {
            let err = ApiError::builder()
                .error_type(ErrorType::PayloadTooLarge)
                .message("request body exceeds the idempotency buffering limit")
                .detail("max_bytes", config.max_request_bytes)
                .build();
            return Ok(envelope(err, rid));
        }
        Err(ReadError::Failed) => {
            let err = api_error(
                ErrorType::BadRequest,
                "BAD_REQUEST",
                "the request body could not be read",
            );
            return Ok(envelope(err, rid));
        }
    };
    let fingerprint = fingerprint(&parts.method, &parts.uri, &bytes);

    // Claim the key, or answer from the record that holds it. A record can
    // vanish between the two calls (released or expired): then claim again.
    let mut attempts = 0;
    loop {
        attempts += 1;
        let record = IdempotencyRecord::in_progress(
            &storage_key,
            &fingerprint,
            SystemTime::now(),
            config.ttl,
        );
        match store.put_if_absent(&record).await {
            Ok(true) => break,
            Ok(false) => {}
            Err(err) => return Ok(envelope(unavailable(&err), rid)),
        }
        match store.get(&storage_key).await {
            Ok(Some(existing)) if existing.request_hash != fingerprint => {
                let err = api_error(
                    ErrorType::InvalidRequest,
                    "IDEMPOTENCY_KEY_REUSED",
                    "this Idempotency-Key was already used for a different request",
                );
                return Ok(envelope(err, rid));
            }
            Ok(Some(existing)) => {
                return Ok(match existing.status {
                    IdempotencyStatus::InProgress => in_progress(rid),
                    IdempotencyStatus::Completed => replay(&existing, config, rid),
                });
            }
            Ok(None) if attempts < 3 => {}
            Ok(None) => return Ok(in_progress(rid)),
            Err(err) => return Ok(envelope(unavailable(&err), rid)),
        }
    }

    let mut lease = Lease {
        store: store.clone(),
        key: storage_key.clone(),
        armed: true,
    };
    let res = match inner
        .call(Request::from_parts(parts, ReqB::from(bytes)))
        .await
    {
        Ok(res) => res,
        Err(err) => {
            lease.release().await;
            return Err(err);
        }
    };
    if res.status().is_server_error() && !config.store_server_errors {
        lease.release().await;
        return Ok(res.map(|b| ResponseBody::inner(IdempotencyBody::inner(b))));
    }
    let (head, body) = res.into_parts();
    let (stored_body, body) = match record_body(body, config.max_response_bytes).await {
        Recorded::Whole(bytes) => (Some(bytes.clone()), ResponseBody::full(bytes)),
        Recorded::Partial(body) => (None, ResponseBody::inner(body)),
        Recorded::Failed(body) => {
            lease.release().await;
            return Ok(Response::from_parts(head, ResponseBody::inner(body)));
        }
    };
    // From here a cancelled completion leaves the key claimed until it
    // expires (409 for retries), never free for a second execution.
    lease.disarm();
    let stored = StoredResponse {
        status: head.status,
        headers: head.headers.clone(),
        body: stored_body,
    };
    if let Err(err) = store
        .complete(&storage_key, &fingerprint, stored.encode())
        .await
    {
        tracing::warn!(error = %err, "idempotency: recording the response failed; retries get 409 until the record expires");
    }
    Ok(Response::from_parts(head, body))
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

pin_project! {
    /// The response future of [`IdempotencyService`].
    pub struct ResponseFuture<F, B, E>
    where
        B: http_body::Body,
    {
        #[pin]
        kind: Kind<F, B, E>,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<F, B, E>
    where
        B: http_body::Body,
    {
        Passthrough {
            #[pin]
            future: F,
        },
        Ready {
            response: Option<Res<B>>,
        },
        Keyed {
            future: BoxFuture<Result<Res<B>, E>>,
        },
    }
}

impl<F, B: http_body::Body, E> ResponseFuture<F, B, E> {
    fn passthrough(future: F) -> Self {
        Self {
            kind: Kind::Passthrough { future },
        }
    }

    fn ready(response: Res<B>) -> Self {
        Self {
            kind: Kind::Ready {
                response: Some(response),
            },
        }
    }

    fn keyed(future: BoxFuture<Result<Res<B>, E>>) -> Self {
        Self {
            kind: Kind::Keyed { future },
        }
    }
}

impl<F, B, E> Future for ResponseFuture<F, B, E>
where
    F: Future<Output = Result<Response<B>, E>>,
    B: http_body::Body<Data = Bytes>,
{
    type Output = Result<Res<B>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().kind.project() {
            KindProj::Passthrough { future } => {
                let res = ready!(future.poll(cx))?;
                Poll::Ready(Ok(
                    res.map(|b| ResponseBody::inner(IdempotencyBody::inner(b)))
                ))
            }
            KindProj::Ready { response } => match response.take() {
                Some(res) => Poll::Ready(Ok(res)),
                None => panic!("idempotency ResponseFuture polled after completion"),
            },
            KindProj::Keyed { future } => future.as_mut().poll(cx),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(values: &[&'static str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append(IDEMPOTENCY_KEY, HeaderValue::from_static(v));
        }
        h
    }

    fn parse(values: &[&'static str]) -> Result<String, &'static str> {
        match parse_key(&headers(values), &IDEMPOTENCY_KEY, 10) {
            KeyHeader::Valid(k) => Ok(k),
            KeyHeader::Invalid(why) => Err(why),
            KeyHeader::Missing => Err("missing"),
        }
    }

    #[test]
    fn keys_are_parsed_bare_or_quoted() {
        assert_eq!(parse(&["abc"]), Ok("abc".into()));
        assert_eq!(parse(&[" \"abc\" "]), Ok("abc".into()));
        assert_eq!(parse(&[]), Err("missing"));
        assert!(parse(&["a", "b"]).is_err());
        assert!(parse(&["\"\""]).is_err());
        assert!(parse(&["\"abc"]).is_err());
        assert!(parse(&["\"a\"b\""]).is_err());
        assert!(parse(&["   "]).is_err());
        assert!(parse(&["01234567890"]).is_err());
        assert!(parse(&["a\tb"]).is_err());
    }

    #[test]
    fn keys_are_scoped_and_fingerprints_cover_the_request() {
        let anon = storage_key(None, None, "k");
        assert_eq!(anon.len(), 64);
        assert_ne!(anon, storage_key(None, Some("alice"), "k"));
        assert_ne!(
            storage_key(Some("t1"), Some("alice"), "k"),
            storage_key(Some("t2"), Some("alice"), "k")
        );
        // Length prefixes: moving bytes between parts changes the hash.
        assert_ne!(
            storage_key(None, Some("ab"), "c"),
            storage_key(None, Some("a"), "bc")
        );
        let uri: Uri = "/orders?x=1".parse().unwrap();
        let base = fingerprint(&Method::POST, &uri, b"{}");
        assert_eq!(base, fingerprint(&Method::POST, &uri, b"{}"));
        assert_ne!(base, fingerprint(&Method::PUT, &uri, b"{}"));
        assert_ne!(
            base,
            fingerprint(&Method::POST, &"/orders?x=2".parse().unwrap(), b"{}")
        );
        assert_ne!(base, fingerprint(&Method::POST, &uri, b"{ }"));
    }
}
