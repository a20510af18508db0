//! `/healthz` and `/readyz`.

use std::sync::Arc;

use plumego::core::health::{CheckFuture, HealthChecker, LivenessService, ReadinessService};

use crate::domain::item::ItemRepository;

/// Readiness of the item store: it must answer a real request.
pub struct ItemStoreCheck(pub Arc<dyn ItemRepository>);

impl HealthChecker for ItemStoreCheck {
    fn name(&self) -> &str {
        "item_store"
    }

    fn check(&self) -> CheckFuture<'_> {
        Box::pin(async move { self.0.check().await.map_err(Into::into) })
    }
}

/// Always 200 while the process serves.
pub fn live(service_name: &str) -> LivenessService {
    LivenessService::new(service_name)
}

/// 200 when the store answers, else 503 with the failure in `details`.
pub fn ready(repo: Arc<dyn ItemRepository>) -> ReadinessService {
    ReadinessService::new([Arc::new(ItemStoreCheck(repo)) as Arc<dyn HealthChecker>])
}
