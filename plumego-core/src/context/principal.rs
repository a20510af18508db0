//! The authenticated caller.

use std::collections::BTreeMap;

/// Who is calling, as established by an authentication layer.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Principal {
    /// The subject (user or service id).
    pub subject: String,
    /// The tenant, in multi-tenant deployments.
    pub tenant: Option<String>,
    /// Roles granted to the subject.
    pub roles: Vec<String>,
    /// Scopes or permissions granted to the credential.
    pub scopes: Vec<String>,
    /// Other claims of the credential.
    pub claims: BTreeMap<String, serde_json::Value>,
}

impl Principal {
    /// A principal with only a subject.
    pub fn new(subject: impl Into<String>) -> Self {
        Self {
            subject: subject.into(),
            ..Self::default()
        }
    }

    /// Whether the principal has this role (case-insensitive).
    pub fn has_role(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r.eq_ignore_ascii_case(role))
    }

    /// Whether the principal has this scope (case-insensitive).
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s.eq_ignore_ascii_case(scope))
    }
}
