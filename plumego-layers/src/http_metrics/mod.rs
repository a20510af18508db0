//! OpenTelemetry HTTP server metrics under the semantic-convention names, and
//! a Prometheus scrape service to mount at `/metrics`.
//!
//! Per request the layer records:
//!
//! | instrument | kind | unit |
//! | --- | --- | --- |
//! | `http.server.request.duration` | histogram, [`DURATION_BOUNDARIES`] | `s` |
//! | `http.server.active_requests` | up-down counter | `{request}` |
//! | `http.server.request.body.size` | histogram (when `Content-Length` is known) | `By` |
//! | `http.server.response.body.size` | histogram (bytes actually sent) | `By` |
//!
//! with the attributes `http.request.method` (unknown methods become `_OTHER`),
//! `url.scheme`, `http.route`, `http.response.status_code`, and `error.type`
//! for 5xx answers and failures. The active-requests counter carries only the
//! method and scheme, which are known when the request starts.
//!
//! The route is the router's *pattern* (`/users/:id`), never the raw path: the
//! raw path would give every id its own series and exhaust the backend. The
//! layer wraps the router and so never sees the extensions the router writes;
//! it puts a [`RouteSlot`] in the request, the router fills it on a match, and
//! the layer reads it when the response ends. A request no route matched is
//! labelled [`UNMATCHED_ROUTE`].
//!
//! Everything is recorded when the response *body* ends (or fails, or is
//! dropped), not when the handler returns the head: for a streamed or large
//! body the duration then covers the transfer, and the response size is the
//! number of bytes actually produced.
//!
//! ```
//! use std::convert::Infallible;
//!
//! use http_body_util::BodyExt;
//! use opentelemetry::metrics::MeterProvider;
//! use opentelemetry_sdk::metrics::SdkMeterProvider;
//! use plumego_layers::http_metrics::{HttpMetricsConfig, HttpMetricsLayer, PrometheusService};
//! use tower::{ServiceBuilder, ServiceExt};
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let (provider, scrape) = PrometheusService::with_meter_provider(SdkMeterProvider::builder()).unwrap();
//! let svc = ServiceBuilder::new()
//!     .layer(HttpMetricsLayer::new(HttpMetricsConfig::new(provider.meter("my-service"))))
//!     .service_fn(|_req: http::Request<()>| async {
//!         Ok::<_, Infallible>(http::Response::new(http_body_util::Full::new(bytes::Bytes::from("hi"))))
//!     });
//! let res = svc.oneshot(http::Request::new(())).await.unwrap();
//! res.into_body().collect().await.unwrap(); // recorded when the body ends
//!
//! let res = scrape.oneshot(http::Request::new(())).await.unwrap();
//! assert_eq!(res.headers()["content-type"], "text/plain; version=0.0.4");
//! let text = res.into_body().collect().await.unwrap().to_bytes();
//! let text = std::str::from_utf8(&text).unwrap();
//! assert!(text.contains("# TYPE http_server_request_duration_seconds histogram"));
//! assert!(text.contains(r#"http_route="<unmatched>""#));
//! # });
//! ```

mod scrape;

pub use scrape::PrometheusService;

use std::borrow::Cow;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Instant;

use bytes::Buf;
use http::{Request, Response, StatusCode};
use http_body::{Frame, SizeHint};
use opentelemetry::KeyValue;
use opentelemetry::metrics::{Histogram, Meter, UpDownCounter};
use pin_project_lite::pin_project;
use plumego_core::context::RouteSlot;
use tower::{Layer, Service};

/// The bucket boundaries, in seconds, that the HTTP semantic conventions
/// recommend for `http.server.request.duration`.
pub const DURATION_BOUNDARIES: [f64; 14] = [
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
];

/// Default bucket boundaries, in bytes, for the body-size histograms: powers
/// of four from 64 B to 64 MiB. The conventions recommend none, and the SDK
/// default (0 to 10 000) would put most real bodies in the overflow bucket.
pub const BODY_SIZE_BOUNDARIES: [f64; 12] = [
    0.0,
    64.0,
    256.0,
    1024.0,
    4096.0,
    16384.0,
    65536.0,
    262_144.0,
    1_048_576.0,
    4_194_304.0,
    16_777_216.0,
    67_108_864.0,
];

/// The `http.route` label of requests no route matched.
pub const UNMATCHED_ROUTE: &str = "<unmatched>";

/// The `http.request.method` value of methods outside the conventions' list.
pub const OTHER_METHOD: &str = crate::semconv::OTHER;

/// `error.type` when the failure has no better low-cardinality name (an inner
/// service error, a failed or abandoned body).
const OTHER_ERROR: &str = crate::semconv::OTHER;

const DURATION: &str = "http.server.request.duration";
const ACTIVE_REQUESTS: &str = "http.server.active_requests";
const REQUEST_BODY_SIZE: &str = "http.server.request.body.size";
use crate::semconv::{
    ATTR_ERROR_TYPE, ATTR_METHOD, ATTR_ROUTE, ATTR_SCHEME, ATTR_STATUS, scheme_label,
};

const RESPONSE_BODY_SIZE: &str = "http.server.response.body.size";

pub use crate::semconv::method_label;

/// HTTP metrics options.
///
/// There is no `Default`: the meter is the one required value, and a default
/// one would mean the OpenTelemetry global provider, which this layer never
/// reads (tests and services pass the meter of the provider they built).
#[derive(Debug, Clone)]
pub struct HttpMetricsConfig {
    meter: Meter,
    /// Bucket boundaries of `http.server.request.duration`, in seconds.
    /// Default [`DURATION_BOUNDARIES`].
    pub duration_boundaries: Vec<f64>,
    /// Bucket boundaries of the body-size histograms, in bytes. Default
    /// [`BODY_SIZE_BOUNDARIES`].
    pub body_size_boundaries: Vec<f64>,
    /// The `http.route` value of unmatched requests. Default [`UNMATCHED_ROUTE`].
    pub unmatched_route: Cow<'static, str>,
    /// Whether this server terminates TLS, so requests without a scheme in
    /// their URI are labelled `url.scheme="https"`. Default false.
    pub https: bool,
}

impl HttpMetricsConfig {
    /// Records through `meter`, with the default options.
    pub fn new(meter: Meter) -> Self {
        Self {
            meter,
            duration_boundaries: DURATION_BOUNDARIES.to_vec(),
            body_size_boundaries: BODY_SIZE_BOUNDARIES.to_vec(),
            unmatched_route: Cow::Borrowed(UNMATCHED_ROUTE),
            https: false,
        }
    }

    /// Changes the duration buckets (seconds).
    #[must_use]
    pub fn duration_boundaries(mut self, boundaries: impl Into<Vec<f64>>) -> Self {
        self.duration_boundaries = boundaries.into();
        self
    }

    /// Changes the body-size buckets (bytes).
    #[must_use]
    pub fn body_size_boundaries(mut self, boundaries: impl Into<Vec<f64>>) -> Self {
        self.body_size_boundaries = boundaries.into();
        self
    }

    /// Changes the label of unmatched requests. Keep it constant: it is a
    /// label value, and the point is to bound them.
    #[must_use]
    pub fn unmatched_route(mut self, label: impl Into<Cow<'static, str>>) -> Self {
        self.unmatched_route = label.into();
        self
    }

    /// Declares that this server terminates TLS.
    #[must_use]
    pub fn https(mut self, https: bool) -> Self {
        self.https = https;
        self
    }
}

/// The instruments, created once per layer rather than per request.
#[derive(Debug)]
struct Instruments {
    duration: Histogram<f64>,
    active: UpDownCounter<i64>,
    request_size: Histogram<u64>,
    response_size: Histogram<u64>,
    /// The `http.route` attribute of unmatched requests, built once (a
    /// custom label is then shared, not copied, per request).
    unmatched_route: KeyValue,
    https: bool,
}

impl Instruments {
    fn new(config: HttpMetricsConfig) -> Self {
        let meter = &config.meter;
        Self {
            duration: meter
                .f64_histogram(DURATION)
                .with_unit("s")
                .with_description("Duration of HTTP server requests.")
                .with_boundaries(config.duration_boundaries)
                .build(),
            active: meter
                .i64_up_down_counter(ACTIVE_REQUESTS)
                .with_unit("{request}")
                .with_description("Number of active HTTP server requests.")
                .build(),
            request_size: meter
                .u64_histogram(REQUEST_BODY_SIZE)
                .with_unit("By")
                .with_description("Size of HTTP server request bodies.")
                .with_boundaries(config.body_size_boundaries.clone())
                .build(),
            response_size: meter
                .u64_histogram(RESPONSE_BODY_SIZE)
                .with_unit("By")
                .with_description("Size of HTTP server response bodies.")
                .with_boundaries(config.body_size_boundaries)
                .build(),
            unmatched_route: KeyValue::new(
                ATTR_ROUTE,
                match config.unmatched_route {
                    Cow::Borrowed(label) => opentelemetry::StringValue::from(label),
                    Cow::Owned(label) => opentelemetry::StringValue::from(Arc::<str>::from(label)),
                },
            ),
            https: config.https,
        }
    }
}

/// Adds [`HttpMetricsService`].
#[derive(Debug, Clone)]
pub struct HttpMetricsLayer {
    instruments: Arc<Instruments>,
}

impl HttpMetricsLayer {
    /// A layer with this configuration; the instruments are created here, so
    /// every service the layer makes shares them.
    pub fn new(config: HttpMetricsConfig) -> Self {
        Self {
            instruments: Arc::new(Instruments::new(config)),
        }
    }
}

impl<S> Layer<S> for HttpMetricsLayer {
    type Service = HttpMetricsService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        HttpMetricsService {
            inner,
            instruments: self.instruments.clone(),
        }
    }
}

/// Records the HTTP server metrics of every request it passes on.
#[derive(Debug, Clone)]
pub struct HttpMetricsService<S> {
    inner: S,
    instruments: Arc<Instruments>,
}

impl<S, ReqB, ResB> Service<Request<ReqB>> for HttpMetricsService<S>
where
    S: Service<Request<ReqB>, Response = Response<ResB>>,
{
    type Response = Response<MetricsBody<ResB>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<ReqB>) -> Self::Future {
        let slot = RouteSlot::ensure_routed(req.extensions_mut());
        let recorder = Recorder::start(
            self.instruments.clone(),
            slot,
            method_label(req.method()),
            scheme_label(req.uri(), self.instruments.https),
            // The declared size: counting bytes would mean replacing the
            // request body type the inner service sees, so chunked uploads
            // are not recorded in the request-size histogram.
            crate::body::content_length(req.headers()),
        );
        ResponseFuture {
            inner: self.inner.call(req),
            recorder: Some(recorder),
        }
    }
}

pin_project! {
    /// The response future of [`HttpMetricsService`].
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        recorder: Option<Recorder>,
    }
}

impl<F, ResB, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<ResB>, E>>,
{
    type Output = Result<Response<MetricsBody<ResB>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        match ready!(this.inner.poll(cx)) {
            Ok(res) => {
                let mut recorder = this.recorder.take();
                if let Some(recorder) = recorder.as_mut() {
                    recorder.status = Some(res.status());
                }
                Poll::Ready(Ok(res.map(|inner| MetricsBody { inner, recorder })))
            }
            Err(err) => {
                if let Some(mut recorder) = this.recorder.take() {
                    recorder.finish(Some(OTHER_ERROR));
                }
                Poll::Ready(Err(err))
            }
        }
    }
}

pin_project! {
    /// The response body of [`HttpMetricsService`]: the inner body, counting
    /// its bytes, and recording the request's metrics when it ends, fails or
    /// is dropped.
    pub struct MetricsBody<B> {
        #[pin]
        inner: B,
        recorder: Option<Recorder>,
    }
}

/// A body built outside this layer (e.g. a CORS preflight answered by an
/// outer layer) records nothing.
impl<B: Default> Default for MetricsBody<B> {
    fn default() -> Self {
        Self {
            inner: B::default(),
            recorder: None,
        }
    }
}

impl<B> http_body::Body for MetricsBody<B>
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
        // `Some(error)` once the body has ended (`error` is the label).
        let ended = match &frame {
            Some(Ok(f)) => {
                if let (Some(recorder), Some(data)) = (this.recorder.as_mut(), f.data_ref()) {
                    recorder.response_bytes += data.remaining() as u64;
                }
                // hyper stops polling once the body says it has ended.
                this.inner.is_end_stream().then_some(None)
            }
            Some(Err(_)) => Some(Some(OTHER_ERROR)),
            None => Some(None),
        };
        if let Some(error) = ended {
            if let Some(mut recorder) = this.recorder.take() {
                recorder.finish(error);
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

/// One request's measurements, recorded exactly once: explicitly when the
/// body ends, or on drop (a dropped response future — a panic or an outer
/// timeout — or a body abandoned by a client that went away), so that
/// `http.server.active_requests` always returns to zero.
#[derive(Debug)]
struct Recorder {
    instruments: Arc<Instruments>,
    slot: RouteSlot,
    method: &'static str,
    scheme: &'static str,
    request_size: Option<u64>,
    started: Instant,
    status: Option<StatusCode>,
    response_bytes: u64,
    done: bool,
}

impl Recorder {
    fn start(
        instruments: Arc<Instruments>,
        slot: RouteSlot,
        method: &'static str,
        scheme: &'static str,
        request_size: Option<u64>,
    ) -> Self {
        instruments.active.add(
            1,
            &[
                KeyValue::new(ATTR_METHOD, method),
                KeyValue::new(ATTR_SCHEME, scheme),
            ],
        );
        Self {
            instruments,
            slot,
            method,
            scheme,
            request_size,
            started: Instant::now(),
            status: None,
            response_bytes: 0,
            done: false,
        }
    }

    fn finish(&mut self, error: Option<&'static str>) {
        if std::mem::replace(&mut self.done, true) {
            return;
        }
        let elapsed = self.started.elapsed().as_secs_f64();
        let ins = &*self.instruments;
        let method = KeyValue::new(ATTR_METHOD, self.method);
        let scheme = KeyValue::new(ATTR_SCHEME, self.scheme);
        ins.active.add(-1, &[method.clone(), scheme.clone()]);

        let route = match self.slot.get() {
            // The router's shared pattern: a reference count, not a copy.
            Some(route) => KeyValue::new(
                ATTR_ROUTE,
                opentelemetry::Value::String(route.shared_pattern().clone().into()),
            ),
            None => ins.unmatched_route.clone(),
        };
        // At most five attributes, on the stack; the unused tail slots hold
        // cheap placeholders and are not passed on.
        let mut attrs = [
            method.clone(),
            scheme.clone(),
            route,
            method.clone(),
            method,
        ];
        let mut len = 3;
        // Without a status the request failed before its head: an inner
        // error, a panic, or a future dropped by an outer timeout.
        let error = match self.status {
            Some(status) => {
                attrs[len] = KeyValue::new(ATTR_STATUS, i64::from(status.as_u16()));
                len += 1;
                error.map(Cow::Borrowed).or_else(|| {
                    status
                        .is_server_error()
                        .then(|| Cow::Owned(status.as_u16().to_string()))
                })
            }
            None => Some(Cow::Borrowed(error.unwrap_or(OTHER_ERROR))),
        };
        if let Some(error) = error {
            attrs[len] = KeyValue::new(ATTR_ERROR_TYPE, error);
            len += 1;
        }
        let attrs = &attrs[..len];
        ins.duration.record(elapsed, attrs);
        if let Some(size) = self.request_size {
            ins.request_size.record(size, attrs);
        }
        if self.status.is_some() {
            ins.response_size.record(self.response_bytes, attrs);
        }
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.finish(None);
    }
}
