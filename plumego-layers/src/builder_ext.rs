//! One `ServiceBuilder` method per layer.

#[allow(unused_imports)]
use tower::ServiceBuilder;
#[allow(unused_imports)]
use tower::layer::util::Stack;

/// Adds Plumego's layers to [`tower::ServiceBuilder`].
///
/// ```
/// # #[cfg(feature = "request-id")] {
/// use plumego_layers::ServiceBuilderExt;
/// use plumego_layers::request_id::RequestIdConfig;
///
/// let svc = tower::ServiceBuilder::new()
///     .plumego_request_id(RequestIdConfig::default())
///     .service(tower::service_fn(|_req: http::Request<()>| async {
///         Ok::<_, std::convert::Infallible>(http::Response::new(http_body_util::Empty::<bytes::Bytes>::new()))
///     }));
/// # let _ = svc; }
/// ```
pub trait ServiceBuilderExt<L>: sealed::Sealed {
    /// See [`request_id`](crate::request_id).
    #[cfg(feature = "request-id")]
    fn plumego_request_id(
        self,
        config: crate::request_id::RequestIdConfig,
    ) -> ServiceBuilder<Stack<crate::request_id::RequestIdLayer, L>>;

    /// See [`recovery`](crate::recovery).
    #[cfg(feature = "recovery")]
    fn plumego_recovery(self) -> ServiceBuilder<Stack<crate::recovery::RecoveryLayer, L>>;

    /// See [`body_limit`](crate::body_limit).
    #[cfg(feature = "body-limit")]
    fn plumego_body_limit(
        self,
        config: crate::body_limit::BodyLimitConfig,
    ) -> ServiceBuilder<Stack<crate::body_limit::BodyLimitLayer, L>>;

    /// See [`timeout`](crate::timeout).
    #[cfg(feature = "timeout")]
    fn plumego_timeout(
        self,
        config: crate::timeout::TimeoutConfig,
    ) -> ServiceBuilder<Stack<crate::timeout::TimeoutLayer, L>>;

    /// See [`concurrency_limit`](crate::concurrency_limit).
    #[cfg(feature = "concurrency-limit")]
    fn plumego_concurrency_limit(
        self,
        config: crate::concurrency_limit::ConcurrencyLimitConfig,
    ) -> ServiceBuilder<Stack<crate::concurrency_limit::ConcurrencyLimitLayer, L>>;

    /// See [`http_metrics`](crate::http_metrics).
    #[cfg(feature = "http-metrics")]
    fn plumego_http_metrics(
        self,
        config: crate::http_metrics::HttpMetricsConfig,
    ) -> ServiceBuilder<Stack<crate::http_metrics::HttpMetricsLayer, L>>;

    /// See [`trace`](crate::trace).
    #[cfg(feature = "trace")]
    fn plumego_trace(
        self,
        config: crate::trace::TraceConfig,
    ) -> ServiceBuilder<Stack<crate::trace::TraceLayer, L>>;

    /// See [`access_log`](crate::access_log).
    #[cfg(feature = "access-log")]
    fn plumego_access_log(
        self,
        config: crate::access_log::AccessLogConfig,
    ) -> ServiceBuilder<Stack<crate::access_log::AccessLogLayer, L>>;

    /// See [`singleflight`](crate::singleflight).
    #[cfg(feature = "singleflight")]
    fn plumego_singleflight(
        self,
        config: crate::singleflight::SingleflightConfig,
    ) -> ServiceBuilder<Stack<crate::singleflight::SingleflightLayer, L>>;

    /// See [`cors`](crate::cors).
    #[cfg(feature = "cors")]
    fn plumego_cors(
        self,
        layer: crate::cors::CorsLayer,
    ) -> ServiceBuilder<Stack<crate::cors::CorsLayer, L>>;

    /// See [`compression`](crate::compression).
    #[cfg(feature = "compression")]
    fn plumego_compression(
        self,
        config: crate::compression::CompressionConfig,
    ) -> ServiceBuilder<
        Stack<tower_http::compression::CompressionLayer<crate::compression::PlumegoPredicate>, L>,
    >;

    /// See [`security_headers`](crate::security_headers).
    #[cfg(feature = "security-headers")]
    fn plumego_security_headers(
        self,
        layer: crate::security_headers::SecurityHeadersLayer,
    ) -> ServiceBuilder<Stack<crate::security_headers::SecurityHeadersLayer, L>>;

    /// See [`debug_errors`](crate::debug_errors).
    #[cfg(feature = "debug-errors")]
    fn plumego_debug_errors(
        self,
        config: crate::debug_errors::DebugErrorsConfig,
    ) -> ServiceBuilder<Stack<crate::debug_errors::DebugErrorsLayer, L>>;

    /// See [`idempotency`](crate::idempotency).
    #[cfg(feature = "idempotency")]
    fn plumego_idempotency(
        self,
        layer: crate::idempotency::IdempotencyLayer,
    ) -> ServiceBuilder<Stack<crate::idempotency::IdempotencyLayer, L>>;

    /// See [`security::auth`](crate::security::auth).
    #[cfg(feature = "security")]
    fn plumego_authenticate(
        self,
        layer: crate::security::auth::AuthenticateLayer,
    ) -> ServiceBuilder<Stack<crate::security::auth::AuthenticateLayer, L>>;

    /// See [`security::auth`](crate::security::auth).
    #[cfg(feature = "security")]
    fn plumego_authorize(
        self,
        layer: crate::security::auth::AuthorizeLayer,
    ) -> ServiceBuilder<Stack<crate::security::auth::AuthorizeLayer, L>>;

    /// See [`security::rate_limit`](crate::security::rate_limit).
    #[cfg(feature = "security")]
    fn plumego_rate_limit(
        self,
        config: crate::security::rate_limit::RateLimitConfig,
    ) -> ServiceBuilder<Stack<crate::security::rate_limit::RateLimitLayer, L>>;

    /// See [`security::csrf`](crate::security::csrf).
    #[cfg(feature = "security")]
    fn plumego_csrf(
        self,
        config: crate::security::csrf::CsrfConfig,
    ) -> ServiceBuilder<Stack<crate::security::csrf::CsrfLayer, L>>;
}

mod sealed {
    pub trait Sealed {}
    impl<L> Sealed for tower::ServiceBuilder<L> {}
}

impl<L> ServiceBuilderExt<L> for ServiceBuilder<L> {
    #[cfg(feature = "request-id")]
    fn plumego_request_id(
        self,
        config: crate::request_id::RequestIdConfig,
    ) -> ServiceBuilder<Stack<crate::request_id::RequestIdLayer, L>> {
        self.layer(crate::request_id::RequestIdLayer::new(config))
    }

    #[cfg(feature = "recovery")]
    fn plumego_recovery(self) -> ServiceBuilder<Stack<crate::recovery::RecoveryLayer, L>> {
        self.layer(crate::recovery::RecoveryLayer::new())
    }

    #[cfg(feature = "body-limit")]
    fn plumego_body_limit(
        self,
        config: crate::body_limit::BodyLimitConfig,
    ) -> ServiceBuilder<Stack<crate::body_limit::BodyLimitLayer, L>> {
        self.layer(crate::body_limit::BodyLimitLayer::new(config))
    }

    #[cfg(feature = "timeout")]
    fn plumego_timeout(
        self,
        config: crate::timeout::TimeoutConfig,
    ) -> ServiceBuilder<Stack<crate::timeout::TimeoutLayer, L>> {
        self.layer(crate::timeout::TimeoutLayer::new(config))
    }

    #[cfg(feature = "concurrency-limit")]
    fn plumego_concurrency_limit(
        self,
        config: crate::concurrency_limit::ConcurrencyLimitConfig,
    ) -> ServiceBuilder<Stack<crate::concurrency_limit::ConcurrencyLimitLayer, L>> {
        self.layer(crate::concurrency_limit::ConcurrencyLimitLayer::new(config))
    }

    #[cfg(feature = "http-metrics")]
    fn plumego_http_metrics(
        self,
        config: crate::http_metrics::HttpMetricsConfig,
    ) -> ServiceBuilder<Stack<crate::http_metrics::HttpMetricsLayer, L>> {
        self.layer(crate::http_metrics::HttpMetricsLayer::new(config))
    }

    #[cfg(feature = "trace")]
    fn plumego_trace(
        self,
        config: crate::trace::TraceConfig,
    ) -> ServiceBuilder<Stack<crate::trace::TraceLayer, L>> {
        self.layer(crate::trace::TraceLayer::new(config))
    }

    #[cfg(feature = "access-log")]
    fn plumego_access_log(
        self,
        config: crate::access_log::AccessLogConfig,
    ) -> ServiceBuilder<Stack<crate::access_log::AccessLogLayer, L>> {
        self.layer(crate::access_log::AccessLogLayer::new(config))
    }

    #[cfg(feature = "singleflight")]
    fn plumego_singleflight(
        self,
        config: crate::singleflight::SingleflightConfig,
    ) -> ServiceBuilder<Stack<crate::singleflight::SingleflightLayer, L>> {
        self.layer(crate::singleflight::SingleflightLayer::new(config))
    }

    #[cfg(feature = "cors")]
    fn plumego_cors(
        self,
        layer: crate::cors::CorsLayer,
    ) -> ServiceBuilder<Stack<crate::cors::CorsLayer, L>> {
        self.layer(layer)
    }

    #[cfg(feature = "compression")]
    fn plumego_compression(
        self,
        config: crate::compression::CompressionConfig,
    ) -> ServiceBuilder<
        Stack<tower_http::compression::CompressionLayer<crate::compression::PlumegoPredicate>, L>,
    > {
        self.layer(crate::compression::compression_layer(config))
    }

    #[cfg(feature = "security-headers")]
    fn plumego_security_headers(
        self,
        layer: crate::security_headers::SecurityHeadersLayer,
    ) -> ServiceBuilder<Stack<crate::security_headers::SecurityHeadersLayer, L>> {
        self.layer(layer)
    }

    #[cfg(feature = "debug-errors")]
    fn plumego_debug_errors(
        self,
        config: crate::debug_errors::DebugErrorsConfig,
    ) -> ServiceBuilder<Stack<crate::debug_errors::DebugErrorsLayer, L>> {
        self.layer(crate::debug_errors::DebugErrorsLayer::new(config))
    }

    #[cfg(feature = "idempotency")]
    fn plumego_idempotency(
        self,
        layer: crate::idempotency::IdempotencyLayer,
    ) -> ServiceBuilder<Stack<crate::idempotency::IdempotencyLayer, L>> {
        self.layer(layer)
    }

    #[cfg(feature = "security")]
    fn plumego_authenticate(
        self,
        layer: crate::security::auth::AuthenticateLayer,
    ) -> ServiceBuilder<Stack<crate::security::auth::AuthenticateLayer, L>> {
        self.layer(layer)
    }

    #[cfg(feature = "security")]
    fn plumego_authorize(
        self,
        layer: crate::security::auth::AuthorizeLayer,
    ) -> ServiceBuilder<Stack<crate::security::auth::AuthorizeLayer, L>> {
        self.layer(layer)
    }

    #[cfg(feature = "security")]
    fn plumego_rate_limit(
        self,
        config: crate::security::rate_limit::RateLimitConfig,
    ) -> ServiceBuilder<Stack<crate::security::rate_limit::RateLimitLayer, L>> {
        self.layer(crate::security::rate_limit::RateLimitLayer::new(config))
    }

    #[cfg(feature = "security")]
    fn plumego_csrf(
        self,
        config: crate::security::csrf::CsrfConfig,
    ) -> ServiceBuilder<Stack<crate::security::csrf::CsrfLayer, L>> {
        self.layer(crate::security::csrf::CsrfLayer::new(config))
    }
}
