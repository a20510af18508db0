//! Shared helpers: build the app on a memory store and call it in process.

#![allow(dead_code)]

use std::sync::Arc;

use http::{Method, Request, StatusCode};
use http_body_util::BodyExt;
use plumego::{AppService, Body};
use reference_service::config::{Config, StoreConfig};
use reference_service::domain::item::{ItemService, MemoryRepository};
use tower::ServiceExt;

pub fn config() -> Config {
    Config {
        store: StoreConfig::Memory,
        ..Config::default()
    }
}

pub fn service(config: &Config) -> AppService {
    let items = ItemService::new(Arc::new(MemoryRepository::new()));
    reference_service::app::build(config, items, idempotency())
        .expect("app builds")
        .into_service()
        .expect("app prepares")
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: http::HeaderMap,
    pub body: String,
}

impl Reply {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

pub async fn send(
    svc: &AppService,
    method: Method,
    uri: &str,
    body: Option<&str>,
    headers: &[(&str, &str)],
) -> Reply {
    let mut req = Request::builder().method(method).uri(uri);
    if body.is_some() {
        req = req.header("content-type", "application/json");
    }
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let req = req
        .body(body.map(|b| Body::from(b.to_owned())).unwrap_or_default())
        .unwrap();
    let res = svc.clone().oneshot(req).await.unwrap();
    let (parts, body) = res.into_parts();
    let body = body.collect().await.unwrap().to_bytes();
    Reply {
        status: parts.status,
        headers: parts.headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    }
}

pub fn idempotency() -> std::sync::Arc<dyn plumego::core::store::IdempotencyStore> {
    reference_service::store::Stores::memory()
        .expect("memory store")
        .idempotency
}
