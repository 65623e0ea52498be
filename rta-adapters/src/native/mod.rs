//! The native chunk store: the SDK's own data service.
//!
//! Data is kept per data identity (in the RTA Server, the session identity)
//! and per *stream*: one stream per channel of timestamped or periodic data,
//! one per row group, and one for the events. Each stream is a time-ordered
//! list of chunks kept exactly as they travel on the wire (a serialized,
//! LZ4-compressed list and the header fields), so a read streams stored
//! payloads straight to the socket without decoding them.
//!
//! # Writing
//!
//! - Items are buffered per stream and packed into chunks on a fixed time
//!   grid ([`ChunkGrid`](rta_core::chunk::ChunkGrid)) chosen per stream from
//!   its observed sample rate so that a grid cell holds about 64 KiB of list
//!   (1 ms to 1000 s cells: 0.001 Hz to 1 MHz channels). Within a cell a
//!   chunk closes when its list reaches the target size; results are split
//!   at 10,000 samples.
//! - The chunks a write batch closes are compressed together at its end,
//!   in parallel (rayon), and appended stream by stream in time order
//!   before the batch returns. If an append fails, the write fails and the
//!   chunks not stored stay in memory: reads serve them, and the next batch
//!   or flush stores them.
//! - Late and back-filled data (anything starting at or before the latest
//!   stored time of its stream) is merged with the chunks it overlaps, which
//!   are then replaced: stored results and chunks never overlap, and a
//!   re-sent sample replaces the stored one (of two writes at the same time
//!   in one batch, the later one wins).
//! - A flush ([`NativeStore::flush_blocking`], or a flush marker on
//!   `WriteDataStream`) writes open chunks out, syncs the data log, then
//!   appends and syncs one index record. Data acknowledged by a flush
//!   survives a crash; a torn index record is dropped on reopening.
//! - Chunks closed early by a flush are *fragments*; once the writer moves to
//!   the next grid cell (or [`NativeStore::seal_blocking`] is called) they are
//!   packed again into full-size chunks, unless they average a quarter of
//!   the target size or more (a fast channel's fragments are already useful
//!   chunks, and packing them again would compress their samples twice).
//!   Packing copies the encoded items; it does not decode them. A seal
//!   closes open chunks as final chunks, not fragments.
//! - Memory held by open chunks is bounded by
//!   [`NativeConfig::write_buffer_bytes`]: beyond it open chunks are written
//!   out early, in the writer's call, which slows the writer down (and so,
//!   through gRPC flow control, its client).
//!
//! # Reading
//!
//! A read returns, stream by stream in ascending channel order, the stored
//! chunks that overlap the request bounds: whole chunks, so bounds are
//! rounded outwards to chunk boundaries and the same sample always comes back
//! in the same chunk. Data still buffered in memory (an open session's
//! leading edge) is packed on the fly and returned after the stored chunks.
//! An identity without data reads as empty.
//!
//! # Storage
//!
//! The [`Backend`] trait is the storage interface; [`FileBackend`] keeps one
//! directory per identity with an append-only data log and an index log.
//! Superseded payloads (replaced by merges and packing) stay in the data log
//! until the identity is compacted; [`StoreStats`] reports both the live
//! payload bytes per sample and the bytes used on disk.
//!
//! A compaction ([`NativeStore::compact_blocking`], started in the
//! background when a sealed identity's superseded share exceeds
//! [`NativeConfig::compact_dead_fraction`]) copies the live payloads into a
//! new generation of the logs, stream by stream in time order, with an
//! index holding only the live chunks, and switches over atomically
//! ([`LogRewrite`]): the new index is renamed into place last, so a crash
//! leaves the identity as before or as after, and opening it removes the
//! other generation's files. Writers wait only for the final step; a read
//! under way keeps the storage handle it started with, which goes on
//! reading the old data log until it is dropped.

mod backend;
mod format;
mod frames;
mod kind;
mod packer;
mod source;
mod store;
mod stream;

pub use backend::{Backend, FileBackend, IdentityStorage, LogRewrite};
pub use store::{CompactionReport, NativeConfig, NativeStore, StoreStats};
