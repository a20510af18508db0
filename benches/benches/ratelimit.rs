//! Rate-limit decisions per second: one key on one thread, then two threads
//! (each with its own key, and both on one key).
//!
//! `cargo bench -p plumego-benches --bench ratelimit`

use std::sync::Barrier;
use std::time::{Duration, Instant, SystemTime};

use criterion::{Criterion, Throughput, black_box, criterion_group, criterion_main};
use plumego_layers::security::rate_limit::{MemoryRateLimiter, Quota};

fn limiter_and_quota() -> (MemoryRateLimiter, plumego_core::store::Gcra) {
    let limiter = MemoryRateLimiter::default();
    // Generous enough that every decision in the run is an "allow" on a
    // warm key: the common path.
    let gcra = Quota::new(1e12, 1_000_000).gcra().expect("valid quota");
    (limiter, gcra)
}

fn two_threads(
    limiter: &MemoryRateLimiter,
    gcra: &plumego_core::store::Gcra,
    iters: u64,
    shared_key: bool,
) -> Duration {
    let barrier = Barrier::new(2);
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..2)
            .map(|t| {
                let barrier = &barrier;
                s.spawn(move || {
                    let key = if shared_key {
                        "shared"
                    } else if t == 0 {
                        "client-a"
                    } else {
                        "client-b"
                    };
                    let now = SystemTime::now();
                    limiter.check(key, gcra, now);
                    barrier.wait();
                    let start = Instant::now();
                    for _ in 0..iters {
                        black_box(limiter.check(black_box(key), gcra, now));
                    }
                    start.elapsed()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_default())
            .max()
            .unwrap_or_default()
    })
}

fn bench(c: &mut Criterion) {
    let (limiter, gcra) = limiter_and_quota();
    let now = SystemTime::now();
    limiter.check("client", &gcra, now);
    let mut group = c.benchmark_group("ratelimit");
    group.throughput(Throughput::Elements(1));
    group.bench_function("one_thread_existing_key", |b| {
        b.iter(|| black_box(limiter.check(black_box("client"), &gcra, now)))
    });
    // Two decisions per iteration (one per thread); throughput counts both.
    group.throughput(Throughput::Elements(2));
    group.bench_function("two_threads_own_keys", |b| {
        b.iter_custom(|iters| two_threads(&limiter, &gcra, iters, false))
    });
    group.bench_function("two_threads_same_key", |b| {
        b.iter_custom(|iters| two_threads(&limiter, &gcra, iters, true))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
