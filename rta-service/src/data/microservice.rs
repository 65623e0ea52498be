//! A data backend as a data microservice: what `rta-datasvc` serves.
//!
//! HTTP: the data-microservice route (`/rta/v2/data/{dataIdentity}/...`)
//! that a gateway reads, with `/`, `/health` and `/metrics`. gRPC: the
//! toolkit's `DataReader` and `DataWriter`. Reads and writes can be turned
//! off one at a time, for the read-only and write-only instances the
//! toolkit advises in production.

use std::sync::Arc;

use axum::Router;

use super::{
    data_reader_server, data_service_router, data_writer_server, DataBackend, DataMetrics,
};
use crate::monitor::{self, ServiceInfo};
use crate::serve::{self, RunningServer};
use crate::{rpc, Error, Result};

/// A data backend served as a data microservice.
///
/// ```
/// use std::sync::Arc;
/// use rta_adapters::memory::MemoryData;
/// use rta_service::data::{DataBackend, DataMicroservice};
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let mem = Arc::new(MemoryData::new());
/// let svc = DataMicroservice::new(DataBackend::new(mem.clone(), mem)).read(false);
/// let running = svc.spawn("127.0.0.1:0".parse()?, "127.0.0.1:0".parse()?).await?;
/// // Write-only: DataWriter on gRPC, no data route on HTTP.
/// running.stop().await?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
#[derive(Debug, Clone)]
pub struct DataMicroservice {
    backend: DataBackend,
    metrics: DataMetrics,
    read: bool,
    write: bool,
    info: ServiceInfo,
}

impl DataMicroservice {
    /// Serves reads, and writes when the backend takes them.
    pub fn new(backend: DataBackend) -> Self {
        let write = backend.sink().is_some();
        let metrics = DataMetrics::default();
        DataMicroservice {
            backend: backend.metered(&metrics),
            metrics,
            read: true,
            write,
            info: ServiceInfo::new("rta-datasvc").with_label("RTA Data Service"),
        }
    }

    /// Serves reads (the data route and `DataReader`) or not (`EnableRead`).
    pub fn read(mut self, enable: bool) -> Self {
        self.read = enable;
        self
    }

    /// Serves writes (`DataWriter`) or not (`EnableWrite`).
    pub fn write(mut self, enable: bool) -> Self {
        self.write = enable;
        self
    }

    /// Sets what `/`, `/health` and `/metrics` report.
    pub fn info(mut self, info: ServiceInfo) -> Self {
        self.info = info;
        self
    }

    /// Requires bearer tokens on the data route and every gRPC method.
    pub fn auth(mut self, auth: Option<crate::auth::Authenticator>) -> Self {
        self.info = self.info.with_auth(auth);
        self
    }

    /// The HTTP side: the data route when reads are on, and monitoring.
    pub fn http_router(&self) -> Router {
        let api = if self.read {
            data_service_router(self.backend.chunked().clone())
        } else {
            Router::new()
        };
        let metrics = self.metrics.clone();
        let info = self.info.clone().with_metrics(move |r| metrics.register(r));
        monitor::service_router(info, api)
    }

    /// The gRPC side: `DataReader` when reads are on, `DataWriter` when
    /// writes are; an error when writes are asked of a read-only backend.
    pub fn grpc_routes(&self) -> Result<tonic::service::Routes> {
        let mut routes = rpc::routes();
        if self.read {
            routes = routes.add_service(data_reader_server(self.backend.service().clone()));
        }
        if self.write {
            let sink = self
                .backend
                .sink()
                .ok_or_else(|| Error::option("EnableWrite", "this data backend is read-only"))?;
            routes = routes.add_service(data_writer_server(Arc::clone(sink), None));
        }
        Ok(crate::auth::grpc::protect(
            routes,
            self.info.auth().cloned(),
        ))
    }

    /// Binds both addresses (port 0 picks a free one) and serves in the background.
    pub async fn spawn(
        &self,
        http: std::net::SocketAddr,
        grpc: std::net::SocketAddr,
    ) -> Result<RunningServer> {
        serve::spawn(http, self.http_router(), Some((grpc, self.grpc_routes()?))).await
    }

    /// Serves on the ports of `svc` until Ctrl-C or SIGTERM, then flushes
    /// what was written.
    pub async fn serve(&self, svc: &crate::options::ServiceOptions) -> Result<()> {
        serve::serve(svc, self.http_router(), Some(self.grpc_routes()?)).await?;
        if let Some(sink) = self.backend.sink() {
            sink.flush_all().await?;
        }
        Ok(())
    }
}
