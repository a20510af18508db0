//! JWT verification from fuzzed tokens and header parts: no panic, no
//! `alg: none` accepted, and nothing verifies without the key's signature.
#![no_main]

use std::sync::{Arc, OnceLock};

use libfuzzer_sys::fuzz_target;
use plumego_layers::security::jwt::{
    Algorithm, JwtConfig, JwtKey, JwtManager, KeySet, parse_header,
};

fn manager() -> &'static JwtManager {
    static MANAGER: OnceLock<JwtManager> = OnceLock::new();
    MANAGER.get_or_init(|| {
        let keys =
            KeySet::with_active(JwtKey::hmac("k1", Algorithm::HS256, &[7; 32]).expect("valid key"));
        JwtManager::new(Arc::new(keys), JwtConfig::default()).expect("valid config")
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(header) = parse_header(text) {
        assert!(!header.alg.eq_ignore_ascii_case("none"));
        assert!(!header.kid.is_empty());
        assert_eq!(header.typ, "JWT");
    }
    // Without the secret, a fuzzed token can only verify by forging HMAC.
    assert!(manager().verify(text, None).is_err());
});
