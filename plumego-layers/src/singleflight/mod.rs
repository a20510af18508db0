//! Request coalescing: while a GET or HEAD is in flight, identical requests
//! wait for its response instead of reaching the handler again, which shields
//! a slow backend from a burst of the same request (a cache miss stampede).
//!
//! Requests are identical when method, host, full URI and the values of the
//! key headers match (default `Accept`, `Accept-Encoding`, `Accept-Language`,
//! `Authorization`, `Cookie`, `Range`, so credentials partition the sharing).
//! Requests with a body or an `Upgrade` header are never coalesced.
//!
//! **The first request (the leader) has its response buffered**, up to
//! [`max_response_bytes`](SingleflightConfig::max_response_bytes) (10 MiB by
//! default): its caller receives the complete body at once, and the waiting
//! requests (followers) receive the same status, headers and body (a shared
//! [`Bytes`], not a copy; no body for HEAD). Nothing is buffered when the
//! response's size hint has no upper bound within the cap (a streaming or
//! large response): the leader's body is passed through untouched and the
//! followers call the inner service themselves. The same happens when the
//! body turns out larger than announced, fails, or ends with trailers, and
//! when the leader fails, panics or is cancelled: followers never fail because
//! of the leader (the Go toolkit answered them 502).
//!
//! A follower waits at most [`timeout`](SingleflightConfig::timeout) (30 s),
//! then answers the 504 envelope (`gateway_timeout`, code `TIMEOUT`, message
//! `upstream request timeout`). The wait uses Tokio's timer, so the service
//! runs on a Tokio runtime with time enabled (as any hyper server does).
//!
//! ```
//! use plumego_layers::singleflight::{SingleflightConfig, SingleflightLayer};
//! use std::sync::atomic::{AtomicUsize, Ordering};
//! use std::sync::Arc;
//! use tower::{Layer, ServiceExt};
//!
//! # tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build().unwrap().block_on(async {
//! let calls = Arc::new(AtomicUsize::new(0));
//! let counter = calls.clone();
//! let layer = SingleflightLayer::new(SingleflightConfig::default().coalesced_header(true));
//! let svc = layer.layer(tower::service_fn(move |_req: http::Request<()>| {
//!     counter.fetch_add(1, Ordering::SeqCst);
//!     async {
//!         tokio::time::sleep(std::time::Duration::from_millis(50)).await;
//!         Ok::<_, std::convert::Infallible>(http::Response::new(http_body_util::Full::new(bytes::Bytes::from("slow"))))
//!     }
//! }));
//! let get = || http::Request::get("/report").body(()).unwrap();
//! let (a, b) = tokio::join!(svc.clone().oneshot(get()), svc.clone().oneshot(get()));
//! assert_eq!(calls.load(Ordering::SeqCst), 1);
//! assert!(a.unwrap().headers().get("x-coalesced").is_none());
//! assert_eq!(b.unwrap().headers()["x-coalesced"], "true");
//! # });
//! ```

mod key;

/// The body the leader's caller reads when its response could not be shared.
pub type SingleflightBody<B> = crate::resumed_body::ResumedBody<B>;

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::Bytes;
use http::response::Parts;
use http::{
    HeaderMap, HeaderName, HeaderValue, Method, Request, Response, StatusCode, Version, header,
};
use http_body::Frame;
use pin_project_lite::pin_project;
use plumego_core::context::RequestId;
use plumego_core::error::{ApiError, ErrorType};
use tokio::sync::oneshot;
use tokio::time::Sleep;
use tower::{Layer, Service};

use crate::body::{ResponseBody, envelope};
use key::Key;

/// The header added to followers' responses when
/// [`coalesced_header`](SingleflightConfig::coalesced_header) is on.
pub const COALESCED_HEADER: &str = "x-coalesced";

/// Singleflight options.
#[derive(Debug, Clone)]
pub struct SingleflightConfig {
    /// Methods that are coalesced. Default GET and HEAD: only safe methods
    /// may share a response.
    pub methods: Vec<Method>,
    /// Request headers whose values are part of the key. Default `Accept`,
    /// `Accept-Encoding`, `Accept-Language`, `Authorization`, `Cookie`, `Range`.
    pub key_headers: Vec<HeaderName>,
    /// How long a follower waits for the leader. Default 30 s.
    pub timeout: Duration,
    /// The largest response body buffered for sharing. Default 10 MiB.
    pub max_response_bytes: usize,
    /// Adds `X-Coalesced: true` to followers' responses. Default false.
    pub coalesced_header: bool,
}

impl Default for SingleflightConfig {
    fn default() -> Self {
        Self {
            methods: vec![Method::GET, Method::HEAD],
            key_headers: vec![
                header::ACCEPT,
                header::ACCEPT_ENCODING,
                header::ACCEPT_LANGUAGE,
                header::AUTHORIZATION,
                header::COOKIE,
                header::RANGE,
            ],
            timeout: Duration::from_secs(30),
            max_response_bytes: 10 * 1024 * 1024,
            coalesced_header: false,
        }
    }
}

impl SingleflightConfig {
    /// Replaces the coalesced methods.
    #[must_use]
    pub fn methods(mut self, methods: impl IntoIterator<Item = Method>) -> Self {
        self.methods = methods.into_iter().collect();
        self
    }

    /// Replaces the key headers. Leave out a header that selects or
    /// authorises content and callers differing only in it share a response.
    #[must_use]
    pub fn key_headers(mut self, headers: impl IntoIterator<Item = HeaderName>) -> Self {
        self.key_headers = headers.into_iter().collect();
        self
    }

    /// Changes the follower timeout.
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Changes the buffering cap.
    #[must_use]
    pub fn max_response_bytes(mut self, max: usize) -> Self {
        self.max_response_bytes = max;
        self
    }

    /// Whether followers' responses carry `X-Coalesced: true`.
    #[must_use]
    pub fn coalesced_header(mut self, enabled: bool) -> Self {
        self.coalesced_header = enabled;
        self
    }
}

/// Adds [`SingleflightService`]. Services made by one layer (and its clones)
/// share one in-flight table, so requests coalesce across connections.
#[derive(Debug, Clone, Default)]
pub struct SingleflightLayer {
    config: Arc<SingleflightConfig>,
    flights: Arc<Flights>,
}

impl SingleflightLayer {
    /// A layer with this configuration and its own in-flight table.
    pub fn new(config: SingleflightConfig) -> Self {
        Self {
            config: Arc::new(config),
            flights: Arc::default(),
        }
    }

    /// The number of keys with a leader in flight.
    pub fn in_flight(&self) -> usize {
        self.flights.len()
    }
}

impl<S> Layer<S> for SingleflightLayer {
    type Service = SingleflightService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        SingleflightService {
            inner,
            config: self.config.clone(),
            flights: self.flights.clone(),
        }
    }
}

/// Coalesces identical concurrent requests (see the [module docs](self)).
#[derive(Debug, Clone)]
pub struct SingleflightService<S> {
    inner: S,
    config: Arc<SingleflightConfig>,
    flights: Arc<Flights>,
}

impl<S> SingleflightService<S> {
    /// The number of keys with a leader in flight.
    pub fn in_flight(&self) -> usize {
        self.flights.len()
    }
}

impl<S, ReqB, ResB> Service<Request<ReqB>> for SingleflightService<S>
where
    S: Service<Request<ReqB>, Response = Response<ResB>> + Clone,
    ResB: http_body::Body<Data = Bytes>,
{
    type Response = Response<ResponseBody<SingleflightBody<ResB>>>;
    type Error = S::Error;
    type Future = ResponseFuture<S, ReqB, ResB>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqB>) -> Self::Future {
        let coalesce = self.config.methods.contains(req.method()) && key::coalescible(&req);
        if !coalesce {
            return ResponseFuture::new(State::Passthrough {
                future: self.inner.call(req),
            });
        }
        let key = key::of(&req, &self.config.key_headers);
        match Flights::join_or_lead(&self.flights, key) {
            Role::Leader(guard) => {
                // The guard exists before the inner call, so even a panic in
                // `call` itself cannot leave the entry behind.
                let future = self.inner.call(req);
                ResponseFuture::new(State::Leader {
                    future,
                    guard: Some(guard),
                    cap: self.config.max_response_bytes,
                })
            }
            Role::Follower(rx) => ResponseFuture::new(State::Waiting {
                rx,
                sleep: tokio::time::sleep(self.config.timeout),
                head: req.method() == Method::HEAD,
                request_id: req.extensions().get::<RequestId>().cloned(),
                coalesced_header: self.config.coalesced_header,
                // The ready `self.inner` stays ready for the next call. A
                // follower needs a service only to retry, and then waits for
                // that one's readiness itself, so a waiting follower holds no
                // capacity of the inner service.
                retry: Some((self.inner.clone(), req)),
            }),
        }
    }
}

pin_project! {
    /// The response future of [`SingleflightService`].
    pub struct ResponseFuture<S, ReqB, ResB>
    where
        S: Service<Request<ReqB>>,
        ResB: http_body::Body,
    {
        #[pin]
        state: State<S, ReqB, ResB>,
    }
}

impl<S, ReqB, ResB> ResponseFuture<S, ReqB, ResB>
where
    S: Service<Request<ReqB>>,
    ResB: http_body::Body,
{
    fn new(state: State<S, ReqB, ResB>) -> Self {
        Self { state }
    }
}

pin_project! {
    #[project = StateProj]
    enum State<S, ReqB, ResB>
    where
        S: Service<Request<ReqB>>,
        ResB: http_body::Body,
    {
        // Not coalesced, or a follower retrying: the inner response as is.
        Passthrough {
            #[pin]
            future: S::Future,
        },
        Leader {
            #[pin]
            future: S::Future,
            guard: Option<LeaderGuard>,
            cap: usize,
        },
        Buffering {
            buffer: Option<Buffer<ResB>>,
        },
        Waiting {
            rx: oneshot::Receiver<Arc<Shared>>,
            #[pin]
            sleep: Sleep,
            head: bool,
            request_id: Option<RequestId>,
            coalesced_header: bool,
            retry: Option<(S, Request<ReqB>)>,
        },
        Retrying {
            service: S,
            req: Option<Request<ReqB>>,
        },
        Done,
    }
}

const POLLED_AFTER_COMPLETION: &str = "singleflight ResponseFuture polled after completion";

impl<S, ReqB, ResB> Future for ResponseFuture<S, ReqB, ResB>
where
    S: Service<Request<ReqB>, Response = Response<ResB>>,
    ResB: http_body::Body<Data = Bytes>,
{
    type Output = Result<Response<ResponseBody<SingleflightBody<ResB>>>, S::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut state = self.project().state;
        loop {
            match state.as_mut().project() {
                StateProj::Passthrough { future } => {
                    let res = ready!(future.poll(cx));
                    state.set(State::Done);
                    return Poll::Ready(
                        res.map(|r| r.map(|b| ResponseBody::inner(SingleflightBody::inner(b)))),
                    );
                }
                StateProj::Leader { future, guard, cap } => {
                    let res = match ready!(future.poll(cx)) {
                        Ok(res) => res,
                        Err(e) => {
                            // Dropping the guard sends the followers to retry.
                            drop(guard.take());
                            state.set(State::Done);
                            return Poll::Ready(Err(e));
                        }
                    };
                    let (parts, body) = res.into_parts();
                    let (cap, guard) = (*cap, guard.take());
                    match guard {
                        Some(guard) if shareable(&parts, &body, cap) => {
                            let buffer = Buffer {
                                parts,
                                body: Box::pin(body),
                                chunks: Vec::new(),
                                len: 0,
                                guard,
                                cap,
                            };
                            state.set(State::Buffering {
                                buffer: Some(buffer),
                            });
                        }
                        _ => {
                            state.set(State::Done);
                            let body = ResponseBody::inner(SingleflightBody::inner(body));
                            return Poll::Ready(Ok(Response::from_parts(parts, body)));
                        }
                    }
                }
                StateProj::Buffering { buffer } => {
                    let Some(mut buf) = buffer.take() else {
                        panic!("{POLLED_AFTER_COMPLETION}");
                    };
                    match buf.poll_fill(cx) {
                        Poll::Pending => {
                            *buffer = Some(buf);
                            return Poll::Pending;
                        }
                        Poll::Ready(filled) => {
                            state.set(State::Done);
                            return Poll::Ready(Ok(buf.finish(filled)));
                        }
                    }
                }
                StateProj::Waiting {
                    rx,
                    sleep,
                    head,
                    request_id,
                    coalesced_header,
                    retry,
                } => {
                    // The leader's outcome is checked before the clock, so one
                    // that lands with the deadline is still used.
                    match Pin::new(rx).poll(cx) {
                        Poll::Ready(Ok(shared)) => {
                            let res = replay(&shared, *head, *coalesced_header);
                            state.set(State::Done);
                            return Poll::Ready(Ok(res));
                        }
                        Poll::Ready(Err(_)) => {
                            // The leader could not share: on our own.
                            let Some((service, req)) = retry.take() else {
                                panic!("{POLLED_AFTER_COMPLETION}");
                            };
                            state.set(State::Retrying {
                                service,
                                req: Some(req),
                            });
                            continue;
                        }
                        Poll::Pending => {}
                    }
                    ready!(sleep.poll(cx));
                    let error = ApiError::builder()
                        .error_type(ErrorType::GatewayTimeout)
                        .code("TIMEOUT")
                        .message("upstream request timeout")
                        .build();
                    let res = envelope(error, request_id.as_ref());
                    state.set(State::Done);
                    return Poll::Ready(Ok(res));
                }
                StateProj::Retrying { service, req } => {
                    if let Err(e) = ready!(service.poll_ready(cx)) {
                        state.set(State::Done);
                        return Poll::Ready(Err(e));
                    }
                    let Some(req) = req.take() else {
                        panic!("{POLLED_AFTER_COMPLETION}");
                    };
                    let future = service.call(req);
                    state.set(State::Passthrough { future });
                }
                StateProj::Done => panic!("{POLLED_AFTER_COMPLETION}"),
            }
        }
    }
}

/// Whether a leader's response may be buffered for followers: not a protocol
/// switch, and a body announced to end within the cap. A body without an upper
/// bound is treated as streaming; waiting for its end could hold the leader's
/// own caller indefinitely.
fn shareable<B: http_body::Body>(parts: &Parts, body: &B, cap: usize) -> bool {
    parts.status != StatusCode::SWITCHING_PROTOCOLS
        && body
            .size_hint()
            .upper()
            .is_some_and(|upper| upper <= cap as u64)
}

/// A leader's response being read for sharing.
struct Buffer<B> {
    parts: Parts,
    body: Pin<Box<B>>,
    chunks: Vec<Bytes>,
    len: usize,
    guard: LeaderGuard,
    cap: usize,
}

/// How buffering ended.
enum Filled<E> {
    Complete,
    /// Buffering stopped at this frame (past the cap, or trailers).
    Stopped(Frame<Bytes>),
    Failed(E),
}

impl<B> Buffer<B>
where
    B: http_body::Body<Data = Bytes>,
{
    fn poll_fill(&mut self, cx: &mut Context<'_>) -> Poll<Filled<B::Error>> {
        if self.body.is_end_stream() {
            return Poll::Ready(Filled::Complete);
        }
        loop {
            let frame = match ready!(self.body.as_mut().poll_frame(cx)) {
                None => return Poll::Ready(Filled::Complete),
                Some(Err(e)) => return Poll::Ready(Filled::Failed(e)),
                Some(Ok(frame)) => frame,
            };
            match frame.into_data() {
                Ok(data) => {
                    self.len = self.len.saturating_add(data.len());
                    if self.len > self.cap {
                        return Poll::Ready(Filled::Stopped(Frame::data(data)));
                    }
                    if !data.is_empty() {
                        self.chunks.push(data);
                    }
                    if self.body.is_end_stream() {
                        return Poll::Ready(Filled::Complete);
                    }
                }
                // Trailers are rare on GET responses; they are not shared.
                Err(frame) => return Poll::Ready(Filled::Stopped(frame)),
            }
        }
    }

    /// The leader's response; a complete body is also shared with followers.
    fn finish(self, filled: Filled<B::Error>) -> Response<ResponseBody<SingleflightBody<B>>> {
        let Self {
            parts,
            body,
            chunks,
            guard,
            ..
        } = self;
        let prefix =
            |chunks: Vec<Bytes>| chunks.into_iter().map(Frame::data).collect::<VecDeque<_>>();
        let body = match filled {
            Filled::Complete => {
                let bytes = crate::resumed_body::concat(chunks);
                guard.share(Arc::new(Shared {
                    status: parts.status,
                    version: parts.version,
                    headers: parts.headers.clone(),
                    body: bytes.clone(),
                }));
                ResponseBody::full(bytes)
            }
            Filled::Stopped(frame) => {
                drop(guard);
                let mut prefix = prefix(chunks);
                prefix.push_back(frame);
                ResponseBody::inner(SingleflightBody::resumed(prefix, None, Some(body)))
            }
            Filled::Failed(e) => {
                drop(guard);
                ResponseBody::inner(SingleflightBody::resumed(prefix(chunks), Some(e), None))
            }
        };
        Response::from_parts(parts, body)
    }
}

/// A leader's response as followers receive it.
#[derive(Debug)]
struct Shared {
    status: StatusCode,
    version: Version,
    headers: HeaderMap,
    body: Bytes,
}

fn replay<B>(shared: &Shared, head: bool, coalesced_header: bool) -> Response<ResponseBody<B>> {
    let body = if head {
        ResponseBody::empty()
    } else {
        ResponseBody::full(shared.body.clone())
    };
    let mut res = Response::new(body);
    *res.status_mut() = shared.status;
    *res.version_mut() = shared.version;
    *res.headers_mut() = shared.headers.clone();
    if coalesced_header {
        res.headers_mut().insert(
            HeaderName::from_static(COALESCED_HEADER),
            HeaderValue::from_static("true"),
        );
    }
    res
}

/// The in-flight table: one entry per key with a leader, holding the
/// followers' channels. One `oneshot` per follower rather than a broadcast or
/// watch channel because a `oneshot::Receiver` is itself a future, so the
/// follower's future stays a named type without boxing.
#[derive(Default)]
struct Flights(Mutex<Table>);

#[derive(Default)]
struct Table {
    next_id: u64,
    map: HashMap<Key, Flight>,
}

struct Flight {
    /// Tells this leader's entry from a later one for the same key.
    id: u64,
    waiters: Vec<oneshot::Sender<Arc<Shared>>>,
}

enum Role {
    Leader(LeaderGuard),
    Follower(oneshot::Receiver<Arc<Shared>>),
}

impl Flights {
    fn lock(&self) -> MutexGuard<'_, Table> {
        // Nothing panics while the lock is held; if something did, the table
        // is still consistent, so keep serving.
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn len(&self) -> usize {
        self.lock().map.len()
    }

    fn join_or_lead(this: &Arc<Self>, key: Key) -> Role {
        let mut table = this.lock();
        if let Some(flight) = table.map.get_mut(&key) {
            let (tx, rx) = oneshot::channel();
            flight.waiters.push(tx);
            return Role::Follower(rx);
        }
        let id = table.next_id;
        table.next_id = table.next_id.wrapping_add(1);
        table.map.insert(
            key.clone(),
            Flight {
                id,
                waiters: Vec::new(),
            },
        );
        Role::Leader(LeaderGuard {
            flights: this.clone(),
            key,
            id,
        })
    }
}

impl std::fmt::Debug for Flights {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Flights")
            .field("in_flight", &self.len())
            .finish()
    }
}

/// A leader's claim on its key. However the leader ends (shared, not
/// shareable, error, panic, cancellation), dropping the guard removes the
/// entry; followers whose channel closes without a response retry on their own.
struct LeaderGuard {
    flights: Arc<Flights>,
    key: Key,
    id: u64,
}

impl LeaderGuard {
    /// Removes this leader's entry (not a later leader's) and returns its
    /// followers; the lock is released before they are woken.
    fn take_waiters(&self) -> Vec<oneshot::Sender<Arc<Shared>>> {
        let mut table = self.flights.lock();
        match table.map.get(&self.key) {
            Some(flight) if flight.id == self.id => table
                .map
                .remove(&self.key)
                .map(|f| f.waiters)
                .unwrap_or_default(),
            _ => Vec::new(),
        }
    }

    fn share(self, shared: Arc<Shared>) {
        for waiter in self.take_waiters() {
            // A follower that gave up has dropped its receiver.
            let _ = waiter.send(shared.clone());
        }
    }
}

impl Drop for LeaderGuard {
    fn drop(&mut self) {
        drop(self.take_waiters());
    }
}
