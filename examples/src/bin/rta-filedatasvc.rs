//! `rta-filedatasvc`: a directory of Parquet, Arrow IPC and CSV files served
//! in place as a read-only data service behind the gateway: the data route
//! (`/rta/v2/data/{dataIdentity}/...`, the identity being a file's path in
//! the directory) on HTTP 2700 (HTTPS 2701), no gRPC. Without a Schema
//! Mapping Service every file maps itself: its numeric columns, in order,
//! are channels 0, 1, 2, …
//!
//! ```text
//! rta-filedatasvc --FilePath /data/runs --http-port 2700
//! rta-filedatasvc --FilePath /data/runs --SchemaMappingGrpcUri http://myhost:2682/
//! ```

use std::process::ExitCode;

use rta_service::data::FileDataService;
use rta_service::options::FileDataServiceOptions;

async fn run() -> rta_service::Result<()> {
    let opts = FileDataServiceOptions::from_env()?;
    FileDataService::new(&opts)?.serve(&opts.service).await
}

#[tokio::main]
async fn main() -> ExitCode {
    rta_examples::run_service("rta-filedatasvc", run()).await
}
