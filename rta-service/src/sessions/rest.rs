//! The Session API routes.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::response::Response;
use axum::routing::get;
use axum::{Json, Router};
use rta_core::proto::session_service as pb;
use rta_core::query::{Query, SortOrder};
use rta_core::service::SessionStore;
use serde_json::{json, Value};

use super::form::parse_pairs;
use crate::api_error::{json_text, ApiError};

/// Page size of `/rta/v2/sessions` when the request gives none
/// (`pageSize=0` gives an empty page, as in `rta_core::query::Paging`).
pub const DEFAULT_PAGE_SIZE: i32 = 100;

/// The Session API routes over `store`:
///
/// | route | answer |
/// | --- | --- |
/// | `GET`, `POST /rta/v2/sessions` | `{"sessions": [...]}`: top-level sessions, paged, sorted, filtered |
/// | `GET /rta/v2/sessions/{identity}` | the session, or 404 |
/// | `GET /rta/v2/session-folders/{parent}` | child folders (`""`, i.e. `/rta/v2/session-folders/`, is the root) |
/// | `GET /rta/v2/session-metamodel` | the metamodel over `folder` |
/// | `GET /rta/v2/session-metamodel/properties` | properties matching `query` |
///
/// Listing arguments (query string for `GET`; form body or query string
/// for `POST`): `pageSize`, `pageIndex`, `folder`, repeated `sort`
/// (`property:asc|desc`), `query` (JSON) and repeated `prop`. `extDetails`
/// are only included when asked for with `prop` (`prop=extDetails`,
/// `prop=extDetails.Group` or `prop=extDetails.Group.Key`). Bad arguments
/// (malformed query JSON, unknown operators, negative paging) are 400 with a
/// JSON `{"status": 400, "error": "..."}` body.
///
/// ```
/// use std::sync::Arc;
/// use rta_adapters::stores::SqliteSessionStore;
/// use rta_service::sessions;
/// use rta_core::session::SessionState;
/// use rta_core::session_request::SessionRequest;
/// use rta_core::service::SessionStore;
/// use tower::ServiceExt;
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let dir = tempfile::tempdir().unwrap();
/// let store = Arc::new(SqliteSessionStore::open(dir.path().join("sessions.sqlite")).unwrap());
/// store.create_or_update(SessionRequest::new("s1", SessionState::Closed).build()).await.unwrap();
/// let app = sessions::session_router(store);
///
/// let req = http::Request::post("/rta/v2/sessions")
///     .header("content-type", "application/x-www-form-urlencoded")
///     .body(axum::body::Body::from("pageSize=50&query=%7B%22identity%22%3A%22s1%22%7D"))
///     .unwrap();
/// let resp = app.clone().oneshot(req).await.unwrap();
/// assert_eq!(resp.status(), 200);
/// let body = axum::body::to_bytes(resp.into_body(), 1 << 20).await.unwrap();
/// let page: serde_json::Value = serde_json::from_slice(&body).unwrap();
/// assert_eq!(page["sessions"][0]["identity"], "s1");
///
/// let req = http::Request::get("/rta/v2/sessions?pageSize=-1").body(axum::body::Body::empty()).unwrap();
/// assert_eq!(app.oneshot(req).await.unwrap().status(), 400);
/// # });
/// ```
pub fn session_router<S>(store: Arc<S>) -> Router
where
    S: SessionStore + ?Sized,
{
    Router::new()
        .route("/rta/v2/sessions", get(list_get::<S>).post(list_post::<S>))
        .route("/rta/v2/sessions/{identity}", get(get_session::<S>))
        .route("/rta/v2/session-folders", get(root_folders::<S>))
        .route("/rta/v2/session-folders/", get(root_folders::<S>))
        .route("/rta/v2/session-folders/{*parent}", get(folders::<S>))
        .route("/rta/v2/session-metamodel", get(metamodel::<S>))
        .route("/rta/v2/session-metamodel/properties", get(properties::<S>))
        .with_state(store)
}

/// The private route a gateway reads data bindings from,
/// `GET /rta/v2/sessions/{identity}/data-bindings`. It is never part of
/// [`session_router`]: a session service serves it on its main port (the
/// toolkit's layout, see [`session_service_router`]) or on a separate
/// internal listener; `rta-server` does not serve it at all.
pub fn data_bindings_router<S>(store: Arc<S>) -> Router
where
    S: SessionStore + ?Sized,
{
    Router::new()
        .route(
            "/rta/v2/sessions/{identity}/data-bindings",
            get(data_bindings::<S>),
        )
        .with_state(store)
}

/// What a session service serves to a gateway on one port: the public
/// [`session_router`] and the private [`data_bindings_router`].
pub fn session_service_router<S>(store: Arc<S>) -> Router
where
    S: SessionStore + ?Sized,
{
    session_router(store.clone()).merge(data_bindings_router(store))
}

/// Listing arguments as parsed from a query string and/or form body.
#[derive(Debug, Default)]
struct ListArgs {
    page_size: Option<i32>,
    page_index: Option<i32>,
    folder: String,
    sorts: Vec<String>,
    query: Option<String>,
    props: Vec<String>,
}

fn parse_int(name: &str, v: &str) -> Result<i32, ApiError> {
    let n: i64 = v
        .trim()
        .parse()
        .map_err(|_| ApiError::bad_request(format!("{name} must be an integer, not {v:?}")))?;
    if n < 0 {
        return Err(ApiError::bad_request(format!(
            "{name} must not be negative ({n})"
        )));
    }
    i32::try_from(n).map_err(|_| ApiError::bad_request(format!("{name} is too large ({n})")))
}

fn is_sort_directive(s: &str) -> bool {
    let lower = s.to_ascii_lowercase();
    lower.ends_with(":asc") || lower.ends_with(":desc")
}

impl ListArgs {
    fn add(&mut self, pairs: Vec<(String, String)>, allow_query: bool) -> Result<(), ApiError> {
        for (k, v) in pairs {
            match k.as_str() {
                "pageSize" => self.page_size = Some(parse_int("pageSize", &v)?),
                "pageIndex" => self.page_index = Some(parse_int("pageIndex", &v)?),
                "folder" => self.folder = v,
                "sort" | "prop" if v.is_empty() => {}
                "sort" => self.sorts.push(v),
                "prop" => self.props.push(v),
                "query" if allow_query => self.query = Some(v),
                "query" => {
                    return Err(ApiError::bad_request(
                        "query is only accepted by POST /rta/v2/sessions",
                    ))
                }
                // `sort=timestamp:asc&quality:desc`: a bare directive continues the sort list.
                other if v.is_empty() && is_sort_directive(other) => self.sorts.push(k),
                _ => {}
            }
        }
        Ok(())
    }

    fn request(self) -> pb::ListSessionsRequest {
        pb::ListSessionsRequest {
            query: self.query.unwrap_or_default(),
            folder_subtree: self.folder,
            sorts: self.sorts,
            session_elements: Some(pb::SessionElements {
                json: true,
                json_properties: self.props,
                ..Default::default()
            }),
            include_sub_sessions: false,
            page_index: self.page_index.unwrap_or(0),
            page_size: self.page_size.unwrap_or(DEFAULT_PAGE_SIZE),
        }
    }
}

async fn list<S: SessionStore + ?Sized>(store: &S, args: ListArgs) -> Result<Response, ApiError> {
    if args.page_size == Some(0) {
        // An empty page; the arguments are still checked.
        Query::parse(args.query.as_deref().unwrap_or(""))?;
        SortOrder::parse(&args.sorts)?;
        return Ok(json_text("{\"sessions\":[]}".to_string()));
    }
    let sessions = store.list(&args.request()).await?;
    let mut body =
        String::with_capacity(16 + sessions.iter().map(|s| s.json.len() + 1).sum::<usize>());
    body.push_str("{\"sessions\":[");
    for (i, s) in sessions.iter().enumerate() {
        if i > 0 {
            body.push(',');
        }
        body.push_str(&s.json);
    }
    body.push_str("]}");
    Ok(json_text(body))
}

async fn list_get<S: SessionStore + ?Sized>(
    State(store): State<Arc<S>>,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    let mut args = ListArgs::default();
    args.add(parse_pairs(q.as_deref().unwrap_or("")), false)?;
    list(&*store, args).await
}

async fn list_post<S: SessionStore + ?Sized>(
    State(store): State<Arc<S>>,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> Result<Response, ApiError> {
    let mut args = ListArgs::default();
    args.add(parse_pairs(q.as_deref().unwrap_or("")), true)?;
    let body = std::str::from_utf8(&body)
        .map_err(|_| ApiError::bad_request("the form body is not UTF-8"))?;
    args.add(parse_pairs(body.trim()), true)?;
    list(&*store, args).await
}

async fn get_session<S: SessionStore + ?Sized>(
    State(store): State<Arc<S>>,
    Path(identity): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    let props = parse_pairs(q.as_deref().unwrap_or(""))
        .into_iter()
        .filter(|(k, v)| k == "prop" && !v.is_empty())
        .map(|(_, v)| v)
        .collect();
    let elements = pb::SessionElements {
        json: true,
        json_properties: props,
        ..Default::default()
    };
    let s = store
        .get(&identity, &elements)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("session {identity:?} is not available")))?;
    Ok(json_text(s.json))
}

/// A data binding as the gateway reads it.
fn binding_json(b: &pb::DataBinding) -> Value {
    let key = b.key.clone().unwrap_or_default();
    json!({
        "key": { "source": key.source, "identity": key.identity, "timeRef": key.time_ref },
        "sessionStartTime": b.session_start_time,
        "sessionEndTime": b.session_end_time,
        "sessionTimeOffset": b.session_time_offset,
        "dataChannelBindings": b.data_channel_bindings.iter().map(|c| json!({
            "firstDataChannel": c.first_data_channel,
            "firstSessionChannel": c.first_session_channel,
            "lastSessionChannel": c.last_session_channel,
        })).collect::<Vec<_>>(),
    })
}

async fn data_bindings<S: SessionStore + ?Sized>(
    State(store): State<Arc<S>>,
    Path(identity): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let elements = pb::SessionElements {
        data_bindings: true,
        ..Default::default()
    };
    let s = store
        .get(&identity, &elements)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("session {identity:?} is not available")))?;
    Ok(Json(Value::Array(
        s.data_bindings.iter().map(binding_json).collect(),
    )))
}

fn folders_json(folders: Vec<pb::SessionFolder>) -> Json<Value> {
    Json(Value::Array(
        folders
            .into_iter()
            .map(|f| {
                json!({
                    "identity": f.identity,
                    "label": f.label,
                    "description": f.description,
                    "hasChildren": f.has_children,
                })
            })
            .collect(),
    ))
}

async fn root_folders<S: SessionStore + ?Sized>(
    State(store): State<Arc<S>>,
) -> Result<Json<Value>, ApiError> {
    Ok(folders_json(store.folders("").await?))
}

async fn folders<S: SessionStore + ?Sized>(
    State(store): State<Arc<S>>,
    Path(parent): Path<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(folders_json(store.folders(&parent).await?))
}

async fn metamodel<S: SessionStore + ?Sized>(
    State(store): State<Arc<S>>,
    RawQuery(q): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let mut folder = String::new();
    let mut props = Vec::new();
    for (k, v) in parse_pairs(q.as_deref().unwrap_or("")) {
        match k.as_str() {
            "folder" => folder = v,
            "prop" if !v.is_empty() => props.push(v),
            _ => {}
        }
    }
    Ok(Json(store.metamodel(&folder, &props).await?))
}

async fn properties<S: SessionStore + ?Sized>(
    State(store): State<Arc<S>>,
    RawQuery(q): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let mut folder = String::new();
    let mut query = String::new();
    for (k, v) in parse_pairs(q.as_deref().unwrap_or("")) {
        match k.as_str() {
            "folder" => folder = v,
            "query" => query = v,
            _ => {}
        }
    }
    let found = store.query_properties(&query, &folder).await?;
    Ok(Json(Value::Array(
        found
            .into_iter()
            .map(|p| {
                let mut o = json!({ "id": p.id, "label": p.label });
                if !p.description.is_empty() {
                    o["description"] = Value::String(p.description);
                }
                o
            })
            .collect(),
    )))
}
