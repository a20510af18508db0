//! The success envelope `{"data","meta","request_id"}` and the mechanism that
//! puts the request id into envelopes rendered by code that never saw the request.
//!
//! Envelopes built without a request id carry a [`PendingRequestId`] marker in
//! their response extensions. Whoever knows the request (the handler adapter,
//! the router, the request-id layer) calls [`attach_request_id`], which splices
//! `"request_id"` into the already-rendered bytes as the last field, exactly
//! where the Go toolkit writes it.

use std::collections::BTreeMap;

use bytes::Bytes;
use http::{HeaderValue, StatusCode, header};
use serde::Serialize;
use serde_json::Value;

use crate::body::Body;
use crate::context::RequestId;
use crate::error::write_go_json;
use crate::response::{IntoResponse, Response};

/// Marks a JSON envelope response that still lacks its `request_id` field.
#[derive(Debug, Clone, Copy)]
pub struct PendingRequestId;

/// Adds `"request_id"` to an envelope response that is waiting for one.
///
/// Responses without the [`PendingRequestId`] marker are left untouched, so
/// calling this on every response is cheap and safe.
pub fn attach_request_id(response: &mut Response, id: &RequestId) {
    if response
        .extensions_mut()
        .remove::<PendingRequestId>()
        .is_none()
    {
        return;
    }
    let Some(bytes) = response.body().as_bytes() else {
        return;
    };
    let Some(head) = bytes.strip_suffix(b"}\n") else {
        return;
    };
    let mut out = Vec::with_capacity(bytes.len() + id.as_str().len() + 16);
    out.extend_from_slice(head);
    if head != b"{" {
        out.push(b',');
    }
    out.extend_from_slice(b"\"request_id\":");
    // Serialising a `str` cannot fail.
    let _ = write_go_json(&mut out, id.as_str());
    out.extend_from_slice(b"}\n");
    if response.headers().contains_key(header::CONTENT_LENGTH) {
        response
            .headers_mut()
            .insert(header::CONTENT_LENGTH, HeaderValue::from(out.len()));
    }
    *response.body_mut() = Body::from(out);
}

/// The status given to [`Envelope::with_status`] is not 2xx.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvalidResponseStatus(pub StatusCode);

impl std::fmt::Display for InvalidResponseStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "invalid response status {}: success envelopes need 2xx",
            self.0.as_u16()
        )
    }
}

impl std::error::Error for InvalidResponseStatus {}

/// A success response: `{"data":…,"meta":{…},"request_id":"…"}` with each field
/// omitted when empty, and no body at all for 204.
///
/// ```
/// use plumego_core::{Envelope, IntoResponse};
///
/// let res = Envelope::new(serde_json::json!({"id": 1})).meta("page", 1).into_response();
/// assert_eq!(res.body().as_bytes().unwrap(), b"{\"data\":{\"id\":1},\"meta\":{\"page\":1}}\n");
///
/// assert!(Envelope::new(()).with_status(http::StatusCode::NOT_FOUND).is_err());
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct Envelope<T> {
    status: StatusCode,
    data: Option<T>,
    meta: BTreeMap<String, Value>,
}

impl<T: Serialize> Envelope<T> {
    /// A 200 envelope carrying `data`.
    pub fn new(data: T) -> Self {
        Self {
            status: StatusCode::OK,
            data: Some(data),
            meta: BTreeMap::new(),
        }
    }

    /// Changes the status; only 200..=299 is accepted.
    pub fn with_status(mut self, status: StatusCode) -> Result<Self, InvalidResponseStatus> {
        if !status.is_success() {
            return Err(InvalidResponseStatus(status));
        }
        self.status = status;
        Ok(self)
    }

    /// Adds a `meta` entry; an empty key is ignored.
    pub fn meta(mut self, key: impl Into<String>, value: impl Into<Value>) -> Self {
        let key = key.into();
        if !key.is_empty() {
            self.meta.insert(key, value.into());
        }
        self
    }

    fn render(&self) -> Result<Bytes, serde_json::Error> {
        let mut out = Vec::with_capacity(128);
        out.push(b'{');
        if let Some(data) = &self.data {
            out.extend_from_slice(b"\"data\":");
            write_go_json(&mut out, data)?;
        }
        if !self.meta.is_empty() {
            if out.len() > 1 {
                out.push(b',');
            }
            out.extend_from_slice(b"\"meta\":");
            write_go_json(&mut out, &self.meta)?;
        }
        out.extend_from_slice(b"}\n");
        Ok(Bytes::from(out))
    }
}

impl Envelope<()> {
    /// A 200 envelope with no data (`{}`).
    pub fn empty() -> Self {
        Self {
            status: StatusCode::OK,
            data: None,
            meta: BTreeMap::new(),
        }
    }
}

impl<T: Serialize> IntoResponse for Envelope<T> {
    fn into_response(self) -> Response {
        if self.status == StatusCode::NO_CONTENT {
            let mut res = Response::new(Body::empty());
            *res.status_mut() = self.status;
            return res;
        }
        match self.render() {
            Ok(bytes) => {
                let mut res = Response::new(Body::from(bytes));
                *res.status_mut() = self.status;
                res.headers_mut().insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                );
                res.extensions_mut().insert(PendingRequestId);
                res
            }
            Err(err) => crate::response::encoding_failed(err),
        }
    }
}
