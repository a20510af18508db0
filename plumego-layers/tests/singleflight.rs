#![cfg(feature = "singleflight")]
//! Singleflight: identical concurrent requests share one inner call.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures_util::FutureExt;
use futures_util::future::join_all;
use http::{Method, Request, Response, header};
use http_body::{Frame, SizeHint};
use http_body_util::{BodyExt, Full};
use plumego_core::context::RequestId;
use plumego_layers::singleflight::{SingleflightConfig, SingleflightLayer};
use tower::util::BoxCloneSyncService;
use tower::{Layer, ServiceExt, service_fn};

const SLOW: Duration = Duration::from_millis(50);

/// The inner service: counts calls and answers `body-<n>` after [`SLOW`],
/// with `x-call: <n>` and a content length.
fn counting(
    calls: &Arc<AtomicUsize>,
) -> BoxCloneSyncService<Request<()>, Response<Full<Bytes>>, Infallible> {
    let calls = calls.clone();
    BoxCloneSyncService::new(service_fn(move |_req: Request<()>| {
        let n = calls.fetch_add(1, Ordering::SeqCst);
        async move {
            tokio::time::sleep(SLOW).await;
            let body = format!("body-{n}");
            Ok(Response::builder()
                .header("x-call", n.to_string())
                .header(header::CONTENT_LENGTH, body.len())
                .body(Full::new(Bytes::from(body)))
                .unwrap())
        }
    }))
}

fn get(uri: &str) -> Request<()> {
    Request::get(uri).body(()).unwrap()
}

async fn text<B>(res: Response<B>) -> String
where
    B: http_body::Body<Data = Bytes>,
    B::Error: std::fmt::Debug,
{
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    String::from_utf8(bytes.to_vec()).unwrap()
}

#[tokio::test(start_paused = true)]
async fn identical_concurrent_requests_share_one_call_and_one_buffer() {
    let calls = Arc::new(AtomicUsize::new(0));
    let layer = SingleflightLayer::new(SingleflightConfig::default().coalesced_header(true));
    let svc = layer.layer(counting(&calls));

    let responses = join_all((0..5).map(|_| svc.clone().oneshot(get("/report?x=1")))).await;
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert_eq!(layer.in_flight(), 0);

    let mut pointers = Vec::new();
    for (i, res) in responses.into_iter().enumerate() {
        let res = res.unwrap();
        assert_eq!(res.status(), 200);
        assert_eq!(res.headers()["x-call"], "0");
        assert_eq!(res.headers()[header::CONTENT_LENGTH], "6");
        // The first request led; the others were served its response.
        assert_eq!(
            res.headers().contains_key("x-coalesced"),
            i > 0,
            "request {i}"
        );
        let data = res
            .into_body()
            .frame()
            .await
            .unwrap()
            .unwrap()
            .into_data()
            .unwrap();
        assert_eq!(data, "body-0");
        pointers.push(data.as_ptr());
    }
    // One buffer, shared by reference count rather than copied per follower.
    assert!(pointers.windows(2).all(|w| w[0] == w[1]));
}

#[tokio::test(start_paused = true)]
async fn coalesced_header_is_off_by_default() {
    let calls = Arc::new(AtomicUsize::new(0));
    let svc = SingleflightLayer::default().layer(counting(&calls));
    let responses = join_all((0..2).map(|_| svc.clone().oneshot(get("/")))).await;
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    for res in responses {
        assert!(!res.unwrap().headers().contains_key("x-coalesced"));
    }
}

#[tokio::test(start_paused = true)]
async fn sequential_requests_are_not_coalesced() {
    let calls = Arc::new(AtomicUsize::new(0));
    let svc = SingleflightLayer::default().layer(counting(&calls));
    assert_eq!(
        text(svc.clone().oneshot(get("/")).await.unwrap()).await,
        "body-0"
    );
    assert_eq!(text(svc.oneshot(get("/")).await.unwrap()).await, "body-1");
}

#[tokio::test(start_paused = true)]
async fn credentials_partition_the_requests() {
    let calls = Arc::new(AtomicUsize::new(0));
    let svc = SingleflightLayer::default().layer(counting(&calls));
    let with_auth = |token: &str| {
        Request::get("/me")
            .header("authorization", token)
            .body(())
            .unwrap()
    };
    let (a, b) = tokio::join!(
        svc.clone().oneshot(with_auth("Bearer a")),
        svc.clone().oneshot(with_auth("Bearer b"))
    );
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    assert_ne!(text(a.unwrap()).await, text(b.unwrap()).await);
}

#[tokio::test(start_paused = true)]
async fn key_headers_are_configurable() {
    let calls = Arc::new(AtomicUsize::new(0));
    let config =
        SingleflightConfig::default().key_headers([http::HeaderName::from_static("x-tenant")]);
    let svc = SingleflightLayer::new(config).layer(counting(&calls));
    let tenant = |t: &str| Request::get("/").header("x-tenant", t).body(()).unwrap();
    let _ = tokio::join!(
        svc.clone().oneshot(tenant("a")),
        svc.clone().oneshot(tenant("b"))
    );
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

#[tokio::test(start_paused = true)]
async fn post_is_never_coalesced() {
    let calls = Arc::new(AtomicUsize::new(0));
    let svc = SingleflightLayer::default().layer(counting(&calls));
    let post = || Request::post("/orders").body(()).unwrap();
    let responses = join_all((0..3).map(|_| svc.clone().oneshot(post()))).await;
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    assert!(responses.into_iter().all(|r| r.unwrap().status() == 200));
}

#[tokio::test(start_paused = true)]
async fn head_followers_get_the_head_without_a_body() {
    let calls = Arc::new(AtomicUsize::new(0));
    let svc = SingleflightLayer::default().layer(counting(&calls));
    let head = || Request::head("/file").body(()).unwrap();
    let (leader, follower) = tokio::join!(svc.clone().oneshot(head()), svc.clone().oneshot(head()));
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    let follower = follower.unwrap();
    assert_eq!(follower.headers()[header::CONTENT_LENGTH], "6");
    assert_eq!(text(follower).await, "");
    leader.unwrap();
}

#[tokio::test(start_paused = true)]
async fn oversize_response_makes_followers_call_the_inner_service() {
    let calls = Arc::new(AtomicUsize::new(0));
    let layer = SingleflightLayer::new(SingleflightConfig::default().max_response_bytes(5));
    let svc = layer.layer(counting(&calls));
    let responses = join_all((0..3).map(|_| svc.clone().oneshot(get("/big")))).await;
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    let mut bodies = Vec::new();
    for res in responses {
        bodies.push(text(res.unwrap()).await);
    }
    bodies.sort();
    assert_eq!(bodies, ["body-0", "body-1", "body-2"]);
    assert_eq!(layer.in_flight(), 0);
}

/// Yields its chunks after [`SLOW`], announcing `hint` as its size.
struct Chunks {
    chunks: Vec<&'static str>,
    hint: SizeHint,
}

impl http_body::Body for Chunks {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if self.chunks.is_empty() {
            return Poll::Ready(None);
        }
        let chunk = self.chunks.remove(0);
        Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(chunk.as_bytes())))))
    }

    fn size_hint(&self) -> SizeHint {
        self.hint
    }
}

fn chunked(
    calls: &Arc<AtomicUsize>,
    hint: SizeHint,
) -> BoxCloneSyncService<Request<()>, Response<Chunks>, Infallible> {
    let calls = calls.clone();
    let svc = service_fn(move |_req: Request<()>| {
        calls.fetch_add(1, Ordering::SeqCst);
        async move {
            tokio::time::sleep(SLOW).await;
            Ok::<_, Infallible>(Response::new(Chunks {
                chunks: vec!["aa", "bb", "cc"],
                hint,
            }))
        }
    });
    BoxCloneSyncService::new(svc)
}

#[tokio::test(start_paused = true)]
async fn streaming_response_is_passed_through_and_followers_retry() {
    let calls = Arc::new(AtomicUsize::new(0));
    // No upper bound: a stream that may never end within the cap.
    let svc = SingleflightLayer::default().layer(chunked(&calls, SizeHint::new()));
    let responses = join_all((0..3).map(|_| svc.clone().oneshot(get("/events")))).await;
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    for res in responses {
        assert_eq!(text(res.unwrap()).await, "aabbcc");
    }
}

#[tokio::test(start_paused = true)]
async fn body_longer_than_announced_still_reaches_the_leader_in_full() {
    let calls = Arc::new(AtomicUsize::new(0));
    let layer = SingleflightLayer::new(SingleflightConfig::default().max_response_bytes(3));
    // Announces 2 bytes, sends 6: buffering stops past the cap, part way.
    let svc = layer.layer(chunked(&calls, SizeHint::with_exact(2)));
    let responses = join_all((0..3).map(|_| svc.clone().oneshot(get("/liar")))).await;
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    for res in responses {
        let res = res.unwrap();
        assert!(res.headers().get("x-coalesced").is_none());
        assert_eq!(text(res).await, "aabbcc");
    }
    assert_eq!(layer.in_flight(), 0);
}

#[tokio::test(start_paused = true)]
async fn leader_error_makes_followers_retry() {
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = calls.clone();
    let inner = service_fn(move |_req: Request<()>| {
        let n = counter.fetch_add(1, Ordering::SeqCst);
        async move {
            tokio::time::sleep(SLOW).await;
            if n == 0 {
                return Err(std::io::Error::other("upstream down"));
            }
            Ok(Response::new(Full::new(Bytes::from(format!("body-{n}")))))
        }
    });
    let layer = SingleflightLayer::default();
    let svc = layer.layer(inner);
    let mut responses = join_all((0..3).map(|_| svc.clone().oneshot(get("/flaky"))))
        .await
        .into_iter();
    assert!(
        responses.next().unwrap().is_err(),
        "the leader sees its own error"
    );
    for res in responses {
        assert!(text(res.unwrap()).await.starts_with("body-"));
    }
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    assert_eq!(layer.in_flight(), 0);
}

#[tokio::test(start_paused = true)]
async fn leader_panic_makes_followers_retry() {
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = calls.clone();
    let inner = service_fn(move |_req: Request<()>| {
        let n = counter.fetch_add(1, Ordering::SeqCst);
        async move {
            tokio::time::sleep(SLOW).await;
            assert!(n != 0, "leader exploded");
            Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(format!("body-{n}")))))
        }
    });
    let layer = SingleflightLayer::default();
    let svc = layer.layer(inner);
    let leader = tokio::spawn(svc.clone().oneshot(get("/panics")));
    tokio::task::yield_now().await;
    assert_eq!(layer.in_flight(), 1, "the leader is in flight");
    let followers = join_all((0..2).map(|_| svc.clone().oneshot(get("/panics")))).await;
    assert!(leader.await.err().is_some_and(|e| e.is_panic()));
    for res in followers {
        assert!(text(res.unwrap()).await.starts_with("body-"));
    }
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    assert_eq!(layer.in_flight(), 0);
}

#[tokio::test(start_paused = true)]
async fn follower_timeout_is_the_504_envelope() {
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = calls.clone();
    let inner = service_fn(move |_req: Request<()>| {
        counter.fetch_add(1, Ordering::SeqCst);
        async {
            tokio::time::sleep(Duration::from_secs(10)).await;
            Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"late"))))
        }
    });
    let config = SingleflightConfig::default().timeout(Duration::from_secs(1));
    let svc = SingleflightLayer::new(config).layer(inner);
    let mut follower = get("/slow");
    follower
        .extensions_mut()
        .insert(RequestId::new("req-7").unwrap());
    let started = tokio::time::Instant::now();
    let (leader, follower) = tokio::join!(svc.clone().oneshot(get("/slow")), async {
        let res = svc.clone().oneshot(follower).await.unwrap();
        (started.elapsed(), res)
    });
    let (waited, follower) = follower;
    assert_eq!(waited, Duration::from_secs(1));
    assert_eq!(follower.status(), 504);
    assert_eq!(follower.headers()[header::CONTENT_TYPE], "application/json");
    assert_eq!(
        text(follower).await,
        "{\"error\":{\"code\":\"TIMEOUT\",\"message\":\"upstream request timeout\",\
         \"category\":\"timeout_error\",\"type\":\"gateway_timeout\"},\"request_id\":\"req-7\"}\n"
    );
    assert_eq!(text(leader.unwrap()).await, "late");
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[tokio::test(start_paused = true)]
async fn cancelled_leader_leaves_no_entry_and_followers_retry() {
    let calls = Arc::new(AtomicUsize::new(0));
    let layer = SingleflightLayer::default();
    let svc = layer.layer(counting(&calls));

    let mut leader = Box::pin(svc.clone().oneshot(get("/cancel")));
    assert!(leader.as_mut().now_or_never().is_none());
    assert_eq!(layer.in_flight(), 1);
    let mut follower = Box::pin(svc.clone().oneshot(get("/cancel")));
    assert!(follower.as_mut().now_or_never().is_none());
    assert_eq!(calls.load(Ordering::SeqCst), 1);

    drop(leader);
    assert_eq!(layer.in_flight(), 0, "the cancelled leader's entry must go");
    assert_eq!(text(follower.await.unwrap()).await, "body-1");
    assert_eq!(calls.load(Ordering::SeqCst), 2);

    // The key is free again: a new request leads instead of waiting forever.
    assert_eq!(
        text(svc.oneshot(get("/cancel")).await.unwrap()).await,
        "body-2"
    );
    assert_eq!(layer.in_flight(), 0);
}

#[tokio::test(start_paused = true)]
async fn methods_are_configurable() {
    let calls = Arc::new(AtomicUsize::new(0));
    let config = SingleflightConfig::default().methods([Method::HEAD]);
    let svc = SingleflightLayer::new(config).layer(counting(&calls));
    let _ = join_all((0..2).map(|_| svc.clone().oneshot(get("/")))).await;
    assert_eq!(
        calls.load(Ordering::SeqCst),
        2,
        "GET is no longer coalesced"
    );
}

#[tokio::test(start_paused = true)]
async fn works_as_an_axum_layer() {
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = calls.clone();
    let app = axum::Router::new()
        .route(
            "/report",
            axum::routing::get(move || {
                let n = counter.fetch_add(1, Ordering::SeqCst);
                async move {
                    tokio::time::sleep(SLOW).await;
                    format!("report-{n}")
                }
            }),
        )
        .layer(SingleflightLayer::new(
            SingleflightConfig::default().coalesced_header(true),
        ));
    let req = || {
        Request::get("/report")
            .body(axum::body::Body::empty())
            .unwrap()
    };
    let responses = join_all((0..3).map(|_| app.clone().oneshot(req()))).await;
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    let mut coalesced = 0;
    for res in responses {
        let res = res.unwrap();
        coalesced += usize::from(res.headers().contains_key("x-coalesced"));
        assert_eq!(text(res).await, "report-0");
    }
    assert_eq!(coalesced, 2);
}
