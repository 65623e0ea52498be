//! The error type of `rta-core`.

/// Result alias of `rta-core`.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in `rta-core`, and in the store and data
/// service traits it defines.
///
/// Each variant names what was wrong, so a service can answer with the
/// matching status: [`Error::InvalidArgument`] and the parse errors are
/// client errors (HTTP 400 / `INVALID_ARGUMENT`), [`Error::NotFound`] is 404 /
/// `NOT_FOUND`, [`Error::Conflict`] is 409 / `ALREADY_EXISTS`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A protobuf message could not be decoded.
    #[error("protobuf decode error in {what}: {source}")]
    Decode {
        /// Which message was being decoded.
        what: &'static str,
        /// The underlying decoder error.
        #[source]
        source: prost::DecodeError,
    },
    /// An LZ4 payload could not be decompressed or has inconsistent lengths.
    #[error("LZ4 error: {0}")]
    Lz4(String),
    /// A chunked stream is malformed (bad header length, truncated payload...).
    #[error("malformed chunk stream: {0}")]
    Chunk(String),
    /// A channel expression could not be parsed.
    #[error("invalid channel expression {expr:?}: {reason}")]
    Channels {
        /// The expression as given.
        expr: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A JSON document (session, config, query) is malformed.
    #[error("invalid {what} JSON: {reason}")]
    Json {
        /// What kind of document.
        what: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// A timestamp is not valid ISO 8601 / RFC 3339 or is out of range.
    #[error("invalid timestamp {value:?}: {reason}")]
    Timestamp {
        /// The value as given.
        value: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A query, sort directive or paging argument is invalid.
    #[error("invalid query: {0}")]
    Query(String),
    /// Sample data does not fit its representation (width, count, time order...).
    #[error("invalid data: {0}")]
    Data(String),
    /// Configuration failed validation.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// Any other invalid argument of a request.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// The requested item does not exist.
    #[error("not found: {0}")]
    NotFound(String),
    /// The request conflicts with what is stored (e.g. a config identifier reused with other content).
    #[error("conflict: {0}")]
    Conflict(String),
    /// A backing store or dependency is unavailable.
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// A service this one depends on failed or answered with an error (a
    /// data service behind a gateway): `502 Bad Gateway`, gRPC `UNAVAILABLE`.
    #[error("upstream error: {0}")]
    Upstream(String),
    /// An I/O error from a backing store.
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// An internal failure of a backing store.
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    /// True when the error was caused by the caller's input (HTTP 4xx).
    pub fn is_client_error(&self) -> bool {
        matches!(
            self,
            Error::Decode { .. }
                | Error::Lz4(_)
                | Error::Chunk(_)
                | Error::Channels { .. }
                | Error::Json { .. }
                | Error::Timestamp { .. }
                | Error::Query(_)
                | Error::Data(_)
                | Error::Config(_)
                | Error::InvalidArgument(_)
                | Error::NotFound(_)
                | Error::Conflict(_)
        )
    }

    /// The HTTP status code that best describes the error.
    pub fn http_status(&self) -> u16 {
        match self {
            Error::NotFound(_) => 404,
            Error::Conflict(_) => 409,
            Error::Unavailable(_) => 503,
            Error::Upstream(_) => 502,
            Error::Io(_) | Error::Internal(_) => 500,
            _ => 400,
        }
    }

    /// The gRPC status that best describes the error.
    pub fn to_status(&self) -> tonic::Status {
        let msg = self.to_string();
        match self {
            Error::NotFound(_) => tonic::Status::not_found(msg),
            Error::Conflict(_) => tonic::Status::already_exists(msg),
            Error::Unavailable(_) | Error::Upstream(_) => tonic::Status::unavailable(msg),
            Error::Io(_) | Error::Internal(_) => tonic::Status::internal(msg),
            _ => tonic::Status::invalid_argument(msg),
        }
    }
}

impl From<Error> for tonic::Status {
    fn from(e: Error) -> Self {
        e.to_status()
    }
}
