//! Configuration precedence and validation.

use std::collections::HashMap;
use std::time::Duration;

use reference_service::config::{Config, Flags, StoreConfig};

fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn env_file(contents: &str) -> tempfile_path::TempFile {
    tempfile_path::TempFile::new(contents)
}

mod tempfile_path {
    pub struct TempFile(pub std::path::PathBuf);
    impl TempFile {
        pub fn new(contents: &str) -> Self {
            let path = std::env::temp_dir().join(format!(
                "plumego-ref-env-{}-{}",
                std::process::id(),
                fastrand_suffix()
            ));
            std::fs::write(&path, contents).unwrap();
            Self(path)
        }
    }
    impl Drop for TempFile {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }
    fn fastrand_suffix() -> u64 {
        use std::sync::atomic::{AtomicU64, Ordering};
        static N: AtomicU64 = AtomicU64::new(0);
        N.fetch_add(1, Ordering::Relaxed)
    }
}

#[test]
fn defaults() {
    let c = Config::load_from(&env(&[]), &Flags::default()).unwrap();
    assert_eq!(c.server.addr, ":8080");
    assert_eq!(c.service_name, "plumego-reference");
    assert_eq!(c.max_body_bytes, 1 << 20);
    assert_eq!(c.store, StoreConfig::Embedded("./data".into()));
    assert!(c.write_key.is_empty());
    assert_eq!(c.request_timeout, Duration::from_secs(30));
}

#[test]
fn precedence_defaults_file_env_flags() {
    let file = env_file(
        "APP_ADDR=127.0.0.1:1000\nAPP_SERVICE_NAME='from-file'\n# comment\nAPP_WRITE_KEY=filekey\nAPP_MAX_BODY_BYTES=10\n",
    );
    let path = file.0.to_string_lossy().into_owned();
    let c = Config::load_from(&env(&[("APP_ENV_FILE", &path)]), &Flags::default()).unwrap();
    assert_eq!(
        (
            c.server.addr.as_str(),
            c.service_name.as_str(),
            c.max_body_bytes
        ),
        ("127.0.0.1:1000", "from-file", 10)
    );
    let c = Config::load_from(
        &env(&[
            ("APP_ENV_FILE", &path),
            ("APP_ADDR", "127.0.0.1:2000"),
            ("APP_WRITE_KEY", ""),
        ]),
        &Flags::default(),
    )
    .unwrap();
    assert_eq!(c.server.addr, "127.0.0.1:2000", "env beats the file");
    assert_eq!(c.write_key, "", "an empty env value clears the file's");
    let flags = Flags {
        addr: Some("127.0.0.1:3000".into()),
        ..Flags::default()
    };
    let c = Config::load_from(
        &env(&[("APP_ENV_FILE", &path), ("APP_ADDR", "127.0.0.1:2000")]),
        &flags,
    )
    .unwrap();
    assert_eq!(c.server.addr, "127.0.0.1:3000", "flags beat env");
    let flags = Flags {
        env_file: Some(file.0.clone()),
        ..Flags::default()
    };
    let c = Config::load_from(&env(&[]), &flags).unwrap();
    assert_eq!(c.service_name, "from-file");
}

#[test]
fn each_variable() {
    let c = Config::load_from(
        &env(&[
            (
                "APP_CORS_ALLOWED_ORIGINS",
                " https://a.example , ,https://b.example",
            ),
            ("APP_STORE", "memory"),
            ("APP_DEBUG", "true"),
            ("APP_REQUEST_TIMEOUT_MS", "250"),
            ("APP_SHUTDOWN_TIMEOUT_MS", "1500"),
        ]),
        &Flags::default(),
    )
    .unwrap();
    assert_eq!(
        c.cors_allowed_origins,
        ["https://a.example", "https://b.example"]
    );
    assert_eq!(c.store, StoreConfig::Memory);
    assert!(c.debug);
    assert_eq!(c.request_timeout, Duration::from_millis(250));
    assert_eq!(c.server.drain_timeout, Duration::from_millis(1500));
    let c = Config::load_from(&env(&[("APP_DATA_DIR", "/tmp/x")]), &Flags::default()).unwrap();
    assert_eq!(c.store, StoreConfig::Embedded("/tmp/x".into()));
}

#[test]
fn validation_errors_name_the_variable() {
    let err = |pairs: &[(&str, &str)]| {
        Config::load_from(&env(pairs), &Flags::default())
            .unwrap_err()
            .to_string()
    };
    assert!(
        err(&[("APP_MAX_BODY_BYTES", "-1")])
            .contains("APP_MAX_BODY_BYTES=\"-1\": must not be negative")
    );
    assert!(err(&[("APP_MAX_BODY_BYTES", "lots")]).contains("APP_MAX_BODY_BYTES"));
    assert!(err(&[("APP_ADDR", "")]).contains("APP_ADDR must not be empty"));
    assert!(err(&[("APP_ADDR", "nowhere")]).contains("invalid server address"));
    assert!(err(&[("APP_TLS_ENABLED", "true")]).contains("APP_TLS_CERT_FILE"));
    assert!(err(&[("APP_TLS_ENABLED", "maybe")]).contains("APP_TLS_ENABLED"));
    assert!(err(&[("APP_STORE", "mongodb://x")]).contains("APP_STORE"));
    assert!(err(&[("APP_REQUEST_TIMEOUT_MS", "0")]).contains("APP_REQUEST_TIMEOUT_MS"));
    assert!(err(&[("APP_ENV_FILE", "/nonexistent/.env")]).contains("env file /nonexistent/.env"));
}

#[test]
fn shared_store_urls() {
    let c = Config::load_from(
        &env(&[("APP_STORE", "redis://127.0.0.1:6379")]),
        &Flags::default(),
    )
    .unwrap();
    assert_eq!(c.store, StoreConfig::Redis("redis://127.0.0.1:6379".into()));
    let c = Config::load_from(
        &env(&[("APP_STORE", "postgres://u@h/db")]),
        &Flags::default(),
    )
    .unwrap();
    assert_eq!(c.store, StoreConfig::Postgres("postgres://u@h/db".into()));
}
