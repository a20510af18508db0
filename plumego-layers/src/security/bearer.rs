//! `Authorization: Bearer <token>` parsing (RFC 6750 §2.1), strict as in the
//! Go toolkit: the scheme is case-insensitive and followed by a space or tab,
//! the token is non-empty and has no whitespace inside. Tokens in the query
//! string are never read: URLs end up in logs, proxies and browser history.
//!
//! One difference from Go: a request with several `Authorization` headers has
//! no bearer token (Go took the first); which one a proxy or a framework
//! would pick is ambiguous, and ambiguity in credentials is refused.
//!
//! ```
//! use plumego_layers::security::parse_bearer;
//!
//! assert_eq!(parse_bearer("Bearer abc.def"), Some("abc.def"));
//! assert_eq!(parse_bearer("  bEaReR\tabc "), Some("abc"));
//! assert_eq!(parse_bearer("Bearer a b"), None);
//! assert_eq!(parse_bearer("Bearerabc"), None);
//! assert_eq!(parse_bearer("Basic abc"), None);
//! ```

use http::HeaderMap;
use http::header::AUTHORIZATION;

const SCHEME: &str = "bearer";

/// The token of an `Authorization` header value, or `None` when the value is
/// not a well-formed bearer credential.
pub fn parse_bearer(value: &str) -> Option<&str> {
    let token = credentials(value, SCHEME)?;
    if token.is_empty() || token.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return None;
    }
    Some(token)
}

/// The bearer token of a request's headers: exactly one `Authorization`
/// header, valid UTF-8, parsed by [`parse_bearer`].
pub fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    parse_bearer(single_authorization(headers)?)
}

/// What follows `scheme` in an `Authorization` value: the value trimmed, the
/// scheme matched ignoring ASCII case, then at least one space or tab (and
/// nothing else) before the credentials.
pub(crate) fn credentials<'a>(value: &'a str, scheme: &str) -> Option<&'a str> {
    let value = value.trim();
    let head = value.get(..scheme.len())?;
    if !head.eq_ignore_ascii_case(scheme) {
        return None;
    }
    let rest = &value[scheme.len()..];
    if !rest.starts_with([' ', '\t']) {
        return None;
    }
    Some(rest.trim_start_matches([' ', '\t']))
}

/// The text of the request's `Authorization` header when there is exactly
/// one (several are ambiguous, so none is used).
pub(crate) fn single_authorization(headers: &HeaderMap) -> Option<&str> {
    let mut values = headers.get_all(AUTHORIZATION).iter();
    let value = values.next()?;
    if values.next().is_some() {
        return None;
    }
    value.to_str().ok()
}
