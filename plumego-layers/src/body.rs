//! The response body of every Plumego layer: the inner service's body, or an
//! envelope the layer wrote itself. An enum rather than a box, so passing a
//! response through a stack of layers allocates nothing.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, StatusCode, header};
use http_body::{Frame, SizeHint};
use pin_project_lite::pin_project;
use plumego_core::context::RequestId;
use plumego_core::error::ApiError;

pin_project! {
    /// The inner body, or bytes written by the layer (an error envelope).
    /// Variant fields: `body` is the inner body; `bytes` is `None` once yielded.
    #[project = ResponseBodyProj]
    #[allow(missing_docs)]
    pub enum ResponseBody<B> {
        /// The inner service's body, untouched.
        Inner {
            #[pin]
            body: B,
        },
        /// A complete body produced by the layer.
        Full {
            bytes: Option<Bytes>,
        },
    }
}

impl<B> ResponseBody<B> {
    /// Wraps the inner body.
    pub fn inner(body: B) -> Self {
        Self::Inner { body }
    }

    /// A complete body.
    pub fn full(bytes: Bytes) -> Self {
        Self::Full {
            bytes: (!bytes.is_empty()).then_some(bytes),
        }
    }

    /// An empty body.
    pub fn empty() -> Self {
        Self::Full { bytes: None }
    }
}

impl<B> http_body::Body for ResponseBody<B>
where
    B: http_body::Body<Data = Bytes>,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        match self.project() {
            ResponseBodyProj::Inner { body } => body.poll_frame(cx),
            ResponseBodyProj::Full { bytes } => {
                Poll::Ready(bytes.take().map(|b| Ok(Frame::data(b))))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Self::Inner { body } => body.is_end_stream(),
            Self::Full { bytes } => bytes.is_none(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Self::Inner { body } => body.size_hint(),
            Self::Full { bytes } => {
                SizeHint::with_exact(bytes.as_ref().map_or(0, |b| b.len() as u64))
            }
        }
    }
}

/// The error envelope as a response of any layer body type, with the request
/// id of the request it answers.
pub fn envelope<B>(
    mut error: ApiError,
    request_id: Option<&RequestId>,
) -> http::Response<ResponseBody<B>> {
    if let (None, Some(id)) = (error.request_id(), request_id) {
        error.set_request_id(id.clone());
    }
    let status: StatusCode = error.status();
    let mut res = http::Response::new(ResponseBody::full(error.to_json()));
    *res.status_mut() = status;
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    res
}

impl<B> std::fmt::Debug for ResponseBody<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Inner { .. } => f.write_str("ResponseBody::Inner"),
            Self::Full { bytes } => f
                .debug_struct("ResponseBody::Full")
                .field("len", &bytes.as_ref().map_or(0, Bytes::len))
                .finish(),
        }
    }
}

/// An empty body, so layers that answer on their own (tower-http's CORS
/// preflight) can sit outside Plumego layers.
impl<B> Default for ResponseBody<B> {
    fn default() -> Self {
        Self::empty()
    }
}

/// The `Content-Length` a message declares; `None` when absent or not a
/// number (hyper has refused malformed framing before a layer sees it).
#[cfg_attr(
    not(any(
        feature = "body-limit",
        feature = "compression",
        feature = "debug-errors",
        feature = "http-metrics",
        feature = "security"
    )),
    allow(dead_code)
)]
pub(crate) fn content_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// Whether `needle` occurs in `haystack`, ASCII case ignored (header values
/// and names; an empty needle always occurs).
#[cfg_attr(
    not(any(
        feature = "access-log",
        feature = "compression",
        feature = "debug-errors"
    )),
    allow(dead_code)
)]
pub(crate) fn contains_ignore_ascii_case(haystack: &[u8], needle: &[u8]) -> bool {
    needle.is_empty()
        || haystack
            .windows(needle.len())
            .any(|w| w.eq_ignore_ascii_case(needle))
}
