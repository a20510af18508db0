//! `App`: routes, global layers and the server in one value.

use std::convert::Infallible;
use std::future::Future;

use http::{Method, Request};
use plumego_core::error::{ApiError, ErrorType};
use plumego_core::server::{ServeReport, Server, ServerConfig, ServerError, shutdown_signal};
use plumego_core::{Body, BoxError, IntoResponse, Response};
use plumego_router::{
    Group, IntoRoute, RouteDescription, RouteError, RouteRef, Router, RouterBuilder, RouterConfig,
    UrlError,
};
use tower::util::BoxCloneSyncService;
use tower::{Layer, Service, ServiceExt};

/// The service an [`App`] turns into: the router wrapped in the global layers.
pub type AppService = BoxCloneSyncService<Request<Body>, Response, Infallible>;

type GlobalLayer = Box<dyn FnOnce(AppService) -> AppService + Send>;

/// Everything an [`App`] is configured with.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AppConfig {
    /// Listening, timeouts, HTTP/2, TLS, drain.
    pub server: ServerConfig,
    /// Trailing slashes, 405 policy, automatic OPTIONS.
    pub router: RouterConfig,
}

/// Why an [`App`] operation failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum AppError {
    /// Registration after [`App::prepare`].
    Prepared {
        /// The attempted operation, e.g. `add_route method=GET path=/x`.
        operation: String,
    },
    /// The router rejected a route.
    Route(RouteError),
    /// The server configuration or TLS files are invalid.
    Server(ServerError),
}

impl std::fmt::Display for AppError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Prepared { operation } => write!(
                f,
                "core {operation}: cannot register route after app has been prepared"
            ),
            Self::Route(e) => e.fmt(f),
            Self::Server(e) => write!(f, "core prepare_server: {e}"),
        }
    }
}

impl std::error::Error for AppError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Prepared { .. } => None,
            Self::Route(e) => Some(e),
            Self::Server(e) => Some(e),
        }
    }
}

impl From<RouteError> for AppError {
    fn from(e: RouteError) -> Self {
        Self::Route(e)
    }
}

struct Prepared {
    router: Router<Body>,
    service: AppService,
    server: Server,
}

/// A Plumego application.
///
/// Register routes and global layers, then [`run`](App::run) it (or take its
/// [`into_service`](App::into_service) to serve or test it elsewhere).
/// [`prepare`](App::prepare) validates the server configuration and freezes the
/// routes; when validation fails the app stays mutable.
///
/// ```
/// use plumego::{App, AppConfig, Body, RequestExt, handler_fn};
/// use tower::ServiceExt;
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let mut app = App::new(AppConfig::default());
/// app.get("/hello/:name", handler_fn(|req: http::Request<Body>| async move {
///     format!("hello {}", req.param("name").unwrap_or("world"))
/// }))?;
/// let res = app.into_service()?.oneshot(http::Request::get("/hello/ana").body(Body::empty())?).await?;
/// assert_eq!(res.status(), 200);
/// # Ok::<_, Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
pub struct App {
    config: AppConfig,
    routes: RouterBuilder<Body>,
    layers: Vec<GlobalLayer>,
    prepared: Option<Prepared>,
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App")
            .field("config", &self.config)
            .field("routes", &self.routes.len())
            .field("layers", &self.layers.len())
            .field("prepared", &self.prepared.is_some())
            .finish()
    }
}

impl Default for App {
    fn default() -> Self {
        Self::new(AppConfig::default())
    }
}

fn error_response(err: BoxError) -> Response {
    match err.downcast::<ApiError>() {
        Ok(api) => api.into_response(),
        Err(other) => ApiError::builder()
            .error_type(ErrorType::Internal)
            .message("internal server error")
            .source(other)
            .build()
            .into_response(),
    }
}

macro_rules! method_helpers {
    ($($name:ident => $method:ident),* $(,)?) => {
        $(
            #[doc = concat!("Registers `service` for `", stringify!($method), " path`.")]
            pub fn $name<S: IntoRoute<Body>>(&mut self, path: &str, service: S) -> Result<RouteRef<'_, Body>, AppError> {
                self.route(Method::$method, path, service)
            }
        )*
    };
}

impl App {
    /// An app with this configuration and no routes.
    pub fn new(config: AppConfig) -> Self {
        // The router configuration is applied by `prepare`, which builds.
        Self {
            config,
            routes: RouterBuilder::new(),
            layers: Vec::new(),
            prepared: None,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &AppConfig {
        &self.config
    }

    /// The configuration, to fix it after a failed [`prepare`](App::prepare).
    pub fn config_mut(&mut self) -> Result<&mut AppConfig, AppError> {
        self.mutable(|| "configure".to_owned())?;
        Ok(&mut self.config)
    }

    fn mutable(
        &mut self,
        operation: impl FnOnce() -> String,
    ) -> Result<&mut RouterBuilder<Body>, AppError> {
        if self.prepared.is_some() {
            return Err(AppError::Prepared {
                operation: operation(),
            });
        }
        Ok(&mut self.routes)
    }

    method_helpers! { get => GET, post => POST, put => PUT, patch => PATCH, delete => DELETE }

    /// Registers `service` for `method`.
    pub fn route<S: IntoRoute<Body>>(
        &mut self,
        method: Method,
        path: &str,
        service: S,
    ) -> Result<RouteRef<'_, Body>, AppError> {
        let op = || format!("add_route method={method} path={path}");
        Ok(self.mutable(op)?.route(method.clone(), path, service)?)
    }

    /// Registers `service` for every method.
    pub fn any<S: IntoRoute<Body>>(
        &mut self,
        path: &str,
        service: S,
    ) -> Result<RouteRef<'_, Body>, AppError> {
        let op = || format!("add_route method=ANY path={path}");
        Ok(self.mutable(op)?.any(path, service)?)
    }

    /// Registers routes under a prefix, with layers of their own.
    pub fn group<F>(&mut self, prefix: &str, f: F) -> Result<(), AppError>
    where
        F: FnOnce(&mut Group<'_, Body>) -> Result<(), RouteError>,
    {
        let op = || format!("add_group prefix={prefix}");
        Ok(self.mutable(op)?.group(prefix, f)?)
    }

    /// Mounts any tower service under a prefix.
    pub fn nest_service<S: IntoRoute<Body>>(
        &mut self,
        prefix: &str,
        service: S,
    ) -> Result<(), AppError> {
        let op = || format!("nest_service prefix={prefix}");
        Ok(self.mutable(op)?.nest_service(prefix, service)?)
    }

    /// The service for unmatched requests.
    pub fn fallback<S: IntoRoute<Body>>(&mut self, service: S) -> Result<(), AppError> {
        self.mutable(|| "fallback".to_owned())?.fallback(service);
        Ok(())
    }

    /// Adds a global layer around the router. **The first layer added runs
    /// outermost**: it sees the request first and the response last.
    ///
    /// Any tower layer works, including tower-http's; a layer error becomes the
    /// 500 envelope (or the [`ApiError`] it carries).
    pub fn layer<L, S>(&mut self, layer: L) -> Result<(), AppError>
    where
        L: Layer<AppService, Service = S> + Send + 'static,
        S: Service<Request<Body>> + Clone + Send + Sync + 'static,
        S::Response: IntoResponse,
        S::Error: Into<BoxError>,
        S::Future: Send + 'static,
    {
        self.mutable(|| "use_middleware".to_owned())?;
        self.layers.push(Box::new(move |inner: AppService| {
            let service = layer.layer(inner);
            // `oneshot` drives `poll_ready` inside the call, so readiness errors
            // (a load-shedding layer) become responses too.
            BoxCloneSyncService::new(tower::service_fn(move |req: Request<Body>| {
                let service = service.clone();
                async move {
                    Ok::<_, Infallible>(match service.oneshot(req).await {
                        Ok(res) => res.into_response(),
                        Err(err) => error_response(err.into()),
                    })
                }
            }))
        }));
        Ok(())
    }

    /// The URL of a named route.
    pub fn url_for(&self, name: &str, params: &[(&str, &str)]) -> Result<String, UrlError> {
        match &self.prepared {
            Some(p) => p.router.url_for(name, params),
            None => self.routes.url_for(name, params),
        }
    }

    /// Every route, sorted by method then pattern.
    pub fn routes(&self) -> Vec<RouteDescription> {
        match &self.prepared {
            Some(p) => p.router.routes(),
            None => self.routes.routes(),
        }
    }

    /// Whether [`prepare`](App::prepare) has succeeded.
    pub fn is_prepared(&self) -> bool {
        self.prepared.is_some()
    }

    /// Validates the server configuration (and loads TLS files), then freezes
    /// the routes and layers. Idempotent. On a validation failure nothing is
    /// frozen: fix the configuration and call it again.
    pub fn prepare(&mut self) -> Result<(), AppError> {
        if self.prepared.is_some() {
            return Ok(());
        }
        let server = Server::new(self.config.server.clone()).map_err(AppError::Server)?;
        self.routes.config(self.config.router);
        if self.routes.is_empty() {
            tracing::warn!(
                "no routes registered: all requests will receive 404; register routes before prepare"
            );
        }
        let routes = std::mem::take(&mut self.routes);
        let router = routes.build();
        let mut service = BoxCloneSyncService::new(router.clone());
        // Wrap from the last layer to the first so the first is outermost.
        for layer in self.layers.drain(..).rev() {
            service = layer(service);
        }
        self.prepared = Some(Prepared {
            router,
            service,
            server,
        });
        Ok(())
    }

    fn take_prepared(mut self) -> Result<Prepared, AppError> {
        self.prepare()?;
        self.prepared.take().ok_or_else(|| AppError::Prepared {
            operation: "prepare".to_owned(),
        })
    }

    /// Prepares and returns the complete service (for tests, or to serve it
    /// with something else).
    pub fn into_service(self) -> Result<AppService, AppError> {
        Ok(self.take_prepared()?.service)
    }

    /// Serves on `listener` until `shutdown` completes, then drains gracefully.
    pub async fn serve<F>(
        self,
        listener: tokio::net::TcpListener,
        shutdown: F,
    ) -> Result<ServeReport, AppError>
    where
        F: Future<Output = ()> + Send,
    {
        Ok(self.take_prepared()?.serve(listener, shutdown).await)
    }

    /// Binds the configured address and serves until SIGINT or SIGTERM.
    pub async fn run(self) -> Result<ServeReport, AppError> {
        let prepared = self.take_prepared()?;
        let listener = prepared.server.bind().await.map_err(AppError::Server)?;
        Ok(prepared.serve(listener, shutdown_signal()).await)
    }
}

impl Prepared {
    /// Serves the prepared stack, turning hyper's request bodies into
    /// Plumego's.
    async fn serve<F>(self, listener: tokio::net::TcpListener, shutdown: F) -> ServeReport
    where
        F: Future<Output = ()> + Send,
    {
        let service = self
            .service
            .map_request(|req: Request<hyper::body::Incoming>| req.map(Body::new));
        self.server.serve(listener, service, shutdown).await
    }
}
