//! `rta-streamsvc`: the RTA Stream Service. Serves the live WebSocket
//! protocol (`/rta/v2/sessions/{identity}/stream`) from the Redis stream
//! buffer, trims the streams, and answers `/`, `/health` and `/metrics`.
//!
//! ```text
//! rta-streamsvc --redis redis://localhost:6379 --http-port 8180
//! RTA_RedisConnectionString=myredishost rta-streamsvc
//! ```

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use clap::{ArgAction, Parser};
use rta_stream::app::{normalize_env, run_stream_service, StreamServiceConfig};
use rta_stream::keys::KeyLayout;
use rta_stream::redis_source::RedisSourceOptions;
use rta_stream::service::ServiceOptions;
use rta_stream::trimmer::TrimmerOptions;

/// Options; each flag can also be set with the `RTA_` variable shown (any case).
#[derive(Debug, Parser)]
#[command(
    name = "rta-streamsvc",
    version,
    about = "RTA Stream Service: live sessions from Redis over WebSocket"
)]
struct Args {
    /// Redis connection string: a `redis://` / `rediss://` URL or `host[:port][,password=..][,ssl=true]`.
    #[arg(
        long = "redis",
        alias = "RedisConnectionString",
        env = "RTA_RedisConnectionString"
    )]
    redis: String,
    /// Redis database number (overrides the connection string's).
    #[arg(long, alias = "RedisDb", env = "RTA_RedisDb")]
    redis_db: Option<i64>,
    /// HTTP port.
    #[arg(long, default_value_t = 8180, env = "RTA_HttpPort")]
    http_port: u16,
    /// Address to bind.
    #[arg(long, default_value = "0.0.0.0", env = "RTA_Bind")]
    bind: IpAddr,
    /// Run the stream trimmer.
    #[arg(long, alias = "EnableTrimmer", env = "RTA_EnableTrimmer", default_value_t = true, action = ArgAction::Set)]
    enable_trimmer: bool,
    /// Entries kept in each Redis stream.
    #[arg(
        long,
        env = "RTA_Trimmer__TargetStreamLength",
        default_value_t = 10_000
    )]
    trimmer_target_stream_length: u64,
    /// Seconds between trimming passes.
    #[arg(long, env = "RTA_Trimmer__Interval", default_value_t = 30)]
    trimmer_interval: u64,
    /// Trim approximately (`MAXLEN ~`), which is cheaper.
    #[arg(long, env = "RTA_Trimmer__ApproxLength", default_value_t = false, action = ArgAction::Set)]
    trimmer_approx_length: bool,
    /// How far back (seconds) a new subscription is back-filled.
    #[arg(long, env = "RTA_BackScanSeconds", default_value_t = 300)]
    back_scan_secs: u64,
    /// Bursts buffered per client before a slow client is closed.
    #[arg(long, env = "RTA_ClientQueueLength", default_value_t = 64)]
    client_queue: usize,
    /// Expiry (seconds) of session hashes, used to prune the session index.
    #[arg(long, env = "RTA_SessionTtlSeconds", default_value_t = 86_400)]
    session_ttl_secs: u64,
    /// Prefix of stream keys.
    #[arg(long, env = "RTA_Keys__StreamPrefix", default_value = "stream:")]
    stream_prefix: String,
    /// Set of stream names.
    #[arg(long, env = "RTA_Keys__Streams", default_value = "streams")]
    streams_key: String,
    /// Prefix of per-session hashes.
    #[arg(long, env = "RTA_Keys__SessionPrefix", default_value = "sessions:")]
    session_prefix: String,
    /// Sorted set indexing the sessions.
    #[arg(long, env = "RTA_Keys__SessionIndex", default_value = "sessions")]
    session_index: String,
}

const ENV: &[&str] = &[
    "RTA_RedisConnectionString",
    "RTA_RedisDb",
    "RTA_HttpPort",
    "RTA_Bind",
    "RTA_EnableTrimmer",
    "RTA_Trimmer__TargetStreamLength",
    "RTA_Trimmer__Interval",
    "RTA_Trimmer__ApproxLength",
    "RTA_BackScanSeconds",
    "RTA_ClientQueueLength",
    "RTA_SessionTtlSeconds",
    "RTA_Keys__StreamPrefix",
    "RTA_Keys__Streams",
    "RTA_Keys__SessionPrefix",
    "RTA_Keys__SessionIndex",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    normalize_env(ENV);
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let keys = KeyLayout {
        stream_prefix: args.stream_prefix,
        streams_set: args.streams_key,
        session_prefix: args.session_prefix,
        session_index: args.session_index,
        ..KeyLayout::default()
    };
    let cfg = StreamServiceConfig {
        redis: args.redis,
        redis_db: args.redis_db,
        listen: SocketAddr::new(args.bind, args.http_port),
        trimmer: args.enable_trimmer.then(|| TrimmerOptions {
            keys: keys.clone(),
            target_stream_length: args.trimmer_target_stream_length,
            interval: Duration::from_secs(args.trimmer_interval.max(1)),
            approx_length: args.trimmer_approx_length,
            session_ttl: Duration::from_secs(args.session_ttl_secs),
        }),
        source: RedisSourceOptions {
            keys,
            back_scan: Duration::from_secs(args.back_scan_secs),
            ..Default::default()
        },
        service: ServiceOptions {
            queue_len: args.client_queue.max(1),
            ..Default::default()
        },
        version: env!("CARGO_PKG_VERSION"),
    };
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(run_stream_service(
        cfg,
        |addr| tracing::info!("rta-streamsvc listening on http://{addr}"),
        async {
            let _ = tokio::signal::ctrl_c().await;
        },
    ))?;
    Ok(())
}
