//! Item use cases: input normalisation and the rules around storage.

use std::sync::Arc;
use std::time::SystemTime;

use super::{Item, ItemDraft, ItemPatch, ItemRepository, Page, RepositoryError};

/// Why an item operation failed.
#[derive(Debug)]
pub enum ItemError {
    /// Required fields are missing (after trimming).
    Required(Vec<&'static str>),
    /// A patch sets nothing.
    NoFields,
    /// No such item.
    NotFound,
    /// Storage failed.
    Repository(RepositoryError),
}

impl From<RepositoryError> for ItemError {
    fn from(e: RepositoryError) -> Self {
        Self::Repository(e)
    }
}

/// The item use cases over a repository.
#[derive(Clone)]
pub struct ItemService {
    repo: Arc<dyn ItemRepository>,
}

fn new_id() -> String {
    format!("{:016x}", fastrand::u64(..))
}

fn now() -> String {
    plumego::core::health::rfc3339_seconds(SystemTime::now())
}

fn validate(draft: &ItemDraft) -> Result<(String, String), ItemError> {
    let name = draft.name.trim().to_owned();
    if name.is_empty() {
        return Err(ItemError::Required(vec!["name"]));
    }
    Ok((name, draft.description.trim().to_owned()))
}

impl ItemService {
    /// A service over `repo`.
    pub fn new(repo: Arc<dyn ItemRepository>) -> Self {
        Self { repo }
    }

    /// The repository (for readiness and shutdown).
    pub fn repository(&self) -> &Arc<dyn ItemRepository> {
        &self.repo
    }

    /// Creates an item.
    pub async fn create(&self, draft: ItemDraft) -> Result<Item, ItemError> {
        let (name, description) = validate(&draft)?;
        let item = Item {
            id: new_id(),
            name,
            description,
            created_at: now(),
        };
        self.repo.insert(item.clone()).await?;
        Ok(item)
    }

    /// One item.
    pub async fn get(&self, id: &str) -> Result<Item, ItemError> {
        self.repo.get(id).await?.ok_or(ItemError::NotFound)
    }

    /// A page of items.
    pub async fn list(&self, offset: usize, limit: usize) -> Result<Page, ItemError> {
        Ok(self.repo.list(offset, limit).await?)
    }

    /// Replaces every field.
    pub async fn replace(&self, id: &str, draft: ItemDraft) -> Result<Item, ItemError> {
        let (name, description) = validate(&draft)?;
        let mut item = self.get(id).await?;
        item.name = name;
        item.description = description;
        if self.repo.replace(item.clone()).await? {
            Ok(item)
        } else {
            Err(ItemError::NotFound)
        }
    }

    /// Changes the non-empty fields of `patch`.
    pub async fn patch(&self, id: &str, patch: ItemPatch) -> Result<Item, ItemError> {
        let name = patch
            .name
            .map(|n| n.trim().to_owned())
            .filter(|n| !n.is_empty());
        let description = patch
            .description
            .map(|d| d.trim().to_owned())
            .filter(|d| !d.is_empty());
        if name.is_none() && description.is_none() {
            return Err(ItemError::NoFields);
        }
        let mut item = self.get(id).await?;
        if let Some(name) = name {
            item.name = name;
        }
        if let Some(description) = description {
            item.description = description;
        }
        if self.repo.replace(item.clone()).await? {
            Ok(item)
        } else {
            Err(ItemError::NotFound)
        }
    }

    /// Deletes an item.
    pub async fn delete(&self, id: &str) -> Result<(), ItemError> {
        if self.repo.delete(id).await? {
            Ok(())
        } else {
            Err(ItemError::NotFound)
        }
    }
}
