#![cfg(feature = "cors")]

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use plumego_layers::cors::{CorsError, CorsLayer, CorsOptions};
use tower::{Layer, Service, ServiceExt};

/// A handler that counts its calls and answers 200 `handled`.
fn handler(
    calls: Arc<AtomicUsize>,
) -> impl Service<Request<()>, Response = Response<Full<Bytes>>, Error = Infallible> + Clone {
    tower::service_fn(move |_req: Request<()>| {
        let calls = calls.clone();
        async move {
            calls.fetch_add(1, Ordering::SeqCst);
            Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"handled"))))
        }
    })
}

async fn call(layer: &CorsLayer, req: Request<()>) -> (Response<Full<Bytes>>, usize) {
    let calls = Arc::new(AtomicUsize::new(0));
    let res = layer
        .layer(handler(calls.clone()))
        .oneshot(req)
        .await
        .unwrap();
    (res, calls.load(Ordering::SeqCst))
}

fn preflight(origin: &str, method: &str, headers: Option<&str>) -> Request<()> {
    let mut b = Request::options("/items")
        .header("origin", origin)
        .header("access-control-request-method", method);
    if let Some(h) = headers {
        b = b.header("access-control-request-headers", h);
    }
    b.body(()).unwrap()
}

fn get(origin: Option<&str>) -> Request<()> {
    let mut b = Request::get("/items");
    if let Some(o) = origin {
        b = b.header("origin", o);
    }
    b.body(()).unwrap()
}

fn values(headers: &HeaderMap, name: &str) -> Vec<String> {
    headers
        .get_all(name)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect()
}

fn cors_headers(headers: &HeaderMap) -> Vec<String> {
    headers
        .keys()
        .map(|k| k.as_str().to_owned())
        .filter(|k| k.starts_with("access-control-"))
        .collect()
}

fn strict_layer() -> CorsLayer {
    CorsOptions::strict(["https://app.example"])
        .unwrap()
        .allow_credentials(true)
        .expose_headers(["X-Total-Count"])
        .into_layer()
        .unwrap()
}

#[tokio::test]
async fn no_origin_passes_through_with_vary_only() {
    let (res, calls) = call(&CorsOptions::default().into_layer().unwrap(), get(None)).await;
    assert_eq!(calls, 1);
    assert_eq!(res.status(), 200);
    assert!(cors_headers(res.headers()).is_empty());
    // A cache must not serve this response to a cross-origin request.
    assert_eq!(values(res.headers(), "vary"), ["Origin"]);
    assert_eq!(
        res.into_body().collect().await.unwrap().to_bytes(),
        "handled"
    );
}

#[tokio::test]
async fn disallowed_origin_passes_through_without_cors_headers() {
    let layer = strict_layer();
    for origin in [
        "https://evil.example",
        "https://APP.example",
        "https://app.example.evil",
    ] {
        let (res, calls) = call(&layer, get(Some(origin))).await;
        assert_eq!(calls, 1, "{origin}");
        assert_eq!(res.status(), 200);
        // Not even Allow-Credentials or Expose-Headers, which tower-http alone adds.
        assert!(
            cors_headers(res.headers()).is_empty(),
            "{origin}: {:?}",
            res.headers()
        );
    }
    // Preflights from a disallowed origin reach the handler too, as in Go.
    let (res, calls) = call(&layer, preflight("https://evil.example", "PUT", None)).await;
    assert_eq!(calls, 1);
    assert!(cors_headers(res.headers()).is_empty());
}

#[tokio::test]
async fn preflight_is_answered_204_with_headers_and_vary() {
    let layer = CorsOptions::default().into_layer().unwrap();
    let req = preflight(
        "https://a.example",
        "PUT",
        Some("Content-Type, authorization"),
    );
    let (res, calls) = call(&layer, req).await;
    assert_eq!(calls, 0, "the handler must not run for a preflight");
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let h = res.headers();
    assert_eq!(h["access-control-allow-origin"], "*");
    assert_eq!(
        h["access-control-allow-methods"],
        "GET,POST,PUT,PATCH,DELETE,OPTIONS"
    );
    assert_eq!(
        h["access-control-allow-headers"],
        "Content-Type, authorization"
    );
    assert!(!h.contains_key("access-control-allow-credentials"));
    assert!(!h.contains_key("access-control-max-age"));
    assert!(!h.contains_key("access-control-expose-headers"));
    assert_eq!(
        values(h, "vary"),
        [
            "Origin",
            "Access-Control-Request-Method",
            "Access-Control-Request-Headers"
        ]
    );
    assert!(
        res.into_body()
            .collect()
            .await
            .unwrap()
            .to_bytes()
            .is_empty()
    );
}

#[tokio::test]
async fn preflight_method_is_case_insensitive_and_headers_optional() {
    let layer = CorsOptions::default().into_layer().unwrap();
    let (res, calls) = call(&layer, preflight("https://a.example", "patch", None)).await;
    assert_eq!((res.status(), calls), (StatusCode::NO_CONTENT, 0));
    // Nothing requested, nothing to allow.
    assert!(!res.headers().contains_key("access-control-allow-headers"));
}

#[tokio::test]
async fn preflight_max_age_in_whole_seconds() {
    let layer = CorsOptions::default()
        .max_age(Duration::from_millis(600_900))
        .into_layer()
        .unwrap();
    let (res, _) = call(&layer, preflight("https://a.example", "GET", None)).await;
    assert_eq!(res.headers()["access-control-max-age"], "600");

    let layer = CorsOptions::default()
        .max_age(Duration::from_millis(900))
        .into_layer()
        .unwrap();
    let (res, _) = call(&layer, preflight("https://a.example", "GET", None)).await;
    assert!(!res.headers().contains_key("access-control-max-age"));
}

#[tokio::test]
async fn preflight_with_disallowed_method_or_header_passes_through() {
    let layer = CorsOptions::default().into_layer().unwrap();
    let cases = [
        preflight("https://a.example", "TRACE", None),
        preflight("https://a.example", " ", None),
        preflight("https://a.example", "PUT", Some("content-type, x-secret")),
    ];
    for req in cases {
        let (res, calls) = call(&layer, req).await;
        assert_eq!(calls, 1);
        assert_eq!(res.status(), 200);
        assert!(
            cors_headers(res.headers()).is_empty(),
            "{:?}",
            res.headers()
        );
    }
}

#[tokio::test]
async fn wildcard_methods_and_headers_echo_the_request() {
    let layer = CorsOptions::default()
        .allowed_methods(["*"])
        .allowed_headers([" * "])
        .into_layer()
        .unwrap();
    let (res, calls) = call(
        &layer,
        preflight("https://a.example", "PURGE", Some("x-anything")),
    )
    .await;
    assert_eq!((res.status(), calls), (StatusCode::NO_CONTENT, 0));
    assert_eq!(res.headers()["access-control-allow-methods"], "PURGE");
    assert_eq!(res.headers()["access-control-allow-headers"], "x-anything");
}

#[tokio::test]
async fn options_without_request_method_is_not_a_preflight() {
    let layer = CorsOptions::default().into_layer().unwrap();
    let req = Request::options("/items")
        .header("origin", "https://a.example")
        .body(())
        .unwrap();
    let (res, calls) = call(&layer, req).await;
    assert_eq!((res.status(), calls), (StatusCode::OK, 1));
}

#[tokio::test]
async fn actual_request_gets_origin_credentials_and_expose_headers() {
    let (res, calls) = call(&strict_layer(), get(Some("https://app.example"))).await;
    assert_eq!(calls, 1);
    let h = res.headers();
    assert_eq!(h["access-control-allow-origin"], "https://app.example");
    assert_eq!(h["access-control-allow-credentials"], "true");
    assert_eq!(h["access-control-expose-headers"], "x-total-count");
    assert!(!h.contains_key("access-control-allow-methods"));
    assert_eq!(values(h, "vary"), ["Origin"]);
}

#[tokio::test]
async fn wildcard_without_credentials_sends_star() {
    let layer = CorsOptions::default().into_layer().unwrap();
    let (res, _) = call(&layer, get(Some("https://a.example"))).await;
    assert_eq!(res.headers()["access-control-allow-origin"], "*");
    assert!(
        !res.headers()
            .contains_key("access-control-allow-credentials")
    );
}

#[tokio::test]
async fn wildcard_with_credentials_reflects_the_origin() {
    let layer = CorsOptions::default()
        .allow_credentials(true)
        .into_layer()
        .unwrap();
    let (res, _) = call(&layer, get(Some("https://b.example"))).await;
    assert_eq!(
        res.headers()["access-control-allow-origin"],
        "https://b.example"
    );
    assert_eq!(res.headers()["access-control-allow-credentials"], "true");

    let (res, _) = call(&layer, preflight("https://c.example", "DELETE", None)).await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        res.headers()["access-control-allow-origin"],
        "https://c.example"
    );
    assert_eq!(res.headers()["access-control-allow-credentials"], "true");
}

#[tokio::test]
async fn vary_tokens_are_deduplicated_against_the_handler() {
    let layer = CorsOptions::default().into_layer().unwrap();
    let svc = layer.layer(tower::service_fn(|_req: Request<()>| async {
        let mut res = Response::new(Full::new(Bytes::new()));
        res.headers_mut()
            .append("vary", "accept-encoding, origin".parse().unwrap());
        Ok::<_, Infallible>(res)
    }));
    let res = svc.oneshot(get(Some("https://a.example"))).await.unwrap();
    assert_eq!(values(res.headers(), "vary"), ["accept-encoding, origin"]);

    let svc = layer.layer(tower::service_fn(|_req: Request<()>| async {
        let mut res = Response::new(Full::new(Bytes::new()));
        res.headers_mut()
            .append("vary", "Accept-Encoding".parse().unwrap());
        Ok::<_, Infallible>(res)
    }));
    let res = svc.oneshot(get(None)).await.unwrap();
    assert_eq!(values(res.headers(), "vary"), ["Accept-Encoding", "Origin"]);
}

#[test]
fn defaults_match_go() {
    let o = CorsOptions::default();
    assert_eq!(o.allowed_origins, ["*"]);
    assert_eq!(
        o.allowed_methods,
        ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
    );
    assert_eq!(
        o.allowed_headers,
        [
            "Accept",
            "Accept-Language",
            "Content-Language",
            "Content-Type",
            "Authorization"
        ]
    );
    assert!(!o.allow_credentials);
    assert!(o.expose_headers.is_empty());
    assert_eq!(o.max_age, Duration::ZERO);
}

#[test]
fn strict_preset_requires_explicit_origins() {
    assert_eq!(
        CorsOptions::strict(Vec::<String>::new()),
        Err(CorsError::StrictOriginsRequired)
    );
    assert_eq!(
        CorsOptions::strict(["", "  "]),
        Err(CorsError::StrictOriginsRequired)
    );
    assert_eq!(
        CorsOptions::strict(["https://a.example", " * "]),
        Err(CorsError::StrictWildcardOrigin)
    );
    let o = CorsOptions::strict([" https://a.example ", "", "https://a.example"]).unwrap();
    assert_eq!(o.allowed_origins, ["https://a.example"]);
    assert_eq!(o.allowed_methods, CorsOptions::default().allowed_methods);
    assert_eq!(o.allowed_headers, CorsOptions::default().allowed_headers);
    assert_eq!(
        CorsError::StrictWildcardOrigin.to_string(),
        "cors: strict options do not allow the wildcard origin `*`"
    );
}

#[tokio::test]
async fn lists_are_trimmed_and_blanks_dropped() {
    let layer = CorsOptions::default()
        .allowed_origins([" https://a.example ", ""])
        .allowed_methods([" put ", ""])
        .allowed_headers(["", " X-Api-Key "])
        .into_layer()
        .unwrap();
    let (res, calls) = call(
        &layer,
        preflight("https://a.example", "PUT", Some("x-api-key")),
    )
    .await;
    assert_eq!((res.status(), calls), (StatusCode::NO_CONTENT, 0));
    assert_eq!(res.headers()["access-control-allow-methods"], "PUT");
    assert_eq!(
        res.headers()["access-control-allow-origin"],
        "https://a.example"
    );
}

#[test]
fn invalid_options_are_refused_at_construction() {
    let err = |o: CorsOptions| o.into_layer().unwrap_err();
    assert_eq!(
        err(CorsOptions::default().allowed_origins([" "])),
        CorsError::NoOrigins
    );
    for bad in [
        "https://a.example/",
        "a.example",
        "https://a.example/app",
        "null",
    ] {
        assert_eq!(
            err(CorsOptions::default().allowed_origins([bad])),
            CorsError::InvalidOrigin(bad.into())
        );
    }
    assert_eq!(
        err(CorsOptions::default().allowed_methods(["GET", "BAD METHOD"])),
        CorsError::InvalidMethod("BAD METHOD".into())
    );
    assert_eq!(
        err(CorsOptions::default().allowed_headers(["x y"])),
        CorsError::InvalidHeader("x y".into())
    );
    assert_eq!(
        err(CorsOptions::default()
            .expose_headers(["*"])
            .allow_credentials(true)),
        CorsError::WildcardExposeWithCredentials
    );
    assert!(
        CorsOptions::default()
            .expose_headers(["*"])
            .into_layer()
            .is_ok()
    );
}

#[tokio::test]
async fn inside_an_axum_router() {
    use axum::routing::get as axum_get;

    let app = axum::Router::new()
        .route("/items", axum_get(|| async { "items" }))
        .layer(strict_layer());

    let req = Request::builder()
        .method(Method::OPTIONS)
        .uri("/items")
        .header("origin", "https://app.example")
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "content-type")
        .body(axum::body::Body::empty())
        .unwrap();
    let res = app.clone().oneshot(req).await.unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        res.headers()["access-control-allow-origin"],
        "https://app.example"
    );
    assert_eq!(
        res.headers()["access-control-allow-headers"],
        "content-type"
    );

    let req = Request::get("/items")
        .header("origin", "https://app.example")
        .body(axum::body::Body::empty())
        .unwrap();
    let res = app.oneshot(req).await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.headers()["access-control-allow-origin"],
        "https://app.example"
    );
    assert_eq!(res.into_body().collect().await.unwrap().to_bytes(), "items");
}
