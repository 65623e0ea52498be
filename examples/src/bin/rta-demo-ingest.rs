//! `rta-demo-ingest`: writes a generated live session to the Redis stream
//! buffer (three 100 Hz timestamped f64 channels, one 1 kHz periodic u16
//! channel, an event each second), opening it, streaming data and time
//! ranges in real time (or `--fast`), then closing it. The session identity
//! is printed as the first line of stdout.
//!
//! ```text
//! rta-demo-ingest --redis redis://localhost:6379 --stream demo --duration-secs 60
//! ```

use std::time::Duration;

use clap::Parser;
use rta_stream::app::normalize_env;
use rta_stream::demo::{self, DemoOptions};
use rta_stream::writer::{StreamBuffer, WriterOptions};

/// Options; each flag can also be set with the `RTA_` variable shown (any case).
#[derive(Debug, Parser)]
#[command(
    name = "rta-demo-ingest",
    version,
    about = "Writes a live demo session to Redis"
)]
struct Args {
    /// Redis connection string: a `redis://` / `rediss://` URL or `host[:port][,password=..]`.
    #[arg(
        long = "redis",
        env = "RTA_RedisConnectionString",
        default_value = "redis://127.0.0.1:6379"
    )]
    redis: String,
    /// Redis database number.
    #[arg(long, env = "RTA_RedisDb")]
    redis_db: Option<i64>,
    /// Stream name (without the `stream:` prefix).
    #[arg(long, default_value = "demo")]
    stream: String,
    /// Session identity (a random UUID when absent).
    #[arg(long)]
    session: Option<String>,
    /// Session length in seconds.
    #[arg(long, default_value_t = 60)]
    duration_secs: u64,
    /// Write as fast as possible instead of in real time.
    #[arg(long)]
    fast: bool,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    normalize_env(&["RTA_RedisConnectionString", "RTA_RedisDb"]);
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .init();
    let identity = args
        .session
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    println!("{identity}");
    let start_ns = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_nanos() as i64;
    let opts = DemoOptions {
        identity,
        stream: args.stream,
        duration: Duration::from_secs(args.duration_secs),
        fast: args.fast,
        start_ns,
    };
    let rt = tokio::runtime::Runtime::new()?;
    let summary = rt.block_on(async {
        let buffer =
            StreamBuffer::connect(&args.redis, args.redis_db, WriterOptions::default()).await?;
        demo::run(&buffer, &opts).await
    })?;
    eprintln!(
        "wrote {} timestamped samples, {} periodic samples, {} events in {} steps",
        summary.timestamped_samples, summary.periodic_samples, summary.events, summary.steps
    );
    Ok(())
}
