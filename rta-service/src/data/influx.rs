//! The Influx Data Service (`rta-influxdatasvc`): InfluxDB through the
//! adapter kit, served on the data-microservice route only.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use rta_adapters::influx::InfluxSource;
use rta_adapters::kit::KitService;

use super::{DataBackend, DataMicroservice};
use crate::auth::Authenticator;
use crate::monitor::ServiceInfo;
use crate::options::{InfluxDataServiceOptions, ServiceOptions};
use crate::schema_mappings::GrpcMappings;
use crate::serve::{self, RunningServer};
use crate::Result;

/// InfluxDB as a read-only data microservice: the data route
/// (`/rta/v2/data/{dataIdentity}/...`) on HTTP, with `/`, `/health`
/// (InfluxDB and the Schema Mapping Service) and `/metrics`; no gRPC.
///
/// ```
/// use rta_service::data::InfluxDataService;
/// use rta_service::options::InfluxDataServiceOptions;
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let args = ["--DataSource", "rta-influxdatasvc", "--SchemaMappingGrpcUri", "http://127.0.0.1:9/",
///             "--InfluxUri", "http://127.0.0.1:9/"];
/// let parsed = InfluxDataServiceOptions::parser().parse_from(args, Vec::new())?;
/// let opts = InfluxDataServiceOptions::from_parsed(parsed)?.expect("not --help");
/// let svc = InfluxDataService::new(&opts)?;
/// let running = svc.spawn("127.0.0.1:0".parse()?).await?;
/// // Nothing listens on port 9: not ready.
/// let health = reqwest::get(format!("http://{}/health", running.http_addr)).await?;
/// assert_eq!(health.status(), 503);
/// running.stop().await?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
#[derive(Debug, Clone)]
pub struct InfluxDataService {
    micro: DataMicroservice,
}

impl InfluxDataService {
    /// The service `opts` describe (connections are made on first use).
    pub fn new(opts: &InfluxDataServiceOptions) -> Result<Self> {
        let source = Arc::new(InfluxSource::new(opts.influx.clone())?);
        let mappings = Arc::new(GrpcMappings::connect(
            &opts.schema_mapping_uri,
            &opts.data_source,
        )?);
        let kit = KitService::from_arc(source.clone()).with_mappings(mappings.clone());
        let info = ServiceInfo::from_options("rta-influxdatasvc", &opts.raw)
            .with_health_check("influxdb", move || {
                let source = source.clone();
                async move { source.check().await }
            })
            .with_health_check("schema-mappings", move || {
                let mappings = mappings.clone();
                async move { mappings.check().await }
            });
        let auth = opts.auth.clone().map(Authenticator::new).transpose()?;
        let micro = DataMicroservice::new(DataBackend::read_only(Arc::new(kit)))
            .write(false)
            .info(info)
            .auth(auth);
        Ok(InfluxDataService { micro })
    }

    /// The HTTP side: the data route and monitoring.
    pub fn http_router(&self) -> Router {
        self.micro.http_router()
    }

    /// Binds `http` (port 0 picks a free one) and serves in the background.
    pub async fn spawn(&self, http: SocketAddr) -> Result<RunningServer> {
        serve::spawn(http, self.http_router(), None).await
    }

    /// Serves on the HTTP (and HTTPS) ports of `svc` until Ctrl-C or SIGTERM.
    pub async fn serve(&self, svc: &ServiceOptions) -> Result<()> {
        serve::serve(svc, self.http_router(), None).await
    }
}
