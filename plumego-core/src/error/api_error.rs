//! The structured error every Plumego component answers with, and its builder.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;

use bytes::Bytes;
use http::{HeaderValue, StatusCode, header};
use serde_json::Value;

use super::json::write_go_json;
use super::kind::{Category, ErrorType, code_for_status, codes, status_text};
use crate::body::{Body, BoxError};
use crate::context::RequestId;
use crate::envelope::PendingRequestId;
use crate::response::{IntoResponse, Response};

/// A structured API error, rendered as the JSON error envelope
/// `{"error":{"code","message","category","type","details"},"request_id"}`.
///
/// Build one with [`ApiError::builder`] (or [`ApiError::new`]); every field is
/// normalised at build time, so an `ApiError` is always renderable. The source
/// error is reachable through [`std::error::Error::source`] and is never sent to
/// the client.
///
/// ```
/// use plumego_core::error::{ApiError, ErrorType};
///
/// let err = ApiError::builder()
///     .error_type(ErrorType::ResourceNotFound)
///     .message("item not found")
///     .detail("id", "42")
///     .build();
/// assert_eq!(err.status(), 404);
/// assert_eq!(
///     std::str::from_utf8(&err.to_json()).unwrap(),
///     "{\"error\":{\"code\":\"RESOURCE_NOT_FOUND\",\"message\":\"item not found\",\
///      \"category\":\"client_error\",\"type\":\"resource_not_found\",\
///      \"details\":{\"id\":\"42\"}}}\n",
/// );
/// ```
pub struct ApiError(Box<Inner>);

/// Boxed so `Result<T, ApiError>` stays small on the happy path; errors are
/// the slow path anyway.
struct Inner {
    status: StatusCode,
    code: Cow<'static, str>,
    message: Cow<'static, str>,
    category: Category,
    error_type: Option<ErrorType>,
    request_id: Option<RequestId>,
    details: BTreeMap<String, Value>,
    source: Option<BoxError>,
}

impl ApiError {
    /// Starts a builder: status 500, no type, no details.
    pub fn builder() -> ErrorBuilder {
        ErrorBuilder::default()
    }

    /// An error of this type with this message.
    pub fn new(error_type: ErrorType, message: impl Into<Cow<'static, str>>) -> Self {
        Self::builder()
            .error_type(error_type)
            .message(message)
            .build()
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.0.status
    }

    /// The machine-readable code (`error.code`).
    pub fn code(&self) -> &str {
        &self.0.code
    }

    /// The human-readable message.
    pub fn message(&self) -> &str {
        &self.0.message
    }

    /// The category.
    pub fn category(&self) -> Category {
        self.0.category
    }

    /// The type, when the error is typed.
    pub fn error_type(&self) -> Option<ErrorType> {
        self.0.error_type
    }

    /// The request id carried in the envelope, if set on the builder.
    pub fn request_id(&self) -> Option<&RequestId> {
        self.0.request_id.as_ref()
    }

    /// The details (sorted by key, as on the wire).
    pub fn details(&self) -> &BTreeMap<String, Value> {
        &self.0.details
    }

    /// Sets the request id after the fact (layers that know the request use it).
    pub fn set_request_id(&mut self, id: RequestId) {
        self.0.request_id = Some(id);
    }

    /// Finds an `ApiError` in an error's source chain.
    pub fn find<'a>(err: &'a (dyn std::error::Error + 'static)) -> Option<&'a ApiError> {
        let mut current = Some(err);
        while let Some(e) = current {
            if let Some(api) = e.downcast_ref::<ApiError>() {
                return Some(api);
            }
            current = e.source();
        }
        None
    }

    /// The envelope bytes, trailing newline included.
    pub fn to_json(&self) -> Bytes {
        let mut out = Vec::with_capacity(160);
        out.extend_from_slice(b"{\"error\":{\"code\":");
        push_str(&mut out, &self.0.code);
        out.extend_from_slice(b",\"message\":");
        push_str(&mut out, &self.0.message);
        out.extend_from_slice(b",\"category\":");
        push_str(&mut out, self.0.category.as_str());
        if let Some(t) = self.0.error_type {
            out.extend_from_slice(b",\"type\":");
            push_str(&mut out, t.as_str());
        }
        if !self.0.details.is_empty() && write_details(&mut out, &self.0.details).is_err() {
            // Values are already `serde_json::Value`s, so this cannot fail; keep
            // the envelope valid anyway by closing the object we started.
            out.extend_from_slice(b"{}");
        }
        out.push(b'}');
        if let Some(id) = &self.0.request_id {
            out.extend_from_slice(b",\"request_id\":");
            push_str(&mut out, id.as_str());
        }
        out.extend_from_slice(b"}\n");
        Bytes::from(out)
    }
}

fn push_str(out: &mut Vec<u8>, s: &str) {
    // Serialising a `str` cannot fail.
    let _ = write_go_json(out, s);
}

fn write_details(out: &mut Vec<u8>, details: &BTreeMap<String, Value>) -> Result<(), ()> {
    out.extend_from_slice(b",\"details\":");
    write_go_json(out, details).map_err(|_| ())
}

impl fmt::Debug for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiError")
            .field("status", &self.0.status)
            .field("code", &self.0.code)
            .field("message", &self.0.message)
            .field("category", &self.0.category)
            .field("type", &self.0.error_type)
            .field("request_id", &self.0.request_id)
            .field("details", &self.0.details)
            .field("source", &self.0.source)
            .finish()
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.message)
    }
}

impl std::error::Error for ApiError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0.source.as_deref().map(|e| e as _)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = Response::new(Body::full(self.to_json()));
        *response.status_mut() = self.0.status;
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        if self.0.request_id.is_none() {
            response.extensions_mut().insert(PendingRequestId);
        }
        response
    }
}

impl From<ErrorType> for ApiError {
    fn from(t: ErrorType) -> Self {
        Self::builder().error_type(t).build()
    }
}

/// Builds an [`ApiError`]; see the normalisation rules on [`ErrorBuilder::build`].
#[derive(Default)]
#[must_use]
pub struct ErrorBuilder {
    status: Option<StatusCode>,
    code: Option<Cow<'static, str>>,
    message: Option<Cow<'static, str>>,
    error_type: Option<ErrorType>,
    request_id: Option<RequestId>,
    details: BTreeMap<String, Value>,
    source: Option<BoxError>,
}

impl ErrorBuilder {
    /// Sets the type. This resets any code set earlier: call [`code`](Self::code)
    /// after `error_type` to customise it (the Go toolkit's ordering rule).
    pub fn error_type(mut self, t: ErrorType) -> Self {
        self.error_type = Some(t);
        self.code = None;
        self
    }

    /// Sets the type by wire name; an unknown name leaves the error untyped.
    pub fn error_type_name(self, name: &str) -> Self {
        match ErrorType::parse(name) {
            Some(t) => self.error_type(t),
            None => self,
        }
    }

    /// A custom code; status and category stay canonical for the type.
    pub fn code(mut self, code: impl Into<Cow<'static, str>>) -> Self {
        let code = code.into();
        self.code = (!code.is_empty()).then_some(code);
        self
    }

    /// The status of an untyped error (a type always forces its own status).
    /// Statuses outside 400..=599 are repaired to 500.
    pub fn status(mut self, status: StatusCode) -> Self {
        self.status = Some(status);
        self
    }

    /// The message; empty means the status text (e.g. `Not Found`).
    pub fn message(mut self, message: impl Into<Cow<'static, str>>) -> Self {
        self.message = Some(message.into());
        self
    }

    /// The request id; trimmed, and dropped when empty, longer than 128 bytes or
    /// containing control characters.
    pub fn request_id(mut self, id: &str) -> Self {
        self.request_id = RequestId::new(id);
        self
    }

    /// Adds one detail; an empty key is ignored.
    pub fn detail(mut self, key: impl Into<String>, value: impl Into<Value>) -> Self {
        let key = key.into();
        if !key.is_empty() {
            self.details.insert(key, value.into());
        }
        self
    }

    /// Adds several details; empty keys are ignored.
    pub fn details<K, V>(mut self, details: impl IntoIterator<Item = (K, V)>) -> Self
    where
        K: Into<String>,
        V: Into<Value>,
    {
        for (k, v) in details {
            self = self.detail(k, v);
        }
        self
    }

    /// The underlying cause: reachable through `source()`, never serialised.
    pub fn source(mut self, cause: impl Into<BoxError>) -> Self {
        self.source = Some(cause.into());
        self
    }

    /// Normalises and builds:
    /// - a type forces its canonical status and category, and fills the code if unset;
    /// - an untyped error takes its status (default 500; outside 400..=599 becomes 500
    ///   with `server_error`/`INTERNAL_ERROR`) and derives category and code from it;
    /// - an empty message becomes the status text.
    pub fn build(self) -> ApiError {
        let (status, category, code) = match self.error_type {
            Some(t) => {
                let meta = t.meta();
                let code = self.code.unwrap_or(Cow::Borrowed(meta.code));
                (meta.status, meta.category, code)
            }
            None => {
                let status = self.status.unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                if (400..=599).contains(&status.as_u16()) {
                    let code = self.code.unwrap_or(Cow::Borrowed(code_for_status(status)));
                    (status, Category::for_status(status), code)
                } else {
                    (
                        StatusCode::INTERNAL_SERVER_ERROR,
                        Category::Server,
                        Cow::Borrowed(codes::INTERNAL_ERROR),
                    )
                }
            }
        };
        let message = match self.message {
            Some(m) if !m.is_empty() => m,
            _ => Cow::Borrowed(status_text(status)),
        };
        ApiError(Box::new(Inner {
            status,
            code,
            message,
            category,
            error_type: self.error_type,
            request_id: self.request_id,
            details: self.details,
            source: self.source,
        }))
    }
}
