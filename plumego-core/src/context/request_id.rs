//! The request id carried in extensions, headers and envelopes.

use http::HeaderValue;

/// The header that carries the request id on requests and responses.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// The longest request id accepted, in bytes.
pub const MAX_REQUEST_ID_LEN: usize = 128;

/// A normalised request id: trimmed, 1 to 128 bytes, no control characters.
///
/// It is stored as a [`HeaderValue`] so putting it on a response costs no copy.
///
/// ```
/// use plumego_core::context::RequestId;
///
/// assert_eq!(RequestId::new("  abc ").unwrap().as_str(), "abc");
/// assert!(RequestId::new("").is_none());
/// assert!(RequestId::new("a\nb").is_none());
/// assert!(RequestId::new(&"x".repeat(129)).is_none());
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct RequestId(HeaderValue);

impl RequestId {
    /// Normalises `raw`; `None` when it is blank, too long or has control characters.
    pub fn new(raw: &str) -> Option<Self> {
        let id = raw.trim();
        if !Self::check(id) {
            return None;
        }
        HeaderValue::from_str(id).ok().map(Self)
    }

    /// Normalises a header value (which must also be valid UTF-8). A value
    /// that needs no trimming is kept as it is, sharing its bytes (no copy).
    pub fn from_header(value: &HeaderValue) -> Option<Self> {
        let text = std::str::from_utf8(value.as_bytes()).ok()?;
        if text.len() == text.trim().len() {
            Self::check(text).then(|| Self(value.clone()))
        } else {
            Self::new(text)
        }
    }

    /// An id from bytes the caller already owns (a generated id in a
    /// [`Bytes::from_owner`](bytes::Bytes::from_owner) buffer, say), kept
    /// without a copy; `None` unless they are a valid, already trimmed id.
    ///
    /// ```
    /// use bytes::Bytes;
    /// use plumego_core::context::RequestId;
    ///
    /// let id = RequestId::from_shared(Bytes::from_owner(*b"0AbCdEfGhIjK")).unwrap();
    /// assert_eq!(id.as_str(), "0AbCdEfGhIjK");
    /// assert!(RequestId::from_shared(Bytes::from_static(b" padded ")).is_none());
    /// ```
    pub fn from_shared(bytes: bytes::Bytes) -> Option<Self> {
        let text = std::str::from_utf8(&bytes).ok()?;
        if text.len() != text.trim().len() || !Self::check(text) {
            return None;
        }
        HeaderValue::from_maybe_shared(bytes).ok().map(Self)
    }

    /// Non-empty, not too long, no control characters.
    fn check(id: &str) -> bool {
        !id.is_empty() && id.len() <= MAX_REQUEST_ID_LEN && !id.chars().any(char::is_control)
    }

    /// The id.
    pub fn as_str(&self) -> &str {
        // Built from a `&str`, so always UTF-8.
        std::str::from_utf8(self.0.as_bytes()).unwrap_or_default()
    }

    /// The id as a header value, ready for `X-Request-ID`.
    pub fn header_value(&self) -> &HeaderValue {
        &self.0
    }
}

impl std::fmt::Debug for RequestId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("RequestId").field(&self.as_str()).finish()
    }
}

impl std::fmt::Display for RequestId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_clean_header_value_is_shared_not_copied() {
        let value = HeaderValue::from_static("req-123");
        let id = RequestId::from_header(&value).unwrap();
        assert_eq!(
            id.header_value().as_bytes().as_ptr(),
            value.as_bytes().as_ptr()
        );
        // One that needs trimming is normalised into a new value.
        let padded = HeaderValue::from_static(" req-123 ");
        assert_eq!(RequestId::from_header(&padded).unwrap().as_str(), "req-123");
        assert!(RequestId::from_header(&HeaderValue::from_static("a\tb")).is_none());
    }

    #[test]
    fn normalisation_edges() {
        assert!(RequestId::new("").is_none());
        assert!(RequestId::new("   \t ").is_none());
        assert_eq!(
            RequestId::new(&"a".repeat(128)).unwrap().as_str().len(),
            128
        );
        assert!(RequestId::new(&"a".repeat(129)).is_none());
        // Trimming happens before the length check.
        assert!(RequestId::new(&format!("  {}  ", "a".repeat(128))).is_some());
        assert!(RequestId::new("ab\u{7f}").is_none());
        assert!(RequestId::new("ab\u{0}c").is_none());
        assert!(RequestId::new("a\tb").is_none());
        assert!(RequestId::new("a\u{85}b").is_none());
        assert_eq!(RequestId::new("héllo").unwrap().as_str(), "héllo");
    }

    #[test]
    fn from_header_rejects_non_utf8() {
        let v = HeaderValue::from_bytes(b"\xffabc").unwrap();
        assert!(RequestId::from_header(&v).is_none());
        let v = HeaderValue::from_static(" id-1 ");
        assert_eq!(RequestId::from_header(&v).unwrap().as_str(), "id-1");
    }
}
