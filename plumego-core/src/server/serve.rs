//! Serving any tower service over hyper, with graceful shutdown.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tower::{Service, ServiceExt};

use super::config::{ConfigError, ServerConfig};
use crate::body::BoxError;
use crate::context::{PeerAddr, TlsConnection};

/// Time allowed for a TLS handshake when no header timeout is configured.
const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long an HTTP/2 keep-alive ping may go unanswered.
const H2_PING_TIMEOUT: Duration = Duration::from_secs(20);

/// Why the server could not start.
#[derive(Debug)]
#[non_exhaustive]
pub enum ServerError {
    /// The configuration is invalid.
    Config(ConfigError),
    /// The address could not be bound.
    Bind(SocketAddr, std::io::Error),
    /// The TLS certificate or key could not be loaded.
    Tls(String),
}

impl std::fmt::Display for ServerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Config(e) => write!(f, "invalid server config: {e}"),
            Self::Bind(addr, e) => write!(f, "bind {addr}: {e}"),
            Self::Tls(e) => write!(f, "load tls certificate: {e}"),
        }
    }
}

impl std::error::Error for ServerError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Config(e) => Some(e),
            Self::Bind(_, e) => Some(e),
            Self::Tls(_) => None,
        }
    }
}

impl From<ConfigError> for ServerError {
    fn from(e: ConfigError) -> Self {
        Self::Config(e)
    }
}

/// How a shutdown went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServeReport {
    /// Every connection finished within the drain timeout.
    pub drained: bool,
    /// Connections still open at the drain deadline, closed forcibly.
    pub aborted_connections: usize,
}

/// An HTTP/1.1 and HTTP/2 server for any tower service.
///
/// ```no_run
/// use plumego_core::server::{Server, ServerConfig};
/// use plumego_core::handler_fn;
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let server = Server::new(ServerConfig { addr: "127.0.0.1:8080".into(), ..Default::default() })?;
/// server.run(handler_fn(|_req| async { "hello" })).await?;
/// # Ok(()) }
/// ```
pub struct Server {
    config: ServerConfig,
    addr: SocketAddr,
    #[cfg(feature = "tls")]
    tls: Option<tokio_rustls::TlsAcceptor>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("config", &self.config)
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl Server {
    /// Validates the configuration and loads the TLS files, if any.
    pub fn new(config: ServerConfig) -> Result<Self, ServerError> {
        let addr = config.validate()?;
        #[cfg(feature = "tls")]
        let tls = match &config.tls {
            Some(files) => Some(super::tls::acceptor(files, config.http2)?),
            None => None,
        };
        Ok(Self {
            config,
            addr,
            #[cfg(feature = "tls")]
            tls,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &ServerConfig {
        &self.config
    }

    /// Binds the configured address.
    pub async fn bind(&self) -> Result<TcpListener, ServerError> {
        TcpListener::bind(self.addr)
            .await
            .map_err(|e| ServerError::Bind(self.addr, e))
    }

    /// Binds and serves until SIGINT or SIGTERM, then shuts down gracefully.
    pub async fn run<S, B>(self, service: S) -> Result<ServeReport, ServerError>
    where
        S: Service<http::Request<Incoming>, Response = http::Response<B>> + Clone + Send + 'static,
        S::Future: Send + 'static,
        S::Error: Into<BoxError>,
        B: http_body::Body + Send + 'static,
        B::Data: Send,
        B::Error: Into<BoxError>,
    {
        let listener = self.bind().await?;
        Ok(self.serve(listener, service, shutdown_signal()).await)
    }

    /// Serves connections from `listener` until `shutdown` completes.
    ///
    /// Shutdown stops accepting at once (new connections are refused), lets
    /// in-flight requests finish, closes idle connections, and after the drain
    /// timeout closes whatever is left.
    pub async fn serve<S, B, F>(self, listener: TcpListener, service: S, shutdown: F) -> ServeReport
    where
        S: Service<http::Request<Incoming>, Response = http::Response<B>> + Clone + Send + 'static,
        S::Future: Send + 'static,
        S::Error: Into<BoxError>,
        B: http_body::Body + Send + 'static,
        B::Data: Send,
        B::Error: Into<BoxError>,
        F: Future<Output = ()> + Send,
    {
        let builder = Arc::new(self.connection_builder());
        let (stop_tx, stop_rx) = watch::channel(());
        let mut connections = JoinSet::new();
        let mut shutdown = std::pin::pin!(shutdown);
        if let Ok(addr) = listener.local_addr() {
            tracing::info!(addr = %addr, "server listening");
        }
        loop {
            tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok((stream, peer)) => {
                        // Small writes (headers, SSE events) must not wait for Nagle.
                        let _ = stream.set_nodelay(true);
                        #[cfg(feature = "tls")]
                        let tls_connection = self.tls.is_some();
                        #[cfg(not(feature = "tls"))]
                        let tls_connection = false;
                        let service = service.clone().map_request(move |mut req: http::Request<Incoming>| {
                            req.extensions_mut().insert(PeerAddr(peer));
                            if tls_connection {
                                req.extensions_mut().insert(TlsConnection);
                            }
                            req
                        });
                        let connection = Connection {
                            builder: builder.clone(),
                            stop: stop_rx.clone(),
                            handshake_timeout: self.config.header_read_timeout.unwrap_or(DEFAULT_HANDSHAKE_TIMEOUT),
                        };
                        #[cfg(feature = "tls")]
                        let tls = self.tls.clone();
                        connections.spawn(async move {
                            #[cfg(feature = "tls")]
                            if let Some(acceptor) = tls {
                                return connection.serve_tls(acceptor, stream, service).await;
                            }
                            connection.serve(stream, service).await;
                        });
                    }
                    Err(err) => {
                        // Usually out of file descriptors: back off instead of spinning.
                        tracing::warn!(error = %err, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                },
                Some(_) = connections.join_next(), if !connections.is_empty() => {}
                () = &mut shutdown => break,
            }
        }
        drop(listener);
        let open = connections.len();
        tracing::info!(
            open_connections = open,
            "shutting down: draining connections"
        );
        drop(stop_tx);
        let drain = async { while connections.join_next().await.is_some() {} };
        let drained = tokio::time::timeout(self.config.drain_timeout, drain)
            .await
            .is_ok();
        let aborted_connections = connections.len();
        if !drained {
            tracing::warn!(
                open_connections = aborted_connections,
                "drain timeout reached: closing remaining connections"
            );
            connections.shutdown().await;
        }
        ServeReport {
            drained,
            aborted_connections,
        }
    }

    fn connection_builder(&self) -> Protocols {
        if !self.config.http2 {
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(self.config.header_read_timeout)
                .max_buf_size(self.config.max_header_bytes);
            return Protocols::Http1Only(builder);
        }
        let mut builder = auto::Builder::new(TokioExecutor::new());
        builder
            .http1()
            .timer(TokioTimer::new())
            .header_read_timeout(self.config.header_read_timeout)
            .max_buf_size(self.config.max_header_bytes);
        builder
            .http2()
            .timer(TokioTimer::new())
            .max_header_list_size(u32::try_from(self.config.max_header_bytes).unwrap_or(u32::MAX))
            .keep_alive_interval(self.config.idle_timeout)
            .keep_alive_timeout(H2_PING_TIMEOUT);
        Protocols::Auto(builder)
    }
}

enum Protocols {
    Auto(auto::Builder<TokioExecutor>),
    Http1Only(hyper::server::conn::http1::Builder),
}

struct Connection {
    builder: Arc<Protocols>,
    stop: watch::Receiver<()>,
    #[cfg_attr(not(feature = "tls"), allow(dead_code))]
    handshake_timeout: Duration,
}

impl Connection {
    async fn serve<I, S, B>(mut self, io: I, service: S)
    where
        I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
        S: Service<http::Request<Incoming>, Response = http::Response<B>> + Clone + Send + 'static,
        S::Future: Send + 'static,
        S::Error: Into<BoxError>,
        B: http_body::Body + Send + 'static,
        B::Data: Send,
        B::Error: Into<BoxError>,
    {
        let io = TokioIo::new(io);
        let service = TowerToHyperService::new(service);
        // Both connection kinds have an inherent `graceful_shutdown` but no
        // common trait, hence the macro.
        macro_rules! drive {
            ($conn:expr) => {{
                let mut conn = std::pin::pin!($conn);
                tokio::select! {
                    result = conn.as_mut() => result.map_err(BoxError::from),
                    _ = self.stop.changed() => {
                        conn.as_mut().graceful_shutdown();
                        conn.await.map_err(BoxError::from)
                    }
                }
            }};
        }
        let result = match &*self.builder {
            Protocols::Auto(builder) => drive!(builder.serve_connection_with_upgrades(io, service)),
            // The auto builder ignores `http1_only` for upgradable connections,
            // so HTTP/1-only serving uses hyper's own builder.
            Protocols::Http1Only(builder) => {
                drive!(builder.serve_connection(io, service).with_upgrades())
            }
        };
        if let Err(err) = result {
            tracing::debug!(error = %err, "connection ended with an error");
        }
    }

    #[cfg(feature = "tls")]
    async fn serve_tls<S, B>(
        self,
        acceptor: tokio_rustls::TlsAcceptor,
        stream: tokio::net::TcpStream,
        service: S,
    ) where
        S: Service<http::Request<Incoming>, Response = http::Response<B>> + Clone + Send + 'static,
        S::Future: Send + 'static,
        S::Error: Into<BoxError>,
        B: http_body::Body + Send + 'static,
        B::Data: Send,
        B::Error: Into<BoxError>,
    {
        match tokio::time::timeout(self.handshake_timeout, acceptor.accept(stream)).await {
            Ok(Ok(tls)) => self.serve(tls, service).await,
            Ok(Err(err)) => tracing::debug!(error = %err, "tls handshake failed"),
            Err(_) => tracing::debug!("tls handshake timed out"),
        }
    }
}

/// Completes on SIGINT (Ctrl-C) or, on Unix, SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut sig) => {
                sig.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutdown signal received");
}
