//! Runs one router scenario in a loop, for profilers:
//! `valgrind --tool=callgrind target/release/examples/profile_static static`.

use plumego_benches::scenario::{self, Peers};

fn main() {
    let name = std::env::args().nth(1).unwrap_or_else(|| "static".into());
    let rounds: usize = std::env::args()
        .nth(2)
        .and_then(|n| n.parse().ok())
        .unwrap_or(200_000);
    let Some(s) = scenario::all().into_iter().find(|s| s.name == name) else {
        eprintln!("no scenario {name}");
        std::process::exit(1);
    };
    let mut peers = Peers::new(&s);
    let mut ok = 0usize;
    for _ in 0..rounds {
        for (method, uri) in &s.requests {
            ok += usize::from(peers.plumego(method, uri) == s.expect);
        }
    }
    println!("{ok} requests answered as expected");
}
