//! Trace layer: W3C context propagation and the server span, driven through
//! `tower::ServiceExt::oneshot` with an in-memory span exporter.
#![cfg(feature = "trace")]

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body::Frame;
use http_body_util::{BodyExt, Full};
use opentelemetry::Value;
use opentelemetry::propagation::TextMapCompositePropagator;
use opentelemetry::trace::{SpanKind, Status, TracerProvider};
use opentelemetry_sdk::propagation::{BaggagePropagator, TraceContextPropagator};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};
use plumego_core::context::{PeerAddr, RequestExt, TraceContext};
use plumego_core::{Body, handler_fn};
use plumego_layers::trace::{TraceConfig, TraceLayer};
use plumego_router::RouterBuilder;
use tower::{Layer, ServiceExt};

const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT_ID: &str = "00f067aa0ba902b7";
const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

fn tracing() -> (SdkTracerProvider, InMemorySpanExporter) {
    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .build();
    (provider, exporter)
}

fn config(provider: &SdkTracerProvider) -> TraceConfig {
    TraceConfig::new(provider.tracer("test"))
}

fn spans(exporter: &InMemorySpanExporter) -> Vec<SpanData> {
    exporter.get_finished_spans().unwrap()
}

fn only_span(exporter: &InMemorySpanExporter) -> SpanData {
    let mut spans = spans(exporter);
    assert_eq!(spans.len(), 1, "{spans:#?}");
    spans.remove(0)
}

fn attr(span: &SpanData, key: &str) -> Option<Value> {
    span.attributes
        .iter()
        .find(|kv| kv.key.as_str() == key)
        .map(|kv| kv.value.clone())
}

/// Answers with the request's `TraceContext` in a response extension.
fn echo_context() -> impl tower::Service<
    Request<()>,
    Response = Response<Full<Bytes>>,
    Error = Infallible,
    Future = impl Future<Output = Result<Response<Full<Bytes>>, Infallible>>,
> + Clone {
    tower::service_fn(|req: Request<()>| async move {
        let mut res = Response::new(Full::new(Bytes::from_static(b"ok")));
        if let Some(tc) = req.trace_context() {
            res.extensions_mut().insert(tc.clone());
        }
        Ok(res)
    })
}

async fn call_with(
    svc: impl tower::Service<
        Request<()>,
        Response = Response<impl http_body::Body<Data = Bytes, Error: std::fmt::Debug>>,
        Error = Infallible,
    >,
    req: Request<()>,
) -> (http::response::Parts, Bytes) {
    let res = svc.oneshot(req).await.unwrap();
    let (parts, body) = res.into_parts();
    (parts, body.collect().await.unwrap().to_bytes())
}

#[tokio::test]
async fn the_inbound_traceparent_is_the_parent() {
    let (provider, exporter) = tracing();
    let svc = TraceLayer::new(config(&provider)).layer(echo_context());
    let req = Request::builder()
        .header("traceparent", TRACEPARENT)
        .header("tracestate", "vendor=abc")
        .body(())
        .unwrap();
    let (parts, _) = call_with(svc, req).await;

    let span = only_span(&exporter);
    assert_eq!(span.span_kind, SpanKind::Server);
    assert_eq!(span.span_context.trace_id().to_string(), TRACE_ID);
    assert_eq!(span.parent_span_id.to_string(), PARENT_ID);
    assert!(span.parent_span_is_remote);
    assert_ne!(span.span_context.span_id().to_string(), PARENT_ID);
    assert!(
        span.span_context.is_sampled(),
        "the caller's sampled flag is honoured"
    );
    assert_eq!(span.span_context.trace_state().header(), "vendor=abc");

    let tc = parts
        .extensions
        .get::<TraceContext>()
        .expect("TraceContext set before the handler");
    assert_eq!(tc.trace_id.to_string(), TRACE_ID);
    assert_eq!(
        tc.parent_span_id.map(|s| s.to_string()).as_deref(),
        Some(PARENT_ID)
    );
    assert_eq!(
        tc.span_id.to_string(),
        span.span_context.span_id().to_string()
    );
    assert!(tc.is_sampled());
}

#[tokio::test]
async fn a_missing_or_invalid_traceparent_starts_a_new_trace() {
    let (provider, exporter) = tracing();
    let svc = TraceLayer::new(config(&provider)).layer(echo_context());
    let invalid = [
        None,
        Some("00-00000000000000000000000000000000-00f067aa0ba902b7-01"),
        Some("00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01"),
        Some("zz-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
        // Shapes the SDK parser alone would accept.
        Some("00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01"),
        Some("00-+bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
        Some("00-4bf92f3577b34da6a3ce929d0e0e4736-0f067aa0ba902b7-01"),
        Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1"),
        Some("ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
        Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra"),
        Some("00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01"),
    ];
    let mut trace_ids = Vec::new();
    for header in invalid {
        let mut req = Request::builder();
        if let Some(h) = header {
            req = req.header("traceparent", h);
        }
        let (parts, _) = call_with(svc.clone(), req.body(()).unwrap()).await;
        let tc = parts
            .extensions
            .get::<TraceContext>()
            .expect("a new trace still has a context");
        assert_eq!(tc.parent_span_id, None, "{header:?}");
        assert_ne!(tc.trace_id.to_string(), TRACE_ID, "{header:?}");
        trace_ids.push(tc.trace_id);
    }
    let spans = spans(&exporter);
    assert_eq!(spans.len(), invalid.len());
    for span in &spans {
        assert!(span.span_context.is_valid());
        assert_eq!(span.parent_span_id, opentelemetry::trace::SpanId::INVALID);
    }
    trace_ids.sort_by_key(|t| t.to_string());
    trace_ids.dedup();
    assert_eq!(
        trace_ids.len(),
        invalid.len(),
        "every request starts its own trace"
    );
}

#[tokio::test]
async fn later_versions_and_repeated_headers() {
    let (provider, exporter) = tracing();
    let svc = TraceLayer::new(config(&provider)).layer(echo_context());
    // A later version may append fields; the known ones still apply.
    let req = Request::builder()
        .header(
            "traceparent",
            "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-future",
        )
        .body(())
        .unwrap();
    let (parts, _) = call_with(svc.clone(), req).await;
    let tc = parts.extensions.get::<TraceContext>().unwrap();
    assert_eq!(tc.trace_id.to_string(), TRACE_ID);
    assert_eq!(
        tc.parent_span_id.map(|s| s.to_string()).as_deref(),
        Some(PARENT_ID)
    );

    // Two traceparent headers are ambiguous: a new trace.
    let req = Request::builder()
        .header("traceparent", TRACEPARENT)
        .header("traceparent", TRACEPARENT)
        .body(())
        .unwrap();
    let (parts, _) = call_with(svc, req).await;
    let tc = parts.extensions.get::<TraceContext>().unwrap();
    assert_ne!(tc.trace_id.to_string(), TRACE_ID);
    assert_eq!(tc.parent_span_id, None);
    assert_eq!(spans(&exporter).len(), 2);
}

#[tokio::test]
async fn the_span_id_header_and_optional_response_traceparent() {
    let (provider, exporter) = tracing();
    let svc = TraceLayer::new(config(&provider)).layer(echo_context());
    let req = Request::builder()
        .header("traceparent", TRACEPARENT)
        .body(())
        .unwrap();
    let (parts, _) = call_with(svc, req).await;
    let span = only_span(&exporter);
    assert_eq!(
        parts.headers["x-span-id"],
        span.span_context.span_id().to_string()
    );
    assert!(
        parts.headers.get("traceparent").is_none(),
        "not injected by default"
    );

    exporter.reset();
    let svc =
        TraceLayer::new(config(&provider).inject_response_context(true)).layer(echo_context());
    let req = Request::builder()
        .header("traceparent", TRACEPARENT)
        .body(())
        .unwrap();
    let (parts, _) = call_with(svc, req).await;
    let span = only_span(&exporter);
    assert_eq!(
        parts.headers["traceparent"],
        format!("00-{TRACE_ID}-{}-01", span.span_context.span_id())
    );

    exporter.reset();
    let svc = TraceLayer::new(config(&provider).span_id_header(None)).layer(echo_context());
    let (parts, _) = call_with(svc, Request::new(())).await;
    assert!(parts.headers.get("x-span-id").is_none());
}

#[tokio::test]
async fn handlers_get_the_otel_context_for_child_spans() {
    let (provider, exporter) = tracing();
    let tracer = provider.tracer("handler");
    let svc =
        TraceLayer::new(config(&provider)).layer(tower::service_fn(move |req: Request<()>| {
            let cx = req.extensions().get::<opentelemetry::Context>().cloned();
            let tracer = tracer.clone();
            async move {
                use opentelemetry::trace::{Span, Tracer};
                let cx = cx.expect("the context is in the extensions");
                tracer.start_with_context("child", &cx).end();
                Ok::<_, Infallible>(Response::new(Full::new(Bytes::new())))
            }
        }));
    call_with(svc, Request::new(())).await;
    let spans = spans(&exporter);
    let child = spans.iter().find(|s| s.name == "child").unwrap();
    let server = spans.iter().find(|s| s.name == "GET").unwrap();
    assert_eq!(child.parent_span_id, server.span_context.span_id());
    assert!(!child.parent_span_is_remote);
    assert_eq!(
        child.span_context.trace_id(),
        server.span_context.trace_id()
    );
}

fn router() -> plumego_router::Router {
    let mut b = RouterBuilder::new();
    b.get(
        "/users/:id",
        handler_fn(|_req: Request<Body>| async {
            plumego_core::IntoResponse::into_response("user")
        }),
    )
    .unwrap();
    b.get(
        "/boom",
        handler_fn(|_req: Request<Body>| async {
            let mut res = plumego_core::IntoResponse::into_response("down");
            *res.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
            res
        }),
    )
    .unwrap();
    b.build()
}

#[tokio::test]
async fn the_span_is_named_after_the_route_pattern() {
    let (provider, exporter) = tracing();
    let svc = TraceLayer::new(config(&provider)).layer(router());
    let req = Request::builder()
        .uri("/users/42?x=1")
        .header("host", "api.example.com:8443")
        .header("user-agent", "curl/8")
        .body(Body::empty())
        .unwrap();
    let res = svc.clone().oneshot(req).await.unwrap();
    res.into_body().collect().await.unwrap();
    let span = only_span(&exporter);
    assert_eq!(span.name, "GET /users/:id");
    assert_eq!(attr(&span, "http.route"), Some(Value::from("/users/:id")));
    assert_eq!(attr(&span, "http.request.method"), Some(Value::from("GET")));
    assert_eq!(attr(&span, "url.path"), Some(Value::from("/users/42")));
    assert_eq!(attr(&span, "url.scheme"), Some(Value::from("http")));
    assert_eq!(
        attr(&span, "server.address"),
        Some(Value::from("api.example.com"))
    );
    assert_eq!(attr(&span, "server.port"), Some(Value::I64(8443)));
    assert_eq!(
        attr(&span, "user_agent.original"),
        Some(Value::from("curl/8"))
    );
    assert_eq!(
        attr(&span, "http.response.status_code"),
        Some(Value::I64(200))
    );
    assert_eq!(
        attr(&span, "network.protocol.version"),
        Some(Value::from("1.1"))
    );
    assert_eq!(span.status, Status::Unset);

    // No match: the method alone, and no raw path in the name.
    exporter.reset();
    let req = Request::builder()
        .uri("/nope/42")
        .body(Body::empty())
        .unwrap();
    let res = svc.clone().oneshot(req).await.unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    res.into_body().collect().await.unwrap();
    let span = only_span(&exporter);
    assert_eq!(span.name, "GET");
    assert_eq!(attr(&span, "http.route"), None);
    assert_eq!(
        attr(&span, "http.response.status_code"),
        Some(Value::I64(404))
    );
    assert_eq!(span.status, Status::Unset, "4xx is the client's error");

    // An unknown method is `HTTP` in the name and `_OTHER` in the attribute.
    exporter.reset();
    let req = Request::builder()
        .method(Method::from_bytes(b"PURGE").unwrap())
        .uri("/users/1")
        .body(Body::empty())
        .unwrap();
    svc.oneshot(req)
        .await
        .unwrap()
        .into_body()
        .collect()
        .await
        .unwrap();
    let span = only_span(&exporter);
    assert_eq!(span.name, "HTTP", "no route takes PURGE");
    assert_eq!(
        attr(&span, "http.request.method"),
        Some(Value::from("_OTHER"))
    );
    assert_eq!(
        attr(&span, "http.request.method_original"),
        Some(Value::from("PURGE"))
    );
}

#[tokio::test]
async fn server_errors_mark_the_span_as_an_error() {
    let (provider, exporter) = tracing();
    let svc = TraceLayer::new(config(&provider)).layer(router());
    let res = svc
        .oneshot(Request::builder().uri("/boom").body(Body::empty()).unwrap())
        .await
        .unwrap();
    res.into_body().collect().await.unwrap();
    let span = only_span(&exporter);
    assert_eq!(span.name, "GET /boom");
    assert!(
        matches!(span.status, Status::Error { .. }),
        "{:?}",
        span.status
    );
    assert_eq!(attr(&span, "error.type"), Some(Value::from("500")));
    assert_eq!(
        attr(&span, "http.response.status_code"),
        Some(Value::I64(500))
    );
}

#[tokio::test]
async fn inner_errors_and_dropped_futures_end_the_span_as_errors() {
    let (provider, exporter) = tracing();
    let layer = TraceLayer::new(config(&provider));
    let svc = layer.layer(tower::service_fn(|_req: Request<()>| async {
        Err::<Response<Full<Bytes>>, _>(std::io::Error::other("inner"))
    }));
    assert!(svc.oneshot(Request::new(())).await.is_err());
    let span = only_span(&exporter);
    assert!(matches!(span.status, Status::Error { .. }));
    assert_eq!(attr(&span, "error.type"), Some(Value::from("_OTHER")));

    exporter.reset();
    let svc = layer.layer(tower::service_fn(|_req: Request<()>| async {
        std::future::pending::<()>().await;
        Ok::<_, Infallible>(Response::new(Full::new(Bytes::new())))
    }));
    let fut = svc.oneshot(Request::new(()));
    assert!(
        tokio::time::timeout(std::time::Duration::from_millis(10), fut)
            .await
            .is_err()
    );
    let span = only_span(&exporter);
    assert!(matches!(span.status, Status::Error { .. }));
}

/// A body that yields one chunk per poll, then optionally an error.
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
async fn the_span_ends_only_when_the_body_is_consumed() {
    let (provider, exporter) = tracing();
    let layer = TraceLayer::new(config(&provider));
    let svc = layer.layer(tower::service_fn(|_req: Request<()>| async {
        Ok::<_, Infallible>(Response::new(Chunks {
            chunks: vec!["a", "b"],
            fail: false,
        }))
    }));
    let res = svc.oneshot(Request::new(())).await.unwrap();
    assert!(spans(&exporter).is_empty(), "not ended with the head");
    let mut body = res.into_body();
    body.frame().await.unwrap().unwrap();
    assert!(spans(&exporter).is_empty(), "not ended mid-body");
    body.collect().await.unwrap();
    let span = only_span(&exporter);
    assert_eq!(span.status, Status::Unset);

    // A body dropped half-way still ends the span.
    exporter.reset();
    let svc = layer.layer(tower::service_fn(|_req: Request<()>| async {
        Ok::<_, Infallible>(Response::new(Chunks {
            chunks: vec!["a", "b"],
            fail: false,
        }))
    }));
    let mut body = svc.oneshot(Request::new(())).await.unwrap().into_body();
    body.frame().await.unwrap().unwrap();
    drop(body);
    only_span(&exporter);

    // A failing body marks the span.
    exporter.reset();
    let svc = layer.layer(tower::service_fn(|_req: Request<()>| async {
        Ok::<_, Infallible>(Response::new(Chunks {
            chunks: vec!["a"],
            fail: true,
        }))
    }));
    let res = svc.oneshot(Request::new(())).await.unwrap();
    assert!(res.into_body().collect().await.is_err());
    let span = only_span(&exporter);
    assert!(matches!(span.status, Status::Error { .. }));
}

#[tokio::test]
async fn a_configured_propagator_brings_baggage_into_the_trace_context() {
    let (provider, exporter) = tracing();
    let propagator = TextMapCompositePropagator::new(vec![
        Box::new(TraceContextPropagator::new()),
        Box::new(BaggagePropagator::new()),
    ]);
    let svc = TraceLayer::new(config(&provider).propagator(propagator)).layer(echo_context());
    let req = Request::builder()
        .header("traceparent", TRACEPARENT)
        .header("baggage", "tenant=acme")
        .body(())
        .unwrap();
    let (parts, _) = call_with(svc, req).await;
    let tc = parts.extensions.get::<TraceContext>().unwrap();
    assert_eq!(tc.baggage.get("tenant").map(String::as_str), Some("acme"));
    assert_eq!(tc.trace_id.to_string(), TRACE_ID);
    only_span(&exporter);
}

#[tokio::test]
async fn peer_address_and_https_scheme() {
    let (provider, exporter) = tracing();
    let svc = TraceLayer::new(config(&provider).https(true)).layer(echo_context());
    let mut req = Request::new(());
    req.extensions_mut()
        .insert(PeerAddr("192.0.2.7:5000".parse().unwrap()));
    call_with(svc, req).await;
    let span = only_span(&exporter);
    assert_eq!(attr(&span, "url.scheme"), Some(Value::from("https")));
    assert_eq!(
        attr(&span, "network.peer.address"),
        Some(Value::from("192.0.2.7"))
    );
    assert_eq!(attr(&span, "network.peer.port"), Some(Value::I64(5000)));
}

#[tokio::test]
async fn works_as_an_axum_route_layer() {
    use axum::routing::get;

    let (provider, exporter) = tracing();
    let app = axum::Router::new()
        .route(
            "/items/{id}",
            get(|req: axum::extract::Request| async move {
                req.trace_context()
                    .map(|tc| tc.trace_id.to_string())
                    .unwrap_or_default()
            }),
        )
        .layer(TraceLayer::new(config(&provider)));
    let req = Request::builder()
        .uri("/items/9")
        .header("traceparent", TRACEPARENT)
        .body(axum::body::Body::empty())
        .unwrap();
    let res = app.oneshot(req).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let span_id = res.headers()["x-span-id"].to_str().unwrap().to_owned();
    assert!(spans(&exporter).is_empty(), "ended with the body");
    assert_eq!(
        res.into_body().collect().await.unwrap().to_bytes(),
        TRACE_ID
    );
    let span = only_span(&exporter);
    assert_eq!(span.span_context.span_id().to_string(), span_id);
    assert_eq!(span.span_context.trace_id().to_string(), TRACE_ID);
    assert!(!span.name.contains("/items/9"), "{}", span.name);
}
