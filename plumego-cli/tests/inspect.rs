//! `plumego inspect` against the reference service running on a loopback
//! port.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;

use common::{TempDir, plumego};
use reference_service::config::{Config, StoreConfig};
use reference_service::domain::item::{ItemService, MemoryRepository};

/// A reference service on 127.0.0.1:<free port>, stopped on drop.
struct Server {
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Server {
    fn start(debug: bool) -> Self {
        let config = Config {
            store: StoreConfig::Memory,
            debug,
            ..Config::default()
        };
        let items = ItemService::new(Arc::new(MemoryRepository::new()));
        let idempotency = reference_service::store::Stores::memory()
            .expect("memory store")
            .idempotency;
        let app = reference_service::app::build(&config, items, idempotency).expect("app builds");
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime");
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .expect("bind loopback");
        let addr = listener.local_addr().expect("local addr");
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            runtime
                .block_on(app.serve(listener, async {
                    let _ = rx.await;
                }))
                .expect("serve");
        });
        Self {
            addr,
            stop: Some(tx),
            thread: Some(thread),
        }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[test]
fn inspect_reads_every_endpoint_of_a_running_service() {
    let server = Server::start(true);
    let tmp = TempDir::new("inspect");
    let url = server.url();

    let run = plumego(tmp.path(), &["inspect", "health", "--url", &url]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert_eq!(run.json["data"]["status_code"], 200);
    assert_eq!(run.json["data"]["url"], format!("{url}/healthz"));
    assert!(run.json["data"]["body"].is_object(), "{}", run.stdout);

    let run = plumego(
        tmp.path(),
        &["inspect", "ready", "--url", &format!("{url}/")],
    );
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert_eq!(run.json["data"]["url"], format!("{url}/readyz"));

    let run = plumego(tmp.path(), &["inspect", "metrics", "--url", &url]);
    assert_eq!(run.code, 0, "{}", run.stdout);

    let run = plumego(tmp.path(), &["inspect", "info", "--url", &url]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert_eq!(
        run.json["data"]["body"]["data"]["service"],
        "plumego-reference"
    );

    let run = plumego(tmp.path(), &["inspect", "routes", "--url", &url]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    let routes = run.json["data"]["body"].as_array().expect("route list");
    assert!(
        routes
            .iter()
            .any(|r| r.to_string().contains("/api/v1/items")),
        "{}",
        run.stdout
    );

    // Text mode prints the body.
    let (code, stdout, _) = common::plumego_raw(tmp.path(), &["inspect", "info", "--url", &url]);
    assert_eq!(code, 0);
    assert!(stdout.contains("plumego-reference"), "{stdout}");
}

#[test]
fn inspect_fails_on_non_2xx_and_unreachable_services() {
    // Without debug mode the route table is not served: 404 → exit 1.
    let server = Server::start(false);
    let tmp = TempDir::new("inspect-fail");
    let run = plumego(tmp.path(), &["inspect", "routes", "--url", &server.url()]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert!(run.message().contains("HTTP 404"), "{}", run.message());
    assert!(run.message().contains("APP_DEBUG"), "{}", run.message());
    assert_eq!(run.json["data"]["status_code"], 404);

    // Nothing listens on a port we just released.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let run = plumego(
        tmp.path(),
        &[
            "inspect",
            "health",
            "--url",
            &format!("http://127.0.0.1:{port}"),
            "--timeout",
            "5",
        ],
    );
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert!(run.message().contains("cannot reach"), "{}", run.message());

    let run = plumego(
        tmp.path(),
        &["inspect", "health", "--url", "https://127.0.0.1:1"],
    );
    assert_eq!(run.code, 1);
    assert!(run.message().contains("https"), "{}", run.message());
}
