//! The benchmark scenarios (the Go project's router table, matchit's GitHub
//! table, and 404/405 sets) and the peers that serve them.

use std::convert::Infallible;

use axum::extract::RawPathParams;
use http::{Method, Request, StatusCode, Uri};
use plumego_core::{Body, RequestExt, handler_fn};
use plumego_router::{Router, RouterBuilder, tree};
use tower::Service;

use crate::{block_on, braces, github::GITHUB};

/// One scenario: routes to register and requests to send (one iteration sends
/// them all).
#[derive(Debug, Clone)]
pub struct Scenario {
    /// A short name, used as the criterion group.
    pub name: &'static str,
    /// `(method, pattern in Plumego syntax)`.
    pub routes: Vec<(Method, String)>,
    /// Requests of one iteration.
    pub requests: Vec<(Method, Uri)>,
    /// The status every request gets.
    pub expect: StatusCode,
    /// Run on two threads at once.
    pub parallel: bool,
}

fn get(paths: &[&str]) -> Vec<(Method, Uri)> {
    paths
        .iter()
        .map(|p| (Method::GET, p.parse::<Uri>().expect("valid uri")))
        .collect()
}

fn routes(method: Method, patterns: impl IntoIterator<Item = String>) -> Vec<(Method, String)> {
    patterns.into_iter().map(|p| (method.clone(), p)).collect()
}

fn seventy() -> Vec<(Method, String)> {
    routes(
        Method::GET,
        (0..50)
            .map(|i| format!("/api/v1/resource{i}"))
            .chain((0..20).map(|i| format!("/api/v1/entity{i}/:id"))),
    )
}

/// Every scenario, in the order of the results table.
pub fn all() -> Vec<Scenario> {
    let s = |name, routes, requests, parallel| Scenario {
        name,
        routes,
        requests,
        expect: StatusCode::OK,
        parallel,
    };
    let static3 = routes(
        Method::GET,
        ["/about", "/contact", "/api/v1/health"].map(String::from),
    );
    let five_methods: Vec<_> = [
        Method::GET,
        Method::POST,
        Method::PUT,
        Method::DELETE,
        Method::PATCH,
    ]
    .into_iter()
    .map(|m| (m, "/api/resource/:id".to_owned()))
    .collect();
    let github_paths: Vec<String> = GITHUB
        .iter()
        .map(|r| {
            r.split('/')
                .map(|s| if s.starts_with(':') { "v42x" } else { s })
                .collect::<Vec<_>>()
                .join("/")
        })
        .collect();
    vec![
        s("static", static3.clone(), get(&["/about"]), false),
        s(
            "param1",
            routes(Method::GET, ["/users/:id".into()]),
            get(&["/users/123"]),
            false,
        ),
        s(
            "param2",
            routes(Method::GET, ["/users/:id/posts/:postId".into()]),
            get(&["/users/123/posts/456"]),
            false,
        ),
        s(
            "param4",
            routes(
                Method::GET,
                ["/api/v1/users/:userId/orgs/:orgId/teams/:teamId/members/:memberId".into()],
            ),
            get(&["/api/v1/users/1/orgs/2/teams/3/members/4"]),
            false,
        ),
        s(
            "wildcard",
            routes(Method::GET, ["/static/*filepath".into()]),
            get(&["/static/css/main.css"]),
            false,
        ),
        s(
            "routes70",
            seventy(),
            get(&[
                "/api/v1/resource0",
                "/api/v1/resource25",
                "/api/v1/resource49",
                "/api/v1/entity0/123",
                "/api/v1/entity10/456",
                "/api/v1/entity19/789",
            ]),
            false,
        ),
        s(
            "parallel_static",
            routes(Method::GET, ["/about".into()]),
            get(&["/about"]),
            true,
        ),
        s(
            "parallel_param",
            routes(Method::GET, ["/users/:id".into()]),
            get(&["/users/42"]),
            true,
        ),
        s(
            "methods5",
            five_methods,
            [
                Method::GET,
                Method::POST,
                Method::PUT,
                Method::DELETE,
                Method::PATCH,
            ]
            .into_iter()
            .zip(1..)
            .map(|(m, i)| {
                (
                    m,
                    Uri::from_maybe_shared(format!("/api/resource/{i}")).expect("uri"),
                )
            })
            .collect(),
            false,
        ),
        s(
            "github",
            routes(Method::GET, GITHUB.iter().map(|r| r.to_string())),
            get(&github_paths.iter().map(String::as_str).collect::<Vec<_>>()),
            false,
        ),
        Scenario {
            name: "not_found",
            routes: seventy(),
            requests: get(&["/nonexistent/path", "/api/v1/resource50", "/api/v1/entity0"]),
            expect: StatusCode::NOT_FOUND,
            parallel: false,
        },
        Scenario {
            name: "method_not_allowed",
            routes: seventy(),
            requests: vec![
                (Method::POST, Uri::from_static("/api/v1/resource0")),
                (Method::DELETE, Uri::from_static("/api/v1/entity3/9")),
            ],
            expect: StatusCode::METHOD_NOT_ALLOWED,
            parallel: false,
        },
    ]
}

/// Go's chi on this kind of machine, dispatch only with the request reused
/// (ns per request, 2 allocations each): the reference figures the router's
/// dispatch-only mode is compared with. `None` for scenarios without one.
pub fn chi_reference_ns(scenario: &str) -> Option<f64> {
    Some(match scenario {
        "static" => 207.0,
        "param1" => 217.0,
        "param2" => 241.0,
        "param4" => 319.0,
        "wildcard" => 205.0,
        "routes70" => 236.0,
        "methods5" => 223.0,
        _ => return None,
    })
}

/// A request with no allocation of its own: the URI is shared, headers and
/// extensions start empty.
#[inline]
pub fn request(method: &Method, uri: &Uri) -> Request<Body> {
    let mut req = Request::new(Body::empty());
    *req.method_mut() = method.clone();
    *req.uri_mut() = uri.clone();
    req
}

/// Every peer of one scenario.
pub struct Peers {
    /// Plumego's router, full dispatch.
    pub plumego: Router<Body>,
    /// axum's router with equivalent handlers, full dispatch.
    pub axum: axum::Router,
    /// matchit alone: lookup and parameter read, no dispatch.
    pub matchit: matchit::Router<usize>,
    /// Plumego's trie alone: lookup and parameter read, no dispatch.
    pub trie: tree::Tree<usize>,
}

async fn axum_params(params: RawPathParams) -> StatusCode {
    for (_, value) in &params {
        std::hint::black_box(value);
    }
    StatusCode::OK
}

async fn axum_static() -> StatusCode {
    StatusCode::OK
}

impl Peers {
    /// Builds every peer from the scenario's routes.
    pub fn new(s: &Scenario) -> Self {
        let mut plumego = RouterBuilder::new();
        let mut axum = axum::Router::new();
        let mut matchit = matchit::Router::new();
        let mut trie = tree::Tree::new();
        let handler = handler_fn(|req: Request<Body>| async move {
            if let Some(route) = req.route() {
                for (_, value) in route.params() {
                    std::hint::black_box(value);
                }
            }
            StatusCode::OK
        });
        let mut axum_paths: Vec<(String, Vec<Method>)> = Vec::new();
        for (i, (method, pattern)) in s.routes.iter().enumerate() {
            plumego
                .route(method.clone(), pattern, handler)
                .expect("valid plumego route");
            let braced = braces(pattern);
            match axum_paths.iter_mut().find(|(p, _)| *p == braced) {
                Some((_, methods)) => methods.push(method.clone()),
                None => {
                    axum_paths.push((braced.clone(), vec![method.clone()]));
                    matchit.insert(braced, i).expect("valid matchit route");
                    let slot = trie
                        .insert(&tree::parse(pattern).expect("valid"))
                        .expect("no conflict");
                    *slot = Some(i);
                }
            }
        }
        for (path, methods) in axum_paths {
            let has_params = path.contains('{');
            let mut method_router = axum::routing::MethodRouter::new();
            for m in methods {
                let filter = axum::routing::MethodFilter::try_from(m).expect("standard method");
                method_router = if has_params {
                    method_router.on(filter, axum_params)
                } else {
                    method_router.on(filter, axum_static)
                };
            }
            axum = axum.route(&path, method_router);
        }
        Self {
            plumego: plumego.build(),
            axum,
            matchit,
            trie,
        }
    }

    /// Full dispatch through Plumego's router.
    #[inline]
    pub fn plumego(&mut self, method: &Method, uri: &Uri) -> StatusCode {
        dispatch(&mut self.plumego, request(method, uri))
    }

    /// Full dispatch through axum's router.
    #[inline]
    pub fn axum(&mut self, method: &Method, uri: &Uri) -> StatusCode {
        dispatch(&mut self.axum, request(method, uri))
    }

    /// matchit lookup plus parameter read.
    #[inline]
    pub fn matchit(&self, uri: &Uri) -> bool {
        match self.matchit.at(uri.path()) {
            Ok(m) => {
                for (_, value) in m.params.iter() {
                    std::hint::black_box(value);
                }
                true
            }
            Err(_) => false,
        }
    }

    /// Plumego trie lookup plus parameter read.
    #[inline]
    pub fn trie(&self, uri: &Uri, params: &mut tree::Params) -> bool {
        params.clear();
        let path = uri.path();
        match self.trie.find(path, params, |_| true) {
            Some(_) => {
                for (start, end) in params.iter() {
                    std::hint::black_box(&path[start..end]);
                }
                true
            }
            None => false,
        }
    }
}

/// Calls a service that answers on the first poll.
#[inline]
pub fn dispatch<S, B>(svc: &mut S, req: Request<Body>) -> StatusCode
where
    S: Service<Request<Body>, Response = http::Response<B>, Error = Infallible>,
{
    block_on(async {
        std::future::poll_fn(|cx| svc.poll_ready(cx)).await.ok();
        match svc.call(req).await {
            Ok(res) => res.status(),
            Err(never) => match never {},
        }
    })
}
