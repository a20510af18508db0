//! OpenTelemetry HTTP semantic-convention names and the low-cardinality
//! labels both the metrics and the tracing layer derive from a request, kept
//! in one place so the two always agree.

use http::{Method, Uri};

/// The `http.request.method` value of methods outside the conventions' list
/// (also the `error.type` when the failure has no better name).
pub(crate) const OTHER: &str = "_OTHER";

pub(crate) const ATTR_METHOD: &str = "http.request.method";
pub(crate) const ATTR_SCHEME: &str = "url.scheme";
pub(crate) const ATTR_ROUTE: &str = "http.route";
pub(crate) const ATTR_STATUS: &str = "http.response.status_code";
pub(crate) const ATTR_ERROR_TYPE: &str = "error.type";

/// The `http.request.method` value for `method`: the method itself when the
/// conventions list it, otherwise `_OTHER`, so that a client inventing
/// methods cannot create series.
///
/// ```
/// use plumego_layers::http_metrics::method_label;
/// assert_eq!(method_label(&http::Method::PATCH), "PATCH");
/// assert_eq!(method_label(&http::Method::from_bytes(b"PURGE").unwrap()), "_OTHER");
/// ```
pub fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::CONNECT => "CONNECT",
        Method::OPTIONS => "OPTIONS",
        Method::TRACE => "TRACE",
        Method::PATCH => "PATCH",
        _ => OTHER,
    }
}

/// The `url.scheme` value: the URI's scheme when it is `http` or `https`,
/// otherwise the server's own (`https` when it terminates TLS). Server requests
/// usually arrive in origin form, without a scheme; anything else a client
/// writes is not trusted as a label.
pub(crate) fn scheme_label(uri: &Uri, https: bool) -> &'static str {
    match uri.scheme_str() {
        Some(s) if s.eq_ignore_ascii_case("https") => "https",
        Some(s) if s.eq_ignore_ascii_case("http") => "http",
        _ if https => "https",
        _ => "http",
    }
}
