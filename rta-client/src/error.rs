//! The client's error type.

/// What went wrong, named so a caller (or the `rta` command line) can say it.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A URL, option or argument is not usable.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// The service could not be reached at all.
    #[error("cannot reach {url}: {message}")]
    Unreachable {
        /// The URL tried.
        url: String,
        /// Why it failed.
        message: String,
    },
    /// The service refused the credentials (HTTP 401, gRPC `UNAUTHENTICATED`).
    #[error("not authenticated: {0} (give a valid token with --token or RTA_TOKEN)")]
    Unauthenticated(String),
    /// The credentials lack a permission (HTTP 403, gRPC `PERMISSION_DENIED`).
    #[error("permission denied: {0}")]
    PermissionDenied(String),
    /// The session, config or mapping does not exist.
    #[error("not found: {0}")]
    NotFound(String),
    /// The service answered with an error.
    #[error("{service} answered {status}: {message}")]
    Service {
        /// Which service (a URL or a gRPC service name).
        service: String,
        /// The HTTP status or gRPC code.
        status: String,
        /// The message it gave.
        message: String,
    },
    /// A body or message could not be decoded.
    #[error("bad response: {0}")]
    Decode(String),
    /// The writer was closed, or its stream failed for good.
    #[error("writer closed: {0}")]
    WriterClosed(String),
    /// A local file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The failure.
        source: std::io::Error,
    },
    /// An error from the core crate (codecs, expressions, builders).
    #[error(transparent)]
    Core(#[from] rta_core::Error),
}

/// The client's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// An error for a failed gRPC call to `service`.
    pub(crate) fn grpc(service: &str, s: tonic::Status) -> Self {
        let message = s.message().to_string();
        match s.code() {
            tonic::Code::Unauthenticated => Error::Unauthenticated(message),
            tonic::Code::PermissionDenied => Error::PermissionDenied(message),
            tonic::Code::NotFound => Error::NotFound(message),
            tonic::Code::InvalidArgument => Error::InvalidArgument(message),
            tonic::Code::Unavailable if message.contains("connect") => Error::Unreachable {
                url: service.to_string(),
                message,
            },
            code => Error::Service {
                service: service.to_string(),
                status: format!("{code:?}"),
                message,
            },
        }
    }

    /// An error for an HTTP answer with a failure status.
    pub(crate) fn http(url: &str, status: reqwest::StatusCode, body: &str) -> Self {
        let message = serde_json_message(body);
        match status.as_u16() {
            401 => Error::Unauthenticated(message),
            403 => Error::PermissionDenied(message),
            404 => Error::NotFound(message),
            400 => Error::InvalidArgument(message),
            _ => Error::Service {
                service: url.to_string(),
                status: status.to_string(),
                message,
            },
        }
    }

    /// An error for a request that got no answer.
    pub(crate) fn request(url: &str, e: reqwest::Error) -> Self {
        if e.is_connect() || e.is_timeout() {
            Error::Unreachable {
                url: url.to_string(),
                message: std::error::Error::source(&e).map_or(e.to_string(), |s| s.to_string()),
            }
        } else {
            Error::Service {
                service: url.to_string(),
                status: "no answer".into(),
                message: e.to_string(),
            }
        }
    }
}

/// The `error` member of a JSON error body, or the body itself.
fn serde_json_message(body: &str) -> String {
    #[derive(serde::Deserialize)]
    struct Body {
        error: String,
    }
    match serde_json::from_str::<Body>(body) {
        Ok(b) => b.error,
        Err(_) if body.trim().is_empty() => "(no message)".into(),
        Err(_) => body.trim().chars().take(500).collect(),
    }
}
