//! Items over any `plumego_core::store::Kv`: the embedded redb store by
//! default, or memory, Redis or PostgreSQL.
//!
//! Layout: `item:<id>` holds the item as JSON; `order:<created ns><id>`
//! indexes creation order for listing. An insert writes the item, then its
//! order key, and only then acknowledges; a crash in between leaves an item
//! that `get` finds and listing skips, never a listed item that is missing.
//! Listing walks the order keys (a keys-only scan), which is fine at the
//! scale of a reference service.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use plumego::core::store::{Kv, StoreError};
use serde::{Deserialize, Serialize};

use super::{BoxFuture, Item, ItemRepository, Page, RepositoryError};

const ITEM: &str = "item:";
const ORDER: &str = "order:";
const PAGE: usize = 512;

#[derive(Serialize, Deserialize)]
struct Stored {
    #[serde(flatten)]
    item: Item,
    order: String,
}

/// Items kept in a key-value store.
pub struct KvRepository {
    kv: Arc<dyn Kv>,
}

impl KvRepository {
    /// A repository over `kv`.
    pub fn new(kv: Arc<dyn Kv>) -> Self {
        Self { kv }
    }

    async fn load(&self, id: &str) -> Result<Option<Stored>, RepositoryError> {
        match self.kv.get(&format!("{ITEM}{id}")).await {
            Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(err),
            Err(StoreError::NotFound | StoreError::Expired) => Ok(None),
            // An id that cannot be a key (too long, control characters) names no item.
            Err(StoreError::InvalidKey(_) | StoreError::KeyTooLong { .. }) => Ok(None),
            Err(e) => Err(err(e)),
        }
    }

    async fn save(&self, stored: &Stored) -> Result<(), RepositoryError> {
        let json = serde_json::to_vec(stored).map_err(err)?;
        self.kv
            .set(
                &format!("{ITEM}{}", stored.item.id),
                Bytes::from(json),
                None,
            )
            .await
            .map_err(err)
    }
}

fn err(e: impl std::error::Error + Send + Sync + 'static) -> RepositoryError {
    RepositoryError(Box::new(e))
}

impl ItemRepository for KvRepository {
    fn insert(&self, item: Item) -> BoxFuture<'_, Result<(), RepositoryError>> {
        Box::pin(async move {
            let nanos = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or_default();
            let order = format!("{ORDER}{nanos:024}{}", item.id);
            let id = item.id.clone();
            self.save(&Stored {
                item,
                order: order.clone(),
            })
            .await?;
            self.kv
                .set(&order, Bytes::from(id), None)
                .await
                .map_err(err)
        })
    }

    fn get<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Option<Item>, RepositoryError>> {
        Box::pin(async move { Ok(self.load(id).await?.map(|s| s.item)) })
    }

    fn list(&self, offset: usize, limit: usize) -> BoxFuture<'_, Result<Page, RepositoryError>> {
        Box::pin(async move {
            let mut ids = Vec::with_capacity(limit);
            let mut total = 0usize;
            let mut after: Option<String> = None;
            loop {
                let keys = self
                    .kv
                    .keys(ORDER, after.as_deref(), PAGE)
                    .await
                    .map_err(err)?;
                for key in &keys {
                    if total >= offset && ids.len() < limit {
                        ids.push(key.get(ORDER.len() + 24..).unwrap_or_default().to_owned());
                    }
                    total += 1;
                }
                if keys.len() < PAGE {
                    break;
                }
                after = keys.last().cloned();
            }
            let mut items = Vec::with_capacity(ids.len());
            for id in ids {
                if let Some(stored) = self.load(&id).await? {
                    items.push(stored.item);
                }
            }
            Ok(Page { items, total })
        })
    }

    fn replace(&self, item: Item) -> BoxFuture<'_, Result<bool, RepositoryError>> {
        Box::pin(async move {
            let Some(existing) = self.load(&item.id).await? else {
                return Ok(false);
            };
            self.save(&Stored {
                item,
                order: existing.order,
            })
            .await?;
            Ok(true)
        })
    }

    fn delete<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<bool, RepositoryError>> {
        Box::pin(async move {
            let Some(existing) = self.load(id).await? else {
                return Ok(false);
            };
            // The order key goes first, so a crash never lists a deleted item.
            match self.kv.delete(&existing.order).await {
                Ok(()) | Err(StoreError::NotFound) => {}
                Err(e) => return Err(err(e)),
            }
            match self.kv.delete(&format!("{ITEM}{id}")).await {
                Ok(()) => Ok(true),
                Err(StoreError::NotFound) => Ok(false),
                Err(e) => Err(err(e)),
            }
        })
    }

    fn check(&self) -> BoxFuture<'_, Result<(), RepositoryError>> {
        Box::pin(async move {
            self.kv
                .exists("health:probe")
                .await
                .map(|_| ())
                .map_err(err)
        })
    }
}
