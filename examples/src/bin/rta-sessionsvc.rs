//! `rta-sessionsvc`: the RTA Session Service over PostgreSQL
//! (`PostgresConnectionString`, several instances may share it) or an
//! embedded SQLite store (`DataDir/sessions.sqlite`, one instance).
//!
//! REST (`/rta/v2/sessions`, folders, metamodel) on the HTTP port for ATLAS
//! and the gateway; the toolkit `SessionStore` gRPC API on the gRPC port.
//! On PostgreSQL the service never creates or upgrades the schema by
//! itself: run it once with `--InitStoreAndExit=true` first.
//!
//! ```text
//! rta-sessionsvc --data-dir /var/lib/rta            # HTTP 2650, gRPC 2652
//! RTA_HttpPort=8650 RTA_DataDir=/data rta-sessionsvc
//! rta-sessionsvc --config appsettings.json
//! rta-sessionsvc --PostgresConnectionString "Server=db;Port=5432;Database=postgres;User Id=rta;Password=…" --InitStoreAndExit=true
//! rta-sessionsvc --PostgresConnectionString "Server=db;Port=5432;Database=postgres;User Id=rta;Password=…"
//! ```

use std::process::ExitCode;
use std::sync::Arc;

use rta_adapters::stores::{PostgresSessionStore, SqliteSessionStore};
use rta_core::service::SessionStore;
use rta_service::auth::{self, Authenticator};
use rta_service::options::{StoreService, StoreServiceOptions};
use rta_service::{monitor, rpc, serve, sessions};

async fn run() -> rta_service::Result<()> {
    let opts = StoreServiceOptions::from_env(StoreService::Sessions)?;
    let svc = &opts.service;
    let auth = opts.auth.clone().map(Authenticator::new).transpose()?;
    let info = monitor::ServiceInfo::from_options("rta-sessionsvc", &opts.raw);
    let (store, info): (Arc<dyn SessionStore>, _) = match &opts.postgres {
        Some(pg) => {
            if opts.init_store_and_exit {
                PostgresSessionStore::init(pg.clone()).await?;
                tracing::info!(server = %pg.redacted(), schema = %pg.schema, "session schema ready");
                return Ok(());
            }
            let store = Arc::new(PostgresSessionStore::connect(pg.clone()).await?);
            tracing::info!(server = %pg.redacted(), schema = %pg.schema, "sessions in PostgreSQL");
            let check = store.clone();
            let info = info.with_health_check("postgres", move || {
                let store = check.clone();
                async move { store.check().await }
            });
            (store, info)
        }
        None => {
            let store = Arc::new(SqliteSessionStore::open(
                svc.data_dir.join("sessions.sqlite"),
            )?);
            if opts.init_store_and_exit {
                tracing::info!(path = %store.path().display(), "session store ready");
                return Ok(());
            }
            let check = store.clone();
            let info = info.with_health_check("sqlite", move || {
                let store = check.clone();
                async move { store.check().await }
            });
            (store, info)
        }
    };
    let info = info.with_auth(auth.clone());
    // The private data-bindings route: on its own listener when asked,
    // else beside the public API (the toolkit's layout).
    let _internal = match opts.internal_http {
        Some(addr) => {
            let bindings = sessions::data_bindings_router(store.clone());
            let router = monitor::service_router(info.clone(), bindings);
            Some(serve::spawn(addr, router, None).await?)
        }
        None => None,
    };
    let public = match opts.internal_http {
        Some(_) => sessions::session_router(store.clone()),
        None => sessions::session_service_router(store.clone()),
    };
    let http = monitor::service_router(info, public);
    let grpc = auth::grpc::protect(
        rpc::routes().add_service(sessions::session_server(store)),
        auth,
    );
    serve::serve(svc, http, Some(grpc)).await
}

#[tokio::main]
async fn main() -> ExitCode {
    rta_examples::run_service("rta-sessionsvc", run()).await
}
