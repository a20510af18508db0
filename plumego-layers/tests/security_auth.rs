//! Bearer parsing, API keys, static token, Basic, the authenticate and
//! authorize layers (alone, in axum, and per route in Plumego's router).
#![cfg(feature = "security")]

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use base64::Engine as _;
use bytes::Bytes;
use http::{HeaderMap, Request, Response, StatusCode};
use http_body_util::{BodyExt as _, Full};
use plumego_core::context::{Principal, RequestExt as _};
use plumego_core::error::{ApiError, ErrorType};
use plumego_layers::security::api_key::{
    ApiKeyAuthenticator, BasicAuthenticator, StaticToken, secret_digest,
};
use plumego_layers::security::{
    AccessPolicy, AllowAnonymous, AuthConfig, AuthError, AuthFuture, AuthenticateLayer,
    Authenticated, Authenticator, AuthorizeLayer, Permission, RequestView, RequireScopes,
    RouteScopes, auth_fn, authenticate, authorize, bearer_token, parse_bearer, policy_fn,
};
use tower::{ServiceBuilder, ServiceExt as _};

#[test]
fn bearer_parsing_matrix() {
    let ok = [
        ("Bearer abc", "abc"),
        ("bearer abc", "abc"),
        ("BEARER abc", "abc"),
        ("BeArEr\tabc", "abc"),
        ("Bearer    abc", "abc"),
        ("  Bearer abc  ", "abc"),
        ("Bearer a.b-c_d~e+f/g==", "a.b-c_d~e+f/g=="),
        ("Bearer \t abc", "abc"),
    ];
    for (value, token) in ok {
        assert_eq!(parse_bearer(value), Some(token), "{value:?}");
    }
    let bad = [
        "",
        "Bearer",
        "Bearer ",
        "Bearer \t ",
        "Bearerabc",
        "Bearer:abc",
        "Bearer,abc",
        "Bearer-abc",
        "Basic abc",
        "Token abc",
        "abc",
        "Bearer a b",
        "Bearer a\tb",
        "Bearer a\u{a0}b",
        "Bearer a\u{3000}b",
        "Beare abc",
        "Bearer\u{a0}abc",
        "Bearer\nabc",
        "Bearer a\u{7}b",
        "Bearerabc def",
        " Bearer",
        "Bearer\u{1}abc",
        "Bearer\u{2003}abc",
    ];
    for value in bad {
        assert_eq!(parse_bearer(value), None, "{value:?}");
    }
}

#[test]
fn bearer_from_headers() {
    let mut headers = HeaderMap::new();
    assert_eq!(bearer_token(&headers), None);
    headers.insert("authorization", "Bearer t1".parse().unwrap());
    assert_eq!(bearer_token(&headers), Some("t1"));
    // Two Authorization headers are ambiguous: no token.
    headers.append("authorization", "Bearer t2".parse().unwrap());
    assert_eq!(bearer_token(&headers), None);
    // Non-UTF-8 or non-ASCII values are not tokens.
    let mut headers = HeaderMap::new();
    headers.insert(
        "authorization",
        http::HeaderValue::from_bytes(b"Bearer \xff\xfe").unwrap(),
    );
    assert_eq!(bearer_token(&headers), None);
    // The query string is never read.
    let req = Request::get("/x?access_token=t&token=t").body(()).unwrap();
    assert_eq!(bearer_token(req.headers()), None);
}

async fn outcome<A: Authenticator>(
    auth: &A,
    headers: &[(&str, &str)],
) -> Result<Authenticated, AuthError> {
    let mut req = Request::get("/x?token=secret123&api_key=k-live-1");
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let req = req.body(()).unwrap();
    auth.authenticate(&RequestView::new(&req)).await
}

#[tokio::test]
async fn api_key_matrix() {
    let keys = ApiKeyAuthenticator::new()
        .key("k-live-1", Principal::new("one"))
        .key(" k-live-2 ", Principal::new("two"))
        .key("   ", Principal::new("blank"))
        .key_digest(secret_digest(b"k-digest"), Principal::new("digest"));
    let who = |r: Result<Authenticated, AuthError>| r.map(|a| a.principal.subject);
    assert_eq!(
        who(outcome(&keys, &[("x-api-key", "k-live-1")]).await).unwrap(),
        "one"
    );
    assert_eq!(
        who(outcome(&keys, &[("x-api-key", " k-live-2\t")]).await).unwrap(),
        "two"
    );
    assert_eq!(
        who(outcome(&keys, &[("authorization", "Bearer k-digest")]).await).unwrap(),
        "digest"
    );
    // The header wins over the bearer token.
    assert_eq!(
        who(outcome(
            &keys,
            &[
                ("x-api-key", "k-live-1"),
                ("authorization", "Bearer k-live-2")
            ]
        )
        .await)
        .unwrap(),
        "one"
    );
    for bad in [
        vec![("x-api-key", "k-live-3")],
        vec![("x-api-key", "K-LIVE-1")],
        vec![("x-api-key", "k-live-1x")],
        vec![("x-api-key", "k-live-")],
        vec![("authorization", "Bearer k-live-1 extra")],
        vec![("authorization", "Basic k-live-1")],
    ] {
        let r = outcome(&keys, &bad).await;
        assert!(
            matches!(
                r,
                Err(AuthError::InvalidToken(_) | AuthError::Unauthenticated)
            ),
            "{bad:?}"
        );
    }
    assert!(matches!(
        outcome(&keys, &[]).await,
        Err(AuthError::Unauthenticated)
    ));
    assert!(matches!(
        outcome(&keys, &[("x-api-key", "   ")]).await,
        Err(AuthError::Unauthenticated)
    ));
    assert!(matches!(
        outcome(&keys, &[("x-api-key", "nope")]).await,
        Err(AuthError::InvalidToken(_))
    ));
    // No keys configured: nothing matches, not even an empty key.
    let none = ApiKeyAuthenticator::new();
    assert!(outcome(&none, &[("x-api-key", "x")]).await.is_err());
    // Header only / bearer only.
    let header_only = ApiKeyAuthenticator::new()
        .bearer(false)
        .key("k", Principal::new("h"));
    assert!(
        outcome(&header_only, &[("authorization", "Bearer k")])
            .await
            .is_err()
    );
    let bearer_only = ApiKeyAuthenticator::new()
        .header(None)
        .key("k", Principal::new("b"));
    assert!(outcome(&bearer_only, &[("x-api-key", "k")]).await.is_err());
    assert!(
        outcome(&bearer_only, &[("authorization", "bearer k")])
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn static_token_like_go() {
    let t = StaticToken::new("secret123");
    let ok =
        |r: &Result<Authenticated, AuthError>| r.as_ref().map(|a| a.principal.subject.clone()).ok();
    assert_eq!(
        ok(&outcome(&t, &[("x-token", "secret123")]).await).as_deref(),
        Some("static-token")
    );
    assert_eq!(
        ok(&outcome(&t, &[("authorization", "Bearer secret123")]).await).as_deref(),
        Some("static-token")
    );
    assert_eq!(
        ok(&outcome(&t, &[("x-token", "  secret123 ")]).await).as_deref(),
        Some("static-token")
    );
    // Every failure is Unauthenticated, as in Go.
    for headers in [
        vec![],
        vec![("authorization", "Bearer")],
        vec![("x-token", "wrong-token")],
        vec![("authorization", "Bearer wrong"), ("x-token", "secret123")],
    ] {
        assert!(
            matches!(outcome(&t, &headers).await, Err(AuthError::Unauthenticated)),
            "{headers:?}"
        );
    }
    // Blank configured token fails closed.
    let blank = StaticToken::new("  ");
    assert!(matches!(
        outcome(&blank, &[("x-token", "")]).await,
        Err(AuthError::Unauthenticated)
    ));
    assert!(matches!(
        outcome(&blank, &[("authorization", "Bearer  ")]).await,
        Err(AuthError::Unauthenticated)
    ));
}

fn basic(user_pass: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(user_pass)
    )
}

#[tokio::test]
async fn basic_auth_matrix() {
    let auth = BasicAuthenticator::new()
        .user("alice", "pa:ss word", Principal::new("alice"))
        .user("bad:name", "x", Principal::new("never"));
    assert!(
        outcome(&auth, &[("authorization", &basic("alice:pa:ss word"))])
            .await
            .is_ok()
    );
    let lower = basic("alice:pa:ss word").replace("Basic", "basic");
    assert!(outcome(&auth, &[("authorization", &lower)]).await.is_ok());
    for value in [
        basic("alice:wrong"),
        basic("Alice:pa:ss word"),
        basic("alice"),
        basic("bad:name:x"),
        "Basic !!!".to_string(),
        "Basic".to_string(),
        format!(
            "Bearer {}",
            base64::engine::general_purpose::STANDARD.encode("alice:pa:ss word")
        ),
    ] {
        assert!(
            outcome(&auth, &[("authorization", &value)]).await.is_err(),
            "{value}"
        );
    }
    assert_eq!(auth.challenge_scheme(), "Basic");
}

type Svc = tower::util::BoxCloneService<
    Request<()>,
    Response<plumego_layers::ResponseBody<Full<Bytes>>>,
    Infallible,
>;

fn echo_principal()
-> impl tower::Service<Request<()>, Response = Response<Full<Bytes>>, Error = Infallible, Future: Send>
+ Clone
+ Send
+ 'static {
    tower::service_fn(|req: Request<()>| async move {
        let who = req
            .principal()
            .map(|p| p.subject.clone())
            .unwrap_or_else(|| "-".into());
        Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(who))))
    })
}

async fn run<S, B>(svc: S, headers: &[(&str, &str)]) -> (StatusCode, HeaderMap, String)
where
    S: tower::Service<Request<()>, Response = Response<B>, Error = Infallible>,
    B: http_body::Body<Data = Bytes>,
    B::Error: std::fmt::Debug,
{
    let mut req = Request::get("/");
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let res = svc.oneshot(req.body(()).unwrap()).await.unwrap();
    let (parts, body) = res.into_parts();
    let body = body.collect().await.unwrap().to_bytes();
    (
        parts.status,
        parts.headers,
        String::from_utf8(body.to_vec()).unwrap(),
    )
}

fn with_auth(layer: AuthenticateLayer) -> Svc {
    tower::util::BoxCloneService::new(ServiceBuilder::new().layer(layer).service(echo_principal()))
}

#[tokio::test]
async fn default_error_mapping_and_realm() {
    let answer =
        |e: fn() -> AuthError| auth_fn(move |_req| AuthFuture::ready(Err::<Principal, _>(e())));
    type Case = (fn() -> AuthError, u16, &'static str, &'static str);
    let cases: [Case; 6] = [
        (
            || AuthError::Unauthenticated,
            401,
            "UNAUTHORIZED",
            "authentication required",
        ),
        (
            || AuthError::invalid("bad sig"),
            401,
            "UNAUTHORIZED",
            "invalid token",
        ),
        (
            || AuthError::ExpiredToken,
            401,
            "UNAUTHORIZED",
            "token expired",
        ),
        (
            || AuthError::Forbidden,
            403,
            "FORBIDDEN",
            "access forbidden",
        ),
        (
            || AuthError::Other("db down".into()),
            401,
            "UNAUTHORIZED",
            "authentication required",
        ),
        (
            || {
                ApiError::builder()
                    .error_type(ErrorType::BadRequest)
                    .code("CUSTOM")
                    .message("as is")
                    .build()
                    .into()
            },
            400,
            "CUSTOM",
            "as is",
        ),
    ];
    for (make, status, code, message) in cases {
        let layer = AuthenticateLayer::new(answer(make), AuthConfig::default().realm("api"));
        let (got, headers, body) = run(with_auth(layer), &[("x-request-id", "r1")]).await;
        assert_eq!(got.as_u16(), status, "{body}");
        assert!(
            body.contains(&format!(r#""code":"{code}","message":"{message}""#)),
            "{body}"
        );
        assert!(
            !body.contains("bad sig") && !body.contains("db down"),
            "causes never leak: {body}"
        );
        assert_eq!(headers["content-type"], "application/json");
        assert_eq!(
            headers.get("www-authenticate").is_some(),
            status == 401,
            "{body}"
        );
    }
    // The error types are the generic ones, not INVALID_TOKEN/EXPIRED_TOKEN.
    let layer = AuthenticateLayer::new(answer(|| AuthError::ExpiredToken), AuthConfig::default());
    let (_, headers, body) = run(with_auth(layer), &[]).await;
    assert!(body.contains(r#""type":"unauthorized_request""#), "{body}");
    assert!(
        headers.get("www-authenticate").is_none(),
        "no realm, no challenge"
    );
}

#[tokio::test]
async fn realm_quoting() {
    let deny =
        || auth_fn(|_req| AuthFuture::ready(Err::<Principal, _>(AuthError::Unauthenticated)));
    let cases = [
        ("api", r#"Bearer realm="api""#),
        (
            r#"my "quoted" realm"#,
            r#"Bearer realm="my \"quoted\" realm""#,
        ),
        (r"back\slash", r#"Bearer realm="back\\slash""#),
        (
            "ctl\r\nInjected: yes\u{7f}\t!",
            r#"Bearer realm="ctlInjected: yes!""#,
        ),
    ];
    for (realm, want) in cases {
        let layer = AuthenticateLayer::new(deny(), AuthConfig::default().realm(realm));
        let (_, headers, _) = run(with_auth(layer), &[]).await;
        assert_eq!(headers["www-authenticate"], want, "{realm:?}");
    }
    // Only control characters: no realm left, no header.
    let layer = AuthenticateLayer::new(deny(), AuthConfig::default().realm("\r\n"));
    let (_, headers, _) = run(with_auth(layer), &[]).await;
    assert!(headers.get("www-authenticate").is_none());
    // Basic always challenges.
    let layer = AuthenticateLayer::new(BasicAuthenticator::new(), AuthConfig::default());
    let (status, headers, _) = run(with_auth(layer), &[]).await;
    assert_eq!(status, 401);
    assert_eq!(headers["www-authenticate"], r#"Basic realm="restricted""#);
    // A custom error handler: its envelope as is, no challenge.
    let layer = AuthenticateLayer::new(
        deny(),
        AuthConfig::default()
            .realm("api")
            .error_handler(|_e| ApiError::new(ErrorType::Unauthorized, "log in first")),
    );
    let (status, headers, body) = run(with_auth(layer), &[]).await;
    assert_eq!(status, 401);
    assert!(body.contains("log in first"));
    assert!(headers.get("www-authenticate").is_none());
}

/// A store-backed authenticator: the lookup awaits.
#[derive(Clone, Default)]
struct SlowStore {
    lookups: Arc<AtomicUsize>,
}

impl Authenticator for SlowStore {
    fn authenticate(&self, request: &RequestView<'_>) -> AuthFuture {
        let token = bearer_token(request.headers).map(str::to_owned);
        let lookups = self.lookups.clone();
        AuthFuture::new(async move {
            tokio::task::yield_now().await;
            lookups.fetch_add(1, Ordering::SeqCst);
            match token.as_deref() {
                Some("session-1") => {
                    let mut p = Principal::new("from-store");
                    p.tenant = Some("t1".into());
                    Ok(Authenticated::from(p).with_extension(42u32))
                }
                Some(_) => Err(AuthError::invalid("unknown session")),
                None => Err(AuthError::Unauthenticated),
            }
        })
    }
}

#[tokio::test]
async fn async_authenticator_and_enriched_request() {
    let store = SlowStore::default();
    let svc = ServiceBuilder::new()
        .layer(authenticate(store.clone()))
        .service_fn(|req: Request<()>| async move {
            let p = req.principal().cloned().unwrap_or_default();
            let extra = req.extensions().get::<u32>().copied().unwrap_or_default();
            Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(format!(
                "{}/{}/{extra}",
                p.tenant.unwrap_or_default(),
                p.subject
            )))))
        });
    let (status, _, body) = run(
        tower::util::BoxCloneService::new(svc.clone()),
        &[("authorization", "Bearer session-1")],
    )
    .await;
    assert_eq!((status.as_u16(), body.as_str()), (200, "t1/from-store/42"));
    let (status, _, body) = run(
        tower::util::BoxCloneService::new(svc),
        &[("authorization", "Bearer other")],
    )
    .await;
    assert_eq!(status, 401);
    assert!(body.contains("invalid token"));
    assert_eq!(store.lookups.load(Ordering::SeqCst), 2);
}

fn principal(roles: &[&str], scopes: &[&str]) -> Principal {
    let mut p = Principal::new("u");
    p.roles = roles.iter().map(|s| s.to_string()).collect();
    p.scopes = scopes.iter().map(|s| s.to_string()).collect();
    p
}

#[test]
fn policy_matrix() {
    let req = Request::new(());
    let view = RequestView::new(&req);
    let p = principal(&["Admin", "ops"], &["READ:Users", "write:posts"]);
    let allow = |policy: AccessPolicy| policy.allows(&p);
    assert!(!allow(AccessPolicy::new()), "empty denies");
    assert!(allow(AccessPolicy::new().allow_empty(true)));
    assert!(allow(AccessPolicy::new().any_role(["admin", "nope"])));
    assert!(!allow(AccessPolicy::new().any_role(["nope"])));
    assert!(allow(AccessPolicy::new().all_roles(["ADMIN", "Ops"])));
    assert!(!allow(AccessPolicy::new().all_roles(["admin", "root"])));
    assert!(allow(AccessPolicy::new().any_permission(["read:users"])));
    assert!(allow(
        AccessPolicy::new().all_permissions(["read:users", "WRITE:POSTS"])
    ));
    assert!(!allow(
        AccessPolicy::new().all_permissions(["read:users", "delete:posts"])
    ));
    assert!(
        !allow(
            AccessPolicy::new()
                .any_role(["admin"])
                .any_permission(["nope"])
        ),
        "every list must hold"
    );
    let perm = |a: &str, r: &str| Permission::new(a, r).authorize(&p, &view).is_ok();
    use plumego_layers::security::Policy as _;
    assert!(perm("read", "users"));
    assert!(perm("Read", "USERS"));
    assert!(!perm("read", "posts"));
    assert!(perm("write:posts", ""));
    assert!(!perm("", ""));
    assert!(
        Permission::new("", "")
            .allow_empty(true)
            .authorize(&p, &view)
            .is_ok()
    );
    assert!(
        Permission::new("read", "users")
            .separator('/')
            .authorize(&p, &view)
            .is_err()
    );
    assert!(
        policy_fn(|p, _| p.subject == "u")
            .authorize(&p, &view)
            .is_ok()
    );
    assert!(
        RouteScopes.authorize(&p, &view).is_ok(),
        "no route, no requirement"
    );
    assert!(!RequireScopes::any(Vec::<String>::new()).is_satisfied_by(&p));
    assert!(RequireScopes::all(Vec::<String>::new()).is_satisfied_by(&p));
}

#[tokio::test]
async fn authorize_layer() {
    let keys = ApiKeyAuthenticator::new()
        .key("admin", principal(&["admin"], &[]))
        .key("user", principal(&["user"], &[]));
    let svc = |policy: AuthorizeLayer| {
        tower::util::BoxCloneService::new(
            ServiceBuilder::new()
                .layer(authenticate(keys.clone()))
                .layer(policy)
                .service(echo_principal()),
        )
    };
    let admins = authorize(AccessPolicy::new().any_role(["admin"]));
    assert_eq!(
        run(svc(admins.clone()), &[("x-api-key", "admin")]).await.0,
        200
    );
    let (status, _, body) = run(svc(admins), &[("x-api-key", "user")]).await;
    assert_eq!(status, 403);
    assert!(
        body.contains(r#""code":"FORBIDDEN","message":"access forbidden""#),
        "{body}"
    );
    // Without an authenticate layer in front: 401.
    let alone = ServiceBuilder::new()
        .layer(authorize(AccessPolicy::new().allow_empty(true)))
        .service(echo_principal());
    let (status, _, body) = run(tower::util::BoxCloneService::new(alone), &[]).await;
    assert_eq!(status, 401);
    assert!(body.contains("authentication required"));
}

#[tokio::test]
async fn authenticate_inside_axum() {
    use axum::routing::get;
    let keys = ApiKeyAuthenticator::new().key("k1", Principal::new("axum-user"));
    let app = axum::Router::new()
        .route(
            "/me",
            get(|req: Request<axum::body::Body>| async move {
                req.principal()
                    .map(|p| p.subject.clone())
                    .unwrap_or_default()
            }),
        )
        .layer(AuthenticateLayer::new(
            keys,
            AuthConfig::default().realm("axum"),
        ));
    let res = app
        .clone()
        .oneshot(
            Request::get("/me")
                .header("x-api-key", "k1")
                .body(axum::body::Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.into_body().collect().await.unwrap().to_bytes(),
        "axum-user"
    );
    let res = app
        .oneshot(Request::get("/me").body(axum::body::Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    assert_eq!(res.headers()["www-authenticate"], r#"Bearer realm="axum""#);
}

#[tokio::test]
async fn per_route_scopes_in_plumego_router() {
    use plumego_core::{Body, handler_fn};
    use plumego_router::RouterBuilder;

    let keys = ApiKeyAuthenticator::new()
        .key("reader", principal(&[], &["items:read"]))
        .key("writer", principal(&[], &["items:read", "ITEMS:WRITE"]))
        .key("auditor", principal(&[], &["audit:read"]));
    let ok = handler_fn(|req: Request<Body>| async move {
        req.principal()
            .map(|p| p.scopes.join(","))
            .unwrap_or_default()
    });
    let mut routes = RouterBuilder::new();
    routes
        .group("/api", |api| {
            api.layer(authenticate(keys));
            api.get("/items", ok)?
                .meta(RequireScopes::all(["items:read"]));
            api.post("/items", ok)?
                .meta(RequireScopes::all(["items:read", "items:write"]));
            api.get("/reports", ok)?
                .meta(RequireScopes::any(["audit:read", "items:write"]));
            api.get("/profile", ok)?;
            api.get("/health", ok)?.meta(AllowAnonymous);
            Ok(())
        })
        .unwrap();
    let router = routes.build();
    let status = |method: &'static str, path: &'static str, key: Option<&'static str>| {
        let router = router.clone();
        async move {
            let mut req = Request::builder().method(method).uri(path);
            if let Some(k) = key {
                req = req.header("x-api-key", k);
            }
            router
                .oneshot(req.body(Body::empty()).unwrap())
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    assert_eq!(status("GET", "/api/items", Some("reader")).await, 200);
    assert_eq!(status("POST", "/api/items", Some("reader")).await, 403);
    assert_eq!(status("POST", "/api/items", Some("writer")).await, 200);
    assert_eq!(status("GET", "/api/reports", Some("reader")).await, 403);
    assert_eq!(status("GET", "/api/reports", Some("writer")).await, 200);
    assert_eq!(status("GET", "/api/reports", Some("auditor")).await, 200);
    assert_eq!(status("GET", "/api/items", Some("auditor")).await, 403);
    assert_eq!(status("GET", "/api/profile", Some("auditor")).await, 200);
    assert_eq!(status("GET", "/api/items", None).await, 401);
    assert_eq!(status("GET", "/api/items", Some("wrong")).await, 401);
    assert_eq!(status("GET", "/api/health", None).await, 200);
    // Unknown routes stay 404: the layer is inside the router.
    assert_eq!(status("GET", "/api/nope", None).await, 404);
}

#[tokio::test]
async fn route_scopes_policy_with_outer_authentication() {
    use plumego_core::{Body, handler_fn};
    use plumego_router::RouterBuilder;

    let keys = ApiKeyAuthenticator::new().key("reader", principal(&[], &["items:read"]));
    let ok = handler_fn(|_req: Request<Body>| async { "ok" });
    let mut routes = RouterBuilder::new();
    routes
        .group("/api", |api| {
            api.layer(authorize(RouteScopes));
            api.get("/items", ok)?
                .meta(RequireScopes::all(["items:read"]));
            api.delete("/items", ok)?
                .meta(RequireScopes::all(["items:delete"]));
            Ok(())
        })
        .unwrap();
    let app = ServiceBuilder::new()
        .layer(authenticate(keys))
        .service(routes.build());
    let call = |method: &'static str| {
        let app = app.clone();
        async move {
            let req = Request::builder()
                .method(method)
                .uri("/api/items")
                .header("x-api-key", "reader");
            app.oneshot(req.body(Body::empty()).unwrap())
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    assert_eq!(call("GET").await, 200);
    assert_eq!(call("DELETE").await, 403);
}
