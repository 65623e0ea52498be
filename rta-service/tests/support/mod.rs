//! Starts the session, config and schema-mapping services on loopback
//! ephemeral ports over stores in a temporary directory.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::sync::Arc;

use rta_adapters::stores::{
    FileConfigStore, FileSchemaMappingStore, PostgresOptions, PostgresSessionStore,
    SqliteSessionStore,
};
use rta_adapters::testing::PgCluster;
use rta_core::proto::config_service::config_store_client::ConfigStoreClient;
use rta_core::proto::schema_mapping_service::schema_mapping_store_client::SchemaMappingStoreClient;
use rta_core::proto::session_service::session_store_client::SessionStoreClient;
use rta_service::serve::{self, RunningServer};
use rta_service::{configs, monitor, rpc, schema_mappings, sessions};
use tonic::transport::Channel;

pub struct Service {
    pub server: RunningServer,
    pub http: reqwest::Client,
    pub base: String,
}

impl Service {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub async fn channel(&self) -> Channel {
        Channel::from_shared(self.server.grpc_uri().unwrap())
            .unwrap()
            .connect()
            .await
            .unwrap()
    }

    pub async fn sessions(&self) -> SessionStoreClient<Channel> {
        SessionStoreClient::new(self.channel().await)
    }

    pub async fn configs(&self) -> ConfigStoreClient<Channel> {
        ConfigStoreClient::new(self.channel().await)
    }

    pub async fn mappings(&self) -> SchemaMappingStoreClient<Channel> {
        SchemaMappingStoreClient::new(self.channel().await)
    }

    pub async fn get_json(&self, path: &str) -> (u16, serde_json::Value) {
        let r = self.http.get(self.url(path)).send().await.unwrap();
        let status = r.status().as_u16();
        let text = r.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text)),
        )
    }

    pub async fn post_form(&self, path: &str, form: &str) -> (u16, serde_json::Value) {
        let r = self
            .http
            .post(self.url(path))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form.to_string())
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let text = r.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text)),
        )
    }

    pub async fn stop(self) {
        self.server.stop().await.unwrap();
    }
}

fn loopback() -> std::net::SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

async fn start(http: axum::Router, routes: tonic::service::Routes) -> Service {
    let server = serve::spawn(loopback(), http, Some((loopback(), routes)))
        .await
        .unwrap();
    let base = server.http_url();
    Service {
        server,
        http: reqwest::Client::new(),
        base,
    }
}

/// The session service over `dir/sessions.sqlite`.
pub async fn session_service(dir: &Path) -> Service {
    let store = Arc::new(SqliteSessionStore::open(dir.join("sessions.sqlite")).unwrap());
    let check = store.clone();
    let info = monitor::ServiceInfo::new("rta-sessionsvc").with_health_check("sqlite", move || {
        let s = check.clone();
        async move { s.check().await }
    });
    let http = monitor::service_router(info, sessions::session_service_router(store.clone()));
    start(
        http,
        rpc::routes().add_service(sessions::session_server(store)),
    )
    .await
}

/// Where a session service under test keeps its sessions.
#[allow(clippy::large_enum_variant)] // one per test, never in a collection
pub enum Backend {
    /// `sessions.sqlite` in a temporary directory.
    Sqlite(tempfile::TempDir),
    /// A schema in a throwaway PostgreSQL cluster.
    Postgres(PgCluster, PostgresOptions),
}

impl Backend {
    pub fn sqlite() -> Backend {
        Backend::Sqlite(tempfile::tempdir().unwrap())
    }

    /// Starts a cluster and initialises the session schema in it.
    pub async fn postgres() -> Backend {
        let pg = tokio::task::spawn_blocking(PgCluster::start)
            .await
            .unwrap()
            .expect("PostgreSQL test cluster");
        let opts = PostgresOptions::parse(&pg.connection_string()).unwrap();
        PostgresSessionStore::init(opts.clone()).await.unwrap();
        Backend::Postgres(pg, opts)
    }

    /// The name of the store's `/health` check.
    pub fn check_name(&self) -> &'static str {
        match self {
            Backend::Sqlite(_) => "sqlite",
            Backend::Postgres(..) => "postgres",
        }
    }

    /// The cluster, for PostgreSQL.
    pub fn cluster(&mut self) -> Option<&mut PgCluster> {
        match self {
            Backend::Sqlite(_) => None,
            Backend::Postgres(pg, _) => Some(pg),
        }
    }
}

/// The session service over `backend`.
pub async fn session_service_on(backend: &Backend) -> Service {
    match backend {
        Backend::Sqlite(dir) => session_service(dir.path()).await,
        Backend::Postgres(_, opts) => {
            let store = Arc::new(PostgresSessionStore::connect(opts.clone()).await.unwrap());
            let check = store.clone();
            let info = monitor::ServiceInfo::new("rta-sessionsvc").with_health_check(
                "postgres",
                move || {
                    let s = check.clone();
                    async move { s.check().await }
                },
            );
            let http =
                monitor::service_router(info, sessions::session_service_router(store.clone()));
            start(
                http,
                rpc::routes().add_service(sessions::session_server(store)),
            )
            .await
        }
    }
}

/// The config service over `dir/configs`.
pub async fn config_service(dir: &Path) -> Service {
    let store = Arc::new(FileConfigStore::open(dir.join("configs")).unwrap());
    let http = monitor::service_router(
        monitor::ServiceInfo::new("rta-configsvc"),
        configs::config_router(store.clone()),
    );
    start(
        http,
        rpc::routes().add_service(configs::config_server(store)),
    )
    .await
}

/// The schema-mapping service over `dir/schema-mappings`.
pub async fn schema_mapping_service(dir: &Path) -> Service {
    let store = Arc::new(FileSchemaMappingStore::open(dir.join("schema-mappings")).unwrap());
    let http = monitor::service_router(
        monitor::ServiceInfo::new("rta-schemamappingsvc"),
        axum::Router::new(),
    );
    start(
        http,
        rpc::routes().add_service(schema_mappings::schema_mapping_server(store)),
    )
    .await
}
