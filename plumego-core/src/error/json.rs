//! JSON encoding that produces the same bytes as Go's `json.Encoder` with its
//! default HTML escaping, so envelopes written by Rust and Go services are
//! interchangeable (clients and golden tests compare bytes).
//!
//! serde_json already escapes control characters the way Go does; the
//! difference is that Go also escapes `<`, `>`, `&`, U+2028 and U+2029.

use std::io;

use serde::Serialize;
use serde_json::ser::{CharEscape, Formatter, Serializer};

/// A serde_json formatter adding Go's HTML-safe escapes.
#[derive(Clone, Copy, Default)]
pub(crate) struct GoFormatter;

impl Formatter for GoFormatter {
    fn write_string_fragment<W>(&mut self, writer: &mut W, fragment: &str) -> io::Result<()>
    where
        W: ?Sized + io::Write,
    {
        let mut start = 0;
        for (i, ch) in fragment.char_indices() {
            let escaped: &[u8] = match ch {
                '<' => b"\\u003c",
                '>' => b"\\u003e",
                '&' => b"\\u0026",
                '\u{2028}' => b"\\u2028",
                '\u{2029}' => b"\\u2029",
                _ => continue,
            };
            writer.write_all(&fragment.as_bytes()[start..i])?;
            writer.write_all(escaped)?;
            start = i + ch.len_utf8();
        }
        writer.write_all(&fragment.as_bytes()[start..])
    }

    fn write_char_escape<W>(&mut self, writer: &mut W, escape: CharEscape) -> io::Result<()>
    where
        W: ?Sized + io::Write,
    {
        // Same short forms as Go (\b and \f since Go 1.22), lowercase hex otherwise.
        serde_json::ser::CompactFormatter.write_char_escape(writer, escape)
    }
}

/// Appends the Go encoding of `value` to `out`.
pub(crate) fn write_go_json<T: Serialize + ?Sized>(
    out: &mut Vec<u8>,
    value: &T,
) -> Result<(), serde_json::Error> {
    let mut ser = Serializer::with_formatter(out, GoFormatter);
    value.serialize(&mut ser)
}

/// Encodes `value` as Go's `json.Marshal` would (HTML characters and
/// U+2028/U+2029 escaped), without a trailing newline.
pub fn to_go_json<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, serde_json::Error> {
    let mut out = Vec::with_capacity(128);
    write_go_json(&mut out, value)?;
    Ok(out)
}

/// Encodes `value` as Go's `json.Encoder` would, including the trailing newline.
pub fn to_go_json_line<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, serde_json::Error> {
    let mut out = to_go_json(value)?;
    out.push(b'\n');
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_like_go() {
        let got = to_go_json_line("<a href=\"x\">&\u{2028}\u{8}\u{c}\n\t\u{1}é").unwrap();
        assert_eq!(
            String::from_utf8(got).unwrap(),
            "\"\\u003ca href=\\\"x\\\"\\u003e\\u0026\\u2028\\b\\f\\n\\t\\u0001é\"\n"
        );
    }
}
