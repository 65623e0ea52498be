//! The error type of `rta-adapters`.

/// Result alias of `rta-adapters`.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What can go wrong when opening a store.
///
/// Store operations behind the `rta-core` traits report
/// [`rta_core::Error`]; this type wraps it for opening and migrating.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An error from a store or from `rta-core`.
    #[error(transparent)]
    Core(#[from] rta_core::Error),
    /// An I/O error (creating a directory, reading a file...).
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// A SQLite error while opening or migrating a database.
    #[error("SQLite error: {0}")]
    Sqlite(#[from] rusqlite::Error),
}
