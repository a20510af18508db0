//! Plumego: a tower-native HTTP service toolkit.
//!
//! This facade re-exports the stable crates so a service needs one dependency:
//! [`core`] (body, responses, error envelope, request context, server, health,
//! logging), [`router`] and [`layers`].
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

pub use plumego_core as core;
pub use plumego_layers as layers;
pub use plumego_router as router;

pub use plumego_core::{
    ApiError, Body, Envelope, ErrorType, IntoResponse, Json, Request, RequestExt, Response,
    handler_fn,
};
