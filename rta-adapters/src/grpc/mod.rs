//! The toolkit gRPC services, generic over the `rta-core` store traits.
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
//! use rta_adapters::{grpc, stores::{FileConfigStore, FileSchemaMappingStore}};
//!
//! let configs = Arc::new(FileConfigStore::open("data/configs").unwrap());
//! let mappings = Arc::new(FileSchemaMappingStore::open("data/schema-mappings").unwrap());
//! let routes = grpc::routes()
//!     .add_service(grpc::config_server(configs))
//!     .add_service(grpc::schema_mapping_server(mappings));
//! // serve with rta_adapters::serve::serve, or tonic::transport::Server::builder().add_routes(routes)
//! # let _ = routes;
//! ```

mod config;
mod schema_mapping;
mod session;

pub use config::{ConfigGrpc, CONFIG_PIECE_SIZE, MAX_STREAMED_CONFIG};
pub use schema_mapping::SchemaMappingGrpc;
pub use session::SessionGrpc;

pub use rta_core::proto::config_service::config_store_server::ConfigStoreServer;
pub use rta_core::proto::schema_mapping_service::schema_mapping_store_server::SchemaMappingStoreServer;
pub use rta_core::proto::session_service::session_store_server::SessionStoreServer;

use std::sync::Arc;

use rta_core::service::{ConfigStore, SchemaMappingStore, SessionStore};

/// Default limit of one gRPC message, in either direction (4 MiB), as in
/// the toolkit services. Use the streaming config calls for larger configs.
pub const DEFAULT_MAX_MESSAGE_SIZE: usize = 4 * 1024 * 1024;

/// An empty set of gRPC routes to add services to.
pub fn routes() -> tonic::service::Routes {
    tonic::service::Routes::default()
}

/// The `SessionStore` service over `store`, with the default message limits.
pub fn session_server<S>(store: Arc<S>) -> SessionStoreServer<SessionGrpc<S>>
where
    S: SessionStore + ?Sized,
{
    SessionStoreServer::new(SessionGrpc::new(store))
        .max_decoding_message_size(DEFAULT_MAX_MESSAGE_SIZE)
        .max_encoding_message_size(DEFAULT_MAX_MESSAGE_SIZE)
}

/// The `ConfigStore` service over `store`, with the default message limits.
pub fn config_server<C>(store: Arc<C>) -> ConfigStoreServer<ConfigGrpc<C>>
where
    C: ConfigStore + ?Sized,
{
    ConfigStoreServer::new(ConfigGrpc::new(store))
        .max_decoding_message_size(DEFAULT_MAX_MESSAGE_SIZE)
        .max_encoding_message_size(DEFAULT_MAX_MESSAGE_SIZE)
}

/// The `SchemaMappingStore` service over `store`, with the default message limits.
pub fn schema_mapping_server<M>(store: Arc<M>) -> SchemaMappingStoreServer<SchemaMappingGrpc<M>>
where
    M: SchemaMappingStore + ?Sized,
{
    SchemaMappingStoreServer::new(SchemaMappingGrpc::new(store))
        .max_decoding_message_size(DEFAULT_MAX_MESSAGE_SIZE)
        .max_encoding_message_size(DEFAULT_MAX_MESSAGE_SIZE)
}

/// An `INVALID_ARGUMENT` status.
pub(crate) fn invalid(msg: impl Into<String>) -> tonic::Status {
    tonic::Status::invalid_argument(msg.into())
}
