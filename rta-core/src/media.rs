//! Media types of the RTA API. These strings are part of the wire contract.

/// Chunked sample data: `[i32 LE header length][ChunkTransferHeader][payload]...`.
pub const PROTOBUF_CHUNKED: &str = "application/vnd.mat.protobuf+chunked";
/// Configuration as JSON.
pub const CONFIG_JSON: &str = "application/vnd.mat.config+json";
/// Configuration in the opaque FFC format.
pub const CONFIG_FFC: &str = "application/vnd.mat.config+ffc";
/// WebSocket subprotocol of the live stream.
pub const STREAM_SUBPROTOCOL: &str = "mat.ocs.rta.stream-lz4";
