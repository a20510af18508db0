//! Server configuration with the Go toolkit's defaults, validated before use.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

/// The smallest header buffer hyper accepts.
pub const MIN_HEADER_BYTES: usize = 8 * 1024;

/// How the server listens and drains.
///
/// Durations cannot be negative by construction; `None` disables a timeout.
/// Request-level timeouts (the Go server's read and write timeouts) belong to the
/// timeout layer, which answers a 504 envelope instead of cutting the connection.
///
/// ```
/// use plumego_core::server::ServerConfig;
///
/// let config = ServerConfig::default();
/// assert_eq!(config.addr, "0.0.0.0:8080");
/// assert!(config.validate().is_ok());
/// assert!(ServerConfig { addr: "nope".into(), ..ServerConfig::default() }.validate().is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerConfig {
    /// `ip:port`, or Go's `:port` meaning every IPv4 interface. Default `0.0.0.0:8080`.
    pub addr: String,
    /// Time allowed to receive a request's headers (against slowloris). For
    /// HTTP/1.1 it also bounds how long a keep-alive connection may wait for its
    /// next request. Default 5 s.
    pub header_read_timeout: Option<Duration>,
    /// HTTP/2 connections are pinged after this much silence and closed when the
    /// ping goes unanswered. Default 60 s.
    pub idle_timeout: Option<Duration>,
    /// The largest request head accepted, in bytes (at least 8 KiB). Default 1 MiB.
    pub max_header_bytes: usize,
    /// Serve HTTP/2 (h2c on plain TCP, ALPN `h2` on TLS) besides HTTP/1.1. Default on.
    pub http2: bool,
    /// How long graceful shutdown waits for in-flight requests before closing
    /// the remaining connections. Default 30 s.
    pub drain_timeout: Duration,
    /// Serve HTTPS from these PEM files (needs the `tls` feature).
    pub tls: Option<TlsFiles>,
}

/// PEM files for HTTPS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// The certificate chain.
    pub cert: PathBuf,
    /// The private key.
    pub key: PathBuf,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            addr: "0.0.0.0:8080".into(),
            header_read_timeout: Some(Duration::from_secs(5)),
            idle_timeout: Some(Duration::from_secs(60)),
            max_header_bytes: 1 << 20,
            http2: true,
            drain_timeout: Duration::from_secs(30),
            tls: None,
        }
    }
}

/// Why a configuration was rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigError {
    /// The address is blank.
    EmptyAddress,
    /// The address is not `ip:port` or `:port`.
    InvalidAddress(String),
    /// The header limit is below [`MIN_HEADER_BYTES`].
    HeaderLimitTooSmall(usize),
    /// A timeout of zero was given where `None` means "no timeout".
    ZeroTimeout(&'static str),
    /// TLS is configured but a path is empty.
    TlsFilesMissing,
    /// TLS is configured but the crate was built without the `tls` feature.
    TlsUnavailable,
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::EmptyAddress => f.write_str("server address must not be empty"),
            Self::InvalidAddress(a) => {
                write!(f, "invalid server address {a:?}: expected ip:port or :port")
            }
            Self::HeaderLimitTooSmall(n) => write!(
                f,
                "max_header_bytes {n} is too small: the minimum is {MIN_HEADER_BYTES}"
            ),
            Self::ZeroTimeout(name) => {
                write!(f, "{name} must be positive; use None to disable it")
            }
            Self::TlsFilesMissing => {
                f.write_str("TLS enabled but certificate or key file not provided")
            }
            Self::TlsUnavailable => {
                f.write_str("TLS configured but plumego-core was built without the `tls` feature")
            }
        }
    }
}

impl std::error::Error for ConfigError {}

impl ServerConfig {
    /// Checks the configuration and resolves the listen address.
    pub fn validate(&self) -> Result<SocketAddr, ConfigError> {
        let addr = parse_addr(&self.addr)?;
        if self.max_header_bytes < MIN_HEADER_BYTES {
            return Err(ConfigError::HeaderLimitTooSmall(self.max_header_bytes));
        }
        for (name, value) in [
            ("header_read_timeout", self.header_read_timeout),
            ("idle_timeout", self.idle_timeout),
        ] {
            if value == Some(Duration::ZERO) {
                return Err(ConfigError::ZeroTimeout(name));
            }
        }
        if let Some(tls) = &self.tls {
            if tls.cert.as_os_str().is_empty() || tls.key.as_os_str().is_empty() {
                return Err(ConfigError::TlsFilesMissing);
            }
            if !cfg!(feature = "tls") {
                return Err(ConfigError::TlsUnavailable);
            }
        }
        Ok(addr)
    }
}

fn parse_addr(raw: &str) -> Result<SocketAddr, ConfigError> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Err(ConfigError::EmptyAddress);
    }
    if let Some(port) = raw.strip_prefix(':') {
        let port: u16 = port
            .parse()
            .map_err(|_| ConfigError::InvalidAddress(raw.to_owned()))?;
        return Ok(SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port));
    }
    raw.parse()
        .map_err(|_| ConfigError::InvalidAddress(raw.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_the_go_toolkit() {
        let c = ServerConfig::default();
        assert_eq!(c.header_read_timeout, Some(Duration::from_secs(5)));
        assert_eq!(c.max_header_bytes, 1 << 20);
        assert!(c.http2);
        assert_eq!(c.validate().unwrap().port(), 8080);
    }

    #[test]
    fn validation_errors_are_clear() {
        let bad = |f: fn(&mut ServerConfig)| {
            let mut c = ServerConfig::default();
            f(&mut c);
            c.validate().unwrap_err().to_string()
        };
        assert_eq!(
            bad(|c| c.addr = "  ".into()),
            "server address must not be empty"
        );
        assert!(bad(|c| c.addr = "localhost".into()).contains("invalid server address"));
        assert!(bad(|c| c.addr = ":99999".into()).contains("invalid server address"));
        assert!(bad(|c| c.max_header_bytes = 100).contains("too small"));
        assert!(
            bad(|c| c.header_read_timeout = Some(Duration::ZERO)).contains("header_read_timeout")
        );
        assert_eq!(
            bad(|c| c.tls = Some(TlsFiles {
                cert: "".into(),
                key: "k".into()
            })),
            "TLS enabled but certificate or key file not provided"
        );
        let c = ServerConfig {
            addr: ":9000".into(),
            ..ServerConfig::default()
        };
        assert_eq!(c.validate().unwrap(), "0.0.0.0:9000".parse().unwrap());
        let c = ServerConfig {
            addr: "[::1]:80".into(),
            ..ServerConfig::default()
        };
        assert!(c.validate().unwrap().is_ipv6());
    }
}
