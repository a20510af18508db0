//! Reverse URLs from fuzzed patterns and values: no panic, and a URL built for
//! a route always starts with `/`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use plumego_core::{Body, handler_fn};
use plumego_router::RouterBuilder;

fuzz_target!(|data: (String, Vec<(String, String)>)| {
    let (pattern, values) = data;
    let mut builder = RouterBuilder::new();
    let Ok(route) = builder.get(
        &pattern,
        handler_fn(|_req: http::Request<Body>| async { "ok" }),
    ) else {
        return;
    };
    if route.name("r").is_err() {
        return;
    }
    let router = builder.build();
    let params: Vec<(&str, &str)> = values
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    if let Ok(url) = router.url_for("r", &params) {
        assert!(url.starts_with('/'));
    }
});
