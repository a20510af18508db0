//! Shared pieces of the Plumego benchmarks: the route tables of each scenario,
//! the peers built from them, and a tiny executor for futures that are ready
//! on their first poll (router dispatch with no I/O).
//!
//! The only `unsafe` of the project is the counting allocator in [`alloc`],
//! which benchmarks need to report allocations per request.
#![deny(unsafe_code)]

pub mod alloc;
pub mod github;
pub mod scenario;
pub mod stacks;

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

/// Polls `fut` to completion with a no-op waker; the futures measured here
/// finish on their first poll, so this costs nothing beyond the poll itself.
pub fn block_on<F: Future>(fut: F) -> F::Output {
    let mut fut = pin!(fut);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(out) = fut.as_mut().poll(&mut cx) {
            return out;
        }
        std::thread::yield_now();
    }
}

/// Converts a Plumego pattern (`:id`, `*path`) to matchit/axum syntax.
pub fn braces(pattern: &str) -> String {
    pattern
        .split('/')
        .map(|s| match s.as_bytes().first() {
            Some(b':') => format!("{{{}}}", &s[1..]),
            Some(b'*') => format!("{{*{}}}", &s[1..]),
            _ => s.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("/")
}

#[cfg(test)]
mod tests {
    #[test]
    fn braces_converts_both_kinds() {
        assert_eq!(super::braces("/a/:id/*rest"), "/a/{id}/{*rest}");
        assert_eq!(super::braces("/"), "/");
    }

    #[test]
    fn every_scenario_routes_its_own_requests() {
        for s in super::scenario::all() {
            let mut peers = super::scenario::Peers::new(&s);
            for (method, uri) in &s.requests {
                let status = peers.plumego(method, uri);
                assert_eq!(status, s.expect, "{} {method} {uri}", s.name);
                let status = peers.axum(method, uri);
                assert_eq!(status, s.expect, "axum {} {method} {uri}", s.name);
            }
        }
    }
}
