//! The built router: a `Clone` tower service that dispatches through the trie.

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::header::{ALLOW, CONTENT_LENGTH, CONTENT_TYPE, LOCATION};
use http::{HeaderValue, Method, StatusCode, Uri};
use http_body::Body as _;
use percent_encoding::percent_decode_str;
use plumego_core::context::{RequestId, RouteInfo, RouteSlot, RouteState};
use plumego_core::envelope::{PendingRequestId, attach_request_id};
use plumego_core::error::{ApiError, ErrorType};
use plumego_core::{Body, IntoResponse, Response};
use smallvec::SmallVec;
use tower::Service;

use crate::builder::{Leaf, NEST_REST, RouterBuilder};
use crate::config::RouterConfig;
use crate::listing::RouteDescription;
use crate::route::{BoxResponseFuture, Route};
use crate::tree::{Params, Pattern, Tree};

/// The URI a nested service's request had before its prefix was removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OriginalUri(pub Uri);

/// Copies of each route's [`RouteInfo`], one per stripe; see [`Built::info`].
const STRIPES: usize = 8;

pub(crate) struct Built<B> {
    infos: [Arc<RouteInfo>; STRIPES],
    pub(crate) method: Option<Method>,
    pub(crate) pattern: Pattern,
    pub(crate) tags: Vec<String>,
    pub(crate) service: Route<B>,
    pub(crate) nested: bool,
}

impl<B> Built<B> {
    /// The route's info for this thread.
    ///
    /// Every matched request clones this `Arc` into its route state. With one
    /// `Arc` per route, threads serving the same route would bump the same
    /// refcount and fight over its cache line; striping gives threads (told
    /// apart by their stacks, which live in separate mappings) separate copies.
    #[inline]
    fn info(&self) -> &Arc<RouteInfo> {
        let marker = 0u8;
        let stack = std::ptr::addr_of!(marker) as usize;
        &self.infos[(stack >> 21) % STRIPES]
    }
}

pub(crate) struct Inner<B> {
    tree: Tree<Leaf>,
    pub(crate) endpoints: Box<[Built<B>]>,
    pub(crate) names: HashMap<String, usize>,
    /// Every method some route answers, for `Allow` (ANY excluded).
    methods: Box<[Method]>,
    config: RouterConfig,
    /// `None`: the built-in 404 envelope, answered without a boxed future.
    fallback: Option<Route<B>>,
    /// Envelopes rendered once at build time.
    not_found_body: Bytes,
    method_not_allowed_body: Bytes,
}

/// A frozen set of routes, served as a tower [`Service`].
///
/// Cloning is cheap (one `Arc`). Mount it in axum with `nest_service` or
/// `fallback_service`, or serve it directly with
/// [`plumego_core::server::Server`].
pub struct Router<B = Body> {
    pub(crate) inner: Arc<Inner<B>>,
}

impl<B> Clone for Router<B> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
        }
    }
}

impl<B> std::fmt::Debug for Router<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Router")
            .field("routes", &self.inner.endpoints.len())
            .field("config", &self.inner.config)
            .finish()
    }
}

/// A pre-rendered envelope. It is marked for the request id only when there
/// is one to add (the router adds it before the response leaves): a request
/// without an id skips the response's extension map altogether.
fn envelope_response(status: StatusCode, body: &Bytes, has_request_id: bool) -> Response {
    let mut res = Response::new(Body::full(body.clone()));
    *res.status_mut() = status;
    res.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    if has_request_id {
        res.extensions_mut().insert(PendingRequestId);
    }
    res
}

/// A fallback answering like the Go toolkit's router: `404 page not found\n`
/// as plain text, for clients that depend on it.
pub fn plain_not_found<B: Send + 'static>() -> Route<B> {
    Route::new(plumego_core::handler_fn(|_req: http::Request<B>| async {
        let mut res = (StatusCode::NOT_FOUND, "404 page not found\n").into_response();
        res.headers_mut().insert(
            "x-content-type-options",
            HeaderValue::from_static("nosniff"),
        );
        res
    }))
}

/// How a request was resolved.
enum Resolution {
    Route(usize),
    Redirect,
    MethodNotAllowed(HeaderValue),
    Options(HeaderValue),
    NotFound,
}

impl<B: Send + 'static> Router<B> {
    pub(crate) fn from_builder(builder: RouterBuilder<B>) -> Self {
        let mut methods: Vec<Method> = builder
            .endpoints
            .iter()
            .filter_map(|e| e.method.clone())
            .collect();
        methods.sort_by(|a, b| a.as_str().cmp(b.as_str()));
        methods.dedup();
        let endpoints = builder
            .endpoints
            .into_iter()
            .map(|e| Built {
                // Built afresh per stripe: a clone would share the pattern's
                // `Arc<str>`, whose refcount layers bump per request.
                infos: std::array::from_fn(|_| Arc::new(e.route_info())),
                method: e.method,
                pattern: e.pattern,
                tags: e.tags,
                service: e.service,
                nested: e.nested,
            })
            .collect();
        Self {
            inner: Arc::new(Inner {
                tree: builder.tree,
                endpoints,
                names: builder.names,
                methods: methods.into(),
                config: builder.config,
                fallback: builder.fallback,
                not_found_body: ApiError::new(ErrorType::ResourceNotFound, "route not found")
                    .to_json(),
                method_not_allowed_body: ApiError::new(
                    ErrorType::MethodNotAllowed,
                    "method not allowed",
                )
                .to_json(),
            }),
        }
    }

    /// Every route, sorted by method then pattern.
    pub fn routes(&self) -> Vec<RouteDescription> {
        describe(self.inner.endpoints.iter().map(|e| {
            (
                e.method.as_ref(),
                &e.pattern,
                &e.tags,
                e.nested,
                e.info().clone(),
            )
        }))
    }
}

impl<B> RouterBuilder<B> {
    /// [`Router::routes`] before the router is built.
    pub fn routes(&self) -> Vec<RouteDescription> {
        describe(self.endpoints.iter().map(|e| {
            (
                e.method.as_ref(),
                &e.pattern,
                &e.tags,
                e.nested,
                Arc::new(e.route_info()),
            )
        }))
    }
}

type Described<'a> = (
    Option<&'a Method>,
    &'a Pattern,
    &'a Vec<String>,
    bool,
    Arc<RouteInfo>,
);

fn describe<'a>(endpoints: impl Iterator<Item = Described<'a>>) -> Vec<RouteDescription> {
    // A nested mount is two trie entries; list it once, by its prefix.
    let mut routes: Vec<_> = endpoints
        .filter(|(_, pattern, _, nested, _)| !(*nested && pattern.has_catch_all()))
        .map(|(method, pattern, tags, _, info)| RouteDescription {
            method: method.map_or("ANY", Method::as_str).to_owned(),
            pattern: pattern.as_str().to_owned(),
            name: info.name().map(str::to_owned),
            tags: tags.clone(),
            info,
        })
        .collect();
    routes.sort_by(|a, b| (&a.method, &a.pattern).cmp(&(&b.method, &b.pattern)));
    routes
}

/// The path the trie sees: leading slashes collapsed, empty as `/`. Either a
/// suffix of `raw` or a static string, so ranges found in it index it again.
#[inline]
fn normalise(raw: &str) -> &str {
    match collapse_leading(raw) {
        "" => "/",
        path => path,
    }
}

/// Strips the leading run of slashes down to one.
#[inline]
fn collapse_leading(path: &str) -> &str {
    let trimmed = path.trim_start_matches('/');
    // Keep exactly one of the slashes we removed (or add none if there were none).
    if trimmed.len() == path.len() {
        path
    } else {
        &path[path.len() - trimmed.len() - 1..]
    }
}

impl<B> Inner<B> {
    /// Finds the route for `method`, then (for HEAD) GET, then ANY: the Go
    /// toolkit's fallback order, each a full search with backtracking.
    #[inline]
    fn find(&self, method: &Method, path: &str, params: &mut Params) -> Option<usize> {
        if let Some(leaf) = self.tree.find(path, params, |l| l.get(method).is_some()) {
            return leaf.get(method);
        }
        params.clear();
        if method == Method::HEAD {
            if let Some(leaf) = self
                .tree
                .find(path, params, |l| l.get(&Method::GET).is_some())
            {
                return leaf.get(&Method::GET);
            }
            params.clear();
        }
        let found = self.tree.find(path, params, |l| l.any.is_some());
        found.and_then(|l| l.any)
    }

    /// The `Allow` value for `path`: sorted, `HEAD` implied by `GET`.
    fn allowed(&self, path: &str, extra: Option<&Method>) -> Option<HeaderValue> {
        let mut params = Params::new();
        let mut allowed: SmallVec<[&str; 8]> = SmallVec::new();
        for method in self.methods.iter() {
            params.clear();
            if self
                .tree
                .find(path, &mut params, |l| l.get(method).is_some())
                .is_some()
            {
                allowed.push(method.as_str());
            }
        }
        if allowed.is_empty() {
            return None;
        }
        if allowed.contains(&"GET") && !allowed.contains(&"HEAD") {
            allowed.push("HEAD");
        }
        if let Some(extra) = extra {
            if !allowed.contains(&extra.as_str()) {
                allowed.push(extra.as_str());
            }
        }
        allowed.sort_unstable();
        // Joined on the stack: the header value's own copy is the only
        // allocation.
        let mut joined: SmallVec<[u8; 96]> = SmallVec::new();
        for (i, method) in allowed.iter().enumerate() {
            if i > 0 {
                joined.extend_from_slice(b", ");
            }
            joined.extend_from_slice(method.as_bytes());
        }
        HeaderValue::from_bytes(&joined).ok()
    }

    fn resolve(&self, method: &Method, path: &str, params: &mut Params) -> Resolution {
        let stripped = path.trim_end_matches('/');
        let has_trailing = stripped.len() != path.len() && !stripped.is_empty();
        let lookup = if self.config.trailing_slash.strips() {
            if stripped.is_empty() { "/" } else { stripped }
        } else {
            path
        };
        // An empty internal segment never matches (the Go toolkit answers
        // 404). Only a catch-all can take one in: static segments never
        // contain `//`, and the trie captures neither an empty parameter nor
        // a catch-all starting with `/`. So a matched path is scanned only
        // for catch-all routes, and an unmatched one before 405 and OPTIONS.
        if let Some(index) = self.find(method, lookup, params) {
            if self.endpoints[index].pattern.has_catch_all() && has_empty_segment(lookup) {
                params.clear();
                return Resolution::NotFound;
            }
            if has_trailing && self.config.trailing_slash == crate::TrailingSlash::Redirect {
                return Resolution::Redirect;
            }
            return Resolution::Route(index);
        }
        params.clear();
        if has_empty_segment(lookup) {
            return Resolution::NotFound;
        }
        if *method == Method::OPTIONS && self.config.auto_options {
            if let Some(allow) = self.allowed(lookup, Some(&Method::OPTIONS)) {
                return Resolution::Options(allow);
            }
        }
        if self.config.method_mismatch.answers_405() {
            if let Some(allow) = self.allowed(lookup, None) {
                return Resolution::MethodNotAllowed(allow);
            }
        }
        Resolution::NotFound
    }
}

/// Whether `path` contains `//`; a plain scan beats a substring searcher on
/// paths this short.
#[inline]
fn has_empty_segment(path: &str) -> bool {
    path.as_bytes().windows(2).any(|w| w == b"//")
}

fn decode_params(route: &Arc<RouteInfo>, path: &str, params: &Params) -> Option<RouteState> {
    let mut state = RouteState::new(route.clone());
    for (start, end) in params.iter() {
        let raw = path.get(start..end)?;
        if raw.contains('%') {
            state.push_param(&percent_decode_str(raw).decode_utf8().ok()?);
        } else {
            state.push_param(raw);
        }
    }
    Some(state)
}

/// The URI the nested service sees: the captured remainder (or `/`), query kept.
fn strip_prefix(uri: &Uri, rest: Option<&str>) -> Option<Uri> {
    let mut path_and_query = String::with_capacity(uri.path().len() + 1);
    path_and_query.push('/');
    if let Some(rest) = rest {
        path_and_query.push_str(rest);
    }
    if let Some(query) = uri.query() {
        path_and_query.push('?');
        path_and_query.push_str(query);
    }
    let mut parts = uri.clone().into_parts();
    parts.path_and_query = Some(path_and_query.parse().ok()?);
    Uri::from_parts(parts).ok()
}

fn redirect_without_slash(uri: &Uri) -> Response {
    let path = collapse_leading(uri.path()).trim_end_matches('/');
    let mut location = String::from(if path.is_empty() { "/" } else { path });
    if let Some(query) = uri.query() {
        location.push('?');
        location.push_str(query);
    }
    let mut res = StatusCode::PERMANENT_REDIRECT.into_response();
    if let Ok(value) = HeaderValue::from_str(&location) {
        res.headers_mut().insert(LOCATION, value);
    }
    res
}

impl<B: Send + 'static> Service<http::Request<B>> for Router<B> {
    type Response = Response;
    type Error = Infallible;
    type Future = RouterFuture;

    #[inline]
    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, mut req: http::Request<B>) -> RouterFuture {
        let inner = &*self.inner;
        let request_id = req.extensions().get::<RequestId>().cloned();
        let head = req.method() == Method::HEAD;
        let mut params = Params::new();
        let resolution = inner.resolve(req.method(), normalise(req.uri().path()), &mut params);
        let ready = |res: Response| RouterFuture::ready(res, request_id.clone(), head);
        match resolution {
            Resolution::Route(index) => {
                let endpoint = &inner.endpoints[index];
                // Parameter ranges are relative to the normalised path.
                let path = normalise(req.uri().path());
                let Some(state) = decode_params(endpoint.info(), path, &params) else {
                    return ready(
                        ApiError::new(ErrorType::BadRequest, "invalid percent-encoding in path")
                            .into_response(),
                    );
                };
                if endpoint.nested {
                    // The raw (still encoded) remainder: the last capture.
                    let rest = state
                        .param(NEST_REST)
                        .and_then(|_| params.get(params.len().checked_sub(1)?))
                        .and_then(|(start, end)| path.get(start..end));
                    match strip_prefix(req.uri(), rest) {
                        Some(uri) => {
                            let original = std::mem::replace(req.uri_mut(), uri);
                            req.extensions_mut().insert(OriginalUri(original));
                        }
                        None => {
                            return ready(
                                ApiError::new(ErrorType::BadRequest, "invalid path")
                                    .into_response(),
                            );
                        }
                    }
                }
                if let Some(slot) = req.extensions().get::<RouteSlot>() {
                    slot.set(endpoint.info().clone());
                }
                req.extensions_mut().insert(state);
                RouterFuture::route(endpoint.service.call_ref(req), request_id, head)
            }
            Resolution::Redirect => ready(redirect_without_slash(req.uri())),
            Resolution::MethodNotAllowed(allow) => {
                let mut res = envelope_response(
                    StatusCode::METHOD_NOT_ALLOWED,
                    &inner.method_not_allowed_body,
                    request_id.is_some(),
                );
                res.headers_mut().insert(ALLOW, allow);
                ready(res)
            }
            Resolution::Options(allow) => {
                let mut res = StatusCode::NO_CONTENT.into_response();
                res.headers_mut().insert(ALLOW, allow);
                ready(res)
            }
            Resolution::NotFound => match &inner.fallback {
                Some(fallback) => RouterFuture::route(fallback.call_ref(req), request_id, head),
                None => ready(envelope_response(
                    StatusCode::NOT_FOUND,
                    &inner.not_found_body,
                    request_id.is_some(),
                )),
            },
        }
    }
}

/// The response future of [`Router`].
pub struct RouterFuture {
    kind: FutureKind,
    request_id: Option<RequestId>,
    head: bool,
}

enum FutureKind {
    Route(BoxResponseFuture),
    Ready(Option<Response>),
}

impl RouterFuture {
    fn route(fut: BoxResponseFuture, request_id: Option<RequestId>, head: bool) -> Self {
        Self {
            kind: FutureKind::Route(fut),
            request_id,
            head,
        }
    }

    fn ready(res: Response, request_id: Option<RequestId>, head: bool) -> Self {
        Self {
            kind: FutureKind::Ready(Some(res)),
            request_id,
            head,
        }
    }
}

impl Future for RouterFuture {
    type Output = Result<Response, Infallible>;

    #[inline]
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        let mut res = match &mut this.kind {
            FutureKind::Route(fut) => match fut.as_mut().poll(cx) {
                Poll::Ready(res) => res,
                Poll::Pending => return Poll::Pending,
            },
            FutureKind::Ready(res) => match res.take() {
                Some(res) => res,
                None => return Poll::Pending,
            },
        };
        if let Some(id) = &this.request_id {
            attach_request_id(&mut res, id);
        }
        if this.head {
            drop_body_keep_length(&mut res);
        }
        Poll::Ready(Ok(res))
    }
}

/// HEAD answers carry the GET headers, `Content-Length` included, and no body.
fn drop_body_keep_length(res: &mut Response) {
    if !res.headers().contains_key(CONTENT_LENGTH) {
        if let Some(len) = res.body().size_hint().exact() {
            res.headers_mut()
                .insert(CONTENT_LENGTH, HeaderValue::from(len));
        }
    }
    *res.body_mut() = Body::empty();
}

#[cfg(test)]
mod tests {
    use super::collapse_leading;

    #[test]
    fn leading_slashes_collapse() {
        assert_eq!(collapse_leading("///a"), "/a");
        assert_eq!(collapse_leading("/a"), "/a");
        assert_eq!(collapse_leading("//"), "/");
        assert_eq!(collapse_leading(""), "");
    }
}
