//! Registering routes: the builder, groups with their own layers, and the
//! handle that names and annotates a route.

use std::collections::HashMap;
use std::convert::Infallible;

use http::{Extensions, Method};
use plumego_core::context::RouteInfo;
use plumego_core::{Body, IntoResponse};
use smallvec::SmallVec;
use tower::{Layer, Service};

use crate::config::{MethodMismatch, RouterConfig, TrailingSlash};
use crate::error::{RouteError, RouteErrorKind};
use crate::route::Route;
use crate::service::Router;
use crate::tree::{self, InsertError, Pattern, Tree};

/// The catch-all name used by [`RouterBuilder::nest_service`].
pub(crate) const NEST_REST: &str = "__nested_rest";

/// A service the router can call: any `Clone` tower service that never fails
/// and answers something that converts into a response.
pub trait IntoRoute<B>: Sized {
    /// Erases the service.
    fn into_route(self) -> Route<B>;
}

impl<S, B> IntoRoute<B> for S
where
    S: Service<http::Request<B>, Error = Infallible> + Clone + Send + Sync + 'static,
    S::Response: IntoResponse,
    S::Future: Send + 'static,
    B: Send + 'static,
{
    fn into_route(self) -> Route<B> {
        Route::new(self)
    }
}

/// The per-path method table stored in the trie.
#[derive(Debug, Default)]
pub(crate) struct Leaf {
    pub(crate) methods: SmallVec<[(Method, usize); 4]>,
    pub(crate) any: Option<usize>,
}

impl Leaf {
    #[inline]
    pub(crate) fn get(&self, method: &Method) -> Option<usize> {
        self.methods
            .iter()
            .find_map(|(m, i)| (m == method).then_some(*i))
    }
}

pub(crate) struct Endpoint<B> {
    pub(crate) method: Option<Method>,
    pub(crate) pattern: Pattern,
    pub(crate) name: Option<String>,
    pub(crate) tags: Vec<String>,
    pub(crate) metadata: Extensions,
    pub(crate) service: Route<B>,
    pub(crate) nested: bool,
}

impl<B> Endpoint<B> {
    pub(crate) fn method_name(&self) -> &str {
        self.method.as_ref().map_or("ANY", Method::as_str)
    }

    /// What handlers and layers learn about this route.
    pub(crate) fn route_info(&self) -> RouteInfo {
        RouteInfo::new(
            self.pattern.as_str(),
            self.name.as_deref().map(Into::into),
            self.pattern.param_names(),
            self.metadata.clone(),
        )
    }
}

type LayerFn<B> = Box<dyn Fn(Route<B>) -> Route<B> + Send + Sync>;

/// Builds a [`Router`]. Registration errors are returned, never panicked; once
/// built, the router cannot change.
///
/// ```
/// use plumego_core::{handler_fn, Body, RequestExt};
/// use plumego_router::RouterBuilder;
/// use tower::ServiceExt;
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let mut routes = RouterBuilder::new();
/// routes
///     .get("/users/:id", handler_fn(|req: http::Request<Body>| async move {
///         format!("user {}", req.param("id").unwrap_or_default())
///     }))?
///     .name("user.show")?;
/// let router = routes.build();
/// assert_eq!(router.url_for("user.show", &[("id", "42")])?, "/users/42");
///
/// let res = router.oneshot(http::Request::get("/users/42").body(Body::empty())?).await?;
/// assert_eq!(res.status(), 200);
/// # Ok::<_, Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
pub struct RouterBuilder<B = Body> {
    pub(crate) tree: Tree<Leaf>,
    pub(crate) endpoints: Vec<Endpoint<B>>,
    pub(crate) names: HashMap<String, usize>,
    pub(crate) config: RouterConfig,
    pub(crate) fallback: Option<Route<B>>,
}

impl<B> std::fmt::Debug for RouterBuilder<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RouterBuilder")
            .field("routes", &self.endpoints.len())
            .field("config", &self.config)
            .finish()
    }
}

impl<B: Send + 'static> Default for RouterBuilder<B> {
    fn default() -> Self {
        Self::new()
    }
}

/// A registered route, to name, tag or annotate it.
pub struct RouteRef<'a, B> {
    builder: &'a mut RouterBuilder<B>,
    index: usize,
}

impl<B> std::fmt::Debug for RouteRef<'_, B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ep = &self.builder.endpoints[self.index];
        f.debug_struct("RouteRef")
            .field("method", &ep.method_name())
            .field("pattern", &ep.pattern.as_str())
            .finish()
    }
}

impl<B> RouteRef<'_, B> {
    /// Names the route for [`Router::url_for`]; names are unique per router.
    pub fn name(self, name: impl Into<String>) -> Result<Self, RouteError> {
        let name = name.into();
        let ep = &self.builder.endpoints[self.index];
        if let Some(&other) = self.builder.names.get(&name) {
            if other != self.index {
                let existing = &self.builder.endpoints[other];
                return Err(RouteError::new(
                    ep.method_name(),
                    ep.pattern.as_str(),
                    RouteErrorKind::DuplicateName {
                        name,
                        existing_method: existing.method_name().to_owned(),
                        existing_pattern: existing.pattern.as_str().to_owned(),
                    },
                ));
            }
            return Ok(self);
        }
        if let Some(old) = self.builder.endpoints[self.index]
            .name
            .replace(name.clone())
        {
            self.builder.names.remove(&old);
        }
        self.builder.names.insert(name, self.index);
        Ok(self)
    }

    /// Adds a tag (for listings and OpenAPI).
    pub fn tag(self, tag: impl Into<String>) -> Self {
        self.builder.endpoints[self.index].tags.push(tag.into());
        self
    }

    /// Attaches typed metadata that layers read from the request's route state
    /// (a per-route timeout, an auth scope...). One value per type.
    pub fn meta<T: Clone + Send + Sync + 'static>(self, value: T) -> Self {
        self.builder.endpoints[self.index].metadata.insert(value);
        self
    }
}

fn join(prefix: &str, path: &str) -> String {
    match path {
        "" | "/" if prefix.is_empty() => "/".to_owned(),
        "" | "/" => prefix.to_owned(),
        _ => format!("{prefix}{path}"),
    }
}

fn normalise_prefix(method: &str, prefix: &str) -> Result<String, RouteError> {
    if prefix.is_empty() || prefix == "/" {
        return Ok(String::new());
    }
    if !prefix.starts_with('/') {
        return Err(RouteError::new(
            method,
            prefix,
            RouteErrorKind::InvalidPrefix(prefix.to_owned()),
        ));
    }
    Ok(prefix.trim_end_matches('/').to_owned())
}

impl<B: Send + 'static> RouterBuilder<B> {
    /// An empty router with the default policies.
    pub fn new() -> Self {
        Self {
            tree: Tree::new(),
            endpoints: Vec::new(),
            names: HashMap::new(),
            config: RouterConfig::default(),
            fallback: None,
        }
    }

    /// Replaces all policies.
    pub fn config(&mut self, config: RouterConfig) -> &mut Self {
        self.config = config;
        self
    }

    /// The trailing-slash policy.
    pub fn trailing_slash(&mut self, policy: TrailingSlash) -> &mut Self {
        self.config.trailing_slash = policy;
        self
    }

    /// 405 with `Allow` (default) or the Go toolkit's 404 on a method mismatch.
    pub fn method_mismatch(&mut self, policy: MethodMismatch) -> &mut Self {
        self.config.method_mismatch = policy;
        self
    }

    /// The service for requests no route matches (default: the 404 envelope).
    pub fn fallback<S: IntoRoute<B>>(&mut self, service: S) -> &mut Self {
        self.fallback = Some(service.into_route());
        self
    }

    /// The number of registered routes.
    pub fn len(&self) -> usize {
        self.endpoints.len()
    }

    /// Whether no route is registered.
    pub fn is_empty(&self) -> bool {
        self.endpoints.is_empty()
    }

    /// Freezes the routes into a [`Router`].
    pub fn build(self) -> Router<B> {
        Router::from_builder(self)
    }

    pub(crate) fn add(
        &mut self,
        method: Option<Method>,
        prefix: &str,
        path: &str,
        route: Route<B>,
        nested: bool,
    ) -> Result<usize, RouteError> {
        let method_name = method.as_ref().map_or("ANY", Method::as_str).to_owned();
        if !path.is_empty() && !path.starts_with('/') {
            return Err(RouteError::new(
                &method_name,
                path,
                RouteErrorKind::Pattern(format!("route path {path:?} must start with /")),
            ));
        }
        let full = join(prefix, path);
        let pattern = tree::parse(&full).map_err(|e| {
            RouteError::new(&method_name, &full, RouteErrorKind::Pattern(e.to_string()))
        })?;
        let index = self.endpoints.len();
        // The only insert error is a parameter-name conflict.
        let slot = self.tree.insert(&pattern).map_err(|e: InsertError| {
            RouteError::new(
                &method_name,
                pattern.as_str(),
                RouteErrorKind::Conflict(e.to_string()),
            )
        })?;
        let leaf = slot.get_or_insert_with(Leaf::default);
        let taken = match &method {
            Some(m) => leaf.get(m).is_some(),
            None => leaf.any.is_some(),
        };
        if taken {
            return Err(RouteError::new(
                &method_name,
                pattern.as_str(),
                RouteErrorKind::Duplicate,
            ));
        }
        match &method {
            Some(m) => leaf.methods.push((m.clone(), index)),
            None => leaf.any = Some(index),
        }
        self.endpoints.push(Endpoint {
            method,
            pattern,
            name: None,
            tags: Vec::new(),
            metadata: Extensions::new(),
            service: route,
            nested,
        });
        Ok(index)
    }

    fn register(
        &mut self,
        method: Option<Method>,
        path: &str,
        route: Route<B>,
    ) -> Result<RouteRef<'_, B>, RouteError> {
        let index = self.add(method, "", path, route, false)?;
        Ok(RouteRef {
            builder: self,
            index,
        })
    }

    fn nest_at(&mut self, prefix: &str, route: Route<B>) -> Result<(), RouteError> {
        nest(self, "", prefix, route)
    }

    fn prefix(&self) -> &str {
        ""
    }

    fn builder_mut(&mut self) -> &mut RouterBuilder<B> {
        self
    }
}

fn nest<B: Send + 'static>(
    builder: &mut RouterBuilder<B>,
    outer: &str,
    prefix: &str,
    route: Route<B>,
) -> Result<(), RouteError> {
    let prefix = normalise_prefix("ANY", prefix)?;
    let base = format!("{outer}{prefix}");
    // Both the prefix itself and everything below it. The catch-all goes first
    // because it is the one that can conflict with other routes; the exact
    // prefix can then only fail as a duplicate of an earlier mount.
    builder.add(None, &base, &format!("/*{NEST_REST}"), route.clone(), true)?;
    builder.add(None, &base, "", route, true)?;
    Ok(())
}

/// Routes registered under a common prefix, optionally wrapped in layers that
/// apply to these routes only.
pub struct Group<'a, B> {
    builder: &'a mut RouterBuilder<B>,
    prefix: String,
    layers: Vec<LayerFn<B>>,
}

impl<B> std::fmt::Debug for Group<'_, B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Group")
            .field("prefix", &self.prefix)
            .finish()
    }
}

impl<B: Send + 'static> Group<'_, B> {
    /// Wraps every route of this group (nested groups included) in `layer`.
    /// Several layers: the first added runs outermost. Layers inside the router
    /// see the matched route state.
    pub fn layer<L>(&mut self, layer: L) -> &mut Self
    where
        L: Layer<Route<B>> + Send + Sync + 'static,
        L::Service: IntoRoute<B>,
    {
        self.layers
            .push(Box::new(move |route| layer.layer(route).into_route()));
        self
    }

    fn register(
        &mut self,
        method: Option<Method>,
        path: &str,
        route: Route<B>,
    ) -> Result<RouteRef<'_, B>, RouteError> {
        let index = self.builder.add(method, &self.prefix, path, route, false)?;
        Ok(RouteRef {
            builder: self.builder,
            index,
        })
    }

    fn nest_at(&mut self, prefix: &str, route: Route<B>) -> Result<(), RouteError> {
        nest(self.builder, &self.prefix, prefix, route)
    }

    fn prefix(&self) -> &str {
        &self.prefix
    }

    fn builder_mut(&mut self) -> &mut RouterBuilder<B> {
        self.builder
    }
}

macro_rules! registration_methods {
    ($($method:ident => $constant:ident),* $(,)?) => {
        $(
            #[doc = concat!("Registers `service` for `", stringify!($constant), " path`.")]
            pub fn $method<S: IntoRoute<B>>(&mut self, path: &str, service: S) -> Result<RouteRef<'_, B>, RouteError> {
                self.register(Some(Method::$constant), path, service.into_route())
            }
        )*

        /// Registers `service` for every method; exact-method routes on the same
        /// path win, and `ANY` routes are not listed in `Allow`.
        pub fn any<S: IntoRoute<B>>(&mut self, path: &str, service: S) -> Result<RouteRef<'_, B>, RouteError> {
            self.register(None, path, service.into_route())
        }

        /// Registers `service` for `method`, including custom methods.
        pub fn route<S: IntoRoute<B>>(&mut self, method: Method, path: &str, service: S) -> Result<RouteRef<'_, B>, RouteError> {
            self.register(Some(method), path, service.into_route())
        }

        /// Registers `service` for a method given by name (`"ANY"` means every method).
        pub fn route_named<S: IntoRoute<B>>(&mut self, method: &str, path: &str, service: S) -> Result<RouteRef<'_, B>, RouteError> {
            let method = match method {
                "ANY" => None,
                m => Some(Method::from_bytes(m.as_bytes()).ok().filter(|_| !m.is_empty()).ok_or_else(|| {
                    RouteError::new(m, path, RouteErrorKind::InvalidMethod)
                })?),
            };
            self.register(method, path, service.into_route())
        }

        /// Mounts any tower service (an axum `Router`, a `ServeDir`...) at
        /// `prefix` for every method. The service sees the path with the prefix
        /// removed (`/static/a.css` under `/static` arrives as `/a.css`); the
        /// original URI is in the [`OriginalUri`](crate::OriginalUri) extension.
        pub fn nest_service<S: IntoRoute<B>>(&mut self, prefix: &str, service: S) -> Result<(), RouteError> {
            self.nest_at(prefix, service.into_route())
        }

        /// Registers routes under `prefix` (which may contain parameters). Layers
        /// added to the group apply to its routes only.
        pub fn group<F>(&mut self, prefix: &str, f: F) -> Result<(), RouteError>
        where
            F: FnOnce(&mut Group<'_, B>) -> Result<(), RouteError>,
        {
            let prefix = format!("{}{}", self.prefix(), normalise_prefix("GROUP", prefix)?);
            let builder = self.builder_mut();
            let start = builder.endpoints.len();
            let mut group = Group { builder, prefix, layers: Vec::new() };
            f(&mut group)?;
            let Group { builder, layers, .. } = group;
            if !layers.is_empty() {
                for endpoint in &mut builder.endpoints[start..] {
                    let mut route = endpoint.service.clone();
                    for layer in layers.iter().rev() {
                        route = layer(route);
                    }
                    endpoint.service = route;
                }
            }
            Ok(())
        }
    };
}

impl<B: Send + 'static> RouterBuilder<B> {
    registration_methods! {
        get => GET, post => POST, put => PUT, patch => PATCH, delete => DELETE,
        head => HEAD, options => OPTIONS,
    }
}

impl<B: Send + 'static> Group<'_, B> {
    registration_methods! {
        get => GET, post => POST, put => PUT, patch => PATCH, delete => DELETE,
        head => HEAD, options => OPTIONS,
    }
}

impl TrailingSlash {
    pub(crate) fn strips(self) -> bool {
        !matches!(self, TrailingSlash::Strict)
    }
}

impl MethodMismatch {
    pub(crate) fn answers_405(self) -> bool {
        matches!(self, MethodMismatch::MethodNotAllowed)
    }
}
