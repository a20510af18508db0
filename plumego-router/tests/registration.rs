//! Groups, per-group layers, metadata, names, reverse URLs, listings and
//! registration errors.

use std::convert::Infallible;

use http::{Request, StatusCode};
use http_body_util::BodyExt;
use plumego_core::{Body, IntoResponse, RequestExt, Response, handler_fn};
use plumego_router::{Route, RouteErrorKind, Router, RouterBuilder, UrlError};
use tower::{ServiceExt, service_fn};

fn ok() -> impl Clone
+ Send
+ Sync
+ 'static
+ tower::Service<Request<Body>, Response = &'static str, Error = Infallible, Future: Send> {
    handler_fn(|_req: Request<Body>| async { "ok" })
        .map_response(|res: Response| if res.status() == 200 { "ok" } else { "?" })
}

async fn call(router: &Router, uri: &str) -> (StatusCode, http::HeaderMap, String) {
    let res = router
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

#[derive(Clone, Debug, PartialEq)]
struct Scope(&'static str);

/// A layer that enforces the route's `Scope` metadata against an `x-scope` header.
fn require_scope(
    inner: Route<Body>,
) -> impl Clone
+ Send
+ Sync
+ 'static
+ tower::Service<Request<Body>, Response = Response, Error = Infallible, Future: Send> {
    service_fn(move |req: Request<Body>| {
        let inner = inner.clone();
        async move {
            let needed = req.route().and_then(|r| r.metadata::<Scope>().cloned());
            let given = req
                .headers()
                .get("x-scope")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            match needed {
                Some(Scope(s)) if given.as_deref() != Some(s) => {
                    Ok::<_, Infallible>((StatusCode::FORBIDDEN, "forbidden").into_response())
                }
                _ => inner.oneshot(req).await,
            }
        }
    })
}

#[tokio::test]
async fn groups_nest_prefixes_and_scope_their_layers() {
    let mut b = RouterBuilder::new();
    b.get("/health", ok()).unwrap();
    b.group("/api", |api| {
        api.layer(tower::util::MapResponseLayer::new(|mut res: Response| {
            res.headers_mut().insert("x-api", "1".parse().unwrap());
            res
        }));
        api.get("", ok())?;
        api.group("/v1/", |v1| {
            v1.layer(tower::util::MapResponseLayer::new(|mut res: Response| {
                res.headers_mut().insert("x-v1", "1".parse().unwrap());
                res
            }));
            v1.get(
                "/items/:id",
                handler_fn(|req: Request<Body>| async move {
                    format!(
                        "{} {}",
                        req.route().unwrap().pattern(),
                        req.param("id").unwrap()
                    )
                }),
            )?
            .name("item")?;
            Ok(())
        })
    })
    .unwrap();
    let r = b.build();
    let (_, h, body) = call(&r, "/api/v1/items/7").await;
    assert_eq!(body, "/api/v1/items/:id 7");
    assert_eq!(
        (h.get("x-api").is_some(), h.get("x-v1").is_some()),
        (true, true)
    );
    let (_, h, _) = call(&r, "/api").await;
    assert_eq!(
        (h.get("x-api").is_some(), h.get("x-v1").is_some()),
        (true, false)
    );
    let (_, h, _) = call(&r, "/health").await;
    assert!(
        h.get("x-api").is_none(),
        "group layers do not leak to other routes"
    );
    assert_eq!(
        r.url_for("item", &[("id", "a b")]).unwrap(),
        "/api/v1/items/a%20b"
    );
}

#[tokio::test]
async fn group_layers_run_in_onion_order() {
    let order = std::sync::Arc::new(std::sync::Mutex::new(Vec::<&str>::new()));
    let mk = |name: &'static str, order: std::sync::Arc<std::sync::Mutex<Vec<&'static str>>>| {
        tower::layer::layer_fn(move |inner: Route<Body>| {
            let order = order.clone();
            service_fn(move |req: Request<Body>| {
                let (inner, order) = (inner.clone(), order.clone());
                async move {
                    order.lock().unwrap().push(name);
                    inner.oneshot(req).await
                }
            })
        })
    };
    let mut b = RouterBuilder::new();
    let (o1, o2) = (order.clone(), order.clone());
    b.group("/g", move |g| {
        g.layer(mk("first", o1));
        g.layer(mk("second", o2));
        g.get("/x", ok())?;
        Ok(())
    })
    .unwrap();
    let r = b.build();
    call(&r, "/g/x").await;
    assert_eq!(*order.lock().unwrap(), ["first", "second"]);
}

#[tokio::test]
async fn route_metadata_drives_one_layer_for_many_routes() {
    let mut b = RouterBuilder::new();
    b.group("", |g| {
        g.layer(tower::layer::layer_fn(require_scope));
        g.get("/public", ok())?;
        g.get("/admin", ok())?.meta(Scope("admin"));
        Ok(())
    })
    .unwrap();
    let r = b.build();
    assert_eq!(call(&r, "/public").await.0, StatusCode::OK);
    assert_eq!(call(&r, "/admin").await.0, StatusCode::FORBIDDEN);
    let req = Request::get("/admin")
        .header("x-scope", "admin")
        .body(Body::empty())
        .unwrap();
    assert_eq!(
        r.clone().oneshot(req).await.unwrap().status(),
        StatusCode::OK
    );
    let listed = r.routes();
    let admin = listed.iter().find(|d| d.pattern == "/admin").unwrap();
    assert_eq!(admin.metadata::<Scope>(), Some(&Scope("admin")));
}

#[test]
fn reverse_urls() {
    let mut b = RouterBuilder::<Body>::new();
    b.get("/", ok()).unwrap().name("root").unwrap();
    b.get("/users/:id/files/*path", ok())
        .unwrap()
        .name("file")
        .unwrap();
    let r = b.build();
    assert_eq!(r.url_for("root", &[]).unwrap(), "/");
    assert_eq!(
        r.url_for("file", &[("id", "ü/1"), ("path", "a b/c?d")])
            .unwrap(),
        "/users/%C3%BC%2F1/files/a%20b/c%3Fd"
    );
    assert_eq!(
        r.url_for("nope", &[]),
        Err(UrlError::NotFound("nope".into()))
    );
    assert_eq!(
        r.url_for("file", &[("id", "1")]),
        Err(UrlError::MissingParam("path".into()))
    );
    assert_eq!(
        r.url_for("file", &[("id", "1"), ("id", "2"), ("path", "x")]),
        Err(UrlError::DuplicateParam("id".into()))
    );
    assert_eq!(
        r.url_for("file", &[("id", "1"), ("path", "x"), ("zz", "x")]),
        Err(UrlError::UnknownParam("zz".into()))
    );
    assert_eq!(
        r.url_for("file", &[("id", ""), ("path", "x")]),
        Err(UrlError::EmptyParam("id".into()))
    );
    assert!(r.has_route("file"));
    assert_eq!(
        UrlError::NotFound("x".into()).to_string(),
        "named route \"x\" not found"
    );
}

#[test]
fn listing_is_sorted_and_serialisable() {
    let mut b = RouterBuilder::<Body>::new();
    b.post("/b", ok()).unwrap();
    b.get("/b", ok())
        .unwrap()
        .name("b.get")
        .unwrap()
        .tag("items");
    b.get("/a", ok()).unwrap();
    b.any("/z", ok()).unwrap();
    b.nest_service("/mount", ok()).unwrap();
    let r = b.build();
    let json = serde_json::to_string(&r.routes()).unwrap();
    assert_eq!(
        json,
        r#"[{"method":"ANY","path":"/mount"},{"method":"ANY","path":"/z"},{"method":"GET","path":"/a"},{"method":"GET","path":"/b","name":"b.get","tags":["items"]},{"method":"POST","path":"/b"}]"#
    );
}

#[test]
fn registration_errors_are_results_with_go_messages() {
    let mut b = RouterBuilder::<Body>::new();
    b.get("/users/:id", ok()).unwrap().name("user").unwrap();
    let err = |r: Result<_, plumego_router::RouteError>| r.map(|_| ()).unwrap_err();

    let e = err(b.get("/users/:id", ok()).map(|_| ()));
    assert_eq!(
        e.to_string(),
        "router add_route GET /users/:id: duplicate route registration"
    );
    assert_eq!(e.kind(), &RouteErrorKind::Duplicate);
    // Same route in the other syntax is the same route.
    assert_eq!(
        err(b.get("/users/{id}", ok()).map(|_| ())).kind(),
        &RouteErrorKind::Duplicate
    );

    let e = err(b.get("/users/:uid/posts", ok()).map(|_| ()));
    assert_eq!(
        e.to_string(),
        "router add_route GET /users/:uid/posts: route conflict: parameter name mismatch. existing: id, new: uid"
    );
    let e = err(b.get("/a//b", ok()).map(|_| ()));
    assert!(e.to_string().contains("empty path segment"), "{e}");
    let e = err(b.get("/x/*rest/more", ok()).map(|_| ()));
    assert!(
        e.to_string().contains("non-terminal wildcard segment"),
        "{e}"
    );
    let e = err(b.get("/x/:a/:a", ok()).map(|_| ()));
    assert!(e.to_string().contains("duplicate parameter name"), "{e}");
    let e = err(b.get("/x/:1bad", ok()).map(|_| ()));
    assert!(e.to_string().contains("invalid parameter name"), "{e}");
    let e = err(b.get("relative", ok()).map(|_| ()));
    assert!(e.to_string().contains("must start with /"), "{e}");
    let e = err(b.route_named("BAD METHOD", "/m", ok()).map(|_| ()));
    assert_eq!(e.kind(), &RouteErrorKind::InvalidMethod);
    let e = err(b.route_named("", "/m", ok()).map(|_| ()));
    assert_eq!(e.kind(), &RouteErrorKind::InvalidMethod);
    let e = b.group("api", |_| Ok(())).unwrap_err();
    assert!(matches!(e.kind(), RouteErrorKind::InvalidPrefix(_)));
    // Duplicate names across groups.
    let e = b
        .group("/g", |g| {
            g.get("/other", ok())?.name("user")?;
            Ok(())
        })
        .unwrap_err();
    assert!(
        e.to_string()
            .contains("duplicate route name \"user\" (already used by GET /users/:id)"),
        "{e}"
    );
    // Param names clash across the group prefix and the path.
    let e = b
        .group("/t/:id", |g| g.get("/x/:id", ok()).map(|_| ()))
        .unwrap_err();
    assert!(e.to_string().contains("duplicate parameter name"), "{e}");
    // A custom method works.
    b.route_named("PURGE", "/cache", ok()).unwrap();
    // Nothing above changed the router: the original route still answers.
    assert_eq!(b.len(), 3, "the failed registrations left no route behind");
}

#[tokio::test]
async fn layers_outside_the_router_learn_the_pattern_through_a_slot() {
    use plumego_core::context::RouteSlot;
    let mut b = RouterBuilder::<Body>::new();
    b.get("/users/:id", ok()).unwrap();
    let r = b.build();
    let mut req = Request::get("/users/5").body(Body::empty()).unwrap();
    let slot = RouteSlot::ensure(req.extensions_mut());
    r.clone().oneshot(req).await.unwrap();
    assert_eq!(slot.pattern(), Some("/users/:id"));
    let mut req = Request::get("/nope").body(Body::empty()).unwrap();
    let slot = RouteSlot::ensure(req.extensions_mut());
    r.oneshot(req).await.unwrap();
    assert_eq!(slot.pattern(), None);
}
