//! `plumego inspect health|ready|metrics|routes|info --url URL`: one GET
//! against a running service with a small HTTP/1.1 client.

use std::time::{Duration, Instant};

use clap::{Args, ValueEnum};
use http::Uri;
use http_body_util::{BodyExt, Empty, Limited};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::{Value, json};

use crate::output::{CmdResult, Failure, Outcome};

/// What to fetch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Target {
    /// Liveness: `/healthz`.
    Health,
    /// Readiness: `/readyz`.
    Ready,
    /// Prometheus metrics: `/metrics`.
    Metrics,
    /// The route table: `/_debug/routes.json` (needs the service's debug mode).
    Routes,
    /// Service information: `/api/info`.
    Info,
}

impl Target {
    fn path(self) -> &'static str {
        match self {
            Target::Health => "/healthz",
            Target::Ready => "/readyz",
            Target::Metrics => "/metrics",
            Target::Routes => "/_debug/routes.json",
            Target::Info => "/api/info",
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Target::Health => "health",
            Target::Ready => "ready",
            Target::Metrics => "metrics",
            Target::Routes => "routes",
            Target::Info => "info",
        }
    }
}

/// `plumego inspect` arguments.
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// What to fetch.
    #[arg(value_enum)]
    pub target: Target,
    /// Base URL of the service (plain HTTP).
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub url: String,
    /// A full `Authorization` header value to send.
    #[arg(long)]
    pub auth: Option<String>,
    /// Seconds to wait for the whole response.
    #[arg(long, default_value_t = 10)]
    pub timeout: u64,
}

/// The largest body read.
const MAX_BODY: usize = 10 << 20;

/// `base` + `path`, checked to be plain `http://host[:port][/prefix]`.
fn target_uri(base: &str, path: &str) -> Result<Uri, Failure> {
    let base = base.trim();
    let uri: Uri = base.parse().map_err(|e| {
        Failure::error(format!(
            "invalid --url {base:?}: {e} (expected e.g. http://127.0.0.1:8080)"
        ))
    })?;
    match uri.scheme_str() {
        Some("http") => {}
        Some("https") => {
            return Err(Failure::error(
                "https is not supported by inspect: use the plain-HTTP address (e.g. http://127.0.0.1:8080)",
            ));
        }
        _ => {
            return Err(Failure::error(format!(
                "invalid --url {base:?}: expected http://host:port"
            )));
        }
    }
    let Some(authority) = uri.authority() else {
        return Err(Failure::error(format!("invalid --url {base:?}: no host")));
    };
    let prefix = uri.path().trim_end_matches('/');
    format!("http://{authority}{prefix}{path}")
        .parse()
        .map_err(|e| Failure::error(format!("invalid --url {base:?}: {e}")))
}

struct Fetched {
    status: http::StatusCode,
    content_type: Option<String>,
    body: Bytes,
    elapsed: Duration,
}

async fn fetch(uri: Uri, auth: Option<&str>) -> Result<Fetched, String> {
    let client = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
    let mut req = http::Request::get(uri).header(
        http::header::ACCEPT,
        "application/json, text/plain;q=0.9, */*;q=0.5",
    );
    if let Some(auth) = auth {
        req = req.header(http::header::AUTHORIZATION, auth);
    }
    let req = req
        .body(Empty::new())
        .map_err(|e| format!("cannot build the request: {e}"))?;
    let started = Instant::now();
    let res = client.request(req).await.map_err(|e| {
        let mut msg = e.to_string();
        let mut source = std::error::Error::source(&e);
        while let Some(s) = source {
            msg.push_str(&format!(": {s}"));
            source = s.source();
        }
        msg
    })?;
    let status = res.status();
    let content_type = res
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = Limited::new(res.into_body(), MAX_BODY)
        .collect()
        .await
        .map_err(|e| format!("cannot read the body: {e}"))?
        .to_bytes();
    Ok(Fetched {
        status,
        content_type,
        body,
        elapsed: started.elapsed(),
    })
}

/// Runs `plumego inspect`.
pub fn run(args: InspectArgs) -> CmdResult {
    let uri = target_uri(&args.url, args.target.path())?;
    let shown = uri.to_string();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::error(format!("cannot start the async runtime: {e}")))?;
    let timeout = Duration::from_secs(args.timeout.max(1));
    let fetched = runtime
        .block_on(async { tokio::time::timeout(timeout, fetch(uri, args.auth.as_deref())).await })
        .map_err(|_| {
            Failure::error(format!(
                "GET {shown}: no response within {}s",
                timeout.as_secs()
            ))
        })?
        .map_err(|e| Failure::error(format!("GET {shown}: cannot reach the service: {e}")))?;

    let text_body = String::from_utf8_lossy(&fetched.body).into_owned();
    let json_body: Option<Value> = serde_json::from_slice(&fetched.body).ok();
    let data = json!({
        "target": args.target.as_str(),
        "url": shown,
        "status_code": fetched.status.as_u16(),
        "content_type": fetched.content_type,
        "elapsed_ms": fetched.elapsed.as_millis() as u64,
        "body": json_body.clone().unwrap_or_else(|| Value::String(text_body.clone())),
    });
    let rendered = match &json_body {
        Some(v) => serde_json::to_string_pretty(v).unwrap_or_default(),
        None => text_body,
    };
    let reason = fetched.status.canonical_reason().unwrap_or("");
    if !fetched.status.is_success() {
        let detail = json_body
            .as_ref()
            .and_then(|v| v.pointer("/error/message").and_then(Value::as_str))
            .map(|m| format!(": {m}"))
            .unwrap_or_default();
        let hint = if args.target == Target::Routes && fetched.status == http::StatusCode::NOT_FOUND
        {
            " (start the service with APP_DEBUG=true to serve the route table)"
        } else {
            ""
        };
        return Err(Failure::error(format!(
            "GET {shown}: HTTP {} {reason}{detail}{hint}",
            fetched.status.as_u16()
        ))
        .data(data));
    }
    Ok(Outcome::ok(
        format!("GET {shown}: HTTP {} {reason}", fetched.status.as_u16()),
        data,
    )
    .text(rendered))
}

#[cfg(test)]
mod tests {
    use super::target_uri;

    #[test]
    fn uris() {
        assert_eq!(
            target_uri("http://127.0.0.1:9/", "/healthz")
                .unwrap()
                .to_string(),
            "http://127.0.0.1:9/healthz"
        );
        assert_eq!(
            target_uri("http://h:1/svc/", "/readyz")
                .unwrap()
                .to_string(),
            "http://h:1/svc/readyz"
        );
        assert!(target_uri("https://h", "/x").is_err());
        assert!(target_uri("127.0.0.1:8080", "/x").is_err());
        assert!(target_uri("not a url", "/x").is_err());
    }
}
