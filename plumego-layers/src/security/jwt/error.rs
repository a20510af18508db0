//! Why a token or key was refused, and how that maps onto authentication errors.

use crate::security::auth::AuthError;

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
    /// A key store could not be read or written, or holds a malformed key.
    KeyStore(String),
    /// A JWKS document could not be fetched.
    Fetch(String),
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
            Self::KeyStore(why) => write!(f, "jwt: key store: {why}"),
            Self::Fetch(why) => write!(f, "jwt: fetching keys: {why}"),
        }
    }
}

impl std::error::Error for JwtError {}

impl From<JwtError> for AuthError {
    /// Expired → `ExpiredToken`; key store and fetch failures → `Other`
    /// (not the caller's fault; logged, answered 401 by default); everything
    /// else → `InvalidToken` (the Go adapter's mapping).
    fn from(e: JwtError) -> Self {
        match e {
            JwtError::Expired => AuthError::ExpiredToken,
            e @ (JwtError::KeyStore(_) | JwtError::Fetch(_)) => AuthError::Other(Box::new(e)),
            other => AuthError::invalid(other.to_string()),
        }
    }
}
