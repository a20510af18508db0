//! Service information endpoints: `/`, `/api/hello`, `/api/info`, `/api/v1/greet`.

use std::sync::Arc;
use std::time::SystemTime;

use plumego::core::error::{ApiError, ErrorType};
use plumego::core::health::rfc3339_seconds;
use plumego::{Envelope, Request};
use serde::Serialize;
use serde_json::json;

use super::AppState;

/// One entry of the `/api/hello` endpoint list (fields in alphabetical
/// order, the order the response has always had).
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
pub struct Endpoint {
    /// What it does.
    pub description: &'static str,
    /// The method.
    pub method: &'static str,
    /// A short name.
    pub name: &'static str,
    /// The path pattern.
    pub path: &'static str,
}

/// The public endpoints, sorted by method then path. A test fails when this
/// list and the registered routes drift apart.
pub const ENDPOINTS: &[Endpoint] = &[
    Endpoint {
        name: "items.delete",
        method: "DELETE",
        path: "/api/v1/items/:id",
        description: "Delete an item (write key)",
    },
    Endpoint {
        name: "root",
        method: "GET",
        path: "/",
        description: "Service name and version",
    },
    Endpoint {
        name: "hello",
        method: "GET",
        path: "/api/hello",
        description: "This list",
    },
    Endpoint {
        name: "info",
        method: "GET",
        path: "/api/info",
        description: "Service, version and time",
    },
    Endpoint {
        name: "greet",
        method: "GET",
        path: "/api/v1/greet",
        description: "Greets ?name=",
    },
    Endpoint {
        name: "items.list",
        method: "GET",
        path: "/api/v1/items",
        description: "List items (?limit, ?offset)",
    },
    Endpoint {
        name: "items.get",
        method: "GET",
        path: "/api/v1/items/:id",
        description: "One item",
    },
    Endpoint {
        name: "health.live",
        method: "GET",
        path: "/healthz",
        description: "Liveness",
    },
    Endpoint {
        name: "metrics",
        method: "GET",
        path: "/metrics",
        description: "Prometheus metrics",
    },
    Endpoint {
        name: "health.ready",
        method: "GET",
        path: "/readyz",
        description: "Readiness (checks the store)",
    },
    Endpoint {
        name: "items.patch",
        method: "PATCH",
        path: "/api/v1/items/:id",
        description: "Change some fields (write key)",
    },
    Endpoint {
        name: "items.create",
        method: "POST",
        path: "/api/v1/items",
        description: "Create an item (write key, Idempotency-Key)",
    },
    Endpoint {
        name: "items.replace",
        method: "PUT",
        path: "/api/v1/items/:id",
        description: "Replace an item (write key)",
    },
];

/// `GET /`.
pub async fn root(state: Arc<AppState>, _req: Request) -> Envelope<serde_json::Value> {
    Envelope::new(json!({
        "service": state.service_name,
        "version": state.version,
        "docs": "/api/hello",
    }))
}

/// The body of `GET /api/hello`, typed so the static endpoint list is
/// serialised straight from the table instead of through a JSON map per
/// request (fields in alphabetical order, as the map wrote them).
#[derive(Serialize)]
pub struct Hello<'a> {
    endpoints: &'static [Endpoint],
    message: &'static str,
    service: &'a str,
    timestamp: String,
    version: &'a str,
}

/// `GET /api/hello`.
pub async fn hello(state: Arc<AppState>, _req: Request) -> plumego::Response {
    use plumego::IntoResponse;
    Envelope::new(Hello {
        endpoints: ENDPOINTS,
        message: "hello from plumego",
        service: &state.service_name,
        timestamp: rfc3339_seconds(SystemTime::now()),
        version: &state.version,
    })
    .into_response()
}

/// The body of `GET /api/info`; a typed struct (fields in the order JSON
/// objects were written before) serialises without building a map.
#[derive(Serialize)]
pub struct Info<'a> {
    service: &'a str,
    timestamp: String,
    version: &'a str,
}

/// `GET /api/info`.
pub async fn info(state: Arc<AppState>, req: Request) -> plumego::Response {
    use plumego::{IntoResponse, RequestExt};
    tracing::debug!(
        request_id = req.request_id().map(|id| id.as_str()),
        "info requested"
    );
    Envelope::new(Info {
        service: &state.service_name,
        timestamp: rfc3339_seconds(SystemTime::now()),
        version: &state.version,
    })
    .into_response()
}

/// `GET /api/v1/greet?name=`.
pub async fn greet(
    _state: Arc<AppState>,
    req: Request,
) -> Result<Envelope<serde_json::Value>, ApiError> {
    let name = super::items::query_param(&req, "name").map(|n| n.trim().to_owned());
    match name {
        Some(name) if !name.is_empty() => Ok(Envelope::new(
            json!({ "message": format!("hello, {name}") }),
        )),
        _ => Err(ApiError::builder()
            .error_type(ErrorType::RequiredFieldMissing)
            .code("greet.name.required")
            .message("query parameter name is required")
            .detail("field", "name")
            .build()),
    }
}
