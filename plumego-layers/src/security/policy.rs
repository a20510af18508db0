//! Authorisation policies for [`authorize`](super::authorize): roles,
//! permissions, `action:resource` permissions and per-route scopes.
//!
//! As in the Go toolkit, comparisons ignore ASCII case, and a policy that
//! requires nothing denies (an empty policy is almost always a configuration
//! mistake) unless [`AccessPolicy::allow_empty`] says otherwise. Permissions
//! are the principal's `scopes`.
//!
//! ```
//! use plumego_core::context::Principal;
//! use plumego_layers::security::{AccessPolicy, Permission, Policy, RequestView};
//!
//! let mut p = Principal::new("u1");
//! p.roles = vec!["Editor".into()];
//! p.scopes = vec!["write:posts".into()];
//! let req = http::Request::new(());
//! let view = RequestView::new(&req);
//!
//! assert!(AccessPolicy::new().any_role(["admin", "editor"]).authorize(&p, &view).is_ok());
//! assert!(AccessPolicy::new().all_roles(["admin", "editor"]).authorize(&p, &view).is_err());
//! assert!(Permission::new("write", "posts").authorize(&p, &view).is_ok());
//! assert!(Permission::new("delete", "posts").authorize(&p, &view).is_err());
//! assert!(Permission::new("write", "posts").separator('/').authorize(&p, &view).is_err());
//! assert!(Permission::new("WRITE:POSTS", "").authorize(&p, &view).is_ok());
//! assert!(AccessPolicy::new().authorize(&p, &view).is_err());
//! ```

use std::sync::Arc;

use plumego_core::context::Principal;

use super::auth::{AuthError, RequireScopes};
use super::view::RequestView;

/// Decides whether a principal may make a request.
pub trait Policy: Send + Sync + 'static {
    /// `Ok` to allow; [`AuthError::Forbidden`] (or any other error) to refuse.
    fn authorize(&self, principal: &Principal, request: &RequestView<'_>) -> Result<(), AuthError>;
}

impl<P: Policy + ?Sized> Policy for Arc<P> {
    fn authorize(&self, principal: &Principal, request: &RequestView<'_>) -> Result<(), AuthError> {
        (**self).authorize(principal, request)
    }
}

/// A [`Policy`] from a predicate; see [`policy_fn`].
#[derive(Clone)]
pub struct PolicyFn<F>(F);

impl<F> std::fmt::Debug for PolicyFn<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PolicyFn")
    }
}

/// A policy from a predicate: `true` allows, `false` answers 403.
pub fn policy_fn<F>(f: F) -> PolicyFn<F>
where
    F: Fn(&Principal, &RequestView<'_>) -> bool + Send + Sync + 'static,
{
    PolicyFn(f)
}

impl<F> Policy for PolicyFn<F>
where
    F: Fn(&Principal, &RequestView<'_>) -> bool + Send + Sync + 'static,
{
    fn authorize(&self, principal: &Principal, request: &RequestView<'_>) -> Result<(), AuthError> {
        if (self.0)(principal, request) {
            Ok(())
        } else {
            Err(AuthError::Forbidden)
        }
    }
}

/// Role and permission requirements (the Go `AuthZPolicy`). Every list that
/// is set must be satisfied.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccessPolicy {
    any_role: Vec<String>,
    all_roles: Vec<String>,
    any_permission: Vec<String>,
    all_permissions: Vec<String>,
    allow_empty: bool,
}

impl AccessPolicy {
    /// A policy requiring nothing, which denies until something is required
    /// or [`allow_empty`](Self::allow_empty) is set.
    pub fn new() -> Self {
        Self::default()
    }

    /// At least one of these roles.
    #[must_use]
    pub fn any_role<I: IntoIterator<Item = S>, S: Into<String>>(mut self, roles: I) -> Self {
        self.any_role = roles.into_iter().map(Into::into).collect();
        self
    }

    /// All of these roles.
    #[must_use]
    pub fn all_roles<I: IntoIterator<Item = S>, S: Into<String>>(mut self, roles: I) -> Self {
        self.all_roles = roles.into_iter().map(Into::into).collect();
        self
    }

    /// At least one of these permissions (scopes).
    #[must_use]
    pub fn any_permission<I: IntoIterator<Item = S>, S: Into<String>>(mut self, perms: I) -> Self {
        self.any_permission = perms.into_iter().map(Into::into).collect();
        self
    }

    /// All of these permissions (scopes).
    #[must_use]
    pub fn all_permissions<I: IntoIterator<Item = S>, S: Into<String>>(mut self, perms: I) -> Self {
        self.all_permissions = perms.into_iter().map(Into::into).collect();
        self
    }

    /// Whether a policy requiring nothing allows every authenticated
    /// principal. Default false.
    #[must_use]
    pub fn allow_empty(mut self, allow: bool) -> Self {
        self.allow_empty = allow;
        self
    }

    /// Whether the policy requires nothing.
    pub fn is_empty(&self) -> bool {
        self.any_role.is_empty()
            && self.all_roles.is_empty()
            && self.any_permission.is_empty()
            && self.all_permissions.is_empty()
    }

    /// Whether `principal` satisfies the policy.
    pub fn allows(&self, principal: &Principal) -> bool {
        if self.is_empty() {
            return self.allow_empty;
        }
        (self.any_role.is_empty() || self.any_role.iter().any(|r| principal.has_role(r)))
            && self.all_roles.iter().all(|r| principal.has_role(r))
            && (self.any_permission.is_empty()
                || self.any_permission.iter().any(|p| principal.has_scope(p)))
            && self.all_permissions.iter().all(|p| principal.has_scope(p))
    }
}

impl Policy for AccessPolicy {
    fn authorize(
        &self,
        principal: &Principal,
        _request: &RequestView<'_>,
    ) -> Result<(), AuthError> {
        if self.allows(principal) {
            Ok(())
        } else {
            Err(AuthError::Forbidden)
        }
    }
}

/// Requires the permission `action<sep>resource` (or `action` alone when the
/// resource is empty), as the Go `PermissionAuthorizer` does; the separator
/// defaults to `:`. An empty action and resource deny unless
/// [`allow_empty`](Self::allow_empty).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Permission {
    action: String,
    resource: String,
    separator: char,
    allow_empty: bool,
    /// Derived from the three above when they change, not per request.
    scope: Option<String>,
}

impl Permission {
    /// The permission `action:resource`.
    pub fn new(action: impl Into<String>, resource: impl Into<String>) -> Self {
        let mut permission = Self {
            action: action.into(),
            resource: resource.into(),
            separator: ':',
            allow_empty: false,
            scope: None,
        };
        permission.scope = permission.derive_scope();
        permission
    }

    /// Changes the separator.
    #[must_use]
    pub fn separator(mut self, separator: char) -> Self {
        self.separator = separator;
        self.scope = self.derive_scope();
        self
    }

    /// Whether an empty action and resource allow everyone.
    #[must_use]
    pub fn allow_empty(mut self, allow: bool) -> Self {
        self.allow_empty = allow;
        self
    }

    /// The scope this permission requires (`None` when empty).
    pub fn scope(&self) -> Option<String> {
        self.scope.clone()
    }

    fn derive_scope(&self) -> Option<String> {
        match (self.action.is_empty(), self.resource.is_empty()) {
            (true, true) => None,
            (_, true) => Some(self.action.clone()),
            _ => Some(format!(
                "{}{}{}",
                self.action, self.separator, self.resource
            )),
        }
    }
}

impl Policy for Permission {
    fn authorize(
        &self,
        principal: &Principal,
        _request: &RequestView<'_>,
    ) -> Result<(), AuthError> {
        let allowed = match &self.scope {
            None => self.allow_empty,
            Some(scope) => principal.has_scope(scope),
        };
        if allowed {
            Ok(())
        } else {
            Err(AuthError::Forbidden)
        }
    }
}

/// Enforces the route's [`RequireScopes`] metadata; routes without it are
/// allowed. Use it with [`authorize`](super::authorize) when authentication
/// happens outside the router, or when the authenticate layer ignores route
/// metadata.
#[derive(Debug, Clone, Copy, Default)]
pub struct RouteScopes;

impl Policy for RouteScopes {
    fn authorize(&self, principal: &Principal, request: &RequestView<'_>) -> Result<(), AuthError> {
        match request.route().and_then(|r| r.metadata::<RequireScopes>()) {
            Some(required) if !required.is_satisfied_by(principal) => Err(AuthError::Forbidden),
            _ => Ok(()),
        }
    }
}
