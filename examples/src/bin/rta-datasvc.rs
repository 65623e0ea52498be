//! `rta-datasvc`: the RTA Data Service. The native chunk store as a data
//! microservice behind the gateway: the data route
//! (`/rta/v2/data/{dataIdentity}/...`) on HTTP 2670 (HTTPS 2671), and the
//! toolkit's `DataWriter` and `DataReader` on gRPC 2672.
//!
//! ```text
//! rta-datasvc --Store File --FilePath /data
//! AWS_REGION=eu-west-2 rta-datasvc --Store Aws --AwsS3Bucket rta-data  # any S3-compatible store
//! RTA_FilePath=/data RTA_EnableWrite=false rta-datasvc     # a read-only instance
//! rta-datasvc --FilePath /data --InitStoreAndExit
//! ```

use std::process::ExitCode;
use std::sync::Arc;

use rta_adapters::native::{NativeConfig, NativeStore};
use rta_adapters::s3::{Bucket, S3Backend, S3BackendConfig};
use rta_service::auth::Authenticator;
use rta_service::data::{DataBackend, DataMicroservice};
use rta_service::monitor;
use rta_service::options::{DataServiceOptions, Storage};

async fn run() -> rta_service::Result<()> {
    let opts = DataServiceOptions::from_env()?;
    let config =
        NativeConfig::new(&opts.file_path).with_write_buffer_bytes(opts.write_buffer_bytes);
    let info = monitor::ServiceInfo::from_options("rta-datasvc", &opts.raw);
    let (store, info) = match &opts.storage {
        Storage::File(path) => {
            let store = NativeStore::open(config)?;
            if opts.init_store_and_exit {
                tracing::info!(path = %path.display(), "data store ready");
                return Ok(());
            }
            let path = path.clone();
            let info = info.with_health_check("store", move || {
                let path = path.clone();
                async move { monitor::check_dir(&path) }
            });
            (store, info)
        }
        Storage::Aws { bucket } => {
            let bucket = Bucket::from_env(bucket)?;
            if opts.init_store_and_exit {
                bucket.check().await?;
                tracing::info!(bucket = bucket.name(), "data store ready");
                return Ok(());
            }
            let backend = S3Backend::new(bucket.clone(), S3BackendConfig::default());
            let store = NativeStore::with_backend(Arc::new(backend), config);
            let info = info.with_health_check("object-store", move || {
                let bucket = bucket.clone();
                async move { bucket.check().await }
            });
            (store, info)
        }
    };
    let svc = DataMicroservice::new(DataBackend::native(store))
        .read(opts.enable_read)
        .write(opts.enable_write)
        .info(info)
        .auth(opts.auth.clone().map(Authenticator::new).transpose()?);
    svc.serve(&opts.service).await
}

#[tokio::main]
async fn main() -> ExitCode {
    rta_examples::run_service("rta-datasvc", run()).await
}
