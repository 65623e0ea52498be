//! # rta-stream
//!
//! Live streaming for the RTA API: the leading edge of a live session, from
//! an ingest process to ATLAS.
//!
//! - [`writer`]: the Redis stream-buffer writer for ingest processes
//!   ([`writer::StreamBuffer`], [`writer::SessionWriter`]).
//! - [`redis_source`]: the reader that finds sessions in Redis and follows
//!   their streams (one blocking reader per stream, fanned out).
//! - [`hub`]: an in-process source for servers that push data directly.
//! - [`service`]: the WebSocket protocol (`/rta/v2/sessions/{identity}/stream`,
//!   subprotocol `mat.ocs.rta.stream-lz4`) as an axum router over any
//!   [`source::LiveSource`].
//! - [`trimmer`]: caps stream lengths.
//! - [`burst`]: burst sizing and the LZ4 framing of bursts.
//! - [`keys`]: the Redis key layout.
//! - [`conn`]: Redis connection strings.
//! - [`metrics`]: Prometheus counters.
//! - [`demo`]: a generated live session (used by the demo binary and tests).

mod error;

pub mod burst;
pub mod conn;
pub mod demo;
pub mod hub;
pub mod keys;
pub mod metrics;
pub mod redis_source;
pub mod service;
pub mod source;
pub mod trimmer;
pub mod writer;

pub use error::{Error, Result};
pub use hub::{HubOptions, LiveHub};
pub use redis_source::{RedisLiveSource, RedisSourceOptions};
pub use service::{router, ServiceOptions, StreamService};
pub use source::{LiveSource, Position};
pub use writer::{SessionWriter, StreamBuffer, WriterOptions};
