#![cfg(feature = "debug-errors")]

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body::{Body, Frame, SizeHint};
use http_body_util::{BodyExt, Full, StreamBody};
use plumego_core::context::RequestId;
use plumego_layers::debug_errors::{DEFAULT_NOT_FOUND_HINT, DebugErrorsConfig, DebugErrorsLayer};
use tower::{Layer, ServiceExt};

/// Runs `res` through the layer as the answer to `req`.
async fn run<B>(
    config: DebugErrorsConfig,
    req: Request<()>,
    res: Response<B>,
) -> (http::response::Parts, Bytes)
where
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: std::fmt::Debug,
{
    let res = std::sync::Mutex::new(Some(res));
    let svc = DebugErrorsLayer::new(config).layer(tower::service_fn(move |_req: Request<()>| {
        let res = res.lock().unwrap().take().unwrap();
        async move { Ok::<_, Infallible>(res) }
    }));
    let (parts, body) = svc.oneshot(req).await.unwrap().into_parts();
    (parts, body.collect().await.unwrap().to_bytes())
}

fn plain(status: u16, content_type: Option<&str>, body: &'static str) -> Response<Full<Bytes>> {
    let mut b = Response::builder().status(status);
    if let Some(ct) = content_type {
        b = b.header("content-type", ct);
    }
    b.body(Full::new(Bytes::from_static(body.as_bytes())))
        .unwrap()
}

fn get(uri: &str) -> Request<()> {
    Request::get(uri).body(()).unwrap()
}

fn text(bytes: &Bytes) -> &str {
    std::str::from_utf8(bytes).unwrap()
}

#[tokio::test]
async fn empty_404_becomes_the_envelope_golden() {
    let mut req = get("/items/42?expand=true&x=%3C");
    req.extensions_mut()
        .insert(RequestId::new("req-1").unwrap());
    let mut res = plain(404, None, "");
    res.headers_mut()
        .insert("content-length", "0".parse().unwrap());
    res.headers_mut()
        .insert("x-custom", "kept".parse().unwrap());
    let (parts, body) = run(DebugErrorsConfig::default(), req, res).await;
    assert_eq!(parts.status, StatusCode::NOT_FOUND);
    assert_eq!(parts.headers["content-type"], "application/json");
    assert_eq!(parts.headers["x-custom"], "kept");
    assert!(!parts.headers.contains_key("content-length"));
    let expected = format!(
        "{{\"error\":{{\"code\":\"not_found\",\"message\":\"not found\",\"category\":\"client_error\",\
         \"type\":\"resource_not_found\",\"details\":{{\"hint\":\"{DEFAULT_NOT_FOUND_HINT}\",\
         \"method\":\"GET\",\"path\":\"/items/42\",\"query\":\"expand=true\\u0026x=%3C\"}}}},\
         \"request_id\":\"req-1\"}}\n"
    );
    assert_eq!(text(&body), expected);
}

#[tokio::test]
async fn the_original_status_is_kept() {
    let (parts, body) = run(
        DebugErrorsConfig::default(),
        get("/brew"),
        plain(418, Some("text/plain"), "short and stout"),
    )
    .await;
    assert_eq!(
        parts.status,
        StatusCode::IM_A_TEAPOT,
        "Go turned this into 400"
    );
    assert_eq!(
        text(&body),
        "{\"error\":{\"code\":\"i'm_a_teapot\",\"message\":\"i'm a teapot\",\"category\":\"client_error\",\
         \"type\":\"bad_request\",\"details\":{\"method\":\"GET\",\"path\":\"/brew\"}}}\n"
    );

    let (parts, body) = run(
        DebugErrorsConfig::default(),
        Request::post("/pay").body(()).unwrap(),
        plain(502, Some("text/plain; charset=utf-8"), "upstream down"),
    )
    .await;
    assert_eq!(
        parts.status,
        StatusCode::BAD_GATEWAY,
        "Go turned this into 500"
    );
    assert_eq!(
        text(&body),
        "{\"error\":{\"code\":\"bad_gateway\",\"message\":\"bad gateway\",\"category\":\"server_error\",\
         \"type\":\"internal_error\",\"details\":{\"method\":\"POST\",\"path\":\"/pay\"}}}\n"
    );

    let (parts, body) = run(DebugErrorsConfig::default(), get("/"), plain(503, None, "")).await;
    assert_eq!(parts.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(text(&body).starts_with(
        "{\"error\":{\"code\":\"service_unavailable\",\"message\":\"service unavailable\""
    ));
}

#[tokio::test]
async fn types_follow_gos_mapping() {
    let cases = [
        (405, "method_not_allowed", "method_not_allowed"),
        (406, "not_acceptable", "not_acceptable"),
        (413, "request_entity_too_large", "bad_request"),
        (401, "unauthorized", "bad_request"),
        (500, "internal_server_error", "internal_error"),
    ];
    for (status, code, error_type) in cases {
        let (parts, body) = run(
            DebugErrorsConfig::default(),
            get("/"),
            plain(status, Some("TEXT/PLAIN"), "x"),
        )
        .await;
        assert_eq!(parts.status.as_u16(), status);
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["error"]["code"], code, "{status}");
        assert_eq!(v["error"]["type"], error_type, "{status}");
        assert!(v["error"]["details"].get("hint").is_none());
    }
}

#[tokio::test]
async fn other_headers_such_as_allow_are_kept() {
    let mut res = plain(405, None, "");
    res.headers_mut()
        .insert("allow", "GET, HEAD".parse().unwrap());
    let (parts, _) = run(
        DebugErrorsConfig::default(),
        Request::delete("/x").body(()).unwrap(),
        res,
    )
    .await;
    assert_eq!(parts.status, 405);
    assert_eq!(parts.headers["allow"], "GET, HEAD");
}

/// Asserts the response comes back byte for byte as the handler wrote it.
async fn assert_untouched<B>(
    config: DebugErrorsConfig,
    req: Request<()>,
    res: Response<B>,
    body: &str,
) where
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: std::fmt::Debug,
{
    let headers = res.headers().clone();
    let status = res.status();
    let (parts, got) = run(config, req, res).await;
    assert_eq!(parts.status, status);
    assert_eq!(parts.headers, headers);
    assert_eq!(text(&got), body);
}

#[tokio::test]
async fn non_plain_and_success_responses_pass_through() {
    let json = "{\"error\":\"x\"}";
    assert_untouched(
        DebugErrorsConfig::default(),
        get("/"),
        plain(500, Some("application/json"), json),
        json,
    )
    .await;
    assert_untouched(
        DebugErrorsConfig::default(),
        get("/"),
        plain(404, Some("text/html"), "<h1>no</h1>"),
        "<h1>no</h1>",
    )
    .await;
    assert_untouched(
        DebugErrorsConfig::default(),
        get("/"),
        plain(200, Some("text/plain"), "fine"),
        "fine",
    )
    .await;
    assert_untouched(
        DebugErrorsConfig::default(),
        get("/"),
        plain(302, None, ""),
        "",
    )
    .await;
    let mut encoded = plain(500, Some("text/plain"), "gzipped?");
    encoded
        .headers_mut()
        .insert("content-encoding", "gzip".parse().unwrap());
    assert_untouched(DebugErrorsConfig::default(), get("/"), encoded, "gzipped?").await;
}

#[tokio::test]
async fn bodies_over_the_cap_pass_through() {
    let cap = || DebugErrorsConfig::default().max_body_bytes(16);
    assert_untouched(
        cap(),
        get("/"),
        plain(500, Some("text/plain"), "seventeen bytes!!"),
        "seventeen bytes!!",
    )
    .await;
    // Declared larger than the cap.
    let mut res = plain(500, None, "");
    res.headers_mut()
        .insert("content-length", "17".parse().unwrap());
    assert_untouched(cap(), get("/"), res, "").await;
    // Exactly at the cap is rewritten.
    let (parts, _) = run(
        cap(),
        get("/"),
        plain(500, Some("text/plain"), "sixteen bytes!!!"),
    )
    .await;
    assert_eq!(parts.headers["content-type"], "application/json");
}

#[tokio::test]
async fn streaming_bodies_pass_through() {
    let chunks = futures_util::stream::iter(
        ["event ", "stream"]
            .map(|c| Ok::<_, Infallible>(Frame::data(Bytes::from_static(c.as_bytes())))),
    );
    let mut res = Response::new(StreamBody::new(chunks));
    *res.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
    res.headers_mut()
        .insert("content-type", "text/plain".parse().unwrap());
    assert_untouched(DebugErrorsConfig::default(), get("/"), res, "event stream").await;
}

#[tokio::test]
async fn skipped_requests_pass_through() {
    let reqs = [
        Request::head("/").body(()).unwrap(),
        Request::builder()
            .method(Method::CONNECT)
            .uri("example.com:443")
            .body(())
            .unwrap(),
        Request::get("/ws")
            .header("upgrade", "WebSocket")
            .body(())
            .unwrap(),
        Request::get("/events")
            .header("accept", "text/event-stream")
            .body(())
            .unwrap(),
    ];
    for req in reqs {
        assert_untouched(DebugErrorsConfig::default(), req, plain(404, None, ""), "").await;
    }
}

#[tokio::test]
async fn details_can_be_turned_off() {
    let config = DebugErrorsConfig::default()
        .include_request(false)
        .include_query(false)
        .without_not_found_hint();
    let (_, body) = run(config, get("/a?b=c"), plain(404, None, "")).await;
    assert_eq!(
        text(&body),
        "{\"error\":{\"code\":\"not_found\",\"message\":\"not found\",\"category\":\"client_error\",\
         \"type\":\"resource_not_found\"}}\n"
    );
    let config = DebugErrorsConfig::default().not_found_hint("try /v2");
    let (_, body) = run(config, get("/a"), plain(404, None, "")).await;
    assert!(text(&body).contains("\"hint\":\"try /v2\""));
}

#[tokio::test]
async fn response_preview_is_cut_at_1024_bytes() {
    let config = || DebugErrorsConfig::default().include_body(true);
    let (_, body) = run(config(), get("/"), plain(500, Some("text/plain"), "boom")).await;
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["error"]["details"]["response_preview"], "boom");

    let long: &'static str = "é".repeat(700).leak();
    let (parts, body) = run(config(), get("/"), plain(500, Some("text/plain"), long)).await;
    assert_eq!(parts.status, 500);
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let preview = v["error"]["details"]["response_preview"].as_str().unwrap();
    assert_eq!(preview, format!("{}...", "é".repeat(512)));
    // Off by default.
    let (_, body) = run(
        DebugErrorsConfig::default(),
        get("/"),
        plain(500, Some("text/plain"), "boom"),
    )
    .await;
    assert!(!text(&body).contains("response_preview"));
}

/// A body that promises 10 bytes, yields 3 and fails.
struct Failing(u8);

impl Body for Failing {
    type Data = Bytes;
    type Error = &'static str;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, &'static str>>> {
        self.0 += 1;
        Poll::Ready(Some(match self.0 {
            1 => Ok(Frame::data(Bytes::from_static(b"par"))),
            _ => Err("connection reset"),
        }))
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(10)
    }
}

#[tokio::test]
async fn a_failing_body_still_gets_its_envelope() {
    let mut res = Response::new(Failing(0));
    *res.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
    let (parts, body) = run(
        DebugErrorsConfig::default().include_body(true),
        get("/"),
        res,
    )
    .await;
    assert_eq!(parts.status, 500);
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["error"]["details"]["response_preview"], "par");
}

#[tokio::test]
async fn inside_an_axum_router() {
    let app = axum::Router::new()
        .route(
            "/pay",
            axum::routing::get(|| async { (StatusCode::BAD_GATEWAY, "upstream down") }),
        )
        .route("/ok", axum::routing::get(|| async { "fine" }))
        .layer(DebugErrorsLayer::new(DebugErrorsConfig::default()));

    let req = |uri: &str| Request::get(uri).body(axum::body::Body::empty()).unwrap();
    let res = app.clone().oneshot(req("/nope?q=1")).await.unwrap();
    assert_eq!(res.status(), 404);
    let body = res.into_body().collect().await.unwrap().to_bytes();
    let expected = format!(
        "{{\"error\":{{\"code\":\"not_found\",\"message\":\"not found\",\"category\":\"client_error\",\
         \"type\":\"resource_not_found\",\"details\":{{\"hint\":\"{DEFAULT_NOT_FOUND_HINT}\",\
         \"method\":\"GET\",\"path\":\"/nope\",\"query\":\"q=1\"}}}}}}\n"
    );
    assert_eq!(text(&body), expected);

    let res = app.clone().oneshot(req("/pay")).await.unwrap();
    assert_eq!(res.status(), 502);
    assert_eq!(res.headers()["content-type"], "application/json");

    let res = app.oneshot(req("/ok")).await.unwrap();
    assert_eq!(res.into_body().collect().await.unwrap().to_bytes(), "fine");
}
