//! Property tests at the router level: registration never panics, and every
//! registered static route is dispatched to by its own path.

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use http::Request;
use plumego_core::{Body, RequestExt, handler_fn};
use plumego_router::RouterBuilder;
use proptest::prelude::*;
use tower::Service;

fn ready<F: Future>(fut: F) -> F::Output {
    let mut fut = pin!(fut);
    match fut.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(out) => out,
        Poll::Pending => panic!("router futures for handler routes are ready at once"),
    }
}

proptest! {
    #[test]
    fn registration_never_panics(patterns in proptest::collection::vec(".{0,40}", 0..20)) {
        let mut b = RouterBuilder::<Body>::new();
        for p in &patterns {
            let _ = b.get(p, handler_fn(|_r: Request<Body>| async { "x" }));
            let _ = b.group(p, |g| g.post(p, handler_fn(|_r: Request<Body>| async { "y" })).map(|_| ()));
            let _ = b.nest_service(p, handler_fn(|_r: Request<Body>| async { "z" }));
        }
        let mut router = b.build();
        for p in &patterns {
            if let Ok(uri) = http::Uri::try_from(p.as_str()) {
                let mut req = Request::new(Body::empty());
                *req.uri_mut() = uri;
                prop_assert!(ready(router.call(req)).is_ok());
            }
        }
    }

    #[test]
    fn static_routes_dispatch_to_themselves(
        paths in proptest::collection::btree_set("(/[a-zA-Z0-9._~-]{1,8}){1,5}", 1..30)
    ) {
        let mut b = RouterBuilder::<Body>::new();
        for p in &paths {
            b.get(p, handler_fn(|req: Request<Body>| async move {
                req.route().map(|r| r.pattern().to_owned()).unwrap_or_default()
            })).unwrap();
        }
        let mut router = b.build();
        for p in &paths {
            let req = Request::get(p.as_str()).body(Body::empty()).unwrap();
            let res = ready(router.call(req)).unwrap();
            prop_assert_eq!(res.status(), 200);
            prop_assert_eq!(res.body().as_bytes(), Some(p.as_bytes()));
        }
    }
}
