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
use std::time::Duration;

use rta_service::options::OptionsParser;
use rta_stream::demo::{self, DemoOptions};
use rta_stream::writer::{StreamBuffer, WriterOptions};

async fn run() -> rta_service::Result<()> {
    let opts = OptionsParser::new("rta-demo-ingest", "Writes a live demo session to Redis")
        .version(env!("CARGO_PKG_VERSION"))
        .option(
            "RedisConnectionString",
            "URL",
            "Redis: a redis:// or rediss:// URL, or host[:port][,password=..]",
            Some("redis://127.0.0.1:6379"),
        )
        .alias("Redis")
        .option("RedisDb", "N", "Redis database number", None)
        .option(
            "Stream",
            "NAME",
            "Stream name (without the stream: prefix)",
            Some("demo"),
        )
        .option(
            "Session",
            "ID",
            "Session identity (a random UUID when absent)",
            None,
        )
        .option(
            "DurationSecs",
            "SECS",
            "Session length in seconds",
            Some("60"),
        )
        .switch("Fast", "Write as fast as possible instead of in real time")
        .parse_env()?;
    let redis: String = opts.get_or("RedisConnectionString")?;
    let redis_db: Option<i64> = opts.parse("RedisDb")?;
    let identity = opts
        .get("Session")
        .map_or_else(|| uuid::Uuid::new_v4().to_string(), str::to_string);
    let demo = DemoOptions {
        identity,
        stream: opts.get_or("Stream")?,
        duration: Duration::from_secs(opts.get_or("DurationSecs")?),
        fast: opts.switch("Fast")?,
        start_ns: rta_core::time::Timestamp::now().nanos(),
    };
    println!("{}", demo.identity);
    let buffer = StreamBuffer::connect(&redis, redis_db, WriterOptions::default()).await?;
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
