//! The client-facing REST API (`/rta/v2/...`) and the monitoring endpoints,
//! as axum routers.
//!
//! - [`session_router`]: `/rta/v2/sessions`, `/rta/v2/sessions/{identity}`,
//!   `/rta/v2/sessions/{identity}/data-bindings` (internal),
//!   `/rta/v2/session-folders/{parent}`, `/rta/v2/session-metamodel` and
//!   `/rta/v2/session-metamodel/properties`, over any
//!   [`SessionStore`](rta_core::service::SessionStore).
//! - [`config_router`]: `HEAD` and `GET /rta/v2/configs/{identifier}` over any
//!   [`ConfigStore`](rta_core::service::ConfigStore).
//! - [`service_router`]: wraps the API routers of one process with `GET /`
//!   (liveness and version), `GET /health` (dependency checks),
//!   `GET /metrics` (Prometheus text) and `GET /rta/v2/info`, counts
//!   requests for the metrics, and answers unknown paths with 404.
//!
//! Routers are plain [`axum::Router`]s: merge them, then test them with
//! `tower::ServiceExt::oneshot` or serve them on a socket.
//!
//! ```
//! use std::sync::Arc;
//! use rta_adapters::{rest, stores::FileConfigStore};
//! use tower::ServiceExt;
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let dir = tempfile::tempdir().unwrap();
//! let configs = Arc::new(FileConfigStore::open(dir.path()).unwrap());
//! let app = rest::service_router(rest::ServiceInfo::new("rta-configsvc"), rest::config_router(configs));
//! let req = http::Request::get("/rta/v2/configs/missing").body(axum::body::Body::empty()).unwrap();
//! let resp = app.oneshot(req).await.unwrap();
//! assert_eq!(resp.status(), 404);
//! # });
//! ```

mod configs;
mod form;
mod monitor;
mod sessions;

pub use configs::config_router;
pub use monitor::{service_router, HealthCheck, ServiceInfo};
pub use sessions::{session_router, DEFAULT_PAGE_SIZE};

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

/// An error answered as JSON `{"error": "...", "status": N}`.
#[derive(Debug)]
pub(crate) struct ApiError {
    status: StatusCode,
    message: String,
}

impl ApiError {
    pub(crate) fn bad_request(message: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
        }
    }

    pub(crate) fn not_found(message: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::NOT_FOUND,
            message: message.into(),
        }
    }
}

impl From<rta_core::Error> for ApiError {
    fn from(e: rta_core::Error) -> Self {
        let status =
            StatusCode::from_u16(e.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        if status.is_server_error() {
            tracing::error!(error = %e, "request failed");
        }
        ApiError {
            status,
            message: e.to_string(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({ "status": self.status.as_u16(), "error": self.message });
        (self.status, axum::Json(body)).into_response()
    }
}

/// A response with a JSON body that is already serialized.
pub(crate) fn json_text(body: String) -> Response {
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response()
}
