//! Rate limiting: headers, refill timing on an injected clock, keys and
//! trusted-proxy spoofing, per-route quotas, bounded memory, fail-closed
//! cases, shared stores, and the layer in axum.
#![cfg(feature = "security")]

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::{HeaderMap, Request, Response, StatusCode};
use http_body_util::{BodyExt as _, Empty};
use plumego_core::context::{PeerAddr, Principal};
use plumego_core::store::{Decision, RateLimitStore, StoreError, StoreFuture};
use plumego_layers::security::rate_limit::{
    IpNet, MemoryLimiterConfig, MemoryRateLimiter, Quota, RateLimitConfig, RateLimitLayer,
    RouteRateLimit, client_ip,
};
use plumego_layers::security::{ManualClock, RequestView};
use tower::{ServiceBuilder, ServiceExt as _};

const T0: u64 = 1_700_000_000;

fn clock() -> ManualClock {
    ManualClock::new(UNIX_EPOCH + Duration::from_secs(T0))
}

fn ok_service()
-> impl tower::Service<Request<()>, Response = Response<Empty<Bytes>>, Error = Infallible, Future: Send>
+ Clone
+ Send
+ 'static {
    tower::service_fn(|_req: Request<()>| async {
        Ok::<_, Infallible>(Response::new(Empty::new()))
    })
}

fn req_from(peer: &str, headers: &[(&str, &str)]) -> Request<()> {
    let mut req = Request::get("/");
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let mut req = req.body(()).unwrap();
    req.extensions_mut().insert(PeerAddr(peer.parse().unwrap()));
    req
}

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

async fn send<S, B>(svc: &S, req: Request<()>) -> Answer
where
    S: tower::Service<Request<()>, Response = Response<B>, Error = Infallible> + Clone,
    B: http_body::Body<Data = Bytes>,
    B::Error: std::fmt::Debug,
{
    let res = svc.clone().oneshot(req).await.unwrap();
    let (parts, body) = res.into_parts();
    let body = body.collect().await.unwrap().to_bytes();
    Answer {
        status: parts.status,
        headers: parts.headers,
        body: String::from_utf8(body.to_vec()).unwrap(),
    }
}

fn h<'a>(a: &'a Answer, name: &str) -> &'a str {
    a.headers
        .get(name)
        .map(|v| v.to_str().unwrap())
        .unwrap_or("")
}

#[tokio::test]
async fn headers_and_refill_timing() {
    let clock = clock();
    // 1 a second sustained, bursts of 3.
    let layer = RateLimitLayer::new(RateLimitConfig::new(Quota::new(1.0, 3)).clock(clock.clone()));
    let svc = ServiceBuilder::new().layer(layer).service(ok_service());
    let ip = "198.51.100.7:40000";

    let a = send(&svc, req_from(ip, &[])).await;
    assert_eq!(a.status, 200);
    assert_eq!(h(&a, "x-ratelimit-limit"), "3");
    assert_eq!(h(&a, "x-ratelimit-remaining"), "2");
    assert_eq!(h(&a, "x-ratelimit-reset"), (T0 + 1).to_string());
    assert_eq!(h(&a, "ratelimit-policy"), r#""default";q=3;w=3"#);
    assert_eq!(h(&a, "ratelimit"), r#""default";r=2;t=1"#);
    let a = send(&svc, req_from(ip, &[])).await;
    assert_eq!(
        (h(&a, "x-ratelimit-remaining"), h(&a, "ratelimit")),
        ("1", r#""default";r=1;t=2"#)
    );
    let a = send(&svc, req_from(ip, &[])).await;
    assert_eq!(
        (a.status.as_u16(), h(&a, "x-ratelimit-remaining")),
        (200, "0")
    );
    assert_eq!(h(&a, "x-ratelimit-reset"), (T0 + 3).to_string());

    let denied = send(&svc, req_from(ip, &[])).await;
    assert_eq!(denied.status, 429);
    assert_eq!(h(&denied, "retry-after"), "1");
    assert_eq!(h(&denied, "x-ratelimit-remaining"), "0");
    assert_eq!(h(&denied, "x-ratelimit-limit"), "3");
    assert_eq!(h(&denied, "content-type"), "application/json");
    let body: serde_json::Value = serde_json::from_str(&denied.body).unwrap();
    assert_eq!(body["error"]["code"], "RATE_LIMITED");
    assert_eq!(body["error"]["type"], "rate_limited");
    assert_eq!(body["error"]["message"], "too many requests");
    assert_eq!(body["error"]["details"]["limit"], 3);
    assert_eq!(body["error"]["details"]["remaining"], 0);
    assert_eq!(body["error"]["details"]["retry_after"], 1.0);
    assert_eq!(body["error"]["details"]["reset_at"], "2023-11-14T22:13:23Z");

    // Refill: one token a second.
    clock.advance(Duration::from_millis(999));
    assert_eq!(send(&svc, req_from(ip, &[])).await.status, 429);
    clock.advance(Duration::from_millis(1));
    let a = send(&svc, req_from(ip, &[])).await;
    assert_eq!(
        (a.status.as_u16(), h(&a, "x-ratelimit-remaining")),
        (200, "0")
    );
    // Half a second short: Retry-After rounds up to 1, details keep the fraction.
    clock.advance(Duration::from_millis(500));
    let denied = send(&svc, req_from(ip, &[])).await;
    assert_eq!(
        (denied.status.as_u16(), h(&denied, "retry-after")),
        (429, "1")
    );
    let body: serde_json::Value = serde_json::from_str(&denied.body).unwrap();
    assert_eq!(body["error"]["details"]["retry_after"], 0.5);
    // A long pause refills to the burst, not beyond.
    clock.advance(Duration::from_secs(3600));
    for remaining in ["2", "1", "0"] {
        assert_eq!(
            h(
                &send(&svc, req_from(ip, &[])).await,
                "x-ratelimit-remaining"
            ),
            remaining
        );
    }
    assert_eq!(send(&svc, req_from(ip, &[])).await.status, 429);
    // A clock going backwards refills nothing.
    clock.rewind(Duration::from_secs(30));
    assert_eq!(send(&svc, req_from(ip, &[])).await.status, 429);
    // Other clients have their own buckets.
    assert_eq!(
        send(&svc, req_from("198.51.100.8:1", &[])).await.status,
        200
    );
}

#[tokio::test]
async fn retry_after_is_whole_seconds_and_at_least_one() {
    let clock = clock();
    // 1 per minute.
    let svc = ServiceBuilder::new()
        .layer(RateLimitLayer::new(
            RateLimitConfig::new(Quota::per_minute(1)).clock(clock.clone()),
        ))
        .service(ok_service());
    let ip = "192.0.2.200:1";
    assert_eq!(send(&svc, req_from(ip, &[])).await.status, 200);
    let d = send(&svc, req_from(ip, &[])).await;
    assert_eq!(
        (h(&d, "retry-after"), h(&d, "ratelimit-policy")),
        ("60", r#""default";q=1;w=60"#)
    );
    clock.advance(Duration::from_millis(59_001));
    assert_eq!(h(&send(&svc, req_from(ip, &[])).await, "retry-after"), "1");
    // 100 a second: retry after 10 ms still says 1.
    let svc = ServiceBuilder::new()
        .layer(RateLimitLayer::new(
            RateLimitConfig::new(Quota::per_second(100).burst(1)).clock(clock.clone()),
        ))
        .service(ok_service());
    assert_eq!(send(&svc, req_from(ip, &[])).await.status, 200);
    assert_eq!(h(&send(&svc, req_from(ip, &[])).await, "retry-after"), "1");
}

fn view_ip(peer: &str, xff: &[&str], trusted: &[&str]) -> Option<IpAddr> {
    let mut req = Request::get("/");
    for v in xff {
        req = req.header("x-forwarded-for", *v);
    }
    let mut req = req.body(()).unwrap();
    req.extensions_mut()
        .insert(PeerAddr(peer.parse::<SocketAddr>().unwrap()));
    let nets: Vec<IpNet> = trusted.iter().map(|t| IpNet::parse(t).unwrap()).collect();
    client_ip(&RequestView::new(&req), &nets)
}

fn ip(s: &str) -> Option<IpAddr> {
    Some(s.parse().unwrap())
}

#[test]
fn forwarded_for_is_trusted_only_from_proxies() {
    let proxies = ["10.0.0.0/8", "fd00::/8"];
    // Direct clients cannot choose their key.
    assert_eq!(
        view_ip("203.0.113.5:1", &["1.1.1.1"], &[]),
        ip("203.0.113.5")
    );
    assert_eq!(
        view_ip("203.0.113.5:1", &["1.1.1.1"], &proxies),
        ip("203.0.113.5")
    );
    assert_eq!(
        view_ip("203.0.113.5:1", &["10.0.0.9"], &proxies),
        ip("203.0.113.5")
    );
    // Behind a proxy: the rightmost entry that is not a proxy.
    assert_eq!(
        view_ip("10.0.0.1:1", &["198.51.100.1"], &proxies),
        ip("198.51.100.1")
    );
    // A spoofed entry on the left is ignored; the proxy appended the real one.
    assert_eq!(
        view_ip("10.0.0.1:1", &["6.6.6.6, 198.51.100.1"], &proxies),
        ip("198.51.100.1")
    );
    assert_eq!(
        view_ip("10.0.0.1:1", &["6.6.6.6", "198.51.100.1"], &proxies),
        ip("198.51.100.1")
    );
    // Chains of proxies are skipped.
    assert_eq!(
        view_ip(
            "10.0.0.1:1",
            &["6.6.6.6, 198.51.100.1, 10.0.0.2, 10.9.9.9"],
            &proxies
        ),
        ip("198.51.100.1")
    );
    // Spoofing a proxy address on the left changes nothing.
    assert_eq!(
        view_ip("10.0.0.1:1", &["10.0.0.5, 198.51.100.1"], &proxies),
        ip("198.51.100.1")
    );
    // Garbage to the right of the client: nothing left of it is trusted.
    assert_eq!(
        view_ip("10.0.0.1:1", &["198.51.100.1, not-an-ip"], &proxies),
        ip("10.0.0.1")
    );
    assert_eq!(
        view_ip("10.0.0.1:1", &["198.51.100.1, "], &proxies),
        ip("10.0.0.1")
    );
    // Garbage left of the client is never reached.
    assert_eq!(
        view_ip("10.0.0.1:1", &["junk, 198.51.100.1"], &proxies),
        ip("198.51.100.1")
    );
    // Only proxies: the leftmost.
    assert_eq!(
        view_ip("10.0.0.1:1", &["10.1.1.1, 10.2.2.2"], &proxies),
        ip("10.1.1.1")
    );
    // No header: the proxy itself.
    assert_eq!(view_ip("10.0.0.1:1", &[], &proxies), ip("10.0.0.1"));
    // Ports and brackets, IPv6, IPv4-mapped forms.
    assert_eq!(
        view_ip("10.0.0.1:1", &["198.51.100.1:5555"], &proxies),
        ip("198.51.100.1")
    );
    assert_eq!(
        view_ip("10.0.0.1:1", &["[2001:db8::1]:80"], &proxies),
        ip("2001:db8::1")
    );
    assert_eq!(
        view_ip("[fd00::1]:1", &["2001:db8::2"], &proxies),
        ip("2001:db8::2")
    );
    assert_eq!(
        view_ip("[::ffff:10.0.0.1]:1", &["198.51.100.1"], &proxies),
        ip("198.51.100.1")
    );
    assert_eq!(
        view_ip("10.0.0.1:1", &["::ffff:198.51.100.1"], &proxies),
        ip("198.51.100.1")
    );
    assert_eq!(
        view_ip("10.0.0.1:1", &["::ffff:10.3.3.3, 10.0.0.4"], &proxies),
        ip("10.3.3.3")
    );
    assert_eq!(
        view_ip("[::ffff:203.0.113.5]:1", &["1.1.1.1"], &proxies),
        ip("203.0.113.5")
    );
    // IpNet parsing.
    assert!(IpNet::parse("10.0.0.0/33").is_none());
    assert!(IpNet::parse("10.0.0.0/").is_none());
    assert!(IpNet::parse("10.0.0.0/-1").is_none());
    assert!(
        IpNet::parse("::/0")
            .unwrap()
            .contains("2001:db8::1".parse().unwrap())
    );
    assert!(
        IpNet::parse("0.0.0.0/0")
            .unwrap()
            .contains("8.8.8.8".parse().unwrap())
    );
    assert!(
        !IpNet::parse("10.0.0.0/8")
            .unwrap()
            .contains("11.0.0.0".parse().unwrap())
    );
}

#[tokio::test]
async fn spoofed_forwarded_for_does_not_escape_the_limit() {
    let clock = clock();
    let layer = RateLimitLayer::new(
        RateLimitConfig::new(Quota::new(1.0, 1))
            .clock(clock.clone())
            .trust_proxy("10.0.0.0/8"),
    );
    let svc = ServiceBuilder::new().layer(layer).service(ok_service());
    // A direct client rotating X-Forwarded-For values stays one client.
    assert_eq!(
        send(
            &svc,
            req_from("203.0.113.9:1", &[("x-forwarded-for", "1.1.1.1")])
        )
        .await
        .status,
        200
    );
    assert_eq!(
        send(
            &svc,
            req_from("203.0.113.9:2", &[("x-forwarded-for", "2.2.2.2")])
        )
        .await
        .status,
        429
    );
    // Behind the proxy, spoofed left entries do not help either.
    let via = |spoof: &'static str| req_from("10.0.0.1:1", &[("x-forwarded-for", spoof)]);
    assert_eq!(send(&svc, via("9.9.9.1, 198.51.100.1")).await.status, 200);
    assert_eq!(send(&svc, via("9.9.9.2, 198.51.100.1")).await.status, 429);
    assert_eq!(send(&svc, via("198.51.100.2")).await.status, 200);
}

#[tokio::test]
async fn ipv6_clients_share_their_64() {
    let clock = clock();
    let svc = ServiceBuilder::new()
        .layer(RateLimitLayer::new(
            RateLimitConfig::new(Quota::new(1.0, 1)).clock(clock.clone()),
        ))
        .service(ok_service());
    assert_eq!(
        send(&svc, req_from("[2001:db8:1:2::1]:1", &[]))
            .await
            .status,
        200
    );
    assert_eq!(
        send(&svc, req_from("[2001:db8:1:2:ffff::9]:1", &[]))
            .await
            .status,
        429
    );
    assert_eq!(
        send(&svc, req_from("[2001:db8:1:3::1]:1", &[]))
            .await
            .status,
        200
    );
    let per_address = ServiceBuilder::new()
        .layer(RateLimitLayer::new(
            RateLimitConfig::new(Quota::new(1.0, 1))
                .clock(clock)
                .ipv6_prefix(128),
        ))
        .service(ok_service());
    assert_eq!(
        send(&per_address, req_from("[2001:db8:1:2::1]:1", &[]))
            .await
            .status,
        200
    );
    assert_eq!(
        send(&per_address, req_from("[2001:db8:1:2::2]:1", &[]))
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn keys_by_api_key_principal_and_function() {
    let clock = clock();
    let by_key = ServiceBuilder::new()
        .layer(RateLimitLayer::new(
            RateLimitConfig::new(Quota::new(1.0, 1))
                .clock(clock.clone())
                .key_by_header("x-api-key".parse().unwrap()),
        ))
        .service(ok_service());
    // Same IP, different keys: separate buckets; no key: by IP.
    assert_eq!(
        send(&by_key, req_from("192.0.2.1:1", &[("x-api-key", "a")]))
            .await
            .status,
        200
    );
    assert_eq!(
        send(&by_key, req_from("192.0.2.1:1", &[("x-api-key", "b")]))
            .await
            .status,
        200
    );
    assert_eq!(
        send(&by_key, req_from("192.0.2.2:1", &[("x-api-key", "a")]))
            .await
            .status,
        429
    );
    assert_eq!(
        send(&by_key, req_from("192.0.2.1:1", &[])).await.status,
        200
    );
    assert_eq!(
        send(&by_key, req_from("192.0.2.1:1", &[("x-api-key", "  ")]))
            .await
            .status,
        429
    );

    let by_principal = ServiceBuilder::new()
        .layer(RateLimitLayer::new(
            RateLimitConfig::new(Quota::new(1.0, 1))
                .clock(clock.clone())
                .key_by_principal(),
        ))
        .service(ok_service());
    let as_user = |peer: &str, subject: &str| {
        let mut req = req_from(peer, &[]);
        req.extensions_mut()
            .insert(Arc::new(Principal::new(subject)));
        req
    };
    assert_eq!(
        send(&by_principal, as_user("192.0.2.1:1", "alice"))
            .await
            .status,
        200
    );
    assert_eq!(
        send(&by_principal, as_user("192.0.2.9:1", "alice"))
            .await
            .status,
        429
    );
    assert_eq!(
        send(&by_principal, as_user("192.0.2.9:1", "bob"))
            .await
            .status,
        200
    );

    let by_fn = ServiceBuilder::new()
        .layer(RateLimitLayer::new(
            RateLimitConfig::new(Quota::new(1.0, 1))
                .clock(clock)
                .key_by(|req| {
                    req.headers
                        .get("x-tenant")
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_owned)
                }),
        ))
        .service(ok_service());
    assert_eq!(
        send(&by_fn, req_from("192.0.2.1:1", &[("x-tenant", "t1")]))
            .await
            .status,
        200
    );
    assert_eq!(
        send(&by_fn, req_from("192.0.2.2:1", &[("x-tenant", "t1")]))
            .await
            .status,
        429
    );
    // Blank keys fall back to the IP.
    assert_eq!(
        send(&by_fn, req_from("192.0.2.3:1", &[("x-tenant", " ")]))
            .await
            .status,
        200
    );
    assert_eq!(send(&by_fn, req_from("192.0.2.3:1", &[])).await.status, 429);
}

#[tokio::test]
async fn fails_closed() {
    // No peer address: 503, not a free pass.
    let svc = ServiceBuilder::new()
        .layer(RateLimitLayer::default())
        .service(ok_service());
    let a = send(&svc, Request::new(())).await;
    assert_eq!(a.status, 503);
    assert!(
        a.body.contains(r#""code":"RATE_LIMIT_UNAVAILABLE""#),
        "{}",
        a.body
    );
    let open = ServiceBuilder::new()
        .layer(RateLimitLayer::new(
            RateLimitConfig::default().fail_open(true),
        ))
        .service(ok_service());
    assert_eq!(send(&open, Request::new(())).await.status, 200);

    // Invalid configurations deny everything, even with fail_open.
    for config in [
        RateLimitConfig::new(Quota::new(0.0, 10)),
        RateLimitConfig::new(Quota::new(-1.0, 10)),
        RateLimitConfig::new(Quota::new(f64::NAN, 10)),
        RateLimitConfig::new(Quota::new(f64::INFINITY, 10)),
        RateLimitConfig::new(Quota::new(10.0, 0)),
        RateLimitConfig::default().trust_proxy("not-a-network"),
        RateLimitConfig::default().policy_name("bad name\""),
        RateLimitConfig::default().ipv6_prefix(129),
        RateLimitConfig::default().memory(MemoryLimiterConfig {
            max_keys: 0,
            ..Default::default()
        }),
    ] {
        assert!(config.validate().is_err(), "{config:?}");
        assert!(RateLimitLayer::try_new(config.clone()).is_err());
        let svc = ServiceBuilder::new()
            .layer(RateLimitLayer::new(config.fail_open(true)))
            .service(ok_service());
        assert_eq!(send(&svc, req_from("192.0.2.1:1", &[])).await.status, 503);
    }
}

#[tokio::test]
async fn skip_and_no_headers() {
    let clock = clock();
    let svc = ServiceBuilder::new()
        .layer(RateLimitLayer::new(
            RateLimitConfig::new(Quota::new(1.0, 1))
                .clock(clock)
                .include_headers(false)
                .policy_name("api-v1")
                .skip(|req| req.uri.path() == "/health"),
        ))
        .service(ok_service());
    let a = send(&svc, req_from("192.0.2.1:1", &[])).await;
    assert_eq!(a.status, 200);
    assert!(a.headers.get("x-ratelimit-limit").is_none() && a.headers.get("ratelimit").is_none());
    let d = send(&svc, req_from("192.0.2.1:1", &[])).await;
    assert_eq!(d.status, 429);
    assert_eq!(
        h(&d, "retry-after"),
        "1",
        "Retry-After is always sent when denied"
    );
    assert!(d.headers.get("x-ratelimit-limit").is_none());
    let mut health = req_from("192.0.2.1:1", &[]);
    *health.uri_mut() = "/health".parse().unwrap();
    assert_eq!(send(&svc, health).await.status, 200);
}

#[tokio::test]
async fn per_route_quotas_in_plumego_router() {
    use plumego_core::{Body, handler_fn};
    use plumego_router::RouterBuilder;

    let clock = clock();
    let ok = handler_fn(|_req: Request<Body>| async { "ok" });
    let mut routes = RouterBuilder::new();
    routes
        .group("/api", |api| {
            api.layer(RateLimitLayer::new(
                RateLimitConfig::new(Quota::new(1.0, 2)).clock(clock.clone()),
            ));
            api.post("/login", ok)?
                .meta(RouteRateLimit::new(Quota::per_minute(1)));
            api.get("/items", ok)?;
            api.get("/items/:id", ok)?;
            api.get("/health", ok)?.meta(RouteRateLimit::exempt());
            Ok(())
        })
        .unwrap();
    let router = routes.build();
    let call = |method: &'static str, path: &'static str| {
        let router = router.clone();
        async move {
            let mut req = Request::builder()
                .method(method)
                .uri(path)
                .body(Body::empty())
                .unwrap();
            req.extensions_mut()
                .insert(PeerAddr("192.0.2.77:9".parse().unwrap()));
            let res = router.oneshot(req).await.unwrap();
            (
                res.status().as_u16(),
                res.headers()
                    .get("x-ratelimit-limit")
                    .map(|v| v.to_str().unwrap().to_owned()),
            )
        }
    };
    assert_eq!(call("POST", "/api/login").await, (200, Some("1".into())));
    assert_eq!(call("POST", "/api/login").await.0, 429);
    // The login bucket is its own: the default quota still has room.
    assert_eq!(call("GET", "/api/items").await, (200, Some("2".into())));
    assert_eq!(
        call("GET", "/api/items/7").await.0,
        200,
        "routes without a quota share the default bucket"
    );
    assert_eq!(call("GET", "/api/items/8").await.0, 429);
    for _ in 0..5 {
        assert_eq!(call("GET", "/api/health").await, (200, None));
    }
}

#[test]
fn memory_is_bounded_and_idle_keys_go() {
    let limiter = MemoryRateLimiter::new(MemoryLimiterConfig {
        max_keys: 64,
        shards: 4,
        sweep_interval: Duration::from_secs(60),
    });
    let gcra = Quota::new(1.0, 5).gcra().unwrap();
    let t = UNIX_EPOCH + Duration::from_secs(T0);
    for i in 0..10_000 {
        let d = limiter.check(&format!("k{i}"), &gcra, t);
        assert!(d.allowed, "a new key starts with a full bucket");
    }
    assert!(limiter.len() <= 64, "{}", limiter.len());
    assert!(limiter.evictions() > 0);
    // Keys whose bucket is full again are dropped by the next sweep.
    let later = t + Duration::from_secs(120);
    limiter.check("fresh", &gcra, later);
    for shard_key in 0..64 {
        limiter.check(&format!("poke{shard_key}"), &gcra, later);
    }
    assert!(limiter.len() <= 64 + 1);
    let much_later = later + Duration::from_secs(120);
    limiter.check("x", &gcra, much_later);
    // At most the shards touched since keep their recent keys.
    assert!(limiter.len() < 64, "{}", limiter.len());
    // The layer exposes its limiter (for metrics).
    let layer = RateLimitLayer::default();
    assert!(
        layer
            .memory_limiter()
            .is_some_and(MemoryRateLimiter::is_empty)
    );
}

/// A shared store that awaits (like Redis) and can be made to fail.
#[derive(Default)]
struct FlakyStore {
    inner: MemoryRateLimiter,
    down: AtomicBool,
}

impl RateLimitStore for FlakyStore {
    fn take<'a>(
        &'a self,
        key: &'a str,
        rate: f64,
        burst: u32,
        now: SystemTime,
    ) -> StoreFuture<'a, Decision> {
        Box::pin(async move {
            tokio::task::yield_now().await;
            if self.down.load(Ordering::SeqCst) {
                return Err(StoreError::backend("connection refused"));
            }
            self.inner.take(key, rate, burst, now).await
        })
    }
}

#[tokio::test]
async fn shared_store_backend() {
    let clock = clock();
    let store = Arc::new(FlakyStore::default());
    let config = RateLimitConfig::new(Quota::new(1.0, 1))
        .clock(clock)
        .store(store.clone());
    let svc = ServiceBuilder::new()
        .layer(RateLimitLayer::new(config.clone()))
        .service(ok_service());
    // A second layer over the same store shares the limit (two instances).
    let other = ServiceBuilder::new()
        .layer(RateLimitLayer::new(config.clone()))
        .service(ok_service());
    let a = send(&svc, req_from("192.0.2.1:1", &[])).await;
    assert_eq!(
        (a.status.as_u16(), h(&a, "x-ratelimit-remaining")),
        (200, "0")
    );
    assert_eq!(send(&other, req_from("192.0.2.1:1", &[])).await.status, 429);
    store.down.store(true, Ordering::SeqCst);
    let a = send(&svc, req_from("192.0.2.2:1", &[])).await;
    assert_eq!(a.status, 503);
    let open = ServiceBuilder::new()
        .layer(RateLimitLayer::new(config.fail_open(true)))
        .service(ok_service());
    assert_eq!(send(&open, req_from("192.0.2.2:1", &[])).await.status, 200);
}

#[tokio::test]
async fn rate_limit_inside_axum() {
    use axum::routing::get;
    let clock = clock();
    let app = axum::Router::new()
        .route("/", get(|| async { "hello" }))
        .layer(RateLimitLayer::new(
            RateLimitConfig::new(Quota::new(1.0, 2)).clock(clock),
        ));
    let call = || {
        let mut req = Request::get("/").body(axum::body::Body::empty()).unwrap();
        req.extensions_mut()
            .insert(PeerAddr("192.0.2.5:1".parse().unwrap()));
        app.clone().oneshot(req)
    };
    // Clones of the service (one per request here, one per connection in a
    // server) share the limiter: no Buffer needed.
    let first = call().await.unwrap();
    assert_eq!(first.status(), 200);
    assert_eq!(first.headers()["x-ratelimit-remaining"], "1");
    assert_eq!(call().await.unwrap().status(), 200);
    let denied = call().await.unwrap();
    assert_eq!(denied.status(), 429);
    assert_eq!(denied.headers()["retry-after"], "1");
    let body = denied.into_body().collect().await.unwrap().to_bytes();
    assert!(body.starts_with(br#"{"error":{"code":"RATE_LIMITED""#));
}
