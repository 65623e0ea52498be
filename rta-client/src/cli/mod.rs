//! The `rta` command line: sessions, configs, data, CSV import and export,
//! over an [`RtaClient`]. The binary (`examples/src/bin/rta.rs`) only calls
//! [`main`].

use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use crate::{Error, Result, RtaClient};

mod commands;
mod export;
mod import;
mod progress;
mod tables;
mod where_expr;

/// Command line client of an RTA deployment.
#[derive(Debug, Parser)]
#[command(
    name = "rta",
    version,
    about = "Command line client of an RTA deployment: sessions, configs, data, and CSV, Parquet and Arrow import and export"
)]
pub struct Cli {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    command: Command,
}

/// Where the services are and how to reach them.
#[derive(Debug, Args)]
struct Global {
    /// REST base URL (an rta-server's HTTP port, or a gateway).
    #[arg(
        long,
        global = true,
        env = "RTA_SERVER",
        default_value = "http://127.0.0.1:8080"
    )]
    server: String,
    /// gRPC URL (an rta-server's gRPC port, or the session/config/data services).
    #[arg(
        long,
        global = true,
        env = "RTA_GRPC",
        default_value = "http://127.0.0.1:8082"
    )]
    grpc: String,
    /// Bearer token, when the services require one.
    #[arg(long, global = true, env = "RTA_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// PEM file of CA certificates to trust for https:// URLs.
    #[arg(long, global = true, value_name = "FILE")]
    ca: Option<std::path::PathBuf>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// List, show and update sessions.
    #[command(subcommand)]
    Sessions(commands::Sessions),
    /// Publish and fetch configs.
    #[command(subcommand)]
    Configs(commands::Configs),
    /// Dump decoded samples of a session.
    ///
    /// Example: rta data run-1 periodic 0-3 --type f32
    Data(commands::DataArgs),
    /// Follow a live session and print values as they arrive; exits when the session closes.
    ///
    /// Example: rta tail run-1 --channels 0-3 --json
    Tail(commands::TailArgs),
    /// Import a CSV, Parquet or Arrow file (a time column, then one column per channel) as a session.
    ///
    /// Example: rta import laps.parquet --session run-7 --config-from-columns
    Import(import::ImportArgs),
    /// Export channels of a session to a CSV, Parquet or Arrow file.
    ///
    /// Example: rta export run-7 --channels 0-2 --out run-7.parquet
    Export(export::ExportArgs),
}

/// Parses the process arguments and runs the command; prints errors to
/// stderr and returns a failure exit code for them.
pub async fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("rta: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Runs a parsed command line.
pub async fn run(cli: Cli) -> Result<()> {
    let g = &cli.global;
    let mut b = RtaClient::builder(&g.grpc).rest(&g.server);
    if let Some(t) = &g.token {
        b = b.token(t);
    }
    if let Some(ca) = &g.ca {
        b = b.ca_file(ca);
    }
    let client = b.connect().await?;
    match cli.command {
        Command::Sessions(c) => commands::sessions(&client, c).await,
        Command::Configs(c) => commands::configs(&client, c).await,
        Command::Data(a) => commands::data(&client, a).await,
        Command::Tail(a) => commands::tail(&client, a).await,
        Command::Import(a) => import::import(&client, a).await,
        Command::Export(a) => export::export(&client, a).await,
    }
}

/// Reads a whole local file, naming it on failure.
fn read_file(path: &std::path::Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|source| Error::Io {
        path: path.display().to_string(),
        source,
    })
}
