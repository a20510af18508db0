#![cfg(feature = "body-limit")]

use std::convert::Infallible;
use std::fmt::Debug;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body::{Body as _, Frame};
use http_body_util::{BodyExt, Full, StreamBody};
use plumego_core::context::RequestId;
use plumego_layers::body_limit::{
    BodyLimitConfig, BodyLimitLayer, BodyTooLarge, DEFAULT_MAX_BYTES, InvalidBodyLimit, Limited,
};
use tower::{Layer, ServiceExt, service_fn};

type Chunked =
    StreamBody<futures_util::stream::Iter<std::vec::IntoIter<Result<Frame<Bytes>, Infallible>>>>;

/// A body without a length, delivered in these chunks.
fn chunked(chunks: &[&'static str]) -> Chunked {
    let frames: Vec<_> = chunks
        .iter()
        .map(|c| Ok(Frame::data(Bytes::from_static(c.as_bytes()))))
        .collect();
    StreamBody::new(futures_util::stream::iter(frames))
}

fn with_id<B>(mut req: Request<B>) -> Request<B> {
    req.extensions_mut()
        .insert(RequestId::new("rid-1").unwrap());
    req
}

fn layer(max: u64) -> BodyLimitLayer {
    BodyLimitLayer::new(BodyLimitConfig::new(max).unwrap())
}

async fn body_string<B>(res: Response<B>) -> String
where
    B: http_body::Body,
    B::Error: Debug,
{
    String::from_utf8(res.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap()
}

/// Checks the envelope byte for byte; `at` is the only value that varies, so
/// it is checked for shape and spliced into the golden bytes.
fn assert_golden_413(body: &str, max: u64, seen: u64) {
    let json: serde_json::Value = serde_json::from_str(body).unwrap();
    let at = json["error"]["details"]["at"].as_str().unwrap();
    assert!(
        at.ends_with('Z') && at.as_bytes()[10] == b'T' && at.len() >= 20,
        "UTC RFC 3339: {at}"
    );
    let golden = format!(
        "{{\"error\":{{\"code\":\"REQUEST_BODY_TOO_LARGE\",\"message\":\"request body exceeds configured limit\",\
         \"category\":\"client_error\",\"type\":\"payload_too_large\",\
         \"details\":{{\"at\":\"{at}\",\"max_bytes\":{max},\"seen_bytes\":{seen}}}}},\"request_id\":\"rid-1\"}}\n"
    );
    assert_eq!(body, golden);
}

/// A handler that reads the whole body and reports what it saw.
fn reading_handler(
    calls: Arc<AtomicUsize>,
    seen_error: Arc<Mutex<Option<BodyTooLarge>>>,
) -> impl tower::Service<
    Request<Limited<Chunked>>,
    Response = Response<Full<Bytes>>,
    Error = Infallible,
    Future = impl Future<Output = Result<Response<Full<Bytes>>, Infallible>>,
> + Clone {
    service_fn(move |req: Request<Limited<Chunked>>| {
        let calls = calls.clone();
        let seen_error = seen_error.clone();
        async move {
            calls.fetch_add(1, Ordering::SeqCst);
            let mut body = req.into_body();
            let mut got = Vec::new();
            while let Some(frame) = body.frame().await {
                match frame {
                    Ok(frame) => got.extend_from_slice(&frame.into_data().unwrap()),
                    Err(e) => {
                        *seen_error.lock().unwrap() = e.downcast_ref::<BodyTooLarge>().copied();
                        // The error repeats: the body never resumes.
                        let again = body.frame().await.unwrap().unwrap_err();
                        assert!(again.is::<BodyTooLarge>());
                        // Ignore the error and answer 200: the layer must not let it through.
                        return Ok(Response::new(Full::new(Bytes::from(
                            "handler ignored the error",
                        ))));
                    }
                }
            }
            Ok(Response::new(Full::new(Bytes::from(got))))
        }
    })
}

#[test]
fn config_refuses_zero_and_defaults_to_one_mib() {
    assert_eq!(BodyLimitConfig::new(0), Err(InvalidBodyLimit));
    assert_eq!(BodyLimitConfig::default().max_bytes(), DEFAULT_MAX_BYTES);
    assert_eq!(DEFAULT_MAX_BYTES, 1 << 20);
    assert_eq!(BodyLimitConfig::new(7).unwrap().max_bytes(), 7);
}

#[tokio::test]
async fn declared_length_over_the_limit_is_refused_before_the_handler() {
    let calls = Arc::new(AtomicUsize::new(0));
    let svc = layer(8).layer(reading_handler(calls.clone(), Default::default()));
    let req = Request::post("/")
        .header("content-length", "1000")
        .body(chunked(&["x"]))
        .unwrap();
    let res = svc.oneshot(with_id(req)).await.unwrap();
    assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(res.headers()["content-type"], "application/json");
    assert_golden_413(&body_string(res).await, 8, 1000);
    assert_eq!(calls.load(Ordering::SeqCst), 0, "the handler never ran");
}

#[tokio::test]
async fn exactly_the_limit_is_allowed() {
    let svc = layer(8).layer(service_fn(|req: Request<Limited<Chunked>>| async move {
        // Nothing past the limit can be read successfully, so the hint says so.
        assert_eq!(req.body().size_hint().upper(), Some(8));
        let bytes = req.into_body().collect().await.unwrap().to_bytes();
        Ok::<_, Infallible>(Response::new(Full::new(bytes)))
    }));
    let req = Request::post("/")
        .header("content-length", "8")
        .body(chunked(&["1234", "5678"]))
        .unwrap();
    let res = svc.oneshot(req).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(body_string(res).await, "12345678");
}

#[tokio::test]
async fn one_byte_over_while_streaming_fails_the_body_and_answers_413() {
    let calls = Arc::new(AtomicUsize::new(0));
    let seen = Arc::new(Mutex::new(None));
    let svc = layer(8).layer(reading_handler(calls.clone(), seen.clone()));
    let req = Request::post("/")
        .body(chunked(&["1234", "5678", "9"]))
        .unwrap();
    let res = svc.oneshot(with_id(req)).await.unwrap();
    assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_golden_413(&body_string(res).await, 8, 9);
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    let err = seen.lock().unwrap().expect("the handler saw BodyTooLarge");
    assert_eq!((err.max_bytes(), err.seen_bytes()), (8, 9));
    assert_eq!(err.to_string(), "request body too large");
}

#[tokio::test]
async fn seen_bytes_counts_the_whole_frame_that_crossed_the_limit() {
    let svc = layer(8).layer(reading_handler(Default::default(), Default::default()));
    let req = Request::post("/")
        .body(chunked(&["1234", "5678901234"]))
        .unwrap();
    let res = svc.oneshot(with_id(req)).await.unwrap();
    assert_golden_413(&body_string(res).await, 8, 14);
}

#[tokio::test]
async fn a_declared_length_that_lies_is_caught_while_streaming() {
    let svc = layer(8).layer(reading_handler(Default::default(), Default::default()));
    let req = Request::post("/")
        .header("content-length", "2")
        .body(chunked(&["123456789"]))
        .unwrap();
    let res = svc.oneshot(with_id(req)).await.unwrap();
    assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_golden_413(&body_string(res).await, 8, 9);
}

#[tokio::test]
async fn an_unread_oversized_body_does_not_change_the_response() {
    let svc = layer(8).layer(service_fn(|_req: Request<Limited<Chunked>>| async move {
        Ok::<_, Infallible>(Response::new(Full::new(Bytes::from("not read"))))
    }));
    let req = Request::post("/").body(chunked(&["123456789012"])).unwrap();
    let res = svc.oneshot(req).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(body_string(res).await, "not read");
}

#[tokio::test]
async fn a_trip_after_the_response_head_fails_the_body_not_the_status() {
    // An echo handler: the head leaves before the request body is read.
    let svc = layer(8).layer(service_fn(|req: Request<Limited<Chunked>>| async move {
        Ok::<_, Infallible>(Response::new(req.into_body()))
    }));
    let req = Request::post("/")
        .body(chunked(&["1234", "56789"]))
        .unwrap();
    let res = svc.oneshot(req).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let err = res.into_body().collect().await.map(|_| ()).unwrap_err();
    assert!(err.is::<BodyTooLarge>());
}

#[tokio::test]
async fn works_as_an_axum_layer() {
    use axum::routing::post;

    let app = axum::Router::new()
        .route("/echo", post(|body: Bytes| async move { body }))
        .layer(layer(8));

    let small = Request::post("/echo")
        .body(axum::body::Body::from("hello"))
        .unwrap();
    let res = app.clone().oneshot(small).await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(body_string(res).await, "hello");

    // Chunked: axum's extractor fails on the body error (a 400 of its own),
    // and the layer replaces that answer with the 413 envelope.
    let big = Request::post("/echo")
        .body(axum::body::Body::new(chunked(&["12345", "67890"])))
        .unwrap();
    let res = app.clone().oneshot(with_id(big)).await.unwrap();
    assert_eq!(res.status(), 413);
    assert_golden_413(&body_string(res).await, 8, 10);

    let declared = Request::post("/echo")
        .header("content-length", "4096")
        .body(axum::body::Body::from("x"))
        .unwrap();
    let res = app.oneshot(with_id(declared)).await.unwrap();
    assert_eq!(res.status(), 413);
    assert_golden_413(&body_string(res).await, 8, 4096);
}
