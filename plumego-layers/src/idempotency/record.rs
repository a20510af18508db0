//! The recorded response, as the bytes an idempotency record stores.
//!
//! A small length-prefixed binary format rather than JSON: header values and
//! bodies are arbitrary bytes, and this needs no base64 and no extra crate.
//! Layout (integers big-endian):
//!
//! ```text
//! version u8 (=1) | status u16 | flags u8 (bit 0: body stored)
//! header count u16 | { name len u16, name, value len u16, value }*
//! body len u32 | body
//! ```
//!
//! Decoding checks every length, so a corrupt or foreign record is refused
//! (`None`), never trusted.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};

const VERSION: u8 = 1;
const BODY_STORED: u8 = 1;

/// A response as recorded for replay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StoredResponse {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    /// `None` when the body was too large (or not storable) and was not kept.
    pub(crate) body: Option<Bytes>,
}

/// Headers that describe one connection or one transfer, not the response:
/// they are not recorded (`Date` and `Content-Length` are set afresh).
pub(crate) fn is_recorded(name: &HeaderName) -> bool {
    !matches!(
        name.as_str(),
        "connection"
            | "keep-alive"
            | "proxy-connection"
            | "transfer-encoding"
            | "upgrade"
            | "te"
            | "trailer"
            | "content-length"
            | "date"
    )
}

impl StoredResponse {
    pub(crate) fn encode(&self) -> Bytes {
        let recorded: Vec<_> = self
            .headers
            .iter()
            .filter(|(name, value)| is_recorded(name) && value.len() <= usize::from(u16::MAX))
            .take(usize::from(u16::MAX))
            .collect();
        let body = self.body.as_deref().unwrap_or_default();
        let mut out = BytesMut::with_capacity(16 + body.len() + recorded.len() * 32);
        out.put_u8(VERSION);
        out.put_u16(self.status.as_u16());
        out.put_u8(if self.body.is_some() { BODY_STORED } else { 0 });
        // Both counts fit: `take` and the filter above bound them.
        out.put_u16(u16::try_from(recorded.len()).unwrap_or(u16::MAX));
        for (name, value) in recorded {
            let name = name.as_str().as_bytes();
            out.put_u16(u16::try_from(name.len()).unwrap_or(u16::MAX));
            out.put_slice(name);
            out.put_u16(u16::try_from(value.len()).unwrap_or(u16::MAX));
            out.put_slice(value.as_bytes());
        }
        out.put_u32(u32::try_from(body.len()).unwrap_or(u32::MAX));
        out.put_slice(body);
        out.freeze()
    }

    pub(crate) fn decode(mut raw: &[u8]) -> Option<Self> {
        fn take<'a>(raw: &mut &'a [u8], n: usize) -> Option<&'a [u8]> {
            if raw.len() < n {
                return None;
            }
            let (head, tail) = raw.split_at(n);
            *raw = tail;
            Some(head)
        }
        if raw.remaining() < 6 || raw.get_u8() != VERSION {
            return None;
        }
        let status = StatusCode::from_u16(raw.get_u16()).ok()?;
        let flags = raw.get_u8();
        let count = raw.get_u16();
        let mut headers = HeaderMap::with_capacity(usize::from(count));
        for _ in 0..count {
            if raw.remaining() < 2 {
                return None;
            }
            let len = usize::from(raw.get_u16());
            let name = HeaderName::from_bytes(take(&mut raw, len)?).ok()?;
            if raw.remaining() < 2 {
                return None;
            }
            let len = usize::from(raw.get_u16());
            let value = HeaderValue::from_bytes(take(&mut raw, len)?).ok()?;
            headers.append(name, value);
        }
        if raw.remaining() < 4 {
            return None;
        }
        let len = usize::try_from(raw.get_u32()).ok()?;
        let body = take(&mut raw, len)?;
        if !raw.is_empty() {
            return None;
        }
        Some(Self {
            status,
            headers,
            body: (flags & BODY_STORED != 0).then(|| Bytes::copy_from_slice(body)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> StoredResponse {
        let mut headers = HeaderMap::new();
        headers.insert("content-type", HeaderValue::from_static("application/json"));
        headers.append("set-cookie", HeaderValue::from_static("a=1"));
        headers.append("set-cookie", HeaderValue::from_static("b=2"));
        headers.insert("x-bin", HeaderValue::from_bytes(b"\xff\xfe").unwrap());
        StoredResponse {
            status: StatusCode::CREATED,
            headers,
            body: Some(Bytes::from_static(b"{\"id\":1}\x00\xff")),
        }
    }

    #[test]
    fn round_trips() {
        let stored = sample();
        assert_eq!(StoredResponse::decode(&stored.encode()), Some(stored));
        let no_body = StoredResponse {
            body: None,
            ..sample()
        };
        assert_eq!(StoredResponse::decode(&no_body.encode()), Some(no_body));
    }

    #[test]
    fn connection_headers_are_not_recorded() {
        let mut stored = sample();
        stored
            .headers
            .insert("connection", HeaderValue::from_static("close"));
        stored
            .headers
            .insert("content-length", HeaderValue::from_static("10"));
        stored.headers.insert(
            "date",
            HeaderValue::from_static("Mon, 01 Jan 2024 00:00:00 GMT"),
        );
        let back = StoredResponse::decode(&stored.encode()).unwrap();
        assert_eq!(back, sample());
    }

    #[test]
    fn every_truncation_and_extension_is_refused() {
        let raw = sample().encode();
        for cut in 0..raw.len() {
            assert_eq!(StoredResponse::decode(&raw[..cut]), None, "cut at {cut}");
        }
        let mut longer = raw.to_vec();
        longer.push(0);
        assert_eq!(StoredResponse::decode(&longer), None);
        let mut wrong_version = raw.to_vec();
        wrong_version[0] = 9;
        assert_eq!(StoredResponse::decode(&wrong_version), None);
    }
}
