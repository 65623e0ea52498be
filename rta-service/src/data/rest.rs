//! The REST data API: chunked sample data of a session (the public route,
//! `/rta/v2/sessions/{identity}/data/...`) or of a data identity (the
//! data-microservice route behind a Gateway, `/rta/v2/data/{identity}/...`).

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use futures::StreamExt;
use rta_core::channels::ChannelExpr;
use rta_core::data::DataKind;
use rta_core::framing::{ChunkedSource, Framed};
use rta_core::media::PROTOBUF_CHUNKED;
use rta_core::service::{Authorization, DataRequest, DataService, IdentityCheck};

use crate::api_error::ApiError;

#[derive(Clone)]
struct DataState {
    source: Arc<dyn ChunkedSource>,
    check: Option<Arc<dyn IdentityCheck>>,
    /// The public session route, where `start` and `end` have api.yaml's
    /// `minimum: 0`. The data-microservice route takes any `i64`: a data
    /// binding's time shift can move a gateway's request before the epoch.
    public: bool,
}

/// The data routes of the REST API over a data service:
///
/// - `GET /rta/v2/sessions/{identity}/data/timestamped/{channels}`
/// - `GET /rta/v2/sessions/{identity}/data/periodic/{channels}`
/// - `GET /rta/v2/sessions/{identity}/data/row/{channels}`
/// - `GET /rta/v2/sessions/{identity}/data/events`
///
/// with optional `start` and `end` (integer ns since the Unix epoch). The
/// body is `application/vnd.mat.protobuf+chunked`, streamed chunk by chunk
/// as the service yields them (each chunk's payload is sent as it is).
/// Bad channel expressions, non-integer or negative times and `start > end` are
/// `400` with a JSON `{"status", "error"}` body; an `Accept` header that
/// excludes the chunked media type is `406`. Unknown identities read as
/// empty; use [`data_router_with`] to answer `404` for them.
///
/// ```
/// use std::sync::Arc;
/// use rta_service::data::data_router;
/// use rta_adapters::native::{NativeConfig, NativeStore};
/// use tower::ServiceExt;
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let dir = tempfile::tempdir().unwrap();
/// let store = NativeStore::open(NativeConfig::new(dir.path())).unwrap();
/// let app = data_router(Arc::new(store));
/// let req = axum::http::Request::get("/rta/v2/sessions/s1/data/periodic/XYZ")
///     .body(axum::body::Body::empty())
///     .unwrap();
/// assert_eq!(app.oneshot(req).await.unwrap().status(), 400);
/// # });
/// ```
pub fn data_router(svc: Arc<dyn DataService>) -> Router {
    data_router_with(Arc::new(Framed(svc)), None)
}

/// The data routes over any [`ChunkedSource`] (the native store is one),
/// with an optional identity check: identities it does not know
/// are answered `404 Not Found`.
///
/// ```no_run
/// use std::sync::Arc;
/// use rta_service::data::data_router_with;
/// use rta_adapters::native::{NativeConfig, NativeStore};
///
/// let store = NativeStore::open(NativeConfig::new("./rta-data/data")).unwrap();
/// let app: axum::Router = data_router_with(Arc::new(store), None);
/// ```
pub fn data_router_with(
    source: Arc<dyn ChunkedSource>,
    check: Option<Arc<dyn IdentityCheck>>,
) -> Router {
    Router::new()
        .route("/rta/v2/sessions/{identity}/data/events", get(get_events))
        .route(
            "/rta/v2/sessions/{identity}/data/{kind}/{channels}",
            get(get_channel_data),
        )
        .with_state(DataState {
            source,
            check,
            public: true,
        })
}

/// The data-microservice routes over any [`ChunkedSource`]: what a Gateway
/// Service reads a data service through, keyed by *data identity* (private,
/// possibly bound to several sessions) instead of session identity:
///
/// - `GET /rta/v2/data/{dataIdentity}/timestamped/{channels}`
/// - `GET /rta/v2/data/{dataIdentity}/periodic/{channels}`
/// - `GET /rta/v2/data/{dataIdentity}/row/{channels}`
/// - `GET /rta/v2/data/{dataIdentity}/events`
///
/// Query parameters, media type, chunk rules and errors are those of
/// [`data_router_with`]. The data identity is one URL-encoded path segment
/// and may hold any character (`%2F` for `/`); unknown identities read as
/// empty, since a data service does not know which identities exist.
///
/// ```
/// use std::sync::Arc;
/// use rta_adapters::memory::MemoryData;
/// use rta_core::framing::Framed;
/// use rta_service::data::data_service_router;
/// use tower::ServiceExt;
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let app = data_service_router(Arc::new(Framed(Arc::new(MemoryData::new()))));
/// let req = axum::http::Request::get("/rta/v2/data/someData%3D%2750835ebe%27/events")
///     .body(axum::body::Body::empty())
///     .unwrap();
/// assert_eq!(app.oneshot(req).await.unwrap().status(), 200);
/// # });
/// ```
pub fn data_service_router(source: Arc<dyn ChunkedSource>) -> Router {
    Router::new()
        .route("/rta/v2/data/{identity}/events", get(get_events))
        .route(
            "/rta/v2/data/{identity}/{kind}/{channels}",
            get(get_channel_data),
        )
        .with_state(DataState {
            source,
            check: None,
            public: false,
        })
}

fn error(status: StatusCode, message: impl Into<String>) -> Response {
    let message = message.into();
    if status.is_server_error() {
        tracing::error!(error = %message, "data request failed");
    }
    ApiError::new(status, message).into_response()
}

fn core_error(e: rta_core::Error) -> Response {
    let status = StatusCode::from_u16(e.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    error(status, e.to_string())
}

/// Whether an `Accept` header allows the chunked media type.
fn accepts_chunked(headers: &HeaderMap) -> bool {
    let values: Vec<&str> = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    if values.is_empty() {
        return true;
    }
    values.iter().flat_map(|v| v.split(',')).any(|range| {
        let mut parts = range.split(';');
        let media = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let refused = parts.any(|p| {
            let p = p.trim();
            p.strip_prefix("q=")
                .and_then(|q| q.trim().parse::<f32>().ok())
                .is_some_and(|q| q <= 0.0)
        });
        !refused && (media == PROTOBUF_CHUNKED || media == "application/*" || media == "*/*")
    })
}

fn parse_time(
    query: &HashMap<String, String>,
    name: &str,
    non_negative: bool,
) -> std::result::Result<Option<i64>, Box<Response>> {
    let bad = |v: &str| {
        Box::new(error(
            StatusCode::BAD_REQUEST,
            format!(
                "{name} must be an integer time in ns since the Unix epoch, at least 0, got {v:?}"
            ),
        ))
    };
    match query.get(name) {
        None => Ok(None),
        Some(v) if v.trim().is_empty() => Ok(None),
        Some(v) => match v.trim().parse::<i64>() {
            Ok(t) if non_negative && t < 0 => Err(bad(v)),
            Ok(t) => Ok(Some(t)),
            Err(_) => Err(bad(v)),
        },
    }
}

async fn get_events(
    State(st): State<DataState>,
    Path(identity): Path<String>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    serve(st, identity, DataKind::Events, None, headers, query).await
}

async fn get_channel_data(
    State(st): State<DataState>,
    Path((identity, kind, channels)): Path<(String, String, String)>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let kind = match DataKind::from_path_segment(&kind) {
        Ok(k) if k.has_channels() => k,
        _ => {
            return error(
                StatusCode::NOT_FOUND,
                format!("no data kind {kind:?} (expected timestamped, periodic or row)"),
            )
        }
    };
    serve(st, identity, kind, Some(channels), headers, query).await
}

async fn serve(
    st: DataState,
    identity: String,
    kind: DataKind,
    channels: Option<String>,
    headers: HeaderMap,
    query: HashMap<String, String>,
) -> Response {
    if !accepts_chunked(&headers) {
        return error(
            StatusCode::NOT_ACCEPTABLE,
            format!("data is only available as {PROTOBUF_CHUNKED}"),
        );
    }
    let start = match parse_time(&query, "start", st.public) {
        Ok(v) => v,
        Err(r) => return *r,
    };
    let end = match parse_time(&query, "end", st.public) {
        Ok(v) => v,
        Err(r) => return *r,
    };
    let channels = match channels.map(|c| ChannelExpr::parse(&c)).transpose() {
        Ok(c) => c,
        Err(e) => return core_error(e),
    };
    let req = DataRequest {
        kind,
        data_identity: identity,
        channels,
        start,
        end,
        authorization: headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .map(Authorization::new)
            .unwrap_or_default(),
    };
    if let Err(e) = req.validate() {
        return core_error(e);
    }
    if let Some(check) = &st.check {
        match check.exists(&req.data_identity).await {
            Ok(true) => {}
            Ok(false) => {
                return error(
                    StatusCode::NOT_FOUND,
                    format!("session {:?} not found", req.data_identity),
                )
            }
            Err(e) => return core_error(e),
        }
    }
    let (len, frames) = match st.source.read_chunked_sized(req).await {
        Ok(s) => s,
        Err(e) => return core_error(e),
    };
    let body = frames.map(|r| {
        r.map_err(|e| {
            tracing::error!(error = %e, "data stream failed mid-response");
            std::io::Error::other(e.to_string())
        })
    });
    let mut resp = (
        [(header::CONTENT_TYPE, PROTOBUF_CHUNKED)],
        Body::from_stream(body),
    )
        .into_response();
    if let Some(len) = len {
        resp.headers_mut()
            .insert(header::CONTENT_LENGTH, header::HeaderValue::from(len));
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_header_rules() {
        let mut h = HeaderMap::new();
        assert!(accepts_chunked(&h));
        h.insert(header::ACCEPT, "application/json".parse().unwrap());
        assert!(!accepts_chunked(&h));
        h.insert(
            header::ACCEPT,
            "application/json, application/vnd.mat.protobuf+chunked"
                .parse()
                .unwrap(),
        );
        assert!(accepts_chunked(&h));
        h.insert(header::ACCEPT, "*/*;q=0".parse().unwrap());
        assert!(!accepts_chunked(&h));
        h.insert(header::ACCEPT, "*/*".parse().unwrap());
        assert!(accepts_chunked(&h));
    }
}
