//! Configuration: defaults < `.env` file < process environment < flags.
//!
//! Every value is validated at start; a bad value stops the service with a
//! message naming the variable. Unknown flags are an error (the Go service
//! silently ignored them).

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use plumego::core::server::{ServerConfig, TlsFiles};

/// Where items and idempotency records live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreConfig {
    /// The embedded durable store in a data directory (the default).
    Embedded(PathBuf),
    /// In process memory; lost on restart.
    Memory,
    /// A Redis server (`redis://...`), shared by several instances.
    Redis(String),
    /// A PostgreSQL database (`postgres://...`), shared by several instances.
    Postgres(String),
}

/// The service configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Listening and server limits.
    pub server: ServerConfig,
    /// The name reported by `/`, `/healthz` and `/api/info`.
    pub service_name: String,
    /// The version reported by `/` and `/api/info`.
    pub version: String,
    /// Request body limit in bytes; 0 disables it.
    pub max_body_bytes: u64,
    /// The `X-Write-Key` required by write routes; empty disables the guard.
    pub write_key: String,
    /// Allowed CORS origins; empty means `*`.
    pub cors_allowed_origins: Vec<String>,
    /// The item and idempotency store.
    pub store: StoreConfig,
    /// Serve `/_debug/routes.json`.
    pub debug: bool,
    /// Per-request timeout.
    pub request_timeout: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            server: ServerConfig {
                addr: ":8080".into(),
                ..ServerConfig::default()
            },
            service_name: "plumego-reference".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            max_body_bytes: 1 << 20,
            write_key: String::new(),
            cors_allowed_origins: Vec::new(),
            store: StoreConfig::Embedded(PathBuf::from("./data")),
            debug: false,
            request_timeout: Duration::from_secs(30),
        }
    }
}

/// Command-line flags; each overrides its environment variable.
#[derive(Debug, Default, Parser)]
#[command(name = "reference-service", about = "The canonical Plumego service")]
pub struct Flags {
    /// Listen address (`APP_ADDR`).
    #[arg(long)]
    pub addr: Option<String>,
    /// The env file (`APP_ENV_FILE`, default `.env`).
    #[arg(long)]
    pub env_file: Option<PathBuf>,
    /// Store: `embedded` (default), `memory`, `redis://...`, `postgres://...` (`APP_STORE`).
    #[arg(long)]
    pub store: Option<String>,
    /// Data directory of the embedded store (`APP_DATA_DIR`, default `./data`).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Serve `/_debug/routes.json` (`APP_DEBUG`).
    #[arg(long)]
    pub debug: bool,
}

/// Why the configuration was rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError(pub String);

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "invalid configuration: {}", self.0)
    }
}

impl std::error::Error for ConfigError {}

fn bad(var: &str, value: &str, why: &str) -> ConfigError {
    ConfigError(format!("{var}={value:?}: {why}"))
}

fn parse_bool(var: &str, value: &str) -> Result<bool, ConfigError> {
    match value.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "" | "0" | "false" | "no" | "off" => Ok(false),
        _ => Err(bad(var, value, "expected true or false")),
    }
}

fn parse_u64(var: &str, value: &str) -> Result<u64, ConfigError> {
    let value = value.trim();
    if value.starts_with('-') {
        return Err(bad(var, value, "must not be negative"));
    }
    value
        .parse()
        .map_err(|_| bad(var, value, "expected a whole number"))
}

impl Config {
    /// Loads from an explicit environment (for tests) and flags: defaults,
    /// then the env file, then `env`, then flags.
    pub fn load_from(env: &HashMap<String, String>, flags: &Flags) -> Result<Self, ConfigError> {
        let env_file = flags
            .env_file
            .clone()
            .or_else(|| env.get("APP_ENV_FILE").map(PathBuf::from))
            .unwrap_or_else(|| PathBuf::from(".env"));
        let mut vars: HashMap<String, String> = HashMap::new();
        match dotenvy::from_path_iter(&env_file) {
            Ok(iter) => {
                for item in iter {
                    let (k, v) = item.map_err(|e| {
                        ConfigError(format!("env file {}: {e}", env_file.display()))
                    })?;
                    vars.insert(k, v);
                }
            }
            // A missing default env file is normal; a missing explicit one is not.
            Err(e)
                if e.not_found()
                    && flags.env_file.is_none()
                    && !env.contains_key("APP_ENV_FILE") => {}
            Err(e) => return Err(ConfigError(format!("env file {}: {e}", env_file.display()))),
        }
        // The process environment wins over the file, including empty values
        // (an empty APP_WRITE_KEY clears one set in the file).
        for (k, v) in env {
            if k.starts_with("APP_") {
                vars.insert(k.clone(), v.clone());
            }
        }
        let mut config = Config::default();
        config.apply(&vars)?;
        if let Some(addr) = &flags.addr {
            config.server.addr = addr.clone();
        }
        if let Some(store) = &flags.store {
            config.store = parse_store(store, &vars, flags.data_dir.clone())?;
        } else if let Some(dir) = &flags.data_dir {
            config.store = StoreConfig::Embedded(dir.clone());
        }
        if flags.debug {
            config.debug = true;
        }
        config.validate()?;
        Ok(config)
    }

    /// Loads from the process environment and command line.
    pub fn load() -> Result<Self, Box<dyn std::error::Error>> {
        let flags = Flags::try_parse()?;
        let env: HashMap<String, String> = std::env::vars().collect();
        Ok(Self::load_from(&env, &flags)?)
    }

    fn apply(&mut self, vars: &HashMap<String, String>) -> Result<(), ConfigError> {
        if let Some(v) = vars.get("APP_ADDR") {
            self.server.addr = v.trim().to_owned();
        }
        if let Some(v) = vars.get("APP_SERVICE_NAME") {
            self.service_name = v.trim().to_owned();
        }
        if let Some(v) = vars.get("APP_MAX_BODY_BYTES") {
            self.max_body_bytes = parse_u64("APP_MAX_BODY_BYTES", v)?;
        }
        if let Some(v) = vars.get("APP_WRITE_KEY") {
            self.write_key = v.clone();
        }
        if let Some(v) = vars.get("APP_CORS_ALLOWED_ORIGINS") {
            self.cors_allowed_origins = v
                .split(',')
                .map(str::trim)
                .filter(|o| !o.is_empty())
                .map(str::to_owned)
                .collect();
        }
        if let Some(v) = vars.get("APP_DEBUG") {
            self.debug = parse_bool("APP_DEBUG", v)?;
        }
        if let Some(v) = vars.get("APP_REQUEST_TIMEOUT_MS") {
            self.request_timeout = Duration::from_millis(parse_u64("APP_REQUEST_TIMEOUT_MS", v)?);
        }
        if let Some(v) = vars.get("APP_SHUTDOWN_TIMEOUT_MS") {
            self.server.drain_timeout =
                Duration::from_millis(parse_u64("APP_SHUTDOWN_TIMEOUT_MS", v)?);
        }
        if let Some(v) = vars.get("APP_STORE") {
            self.store = parse_store(v, vars, None)?;
        } else if let Some(dir) = vars.get("APP_DATA_DIR") {
            self.store = StoreConfig::Embedded(PathBuf::from(dir));
        }
        let tls = match vars.get("APP_TLS_ENABLED") {
            Some(v) => parse_bool("APP_TLS_ENABLED", v)?,
            None => false,
        };
        if tls {
            let cert = vars.get("APP_TLS_CERT_FILE").cloned().unwrap_or_default();
            let key = vars.get("APP_TLS_KEY_FILE").cloned().unwrap_or_default();
            if cert.trim().is_empty() || key.trim().is_empty() {
                return Err(ConfigError(
                    "APP_TLS_ENABLED=true needs APP_TLS_CERT_FILE and APP_TLS_KEY_FILE".into(),
                ));
            }
            self.server.tls = Some(TlsFiles {
                cert: cert.into(),
                key: key.into(),
            });
        }
        Ok(())
    }

    /// Checks the values that must hold together.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.server.addr.trim().is_empty() {
            return Err(ConfigError("APP_ADDR must not be empty".into()));
        }
        self.server
            .validate()
            .map_err(|e| ConfigError(format!("APP_ADDR and server settings: {e}")))?;
        if self.service_name.is_empty() {
            return Err(ConfigError("APP_SERVICE_NAME must not be empty".into()));
        }
        if self.request_timeout.is_zero() {
            return Err(ConfigError(
                "APP_REQUEST_TIMEOUT_MS must be positive".into(),
            ));
        }
        Ok(())
    }
}

/// `data_dir` is the `--data-dir` flag, which wins over `APP_DATA_DIR`.
fn parse_store(
    value: &str,
    vars: &HashMap<String, String>,
    data_dir: Option<PathBuf>,
) -> Result<StoreConfig, ConfigError> {
    match value.trim() {
        "" | "embedded" => Ok(StoreConfig::Embedded(
            data_dir
                .or_else(|| vars.get("APP_DATA_DIR").map(PathBuf::from))
                .unwrap_or_else(|| PathBuf::from("./data")),
        )),
        "memory" => Ok(StoreConfig::Memory),
        url if url.starts_with("redis://") || url.starts_with("rediss://") => {
            Ok(StoreConfig::Redis(url.to_owned()))
        }
        url if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
            Ok(StoreConfig::Postgres(url.to_owned()))
        }
        other => Err(bad(
            "APP_STORE",
            other,
            "expected embedded, memory, redis://... or postgres://...",
        )),
    }
}
