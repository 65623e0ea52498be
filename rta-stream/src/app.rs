//! Running the standalone Stream Service (the `rta-streamsvc` example is a
//! thin command line over [`run_stream_service`]).

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use crate::metrics::Metrics;
use crate::redis_source::{RedisLiveSource, RedisSourceOptions};
use crate::service::{service_router, ServiceOptions, StreamService};
use crate::trimmer::{self, TrimmerOptions};
use crate::Result;

/// Everything the Stream Service needs.
#[derive(Debug, Clone)]
pub struct StreamServiceConfig {
    /// Redis connection string (see [`crate::conn`]).
    pub redis: String,
    /// Redis database, overriding the connection string's.
    pub redis_db: Option<i64>,
    /// Address to listen on.
    pub listen: SocketAddr,
    /// The trimmer, or `None` to disable it.
    pub trimmer: Option<TrimmerOptions>,
    /// Reader options.
    pub source: RedisSourceOptions,
    /// WebSocket options.
    pub service: ServiceOptions,
    /// Version reported by `GET /`.
    pub version: &'static str,
}

/// Serves the Stream Service until `shutdown` completes. `on_listening` is
/// called with the bound address (useful with port 0).
pub async fn run_stream_service(
    cfg: StreamServiceConfig,
    on_listening: impl FnOnce(SocketAddr),
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<()> {
    let metrics = Arc::new(Metrics::default());
    let client = crate::conn::client(&cfg.redis, cfg.redis_db)?;
    let source =
        RedisLiveSource::with_client(client.clone(), cfg.source.clone(), metrics.clone()).await?;
    let trimmer = match &cfg.trimmer {
        Some(t) => {
            let conn = ConnectionManager::new_lazy_with_config(
                client,
                ConnectionManagerConfig::new()
                    .set_response_timeout(Some(Duration::from_secs(30)))
                    .set_connection_timeout(Some(Duration::from_secs(2))),
            )?;
            Some(trimmer::spawn(conn, t.clone(), metrics.clone()))
        }
        None => None,
    };
    let svc = StreamService::with_metrics(Arc::new(source), cfg.service.clone(), metrics);
    let app = service_router(svc, cfg.version);
    let listener = tokio::net::TcpListener::bind(cfg.listen).await?;
    on_listening(listener.local_addr()?);
    let served = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await;
    if let Some(t) = trimmer {
        t.abort();
    }
    served?;
    Ok(())
}
