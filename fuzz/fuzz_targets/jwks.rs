//! JWKS documents as an identity provider (or whoever answers at its URL)
//! might send them: no panic, only signature keys with a kid are taken, and
//! a failed sync leaves the set as it was.
#![no_main]

use libfuzzer_sys::fuzz_target;
use plumego_layers::security::jwt::{Algorithm, JwtKey, KeySet};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let set = KeySet::with_active(JwtKey::hmac("local", Algorithm::HS256, &[7; 32]).expect("valid key"));
    let before = set.kids();
    match set.sync_jwks(text) {
        Ok(n) => {
            assert!(n > 0);
            // Keys from elsewhere survive a sync; the signing key stays.
            assert!(set.get("local").is_some());
            assert_eq!(set.active().map(|k| k.kid().to_owned()).as_deref(), Some("local"));
            for kid in set.kids() {
                let key = set.get(&kid).expect("listed key");
                assert!(kid == "local" || !key.can_sign());
            }
        }
        Err(_) => assert_eq!(set.kids(), before),
    }
    // Adding never panics either.
    let _ = KeySet::new().insert_jwks(text);
});
