//! The layer stack and the route table, in one readable place.

use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use opentelemetry::metrics::MeterProvider as _;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::metrics::SdkMeterProvider;
use opentelemetry_sdk::trace::SdkTracerProvider;
use plumego::core::IntoResponse;
use plumego::core::store::IdempotencyStore;
use plumego::layers::ServiceBuilderExt;
use plumego::layers::access_log::AccessLogConfig;
use plumego::layers::body_limit::BodyLimitConfig;
use plumego::layers::cors::CorsOptions;
use plumego::layers::http_metrics::{HttpMetricsConfig, PrometheusService};
use plumego::layers::idempotency::{IdempotencyConfig, IdempotencyLayer};
use plumego::layers::request_id::RequestIdConfig;
use plumego::layers::security_headers::{SecurityHeadersConfig, SecurityHeadersLayer};
use plumego::layers::timeout::TimeoutConfig;
use plumego::layers::trace::TraceConfig;
use plumego::{App, AppConfig, AppError, Body, Request, handler_fn};
use tower::ServiceBuilder;
use tower_http::ServiceBuilderExt as _;

use crate::config::Config;
use crate::domain::item::ItemService;
use crate::handler::guard::{WriteGuarded, WriteKeyLayer};
use crate::handler::{AppState, api, health, items, with_state};

/// Why the application could not be built.
#[derive(Debug)]
pub enum BuildError {
    /// A layer's configuration is invalid.
    Layer(String),
    /// Route registration failed.
    App(AppError),
}

impl std::fmt::Display for BuildError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Layer(e) => write!(f, "layer configuration: {e}"),
            Self::App(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for BuildError {}

impl From<AppError> for BuildError {
    fn from(e: AppError) -> Self {
        Self::App(e)
    }
}

impl From<plumego::router::RouteError> for BuildError {
    fn from(e: plumego::router::RouteError) -> Self {
        Self::App(e.into())
    }
}

fn layer_error(e: impl std::fmt::Display) -> BuildError {
    BuildError::Layer(e.to_string())
}

/// The telemetry pipelines; they live as long as the handlers that hold them.
pub struct Telemetry {
    /// Feeds `/metrics`.
    pub meters: SdkMeterProvider,
    /// Creates the server spans (no exporter is configured by default).
    pub tracers: SdkTracerProvider,
}

/// Builds the application: layers outermost first, then every route.
pub fn build(
    config: &Config,
    items: ItemService,
    idempotency: Arc<dyn IdempotencyStore>,
) -> Result<App, BuildError> {
    let mut app = App::new(AppConfig {
        server: config.server.clone(),
        ..AppConfig::default()
    });
    if config.write_key.is_empty() {
        tracing::warn!("APP_WRITE_KEY is empty: write routes are not guarded");
    }
    let cors = if config.cors_allowed_origins.is_empty() {
        tracing::warn!("APP_CORS_ALLOWED_ORIGINS is empty: CORS allows every origin (*)");
        CorsOptions::default()
    } else {
        CorsOptions::strict(config.cors_allowed_origins.iter()).map_err(layer_error)?
    };
    let (meters, scrape) =
        PrometheusService::with_meter_provider(SdkMeterProvider::builder()).map_err(layer_error)?;
    let tracers = SdkTracerProvider::builder().build();
    let max_body = match config.max_body_bytes {
        0 => u64::MAX,
        n => n,
    };

    // Layers, outermost first (the order of the Go reference service).
    let stack = ServiceBuilder::new()
        .plumego_request_id(RequestIdConfig::default())
        .plumego_security_headers(
            SecurityHeadersLayer::new(SecurityHeadersConfig::api()).map_err(layer_error)?,
        )
        .plumego_cors(cors.into_layer().map_err(layer_error)?)
        .plumego_recovery()
        .plumego_access_log(AccessLogConfig::default())
        .plumego_body_limit(BodyLimitConfig::new(max_body).map_err(layer_error)?)
        // The limited body goes back into Plumego's body type for the layers below.
        .map_request_body(Body::new)
        .plumego_http_metrics(HttpMetricsConfig::new(meters.meter("reference-service")))
        .plumego_trace(TraceConfig::new(tracers.tracer("reference-service")))
        .plumego_timeout(TimeoutConfig::new(config.request_timeout));
    app.layer(stack)?;

    let state = Arc::new(AppState {
        items: items.clone(),
        service_name: config.service_name.clone(),
        version: config.version.clone(),
        telemetry: Telemetry { meters, tracers },
    });
    let repo = items.repository().clone();

    // Routes.
    app.get("/", with_state(state.clone(), api::root))?
        .name("root")?;
    app.get("/healthz", health::live(&config.service_name))?
        .name("health.live")?;
    app.get("/readyz", health::ready(repo))?
        .name("health.ready")?;
    app.get("/api/hello", with_state(state.clone(), api::hello))?
        .name("hello")?;
    app.get("/api/info", with_state(state.clone(), api::info))?
        .name("info")?;
    app.get("/metrics", scrape)?.name("metrics")?;
    let write_key = config.write_key.clone();
    let st = state.clone();
    app.group("/api/v1", move |v1| {
        // The guard runs first: a rejected write never claims an idempotency key.
        v1.layer(WriteKeyLayer::new(&write_key));
        v1.layer(IdempotencyLayer::new(
            idempotency,
            IdempotencyConfig::default(),
        ));
        v1.get("/greet", with_state(st.clone(), api::greet))?
            .name("greet")?;
        v1.get("/items", with_state(st.clone(), items::list))?
            .name("items.list")?;
        v1.post("/items", with_state(st.clone(), items::create))?
            .name("items.create")?
            .meta(WriteGuarded);
        v1.get("/items/:id", with_state(st.clone(), items::get))?
            .name("items.get")?;
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
        app.get(
            "/_debug/routes.json",
            handler_fn(move |_req: Request| {
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
            }),
        )?;
        let json = serde_json::to_vec(&app.routes()).unwrap_or_default();
        let _ = table.set(Bytes::from(json));
    }
    Ok(app)
}
