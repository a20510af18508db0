//! The `/metrics` scrape endpoint over an OpenTelemetry meter provider.

use std::convert::Infallible;
use std::future::{Ready, ready};
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, header};
use http_body_util::Full;
use opentelemetry_sdk::error::OTelSdkError;
use opentelemetry_sdk::metrics::{MeterProviderBuilder, SdkMeterProvider};
use plumego_core::context::RequestId;
use plumego_core::error::{ApiError, ErrorType};
use prometheus::{Encoder, Registry, TEXT_FORMAT, TextEncoder};
use tower::Service;

/// Answers `GET` (and `HEAD`) with the Prometheus text exposition
/// (`text/plain; version=0.0.4`) of a registry that an OpenTelemetry
/// Prometheus exporter feeds. Mount it at `/metrics`; other methods get the 405
/// envelope.
///
/// The service holds its own registry instead of the `prometheus` crate's
/// default one, so two services in one process (or two tests) never share
/// metrics.
///
/// ```
/// use opentelemetry::metrics::MeterProvider;
/// use opentelemetry_sdk::metrics::SdkMeterProvider;
/// use plumego_layers::http_metrics::PrometheusService;
/// use tower::ServiceExt;
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let (provider, scrape) = PrometheusService::with_meter_provider(SdkMeterProvider::builder()).unwrap();
/// provider.meter("app").u64_counter("jobs.done").build().add(3, &[]);
/// let res = scrape.oneshot(http::Request::new(())).await.unwrap();
/// let body = http_body_util::BodyExt::collect(res.into_body()).await.unwrap().to_bytes();
/// assert!(std::str::from_utf8(&body).unwrap().contains("jobs_done_total{"));
/// # });
/// ```
#[derive(Debug, Clone)]
pub struct PrometheusService {
    registry: Registry,
}

impl PrometheusService {
    /// Adds a Prometheus exporter (the provider's pull reader) over a new
    /// registry to `builder`, and returns the built provider with the service
    /// that scrapes it. Pass the provider's meters to
    /// [`HttpMetricsConfig`](super::HttpMetricsConfig) and to the rest of the
    /// service; keep the provider alive as long as the service runs.
    pub fn with_meter_provider(
        builder: MeterProviderBuilder,
    ) -> Result<(SdkMeterProvider, Self), OTelSdkError> {
        let registry = Registry::new();
        let exporter = opentelemetry_prometheus::exporter()
            .with_registry(registry.clone())
            .build()?;
        Ok((builder.with_reader(exporter).build(), Self { registry }))
    }

    /// Serves `registry` as it is: for an exporter built with other options
    /// (`opentelemetry_prometheus::exporter().with_registry(..)`), or for
    /// collectors registered directly.
    pub fn from_registry(registry: Registry) -> Self {
        Self { registry }
    }

    /// The registry served.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// The exposition text of every metric in the registry.
    pub fn render(&self) -> Result<Vec<u8>, prometheus::Error> {
        let mut out = Vec::new();
        TextEncoder::new().encode(&self.registry.gather(), &mut out)?;
        Ok(out)
    }
}

impl<B> Service<Request<B>> for PrometheusService {
    type Response = Response<Full<Bytes>>;
    type Error = Infallible;
    type Future = Ready<Result<Response<Full<Bytes>>, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let request_id = req.extensions().get::<RequestId>();
        let head = req.method() == Method::HEAD;
        if req.method() != Method::GET && !head {
            let mut res = error(
                ApiError::new(ErrorType::MethodNotAllowed, "method not allowed"),
                request_id,
            );
            res.headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
            return ready(Ok(res));
        }
        let res = match self.render() {
            Ok(text) => {
                let len = text.len();
                let mut res = Response::new(Full::new(if head {
                    Bytes::new()
                } else {
                    Bytes::from(text)
                }));
                let headers = res.headers_mut();
                headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(TEXT_FORMAT));
                headers.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
                headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
                res
            }
            Err(err) => error(
                ApiError::new(ErrorType::Internal, format!("encode metrics: {err}")),
                request_id,
            ),
        };
        ready(Ok(res))
    }
}

/// The error envelope, as a plain full body.
fn error(mut err: ApiError, request_id: Option<&RequestId>) -> Response<Full<Bytes>> {
    if let (None, Some(id)) = (err.request_id(), request_id) {
        err.set_request_id(id.clone());
    }
    let mut res = Response::new(Full::new(err.to_json()));
    *res.status_mut() = err.status();
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    res
}
