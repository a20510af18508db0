//! Where JWT keys live: a KV store shared by instances (Go's layout, on the
//! memory store and on Redis) and JWKS documents fetched from an identity
//! provider over HTTP and HTTPS on loopback, with refresh on an interval and
//! on unknown key ids.
#![cfg(feature = "jwks")]

mod support;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt as _, Full};
use plumego_core::context::RequestExt as _;
use plumego_core::store::Kv;
use plumego_core::store::memory::{MemoryConfig, MemoryStore};
use plumego_layers::security::jwt::{
    ACTIVE_KEY, Algorithm, Grants, Identity, JwksSource, JwtAuthenticator, JwtConfig, JwtError,
    JwtKey, JwtManager, KEY_PREFIX, KeyRefresher, KeySet, KeySource as _, KvKeyStore, TokenFormat,
    TokenType,
};
use plumego_layers::security::{AuthConfig, AuthenticateLayer, ManualClock};
use tower::{ServiceBuilder, ServiceExt as _};

fn memory_kv() -> Arc<dyn Kv> {
    Arc::new(MemoryStore::new(MemoryConfig::default()).unwrap())
}

fn manager(keys: &Arc<KeySet>, format: TokenFormat) -> Arc<JwtManager> {
    let config = JwtConfig {
        format,
        ..JwtConfig::default()
    };
    Arc::new(JwtManager::new(keys.clone(), config).unwrap())
}

fn token(m: &JwtManager, subject: &str) -> String {
    m.issue(
        TokenType::Access,
        &Identity::new(subject),
        &Grants::default(),
    )
    .unwrap()
}

/// Calls an authenticated handler answering the subject; (status, body).
async fn call(authenticator: JwtAuthenticator, token: &str) -> (StatusCode, String) {
    let svc = ServiceBuilder::new()
        .layer(AuthenticateLayer::new(authenticator, AuthConfig::default()))
        .service_fn(|req: Request<()>| async move {
            let who = req
                .principal()
                .map(|p| p.subject.clone())
                .unwrap_or_default();
            Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(who))))
        });
    let req = Request::builder()
        .header("authorization", format!("Bearer {token}"))
        .body(())
        .unwrap();
    let res = svc.oneshot(req).await.unwrap();
    let status = res.status();
    let body = res.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

// ---- KV key store ----

#[tokio::test]
async fn open_creates_one_active_key_in_gos_layout() {
    let kv = memory_kv();
    let store = KvKeyStore::new(kv.clone());
    let keys = KeySet::new();
    let meta = store.open(&keys).await.unwrap();
    assert_eq!(meta.alg, Algorithm::HS256);
    assert_eq!(keys.active().unwrap().kid(), meta.kid);

    assert_eq!(kv.get(ACTIVE_KEY).await.unwrap(), meta.kid.as_bytes());
    let stored = kv.get(&format!("{KEY_PREFIX}{}", meta.kid)).await.unwrap();
    let json: serde_json::Value = serde_json::from_slice(&stored).unwrap();
    let mut fields: Vec<&str> = json
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    fields.sort_unstable();
    assert_eq!(fields, ["alg", "created_at", "id", "public", "secret"]);
    assert_eq!(json["id"], meta.kid.as_str());
    assert_eq!(json["alg"], "HS256");
    assert!(json["public"].is_null());

    // Opening again (a restart) keeps the key.
    let again = KeySet::new();
    assert_eq!(store.open(&again).await.unwrap(), meta);
    assert_eq!(again.kids(), std::slice::from_ref(&meta.kid));
}

#[tokio::test]
async fn instances_sharing_a_store_verify_each_others_tokens() {
    let kv = memory_kv();
    for alg in [Algorithm::HS256, Algorithm::EdDSA, Algorithm::ES256] {
        let kv_a = kv.clone();
        let store = KvKeyStore::new(kv_a).algorithm(alg).unwrap();
        let (a, b) = (Arc::new(KeySet::new()), Arc::new(KeySet::new()));
        store.open(&a).await.unwrap();
        store.open(&b).await.unwrap();
        let token = token(&manager(&a, TokenFormat::Go), "ann");
        let claims = manager(&b, TokenFormat::Go).verify(&token, None).unwrap();
        assert_eq!(claims.subject, "ann");
        // Clean up for the next algorithm: a fresh active key.
        kv.delete(ACTIVE_KEY).await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_opening_together_agree_on_one_active_key() {
    let kv = memory_kv();
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let kv = kv.clone();
        tasks.push(tokio::spawn(async move {
            let keys = KeySet::new();
            KvKeyStore::new(kv).open(&keys).await.unwrap().kid
        }));
    }
    let mut kids = Vec::new();
    for t in tasks {
        kids.push(t.await.unwrap());
    }
    kids.dedup();
    assert_eq!(kids.len(), 1, "{kids:?}");
    assert_eq!(kv.get(ACTIVE_KEY).await.unwrap(), kids[0].as_bytes());
}

#[tokio::test]
async fn an_active_id_naming_a_missing_key_gets_a_new_key() {
    let kv = memory_kv();
    kv.set(ACTIVE_KEY, Bytes::from_static(b"gone"), None)
        .await
        .unwrap();
    let keys = KeySet::new();
    let meta = KvKeyStore::new(kv.clone()).open(&keys).await.unwrap();
    assert_ne!(meta.kid, "gone");
    assert_eq!(kv.get(ACTIVE_KEY).await.unwrap(), meta.kid.as_bytes());
}

#[tokio::test]
async fn a_malformed_stored_key_fails_open() {
    let kv = memory_kv();
    kv.set(
        "jwt:keys:bad",
        Bytes::from_static(b"{\"id\":\"bad\"}"),
        None,
    )
    .await
    .unwrap();
    let keys = KeySet::new();
    let err = KvKeyStore::new(kv).open(&keys).await.unwrap_err();
    assert!(
        matches!(&err, JwtError::KeyStore(why) if why.contains("jwt:keys:bad")),
        "{err}"
    );
    assert!(keys.kids().is_empty());
}

#[tokio::test]
async fn a_key_written_by_the_go_toolkit_verifies_rust_tokens_and_back() {
    // The JSON the Go manager persists for an HS256 key.
    let kv = memory_kv();
    let secret = *b"0123456789abcdef0123456789abcdef";
    let json = format!(
        r#"{{"id":"go-key","alg":"HS256","secret":"{}","public":null,"created_at":"2026-11-01T10:00:00.5Z"}}"#,
        base64::Engine::encode(&base64::engine::general_purpose::STANDARD, secret)
    );
    kv.set("jwt:keys:go-key", json.into(), None).await.unwrap();
    kv.set(ACTIVE_KEY, Bytes::from_static(b"go-key"), None)
        .await
        .unwrap();
    let keys = Arc::new(KeySet::new());
    let meta = KvKeyStore::new(kv).open(&keys).await.unwrap();
    assert_eq!(meta.kid, "go-key");
    // A token signed with the same secret elsewhere verifies here.
    let other = Arc::new(KeySet::with_active(
        JwtKey::hmac("go-key", Algorithm::HS256, &secret).unwrap(),
    ));
    let t = token(&manager(&other, TokenFormat::Go), "gopher");
    assert_eq!(
        manager(&keys, TokenFormat::Go)
            .verify(&t, None)
            .unwrap()
            .subject,
        "gopher"
    );
}

#[tokio::test]
async fn a_rotation_on_one_instance_reaches_another_through_an_unknown_kid() {
    let kv = memory_kv();
    let store = KvKeyStore::new(kv);
    let (a, b) = (Arc::new(KeySet::new()), Arc::new(KeySet::new()));
    store.open(&a).await.unwrap();
    store.open(&b).await.unwrap();
    let old = token(&manager(&a, TokenFormat::Go), "before");

    let rotated = store.rotate(&a).await.unwrap();
    let new = token(&manager(&a, TokenFormat::Go), "after");
    assert!(new.len() > 10);
    assert!(b.get(&rotated.kid).is_none());

    // Without a refresher, B does not know the key.
    let plain = JwtAuthenticator::new(manager(&b, TokenFormat::Go), None);
    assert_eq!(call(plain, &new).await.0, StatusCode::UNAUTHORIZED);
    // With one, the unknown kid triggers a reload and the token passes.
    let refresher = KeyRefresher::new(b.clone(), store.clone());
    let auth = JwtAuthenticator::new(manager(&b, TokenFormat::Go), None).with_refresher(refresher);
    assert_eq!(
        call(auth.clone(), &new).await,
        (StatusCode::OK, "after".into())
    );
    assert_eq!(b.active().unwrap().kid(), rotated.kid);
    // Old tokens still verify on both.
    assert_eq!(call(auth, &old).await, (StatusCode::OK, "before".into()));
}

#[tokio::test]
async fn lazy_rotation_happens_once_across_instances() {
    let kv = memory_kv();
    let clock = ManualClock::new(SystemTime::now());
    let store = KvKeyStore::new(kv.clone())
        .rotate_after(Duration::from_secs(24 * 3600))
        .unwrap()
        .with_clock(clock.clone());
    let (a, b) = (KeySet::new(), KeySet::new());
    let first = store.open(&a).await.unwrap();
    store.open(&b).await.unwrap();

    // Not due yet: loading changes nothing.
    clock.advance(Duration::from_secs(23 * 3600));
    store.load(&a).await.unwrap();
    assert_eq!(a.active().unwrap().kid(), first.kid);

    clock.advance(Duration::from_secs(2 * 3600));
    store.load(&a).await.unwrap();
    let second = a.active().unwrap().kid().to_owned();
    assert_ne!(second, first.kid);
    // B loads after A rotated: it adopts A's key rather than rotating again.
    store.load(&b).await.unwrap();
    assert_eq!(b.active().unwrap().kid(), second);
    assert_eq!(kv.get(ACTIVE_KEY).await.unwrap(), second.as_bytes());
    assert_eq!(kv.keys(KEY_PREFIX, None, 0).await.unwrap().len(), 2);
    // The first key still verifies.
    assert!(a.get(&first.kid).is_some() && b.get(&first.kid).is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_rotations_leave_every_instance_on_the_stored_active_key() {
    let kv = memory_kv();
    let store = KvKeyStore::new(kv.clone());
    let (a, b) = (Arc::new(KeySet::new()), Arc::new(KeySet::new()));
    store.open(&a).await.unwrap();
    store.open(&b).await.unwrap();
    for _ in 0..20 {
        let (ra, rb) = tokio::join!(store.rotate(&a), store.rotate(&b));
        let (ra, rb) = (ra.unwrap().kid, rb.unwrap().kid);
        let stored = kv.get(ACTIVE_KEY).await.unwrap();
        let stored = std::str::from_utf8(&stored).unwrap().to_owned();
        // Each instance signs with the key its rotation reported (its own,
        // or the winner's when it lost the swap) and one of them is active.
        assert_eq!(a.active().unwrap().kid(), ra);
        assert_eq!(b.active().unwrap().kid(), rb);
        assert!(stored == ra || stored == rb, "{stored} not in {ra}/{rb}");
        // The next reload puts both on the stored key; both keys verify.
        store.load(&a).await.unwrap();
        store.load(&b).await.unwrap();
        assert_eq!(a.active().unwrap().kid(), stored);
        assert_eq!(b.active().unwrap().kid(), stored);
        assert!(a.get(&ra).is_some() && a.get(&rb).is_some());
    }
}

#[tokio::test]
async fn a_reload_skips_a_malformed_key_that_open_refuses() {
    let kv = memory_kv();
    let store = KvKeyStore::new(kv.clone());
    let first = KeySet::new();
    let meta = store.open(&first).await.unwrap();
    kv.set("jwt:keys:broken", Bytes::from_static(b"{}"), None)
        .await
        .unwrap();
    assert!(store.open(&KeySet::new()).await.is_err());
    let other = KeySet::new();
    assert_eq!(store.load(&other).await.unwrap(), 1);
    assert_eq!(other.active().unwrap().kid(), meta.kid);
}

#[test]
fn store_configuration_is_validated() {
    let store = KvKeyStore::new(memory_kv());
    assert!(store.clone().algorithm(Algorithm::RS256).is_err());
    assert!(store.rotate_after(Duration::ZERO).is_err());
}

mod redis {
    use super::*;

    async fn connect(prefix: &str) -> Arc<dyn Kv> {
        Arc::new(support::redis(prefix).await)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn two_instances_share_keys_and_rotations_through_redis() {
        let prefix = support::unique_prefix("jwt");
        // Separate connections, as two processes would have.
        let store_a = KvKeyStore::new(connect(&prefix).await)
            .algorithm(Algorithm::EdDSA)
            .unwrap();
        let store_b = KvKeyStore::new(connect(&prefix).await)
            .algorithm(Algorithm::EdDSA)
            .unwrap();
        let (a, b) = (Arc::new(KeySet::new()), Arc::new(KeySet::new()));
        let (ma, mb) = tokio::join!(store_a.open(&a), store_b.open(&b));
        assert_eq!(ma.unwrap().kid, mb.unwrap().kid);

        store_a.rotate(&a).await.unwrap();
        let t = token(&manager(&a, TokenFormat::Go), "redis-user");
        let auth = JwtAuthenticator::new(manager(&b, TokenFormat::Go), Some(TokenType::Access))
            .with_refresher(KeyRefresher::new(b.clone(), store_b));
        assert_eq!(call(auth, &t).await, (StatusCode::OK, "redis-user".into()));
    }
}

// ---- JWKS over HTTP ----

/// What the loopback identity provider answers.
#[derive(Clone)]
struct Idp {
    document: Arc<Mutex<(StatusCode, Bytes, Duration)>>,
    hits: Arc<AtomicUsize>,
}

impl Idp {
    fn new(document: String) -> Self {
        Self {
            document: Arc::new(Mutex::new((
                StatusCode::OK,
                document.into(),
                Duration::ZERO,
            ))),
            hits: Arc::new(AtomicUsize::new(0)),
        }
    }

    fn publish(&self, status: StatusCode, body: impl Into<Bytes>, delay: Duration) {
        *self.document.lock().unwrap() = (status, body.into(), delay);
    }

    fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }

    /// Serves the document at any path over plain HTTP/1.1 on loopback.
    async fn serve(&self) -> SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let this = self.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let this = this.clone();
                tokio::spawn(async move {
                    let io = hyper_util::rt::TokioIo::new(stream);
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(
                            io,
                            hyper::service::service_fn(move |_req| this.clone().answer()),
                        )
                        .await;
                });
            }
        });
        addr
    }

    async fn answer(self) -> Result<Response<Full<Bytes>>, Infallible> {
        self.hits.fetch_add(1, Ordering::SeqCst);
        let (status, body, delay) = self.document.lock().unwrap().clone();
        tokio::time::sleep(delay).await;
        let mut res = Response::new(Full::new(body));
        *res.status_mut() = status;
        Ok(res)
    }
}

/// An identity provider's signing keys and the tokens it issues (standard
/// claims, as an external issuer would use).
fn provider(kid: &str) -> (Arc<KeySet>, Arc<JwtManager>) {
    let keys = Arc::new(KeySet::with_active(
        JwtKey::generate(kid, Algorithm::EdDSA).unwrap(),
    ));
    let m = manager(&keys, TokenFormat::Standard);
    (keys, m)
}

#[tokio::test]
async fn jwks_keys_are_fetched_refreshed_on_unknown_kids_and_retired() {
    let (idp_keys, idp) = provider("idp-1");
    let server = Idp::new(idp_keys.public_jwks());
    let addr = server.serve().await;
    let url = format!("http://{addr}/.well-known/jwks.json");

    let keys = Arc::new(KeySet::new());
    let refresher = KeyRefresher::with_min_interval(
        keys.clone(),
        JwksSource::new_plain_http(&url).unwrap(),
        Duration::from_millis(200),
    );
    assert_eq!(refresher.refresh().await.unwrap(), 1);
    let verifier = manager(&keys, TokenFormat::Standard);
    let auth = JwtAuthenticator::new(verifier, Some(TokenType::Access)).with_refresher(refresher);
    let first = token(&idp, "alice");
    assert_eq!(
        call(auth.clone(), &first).await,
        (StatusCode::OK, "alice".into())
    );
    assert_eq!(server.hits(), 1, "a known kid needs no fetch");

    // The provider rotates to a second key and retires the first.
    idp_keys.rotate(JwtKey::generate("idp-2", Algorithm::EdDSA).unwrap());
    idp_keys.remove("idp-1");
    server.publish(StatusCode::OK, idp_keys.public_jwks(), Duration::ZERO);
    tokio::time::sleep(Duration::from_millis(250)).await;
    let second = token(&idp, "bob");
    assert_eq!(
        call(auth.clone(), &second).await,
        (StatusCode::OK, "bob".into())
    );
    assert_eq!(server.hits(), 2);
    assert_eq!(keys.kids(), ["idp-2"], "the retired key is gone");
    assert_eq!(call(auth, &first).await.0, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn forged_kids_cannot_flood_the_provider() {
    let (idp_keys, _) = provider("idp-1");
    let server = Idp::new(idp_keys.public_jwks());
    let url = format!("http://{}/jwks", server.serve().await);
    let keys = Arc::new(KeySet::new());
    // No startup fetch, so the first unknown kid is due to refresh; the
    // long interval keeps the rest of the flood from refreshing again
    // however slowly this machine runs it.
    let refresher = KeyRefresher::with_min_interval(
        keys.clone(),
        JwksSource::new_plain_http(&url).unwrap(),
        Duration::from_secs(3600),
    );
    let auth = JwtAuthenticator::new(manager(&keys, TokenFormat::Standard), None)
        .with_refresher(refresher);
    // Tokens naming kids nobody has, signed by a stranger.
    let (_, stranger) = provider("forged");
    for i in 0..20 {
        let t = token(&stranger, &format!("mallory-{i}"));
        assert_eq!(call(auth.clone(), &t).await.0, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(server.hits(), 1, "one refresh, for the first unknown kid");
    // That refresh brought the provider's real key: its tokens pass.
    assert_eq!(keys.kids(), ["idp-1"]);
}

#[tokio::test]
async fn failed_fetches_keep_the_keys() {
    let (idp_keys, idp) = provider("idp-1");
    let server = Idp::new(idp_keys.public_jwks());
    let url = format!("http://{}/jwks", server.serve().await);
    let keys = KeySet::new();
    let source = JwksSource::new_plain_http(&url)
        .unwrap()
        .timeout(Duration::from_secs(1))
        .max_bytes(4096);
    source.load(&keys).await.unwrap();
    let good = token(&idp, "carol");
    let verifier = manager(&Arc::new(keys), TokenFormat::Standard);

    let cases: [(StatusCode, Bytes, Duration, &str); 5] = [
        (
            StatusCode::INTERNAL_SERVER_ERROR,
            Bytes::new(),
            Duration::ZERO,
            "500",
        ),
        (
            StatusCode::OK,
            Bytes::from(vec![b' '; 5000]),
            Duration::ZERO,
            "more than 4096 bytes",
        ),
        (
            StatusCode::OK,
            Bytes::from_static(b"{\"keys\":[]}"),
            Duration::ZERO,
            "no usable",
        ),
        (
            StatusCode::OK,
            Bytes::from_static(b"\xff\xfe"),
            Duration::ZERO,
            "not UTF-8",
        ),
        (
            StatusCode::OK,
            Bytes::from(idp_keys.public_jwks()),
            Duration::from_secs(2),
            "timed out",
        ),
    ];
    for (status, body, delay, expect) in cases {
        server.publish(status, body, delay);
        let err = source.load(verifier.keys()).await.unwrap_err();
        assert!(err.to_string().contains(expect), "{expect}: {err}");
        assert_eq!(verifier.verify(&good, None).unwrap().subject, "carol");
    }
}

#[tokio::test]
async fn a_background_refresher_follows_the_provider_and_stops_when_dropped() {
    let (idp_keys, _) = provider("idp-1");
    let server = Idp::new(idp_keys.public_jwks());
    let url = format!("http://{}/jwks", server.serve().await);
    let keys = Arc::new(KeySet::new());
    let refresher = KeyRefresher::new(keys.clone(), JwksSource::new_plain_http(&url).unwrap());
    let task = refresher.spawn(Duration::from_millis(50));

    idp_keys.insert(JwtKey::generate("idp-2", Algorithm::ES256).unwrap());
    server.publish(StatusCode::OK, idp_keys.public_jwks(), Duration::ZERO);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while keys.kids() != ["idp-1", "idp-2"] {
        assert!(
            tokio::time::Instant::now() < deadline,
            "never refreshed: {:?}",
            keys.kids()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    drop(task);
    // Let a fetch that was already on its way arrive before sampling.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let hits = server.hits();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(server.hits(), hits, "the task stopped");
}

#[test]
fn jwks_urls_are_validated() {
    for bad in ["", "/relative", "ftp://idp/jwks", "http://"] {
        assert!(JwksSource::new_plain_http(bad).is_err(), "{bad}");
    }
    // Keys over plain HTTP only when asked for.
    assert!(JwksSource::new("http://idp.example/jwks").is_err());
    assert!(JwksSource::new_plain_http("http://idp.example/jwks").is_ok());
}

#[tokio::test]
async fn credentials_in_the_url_stay_out_of_errors() {
    let url = "http://user:s3cret@127.0.0.1:9/jwks?token=abc";
    let source = JwksSource::new_plain_http(url)
        .unwrap()
        .timeout(Duration::from_secs(2));
    assert_eq!(source.shown_uri(), "http://127.0.0.1:9/jwks");
    let err = source.fetch().await.unwrap_err().to_string();
    assert!(
        !err.contains("s3cret") && !err.contains("token=abc"),
        "{err}"
    );
    assert!(!format!("{source:?}").contains("s3cret"));
}

#[test]
fn a_document_cannot_take_over_a_local_kid() {
    let local = JwtKey::hmac("shared-kid", Algorithm::HS256, &[7u8; 32]).unwrap();
    let keys = Arc::new(KeySet::with_active(local));
    let m = manager(&keys, TokenFormat::Go);
    let before = token(&m, "ann");
    // The provider publishes a key under the same kid, and one of its own.
    let (idp_keys, _) = provider("shared-kid");
    idp_keys.insert(JwtKey::generate("idp-own", Algorithm::EdDSA).unwrap());
    assert_eq!(keys.sync_jwks(&idp_keys.public_jwks()).unwrap(), 1);
    // Only the provider's own key is (re)added; the shared kid is skipped.
    assert_eq!(keys.insert_jwks(&idp_keys.public_jwks()).unwrap(), 1);
    assert!(
        keys.get("shared-kid").unwrap().can_sign(),
        "the local key stays"
    );
    assert_eq!(m.verify(&before, None).unwrap().subject, "ann");
    assert_eq!(m.verify(&token(&m, "bob"), None).unwrap().subject, "bob");
    // A document without it removes only what documents added.
    let (other, _) = provider("idp-3");
    keys.sync_jwks(&other.public_jwks()).unwrap();
    assert_eq!(keys.kids(), ["idp-3", "shared-kid"]);
}

#[test]
fn unknown_key_types_are_skipped_not_fatal() {
    let (idp_keys, _) = provider("good");
    let good: serde_json::Value = serde_json::from_str(&idp_keys.public_jwks()).unwrap();
    let doc = serde_json::json!({ "keys": [
        { "kty": "OKP", "crv": "X25519", "kid": "x", "x": "hSDwCYkwp1R0i33ctD73Wg2_Og0mOBr066SpjqqbTmo" },
        { "kty": "EC", "crv": "secp256k1", "kid": "k", "x": "AA", "y": "AA" },
        { "kty": "EC", "crv": "P-521", "alg": "ES512", "kid": "p", "x": "AA", "y": "AA" },
        { "kty": "oct", "kid": "o", "k": "AAAA" },
        { "kty": "something-new", "kid": "n" },
        "not even an object",
        good["keys"][0],
    ]});
    let keys = KeySet::new();
    assert_eq!(keys.sync_jwks(&doc.to_string()).unwrap(), 1);
    assert_eq!(keys.kids(), ["good"]);
}

#[test]
fn oversized_key_lists_are_refused() {
    let (idp_keys, _) = provider("k");
    let one: serde_json::Value = serde_json::from_str(&idp_keys.public_jwks()).unwrap();
    let many = vec![one["keys"][0].clone(); plumego_layers::security::jwt::MAX_JWKS_KEYS + 1];
    let doc = serde_json::json!({ "keys": many }).to_string();
    assert!(KeySet::new().sync_jwks(&doc).is_err());
}

/// A key source that takes `delay` to publish one key, counting loads.
struct SlowSource {
    delay: Duration,
    loads: Arc<AtomicUsize>,
    document: String,
}

impl plumego_layers::security::jwt::KeySource for SlowSource {
    fn load<'a>(&'a self, set: &'a KeySet) -> plumego_layers::security::jwt::RefreshFuture<'a> {
        Box::pin(async move {
            tokio::time::sleep(self.delay).await;
            self.loads.fetch_add(1, Ordering::SeqCst);
            set.sync_jwks(&self.document)
        })
    }
}

#[tokio::test]
async fn a_caller_going_away_does_not_cancel_the_refresh() {
    let (idp_keys, _) = provider("late");
    let loads = Arc::new(AtomicUsize::new(0));
    let keys = Arc::new(KeySet::new());
    let refresher = KeyRefresher::new(
        keys.clone(),
        SlowSource {
            delay: Duration::from_millis(100),
            loads: loads.clone(),
            document: idp_keys.public_jwks(),
        },
    );
    let caller = {
        let refresher = refresher.clone();
        tokio::spawn(async move { refresher.refresh_if_due().await })
    };
    tokio::time::sleep(Duration::from_millis(20)).await;
    caller.abort();
    // The load finishes on its own (it would stay at 0 if it was cancelled).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while loads.load(Ordering::SeqCst) == 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the refresh was cancelled"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(loads.load(Ordering::SeqCst), 1);
    assert_eq!(keys.kids(), ["late"]);
}

#[tokio::test]
async fn a_hung_source_times_out() {
    let keys = Arc::new(KeySet::new());
    let refresher = KeyRefresher::new(
        keys,
        SlowSource {
            delay: Duration::from_secs(3600),
            loads: Arc::new(AtomicUsize::new(0)),
            document: String::new(),
        },
    )
    .with_load_timeout(Duration::from_millis(50));
    let started = std::time::Instant::now();
    let err = refresher.refresh().await.unwrap_err();
    assert!(err.to_string().contains("timed out"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(5));
}

mod https {
    use super::*;
    use tokio_rustls::rustls;

    /// Serves the document over TLS with a fresh self-signed certificate;
    /// the address and the certificate (DER).
    async fn serve_tls(server: Idp) -> (SocketAddr, Vec<u8>) {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
        let der = cert.cert.der().to_vec();
        let key =
            rustls::pki_types::PrivateKeyDer::try_from(cert.key_pair.serialize_der()).unwrap();
        let config = rustls::ServerConfig::builder()
            .with_no_client_auth()
            .with_single_cert(vec![der.clone().into()], key)
            .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let (acceptor, server) = (acceptor.clone(), server.clone());
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(stream).await else {
                        return;
                    };
                    let io = hyper_util::rt::TokioIo::new(tls);
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(
                            io,
                            hyper::service::service_fn(move |_req| server.clone().answer()),
                        )
                        .await;
                });
            }
        });
        (addr, der)
    }

    #[tokio::test]
    async fn jwks_over_https_checks_the_certificate() {
        let (idp_keys, idp) = provider("tls-1");
        let server = Idp::new(idp_keys.public_jwks());
        let (addr, der) = serve_tls(server.clone()).await;
        let url = format!("https://localhost:{}/jwks", addr.port());

        // The bundled roots do not trust a self-signed certificate.
        let keys = KeySet::new();
        let err = JwksSource::new_plain_http(&url)
            .unwrap()
            .load(&keys)
            .await
            .unwrap_err();
        assert!(matches!(err, JwtError::Fetch(_)), "{err}");
        assert!(keys.kids().is_empty());

        // Trusting it explicitly works.
        let mut roots = rustls::RootCertStore::empty();
        roots.add(der.into()).unwrap();
        let config = rustls::ClientConfig::builder()
            .with_root_certificates(roots)
            .with_no_client_auth();
        let source = JwksSource::with_tls_config(&url, config).unwrap();
        let keys = Arc::new(KeySet::new());
        assert_eq!(source.load(&keys).await.unwrap(), 1);
        let t = token(&idp, "dave");
        assert_eq!(
            manager(&keys, TokenFormat::Standard)
                .verify(&t, None)
                .unwrap()
                .subject,
            "dave"
        );
    }
}
