//! Router policies.

/// What the router does with a trailing slash (`/users/`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TrailingSlash {
    /// `/users/` matches `/users` (the Go toolkit's behaviour).
    #[default]
    Ignore,
    /// `/users/` is answered with a 308 redirect to `/users` when that route exists.
    Redirect,
    /// `/users/` only matches a route registered with the slash... which
    /// registration normalises away, so in practice it does not match.
    Strict,
}

/// What a request gets when the path exists for other methods only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MethodMismatch {
    /// 405 with `Allow` and the JSON error envelope.
    #[default]
    MethodNotAllowed,
    /// The fallback (404), as the Go toolkit does by default.
    NotFound,
}

/// Router policies; see each field for its default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RouterConfig {
    /// Trailing-slash policy. Default [`TrailingSlash::Ignore`].
    pub trailing_slash: TrailingSlash,
    /// Method-mismatch policy. Default [`MethodMismatch::MethodNotAllowed`].
    pub method_mismatch: MethodMismatch,
    /// Answer `OPTIONS` with 204 and `Allow` when no route handles it. Default on.
    pub auto_options: bool,
}

impl Default for RouterConfig {
    fn default() -> Self {
        Self {
            trailing_slash: TrailingSlash::Ignore,
            method_mismatch: MethodMismatch::MethodNotAllowed,
            auto_options: true,
        }
    }
}
