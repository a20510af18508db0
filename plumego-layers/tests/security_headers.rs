#![cfg(feature = "security-headers")]

use std::convert::Infallible;
use std::net::SocketAddr;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use plumego_core::context::PeerAddr;
use plumego_layers::security_headers::{
    Hsts, Issue, ONE_YEAR_SECS, STRICT_CSP, SecurityHeadersConfig, SecurityHeadersLayer, WEB_CSP,
};
use tower::{Layer, ServiceBuilder, ServiceExt};

fn ok_handler() -> impl tower::Service<
    Request<()>,
    Response = Response<Full<Bytes>>,
    Error = Infallible,
    Future = impl Send,
> + Clone {
    tower::service_fn(|_req: Request<()>| async {
        Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"ok"))))
    })
}

async fn headers_for(config: SecurityHeadersConfig, req: Request<()>) -> http::HeaderMap {
    let layer = SecurityHeadersLayer::new(config).unwrap();
    layer
        .layer(ok_handler())
        .oneshot(req)
        .await
        .unwrap()
        .headers()
        .clone()
}

fn hsts_config() -> SecurityHeadersConfig {
    SecurityHeadersConfig::api()
        .hsts(Hsts::new(ONE_YEAR_SECS).include_subdomains(true))
        .trusted_proxies(["10.0.0.0/8", "fd00::1"])
}

fn from_peer(uri: &str, peer: &str, headers: &[(&str, &str)]) -> Request<()> {
    let mut b = Request::get(uri);
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    let mut req = b.body(()).unwrap();
    req.extensions_mut()
        .insert(PeerAddr(peer.parse::<SocketAddr>().unwrap()));
    req
}

fn names(headers: &http::HeaderMap) -> Vec<&str> {
    let mut n: Vec<_> = headers.keys().map(|k| k.as_str()).collect();
    n.sort_unstable();
    n
}

#[tokio::test]
async fn api_preset_is_gos_default_policy() {
    let h = headers_for(
        SecurityHeadersConfig::default(),
        Request::get("/").body(()).unwrap(),
    )
    .await;
    assert_eq!(h["x-frame-options"], "SAMEORIGIN");
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert_eq!(h["referrer-policy"], "strict-origin-when-cross-origin");
    assert_eq!(
        names(&h),
        [
            "referrer-policy",
            "x-content-type-options",
            "x-frame-options"
        ]
    );
}

#[tokio::test]
async fn web_preset_adds_a_csp() {
    let h = headers_for(
        SecurityHeadersConfig::web(),
        Request::get("/").body(()).unwrap(),
    )
    .await;
    assert_eq!(h["content-security-policy"], WEB_CSP);
    assert_eq!(h["x-frame-options"], "SAMEORIGIN");
    assert!(!h.contains_key("strict-transport-security"));
}

#[tokio::test]
async fn strict_preset_matches_gos_strict_policy() {
    let req = Request::get("https://api.example/").body(()).unwrap();
    let h = headers_for(SecurityHeadersConfig::strict(), req).await;
    assert_eq!(h["x-frame-options"], "DENY");
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert_eq!(h["referrer-policy"], "no-referrer");
    assert_eq!(
        h["permissions-policy"],
        "geolocation=(), camera=(), microphone=()"
    );
    assert_eq!(h["cross-origin-opener-policy"], "same-origin");
    assert_eq!(h["cross-origin-resource-policy"], "same-origin");
    assert_eq!(h["cross-origin-embedder-policy"], "require-corp");
    assert_eq!(h["content-security-policy"], STRICT_CSP);
    assert_eq!(
        STRICT_CSP,
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: https:; \
         font-src 'self'; connect-src 'self'; frame-src 'none'; object-src 'none'; \
         form-action 'self'; frame-ancestors 'none'; base-uri 'self'; upgrade-insecure-requests"
    );
    assert_eq!(
        h["strict-transport-security"],
        "max-age=31536000; includeSubDomains; preload"
    );
}

#[tokio::test]
async fn hsts_only_on_https_requests() {
    let sts = "strict-transport-security";
    let plain = headers_for(
        hsts_config(),
        Request::get("http://api.example/").body(()).unwrap(),
    )
    .await;
    assert!(!plain.contains_key(sts));
    let origin_form = headers_for(hsts_config(), Request::get("/").body(()).unwrap()).await;
    assert!(!origin_form.contains_key(sts));
    let https = headers_for(
        hsts_config(),
        Request::get("https://api.example/").body(()).unwrap(),
    )
    .await;
    assert_eq!(https[sts], "max-age=31536000; includeSubDomains");
    let assumed = headers_for(
        hsts_config().assume_https(true),
        Request::get("/").body(()).unwrap(),
    )
    .await;
    assert!(assumed.contains_key(sts));
    // An HTTP/1.1 request the Plumego server received over TLS.
    let mut over_tls = Request::get("/").body(()).unwrap();
    over_tls
        .extensions_mut()
        .insert(plumego_core::context::TlsConnection);
    assert!(headers_for(hsts_config(), over_tls).await.contains_key(sts));
}

/// Peer, request headers, whether HSTS is expected.
type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], bool);

#[tokio::test]
async fn forwarded_proto_is_believed_from_trusted_proxies_only() {
    let sts = "strict-transport-security";
    let xfp = [("x-forwarded-proto", "https")];
    let cases: [Case<'_>; 11] = [
        ("10.1.2.3:4000", &xfp, true),
        ("[::ffff:10.1.2.3]:4000", &xfp, true),
        ("[fd00::1]:4000", &xfp, true),
        ("[fd00::2]:4000", &xfp, false),
        ("192.0.2.7:4000", &xfp, false),
        (
            "10.1.2.3:4000",
            &[("x-forwarded-proto", "https, http")],
            false,
        ),
        (
            "10.1.2.3:4000",
            &[("x-forwarded-proto", "HTTPS , https")],
            true,
        ),
        (
            "10.1.2.3:4000",
            &[("forwarded", "for=1.2.3.4;proto=https, proto=\"https\"")],
            true,
        ),
        (
            "10.1.2.3:4000",
            &[("forwarded", "for=1.2.3.4;proto=https, for=5.6.7.8")],
            false,
        ),
        ("10.1.2.3:4000", &[("x-forwarded-ssl", "on")], false),
        ("10.1.2.3:4000", &[], false),
    ];
    for (peer, headers, expected) in cases {
        let h = headers_for(hsts_config(), from_peer("/", peer, headers)).await;
        assert_eq!(h.contains_key(sts), expected, "{peer} {headers:?}");
    }
    // Without a peer address nothing is trusted.
    let req = Request::get("/")
        .header("x-forwarded-proto", "https")
        .body(())
        .unwrap();
    assert!(!headers_for(hsts_config(), req).await.contains_key(sts));
}

#[tokio::test]
async fn handler_headers_win() {
    let layer = SecurityHeadersLayer::new(SecurityHeadersConfig::web()).unwrap();
    let svc = layer.layer(tower::service_fn(|_req: Request<()>| async {
        let mut res = Response::new(Full::new(Bytes::new()));
        res.headers_mut()
            .insert("x-frame-options", "DENY".parse().unwrap());
        res.headers_mut().insert(
            "content-security-policy",
            "default-src 'none'".parse().unwrap(),
        );
        Ok::<_, Infallible>(res)
    }));
    let res = svc
        .oneshot(Request::get("/").body(()).unwrap())
        .await
        .unwrap();
    assert_eq!(res.headers()["x-frame-options"], "DENY");
    assert_eq!(
        res.headers()["content-security-policy"],
        "default-src 'none'"
    );
    assert_eq!(res.headers()["x-content-type-options"], "nosniff");
}

#[tokio::test]
async fn additional_headers_are_sent() {
    let config =
        SecurityHeadersConfig::api().header(" X-Permitted-Cross-Domain-Policies ", " none ");
    let h = headers_for(config, Request::get("/").body(()).unwrap()).await;
    assert_eq!(h["x-permitted-cross-domain-policies"], "none");
}

#[tokio::test]
async fn headers_survive_a_panic_when_outside_recovery() {
    let svc = ServiceBuilder::new()
        .layer(
            SecurityHeadersLayer::new(SecurityHeadersConfig::strict().assume_https(true)).unwrap(),
        )
        .layer(tower_http::catch_panic::CatchPanicLayer::new())
        .service_fn(|_req: Request<()>| async {
            if true {
                panic!("handler bug");
            }
            Ok::<_, Infallible>(Response::new(Full::new(Bytes::new())))
        });
    let res = svc
        .oneshot(Request::get("/").body(()).unwrap())
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(res.headers()["x-frame-options"], "DENY");
    assert_eq!(res.headers()["content-security-policy"], STRICT_CSP);
    assert!(res.headers().contains_key("strict-transport-security"));
}

#[test]
fn enum_values_are_validated_case_insensitively() {
    let mut config = SecurityHeadersConfig::api();
    config.frame_options = Some(" deny ".into());
    config.referrer_policy = Some("Same-Origin".into());
    config.cross_origin_opener_policy = Some("same-origin-allow-popups".into());
    config.cross_origin_resource_policy = Some("same-site".into());
    config.cross_origin_embedder_policy = Some("credentialless".into());
    assert!(config.validate().is_ok());

    let mut config = SecurityHeadersConfig::api();
    config.frame_options = Some("ALLOW-FROM https://a.example".into());
    config.content_type_options = Some("sniff".into());
    config.referrer_policy = Some("always".into());
    config.cross_origin_opener_policy = Some("none".into());
    config.cross_origin_resource_policy = Some("anywhere".into());
    config.cross_origin_embedder_policy = Some("require".into());
    let err = config.validate().unwrap_err();
    let headers: Vec<_> = err
        .issues()
        .iter()
        .map(|i| match i {
            Issue::UnsupportedValue { header, .. } => header.as_str(),
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    assert_eq!(
        headers,
        [
            "x-frame-options",
            "x-content-type-options",
            "referrer-policy",
            "cross-origin-opener-policy",
            "cross-origin-resource-policy",
            "cross-origin-embedder-policy",
        ]
    );
}

#[test]
fn unsafe_values_and_names_are_refused() {
    let config = SecurityHeadersConfig::api()
        .content_security_policy("default-src 'self'\r\nX-Evil: 1")
        .header("bad name", "v")
        .header("x-tab", "a\tb")
        .header("x-del", "a\u{7f}")
        .header("x-empty", "  ");
    let err = SecurityHeadersLayer::new(config).unwrap_err();
    assert_eq!(err.issues().len(), 4, "{err}");
    assert_eq!(
        err.to_string(),
        "invalid security headers policy: content-security-policy: control characters (other \
         than tab) are not allowed; invalid header name \"bad name\"; x-del: control characters \
         (other than tab) are not allowed; x-empty: empty value (use None to leave the header out)"
    );
}

#[test]
fn hsts_options_are_validated() {
    let err = |h: Hsts| {
        SecurityHeadersConfig::api()
            .hsts(h)
            .validate()
            .unwrap_err()
            .issues()
            .to_vec()
    };
    assert_eq!(
        err(Hsts::new(0).include_subdomains(true)),
        [Issue::Hsts(
            "max-age 0 removes HSTS; it cannot be combined with includeSubDomains or preload"
        )]
    );
    assert_eq!(
        err(Hsts::new(ONE_YEAR_SECS).preload(true)),
        [Issue::Hsts("preload requires includeSubDomains")]
    );
    assert_eq!(
        err(Hsts::new(86_400).include_subdomains(true).preload(true)),
        [Issue::Hsts(
            "preload requires a max-age of at least one year"
        )]
    );
    // max-age 0 alone is how a site removes HSTS.
    assert!(
        SecurityHeadersConfig::api()
            .hsts(Hsts::new(0))
            .validate()
            .is_ok()
    );
    assert_eq!(Hsts::new(0).header_value(), "max-age=0");
}

#[test]
fn trusted_proxies_are_validated() {
    let config = SecurityHeadersConfig::api().trusted_proxies([
        "10.0.0.0/33",
        "not-an-ip",
        "::1/129",
        " 10.0.0.1 ",
    ]);
    let err = config.validate().unwrap_err();
    assert_eq!(
        err.issues(),
        [
            Issue::InvalidTrustedProxy("10.0.0.0/33".into()),
            Issue::InvalidTrustedProxy("not-an-ip".into()),
            Issue::InvalidTrustedProxy("::1/129".into()),
        ]
    );
}

#[tokio::test]
async fn inside_an_axum_router() {
    let app = axum::Router::new()
        .route("/", axum::routing::get(|| async { "home" }))
        .layer(SecurityHeadersLayer::new(SecurityHeadersConfig::web()).unwrap());
    let res = app
        .clone()
        .oneshot(Request::get("/").body(axum::body::Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(res.headers()["content-security-policy"], WEB_CSP);
    assert_eq!(res.into_body().collect().await.unwrap().to_bytes(), "home");
    // axum's own 404 gets them too.
    let res = app
        .oneshot(
            Request::get("/nope")
                .body(axum::body::Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    assert_eq!(res.headers()["x-content-type-options"], "nosniff");
}
