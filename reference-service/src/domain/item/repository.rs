//! Where items are kept.

use std::future::Future;
use std::pin::Pin;

use super::Item;

/// A boxed future, so the repository trait stays object-safe.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A storage failure (never shown to clients verbatim).
#[derive(Debug)]
pub struct RepositoryError(pub Box<dyn std::error::Error + Send + Sync>);

impl std::fmt::Display for RepositoryError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "item repository: {}", self.0)
    }
}

impl std::error::Error for RepositoryError {}

/// One page of items, in creation order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    /// The items.
    pub items: Vec<Item>,
    /// All items stored.
    pub total: usize,
}

/// Item storage. Implementations keep creation order.
pub trait ItemRepository: Send + Sync {
    /// Stores a new item; the write is durable when this returns.
    fn insert(&self, item: Item) -> BoxFuture<'_, Result<(), RepositoryError>>;
    /// The item, if any.
    fn get<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Option<Item>, RepositoryError>>;
    /// A page of items.
    fn list(&self, offset: usize, limit: usize) -> BoxFuture<'_, Result<Page, RepositoryError>>;
    /// Replaces an existing item; false when it does not exist.
    fn replace(&self, item: Item) -> BoxFuture<'_, Result<bool, RepositoryError>>;
    /// Deletes an item; false when it did not exist.
    fn delete<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<bool, RepositoryError>>;
    /// Whether the storage can serve (for readiness).
    fn check(&self) -> BoxFuture<'_, Result<(), RepositoryError>>;
    /// Makes every acknowledged write durable (for shutdown).
    fn flush(&self) -> BoxFuture<'_, Result<(), RepositoryError>> {
        Box::pin(async { Ok(()) })
    }
}
