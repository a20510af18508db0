//! The conformance suite every layer must pass: the inner service is called
//! at most once, in onion order; the layer works around a plain `service_fn`,
//! over plumego's router and inside `axum::Router::layer`; panics below it
//! reach recovery; error responses are envelopes; streaming bodies are not
//! buffered.
#![cfg(all(
    feature = "request-id",
    feature = "recovery",
    feature = "body-limit",
    feature = "timeout",
    feature = "concurrency-limit",
    feature = "access-log",
    feature = "singleflight",
    feature = "http-metrics",
    feature = "trace",
    feature = "cors",
    feature = "compression",
    feature = "security-headers",
    feature = "debug-errors",
))]

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body::Frame;
use http_body_util::BodyExt;
use opentelemetry::metrics::MeterProvider as _;
use opentelemetry::trace::TracerProvider as _;
use plumego_core::Body;
use plumego_layers::access_log::{AccessLogConfig, AccessLogLayer};
use plumego_layers::body_limit::{BodyLimitConfig, BodyLimitLayer};
use plumego_layers::compression::{CompressionConfig, compression_layer};
use plumego_layers::concurrency_limit::{ConcurrencyLimitConfig, ConcurrencyLimitLayer};
use plumego_layers::cors::CorsOptions;
use plumego_layers::debug_errors::{DebugErrorsConfig, DebugErrorsLayer};
use plumego_layers::http_metrics::{HttpMetricsConfig, HttpMetricsLayer};
use plumego_layers::recovery::RecoveryLayer;
use plumego_layers::request_id::{RequestIdConfig, RequestIdLayer};
use plumego_layers::security_headers::{SecurityHeadersConfig, SecurityHeadersLayer};
use plumego_layers::singleflight::{SingleflightConfig, SingleflightLayer};
use plumego_layers::timeout::{TimeoutConfig, TimeoutLayer};
use plumego_layers::trace::{TraceConfig, TraceLayer};
use tower::{Layer, Service, ServiceBuilder, ServiceExt};

type Log = Arc<Mutex<Vec<String>>>;

/// Records `name:before` when called and `name:after` when its response is ready.
#[derive(Clone)]
struct Record {
    name: &'static str,
    log: Log,
}

#[derive(Clone)]
struct Recorded<S> {
    inner: S,
    name: &'static str,
    log: Log,
}

impl<S> Layer<S> for Record {
    type Service = Recorded<S>;
    fn layer(&self, inner: S) -> Recorded<S> {
        Recorded {
            inner,
            name: self.name,
            log: self.log.clone(),
        }
    }
}

impl<S, B> Service<Request<B>> for Recorded<S>
where
    S: Service<Request<B>> + Clone + Send + 'static,
    S::Future: Send,
    B: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn std::future::Future<Output = Result<S::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        self.log
            .lock()
            .unwrap()
            .push(format!("{}:before", self.name));
        let fut = self.inner.call(req);
        let (name, log) = (self.name, self.log.clone());
        Box::pin(async move {
            let res = fut.await;
            log.lock().unwrap().push(format!("{name}:after"));
            res
        })
    }
}

fn handler<B: Send + 'static>(
    log: Log,
) -> impl Service<Request<B>, Response = Response<Body>, Error = Infallible, Future: Send>
+ Clone
+ Send
+ Sync
+ 'static {
    tower::service_fn(move |_req: Request<B>| {
        let log = log.clone();
        async move {
            log.lock().unwrap().push("handler".to_owned());
            Ok::<_, Infallible>(Response::new(Body::from("ok")))
        }
    })
}

/// An SSE-like body: one event, then nothing, forever.
struct Endless {
    sent: bool,
}

impl http_body::Body for Endless {
    type Data = Bytes;
    type Error = Infallible;
    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if self.sent {
            Poll::Pending
        } else {
            self.sent = true;
            Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(b"data: 1\n\n")))))
        }
    }
}

macro_rules! for_each_layer {
    ($check:ident) => {
        mod request_id {
            use super::*;
            $check!(RequestIdLayer::new(RequestIdConfig::default()));
        }
        mod recovery {
            use super::*;
            $check!(RecoveryLayer::new());
        }
        mod body_limit {
            use super::*;
            $check!(BodyLimitLayer::new(BodyLimitConfig::default()));
        }
        mod timeout {
            use super::*;
            $check!(TimeoutLayer::new(TimeoutConfig::default()));
        }
        mod concurrency_limit {
            use super::*;
            $check!(ConcurrencyLimitLayer::new(
                ConcurrencyLimitConfig::new(4).unwrap()
            ));
        }
        mod access_log {
            use super::*;
            $check!(AccessLogLayer::new(AccessLogConfig::default()));
        }
        mod singleflight {
            use super::*;
            $check!(SingleflightLayer::new(SingleflightConfig::default()));
        }
        mod http_metrics {
            use super::*;
            $check!(HttpMetricsLayer::new(HttpMetricsConfig::new(
                opentelemetry_sdk::metrics::SdkMeterProvider::builder()
                    .build()
                    .meter("conformance")
            )));
        }
        mod cors {
            use super::*;
            $check!(CorsOptions::default().into_layer().unwrap());
        }
        mod compression {
            use super::*;
            $check!(compression_layer(CompressionConfig::default()));
        }
        mod security_headers {
            use super::*;
            $check!(SecurityHeadersLayer::new(SecurityHeadersConfig::default()).unwrap());
        }
        mod debug_errors {
            use super::*;
            $check!(DebugErrorsLayer::new(DebugErrorsConfig::default()));
        }
        mod trace {
            use super::*;
            $check!(TraceLayer::new(TraceConfig::new(
                opentelemetry_sdk::trace::SdkTracerProvider::builder()
                    .build()
                    .tracer("conformance")
            )));
        }
    };
}

macro_rules! conformance {
    ($layer:expr) => {
        #[tokio::test]
        async fn inner_called_once_in_onion_order() {
            let log: Log = Arc::default();
            let svc = ServiceBuilder::new()
                .layer(Record {
                    name: "first",
                    log: log.clone(),
                })
                .layer($layer)
                .layer(Record {
                    name: "second",
                    log: log.clone(),
                })
                .service(handler(log.clone()));
            let res = svc
                .oneshot(Request::get("/x").body(Body::empty()).unwrap())
                .await
                .unwrap();
            assert_eq!(res.status(), StatusCode::OK);
            assert_eq!(res.into_body().collect().await.unwrap().to_bytes(), "ok");
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
        async fn over_plumego_router() {
            let log: Log = Arc::default();
            let mut routes = plumego_router::RouterBuilder::new();
            routes.get("/users/:id", handler(log.clone())).unwrap();
            let svc = ServiceBuilder::new().layer($layer).service(routes.build());
            let res = svc
                .clone()
                .oneshot(Request::get("/users/1").body(Body::empty()).unwrap())
                .await
                .unwrap();
            assert_eq!(res.status(), StatusCode::OK);
            let res = svc
                .oneshot(Request::get("/nope").body(Body::empty()).unwrap())
                .await
                .unwrap();
            assert_eq!(res.status(), StatusCode::NOT_FOUND);
            assert_eq!(
                res.headers()["content-type"],
                "application/json",
                "the 404 is an envelope"
            );
            assert_eq!(log.lock().unwrap().len(), 1);
        }

        #[tokio::test]
        async fn inside_axum() {
            let app = axum::Router::new()
                .route("/", axum::routing::get(|| async { "axum" }))
                .layer($layer);
            let res = app
                .oneshot(Request::get("/").body(axum::body::Body::empty()).unwrap())
                .await
                .unwrap();
            assert_eq!(res.status(), StatusCode::OK);
            assert_eq!(res.into_body().collect().await.unwrap().to_bytes(), "axum");
        }

        #[tokio::test]
        async fn panics_below_reach_recovery() {
            let panicking = tower::service_fn(|_req: Request<_>| async {
                if true {
                    panic!("boom");
                }
                Ok::<_, Infallible>(Response::new(Body::empty()))
            });
            let svc = ServiceBuilder::new()
                .layer(RecoveryLayer::new())
                .layer($layer)
                .service(panicking);
            let res = svc
                .oneshot(Request::get("/").body(Body::empty()).unwrap())
                .await
                .unwrap();
            assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR);
            assert_eq!(res.headers()["content-type"], "application/json");
            let body = res.into_body().collect().await.unwrap().to_bytes();
            let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
            assert_eq!(json["error"]["code"], "INTERNAL_ERROR");
            assert!(!String::from_utf8_lossy(&body).contains("boom"));
        }

        #[tokio::test]
        async fn streaming_bodies_are_not_buffered() {
            let streaming = tower::service_fn(|_req: Request<_>| async {
                let mut res = Response::new(Body::new(Endless { sent: false }));
                res.headers_mut()
                    .insert("content-type", "text/event-stream".parse().unwrap());
                Ok::<_, Infallible>(res)
            });
            let svc = ServiceBuilder::new().layer($layer).service(streaming);
            let res = tokio::time::timeout(
                Duration::from_secs(5),
                svc.oneshot(Request::get("/events").body(Body::empty()).unwrap()),
            )
            .await
            .expect("the head arrives without waiting for the body")
            .unwrap();
            let mut body = std::pin::pin!(res.into_body());
            let frame = tokio::time::timeout(Duration::from_secs(5), body.frame())
                .await
                .expect("the first event arrives while the stream is still open")
                .expect("a frame")
                .unwrap_or_else(|_| panic!("no body error"));
            assert_eq!(frame.into_data().unwrap_or_default(), "data: 1\n\n");
        }
    };
}

for_each_layer!(conformance);
