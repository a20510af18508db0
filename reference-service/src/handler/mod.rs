//! HTTP handlers, one file per resource, plus the write-key guard.

pub mod api;
pub mod guard;
pub mod health;
pub mod items;

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;

use plumego::core::IntoResponse;
use plumego::{Request, Response, handler_fn};

use crate::domain::item::ItemService;

/// What handlers share: the item service and the service identity.
pub struct AppState {
    /// Item use cases.
    pub items: ItemService,
    /// The service name.
    pub service_name: String,
    /// The service version.
    pub version: String,
    /// Metrics and tracing pipelines, kept alive with the handlers.
    pub telemetry: crate::app::Telemetry,
}

/// A handler that receives the shared state with each request.
pub fn with_state<F, Fut, R>(
    state: Arc<AppState>,
    f: F,
) -> impl tower::Service<Request, Response = Response, Error = Infallible, Future: Send>
+ Clone
+ Send
+ Sync
+ 'static
where
    F: Fn(Arc<AppState>, Request) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = R> + Send + 'static,
    R: IntoResponse,
{
    handler_fn(move |req: Request| f(state.clone(), req))
}
