//! Route listings for tools, debug endpoints and OpenAPI generation.

use std::sync::Arc;

use plumego_core::context::RouteInfo;
use serde::ser::{Serialize, SerializeStruct, Serializer};

/// One registered route.
#[derive(Debug, Clone)]
pub struct RouteDescription {
    /// `GET`, `POST`... or `ANY`.
    pub method: String,
    /// The pattern, group prefix included.
    pub pattern: String,
    /// The route name.
    pub name: Option<String>,
    /// Tags.
    pub tags: Vec<String>,
    /// The route's static information, typed metadata included.
    pub info: Arc<RouteInfo>,
}

impl RouteDescription {
    /// Typed metadata attached at registration.
    pub fn metadata<T: Send + Sync + 'static>(&self) -> Option<&T> {
        self.info.metadata()
    }
}

/// Serialised as `{"method","path","name"?,"tags"?}` (metadata is typed and
/// stays in process).
impl Serialize for RouteDescription {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut s = serializer.serialize_struct("RouteDescription", 4)?;
        s.serialize_field("method", &self.method)?;
        s.serialize_field("path", &self.pattern)?;
        if let Some(name) = &self.name {
            s.serialize_field("name", name)?;
        } else {
            s.skip_field("name")?;
        }
        if self.tags.is_empty() {
            s.skip_field("tags")?;
        } else {
            s.serialize_field("tags", &self.tags)?;
        }
        s.end()
    }
}
