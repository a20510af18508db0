//! End to end over loopback: the reference service's full stack against a
//! minimal axum server with the equivalent tower-http layers, both driven by
//! the same in-process load generator in the same run. Reports requests per
//! second and p99 latency for `GET /api/info` and `GET /api/v1/items/{id}`.
//!
//! `cargo bench -p plumego-benches --bench e2e` (writes
//! `target/criterion/e2e-table.md`). Environment: `E2E_CONNECTIONS`
//! (default 64), `E2E_SECONDS` per round (default 5).

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::Path;
use bytes::Bytes;
use http::{HeaderName, HeaderValue, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use plumego::core::server::{Server, ServerConfig};
use reference_service::config::{Config, StoreConfig};
use reference_service::domain::item::{ItemDraft, ItemService};
use reference_service::store::Stores;
use serde_json::json;
use tokio::net::{TcpListener, TcpStream};
use tower_http::cors::CorsLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::set_header::SetResponseHeaderLayer;

async fn plumego_server() -> (SocketAddr, String) {
    let stores = Stores::memory().expect("memory store");
    let items = ItemService::new(stores.items.clone());
    let item = items
        .create(ItemDraft {
            name: "bench".into(),
            description: "an item".into(),
        })
        .await
        .expect("item created");
    let config = Config {
        store: StoreConfig::Memory,
        ..Config::default()
    };
    let app =
        reference_service::app::build(&config, items, stores.idempotency).expect("app builds");
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(app.serve(listener, std::future::pending()));
    (addr, item.id)
}

async fn axum_server() -> SocketAddr {
    let item = json!({"data": {"id": "0000000000000001", "name": "bench", "description": "an item", "created_at": "2026-01-01T00:00:00Z"}});
    let app = axum::Router::new()
        .route(
            "/api/info",
            // The same work as the reference handler: a timestamp formatted per request.
            axum::routing::get(|| async {
                let timestamp = plumego::core::health::rfc3339_seconds(std::time::SystemTime::now());
                axum::Json(json!({"data": {"service": "axum-equivalent", "version": "0.1.0", "timestamp": timestamp}}))
            }),
        )
        .route(
            "/api/v1/items/{id}",
            axum::routing::get(move |Path(id): Path<String>| {
                let item = item.clone();
                async move {
                    if id.len() == 16 { Ok(axum::Json(item)) } else { Err(StatusCode::NOT_FOUND) }
                }
            }),
        )
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(StatusCode::GATEWAY_TIMEOUT, Duration::from_secs(30)))
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .layer(tower_http::limit::RequestBodyLimitLayer::new(1 << 20))
        .layer(tower_http::catch_panic::CatchPanicLayer::new())
        .layer(CorsLayer::permissive())
        .layer(SetResponseHeaderLayer::if_not_present(HeaderName::from_static("x-frame-options"), HeaderValue::from_static("SAMEORIGIN")))
        .layer(SetResponseHeaderLayer::if_not_present(HeaderName::from_static("x-content-type-options"), HeaderValue::from_static("nosniff")))
        .layer(SetResponseHeaderLayer::if_not_present(HeaderName::from_static("referrer-policy"), HeaderValue::from_static("strict-origin-when-cross-origin")))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid));
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    // Served by the same hyper server code as Plumego, so only the stacks differ.
    let server = Server::new(ServerConfig {
        addr: addr.to_string(),
        ..ServerConfig::default()
    })
    .expect("config");
    tokio::spawn(server.serve(listener, app, std::future::pending()));
    addr
}

struct Run {
    requests: usize,
    errors: usize,
    elapsed: Duration,
    p50: Duration,
    p99: Duration,
}

async fn load(addr: SocketAddr, path: String, connections: usize, duration: Duration) -> Run {
    let path = Arc::new(path);
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..connections {
        let path = path.clone();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut errors = 0usize;
            let Ok(stream) = TcpStream::connect(addr).await else {
                return (latencies, 1);
            };
            let Ok((mut sender, conn)) =
                hyper::client::conn::http1::handshake(TokioIo::new(stream)).await
            else {
                return (latencies, 1);
            };
            tokio::spawn(conn);
            while start.elapsed() < duration {
                if sender.ready().await.is_err() {
                    errors += 1;
                    break;
                }
                let req = Request::get(path.as_str())
                    .header("host", "localhost")
                    .body(Full::new(Bytes::new()))
                    .expect("request");
                let t0 = Instant::now();
                match sender.send_request(req).await {
                    Ok(res) if res.status() == StatusCode::OK => {
                        let _ = res.into_body().collect().await;
                        latencies.push(t0.elapsed());
                    }
                    _ => errors += 1,
                }
            }
            (latencies, errors)
        }));
    }
    let mut all = Vec::new();
    let mut errors = 0;
    for t in tasks {
        if let Ok((l, e)) = t.await {
            all.extend(l);
            errors += e;
        }
    }
    let elapsed = start.elapsed();
    all.sort_unstable();
    let pct = |p: f64| {
        all.get(((all.len() as f64 * p) as usize).min(all.len().saturating_sub(1)))
            .copied()
            .unwrap_or_default()
    };
    Run {
        requests: all.len(),
        errors,
        elapsed,
        p50: pct(0.50),
        p99: pct(0.99),
    }
}

/// Alternating measurement rounds per server and route.
const ROUNDS: usize = 3;

fn main() {
    // `cargo bench` passes `--bench`; nothing else to parse.
    let connections: usize = std::env::var("E2E_CONNECTIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(64);
    let seconds: u64 = std::env::var("E2E_SECONDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let table = rt.block_on(async {
        let (plumego, id) = plumego_server().await;
        let axum = axum_server().await;
        let duration = Duration::from_secs(seconds);
        let mut out = String::new();
        let _ = writeln!(out, "| route | server | req/s | p50 | p99 | errors | plumego / axum req/s |");
        let _ = writeln!(out, "|---|---|---|---|---|---|---|");
        for (label, plumego_path, axum_path) in [
            ("GET /api/info", "/api/info".to_owned(), "/api/info".to_owned()),
            ("GET /api/v1/items/{id}", format!("/api/v1/items/{id}"), "/api/v1/items/0000000000000001".to_owned()),
        ] {
            // Warm both, then alternate three rounds each so drift on the
            // shared machine hits both servers alike; report the median round.
            load(plumego, plumego_path.clone(), connections, Duration::from_millis(500)).await;
            load(axum, axum_path.clone(), connections, Duration::from_millis(500)).await;
            let (mut ps, mut as_) = (Vec::new(), Vec::new());
            for _ in 0..ROUNDS {
                ps.push(load(plumego, plumego_path.clone(), connections, duration).await);
                as_.push(load(axum, axum_path.clone(), connections, duration).await);
            }
            let rps = |r: &Run| r.requests as f64 / r.elapsed.as_secs_f64();
            let median = |mut runs: Vec<Run>| {
                runs.sort_by(|a, b| rps(a).total_cmp(&rps(b)));
                runs.swap_remove(runs.len() / 2)
            };
            let (p, a) = (median(ps), median(as_));
            for (name, r) in [("plumego reference stack", &p), ("axum + tower-http", &a)] {
                let _ = writeln!(
                    out,
                    "| {label} | {name} | {:.0} | {:.2} ms | {:.2} ms | {} | {} |",
                    rps(r),
                    r.p50.as_secs_f64() * 1e3,
                    r.p99.as_secs_f64() * 1e3,
                    r.errors,
                    if name.starts_with("plumego") { format!("{:.2}×", rps(&p) / rps(&a)) } else { String::new() },
                );
            }
        }
        let _ = writeln!(
            out,
            "\n{connections} connections; {ROUNDS} alternating rounds of {seconds} s per server, median round shown; client and servers in one process on this machine."
        );
        out
    });
    println!("{table}");
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/criterion");
    let _ = std::fs::create_dir_all(&dir);
    let _ = std::fs::write(dir.join("e2e-table.md"), &table);
}
