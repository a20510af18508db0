//! Security layers and helpers: who is calling ([`auth`], [`jwt`],
//! [`api_key`]), what they may do ([`policy`], per-route [`RequireScopes`]),
//! how often ([`rate_limit`]), from where ([`csrf`]), plus password hashing
//! ([`password`]) and input checks ([`input`]).
//!
//! Behaviour follows the Go toolkit's `security/*` packages and its `auth` and
//! `abuseguard` middleware; each module lists where it deliberately differs.
//! Every rejection leaves as the JSON error envelope (401, 403, 429...), never
//! as a service error, so the layers work in axum, around Plumego's router and
//! inside it as group layers (where they can read route metadata).
//!
//! A typical stack, outermost first: request id, rate limit (by client IP),
//! CSRF, authenticate, then the handler; per-route scopes are read by the
//! authenticate layer when it runs inside the router.
//!
//! ```
//! use std::sync::Arc;
//! use plumego_core::context::{Principal, RequestExt};
//! use plumego_layers::security::{authenticate, api_key::ApiKeyAuthenticator};
//! use tower::{ServiceBuilder, ServiceExt};
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let keys = ApiKeyAuthenticator::new().key("s3cret-key", Principal::new("billing-job"));
//! let svc = ServiceBuilder::new()
//!     .layer(authenticate(keys))
//!     .service_fn(|req: http::Request<()>| async move {
//!         let who = req.principal().map(|p| p.subject.clone()).unwrap_or_default();
//!         Ok::<_, std::convert::Infallible>(http::Response::new(http_body_util::Full::new(bytes::Bytes::from(who))))
//!     });
//! let req = http::Request::builder().header("x-api-key", "s3cret-key").body(()).unwrap();
//! assert_eq!(svc.clone().oneshot(req).await.unwrap().status(), 200);
//! let res = svc.oneshot(http::Request::new(())).await.unwrap();
//! assert_eq!(res.status(), 401);
//! # });
//! ```

pub mod api_key;
pub mod auth;
pub mod bearer;
pub mod csrf;
pub mod input;
pub mod jwt;
pub mod password;
pub mod policy;
pub mod rate_limit;

mod clock;
mod view;

pub use auth::{
    AllowAnonymous, AuthConfig, AuthError, AuthFuture, AuthenticateLayer, AuthenticateService,
    Authenticated, Authenticator, AuthorizeLayer, AuthorizeService, RequireScopes, auth_fn,
    authenticate, authorize,
};
pub use bearer::{bearer_token, parse_bearer};
pub use clock::{Clock, ManualClock, SystemClock};
pub use policy::{AccessPolicy, Permission, Policy, RouteScopes, policy_fn};
pub use view::RequestView;
