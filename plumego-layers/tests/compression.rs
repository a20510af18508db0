#![cfg(feature = "compression")]

use std::convert::Infallible;
use std::io::Read;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body::Frame;
use http_body_util::{BodyExt, Full, StreamBody};
use plumego_layers::compression::{
    CompressionConfig, PlumegoPredicate, Predicate, compression_layer,
};
use tower::{Layer, ServiceExt};

const TEXT: &str = "plumego compresses text responses; ";

fn gunzip(bytes: &[u8]) -> String {
    let mut out = String::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_string(&mut out)
        .unwrap();
    out
}

fn response(status: u16, headers: &[(&str, &str)], body: Bytes) -> Response<Full<Bytes>> {
    let mut b = Response::builder().status(status);
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    b.body(Full::new(body)).unwrap()
}

/// Runs one response through the layer for a client accepting `accept`.
async fn through(
    config: CompressionConfig,
    accept: Option<&str>,
    res: Response<Full<Bytes>>,
) -> (http::response::Parts, Bytes) {
    let res = std::sync::Mutex::new(Some(res));
    let svc = compression_layer(config).layer(tower::service_fn(move |_req: Request<()>| {
        let res = res.lock().unwrap().take().unwrap();
        async move { Ok::<_, Infallible>(res) }
    }));
    let mut req = Request::get("/");
    if let Some(a) = accept {
        req = req.header("accept-encoding", a);
    }
    let res = svc.oneshot(req.body(()).unwrap()).await.unwrap();
    let (parts, body) = res.into_parts();
    (parts, body.collect().await.unwrap().to_bytes())
}

fn json(n: usize) -> Response<Full<Bytes>> {
    let body = Bytes::from(TEXT.repeat(n));
    let len = body.len().to_string();
    response(
        200,
        &[
            ("content-type", "application/json"),
            ("content-length", &len),
        ],
        body,
    )
}

#[tokio::test]
async fn gzip_compresses_and_decodes_back_with_vary() {
    let (parts, body) = through(CompressionConfig::default(), Some("gzip"), json(50)).await;
    assert_eq!(parts.headers["content-encoding"], "gzip");
    assert_eq!(parts.headers["vary"], "accept-encoding");
    assert!(!parts.headers.contains_key("content-length"));
    assert!(body.len() < TEXT.len() * 50);
    assert_eq!(gunzip(&body), TEXT.repeat(50));
}

#[tokio::test]
async fn br_and_zstd_are_chosen_by_accept_encoding() {
    let (parts, _) = through(CompressionConfig::default(), Some("br"), json(50)).await;
    assert_eq!(parts.headers["content-encoding"], "br");
    let (parts, _) = through(CompressionConfig::default(), Some("zstd"), json(50)).await;
    assert_eq!(parts.headers["content-encoding"], "zstd");
    let (parts, _) = through(
        CompressionConfig::default(),
        Some("br;q=0, gzip;q=0.5"),
        json(50),
    )
    .await;
    assert_eq!(parts.headers["content-encoding"], "gzip");
    // deflate is not offered.
    let (parts, body) = through(CompressionConfig::default(), Some("deflate"), json(50)).await;
    assert!(!parts.headers.contains_key("content-encoding"));
    assert_eq!(body, TEXT.repeat(50));
}

#[tokio::test]
async fn disabled_encodings_are_not_offered() {
    let config = CompressionConfig::default().gzip(false);
    let (parts, _) = through(config, Some("gzip"), json(50)).await;
    assert!(!parts.headers.contains_key("content-encoding"));
    let config = CompressionConfig::default().br(false).zstd(false);
    let (parts, _) = through(config, Some("br, zstd, gzip;q=0.1"), json(50)).await;
    assert_eq!(parts.headers["content-encoding"], "gzip");
}

#[tokio::test]
async fn identity_clients_still_get_vary() {
    let (parts, body) = through(CompressionConfig::default(), None, json(50)).await;
    assert!(!parts.headers.contains_key("content-encoding"));
    assert_eq!(parts.headers["vary"], "accept-encoding");
    assert_eq!(body, TEXT.repeat(50));
}

#[tokio::test]
async fn existing_vary_is_deduplicated() {
    let body = Bytes::from(TEXT.repeat(10));
    let res = response(
        200,
        &[
            ("content-type", "text/plain"),
            ("vary", "Origin, Accept-Encoding"),
        ],
        body,
    );
    let (parts, _) = through(CompressionConfig::default(), Some("gzip"), res).await;
    assert_eq!(parts.headers["content-encoding"], "gzip");
    let vary: Vec<_> = parts.headers.get_all("vary").iter().collect();
    assert_eq!(vary, ["Origin, Accept-Encoding"]);
}

/// Asserts the response passes untouched: no encoding, no Vary, same bytes.
async fn assert_skipped(res: Response<Full<Bytes>>) {
    let expected = res.body().clone().collect().await.unwrap().to_bytes();
    let encoding = res.headers().get("content-encoding").cloned();
    let (parts, body) = through(CompressionConfig::default(), Some("gzip, br, zstd"), res).await;
    assert_eq!(
        parts.headers.get("content-encoding"),
        encoding.as_ref(),
        "{parts:?}"
    );
    assert!(!parts.headers.contains_key("vary"), "{parts:?}");
    assert_eq!(body, expected);
}

#[tokio::test]
async fn errors_are_not_compressed() {
    for status in [400, 404, 500, 503] {
        assert_skipped(response(
            status,
            &[("content-type", "application/json")],
            Bytes::from(TEXT.repeat(10)),
        ))
        .await;
    }
}

#[tokio::test]
async fn encoded_responses_are_not_recompressed() {
    let res = response(
        200,
        &[("content-type", "text/plain"), ("content-encoding", "br")],
        Bytes::from(TEXT.repeat(10)),
    );
    assert_skipped(res).await;
}

#[tokio::test]
async fn binary_and_stream_types_are_skipped() {
    for ct in [
        "image/png",
        "IMAGE/svg+xml",
        "audio/mpeg",
        "video/mp4",
        "application/zip",
        "application/gzip",
        "application/pdf",
        "application/octet-stream",
        "application/grpc",
        "text/event-stream",
        "application/x-ndjson-stream",
        "application/websocket",
    ] {
        assert_skipped(response(
            200,
            &[("content-type", ct)],
            Bytes::from(TEXT.repeat(10)),
        ))
        .await;
    }
}

#[tokio::test]
async fn responses_without_content_type_are_skipped() {
    assert_skipped(response(200, &[], Bytes::from(TEXT.repeat(10)))).await;
    assert_skipped(response(
        200,
        &[("content-type", " ")],
        Bytes::from(TEXT.repeat(10)),
    ))
    .await;
}

#[tokio::test]
async fn upgrades_and_bodyless_statuses_are_skipped() {
    let text = [("content-type", "text/plain")];
    assert_skipped(response(101, &text, Bytes::new())).await;
    assert_skipped(response(204, &text, Bytes::new())).await;
    assert_skipped(response(304, &text, Bytes::new())).await;
    assert_skipped(response(
        200,
        &[
            ("content-type", "text/plain"),
            ("connection", "keep-alive, Upgrade"),
        ],
        Bytes::from(TEXT.repeat(10)),
    ))
    .await;
    assert_skipped(response(
        200,
        &[("content-type", "text/plain"), ("upgrade", "websocket")],
        Bytes::from(TEXT.repeat(10)),
    ))
    .await;
}

#[tokio::test]
async fn minimum_size_defaults_to_32_bytes() {
    let small = || {
        response(
            200,
            &[("content-type", "text/plain")],
            Bytes::from_static(b"0123456789"),
        )
    };
    assert_skipped(small()).await;
    let at_min = response(
        200,
        &[("content-type", "text/plain")],
        Bytes::from("x".repeat(32)),
    );
    let (parts, _) = through(CompressionConfig::default(), Some("gzip"), at_min).await;
    assert_eq!(parts.headers["content-encoding"], "gzip");

    // Go's behaviour: no minimum, but empty bodies are still never encoded.
    let (parts, body) = through(
        CompressionConfig::default().min_size(0),
        Some("gzip"),
        small(),
    )
    .await;
    assert_eq!(parts.headers["content-encoding"], "gzip");
    assert_eq!(gunzip(&body), "0123456789");
    let empty = response(200, &[("content-type", "text/plain")], Bytes::new());
    let (parts, body) = through(
        CompressionConfig::default().min_size(0),
        Some("gzip"),
        empty,
    )
    .await;
    assert!(!parts.headers.contains_key("content-encoding"));
    assert!(body.is_empty());
}

#[test]
fn predicate_uses_content_length_when_the_size_hint_is_unknown() {
    let stream = |len: &str| {
        let body = StreamBody::new(futures_util::stream::empty::<
            Result<Frame<Bytes>, Infallible>,
        >());
        Response::builder()
            .header("content-type", "text/plain")
            .header("content-length", len)
            .body(body)
            .unwrap()
    };
    assert!(!PlumegoPredicate::new(32).should_compress(&stream("10")));
    assert!(PlumegoPredicate::new(32).should_compress(&stream("100")));
}

#[tokio::test]
async fn streaming_bodies_stay_streaming_and_decode_back() {
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(4);
    let frames = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv()
            .await
            .map(|b| (Ok::<_, Infallible>(Frame::data(b)), rx))
    });
    // tower-http polls the body again after its end (for trailers).
    let frames = futures_util::StreamExt::fuse(frames);
    let body = std::sync::Mutex::new(Some(StreamBody::new(frames)));
    let svc = compression_layer(CompressionConfig::default()).layer(tower::service_fn(
        move |_req: Request<()>| {
            let body = body.lock().unwrap().take().unwrap();
            async move {
                let mut res = Response::new(body);
                res.headers_mut()
                    .insert("content-type", "text/plain".parse().unwrap());
                Ok::<_, Infallible>(res)
            }
        },
    ));
    let req = Request::get("/")
        .header("accept-encoding", "gzip")
        .body(())
        .unwrap();
    // The head arrives while the body is still open: nothing waits for its end.
    let res = svc.oneshot(req).await.unwrap();
    assert_eq!(res.headers()["content-encoding"], "gzip");

    let producer = tokio::spawn(async move {
        for i in 0..200 {
            tx.send(Bytes::from(format!("chunk {i}: {TEXT}\n")))
                .await
                .unwrap();
        }
    });
    let mut body = std::pin::pin!(res.into_body());
    let mut compressed = Vec::new();
    let mut frames = 0;
    while let Some(frame) = body.as_mut().frame().await {
        compressed.extend_from_slice(&frame.unwrap().into_data().unwrap());
        frames += 1;
    }
    producer.await.unwrap();
    let expected: String = (0..200).map(|i| format!("chunk {i}: {TEXT}\n")).collect();
    assert_eq!(gunzip(&compressed), expected);
    assert!(
        frames > 1,
        "compressed output should stream in several frames"
    );
}

#[tokio::test]
async fn inside_an_axum_router() {
    let app = axum::Router::new()
        .route("/text", axum::routing::get(|| async { TEXT.repeat(40) }))
        .route(
            "/missing",
            axum::routing::get(|| async { (StatusCode::NOT_FOUND, TEXT.repeat(40)) }),
        )
        .layer(compression_layer(CompressionConfig::default()));

    let req = Request::get("/text")
        .header("accept-encoding", "gzip")
        .body(axum::body::Body::empty())
        .unwrap();
    let res = app.clone().oneshot(req).await.unwrap();
    assert_eq!(res.headers()["content-encoding"], "gzip");
    assert_eq!(res.headers()["vary"], "accept-encoding");
    let body = res.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(gunzip(&body), TEXT.repeat(40));

    let req = Request::get("/missing")
        .header("accept-encoding", "gzip")
        .body(axum::body::Body::empty())
        .unwrap();
    let res = app.oneshot(req).await.unwrap();
    assert_eq!(res.status(), 404);
    assert!(!res.headers().contains_key("content-encoding"));
}
