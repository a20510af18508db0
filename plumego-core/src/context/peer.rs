//! The remote address of the connection a request arrived on.

use std::net::SocketAddr;

/// The peer address, inserted into every request by the Plumego server.
///
/// Layers that key on the client (rate limiting, access logs) read it; they
/// trust forwarded headers only behind a configured proxy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PeerAddr(pub SocketAddr);
