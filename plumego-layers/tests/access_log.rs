#![cfg(feature = "access-log")]
//! The access log: one event per request, when the body ends.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_util::FutureExt;
use http::{HeaderName, Request, Response, StatusCode};
use http_body::Frame;
use http_body_util::{BodyExt, Empty, Full};
use plumego_core::context::{PeerAddr, RequestId, SpanId, TraceContext, TraceId};
use plumego_layers::access_log::{AccessLogConfig, AccessLogLayer, TARGET, UNMATCHED_ROUTE};
use tower::{Layer, ServiceExt, service_fn};
use tracing::Level;
use tracing::field::{Field, Visit};
use tracing_subscriber::layer::{Context as LayerContext, SubscriberExt};

// ---------------------------------------------------------------- capture

#[derive(Debug, Clone)]
struct Captured {
    level: Level,
    fields: BTreeMap<String, String>,
}

impl Captured {
    fn get(&self, name: &str) -> Option<&str> {
        self.fields.get(name).map(String::as_str)
    }
}

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<Captured>>>);

impl Capture {
    fn events(&self) -> Vec<Captured> {
        self.0.lock().unwrap().clone()
    }

    fn one(&self) -> Captured {
        let events = self.events();
        assert_eq!(
            events.len(),
            1,
            "expected exactly one access event: {events:?}"
        );
        events.into_iter().next().unwrap()
    }
}

struct Fields<'a>(&'a mut BTreeMap<String, String>);

impl Visit for Fields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }
}

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Capture {
    fn on_event(&self, event: &tracing::Event<'_>, _: LayerContext<'_, S>) {
        if event.metadata().target() != TARGET {
            return;
        }
        let mut fields = BTreeMap::new();
        event.record(&mut Fields(&mut fields));
        self.0.lock().unwrap().push(Captured {
            level: *event.metadata().level(),
            fields,
        });
    }
}

/// Captures access events on this thread (tests run on current-thread runtimes).
fn capture() -> (Capture, tracing::subscriber::DefaultGuard) {
    let capture = Capture::default();
    let subscriber = tracing_subscriber::registry().with(capture.clone());
    (capture, tracing::subscriber::set_default(subscriber))
}

// ---------------------------------------------------------------- bodies

/// Yields its chunks, then stays pending forever (a slow stream) or ends,
/// optionally panicking or failing instead of the next chunk.
struct TestBody {
    chunks: Vec<&'static str>,
    then: Then,
}

enum Then {
    End,
    Hang,
    Panic,
    Fail,
}

impl http_body::Body for TestBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        if !self.chunks.is_empty() {
            let chunk = self.chunks.remove(0);
            return Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(chunk.as_bytes())))));
        }
        match self.then {
            Then::End => Poll::Ready(None),
            Then::Hang => Poll::Pending,
            Then::Panic => panic!("body exploded"),
            Then::Fail => Poll::Ready(Some(Err(std::io::Error::other("upstream reset")))),
        }
    }
}

fn body(chunks: &[&'static str], then: Then) -> TestBody {
    TestBody {
        chunks: chunks.to_vec(),
        then,
    }
}

fn ok(text: &'static str) -> Result<Response<Full<Bytes>>, Infallible> {
    Ok(Response::new(Full::new(Bytes::from_static(
        text.as_bytes(),
    ))))
}

fn peer(addr: &str) -> PeerAddr {
    PeerAddr(addr.parse::<SocketAddr>().unwrap())
}

// ---------------------------------------------------------------- tests

#[tokio::test]
async fn logs_all_fields_once_the_body_is_consumed_not_before() {
    let (events, _guard) = capture();
    let svc = AccessLogLayer::new(AccessLogConfig::default()).layer(service_fn(
        |_req: Request<()>| async {
            let mut res = Response::new(Full::new(Bytes::from_static(b"hello")));
            *res.status_mut() = StatusCode::CREATED;
            Ok::<_, Infallible>(res)
        },
    ));
    let trace = TraceContext::new(
        TraceId::parse("4bf92f3577b34da6a3ce929d0e0e4736").unwrap(),
        SpanId::parse("00f067aa0ba902b7").unwrap(),
    );
    let mut req = Request::post("/items?token=s3cret")
        .header("user-agent", "curl/8.0")
        .body(())
        .unwrap();
    req.extensions_mut()
        .insert(RequestId::new("req-1").unwrap());
    req.extensions_mut().insert(trace);
    req.extensions_mut().insert(peer("203.0.113.9:5555"));

    let res = svc.oneshot(req).await.unwrap();
    assert!(events.events().is_empty(), "logged when the head was sent");
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(bytes, "hello");

    let e = events.one();
    assert_eq!(e.level, Level::INFO);
    assert_eq!(e.get("message"), Some("request completed"));
    assert_eq!(e.get("method"), Some("POST"));
    assert_eq!(e.get("route"), Some(UNMATCHED_ROUTE));
    assert_eq!(
        e.get("path"),
        Some("/items"),
        "the query (which may hold secrets) is not logged"
    );
    assert_eq!(e.get("status"), Some("201"));
    assert_eq!(e.get("bytes"), Some("5"));
    assert!(e.get("latency_ms").unwrap().parse::<f64>().unwrap() >= 0.0);
    assert_eq!(e.get("client_ip"), Some("203.0.113.9"));
    assert_eq!(e.get("user_agent"), Some("curl/8.0"));
    assert_eq!(e.get("request_id"), Some("req-1"));
    assert_eq!(e.get("trace_id"), Some("4bf92f3577b34da6a3ce929d0e0e4736"));
    assert_eq!(e.get("span_id"), Some("00f067aa0ba902b7"));
    assert_eq!(e.get("incomplete"), Some("false"));
    assert_eq!(e.get("panicked"), Some("false"));
    assert_eq!(e.get("error"), None);
    assert_eq!(e.get("headers"), None);
}

#[tokio::test]
async fn streaming_body_is_logged_at_its_end_with_all_bytes() {
    let (events, _guard) = capture();
    let svc = AccessLogLayer::default().layer(service_fn(|_req: Request<()>| async {
        Ok::<_, Infallible>(Response::new(body(&["ab", "cde", "f"], Then::End)))
    }));
    let mut res_body = svc.oneshot(Request::new(())).await.unwrap().into_body();
    res_body.frame().await.unwrap().unwrap();
    res_body.frame().await.unwrap().unwrap();
    assert!(events.events().is_empty(), "logged before the body ended");
    res_body.frame().await.unwrap().unwrap();
    assert!(res_body.frame().await.is_none());
    let e = events.one();
    assert_eq!(e.get("bytes"), Some("6"));
    assert_eq!(e.get("incomplete"), Some("false"));
    drop(res_body);
    assert_eq!(events.events().len(), 1, "logged twice");
}

#[tokio::test]
async fn client_disconnect_mid_body_is_logged_as_incomplete() {
    let (events, _guard) = capture();
    let svc = AccessLogLayer::default().layer(service_fn(|_req: Request<()>| async {
        Ok::<_, Infallible>(Response::new(body(&["abc"], Then::Hang)))
    }));
    let mut res_body = svc.oneshot(Request::new(())).await.unwrap().into_body();
    res_body.frame().await.unwrap().unwrap();
    assert!(events.events().is_empty());
    drop(res_body);
    let e = events.one();
    assert_eq!(e.get("status"), Some("200"));
    assert_eq!(e.get("bytes"), Some("3"));
    assert_eq!(e.get("incomplete"), Some("true"));
    assert_eq!(e.get("panicked"), Some("false"));
}

#[tokio::test]
async fn cancelled_before_the_head_is_logged_without_status() {
    let (events, _guard) = capture();
    let svc = AccessLogLayer::default().layer(service_fn(|_req: Request<()>| async {
        std::future::pending::<()>().await;
        ok("never")
    }));
    let mut fut = Box::pin(svc.oneshot(Request::new(())));
    assert!(fut.as_mut().now_or_never().is_none());
    drop(fut);
    let e = events.one();
    assert_eq!(e.get("status"), None);
    assert_eq!(e.get("incomplete"), Some("true"));
    assert_eq!(e.get("panicked"), Some("false"));
}

#[tokio::test]
async fn handler_panic_is_logged_as_500_and_keeps_unwinding() {
    let (events, _guard) = capture();
    let svc = AccessLogLayer::default().layer(service_fn(|_req: Request<()>| async {
        if true {
            panic!("handler exploded");
        }
        ok("never")
    }));
    let req = Request::get("/boom").body(()).unwrap();
    let outcome = std::panic::AssertUnwindSafe(svc.oneshot(req))
        .catch_unwind()
        .await;
    let Err(panic) = outcome else {
        panic!("the panic must reach the caller");
    };
    assert_eq!(panic.downcast_ref::<&str>(), Some(&"handler exploded"));
    let e = events.one();
    assert_eq!(e.get("status"), Some("500"));
    assert_eq!(e.get("panicked"), Some("true"));
    assert_eq!(e.get("path"), Some("/boom"));
}

#[tokio::test]
async fn panic_caught_outside_is_still_logged_as_a_panic() {
    // An outer catcher (tower-http's CatchPanic) drops the future only after
    // unwinding is over, when a drop guard could no longer see the panic.
    let (events, _guard) = capture();
    let svc = AccessLogLayer::default().layer(service_fn(|_req: Request<()>| async {
        if true {
            panic!("handler exploded");
        }
        ok("never")
    }));
    let mut fut = Box::pin(svc.oneshot(Request::new(())));
    let caught =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| fut.as_mut().now_or_never()));
    assert!(caught.is_err());
    let e = events.one();
    assert_eq!(e.get("panicked"), Some("true"));
    assert_eq!(e.get("status"), Some("500"));
    drop(fut);
    assert_eq!(events.events().len(), 1);
}

#[tokio::test]
async fn panic_while_streaming_the_body_is_logged() {
    let (events, _guard) = capture();
    let svc = AccessLogLayer::default().layer(service_fn(|_req: Request<()>| async {
        Ok::<_, Infallible>(Response::new(body(&["ab"], Then::Panic)))
    }));
    let res_body = svc.oneshot(Request::new(())).await.unwrap().into_body();
    let outcome = std::panic::AssertUnwindSafe(res_body.collect())
        .catch_unwind()
        .await;
    assert!(outcome.is_err(), "the panic must reach the caller");
    let e = events.one();
    assert_eq!(e.get("status"), Some("200"), "the head already went out");
    assert_eq!(e.get("bytes"), Some("2"));
    assert_eq!(e.get("panicked"), Some("true"));
}

#[tokio::test]
async fn body_error_is_logged_with_the_error() {
    let (events, _guard) = capture();
    let svc = AccessLogLayer::default().layer(service_fn(|_req: Request<()>| async {
        Ok::<_, Infallible>(Response::new(body(&["abcd"], Then::Fail)))
    }));
    let res_body = svc.oneshot(Request::new(())).await.unwrap().into_body();
    assert!(res_body.collect().await.is_err());
    let e = events.one();
    assert_eq!(e.get("bytes"), Some("4"));
    assert_eq!(e.get("error"), Some("upstream reset"));
    assert_eq!(e.get("incomplete"), Some("true"));
}

#[tokio::test]
async fn inner_service_error_is_logged_as_500() {
    let (events, _guard) = capture();
    let svc = AccessLogLayer::default().layer(service_fn(|_req: Request<()>| async {
        Err::<Response<Full<Bytes>>, _>(std::io::Error::other("boom"))
    }));
    assert!(svc.oneshot(Request::new(())).await.is_err());
    let e = events.one();
    assert_eq!(e.get("status"), Some("500"));
    assert_eq!(e.get("error"), Some("inner service failed"));
}

#[tokio::test]
async fn empty_and_head_bodies_dropped_unread_are_complete() {
    let (events, _guard) = capture();
    let svc = AccessLogLayer::default().layer(service_fn(|req: Request<()>| async move {
        if req.method() == http::Method::HEAD {
            return Ok::<_, Infallible>(Response::new(body(&["x"], Then::End)));
        }
        Ok(Response::new(body(&[], Then::End)))
    }));
    // hyper never polls a body that says it is over; this one logs right away.
    let empty = AccessLogLayer::default().layer(service_fn(|_req: Request<()>| async {
        let mut res = Response::new(Empty::<Bytes>::new());
        *res.status_mut() = StatusCode::NO_CONTENT;
        Ok::<_, Infallible>(res)
    }));
    let res = empty.oneshot(Request::new(())).await.unwrap();
    let e = events.one();
    assert_eq!(e.get("status"), Some("204"));
    assert_eq!(e.get("incomplete"), Some("false"));
    drop(res);
    assert_eq!(events.events().len(), 1);

    // HEAD: hyper drops the body without reading it.
    let res = svc
        .oneshot(Request::head("/").body(()).unwrap())
        .await
        .unwrap();
    drop(res);
    let events = events.events();
    assert_eq!(events.len(), 2);
    assert_eq!(events[1].get("method"), Some("HEAD"));
    assert_eq!(events[1].get("incomplete"), Some("false"));
}

#[tokio::test]
async fn ids_fall_back_to_the_response_headers() {
    let (events, _guard) = capture();
    let svc = AccessLogLayer::default().layer(service_fn(|_req: Request<()>| async {
        let mut res = Response::new(Full::new(Bytes::new()));
        res.headers_mut()
            .insert("x-request-id", "from-inner".parse().unwrap());
        res.headers_mut()
            .insert("x-span-id", "00f067aa0ba902b7".parse().unwrap());
        Ok::<_, Infallible>(res)
    }));
    let res = svc.oneshot(Request::new(())).await.unwrap();
    res.into_body().collect().await.unwrap();
    let e = events.one();
    assert_eq!(e.get("request_id"), Some("from-inner"));
    assert_eq!(e.get("span_id"), Some("00f067aa0ba902b7"));
    assert_eq!(e.get("trace_id"), None);
}

#[tokio::test]
async fn forwarded_headers_are_ignored_without_a_trusted_proxy() {
    let (events, _guard) = capture();
    let handler = service_fn(|_req: Request<()>| async { ok("x") });
    let spoofed = || {
        let mut req = Request::get("/")
            .header("x-forwarded-for", "1.2.3.4")
            .header("x-real-ip", "5.6.7.8")
            .body(())
            .unwrap();
        req.extensions_mut().insert(peer("10.0.0.1:4000"));
        req
    };

    // No trusted proxy: the peer, whatever the headers claim.
    let svc = AccessLogLayer::default().layer(handler);
    svc.clone()
        .oneshot(spoofed())
        .await
        .unwrap()
        .into_body()
        .collect()
        .await
        .unwrap();

    // The peer is a trusted proxy: the rightmost untrusted hop.
    let trusted = AccessLogConfig::default().trusted_proxy("10.0.0.0/8".parse().unwrap());
    let svc = AccessLogLayer::new(trusted.clone()).layer(handler);
    let mut req = Request::get("/")
        .header("x-forwarded-for", "6.6.6.6, 198.51.100.7, 10.0.0.5")
        .body(())
        .unwrap();
    req.extensions_mut().insert(peer("10.0.0.1:4000"));
    svc.clone()
        .oneshot(req)
        .await
        .unwrap()
        .into_body()
        .collect()
        .await
        .unwrap();

    // A trusted-proxy list does not make an untrusted peer's headers true.
    let mut req = spoofed();
    req.extensions_mut().insert(peer("203.0.113.50:1"));
    svc.clone()
        .oneshot(req)
        .await
        .unwrap()
        .into_body()
        .collect()
        .await
        .unwrap();

    // Trusted peer, only X-Real-IP.
    let mut req = Request::get("/")
        .header("x-real-ip", "198.51.100.8")
        .body(())
        .unwrap();
    req.extensions_mut().insert(peer("10.0.0.1:4000"));
    svc.oneshot(req)
        .await
        .unwrap()
        .into_body()
        .collect()
        .await
        .unwrap();

    let ips: Vec<_> = events
        .events()
        .iter()
        .map(|e| e.get("client_ip").unwrap_or_default().to_owned())
        .collect();
    assert_eq!(
        ips,
        ["10.0.0.1", "198.51.100.7", "203.0.113.50", "198.51.100.8"]
    );
}

#[tokio::test]
async fn route_pattern_comes_from_plumego_router_and_unmatched_is_bounded() {
    use plumego_core::{Body, handler_fn};
    let (events, _guard) = capture();
    let mut routes = plumego_router::RouterBuilder::new();
    routes
        .get(
            "/users/:id",
            handler_fn(|_req: Request<Body>| async { "user" }),
        )
        .unwrap()
        .name("user.show")
        .unwrap();
    let svc = AccessLogLayer::default().layer(routes.build());

    let res = svc
        .clone()
        .oneshot(Request::get("/users/42").body(Body::empty()).unwrap())
        .await
        .unwrap();
    res.into_body().collect().await.unwrap();
    let res = svc
        .oneshot(Request::get("/nope/123").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    res.into_body().collect().await.unwrap();

    let events = events.events();
    assert_eq!(events.len(), 2);
    assert_eq!(events[0].get("route"), Some("/users/:id"));
    assert_eq!(events[0].get("route_name"), Some("user.show"));
    assert_eq!(events[0].get("path"), Some("/users/42"));
    assert_eq!(
        events[1].get("route"),
        Some(UNMATCHED_ROUTE),
        "never the raw path"
    );
    assert_eq!(events[1].get("route_name"), None);
    assert_eq!(events[1].get("path"), Some("/nope/123"));
    assert_eq!(events[1].get("status"), Some("404"));
}

#[tokio::test]
async fn logged_headers_are_redacted() {
    let (events, _guard) = capture();
    let config = AccessLogConfig::default()
        .log_header(HeaderName::from_static("authorization"))
        .log_header(HeaderName::from_static("x-api-token"))
        .log_header(HeaderName::from_static("x-internal"))
        .log_header(HeaderName::from_static("x-tenant"))
        .redact("X-Internal");
    let svc = AccessLogLayer::new(config).layer(service_fn(|_req: Request<()>| async { ok("") }));
    let req = Request::get("/")
        .header("authorization", "Bearer abc.def")
        .header("x-api-token", "t0k3n")
        .header("x-internal", "shh")
        .header("x-tenant", "acme")
        .body(())
        .unwrap();
    svc.oneshot(req)
        .await
        .unwrap()
        .into_body()
        .collect()
        .await
        .unwrap();
    let e = events.one();
    let headers: serde_json::Value = serde_json::from_str(e.get("headers").unwrap()).unwrap();
    assert_eq!(
        headers,
        serde_json::json!({
            "authorization": "***",
            "x-api-token": "***",
            "x-internal": "***",
            "x-tenant": "acme",
        })
    );
    let all = format!("{:?}", e.fields);
    for secret in ["abc.def", "t0k3n", "shh"] {
        assert!(!all.contains(secret), "{secret} leaked: {all}");
    }
}

#[tokio::test]
async fn level_is_configurable() {
    let (events, _guard) = capture();
    let svc = AccessLogLayer::new(AccessLogConfig::default().level(Level::WARN))
        .layer(service_fn(|_req: Request<()>| async { ok("x") }));
    svc.oneshot(Request::new(()))
        .await
        .unwrap()
        .into_body()
        .collect()
        .await
        .unwrap();
    assert_eq!(events.one().level, Level::WARN);
}

#[tokio::test]
async fn works_as_an_axum_layer() {
    let (events, _guard) = capture();
    let app = axum::Router::new()
        .route("/hello", axum::routing::get(|| async { "hello axum" }))
        .layer(AccessLogLayer::default());
    let res = app
        .oneshot(
            Request::get("/hello")
                .body(axum::body::Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(events.events().is_empty());
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(bytes, "hello axum");
    let e = events.one();
    assert_eq!(e.get("method"), Some("GET"));
    assert_eq!(e.get("path"), Some("/hello"));
    assert_eq!(e.get("bytes"), Some("10"));
    assert_eq!(e.get("status"), Some("200"));
}
