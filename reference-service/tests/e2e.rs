//! End-to-end against the real binary: HTTP/1.1 and HTTP/2, graceful
//! shutdown, and a bounded load run while slowloris clients hold connections.

use std::net::{SocketAddr, TcpListener};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

struct Server {
    child: Child,
    addr: SocketAddr,
}

impl Server {
    fn start(envs: &[(&str, &str)]) -> Server {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_reference-service"));
        cmd.env_clear()
            .env("APP_ADDR", addr.to_string())
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        for (k, v) in envs {
            cmd.env(k, v);
        }
        let child = cmd.spawn().expect("the binary starts");
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(addr).is_err() {
            assert!(Instant::now() < deadline, "the server listens within 20 s");
            std::thread::sleep(Duration::from_millis(50));
        }
        Server { child, addr }
    }

    fn signal(&self, sig: &str) {
        let status = Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(self.child.id().to_string())
            .status()
            .unwrap();
        assert!(status.success());
    }

    fn wait(mut self) -> std::process::ExitStatus {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "the server exits within 20 s");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn h1(addr: SocketAddr) -> hyper::client::conn::http1::SendRequest<Full<Bytes>> {
    let stream = TcpStream::connect(addr).await.unwrap();
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(conn);
    sender
}

async fn call(
    sender: &mut hyper::client::conn::http1::SendRequest<Full<Bytes>>,
    method: Method,
    path: &str,
    body: Option<&str>,
) -> (StatusCode, serde_json::Value) {
    sender.ready().await.unwrap();
    let mut req = Request::builder()
        .method(method)
        .uri(path)
        .header("host", "localhost");
    if body.is_some() {
        req = req.header("content-type", "application/json");
    }
    let req = req
        .body(Full::new(Bytes::from(body.unwrap_or("").to_owned())))
        .unwrap();
    let res = sender.send_request(req).await.unwrap();
    let status = res.status();
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    let json = if bytes.is_empty() {
        serde_json::Value::Null
    } else {
        serde_json::from_slice(&bytes).unwrap()
    };
    (status, json)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_http1_and_http2_then_stops_cleanly_on_sigterm() {
    let server = Server::start(&[("APP_STORE", "memory")]);
    let mut client = h1(server.addr).await;
    let (status, info) = call(&mut client, Method::GET, "/api/info", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(info["data"]["service"], "plumego-reference");
    let (status, created) = call(
        &mut client,
        Method::POST,
        "/api/v1/items",
        Some(r#"{"name":"e2e"}"#),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let id = created["data"]["id"].as_str().unwrap().to_owned();

    // HTTP/2 with prior knowledge (h2c).
    let stream = TcpStream::connect(server.addr).await.unwrap();
    let (mut h2, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
            .await
            .unwrap();
    tokio::spawn(conn);
    let req = Request::get(format!("http://localhost/api/v1/items/{id}"))
        .body(Full::new(Bytes::new()))
        .unwrap();
    let res = h2.send_request(req).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.version(), http::Version::HTTP_2);
    assert_eq!(res.headers()["content-type"], "application/json");
    assert_eq!(res.headers()["x-content-type-options"], "nosniff");
    let body: serde_json::Value =
        serde_json::from_slice(&res.into_body().collect().await.unwrap().to_bytes()).unwrap();
    assert_eq!(body["data"]["name"], "e2e");

    server.signal("TERM");
    let status = server.wait();
    assert!(status.success(), "exit 0 after SIGTERM, got {status:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejects_bad_configuration_with_exit_1() {
    let output = Command::new(env!("CARGO_BIN_EXE_reference-service"))
        .env_clear()
        .env("APP_MAX_BODY_BYTES", "-5")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("APP_MAX_BODY_BYTES"));
    let output = Command::new(env!("CARGO_BIN_EXE_reference-service"))
        .env_clear()
        .arg("--no-such-flag")
        .output()
        .unwrap();
    assert!(!output.status.success(), "unknown flags are rejected");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn load_with_slowloris_has_no_errors() {
    const CONNECTIONS: usize = 200;
    const SLOWLORIS: usize = 500;
    const DURATION: Duration = Duration::from_secs(3);
    let server = Server::start(&[("APP_STORE", "memory")]);
    let addr = server.addr;

    // Half-open connections that never finish their headers.
    let mut slow = Vec::with_capacity(SLOWLORIS);
    for _ in 0..SLOWLORIS {
        if let Ok(mut s) = TcpStream::connect(addr).await {
            let _ = s.write_all(b"GET /api/info HTTP/1.1\r\nHost: x\r\n").await;
            slow.push(s);
        }
    }
    assert!(
        slow.len() >= SLOWLORIS / 2,
        "slowloris connections were accepted"
    );

    let ok = Arc::new(AtomicUsize::new(0));
    let bad = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..CONNECTIONS {
        let (ok, bad) = (ok.clone(), bad.clone());
        tasks.push(tokio::spawn(async move {
            let mut client = h1(addr).await;
            let path = if i % 2 == 0 { "/api/info" } else { "/healthz" };
            while start.elapsed() < DURATION {
                let (status, _) = call(&mut client, Method::GET, path, None).await;
                if status == StatusCode::OK {
                    ok.fetch_add(1, Ordering::Relaxed);
                } else {
                    bad.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    for t in tasks {
        t.await.expect("no client error");
    }
    let (ok, bad) = (ok.load(Ordering::Relaxed), bad.load(Ordering::Relaxed));
    assert_eq!(bad, 0, "every valid request got 2xx");
    assert!(
        ok > 1000,
        "the service kept serving under slowloris ({ok} requests in {DURATION:?})"
    );
    drop(slow);
}

fn data_dir(tag: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "plumego-ref-{tag}-{}-{}",
        std::process::id(),
        fastrand::u32(..)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn items_survive_a_sigterm_restart_on_the_embedded_store() {
    let dir = data_dir("restart");
    let dir_s = dir.to_string_lossy().into_owned();
    let server = Server::start(&[("APP_DATA_DIR", &dir_s)]);
    let mut client = h1(server.addr).await;
    let mut ids = Vec::new();
    for i in 0..5 {
        let (status, body) = call(
            &mut client,
            Method::POST,
            "/api/v1/items",
            Some(&format!(r#"{{"name":"keep-{i}"}}"#)),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED);
        ids.push(body["data"]["id"].as_str().unwrap().to_owned());
    }
    server.signal("TERM");
    assert!(server.wait().success());

    let server = Server::start(&[("APP_DATA_DIR", &dir_s)]);
    let mut client = h1(server.addr).await;
    let (status, list) = call(&mut client, Method::GET, "/api/v1/items", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["meta"]["total"], 5);
    let names: Vec<&str> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["keep-0", "keep-1", "keep-2", "keep-3", "keep-4"],
        "creation order kept"
    );
    let (status, _) = call(
        &mut client,
        Method::GET,
        &format!("/api/v1/items/{}", ids[3]),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, ready) = call(&mut client, Method::GET, "/readyz", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(ready["data"]["components"]["item_store"], true);
    drop(server);
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_a_burst_loses_nothing_that_was_answered_201() {
    let dir = data_dir("kill");
    let dir_s = dir.to_string_lossy().into_owned();
    let server = Server::start(&[("APP_DATA_DIR", &dir_s)]);
    let addr = server.addr;
    let acknowledged = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let mut writers = Vec::new();
    for w in 0..8 {
        let acknowledged = acknowledged.clone();
        writers.push(tokio::spawn(async move {
            let Ok(stream) = TcpStream::connect(addr).await else {
                return;
            };
            let Ok((mut sender, conn)) =
                hyper::client::conn::http1::handshake(TokioIo::new(stream)).await
            else {
                return;
            };
            tokio::spawn(conn);
            for i in 0.. {
                if sender.ready().await.is_err() {
                    return;
                }
                let req = Request::post("/api/v1/items")
                    .header("host", "localhost")
                    .header("content-type", "application/json")
                    .body(Full::new(Bytes::from(format!(r#"{{"name":"w{w}-{i}"}}"#))))
                    .unwrap();
                let Ok(res) = sender.send_request(req).await else {
                    return;
                };
                if res.status() != StatusCode::CREATED {
                    return;
                }
                let Ok(body) = res.into_body().collect().await else {
                    return;
                };
                let json: serde_json::Value = serde_json::from_slice(&body.to_bytes()).unwrap();
                acknowledged
                    .lock()
                    .unwrap()
                    .push(json["data"]["id"].as_str().unwrap().to_owned());
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    server.signal("KILL");
    let _ = server.wait();
    for w in writers {
        let _ = w.await;
    }
    let acknowledged = acknowledged.lock().unwrap().clone();
    assert!(
        acknowledged.len() > 20,
        "the burst got going ({} writes acknowledged)",
        acknowledged.len()
    );

    let server = Server::start(&[("APP_DATA_DIR", &dir_s)]);
    let mut client = h1(server.addr).await;
    for id in &acknowledged {
        let (status, _) = call(
            &mut client,
            Method::GET,
            &format!("/api/v1/items/{id}"),
            None,
        )
        .await;
        assert_eq!(
            status,
            StatusCode::OK,
            "acknowledged item {id} is there after SIGKILL"
        );
    }
    let (_, list) = call(&mut client, Method::GET, "/api/v1/items?limit=1", None).await;
    assert!(list["meta"]["total"].as_u64().unwrap() >= acknowledged.len() as u64);
    drop(server);
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idempotency_key_replays_the_first_answer() {
    let server = Server::start(&[("APP_STORE", "memory")]);
    let mut client = h1(server.addr).await;
    let post = |body: &'static str| {
        Request::post("/api/v1/items")
            .header("host", "localhost")
            .header("content-type", "application/json")
            .header("idempotency-key", "order-42")
            .body(Full::new(Bytes::from_static(body.as_bytes())))
            .unwrap()
    };
    let mut answers = Vec::new();
    for _ in 0..2 {
        client.ready().await.unwrap();
        let res = client
            .send_request(post(r#"{"name":"once"}"#))
            .await
            .unwrap();
        let status = res.status();
        let replayed = res.headers().get("idempotent-replayed").is_some();
        let body = res.into_body().collect().await.unwrap().to_bytes();
        answers.push((status, replayed, body));
    }
    assert_eq!(answers[0].0, StatusCode::CREATED);
    assert_eq!((answers[1].0, answers[1].1), (StatusCode::CREATED, true));
    let first: serde_json::Value = serde_json::from_slice(&answers[0].2).unwrap();
    let second: serde_json::Value = serde_json::from_slice(&answers[1].2).unwrap();
    assert_eq!(first["data"], second["data"], "the same item, created once");
    let (_, list) = call(&mut client, Method::GET, "/api/v1/items", None).await;
    assert_eq!(list["meta"]["total"], 1);
    client.ready().await.unwrap();
    let res = client
        .send_request(post(r#"{"name":"different"}"#))
        .await
        .unwrap();
    assert_eq!(
        res.status(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "same key, different payload"
    );
}
