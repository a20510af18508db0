//! Typed access to the request context carried in `http::Extensions`.

use std::sync::Arc;

use http::Extensions;

use super::{PeerAddr, Principal, RequestId, RouteState, TraceContext};

mod sealed {
    pub trait Sealed {}
    impl<B> Sealed for http::Request<B> {}
    impl Sealed for http::request::Parts {}
}

/// Reads Plumego's request context from a [`http::Request`] or its
/// [`http::request::Parts`].
///
/// ```
/// use plumego_core::context::{RequestExt, RequestId};
///
/// let mut req = http::Request::new(());
/// assert!(req.request_id().is_none());
/// req.extensions_mut().insert(RequestId::new("abc").unwrap());
/// assert_eq!(req.request_id().unwrap().as_str(), "abc");
/// assert_eq!(req.param("id"), None);
/// ```
pub trait RequestExt: sealed::Sealed {
    /// The extensions (a shared accessor for the two implementors).
    fn context_extensions(&self) -> &Extensions;

    /// The request id set by the request-id layer (or a caller).
    fn request_id(&self) -> Option<&RequestId> {
        self.context_extensions().get::<RequestId>()
    }

    /// The matched route, set by the router.
    fn route(&self) -> Option<&RouteState> {
        self.context_extensions().get::<RouteState>()
    }

    /// A path parameter of the matched route.
    fn param(&self, name: &str) -> Option<&str> {
        self.route()?.param(name)
    }

    /// The trace context, set by the tracing layer.
    fn trace_context(&self) -> Option<&TraceContext> {
        self.context_extensions().get::<TraceContext>()
    }

    /// The remote address of the connection, set by the Plumego server.
    fn peer_addr(&self) -> Option<std::net::SocketAddr> {
        self.context_extensions().get::<PeerAddr>().map(|p| p.0)
    }

    /// The authenticated principal, set by an authentication layer.
    fn principal(&self) -> Option<&Principal> {
        self.context_extensions()
            .get::<Arc<Principal>>()
            .map(|p| &**p)
    }
}

impl<B> RequestExt for http::Request<B> {
    fn context_extensions(&self) -> &Extensions {
        self.extensions()
    }
}

impl RequestExt for http::request::Parts {
    fn context_extensions(&self) -> &Extensions {
        &self.extensions
    }
}
