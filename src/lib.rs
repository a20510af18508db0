//! Plumego: a tower-native HTTP service toolkit.
//!
//! This facade re-exports the stable crates so a service needs one dependency:
//! [`core`] (body, responses, error envelope, request context, server, health,
//! logging), [`router`] and [`layers`], and holds [`App`], which ties routes,
//! global layers and the server together.
//!
//! A hello world:
//!
//! ```no_run
//! use plumego::{App, AppConfig, handler_fn};
//!
//! #[tokio::main]
//! async fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     let mut app = App::new(AppConfig::default());
//!     app.get("/", handler_fn(|_req: plumego::Request| async { "hello" }))?;
//!     app.run().await?; // 0.0.0.0:8080, graceful shutdown on SIGINT/SIGTERM
//!     Ok(())
//! }
//! ```
//!
//! ```
//! use plumego::core::{handler_fn, IntoResponse};
//! use tower::ServiceExt;
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let svc = handler_fn(|_req: http::Request<()>| async { "hello" });
//! let res = svc.oneshot(http::Request::new(())).await.unwrap();
//! assert_eq!(res.status(), 200);
//! # });
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

mod app;

pub use app::{App, AppConfig, AppError, AppService};
pub use plumego_core as core;
pub use plumego_layers as layers;
pub use plumego_router as router;

pub use plumego_core::{
    ApiError, Body, Envelope, ErrorType, IntoResponse, Json, Request, RequestExt, Response,
    handler_fn,
};
