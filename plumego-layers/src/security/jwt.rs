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
//! Keys published by an identity provider load with
//! [`KeySet::insert_jwks`] (the document is fetched by the application).
//!
//! Differences from Go: more algorithms (Go had HS256 and EdDSA); keys are
//! given to the [`KeySet`] by the application (Go generated and persisted
//! them in a KV store on startup), and lazy rotation is off by default, since
//! a key generated in one process is unknown to the others.
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

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{DecodingKey, EncodingKey};
use plumego_core::context::Principal;
use ring::rand::SecureRandom as _;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::auth::{AuthError, AuthFuture, Authenticated, Authenticator};
use super::bearer::bearer_token;
use super::clock::{Clock, SystemClock};
use super::view::RequestView;

/// A signing algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[allow(clippy::upper_case_acronyms)]
pub enum Algorithm {
    /// HMAC-SHA256.
    HS256,
    /// HMAC-SHA384.
    HS384,
    /// HMAC-SHA512.
    HS512,
    /// Ed25519.
    EdDSA,
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    RS256,
    /// ECDSA P-256 with SHA-256.
    ES256,
}

impl Algorithm {
    /// The `alg` header value.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::HS256 => "HS256",
            Self::HS384 => "HS384",
            Self::HS512 => "HS512",
            Self::EdDSA => "EdDSA",
            Self::RS256 => "RS256",
            Self::ES256 => "ES256",
        }
    }

    /// Parses an `alg` value (exact case, as JWS requires).
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "HS256" => Self::HS256,
            "HS384" => Self::HS384,
            "HS512" => Self::HS512,
            "EdDSA" => Self::EdDSA,
            "RS256" => Self::RS256,
            "ES256" => Self::ES256,
            _ => return None,
        })
    }

    fn jwt(self) -> jsonwebtoken::Algorithm {
        match self {
            Self::HS256 => jsonwebtoken::Algorithm::HS256,
            Self::HS384 => jsonwebtoken::Algorithm::HS384,
            Self::HS512 => jsonwebtoken::Algorithm::HS512,
            Self::EdDSA => jsonwebtoken::Algorithm::EdDSA,
            Self::RS256 => jsonwebtoken::Algorithm::RS256,
            Self::ES256 => jsonwebtoken::Algorithm::ES256,
        }
    }

    /// The shortest HMAC secret allowed: the hash size (RFC 7518 §3.2).
    fn min_secret_len(self) -> Option<usize> {
        match self {
            Self::HS256 => Some(32),
            Self::HS384 => Some(48),
            Self::HS512 => Some(64),
            _ => None,
        }
    }
}

impl std::fmt::Display for Algorithm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a token or a key was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum JwtError {
    /// Size, shape, base64 or JSON is wrong, or a header field is missing.
    Malformed(&'static str),
    /// The header says `alg: none`.
    AlgNone,
    /// The `kid` is not in the key set.
    UnknownKey,
    /// The header `alg` is not the key's algorithm.
    AlgorithmMismatch,
    /// The signature does not verify.
    InvalidSignature,
    /// The payload `kid` differs from the header's.
    KeyIdMismatch,
    /// `iss` is not the configured issuer.
    InvalidIssuer,
    /// `aud` is not (or does not contain) the configured audience.
    InvalidAudience,
    /// `iat`, `nbf` or `exp` is missing or not positive, or `iat` is in the
    /// future.
    InvalidTimes,
    /// `exp` (plus skew) has passed.
    Expired,
    /// `nbf` (minus skew) has not come yet.
    NotYetValid,
    /// The token type is not the expected one.
    WrongTokenType,
    /// The subject is empty.
    MissingSubject,
    /// No active key to sign with, or the active key cannot sign.
    NoSigningKey,
    /// A key could not be built.
    InvalidKey(String),
    /// The configuration is invalid.
    InvalidConfig(&'static str),
    /// The system random source failed.
    Random,
}

impl std::fmt::Display for JwtError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Malformed(why) => write!(f, "jwt: malformed token: {why}"),
            Self::AlgNone => f.write_str("jwt: unsigned tokens (alg none) are refused"),
            Self::UnknownKey => f.write_str("jwt: unknown key"),
            Self::AlgorithmMismatch => f.write_str("jwt: algorithm does not match the key"),
            Self::InvalidSignature => f.write_str("jwt: invalid signature"),
            Self::KeyIdMismatch => f.write_str("jwt: payload kid differs from header kid"),
            Self::InvalidIssuer => f.write_str("jwt: invalid issuer"),
            Self::InvalidAudience => f.write_str("jwt: invalid audience"),
            Self::InvalidTimes => f.write_str("jwt: invalid iat, nbf or exp"),
            Self::Expired => f.write_str("jwt: token expired"),
            Self::NotYetValid => f.write_str("jwt: token not yet valid"),
            Self::WrongTokenType => f.write_str("jwt: unexpected token type"),
            Self::MissingSubject => f.write_str("jwt: subject is required"),
            Self::NoSigningKey => f.write_str("jwt: no active signing key"),
            Self::InvalidKey(why) => write!(f, "jwt: invalid key: {why}"),
            Self::InvalidConfig(why) => write!(f, "jwt: invalid configuration: {why}"),
            Self::Random => f.write_str("jwt: random source failed"),
        }
    }
}

impl std::error::Error for JwtError {}

impl From<JwtError> for AuthError {
    /// Expired → `ExpiredToken`; everything else → `InvalidToken` (the Go
    /// adapter's mapping).
    fn from(e: JwtError) -> Self {
        match e {
            JwtError::Expired => AuthError::ExpiredToken,
            other => AuthError::invalid(other.to_string()),
        }
    }
}

/// One key: its id, algorithm, and key material (the private part is
/// optional: a verify-only key cannot sign).
#[derive(Clone)]
pub struct JwtKey {
    kid: String,
    alg: Algorithm,
    encoding: Option<EncodingKey>,
    decoding: DecodingKey,
    created_at: SystemTime,
}

impl std::fmt::Debug for JwtKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .field("can_sign", &self.encoding.is_some())
            .field("created_at", &self.created_at)
            .finish()
    }
}

fn key_err(e: impl std::fmt::Display) -> JwtError {
    JwtError::InvalidKey(e.to_string())
}

/// The PKCS#8 v1 document of an Ed25519 seed (RFC 8410 §7): a fixed prefix
/// and the 32 bytes, the form ring signs with.
fn ed25519_pkcs8(seed: &[u8; 32]) -> Vec<u8> {
    const PREFIX: [u8; 16] = [
        0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04,
        0x20,
    ];
    let mut der = PREFIX.to_vec();
    der.extend_from_slice(seed);
    der
}

impl JwtKey {
    fn check_kid(kid: &str) -> Result<(), JwtError> {
        if kid.is_empty() || kid.len() > 256 || kid.chars().any(char::is_control) {
            return Err(JwtError::InvalidKey(
                "kid must be 1 to 256 printable characters".into(),
            ));
        }
        Ok(())
    }

    /// An HMAC key; the secret must be at least as long as the hash.
    pub fn hmac(kid: &str, alg: Algorithm, secret: &[u8]) -> Result<Self, JwtError> {
        Self::check_kid(kid)?;
        let min = alg
            .min_secret_len()
            .ok_or_else(|| JwtError::InvalidKey(format!("{alg} is not an HMAC algorithm")))?;
        if secret.len() < min {
            return Err(JwtError::InvalidKey(format!(
                "{alg} needs a secret of at least {min} bytes"
            )));
        }
        Ok(Self {
            kid: kid.to_owned(),
            alg,
            encoding: Some(EncodingKey::from_secret(secret)),
            decoding: DecodingKey::from_secret(secret),
            created_at: SystemTime::now(),
        })
    }

    /// An Ed25519 key from its 32-byte seed (Go's private key is the seed
    /// followed by the public key: pass its first 32 bytes).
    pub fn ed25519_seed(kid: &str, seed: &[u8; 32]) -> Result<Self, JwtError> {
        Self::check_kid(kid)?;
        let pair = ring::signature::Ed25519KeyPair::from_seed_unchecked(seed).map_err(key_err)?;
        let public = ring::signature::KeyPair::public_key(&pair)
            .as_ref()
            .to_vec();
        Ok(Self {
            kid: kid.to_owned(),
            alg: Algorithm::EdDSA,
            encoding: Some(EncodingKey::from_ed_der(&ed25519_pkcs8(seed))),
            decoding: DecodingKey::from_ed_der(&public),
            created_at: SystemTime::now(),
        })
    }

    /// A verify-only Ed25519 key from its 32 raw public bytes.
    pub fn ed25519_public(kid: &str, public: &[u8]) -> Result<Self, JwtError> {
        Self::check_kid(kid)?;
        if public.len() != 32 {
            return Err(JwtError::InvalidKey(
                "an Ed25519 public key is 32 bytes".into(),
            ));
        }
        Ok(Self {
            kid: kid.to_owned(),
            alg: Algorithm::EdDSA,
            encoding: None,
            decoding: DecodingKey::from_ed_der(public),
            created_at: SystemTime::now(),
        })
    }

    /// A key pair from PEM: a PKCS#8 private key (PKCS#1 also for RSA) and
    /// the matching SPKI public key, for EdDSA, RS256 or ES256.
    pub fn from_pem(
        kid: &str,
        alg: Algorithm,
        private_pem: &[u8],
        public_pem: &[u8],
    ) -> Result<Self, JwtError> {
        let mut key = Self::public_pem(kid, alg, public_pem)?;
        key.encoding = Some(
            match alg {
                Algorithm::EdDSA => EncodingKey::from_ed_pem(private_pem),
                Algorithm::RS256 => EncodingKey::from_rsa_pem(private_pem),
                Algorithm::ES256 => EncodingKey::from_ec_pem(private_pem),
                _ => return Err(JwtError::InvalidKey(format!("{alg} keys are not PEM"))),
            }
            .map_err(key_err)?,
        );
        // Prove the pair matches now rather than on the first request.
        let probe = jsonwebtoken::crypto::sign(b"probe", key.encoding_key()?, alg.jwt())
            .map_err(key_err)?;
        if !jsonwebtoken::crypto::verify(&probe, b"probe", &key.decoding, alg.jwt())
            .unwrap_or(false)
        {
            return Err(JwtError::InvalidKey(
                "private and public keys do not match".into(),
            ));
        }
        Ok(key)
    }

    /// A verify-only key from an SPKI PEM public key (EdDSA, RS256, ES256).
    pub fn public_pem(kid: &str, alg: Algorithm, public_pem: &[u8]) -> Result<Self, JwtError> {
        Self::check_kid(kid)?;
        let decoding = match alg {
            Algorithm::EdDSA => DecodingKey::from_ed_pem(public_pem),
            Algorithm::RS256 => DecodingKey::from_rsa_pem(public_pem),
            Algorithm::ES256 => DecodingKey::from_ec_pem(public_pem),
            _ => return Err(JwtError::InvalidKey(format!("{alg} keys are not PEM"))),
        }
        .map_err(key_err)?;
        Ok(Self {
            kid: kid.to_owned(),
            alg,
            encoding: None,
            decoding,
            created_at: SystemTime::now(),
        })
    }

    /// A fresh random key: a hash-sized secret for HMAC, a new Ed25519 or
    /// P-256 pair (RSA keys must be supplied).
    pub fn generate(kid: &str, alg: Algorithm) -> Result<Self, JwtError> {
        let rng = ring::rand::SystemRandom::new();
        match alg {
            Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512 => {
                let mut secret = vec![0u8; alg.min_secret_len().unwrap_or(64)];
                rng.fill(&mut secret).map_err(|_| JwtError::Random)?;
                Self::hmac(kid, alg, &secret)
            }
            Algorithm::EdDSA => {
                let mut seed = [0u8; 32];
                rng.fill(&mut seed).map_err(|_| JwtError::Random)?;
                Self::ed25519_seed(kid, &seed)
            }
            Algorithm::ES256 => {
                Self::check_kid(kid)?;
                let signing = &ring::signature::ECDSA_P256_SHA256_FIXED_SIGNING;
                let pkcs8 = ring::signature::EcdsaKeyPair::generate_pkcs8(signing, &rng)
                    .map_err(key_err)?;
                let pair = ring::signature::EcdsaKeyPair::from_pkcs8(signing, pkcs8.as_ref(), &rng)
                    .map_err(key_err)?;
                let public = ring::signature::KeyPair::public_key(&pair)
                    .as_ref()
                    .to_vec();
                Ok(Self {
                    kid: kid.to_owned(),
                    alg,
                    encoding: Some(EncodingKey::from_ec_der(pkcs8.as_ref())),
                    decoding: DecodingKey::from_ec_der(&public),
                    created_at: SystemTime::now(),
                })
            }
            Algorithm::RS256 => Err(JwtError::InvalidKey(
                "RSA keys cannot be generated here".into(),
            )),
        }
    }

    /// Sets the creation time (for lazy rotation of restored keys).
    #[must_use]
    pub fn created_at(mut self, at: SystemTime) -> Self {
        self.created_at = at;
        self
    }

    /// The key id.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The algorithm.
    pub fn alg(&self) -> Algorithm {
        self.alg
    }

    /// Whether the key can sign.
    pub fn can_sign(&self) -> bool {
        self.encoding.is_some()
    }

    /// When the key was made.
    pub fn creation_time(&self) -> SystemTime {
        self.created_at
    }

    fn encoding_key(&self) -> Result<&EncodingKey, JwtError> {
        self.encoding.as_ref().ok_or(JwtError::NoSigningKey)
    }
}

#[derive(Default)]
struct KeySetState {
    active: Option<Arc<JwtKey>>,
    keys: HashMap<String, Arc<JwtKey>>,
}

/// The keys tokens are verified with, and the active one new tokens are
/// signed with. Rotating keeps the old keys, so tokens they signed keep
/// verifying until [`remove`](Self::remove)d. Readers take a snapshot under
/// a short read lock; writers copy and swap, so verification never waits on
/// a signature.
#[derive(Default)]
pub struct KeySet {
    state: RwLock<Arc<KeySetState>>,
}

impl std::fmt::Debug for KeySet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = self.snapshot();
        f.debug_struct("KeySet")
            .field("active", &state.active.as_ref().map(|k| k.kid.clone()))
            .field("keys", &state.keys.len())
            .finish()
    }
}

impl KeySet {
    /// An empty set (verifies nothing, signs nothing).
    pub fn new() -> Self {
        Self::default()
    }

    /// A set with one active key.
    pub fn with_active(key: JwtKey) -> Self {
        let set = Self::new();
        set.rotate(key);
        set
    }

    fn snapshot(&self) -> Arc<KeySetState> {
        self.state
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn update(&self, f: impl FnOnce(&mut KeySetState)) {
        let mut guard = self.state.write().unwrap_or_else(PoisonError::into_inner);
        let mut next = KeySetState {
            active: guard.active.clone(),
            keys: guard.keys.clone(),
        };
        f(&mut next);
        *guard = Arc::new(next);
    }

    /// Adds (or replaces) a verification key without activating it.
    pub fn insert(&self, key: JwtKey) {
        let key = Arc::new(key);
        self.update(|s| {
            if s.active.as_ref().is_some_and(|a| a.kid == key.kid) {
                s.active = Some(key.clone());
            }
            s.keys.insert(key.kid.clone(), key);
        });
    }

    /// Adds a key and makes it the signing key; the previous keys stay.
    pub fn rotate(&self, key: JwtKey) {
        let key = Arc::new(key);
        self.update(|s| {
            s.keys.insert(key.kid.clone(), key.clone());
            s.active = Some(key);
        });
    }

    /// Makes a known key the signing key.
    pub fn activate(&self, kid: &str) -> bool {
        let mut found = false;
        self.update(|s| {
            if let Some(key) = s.keys.get(kid) {
                s.active = Some(key.clone());
                found = true;
            }
        });
        found
    }

    /// Removes a key; tokens it signed stop verifying. Removing the active
    /// key leaves no signing key.
    pub fn remove(&self, kid: &str) -> bool {
        let mut found = false;
        self.update(|s| {
            found = s.keys.remove(kid).is_some();
            if s.active.as_ref().is_some_and(|a| a.kid == kid) {
                s.active = None;
            }
        });
        found
    }

    /// A key by id.
    pub fn get(&self, kid: &str) -> Option<Arc<JwtKey>> {
        self.snapshot().keys.get(kid).cloned()
    }

    /// The signing key.
    pub fn active(&self) -> Option<Arc<JwtKey>> {
        self.snapshot().active.clone()
    }

    /// Adds the signature keys of a JWKS document (`{"keys":[...]}`, as an
    /// identity provider publishes at its `jwks_uri`) as verify-only keys;
    /// the number added. Fetching the document is the application's (this
    /// crate has no HTTP client); call again to refresh. Each key needs a
    /// `kid`; its algorithm is its `alg`, or follows from its type (RSA →
    /// RS256, EC P-256 → ES256, OKP Ed25519 → EdDSA), and must agree with
    /// the type. Encryption keys, symmetric (`oct`) keys and other curves
    /// or algorithms are skipped.
    pub fn insert_jwks(&self, json: &str) -> Result<usize, JwtError> {
        use jsonwebtoken::jwk::{
            AlgorithmParameters, EllipticCurve, JwkSet, KeyAlgorithm, PublicKeyUse,
        };
        let set: JwkSet =
            serde_json::from_str(json).map_err(|e| JwtError::InvalidKey(format!("jwks: {e}")))?;
        let mut added = 0;
        for jwk in &set.keys {
            let Some(kid) = jwk.common.key_id.as_deref() else {
                continue;
            };
            if matches!(jwk.common.public_key_use, Some(ref u) if *u != PublicKeyUse::Signature) {
                continue;
            }
            let by_type = match &jwk.algorithm {
                AlgorithmParameters::RSA(_) => Algorithm::RS256,
                AlgorithmParameters::EllipticCurve(p) if p.curve == EllipticCurve::P256 => {
                    Algorithm::ES256
                }
                AlgorithmParameters::OctetKeyPair(p) if p.curve == EllipticCurve::Ed25519 => {
                    Algorithm::EdDSA
                }
                _ => continue,
            };
            let declared = match jwk.common.key_algorithm {
                None => by_type,
                Some(KeyAlgorithm::RS256) => Algorithm::RS256,
                Some(KeyAlgorithm::ES256) => Algorithm::ES256,
                Some(KeyAlgorithm::EdDSA) => Algorithm::EdDSA,
                Some(_) => continue,
            };
            if declared != by_type || Self::check_jwks_kid(kid).is_err() {
                continue;
            }
            let Ok(decoding) = DecodingKey::from_jwk(jwk) else {
                continue;
            };
            self.insert(JwtKey {
                kid: kid.to_owned(),
                alg: declared,
                encoding: None,
                decoding,
                created_at: SystemTime::now(),
            });
            added += 1;
        }
        Ok(added)
    }

    fn check_jwks_kid(kid: &str) -> Result<(), JwtError> {
        JwtKey::check_kid(kid)
    }

    /// The ids of all keys, sorted.
    pub fn kids(&self) -> Vec<String> {
        let mut kids: Vec<String> = self.snapshot().keys.keys().cloned().collect();
        kids.sort();
        kids
    }

    /// Replaces the active key by a generated one of the same algorithm when
    /// it is older than `max_age` (the Go manager's lazy rotation); checked
    /// and swapped under one lock so concurrent callers rotate once.
    fn rotate_if_older(&self, now: SystemTime, max_age: Duration) -> Result<(), JwtError> {
        let stale = |s: &KeySetState| {
            s.active.as_ref().is_some_and(|a| {
                a.alg != Algorithm::RS256
                    && a.created_at.checked_add(max_age).is_some_and(|t| t <= now)
            })
        };
        if !stale(&self.snapshot()) {
            return Ok(());
        }
        let mut guard = self.state.write().unwrap_or_else(PoisonError::into_inner);
        let Some(active) = guard.active.clone().filter(|_| stale(&guard)) else {
            return Ok(());
        };
        let key = Arc::new(JwtKey::generate(&random_id()?, active.alg)?.created_at(now));
        let mut next = KeySetState {
            active: Some(key.clone()),
            keys: guard.keys.clone(),
        };
        next.keys.insert(key.kid.clone(), key);
        *guard = Arc::new(next);
        Ok(())
    }
}

/// 16 random bytes, base64url (token and key ids).
fn random_id() -> Result<String, JwtError> {
    let mut bytes = [0u8; 16];
    ring::rand::SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| JwtError::Random)?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

/// Access or refresh.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TokenType {
    /// A short-lived token presented to APIs.
    Access,
    /// A long-lived token exchanged for new access tokens.
    Refresh,
}

impl TokenType {
    /// The `token_type` claim.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Access => "access",
            Self::Refresh => "refresh",
        }
    }
}

/// The token layout.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum TokenFormat {
    /// The Go toolkit's nested `identity`/`authorization` claims.
    #[default]
    Go,
    /// Flat registered claims (`sub`, `aud`, `scope`...).
    Standard,
}

/// Who a token is for (the Go `IdentityClaims`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Identity {
    /// The subject.
    pub subject: String,
    /// A version the application bumps to revoke older tokens.
    pub version: i64,
}

impl Identity {
    /// An identity with version 0.
    pub fn new(subject: impl Into<String>) -> Self {
        Self {
            subject: subject.into(),
            version: 0,
        }
    }
}

/// What a token grants (the Go `AuthorizationClaims`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Grants {
    /// Roles.
    pub roles: Vec<String>,
    /// Permissions (become the principal's scopes).
    pub permissions: Vec<String>,
}

impl Grants {
    /// Sets the roles.
    #[must_use]
    pub fn roles<I: IntoIterator<Item = S>, S: Into<String>>(mut self, roles: I) -> Self {
        self.roles = roles.into_iter().map(Into::into).collect();
        self
    }

    /// Sets the permissions.
    #[must_use]
    pub fn permissions<I: IntoIterator<Item = S>, S: Into<String>>(mut self, perms: I) -> Self {
        self.permissions = perms.into_iter().map(Into::into).collect();
        self
    }
}

/// The verified content of a token, in either format. The JWT
/// authenticator puts it in the request extensions.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Claims {
    /// `jti`.
    pub token_id: String,
    /// `token_type` (`access`, `refresh`, or empty).
    pub token_type: String,
    /// `identity.sub` / `sub`.
    pub subject: String,
    /// `identity.ver` (Go format).
    pub version: i64,
    /// `authorization.roles` / `roles`.
    pub roles: Vec<String>,
    /// `authorization.permissions` / `permissions` plus `scope` and `scp`.
    pub permissions: Vec<String>,
    /// `iss`.
    pub issuer: String,
    /// `aud` (one value in the Go format).
    pub audience: Vec<String>,
    /// `iat`, Unix seconds.
    pub issued_at: i64,
    /// `nbf`, Unix seconds.
    pub not_before: i64,
    /// `exp`, Unix seconds.
    pub expires_at: i64,
    /// `kid`.
    pub key_id: String,
    /// Other claims (Standard format).
    pub extra: serde_json::Map<String, Value>,
}

impl Claims {
    /// The principal these claims describe (the Go `PrincipalFromClaims`):
    /// subject, roles, permissions as scopes, and `token_id`, `token_type`
    /// and `key_id` as claims.
    pub fn to_principal(&self) -> Principal {
        let mut claims = BTreeMap::new();
        claims.insert("token_id".to_owned(), Value::from(self.token_id.clone()));
        claims.insert(
            "token_type".to_owned(),
            Value::from(self.token_type.clone()),
        );
        claims.insert("key_id".to_owned(), Value::from(self.key_id.clone()));
        Principal {
            subject: self.subject.clone(),
            tenant: None,
            roles: self.roles.clone(),
            scopes: self.permissions.clone(),
            claims,
        }
    }
}

/// An access and a refresh token (the Go `TokenPair`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TokenPair {
    /// The access token.
    pub access_token: String,
    /// The refresh token.
    pub refresh_token: String,
    /// The access token's lifetime in seconds.
    pub expires_in: i64,
    /// Always `Bearer`.
    pub token_type: &'static str,
}

/// JWT options (defaults are the Go `DefaultJWTConfig`'s).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JwtConfig {
    /// Written to `iss`; when not empty, `iss` must equal it. Default `plumego`.
    pub issuer: String,
    /// Written to `aud`; when not empty, `aud` must equal (Standard:
    /// contain) it. Default `plumego-client`.
    pub audience: String,
    /// Access token lifetime. Default 15 minutes.
    pub access_ttl: Duration,
    /// Refresh token lifetime, at least the access one. Default 7 days.
    pub refresh_ttl: Duration,
    /// Tolerated clock difference for `iat`, `nbf` and `exp` (whole
    /// seconds). Default 5 seconds.
    pub clock_skew: Duration,
    /// Replace the active key by a generated one (same algorithm, not RSA)
    /// when it is older than this, at the next issue. Default `None`: keys
    /// generated in one process are unknown to the others.
    pub rotation_interval: Option<Duration>,
    /// The token layout. Default [`TokenFormat::Go`].
    pub format: TokenFormat,
    /// The longest token accepted. Default 16 KiB.
    pub max_token_len: usize,
    /// The longest part accepted. Default 8 KiB.
    pub max_segment_len: usize,
}

impl Default for JwtConfig {
    fn default() -> Self {
        Self {
            issuer: "plumego".to_owned(),
            audience: "plumego-client".to_owned(),
            access_ttl: Duration::from_secs(15 * 60),
            refresh_ttl: Duration::from_secs(7 * 24 * 3600),
            clock_skew: Duration::from_secs(5),
            rotation_interval: None,
            format: TokenFormat::Go,
            max_token_len: 16 * 1024,
            max_segment_len: 8 * 1024,
        }
    }
}

impl JwtConfig {
    /// Checks the lifetimes and limits.
    pub fn validate(&self) -> Result<(), JwtError> {
        if self.access_ttl.is_zero() || self.refresh_ttl.is_zero() {
            return Err(JwtError::InvalidConfig("token lifetimes must be positive"));
        }
        if self.refresh_ttl < self.access_ttl {
            return Err(JwtError::InvalidConfig(
                "refresh lifetime is shorter than access lifetime",
            ));
        }
        if self.rotation_interval.is_some_and(|r| r.is_zero()) {
            return Err(JwtError::InvalidConfig(
                "rotation interval must be positive",
            ));
        }
        if self.max_token_len == 0 || self.max_segment_len == 0 {
            return Err(JwtError::InvalidConfig("size limits must be positive"));
        }
        Ok(())
    }
}

// ---- wire forms ----

#[derive(Serialize)]
struct HeaderOut<'a> {
    alg: &'a str,
    kid: &'a str,
    typ: &'a str,
}

#[derive(Serialize)]
struct GoIdentityOut<'a> {
    sub: &'a str,
    ver: i64,
}

#[derive(Serialize)]
struct GoGrantsOut<'a> {
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    roles: &'a [String],
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    permissions: &'a [String],
}

#[derive(Serialize)]
struct GoClaimsOut<'a> {
    jti: &'a str,
    token_type: &'a str,
    identity: GoIdentityOut<'a>,
    authorization: GoGrantsOut<'a>,
    iss: &'a str,
    aud: &'a str,
    iat: i64,
    nbf: i64,
    exp: i64,
    kid: &'a str,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct GoIdentityIn {
    sub: String,
    ver: i64,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct GoGrantsIn {
    roles: Option<Vec<String>>,
    permissions: Option<Vec<String>>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct GoClaimsIn {
    jti: String,
    token_type: String,
    identity: GoIdentityIn,
    authorization: GoGrantsIn,
    iss: String,
    aud: String,
    iat: i64,
    nbf: i64,
    exp: i64,
    kid: String,
}

#[derive(Serialize)]
#[serde(untagged)]
enum AudOut<'a> {
    One(&'a str),
    Many(&'a [String]),
}

#[derive(Serialize)]
struct StdClaimsOut<'a> {
    #[serde(skip_serializing_if = "str::is_empty")]
    iss: &'a str,
    sub: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    aud: Option<AudOut<'a>>,
    exp: i64,
    nbf: i64,
    iat: i64,
    jti: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    token_type: &'a str,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    roles: &'a [String],
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    permissions: &'a [String],
    #[serde(skip_serializing_if = "str::is_empty")]
    kid: &'a str,
    #[serde(flatten)]
    extra: &'a serde_json::Map<String, Value>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct StdClaimsIn {
    iss: Option<String>,
    sub: Option<String>,
    aud: Option<OneOrMany>,
    exp: Option<i64>,
    nbf: Option<i64>,
    iat: Option<i64>,
    jti: Option<String>,
    token_type: Option<String>,
    roles: Option<Vec<String>>,
    permissions: Option<Vec<String>>,
    scope: Option<String>,
    scp: Option<Vec<String>>,
    kid: Option<String>,
    #[serde(flatten)]
    extra: serde_json::Map<String, Value>,
}

/// Go's `json.Marshal` bytes (HTML characters escaped), without the newline.
fn go_json<T: Serialize>(value: &T) -> Result<Vec<u8>, JwtError> {
    let mut out = plumego_core::error::to_go_json_line(value)
        .map_err(|_| JwtError::Malformed("claims do not serialise"))?;
    out.pop();
    Ok(out)
}

fn unix_secs(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_secs()).unwrap_or(i64::MAX),
    }
}

fn secs_i64(d: Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}

/// Issues and verifies tokens with a [`KeySet`].
pub struct JwtManager {
    keys: Arc<KeySet>,
    config: JwtConfig,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for JwtManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtManager")
            .field("keys", &self.keys)
            .field("config", &self.config)
            .finish()
    }
}

impl JwtManager {
    /// A manager over `keys`; the configuration is validated.
    pub fn new(keys: Arc<KeySet>, config: JwtConfig) -> Result<Self, JwtError> {
        config.validate()?;
        Ok(Self {
            keys,
            config,
            clock: Arc::new(SystemClock),
        })
    }

    /// Uses this clock (tests inject a [`ManualClock`](super::ManualClock)).
    #[must_use]
    pub fn with_clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// The key set.
    pub fn keys(&self) -> &Arc<KeySet> {
        &self.keys
    }

    /// The configuration.
    pub fn config(&self) -> &JwtConfig {
        &self.config
    }

    /// Issues one token of `token_type`, valid from now for its lifetime.
    pub fn issue(
        &self,
        token_type: TokenType,
        identity: &Identity,
        grants: &Grants,
    ) -> Result<String, JwtError> {
        if identity.subject.trim().is_empty() {
            return Err(JwtError::MissingSubject);
        }
        let now = self.clock.now();
        if let Some(max_age) = self.config.rotation_interval {
            self.keys.rotate_if_older(now, max_age)?;
        }
        let ttl = match token_type {
            TokenType::Access => self.config.access_ttl,
            TokenType::Refresh => self.config.refresh_ttl,
        };
        let now_s = unix_secs(now);
        let claims = Claims {
            token_id: random_id()?,
            token_type: token_type.as_str().to_owned(),
            subject: identity.subject.clone(),
            version: identity.version,
            roles: grants.roles.clone(),
            permissions: grants.permissions.clone(),
            issuer: self.config.issuer.clone(),
            audience: if self.config.audience.is_empty() {
                Vec::new()
            } else {
                vec![self.config.audience.clone()]
            },
            issued_at: now_s,
            not_before: now_s,
            expires_at: now_s.saturating_add(secs_i64(ttl)),
            key_id: String::new(),
            extra: serde_json::Map::new(),
        };
        self.sign(&claims)
    }

    /// Issues an access and a refresh token (the Go `GenerateTokenPair`).
    pub fn issue_pair(&self, identity: &Identity, grants: &Grants) -> Result<TokenPair, JwtError> {
        Ok(TokenPair {
            access_token: self.issue(TokenType::Access, identity, grants)?,
            refresh_token: self.issue(TokenType::Refresh, identity, grants)?,
            expires_in: secs_i64(self.config.access_ttl),
            token_type: "Bearer",
        })
    }

    /// Signs `claims` as given with the active key (whose id replaces
    /// `key_id`), in the configured format.
    pub fn sign(&self, claims: &Claims) -> Result<String, JwtError> {
        let key = self.keys.active().ok_or(JwtError::NoSigningKey)?;
        let encoding = key.encoding_key()?;
        let header = go_json(&HeaderOut {
            alg: key.alg.as_str(),
            kid: &key.kid,
            typ: "JWT",
        })?;
        let payload = match self.config.format {
            TokenFormat::Go => go_json(&GoClaimsOut {
                jti: &claims.token_id,
                token_type: &claims.token_type,
                identity: GoIdentityOut {
                    sub: &claims.subject,
                    ver: claims.version,
                },
                authorization: GoGrantsOut {
                    roles: &claims.roles,
                    permissions: &claims.permissions,
                },
                iss: &claims.issuer,
                aud: claims.audience.first().map_or("", String::as_str),
                iat: claims.issued_at,
                nbf: claims.not_before,
                exp: claims.expires_at,
                kid: &key.kid,
            })?,
            TokenFormat::Standard => {
                let aud = match claims.audience.as_slice() {
                    [] => None,
                    [one] => Some(AudOut::One(one)),
                    many => Some(AudOut::Many(many)),
                };
                serde_json::to_vec(&StdClaimsOut {
                    iss: &claims.issuer,
                    sub: &claims.subject,
                    aud,
                    exp: claims.expires_at,
                    nbf: claims.not_before,
                    iat: claims.issued_at,
                    jti: &claims.token_id,
                    token_type: &claims.token_type,
                    roles: &claims.roles,
                    permissions: &claims.permissions,
                    kid: &key.kid,
                    extra: &claims.extra,
                })
                .map_err(|_| JwtError::Malformed("claims do not serialise"))?
            }
        };
        let mut token = URL_SAFE_NO_PAD.encode(header);
        token.push('.');
        token.push_str(&URL_SAFE_NO_PAD.encode(payload));
        let signature = jsonwebtoken::crypto::sign(token.as_bytes(), encoding, key.alg.jwt())
            .map_err(|e| JwtError::InvalidKey(e.to_string()))?;
        token.push('.');
        token.push_str(&signature);
        Ok(token)
    }

    /// Verifies a token in the documented order; `expected` checks the
    /// token type.
    pub fn verify(&self, token: &str, expected: Option<TokenType>) -> Result<Claims, JwtError> {
        let (claims, header_kid) = self.verify_signature(token)?;
        self.check_claims(claims, &header_kid, expected)
    }

    /// Steps 1 to 5: shape, header, key, signature, payload.
    fn verify_signature(&self, token: &str) -> Result<(Claims, String), JwtError> {
        let parts = split_token(
            token,
            self.config.max_token_len,
            self.config.max_segment_len,
        )?;
        let header = parse_header(parts[0])?;
        let key = self.keys.get(&header.kid).ok_or(JwtError::UnknownKey)?;
        if header.alg != key.alg.as_str() {
            return Err(JwtError::AlgorithmMismatch);
        }
        let signed = &token[..parts[0].len() + 1 + parts[1].len()];
        let valid =
            jsonwebtoken::crypto::verify(parts[2], signed.as_bytes(), &key.decoding, key.alg.jwt())
                .unwrap_or(false);
        if !valid {
            return Err(JwtError::InvalidSignature);
        }
        let payload = URL_SAFE_NO_PAD
            .decode(parts[1])
            .map_err(|_| JwtError::Malformed("payload is not base64url"))?;
        // serde would also read a struct from a JSON array; Go only from an object.
        if payload.trim_ascii_start().first() != Some(&b'{') {
            return Err(JwtError::Malformed("payload is not the expected JSON"));
        }
        let claims = match self.config.format {
            TokenFormat::Go => {
                let c: GoClaimsIn = serde_json::from_slice(&payload)
                    .map_err(|_| JwtError::Malformed("payload is not the expected JSON"))?;
                Claims {
                    token_id: c.jti,
                    token_type: c.token_type,
                    subject: c.identity.sub,
                    version: c.identity.ver,
                    roles: c.authorization.roles.unwrap_or_default(),
                    permissions: c.authorization.permissions.unwrap_or_default(),
                    issuer: c.iss,
                    audience: vec![c.aud],
                    issued_at: c.iat,
                    not_before: c.nbf,
                    expires_at: c.exp,
                    key_id: c.kid,
                    extra: serde_json::Map::new(),
                }
            }
            TokenFormat::Standard => {
                let c: StdClaimsIn = serde_json::from_slice(&payload)
                    .map_err(|_| JwtError::Malformed("payload is not the expected JSON"))?;
                let mut permissions = c.permissions.unwrap_or_default();
                if let Some(scope) = c.scope {
                    permissions.extend(
                        scope
                            .split(' ')
                            .filter(|s| !s.is_empty())
                            .map(str::to_owned),
                    );
                }
                permissions.extend(c.scp.unwrap_or_default());
                Claims {
                    token_id: c.jti.unwrap_or_default(),
                    token_type: c.token_type.unwrap_or_default(),
                    subject: c.sub.unwrap_or_default(),
                    version: 0,
                    roles: c.roles.unwrap_or_default(),
                    permissions,
                    issuer: c.iss.unwrap_or_default(),
                    audience: match c.aud {
                        None => Vec::new(),
                        Some(OneOrMany::One(a)) => vec![a],
                        Some(OneOrMany::Many(a)) => a,
                    },
                    issued_at: c.iat.unwrap_or(0),
                    not_before: c.nbf.unwrap_or(0),
                    expires_at: c.exp.unwrap_or(0),
                    // Optional in this format: absent means the header's.
                    key_id: c.kid.unwrap_or_else(|| header.kid.clone()),
                    extra: c.extra,
                }
            }
        };
        Ok((claims, header.kid))
    }

    /// Steps 5 (kid) to 9.
    fn check_claims(
        &self,
        claims: Claims,
        header_kid: &str,
        expected: Option<TokenType>,
    ) -> Result<Claims, JwtError> {
        if claims.key_id != header_kid {
            return Err(JwtError::KeyIdMismatch);
        }
        if !self.config.issuer.is_empty() && claims.issuer != self.config.issuer {
            return Err(JwtError::InvalidIssuer);
        }
        if !self.config.audience.is_empty() {
            let ok = match self.config.format {
                TokenFormat::Go => claims.audience.first() == Some(&self.config.audience),
                TokenFormat::Standard => claims.audience.contains(&self.config.audience),
            };
            if !ok {
                return Err(JwtError::InvalidAudience);
            }
        }
        let (iat, nbf) = match self.config.format {
            TokenFormat::Go => (claims.issued_at, claims.not_before),
            // Optional in this format: absent checks as "any time".
            TokenFormat::Standard => (
                if claims.issued_at == 0 {
                    1
                } else {
                    claims.issued_at
                },
                if claims.not_before == 0 {
                    1
                } else {
                    claims.not_before
                },
            ),
        };
        if iat <= 0 || nbf <= 0 || claims.expires_at <= 0 {
            return Err(JwtError::InvalidTimes);
        }
        let now = unix_secs(self.clock.now());
        let skew = secs_i64(self.config.clock_skew);
        if now < iat.saturating_sub(skew) {
            return Err(JwtError::InvalidTimes);
        }
        if now > claims.expires_at.saturating_add(skew) {
            return Err(JwtError::Expired);
        }
        if now < nbf.saturating_sub(skew) {
            return Err(JwtError::NotYetValid);
        }
        if let Some(t) = expected {
            if claims.token_type != t.as_str() {
                return Err(JwtError::WrongTokenType);
            }
        }
        if claims.subject.is_empty() {
            return Err(JwtError::MissingSubject);
        }
        Ok(claims)
    }
}

/// The three parts of a compact token, within the size limits.
fn split_token(token: &str, max_len: usize, max_segment: usize) -> Result<[&str; 3], JwtError> {
    if token.is_empty() || token.len() > max_len {
        return Err(JwtError::Malformed("token is empty or too long"));
    }
    let mut it = token.split('.');
    let (Some(h), Some(p), Some(s), None) = (it.next(), it.next(), it.next(), it.next()) else {
        return Err(JwtError::Malformed("a token has three parts"));
    };
    let parts = [h, p, s];
    if parts.iter().any(|p| p.is_empty() || p.len() > max_segment) {
        return Err(JwtError::Malformed("a part is empty or too long"));
    }
    Ok(parts)
}

/// The fields of a JOSE header that verification reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JwtHeader {
    /// `alg`.
    pub alg: String,
    /// `kid`.
    pub kid: String,
    /// `typ`.
    pub typ: String,
}

/// Decodes and checks a header part (step 2): base64url JSON object, not
/// `alg: none`, non-empty string `kid` and `alg`, `typ` exactly `JWT`, no
/// `crit`. Public for fuzzing.
pub fn parse_header(part: &str) -> Result<JwtHeader, JwtError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| JwtError::Malformed("header is not base64url"))?;
    let map: serde_json::Map<String, Value> = serde_json::from_slice(&bytes)
        .map_err(|_| JwtError::Malformed("header is not a JSON object"))?;
    let text = |k: &str| {
        map.get(k)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let (alg, kid, typ) = (text("alg"), text("kid"), text("typ"));
    if alg.eq_ignore_ascii_case("none") {
        return Err(JwtError::AlgNone);
    }
    if alg.is_empty() || kid.is_empty() {
        return Err(JwtError::Malformed("header needs alg and kid"));
    }
    if typ != "JWT" {
        return Err(JwtError::Malformed("header typ must be JWT"));
    }
    if map.contains_key("crit") {
        return Err(JwtError::Malformed(
            "critical header extensions are not supported",
        ));
    }
    Ok(JwtHeader { alg, kid, typ })
}

/// Authenticates bearer JWTs (never `X-Token`, as in Go): the principal
/// comes from [`Claims::to_principal`], and the [`Claims`] go into the
/// request extensions.
#[derive(Debug, Clone)]
pub struct JwtAuthenticator {
    manager: Arc<JwtManager>,
    expected: Option<TokenType>,
}

impl JwtAuthenticator {
    /// Accepts tokens of the `expected` type (usually access; `None` accepts
    /// any).
    pub fn new(manager: Arc<JwtManager>, expected: Option<TokenType>) -> Self {
        Self { manager, expected }
    }
}

impl Authenticator for JwtAuthenticator {
    fn authenticate(&self, request: &RequestView<'_>) -> AuthFuture {
        let Some(token) = bearer_token(request.headers) else {
            return AuthFuture::ready(Err::<Authenticated, _>(AuthError::Unauthenticated));
        };
        AuthFuture::ready(
            self.manager
                .verify(token, self.expected)
                .map(|claims| Authenticated::from(claims.to_principal()).with_extension(claims))
                .map_err(AuthError::from),
        )
    }
}
