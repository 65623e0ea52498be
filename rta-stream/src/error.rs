//! The error type of `rta-stream`.

/// Result alias of `rta-stream`.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong while writing to, reading from or serving a live stream.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A Redis command failed (connection lost, timeout, wrong type...).
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    /// An error from `rta-core` (LZ4 framing, data building...).
    #[error(transparent)]
    Core(#[from] rta_core::Error),
    /// A protobuf message could not be decoded.
    #[error("protobuf decode error in {what}: {source}")]
    Decode {
        /// Which message was being decoded.
        what: &'static str,
        /// The underlying decoder error.
        #[source]
        source: prost::DecodeError,
    },
    /// One stream item is too large to fit in a burst of at most `limit` bytes.
    #[error("stream item of {size} bytes cannot fit in a burst of at most {limit} bytes")]
    ItemTooLarge {
        /// Encoded size of the item inside a burst.
        size: usize,
        /// The burst size limit.
        limit: usize,
    },
    /// Bursts could not be written to Redis within the retry deadline.
    #[error("{bursts} burst(s) with {items} item(s) were not written to Redis: {reason}")]
    WriteFailed {
        /// Number of bursts given up on.
        bursts: u64,
        /// Number of stream items in those bursts.
        items: u64,
        /// The last error seen.
        reason: String,
    },
    /// The writer has been closed, or its background task stopped.
    #[error("the stream writer is closed")]
    Closed,
    /// An option or connection string is invalid.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// Redis holds something that does not follow the buffer protocol.
    #[error("protocol violation: {0}")]
    Protocol(String),
    /// An I/O error (binding a listener...).
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
}
