//! The error type of `rta-bindings`.

/// Result alias of `rta-bindings`.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong while validating bindings, planning a
/// request or transforming a chunk stream.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An error of the foundation crate (malformed chunk, LZ4 block, protobuf
    /// payload, channel expression...), or of a data service stream.
    #[error(transparent)]
    Core(#[from] rta_core::Error),
    /// One data binding is invalid on its own.
    #[error("invalid data binding {key}: {reason}")]
    InvalidBinding {
        /// The binding's key, as `source/identity@time_ref`.
        key: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Two data bindings of one session cannot both hold.
    #[error("data bindings {first} and {second} conflict: {reason}")]
    Conflict {
        /// The first binding's key.
        first: String,
        /// The second binding's key.
        second: String,
        /// Why they conflict.
        reason: String,
    },
    /// A client request cannot be planned (bounds reversed, channels missing...).
    #[error("invalid data request: {0}")]
    InvalidRequest(String),
    /// The data bindings JSON of the Session Service is malformed.
    #[error("invalid data bindings JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// A plan names a data source no data service was configured for.
    #[error("no data service is configured for data source {0:?}")]
    UnknownSource(String),
    /// Data served for a binding cannot be transformed as the binding asks.
    #[error("cannot transform data of binding {key}: {reason}")]
    Transform {
        /// The binding's key.
        key: String,
        /// What went wrong.
        reason: String,
    },
}

impl Error {
    /// True when the error was caused by the caller's input (bindings or
    /// request), as opposed to a failing data service or malformed data.
    pub fn is_client_error(&self) -> bool {
        match self {
            Error::Core(e) => e.is_client_error(),
            Error::InvalidBinding { .. }
            | Error::Conflict { .. }
            | Error::InvalidRequest(_)
            | Error::Json(_) => true,
            Error::UnknownSource(_) | Error::Transform { .. } => false,
        }
    }
}

impl From<Error> for rta_core::Error {
    /// Maps onto the foundation error, so a transformed stream can be served
    /// wherever a [`rta_core::service::ChunkStream`] is expected.
    fn from(e: Error) -> Self {
        match e {
            Error::Core(inner) => inner,
            Error::InvalidBinding { .. }
            | Error::Conflict { .. }
            | Error::InvalidRequest(_)
            | Error::Json(_) => rta_core::Error::InvalidArgument(e.to_string()),
            // Sources are private: the message does not name it.
            Error::UnknownSource(_) => rta_core::Error::Upstream(
                "a data binding names a data source with no configured data service".into(),
            ),
            Error::Transform { .. } => rta_core::Error::Internal(e.to_string()),
        }
    }
}
