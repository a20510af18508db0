//! The smallest Plumego service: `cargo run --example hello`, then
//! `curl localhost:8080/hello/you`.

use plumego::core::server::ServerConfig;
use plumego::{App, AppConfig, Envelope, Request, RequestExt, handler_fn};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    plumego::core::log::init(&Default::default())?;
    let addr = std::env::var("APP_ADDR").unwrap_or_else(|_| "127.0.0.1:8080".into());
    let mut app = App::new(AppConfig {
        server: ServerConfig {
            addr,
            ..ServerConfig::default()
        },
        ..AppConfig::default()
    });
    app.get(
        "/hello/:name",
        handler_fn(|req: Request| async move {
            Envelope::new(serde_json::json!({ "hello": req.param("name") }))
        }),
    )?;
    app.run().await?;
    Ok(())
}
