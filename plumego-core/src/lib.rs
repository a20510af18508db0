//! The stable core of Plumego: the body and response types, the error and
//! success envelopes, the request context carried in `http::Extensions`, the
//! server lifecycle, health and logging.
//!
//! Everything here is plain `http`, `http-body` and `tower`: any tower service
//! can be served, and any tower layer can wrap the services built here.
//!
//! ```
//! use plumego_core::{handler_fn, ApiError, ErrorType, IntoResponse, Json};
//! use tower::ServiceExt;
//!
//! async fn find(req: http::Request<plumego_core::Body>) -> Result<Json<serde_json::Value>, ApiError> {
//!     match req.uri().path() {
//!         "/known" => Ok(Json(serde_json::json!({"id": 1}))),
//!         _ => Err(ApiError::new(ErrorType::ResourceNotFound, "no such item")),
//!     }
//! }
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let req = http::Request::get("/other").body(plumego_core::Body::empty()).unwrap();
//! let res = handler_fn(find).oneshot(req).await.unwrap();
//! assert_eq!(res.status(), 404);
//! # });
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod body;
pub mod context;
pub mod envelope;
pub mod error;
pub mod handler;
pub mod health;
pub mod log;
pub mod response;
pub mod server;
pub mod store;

pub use body::{Body, BoxError};
pub use context::RequestExt;
pub use envelope::Envelope;
pub use error::{ApiError, ErrorType};
pub use handler::handler_fn;
pub use response::{IntoResponse, Json, Response};

/// The request type handlers receive by default.
pub type Request<B = Body> = http::Request<B>;
