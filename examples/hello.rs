//! The smallest Plumego service: `cargo run --example hello`, then
//! `curl localhost:8080/`.

use plumego::core::server::{Server, ServerConfig};
use plumego::{ApiError, Envelope, ErrorType, IntoResponse, Request, Response, handler_fn};

async fn hello(req: Request<hyper::body::Incoming>) -> Response {
    match req.uri().path() {
        "/" => Envelope::new(serde_json::json!({"message": "hello from plumego"})).into_response(),
        _ => ApiError::new(ErrorType::ResourceNotFound, "no such page").into_response(),
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    plumego::core::log::init(&Default::default())?;
    let addr = std::env::var("APP_ADDR").unwrap_or_else(|_| "127.0.0.1:8080".into());
    let server = Server::new(ServerConfig { addr, ..ServerConfig::default() })?;
    let report = server.run(handler_fn(hello)).await?;
    tracing::info!(drained = report.drained, "stopped");
    Ok(())
}
