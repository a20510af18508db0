//! Runs the recommended layer stack in a loop, for profilers:
//! `valgrind --tool=dhat target/release/examples/profile_stack 10000` lists
//! every allocation site per request; `--tool=callgrind` the instructions.

fn main() {
    let rounds: usize = std::env::args()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(10_000);
    // The timeout layer needs a runtime's timer.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("runtime");
    let _guard = rt.enter();
    let mut svc = plumego_benches::stacks::plumego_stack();
    for _ in 0..rounds {
        plumego_benches::stacks::run(&mut svc);
    }
    println!("{rounds} requests through the recommended stack");
}
