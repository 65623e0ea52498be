//! The file data service (`rta-filedatasvc`): a directory of Parquet,
//! Arrow IPC and CSV files through the adapter kit, on the
//! data-microservice route only.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use rta_adapters::files::{FileSource, FileStats};
use rta_adapters::kit::{ChunkCache, KitService};

use super::{DataBackend, DataMicroservice};
use crate::auth::Authenticator;
use crate::monitor::ServiceInfo;
use crate::options::{FileDataServiceOptions, ServiceOptions};
use crate::schema_mappings::GrpcMappings;
use crate::serve::{self, RunningServer};
use crate::Result;

/// Files served in place as a read-only data microservice: the data route
/// (`/rta/v2/data/{dataIdentity}/...`, the identity being a file's path in
/// the directory) with `/`, `/health` and `/metrics`; no gRPC.
///
/// ```
/// use rta_service::data::FileDataService;
/// use rta_service::options::FileDataServiceOptions;
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let dir = tempfile::tempdir()?;
/// let parsed = FileDataServiceOptions::parser()
///     .parse_from(["--FilePath", dir.path().to_str().unwrap()], Vec::new())?;
/// let opts = FileDataServiceOptions::from_parsed(parsed)?.expect("not --help");
/// let running = FileDataService::new(&opts)?.spawn("127.0.0.1:0".parse()?).await?;
/// // An unknown file, like any unknown data identity, is an empty 200.
/// let missing = reqwest::get(format!("http://{}/rta/v2/data/nope.parquet/timestamped/0", running.http_addr)).await?;
/// assert_eq!(missing.status(), 200);
/// assert!(missing.bytes().await?.is_empty());
/// // A path leaving the directory is refused.
/// let outside = reqwest::get(format!("http://{}/rta/v2/data/..%2Fx.csv/timestamped/0", running.http_addr)).await?;
/// assert_eq!(outside.status(), 400);
/// running.stop().await?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
#[derive(Debug, Clone)]
pub struct FileDataService {
    micro: DataMicroservice,
    stats: Arc<FileStats>,
}

impl FileDataService {
    /// The service `opts` describe.
    pub fn new(opts: &FileDataServiceOptions) -> Result<Self> {
        let source = Arc::new(FileSource::open(&opts.file_path)?);
        let stats = source.stats().clone();
        let mut kit = KitService::from_arc(source);
        if opts.cache_bytes > 0 {
            let bytes = usize::try_from(opts.cache_bytes).unwrap_or(usize::MAX);
            kit = kit.with_cache(Arc::new(ChunkCache::new(bytes)));
        }
        let mut info = ServiceInfo::from_options("rta-filedatasvc", &opts.raw);
        if let Some(uri) = &opts.schema_mapping_uri {
            let mappings = Arc::new(GrpcMappings::connect(uri, &opts.data_source)?);
            kit = kit.with_mappings(mappings.clone());
            info = info.with_health_check("schema-mappings", move || {
                let mappings = mappings.clone();
                async move { mappings.check().await }
            });
        }
        let auth = opts.auth.clone().map(Authenticator::new).transpose()?;
        let micro = DataMicroservice::new(DataBackend::read_only(Arc::new(kit)))
            .write(false)
            .info(info)
            .auth(auth);
        Ok(FileDataService { micro, stats })
    }

    /// What reads have touched (Parquet row groups read and skipped).
    pub fn stats(&self) -> &Arc<FileStats> {
        &self.stats
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
