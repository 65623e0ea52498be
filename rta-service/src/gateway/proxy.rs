//! Forwarding a public REST request to the service behind it: same method,
//! path and query; the headers that matter passed both ways; the response
//! body streamed through.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderName, StatusCode};
use axum::response::{IntoResponse, Response};
use futures::TryStreamExt;

/// Largest request body forwarded (session queries are small).
const MAX_REQUEST_BODY: usize = 1024 * 1024;

/// Request headers passed on to the service behind.
const REQUEST_HEADERS: [HeaderName; 5] = [
    header::AUTHORIZATION,
    header::ACCEPT,
    header::CONTENT_TYPE,
    header::IF_NONE_MATCH,
    header::IF_MODIFIED_SINCE,
];

/// Response headers passed back to the client (content and caching).
const RESPONSE_HEADERS: [HeaderName; 6] = [
    header::CONTENT_TYPE,
    header::CONTENT_LENGTH,
    header::ETAG,
    header::CACHE_CONTROL,
    header::LAST_MODIFIED,
    header::EXPIRES,
];

/// One service behind the gateway.
#[derive(Debug, Clone)]
pub(super) struct Upstream {
    pub(super) client: reqwest::Client,
    /// Base URL without a trailing slash.
    pub(super) base: String,
    /// What the service is, for error messages (`session service`).
    pub(super) what: &'static str,
}

/// Forwards the request as it is to the same path of `up`.
pub(super) async fn forward(State(up): State<Upstream>, req: Request) -> Response {
    let path = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| req.uri().path().to_string());
    let url = format!("{}{path}", up.base);
    let method = req.method().clone();
    let mut out = up.client.request(method, &url);
    for name in &REQUEST_HEADERS {
        for value in req.headers().get_all(name) {
            out = out.header(name, value);
        }
    }
    let body = match axum::body::to_bytes(req.into_body(), MAX_REQUEST_BODY).await {
        Ok(b) => b,
        Err(e) => {
            return error(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("request body refused: {e}"),
            )
        }
    };
    if !body.is_empty() {
        out = out.body(body);
    }
    let resp = match out.send().await {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(service = up.what, url = %up.base, error = %e, "upstream request failed");
            return error(
                StatusCode::BAD_GATEWAY,
                format!("the {} did not answer", up.what),
            );
        }
    };
    let mut builder = Response::builder().status(resp.status().as_u16());
    for name in &RESPONSE_HEADERS {
        if let Some(v) = resp.headers().get(name) {
            builder = builder.header(name, v);
        }
    }
    let stream = resp.bytes_stream().map_err(std::io::Error::other);
    builder
        .body(Body::from_stream(stream))
        .unwrap_or_else(|e| error(StatusCode::BAD_GATEWAY, e.to_string()))
}

fn error(status: StatusCode, message: String) -> Response {
    let body = serde_json::json!({ "status": status.as_u16(), "error": message });
    (status, axum::Json(body)).into_response()
}
