//! The error taxonomy shared by every Plumego service: each [`ErrorType`] has one
//! canonical category, code and HTTP status, so clients can branch on `code`
//! without knowing which layer produced the error.

use http::StatusCode;

/// The six broad families an error belongs to (`error.category` on the wire).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Category {
    /// The client sent something the server will not process.
    Client,
    /// The server failed.
    Server,
    /// Something took too long.
    Timeout,
    /// The input did not pass validation.
    Validation,
    /// Authentication or authorisation failed.
    Auth,
    /// The client is over its rate limit.
    RateLimit,
}

impl Category {
    /// The wire name, e.g. `client_error`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Client => "client_error",
            Self::Server => "server_error",
            Self::Timeout => "timeout_error",
            Self::Validation => "validation_error",
            Self::Auth => "auth_error",
            Self::RateLimit => "rate_limit_error",
        }
    }

    /// The category of an untyped error with this status.
    pub fn for_status(status: StatusCode) -> Self {
        match status.as_u16() {
            401 | 403 => Self::Auth,
            429 => Self::RateLimit,
            408 | 504 => Self::Timeout,
            500.. => Self::Server,
            _ => Self::Client,
        }
    }
}

/// Error codes that have no [`ErrorType`] of their own, plus the canonical ones.
pub mod codes {
    /// The request body is not valid JSON.
    pub const INVALID_JSON: &str = "INVALID_JSON";
    /// The query string is invalid.
    pub const INVALID_QUERY: &str = "INVALID_QUERY";
    /// Fallback code of unknown or untyped server errors.
    pub const INTERNAL_ERROR: &str = "INTERNAL_ERROR";
}

macro_rules! error_types {
    ($( $(#[$doc:meta])* $variant:ident => $name:literal, $category:ident, $code:literal, $status:literal; )*) => {
        /// Every error type of the contract, with its canonical meta.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum ErrorType {
            $( $(#[$doc])* $variant, )*
        }

        impl ErrorType {
            /// All types, in the order of the contract table.
            pub const ALL: &'static [ErrorType] = &[$(ErrorType::$variant),*];

            /// The wire name, e.g. `resource_not_found`.
            pub const fn as_str(self) -> &'static str {
                match self { $( Self::$variant => $name, )* }
            }

            /// Parses a wire name; unknown names give `None` (the error is then untyped).
            pub fn parse(name: &str) -> Option<Self> {
                match name { $( $name => Some(Self::$variant), )* _ => None }
            }

            /// The canonical category, code and status.
            pub const fn meta(self) -> ErrorMeta {
                match self {
                    $( Self::$variant => ErrorMeta {
                        category: Category::$category,
                        code: $code,
                        status: match StatusCode::from_u16($status) { Ok(s) => s, Err(_) => StatusCode::INTERNAL_SERVER_ERROR },
                    }, )*
                }
            }
        }
    };
}

error_types! {
    /// Input failed validation.
    ValidationFailure => "validation_failure", Validation, "VALIDATION_ERROR", 400;
    /// The request is malformed.
    BadRequest => "bad_request", Client, "BAD_REQUEST", 400;
    /// The request is well-formed but cannot be processed (422).
    InvalidRequest => "invalid_request", Client, "INVALID_REQUEST", 422;
    /// A required field is absent.
    RequiredFieldMissing => "required_field_missing", Validation, "REQUIRED_FIELD_MISSING", 400;
    /// A field has the wrong format.
    InvalidFormat => "invalid_format", Validation, "INVALID_FORMAT", 400;
    /// A value is outside its allowed range.
    ValueOutOfRange => "value_out_of_range", Validation, "VALUE_OUT_OF_RANGE", 400;
    /// A value must be unique and is not.
    DuplicateValue => "duplicate_value", Validation, "DUPLICATE_VALUE", 400;
    /// Authentication is required.
    Unauthorized => "unauthorized_request", Auth, "UNAUTHORIZED", 401;
    /// The principal may not do this.
    Forbidden => "forbidden_request", Auth, "FORBIDDEN", 403;
    /// The credential is invalid.
    InvalidToken => "invalid_token", Auth, "INVALID_TOKEN", 401;
    /// The credential has expired.
    ExpiredToken => "expired_token", Auth, "EXPIRED_TOKEN", 401;
    /// The resource does not exist.
    ResourceNotFound => "resource_not_found", Client, "RESOURCE_NOT_FOUND", 404;
    /// The request conflicts with the resource's state.
    ResourceConflict => "resource_conflict", Client, "RESOURCE_CONFLICT", 409;
    /// The resource already exists.
    ResourceAlreadyExists => "resource_already_exists", Client, "RESOURCE_ALREADY_EXISTS", 409;
    /// The resource existed and is gone.
    ResourceGone => "resource_gone", Client, "RESOURCE_GONE", 410;
    /// No acceptable representation.
    NotAcceptable => "not_acceptable", Client, "NOT_ACCEPTABLE", 406;
    /// The request body is too large.
    PayloadTooLarge => "payload_too_large", Client, "REQUEST_BODY_TOO_LARGE", 413;
    /// An unexpected server failure.
    Internal => "internal_error", Server, "INTERNAL_ERROR", 500;
    /// The service cannot answer now.
    ServiceUnavailable => "service_unavailable", Server, "SERVICE_UNAVAILABLE", 503;
    /// The client took too long (408).
    Timeout => "timeout_failure", Timeout, "TIMEOUT", 408;
    /// Too many requests.
    RateLimited => "rate_limited", RateLimit, "RATE_LIMITED", 429;
    /// The service is in maintenance.
    MaintenanceMode => "maintenance_mode", Server, "MAINTENANCE_MODE", 503;
    /// The method is not allowed on this resource.
    MethodNotAllowed => "method_not_allowed", Client, "METHOD_NOT_ALLOWED", 405;
    /// Not implemented.
    NotImplemented => "not_implemented", Server, "NOT_IMPLEMENTED", 501;
    /// An upstream answered badly.
    BadGateway => "bad_gateway", Server, "BAD_GATEWAY", 502;
    /// An upstream or the handler took too long (504).
    GatewayTimeout => "gateway_timeout", Timeout, "GATEWAY_TIMEOUT", 504;
}

/// The canonical category, code and status of an [`ErrorType`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ErrorMeta {
    /// `error.category` on the wire.
    pub category: Category,
    /// `error.code` on the wire unless overridden.
    pub code: &'static str,
    /// The HTTP status.
    pub status: StatusCode,
}

impl std::fmt::Display for ErrorType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::fmt::Display for Category {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The code of an untyped error with this status.
pub fn code_for_status(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 => "BAD_REQUEST",
        401 => "UNAUTHORIZED",
        403 => "FORBIDDEN",
        404 => "RESOURCE_NOT_FOUND",
        405 => "METHOD_NOT_ALLOWED",
        408 => "TIMEOUT",
        409 => "RESOURCE_CONFLICT",
        410 => "RESOURCE_GONE",
        413 => "REQUEST_BODY_TOO_LARGE",
        422 => "INVALID_REQUEST",
        429 => "RATE_LIMITED",
        501 => "NOT_IMPLEMENTED",
        502 => "BAD_GATEWAY",
        503 => "SERVICE_UNAVAILABLE",
        504 => "GATEWAY_TIMEOUT",
        500.. => codes::INTERNAL_ERROR,
        _ => "INVALID_REQUEST",
    }
}

/// The default message for a status: Go's `http.StatusText`, so envelopes match
/// the Go toolkit byte for byte (it differs from `canonical_reason` for a few codes).
pub fn status_text(status: StatusCode) -> &'static str {
    match status.as_u16() {
        413 => "Request Entity Too Large",
        414 => "Request URI Too Long",
        416 => "Requested Range Not Satisfiable",
        _ => status.canonical_reason().unwrap_or(""),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn there_are_26_types_and_names_round_trip() {
        assert_eq!(ErrorType::ALL.len(), 26);
        for t in ErrorType::ALL {
            assert_eq!(ErrorType::parse(t.as_str()), Some(*t));
        }
        assert_eq!(ErrorType::parse("nope"), None);
    }

    #[test]
    fn surprising_statuses_are_kept() {
        assert_eq!(ErrorType::InvalidRequest.meta().status, 422);
        assert_eq!(ErrorType::Timeout.meta().status, 408);
        assert_eq!(ErrorType::GatewayTimeout.meta().status, 504);
        assert_eq!(ErrorType::GatewayTimeout.meta().category, Category::Timeout);
        assert_eq!(
            ErrorType::PayloadTooLarge.meta().code,
            "REQUEST_BODY_TOO_LARGE"
        );
    }

    #[test]
    fn fallbacks_for_untyped_statuses() {
        let s = |n| StatusCode::from_u16(n).unwrap();
        assert_eq!(Category::for_status(s(401)), Category::Auth);
        assert_eq!(Category::for_status(s(429)), Category::RateLimit);
        assert_eq!(Category::for_status(s(504)), Category::Timeout);
        assert_eq!(Category::for_status(s(418)), Category::Client);
        assert_eq!(Category::for_status(s(599)), Category::Server);
        assert_eq!(code_for_status(s(418)), "INVALID_REQUEST");
        assert_eq!(code_for_status(s(507)), "INTERNAL_ERROR");
        assert_eq!(status_text(s(413)), "Request Entity Too Large");
        assert_eq!(status_text(s(404)), "Not Found");
    }
}
