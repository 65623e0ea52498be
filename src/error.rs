//! The error type of the `rta` facade (the RTA Server composition).

/// Result alias of the `rta` crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Errors of composing and running the RTA Server.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// From `rta-core`.
    #[error(transparent)]
    Core(#[from] rta_core::Error),
    /// From `rta-adapters`.
    #[error(transparent)]
    Adapters(#[from] rta_adapters::Error),
    /// From `rta-stream`.
    #[error(transparent)]
    Stream(#[from] rta_stream::Error),
    /// Invalid server options.
    #[error("invalid option: {0}")]
    Options(String),
    /// I/O (listening, TLS files, data directory).
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
}
