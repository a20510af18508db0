//! The canonical Plumego service.
//!
//! `main.rs` is thin (signals, config, build, serve); `config.rs` reads the
//! configuration; `app.rs` holds the layer stack and the route table;
//! `handler/` has one file per resource; `domain/` holds the business model
//! with no HTTP in it. There is no global state: everything a handler needs
//! reaches it through [`handler::AppState`].
#![forbid(unsafe_code)]

pub mod app;
pub mod config;
pub mod domain;
pub mod handler;
pub mod store;
