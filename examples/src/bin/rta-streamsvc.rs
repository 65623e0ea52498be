//! `rta-streamsvc`: the RTA Stream Service. Serves the live WebSocket
//! protocol (`/rta/v2/sessions/{identity}/stream`) from the Redis stream
//! buffer, trims the streams, and answers `/`, `/health` and `/metrics`.
//!
//! ```text
//! rta-streamsvc --redis redis://localhost:6379 --http-port 8180
//! RTA_RedisConnectionString=myredishost rta-streamsvc
//! rta-streamsvc --config appsettings.json
//! ```

use std::process::ExitCode;

use rta_service::auth::Authenticator;
use rta_service::monitor::ServiceInfo;
use rta_service::options::StreamServiceOptions;
use rta_service::stream_service::{run_stream_service, StreamServiceConfig};

async fn run() -> rta_service::Result<()> {
    let opts = StreamServiceOptions::from_env()?;
    let cfg = StreamServiceConfig {
        redis: opts.redis,
        redis_db: opts.redis_db,
        listen: opts.listen,
        trimmer: opts.trimmer,
        source: opts.source,
        service: opts.stream,
    };
    let auth = opts.auth.clone().map(Authenticator::new).transpose()?;
    let info = ServiceInfo::new("rta-streamsvc")
        .with_version(env!("CARGO_PKG_VERSION"))
        .with_auth(auth);
    run_stream_service(
        cfg,
        info,
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
