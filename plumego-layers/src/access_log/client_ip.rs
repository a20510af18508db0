//! Which address the access log names as the client.
//!
//! Forwarded headers are written by whoever sends the request, so they are
//! believed only when the connection itself comes from a configured proxy, and
//! then only up to the first hop that is not one of ours: everything left of
//! that hop is whatever the client chose to send.

use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;

use http::HeaderMap;

/// An IP network in CIDR notation (`10.0.0.0/8`, `fd00::/8`), or one address
/// (`192.0.2.1`, a /32 or /128).
///
/// ```
/// use plumego_layers::access_log::IpNet;
///
/// let net: IpNet = "10.0.0.0/8".parse().unwrap();
/// assert!(net.contains("10.1.2.3".parse().unwrap()));
/// assert!(!net.contains("11.0.0.1".parse().unwrap()));
/// // IPv4-mapped IPv6 peers (dual-stack listeners) match IPv4 networks.
/// assert!(net.contains("::ffff:10.0.0.1".parse().unwrap()));
/// assert!("10.0.0.0/33".parse::<IpNet>().is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IpNet {
    addr: IpAddr,
    prefix: u8,
}

/// A string that is not an IP address or a CIDR network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidIpNet(String);

impl std::fmt::Display for InvalidIpNet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "invalid IP network {:?}: expected an address or CIDR such as 10.0.0.0/8",
            self.0
        )
    }
}

impl std::error::Error for InvalidIpNet {}

impl IpNet {
    /// The network of `addr` with this prefix length; host bits are cleared.
    /// `None` when the prefix is longer than the address (32 or 128 bits).
    pub fn new(addr: IpAddr, prefix: u8) -> Option<Self> {
        let addr = addr.to_canonical();
        let addr = match addr {
            IpAddr::V4(v4) if prefix <= 32 => IpAddr::V4((u32::from(v4) & mask32(prefix)).into()),
            IpAddr::V6(v6) if prefix <= 128 => {
                IpAddr::V6((u128::from(v6) & mask128(prefix)).into())
            }
            _ => return None,
        };
        Some(Self { addr, prefix })
    }

    /// The network address (host bits cleared).
    pub fn addr(&self) -> IpAddr {
        self.addr
    }

    /// The prefix length.
    pub fn prefix(&self) -> u8 {
        self.prefix
    }

    /// Whether `ip` is in this network.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                u32::from(ip) & mask32(self.prefix) == u32::from(net)
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                u128::from(ip) & mask128(self.prefix) == u128::from(net)
            }
            _ => false,
        }
    }
}

fn mask32(prefix: u8) -> u32 {
    u32::MAX
        .checked_shl(32 - u32::from(prefix.min(32)))
        .unwrap_or(0)
}

fn mask128(prefix: u8) -> u128 {
    u128::MAX
        .checked_shl(128 - u32::from(prefix.min(128)))
        .unwrap_or(0)
}

impl FromStr for IpNet {
    type Err = InvalidIpNet;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let invalid = || InvalidIpNet(s.to_owned());
        let trimmed = s.trim();
        let (addr, prefix) = match trimmed.split_once('/') {
            Some((addr, prefix)) => {
                let addr: IpAddr = addr.parse().map_err(|_| invalid())?;
                // Only plain decimal digits: `u8::from_str` would also take `+8`.
                if prefix.is_empty() || !prefix.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(invalid());
                }
                (addr, prefix.parse::<u8>().map_err(|_| invalid())?)
            }
            None => {
                let addr: IpAddr = trimmed.parse().map_err(|_| invalid())?;
                let full = if addr.is_ipv4() { 32 } else { 128 };
                (addr, full)
            }
        };
        // An IPv4-mapped network written in IPv6 form keeps its IPv4 meaning.
        let prefix = match addr {
            IpAddr::V6(v6) if v6.to_ipv4_mapped().is_some() => {
                prefix.checked_sub(96).ok_or_else(invalid)?
            }
            _ => prefix,
        };
        Self::new(addr, prefix).ok_or_else(invalid)
    }
}

impl std::fmt::Display for IpNet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// An address from a forwarded header: a bare IP, or `ip:port` / `[v6]:port`
/// as some proxies write it.
fn parse_hop(raw: &str) -> Option<IpAddr> {
    let raw = raw.trim();
    raw.parse::<IpAddr>()
        .ok()
        .or_else(|| raw.parse::<SocketAddr>().ok().map(|s| s.ip()))
        .map(|ip| ip.to_canonical())
}

/// The client address of a request that arrived from `peer`.
///
/// - No trusted proxies, or a peer outside them: the peer, whatever the headers say.
/// - A trusted peer: `X-Forwarded-For` read right to left, skipping trusted hops;
///   the first untrusted hop is the client. A malformed hop stops the walk at the
///   nearest trusted hop, since nothing left of it can be attributed. If every hop
///   is trusted, the leftmost is the client.
/// - A trusted peer and no `X-Forwarded-For`: a valid `X-Real-IP`, else the peer.
/// - No peer (no server inserted [`PeerAddr`](plumego_core::context::PeerAddr)):
///   unknown, because headers cannot be checked against anything.
pub(crate) fn resolve(
    trusted: &[IpNet],
    peer: Option<IpAddr>,
    headers: &HeaderMap,
) -> Option<IpAddr> {
    let peer = peer?.to_canonical();
    let is_trusted = |ip: IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(peer) {
        return Some(peer);
    }
    let mut nearest_trusted = None;
    for value in headers.get_all("x-forwarded-for").iter().rev() {
        let Ok(value) = value.to_str() else {
            return Some(nearest_trusted.unwrap_or(peer));
        };
        for hop in value.rsplit(',').map(str::trim).filter(|h| !h.is_empty()) {
            match parse_hop(hop) {
                Some(ip) if !is_trusted(ip) => return Some(ip),
                Some(ip) => nearest_trusted = Some(ip),
                None => return Some(nearest_trusted.unwrap_or(peer)),
            }
        }
    }
    if nearest_trusted.is_some() {
        return nearest_trusted;
    }
    headers
        .get("x-real-ip")
        .and_then(|v| v.to_str().ok())
        .and_then(parse_hop)
        .or(Some(peer))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, http::HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn cidr_parsing_edges() {
        assert_eq!(
            "10.1.2.3/8".parse::<IpNet>().unwrap().to_string(),
            "10.0.0.0/8"
        );
        assert_eq!("192.0.2.1".parse::<IpNet>().unwrap().prefix(), 32);
        assert_eq!("::1".parse::<IpNet>().unwrap().prefix(), 128);
        assert!(
            "0.0.0.0/0"
                .parse::<IpNet>()
                .unwrap()
                .contains(ip("8.8.8.8"))
        );
        assert!(!"0.0.0.0/0".parse::<IpNet>().unwrap().contains(ip("::2")));
        assert!("fd00::/8".parse::<IpNet>().unwrap().contains(ip("fd12::1")));
        assert!(
            "::ffff:10.0.0.0/104"
                .parse::<IpNet>()
                .unwrap()
                .contains(ip("10.9.9.9"))
        );
        for bad in [
            "",
            "10.0.0.0/",
            "10.0.0.0/+8",
            "10.0.0.0/33",
            "::/129",
            "nope",
            "10.0.0.0/8/8",
        ] {
            assert!(bad.parse::<IpNet>().is_err(), "{bad}");
        }
    }

    #[test]
    fn forwarded_headers_need_a_trusted_peer() {
        let trusted = ["10.0.0.0/8".parse().unwrap()];
        let h = headers(&[("x-forwarded-for", "1.2.3.4")]);
        assert_eq!(resolve(&[], Some(ip("10.0.0.1")), &h), Some(ip("10.0.0.1")));
        assert_eq!(
            resolve(&trusted, Some(ip("203.0.113.9")), &h),
            Some(ip("203.0.113.9"))
        );
        assert_eq!(
            resolve(&trusted, Some(ip("10.0.0.1")), &h),
            Some(ip("1.2.3.4"))
        );
        assert_eq!(resolve(&trusted, None, &h), None);
    }

    #[test]
    fn rightmost_untrusted_hop_wins() {
        let trusted = ["10.0.0.0/8".parse().unwrap()];
        let peer = Some(ip("10.0.0.1"));
        let h = headers(&[
            ("x-forwarded-for", "6.6.6.6, 198.51.100.7"),
            ("x-forwarded-for", "10.0.0.5"),
        ]);
        assert_eq!(resolve(&trusted, peer, &h), Some(ip("198.51.100.7")));
        let h = headers(&[("x-forwarded-for", "10.0.0.7, 10.0.0.5")]);
        assert_eq!(resolve(&trusted, peer, &h), Some(ip("10.0.0.7")));
        let h = headers(&[("x-forwarded-for", "garbage, 10.0.0.5")]);
        assert_eq!(resolve(&trusted, peer, &h), Some(ip("10.0.0.5")));
        let h = headers(&[("x-forwarded-for", "[2001:db8::1]:443, 198.51.100.7:80")]);
        assert_eq!(resolve(&trusted, peer, &h), Some(ip("198.51.100.7")));
        let h = headers(&[("x-real-ip", "198.51.100.8")]);
        assert_eq!(resolve(&trusted, peer, &h), Some(ip("198.51.100.8")));
        let h = headers(&[("x-real-ip", "nope")]);
        assert_eq!(resolve(&trusted, peer, &h), peer);
    }
}
