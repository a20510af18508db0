//! The `authenticate` and `authorize` layers.
//!
//! [`authenticate`] asks an [`Authenticator`] who is calling. On success the
//! principal goes into the request extensions as `Arc<Principal>` (read it
//! with [`RequestExt::principal`]),
//! with whatever extensions the authenticator adds (JWT claims, say); on
//! failure the layer answers the error envelope and the inner service never
//! runs. The authenticator is async, so a lookup can hit a store; one that
//! answers synchronously (JWT, API keys) costs no allocation and no clone of
//! the inner service.
//!
//! [`authorize`] checks a [`Policy`] against the principal an authenticate
//! layer put there: 401 when there is none, 403 when the policy refuses.
//!
//! Default error mapping (the Go `auth` middleware's):
//!
//! | [`AuthError`] | status | code | message |
//! |---|---|---|---|
//! | `Unauthenticated`, `Other` | 401 | `UNAUTHORIZED` | `authentication required` |
//! | `InvalidToken` | 401 | `UNAUTHORIZED` | `invalid token` |
//! | `ExpiredToken` | 401 | `UNAUTHORIZED` | `token expired` |
//! | `Forbidden` | 403 | `FORBIDDEN` | `access forbidden` |
//! | `Api(e)` | `e`'s | `e`'s | `e`'s |
//!
//! With a realm configured, 401s from the default mapping carry
//! `WWW-Authenticate: <scheme> realm="<realm>"` (control characters stripped,
//! `"` and `\` escaped); the scheme is the authenticator's (`Bearer`, `Basic`).
//!
//! # Per-route scopes
//!
//! Inside Plumego's router (as a group layer), the authenticate layer also
//! enforces the route's [`RequireScopes`] metadata after authenticating, and
//! lets routes marked [`AllowAnonymous`] through without credentials. One
//! layer on a group can so protect routes needing different scopes:
//!
//! ```
//! use plumego_core::{handler_fn, Body};
//! use plumego_core::context::Principal;
//! use plumego_layers::security::{authenticate, api_key::ApiKeyAuthenticator, RequireScopes};
//! use plumego_router::RouterBuilder;
//! use tower::ServiceExt;
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let mut reader = Principal::new("reader");
//! reader.scopes = vec!["items:read".into()];
//! let keys = ApiKeyAuthenticator::new().key("reader-key", reader);
//! let ok = handler_fn(|_req: http::Request<Body>| async { "ok" });
//! let mut routes = RouterBuilder::new();
//! routes.group("/api", |api| {
//!     api.layer(authenticate(keys));
//!     api.get("/items", ok.clone())?.meta(RequireScopes::all(["items:read"]));
//!     api.post("/items", ok)?.meta(RequireScopes::all(["items:write"]));
//!     Ok(())
//! })?;
//! let router = routes.build();
//! let get = http::Request::get("/api/items").header("x-api-key", "reader-key").body(Body::empty())?;
//! assert_eq!(router.clone().oneshot(get).await?.status(), 200);
//! let post = http::Request::post("/api/items").header("x-api-key", "reader-key").body(Body::empty())?;
//! assert_eq!(router.oneshot(post).await?.status(), 403);
//! # Ok::<_, Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```

use std::borrow::Cow;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use http::header::WWW_AUTHENTICATE;
use http::{HeaderValue, Request, Response, StatusCode};
use pin_project_lite::pin_project;
use plumego_core::BoxError;
use plumego_core::context::{Principal, RequestExt, RequestId};
use plumego_core::error::{ApiError, ErrorType};
use tower::{Layer, Service};

use super::policy::Policy;
use super::view::RequestView;
use crate::body::{ResponseBody, envelope};

/// Why a request was not authenticated or not authorised (the Go `authn`
/// sentinels, plus a way to answer any envelope).
#[derive(Debug)]
#[non_exhaustive]
pub enum AuthError {
    /// No usable credentials were presented.
    Unauthenticated,
    /// Credentials were presented but are not valid; the reason is for logs
    /// and is never sent to the client.
    InvalidToken(Cow<'static, str>),
    /// The credential has expired.
    ExpiredToken,
    /// The principal is known but may not do this.
    Forbidden,
    /// Answer exactly this envelope (boxed: an `ApiError` is large and
    /// errors travel by value).
    Api(ApiError),
    /// Anything else (a store failure, say); the default mapping answers 401
    /// `authentication required`, as Go does, and the cause is logged.
    Other(BoxError),
}

impl AuthError {
    /// An invalid credential with a reason for logs.
    pub fn invalid(reason: impl Into<Cow<'static, str>>) -> Self {
        Self::InvalidToken(reason.into())
    }

    /// The default envelope for this error.
    pub fn into_api_error(self) -> ApiError {
        let (error_type, message) = match self {
            Self::Api(e) => return e,
            Self::Unauthenticated | Self::Other(_) => {
                (ErrorType::Unauthorized, "authentication required")
            }
            Self::InvalidToken(_) => (ErrorType::Unauthorized, "invalid token"),
            Self::ExpiredToken => (ErrorType::Unauthorized, "token expired"),
            Self::Forbidden => (ErrorType::Forbidden, "access forbidden"),
        };
        ApiError::new(error_type, message)
    }
}

impl std::fmt::Display for AuthError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Unauthenticated => f.write_str("unauthenticated"),
            Self::InvalidToken(why) => write!(f, "invalid token: {why}"),
            Self::ExpiredToken => f.write_str("expired token"),
            Self::Forbidden => f.write_str("unauthorized"),
            Self::Api(e) => write!(f, "{e}"),
            Self::Other(e) => write!(f, "authentication failed: {e}"),
        }
    }
}

impl std::error::Error for AuthError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Api(e) => Some(e),
            Self::Other(e) => Some(&**e),
            _ => None,
        }
    }
}

impl From<ApiError> for AuthError {
    fn from(e: ApiError) -> Self {
        Self::Api(e)
    }
}

/// A successful authentication: the principal, and extensions to add to the
/// request (the Go toolkit's "enriched request", e.g. the verified claims).
#[derive(Debug, Default)]
pub struct Authenticated {
    /// Who is calling.
    pub principal: Principal,
    /// Merged into the request's extensions before the inner service runs.
    pub extensions: http::Extensions,
}

impl Authenticated {
    /// Adds an extension for the inner service.
    #[must_use]
    pub fn with_extension<T: Clone + Send + Sync + 'static>(mut self, value: T) -> Self {
        self.extensions.insert(value);
        self
    }
}

impl From<Principal> for Authenticated {
    fn from(principal: Principal) -> Self {
        Self {
            principal,
            extensions: http::Extensions::new(),
        }
    }
}

type AuthResult = Result<Authenticated, AuthError>;

/// The future of [`Authenticator::authenticate`]: ready (no allocation) or
/// boxed (for lookups that await).
pub struct AuthFuture(AuthFutureInner);

enum AuthFutureInner {
    Ready(Option<AuthResult>),
    Boxed(Pin<Box<dyn Future<Output = AuthResult> + Send>>),
}

impl AuthFuture {
    /// An answer known now.
    pub fn ready(result: Result<impl Into<Authenticated>, AuthError>) -> Self {
        Self(AuthFutureInner::Ready(Some(result.map(Into::into))))
    }

    /// An answer that needs awaiting. The future owns what it needs: copy the
    /// credential out of the request before building it.
    pub fn new<F, T>(future: F) -> Self
    where
        F: Future<Output = Result<T, AuthError>> + Send + 'static,
        T: Into<Authenticated>,
    {
        Self(AuthFutureInner::Boxed(Box::pin(async move {
            future.await.map(Into::into)
        })))
    }

    fn take_ready(&mut self) -> Option<AuthResult> {
        match &mut self.0 {
            AuthFutureInner::Ready(result) => result.take(),
            AuthFutureInner::Boxed(_) => None,
        }
    }
}

impl Future for AuthFuture {
    type Output = AuthResult;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<AuthResult> {
        match &mut self.0 {
            AuthFutureInner::Ready(result) => {
                Poll::Ready(result.take().unwrap_or_else(|| {
                    Err(AuthError::invalid("authentication future polled twice"))
                }))
            }
            AuthFutureInner::Boxed(fut) => fut.as_mut().poll(cx),
        }
    }
}

impl std::fmt::Debug for AuthFuture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            AuthFutureInner::Ready(_) => f.write_str("AuthFuture::Ready"),
            AuthFutureInner::Boxed(_) => f.write_str("AuthFuture::Boxed"),
        }
    }
}

/// Establishes who is calling. Implementations read credentials from the
/// request view and answer an [`AuthFuture`]; the view is borrowed only for
/// the synchronous part, so async lookups copy the credential out first.
pub trait Authenticator: Send + Sync + 'static {
    /// Authenticates one request.
    fn authenticate(&self, request: &RequestView<'_>) -> AuthFuture;

    /// The scheme named in `WWW-Authenticate` challenges.
    fn challenge_scheme(&self) -> &'static str {
        "Bearer"
    }
}

impl<A: Authenticator + ?Sized> Authenticator for Arc<A> {
    fn authenticate(&self, request: &RequestView<'_>) -> AuthFuture {
        (**self).authenticate(request)
    }

    fn challenge_scheme(&self) -> &'static str {
        (**self).challenge_scheme()
    }
}

/// An [`Authenticator`] from a function; see [`auth_fn`].
#[derive(Clone)]
pub struct AuthFn<F>(F);

/// An authenticator from a function of the request view.
///
/// ```
/// use plumego_core::context::Principal;
/// use plumego_layers::security::{auth_fn, AuthError, AuthFuture};
///
/// let internal = auth_fn(|req| match req.headers.get("x-internal") {
///     Some(_) => AuthFuture::ready(Ok::<_, AuthError>(Principal::new("internal"))),
///     None => AuthFuture::ready(Err::<Principal, _>(AuthError::Unauthenticated)),
/// });
/// # let _ = internal;
/// ```
pub fn auth_fn<F>(f: F) -> AuthFn<F>
where
    F: Fn(&RequestView<'_>) -> AuthFuture + Send + Sync + 'static,
{
    AuthFn(f)
}

impl<F> Authenticator for AuthFn<F>
where
    F: Fn(&RequestView<'_>) -> AuthFuture + Send + Sync + 'static,
{
    fn authenticate(&self, request: &RequestView<'_>) -> AuthFuture {
        (self.0)(request)
    }
}

impl<F> std::fmt::Debug for AuthFn<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AuthFn")
    }
}

/// Route metadata: the scopes a route needs, checked (case-insensitively)
/// by an authenticate layer running inside the router, after authentication.
/// A principal missing them gets 403.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequireScopes {
    scopes: Vec<String>,
    any: bool,
}

impl RequireScopes {
    /// Every one of `scopes` is required.
    pub fn all<I, S>(scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self {
            scopes: scopes.into_iter().map(Into::into).collect(),
            any: false,
        }
    }

    /// At least one of `scopes` is required.
    pub fn any<I, S>(scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self {
            any: true,
            ..Self::all(scopes)
        }
    }

    /// The scopes.
    pub fn scopes(&self) -> &[String] {
        &self.scopes
    }

    /// Whether `principal` satisfies the requirement. An empty `any` list is
    /// never satisfied (nothing to match); an empty `all` list always is.
    pub fn is_satisfied_by(&self, principal: &Principal) -> bool {
        if self.any {
            self.scopes.iter().any(|s| principal.has_scope(s))
        } else {
            self.scopes.iter().all(|s| principal.has_scope(s))
        }
    }
}

/// Route metadata: an authenticate layer inside the router passes this route
/// through without authenticating (a health or login route in a protected
/// group).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AllowAnonymous;

type ErrorHandler = Arc<dyn Fn(AuthError) -> ApiError + Send + Sync>;

/// Options of the authenticate and authorize layers.
#[derive(Clone, Default)]
pub struct AuthConfig {
    realm: Option<HeaderValue>,
    realm_text: String,
    error_handler: Option<ErrorHandler>,
    ignore_route_metadata: bool,
}

impl std::fmt::Debug for AuthConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthConfig")
            .field("realm", &self.realm_text)
            .field("custom_error_handler", &self.error_handler.is_some())
            .field("ignore_route_metadata", &self.ignore_route_metadata)
            .finish()
    }
}

impl AuthConfig {
    /// Adds `WWW-Authenticate: <scheme> realm="<realm>"` to the 401s of the
    /// default mapping. Control characters are dropped and `"` and `\`
    /// escaped, so the header is always well-formed; an empty realm (the
    /// default) sends no header.
    #[must_use]
    pub fn realm(mut self, realm: &str) -> Self {
        self.realm_text = realm.chars().filter(|c| !c.is_control()).collect();
        self.realm = None;
        if !self.realm_text.is_empty() {
            let mut quoted = String::with_capacity(self.realm_text.len() + 2);
            for c in self.realm_text.chars() {
                if c == '"' || c == '\\' {
                    quoted.push('\\');
                }
                quoted.push(c);
            }
            // Non-visible-ASCII characters (which a header value may carry as
            // opaque bytes) are fine; only controls were invalid.
            self.realm = HeaderValue::from_str(&quoted).ok();
        }
        self
    }

    /// Replaces the default mapping; the handler's envelope is sent as is
    /// (and no `WWW-Authenticate` header is added).
    #[must_use]
    pub fn error_handler(
        mut self,
        handler: impl Fn(AuthError) -> ApiError + Send + Sync + 'static,
    ) -> Self {
        self.error_handler = Some(Arc::new(handler));
        self
    }

    /// Ignores [`RequireScopes`] and [`AllowAnonymous`] route metadata.
    #[must_use]
    pub fn ignore_route_metadata(mut self, ignore: bool) -> Self {
        self.ignore_route_metadata = ignore;
        self
    }

    fn reject<B>(
        &self,
        error: AuthError,
        scheme: &str,
        request_id: Option<&RequestId>,
    ) -> Response<ResponseBody<B>> {
        if let AuthError::Other(cause) = &error {
            tracing::warn!(error = %cause, "authentication failed");
        }
        let (api, default) = match &self.error_handler {
            Some(handler) => (handler(error), false),
            None => (error.into_api_error(), true),
        };
        let mut res = envelope(api, request_id);
        if default && res.status() == StatusCode::UNAUTHORIZED {
            // Basic always challenges: browsers only prompt when asked to.
            let basic_default = HeaderValue::from_static("restricted");
            let realm = match &self.realm {
                Some(realm) => Some(realm),
                None => scheme
                    .eq_ignore_ascii_case("basic")
                    .then_some(&basic_default),
            };
            if let Some(realm) = realm {
                let mut value = Vec::with_capacity(scheme.len() + realm.len() + 9);
                value.extend_from_slice(scheme.as_bytes());
                value.extend_from_slice(b" realm=\"");
                value.extend_from_slice(realm.as_bytes());
                value.push(b'"');
                if let Ok(value) = HeaderValue::from_bytes(&value) {
                    res.headers_mut().insert(WWW_AUTHENTICATE, value);
                }
            }
        }
        res
    }
}

/// An [`AuthenticateLayer`] with the default options.
pub fn authenticate<A: Authenticator>(authenticator: A) -> AuthenticateLayer {
    AuthenticateLayer::new(authenticator, AuthConfig::default())
}

/// An [`AuthorizeLayer`] with the default options.
pub fn authorize<P: Policy>(policy: P) -> AuthorizeLayer {
    AuthorizeLayer::new(policy, AuthConfig::default())
}

struct Shared {
    authenticator: Arc<dyn Authenticator>,
    config: AuthConfig,
}

/// Adds [`AuthenticateService`].
#[derive(Clone)]
pub struct AuthenticateLayer {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for AuthenticateLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthenticateLayer")
            .field("config", &self.shared.config)
            .finish()
    }
}

impl AuthenticateLayer {
    /// A layer asking `authenticator`, with these options.
    pub fn new<A: Authenticator>(authenticator: A, config: AuthConfig) -> Self {
        Self {
            shared: Arc::new(Shared {
                authenticator: Arc::new(authenticator),
                config,
            }),
        }
    }
}

impl<S> Layer<S> for AuthenticateLayer {
    type Service = AuthenticateService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        AuthenticateService {
            inner,
            shared: self.shared.clone(),
        }
    }
}

/// Authenticates each request before the inner service sees it.
#[derive(Clone)]
pub struct AuthenticateService<S> {
    inner: S,
    shared: Arc<Shared>,
}

impl<S> std::fmt::Debug for AuthenticateService<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthenticateService")
            .field("config", &self.shared.config)
            .finish()
    }
}

impl Shared {
    /// Applies a result to the request: `None` with the principal installed
    /// and the route's scopes satisfied, or the rejection to answer.
    fn admit<B>(
        &self,
        parts: &mut http::request::Parts,
        result: AuthResult,
    ) -> Option<Response<ResponseBody<B>>> {
        let scheme = self.authenticator.challenge_scheme();
        let authenticated = match result {
            Ok(a) => a,
            Err(e) => return Some(self.config.reject(e, scheme, parts.request_id())),
        };
        if !self.config.ignore_route_metadata {
            let required = parts.route().and_then(|r| r.metadata::<RequireScopes>());
            if let Some(required) = required {
                if !required.is_satisfied_by(&authenticated.principal) {
                    return Some(self.config.reject(
                        AuthError::Forbidden,
                        scheme,
                        parts.request_id(),
                    ));
                }
            }
        }
        parts.extensions.extend(authenticated.extensions);
        parts.extensions.insert(Arc::new(authenticated.principal));
        None
    }
}

impl<S, ReqB, ResB> Service<Request<ReqB>> for AuthenticateService<S>
where
    S: Service<Request<ReqB>, Response = Response<ResB>> + Clone,
{
    type Response = Response<ResponseBody<ResB>>;
    type Error = S::Error;
    type Future = AuthenticateFuture<S, ReqB, ResB>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqB>) -> Self::Future {
        if !self.shared.config.ignore_route_metadata
            && req
                .route()
                .is_some_and(|r| r.metadata::<AllowAnonymous>().is_some())
        {
            return AuthenticateFuture::inner(self.inner.call(req));
        }
        let (mut parts, body) = req.into_parts();
        let mut pending = self
            .shared
            .authenticator
            .authenticate(&RequestView::from_parts(&parts));
        if let Some(result) = pending.take_ready() {
            return match self.shared.admit(&mut parts, result) {
                None => {
                    AuthenticateFuture::inner(self.inner.call(Request::from_parts(parts, body)))
                }
                Some(res) => AuthenticateFuture::done(res),
            };
        }
        // The service that was made ready goes with the request; a clone
        // takes its place for the next call.
        let clone = self.inner.clone();
        let inner = std::mem::replace(&mut self.inner, clone);
        AuthenticateFuture {
            state: State::Authenticating {
                pending,
                request: Some((parts, body, inner)),
                shared: self.shared.clone(),
            },
        }
    }
}

pin_project! {
    /// The response future of [`AuthenticateService`].
    pub struct AuthenticateFuture<S, ReqB, ResB>
    where
        S: Service<Request<ReqB>>,
    {
        #[pin]
        state: State<S, ReqB, ResB>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<S, ReqB, ResB>
    where
        S: Service<Request<ReqB>>,
    {
        Authenticating {
            pending: AuthFuture,
            request: Option<(http::request::Parts, ReqB, S)>,
            shared: Arc<Shared>,
        },
        Inner {
            #[pin]
            fut: S::Future,
        },
        Done {
            response: Option<Response<ResponseBody<ResB>>>,
        },
    }
}

impl<S, ReqB, ResB> AuthenticateFuture<S, ReqB, ResB>
where
    S: Service<Request<ReqB>>,
{
    fn inner(fut: S::Future) -> Self {
        Self {
            state: State::Inner { fut },
        }
    }

    fn done(response: Response<ResponseBody<ResB>>) -> Self {
        Self {
            state: State::Done {
                response: Some(response),
            },
        }
    }
}

impl<S, ReqB, ResB> Future for AuthenticateFuture<S, ReqB, ResB>
where
    S: Service<Request<ReqB>, Response = Response<ResB>>,
{
    type Output = Result<Response<ResponseBody<ResB>>, S::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            let next = match this.state.as_mut().project() {
                StateProj::Authenticating {
                    pending,
                    request,
                    shared,
                } => {
                    let result = ready!(Pin::new(pending).poll(cx));
                    let Some((mut parts, body, mut inner)) = request.take() else {
                        return Poll::Ready(Ok(envelope(
                            ApiError::new(ErrorType::Internal, "authentication state lost"),
                            None,
                        )));
                    };
                    match shared.admit(&mut parts, result) {
                        None => State::Inner {
                            fut: inner.call(Request::from_parts(parts, body)),
                        },
                        Some(res) => State::Done {
                            response: Some(res),
                        },
                    }
                }
                StateProj::Inner { fut } => {
                    let res = ready!(fut.poll(cx))?;
                    return Poll::Ready(Ok(res.map(ResponseBody::inner)));
                }
                StateProj::Done { response } => {
                    return Poll::Ready(Ok(response.take().unwrap_or_else(|| {
                        envelope(
                            ApiError::new(ErrorType::Internal, "response already taken"),
                            None,
                        )
                    })));
                }
            };
            this.state.set(next);
        }
    }
}

/// Adds [`AuthorizeService`].
#[derive(Clone)]
pub struct AuthorizeLayer {
    policy: Arc<dyn Policy>,
    config: Arc<AuthConfig>,
}

impl std::fmt::Debug for AuthorizeLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthorizeLayer")
            .field("config", &self.config)
            .finish()
    }
}

impl AuthorizeLayer {
    /// A layer checking `policy`, with these options.
    pub fn new<P: Policy>(policy: P, config: AuthConfig) -> Self {
        Self {
            policy: Arc::new(policy),
            config: Arc::new(config),
        }
    }
}

impl<S> Layer<S> for AuthorizeLayer {
    type Service = AuthorizeService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        AuthorizeService {
            inner,
            policy: self.policy.clone(),
            config: self.config.clone(),
        }
    }
}

/// Checks a policy against the authenticated principal.
#[derive(Clone)]
pub struct AuthorizeService<S> {
    inner: S,
    policy: Arc<dyn Policy>,
    config: Arc<AuthConfig>,
}

impl<S> std::fmt::Debug for AuthorizeService<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthorizeService")
            .field("config", &self.config)
            .finish()
    }
}

impl<S, ReqB, ResB> Service<Request<ReqB>> for AuthorizeService<S>
where
    S: Service<Request<ReqB>, Response = Response<ResB>>,
{
    type Response = Response<ResponseBody<ResB>>;
    type Error = S::Error;
    type Future = GuardFuture<S::Future, ResB>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqB>) -> Self::Future {
        let view = RequestView::new(&req);
        let verdict = match view.principal() {
            None => Err(AuthError::Unauthenticated),
            Some(principal) => self.policy.authorize(principal, &view),
        };
        match verdict {
            Ok(()) => GuardFuture::inner(self.inner.call(req)),
            Err(e) => GuardFuture::reject(self.config.reject(e, "Bearer", req.request_id())),
        }
    }
}

pin_project! {
    /// The response future of the layers that either pass the request on or
    /// answer an envelope themselves (authorize, CSRF).
    pub struct GuardFuture<F, B> {
        #[pin]
        state: GuardState<F, B>,
    }
}

pin_project! {
    #[project = GuardProj]
    enum GuardState<F, B> {
        Inner { #[pin] fut: F },
        Rejected { response: Option<Response<ResponseBody<B>>> },
    }
}

impl<F, B> GuardFuture<F, B> {
    pub(crate) fn inner(fut: F) -> Self {
        Self {
            state: GuardState::Inner { fut },
        }
    }

    pub(crate) fn reject(response: Response<ResponseBody<B>>) -> Self {
        Self {
            state: GuardState::Rejected {
                response: Some(response),
            },
        }
    }
}

impl<F, B, E> Future for GuardFuture<F, B>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<ResponseBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().state.project() {
            GuardProj::Inner { fut } => fut.poll(cx).map_ok(|res| res.map(ResponseBody::inner)),
            GuardProj::Rejected { response } => {
                Poll::Ready(Ok(response.take().unwrap_or_else(|| {
                    envelope(
                        ApiError::new(ErrorType::Internal, "response already taken"),
                        None,
                    )
                })))
            }
        }
    }
}
