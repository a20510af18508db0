//! The item model.

use serde::{Deserialize, Serialize};

/// A stored item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Item {
    /// 16 lowercase hex characters.
    pub id: String,
    /// Required, trimmed.
    pub name: String,
    /// Optional, trimmed.
    pub description: String,
    /// RFC 3339, UTC.
    pub created_at: String,
}

/// The fields of a create or replace.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ItemDraft {
    /// The name.
    pub name: String,
    /// The description.
    pub description: String,
}

/// The fields of a partial update; `None` leaves a field unchanged.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ItemPatch {
    /// A new name.
    pub name: Option<String>,
    /// A new description.
    pub description: Option<String>,
}
