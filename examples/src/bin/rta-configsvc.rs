//! `rta-configsvc`: the RTA Config Service over configuration files.
//!
//! `HEAD`/`GET /rta/v2/configs/{identifier}` on the HTTP port; the toolkit
//! `ConfigStore` gRPC API (with streaming put/get for large configs) on the
//! gRPC port. Configs are files in `DataDir/configs`; the first write of an
//! identifier wins.
//!
//! ```text
//! rta-configsvc --data-dir /var/lib/rta            # HTTP 2660, gRPC 2662
//! rta-configsvc --Store Aws --AwsS3Bucket rta-configs   # on an S3-compatible bucket
//! ```

use std::process::ExitCode;
use std::sync::Arc;

use rta_adapters::s3::{Bucket, S3ConfigStore};
use rta_adapters::stores::FileConfigStore;
use rta_core::service::ConfigStore;
use rta_service::auth::{self, Authenticator};
use rta_service::options::{Storage, StoreService, StoreServiceOptions};
use rta_service::{configs, monitor, rpc, serve};

async fn run() -> rta_service::Result<()> {
    let opts = StoreServiceOptions::from_env(StoreService::Configs)?;
    let svc = &opts.service;
    let auth = opts.auth.clone().map(Authenticator::new).transpose()?;
    let info = monitor::ServiceInfo::from_options("rta-configsvc", &opts.raw);
    let (store, info): (Arc<dyn ConfigStore>, _) = match &opts.storage {
        Some(Storage::Aws { bucket }) => {
            let store = Arc::new(S3ConfigStore::new(Bucket::from_env(bucket)?));
            if opts.init_store_and_exit {
                return Ok(store.check().await?);
            }
            let check = store.clone();
            let info = info.with_health_check("object-store", move || {
                let store = check.clone();
                async move { store.check().await }
            });
            (store, info)
        }
        _ => {
            let store = Arc::new(FileConfigStore::open(
                opts.store_dir(StoreService::Configs),
            )?);
            if opts.init_store_and_exit {
                return Ok(());
            }
            let check = store.clone();
            let info = info.with_health_check("files", move || {
                let store = check.clone();
                async move { store.check().await }
            });
            (store, info)
        }
    };
    let http = monitor::service_router(
        info.with_auth(auth.clone()),
        configs::config_router(store.clone()),
    );
    let grpc = auth::grpc::protect(
        rpc::routes().add_service(configs::config_server(store)),
        auth,
    );
    serve::serve(svc, http, Some(grpc)).await
}

#[tokio::main]
async fn main() -> ExitCode {
    rta_examples::run_service("rta-configsvc", run()).await
}
