//! `cargo run -p reference-service`: signals, configuration, build, serve.

use reference_service::{app, config::Config, domain::item::ItemService, store};

#[tokio::main]
async fn main() -> std::process::ExitCode {
    if let Err(e) = plumego::core::log::init(&Default::default()) {
        eprintln!("{e}");
    }
    match run().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "reference service failed");
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let config = Config::load()?;
    let stores = store::open(&config.store).await?;
    let repo = stores.items.clone();
    let items = ItemService::new(repo.clone());
    let app = app::build(&config, items, stores.idempotency)?;
    let report = app.run().await?;
    repo.flush().await?;
    tracing::info!(drained = report.drained, "stopped");
    Ok(())
}
