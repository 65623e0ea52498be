//! The REST routers of one process composed the way an all-in-one server
//! does it, exercised without a socket (`tower::ServiceExt::oneshot`).
#![allow(clippy::unwrap_used, clippy::expect_used)]
#![allow(missing_docs)]

use std::sync::Arc;

use axum::body::Body;
use http::{Method, Request, StatusCode};
use rta_adapters::native::{NativeConfig, NativeStore};
use rta_adapters::stores::{FileConfigStore, SqliteSessionStore};
use rta_core::service::{ConfigStore, SessionStore, StoredConfig};
use rta_core::session::SessionState;
use rta_core::session_request::SessionRequest;
use rta_service::data::data_router_with;
use rta_service::monitor;
use tower::ServiceExt;

async fn call(app: &axum::Router, method: Method, uri: &str) -> (StatusCode, String, String) {
    let req = Request::builder()
        .method(method)
        .uri(uri)
        .body(Body::empty())
        .unwrap();
    let resp = app.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let ct = resp
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    let body = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .unwrap();
    (status, ct, String::from_utf8_lossy(&body).into_owned())
}

#[tokio::test]
async fn session_config_and_data_routers_merge_without_conflicts() {
    let dir = tempfile::tempdir().unwrap();
    let sessions = Arc::new(SqliteSessionStore::open(dir.path().join("sessions.sqlite")).unwrap());
    let configs = Arc::new(FileConfigStore::open(dir.path().join("configs")).unwrap());
    let data = Arc::new(NativeStore::open(NativeConfig::new(dir.path().join("chunks"))).unwrap());

    let api = rta_service::sessions::session_router(sessions.clone())
        .merge(rta_service::configs::config_router(configs.clone()))
        .merge(data_router_with(data, Some(sessions.clone())));
    let info = monitor::ServiceInfo::new("rta-server")
        .with_label("Test server")
        .with_description("composed")
        .with_auth_required(true);
    let app = monitor::service_router(info, api);

    let (status, _, body) = call(&app, Method::GET, "/rta/v2/sessions").await;
    assert_eq!(
        (status, body.as_str()),
        (StatusCode::OK, r#"{"sessions":[]}"#)
    );
    let (status, _, body) = call(&app, Method::GET, "/rta/v2/info").await;
    assert_eq!(status, StatusCode::OK);
    let info: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        info,
        serde_json::json!({"label": "Test server", "description": "composed", "authRequired": true})
    );

    // Unknown sessions: 404 from the session and data routes alike.
    assert_eq!(
        call(&app, Method::GET, "/rta/v2/sessions/s1").await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        call(&app, Method::GET, "/rta/v2/sessions/s1/data/periodic/0-3")
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        call(&app, Method::GET, "/rta/v2/sessions/s1/data-bindings")
            .await
            .0,
        StatusCode::NOT_FOUND
    );

    sessions
        .create_or_update(SessionRequest::new("s1", SessionState::Closed).build())
        .await
        .unwrap();
    assert_eq!(
        call(&app, Method::GET, "/rta/v2/sessions/s1").await.0,
        StatusCode::OK
    );
    // The private data-bindings route is not part of the public API.
    let (status, _, _) = call(&app, Method::GET, "/rta/v2/sessions/s1/data-bindings").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, ct, _) = call(&app, Method::GET, "/rta/v2/sessions/s1/data/periodic/0-3").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(ct, rta_core::media::PROTOBUF_CHUNKED);

    configs
        .put(
            "c1",
            StoredConfig {
                content_type: rta_core::media::CONFIG_FFC.into(),
                data: bytes::Bytes::from_static(b"ffc"),
            },
        )
        .await
        .unwrap();
    let (status, ct, body) = call(&app, Method::GET, "/rta/v2/configs/c1").await;
    assert_eq!(
        (status, ct.as_str(), body.as_str()),
        (StatusCode::OK, rta_core::media::CONFIG_FFC, "ffc")
    );
    assert_eq!(
        call(&app, Method::HEAD, "/rta/v2/configs/c1").await.0,
        StatusCode::OK
    );

    let (status, _, body) = call(&app, Method::GET, "/metrics").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        body.contains(r#"route="/rta/v2/sessions/{identity}",status="404"} 1"#),
        "{body}"
    );
    assert_eq!(
        call(&app, Method::GET, "/nothing").await.0,
        StatusCode::NOT_FOUND
    );
}
