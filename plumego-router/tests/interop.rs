//! The router inside axum, axum inside the router, and the router served by
//! hyper on a loopback port.

use std::net::SocketAddr;

use axum::routing::get as axum_get;
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Empty};
use plumego_core::{Body, RequestExt, handler_fn};
use plumego_router::{OriginalUri, Router, RouterBuilder};
use tower::ServiceExt;

fn plumego_routes<B: http_body::Body + Send + 'static>() -> Router<B> {
    let mut b = RouterBuilder::new();
    b.get(
        "/users/:id",
        handler_fn(|req: Request<B>| async move {
            format!("plumego user {}", req.param("id").unwrap_or_default())
        }),
    )
    .unwrap();
    b.build()
}

async fn text(
    res: http::Response<impl http_body::Body<Error: std::fmt::Debug>>,
) -> (StatusCode, String) {
    let status = res.status();
    let body = res.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

#[tokio::test]
async fn router_nested_in_axum() {
    let app = axum::Router::new()
        .route("/axum", axum_get(|| async { "axum" }))
        .nest_service("/p", plumego_routes::<axum::body::Body>());
    let req = Request::get("/p/users/9")
        .body(axum::body::Body::empty())
        .unwrap();
    assert_eq!(
        text(app.clone().oneshot(req).await.unwrap()).await,
        (StatusCode::OK, "plumego user 9".into())
    );
    let req = Request::get("/axum")
        .body(axum::body::Body::empty())
        .unwrap();
    assert_eq!(text(app.oneshot(req).await.unwrap()).await.1, "axum");
}

#[tokio::test]
async fn router_as_axum_fallback_service() {
    let app = axum::Router::new()
        .route("/axum", axum_get(|| async { "axum" }))
        .fallback_service(plumego_routes::<axum::body::Body>());
    let req = Request::get("/users/3")
        .body(axum::body::Body::empty())
        .unwrap();
    assert_eq!(
        text(app.clone().oneshot(req).await.unwrap()).await.1,
        "plumego user 3"
    );
    let req = Request::get("/missing")
        .body(axum::body::Body::empty())
        .unwrap();
    let (status, body) = text(app.oneshot(req).await.unwrap()).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(body.contains("RESOURCE_NOT_FOUND"));
}

#[tokio::test]
async fn axum_router_nested_in_ours() {
    let inner = axum::Router::new()
        .route("/", axum_get(|| async { "axum root" }))
        .route(
            "/items/{id}",
            axum_get(
                |axum::extract::Path(id): axum::extract::Path<String>| async move {
                    format!("axum item {id}")
                },
            ),
        );
    let mut b = RouterBuilder::new();
    b.nest_service("/legacy", inner).unwrap();
    b.group("/t/:tenant", |g| {
        g.nest_service(
            "/files",
            handler_fn(|req: Request<Body>| async move {
                let original = req.extensions().get::<OriginalUri>().unwrap().0.clone();
                format!(
                    "{} tenant={} from {}",
                    req.uri(),
                    req.param("tenant").unwrap(),
                    original
                )
            }),
        )
    })
    .unwrap();
    let r = b.build();
    let call = |uri: &'static str| {
        let r = r.clone();
        async move {
            text(
                r.oneshot(Request::get(uri).body(Body::empty()).unwrap())
                    .await
                    .unwrap(),
            )
            .await
        }
    };
    assert_eq!(call("/legacy/items/5").await.1, "axum item 5");
    assert_eq!(call("/legacy").await.1, "axum root");
    assert_eq!(
        call("/t/acme/files/a%20b/c?x=1").await.1,
        "/a%20b/c?x=1 tenant=acme from /t/acme/files/a%20b/c?x=1"
    );
}

#[tokio::test]
async fn served_by_hyper_on_loopback() {
    let router = plumego_routes::<hyper::body::Incoming>();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let svc = hyper_util::service::TowerToHyperService::new(router.clone());
            tokio::spawn(
                hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), svc),
            );
        }
    });
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .unwrap();
    tokio::spawn(conn);
    for (path, want) in [
        ("/users/1", (StatusCode::OK, "plumego user 1")),
        ("/users/%41", (StatusCode::OK, "plumego user A")),
    ] {
        let req = Request::get(path)
            .header("host", "x")
            .body(Empty::<bytes::Bytes>::new())
            .unwrap();
        let (status, body) = text(sender.send_request(req).await.unwrap()).await;
        assert_eq!((status, body.as_str()), want);
    }
    let req = Request::post("/users/1")
        .header("host", "x")
        .body(Empty::<bytes::Bytes>::new())
        .unwrap();
    let res = sender.send_request(req).await.unwrap();
    assert_eq!(res.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(res.headers()["allow"], "GET, HEAD");
}
