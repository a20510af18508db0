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
}
