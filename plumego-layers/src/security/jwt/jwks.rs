//! Verification keys fetched from an identity provider's JWKS URL.

use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode, Uri, header};
use http_body_util::{BodyExt as _, Empty, Limited};
use plumego_core::BoxError;
use tower::{Service, ServiceExt as _};

use super::{JwtError, KeySet, KeySource, RefreshFuture};

/// The largest JWKS document accepted by default (1 MiB; real documents
/// are a few KiB).
pub const MAX_JWKS_BYTES: usize = 1 << 20;

/// The default limit for one fetch, connection included.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// An identity provider's JWKS URL (its `jwks_uri`), fetched with any tower
/// HTTP client. As a [`KeySource`] each load fetches the document and
/// [`sync_jwks`](KeySet::sync_jwks)es the set: keys the provider retired
/// go, new ones come; a failed fetch (timeout, non-200, oversized or
/// unusable document) changes nothing. Pair it with a
/// [`KeyRefresher`](super::KeyRefresher) to refresh on an interval and when
/// a token names a key the set does not know yet.
///
/// With the `jwks` feature, `JwksSource::new` brings a hyper client with
/// rustls and the Mozilla root certificates, for `https` URLs only
/// (`with_tls_config` for private CAs, `new_plain_http` for a provider on
/// loopback); any other client plugs in through
/// [`with_client`](Self::with_client). Errors, logs and `Debug` show the URL
/// without user-info or query, so credentials in it do not leak.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use std::convert::Infallible;
/// use http::{Request, Response};
/// use http_body_util::{Empty, Full};
/// use bytes::Bytes;
/// use plumego_layers::security::jwt::{JwksSource, KeySet, KeySource};
///
/// // Any tower service answering HTTP requests will do; here, a stub.
/// let idp = tower::service_fn(|_req: Request<Empty<Bytes>>| async {
///     let jwks = r#"{"keys":[{"kty":"OKP","crv":"Ed25519","kid":"idp-1","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}"#;
///     Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(jwks))))
/// });
/// let source = JwksSource::with_client("https://idp.example/.well-known/jwks.json", idp).unwrap();
/// let keys = KeySet::new();
/// assert_eq!(source.load(&keys).await.unwrap(), 1);
/// assert_eq!(keys.kids(), ["idp-1"]);
/// # }
/// ```
#[derive(Clone)]
pub struct JwksSource<C> {
    uri: Uri,
    /// `scheme://host[:port]/path`: what errors, logs and `Debug` show, so
    /// credentials in the user-info or the query never reach them.
    shown: String,
    client: C,
    timeout: Duration,
    max_bytes: usize,
}

impl<C> std::fmt::Debug for JwksSource<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwksSource")
            .field("uri", &self.shown)
            .field("timeout", &self.timeout)
            .field("max_bytes", &self.max_bytes)
            .finish_non_exhaustive()
    }
}

fn fetch_err(e: impl std::fmt::Display) -> JwtError {
    JwtError::Fetch(e.to_string())
}

impl<C> JwksSource<C> {
    /// Fetches `uri` (an absolute `http` or `https` URL) with `client`.
    pub fn with_client(uri: &str, client: C) -> Result<Self, JwtError> {
        let uri: Uri = uri
            .parse()
            .map_err(|e| JwtError::InvalidConfig(invalid_uri(e)))?;
        if !matches!(uri.scheme_str(), Some("http" | "https")) || uri.host().is_none() {
            return Err(JwtError::InvalidConfig(
                "the JWKS URL must be an absolute http or https URL",
            ));
        }
        let shown = format!(
            "{}://{}{}",
            uri.scheme_str().unwrap_or("https"),
            uri.authority()
                .map_or("", |a| a.as_str().rsplit('@').next().unwrap_or("")),
            uri.path()
        );
        Ok(Self {
            uri,
            shown,
            client,
            timeout: DEFAULT_TIMEOUT,
            max_bytes: MAX_JWKS_BYTES,
        })
    }

    /// The longest one fetch may take (default 10 seconds).
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The largest document accepted (default [`MAX_JWKS_BYTES`]).
    #[must_use]
    pub fn max_bytes(mut self, max_bytes: usize) -> Self {
        self.max_bytes = max_bytes;
        self
    }

    /// The URL fetched.
    pub fn uri(&self) -> &Uri {
        &self.uri
    }

    /// The URL as errors and logs show it: without user-info or query.
    pub fn shown_uri(&self) -> &str {
        &self.shown
    }
}

fn invalid_uri(_: http::uri::InvalidUri) -> &'static str {
    "the JWKS URL does not parse"
}

impl<C, B> JwksSource<C>
where
    C: Service<Request<Empty<Bytes>>, Response = Response<B>> + Clone + Send + Sync + 'static,
    C::Future: Send,
    C::Error: Into<BoxError>,
    B: http_body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    /// Fetches the document: a GET that must answer 200 with at most
    /// `max_bytes` of UTF-8 within the timeout.
    pub async fn fetch(&self) -> Result<String, JwtError> {
        tokio::time::timeout(self.timeout, self.fetch_unbounded())
            .await
            .map_err(|_| JwtError::Fetch(format!("{} timed out", self.shown)))?
    }

    async fn fetch_unbounded(&self) -> Result<String, JwtError> {
        let request = Request::get(self.uri.clone())
            .header(header::ACCEPT, "application/json, application/jwk-set+json")
            .body(Empty::new())
            .map_err(fetch_err)?;
        let response = self
            .client
            .clone()
            .oneshot(request)
            .await
            .map_err(|e| JwtError::Fetch(format!("{}: {}", self.shown, e.into())))?;
        if response.status() != StatusCode::OK {
            return Err(JwtError::Fetch(format!(
                "{} answered {}",
                self.shown,
                response.status()
            )));
        }
        let too_big = crate::body::content_length(response.headers())
            .is_some_and(|len| len > self.max_bytes as u64);
        if too_big {
            return Err(self.oversized());
        }
        let body = Limited::new(response.into_body(), self.max_bytes)
            .collect()
            .await
            .map_err(|e| {
                if e.is::<http_body_util::LengthLimitError>() {
                    self.oversized()
                } else {
                    JwtError::Fetch(format!("{}: {e}", self.shown))
                }
            })?
            .to_bytes();
        String::from_utf8(body.to_vec()).map_err(|_| {
            JwtError::Fetch(format!("{} sent a document that is not UTF-8", self.shown))
        })
    }

    fn oversized(&self) -> JwtError {
        JwtError::Fetch(format!(
            "{} sent more than {} bytes",
            self.shown, self.max_bytes
        ))
    }
}

impl<C, B> KeySource for JwksSource<C>
where
    C: Service<Request<Empty<Bytes>>, Response = Response<B>> + Clone + Send + Sync + 'static,
    C::Future: Send,
    C::Error: Into<BoxError>,
    B: http_body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    fn load<'a>(&'a self, set: &'a KeySet) -> RefreshFuture<'a> {
        Box::pin(async move {
            let document = self.fetch().await?;
            set.sync_jwks(&document)
        })
    }
}

#[cfg(feature = "jwks")]
mod https {
    use bytes::Bytes;
    use http_body_util::Empty;
    use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
    use hyper_util::client::legacy::Client;
    use hyper_util::client::legacy::connect::HttpConnector;
    use hyper_util::rt::TokioExecutor;
    use tokio_rustls::rustls::ClientConfig;

    use super::{JwksSource, JwtError};

    /// The bundled client: hyper over rustls (ring), HTTP/1.1, `https`
    /// and `http` URLs.
    pub type HttpsClient = Client<HttpsConnector<HttpConnector>, Empty<Bytes>>;

    impl JwksSource<HttpsClient> {
        /// Fetches `uri`, which must be `https`, with the bundled client,
        /// trusting the Mozilla root certificates (`webpki-roots`), so it
        /// works the same on every machine. Keys decide who may sign
        /// tokens: fetching them over plain HTTP would let anyone on the
        /// path inject their own, so that needs
        /// [`new_plain_http`](Self::new_plain_http).
        ///
        /// ```
        /// # #[tokio::main(flavor = "current_thread")]
        /// # async fn main() {
        /// use std::{sync::Arc, time::Duration};
        /// use plumego_layers::security::jwt::{JwksSource, KeyRefresher, KeySet};
        ///
        /// let keys = Arc::new(KeySet::new());
        /// let source = JwksSource::new("https://idp.example/.well-known/jwks.json").unwrap();
        /// let refresher = KeyRefresher::new(keys.clone(), source);
        /// // refresher.refresh().await? at startup, then:
        /// let _task = refresher.spawn(Duration::from_secs(300));
        ///
        /// assert!(JwksSource::new("http://idp.example/jwks.json").is_err());
        /// # }
        /// ```
        pub fn new(uri: &str) -> Result<Self, JwtError> {
            let connector = HttpsConnectorBuilder::new()
                .with_webpki_roots()
                .https_only()
                .enable_http1()
                .build();
            Self::https(uri, connector)
        }

        /// Fetches an `https` `uri` with the bundled client and this TLS
        /// configuration (a private CA, client certificates).
        pub fn with_tls_config(uri: &str, config: ClientConfig) -> Result<Self, JwtError> {
            let connector = HttpsConnectorBuilder::new()
                .with_tls_config(config)
                .https_only()
                .enable_http1()
                .build();
            Self::https(uri, connector)
        }

        /// Fetches `uri` over plain HTTP too: for a provider on loopback or
        /// behind a sidecar that terminates TLS, never across a network an
        /// attacker can reach.
        pub fn new_plain_http(uri: &str) -> Result<Self, JwtError> {
            let connector = HttpsConnectorBuilder::new()
                .with_webpki_roots()
                .https_or_http()
                .enable_http1()
                .build();
            Self::with_client(uri, Client::builder(TokioExecutor::new()).build(connector))
        }

        fn https(uri: &str, connector: HttpsConnector<HttpConnector>) -> Result<Self, JwtError> {
            let source =
                Self::with_client(uri, Client::builder(TokioExecutor::new()).build(connector))?;
            if source.uri.scheme_str() != Some("https") {
                return Err(JwtError::InvalidConfig(
                    "the JWKS URL must be https (new_plain_http allows http)",
                ));
            }
            Ok(source)
        }
    }
}

#[cfg(feature = "jwks")]
pub use https::HttpsClient;
