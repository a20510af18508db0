//! Registers fuzzed patterns and dispatches fuzzed paths: nothing may panic,
//! and a registered static route must be found by its own path.
#![no_main]

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use libfuzzer_sys::fuzz_target;
use plumego_core::{Body, handler_fn};
use plumego_router::RouterBuilder;
use tower::Service;

fuzz_target!(|data: (Vec<String>, Vec<String>)| {
    let (patterns, paths) = data;
    let mut builder = RouterBuilder::new();
    for pattern in &patterns {
        let _ = builder.get(
            pattern,
            handler_fn(|_req: http::Request<Body>| async { "ok" }),
        );
        let _ = builder.url_for(pattern, &[("id", pattern)]);
    }
    let mut router = builder.build();
    for path in paths.iter().chain(&patterns) {
        let Ok(uri) = http::Uri::try_from(path.as_str()) else {
            continue;
        };
        let mut req = http::Request::new(Body::empty());
        *req.uri_mut() = uri;
        let mut fut = pin!(router.call(req));
        let mut cx = Context::from_waker(Waker::noop());
        assert!(matches!(fut.as_mut().poll(&mut cx), Poll::Ready(Ok(_))));
    }
});
