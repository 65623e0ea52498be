//! # rta-adapters
//!
//! Ready-made back ends and front ends for the RTA toolkit services:
//!
//! - [`stores`]: embedded implementations of the `rta-core` store traits: a
//!   SQLite [session store](stores::SqliteSessionStore), a file-per-identifier
//!   [config store](stores::FileConfigStore) and a file
//!   [schema-mapping store](stores::FileSchemaMappingStore).
//! - [`grpc`]: the toolkit gRPC services (`SessionStore`, `ConfigStore`,
//!   `SchemaMappingStore`), generic over the store traits, so any store can be
//!   served to existing gRPC clients unchanged.
//! - [`rest`]: the client-facing REST API (`/rta/v2/...`) for sessions and
//!   configs plus the monitoring endpoints (`/`, `/health`, `/metrics`,
//!   `/rta/v2/info`), as axum routers that can be tested without a socket.
//! - [`options`]: the option handling shared by every service binary
//!   (`--http-port`, `--grpc-port`, `--bind`, `--data-dir`, `--config FILE`,
//!   `RTA_` environment variables).
//! - [`serve`]: runs an HTTP router and gRPC services on their listeners
//!   until shut down.
//! - [`native`]: the SDK's own data store: chunks kept in their wire form
//!   per identity and channel on the local file system, late data merged,
//!   flushes durable.
//! - [`data_api`]: the REST data API (`/rta/v2/sessions/{identity}/data/...`)
//!   and the `DataWriter` / `DataReader` gRPC services over any data store.
//!
//! A complete session service is a few lines:
//!
//! ```no_run
//! use std::sync::Arc;
//! use rta_adapters::{grpc, options::OptionsParser, rest, serve, stores::SqliteSessionStore};
//!
//! # async fn run() -> rta_adapters::Result<()> {
//! let opts = OptionsParser::service("rta-sessionsvc", "Session service", 2650, 2652).parse_env()?;
//! let svc = opts.service()?;
//! let store = Arc::new(SqliteSessionStore::open(svc.data_dir.join("sessions.sqlite"))?);
//! let http = rest::service_router(
//!     rest::ServiceInfo::new("rta-sessionsvc"),
//!     rest::session_router(store.clone()),
//! );
//! let grpc = grpc::routes().add_service(grpc::session_server(store));
//! serve::serve(&svc, http, Some(grpc)).await
//! # }
//! ```

pub mod data_api;
mod error;
pub mod grpc;
pub mod native;
pub mod options;
pub mod rest;
pub mod serve;
pub mod stores;

pub use error::{Error, Result};
