//! A trie router that is a tower [`Service`](tower::Service).
//!
//! Routes are any `Clone` tower services (plumego's `handler_fn`, an axum
//! `Router`, a tower-http `ServeDir`...). The router is built once and then
//! immutable; it can be served by hyper directly, mounted in axum with
//! `nest_service` or `fallback_service`, and wrapped by any tower layer.
//!
//! # Matching
//!
//! - Path syntax: `:name` / `{name}` for one segment, `*name` / `{*name}` for
//!   the rest of the path (last segment only). axum and matchit routes port
//!   unchanged; Plumego routes do too.
//! - Per segment, static beats parameter beats catch-all, **with backtracking**:
//!   with `/files/*path` and `/files/public/:id`, `/files/public/a/b` matches the
//!   catch-all (the Go router answered 404).
//! - Matching runs on the raw path; parameter values are percent-decoded after,
//!   so `%2F` stays inside one parameter.
//! - Leading slashes collapse; an internal `//` never matches; a trailing slash
//!   is ignored by default ([`TrailingSlash`]).
//! - HEAD falls back to GET (body dropped, `Content-Length` kept), then to ANY
//!   routes. OPTIONS is answered with `Allow` unless a route handles it. A method
//!   mismatch is a 405 with `Allow` and the JSON error envelope, or a 404 with
//!   [`MethodMismatch::NotFound`] as in the Go toolkit.
//!
//! # Route state
//!
//! On a match the router inserts a [`RouteState`](plumego_core::context::RouteState)
//! (pattern, name, decoded parameters, typed metadata) into the request's
//! extensions, visible to the route and to every group layer. There is no
//! parameter limit (the Go router silently dropped parameters past eight).
//!
//! The state is built inline per request rather than pooled: its static part
//! is one shared `Arc`, and up to 64 bytes of parameter values live inside the
//! state itself, so a match allocates nothing beyond the box every
//! `http::Extensions` insert makes. A pool would add synchronisation to the
//! read path to save allocations that no longer happen. There is no match
//! cache either: lookups take no lock and allocate nothing.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod builder;
mod config;
mod error;
mod listing;
mod reverse;
mod route;
mod service;
pub mod tree;

pub use builder::{Group, IntoRoute, RouteRef, RouterBuilder};
pub use config::{MethodMismatch, RouterConfig, TrailingSlash};
pub use error::{RouteError, RouteErrorKind, UrlError};
pub use listing::RouteDescription;
pub use route::{Route, RouteFuture};
pub use service::{OriginalUri, Router, RouterFuture, plain_not_found};
