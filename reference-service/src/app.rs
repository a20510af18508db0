//! The layer stack and the route table, in one readable place.

use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use plumego::core::IntoResponse;
use plumego::layers::request_id::{RequestIdConfig, RequestIdLayer};
use plumego::{App, AppConfig, AppError, Request, handler_fn};

use crate::config::Config;
use crate::domain::item::ItemService;
use crate::handler::guard::{WriteGuarded, WriteKeyLayer};
use crate::handler::{AppState, api, health, items, with_state};

/// Builds the application: layers outermost first, then every route.
pub fn build(config: &Config, items: ItemService) -> Result<App, AppError> {
    let mut app = App::new(AppConfig {
        server: config.server.clone(),
        ..AppConfig::default()
    });
    if config.write_key.is_empty() {
        tracing::warn!("APP_WRITE_KEY is empty: write routes are not guarded");
    }

    // Layers, outermost first.
    app.layer(RequestIdLayer::new(RequestIdConfig::default()))?;

    let state = Arc::new(AppState {
        items: items.clone(),
        service_name: config.service_name.clone(),
        version: config.version.clone(),
    });
    let repo = items.repository().clone();

    // Routes.
    app.get("/", with_state(state.clone(), api::root))?.name("root")?;
    app.get("/healthz", health::live(&config.service_name))?.name("health.live")?;
    app.get("/readyz", health::ready(repo))?.name("health.ready")?;
    app.get("/api/hello", with_state(state.clone(), api::hello))?.name("hello")?;
    app.get("/api/info", with_state(state.clone(), api::info))?.name("info")?;
    app.get("/metrics", handler_fn(|_req: Request| async { "" }))?.name("metrics")?;
    let write_key = config.write_key.clone();
    let st = state.clone();
    app.group("/api/v1", move |v1| {
        v1.layer(WriteKeyLayer::new(&write_key));
        v1.get("/greet", with_state(st.clone(), api::greet))?.name("greet")?;
        v1.get("/items", with_state(st.clone(), items::list))?.name("items.list")?;
        v1.post("/items", with_state(st.clone(), items::create))?
            .name("items.create")?
            .meta(WriteGuarded);
        v1.get("/items/:id", with_state(st.clone(), items::get))?.name("items.get")?;
        v1.put("/items/:id", with_state(st.clone(), items::replace))?
            .name("items.replace")?
            .meta(WriteGuarded);
        v1.patch("/items/:id", with_state(st.clone(), items::patch))?
            .name("items.patch")?
            .meta(WriteGuarded);
        v1.delete("/items/:id", with_state(st.clone(), items::delete))?
            .name("items.delete")?
            .meta(WriteGuarded);
        Ok(())
    })?;

    if config.debug {
        // The table is complete only after this route is registered, so the
        // handler reads a snapshot taken right after.
        let table: Arc<OnceLock<Bytes>> = Arc::default();
        let served = table.clone();
        app.get("/_debug/routes.json", handler_fn(move |_req: Request| {
            let served = served.clone();
            async move {
                let body = served.get().cloned().unwrap_or_default();
                let mut res = body.into_response();
                res.headers_mut().insert(
                    http::header::CONTENT_TYPE,
                    http::HeaderValue::from_static("application/json"),
                );
                res
            }
        }))?;
        let json = serde_json::to_vec(&app.routes()).unwrap_or_default();
        let _ = table.set(Bytes::from(json));
    }
    Ok(app)
}
