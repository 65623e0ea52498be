//! The RTA Server: session, config, schema-mapping, data and stream
//! services in one process.
//!
//! [`RtaServer`] owns the stores and builds the HTTP router and the gRPC
//! routes; the `rta-server` binary only parses options and serves them.
//! Every store is pluggable through [`RtaServer::builder`]: any
//! [`SessionStore`], [`ConfigStore`], [`SchemaMappingStore`], and any
//! [`DataService`] with an optional [`DataSink`] ([`DataBackend`]). What is
//! not given is the embedded default under the data directory (SQLite
//! sessions, file configs and mappings, the native chunk store).
//!
//! Live sessions are wired in-process: data written through `DataWriter` (or
//! [`RtaServer::write_data`]) for an open session is pushed to the WebSocket
//! clients of `/rta/v2/sessions/{identity}/stream`, and session JSON updates
//! follow `SessionStore` writes.
//!
//! ```no_run
//! # async fn run() -> rta_service::Result<()> {
//! let server = rta_service::server::RtaServer::open("./rta-data")?;
//! let running = server.spawn("127.0.0.1:0".parse().unwrap(), "127.0.0.1:0".parse().unwrap()).await?;
//! println!("REST on {}", running.http_url());
//! # Ok(()) }
//! ```

mod live;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rta_adapters::native::{NativeConfig, NativeStore};
use rta_adapters::stores::{FileConfigStore, FileSchemaMappingStore, SqliteSessionStore};
use rta_core::service::{ConfigStore, IdentityCheck, SchemaMappingStore, SessionStore};
use rta_core::write::{DataObserver, DataSink, WriteItem};
use rta_stream::hub::{HubOptions, LiveHub};
use rta_stream::service::{
    router as stream_router, ServiceOptions as StreamOptions, StreamService,
};
use rta_stream::source::ChainSource;
use rta_stream::{LiveSource, RedisLiveSource, RedisSourceOptions, StreamBuffer, WriterOptions};

pub use live::{LiveSessionStore, LiveSet, REDIS_STREAM};

pub use crate::data::DataBackend;
use crate::data::DataMetrics;

use crate::auth::Authenticator;
use crate::monitor::{self, ServiceInfo};
use crate::serve::{self, RunningServer};
use crate::{configs, data, rpc, schema_mappings, sessions, Result};
use live::{LiveOut, SessionExists};

/// Builds an [`RtaServer`] from any stores; what is not given is the
/// embedded default under the data directory.
///
/// ```
/// use std::sync::Arc;
/// use rta_adapters::memory::MemoryData;
/// use rta_service::server::{DataBackend, RtaServer};
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let dir = tempfile::tempdir().unwrap();
/// let mem = Arc::new(MemoryData::new());
/// let server = RtaServer::builder(dir.path())
///     .data(DataBackend::new(mem.clone(), mem))
///     .build()
///     .await
///     .unwrap();
/// let _router = server.http_router();
/// # });
/// ```
#[must_use]
pub struct RtaServerBuilder {
    data_dir: PathBuf,
    sessions: Option<Arc<dyn SessionStore>>,
    configs: Option<Arc<dyn ConfigStore>>,
    mappings: Option<Arc<dyn SchemaMappingStore>>,
    data: Option<DataBackend>,
    redis: Option<(String, Option<i64>)>,
    info: ServiceInfo,
    auth: Option<Authenticator>,
    grpc: RpcSwitches,
}

/// Which gRPC services an [`RtaServer`] serves (`EnableGrpc`,
/// `EnableDataWriter`).
#[derive(Debug, Clone, Copy)]
struct RpcSwitches {
    grpc: bool,
    data_writer: bool,
}

impl RtaServerBuilder {
    /// Serves the gRPC port (`EnableGrpc`, default `true`); without it the
    /// server is REST and WebSocket only.
    pub fn grpc(mut self, enable: bool) -> Self {
        self.grpc.grpc = enable;
        self
    }

    /// Serves the gRPC `DataWriter` (`EnableDataWriter`, default `true`);
    /// without it data is read-only over gRPC. [`RtaServer::write_data`]
    /// still writes.
    pub fn data_writer(mut self, enable: bool) -> Self {
        self.grpc.data_writer = enable;
        self
    }

    /// Serves sessions from `store` instead of `sessions.sqlite`.
    pub fn sessions(mut self, store: Arc<dyn SessionStore>) -> Self {
        self.sessions = Some(store);
        self
    }

    /// Serves configs from `store` instead of `configs/`.
    pub fn configs(mut self, store: Arc<dyn ConfigStore>) -> Self {
        self.configs = Some(store);
        self
    }

    /// Serves schema mappings from `store` instead of `schema-mappings/`.
    pub fn schema_mappings(mut self, store: Arc<dyn SchemaMappingStore>) -> Self {
        self.mappings = Some(store);
        self
    }

    /// Serves data from `backend` instead of the native store in `data/`.
    pub fn data(mut self, backend: DataBackend) -> Self {
        self.data = Some(backend);
        self
    }

    /// Streams live sessions through Redis (the RTA buffer protocol, stream
    /// [`REDIS_STREAM`]): other processes (a Stream Service, another server)
    /// can serve them, and this server's WebSocket endpoint also serves
    /// sessions that other processes write to the same Redis.
    pub fn redis(mut self, url: impl Into<String>, db: Option<i64>) -> Self {
        self.redis = Some((url.into(), db));
        self
    }

    /// Sets what `/rta/v2/info` and `GET /` report.
    pub fn info(mut self, info: ServiceInfo) -> Self {
        self.info = info;
        self
    }

    /// Requires bearer tokens on the REST API, the live stream and every
    /// gRPC method (`None`: open).
    pub fn auth(mut self, auth: Option<Authenticator>) -> Self {
        self.auth = auth;
        self
    }

    /// Opens the default stores that were not given and connects to Redis
    /// when configured.
    pub async fn build(self) -> Result<RtaServer> {
        let hub = LiveHub::new(HubOptions::default());
        let stream_metrics = Arc::new(rta_stream::metrics::Metrics::default());
        let (out, source): (LiveOut, Arc<dyn LiveSource>) = match &self.redis {
            None => (LiveOut::Hub(hub.clone()), Arc::new(hub.clone())),
            Some((url, db)) => {
                let reader = RedisLiveSource::connect(
                    url,
                    *db,
                    RedisSourceOptions::default(),
                    stream_metrics.clone(),
                )
                .await?;
                let buffer = StreamBuffer::connect(url, *db, WriterOptions::default()).await?;
                let (tx, rx) = tokio::sync::mpsc::channel(live::REDIS_QUEUE);
                tokio::spawn(live::redis_publisher(buffer, rx));
                let source: Arc<dyn LiveSource> = Arc::new(ChainSource::new(vec![
                    Arc::new(hub.clone()),
                    Arc::new(reader),
                ]));
                (LiveOut::Redis(tx), source)
            }
        };
        self.assemble(hub, out, source, stream_metrics)
    }

    fn assemble(
        self,
        hub: LiveHub,
        out: LiveOut,
        source: Arc<dyn LiveSource>,
        stream_metrics: Arc<rta_stream::metrics::Metrics>,
    ) -> Result<RtaServer> {
        let dir = self.data_dir;
        std::fs::create_dir_all(&dir)?;
        let data = match self.data {
            Some(d) => d,
            None => DataBackend::native(NativeStore::open(NativeConfig::new(dir.join("data")))?),
        };
        let data_metrics = DataMetrics::default();
        let data = data.metered(&data_metrics);
        let inner: Arc<dyn SessionStore> = match self.sessions {
            Some(s) => s,
            None => Arc::new(SqliteSessionStore::open(dir.join("sessions.sqlite"))?),
        };
        let configs: Arc<dyn ConfigStore> = match self.configs {
            Some(c) => c,
            None => Arc::new(FileConfigStore::open(dir.join("configs"))?),
        };
        let mappings: Arc<dyn SchemaMappingStore> = match self.mappings {
            Some(m) => m,
            None => Arc::new(FileSchemaMappingStore::open(dir.join("schema-mappings"))?),
        };
        let sessions = Arc::new(LiveSessionStore::new(
            inner,
            Arc::new(LiveSet::new(out)),
            data.sink().cloned(),
        ));
        Ok(RtaServer {
            sessions,
            configs,
            mappings,
            data,
            hub,
            source,
            stream_metrics,
            data_metrics,
            data_dir: dir,
            info: self.info,
            auth: self.auth,
            rpc: self.grpc,
        })
    }
}

/// The stores and live hub of one RTA Server.
#[derive(Clone)]
pub struct RtaServer {
    /// Session store, wrapped in the layer that follows live sessions.
    pub sessions: Arc<LiveSessionStore<dyn SessionStore>>,
    /// Config store.
    pub configs: Arc<dyn ConfigStore>,
    /// Schema-mapping store.
    pub mappings: Arc<dyn SchemaMappingStore>,
    /// What data is read from and written to.
    pub data: DataBackend,
    /// In-process live streaming hub.
    pub hub: LiveHub,
    /// What the WebSocket service streams from: the hub, then Redis when configured.
    source: Arc<dyn LiveSource>,
    stream_metrics: Arc<rta_stream::metrics::Metrics>,
    data_metrics: DataMetrics,
    data_dir: PathBuf,
    info: ServiceInfo,
    auth: Option<Authenticator>,
    rpc: RpcSwitches,
}

impl std::fmt::Debug for RtaServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RtaServer")
            .field("data_dir", &self.data_dir)
            .field("data", &self.data)
            .finish_non_exhaustive()
    }
}

impl RtaServer {
    /// A builder: every store pluggable, the embedded defaults under
    /// `data_dir` for those not given.
    pub fn builder(data_dir: impl AsRef<Path>) -> RtaServerBuilder {
        RtaServerBuilder {
            data_dir: data_dir.as_ref().to_path_buf(),
            sessions: None,
            configs: None,
            mappings: None,
            data: None,
            redis: None,
            info: ServiceInfo::new("rta-server").with_label("RTA Server"),
            auth: None,
            grpc: RpcSwitches {
                grpc: true,
                data_writer: true,
            },
        }
    }

    /// Opens (creating if needed) every embedded store under `data_dir`,
    /// with live sessions streamed in-process.
    pub fn open(data_dir: impl AsRef<Path>) -> Result<Self> {
        let hub = LiveHub::new(HubOptions::default());
        let source: Arc<dyn LiveSource> = Arc::new(hub.clone());
        Self::builder(data_dir).assemble(
            hub.clone(),
            LiveOut::Hub(hub),
            source,
            Arc::new(rta_stream::metrics::Metrics::default()),
        )
    }

    /// Opens the embedded stores like [`RtaServer::open`], but streams live
    /// sessions through Redis (see [`RtaServerBuilder::redis`]).
    pub async fn open_with_redis(
        data_dir: impl AsRef<Path>,
        redis_url: &str,
        db: Option<i64>,
    ) -> Result<Self> {
        Self::builder(data_dir).redis(redis_url, db).build().await
    }

    /// Sets what `/rta/v2/info` and `GET /` report.
    pub fn with_info(mut self, info: ServiceInfo) -> Self {
        self.info = info;
        self
    }

    /// The data directory.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// The whole REST API (sessions, configs, data, live stream) with the
    /// monitoring endpoints (`/`, `/health`, `/metrics`, `/rta/v2/info`).
    pub fn http_router(&self) -> axum::Router {
        let check: Arc<dyn IdentityCheck> = Arc::new(SessionExists(self.sessions.clone()));
        let api = sessions::session_router(self.sessions.clone())
            .merge(configs::config_router(self.configs.clone()))
            .merge(data::data_router_with(
                self.data.chunked().clone(),
                Some(check),
            ))
            .merge(stream_router(StreamService::with_metrics(
                self.source.clone(),
                StreamOptions::default(),
                self.stream_metrics.clone(),
            )));
        let data_dir = self.data_dir.clone();
        let stream_metrics = self.stream_metrics.clone();
        let data_metrics = self.data_metrics.clone();
        let info = self
            .info
            .clone()
            .with_metrics(move |r| stream_metrics.register(r))
            .with_metrics(move |r| data_metrics.register(r))
            .with_auth(self.auth.clone())
            .with_health_check("data-dir", move || {
                let dir = data_dir.clone();
                async move { monitor::check_dir(&dir) }
            });
        monitor::service_router(info, api)
    }

    /// Every toolkit gRPC service on one set of routes: `SessionStore`,
    /// `ConfigStore`, `SchemaMappingStore`, `DataReader`, and `DataWriter`
    /// when the data backend takes writes and the builder did not turn it
    /// off ([`RtaServerBuilder::data_writer`]).
    pub fn grpc_routes(&self) -> tonic::service::Routes {
        let mut routes = rpc::routes()
            .add_service(sessions::session_server(self.sessions.clone()))
            .add_service(configs::config_server(self.configs.clone()))
            .add_service(schema_mappings::schema_mapping_server(
                self.mappings.clone(),
            ))
            .add_service(data::data_reader_server(self.data.service().clone()));
        if let (Some(sink), true) = (self.data.sink(), self.rpc.data_writer) {
            let observer: Arc<dyn DataObserver> = self.sessions.live().clone();
            routes = routes.add_service(data::data_writer_server(sink.clone(), Some(observer)));
        }
        crate::auth::grpc::protect(routes, self.auth.clone())
    }

    /// Stores a batch of data for `identity` and forwards it to live clients
    /// when the session is live: the same path as a `DataWriter` write.
    /// A read-only backend answers [`rta_core::Error::Unavailable`].
    pub async fn write_data(&self, identity: &str, items: Vec<WriteItem>) -> Result<()> {
        let sink = self.sink()?;
        let live = self.sessions.live();
        // Only a live session's items are needed after the write.
        let kept = live.is_live(identity).then(|| items.clone());
        sink.write(identity, items).await?;
        if let Some(items) = kept {
            live.observe(identity, &items);
        }
        Ok(())
    }

    /// Publishes a time-range update of a live session (no-op otherwise).
    pub fn publish_time_range(&self, identity: &str, start: i64, end: i64) {
        self.sessions
            .live()
            .publish_time_range(identity, start, end);
    }

    /// Makes everything written to `identity` durable.
    pub async fn flush_data(&self, identity: &str) -> Result<()> {
        Ok(self.sink()?.flush(identity).await?)
    }

    /// Makes everything written so far durable (call it at shutdown).
    pub async fn flush_all(&self) -> Result<()> {
        match self.data.sink() {
            Some(sink) => Ok(sink.flush_all().await?),
            None => Ok(()),
        }
    }

    fn sink(&self) -> Result<&Arc<dyn DataSink>> {
        self.data.sink().ok_or_else(|| {
            rta_core::Error::Unavailable("this server's data backend is read-only".into()).into()
        })
    }

    /// Binds both addresses (port 0 picks a free one) and serves in the
    /// background; `grpc` is not bound when the builder turned gRPC off
    /// ([`RtaServerBuilder::grpc`]).
    pub async fn spawn(&self, http: SocketAddr, grpc: SocketAddr) -> Result<RunningServer> {
        let grpc = self.rpc.grpc.then(|| (grpc, self.grpc_routes()));
        serve::spawn(http, self.http_router(), grpc).await
    }

    /// Serves the REST API and every gRPC service on the ports of `svc`
    /// until Ctrl-C or SIGTERM, then flushes written data.
    pub async fn serve(&self, svc: &crate::options::ServiceOptions) -> Result<()> {
        let grpc = self.rpc.grpc.then(|| self.grpc_routes());
        serve::serve(svc, self.http_router(), grpc).await?;
        self.flush_all().await
    }
}
