//! Token types, the identity and grants put into tokens, and the verified claims.

use std::collections::BTreeMap;

use plumego_core::context::Principal;
use serde::Serialize;
use serde_json::Value;

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
