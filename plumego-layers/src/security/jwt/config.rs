//! Lifetimes, limits, issuer and audience.

use std::time::Duration;

use super::{JwtError, TokenFormat};

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
