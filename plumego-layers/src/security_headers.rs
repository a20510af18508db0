//! Security response headers from a validated policy, with HSTS on HTTPS only.
//!
//! Presets: [`SecurityHeadersConfig::api`] (the default: `X-Frame-Options:
//! SAMEORIGIN`, `X-Content-Type-Options: nosniff`, `Referrer-Policy:
//! strict-origin-when-cross-origin`), [`SecurityHeadersConfig::web`] (the same
//! plus a same-origin `Content-Security-Policy`) and
//! [`SecurityHeadersConfig::strict`] (`DENY`, `no-referrer`, a locked-down
//! `Permissions-Policy`, the cross-origin isolation headers, [`STRICT_CSP`] and
//! a one-year HSTS with subdomains and preload).
//!
//! The policy is validated when the layer is built ([`SecurityHeadersLayer::new`]);
//! every problem is reported at once. A header the handler already set is kept,
//! so a route can relax or tighten its own CSP.
//!
//! **HTTPS.** `Strict-Transport-Security` is only sent when the request is
//! HTTPS: it arrived on the Plumego server's TLS listener
//! ([`TlsConnection`](plumego_core::context::TlsConnection) extension), its URI
//! scheme is `https` (HTTP/2 `:scheme`, absolute-form requests),
//! [`SecurityHeadersConfig::assume_https`] is on, or it came from a
//! [trusted proxy](SecurityHeadersConfig::trusted_proxies) (by the
//! [`PeerAddr`] extension) with every `X-Forwarded-Proto` value `https` or every
//! `Forwarded` element `proto=https`. `X-Forwarded-SSL` is not trusted. Go
//! trusted the forwarded headers from any client; here only listed proxies are
//! believed. Behind another TLS terminator that sets none of these, turn on
//! `assume_https`.
//!
//! **Panics.** The headers are set on the response coming back, so they are on
//! every response that reaches this layer, including the 500 that a recovery
//! layer writes for a panic, provided this layer is **outside** recovery:
//! `ServiceBuilder::new().layer(security_headers).layer(recovery)` (Go set them
//! before calling the handler for the same reason).
//!
//! Values may not hold control characters other than tab, as in Go. Stricter
//! than Go, on purpose: HSTS `max-age=0` (which removes HSTS) cannot be combined with `includeSubDomains`
//! or `preload`, and `preload` needs `includeSubDomains` and at least a year
//! (the preload list's requirements).
//!
//! ```
//! use plumego_layers::security_headers::{Hsts, SecurityHeadersConfig, SecurityHeadersLayer};
//! use tower::{ServiceBuilder, ServiceExt};
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let layer = SecurityHeadersLayer::new(
//!     SecurityHeadersConfig::api().hsts(Hsts::new(31_536_000).include_subdomains(true)),
//! )
//! .unwrap();
//! let svc = ServiceBuilder::new().layer(layer).service_fn(|_req: http::Request<()>| async {
//!     Ok::<_, std::convert::Infallible>(http::Response::new(http_body_util::Empty::<bytes::Bytes>::new()))
//! });
//! let req = http::Request::get("https://api.example/items").body(()).unwrap();
//! let res = svc.oneshot(req).await.unwrap();
//! assert_eq!(res.headers()["x-frame-options"], "SAMEORIGIN");
//! assert_eq!(res.headers()["strict-transport-security"], "max-age=31536000; includeSubDomains");
//! # });
//! ```

use std::fmt;
use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use http::uri::Scheme;
use http::{HeaderMap, HeaderName, HeaderValue, Request, Response, header};
use pin_project_lite::pin_project;
use plumego_core::context::PeerAddr;
use tower::{Layer, Service};

/// The CSP of [`SecurityHeadersConfig::strict`].
pub const STRICT_CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
img-src 'self' data: https:; font-src 'self'; connect-src 'self'; frame-src 'none'; \
object-src 'none'; form-action 'self'; frame-ancestors 'none'; base-uri 'self'; \
upgrade-insecure-requests";

/// The CSP of [`SecurityHeadersConfig::web`]: same-origin resources, images
/// from anywhere over HTTPS, no plugins, framing by the same origin only
/// (matching `X-Frame-Options: SAMEORIGIN`).
pub const WEB_CSP: &str = "default-src 'self'; img-src 'self' data: https:; object-src 'none'; \
base-uri 'self'; form-action 'self'; frame-ancestors 'self'";

/// One year, in seconds: the HSTS max-age of the strict preset and the
/// minimum for `preload`.
pub const ONE_YEAR_SECS: u64 = 31_536_000;

/// `Strict-Transport-Security` options.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hsts {
    /// `max-age`, in seconds.
    pub max_age_secs: u64,
    /// Add `includeSubDomains`.
    pub include_subdomains: bool,
    /// Add `preload`.
    pub preload: bool,
}

impl Hsts {
    /// HSTS for `max_age_secs`, without subdomains or preload.
    pub const fn new(max_age_secs: u64) -> Self {
        Self {
            max_age_secs,
            include_subdomains: false,
            preload: false,
        }
    }

    /// Whether to add `includeSubDomains`.
    #[must_use]
    pub const fn include_subdomains(mut self, enabled: bool) -> Self {
        self.include_subdomains = enabled;
        self
    }

    /// Whether to add `preload`.
    #[must_use]
    pub const fn preload(mut self, enabled: bool) -> Self {
        self.preload = enabled;
        self
    }

    /// `max-age=<secs>[; includeSubDomains][; preload]`.
    pub fn header_value(&self) -> String {
        let mut value = format!("max-age={}", self.max_age_secs);
        if self.include_subdomains {
            value.push_str("; includeSubDomains");
        }
        if self.preload {
            value.push_str("; preload");
        }
        value
    }
}

/// The security header policy. `None` leaves a header out; values are trimmed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecurityHeadersConfig {
    /// `X-Frame-Options`: `DENY` or `SAMEORIGIN`.
    pub frame_options: Option<String>,
    /// `X-Content-Type-Options`: `nosniff`.
    pub content_type_options: Option<String>,
    /// `Referrer-Policy`: one of the eight policy tokens.
    pub referrer_policy: Option<String>,
    /// `Permissions-Policy`, free-form.
    pub permissions_policy: Option<String>,
    /// `Content-Security-Policy`, free-form.
    pub content_security_policy: Option<String>,
    /// `Cross-Origin-Opener-Policy`: `same-origin`, `same-origin-allow-popups`
    /// or `unsafe-none`.
    pub cross_origin_opener_policy: Option<String>,
    /// `Cross-Origin-Resource-Policy`: `same-origin`, `same-site` or `cross-origin`.
    pub cross_origin_resource_policy: Option<String>,
    /// `Cross-Origin-Embedder-Policy`: `require-corp`, `credentialless` or
    /// `unsafe-none`.
    pub cross_origin_embedder_policy: Option<String>,
    /// HSTS, sent on HTTPS requests only.
    pub hsts: Option<Hsts>,
    /// More headers, set after the ones above.
    pub additional: Vec<(String, String)>,
    /// Peers whose `X-Forwarded-Proto` / `Forwarded` is believed: IP
    /// addresses or CIDR ranges (`10.0.0.0/8`, `fd00::/8`). Default none.
    pub trusted_proxies: Vec<String>,
    /// Treat every request as HTTPS (the service is only reachable over TLS).
    /// Default false.
    pub assume_https: bool,
}

impl Default for SecurityHeadersConfig {
    /// [`SecurityHeadersConfig::api`].
    fn default() -> Self {
        Self::api()
    }
}

fn some(value: &str) -> Option<String> {
    Some(value.to_owned())
}

impl SecurityHeadersConfig {
    /// Go's default policy, for JSON APIs: `X-Frame-Options: SAMEORIGIN`,
    /// `X-Content-Type-Options: nosniff`, `Referrer-Policy:
    /// strict-origin-when-cross-origin`; no HSTS.
    pub fn api() -> Self {
        Self {
            frame_options: some("SAMEORIGIN"),
            content_type_options: some("nosniff"),
            referrer_policy: some("strict-origin-when-cross-origin"),
            permissions_policy: None,
            content_security_policy: None,
            cross_origin_opener_policy: None,
            cross_origin_resource_policy: None,
            cross_origin_embedder_policy: None,
            hsts: None,
            additional: Vec::new(),
            trusted_proxies: Vec::new(),
            assume_https: false,
        }
    }

    /// [`api`](Self::api) plus [`WEB_CSP`], for services that serve pages.
    pub fn web() -> Self {
        Self {
            content_security_policy: some(WEB_CSP),
            ..Self::api()
        }
    }

    /// Go's strict policy: `DENY`, `nosniff`, `no-referrer`,
    /// `geolocation=(), camera=(), microphone=()`, COOP and CORP `same-origin`,
    /// COEP `require-corp`, [`STRICT_CSP`] and HSTS for a year with
    /// `includeSubDomains` and `preload`.
    pub fn strict() -> Self {
        Self {
            frame_options: some("DENY"),
            content_type_options: some("nosniff"),
            referrer_policy: some("no-referrer"),
            permissions_policy: some("geolocation=(), camera=(), microphone=()"),
            content_security_policy: some(STRICT_CSP),
            cross_origin_opener_policy: some("same-origin"),
            cross_origin_resource_policy: some("same-origin"),
            cross_origin_embedder_policy: some("require-corp"),
            hsts: Some(
                Hsts::new(ONE_YEAR_SECS)
                    .include_subdomains(true)
                    .preload(true),
            ),
            additional: Vec::new(),
            trusted_proxies: Vec::new(),
            assume_https: false,
        }
    }

    /// Sets (or with `None`, removes) HSTS.
    #[must_use]
    pub fn hsts(mut self, hsts: impl Into<Option<Hsts>>) -> Self {
        self.hsts = hsts.into();
        self
    }

    /// Sets the `Content-Security-Policy`.
    #[must_use]
    pub fn content_security_policy(mut self, csp: impl Into<String>) -> Self {
        self.content_security_policy = Some(csp.into());
        self
    }

    /// Adds a header.
    #[must_use]
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.additional.push((name.into(), value.into()));
        self
    }

    /// Replaces the trusted proxies.
    #[must_use]
    pub fn trusted_proxies<I, S>(mut self, proxies: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.trusted_proxies = proxies.into_iter().map(Into::into).collect();
        self
    }

    /// Whether every request counts as HTTPS.
    #[must_use]
    pub fn assume_https(mut self, enabled: bool) -> Self {
        self.assume_https = enabled;
        self
    }

    /// Checks the policy; every problem is listed in the error.
    ///
    /// ```
    /// use plumego_layers::security_headers::{Hsts, SecurityHeadersConfig};
    ///
    /// let mut config = SecurityHeadersConfig::api().hsts(Hsts::new(0).include_subdomains(true));
    /// config.frame_options = Some("ALLOW-FROM x".into());
    /// let err = config.validate().unwrap_err();
    /// assert_eq!(err.issues().len(), 2);
    /// ```
    pub fn validate(&self) -> Result<(), SecurityHeadersError> {
        self.compile().map(|_| ())
    }

    fn compile(&self) -> Result<Compiled, SecurityHeadersError> {
        let mut issues = Vec::new();
        let mut headers = Vec::new();
        let enums: [Field<'_>; 8] = [
            (
                &header::X_FRAME_OPTIONS,
                &self.frame_options,
                Some(&["deny", "sameorigin"]),
            ),
            (
                &header::X_CONTENT_TYPE_OPTIONS,
                &self.content_type_options,
                Some(&["nosniff"]),
            ),
            (
                &header::REFERRER_POLICY,
                &self.referrer_policy,
                Some(&[
                    "no-referrer",
                    "no-referrer-when-downgrade",
                    "origin",
                    "origin-when-cross-origin",
                    "same-origin",
                    "strict-origin",
                    "strict-origin-when-cross-origin",
                    "unsafe-url",
                ]),
            ),
            (&PERMISSIONS_POLICY, &self.permissions_policy, None),
            (
                &header::CONTENT_SECURITY_POLICY,
                &self.content_security_policy,
                None,
            ),
            (
                &CROSS_ORIGIN_OPENER_POLICY,
                &self.cross_origin_opener_policy,
                Some(&["same-origin", "same-origin-allow-popups", "unsafe-none"]),
            ),
            (
                &CROSS_ORIGIN_RESOURCE_POLICY,
                &self.cross_origin_resource_policy,
                Some(&["same-origin", "same-site", "cross-origin"]),
            ),
            (
                &CROSS_ORIGIN_EMBEDDER_POLICY,
                &self.cross_origin_embedder_policy,
                Some(&["require-corp", "credentialless", "unsafe-none"]),
            ),
        ];
        for (name, value, allowed) in enums {
            let Some(value) = value else { continue };
            let value = value.trim();
            if allowed.is_some_and(|allowed| !allowed.iter().any(|a| a.eq_ignore_ascii_case(value)))
            {
                issues.push(Issue::UnsupportedValue {
                    header: name.as_str().to_owned(),
                    value: value.to_owned(),
                });
                continue;
            }
            match header_value(value) {
                Ok(v) => headers.push((name.clone(), v)),
                Err(reason) => issues.push(Issue::InvalidValue {
                    header: name.as_str().to_owned(),
                    reason,
                }),
            }
        }
        for (name, value) in &self.additional {
            let parsed = HeaderName::from_bytes(name.trim().as_bytes());
            let Ok(parsed) = parsed else {
                issues.push(Issue::InvalidHeaderName(name.clone()));
                continue;
            };
            match header_value(value.trim()) {
                Ok(v) => headers.push((parsed, v)),
                Err(reason) => issues.push(Issue::InvalidValue {
                    header: parsed.as_str().to_owned(),
                    reason,
                }),
            }
        }

        let hsts = match &self.hsts {
            None => None,
            Some(h) => {
                let before = issues.len();
                if h.max_age_secs == 0 && (h.include_subdomains || h.preload) {
                    issues.push(Issue::Hsts(
                        "max-age 0 removes HSTS; it cannot be combined with includeSubDomains or preload",
                    ));
                }
                if h.preload && !h.include_subdomains {
                    issues.push(Issue::Hsts("preload requires includeSubDomains"));
                }
                if h.preload && h.max_age_secs > 0 && h.max_age_secs < ONE_YEAR_SECS {
                    issues.push(Issue::Hsts(
                        "preload requires a max-age of at least one year",
                    ));
                }
                if issues.len() == before {
                    HeaderValue::from_str(&h.header_value()).ok()
                } else {
                    None
                }
            }
        };

        let mut proxies = Vec::with_capacity(self.trusted_proxies.len());
        for p in &self.trusted_proxies {
            match Cidr::parse(p.trim()) {
                Some(c) => proxies.push(c),
                None => issues.push(Issue::InvalidTrustedProxy(p.clone())),
            }
        }

        if issues.is_empty() {
            Ok(Compiled {
                headers,
                hsts,
                proxies,
                assume_https: self.assume_https,
            })
        } else {
            Err(SecurityHeadersError { issues })
        }
    }
}

/// A header of the policy, its configured value and, for enumerated headers,
/// the allowed values.
type Field<'a> = (
    &'a HeaderName,
    &'a Option<String>,
    Option<&'static [&'static str]>,
);

const PERMISSIONS_POLICY: HeaderName = HeaderName::from_static("permissions-policy");
const CROSS_ORIGIN_OPENER_POLICY: HeaderName =
    HeaderName::from_static("cross-origin-opener-policy");
const CROSS_ORIGIN_RESOURCE_POLICY: HeaderName =
    HeaderName::from_static("cross-origin-resource-policy");
const CROSS_ORIGIN_EMBEDDER_POLICY: HeaderName =
    HeaderName::from_static("cross-origin-embedder-policy");

fn header_value(value: &str) -> Result<HeaderValue, &'static str> {
    if value.is_empty() {
        return Err("empty value (use None to leave the header out)");
    }
    HeaderValue::from_str(value).map_err(|_| "control characters (other than tab) are not allowed")
}

/// One problem found in a [`SecurityHeadersConfig`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Issue {
    /// The value is not one the header allows.
    UnsupportedValue {
        /// The header.
        header: String,
        /// The value.
        value: String,
    },
    /// The value cannot be sent as a header.
    InvalidValue {
        /// The header.
        header: String,
        /// Why.
        reason: &'static str,
    },
    /// An additional header name is not an RFC 9110 token.
    InvalidHeaderName(String),
    /// Contradictory HSTS options.
    Hsts(&'static str),
    /// A trusted proxy is not an IP address or CIDR range.
    InvalidTrustedProxy(String),
}

impl fmt::Display for Issue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnsupportedValue { header, value } => {
                write!(f, "{header}: unsupported value {value:?}")
            }
            Self::InvalidValue { header, reason } => write!(f, "{header}: {reason}"),
            Self::InvalidHeaderName(name) => write!(f, "invalid header name {name:?}"),
            Self::Hsts(reason) => write!(f, "strict-transport-security: {reason}"),
            Self::InvalidTrustedProxy(p) => {
                write!(f, "trusted proxy {p:?} is not an IP address or CIDR range")
            }
        }
    }
}

/// An invalid security header policy, with every problem found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecurityHeadersError {
    issues: Vec<Issue>,
}

impl SecurityHeadersError {
    /// The problems, in field order.
    pub fn issues(&self) -> &[Issue] {
        &self.issues
    }
}

impl fmt::Display for SecurityHeadersError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("invalid security headers policy: ")?;
        for (i, issue) in self.issues.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{issue}")?;
        }
        Ok(())
    }
}

impl std::error::Error for SecurityHeadersError {}

/// An address range, for trusted proxies.
#[derive(Debug, Clone, Copy)]
struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

impl Cidr {
    fn parse(s: &str) -> Option<Self> {
        let (ip, prefix) = match s.split_once('/') {
            Some((ip, prefix)) => (ip.parse::<IpAddr>().ok()?, Some(prefix.parse::<u8>().ok()?)),
            None => (s.parse::<IpAddr>().ok()?, None),
        };
        let ip = ip.to_canonical();
        let max = if ip.is_ipv4() { 32 } else { 128 };
        let prefix = prefix.unwrap_or(max);
        (prefix <= max).then_some(Self { addr: ip, prefix })
    }

    fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

#[derive(Debug)]
struct Compiled {
    headers: Vec<(HeaderName, HeaderValue)>,
    hsts: Option<HeaderValue>,
    proxies: Vec<Cidr>,
    assume_https: bool,
}

impl Compiled {
    fn is_https<B>(&self, req: &Request<B>) -> bool {
        if self.assume_https
            || req.uri().scheme() == Some(&Scheme::HTTPS)
            || req
                .extensions()
                .get::<plumego_core::context::TlsConnection>()
                .is_some()
        {
            return true;
        }
        let trusted = req
            .extensions()
            .get::<PeerAddr>()
            .is_some_and(|peer| self.proxies.iter().any(|c| c.contains(peer.0.ip())));
        trusted && (forwarded_proto_https(req.headers()) || forwarded_https(req.headers()))
    }
}

/// Every comma-separated `X-Forwarded-Proto` value, over all header lines, is
/// `https` (each hop must have been HTTPS), and there is at least one.
fn forwarded_proto_https(headers: &HeaderMap) -> bool {
    let mut seen = false;
    for value in headers.get_all("x-forwarded-proto") {
        let Ok(value) = value.to_str() else {
            return false;
        };
        for proto in value.split(',') {
            if !proto.trim().eq_ignore_ascii_case("https") {
                return false;
            }
            seen = true;
        }
    }
    seen
}

/// Every `Forwarded` element (RFC 7239) has `proto=https`, and there is at least one.
fn forwarded_https(headers: &HeaderMap) -> bool {
    let mut seen = false;
    for value in headers.get_all(header::FORWARDED) {
        let Ok(value) = value.to_str() else {
            return false;
        };
        for element in value.split(',') {
            let https = element.split(';').any(|pair| {
                pair.split_once('=').is_some_and(|(k, v)| {
                    k.trim().eq_ignore_ascii_case("proto")
                        && v.trim().trim_matches('"').eq_ignore_ascii_case("https")
                })
            });
            if !https {
                return false;
            }
            seen = true;
        }
    }
    seen
}

/// Adds [`SecurityHeadersService`]. Built from a validated policy.
#[derive(Debug, Clone)]
pub struct SecurityHeadersLayer {
    compiled: Arc<Compiled>,
}

impl SecurityHeadersLayer {
    /// Validates `config` and precomputes the header values.
    pub fn new(config: SecurityHeadersConfig) -> Result<Self, SecurityHeadersError> {
        Ok(Self {
            compiled: Arc::new(config.compile()?),
        })
    }
}

impl<S> Layer<S> for SecurityHeadersLayer {
    type Service = SecurityHeadersService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        SecurityHeadersService {
            inner,
            compiled: self.compiled.clone(),
        }
    }
}

/// Sets the policy's headers on every response, HSTS on HTTPS requests only.
#[derive(Debug, Clone)]
pub struct SecurityHeadersService<S> {
    inner: S,
    compiled: Arc<Compiled>,
}

impl<S, ReqB, ResB> Service<Request<ReqB>> for SecurityHeadersService<S>
where
    S: Service<Request<ReqB>, Response = Response<ResB>>,
{
    type Response = Response<ResB>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqB>) -> Self::Future {
        let hsts = self.compiled.hsts.is_some() && self.compiled.is_https(&req);
        ResponseFuture {
            inner: self.inner.call(req),
            compiled: self.compiled.clone(),
            hsts,
        }
    }
}

pin_project! {
    /// The response future of [`SecurityHeadersService`].
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        compiled: Arc<Compiled>,
        hsts: bool,
    }
}

impl<F, ResB, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<ResB>, E>>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let mut res = ready!(this.inner.poll(cx))?;
        let headers = res.headers_mut();
        for (name, value) in &this.compiled.headers {
            if !headers.contains_key(name) {
                headers.insert(name.clone(), value.clone());
            }
        }
        if let (true, Some(hsts)) = (*this.hsts, &this.compiled.hsts) {
            if !headers.contains_key(header::STRICT_TRANSPORT_SECURITY) {
                headers.insert(header::STRICT_TRANSPORT_SECURITY, hsts.clone());
            }
        }
        Poll::Ready(Ok(res))
    }
}
