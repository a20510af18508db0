//! Logging through the `tracing` ecosystem: a one-call subscriber setup and
//! the field names every Plumego layer uses, so log queries work across services.

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::FmtSpan;

/// Field names shared by the access log, metrics and error reports.
pub mod fields {
    /// The request id.
    pub const REQUEST_ID: &str = "request_id";
    /// The matched route pattern (bounded cardinality), never the raw path.
    pub const ROUTE: &str = "route";
    /// The HTTP method.
    pub const METHOD: &str = "method";
    /// The raw request path.
    pub const PATH: &str = "path";
    /// The response status.
    pub const STATUS: &str = "status";
    /// Response body bytes sent.
    pub const BYTES: &str = "bytes";
    /// Time from request to the end of the response body, in milliseconds.
    pub const LATENCY_MS: &str = "latency_ms";
    /// The client address.
    pub const CLIENT_IP: &str = "client_ip";
    /// The `User-Agent` header.
    pub const USER_AGENT: &str = "user_agent";
    /// The W3C trace id.
    pub const TRACE_ID: &str = "trace_id";
    /// The server span id.
    pub const SPAN_ID: &str = "span_id";
    /// An error message.
    pub const ERROR: &str = "error";
}

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line (`timestamp`, `level`, `fields`, `target`).
    Json,
}

impl std::str::FromStr for LogFormat {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "" | "text" => Ok(Self::Text),
            "json" => Ok(Self::Json),
            other => Err(format!(
                "unknown log format {other:?}: expected text or json"
            )),
        }
    }
}

/// Logging configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogConfig {
    /// The format.
    pub format: LogFormat,
    /// A filter such as `info` or `plumego=debug,info`; `None` reads `RUST_LOG`,
    /// falling back to `info`.
    pub level: Option<String>,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            format: LogFormat::Text,
            level: None,
        }
    }
}

/// Why logging could not be set up.
#[derive(Debug)]
pub struct LogInitError(String);

impl std::fmt::Display for LogInitError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for LogInitError {}

impl LogConfig {
    /// The filter this configuration selects.
    pub fn filter(&self) -> Result<EnvFilter, LogInitError> {
        match &self.level {
            Some(level) => EnvFilter::try_new(level)
                .map_err(|e| LogInitError(format!("invalid log level {level:?}: {e}"))),
            None => {
                Ok(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")))
            }
        }
    }
}

/// Installs the process-wide `tracing` subscriber. Call it once, from `main`.
///
/// ```
/// use plumego_core::log::{init, LogConfig, LogFormat};
/// init(&LogConfig { format: LogFormat::Json, level: Some("warn".into()) }).unwrap();
/// tracing::warn!(request_id = "abc", "something odd");
/// // A second call fails instead of silently replacing the first subscriber.
/// assert!(init(&LogConfig::default()).is_err());
/// ```
pub fn init(config: &LogConfig) -> Result<(), LogInitError> {
    let filter = config.filter()?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_span_events(FmtSpan::NONE);
    let result = match config.format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
    result.map_err(|e| LogInitError(format!("logging already initialised: {e}")))
}
