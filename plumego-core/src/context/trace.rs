//! W3C trace context identifiers, valid by construction.

use std::collections::BTreeMap;
use std::fmt;

/// The response header carrying the server span's id, as in the Go toolkit:
/// the tracing layer writes it, the access log reads it.
pub const SPAN_ID_HEADER: &str = "x-span-id";

/// A W3C trace id: 16 bytes, not all zero.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TraceId(u128);

/// A W3C span id: 8 bytes, not all zero.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct SpanId(u64);

fn parse_hex(s: &str, digits: usize) -> Option<u128> {
    if s.len() != digits || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u128::from_str_radix(s, 16).ok().filter(|v| *v != 0)
}

impl TraceId {
    /// Parses 32 hex digits (either case); all zeros is invalid.
    ///
    /// ```
    /// use plumego_core::context::TraceId;
    /// let id = TraceId::parse("4BF92F3577B34DA6A3CE929D0E0E4736").unwrap();
    /// assert_eq!(id.to_string(), "4bf92f3577b34da6a3ce929d0e0e4736");
    /// assert!(TraceId::parse(&"0".repeat(32)).is_none());
    /// ```
    pub fn parse(s: &str) -> Option<Self> {
        parse_hex(s, 32).map(Self)
    }

    /// From raw bytes; `None` when all zero.
    pub fn from_bytes(bytes: [u8; 16]) -> Option<Self> {
        let v = u128::from_be_bytes(bytes);
        (v != 0).then_some(Self(v))
    }

    /// The raw bytes.
    pub fn to_bytes(self) -> [u8; 16] {
        self.0.to_be_bytes()
    }
}

impl SpanId {
    /// Parses 16 hex digits (either case); all zeros is invalid.
    pub fn parse(s: &str) -> Option<Self> {
        parse_hex(s, 16)
            .and_then(|v| u64::try_from(v).ok())
            .map(Self)
    }

    /// From raw bytes; `None` when all zero.
    pub fn from_bytes(bytes: [u8; 8]) -> Option<Self> {
        let v = u64::from_be_bytes(bytes);
        (v != 0).then_some(Self(v))
    }

    /// The raw bytes.
    pub fn to_bytes(self) -> [u8; 8] {
        self.0.to_be_bytes()
    }
}

impl fmt::Display for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:032x}", self.0)
    }
}

impl fmt::Debug for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TraceId({self})")
    }
}

impl fmt::Display for SpanId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

impl fmt::Debug for SpanId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SpanId({self})")
    }
}

/// The trace context of a request, put in extensions by the tracing layer so the
/// access log and error envelopes can carry the ids.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceContext {
    /// The trace.
    pub trace_id: TraceId,
    /// The server span of this request.
    pub span_id: SpanId,
    /// The caller's span, when the request carried one.
    pub parent_span_id: Option<SpanId>,
    /// W3C trace flags; bit 0 is "sampled".
    pub flags: u8,
    /// Baggage entries.
    pub baggage: BTreeMap<String, String>,
}

impl TraceContext {
    /// A context with no parent, flags and baggage.
    pub fn new(trace_id: TraceId, span_id: SpanId) -> Self {
        Self {
            trace_id,
            span_id,
            parent_span_id: None,
            flags: 0,
            baggage: BTreeMap::new(),
        }
    }

    /// Whether the sampled flag (0x01) is set.
    pub fn is_sampled(&self) -> bool {
        self.flags & 0x01 != 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_validate_length_hex_and_zero() {
        assert!(TraceId::parse("4bf92f3577b34da6a3ce929d0e0e473").is_none());
        assert!(TraceId::parse("4bf92f3577b34da6a3ce929d0e0e4736a").is_none());
        assert!(TraceId::parse("zbf92f3577b34da6a3ce929d0e0e4736").is_none());
        assert!(TraceId::parse("+bf92f3577b34da6a3ce929d0e0e4736").is_none());
        assert!(SpanId::parse("00f067aa0ba902b7").is_some());
        assert!(SpanId::parse("0000000000000000").is_none());
        assert_eq!(
            SpanId::parse("00F067AA0BA902B7").unwrap().to_string(),
            "00f067aa0ba902b7"
        );
        let mut ctx = TraceContext::new(
            TraceId::from_bytes([1; 16]).unwrap(),
            SpanId::from_bytes([2; 8]).unwrap(),
        );
        assert!(!ctx.is_sampled());
        ctx.flags = 1;
        assert!(ctx.is_sampled());
    }
}
