#![cfg(feature = "recovery")]

use std::convert::Infallible;
use std::fmt::Debug;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use plumego_core::context::RequestId;
use plumego_layers::recovery::{RecoveryLayer, RecoveryService};
use tower::{Layer, ServiceExt, service_fn};
use tracing::field::{Field, Visit};
use tracing::span;

const GOLDEN_500: &str = "{\"error\":{\"code\":\"INTERNAL_ERROR\",\"message\":\"internal server error\",\
\"category\":\"server_error\",\"type\":\"internal_error\"},\"request_id\":\"rid-1\"}\n";

const SECRET: &str = "secret-token-hunter2";

fn request() -> Request<()> {
    let mut req = Request::new(());
    req.extensions_mut()
        .insert(RequestId::new("rid-1").unwrap());
    req
}

async fn body_string<B>(res: Response<B>) -> String
where
    B: http_body::Body,
    B::Error: Debug,
{
    String::from_utf8(res.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap()
}

fn ok() -> Response<Full<Bytes>> {
    Response::new(Full::new(Bytes::from_static(b"fine")))
}

/// Records every event's fields as `name=value` strings.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<Event>>>);

/// One event's fields as `(name, value)` pairs.
type Event = Vec<(String, String)>;

struct Fields(Vec<(String, String)>);

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn Debug) {
        self.0.push((field.name().to_owned(), format!("{value:?}")));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.push((field.name().to_owned(), value.to_owned()));
    }
}

impl tracing::Subscriber for Capture {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &span::Attributes<'_>) -> span::Id {
        span::Id::from_u64(1)
    }
    fn record(&self, _: &span::Id, _: &span::Record<'_>) {}
    fn record_follows_from(&self, _: &span::Id, _: &span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        let mut fields = Fields(vec![("level".into(), event.metadata().level().to_string())]);
        event.record(&mut fields);
        self.0.lock().unwrap().push(fields.0);
    }
    fn enter(&self, _: &span::Id) {}
    fn exit(&self, _: &span::Id) {}
}

impl Capture {
    fn events(&self) -> Vec<Event> {
        self.0.lock().unwrap().clone()
    }
}

/// Every test that reaches the layer's `panic recovered` event holds a capture,
/// so whichever test registers that callsite first caches an interest of
/// "always" (a test without any subscriber would cache "never" for all).
fn capture_logs() -> (Capture, tracing::subscriber::DefaultGuard) {
    let capture = Capture::default();
    let guard = tracing::subscriber::set_default(capture.clone());
    (capture, guard)
}

fn field<'a>(event: &'a [(String, String)], name: &str) -> Option<&'a str> {
    event
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

#[tokio::test]
async fn panic_in_future_becomes_the_500_envelope() {
    let _log = capture_logs();
    let svc = RecoveryLayer::new().layer(service_fn(|_req: Request<()>| async move {
        if true {
            panic!("{}", SECRET);
        }
        Ok::<_, Infallible>(ok())
    }));
    let res = svc.oneshot(request()).await.unwrap();
    assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(res.headers()["content-type"], "application/json");
    assert_eq!(body_string(res).await, GOLDEN_500);
}

#[tokio::test]
async fn panic_in_call_becomes_the_500_envelope() {
    let _log = capture_logs();
    let svc = RecoveryService::new(service_fn(|_req: Request<()>| {
        if true {
            panic!("{}", SECRET);
        }
        async { Ok::<_, Infallible>(ok()) }
    }));
    let res = svc.oneshot(request()).await.unwrap();
    assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(body_string(res).await, GOLDEN_500);
}

#[tokio::test]
async fn without_request_id_the_envelope_has_none() {
    let _log = capture_logs();
    let svc = RecoveryLayer::new().layer(service_fn(|_req: Request<()>| async move {
        if true {
            panic!("boom");
        }
        Ok::<_, Infallible>(ok())
    }));
    let res = svc.oneshot(Request::new(())).await.unwrap();
    assert_eq!(
        body_string(res).await,
        "{\"error\":{\"code\":\"INTERNAL_ERROR\",\"message\":\"internal server error\",\
         \"category\":\"server_error\",\"type\":\"internal_error\"}}\n"
    );
}

#[tokio::test]
async fn no_panic_passes_through() {
    let svc = RecoveryLayer::new().layer(service_fn(|_req: Request<()>| async move {
        let mut res = ok();
        *res.status_mut() = StatusCode::CREATED;
        res.headers_mut().insert("x-kept", "yes".parse().unwrap());
        Ok::<_, Infallible>(res)
    }));
    let res = svc.oneshot(request()).await.unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    assert_eq!(res.headers()["x-kept"], "yes");
    assert_eq!(body_string(res).await, "fine");
}

#[tokio::test]
async fn inner_errors_are_not_swallowed() {
    let svc = RecoveryLayer::new().layer(service_fn(|_req: Request<()>| async move {
        Err::<Response<Full<Bytes>>, _>("inner failed")
    }));
    match svc.oneshot(request()).await {
        Err(e) => assert_eq!(e, "inner failed"),
        Ok(res) => panic!("expected the inner error, got {}", res.status()),
    }
}

async fn logged_panic_type(panicking: impl Fn() + Clone + Send + 'static) -> Event {
    let (capture, _guard) = capture_logs();
    let svc = RecoveryLayer::new().layer(service_fn(move |_req: Request<()>| {
        let panicking = panicking.clone();
        async move {
            panicking();
            Ok::<_, Infallible>(ok())
        }
    }));
    let res = svc.oneshot(request()).await.unwrap();
    let body = body_string(res).await;
    assert!(
        !body.contains(SECRET),
        "payload leaked into the response: {body}"
    );
    let events = capture.events();
    for event in &events {
        for (name, value) in event {
            assert!(
                !value.contains(SECRET),
                "payload leaked into the log field {name}: {value}"
            );
        }
    }
    let recovered: Vec<_> = events
        .into_iter()
        .filter(|e| field(e, "message") == Some("panic recovered"))
        .collect();
    assert_eq!(recovered.len(), 1, "exactly one event");
    recovered.into_iter().next().unwrap()
}

#[tokio::test]
async fn logs_the_payload_type_and_request_id_never_the_payload() {
    let event = logged_panic_type(|| panic!("{}", SECRET)).await;
    assert_eq!(field(&event, "level"), Some("ERROR"));
    assert_eq!(field(&event, "panic_type"), Some("String"));
    assert_eq!(field(&event, "request_id"), Some("rid-1"));
    assert_eq!(field(&event, "status"), Some("500"));

    let event = logged_panic_type(|| panic!("secret-token-hunter2")).await;
    assert_eq!(field(&event, "panic_type"), Some("&str"));

    let event = logged_panic_type(|| std::panic::panic_any(SECRET.len())).await;
    assert_eq!(field(&event, "panic_type"), Some("unknown"));
}

#[tokio::test]
async fn the_service_is_clone_and_each_clone_recovers() {
    let _log = capture_logs();
    let svc = RecoveryLayer::new().layer(service_fn(|req: Request<()>| async move {
        if req.uri().path() == "/boom" {
            panic!("boom");
        }
        Ok::<_, Infallible>(ok())
    }));
    let boom = Request::get("/boom").body(()).unwrap();
    assert_eq!(svc.clone().oneshot(boom).await.unwrap().status(), 500);
    assert_eq!(svc.oneshot(request()).await.unwrap().status(), 200);
}

#[tokio::test]
async fn works_as_an_axum_layer() {
    let _log = capture_logs();
    use axum::routing::get;

    async fn boom() -> &'static str {
        panic!("{}", SECRET)
    }
    let app = axum::Router::new()
        .route("/boom", get(boom))
        .route("/ok", get(|| async { "ok" }))
        .layer(RecoveryLayer::new());

    let mut req = Request::get("/boom")
        .body(axum::body::Body::empty())
        .unwrap();
    req.extensions_mut()
        .insert(RequestId::new("rid-1").unwrap());
    let res = app.clone().oneshot(req).await.unwrap();
    assert_eq!(res.status(), 500);
    assert_eq!(body_string(res).await, GOLDEN_500);

    let res = app
        .oneshot(Request::get("/ok").body(axum::body::Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(body_string(res).await, "ok");
}
