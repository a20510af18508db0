//! The route table, the endpoint list, and each endpoint's contract.

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;

use common::{config, send, service};
use http::{Method, StatusCode};
use reference_service::domain::item::{ItemService, MemoryRepository};
use reference_service::handler::api::ENDPOINTS;

fn routes() -> Vec<(String, String)> {
    let items = ItemService::new(Arc::new(MemoryRepository::new()));
    let app = reference_service::app::build(&config(), items, common::idempotency()).unwrap();
    app.routes()
        .into_iter()
        .map(|r| (r.method, r.pattern))
        .collect()
}

#[test]
fn route_table_has_the_canonical_shape() {
    let got: Vec<(String, String)> = routes();
    let want: Vec<(String, String)> = [
        ("DELETE", "/api/v1/items/:id"),
        ("GET", "/"),
        ("GET", "/api/hello"),
        ("GET", "/api/info"),
        ("GET", "/api/v1/greet"),
        ("GET", "/api/v1/items"),
        ("GET", "/api/v1/items/:id"),
        ("GET", "/healthz"),
        ("GET", "/metrics"),
        ("GET", "/readyz"),
        ("PATCH", "/api/v1/items/:id"),
        ("POST", "/api/v1/items"),
        ("PUT", "/api/v1/items/:id"),
    ]
    .iter()
    .map(|(m, p)| (m.to_string(), p.to_string()))
    .collect();
    assert_eq!(got, want);
}

#[test]
fn the_hello_list_matches_the_registered_routes() {
    let registered: BTreeSet<(String, String)> = routes().into_iter().collect();
    let listed: BTreeSet<(String, String)> = ENDPOINTS
        .iter()
        .map(|e| (e.method.to_owned(), e.path.to_owned()))
        .collect();
    assert_eq!(
        listed, registered,
        "api::ENDPOINTS drifted from the route table"
    );
    let mut sorted = ENDPOINTS.to_vec();
    sorted.sort_by_key(|e| (e.method, e.path));
    assert_eq!(sorted, ENDPOINTS, "ENDPOINTS is sorted by method then path");
}

#[test]
fn debug_routes_only_when_enabled() {
    let svc = service(&config());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        assert_eq!(
            send(&svc, Method::GET, "/_debug/routes.json", None, &[])
                .await
                .status,
            StatusCode::NOT_FOUND
        );
        let mut cfg = config();
        cfg.debug = true;
        let svc = service(&cfg);
        let reply = send(&svc, Method::GET, "/_debug/routes.json", None, &[]).await;
        assert_eq!(reply.status, StatusCode::OK);
        let table = reply.json();
        assert!(
            table
                .as_array()
                .unwrap()
                .iter()
                .any(|r| r["path"] == "/api/v1/items/:id" && r["method"] == "PUT")
        );
    });
}

#[tokio::test]
async fn root_info_hello_and_greet() {
    let svc = service(&config());
    let root = send(&svc, Method::GET, "/", None, &[]).await.json();
    assert_eq!(root["data"]["service"], "plumego-reference");
    assert_eq!(root["data"]["docs"], "/api/hello");
    assert_eq!(
        root["request_id"].as_str().unwrap().len(),
        12,
        "request ids are generated"
    );

    let hello = send(&svc, Method::GET, "/api/hello", None, &[])
        .await
        .json();
    assert_eq!(
        hello["data"]["endpoints"].as_array().unwrap().len(),
        ENDPOINTS.len()
    );
    let info = send(
        &svc,
        Method::GET,
        "/api/info",
        None,
        &[("x-request-id", "given-id")],
    )
    .await;
    assert_eq!(info.headers["x-request-id"], "given-id");
    assert_eq!(info.json()["request_id"], "given-id");

    let greet = send(
        &svc,
        Method::GET,
        "/api/v1/greet?name=Ana%20Mar%C3%ADa",
        None,
        &[],
    )
    .await
    .json();
    assert_eq!(greet["data"]["message"], "hello, Ana María");
    let missing = send(
        &svc,
        Method::GET,
        "/api/v1/greet",
        None,
        &[("x-request-id", "r1")],
    )
    .await;
    assert_eq!(missing.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        missing.body,
        "{\"error\":{\"code\":\"greet.name.required\",\"message\":\"query parameter name is required\",\"category\":\"validation_error\",\"type\":\"required_field_missing\",\"details\":{\"field\":\"name\"}},\"request_id\":\"r1\"}\n"
    );
}

#[tokio::test]
async fn health_and_readiness() {
    let svc = service(&config());
    let live = send(&svc, Method::GET, "/healthz", None, &[]).await;
    assert_eq!(live.status, StatusCode::OK);
    assert_eq!(live.json()["data"]["status"], "ok");
    let ready = send(&svc, Method::GET, "/readyz", None, &[]).await;
    assert_eq!(ready.status, StatusCode::OK);
    assert_eq!(ready.json()["data"]["components"]["item_store"], true);
}
