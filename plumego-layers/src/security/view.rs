//! A borrowed, body-less view of a request, so policies, key functions and
//! authenticators are plain (object-safe) functions whatever the body type.

use std::net::SocketAddr;
use std::sync::Arc;

use http::{Extensions, HeaderMap, Method, Uri};
use plumego_core::context::{PeerAddr, Principal, RouteState};

/// The parts of a request that security decisions read.
#[derive(Debug, Clone, Copy)]
pub struct RequestView<'a> {
    /// The method.
    pub method: &'a Method,
    /// The URI.
    pub uri: &'a Uri,
    /// The headers.
    pub headers: &'a HeaderMap,
    /// The extensions (request id, route, principal, peer address...).
    pub extensions: &'a Extensions,
}

impl<'a> RequestView<'a> {
    /// A view of a request.
    pub fn new<B>(req: &'a http::Request<B>) -> Self {
        Self {
            method: req.method(),
            uri: req.uri(),
            headers: req.headers(),
            extensions: req.extensions(),
        }
    }

    /// A view of request parts.
    pub fn from_parts(parts: &'a http::request::Parts) -> Self {
        Self {
            method: &parts.method,
            uri: &parts.uri,
            headers: &parts.headers,
            extensions: &parts.extensions,
        }
    }

    /// The matched route, when the layer runs inside Plumego's router.
    pub fn route(&self) -> Option<&'a RouteState> {
        self.extensions.get::<RouteState>()
    }

    /// The authenticated principal.
    pub fn principal(&self) -> Option<&'a Principal> {
        self.extensions.get::<Arc<Principal>>().map(|p| &**p)
    }

    /// The connection's peer address, set by the Plumego server.
    pub fn peer_addr(&self) -> Option<SocketAddr> {
        self.extensions.get::<PeerAddr>().map(|p| p.0)
    }
}
