//! # rta-service
//!
//! The front ends of the RTA toolkit services, over any store or data
//! adapter that implements the `rta-core` extension traits:
//!
//! | module | what it serves |
//! | --- | --- |
//! | [`sessions`] | `/rta/v2/sessions`, folders, metamodel; the `SessionStore` gRPC service |
//! | [`configs`] | `/rta/v2/configs/{identifier}`; the `ConfigStore` gRPC service |
//! | [`schema_mappings`] | the `SchemaMappingStore` gRPC service |
//! | [`data`] | `/rta/v2/sessions/{identity}/data/...`; the `DataWriter` and `DataReader` gRPC services |
//! | [`monitor`] | `/`, `/health`, `/metrics`, `/rta/v2/info` around the API routers of a process |
//! | [`rpc`] | the gRPC route set and message limits every service shares |
//! | [`options`] | the toolkit's options: flags, `--config FILE`, `RTA_` variables |
//! | [`serve`] | one run loop for HTTP, HTTPS and gRPC listeners |
//! | [`server`] | the RTA Server: every service in one process, pluggable stores |
//! | [`gateway`] | the Gateway Service: the public API over session, config and data services |
//! | [`demo`] | the demo sessions of `rta-server --demo` |
//!
//! Routers are plain [`axum::Router`]s (test them with
//! `tower::ServiceExt::oneshot`, no socket needed); gRPC services are tonic
//! services added to [`rpc::routes`].
//!
//! ```
//! use std::sync::Arc;
//! use rta_adapters::stores::FileConfigStore;
//! use rta_service::{configs, monitor};
//! use tower::ServiceExt;
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let dir = tempfile::tempdir().unwrap();
//! let store = Arc::new(FileConfigStore::open(dir.path()).unwrap());
//! let app = monitor::service_router(monitor::ServiceInfo::new("rta-configsvc"), configs::config_router(store));
//! let req = http::Request::get("/rta/v2/configs/missing").body(axum::body::Body::empty()).unwrap();
//! assert_eq!(app.oneshot(req).await.unwrap().status(), 404);
//! # });
//! ```

mod api_error;
pub mod auth;
pub mod configs;
pub mod data;
pub mod demo;
mod error;
pub mod federation;
pub mod gateway;
pub mod monitor;
pub mod options;
pub mod qos;
pub mod rpc;
pub mod schema_mappings;
pub mod serve;
pub mod server;
pub mod sessions;
pub mod stream_service;
pub mod tls;

pub use error::{Error, Result};
