//! A generic path trie: route patterns in, values and parameter ranges out.
//!
//! This module knows nothing about HTTP or methods. A router parses each route
//! with [`parse`], stores a value per pattern with [`Tree::insert`], and looks
//! request paths up with [`Tree::find`], passing an `accept` predicate (for
//! example "this route has a handler for the request's method") so that a
//! leaf which exists but does not fit makes the search fall back to a
//! lower-priority route instead of failing.
//!
//! ```
//! use plumego_router::tree::{parse, Params, Tree};
//!
//! let mut tree = Tree::new();
//! *tree.insert(&parse("/users/:id").unwrap()).unwrap() = Some("user");
//! *tree.insert(&parse("/users/me").unwrap()).unwrap() = Some("me");
//! *tree.insert(&parse("/files/{*path}").unwrap()).unwrap() = Some("file");
//!
//! let mut params = Params::new();
//! assert_eq!(tree.find("/users/me", &mut params, |_| true), Some(&"me"));
//! assert_eq!(tree.find("/users/42", &mut params, |_| true), Some(&"user"));
//! assert_eq!(params.value(0, "/users/42"), Some("42"));
//! assert_eq!(tree.find("/files/a/b", &mut params, |_| true), Some(&"file"));
//! assert_eq!(params.value(0, "/files/a/b"), Some("a/b"));
//! assert_eq!(tree.find("/files", &mut params, |_| true), None);
//! ```

mod node;
mod params;
mod pattern;

pub use node::{InsertError, Tree};
pub use params::Params;
pub use pattern::{Pattern, PatternError, Segment, parse};
