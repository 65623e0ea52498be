//! The error type of `rta-service`: options, serving and composing servers.

/// Result alias of `rta-service`.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Errors of reading options, serving, and composing the services.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// From `rta-core` (models, stores behind the traits).
    #[error(transparent)]
    Core(#[from] rta_core::Error),
    /// From `rta-adapters` (opening the embedded stores).
    #[error(transparent)]
    Adapters(#[from] rta_adapters::Error),
    /// From `rta-stream` (Redis connections).
    #[error(transparent)]
    Stream(#[from] rta_stream::Error),
    /// An option with a value that cannot be used.
    #[error("invalid option {name}: {reason}")]
    Option {
        /// The option's toolkit name (`HttpPort`, `Trimmer:Interval`...).
        name: String,
        /// What is wrong with its value.
        reason: String,
    },
    /// Options that do not fit together.
    #[error("invalid options: {0}")]
    Options(String),
    /// A file or socket operation failed.
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// A certificate, key or CA file that cannot be used.
    #[error("TLS: {0}")]
    Tls(String),
    /// A listener or server task failed.
    #[error("server error: {0}")]
    Server(String),
}

impl Error {
    /// An [`Error::Option`]: option `name` has a bad value.
    ///
    /// ```
    /// let e = rta_service::Error::option("HttpPort", "\"x\" is not a port");
    /// assert!(e.to_string().contains("HttpPort"));
    /// ```
    pub fn option(name: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::Option {
            name: name.into(),
            reason: reason.into(),
        }
    }
}
