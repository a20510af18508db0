//! One verification (and maybe signing) key and the ways to build it.

use std::sync::Arc;
use std::time::SystemTime;

use jsonwebtoken::{DecodingKey, EncodingKey};
use ring::rand::SecureRandom as _;

use super::{Algorithm, JwtError};

/// One key: its id, algorithm, and key material (the private part is
/// optional: a verify-only key cannot sign).
#[derive(Clone)]
pub struct JwtKey {
    pub(super) kid: String,
    pub(super) alg: Algorithm,
    pub(super) encoding: Option<EncodingKey>,
    pub(super) decoding: DecodingKey,
    pub(super) created_at: SystemTime,
    pub(super) material: Material,
}

/// The raw bytes behind a key, kept so a key can be persisted
/// ([`KvKeyStore`](super::KvKeyStore)); `jsonwebtoken`'s key types do not
/// give them back.
#[derive(Clone)]
pub(super) enum Material {
    /// Loaded from PEM or JWKS: verifiable, not exportable.
    Opaque,
    /// An HMAC secret.
    Hmac(Arc<[u8]>),
    /// An Ed25519 public key, with its seed when the key can sign.
    Ed25519 {
        seed: Option<[u8; 32]>,
        public: [u8; 32],
    },
    /// A P-256 key: its PKCS#8 document and SEC1 public point.
    Es256 { pkcs8: Arc<[u8]>, public: Arc<[u8]> },
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
    pub(super) fn check_kid(kid: &str) -> Result<(), JwtError> {
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
            material: Material::Hmac(secret.into()),
        })
    }

    /// An Ed25519 key from its 32-byte seed (Go's private key is the seed
    /// followed by the public key: pass its first 32 bytes).
    pub fn ed25519_seed(kid: &str, seed: &[u8; 32]) -> Result<Self, JwtError> {
        Self::check_kid(kid)?;
        let pair = ring::signature::Ed25519KeyPair::from_seed_unchecked(seed).map_err(key_err)?;
        let mut public = [0u8; 32];
        public.copy_from_slice(ring::signature::KeyPair::public_key(&pair).as_ref());
        Ok(Self {
            kid: kid.to_owned(),
            alg: Algorithm::EdDSA,
            encoding: Some(EncodingKey::from_ed_der(&ed25519_pkcs8(seed))),
            decoding: DecodingKey::from_ed_der(&public),
            created_at: SystemTime::now(),
            material: Material::Ed25519 {
                seed: Some(*seed),
                public,
            },
        })
    }

    /// A verify-only Ed25519 key from its 32 raw public bytes.
    pub fn ed25519_public(kid: &str, public: &[u8]) -> Result<Self, JwtError> {
        Self::check_kid(kid)?;
        let public: [u8; 32] = public
            .try_into()
            .map_err(|_| JwtError::InvalidKey("an Ed25519 public key is 32 bytes".into()))?;
        Ok(Self {
            kid: kid.to_owned(),
            alg: Algorithm::EdDSA,
            encoding: None,
            decoding: DecodingKey::from_ed_der(&public),
            created_at: SystemTime::now(),
            material: Material::Ed25519 { seed: None, public },
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
            material: Material::Opaque,
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
                let public = ring::signature::KeyPair::public_key(&pair).as_ref();
                Self::es256_der(kid, pkcs8.as_ref(), public)
            }
            Algorithm::RS256 => Err(JwtError::InvalidKey(
                "RSA keys cannot be generated here".into(),
            )),
        }
    }

    /// A P-256 key from its PKCS#8 document and SEC1 public point (the
    /// form [`KvKeyStore`](super::KvKeyStore) persists); the pair is checked.
    pub(super) fn es256_der(kid: &str, pkcs8: &[u8], public: &[u8]) -> Result<Self, JwtError> {
        Self::check_kid(kid)?;
        let rng = ring::rand::SystemRandom::new();
        let signing = &ring::signature::ECDSA_P256_SHA256_FIXED_SIGNING;
        let pair =
            ring::signature::EcdsaKeyPair::from_pkcs8(signing, pkcs8, &rng).map_err(key_err)?;
        if ring::signature::KeyPair::public_key(&pair).as_ref() != public {
            return Err(JwtError::InvalidKey(
                "private and public keys do not match".into(),
            ));
        }
        Ok(Self {
            kid: kid.to_owned(),
            alg: Algorithm::ES256,
            encoding: Some(EncodingKey::from_ec_der(pkcs8)),
            decoding: DecodingKey::from_ec_der(public),
            created_at: SystemTime::now(),
            material: Material::Es256 {
                pkcs8: pkcs8.into(),
                public: public.into(),
            },
        })
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

    /// Whether the key was made at least `max_age` before `now` (lazy
    /// rotation's test).
    pub(super) fn is_older_than(&self, max_age: std::time::Duration, now: SystemTime) -> bool {
        self.created_at
            .checked_add(max_age)
            .is_some_and(|t| t <= now)
    }

    pub(super) fn encoding_key(&self) -> Result<&EncodingKey, JwtError> {
        self.encoding.as_ref().ok_or(JwtError::NoSigningKey)
    }
}
