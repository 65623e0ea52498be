//! `rta-demo-ingest`: writes a generated live session to the Redis stream
//! buffer (three 100 Hz timestamped f64 channels, one 1 kHz periodic u16
//! channel, an event each second), opening it, streaming data and time
//! ranges in real time (or `--fast`), then closing it. The session identity
//! is printed as the first line of stdout.
//!
//! ```text
//! rta-demo-ingest --redis redis://localhost:6379 --stream demo --duration-secs 60
//! ```

use std::process::ExitCode;

use rta_service::options::DemoIngestOptions;
use rta_stream::demo::{self, DemoOptions};
use rta_stream::writer::{StreamBuffer, WriterOptions};

async fn run() -> rta_service::Result<()> {
    let opts = DemoIngestOptions::from_env()?;
    let demo = DemoOptions {
        identity: opts
            .session
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string()),
        stream: opts.stream,
        duration: opts.duration,
        fast: opts.fast,
        start_ns: rta_core::time::Timestamp::now().nanos(),
    };
    println!("{}", demo.identity);
    let buffer =
        StreamBuffer::connect(&opts.redis, opts.redis_db, WriterOptions::default()).await?;
    let summary = demo::run(&buffer, &demo).await?;
    eprintln!(
        "wrote {} timestamped samples, {} periodic samples, {} events in {} steps",
        summary.timestamped_samples, summary.periodic_samples, summary.events, summary.steps
    );
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    rta_examples::run_program("rta-demo-ingest", "warn", run()).await
}
