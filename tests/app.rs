//! The `App` facade: registration, global layer order, the preparation state
//! machine, interop with tower-http layers, and serving on loopback.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use http::{Request, StatusCode};
use http_body_util::BodyExt;
use plumego::core::server::ServerConfig;
use plumego::{App, AppConfig, AppError, AppService, Body, RequestExt, handler_fn};
use tower::{Layer, ServiceExt, service_fn};

async fn call(svc: &AppService, uri: &str) -> (StatusCode, http::HeaderMap, String) {
    let res = svc
        .clone()
        .oneshot(Request::get(uri).body(Body::empty()).unwrap())
        .await
        .unwrap();
    let (parts, body) = res.into_parts();
    let body = body.collect().await.unwrap().to_bytes();
    (
        parts.status,
        parts.headers,
        String::from_utf8_lossy(&body).into_owned(),
    )
}

#[derive(Clone)]
struct Record {
    name: &'static str,
    log: Arc<Mutex<Vec<String>>>,
}

impl<S> Layer<S> for Record
where
    S: tower::Service<
            Request<Body>,
            Response = plumego::Response,
            Error = std::convert::Infallible,
        > + Clone
        + Send
        + Sync
        + 'static,
    S::Future: Send,
{
    type Service = tower::util::BoxCloneSyncService<
        Request<Body>,
        plumego::Response,
        std::convert::Infallible,
    >;

    fn layer(&self, inner: S) -> Self::Service {
        let (name, log) = (self.name, self.log.clone());
        tower::util::BoxCloneSyncService::new(service_fn(move |req: Request<Body>| {
            let (inner, log) = (inner.clone(), log.clone());
            async move {
                log.lock().unwrap().push(format!("{name}:before"));
                let res = inner.oneshot(req).await;
                log.lock().unwrap().push(format!("{name}:after"));
                res
            }
        }))
    }
}

#[tokio::test]
async fn first_layer_added_runs_outermost() {
    let log = Arc::new(Mutex::new(Vec::new()));
    let mut app = App::default();
    let handler_log = log.clone();
    app.get(
        "/",
        handler_fn(move |_req: Request<Body>| {
            let log = handler_log.clone();
            async move {
                log.lock().unwrap().push("handler".into());
                "ok"
            }
        }),
    )
    .unwrap();
    app.layer(Record {
        name: "first",
        log: log.clone(),
    })
    .unwrap();
    app.layer(Record {
        name: "second",
        log: log.clone(),
    })
    .unwrap();
    let svc = app.into_service().unwrap();
    assert_eq!(call(&svc, "/").await.0, StatusCode::OK);
    assert_eq!(
        *log.lock().unwrap(),
        [
            "first:before",
            "second:before",
            "handler",
            "second:after",
            "first:after"
        ]
    );
}

#[tokio::test]
async fn tower_http_layers_and_layer_errors() {
    let mut app = App::default();
    app.get(
        "/slow",
        handler_fn(|_req: Request<Body>| async {
            tokio::time::sleep(Duration::from_secs(5)).await;
            "late"
        }),
    )
    .unwrap();
    app.get("/fast", handler_fn(|_req: Request<Body>| async { "fast" }))
        .unwrap();
    app.layer(tower_http::set_header::SetResponseHeaderLayer::overriding(
        http::header::SERVER,
        http::HeaderValue::from_static("plumego"),
    ))
    .unwrap();
    // tower's timeout fails with an error; the app turns it into the 500 envelope.
    app.layer(tower::timeout::TimeoutLayer::new(Duration::from_millis(50)))
        .unwrap();
    let svc = app.into_service().unwrap();
    let (status, headers, _) = call(&svc, "/fast").await;
    assert_eq!(
        (status, &headers["server"]),
        (StatusCode::OK, &http::HeaderValue::from_static("plumego"))
    );
    let (status, headers, body) = call(&svc, "/slow").await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(headers["content-type"], "application/json");
    assert_eq!(
        body,
        "{\"error\":{\"code\":\"INTERNAL_ERROR\",\"message\":\"internal server error\",\"category\":\"server_error\",\"type\":\"internal_error\"}}\n"
    );
}

#[tokio::test]
async fn a_failed_prepare_leaves_the_app_mutable() {
    let mut app = App::new(AppConfig {
        server: ServerConfig {
            addr: "bogus".into(),
            ..ServerConfig::default()
        },
        ..AppConfig::default()
    });
    app.get("/a", handler_fn(|_req: Request<Body>| async { "a" }))
        .unwrap();
    let err = app.prepare().unwrap_err();
    assert!(matches!(err, AppError::Server(_)));
    assert!(
        err.to_string()
            .starts_with("core prepare_server: invalid server config"),
        "{err}"
    );
    assert!(!app.is_prepared());
    // Still mutable: more routes, and a fixed config.
    app.get("/b", handler_fn(|_req: Request<Body>| async { "b" }))
        .unwrap()
        .name("b")
        .unwrap();
    app.config_mut().unwrap().server.addr = "127.0.0.1:0".into();
    app.prepare().unwrap();
    app.prepare().unwrap(); // idempotent
    let err = app
        .get("/c", handler_fn(|_req: Request<Body>| async { "c" }))
        .map(|_| ())
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "core add_route method=GET path=/c: cannot register route after app has been prepared"
    );
    assert!(app.layer(tower::layer::util::Identity::new()).is_err());
    assert!(app.config_mut().is_err());
    assert_eq!(app.url_for("b", &[]).unwrap(), "/b");
    assert_eq!(app.routes().len(), 2);
    let svc = app.into_service().unwrap();
    assert_eq!(call(&svc, "/b").await.2, "b");
}

#[tokio::test]
async fn groups_names_and_reverse_urls_before_and_after_prepare() {
    let mut app = App::default();
    app.group("/api", |api| {
        api.get(
            "/users/:id",
            handler_fn(|req: Request<Body>| async move {
                format!("user {}", req.param("id").unwrap_or_default())
            }),
        )?
        .name("user")?;
        Ok(())
    })
    .unwrap();
    assert_eq!(app.url_for("user", &[("id", "7")]).unwrap(), "/api/users/7");
    let err = app
        .group("/api2", |g| {
            g.get("/users/:id", handler_fn(|_r: Request<Body>| async { "" }))?
                .name("user")
                .map(|_| ())
        })
        .unwrap_err();
    assert!(matches!(err, AppError::Route(_)));
    let svc = app.into_service().unwrap();
    assert_eq!(call(&svc, "/api/users/7").await.2, "user 7");
}

#[tokio::test]
async fn serves_on_loopback_and_shuts_down_gracefully() {
    let mut app = App::default();
    app.get(
        "/",
        handler_fn(|req: Request<Body>| async move { format!("hi {:?}", req.version()) }),
    )
    .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.serve(listener, async {
        let _ = stopped.await;
    }));
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .unwrap();
    tokio::spawn(conn);
    let req = Request::get("/")
        .header("host", "x")
        .body(http_body_util::Empty::<bytes::Bytes>::new())
        .unwrap();
    let res = sender.send_request(req).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        res.into_body().collect().await.unwrap().to_bytes(),
        "hi HTTP/1.1"
    );
    stop.send(()).unwrap();
    let report = server.await.unwrap().unwrap();
    assert!(report.drained);
}
