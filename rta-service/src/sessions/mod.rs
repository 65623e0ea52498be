//! Sessions: the REST routes ATLAS browses (`/rta/v2/sessions`,
//! `/rta/v2/session-folders/{parent}`, `/rta/v2/session-metamodel`...) and
//! the toolkit `SessionStore` gRPC service, both over any
//! [`SessionStore`](rta_core::service::SessionStore).

mod form;
mod grpc;
mod rest;

use std::sync::Arc;

use rta_core::service::SessionStore;

pub use grpc::SessionGrpc;
pub use rest::{data_bindings_router, session_router, session_service_router, DEFAULT_PAGE_SIZE};
pub use rta_core::proto::session_service::session_store_server::SessionStoreServer;

use crate::rpc::DEFAULT_MAX_MESSAGE_SIZE;

/// The `SessionStore` service over `store`, with the default message limits.
pub fn session_server<S>(store: Arc<S>) -> SessionStoreServer<SessionGrpc<S>>
where
    S: SessionStore + ?Sized,
{
    SessionStoreServer::new(SessionGrpc::new(store))
        .max_decoding_message_size(DEFAULT_MAX_MESSAGE_SIZE)
        .max_encoding_message_size(DEFAULT_MAX_MESSAGE_SIZE)
}
