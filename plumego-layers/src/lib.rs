//! Plumego's transport middleware as tower layers.
//!
//! Every layer has a `Layer`, a `Clone` `Service` generic over request and
//! response bodies, a named response future and, where anything is
//! configurable, a `Config` with documented defaults (validated at
//! construction when a value can be wrong). Errors a layer produces leave as the JSON error envelope, never as an
//! `Err` (which axum would reject), so each layer works in axum, in a plain
//! `tower::ServiceBuilder` over hyper, or around Plumego's router. Where
//! tower-http already does the job (CORS, compression, panic catching) the layer
//! configures it and adds Plumego's contract on top.
//!
//! Each layer is a cargo feature; `full` enables them all. [`ServiceBuilderExt`]
//! adds one method per layer to `tower::ServiceBuilder`. One feature is not a
//! layer: `jwks` adds a hyper + rustls client so `security::jwt::JwksSource`
//! can fetch an identity provider's keys by itself (without it, it takes any
//! tower HTTP client).
//!
//! The recommended order, outermost first (the reference service's): request
//! id, security headers, CORS, recovery, access log, body limit, metrics,
//! tracing, timeout. Security headers sit outside recovery so its 500 carries
//! them; the timeout is innermost so it cancels only the handler.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod body;
mod builder_ext;
#[cfg(any(feature = "idempotency", feature = "singleflight"))]
pub mod resumed_body;

pub use body::ResponseBody;
pub use builder_ext::ServiceBuilderExt;

#[cfg(feature = "access-log")]
pub mod access_log;
#[cfg(feature = "body-limit")]
pub mod body_limit;
#[cfg(feature = "compression")]
pub mod compression;
#[cfg(feature = "concurrency-limit")]
pub mod concurrency_limit;
#[cfg(feature = "cors")]
pub mod cors;
#[cfg(feature = "debug-errors")]
pub mod debug_errors;
#[cfg(any(feature = "idempotency", feature = "security", feature = "trace"))]
mod hex;
#[cfg(feature = "http-metrics")]
pub mod http_metrics;
#[cfg(feature = "idempotency")]
pub mod idempotency;
#[cfg(feature = "recovery")]
pub mod recovery;
#[cfg(feature = "request-id")]
pub mod request_id;
#[cfg(feature = "security")]
pub mod security;
#[cfg(feature = "security-headers")]
pub mod security_headers;
#[cfg(any(feature = "http-metrics", feature = "trace"))]
mod semconv;
#[cfg(feature = "singleflight")]
pub mod singleflight;
#[cfg(feature = "timeout")]
pub mod timeout;
#[cfg(feature = "trace")]
pub mod trace;
