//! CORS: Plumego's options and defaults on tower-http's [`CorsLayer`](tower_http::cors::CorsLayer).
//!
//! tower-http writes the CORS headers; this layer adds Plumego's contract on
//! top, because tower-http alone answers every `OPTIONS` request itself and
//! adds CORS headers whatever the origin:
//!
//! - a request without `Origin` passes through, untouched but for `Vary`;
//! - a request from an origin that is not allowed (exact, case-sensitive
//!   match) passes through **without any CORS header**, and the handler runs;
//! - a preflight is `OPTIONS` with `Origin` and `Access-Control-Request-Method`.
//!   When the method and every requested header are allowed (case-insensitive),
//!   it is answered **204** with the CORS headers and the handler does not run;
//!   otherwise it passes through to the handler without CORS headers, as in Go;
//! - any other request from an allowed origin gets `Access-Control-Allow-Origin`,
//!   `Access-Control-Allow-Credentials` when enabled and
//!   `Access-Control-Expose-Headers`, then runs the handler;
//! - with origins `*` the allowed origin is `*`, or the request's origin
//!   reflected when credentials are on (a browser rejects `*` with credentials).
//!
//! Differences from the Go toolkit, on purpose:
//!
//! - `Vary: Origin` is added to **every** response that passes through the
//!   layer, not only to CORS responses. Whether a response carries
//!   `Access-Control-Allow-Origin` depends on `Origin`, so a shared cache that
//!   stored a response to a request without `Origin` could otherwise serve it to
//!   a cross-origin request and break it (Fetch standard, "CORS protocol and
//!   HTTP caches"). Preflights also vary on `Access-Control-Request-Method` and
//!   `Access-Control-Request-Headers`. Tokens are appended as separate values
//!   and deduplicated case-insensitively against the existing ones, as in Go.
//! - tower-http joins `Access-Control-Allow-Methods` with `,` where Go used `, `
//!   (equivalent for browsers).
//! - Requested headers are echoed (they were checked first); a preflight that
//!   requests no header gets no `Access-Control-Allow-Headers` rather than the
//!   configured list (nothing was asked for, so browsers need nothing).
//! - An `OPTIONS` request without `Access-Control-Request-Method` is not a
//!   preflight and passes through without CORS headers (Go treated it as an
//!   actual CORS request). Browsers only send it cross-origin after a preflight
//!   for a script-issued `OPTIONS`, which is vanishingly rare.
//! - Bad options (an origin with a path, an invalid method or header name,
//!   `*` exposed headers with credentials) are errors at construction; tower-http
//!   would panic on some of them at the first request.
//!
//! ```
//! use plumego_layers::cors::CorsOptions;
//! use tower::{ServiceBuilder, ServiceExt};
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let cors = CorsOptions::strict(["https://app.example"]).unwrap().into_layer().unwrap();
//! let svc = ServiceBuilder::new().layer(cors).service_fn(|_req: http::Request<()>| async {
//!     Ok::<_, std::convert::Infallible>(http::Response::new(http_body_util::Empty::<bytes::Bytes>::new()))
//! });
//! let req = http::Request::options("/items")
//!     .header("origin", "https://app.example")
//!     .header("access-control-request-method", "PUT")
//!     .body(())
//!     .unwrap();
//! let res = svc.oneshot(req).await.unwrap();
//! assert_eq!(res.status(), 204);
//! assert_eq!(res.headers()["access-control-allow-origin"], "https://app.example");
//! # });
//! ```

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, Response, StatusCode, header};
use pin_project_lite::pin_project;
use tower::{Layer, Service};
use tower_http::cors::{AllowHeaders, AllowMethods, AllowOrigin, ExposeHeaders, Vary};

/// The methods allowed by default.
pub const DEFAULT_METHODS: &[&str] = &["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];

/// The request headers allowed by default.
pub const DEFAULT_HEADERS: &[&str] = &[
    "Accept",
    "Accept-Language",
    "Content-Language",
    "Content-Type",
    "Authorization",
];

/// CORS options. Every list is trimmed and blank entries are dropped when the
/// layer is built; `*` in a list means "any".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CorsOptions {
    /// Allowed origins, matched exactly (`https://app.example`, no path), or
    /// `*`. Default `*`.
    pub allowed_origins: Vec<String>,
    /// Methods a preflight may ask for (case-insensitive), or `*`. Default
    /// [`DEFAULT_METHODS`].
    pub allowed_methods: Vec<String>,
    /// Headers a preflight may ask for (case-insensitive), or `*`. Default
    /// [`DEFAULT_HEADERS`].
    pub allowed_headers: Vec<String>,
    /// Send `Access-Control-Allow-Credentials: true`. Default false.
    pub allow_credentials: bool,
    /// Response headers scripts may read (`Access-Control-Expose-Headers`), or
    /// `*` (not with credentials). Default none.
    pub expose_headers: Vec<String>,
    /// How long a browser may cache a preflight, sent in whole seconds when at
    /// least one second. Default zero (not sent).
    pub max_age: Duration,
}

impl Default for CorsOptions {
    fn default() -> Self {
        Self {
            allowed_origins: vec!["*".to_owned()],
            allowed_methods: to_strings(DEFAULT_METHODS),
            allowed_headers: to_strings(DEFAULT_HEADERS),
            allow_credentials: false,
            expose_headers: Vec::new(),
            max_age: Duration::ZERO,
        }
    }
}

fn to_strings(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

fn collect<I, S>(items: I) -> Vec<String>
where
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    items.into_iter().map(Into::into).collect()
}

impl CorsOptions {
    /// The defaults restricted to explicit origins: at least one non-blank
    /// origin is required and `*` is refused, so a production service cannot
    /// end up open to every site by accident.
    ///
    /// ```
    /// use plumego_layers::cors::{CorsError, CorsOptions};
    ///
    /// assert!(CorsOptions::strict([" https://a.example ", ""]).is_ok());
    /// assert_eq!(CorsOptions::strict(["  "]), Err(CorsError::StrictOriginsRequired));
    /// assert_eq!(CorsOptions::strict(["*"]), Err(CorsError::StrictWildcardOrigin));
    /// ```
    pub fn strict<I, S>(origins: I) -> Result<Self, CorsError>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let origins: Vec<String> = normalize(&collect(origins))
            .into_iter()
            .map(str::to_owned)
            .collect();
        if origins.is_empty() {
            return Err(CorsError::StrictOriginsRequired);
        }
        if origins.iter().any(|o| o == "*") {
            return Err(CorsError::StrictWildcardOrigin);
        }
        Ok(Self {
            allowed_origins: origins,
            ..Self::default()
        })
    }

    /// Replaces the allowed origins.
    #[must_use]
    pub fn allowed_origins<I, S>(mut self, origins: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.allowed_origins = collect(origins);
        self
    }

    /// Replaces the allowed methods.
    #[must_use]
    pub fn allowed_methods<I, S>(mut self, methods: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.allowed_methods = collect(methods);
        self
    }

    /// Replaces the allowed request headers.
    #[must_use]
    pub fn allowed_headers<I, S>(mut self, headers: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.allowed_headers = collect(headers);
        self
    }

    /// Whether credentialed requests are allowed.
    #[must_use]
    pub fn allow_credentials(mut self, enabled: bool) -> Self {
        self.allow_credentials = enabled;
        self
    }

    /// Replaces the exposed response headers.
    #[must_use]
    pub fn expose_headers<I, S>(mut self, headers: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.expose_headers = collect(headers);
        self
    }

    /// Sets the preflight cache lifetime.
    #[must_use]
    pub fn max_age(mut self, max_age: Duration) -> Self {
        self.max_age = max_age;
        self
    }

    /// Validates the options and builds the layer.
    ///
    /// ```
    /// use plumego_layers::cors::{CorsError, CorsOptions};
    ///
    /// let bad = CorsOptions::default().allowed_origins(["https://a.example/"]);
    /// assert_eq!(bad.into_layer().unwrap_err(), CorsError::InvalidOrigin("https://a.example/".into()));
    /// ```
    pub fn into_layer(self) -> Result<CorsLayer, CorsError> {
        let origins = normalize(&self.allowed_origins);
        if origins.is_empty() {
            return Err(CorsError::NoOrigins);
        }
        let origins = if origins.contains(&"*") {
            Origins::Any
        } else {
            let mut values = Vec::with_capacity(origins.len());
            for origin in origins {
                values.push(parse_origin(origin)?);
            }
            Origins::List(values)
        };

        let methods = normalize(&self.allowed_methods);
        let methods = if methods.contains(&"*") {
            None
        } else {
            let mut parsed = Vec::with_capacity(methods.len());
            for m in methods {
                let method = Method::from_bytes(m.to_ascii_uppercase().as_bytes())
                    .map_err(|_| CorsError::InvalidMethod(m.to_owned()))?;
                if !parsed.contains(&method) {
                    parsed.push(method);
                }
            }
            Some(parsed)
        };

        let headers = parse_header_list(&self.allowed_headers)?;
        let expose = parse_header_list(&self.expose_headers)?;
        if expose.is_none() && self.allow_credentials {
            return Err(CorsError::WildcardExposeWithCredentials);
        }

        let allow_origin = match &origins {
            Origins::Any if self.allow_credentials => AllowOrigin::mirror_request(),
            Origins::Any => AllowOrigin::any(),
            Origins::List(list) => AllowOrigin::list(list.iter().cloned()),
        };
        let allow_methods = match &methods {
            None => AllowMethods::mirror_request(),
            Some(list) => AllowMethods::list(list.iter().cloned()),
        };
        let mut tower = tower_http::cors::CorsLayer::new()
            .allow_origin(allow_origin)
            .allow_methods(allow_methods)
            // Only preflights whose headers were all checked reach tower-http,
            // so echoing the request is both Go's behaviour and safe.
            .allow_headers(AllowHeaders::mirror_request())
            .allow_credentials(self.allow_credentials)
            // `Vary` is written by this layer, deduplicated, on every response.
            .vary(Vary::list([]));
        match expose {
            None => tower = tower.expose_headers(ExposeHeaders::any()),
            Some(list) if !list.is_empty() => {
                tower = tower.expose_headers(ExposeHeaders::list(list))
            }
            Some(_) => {}
        }
        if self.max_age.as_secs() > 0 {
            tower = tower.max_age(Duration::from_secs(self.max_age.as_secs()));
        }

        Ok(CorsLayer {
            tower,
            policy: Arc::new(Policy {
                origins,
                methods,
                headers,
            }),
        })
    }
}

/// Trims, drops blanks and duplicates, keeping the first occurrence's order.
fn normalize(list: &[String]) -> Vec<&str> {
    let mut out: Vec<&str> = Vec::with_capacity(list.len());
    for item in list {
        let item = item.trim();
        if !item.is_empty() && !out.contains(&item) {
            out.push(item);
        }
    }
    out
}

/// An origin is `scheme://host[:port]`: a trailing slash or path would never
/// match the `Origin` header a browser sends, so it is refused up front.
fn parse_origin(origin: &str) -> Result<HeaderValue, CorsError> {
    let invalid = || CorsError::InvalidOrigin(origin.to_owned());
    let uri: http::Uri = origin.parse().map_err(|_| invalid())?;
    let (Some(scheme), Some(authority)) = (uri.scheme_str(), uri.authority()) else {
        return Err(invalid());
    };
    // `Uri` reports a path of `/` whether or not one was written, so compare
    // the text: nothing may follow the authority.
    if origin.len() != scheme.len() + "://".len() + authority.as_str().len() {
        return Err(invalid());
    }
    HeaderValue::from_str(origin).map_err(|_| invalid())
}

/// `None` means `*`.
fn parse_header_list(list: &[String]) -> Result<Option<Vec<HeaderName>>, CorsError> {
    let items = normalize(list);
    if items.contains(&"*") {
        return Ok(None);
    }
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        let name = HeaderName::from_bytes(item.as_bytes())
            .map_err(|_| CorsError::InvalidHeader(item.to_owned()))?;
        if !out.contains(&name) {
            out.push(name);
        }
    }
    Ok(Some(out))
}

/// Why CORS options were refused.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CorsError {
    /// [`CorsOptions::strict`] got no non-blank origin.
    StrictOriginsRequired,
    /// [`CorsOptions::strict`] got `*`.
    StrictWildcardOrigin,
    /// No non-blank origin: the layer would never allow anything.
    NoOrigins,
    /// An origin is not `scheme://host[:port]`.
    InvalidOrigin(String),
    /// A method is not a valid HTTP method token.
    InvalidMethod(String),
    /// A header is not a valid header name.
    InvalidHeader(String),
    /// `*` exposed headers with credentials, which browsers do not honour.
    WildcardExposeWithCredentials,
}

impl fmt::Display for CorsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::StrictOriginsRequired => {
                f.write_str("cors: strict options require at least one allowed origin")
            }
            Self::StrictWildcardOrigin => {
                f.write_str("cors: strict options do not allow the wildcard origin `*`")
            }
            Self::NoOrigins => f.write_str("cors: no allowed origin configured"),
            Self::InvalidOrigin(o) => write!(
                f,
                "cors: invalid origin {o:?}: expected `*` or scheme://host[:port] without a path"
            ),
            Self::InvalidMethod(m) => write!(f, "cors: invalid method {m:?}"),
            Self::InvalidHeader(h) => write!(f, "cors: invalid header name {h:?}"),
            Self::WildcardExposeWithCredentials => f.write_str(
                "cors: exposed headers `*` cannot be combined with credentials; list the headers",
            ),
        }
    }
}

impl std::error::Error for CorsError {}

#[derive(Debug)]
enum Origins {
    Any,
    List(Vec<HeaderValue>),
}

/// The checks tower-http does not make: which requests are CORS at all.
#[derive(Debug)]
struct Policy {
    origins: Origins,
    /// `None` is `*`.
    methods: Option<Vec<Method>>,
    /// `None` is `*`.
    headers: Option<Vec<HeaderName>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route {
    Passthrough,
    Actual,
    Preflight,
}

impl Policy {
    fn route(&self, headers: &HeaderMap, method: &Method) -> Route {
        let Some(origin) = headers.get(header::ORIGIN) else {
            return Route::Passthrough;
        };
        let allowed = match &self.origins {
            Origins::Any => true,
            Origins::List(list) => list.iter().any(|o| o == origin),
        };
        if !allowed {
            return Route::Passthrough;
        }
        if method != Method::OPTIONS {
            return Route::Actual;
        }
        match headers.get(header::ACCESS_CONTROL_REQUEST_METHOD) {
            Some(requested) if self.method_allowed(requested) && self.headers_allowed(headers) => {
                Route::Preflight
            }
            _ => Route::Passthrough,
        }
    }

    fn method_allowed(&self, requested: &HeaderValue) -> bool {
        let Ok(requested) = requested.to_str() else {
            return false;
        };
        let requested = requested.trim();
        if requested.is_empty() {
            return false;
        }
        match &self.methods {
            None => true,
            Some(list) => list
                .iter()
                .any(|m| m.as_str().eq_ignore_ascii_case(requested)),
        }
    }

    fn headers_allowed(&self, headers: &HeaderMap) -> bool {
        let Some(list) = &self.headers else {
            return true;
        };
        headers
            .get_all(header::ACCESS_CONTROL_REQUEST_HEADERS)
            .iter()
            .all(|value| {
                value.to_str().is_ok_and(|value| {
                    value
                        .split(',')
                        .map(str::trim)
                        .filter(|h| !h.is_empty())
                        .all(|h| list.iter().any(|a| a.as_str().eq_ignore_ascii_case(h)))
                })
            })
    }
}

/// Adds [`CorsService`]. Built by [`CorsOptions::into_layer`].
#[derive(Debug, Clone)]
pub struct CorsLayer {
    tower: tower_http::cors::CorsLayer,
    policy: Arc<Policy>,
}

impl<S> Layer<S> for CorsLayer {
    type Service = CorsService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        CorsService {
            cors: self.tower.layer(inner),
            policy: self.policy.clone(),
        }
    }
}

/// Answers allowed preflights, adds CORS headers to allowed requests and lets
/// everything else through untouched (but for `Vary: Origin`).
#[derive(Debug, Clone)]
pub struct CorsService<S> {
    cors: tower_http::cors::Cors<S>,
    policy: Arc<Policy>,
}

impl<S, ReqB, ResB> Service<Request<ReqB>> for CorsService<S>
where
    S: Service<Request<ReqB>, Response = Response<ResB>>,
    ResB: Default,
{
    type Response = Response<ResB>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        // tower-http's readiness is the inner service's readiness.
        self.cors.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqB>) -> Self::Future {
        let route = self.policy.route(req.headers(), req.method());
        let kind = match route {
            Route::Passthrough => Kind::Passthrough {
                fut: self.cors.get_mut().call(req),
            },
            Route::Actual | Route::Preflight => Kind::Cors {
                fut: self.cors.call(req),
            },
        };
        ResponseFuture {
            kind,
            preflight: route == Route::Preflight,
        }
    }
}

pin_project! {
    /// The response future of [`CorsService`].
    pub struct ResponseFuture<F> {
        #[pin]
        kind: Kind<F>,
        preflight: bool,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<F> {
        Cors {
            #[pin]
            fut: tower_http::cors::ResponseFuture<F>,
        },
        Passthrough {
            #[pin]
            fut: F,
        },
    }
}

impl<F, ResB, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<ResB>, E>>,
    ResB: Default,
{
    type Output = Result<Response<ResB>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let mut res = match this.kind.project() {
            KindProj::Cors { fut } => ready!(fut.poll(cx))?,
            KindProj::Passthrough { fut } => ready!(fut.poll(cx))?,
        };
        let headers = res.headers_mut();
        add_vary(headers, "Origin");
        if *this.preflight {
            add_vary(headers, "Access-Control-Request-Method");
            add_vary(headers, "Access-Control-Request-Headers");
            // tower-http answers preflights 200; Plumego's contract is 204.
            *res.status_mut() = StatusCode::NO_CONTENT;
        }
        Poll::Ready(Ok(res))
    }
}

/// Appends `token` to `Vary` unless a value already lists it (or `*`).
fn add_vary(headers: &mut HeaderMap, token: &'static str) {
    let present = headers.get_all(header::VARY).iter().any(|value| {
        value.to_str().is_ok_and(|value| {
            value
                .split(',')
                .map(str::trim)
                .any(|t| t == "*" || t.eq_ignore_ascii_case(token))
        })
    });
    if !present {
        headers.append(header::VARY, HeaderValue::from_static(token));
    }
}
