//! Opening the configured store: items and idempotency records share it.

use std::sync::Arc;

use plumego::core::store::memory::{MemoryConfig, MemoryStore};
use plumego::core::store::postgres::{PostgresConfig, PostgresStore};
use plumego::core::store::redb::{RedbConfig, RedbStore};
use plumego::core::store::redis::{RedisConfig, RedisStore};
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

/// Keys and rows of this service live under this namespace in shared stores.
pub const NAMESPACE: &str = "plumego-reference";

/// Opens the store named by the configuration.
pub async fn open(config: &StoreConfig) -> Result<Stores, StoreError> {
    match config {
        StoreConfig::Embedded(dir) => {
            let store = Arc::new(RedbStore::open(RedbConfig::new(dir.clone())).await?);
            tracing::info!(data_dir = %dir.display(), "embedded store opened");
            Ok(Stores::over(store))
        }
        StoreConfig::Memory => Stores::memory(),
        StoreConfig::Redis(url) => {
            let store =
                Arc::new(RedisStore::connect(RedisConfig::new(url.clone(), NAMESPACE)?).await?);
            Ok(Stores::over(store))
        }
        StoreConfig::Postgres(url) => {
            let store = Arc::new(
                PostgresStore::connect(PostgresConfig::new(url.clone(), NAMESPACE)?).await?,
            );
            store.migrate().await?;
            Ok(Stores::over(store))
        }
    }
}

impl Stores {
    /// Items and idempotency records on one engine.
    fn over<S: Kv + IdempotencyStore + 'static>(store: Arc<S>) -> Stores {
        Stores {
            items: Arc::new(KvRepository::new(store.clone() as Arc<dyn Kv>)),
            idempotency: store,
        }
    }

    /// Everything in process memory (tests, `APP_STORE=memory`).
    pub fn memory() -> Result<Stores, StoreError> {
        let store = Arc::new(MemoryStore::new(MemoryConfig::default())?);
        Ok(Stores::over(store))
    }
}
