//! `rta-streamsvc`: the RTA Stream Service. Serves the live WebSocket
//! protocol (`/rta/v2/sessions/{identity}/stream`) from the Redis stream
//! buffer, trims the streams, and answers `/`, `/health` and `/metrics`.
//!
//! ```text
//! rta-streamsvc --redis redis://localhost:6379 --http-port 8180
//! RTA_RedisConnectionString=myredishost rta-streamsvc
//! rta-streamsvc --config appsettings.json
//! ```

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use rta_service::options::{OptionsParser, BIND, HTTP_PORT};
use rta_stream::app::{run_stream_service, StreamServiceConfig};
use rta_stream::keys::KeyLayout;
use rta_stream::redis_source::RedisSourceOptions;
use rta_stream::service::ServiceOptions;
use rta_stream::trimmer::TrimmerOptions;

async fn run() -> rta_service::Result<()> {
    let opts = OptionsParser::new(
        "rta-streamsvc",
        "RTA Stream Service: live sessions from Redis over WebSocket",
    )
    .version(env!("CARGO_PKG_VERSION"))
    .option(
        "RedisConnectionString",
        "URL",
        "Redis: a redis:// or rediss:// URL, or host[:port][,password=..][,ssl=true]",
        None,
    )
    .alias("Redis")
    .option(
        "RedisDb",
        "N",
        "Redis database number (overrides the connection string's)",
        None,
    )
    .option(HTTP_PORT, "N", "HTTP port", Some("8180"))
    .option(BIND, "HOST", "Address to listen on", Some("0.0.0.0"))
    .option(
        "EnableTrimmer",
        "BOOL",
        "Run the stream trimmer",
        Some("true"),
    )
    .option(
        "Trimmer:TargetStreamLength",
        "N",
        "Entries kept in each Redis stream",
        Some("10000"),
    )
    .option(
        "Trimmer:Interval",
        "SECS",
        "Seconds between trimming passes",
        Some("30"),
    )
    .switch(
        "Trimmer:ApproxLength",
        "Trim approximately (MAXLEN ~), which is cheaper",
    )
    .option(
        "BackScanSeconds",
        "SECS",
        "How far back a new subscription is back-filled",
        Some("300"),
    )
    .alias("BackScanSecs")
    .option(
        "ClientQueueLength",
        "N",
        "Bursts buffered per client before a slow client is closed",
        Some("64"),
    )
    .alias("ClientQueue")
    .option(
        "SessionTtlSeconds",
        "SECS",
        "Expiry of session hashes, used to prune the session index",
        Some("86400"),
    )
    .alias("SessionTtlSecs")
    .option(
        "Keys:StreamPrefix",
        "TEXT",
        "Prefix of stream keys",
        Some("stream:"),
    )
    .alias("StreamPrefix")
    .option(
        "Keys:Streams",
        "KEY",
        "Set of stream names",
        Some("streams"),
    )
    .alias("StreamsKey")
    .option(
        "Keys:SessionPrefix",
        "TEXT",
        "Prefix of per-session hashes",
        Some("sessions:"),
    )
    .alias("SessionPrefix")
    .option(
        "Keys:SessionIndex",
        "KEY",
        "Sorted set indexing the sessions",
        Some("sessions"),
    )
    .alias("SessionIndex")
    .parse_env()?;

    let keys = KeyLayout {
        stream_prefix: opts.get_or("Keys:StreamPrefix")?,
        streams_set: opts.get_or("Keys:Streams")?,
        session_prefix: opts.get_or("Keys:SessionPrefix")?,
        session_index: opts.get_or("Keys:SessionIndex")?,
        ..KeyLayout::default()
    };
    let trimmer = TrimmerOptions {
        keys: keys.clone(),
        target_stream_length: opts.get_or("Trimmer:TargetStreamLength")?,
        interval: Duration::from_secs(opts.get_or::<u64>("Trimmer:Interval")?.max(1)),
        approx_length: opts.switch("Trimmer:ApproxLength")?,
        session_ttl: Duration::from_secs(opts.get_or("SessionTtlSeconds")?),
    };
    let cfg = StreamServiceConfig {
        redis: opts.get_or("RedisConnectionString")?,
        redis_db: opts.parse("RedisDb")?,
        listen: SocketAddr::new(opts.bind()?, opts.get_or(HTTP_PORT)?),
        trimmer: opts.switch("EnableTrimmer")?.then_some(trimmer),
        source: RedisSourceOptions {
            keys,
            back_scan: Duration::from_secs(opts.get_or("BackScanSeconds")?),
            ..Default::default()
        },
        service: ServiceOptions {
            queue_len: opts.get_or::<usize>("ClientQueueLength")?.max(1),
            ..Default::default()
        },
        version: env!("CARGO_PKG_VERSION"),
    };
    run_stream_service(
        cfg,
        |addr| tracing::info!("rta-streamsvc listening on http://{addr}"),
        rta_service::serve::shutdown_signal(),
    )
    .await?;
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    rta_examples::run_service("rta-streamsvc", run()).await
}
