//! `plumego`: scaffold Plumego services, generate code into them, inspect
//! running apps, check projects, and drive the repository's agent control
//! plane.
//!
//! Every command prints human text by default, or the envelope
//! `{status, message, exit_code, data}` with `--format json|yaml`. Exit codes:
//! 0 ok, 1 error, 2 warning, 3 conflict.
#![forbid(unsafe_code)]

mod agents;
mod check;
mod control;
mod doctor;
mod generate;
mod inspect;
mod new;
mod output;
mod templates;
mod util;
mod version;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::output::{CmdResult, Exit, Format, Outcome};

#[derive(Debug, Parser)]
#[command(
    name = "plumego",
    version,
    about = "Plumego service toolkit: new, generate, inspect, check, doctor, agents",
    after_help = "Exit codes: 0 ok, 1 error, 2 warning, 3 conflict."
)]
struct Cli {
    /// Output format: human text, or the {status, message, exit_code, data} envelope.
    #[arg(long, short = 'f', global = true, value_enum, default_value_t = Format::Text)]
    format: Format,
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Create a service in the canonical layout.
    New(new::NewArgs),
    /// Add a handler, layer or resource to a generated service.
    Generate(generate::GenerateArgs),
    /// Query a running service's health, readiness, metrics, routes or info.
    Inspect(inspect::InspectArgs),
    /// Check a project's layout and scan its env files for secrets.
    Check(check::CheckArgs),
    /// Check that this repository's control plane (specs, module manifests) is complete.
    Doctor(doctor::DoctorArgs),
    /// Print the version, git commit and rustc version.
    Version,
    /// Agent workflow: route a file to its module, validate a diff.
    Agents(AgentsArgs),
}

#[derive(Debug, Args)]
struct AgentsArgs {
    #[command(subcommand)]
    command: AgentsCmd,
}

#[derive(Debug, Subcommand)]
enum AgentsCmd {
    /// Which module a file belongs to, its rules, test commands and recipe.
    Route(agents::RouteArgs),
    /// Run the test commands of every module a diff touches.
    ValidateDiff(agents::ValidateDiffArgs),
}

fn run(cmd: Cmd) -> CmdResult {
    match cmd {
        Cmd::New(a) => new::run(a),
        Cmd::Generate(a) => generate::run(a),
        Cmd::Inspect(a) => inspect::run(a),
        Cmd::Check(a) => check::run(a),
        Cmd::Doctor(a) => doctor::run(a),
        Cmd::Version => version::run(),
        Cmd::Agents(a) => match a.command {
            AgentsCmd::Route(a) => agents::route(a),
            AgentsCmd::ValidateDiff(a) => agents::validate_diff(a),
        },
    }
}

/// The `--format` asked for on a command line clap rejected, so usage errors
/// still come back as an envelope.
fn requested_format(args: &[String]) -> Format {
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let value = match a.as_str() {
            "--format" | "-f" => it.next().map(String::as_str),
            other => other
                .strip_prefix("--format=")
                .or_else(|| other.strip_prefix("-f")),
        };
        match value {
            Some("json") => return Format::Json,
            Some("yaml") => return Format::Yaml,
            _ => {}
        }
    }
    Format::Text
}

fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let cli = match Cli::try_parse_from(&args) {
        Ok(cli) => cli,
        Err(e) => {
            use clap::error::ErrorKind;
            if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
                let _ = e.print();
                return std::process::ExitCode::SUCCESS;
            }
            let format = requested_format(&args);
            if format == Format::Text {
                let _ = e.print();
                return std::process::ExitCode::from(Exit::Error.code() as u8);
            }
            let message = e.render().to_string();
            let message = message
                .lines()
                .next()
                .unwrap_or("invalid arguments")
                .trim_start_matches("error: ")
                .to_owned();
            let outcome = Outcome::new(
                Exit::Error,
                message,
                serde_json::json!({ "usage": e.render().to_string() }),
            );
            return std::process::ExitCode::from(output::emit(&outcome, format) as u8);
        }
    };
    let outcome = match run(cli.command) {
        Ok(o) => o,
        Err(f) => f.into(),
    };
    std::process::ExitCode::from(output::emit(&outcome, cli.format) as u8)
}

/// Where `plumego new` points generated services by default.
pub fn default_plumego_path() -> PathBuf {
    util::build_workspace()
}
