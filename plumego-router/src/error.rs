//! Registration and reverse-routing errors.

use std::fmt;

/// Why a route could not be registered. Displayed as
/// `router add_route <METHOD> <path>: <reason>`, as in the Go toolkit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteError {
    method: String,
    path: String,
    kind: RouteErrorKind,
}

/// The reason behind a [`RouteError`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RouteErrorKind {
    /// The router was already built or the app prepared.
    Frozen,
    /// The method is not a valid HTTP token.
    InvalidMethod,
    /// The pattern is malformed (empty segment, bad name, ...).
    Pattern(String),
    /// A parameter at the same position has another name.
    Conflict(String),
    /// The same method and pattern are already registered.
    Duplicate,
    /// The route name is taken.
    DuplicateName {
        /// The name.
        name: String,
        /// The method of the route that has it.
        existing_method: String,
        /// The pattern of the route that has it.
        existing_pattern: String,
    },
    /// A group prefix does not start with `/`.
    InvalidPrefix(String),
}

impl RouteError {
    pub(crate) fn new(
        method: impl Into<String>,
        path: impl Into<String>,
        kind: RouteErrorKind,
    ) -> Self {
        Self {
            method: method.into(),
            path: path.into(),
            kind,
        }
    }

    /// The method of the rejected registration.
    pub fn method(&self) -> &str {
        &self.method
    }

    /// The path of the rejected registration (prefix included).
    pub fn path(&self) -> &str {
        &self.path
    }

    /// Why it was rejected.
    pub fn kind(&self) -> &RouteErrorKind {
        &self.kind
    }
}

impl fmt::Display for RouteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "router add_route {} {}: ", self.method, self.path)?;
        match &self.kind {
            RouteErrorKind::Frozen => f.write_str("router is frozen"),
            RouteErrorKind::InvalidMethod => write!(f, "invalid method {:?}", self.method),
            RouteErrorKind::Pattern(reason) | RouteErrorKind::Conflict(reason) => {
                f.write_str(reason)
            }
            RouteErrorKind::Duplicate => f.write_str("duplicate route registration"),
            RouteErrorKind::DuplicateName {
                name,
                existing_method,
                existing_pattern,
            } => write!(
                f,
                "duplicate route name {name:?} (already used by {existing_method} {existing_pattern})"
            ),
            RouteErrorKind::InvalidPrefix(prefix) => {
                write!(f, "group prefix {prefix:?} must start with /")
            }
        }
    }
}

impl std::error::Error for RouteError {}

/// Why [`Router::url_for`](crate::Router::url_for) could not build a URL.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum UrlError {
    /// No route has this name.
    NotFound(String),
    /// A parameter was given twice.
    DuplicateParam(String),
    /// The route has no parameter of this name.
    UnknownParam(String),
    /// A parameter of the route was not given.
    MissingParam(String),
    /// A parameter value is empty.
    EmptyParam(String),
}

impl fmt::Display for UrlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotFound(name) => write!(f, "named route {name:?} not found"),
            Self::DuplicateParam(p) => write!(f, "duplicate parameter {p:?}"),
            Self::UnknownParam(p) => write!(f, "unknown parameter {p:?}"),
            Self::MissingParam(p) => write!(f, "missing required parameter {p:?}"),
            Self::EmptyParam(p) => write!(f, "empty value for parameter {p:?}"),
        }
    }
}

impl std::error::Error for UrlError {}
