//! The server on a real loopback socket: protocols, graceful shutdown, drain
//! timeout, header read timeout and TLS.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::{TokioExecutor, TokioIo};
use plumego_core::context::RequestExt;
use plumego_core::server::{ServeReport, Server, ServerConfig};
use plumego_core::{Body, handler_fn};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

async fn app(req: http::Request<hyper::body::Incoming>) -> String {
    if req.uri().path() == "/slow" {
        tokio::time::sleep(Duration::from_millis(600)).await;
    }
    if req.uri().path() == "/forever" {
        tokio::time::sleep(Duration::from_secs(60)).await;
    }
    format!(
        "{:?} {} peer={}",
        req.version(),
        req.uri().path(),
        req.peer_addr()
            .map(|a| a.ip().to_string())
            .unwrap_or_default()
    )
}

struct Running {
    addr: SocketAddr,
    stop: oneshot::Sender<()>,
    done: JoinHandle<ServeReport>,
}

async fn start(config: ServerConfig) -> Running {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = Server::new(config).unwrap();
    let (stop, rx) = oneshot::channel::<()>();
    let done = tokio::spawn(server.serve(listener, handler_fn(app), async {
        let _ = rx.await;
    }));
    Running { addr, stop, done }
}

fn config() -> ServerConfig {
    ServerConfig {
        addr: "127.0.0.1:0".into(),
        ..ServerConfig::default()
    }
}

async fn get_h1(addr: SocketAddr, path: &str) -> Result<(http::StatusCode, String), hyper::Error> {
    let stream = TcpStream::connect(addr).await.expect("connect");
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(conn);
    let req = http::Request::get(path)
        .header("host", "localhost")
        .body(Empty::<Bytes>::new())
        .unwrap();
    let res = sender.send_request(req).await?;
    let status = res.status();
    let body = res.into_body().collect().await?.to_bytes();
    Ok((status, String::from_utf8_lossy(&body).into_owned()))
}

async fn get_h2(addr: SocketAddr, path: &str) -> (http::StatusCode, String) {
    let stream = TcpStream::connect(addr).await.unwrap();
    let (mut sender, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
            .await
            .unwrap();
    tokio::spawn(conn);
    let req = http::Request::get(format!("http://localhost{path}"))
        .body(Empty::<Bytes>::new())
        .unwrap();
    let res = sender.send_request(req).await.unwrap();
    let status = res.status();
    let body = res.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

#[tokio::test]
async fn serves_http1_and_h2c_with_the_peer_address() {
    let server = start(config()).await;
    let (status, body) = get_h1(server.addr, "/a").await.unwrap();
    assert_eq!(status, 200);
    assert_eq!(body, "HTTP/1.1 /a peer=127.0.0.1");
    let (status, body) = get_h2(server.addr, "/b").await;
    assert_eq!(status, 200);
    assert_eq!(body, "HTTP/2.0 /b peer=127.0.0.1");
    server.stop.send(()).unwrap();
    let report = server.done.await.unwrap();
    assert!(report.drained);
}

#[tokio::test]
async fn http2_can_be_switched_off() {
    let server = start(ServerConfig {
        http2: false,
        ..config()
    })
    .await;
    let stream = TcpStream::connect(server.addr).await.unwrap();
    let handshake = hyper::client::conn::http2::handshake::<_, _, Empty<Bytes>>(
        TokioExecutor::new(),
        TokioIo::new(stream),
    )
    .await;
    let refused = match handshake {
        Err(_) => true,
        Ok((mut sender, conn)) => {
            tokio::spawn(conn);
            let req = http::Request::get("http://localhost/")
                .body(Empty::new())
                .unwrap();
            sender.send_request(req).await.is_err()
        }
    };
    assert!(refused, "an h2c request must fail when HTTP/2 is off");
    assert_eq!(get_h1(server.addr, "/").await.unwrap().0, 200);
    server.stop.send(()).unwrap();
}

#[tokio::test]
async fn graceful_shutdown_finishes_in_flight_and_refuses_new_connections() {
    let server = start(config()).await;
    let addr = server.addr;
    let slow = tokio::spawn(async move { get_h1(addr, "/slow").await });
    tokio::time::sleep(Duration::from_millis(150)).await;
    server.stop.send(()).unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(
        TcpStream::connect(addr).await.is_err(),
        "new connections are refused while draining"
    );
    let (status, body) = slow.await.unwrap().expect("in-flight request completes");
    assert_eq!(
        (status.as_u16(), body.as_str()),
        (200, "HTTP/1.1 /slow peer=127.0.0.1")
    );
    let report = server.done.await.unwrap();
    assert_eq!(
        report,
        ServeReport {
            drained: true,
            aborted_connections: 0
        }
    );
}

#[tokio::test]
async fn shutdown_gives_up_after_the_drain_timeout() {
    let server = start(ServerConfig {
        drain_timeout: Duration::from_millis(200),
        ..config()
    })
    .await;
    let addr = server.addr;
    let stuck = tokio::spawn(async move { get_h1(addr, "/forever").await });
    tokio::time::sleep(Duration::from_millis(150)).await;
    let t0 = std::time::Instant::now();
    server.stop.send(()).unwrap();
    let report = server.done.await.unwrap();
    assert!(t0.elapsed() < Duration::from_secs(5));
    assert_eq!(
        report,
        ServeReport {
            drained: false,
            aborted_connections: 1
        }
    );
    assert!(
        stuck.await.unwrap().is_err(),
        "the aborted request's connection is closed"
    );
}

#[tokio::test]
async fn header_read_timeout_closes_slow_header_connections() {
    let server = start(ServerConfig {
        header_read_timeout: Some(Duration::from_millis(300)),
        ..config()
    })
    .await;
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let mut buf = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(3), stream.read_to_end(&mut buf)).await;
    // Without the timeout the connection would stay open and this would elapse.
    let _closed_by_eof_or_reset = read.expect("the server closes the connection well before 3 s");
    let text = String::from_utf8_lossy(&buf);
    assert!(
        !text.contains("200 OK"),
        "no response to an unfinished head: {text}"
    );
    // A well-behaved client still gets served.
    assert_eq!(get_h1(server.addr, "/ok").await.unwrap().0, 200);
    server.stop.send(()).unwrap();
}

#[tokio::test]
async fn run_rejects_an_invalid_config_before_binding() {
    let err = Server::new(ServerConfig {
        addr: "not an address".into(),
        ..config()
    })
    .unwrap_err();
    assert!(err.to_string().contains("invalid server address"));
    // Binding a taken port is a clear error too.
    let taken = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let server = Server::new(ServerConfig {
        addr: taken.local_addr().unwrap().to_string(),
        ..config()
    })
    .unwrap();
    let err = server.bind().await.unwrap_err().to_string();
    assert!(err.starts_with("bind 127.0.0.1:"), "{err}");
    let _ = Body::empty();
}

#[cfg(feature = "tls")]
mod tls {
    use super::*;
    use std::sync::Arc;
    use tokio_rustls::rustls;

    #[tokio::test]
    async fn serves_https_with_alpn_h2_and_http11() {
        let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
        let dir = std::env::temp_dir().join(format!("plumego-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (cert_path, key_path) = (dir.join("cert.pem"), dir.join("key.pem"));
        std::fs::write(&cert_path, cert.cert.pem()).unwrap();
        std::fs::write(&key_path, cert.key_pair.serialize_pem()).unwrap();
        let server = start(ServerConfig {
            tls: Some(plumego_core::server::TlsFiles {
                cert: cert_path,
                key: key_path,
            }),
            ..config()
        })
        .await;

        let mut roots = rustls::RootCertStore::empty();
        roots.add(cert.cert.der().clone()).unwrap();
        for (alpn, expect) in [(&b"h2"[..], "HTTP/2.0"), (&b"http/1.1"[..], "HTTP/1.1")] {
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let mut client = rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_root_certificates(roots.clone())
                .with_no_client_auth();
            client.alpn_protocols = vec![alpn.to_vec()];
            let connector = tokio_rustls::TlsConnector::from(Arc::new(client));
            let tcp = TcpStream::connect(server.addr).await.unwrap();
            let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
            let tls = connector.connect(name, tcp).await.unwrap();
            assert_eq!(tls.get_ref().1.alpn_protocol(), Some(alpn));
            let io = TokioIo::new(tls);
            let req = http::Request::get("https://localhost/secure")
                .body(Empty::<Bytes>::new())
                .unwrap();
            let res = if alpn == b"h2" {
                let (mut s, c) = hyper::client::conn::http2::handshake(TokioExecutor::new(), io)
                    .await
                    .unwrap();
                tokio::spawn(c);
                s.send_request(req).await.unwrap()
            } else {
                let (mut s, c) = hyper::client::conn::http1::handshake(io).await.unwrap();
                tokio::spawn(c);
                let mut req = req;
                req.headers_mut()
                    .insert("host", http::HeaderValue::from_static("localhost"));
                s.send_request(req).await.unwrap()
            };
            assert_eq!(res.status(), 200);
            let body = res.into_body().collect().await.unwrap().to_bytes();
            assert!(
                String::from_utf8_lossy(&body).starts_with(expect),
                "{body:?}"
            );
        }
        server.stop.send(()).unwrap();
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn missing_pem_files_are_a_clear_error() {
        let err = Server::new(ServerConfig {
            tls: Some(plumego_core::server::TlsFiles {
                cert: "/nonexistent/cert.pem".into(),
                key: "/nonexistent/key.pem".into(),
            }),
            ..config()
        })
        .unwrap_err();
        assert!(
            err.to_string()
                .starts_with("load tls certificate: /nonexistent/cert.pem"),
            "{err}"
        );
    }
}
