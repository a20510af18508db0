#![cfg(feature = "idempotency")]
//! The idempotency layer: replay, 422, 409, 400, expiry, key release, and
//! exactly-once execution across two instances sharing Redis
//! (`PLUMEGO_REDIS_URL`, default `redis://127.0.0.1:6379`; an unreachable
//! server fails the test).

mod support;

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use plumego_core::context::{Principal, RequestId, RouteInfo, RouteState};
use plumego_core::store::IdempotencyStore;
use plumego_core::store::memory::{MemoryConfig, MemoryStore};
use plumego_layers::idempotency::{IdempotencyConfig, IdempotencyLayer, RequireIdempotencyKey};
use tokio::sync::Notify;
use tower::{Layer, Service, ServiceExt};

type Req = Request<Full<Bytes>>;

fn memory() -> Arc<dyn IdempotencyStore> {
    Arc::new(MemoryStore::new(MemoryConfig::default()).unwrap())
}

/// A handler answering `201 order <n>` (n counts calls), after `delay`.
#[derive(Clone)]
struct Orders {
    calls: Arc<AtomicUsize>,
    delay: Duration,
    status: Arc<dyn Fn(usize) -> StatusCode + Send + Sync>,
    body_len: usize,
}

impl Orders {
    fn new() -> Self {
        Self {
            calls: Arc::default(),
            delay: Duration::ZERO,
            status: Arc::new(|_| StatusCode::CREATED),
            body_len: 0,
        }
    }

    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

impl Service<Req> for Orders {
    type Response = Response<Full<Bytes>>;
    type Error = Infallible;
    type Future =
        std::pin::Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn poll_ready(
        &mut self,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Infallible>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Req) -> Self::Future {
        let n = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
        let delay = self.delay;
        let status = (self.status)(n);
        let body_len = self.body_len;
        Box::pin(async move {
            let received = req.into_body().collect().await.unwrap().to_bytes();
            tokio::time::sleep(delay).await;
            let mut text = format!("order {n} for {}", String::from_utf8_lossy(&received));
            while text.len() < body_len {
                text.push('.');
            }
            let mut res = Response::new(Full::new(Bytes::from(text)));
            *res.status_mut() = status;
            res.headers_mut()
                .insert("content-type", "text/plain".parse().unwrap());
            res.headers_mut()
                .insert("x-order", n.to_string().parse().unwrap());
            Ok(res)
        })
    }
}

fn post(key: Option<&str>, body: &'static str) -> Req {
    let mut b = Request::post("/orders");
    if let Some(key) = key {
        b = b.header("idempotency-key", key);
    }
    let mut req = b
        .body(Full::new(Bytes::from_static(body.as_bytes())))
        .unwrap();
    req.extensions_mut()
        .insert(RequestId::new("rid-1").unwrap());
    req
}

async fn text<B>(res: Response<B>) -> String
where
    B: http_body::Body,
    B::Error: std::fmt::Debug,
{
    String::from_utf8(res.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap()
}

/// The envelope's error code, after checking the request id was kept.
async fn code<B>(res: Response<B>) -> String
where
    B: http_body::Body,
    B::Error: std::fmt::Debug,
{
    assert_eq!(res.headers()["content-type"], "application/json");
    let json: serde_json::Value = serde_json::from_str(&text(res).await).unwrap();
    assert_eq!(json["request_id"], "rid-1", "{json}");
    json["error"]["code"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_retry_replays_the_recorded_response() {
    let orders = Orders::new();
    let svc = IdempotencyLayer::new(memory(), IdempotencyConfig::default()).layer(orders.clone());
    let first = svc
        .clone()
        .oneshot(post(Some("k-1"), "{\"a\":1}"))
        .await
        .unwrap();
    assert_eq!(first.status(), 201);
    assert!(first.headers().get("idempotent-replayed").is_none());
    assert_eq!(
        text(first).await,
        "order 1 for {\"a\":1}",
        "the handler saw the buffered body"
    );
    for _ in 0..3 {
        let retry = svc
            .clone()
            .oneshot(post(Some("\"k-1\""), "{\"a\":1}"))
            .await
            .unwrap();
        assert_eq!(retry.status(), 201);
        assert_eq!(retry.headers()["idempotent-replayed"], "true");
        assert_eq!(retry.headers()["content-type"], "text/plain");
        assert_eq!(retry.headers()["x-order"], "1");
        assert_eq!(text(retry).await, "order 1 for {\"a\":1}");
    }
    assert_eq!(orders.calls(), 1, "the handler ran once");
    // Another key is another request.
    let other = svc
        .clone()
        .oneshot(post(Some("k-2"), "{\"a\":1}"))
        .await
        .unwrap();
    assert_eq!(text(other).await, "order 2 for {\"a\":1}");
}

#[tokio::test]
async fn the_same_key_with_another_payload_is_422() {
    let orders = Orders::new();
    let svc = IdempotencyLayer::new(memory(), IdempotencyConfig::default()).layer(orders.clone());
    svc.clone().oneshot(post(Some("k"), "one")).await.unwrap();
    let res = svc.clone().oneshot(post(Some("k"), "two")).await.unwrap();
    assert_eq!(res.status(), 422);
    assert_eq!(code(res).await, "IDEMPOTENCY_KEY_REUSED");
    let mut other_path = post(Some("k"), "one");
    *other_path.uri_mut() = "/orders?dry_run=1".parse().unwrap();
    let res = svc.clone().oneshot(other_path).await.unwrap();
    assert_eq!(res.status(), 422, "the query is part of the request");
    let mut other_method = post(Some("k"), "one");
    *other_method.method_mut() = http::Method::PUT;
    assert_eq!(
        svc.clone().oneshot(other_method).await.unwrap().status(),
        422
    );
    assert_eq!(orders.calls(), 1);
}

/// A handler that signals when it starts and waits to be released.
#[derive(Clone)]
struct Gate {
    entered: Arc<Notify>,
    release: Arc<Notify>,
    calls: Arc<AtomicUsize>,
}

impl Gate {
    fn new() -> Self {
        Self {
            entered: Arc::default(),
            release: Arc::default(),
            calls: Arc::default(),
        }
    }
}

impl Service<Req> for Gate {
    type Response = Response<Full<Bytes>>;
    type Error = Infallible;
    type Future =
        std::pin::Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn poll_ready(
        &mut self,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Infallible>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, _req: Req) -> Self::Future {
        let gate = self.clone();
        Box::pin(async move {
            let n = gate.calls.fetch_add(1, Ordering::SeqCst) + 1;
            gate.entered.notify_one();
            gate.release.notified().await;
            let mut res = Response::new(Full::new(Bytes::from(format!("done {n}"))));
            *res.status_mut() = StatusCode::CREATED;
            Ok(res)
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_while_the_first_runs_is_409_then_replays() {
    let gate = Gate::new();
    let svc = IdempotencyLayer::new(memory(), IdempotencyConfig::default()).layer(gate.clone());
    let first = tokio::spawn(svc.clone().oneshot(post(Some("k"), "x")));
    gate.entered.notified().await;

    let busy = svc.clone().oneshot(post(Some("k"), "x")).await.unwrap();
    assert_eq!(busy.status(), 409);
    assert_eq!(busy.headers()["retry-after"], "1");
    assert_eq!(code(busy).await, "IDEMPOTENCY_REQUEST_IN_PROGRESS");
    // A different payload is refused as reuse even while the first runs.
    let reused = svc.clone().oneshot(post(Some("k"), "y")).await.unwrap();
    assert_eq!(reused.status(), 422);

    gate.release.notify_one();
    let first = first.await.unwrap().unwrap();
    assert_eq!(first.status(), 201);
    assert_eq!(text(first).await, "done 1");
    let replay = svc.clone().oneshot(post(Some("k"), "x")).await.unwrap();
    assert_eq!(replay.status(), 201);
    assert_eq!(text(replay).await, "done 1");
    assert_eq!(gate.calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_missing_key_is_400_when_required_and_passes_otherwise() {
    let orders = Orders::new();
    let optional =
        IdempotencyLayer::new(memory(), IdempotencyConfig::default()).layer(orders.clone());
    for _ in 0..2 {
        let res = optional.clone().oneshot(post(None, "x")).await.unwrap();
        assert_eq!(res.status(), 201);
    }
    assert_eq!(orders.calls(), 2, "without a key every request runs");
    // Safe methods are not handled, key or not.
    let mut get = post(Some("k"), "");
    *get.method_mut() = http::Method::GET;
    optional.clone().oneshot(get).await.unwrap();
    let mut get = post(Some("k"), "");
    *get.method_mut() = http::Method::GET;
    optional.clone().oneshot(get).await.unwrap();
    assert_eq!(orders.calls(), 4);

    let required = IdempotencyLayer::new(memory(), IdempotencyConfig::default().require_key(true))
        .layer(orders.clone());
    let res = required.clone().oneshot(post(None, "x")).await.unwrap();
    assert_eq!(res.status(), 400);
    assert_eq!(code(res).await, "IDEMPOTENCY_KEY_MISSING");

    // Route metadata requires it too.
    let mut metadata = http::Extensions::new();
    metadata.insert(RequireIdempotencyKey);
    let route = Arc::new(RouteInfo::new(
        "/orders",
        None,
        Vec::<String>::new(),
        metadata,
    ));
    let mut req = post(None, "x");
    req.extensions_mut().insert(RouteState::new(route));
    let res = optional.clone().oneshot(req).await.unwrap();
    assert_eq!(res.status(), 400);
    assert_eq!(code(res).await, "IDEMPOTENCY_KEY_MISSING");

    // Malformed keys.
    for bad in ["", "\"unterminated", &"k".repeat(256)] {
        let mut req = post(None, "x");
        req.headers_mut()
            .insert("idempotency-key", bad.parse().unwrap());
        let res = optional.clone().oneshot(req).await.unwrap();
        assert_eq!(res.status(), 400, "{bad:?}");
        assert_eq!(code(res).await, "IDEMPOTENCY_KEY_INVALID");
    }
    let mut twice = post(Some("a"), "x");
    twice
        .headers_mut()
        .append("idempotency-key", "b".parse().unwrap());
    let res = optional.clone().oneshot(twice).await.unwrap();
    assert_eq!(res.status(), 400);
    assert_eq!(orders.calls(), 4, "no refused request reached the handler");
}

#[tokio::test]
async fn records_expire_after_the_ttl() {
    let orders = Orders::new();
    let config = IdempotencyConfig::default().ttl(Duration::from_secs(1));
    let svc = IdempotencyLayer::new(memory(), config).layer(orders.clone());
    svc.clone().oneshot(post(Some("k"), "x")).await.unwrap();
    let replay = svc.clone().oneshot(post(Some("k"), "x")).await.unwrap();
    assert_eq!(text(replay).await, "order 1 for x");
    tokio::time::sleep(Duration::from_millis(1300)).await;
    let again = svc.clone().oneshot(post(Some("k"), "y")).await.unwrap();
    assert_eq!(
        again.status(),
        201,
        "an expired key can be used for a new request"
    );
    assert_eq!(text(again).await, "order 2 for y");
    assert_eq!(orders.calls(), 2);
}

#[tokio::test]
async fn server_errors_and_failures_release_the_key() {
    let mut orders = Orders::new();
    orders.status = Arc::new(|n| {
        if n == 1 {
            StatusCode::SERVICE_UNAVAILABLE
        } else {
            StatusCode::CREATED
        }
    });
    let svc = IdempotencyLayer::new(memory(), IdempotencyConfig::default()).layer(orders.clone());
    let first = svc.clone().oneshot(post(Some("k"), "x")).await.unwrap();
    assert_eq!(first.status(), 503);
    let second = svc.clone().oneshot(post(Some("k"), "x")).await.unwrap();
    assert_eq!(
        second.status(),
        201,
        "a 5xx is not replayed: the retry runs"
    );
    let third = svc.clone().oneshot(post(Some("k"), "x")).await.unwrap();
    assert_eq!(text(third).await, "order 2 for x");
    assert_eq!(orders.calls(), 2);

    // Recorded when configured.
    let mut orders = Orders::new();
    orders.status = Arc::new(|_| StatusCode::BAD_GATEWAY);
    let svc = IdempotencyLayer::new(
        memory(),
        IdempotencyConfig::default().store_server_errors(true),
    )
    .layer(orders.clone());
    svc.clone().oneshot(post(Some("k"), "x")).await.unwrap();
    let replay = svc.clone().oneshot(post(Some("k"), "x")).await.unwrap();
    assert_eq!(replay.status(), 502);
    assert_eq!(orders.calls(), 1);

    // An inner `Err` releases the key and passes the error on.
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = calls.clone();
    let failing = tower::service_fn(move |_req: Req| {
        let n = counter.fetch_add(1, Ordering::SeqCst);
        async move {
            if n == 0 {
                Err("backend down")
            } else {
                Ok(Response::new(Full::new(Bytes::from("ok"))))
            }
        }
    });
    let svc = IdempotencyLayer::new(memory(), IdempotencyConfig::default()).layer(failing);
    assert_eq!(
        svc.clone().oneshot(post(Some("k"), "x")).await.unwrap_err(),
        "backend down"
    );
    assert_eq!(
        svc.clone()
            .oneshot(post(Some("k"), "x"))
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_request_releases_the_key() {
    let gate = Gate::new();
    let store = memory();
    let svc =
        IdempotencyLayer::new(store.clone(), IdempotencyConfig::default()).layer(gate.clone());
    let first = tokio::spawn(svc.clone().oneshot(post(Some("k"), "x")));
    gate.entered.notified().await;
    first.abort();
    assert!(first.await.unwrap_err().is_cancelled());
    // The release runs on a spawned task: wait for it, boundedly.
    let mut released = false;
    for _ in 0..100 {
        let busy = svc.clone().oneshot(post(Some("k"), "x"));
        let probe = tokio::time::timeout(Duration::from_millis(20), busy).await;
        match probe {
            Ok(Ok(res)) if res.status() == 409 => {
                tokio::time::sleep(Duration::from_millis(10)).await
            }
            // The handler runs again (and waits at the gate): the key was released.
            Err(_) => {
                released = true;
                break;
            }
            Ok(other) => panic!("unexpected {:?}", other.map(|r| r.status())),
        }
    }
    assert!(
        released,
        "the key stayed claimed after the request was cancelled"
    );
    assert_eq!(gate.calls.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn oversized_bodies() {
    // A response over the cap reaches the caller whole; a retry is told it
    // was processed rather than run again.
    let mut orders = Orders::new();
    orders.body_len = 5000;
    let config = IdempotencyConfig::default()
        .max_response_bytes(1000)
        .max_request_bytes(16);
    let svc = IdempotencyLayer::new(memory(), config).layer(orders.clone());
    let first = svc.clone().oneshot(post(Some("k"), "x")).await.unwrap();
    assert_eq!(first.status(), 201);
    assert_eq!(text(first).await.len(), 5000);
    let retry = svc.clone().oneshot(post(Some("k"), "x")).await.unwrap();
    assert_eq!(retry.status(), 409);
    let json: serde_json::Value = serde_json::from_str(&text(retry).await).unwrap();
    assert_eq!(json["error"]["code"], "IDEMPOTENCY_RESPONSE_NOT_STORED");
    assert_eq!(json["error"]["details"]["original_status"], 201);
    // A request body over the buffering cap is 413.
    let res = svc
        .clone()
        .oneshot(post(Some("big"), "0123456789abcdefXYZ"))
        .await
        .unwrap();
    assert_eq!(res.status(), 413);
    assert_eq!(orders.calls(), 1);
}

#[tokio::test]
async fn keys_are_scoped_to_the_principal() {
    let orders = Orders::new();
    let svc = IdempotencyLayer::new(memory(), IdempotencyConfig::default()).layer(orders.clone());
    let as_user = |subject: &str| {
        let mut req = post(Some("shared-key"), "x");
        req.extensions_mut()
            .insert(Arc::new(Principal::new(subject)));
        req
    };
    let alice = svc.clone().oneshot(as_user("alice")).await.unwrap();
    let bob = svc.clone().oneshot(as_user("bob")).await.unwrap();
    assert_eq!(text(alice).await, "order 1 for x");
    assert_eq!(
        text(bob).await,
        "order 2 for x",
        "bob never sees alice's response"
    );
    let alice_again = svc.clone().oneshot(as_user("alice")).await.unwrap();
    assert_eq!(text(alice_again).await, "order 1 for x");
}

#[tokio::test]
async fn inside_plumegos_router_route_metadata_requires_a_key() {
    use plumego_core::{Body, handler_fn};
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = calls.clone();
    let pay = handler_fn(move |_req: Request<Body>| {
        let n = counter.fetch_add(1, Ordering::SeqCst) + 1;
        async move { Ok::<_, Infallible>(format!("paid {n}")) }
    });
    let mut routes = plumego_router::RouterBuilder::new();
    let layer = IdempotencyLayer::new(memory(), IdempotencyConfig::default());
    routes
        .group("/api", |api| {
            api.layer(layer);
            api.post("/pay", pay.clone())?.meta(RequireIdempotencyKey);
            api.post("/note", pay)?;
            Ok(())
        })
        .unwrap();
    let router = routes.build();
    let req = |path: &str, key: Option<&str>| {
        let mut b = Request::post(path);
        if let Some(key) = key {
            b = b.header("idempotency-key", key);
        }
        b.body(Body::from("{}")).unwrap()
    };
    let res = router.clone().oneshot(req("/api/pay", None)).await.unwrap();
    assert_eq!(res.status(), 400);
    assert_eq!(
        router
            .clone()
            .oneshot(req("/api/note", None))
            .await
            .unwrap()
            .status(),
        200
    );
    let paid = router
        .clone()
        .oneshot(req("/api/pay", Some("p1")))
        .await
        .unwrap();
    assert_eq!(text(paid).await, "paid 2");
    let replay = router
        .clone()
        .oneshot(req("/api/pay", Some("p1")))
        .await
        .unwrap();
    assert_eq!(replay.headers()["idempotent-replayed"], "true");
    assert_eq!(text(replay).await, "paid 2");
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn one_layer_in_axum() {
    use axum::routing::post as axum_post;
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = calls.clone();
    let app = axum::Router::new()
        .route(
            "/orders",
            axum_post(move |body: Bytes| {
                let n = counter.fetch_add(1, Ordering::SeqCst) + 1;
                async move {
                    (
                        StatusCode::CREATED,
                        format!("order {n}: {}", String::from_utf8_lossy(&body)),
                    )
                }
            }),
        )
        .layer(IdempotencyLayer::new(
            memory(),
            IdempotencyConfig::default(),
        ));
    let req = |body: &'static str| {
        Request::post("/orders")
            .header("idempotency-key", "ax-1")
            .body(axum::body::Body::from(body))
            .unwrap()
    };
    let first = app.clone().oneshot(req("{}")).await.unwrap();
    assert_eq!(first.status(), 201);
    assert_eq!(text(first).await, "order 1: {}");
    let replay = app.clone().oneshot(req("{}")).await.unwrap();
    assert_eq!(replay.status(), 201);
    assert_eq!(replay.headers()["idempotent-replayed"], "true");
    assert_eq!(text(replay).await, "order 1: {}");
    let reused = app.clone().oneshot(req("{\"other\":1}")).await.unwrap();
    assert_eq!(reused.status(), 422);
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

mod redis {
    use super::*;

    async fn connect(prefix: &str) -> Arc<dyn IdempotencyStore> {
        Arc::new(support::redis(prefix).await)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn two_instances_sharing_redis_run_the_handler_once() {
        let prefix = support::unique_prefix("idem");
        // Two independent instances: separate connections, layers and
        // handler instances sharing only the call counter and Redis.
        let calls = Arc::new(AtomicUsize::new(0));
        let mut orders_a = Orders::new();
        orders_a.calls = calls.clone();
        orders_a.delay = Duration::from_millis(300);
        let mut orders_b = orders_a.clone();
        orders_b.calls = calls.clone();
        // A short TTL: the records clean themselves up.
        let config = IdempotencyConfig::default().ttl(Duration::from_secs(30));
        let a = IdempotencyLayer::new(connect(&prefix).await, config.clone()).layer(orders_a);
        let b = IdempotencyLayer::new(connect(&prefix).await, config).layer(orders_b);

        for round in 0..3 {
            let key = format!("pay-{round}");
            let requests: Vec<_> = (0..8)
                .map(|i| {
                    let svc = if i % 2 == 0 { a.clone() } else { b.clone() };
                    tokio::spawn(svc.oneshot(post(Some(&key), "{\"amount\":5}")))
                })
                .collect();
            let mut statuses = Vec::new();
            for r in requests {
                statuses.push(r.await.unwrap().unwrap().status());
            }
            assert_eq!(
                calls.load(Ordering::SeqCst),
                round + 1,
                "round {round}: {statuses:?}"
            );
            assert!(
                statuses.iter().all(|s| *s == 201 || *s == 409),
                "{statuses:?}"
            );
            assert!(statuses.contains(&StatusCode::CREATED), "{statuses:?}");
            // After completion both instances replay.
            for svc in [&a, &b] {
                let res = svc
                    .clone()
                    .oneshot(post(Some(&key), "{\"amount\":5}"))
                    .await
                    .unwrap();
                assert_eq!(res.headers()["idempotent-replayed"], "true");
                assert_eq!(
                    text(res).await,
                    format!("order {} for {{\"amount\":5}}", round + 1)
                );
            }
        }
        assert_eq!(calls.load(Ordering::SeqCst), 3);
    }
}
