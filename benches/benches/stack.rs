//! The recommended Plumego layer stack around an empty handler, against the
//! same stack built from tower-http alone where tower-http has the layer, and
//! against the bare handler. Reports time and allocations per request.
//!
//! `cargo bench -p plumego-benches --bench stack` prints the table and writes
//! it to `target/criterion/stack-table.md`.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use criterion::Criterion;
use plumego_benches::alloc::{Counting, thread_allocations};
use plumego_benches::stacks::{STACKS, Svc, run};

#[global_allocator]
static GLOBAL: Counting = Counting;

fn output_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/criterion")
}

fn median_ns(id: &str) -> Option<f64> {
    let path = output_dir()
        .join("stack")
        .join(id)
        .join("new/estimates.json");
    let text = std::fs::read_to_string(path).ok()?;
    let key = "\"median\":{\"confidence_interval\":{\"confidence_level\":0.95,\"lower_bound\":";
    let rest = &text[text.find(key)? + key.len()..];
    let point = rest.find("\"point_estimate\":")? + "\"point_estimate\":".len();
    rest[point..]
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.' || *c == 'e' || *c == '-')
        .collect::<String>()
        .parse()
        .ok()
}

fn allocations(make: fn() -> Svc) -> (f64, f64) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let _guard = rt.enter();
    let mut svc = make();
    run(&mut svc);
    const ROUNDS: u64 = 2000;
    let (a0, b0) = thread_allocations();
    for _ in 0..ROUNDS {
        run(&mut svc);
    }
    let (a1, b1) = thread_allocations();
    (
        (a1 - a0) as f64 / ROUNDS as f64,
        (b1 - b0) as f64 / ROUNDS as f64,
    )
}

fn main() {
    let mut c = Criterion::default()
        .output_directory(&output_dir())
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3))
        .configure_from_args();
    // The timeout layers need a runtime's timer.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    {
        let _guard = rt.enter();
        let mut group = c.benchmark_group("stack");
        for (name, make) in STACKS {
            let mut svc = make();
            group.bench_function(name, |b| b.iter(|| run(&mut svc)));
        }
        group.finish();
    }
    c.final_summary();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "| stack | ns/req | added ns | allocs/req | added allocs | bytes/req |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|");
    let base_ns = median_ns("handler_only").unwrap_or(0.0);
    let (base_allocs, _) = allocations(STACKS[0].1);
    for (name, make) in STACKS {
        let ns = median_ns(name);
        let (allocs, bytes) = allocations(make);
        let _ = writeln!(
            out,
            "| {name} | {} | {} | {allocs:.1} | {:.1} | {bytes:.0} |",
            ns.map_or("–".into(), |v| format!("{v:.0}")),
            ns.map_or("–".into(), |v| format!("{:.0}", v - base_ns)),
            allocs - base_allocs,
        );
    }
    println!("\n{out}");
    let _ = std::fs::write(output_dir().join("stack-table.md"), &out);
}
