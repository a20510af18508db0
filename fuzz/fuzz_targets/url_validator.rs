//! URL validation from fuzzed strings: no panic, and every URL accepted as
//! public is also a valid URL, absolute, http(s), with an ASCII host.
#![no_main]

use libfuzzer_sys::fuzz_target;
use plumego_layers::security::input::{parse_url, validate_public_url, validate_url};

fuzz_target!(|data: &str| {
    let valid = validate_url(data).is_ok();
    if validate_public_url(data).is_ok() {
        assert!(valid);
        let parts = parse_url(data)
            .ok()
            .flatten()
            .expect("public URLs are absolute");
        assert!(
            parts.scheme.eq_ignore_ascii_case("http") || parts.scheme.eq_ignore_ascii_case("https")
        );
        assert!(parts.host.is_ascii() && !parts.host.is_empty());
        assert!(!parts.host.eq_ignore_ascii_case("localhost"));
    }
});
