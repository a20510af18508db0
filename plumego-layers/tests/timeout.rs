#![cfg(feature = "timeout")]

use std::convert::Infallible;
use std::fmt::Debug;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use plumego_core::context::RequestId;
use plumego_core::{Body, handler_fn};
use plumego_layers::timeout::{
    DEFAULT_TIMEOUT, RequestBodyTimeoutLayer, ResponseBodyTimeoutLayer, RouteTimeout,
    TimeoutConfig, TimeoutLayer,
};
use plumego_router::RouterBuilder;
use tower::{Layer, ServiceExt, service_fn};

const GOLDEN_504: &str = "{\"error\":{\"code\":\"TIMEOUT\",\"message\":\"request timed out\",\
\"category\":\"timeout_error\",\"type\":\"gateway_timeout\"},\"request_id\":\"rid-1\"}\n";

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

fn layer(timeout: Duration) -> TimeoutLayer {
    TimeoutLayer::new(TimeoutConfig::new(timeout))
}

fn with_id<B>(mut req: Request<B>) -> Request<B> {
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

/// A handler over Plumego's body, for the router.
fn slow_route(
    delay: Duration,
) -> impl tower::Service<Request<Body>, Response = Response<Body>, Error = Infallible, Future: Send>
+ Clone
+ Send
+ Sync {
    handler_fn(move |_req: Request<Body>| async move {
        tokio::time::sleep(delay).await;
        "done"
    })
}

#[test]
fn default_is_thirty_seconds() {
    assert_eq!(TimeoutConfig::default().timeout, DEFAULT_TIMEOUT);
    assert_eq!(DEFAULT_TIMEOUT, secs(30));
    assert_eq!(
        TimeoutConfig::default().timeout(secs(2)),
        TimeoutConfig::new(secs(2))
    );
}

#[tokio::test(start_paused = true)]
async fn a_slow_handler_gets_the_504_envelope_at_the_deadline() {
    let started = tokio::time::Instant::now();
    let svc = layer(secs(1)).layer(sleeper(secs(10)));
    let res = svc.oneshot(with_id(Request::new(()))).await.unwrap();
    assert_eq!(started.elapsed(), secs(1));
    assert_eq!(res.status(), StatusCode::GATEWAY_TIMEOUT);
    assert_eq!(res.headers()["content-type"], "application/json");
    assert_eq!(body_string(res).await, GOLDEN_504);
}

#[tokio::test(start_paused = true)]
async fn a_fast_handler_passes_through() {
    let svc = layer(secs(1)).layer(sleeper(Duration::from_millis(500)));
    let res = svc.oneshot(Request::new(())).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(body_string(res).await, "done");
}

#[tokio::test(start_paused = true)]
async fn an_answer_ready_at_the_deadline_wins() {
    let svc = layer(secs(1)).layer(sleeper(secs(1)));
    let res = svc.oneshot(Request::new(())).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
}

#[tokio::test(start_paused = true)]
async fn the_handler_is_cancelled_at_the_deadline() {
    struct DropFlag(Arc<AtomicBool>);
    impl Drop for DropFlag {
        fn drop(&mut self) {
            self.0.store(true, Ordering::SeqCst);
        }
    }
    let dropped = Arc::new(AtomicBool::new(false));
    let finished = Arc::new(AtomicBool::new(false));
    let (d, f) = (dropped.clone(), finished.clone());
    let svc = layer(secs(1)).layer(service_fn(move |_req: Request<()>| {
        let guard = DropFlag(d.clone());
        let finished = f.clone();
        async move {
            let _guard = guard;
            tokio::time::sleep(secs(5)).await;
            finished.store(true, Ordering::SeqCst);
            Ok::<_, Infallible>(Response::new(Full::new(Bytes::new())))
        }
    }));
    let res = svc.oneshot(Request::new(())).await.unwrap();
    assert_eq!(res.status(), 504);
    assert!(
        dropped.load(Ordering::SeqCst),
        "the handler future was dropped"
    );
    tokio::time::sleep(secs(10)).await;
    assert!(
        !finished.load(Ordering::SeqCst),
        "the handler never ran past the deadline (Go's would)"
    );
}

#[tokio::test(start_paused = true)]
async fn a_zero_timeout_means_no_deadline() {
    let svc = layer(Duration::ZERO).layer(sleeper(secs(3600)));
    let res = svc.oneshot(Request::new(())).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
}

#[tokio::test(start_paused = true)]
async fn inner_errors_pass_through() {
    let svc = layer(secs(1)).layer(service_fn(|_req: Request<()>| async {
        Err::<Response<Full<Bytes>>, _>("inner failed")
    }));
    match svc.oneshot(Request::new(())).await {
        Err(e) => assert_eq!(e, "inner failed"),
        Ok(res) => panic!("expected the inner error, got {}", res.status()),
    }
}

#[tokio::test(start_paused = true)]
async fn route_metadata_overrides_the_timeout_inside_plumegos_router() {
    let mut routes = RouterBuilder::new();
    routes
        .group("/api", |api| {
            api.layer(layer(secs(1)));
            api.get("/report", slow_route(secs(3)))?
                .meta(RouteTimeout(secs(5)));
            api.get("/stream", slow_route(secs(3600)))?
                .meta(RouteTimeout(Duration::ZERO));
            api.get("/tight", slow_route(Duration::from_millis(300)))?
                .meta(RouteTimeout(Duration::from_millis(200)));
            api.get("/plain", slow_route(secs(3)))?;
            Ok(())
        })
        .unwrap();
    let router = routes.build();
    let get = |path: &str| with_id(Request::get(path).body(Body::empty()).unwrap());

    let res = router.clone().oneshot(get("/api/report")).await.unwrap();
    assert_eq!(res.status(), 200, "the route's longer timeout applies");
    assert_eq!(body_string(res).await, "done");

    let res = router.clone().oneshot(get("/api/stream")).await.unwrap();
    assert_eq!(res.status(), 200, "a zero route timeout opts out");

    let res = router.clone().oneshot(get("/api/tight")).await.unwrap();
    assert_eq!(res.status(), 504, "a shorter route timeout applies too");

    let started = tokio::time::Instant::now();
    let res = router.oneshot(get("/api/plain")).await.unwrap();
    assert_eq!(started.elapsed(), secs(1));
    assert_eq!(
        res.status(),
        504,
        "without metadata the configured timeout applies"
    );
    assert_eq!(body_string(res).await, GOLDEN_504);
}

#[tokio::test(start_paused = true)]
async fn around_the_router_route_metadata_still_applies() {
    let mut routes = RouterBuilder::new();
    routes
        .get("/report", slow_route(secs(3)))
        .unwrap()
        .meta(RouteTimeout(secs(5)));
    routes.get("/other", slow_route(secs(3))).unwrap();
    routes
        .get("/stream", slow_route(secs(3600)))
        .unwrap()
        .meta(RouteTimeout(Duration::ZERO));
    let svc = layer(secs(1)).layer(routes.build());
    // The route's own 5 s lets the 3 s handler finish.
    let req = with_id(Request::get("/report").body(Body::empty()).unwrap());
    let res = svc.clone().oneshot(req).await.unwrap();
    assert_eq!(res.status(), 200);
    // Without metadata the layer's 1 s applies.
    let req = with_id(Request::get("/other").body(Body::empty()).unwrap());
    let res = svc.clone().oneshot(req).await.unwrap();
    assert_eq!(res.status(), 504);
    assert_eq!(body_string(res).await, GOLDEN_504);
    // An unmatched path gets the layer's timeout too (the 404 is immediate).
    let req = with_id(Request::get("/nowhere").body(Body::empty()).unwrap());
    assert_eq!(svc.clone().oneshot(req).await.unwrap().status(), 404);
    // A zero override opts the route out entirely.
    let req = with_id(Request::get("/stream").body(Body::empty()).unwrap());
    let res = svc.oneshot(req).await.unwrap();
    assert_eq!(res.status(), 200);
}

#[tokio::test(start_paused = true)]
async fn works_as_an_axum_layer() {
    use axum::routing::get;

    let app = axum::Router::new()
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(secs(10)).await;
                "late"
            }),
        )
        .route("/fast", get(|| async { "fast" }))
        .layer(layer(secs(1)))
        // The body timeouts are re-exported for the part this layer does not cover.
        .layer(RequestBodyTimeoutLayer::new(secs(5)))
        .layer(ResponseBodyTimeoutLayer::new(secs(5)));

    let slow = with_id(
        Request::get("/slow")
            .body(axum::body::Body::empty())
            .unwrap(),
    );
    let res = app.clone().oneshot(slow).await.unwrap();
    assert_eq!(res.status(), 504);
    assert_eq!(body_string(res).await, GOLDEN_504);

    let fast = Request::get("/fast")
        .body(axum::body::Body::empty())
        .unwrap();
    let res = app.oneshot(fast).await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(body_string(res).await, "fast");
}

/// The timer is created only once the handler is pending: an answer ready on
/// the first poll needs no timer at all, so the layer works even outside a
/// tokio runtime then (creating a `Sleep` there would panic).
#[test]
fn an_answer_ready_at_once_needs_no_timer() {
    let svc = layer(secs(1)).layer(service_fn(|_req: Request<()>| async {
        Ok::<_, Infallible>(Response::new(Full::new(Bytes::from("now"))))
    }));
    let mut fut = std::pin::pin!(svc.oneshot(Request::new(())));
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    let std::task::Poll::Ready(Ok(res)) = fut.as_mut().poll(&mut cx) else {
        panic!("a ready handler answers on the first poll");
    };
    assert_eq!(res.status(), StatusCode::OK);
}

/// The clock starts at the call, not when the timer is created: time the
/// handler spends before it is first pending counts against the deadline.
/// On paused time the answer comes exactly when the handler first yields
/// (60 ms), not 20 ms after the timer was made (80 ms).
#[tokio::test(start_paused = true)]
async fn the_clock_starts_at_the_call() {
    let svc = layer(Duration::from_millis(20)).layer(service_fn(|_req: Request<()>| async {
        // Past the deadline before the first pending poll.
        tokio::time::advance(Duration::from_millis(60)).await;
        tokio::time::sleep(secs(3600)).await;
        Ok::<_, Infallible>(Response::new(Full::new(Bytes::from("late"))))
    }));
    let started = tokio::time::Instant::now();
    let res = svc.oneshot(with_id(Request::new(()))).await.unwrap();
    assert_eq!(res.status(), StatusCode::GATEWAY_TIMEOUT);
    assert_eq!(started.elapsed(), Duration::from_millis(60));
    assert_eq!(body_string(res).await, GOLDEN_504);
}
