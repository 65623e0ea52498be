//! Schema mappings: the toolkit `SchemaMappingStore` gRPC service over any
//! [`SchemaMappingStore`](rta_core::service::SchemaMappingStore), and
//! [`GrpcMappings`], the adapter kit's resolver over a remote one.

mod client;
mod grpc;

use std::sync::Arc;

use rta_core::service::SchemaMappingStore;

pub use client::GrpcMappings;
pub use grpc::SchemaMappingGrpc;
pub use rta_core::proto::schema_mapping_service::schema_mapping_store_server::SchemaMappingStoreServer;

use crate::rpc::DEFAULT_MAX_MESSAGE_SIZE;

/// The `SchemaMappingStore` service over `store`, with the default message limits.
pub fn schema_mapping_server<M>(store: Arc<M>) -> SchemaMappingStoreServer<SchemaMappingGrpc<M>>
where
    M: SchemaMappingStore + ?Sized,
{
    SchemaMappingStoreServer::new(SchemaMappingGrpc::new(store))
        .max_decoding_message_size(DEFAULT_MAX_MESSAGE_SIZE)
        .max_encoding_message_size(DEFAULT_MAX_MESSAGE_SIZE)
}
