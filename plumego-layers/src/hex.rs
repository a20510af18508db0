//! Lowercase hex for digests used as keys (idempotency fingerprints,
//! rate-limit keys of API credentials) and for span ids in headers.

const DIGITS: &[u8; 16] = b"0123456789abcdef";

/// The two lowercase hex digits of `byte`.
pub(crate) fn pair(byte: u8) -> [u8; 2] {
    [
        DIGITS[usize::from(byte >> 4)],
        DIGITS[usize::from(byte & 0x0f)],
    ]
}

/// `bytes` as lowercase hex, two digits per byte.
#[cfg_attr(
    not(any(feature = "idempotency", feature = "security")),
    allow(dead_code)
)]
pub(crate) fn lower(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        out.extend(pair(b).map(char::from));
    }
    out
}
