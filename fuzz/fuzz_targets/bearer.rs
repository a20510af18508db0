//! Bearer parsing from fuzzed header values: no panic, and a token that is
//! found is non-empty, whitespace-free and a substring of the input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use plumego_layers::security::{bearer_token, parse_bearer};

fuzz_target!(|data: &[u8]| {
    if let Ok(value) = std::str::from_utf8(data) {
        if let Some(token) = parse_bearer(value) {
            assert!(!token.is_empty());
            assert!(!token.chars().any(char::is_whitespace));
            assert!(value.contains(token));
        }
    }
    if let Ok(header) = http::HeaderValue::from_bytes(data) {
        let mut headers = http::HeaderMap::new();
        headers.insert(http::header::AUTHORIZATION, header);
        if let Some(token) = bearer_token(&headers) {
            assert!(!token.is_empty());
        }
    }
});
