//! The layer stacks the `stack` bench measures and the profiling examples
//! run: Plumego's recommended stack, the same without the OpenTelemetry
//! layers, and tower-http's equivalents, each boxed behind one type.

use std::convert::Infallible;
use std::time::Duration;

use http::{HeaderName, HeaderValue, Method, Request, Response, StatusCode, Uri};
use opentelemetry::metrics::MeterProvider as _;
use opentelemetry::trace::TracerProvider as _;
use plumego_core::Body;
use plumego_layers::ServiceBuilderExt;
use plumego_layers::access_log::AccessLogConfig;
use plumego_layers::body_limit::BodyLimitConfig;
use plumego_layers::cors::CorsOptions;
use plumego_layers::http_metrics::{HttpMetricsConfig, PrometheusService};
use plumego_layers::request_id::RequestIdConfig;
use plumego_layers::security_headers::{SecurityHeadersConfig, SecurityHeadersLayer};
use plumego_layers::timeout::TimeoutConfig;
use plumego_layers::trace::TraceConfig;
use tower::util::BoxCloneService;
use tower::{Service, ServiceBuilder, ServiceExt};
use tower_http::cors::CorsLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::set_header::SetResponseHeaderLayer;

/// A stack, boxed.
pub type Svc = BoxCloneService<Request<Body>, Response<Body>, Infallible>;

pub fn empty_handler<B: Send + 'static>()
-> impl Service<Request<B>, Response = Response<Body>, Error = Infallible, Future: Send>
+ Clone
+ Send
+ 'static {
    tower::service_fn(|_req: Request<B>| async {
        Ok::<_, Infallible>(Response::new(Body::empty()))
    })
}

pub fn boxed<S, B, E>(svc: S) -> Svc
where
    S: Service<Request<Body>, Response = Response<B>, Error = E> + Clone + Send + 'static,
    S::Future: Send + 'static,
    B: http_body::Body<Data = bytes::Bytes> + Send + 'static,
    B::Error: Into<plumego_core::BoxError>,
    E: std::fmt::Debug,
{
    BoxCloneService::new(tower::service_fn(move |req: Request<Body>| {
        let svc = svc.clone();
        async move {
            match svc.oneshot(req).await {
                Ok(res) => Ok(res.map(Body::new)),
                Err(e) => panic!("stack failed: {e:?}"),
            }
        }
    }))
}

/// Plumego's recommended stack, in the order the crate documents and the
/// reference service uses (outermost first).
pub fn plumego_stack() -> Svc {
    // Metrics recorded into a Prometheus reader, as the reference service
    // does (a provider without a reader would make every record a no-op).
    let (provider, _scrape) = PrometheusService::with_meter_provider(
        opentelemetry_sdk::metrics::SdkMeterProvider::builder(),
    )
    .expect("prometheus exporter");
    let meter = provider.meter("bench");
    let tracer = opentelemetry_sdk::trace::SdkTracerProvider::builder()
        .build()
        .tracer("bench");
    let stack = ServiceBuilder::new()
        .plumego_request_id(RequestIdConfig::default())
        .plumego_security_headers(
            SecurityHeadersLayer::new(SecurityHeadersConfig::default()).expect("valid headers"),
        )
        .plumego_cors(
            CorsOptions::default()
                .into_layer()
                .expect("valid CORS options"),
        )
        .plumego_recovery()
        .plumego_access_log(AccessLogConfig::default())
        .plumego_body_limit(BodyLimitConfig::default())
        .plumego_http_metrics(HttpMetricsConfig::new(meter))
        .plumego_trace(TraceConfig::new(tracer))
        .plumego_timeout(TimeoutConfig::default())
        // Keeps the provider (and so its reader) alive as long as the stack.
        .map_request(move |req| {
            let _ = &provider;
            req
        })
        .service(empty_handler());
    boxed(stack)
}

/// Plumego's stack without the OpenTelemetry layers: the layers tower-http
/// also has, for a like-for-like comparison.
pub fn plumego_common_stack() -> Svc {
    let stack = ServiceBuilder::new()
        .plumego_request_id(RequestIdConfig::default())
        .plumego_security_headers(
            SecurityHeadersLayer::new(SecurityHeadersConfig::default()).expect("valid headers"),
        )
        .plumego_cors(
            CorsOptions::default()
                .into_layer()
                .expect("valid CORS options"),
        )
        .plumego_recovery()
        .plumego_access_log(AccessLogConfig::default())
        .plumego_body_limit(BodyLimitConfig::default())
        .plumego_timeout(TimeoutConfig::default())
        .service(empty_handler());
    boxed(stack)
}

/// The layers tower-http has, built from tower-http alone.
pub fn tower_http_stack() -> Svc {
    let stack = ServiceBuilder::new()
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
        .layer(PropagateRequestIdLayer::x_request_id())
        // tower-http's CORS needs a `Default` inner body, which its trace body
        // is not, so the trace layer sits further out here.
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .layer(tower_http::catch_panic::CatchPanicLayer::new())
        .layer(tower_http::limit::RequestBodyLimitLayer::new(1 << 20))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            StatusCode::GATEWAY_TIMEOUT,
            Duration::from_secs(30),
        ))
        .layer(CorsLayer::permissive())
        .layer(SetResponseHeaderLayer::if_not_present(
            HeaderName::from_static("x-frame-options"),
            HeaderValue::from_static("SAMEORIGIN"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            HeaderName::from_static("x-content-type-options"),
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            HeaderName::from_static("referrer-policy"),
            HeaderValue::from_static("strict-origin-when-cross-origin"),
        ))
        .service(empty_handler());
    boxed(stack)
}

/// The request every stack run sends: a GET with the headers every client
/// sends (`Host`, `User-Agent`, `Accept`), so layers that add a request
/// header pay what they would on a real request (the header map already
/// exists), not the map's first allocation.
pub fn request() -> Request<Body> {
    let mut req = Request::new(Body::empty());
    *req.method_mut() = Method::GET;
    *req.uri_mut() = Uri::from_static("/items/1");
    let headers = req.headers_mut();
    headers.insert(
        http::header::HOST,
        HeaderValue::from_static("api.example.com"),
    );
    headers.insert(
        http::header::USER_AGENT,
        HeaderValue::from_static("bench/1.0"),
    );
    headers.insert(http::header::ACCEPT, HeaderValue::from_static("*/*"));
    req
}

/// One request, body drained (so body-end hooks such as the access log run).
pub fn run(svc: &mut Svc) {
    crate::block_on(async {
        let res = svc
            .ready()
            .await
            .expect("ready")
            .call(request())
            .await
            .expect("response");
        let body = res.into_body();
        let _ = http_body_util::BodyExt::collect(body).await;
    })
}

/// The bare handler, its body wrapped once as every stack's is, so the
/// harness's type erasure (one box for a body that is not a plumego `Body`)
/// is part of the baseline rather than of the stacks.
pub fn handler_only() -> Svc {
    let wrapped = ServiceBuilder::new()
        .map_response(|res: Response<Body>| {
            res.map(|body| http_body_util::BodyExt::map_err(body, |e| e))
        })
        .service(empty_handler());
    boxed(wrapped)
}

/// A named way to build one stack.
pub type MakeStack = (&'static str, fn() -> Svc);

/// The stacks of the `stack` bench, the bare handler first.
pub const STACKS: [MakeStack; 4] = [
    ("handler_only", handler_only),
    ("plumego_stack", plumego_stack),
    ("plumego_common_stack", plumego_common_stack),
    ("tower_http_stack", tower_http_stack),
];
