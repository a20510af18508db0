//! Cache get/set on the memory, redb and Redis engines, and an idempotent
//! replay through the idempotency layer.
//!
//! `PLUMEGO_REDIS_URL=redis://127.0.0.1:6379 cargo bench -p plumego-benches --bench store`
//! (Redis rows are skipped with a message when no server answers.)

use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{Criterion, criterion_group, criterion_main};
use http::{Request, Response};
use plumego_core::Body;
use plumego_core::store::Cache;
use plumego_core::store::memory::{MemoryConfig, MemoryStore};
use plumego_core::store::redb::{RedbConfig, RedbStore};
use plumego_core::store::redis::{RedisConfig, RedisStore};
use plumego_layers::idempotency::{IdempotencyConfig, IdempotencyLayer};
use tower::{Layer, Service, ServiceExt};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

fn bench_cache(
    c: &mut Criterion,
    name: &str,
    cache: Arc<dyn Cache>,
    rt: &tokio::runtime::Runtime,
    slow_writes: bool,
) {
    let value = Bytes::from_static(&[7u8; 128]);
    rt.block_on(cache.set("bench:key", value.clone(), Some(Duration::from_secs(3600))))
        .expect("set works");
    let mut group = c.benchmark_group(format!("cache_{name}"));
    if slow_writes {
        // Every acknowledged redb write is an fsync'd commit.
        group
            .sample_size(10)
            .measurement_time(Duration::from_secs(5));
    }
    group.bench_function("get", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    let _ = cache.get("bench:key").await;
                }
                start.elapsed()
            })
        })
    });
    group.bench_function("set", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    let _ = cache
                        .set("bench:key", value.clone(), Some(Duration::from_secs(3600)))
                        .await;
                }
                start.elapsed()
            })
        })
    });
    group.finish();
}

fn bench(c: &mut Criterion) {
    let rt = runtime();
    let memory: Arc<dyn Cache> =
        Arc::new(MemoryStore::new(MemoryConfig::default()).expect("memory store"));
    bench_cache(c, "memory", memory.clone(), &rt, false);

    let dir = std::env::temp_dir().join(format!("plumego-bench-redb-{}", std::process::id()));
    let redb: Arc<dyn Cache> = Arc::new(
        rt.block_on(RedbStore::open(RedbConfig::new(&dir)))
            .expect("redb store"),
    );
    bench_cache(c, "redb", redb, &rt, true);

    let url =
        std::env::var("PLUMEGO_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    match RedisConfig::new(url.clone(), "plumego-bench")
        .map(RedisStore::connect)
        .map(|fut| rt.block_on(fut))
    {
        Ok(Ok(redis)) => bench_cache(c, "redis", Arc::new(redis), &rt, false),
        other => eprintln!(
            "Redis at {url} not benchmarked: {:?}",
            other.err().map(|e| e.to_string())
        ),
    }

    // An idempotent replay: the first request is recorded, the benchmark
    // replays it with the same key and body.
    let store = Arc::new(MemoryStore::new(MemoryConfig::default()).expect("memory store"));
    let handler = tower::service_fn(|_req: Request<Body>| async {
        Ok::<_, Infallible>(Response::new(Body::from(r#"{"data":{"id":"1"}}"#)))
    });
    let svc = IdempotencyLayer::new(store, IdempotencyConfig::default()).layer(handler);
    let request = || {
        Request::post("/api/v1/items")
            .header("idempotency-key", "bench-key")
            .header("content-type", "application/json")
            .body(Body::from(r#"{"name":"x"}"#))
            .expect("request")
    };
    rt.block_on(svc.clone().oneshot(request()))
        .expect("first request");
    c.bench_function("idempotency_replay", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let mut svc = svc.clone();
                let start = Instant::now();
                for _ in 0..iters {
                    let res = svc
                        .ready()
                        .await
                        .expect("ready")
                        .call(request())
                        .await
                        .expect("response");
                    let _ = http_body_util::BodyExt::collect(res.into_body()).await;
                }
                start.elapsed()
            })
        })
    });
    let _ = std::fs::remove_dir_all(dir);
}

criterion_group!(benches, bench);
criterion_main!(benches);
