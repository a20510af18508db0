//! The layer stack: order, panic to 500, body limit, CORS, security headers,
//! metrics and timeout, through the whole app.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{config, idempotency, send};
use http::{Method, Request, StatusCode};
use http_body_util::BodyExt;
use plumego::{AppService, Body, handler_fn};
use reference_service::config::Config;
use reference_service::domain::item::{ItemService, MemoryRepository};
use tower::ServiceExt;

/// The app with two extra test routes: one that panics, one that is slow.
fn service_with_test_routes(config: &Config) -> AppService {
    let items = ItemService::new(Arc::new(MemoryRepository::new()));
    let mut app = reference_service::app::build(config, items, idempotency()).unwrap();
    app.get(
        "/test/panic",
        handler_fn(|_req: plumego::Request| async {
            if true {
                panic!("secret panic payload");
            }
            "unreachable"
        }),
    )
    .unwrap();
    app.get(
        "/test/slow",
        handler_fn(|_req: plumego::Request| async {
            tokio::time::sleep(Duration::from_secs(5)).await;
            "late"
        }),
    )
    .unwrap();
    app.into_service().unwrap()
}

#[tokio::test]
async fn a_panic_becomes_the_500_envelope_with_request_id_and_security_headers() {
    let svc = service_with_test_routes(&config());
    let reply = send(
        &svc,
        Method::GET,
        "/test/panic",
        None,
        &[("x-request-id", "p1")],
    )
    .await;
    assert_eq!(reply.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(
        reply.body,
        "{\"error\":{\"code\":\"INTERNAL_ERROR\",\"message\":\"internal server error\",\"category\":\"server_error\",\"type\":\"internal_error\"},\"request_id\":\"p1\"}\n"
    );
    assert_eq!(reply.headers["x-request-id"], "p1");
    // Security headers sit outside recovery, so they survive the panic.
    assert_eq!(reply.headers["x-content-type-options"], "nosniff");
    assert_eq!(reply.headers["x-frame-options"], "SAMEORIGIN");
}

#[tokio::test]
async fn oversized_bodies_get_413() {
    let mut cfg = config();
    cfg.max_body_bytes = 16;
    let svc = service_with_test_routes(&cfg);
    let big = format!(r#"{{"name":"{}"}}"#, "x".repeat(100));
    let reply = send(&svc, Method::POST, "/api/v1/items", Some(&big), &[]).await;
    assert_eq!(reply.status, StatusCode::PAYLOAD_TOO_LARGE);
    let json = reply.json();
    assert_eq!(json["error"]["code"], "REQUEST_BODY_TOO_LARGE");
    assert_eq!(json["error"]["details"]["max_bytes"], 16);
    // Within the limit still works.
    let ok = send(
        &svc,
        Method::POST,
        "/api/v1/items",
        Some(r#"{"name":"a"}"#),
        &[],
    )
    .await;
    assert_eq!(ok.status, StatusCode::CREATED);
}

#[tokio::test]
async fn cors_wildcard_by_default_and_strict_when_configured() {
    let svc = service_with_test_routes(&config());
    let reply = send(
        &svc,
        Method::GET,
        "/api/info",
        None,
        &[("origin", "https://any.example")],
    )
    .await;
    assert_eq!(reply.headers["access-control-allow-origin"], "*");

    let mut cfg = config();
    cfg.cors_allowed_origins = vec!["https://app.example".into()];
    let svc = service_with_test_routes(&cfg);
    let allowed = send(
        &svc,
        Method::GET,
        "/api/info",
        None,
        &[("origin", "https://app.example")],
    )
    .await;
    assert_eq!(
        allowed.headers["access-control-allow-origin"],
        "https://app.example"
    );
    let denied = send(
        &svc,
        Method::GET,
        "/api/info",
        None,
        &[("origin", "https://evil.example")],
    )
    .await;
    assert_eq!(
        denied.status,
        StatusCode::OK,
        "a disallowed origin passes through"
    );
    assert!(denied.headers.get("access-control-allow-origin").is_none());
    let preflight = send(
        &svc,
        Method::OPTIONS,
        "/api/v1/items",
        None,
        &[
            ("origin", "https://app.example"),
            ("access-control-request-method", "POST"),
        ],
    )
    .await;
    assert_eq!(preflight.status, StatusCode::NO_CONTENT);
    assert_eq!(
        preflight.headers["access-control-allow-origin"],
        "https://app.example"
    );
}

#[tokio::test]
async fn metrics_are_labelled_by_route_pattern() {
    let svc = service_with_test_routes(&config());
    send(&svc, Method::GET, "/api/v1/items/abc", None, &[]).await;
    send(&svc, Method::GET, "/api/v1/items/def", None, &[]).await;
    let metrics = send(&svc, Method::GET, "/metrics", None, &[]).await;
    assert_eq!(metrics.status, StatusCode::OK);
    assert!(
        metrics.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    assert!(
        metrics
            .body
            .contains("http_server_request_duration_seconds"),
        "{}",
        metrics.body
    );
    assert!(
        metrics.body.contains("http_route=\"/api/v1/items/:id\""),
        "{}",
        metrics.body
    );
    assert!(
        !metrics.body.contains("/api/v1/items/abc"),
        "raw paths never become labels"
    );
}

#[tokio::test(start_paused = true)]
async fn slow_handlers_get_504() {
    let mut cfg = config();
    cfg.request_timeout = Duration::from_millis(200);
    let svc = service_with_test_routes(&cfg);
    let res = svc
        .oneshot(Request::get("/test/slow").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::GATEWAY_TIMEOUT);
    let body = res.into_body().collect().await.unwrap().to_bytes();
    let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(json["error"]["code"], "TIMEOUT");
    assert_eq!(json["error"]["message"], "request timed out");
}

#[tokio::test]
async fn trace_context_flows_from_traceparent() {
    let svc = service_with_test_routes(&config());
    let reply = send(
        &svc,
        Method::GET,
        "/api/info",
        None,
        &[(
            "traceparent",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        )],
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);
    let span_id = reply.headers["x-span-id"].to_str().unwrap();
    assert_eq!(span_id.len(), 16);
    assert_ne!(
        span_id, "00f067aa0ba902b7",
        "the server span is a child, not the caller's span"
    );
}

#[tokio::test]
async fn layer_order_request_id_and_security_headers_wrap_everything() {
    let mut cfg = config();
    cfg.cors_allowed_origins = vec!["https://app.example".into()];
    cfg.request_timeout = Duration::from_millis(100);
    let svc = service_with_test_routes(&cfg);
    // A preflight answered by CORS (third layer) still has the id and the
    // headers of the two layers outside it.
    let preflight = send(
        &svc,
        Method::OPTIONS,
        "/api/v1/items",
        None,
        &[
            ("origin", "https://app.example"),
            ("access-control-request-method", "POST"),
        ],
    )
    .await;
    assert_eq!(preflight.status, StatusCode::NO_CONTENT);
    assert_eq!(preflight.headers["x-request-id"].len(), 12);
    assert_eq!(preflight.headers["x-content-type-options"], "nosniff");
    // A 504 from the innermost layer passes every layer on its way out.
    let timed_out = send(
        &svc,
        Method::GET,
        "/test/slow",
        None,
        &[("x-request-id", "t1"), ("origin", "https://app.example")],
    )
    .await;
    assert_eq!(timed_out.status, StatusCode::GATEWAY_TIMEOUT);
    assert_eq!(timed_out.headers["x-request-id"], "t1");
    assert_eq!(
        timed_out.headers["access-control-allow-origin"],
        "https://app.example"
    );
    assert_eq!(timed_out.headers["x-frame-options"], "SAMEORIGIN");
    assert_eq!(
        timed_out.json()["request_id"],
        "t1",
        "the envelope carries the id set outermost"
    );
    // A 413 from the body limit (inside recovery and the access log) keeps the outer headers too.
    let mut cfg = config();
    cfg.max_body_bytes = 4;
    let svc = service_with_test_routes(&cfg);
    let too_big = send(
        &svc,
        Method::POST,
        "/api/v1/items",
        Some(r#"{"name":"long"}"#),
        &[("x-request-id", "b1")],
    )
    .await;
    assert_eq!(too_big.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(too_big.headers["x-request-id"], "b1");
    assert_eq!(
        too_big.headers["referrer-policy"],
        "strict-origin-when-cross-origin"
    );
}
