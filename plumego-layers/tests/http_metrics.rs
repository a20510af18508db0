//! HTTP metrics layer and Prometheus scrape service, driven through
//! `tower::ServiceExt::oneshot`.
#![cfg(feature = "http-metrics")]

use std::convert::Infallible;
use std::io::Write;
use std::pin::Pin;
use std::process::{Command, Stdio};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body::Frame;
use http_body_util::{BodyExt, Full};
use opentelemetry::metrics::MeterProvider;
use opentelemetry::{KeyValue, Value};
use opentelemetry_sdk::metrics::data::{AggregatedMetrics, Metric, MetricData, ResourceMetrics};
use opentelemetry_sdk::metrics::{InMemoryMetricExporter, PeriodicReader, SdkMeterProvider};
use plumego_core::{Body, handler_fn};
use plumego_layers::http_metrics::{
    DURATION_BOUNDARIES, HttpMetricsConfig, HttpMetricsLayer, PrometheusService,
};
use plumego_router::RouterBuilder;
use tower::{Layer, ServiceExt};

fn prometheus() -> (SdkMeterProvider, PrometheusService) {
    PrometheusService::with_meter_provider(SdkMeterProvider::builder()).unwrap()
}

fn layer(provider: &SdkMeterProvider) -> HttpMetricsLayer {
    HttpMetricsLayer::new(HttpMetricsConfig::new(provider.meter("test")))
}

async fn scrape(svc: &PrometheusService) -> String {
    let res = svc.clone().oneshot(Request::new(())).await.unwrap();
    let body = res.into_body().collect().await.unwrap().to_bytes();
    String::from_utf8(body.to_vec()).unwrap()
}

/// The sample lines of `name` (exact metric name, any labels).
fn samples<'a>(text: &'a str, name: &str) -> Vec<&'a str> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| {
            l.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' '))
        })
        .collect()
}

/// The value of the one sample of `name` whose labels contain every `labels`.
fn value(text: &str, name: &str, labels: &[&str]) -> Option<f64> {
    let found: Vec<f64> = samples(text, name)
        .into_iter()
        .filter(|l| labels.iter().all(|want| l.contains(want)))
        .filter_map(|l| l.rsplit(' ').next()?.parse().ok())
        .collect();
    assert!(
        found.len() <= 1,
        "more than one {name} sample with {labels:?}:\n{text}"
    );
    found.first().copied()
}

fn ok(body: &'static str) -> Response<Full<Bytes>> {
    Response::new(Full::new(Bytes::from_static(body.as_bytes())))
}

fn plumego_router() -> plumego_router::Router {
    let mut b = RouterBuilder::new();
    b.get(
        "/users/:id",
        handler_fn(|_req: Request<Body>| async {
            plumego_core::IntoResponse::into_response("user")
        }),
    )
    .unwrap();
    b.post(
        "/users",
        handler_fn(|_req: Request<Body>| async {
            plumego_core::IntoResponse::into_response("created")
        }),
    )
    .unwrap();
    b.build()
}

fn in_memory() -> (SdkMeterProvider, InMemoryMetricExporter) {
    let exporter = InMemoryMetricExporter::default();
    let reader = PeriodicReader::builder(exporter.clone()).build();
    (
        SdkMeterProvider::builder().with_reader(reader).build(),
        exporter,
    )
}

fn collected(provider: &SdkMeterProvider, exporter: &InMemoryMetricExporter) -> ResourceMetrics {
    provider.force_flush().unwrap();
    exporter
        .get_finished_metrics()
        .unwrap()
        .pop()
        .expect("one export")
}

fn metric<'a>(metrics: &'a ResourceMetrics, name: &str) -> &'a Metric {
    metrics
        .scope_metrics()
        .flat_map(|s| s.metrics())
        .find(|m| m.name() == name)
        .unwrap_or_else(|| panic!("{name} missing"))
}

fn attr<'a>(attrs: impl Iterator<Item = &'a KeyValue>, key: &str) -> Option<Value> {
    attrs
        .into_iter()
        .find(|kv| kv.key.as_str() == key)
        .map(|kv| kv.value.clone())
}

#[tokio::test]
async fn semantic_convention_names_units_buckets_and_attributes() {
    let (provider, exporter) = in_memory();
    let svc = layer(&provider).layer(plumego_router());
    let req = Request::builder()
        .uri("/users/42")
        .header("content-length", "3")
        .body(Body::from("abc"))
        .unwrap();
    let res = svc.oneshot(req).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    res.into_body().collect().await.unwrap();

    let metrics = collected(&provider, &exporter);
    let find = |name: &str| metric(&metrics, name);

    let duration = find("http.server.request.duration");
    assert_eq!(duration.unit(), "s");
    let AggregatedMetrics::F64(MetricData::Histogram(hist)) = duration.data() else {
        panic!("duration is an f64 histogram")
    };
    let point = hist.data_points().next().unwrap();
    assert_eq!(
        point.bounds().collect::<Vec<_>>(),
        DURATION_BOUNDARIES.to_vec()
    );
    assert_eq!(point.count(), 1);
    assert_eq!(
        attr(point.attributes(), "http.request.method"),
        Some(Value::from("GET"))
    );
    assert_eq!(
        attr(point.attributes(), "url.scheme"),
        Some(Value::from("http"))
    );
    assert_eq!(
        attr(point.attributes(), "http.route"),
        Some(Value::from("/users/:id"))
    );
    assert_eq!(
        attr(point.attributes(), "http.response.status_code"),
        Some(Value::I64(200))
    );
    assert_eq!(attr(point.attributes(), "error.type"), None);
    assert!(
        point
            .attributes()
            .all(|kv| kv.value.as_str() != "/users/42"),
        "the raw path is never a label"
    );

    let active = find("http.server.active_requests");
    assert_eq!(active.unit(), "{request}");
    let AggregatedMetrics::I64(MetricData::Sum(sum)) = active.data() else {
        panic!("active requests is an i64 sum")
    };
    assert!(!sum.is_monotonic(), "an up-down counter");
    let point = sum.data_points().next().unwrap();
    assert_eq!(point.value(), 0);
    assert_eq!(
        attr(point.attributes(), "http.request.method"),
        Some(Value::from("GET"))
    );
    assert_eq!(
        attr(point.attributes(), "url.scheme"),
        Some(Value::from("http"))
    );
    assert_eq!(
        attr(point.attributes(), "http.route"),
        None,
        "unknown when the request starts"
    );

    for (name, expected) in [
        ("http.server.request.body.size", 3),
        ("http.server.response.body.size", 4),
    ] {
        let size = find(name);
        assert_eq!(size.unit(), "By", "{name}");
        let AggregatedMetrics::U64(MetricData::Histogram(hist)) = size.data() else {
            panic!("{name} is a u64 histogram")
        };
        let point = hist.data_points().next().unwrap();
        assert_eq!(point.sum(), expected, "{name}");
        assert_eq!(
            attr(point.attributes(), "http.route"),
            Some(Value::from("/users/:id"))
        );
    }
}

#[tokio::test]
async fn unmatched_requests_get_a_bounded_route_label_never_the_raw_path() {
    let (provider, scrape_svc) = prometheus();
    let svc = layer(&provider).layer(plumego_router());
    for path in ["/nope/1", "/nope/2", "/users/7"] {
        let res = svc
            .clone()
            .oneshot(Request::builder().uri(path).body(Body::empty()).unwrap())
            .await
            .unwrap();
        res.into_body().collect().await.unwrap();
    }
    let text = scrape(&scrape_svc).await;
    let unmatched = value(
        &text,
        "http_server_request_duration_seconds_count",
        &[
            r#"http_route="<unmatched>""#,
            r#"http_response_status_code="404""#,
        ],
    );
    assert_eq!(unmatched, Some(2.0), "{text}");
    let matched = value(
        &text,
        "http_server_request_duration_seconds_count",
        &[r#"http_route="/users/:id""#],
    );
    assert_eq!(matched, Some(1.0), "{text}");
    assert!(
        !text.contains("/nope/"),
        "raw paths leaked into labels:\n{text}"
    );
    assert!(
        !text.contains("/users/7"),
        "raw paths leaked into labels:\n{text}"
    );
}

#[tokio::test]
async fn unknown_methods_become_other_and_the_unmatched_label_is_configurable() {
    let (provider, scrape_svc) = prometheus();
    let config = HttpMetricsConfig::new(provider.meter("test")).unmatched_route("none");
    let svc = HttpMetricsLayer::new(config).layer(tower::service_fn(|_req: Request<()>| async {
        Ok::<_, Infallible>(ok(""))
    }));
    let method = Method::from_bytes(b"PURGE").unwrap();
    let res = svc
        .oneshot(Request::builder().method(method).body(()).unwrap())
        .await
        .unwrap();
    res.into_body().collect().await.unwrap();
    let text = scrape(&scrape_svc).await;
    let count = value(
        &text,
        "http_server_request_duration_seconds_count",
        &[r#"http_request_method="_OTHER""#, r#"http_route="none""#],
    );
    assert_eq!(count, Some(1.0), "{text}");
    assert!(!text.contains("PURGE"), "{text}");
}

/// A body that yields its chunks one poll at a time, or an error at the end.
struct Chunks {
    chunks: Vec<&'static str>,
    fail: bool,
}

impl http_body::Body for Chunks {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        if self.chunks.is_empty() {
            if std::mem::take(&mut self.fail) {
                return Poll::Ready(Some(Err(std::io::Error::other("boom"))));
            }
            return Poll::Ready(None);
        }
        let chunk = self.chunks.remove(0);
        Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(chunk.as_bytes())))))
    }
}

#[tokio::test]
async fn duration_and_sizes_are_recorded_only_when_the_body_ends() {
    let (provider, scrape_svc) = prometheus();
    let svc = layer(&provider).layer(tower::service_fn(|_req: Request<()>| async {
        Ok::<_, Infallible>(Response::new(Chunks {
            chunks: vec!["hello ", "world"],
            fail: false,
        }))
    }));
    let res = svc.oneshot(Request::new(())).await.unwrap();

    let text = scrape(&scrape_svc).await;
    assert!(
        samples(&text, "http_server_request_duration_seconds_count").is_empty(),
        "{text}"
    );
    assert_eq!(
        value(&text, "http_server_active_requests", &[]),
        Some(1.0),
        "{text}"
    );

    let mut body = res.into_body();
    let first = body.frame().await.unwrap().unwrap();
    assert_eq!(first.into_data().unwrap(), "hello ");
    let text = scrape(&scrape_svc).await;
    assert!(
        samples(&text, "http_server_request_duration_seconds_count").is_empty(),
        "still streaming:\n{text}"
    );

    let rest = body.collect().await.unwrap().to_bytes();
    assert_eq!(rest, "world");
    let text = scrape(&scrape_svc).await;
    assert_eq!(
        value(&text, "http_server_request_duration_seconds_count", &[]),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        value(&text, "http_server_response_body_size_bytes_sum", &[]),
        Some(11.0),
        "{text}"
    );
    assert_eq!(
        value(&text, "http_server_active_requests", &[]),
        Some(0.0),
        "{text}"
    );
}

#[tokio::test]
async fn a_dropped_body_still_records_and_releases_the_active_request() {
    let (provider, scrape_svc) = prometheus();
    let svc = layer(&provider).layer(tower::service_fn(|_req: Request<()>| async {
        Ok::<_, Infallible>(Response::new(Chunks {
            chunks: vec!["a", "b"],
            fail: false,
        }))
    }));
    let res = svc.oneshot(Request::new(())).await.unwrap();
    let mut body = res.into_body();
    body.frame().await.unwrap().unwrap();
    drop(body);
    let text = scrape(&scrape_svc).await;
    assert_eq!(
        value(&text, "http_server_request_duration_seconds_count", &[]),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        value(&text, "http_server_response_body_size_bytes_sum", &[]),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        value(&text, "http_server_active_requests", &[]),
        Some(0.0),
        "{text}"
    );
}

#[tokio::test]
async fn failures_carry_error_type_and_release_the_active_request() {
    let (provider, scrape_svc) = prometheus();
    let l = layer(&provider);

    // A 5xx answer: error.type is the status code.
    let svc = l.layer(tower::service_fn(|_req: Request<()>| async {
        let mut res = ok("down");
        *res.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
        Ok::<_, Infallible>(res)
    }));
    svc.oneshot(Request::new(()))
        .await
        .unwrap()
        .into_body()
        .collect()
        .await
        .unwrap();

    // A body that fails half-way.
    let svc = l.layer(tower::service_fn(|_req: Request<()>| async {
        Ok::<_, Infallible>(Response::new(Chunks {
            chunks: vec!["x"],
            fail: true,
        }))
    }));
    let res = svc
        .oneshot(Request::builder().method(Method::PUT).body(()).unwrap())
        .await
        .unwrap();
    assert!(res.into_body().collect().await.is_err());

    // An inner service error: no status code.
    let svc = l.layer(tower::service_fn(|_req: Request<()>| async {
        Err::<Response<Full<Bytes>>, _>(std::io::Error::other("inner"))
    }));
    assert!(
        svc.oneshot(Request::builder().method(Method::POST).body(()).unwrap())
            .await
            .is_err()
    );

    // A future dropped before the head (an outer timeout).
    let svc = l.layer(tower::service_fn(|_req: Request<()>| async {
        std::future::pending::<()>().await;
        Ok::<_, Infallible>(ok(""))
    }));
    let timed_out = tokio::time::timeout(
        Duration::from_millis(10),
        svc.oneshot(Request::builder().method(Method::DELETE).body(()).unwrap()),
    )
    .await;
    assert!(timed_out.is_err());

    let text = scrape(&scrape_svc).await;
    let count =
        |labels: &[&str]| value(&text, "http_server_request_duration_seconds_count", labels);
    assert_eq!(
        count(&[
            r#"http_request_method="GET""#,
            r#"error_type="503""#,
            r#"http_response_status_code="503""#
        ]),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        count(&[
            r#"http_request_method="PUT""#,
            r#"error_type="_OTHER""#,
            r#"http_response_status_code="200""#
        ]),
        Some(1.0),
        "{text}"
    );
    for method in ["POST", "DELETE"] {
        let line = samples(&text, "http_server_request_duration_seconds_count")
            .into_iter()
            .find(|l| l.contains(&format!(r#"http_request_method="{method}""#)))
            .unwrap_or_else(|| panic!("{method} recorded:\n{text}"));
        assert!(line.contains(r#"error_type="_OTHER""#), "{line}");
        assert!(!line.contains("http_response_status_code"), "{line}");
    }
    for method in ["GET", "PUT", "POST", "DELETE"] {
        let active = value(
            &text,
            "http_server_active_requests",
            &[&format!(r#"http_request_method="{method}""#)],
        );
        assert_eq!(active, Some(0.0), "{method}:\n{text}");
    }
}

#[tokio::test]
async fn request_size_comes_from_content_length_and_scheme_from_the_config() {
    let (provider, scrape_svc) = prometheus();
    let config = HttpMetricsConfig::new(provider.meter("test")).https(true);
    let svc = HttpMetricsLayer::new(config).layer(tower::service_fn(
        |_req: Request<Full<Bytes>>| async { Ok::<_, Infallible>(ok("ok")) },
    ));
    let req = Request::builder()
        .method(Method::POST)
        .header("content-length", "5")
        .body(Full::new(Bytes::from_static(b"12345")))
        .unwrap();
    svc.clone()
        .oneshot(req)
        .await
        .unwrap()
        .into_body()
        .collect()
        .await
        .unwrap();
    // No Content-Length: not observed in the request-size histogram.
    let req = Request::builder()
        .method(Method::POST)
        .body(Full::default())
        .unwrap();
    svc.clone()
        .oneshot(req)
        .await
        .unwrap()
        .into_body()
        .collect()
        .await
        .unwrap();
    // An absolute-form URI's own scheme wins.
    let req = Request::builder()
        .uri("http://example.com/")
        .body(Full::default())
        .unwrap();
    svc.oneshot(req)
        .await
        .unwrap()
        .into_body()
        .collect()
        .await
        .unwrap();

    let text = scrape(&scrape_svc).await;
    assert_eq!(
        value(
            &text,
            "http_server_request_body_size_bytes_count",
            &[r#"url_scheme="https""#]
        ),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        value(
            &text,
            "http_server_request_body_size_bytes_sum",
            &[r#"url_scheme="https""#]
        ),
        Some(5.0),
        "{text}"
    );
    assert_eq!(
        value(
            &text,
            "http_server_request_duration_seconds_count",
            &[r#"url_scheme="https""#]
        ),
        Some(2.0),
        "{text}"
    );
    assert_eq!(
        value(
            &text,
            "http_server_request_duration_seconds_count",
            &[r#"url_scheme="http""#]
        ),
        Some(1.0),
        "{text}"
    );
}

#[tokio::test]
async fn duration_buckets_follow_the_semantic_conventions() {
    let (provider, scrape_svc) = prometheus();
    let svc = layer(&provider).layer(tower::service_fn(|_req: Request<()>| async {
        Ok::<_, Infallible>(ok(""))
    }));
    svc.oneshot(Request::new(()))
        .await
        .unwrap()
        .into_body()
        .collect()
        .await
        .unwrap();
    let text = scrape(&scrape_svc).await;
    let les: Vec<String> = samples(&text, "http_server_request_duration_seconds_bucket")
        .into_iter()
        .filter_map(|l| Some(l.split("le=\"").nth(1)?.split('"').next()?.to_owned()))
        .collect();
    let mut want: Vec<String> = DURATION_BOUNDARIES.iter().map(|b| b.to_string()).collect();
    want.push("+Inf".into());
    assert_eq!(les, want, "{text}");
}

#[tokio::test]
async fn scrape_service_answers_the_text_exposition() {
    let (provider, scrape_svc) = prometheus();
    let svc = layer(&provider).layer(tower::service_fn(|_req: Request<()>| async {
        Ok::<_, Infallible>(ok("x"))
    }));
    svc.oneshot(Request::new(()))
        .await
        .unwrap()
        .into_body()
        .collect()
        .await
        .unwrap();

    let res = scrape_svc
        .clone()
        .oneshot(Request::new(Body::empty()))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["content-type"], "text/plain; version=0.0.4");
    let text = res.into_body().collect().await.unwrap().to_bytes();
    let text = std::str::from_utf8(&text).unwrap();
    for family in [
        "# TYPE http_server_request_duration_seconds histogram",
        "# TYPE http_server_active_requests gauge",
        "# TYPE http_server_response_body_size_bytes histogram",
    ] {
        assert!(text.contains(family), "{family}:\n{text}");
    }

    let res = scrape_svc
        .clone()
        .oneshot(Request::builder().method(Method::HEAD).body(()).unwrap())
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let len: usize = res.headers()["content-length"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(len > 0);
    assert!(
        res.into_body()
            .collect()
            .await
            .unwrap()
            .to_bytes()
            .is_empty()
    );

    let res = scrape_svc
        .oneshot(Request::builder().method(Method::POST).body(()).unwrap())
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(res.headers()["allow"], "GET, HEAD");
    assert_eq!(res.headers()["content-type"], "application/json");
}

#[tokio::test]
async fn works_as_an_axum_route_layer() {
    use axum::routing::get;

    let (provider, scrape_svc) = prometheus();
    let app = axum::Router::new()
        .route("/items/{id}", get(|| async { "item" }))
        .layer(layer(&provider));
    let res = app
        .oneshot(
            Request::builder()
                .uri("/items/9")
                .body(axum::body::Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.into_body().collect().await.unwrap().to_bytes(), "item");
    let text = scrape(&scrape_svc).await;
    assert_eq!(
        value(
            &text,
            "http_server_request_duration_seconds_count",
            &[
                r#"http_request_method="GET""#,
                r#"http_response_status_code="200""#
            ]
        ),
        Some(1.0),
        "{text}"
    );
    assert!(
        !text.contains("/items/9"),
        "raw paths leaked into labels:\n{text}"
    );
    assert_eq!(
        value(&text, "http_server_active_requests", &[]),
        Some(0.0),
        "{text}"
    );
}

#[tokio::test]
async fn inside_the_router_the_match_is_read_from_the_route_state() {
    let (provider, scrape_svc) = prometheus();
    let mut b = RouterBuilder::new();
    b.get(
        "/orders/:id",
        layer(&provider).layer(handler_fn(|_req: Request<Body>| async {
            plumego_core::IntoResponse::into_response("order")
        })),
    )
    .unwrap();
    let router = b.build();
    let res = router
        .oneshot(
            Request::builder()
                .uri("/orders/1")
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    res.into_body().collect().await.unwrap();
    let text = scrape(&scrape_svc).await;
    assert_eq!(
        value(
            &text,
            "http_server_request_duration_seconds_count",
            &[r#"http_route="/orders/:id""#]
        ),
        Some(1.0),
        "{text}"
    );
}

/// `promtool check metrics` (Debian package `prometheus`) must accept the
/// scrape output. Never skipped: a missing promtool fails the test.
#[tokio::test]
async fn promtool_accepts_the_scrape_output() {
    let (provider, scrape_svc) = prometheus();
    let svc = layer(&provider).layer(plumego_router());
    for (method, path) in [
        (Method::GET, "/users/1"),
        (Method::POST, "/users"),
        (Method::GET, "/missing"),
    ] {
        let req = Request::builder()
            .method(method)
            .uri(path)
            .body(Body::empty())
            .unwrap();
        svc.clone()
            .oneshot(req)
            .await
            .unwrap()
            .into_body()
            .collect()
            .await
            .unwrap();
    }
    let text = scrape(&scrape_svc).await;

    let child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(child) => child,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            if std::env::var("CI").as_deref() == Ok("true") {
                panic!("promtool is not on PATH in CI; install the Debian package `prometheus`");
            }
            panic!("promtool is not on PATH: install it with `apt-get install -y prometheus`");
        }
        Err(err) => panic!("cannot run promtool: {err}"),
    };
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool check metrics failed ({}):\n{}{}\n--- input ---\n{text}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
}
