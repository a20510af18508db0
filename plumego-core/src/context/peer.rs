//! The remote address of the connection a request arrived on.

use std::net::SocketAddr;

/// The peer address, inserted into every request by the Plumego server.
///
/// Layers that key on the client (rate limiting, access logs) read it; they
/// trust forwarded headers only behind a configured proxy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PeerAddr(pub SocketAddr);

/// Marks a request that arrived over TLS on the Plumego server, so layers
/// (HSTS, secure cookies) know the connection is encrypted even though an
/// HTTP/1.1 request URI carries no scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct TlsConnection;
