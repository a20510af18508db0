//! Items: the one resource of the reference service.

mod kv;
mod memory;
mod model;
mod repository;
mod service;

pub use kv::KvRepository;
pub use memory::MemoryRepository;
pub use model::{Item, ItemDraft, ItemPatch};
pub use repository::{BoxFuture, ItemRepository, Page, RepositoryError};
pub use service::{ItemError, ItemService};
