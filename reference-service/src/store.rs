//! Opening the configured store: items and idempotency records share it.

use std::sync::Arc;

use plumego::core::store::memory::{MemoryConfig, MemoryStore};
use plumego::core::store::redb::{RedbConfig, RedbStore};
use plumego::core::store::{IdempotencyStore, Kv, StoreError};

use crate::config::StoreConfig;
use crate::domain::item::{ItemRepository, KvRepository};

/// The store behind the service.
pub struct Stores {
    /// Items.
    pub items: Arc<dyn ItemRepository>,
    /// Idempotency-Key records.
    pub idempotency: Arc<dyn IdempotencyStore>,
}

/// Opens the store named by the configuration.
pub async fn open(config: &StoreConfig) -> Result<Stores, StoreError> {
    match config {
        StoreConfig::Embedded(dir) => {
            let store = Arc::new(RedbStore::open(RedbConfig::new(dir.clone())).await?);
            tracing::info!(data_dir = %dir.display(), "embedded store opened");
            Ok(Stores {
                items: Arc::new(KvRepository::new(store.clone() as Arc<dyn Kv>)),
                idempotency: store,
            })
        }
        StoreConfig::Memory => Stores::memory(),
    }
}

impl Stores {
    /// Everything in process memory (tests, `APP_STORE=memory`).
    pub fn memory() -> Result<Stores, StoreError> {
        let store = Arc::new(MemoryStore::new(MemoryConfig::default())?);
        Ok(Stores {
            items: Arc::new(KvRepository::new(store.clone() as Arc<dyn Kv>)),
            idempotency: store,
        })
    }
}
