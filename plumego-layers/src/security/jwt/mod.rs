//! JSON Web Tokens on the `jsonwebtoken` crate (its ring backend does the
//! signing and verifying; nothing here is hand-written crypto): HS256/384/512,
//! EdDSA (Ed25519), RS256 and ES256, a [`KeySet`] with rotation, and the Go
//! toolkit's token format and verification order.
//!
//! # Verification order (§6.2 of the Go inventory)
//!
//! 1. the token is at most [`JwtConfig::max_token_len`] bytes (16 KiB) and has
//!    exactly three non-empty parts of at most [`JwtConfig::max_segment_len`]
//!    bytes (8 KiB) each;
//! 2. the header is base64url (no padding) of a JSON object; `alg: none` is
//!    refused outright; `kid` and `alg` are non-empty strings, `typ` is
//!    exactly `JWT`, and there is no `crit`;
//! 3. the `kid` is in the key set, and the header `alg` **equals the key's
//!    algorithm** (so a token cannot pick how its own signature is checked:
//!    no HS256-with-an-RSA-public-key confusion);
//! 4. the signature verifies (HMAC compared in constant time by ring);
//! 5. the payload decodes, and its `kid` (Go format) equals the header's;
//! 6. `iss` and `aud` match the configured values when those are set;
//! 7. `iat`, `nbf`, `exp` are positive; `now < iat − skew` is invalid,
//!    `now > exp + skew` expired, `now < nbf − skew` not yet valid;
//! 8. the token type matches the expected one, if any;
//! 9. the subject is not empty.
//!
//! # Formats
//!
//! [`TokenFormat::Go`] (the default) reads and writes the Go toolkit's
//! tokens byte for byte: header `{"alg","kid","typ":"JWT"}`, payload
//! `{"jti","token_type","identity":{"sub","ver"},"authorization":{"roles"?,
//! "permissions"?},"iss","aud","iat","nbf","exp","kid"}` with a string `aud`,
//! JSON escaped as Go's `encoding/json` does. [`TokenFormat::Standard`] uses
//! flat registered claims (`sub`, `aud` string or array, `scope`...) for
//! interoperability with other issuers; `iat` and `nbf` are then optional.
//!
//! # Where keys come from
//!
//! - given by the application ([`KeySet::insert`], [`KeySet::rotate`]);
//! - a KV store shared by every instance, in the Go toolkit's layout
//!   (`jwt:keys:<kid>`, `jwt:active`): [`KvKeyStore`] loads them at startup,
//!   creates the first key if there is none, rotates by writing a new key and
//!   swapping the active id atomically, and reloads what other instances
//!   rotated;
//! - an identity provider's JWKS document: [`KeySet::sync_jwks`] for a
//!   document you hold, [`JwksSource`] to fetch it from its URL (any tower
//!   HTTP client, or the bundled hyper/rustls one with the `jwks` feature).
//!   A document never takes over a kid the set holds from elsewhere, and a
//!   key type this crate does not verify is skipped, not fatal.
//!
//! A [`KeyRefresher`] keeps a set current from a [`KeySource`] (the KV store
//! or a JWKS URL): in the background on an interval, and at once when a
//! token names a key the set does not know yet (at most once per
//! `min_interval`, so forged `kid`s cannot turn into a request flood).
//! Loads run in their own task with a timeout, so neither a client that
//! hangs up nor a source that hangs can stall them; a failed refresh keeps
//! the keys the set already has.
//!
//! Differences from Go: more algorithms (Go had HS256 and EdDSA); lazy
//! rotation is off by default in [`JwtConfig`] (a key generated in one
//! process is unknown to the others); with a [`KvKeyStore`] rotation is
//! persisted and seen by every instance.
//!
//! ```
//! use std::sync::Arc;
//! use plumego_layers::security::jwt::{Algorithm, Grants, Identity, JwtConfig, JwtKey, JwtManager, KeySet, TokenType};
//!
//! let keys = Arc::new(KeySet::with_active(JwtKey::hmac("k1", Algorithm::HS256, &[7u8; 32]).unwrap()));
//! let jwt = JwtManager::new(keys.clone(), JwtConfig::default()).unwrap();
//! let pair = jwt.issue_pair(&Identity::new("user-1"), &Grants::default().roles(["admin"])).unwrap();
//! let claims = jwt.verify(&pair.access_token, Some(TokenType::Access)).unwrap();
//! assert_eq!(claims.subject, "user-1");
//! assert!(jwt.verify(&pair.refresh_token, Some(TokenType::Access)).is_err());
//!
//! // Rotation: new tokens use the new key, old ones still verify.
//! keys.rotate(JwtKey::hmac("k2", Algorithm::HS256, &[9u8; 32]).unwrap());
//! assert!(jwt.verify(&pair.access_token, None).is_ok());
//! let newer = jwt.issue(TokenType::Access, &Identity::new("user-1"), &Grants::default()).unwrap();
//! assert_eq!(jwt.verify(&newer, None).unwrap().key_id, "k2");
//! ```

mod algorithm;
mod authenticator;
mod claims;
mod config;
mod error;
mod jwks;
mod key;
mod key_set;
mod kv_store;
mod manager;
mod refresh;

pub use algorithm::Algorithm;
pub use authenticator::JwtAuthenticator;
pub use claims::{Claims, Grants, Identity, TokenFormat, TokenPair, TokenType};
pub use config::JwtConfig;
pub use error::JwtError;
#[cfg(feature = "jwks")]
pub use jwks::HttpsClient;
pub use jwks::{JwksSource, MAX_JWKS_BYTES};
pub use key::JwtKey;
pub use key_set::{KeySet, MAX_JWKS_KEYS};
pub use kv_store::{ACTIVE_KEY, KEY_PREFIX, KeyMetadata, KvKeyStore};
pub use manager::{JwtHeader, JwtManager, parse_header};
pub use refresh::{
    DEFAULT_LOAD_TIMEOUT, DEFAULT_MIN_INTERVAL, KeyRefresher, KeySource, RefreshFuture, RefreshTask,
};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::rand::SecureRandom as _;

/// 16 random bytes, base64url (token and key ids).
pub(crate) fn random_id() -> Result<String, JwtError> {
    let mut bytes = [0u8; 16];
    ring::rand::SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| JwtError::Random)?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}
