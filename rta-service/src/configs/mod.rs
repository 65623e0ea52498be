//! Configurations: `HEAD` and `GET /rta/v2/configs/{identifier}` and the
//! toolkit `ConfigStore` gRPC service, both over any
//! [`ConfigStore`](rta_core::service::ConfigStore).

mod grpc;
mod rest;

use std::sync::Arc;

use rta_core::service::ConfigStore;

pub use grpc::{ConfigGrpc, CONFIG_PIECE_SIZE, MAX_STREAMED_CONFIG};
pub use rest::config_router;
pub use rta_core::proto::config_service::config_store_server::ConfigStoreServer;

use crate::rpc::DEFAULT_MAX_MESSAGE_SIZE;

/// The `ConfigStore` service over `store`, with the default message limits.
pub fn config_server<C>(store: Arc<C>) -> ConfigStoreServer<ConfigGrpc<C>>
where
    C: ConfigStore + ?Sized,
{
    ConfigStoreServer::new(ConfigGrpc::new(store))
        .max_decoding_message_size(DEFAULT_MAX_MESSAGE_SIZE)
        .max_encoding_message_size(DEFAULT_MAX_MESSAGE_SIZE)
}
