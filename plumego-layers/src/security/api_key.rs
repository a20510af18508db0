//! Shared-secret authenticators: API keys, the Go toolkit's static token, and
//! HTTP Basic.
//!
//! Secrets are compared by their SHA-256 digests in constant time: hashing
//! first makes the comparison independent of the secret's length, and every
//! configured key is compared on every request, so timing reveals neither
//! which key matched nor how much of one did. Only the digests are kept.
//!
//! ```
//! use plumego_core::context::Principal;
//! use plumego_layers::security::{Authenticator, RequestView};
//! use plumego_layers::security::api_key::{ApiKeyAuthenticator, StaticToken};
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let keys = ApiKeyAuthenticator::new()
//!     .key("k-live-1", Principal::new("svc-a"))
//!     .key("k-live-2", Principal::new("svc-b"));
//! let req = http::Request::builder().header("authorization", "Bearer k-live-2").body(()).unwrap();
//! let who = keys.authenticate(&RequestView::new(&req)).await.unwrap();
//! assert_eq!(who.principal.subject, "svc-b");
//!
//! let token = StaticToken::new("s3cret");
//! let req = http::Request::builder().header("x-token", " s3cret ").body(()).unwrap();
//! assert!(token.authenticate(&RequestView::new(&req)).await.is_ok());
//! # });
//! ```

use std::sync::Arc;

use base64::Engine as _;
use http::HeaderName;
use plumego_core::context::Principal;
use sha2::{Digest, Sha256};
use subtle::{ConditionallySelectable, ConstantTimeEq};

use super::auth::{AuthError, AuthFuture, Authenticator};
use super::bearer::bearer_token;
use super::view::RequestView;

/// The SHA-256 digest of a secret, the form in which keys are kept and
/// compared (store these rather than the keys themselves).
pub fn secret_digest(secret: &[u8]) -> [u8; 32] {
    Sha256::digest(secret).into()
}

/// Compares a presented secret with digests in constant time, looking at
/// every digest; the index of the match.
fn find_digest(presented: &[u8], digests: impl Iterator<Item = [u8; 32]>) -> Option<usize> {
    let candidate = secret_digest(presented);
    let mut found = subtle::Choice::from(0);
    let mut index = 0u64;
    for (i, digest) in digests.enumerate() {
        let eq = candidate.ct_eq(&digest);
        index = u64::conditional_select(&index, &(i as u64), eq & !found);
        found |= eq;
    }
    bool::from(found).then_some(index as usize)
}

/// The default API key header, `X-API-Key`.
pub const API_KEY_HEADER: HeaderName = HeaderName::from_static("x-api-key");

/// Authenticates API keys from a header (default `X-API-Key`) or, failing
/// that, a bearer token, each key mapping to its principal.
#[derive(Clone)]
pub struct ApiKeyAuthenticator {
    header: Option<HeaderName>,
    bearer: bool,
    keys: Vec<([u8; 32], Arc<Principal>)>,
}

impl std::fmt::Debug for ApiKeyAuthenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiKeyAuthenticator")
            .field("header", &self.header)
            .field("bearer", &self.bearer)
            .field("keys", &self.keys.len())
            .finish()
    }
}

impl Default for ApiKeyAuthenticator {
    fn default() -> Self {
        Self {
            header: Some(API_KEY_HEADER),
            bearer: true,
            keys: Vec::new(),
        }
    }
}

impl ApiKeyAuthenticator {
    /// No keys yet (every request is refused), reading `X-API-Key` and
    /// bearer tokens.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a key. Blank keys are ignored: they would match an empty header.
    #[must_use]
    pub fn key(self, key: &str, principal: Principal) -> Self {
        let key = key.trim();
        if key.is_empty() {
            return self;
        }
        self.key_digest(secret_digest(key.as_bytes()), principal)
    }

    /// Adds a key by its [`secret_digest`], so the key itself need not be in
    /// the configuration.
    #[must_use]
    pub fn key_digest(mut self, digest: [u8; 32], principal: Principal) -> Self {
        self.keys.push((digest, Arc::new(principal)));
        self
    }

    /// The header keys are read from; `None` reads bearer tokens only.
    #[must_use]
    pub fn header(mut self, header: Option<HeaderName>) -> Self {
        self.header = header;
        self
    }

    /// Whether bearer tokens are read (after the header). Default true.
    #[must_use]
    pub fn bearer(mut self, enabled: bool) -> Self {
        self.bearer = enabled;
        self
    }

    /// The presented key: the header (trimmed), else the bearer token.
    pub fn extract<'a>(&self, request: &RequestView<'a>) -> Option<&'a str> {
        let from_header = self
            .header
            .as_ref()
            .and_then(|h| request.headers.get(h))
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|k| !k.is_empty());
        from_header.or_else(|| self.bearer.then(|| bearer_token(request.headers)).flatten())
    }

    /// The principal of a presented key.
    pub fn lookup(&self, presented: &str) -> Option<&Principal> {
        let index = find_digest(presented.as_bytes(), self.keys.iter().map(|(d, _)| *d))?;
        self.keys.get(index).map(|(_, p)| &**p)
    }
}

impl Authenticator for ApiKeyAuthenticator {
    fn authenticate(&self, request: &RequestView<'_>) -> AuthFuture {
        let result = match self.extract(request) {
            None => Err(AuthError::Unauthenticated),
            Some(key) => self
                .lookup(key)
                .cloned()
                .ok_or_else(|| AuthError::invalid("unknown api key")),
        };
        AuthFuture::ready(result)
    }
}

/// The `X-Token` header of the Go toolkit's static token.
pub const X_TOKEN_HEADER: HeaderName = HeaderName::from_static("x-token");

/// The Go toolkit's `StaticToken`: one shared token, presented as a bearer
/// token or, failing that, in `X-Token`. The principal's subject is
/// `static-token`. A blank configured token refuses everything, and every
/// failure is `Unauthenticated` (401 `authentication required`), as in Go.
#[derive(Clone)]
pub struct StaticToken {
    digest: Option<[u8; 32]>,
}

impl std::fmt::Debug for StaticToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StaticToken")
            .field("configured", &self.digest.is_some())
            .finish()
    }
}

impl StaticToken {
    /// The subject of the principal a static token authenticates.
    pub const SUBJECT: &'static str = "static-token";

    /// Accepts `token` (trimmed).
    pub fn new(token: &str) -> Self {
        let token = token.trim();
        Self {
            digest: (!token.is_empty()).then(|| secret_digest(token.as_bytes())),
        }
    }
}

impl Authenticator for StaticToken {
    fn authenticate(&self, request: &RequestView<'_>) -> AuthFuture {
        let presented = bearer_token(request.headers).or_else(|| {
            request
                .headers
                .get(X_TOKEN_HEADER)
                .and_then(|v| v.to_str().ok())
                .map(str::trim)
        });
        let ok = match (self.digest, presented) {
            (Some(digest), Some(p)) => find_digest(p.as_bytes(), std::iter::once(digest)).is_some(),
            _ => false,
        };
        AuthFuture::ready(if ok {
            Ok(Principal::new(Self::SUBJECT))
        } else {
            Err(AuthError::Unauthenticated)
        })
    }
}

/// HTTP Basic authentication (RFC 7617) against configured credentials,
/// compared as one digest of `user:password` in constant time. Rejections
/// carry `WWW-Authenticate: Basic realm="..."` (realm `restricted` unless
/// configured) so browsers prompt.
///
/// Keep this for machine clients and admin tools over HTTPS; for user
/// passwords, store [`password`](super::password) hashes and check them in
/// your own [`Authenticator`].
#[derive(Clone, Default)]
pub struct BasicAuthenticator {
    users: Vec<([u8; 32], Arc<Principal>)>,
}

impl std::fmt::Debug for BasicAuthenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BasicAuthenticator")
            .field("users", &self.users.len())
            .finish()
    }
}

impl BasicAuthenticator {
    /// No users yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a user; an empty user name is ignored.
    #[must_use]
    pub fn user(mut self, user: &str, password: &str, principal: Principal) -> Self {
        if user.is_empty() || user.contains(':') {
            return self;
        }
        let digest = secret_digest(format!("{user}:{password}").as_bytes());
        self.users.push((digest, Arc::new(principal)));
        self
    }

    /// The decoded `user:password` of a Basic credential.
    pub fn parse(value: &str) -> Option<String> {
        let encoded = super::bearer::credentials(value, "basic")?;
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .ok()?;
        let decoded = String::from_utf8(decoded).ok()?;
        decoded.contains(':').then_some(decoded)
    }
}

impl Authenticator for BasicAuthenticator {
    fn authenticate(&self, request: &RequestView<'_>) -> AuthFuture {
        let credential = super::bearer::single_authorization(request.headers).and_then(Self::parse);
        let result = match credential {
            None => Err(AuthError::Unauthenticated),
            Some(c) => find_digest(c.as_bytes(), self.users.iter().map(|(d, _)| *d))
                .and_then(|i| self.users.get(i))
                .map(|(_, p)| (**p).clone())
                .ok_or_else(|| AuthError::invalid("bad basic credentials")),
        };
        AuthFuture::ready(result)
    }

    fn challenge_scheme(&self) -> &'static str {
        "Basic"
    }
}
