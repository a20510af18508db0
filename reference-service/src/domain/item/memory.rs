//! Items in process memory (`APP_STORE=memory`): fast, lost on restart.

use std::collections::HashMap;
use std::sync::Mutex;

use super::{BoxFuture, Item, ItemRepository, Page, RepositoryError};

#[derive(Default)]
struct State {
    items: HashMap<String, Item>,
    order: Vec<String>,
}

/// An in-memory repository.
#[derive(Default)]
pub struct MemoryRepository {
    state: Mutex<State>,
}

impl MemoryRepository {
    /// An empty repository.
    pub fn new() -> Self {
        Self::default()
    }

    fn with<T>(&self, f: impl FnOnce(&mut State) -> T) -> Result<T, RepositoryError> {
        let mut state = self
            .state
            .lock()
            .map_err(|_| RepositoryError("memory store poisoned by a panic".into()))?;
        Ok(f(&mut state))
    }
}

impl ItemRepository for MemoryRepository {
    fn insert(&self, item: Item) -> BoxFuture<'_, Result<(), RepositoryError>> {
        let result = self.with(|s| {
            s.order.push(item.id.clone());
            s.items.insert(item.id.clone(), item);
        });
        Box::pin(async move { result })
    }

    fn get<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Option<Item>, RepositoryError>> {
        let result = self.with(|s| s.items.get(id).cloned());
        Box::pin(async move { result })
    }

    fn list(&self, offset: usize, limit: usize) -> BoxFuture<'_, Result<Page, RepositoryError>> {
        let result = self.with(|s| Page {
            items: s
                .order
                .iter()
                .skip(offset)
                .take(limit)
                .filter_map(|id| s.items.get(id).cloned())
                .collect(),
            total: s.order.len(),
        });
        Box::pin(async move { result })
    }

    fn replace(&self, item: Item) -> BoxFuture<'_, Result<bool, RepositoryError>> {
        let result = self.with(|s| match s.items.get_mut(&item.id) {
            Some(slot) => {
                *slot = item;
                true
            }
            None => false,
        });
        Box::pin(async move { result })
    }

    fn delete<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<bool, RepositoryError>> {
        let result = self.with(|s| {
            let existed = s.items.remove(id).is_some();
            if existed {
                s.order.retain(|o| o != id);
            }
            existed
        });
        Box::pin(async move { result })
    }

    fn check(&self) -> BoxFuture<'_, Result<(), RepositoryError>> {
        let result = self.with(|_| ());
        Box::pin(async move { result })
    }
}
