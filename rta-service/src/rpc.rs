//! What every toolkit gRPC service here shares: the route set they are
//! added to and the default message limit. The services themselves live with
//! their resource ([`sessions`](crate::sessions), [`configs`](crate::configs),
//! [`schema_mappings`](crate::schema_mappings), [`data`](crate::data)); each
//! is generic over its `rta-core` store trait.
//!
//! Each service is a thin layer over a store: requests are checked, passed
//! to the store, and store errors become gRPC statuses
//! ([`rta_core::Error::to_status`]: bad input is `INVALID_ARGUMENT`, absent
//! items `NOT_FOUND`, a reused config identifier `ALREADY_EXISTS`).
//!
//! The method paths (`/rta.toolkit.api.session_service.SessionStore/...`)
//! are those of the published protos, so existing clients work unchanged.
//!
//! ```no_run
//! use std::sync::Arc;
//! use rta_adapters::stores::{FileConfigStore, FileSchemaMappingStore};
//! use rta_service::{configs, rpc, schema_mappings};
//!
//! let configs = Arc::new(FileConfigStore::open("data/configs").unwrap());
//! let mappings = Arc::new(FileSchemaMappingStore::open("data/schema-mappings").unwrap());
//! let routes = rpc::routes()
//!     .add_service(configs::config_server(configs))
//!     .add_service(schema_mappings::schema_mapping_server(mappings));
//! // serve with rta_service::serve::serve, or tonic::transport::Server::builder().add_routes(routes)
//! # let _ = routes;
//! ```

use tonic::Status;

/// Default limit of one gRPC message, in either direction (4 MiB), as in
/// the toolkit services. Use the streaming config calls for larger configs.
pub const DEFAULT_MAX_MESSAGE_SIZE: usize = 4 * 1024 * 1024;

/// An empty set of gRPC routes to add services to.
pub fn routes() -> tonic::service::Routes {
    tonic::service::Routes::default()
}

/// An `INVALID_ARGUMENT` status.
pub(crate) fn invalid(msg: impl Into<String>) -> Status {
    Status::invalid_argument(msg.into())
}
