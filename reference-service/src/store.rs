//! Opening the configured item store.

use std::sync::Arc;

use crate::config::StoreConfig;
use crate::domain::item::{ItemRepository, MemoryRepository};

/// The item repository for `config`.
pub fn open(
    config: &StoreConfig,
) -> Result<Arc<dyn ItemRepository>, Box<dyn std::error::Error + Send + Sync>> {
    match config {
        StoreConfig::Memory => Ok(Arc::new(MemoryRepository::new())),
        StoreConfig::Embedded(dir) => {
            // Until the embedded engine lands, fall back to memory and say so.
            tracing::warn!(data_dir = %dir.display(), "embedded store not available yet: using memory");
            Ok(Arc::new(MemoryRepository::new()))
        }
    }
}
