//! Dispatch rules, driven through `tower::ServiceExt::oneshot`.

use std::convert::Infallible;

use http::{Method, Request, StatusCode};
use http_body_util::BodyExt;
use plumego_core::context::{RequestExt, RequestId};
use plumego_core::{Body, Response, handler_fn};
use plumego_router::{MethodMismatch, Router, RouterBuilder, TrailingSlash, plain_not_found};
use tower::ServiceExt;

/// A handler that echoes which route answered and its parameters.
fn echo(
    tag: &'static str,
) -> impl Clone
+ Send
+ Sync
+ 'static
+ tower::Service<Request<Body>, Response = Response, Error = Infallible, Future: Send> {
    handler_fn(move |req: Request<Body>| async move {
        let route = req.route().expect("route state is set");
        let params: Vec<String> = route.params().map(|(k, v)| format!("{k}={v}")).collect();
        let body = format!("{tag} {} {}", route.pattern(), params.join("&"));
        plumego_core::IntoResponse::into_response(body.trim_end().to_owned())
    })
}

async fn send(router: &Router, method: Method, uri: &str) -> (StatusCode, http::HeaderMap, String) {
    let req = Request::builder()
        .method(method)
        .uri(uri)
        .body(Body::empty())
        .unwrap();
    let res = router.clone().oneshot(req).await.unwrap();
    let (parts, body) = res.into_parts();
    let body = body.collect().await.unwrap().to_bytes();
    (
        parts.status,
        parts.headers,
        String::from_utf8_lossy(&body).into_owned(),
    )
}

async fn get(router: &Router, uri: &str) -> (StatusCode, String) {
    let (s, _, b) = send(router, Method::GET, uri).await;
    (s, b)
}

#[tokio::test]
async fn priority_table_with_backtracking() {
    let mut b = RouterBuilder::new();
    b.get("/users/:id", echo("param")).unwrap();
    b.get("/users/new", echo("static")).unwrap();
    b.get("/users/*rest", echo("wild")).unwrap();
    b.get("/files/*path", echo("files-wild")).unwrap();
    b.get("/files/public/:id", echo("files-public")).unwrap();
    b.get("/a/*x", echo("shallow")).unwrap();
    b.get("/a/b/*y", echo("deep")).unwrap();
    let r = b.build();
    assert_eq!(get(&r, "/users/new").await.1, "static /users/new");
    assert_eq!(get(&r, "/users/42").await.1, "param /users/:id id=42");
    assert_eq!(
        get(&r, "/users/42/posts").await.1,
        "wild /users/*rest rest=42/posts"
    );
    assert_eq!(
        get(&r, "/files/public/x").await.1,
        "files-public /files/public/:id id=x"
    );
    // The Go router answers 404 here; we backtrack to the catch-all.
    assert_eq!(
        get(&r, "/files/public/a/b").await.1,
        "files-wild /files/*path path=public/a/b"
    );
    assert_eq!(get(&r, "/a/b/c").await.1, "deep /a/b/*y y=c");
    assert_eq!(get(&r, "/a/c/d").await.1, "shallow /a/*x x=c/d");
    // A catch-all needs at least one segment.
    assert_eq!(get(&r, "/files").await.0, StatusCode::NOT_FOUND);
    // Case-sensitive.
    assert_eq!(get(&r, "/USERS/new").await.0, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn method_backtracking_prefers_a_lower_priority_route_with_the_method() {
    let mut b = RouterBuilder::new();
    b.post("/users/new", echo("post-static")).unwrap();
    b.get("/users/:id", echo("get-param")).unwrap();
    let r = b.build();
    assert_eq!(get(&r, "/users/new").await.1, "get-param /users/:id id=new");
    assert_eq!(
        send(&r, Method::POST, "/users/new").await.2,
        "post-static /users/new"
    );
}

#[tokio::test]
async fn both_path_syntaxes_and_many_params() {
    let mut b = RouterBuilder::new();
    b.get("/v/{a}/{b}/{*rest}", echo("braces")).unwrap();
    let pattern: String = (0..12).map(|i| format!("/:p{i}")).collect();
    b.get(&format!("/many{pattern}"), echo("many")).unwrap();
    let r = b.build();
    assert_eq!(
        get(&r, "/v/1/2/3/4").await.1,
        "braces /v/:a/:b/*rest a=1&b=2&rest=3/4"
    );
    let path: String = (0..12).map(|i| format!("/v{i}")).collect();
    let (_, body) = get(&r, &format!("/many{path}")).await;
    assert!(
        body.ends_with("p10=v10&p11=v11"),
        "no parameter dropped: {body}"
    );
}

#[tokio::test]
async fn params_are_percent_decoded_after_matching() {
    let mut b = RouterBuilder::new();
    b.get("/users/:id", echo("user")).unwrap();
    b.get("/files/*path", echo("files")).unwrap();
    let r = b.build();
    // An encoded slash stays inside one parameter (Go split it and answered 404).
    assert_eq!(get(&r, "/users/a%2Fb").await.1, "user /users/:id id=a/b");
    assert_eq!(
        get(&r, "/users/caf%C3%A9%20x").await.1,
        "user /users/:id id=café x"
    );
    assert_eq!(
        get(&r, "/files/a%20b/c").await.1,
        "files /files/*path path=a b/c"
    );
    // Invalid UTF-8 after decoding is a 400 envelope, not a panic or a lossy value.
    let (status, body) = get(&r, "/users/%FF").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("\"code\":\"BAD_REQUEST\""));
}

#[tokio::test]
async fn slashes_are_normalised() {
    let mut b = RouterBuilder::new();
    b.get("/users", echo("users")).unwrap();
    b.get("/", echo("root")).unwrap();
    let r = b.build();
    assert_eq!(get(&r, "/users/").await.1, "users /users");
    assert_eq!(get(&r, "///users").await.1, "users /users");
    assert_eq!(get(&r, "/").await.1, "root /");
    assert_eq!(get(&r, "//").await.1, "root /");
    let mut b = RouterBuilder::new();
    b.get("/a/b", echo("ab")).unwrap();
    let r = b.build();
    assert_eq!(get(&r, "/a//b").await.0, StatusCode::NOT_FOUND);
}

/// An empty internal segment is a 404 whatever the route kind, including a
/// catch-all (the only kind whose capture can span `//`), a route of another
/// method (404, not 405), with a trailing-slash redirect policy, and for
/// HEAD, ANY and nested services.
#[tokio::test]
async fn empty_internal_segments_never_match() {
    let mut b = RouterBuilder::new();
    b.trailing_slash(plumego_router::TrailingSlash::Redirect);
    b.get("/files/*path", echo("files")).unwrap();
    b.get("/a/:x/b", echo("param")).unwrap();
    b.any("/any/*rest", echo("any")).unwrap();
    b.nest_service("/mount", echo("nested")).unwrap();
    let r = b.build();
    assert_eq!(get(&r, "/files/a/b").await.1, "files /files/*path path=a/b");
    for path in [
        "/files/a//b",
        "/files//a",
        "/files/a//b/",
        "/a//b",
        "/any/x//y",
        "/mount/x//y",
    ] {
        assert_eq!(get(&r, path).await.0, StatusCode::NOT_FOUND, "GET {path}");
        let (status, headers, _) = send(&r, Method::HEAD, path).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "HEAD {path}");
        assert!(headers.get("allow").is_none(), "HEAD {path}");
        let (status, headers, _) = send(&r, Method::POST, path).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "POST {path}");
        assert!(headers.get("allow").is_none(), "POST {path}");
        let (status, _, _) = send(&r, Method::OPTIONS, path).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "OPTIONS {path}");
    }
}

#[tokio::test]
async fn trailing_slash_policies() {
    let build = |policy| {
        let mut b = RouterBuilder::new();
        b.trailing_slash(policy);
        b.get("/users", echo("users")).unwrap();
        b.build()
    };
    let r = build(TrailingSlash::Redirect);
    let (status, headers, _) = send(&r, Method::GET, "/users/?page=2").await;
    assert_eq!(status, StatusCode::PERMANENT_REDIRECT);
    assert_eq!(headers["location"], "/users?page=2");
    assert_eq!(get(&r, "/users").await.0, StatusCode::OK);
    assert_eq!(get(&r, "/nothing/").await.0, StatusCode::NOT_FOUND);
    let r = build(TrailingSlash::Strict);
    assert_eq!(get(&r, "/users/").await.0, StatusCode::NOT_FOUND);
    assert_eq!(get(&r, "/users").await.0, StatusCode::OK);
}

#[tokio::test]
async fn head_falls_back_to_get_without_body_and_keeps_length() {
    let mut b = RouterBuilder::new();
    b.get(
        "/doc",
        handler_fn(|_r: Request<Body>| async { "twelve bytes" }),
    )
    .unwrap();
    b.any("/anything", echo("any")).unwrap();
    let r = b.build();
    let (status, headers, body) = send(&r, Method::HEAD, "/doc").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["content-length"], "12");
    assert_eq!(body, "");
    let (status, _, body) = send(&r, Method::HEAD, "/anything").await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, ""));
    let (_, _, body) = send(&r, Method::DELETE, "/anything").await;
    assert_eq!(body, "any /anything");
    let (_, _, body) = send(&r, Method::from_bytes(b"ANY").unwrap(), "/anything").await;
    assert_eq!(body, "any /anything");
}

#[tokio::test]
async fn method_not_allowed_has_sorted_allow_and_the_envelope() {
    let mut b = RouterBuilder::new();
    b.post("/items", echo("post")).unwrap();
    b.get("/items", echo("get")).unwrap();
    b.put("/items", echo("put")).unwrap();
    b.any("/other", echo("any")).unwrap();
    b.head("/h", echo("h")).unwrap();
    b.get("/h", echo("g")).unwrap();
    let r = b.build();
    let mut req = Request::delete("/items").body(Body::empty()).unwrap();
    req.extensions_mut().insert(RequestId::new("rid").unwrap());
    let res = r.clone().oneshot(req).await.unwrap();
    assert_eq!(res.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(res.headers()["allow"], "GET, HEAD, POST, PUT");
    assert_eq!(res.headers()["content-type"], "application/json");
    let body = res.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(
        &body[..],
        b"{\"error\":{\"code\":\"METHOD_NOT_ALLOWED\",\"message\":\"method not allowed\",\"category\":\"client_error\",\"type\":\"method_not_allowed\"},\"request_id\":\"rid\"}\n"
    );
    // HEAD is not duplicated when registered explicitly.
    let (status, headers, _) = send(&r, Method::POST, "/h").await;
    assert_eq!(
        (status, &headers["allow"]),
        (
            StatusCode::METHOD_NOT_ALLOWED,
            &"GET, HEAD".parse::<http::HeaderValue>().unwrap()
        )
    );

    // Go-compatible: a mismatch is a 404.
    let mut b = RouterBuilder::new();
    b.method_mismatch(MethodMismatch::NotFound);
    b.get("/items", echo("get")).unwrap();
    let r = b.build();
    assert_eq!(
        send(&r, Method::DELETE, "/items").await.0,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn options_is_answered_automatically_unless_routed() {
    let mut b = RouterBuilder::new();
    b.get("/a", echo("get")).unwrap();
    b.post("/a", echo("post")).unwrap();
    b.get("/b", echo("b")).unwrap();
    b.options("/b", echo("own-options")).unwrap();
    let r = b.build();
    let (status, headers, body) = send(&r, Method::OPTIONS, "/a").await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(headers["allow"], "GET, HEAD, OPTIONS, POST");
    assert_eq!(body, "");
    assert_eq!(send(&r, Method::OPTIONS, "/b").await.2, "own-options /b");
    assert_eq!(
        send(&r, Method::OPTIONS, "/none").await.0,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn fallbacks() {
    let r = RouterBuilder::new().build();
    let (status, headers, body) = send(&r, Method::GET, "/x").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(headers["content-type"], "application/json");
    assert!(body.contains("RESOURCE_NOT_FOUND"));

    let mut b = RouterBuilder::new();
    b.fallback(plain_not_found());
    let r = b.build();
    let (status, headers, body) = send(&r, Method::GET, "/x").await;
    assert_eq!(
        (status, body.as_str()),
        (StatusCode::NOT_FOUND, "404 page not found\n")
    );
    assert_eq!(headers["content-type"], "text/plain; charset=utf-8");
    assert_eq!(headers["x-content-type-options"], "nosniff");

    let mut b = RouterBuilder::new();
    b.fallback(handler_fn(|req: Request<Body>| async move {
        format!("custom {}", req.uri().path())
    }));
    let r = b.build();
    assert_eq!(get(&r, "/missing").await.1, "custom /missing");
}

#[tokio::test]
async fn an_empty_path_is_the_root_and_never_panics() {
    let mut b = RouterBuilder::new();
    b.get("/", echo("root")).unwrap();
    let r = b.build();
    // Authority-form URIs (as in CONNECT) have an empty path.
    for uri in ["0", "example.com:443"] {
        let mut req = Request::new(Body::empty());
        *req.uri_mut() = uri.parse().unwrap();
        let res = r.clone().oneshot(req).await.unwrap();
        assert_eq!(res.status(), StatusCode::OK, "{uri}");
    }
}

#[tokio::test]
async fn the_404_envelope_carries_the_request_id_only_when_there_is_one() {
    let mut b = RouterBuilder::new();
    b.get("/items", echo("get")).unwrap();
    let r = b.build();
    let mut req = Request::get("/nowhere").body(Body::empty()).unwrap();
    req.extensions_mut()
        .insert(RequestId::new("rid-404").unwrap());
    let res = r.clone().oneshot(req).await.unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    let body = res.into_body().collect().await.unwrap().to_bytes();
    assert!(
        body.ends_with(b",\"request_id\":\"rid-404\"}\n"),
        "{body:?}"
    );

    let res = r
        .clone()
        .oneshot(Request::get("/nowhere").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    assert_eq!(res.headers()["content-type"], "application/json");
    // Nothing left pending for a layer further out to act on.
    assert!(
        res.extensions()
            .get::<plumego_core::envelope::PendingRequestId>()
            .is_none()
    );
    let body = res.into_body().collect().await.unwrap().to_bytes();
    assert!(!body.windows(10).any(|w| w == b"request_id"), "{body:?}");
}
