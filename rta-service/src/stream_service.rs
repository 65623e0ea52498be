//! The standalone Stream Service (`rta-streamsvc`): the live WebSocket over
//! the Redis stream buffer, the trimmer, and the same monitoring endpoints
//! as every other service (its `/health` checks Redis; its `/metrics` has
//! the `rta_stream_*` metrics).

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use rta_stream::metrics::Metrics;
use rta_stream::redis_source::{RedisLiveSource, RedisSourceOptions};
use rta_stream::service::{router, ServiceOptions, StreamService};
use rta_stream::trimmer::{self, TrimmerOptions};

use crate::monitor::{self, ServiceInfo};
use crate::{Error, Result};

/// Everything the Stream Service needs.
#[derive(Debug, Clone)]
pub struct StreamServiceConfig {
    /// Redis connection string (see `rta_stream::conn`).
    pub redis: String,
    /// Redis database, overriding the connection string's.
    pub redis_db: Option<i64>,
    /// Where to listen: HTTP, and HTTPS when TLS is configured.
    pub listen: crate::options::ServiceOptions,
    /// The trimmer, or `None` to disable it.
    pub trimmer: Option<TrimmerOptions>,
    /// Reader options.
    pub source: RedisSourceOptions,
    /// WebSocket options.
    pub service: ServiceOptions,
}

/// The HTTP side of a stream service: the WebSocket route with `/`,
/// `/health` (the live source's dependencies) and `/metrics`.
///
/// ```
/// use rta_stream::hub::{HubOptions, LiveHub};
/// use rta_stream::service::{ServiceOptions, StreamService};
/// use rta_service::monitor::ServiceInfo;
///
/// let svc = StreamService::new(LiveHub::new(HubOptions::default()), ServiceOptions::default());
/// let app = rta_service::stream_service::stream_router(svc, ServiceInfo::new("rta-streamsvc"));
/// # let _ = app;
/// ```
pub fn stream_router(svc: StreamService, info: ServiceInfo) -> Router {
    let metrics = svc.metrics().clone();
    let check = svc.clone();
    let info = info
        .with_metrics(move |r| metrics.register(r))
        .with_health_check("live-source", move || {
            let svc = check.clone();
            async move {
                svc.check_health()
                    .await
                    .map_err(|e| rta_core::Error::Unavailable(e.to_string()))
            }
        });
    monitor::service_router(info, router(svc))
}

/// Serves the Stream Service until `shutdown` completes. `on_listening` is
/// called with the bound HTTP address (useful with port 0).
pub async fn run_stream_service(
    cfg: StreamServiceConfig,
    info: ServiceInfo,
    on_listening: impl FnOnce(SocketAddr),
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<()> {
    let metrics = Arc::new(Metrics::default());
    let client =
        rta_stream::conn::client_with_ca(&cfg.redis, cfg.redis_db, cfg.listen.ca_file.as_deref())?;
    let source =
        RedisLiveSource::with_client(client.clone(), cfg.source.clone(), metrics.clone()).await?;
    let trimmer = match &cfg.trimmer {
        Some(t) => {
            let conn = ConnectionManager::new_lazy_with_config(
                client,
                ConnectionManagerConfig::new()
                    .set_response_timeout(Some(Duration::from_secs(30)))
                    .set_connection_timeout(Some(Duration::from_secs(2))),
            )
            .map_err(|e| Error::Stream(e.into()))?;
            Some(trimmer::spawn(conn, t.clone(), metrics.clone()))
        }
        None => None,
    };
    let svc = StreamService::with_metrics(Arc::new(source), cfg.service.clone(), metrics);
    let app = stream_router(svc, info);
    let listeners = crate::serve::Listeners::bind(&cfg.listen, false).await?;
    on_listening(listeners.http_addr());
    let served = listeners.serve(app, None, shutdown).await;
    if let Some(t) = trimmer {
        t.abort();
    }
    served?;
    Ok(())
}
