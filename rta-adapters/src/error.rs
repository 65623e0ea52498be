//! The error type of `rta-adapters`.

/// Result alias of `rta-adapters`.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What can go wrong when opening stores, reading options or serving.
///
/// Store operations behind the `rta-core` traits report
/// [`rta_core::Error`]; this type wraps it for everything else.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An error from a store or from `rta-core`.
    #[error(transparent)]
    Core(#[from] rta_core::Error),
    /// A command-line option, environment variable or config-file entry is invalid.
    #[error("invalid option {name}: {reason}")]
    Option {
        /// The option name (e.g. `HttpPort`).
        name: String,
        /// What is wrong with it.
        reason: String,
    },
    /// An I/O error (binding a port, reading a file...).
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// A SQLite error while opening or migrating a database.
    #[error("SQLite error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// A server failed while running.
    #[error("server error: {0}")]
    Server(String),
}

impl Error {
    pub(crate) fn option(name: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::Option {
            name: name.into(),
            reason: reason.into(),
        }
    }
}
