//! The items API on the shared stores: Redis and PostgreSQL (URLs from
//! `PLUMEGO_REDIS_URL` / `PLUMEGO_POSTGRES_URL`; an unreachable service fails
//! the test).

mod common;

use common::send;
use http::{Method, StatusCode};
use reference_service::config::{Config, StoreConfig};
use reference_service::domain::item::ItemService;

async fn crud_on(store: StoreConfig) {
    let stores = reference_service::store::open(&store)
        .await
        .unwrap_or_else(|e| {
            panic!("{store:?} is unreachable ({e}); start it or set its URL variable")
        });
    let config = Config {
        store,
        ..Config::default()
    };
    let items = ItemService::new(stores.items.clone());
    let svc = reference_service::app::build(&config, items, stores.idempotency)
        .unwrap()
        .into_service()
        .unwrap();
    let name = format!("shared-{}", fastrand::u64(..));
    let created = send(
        &svc,
        Method::POST,
        "/api/v1/items",
        Some(&format!(r#"{{"name":"{name}"}}"#)),
        &[],
    )
    .await;
    assert_eq!(created.status, StatusCode::CREATED);
    let id = created.json()["data"]["id"].as_str().unwrap().to_owned();
    let got = send(&svc, Method::GET, &format!("/api/v1/items/{id}"), None, &[]).await;
    assert_eq!(got.json()["data"]["name"], name.as_str());
    let ready = send(&svc, Method::GET, "/readyz", None, &[]).await;
    assert_eq!(ready.status, StatusCode::OK);
    let deleted = send(
        &svc,
        Method::DELETE,
        &format!("/api/v1/items/{id}"),
        None,
        &[],
    )
    .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    let gone = send(&svc, Method::GET, &format!("/api/v1/items/{id}"), None, &[]).await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn items_on_redis() {
    let url =
        std::env::var("PLUMEGO_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    crud_on(StoreConfig::Redis(url)).await;
}

#[tokio::test]
async fn items_on_postgres() {
    let url = std::env::var("PLUMEGO_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    crud_on(StoreConfig::Postgres(url)).await;
}
