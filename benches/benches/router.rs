//! Router dispatch: Plumego against axum (full dispatch) and matchit (lookup
//! only), plus two floor rows, then allocations per request and a results table.
//!
//! `cargo bench -p plumego-benches --bench router` prints the table and writes
//! it to `target/criterion/router-table.md`.

use std::convert::Infallible;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::Barrier;
use std::time::{Duration, Instant};

use criterion::{BatchSize, BenchmarkId, Criterion, black_box};
use http::{Request, Response, StatusCode};
use plumego_benches::alloc::{Counting, thread_allocations};
use plumego_benches::scenario::{self, Peers, Scenario, chi_reference_ns, dispatch, request};
use plumego_core::Body;
use plumego_router::tree::Params;

#[global_allocator]
static GLOBAL: Counting = Counting;

const PEERS: [&str; 4] = ["plumego", "axum", "matchit", "plumego_trie"];

/// The dispatch-only mode of the Go benchmarks: requests are built before the
/// timer starts, so only the call, the handler and the request's drop count.
const DISPATCH_ONLY: [&str; 2] = ["plumego_prebuilt", "axum_prebuilt"];

/// Requests prebuilt per timed batch: enough to make the timer's cost
/// negligible, few enough to stay in cache.
const PER_BATCH: usize = 1024;

/// One iteration's requests, built outside the measurement.
fn prebuilt(s: &Scenario) -> Vec<Request<Body>> {
    s.requests.iter().map(|(m, u)| request(m, u)).collect()
}

/// Dispatches prebuilt requests; draining keeps the vector's own buffer
/// alive until criterion drops it outside the measurement.
fn dispatch_all<S, B>(svc: &mut S, reqs: &mut Vec<Request<Body>>)
where
    S: tower::Service<Request<Body>, Response = Response<B>, Error = Infallible>,
{
    for req in reqs.drain(..) {
        black_box(dispatch(svc, req));
    }
}

/// [`dispatch_all`] through one dispatch-only peer.
fn dispatch_prebuilt(peers: &mut Peers, reqs: &mut Vec<Request<Body>>, peer: &str) {
    if peer == "plumego_prebuilt" {
        dispatch_all(&mut peers.plumego, reqs);
    } else {
        dispatch_all(&mut peers.axum, reqs);
    }
}

/// Formats a per-request time, `–` when criterion has none.
fn ns_cell(ns: Option<f64>) -> String {
    ns.map_or("–".to_owned(), |v| format!("{v:.1}"))
}

/// Formats `x / y`, `–` when either is missing.
fn ratio_cell(x: Option<f64>, y: Option<f64>) -> String {
    match (x, y) {
        (Some(x), Some(y)) => format!("{:.2}×", x / y),
        _ => "–".into(),
    }
}

fn output_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/criterion")
}

/// One iteration of `peer` over the scenario's requests.
fn run(peers: &mut Peers, params: &mut Params, s: &Scenario, peer: &str) {
    for (method, uri) in &s.requests {
        match peer {
            "plumego" => {
                black_box(peers.plumego(method, uri));
            }
            "axum" => {
                black_box(peers.axum(method, uri));
            }
            "matchit" => {
                black_box(peers.matchit(uri));
            }
            _ => {
                black_box(peers.trie(uri, params));
            }
        }
    }
}

/// Two threads, each with its own clone of the peers, running `iters` iterations.
fn run_parallel(s: &Scenario, peer: &str, iters: u64) -> Duration {
    let barrier = Barrier::new(2);
    let base = Peers::new(s);
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..2)
            .map(|_| {
                let mut peers = Peers {
                    plumego: base.plumego.clone(),
                    axum: base.axum.clone(),
                    matchit: base.matchit.clone(),
                    trie: Peers::new(s).trie,
                };
                let barrier = &barrier;
                // Each thread parses its own URIs: cloning one shared `Uri`
                // from two threads would bump one shared refcount and measure
                // the benchmark's contention instead of the router's.
                let own = Scenario {
                    requests: s
                        .requests
                        .iter()
                        .map(|(m, u)| (m.clone(), u.to_string().parse().expect("uri")))
                        .collect(),
                    ..s.clone()
                };
                scope.spawn(move || {
                    let mut params = Params::new();
                    barrier.wait();
                    let start = Instant::now();
                    for _ in 0..iters {
                        run(&mut peers, &mut params, &own, peer);
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

fn floor_service(
    insert: bool,
) -> impl tower::Service<Request<Body>, Response = Response<Body>, Error = Infallible> {
    tower::service_fn(move |mut req: Request<Body>| async move {
        if insert {
            req.extensions_mut().insert(42u64);
        }
        black_box(&req);
        Ok::<_, Infallible>(Response::new(Body::empty()))
    })
}

fn floors(c: &mut Criterion) {
    let mut group = c.benchmark_group("floor");
    let uri = http::Uri::from_static("/about");
    for (name, insert) in [("service_fn", false), ("service_fn_ext", true)] {
        let mut svc = floor_service(insert);
        group.bench_function(name, |b| {
            b.iter(|| dispatch(&mut svc, request(&http::Method::GET, &uri)))
        });
        group.bench_function(format!("{name}_prebuilt"), |b| {
            b.iter_batched_ref(
                || {
                    (0..PER_BATCH)
                        .map(|_| request(&http::Method::GET, &uri))
                        .collect::<Vec<_>>()
                },
                |reqs| dispatch_all(&mut svc, reqs),
                BatchSize::NumIterations(1),
            )
        });
    }
    group.finish();
}

fn scenarios(c: &mut Criterion) {
    for s in scenario::all() {
        let mut group = c.benchmark_group(s.name);
        for peer in PEERS {
            if s.parallel {
                group.bench_function(BenchmarkId::from_parameter(peer), |b| {
                    b.iter_custom(|iters| run_parallel(&s, peer, iters))
                });
            } else {
                let mut peers = Peers::new(&s);
                let mut params = Params::new();
                group.bench_function(BenchmarkId::from_parameter(peer), |b| {
                    b.iter(|| run(&mut peers, &mut params, &s, peer))
                });
            }
        }
        if !s.parallel {
            for peer in DISPATCH_ONLY {
                let mut peers = Peers::new(&s);
                let per_batch = (PER_BATCH / s.requests.len()).max(1) as u64;
                group.bench_function(BenchmarkId::from_parameter(peer), |b| {
                    b.iter_batched_ref(
                        || prebuilt(&s),
                        |reqs| dispatch_prebuilt(&mut peers, reqs, peer),
                        BatchSize::NumIterations(per_batch),
                    )
                });
            }
        }
        group.finish();
    }
}

/// Median ns per iteration from criterion's saved estimates.
fn median_ns(group: &str, id: &str) -> Option<f64> {
    let path = output_dir().join(group).join(id).join("new/estimates.json");
    let text = std::fs::read_to_string(path).ok()?;
    let key = "\"median\":{\"confidence_interval\":{\"confidence_level\":0.95,\"lower_bound\":";
    let rest = &text[text.find(key)? + key.len()..];
    let point = rest.find("\"point_estimate\":")? + "\"point_estimate\":".len();
    let value: String = rest[point..]
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.' || *c == 'e' || *c == '-')
        .collect();
    value.parse().ok()
}

/// (allocations, bytes) per request.
fn allocations(s: &Scenario, peer: &str) -> (f64, f64) {
    let mut peers = Peers::new(s);
    let mut params = Params::new();
    run(&mut peers, &mut params, s, peer);
    const ROUNDS: usize = 2000;
    let (a0, b0) = thread_allocations();
    for _ in 0..ROUNDS {
        run(&mut peers, &mut params, s, peer);
    }
    let (a1, b1) = thread_allocations();
    let n = (ROUNDS * s.requests.len()) as f64;
    ((a1 - a0) as f64 / n, (b1 - b0) as f64 / n)
}

fn floor_allocations(insert: bool) -> f64 {
    let mut svc = floor_service(insert);
    let uri = http::Uri::from_static("/about");
    const ROUNDS: usize = 2000;
    let (a0, _) = thread_allocations();
    for _ in 0..ROUNDS {
        assert_eq!(
            dispatch(&mut svc, request(&http::Method::GET, &uri)),
            StatusCode::OK
        );
    }
    (thread_allocations().0 - a0) as f64 / ROUNDS as f64
}

fn table() -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "| scenario | plumego ns/req | axum ns/req | plumego / axum | matchit ns/req | plumego trie ns/req | trie / matchit | plumego allocs (bytes) | axum allocs (bytes) | trie allocs |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|---|---|---|");
    for s in scenario::all() {
        let n = s.requests.len() as f64;
        let ns = |peer| median_ns(s.name, peer).map(|v| v / n);
        let ratio = ratio_cell(ns("plumego"), ns("axum"));
        let (pa, pb) = allocations(&s, "plumego");
        let (aa, ab) = allocations(&s, "axum");
        let (ta, _) = allocations(&s, "plumego_trie");
        let trie_ratio = ratio_cell(ns("plumego_trie"), ns("matchit"));
        let label = if s.parallel {
            format!("{} (2 threads)", s.name)
        } else {
            s.name.to_owned()
        };
        let _ = writeln!(
            out,
            "| {label} | {} | {} | {ratio} | {} | {} | {trie_ratio} | {pa:.1} ({pb:.0} B) | {aa:.1} ({ab:.0} B) | {ta:.1} |",
            ns_cell(ns("plumego")),
            ns_cell(ns("axum")),
            ns_cell(ns("matchit")),
            ns_cell(ns("plumego_trie")),
        );
    }
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "| dispatch only (request prebuilt) | plumego ns/req | axum ns/req | plumego / axum | Go chi ns/req (reference) | plumego / chi |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|");
    for s in scenario::all().into_iter().filter(|s| !s.parallel) {
        let n = s.requests.len() as f64;
        let p = median_ns(s.name, "plumego_prebuilt").map(|v| v / n);
        let a = median_ns(s.name, "axum_prebuilt").map(|v| v / n);
        let chi = chi_reference_ns(s.name);
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} |",
            s.name,
            ns_cell(p),
            ns_cell(a),
            ratio_cell(p, a),
            chi.map_or("–".to_owned(), |v| format!("{v:.0}")),
            ratio_cell(p, chi),
        );
    }
    let _ = writeln!(out);
    let _ = writeln!(out, "| floor | ns/req | allocs |");
    let _ = writeln!(out, "|---|---|---|");
    for (name, insert) in [("service_fn", false), ("service_fn_ext", true)] {
        let ns = ns_cell(median_ns("floor", name));
        let allocs = floor_allocations(insert);
        let _ = writeln!(out, "| {name} | {ns} | {allocs:.1} |");
        let prebuilt =
            ns_cell(median_ns("floor", &format!("{name}_prebuilt")).map(|v| v / PER_BATCH as f64));
        let _ = writeln!(
            out,
            "| {name}, request prebuilt | {prebuilt} | {allocs:.1} |"
        );
    }
    let _ = writeln!(
        out,
        "\nParallel rows: wall time of two threads each running the scenario, divided by the requests of both (perfect scaling halves the single-thread figure)."
    );
    out
}

fn main() {
    let mut c = Criterion::default()
        .output_directory(&output_dir())
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .configure_from_args();
    floors(&mut c);
    scenarios(&mut c);
    c.final_summary();
    let table = table();
    println!("\n{table}");
    let _ = std::fs::write(output_dir().join("router-table.md"), &table);
}
