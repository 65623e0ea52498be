//! # rta-core
//!
//! The foundation of the RTA SDK: the models and wire contract every other
//! crate shares.
//!
//! - [`proto`]: generated protobuf messages and gRPC stubs (the wire contract).
//! - [`session`]: the Session JSON model of the REST API.
//! - [`session_request`]: typed builders of the `SessionStore` write request.
//! - [`config`]: the configuration JSON model (`application/vnd.mat.config+json`).
//! - [`data`]: building and reading timestamped, periodic, row and event data.
//! - [`timed`]: timestamped chunk payloads read straight into items with their times.
//! - [`lz4`]: the one LZ4 block framing used by the live protocols.
//! - [`chunk`]: the `application/vnd.mat.protobuf+chunked` codec and the chunker.
//! - [`channels`]: channel expressions such as `-5,7,B-D,14-`.
//! - [`query`]: the session query dialect, sorting and paging.
//! - [`service`]: the read-side extension traits: [`DataService`](service::DataService),
//!   the session, config and schema-mapping store traits, and `IdentityCheck`.
//! - [`write`]: the write side: `WriteItem`, `DataSink`, `DataObserver`.
//! - [`framing`]: chunked response bodies (`ChunkedSource`, `Framed`).
//! - [`media`]: media type names.

#[cfg(feature = "arrow")]
pub mod arrow;
pub mod channels;
pub mod chunk;
pub mod config;
pub mod data;
pub mod encoded;
mod error;
pub mod framing;
#[doc(hidden)]
pub mod fuzzing;
mod json;
pub mod kit;
mod list_wire;
pub mod lz4;
pub mod media;
pub mod proto;
pub mod query;
pub mod service;
pub mod session;
pub mod session_request;
#[cfg(test)]
mod strategies;
pub mod time;
pub mod timed;
pub mod varint;
pub mod write;

pub use error::{Error, Result};
