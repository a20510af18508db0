//! Response compression: tower-http's [`CompressionLayer`] (gzip, br, zstd,
//! chosen from `Accept-Encoding` with q-values) with Plumego's skip rules as a
//! [`Predicate`].
//!
//! A response is left alone when any of these holds:
//!
//! - its status is an error (>= 400), informational (`101 Switching
//!   Protocols` included), `204` or `304`;
//! - it already has `Content-Encoding` (or `Content-Range`, checked by tower-http);
//! - it is an upgrade: an `Upgrade` header, or `upgrade` in `Connection`;
//! - it has no `Content-Type`, or the type is `image/*`, `audio/*`, `video/*`,
//!   `application/zip`, `application/gzip`, `application/pdf`,
//!   `application/octet-stream`, gRPC (which compresses itself), or contains
//!   `stream` (server-sent events and other streams) or `websocket`;
//! - its size is known (exact body size hint, or `Content-Length`) and is zero
//!   or below [`CompressionConfig::min_size`].
//!
//! Otherwise the body is compressed as it streams: nothing is buffered whole, and
//! `Content-Length` and `Accept-Ranges` are dropped. The encoder may hold small
//! chunks until it has enough input, which is why stream content types are
//! skipped (tower-http #420).
//!
//! Differences from the Go toolkit (gzip only, buffered first write), on purpose:
//!
//! - br and zstd are offered besides gzip; deflate is not.
//! - **Minimum size 32 bytes by default** (tower-http's default): gzip adds
//!   about 20 bytes of framing, so smaller bodies only grow. Go had no minimum;
//!   [`CompressionConfig::min_size`]`(0)` restores that, except that known-empty
//!   bodies are never encoded (Go did not encode them either).
//! - No content sniffing: a response without `Content-Type` is not compressed.
//!   Go sniffed the first bytes, which needs buffering; tower services set the
//!   type (axum does for strings, bytes and JSON).
//! - `Vary: Accept-Encoding` is added (deduplicated, by tower-http) to every
//!   response that *could* be compressed, also when this client did not ask for
//!   it. Go added it only when it compressed, so a shared cache could serve an
//!   identity response to a gzip client or the reverse.
//! - No `MaxBufferBytes`: nothing is buffered, so nothing needs a cap.
//! - The request is not inspected: a refused upgrade or an `Accept:
//!   text/event-stream` request is judged by its response (status 101,
//!   `text/event-stream`), which is what matters.
//!
//! Extra rules compose with tower-http's [`Predicate::and`].
//!
//! ```
//! use plumego_layers::compression::{CompressionConfig, compression_layer};
//! use tower::{ServiceBuilder, ServiceExt};
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let svc = ServiceBuilder::new()
//!     .layer(compression_layer(CompressionConfig::default()))
//!     .service_fn(|_req: http::Request<()>| async {
//!         let mut res = http::Response::new(http_body_util::Full::new(bytes::Bytes::from("a".repeat(1000))));
//!         res.headers_mut().insert("content-type", http::HeaderValue::from_static("text/plain"));
//!         Ok::<_, std::convert::Infallible>(res)
//!     });
//! let req = http::Request::get("/").header("accept-encoding", "gzip").body(()).unwrap();
//! let res = svc.oneshot(req).await.unwrap();
//! assert_eq!(res.headers()["content-encoding"], "gzip");
//! assert_eq!(res.headers()["vary"], "accept-encoding");
//! # });
//! ```

use http::{HeaderMap, StatusCode, header};
use http_body::Body;
pub use tower_http::CompressionLevel;
use tower_http::compression::CompressionLayer;
pub use tower_http::compression::predicate::Predicate;

/// The default [`CompressionConfig::min_size`].
pub const DEFAULT_MIN_SIZE: u64 = 32;

/// Compression options.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CompressionConfig {
    /// Bodies of a known size below this many bytes are sent as they are.
    /// Default [`DEFAULT_MIN_SIZE`]; bodies of unknown size are compressed.
    pub min_size: u64,
    /// Offer gzip. Default true.
    pub gzip: bool,
    /// Offer brotli. Default true.
    pub br: bool,
    /// Offer zstd. Default true.
    pub zstd: bool,
    /// The compression level. Default: each algorithm's default.
    pub level: CompressionLevel,
}

impl Default for CompressionConfig {
    fn default() -> Self {
        Self {
            min_size: DEFAULT_MIN_SIZE,
            gzip: true,
            br: true,
            zstd: true,
            level: CompressionLevel::Default,
        }
    }
}

impl CompressionConfig {
    /// Sets the minimum size.
    #[must_use]
    pub fn min_size(mut self, bytes: u64) -> Self {
        self.min_size = bytes;
        self
    }

    /// Enables or disables gzip.
    #[must_use]
    pub fn gzip(mut self, enabled: bool) -> Self {
        self.gzip = enabled;
        self
    }

    /// Enables or disables brotli.
    #[must_use]
    pub fn br(mut self, enabled: bool) -> Self {
        self.br = enabled;
        self
    }

    /// Enables or disables zstd.
    #[must_use]
    pub fn zstd(mut self, enabled: bool) -> Self {
        self.zstd = enabled;
        self
    }

    /// Sets the compression level.
    #[must_use]
    pub fn level(mut self, level: CompressionLevel) -> Self {
        self.level = level;
        self
    }
}

/// tower-http's compression layer with Plumego's predicate and encodings.
pub fn compression_layer(config: CompressionConfig) -> CompressionLayer<PlumegoPredicate> {
    CompressionLayer::new()
        .gzip(config.gzip)
        .br(config.br)
        .zstd(config.zstd)
        // Explicit, so another crate enabling tower-http's deflate feature
        // (features unify across the build) does not change what is offered.
        .no_deflate()
        .quality(config.level)
        .compress_when(PlumegoPredicate::new(config.min_size))
}

/// Plumego's skip rules (see the [module docs](self)).
///
/// ```
/// use plumego_layers::compression::{PlumegoPredicate, Predicate};
///
/// let res = |status: u16, content_type: &str| {
///     http::Response::builder()
///         .status(status)
///         .header("content-type", content_type)
///         .body(http_body_util::Full::new(bytes::Bytes::from("x".repeat(100))))
///         .unwrap()
/// };
/// let p = PlumegoPredicate::default();
/// assert!(p.should_compress(&res(200, "application/json")));
/// assert!(!p.should_compress(&res(500, "application/json")));
/// assert!(!p.should_compress(&res(200, "image/png")));
/// assert!(!p.should_compress(&res(200, "text/event-stream")));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlumegoPredicate {
    min_size: u64,
}

impl Default for PlumegoPredicate {
    fn default() -> Self {
        Self::new(DEFAULT_MIN_SIZE)
    }
}

impl PlumegoPredicate {
    /// The rules with this minimum size.
    pub const fn new(min_size: u64) -> Self {
        Self { min_size }
    }
}

/// Types that are already compressed, or binary; matched as prefixes.
const SKIPPED_PREFIXES: &[&str] = &[
    "image/",
    "audio/",
    "video/",
    "application/zip",
    "application/gzip",
    "application/pdf",
    "application/octet-stream",
    "application/grpc",
];

/// Matched anywhere in the type: streams must not wait on the encoder.
const SKIPPED_PARTS: &[&str] = &["stream", "websocket"];

impl Predicate for PlumegoPredicate {
    fn should_compress<B>(&self, response: &http::Response<B>) -> bool
    where
        B: Body,
    {
        let status = response.status();
        if status.as_u16() >= 400
            || status.is_informational()
            || status == StatusCode::NO_CONTENT
            || status == StatusCode::NOT_MODIFIED
        {
            return false;
        }
        let headers = response.headers();
        if headers.contains_key(header::CONTENT_ENCODING) || is_upgrade(headers) {
            return false;
        }
        let Some(content_type) = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|v| !v.is_empty())
        else {
            return false;
        };
        if SKIPPED_PREFIXES
            .iter()
            .any(|p| starts_with_ignore_case(content_type, p))
            || SKIPPED_PARTS.iter().any(|p| {
                crate::body::contains_ignore_ascii_case(content_type.as_bytes(), p.as_bytes())
            })
        {
            return false;
        }
        let size = response
            .body()
            .size_hint()
            .exact()
            .or_else(|| crate::body::content_length(headers));
        match size {
            Some(size) => size > 0 && size >= self.min_size,
            None => true,
        }
    }
}

fn is_upgrade(headers: &HeaderMap) -> bool {
    headers.contains_key(header::UPGRADE)
        || headers.get_all(header::CONNECTION).iter().any(|v| {
            v.to_str().is_ok_and(|v| {
                v.split(',')
                    .any(|t| t.trim().eq_ignore_ascii_case("upgrade"))
            })
        })
}

fn starts_with_ignore_case(haystack: &str, prefix: &str) -> bool {
    haystack
        .as_bytes()
        .get(..prefix.len())
        .is_some_and(|head| head.eq_ignore_ascii_case(prefix.as_bytes()))
}
