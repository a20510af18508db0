//! Serving a tower service: configuration, HTTP/1.1 and HTTP/2 (h2c and TLS),
//! graceful shutdown, and the lifecycle of the components around it.

mod config;
mod lifecycle;
mod serve;
#[cfg(feature = "tls")]
mod tls;

pub use config::{ConfigError, MIN_HEADER_BYTES, ServerConfig, TlsFiles};
pub use lifecycle::{Component, Lifecycle, LifecycleError, LifecycleGroup};
pub use serve::{ServeReport, Server, ServerError, shutdown_signal};
