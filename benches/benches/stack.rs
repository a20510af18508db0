//! The recommended Plumego layer stack around an empty handler, against the
//! same stack built from tower-http alone where tower-http has the layer, and
//! against the bare handler. Reports time and allocations per request.
//!
//! `cargo bench -p plumego-benches --bench stack` prints the table and writes
//! it to `target/criterion/stack-table.md`.

use std::convert::Infallible;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use criterion::Criterion;
use http::{HeaderName, HeaderValue, Method, Request, Response, StatusCode, Uri};
use opentelemetry::metrics::MeterProvider as _;
use opentelemetry::trace::TracerProvider as _;
use plumego_benches::alloc::{Counting, thread_allocations};
use plumego_benches::block_on;
use plumego_core::Body;
use plumego_layers::ServiceBuilderExt;
use plumego_layers::access_log::AccessLogConfig;
use plumego_layers::body_limit::BodyLimitConfig;
use plumego_layers::cors::CorsOptions;
use plumego_layers::http_metrics::HttpMetricsConfig;
use plumego_layers::request_id::RequestIdConfig;
use plumego_layers::security_headers::{SecurityHeadersConfig, SecurityHeadersLayer};
use plumego_layers::timeout::TimeoutConfig;
use plumego_layers::trace::TraceConfig;
use tower::util::BoxCloneService;
use tower::{Service, ServiceBuilder, ServiceExt};
use tower_http::cors::CorsLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::set_header::SetResponseHeaderLayer;

#[global_allocator]
static GLOBAL: Counting = Counting;

type Svc = BoxCloneService<Request<Body>, Response<Body>, Infallible>;

fn output_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/criterion")
}

fn empty_handler<B: Send + 'static>()
-> impl Service<Request<B>, Response = Response<Body>, Error = Infallible, Future: Send>
+ Clone
+ Send
+ 'static {
    tower::service_fn(|_req: Request<B>| async {
        Ok::<_, Infallible>(Response::new(Body::empty()))
    })
}

fn boxed<S, B, E>(svc: S) -> Svc
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

/// Plumego's recommended stack (outermost first).
fn plumego_stack() -> Svc {
    let meter = opentelemetry_sdk::metrics::SdkMeterProvider::builder()
        .build()
        .meter("bench");
    let tracer = opentelemetry_sdk::trace::SdkTracerProvider::builder()
        .build()
        .tracer("bench");
    let stack = ServiceBuilder::new()
        .plumego_request_id(RequestIdConfig::default())
        .plumego_recovery()
        .plumego_body_limit(BodyLimitConfig::default())
        .plumego_timeout(TimeoutConfig::default())
        .plumego_cors(
            CorsOptions::default()
                .into_layer()
                .expect("valid CORS options"),
        )
        .plumego_security_headers(
            SecurityHeadersLayer::new(SecurityHeadersConfig::default()).expect("valid headers"),
        )
        .plumego_http_metrics(HttpMetricsConfig::new(meter))
        .plumego_trace(TraceConfig::new(tracer))
        .plumego_access_log(AccessLogConfig::default())
        .service(empty_handler());
    boxed(stack)
}

/// Plumego's stack without the OpenTelemetry layers: the layers tower-http
/// also has, for a like-for-like comparison.
fn plumego_common_stack() -> Svc {
    let stack = ServiceBuilder::new()
        .plumego_request_id(RequestIdConfig::default())
        .plumego_recovery()
        .plumego_body_limit(BodyLimitConfig::default())
        .plumego_timeout(TimeoutConfig::default())
        .plumego_cors(
            CorsOptions::default()
                .into_layer()
                .expect("valid CORS options"),
        )
        .plumego_security_headers(
            SecurityHeadersLayer::new(SecurityHeadersConfig::default()).expect("valid headers"),
        )
        .plumego_access_log(AccessLogConfig::default())
        .service(empty_handler());
    boxed(stack)
}

/// The layers tower-http has, built from tower-http alone.
fn tower_http_stack() -> Svc {
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

fn request() -> Request<Body> {
    let mut req = Request::new(Body::empty());
    *req.method_mut() = Method::GET;
    *req.uri_mut() = Uri::from_static("/items/1");
    req
}

/// One request, body drained (so body-end hooks such as the access log run).
fn run(svc: &mut Svc) {
    block_on(async {
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

/// A named way to build one stack.
type MakeStack = (&'static str, fn() -> Svc);

const STACKS: [MakeStack; 4] = [
    ("handler_only", || boxed(empty_handler())),
    ("plumego_stack", plumego_stack),
    ("plumego_common_stack", plumego_common_stack),
    ("tower_http_stack", tower_http_stack),
];

fn median_ns(id: &str) -> Option<f64> {
    let path = output_dir()
        .join("stack")
        .join(id)
        .join("new/estimates.json");
    let text = std::fs::read_to_string(path).ok()?;
    let key = "\"median\":{\"confidence_interval\":{\"confidence_level\":0.95,\"lower_bound\":";
    let rest = &text[text.find(key)? + key.len()..];
    let point = rest.find("\"point_estimate\":")? + "\"point_estimate\":".len();
    rest[point..]
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.' || *c == 'e' || *c == '-')
        .collect::<String>()
        .parse()
        .ok()
}

fn allocations(make: fn() -> Svc) -> (f64, f64) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let _guard = rt.enter();
    let mut svc = make();
    run(&mut svc);
    const ROUNDS: u64 = 2000;
    let (a0, b0) = thread_allocations();
    for _ in 0..ROUNDS {
        run(&mut svc);
    }
    let (a1, b1) = thread_allocations();
    (
        (a1 - a0) as f64 / ROUNDS as f64,
        (b1 - b0) as f64 / ROUNDS as f64,
    )
}

fn main() {
    let mut c = Criterion::default()
        .output_directory(&output_dir())
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3))
        .configure_from_args();
    // The timeout layers need a runtime's timer.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    {
        let _guard = rt.enter();
        let mut group = c.benchmark_group("stack");
        for (name, make) in STACKS {
            let mut svc = make();
            group.bench_function(name, |b| b.iter(|| run(&mut svc)));
        }
        group.finish();
    }
    c.final_summary();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "| stack | ns/req | added ns | allocs/req | added allocs | bytes/req |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|");
    let base_ns = median_ns("handler_only").unwrap_or(0.0);
    let (base_allocs, _) = allocations(STACKS[0].1);
    for (name, make) in STACKS {
        let ns = median_ns(name);
        let (allocs, bytes) = allocations(make);
        let _ = writeln!(
            out,
            "| {name} | {} | {} | {allocs:.1} | {:.1} | {bytes:.0} |",
            ns.map_or("–".into(), |v| format!("{v:.0}")),
            ns.map_or("–".into(), |v| format!("{:.0}", v - base_ns)),
            allocs - base_allocs,
        );
    }
    println!("\n{out}");
    let _ = std::fs::write(output_dir().join("stack-table.md"), &out);
}
