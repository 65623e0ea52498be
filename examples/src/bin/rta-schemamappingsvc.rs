//! `rta-schemamappingsvc`: the RTA Schema Mapping Service over files.
//!
//! The toolkit `SchemaMappingStore` gRPC API on the gRPC port; only `/`,
//! `/health` and `/metrics` on the HTTP port. Mappings are protobuf files in
//! `DataDir/schema-mappings`.
//!
//! ```text
//! rta-schemamappingsvc --data-dir /var/lib/rta     # HTTP 2680, gRPC 2682
//! ```

use std::process::ExitCode;
use std::sync::Arc;

use rta_adapters::s3::{Bucket, S3SchemaMappingStore};
use rta_adapters::stores::FileSchemaMappingStore;
use rta_core::service::SchemaMappingStore;
use rta_service::auth::{self, Authenticator};
use rta_service::options::{Storage, StoreService, StoreServiceOptions};
use rta_service::{monitor, rpc, schema_mappings, serve};

async fn run() -> rta_service::Result<()> {
    let opts = StoreServiceOptions::from_env(StoreService::SchemaMappings)?;
    let svc = &opts.service;
    let auth = opts.auth.clone().map(Authenticator::new).transpose()?;
    let info = monitor::ServiceInfo::new("rta-schemamappingsvc");
    let (store, info): (Arc<dyn SchemaMappingStore>, _) = match &opts.storage {
        Some(Storage::Aws { bucket }) => {
            let store = Arc::new(S3SchemaMappingStore::new(Bucket::from_env(bucket)?));
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
            let store = Arc::new(FileSchemaMappingStore::open(
                opts.store_dir(StoreService::SchemaMappings),
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
    let http = monitor::service_router(info.with_auth(auth.clone()), axum::Router::new());
    let grpc = auth::grpc::protect(
        rpc::routes().add_service(schema_mappings::schema_mapping_server(store)),
        auth,
    );
    serve::serve(svc, http, Some(grpc)).await
}

#[tokio::main]
async fn main() -> ExitCode {
    rta_examples::run_service("rta-schemamappingsvc", run()).await
}
