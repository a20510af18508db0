#![cfg(feature = "concurrency-limit")]

use std::convert::Infallible;
use std::fmt::Debug;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::FutureExt;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use plumego_core::context::RequestId;
use plumego_layers::concurrency_limit::{
    ConcurrencyLimitConfig, ConcurrencyLimitLayer, DEFAULT_QUEUE_TIMEOUT, InvalidConcurrencyLimit,
};
use tokio::time::Instant;
use tower::{Layer, Service, ServiceExt, service_fn};

const GOLDEN_BUSY: &str = "{\"error\":{\"code\":\"server_busy\",\"message\":\"server is throttling concurrent requests\",\
\"category\":\"server_error\",\"type\":\"service_unavailable\"},\"request_id\":\"rid-1\"}\n";

fn golden_queue_timeout(occupancy: usize, capacity: usize) -> String {
    format!(
        "{{\"error\":{{\"code\":\"server_queue_timeout\",\"message\":\"request timed out waiting for an available worker\",\
         \"category\":\"server_error\",\"type\":\"service_unavailable\",\
         \"details\":{{\"queue_capacity\":{capacity},\"queue_occupancy\":{occupancy}}}}},\"request_id\":\"rid-1\"}}\n"
    )
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn req() -> Request<()> {
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

fn config(max: usize, queue: usize) -> ConcurrencyLimitConfig {
    ConcurrencyLimitConfig::new(max)
        .unwrap()
        .with_queue_depth(queue)
}

/// A handler that answers "done" after `delay`.
fn sleeper(
    delay: Duration,
) -> impl tower::Service<
    Request<()>,
    Response = Response<Full<Bytes>>,
    Error = Infallible,
    Future = impl Future<Output = Result<Response<Full<Bytes>>, Infallible>>,
> + Clone {
    service_fn(move |_req: Request<()>| async move {
        tokio::time::sleep(delay).await;
        Ok::<_, Infallible>(Response::new(Full::new(Bytes::from("done"))))
    })
}

#[test]
fn config_validation_and_defaults() {
    assert_eq!(ConcurrencyLimitConfig::new(0), Err(InvalidConcurrencyLimit));
    assert_eq!(
        ConcurrencyLimitConfig::new(usize::MAX),
        Err(InvalidConcurrencyLimit)
    );
    let c = ConcurrencyLimitConfig::new(8).unwrap();
    assert_eq!((c.max_concurrent(), c.queue_depth()), (8, 8));
    assert_eq!(c.queue_timeout(), DEFAULT_QUEUE_TIMEOUT);
    assert_eq!(DEFAULT_QUEUE_TIMEOUT, ms(100));
    assert_eq!(c.load_shed().queue_depth(), 0);
    assert_eq!(c.with_queue_timeout(ms(5)).queue_timeout(), ms(5));
    // Workers plus queue must fit in one semaphore: the depth is capped, not a panic.
    assert!(c.with_queue_depth(usize::MAX).queue_depth() < usize::MAX);
}

#[tokio::test(start_paused = true)]
async fn a_full_queue_is_refused_at_once_with_server_busy() {
    let mut svc = ConcurrencyLimitLayer::new(config(1, 1)).layer(sleeper(ms(1000)));
    let running = svc.ready().await.unwrap().call(req());
    let queued = svc.ready().await.unwrap().call(req());
    let refused = svc.ready().await.unwrap().call(req());
    let started = Instant::now();
    let res = refused.await.unwrap();
    assert_eq!(started.elapsed(), Duration::ZERO);
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(res.headers()["retry-after"], "1");
    assert_eq!(res.headers()["content-type"], "application/json");
    assert_eq!(body_string(res).await, GOLDEN_BUSY);
    drop((running, queued));
}

#[tokio::test(start_paused = true)]
async fn a_queued_request_runs_when_a_worker_frees() {
    let mut svc = ConcurrencyLimitLayer::new(config(1, 1)).layer(sleeper(ms(60)));
    let first = svc.ready().await.unwrap().call(req());
    let second = svc.ready().await.unwrap().call(req());
    let started = Instant::now();
    let (a, b) = tokio::join!(first, second);
    assert_eq!(a.unwrap().status(), 200);
    assert_eq!(b.unwrap().status(), 200, "waited 60ms of its 100ms");
    assert_eq!(started.elapsed(), ms(120), "one after the other");
}

#[tokio::test(start_paused = true)]
async fn waiting_too_long_gets_server_queue_timeout() {
    let mut svc = ConcurrencyLimitLayer::new(config(1, 1)).layer(sleeper(ms(1000)));
    let running = svc.ready().await.unwrap().call(req());
    let queued = svc.ready().await.unwrap().call(req());
    let started = Instant::now();
    let res = queued.await.unwrap();
    assert_eq!(started.elapsed(), ms(100));
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(res.headers()["retry-after"], "1");
    assert_eq!(body_string(res).await, golden_queue_timeout(1, 1));
    drop(running);
}

#[tokio::test(start_paused = true)]
async fn queue_occupancy_counts_every_waiter() {
    let mut svc = ConcurrencyLimitLayer::new(config(1, 3)).layer(sleeper(ms(1000)));
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(svc.ready().await.unwrap().call(req()));
    }
    let res = svc.ready().await.unwrap().call(req()).await.unwrap();
    assert_eq!(body_string(res).await, golden_queue_timeout(3, 3));
    drop(held);
}

#[tokio::test(start_paused = true)]
async fn load_shedding_refuses_without_waiting() {
    let config = ConcurrencyLimitConfig::new(1).unwrap().load_shed();
    let mut svc = ConcurrencyLimitLayer::new(config).layer(sleeper(ms(1000)));
    let running = svc.ready().await.unwrap().call(req());
    let started = Instant::now();
    let res = svc.ready().await.unwrap().call(req()).await.unwrap();
    assert_eq!(started.elapsed(), Duration::ZERO);
    assert_eq!(res.status(), 503);
    assert_eq!(body_string(res).await, GOLDEN_BUSY);
    assert_eq!(running.await.unwrap().status(), 200);
}

#[tokio::test(start_paused = true)]
async fn a_dropped_request_frees_its_slots() {
    let mut svc = ConcurrencyLimitLayer::new(config(1, 1)).layer(sleeper(ms(10)));
    // A client gone while running frees the worker.
    let running = svc.ready().await.unwrap().call(req());
    drop(running);
    // A client gone while queued frees its queue place.
    let running = svc.ready().await.unwrap().call(req());
    let queued = svc.ready().await.unwrap().call(req());
    drop(queued);
    let queued = svc.ready().await.unwrap().call(req());
    let (a, b) = tokio::join!(running, queued);
    assert_eq!(
        (a.unwrap().status(), b.unwrap().status()),
        (StatusCode::OK, StatusCode::OK)
    );
}

#[tokio::test(start_paused = true)]
async fn slots_are_released_when_the_head_is_ready_not_when_the_body_ends() {
    let config = ConcurrencyLimitConfig::new(1).unwrap().load_shed();
    let mut svc = ConcurrencyLimitLayer::new(config).layer(sleeper(ms(10)));
    let mut first = Box::pin(svc.ready().await.unwrap().call(req()));
    let res = first.as_mut().await.unwrap();
    // The future is still alive and the body unread: the worker is free anyway.
    let second = svc.ready().await.unwrap().call(req()).await.unwrap();
    assert_eq!(second.status(), 200);
    assert_eq!(body_string(res).await, "done");
}

#[tokio::test(start_paused = true)]
async fn poll_ready_never_waits_for_a_slot() {
    let config = ConcurrencyLimitConfig::new(1).unwrap().load_shed();
    let mut svc = ConcurrencyLimitLayer::new(config).layer(sleeper(ms(1000)));
    let running = svc.ready().await.unwrap().call(req());
    assert!(
        svc.ready().now_or_never().is_some(),
        "ready although every worker is busy"
    );
    drop(running);
}

#[tokio::test(start_paused = true)]
async fn every_service_of_one_layer_shares_the_limit() {
    let layer = ConcurrencyLimitLayer::new(ConcurrencyLimitConfig::new(1).unwrap().load_shed());
    let mut a = layer.layer(sleeper(ms(1000)));
    let mut b = layer.layer(sleeper(ms(1000)));
    let running = a.ready().await.unwrap().call(req());
    let res = b.ready().await.unwrap().call(req()).await.unwrap();
    assert_eq!(res.status(), 503);
    drop(running);
}

#[tokio::test(start_paused = true)]
async fn works_as_an_axum_layer() {
    use axum::routing::get;
    use tokio::sync::Notify;

    let started = Arc::new(Notify::new());
    let signal = started.clone();
    let app = axum::Router::new()
        .route(
            "/work",
            get(move || {
                let signal = signal.clone();
                async move {
                    signal.notify_one();
                    tokio::time::sleep(ms(1000)).await;
                    "worked"
                }
            }),
        )
        .layer(ConcurrencyLimitLayer::new(
            ConcurrencyLimitConfig::new(1).unwrap().load_shed(),
        ));

    let get_work = || {
        let mut req = Request::get("/work")
            .body(axum::body::Body::empty())
            .unwrap();
        req.extensions_mut()
            .insert(RequestId::new("rid-1").unwrap());
        req
    };
    let first = tokio::spawn(app.clone().oneshot(get_work()));
    started.notified().await;
    let res = app.clone().oneshot(get_work()).await.unwrap();
    assert_eq!(res.status(), 503);
    assert_eq!(res.headers()["retry-after"], "1");
    assert_eq!(body_string(res).await, GOLDEN_BUSY);

    let res = first.await.unwrap().unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(body_string(res).await, "worked");
    let res = app.oneshot(get_work()).await.unwrap();
    assert_eq!(res.status(), 200, "the worker is free again");
}
