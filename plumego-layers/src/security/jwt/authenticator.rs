//! The bearer-JWT [`Authenticator`].

use std::sync::Arc;

use super::{Claims, JwtError, JwtManager, KeyRefresher, TokenType};
use crate::security::auth::{AuthError, AuthFuture, Authenticated, Authenticator};
use crate::security::bearer::bearer_token;
use crate::security::view::RequestView;

/// Authenticates bearer JWTs (never `X-Token`, as in Go): the principal
/// comes from [`Claims::to_principal`], and the [`Claims`] go into the
/// request extensions.
///
/// With a [`KeyRefresher`], a token whose `kid` the set does not know yet
/// (a key another instance or the identity provider just rotated in)
/// triggers one refresh, if due, and one more verification; every other
/// token is checked without allocating or awaiting.
#[derive(Debug, Clone)]
pub struct JwtAuthenticator {
    manager: Arc<JwtManager>,
    expected: Option<TokenType>,
    refresher: Option<KeyRefresher>,
}

impl JwtAuthenticator {
    /// Accepts tokens of the `expected` type (usually access; `None` accepts
    /// any).
    pub fn new(manager: Arc<JwtManager>, expected: Option<TokenType>) -> Self {
        Self {
            manager,
            expected,
            refresher: None,
        }
    }

    /// Refreshes the manager's key set through `refresher` when a token
    /// names an unknown key (the refresher should hold the same set).
    #[must_use]
    pub fn with_refresher(mut self, refresher: KeyRefresher) -> Self {
        self.refresher = Some(refresher);
        self
    }
}

fn authenticated(claims: Claims) -> Authenticated {
    Authenticated::from(claims.to_principal()).with_extension(claims)
}

impl Authenticator for JwtAuthenticator {
    fn authenticate(&self, request: &RequestView<'_>) -> AuthFuture {
        let Some(token) = bearer_token(request.headers) else {
            return AuthFuture::ready(Err::<Authenticated, _>(AuthError::Unauthenticated));
        };
        match (self.manager.verify(token, self.expected), &self.refresher) {
            (Err(JwtError::UnknownKey), Some(refresher)) => {
                let (manager, refresher, expected) =
                    (self.manager.clone(), refresher.clone(), self.expected);
                let token = token.to_owned();
                AuthFuture::new(async move {
                    if let Err(e) = refresher.refresh_if_due().await {
                        tracing::warn!(error = %e, "jwt key refresh for an unknown kid failed");
                    }
                    manager
                        .verify(&token, expected)
                        .map(authenticated)
                        .map_err(AuthError::from)
                })
            }
            (result, _) => AuthFuture::ready(result.map(authenticated).map_err(AuthError::from)),
        }
    }
}
