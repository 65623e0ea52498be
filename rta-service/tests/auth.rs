//! Bearer tokens on the RTA Server, against an OpenID issuer this test
//! serves itself on loopback (discovery document and JWKS, keys generated
//! here, tokens signed here): REST, the WebSocket upgrade and gRPC refuse
//! every bad token, writes without the write scope are denied and change
//! nothing, keys rotate without a restart, and an unreachable issuer is a
//! 503, not a hang.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use rta_core::proto::session_service::session_store_client::SessionStoreClient;
use rta_core::proto::session_service::ListSessionsRequest;
use rta_core::session::SessionState;
use rta_core::session_request::SessionRequest;
use rta_service::auth::{AuthOptions, Authenticator};
use rta_service::serve::{self, RunningServer};
use rta_service::server::RtaServer;
use serde_json::{json, Value};

#[path = "support/issuer.rs"]
mod issuer;

use issuer::{claims, es256_key, now, start_issuer, token, AUDIENCE};

const WRITE: &str = "rta.write";

async fn get_with(base: &str, path: &str, token: Option<&str>) -> (u16, String, String) {
    let mut req = reqwest::Client::new().get(format!("{base}{path}"));
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let challenge = resp
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    (status, challenge, resp.text().await.unwrap_or_default())
}

fn with<T>(t: &str, req: T) -> tonic::Request<T> {
    let mut r = tonic::Request::new(req);
    r.metadata_mut()
        .insert("authorization", format!("Bearer {t}").parse().unwrap());
    r
}

async fn server(dir: &std::path::Path, authority: &str) -> (RtaServer, RunningServer) {
    let auth = Authenticator::new(AuthOptions {
        authority: authority.to_string(),
        audience: AUDIENCE.to_string(),
        write_scope: Some(WRITE.to_string()),
        ca_file: None,
    })
    .unwrap()
    .with_refresh_interval(Duration::from_millis(300));
    let server = RtaServer::builder(dir)
        .auth(Some(auth))
        .build()
        .await
        .unwrap();
    let loopback = "127.0.0.1:0".parse().unwrap();
    let running = server.spawn(loopback, loopback).await.unwrap();
    (server, running)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_bad_token_is_refused_and_good_ones_pass() {
    let k1 = es256_key("k1");
    let other = es256_key("k1"); // same kid, another key: a forged signature
    let (issuer, issuer_srv, iss) = start_issuer(&[&k1]).await;
    let dir = tempfile::tempdir().unwrap();
    let (server, running) = server(dir.path(), &iss).await;
    let base = format!("http://{}", running.http_addr);
    let path = "/rta/v2/sessions";

    // Probes stay open; /rta/v2/info says how to log in.
    assert_eq!(get_with(&base, "/health", None).await.0, 200);
    assert_eq!(get_with(&base, "/metrics", None).await.0, 200);
    let (status, _, info) = get_with(&base, "/rta/v2/info", None).await;
    assert_eq!(status, 200);
    let info: Value = serde_json::from_str(&info).unwrap();
    assert_eq!(info["authRequired"], true);
    assert_eq!(info["authority"], iss.as_str());

    // No token: 401 with a bare challenge.
    let (status, challenge, _) = get_with(&base, path, None).await;
    assert_eq!((status, challenge.as_str()), (401, "Bearer"));

    let good = claims(&iss, json!({}));
    let none_token = format!(
        "{}.{}.",
        B64.encode(r#"{"alg":"none","typ":"JWT","kid":"k1"}"#),
        B64.encode(good.to_string())
    );
    let hs256 = encode(
        &Header::new(Algorithm::HS256),
        &good,
        &EncodingKey::from_secret(k1.jwk.to_string().as_bytes()),
    )
    .unwrap();
    let bad = [
        ("malformed", "not-a-jwt".to_string()),
        ("alg none", none_token),
        ("HS256 keyed with the public key", hs256),
        ("wrong signature", token(&other, "k1", &good)),
        (
            "expired",
            token(&k1, "k1", &claims(&iss, json!({"exp": now() - 3600}))),
        ),
        (
            "not yet valid",
            token(&k1, "k1", &claims(&iss, json!({"nbf": now() + 3600}))),
        ),
        (
            "wrong issuer",
            token(&k1, "k1", &claims("https://evil.example", json!({}))),
        ),
        (
            "wrong audience",
            token(&k1, "k1", &claims(&iss, json!({"aud": "other"}))),
        ),
    ];
    for (what, t) in &bad {
        let (status, challenge, body) = get_with(&base, path, Some(t)).await;
        assert_eq!(status, 401, "{what}: {body}");
        assert!(
            challenge.starts_with("Bearer error=\"invalid_token\""),
            "{what}: {challenge}"
        );
        assert!(!body.contains(t.as_str()), "{what}: the token is echoed");
    }

    // An unknown kid: the keys are fetched again once (after the refresh
    // interval since the last fetch), then 401.
    tokio::time::sleep(Duration::from_millis(350)).await;
    let hits = issuer.hits();
    let unknown = token(&k1, "k9", &good);
    assert_eq!(get_with(&base, path, Some(&unknown)).await.0, 401);
    assert_eq!(issuer.hits(), hits + 1);
    // ... and not again right away, however many forged kids arrive.
    for _ in 0..5 {
        assert_eq!(get_with(&base, path, Some(&unknown)).await.0, 401);
    }
    assert_eq!(issuer.hits(), hits + 1);

    // A valid token reads.
    let reader = token(&k1, "k1", &good);
    assert_eq!(get_with(&base, path, Some(&reader)).await.0, 200);

    // The live stream's upgrade needs a token too.
    let ws = reqwest::Client::new()
        .get(format!("{base}/rta/v2/sessions/s1/stream"))
        .header("Connection", "Upgrade")
        .header("Upgrade", "websocket")
        .header("Sec-WebSocket-Version", "13")
        .header("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
        .header("Sec-WebSocket-Protocol", "mat.ocs.rta.stream-lz4")
        .send()
        .await
        .unwrap();
    assert_eq!(ws.status(), 401);

    // gRPC: no token, a reader's token and a writer's token.
    let mut client = SessionStoreClient::connect(running.grpc_uri().unwrap())
        .await
        .unwrap();
    let create = || SessionRequest::new("w1", SessionState::Closed).build();
    let err = client.create_or_update_session(create()).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::Unauthenticated, "{err}");
    let err = client
        .create_or_update_session(with(&reader, create()))
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::PermissionDenied, "{err}");
    let listed = client
        .list_sessions(with(&reader, ListSessionsRequest::default()))
        .await;
    assert!(listed.is_ok(), "a reader lists sessions: {listed:?}");
    use rta_core::service::SessionStore;
    let stored = server
        .sessions
        .get("w1", &Default::default())
        .await
        .unwrap();
    assert!(stored.is_none(), "a refused write changed the store");
    let writer = token(
        &k1,
        "k1",
        &claims(&iss, json!({"scope": "rta.read rta.write"})),
    );
    client
        .create_or_update_session(with(&writer, create()))
        .await
        .unwrap();
    assert_eq!(
        get_with(&base, "/rta/v2/sessions/w1", Some(&reader))
            .await
            .0,
        200
    );

    // Key rotation: a new key in the JWKS is picked up without a restart.
    let k2 = es256_key("k2");
    issuer.keys.lock().unwrap().push(k2.jwk.clone());
    tokio::time::sleep(Duration::from_millis(350)).await;
    let rotated = token(&k2, "k2", &good);
    assert_eq!(get_with(&base, path, Some(&rotated)).await.0, 200);

    running.stop().await.unwrap();
    issuer_srv.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_issuer_is_a_503_not_a_hang() {
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let authority = format!("http://{}", free.local_addr().unwrap());
    drop(free);
    let k1 = es256_key("k1");
    let dir = tempfile::tempdir().unwrap();
    let (_server, running) = server(dir.path(), &authority).await;
    let base = format!("http://{}", running.http_addr);
    let t = token(&k1, "k1", &claims(&authority, json!({})));
    let started = std::time::Instant::now();
    let (status, _, body) = get_with(&base, "/rta/v2/sessions", Some(&t)).await;
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("cannot be fetched"), "{body}");
    assert!(started.elapsed() < Duration::from_secs(15));
    running.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gateway_and_the_services_behind_it_all_check_the_token() {
    use rta_adapters::native::{NativeConfig, NativeStore};
    use rta_adapters::stores::SqliteSessionStore;
    use rta_bindings::model::DataBinding;
    use rta_core::service::SessionStore;
    use rta_core::write::DataSink;
    use rta_service::data::{DataBackend, DataMicroservice};
    use rta_service::gateway::{Gateway, GatewayConfig};
    use rta_service::monitor::{service_router, ServiceInfo};

    let k1 = es256_key("k1");
    let (_issuer, issuer_srv, iss) = start_issuer(&[&k1]).await;
    let auth = || {
        Some(
            Authenticator::new(AuthOptions {
                authority: iss.clone(),
                audience: AUDIENCE.to_string(),
                write_scope: None,
                ca_file: None,
            })
            .unwrap(),
        )
    };
    let dir = tempfile::tempdir().unwrap();
    let loopback = "127.0.0.1:0".parse().unwrap();

    let store = NativeStore::open(NativeConfig::new(dir.path().join("data"))).unwrap();
    let item = rta_core::data::periodic(0, 0, 1_000_000, &[2.0f64; 100]).unwrap();
    store.write("d1", vec![item.into()]).await.unwrap();
    store.flush("d1").await.unwrap();
    let data = DataMicroservice::new(DataBackend::native(store))
        .auth(auth())
        .spawn(loopback, loopback)
        .await
        .unwrap();
    let sessions =
        std::sync::Arc::new(SqliteSessionStore::open(dir.path().join("s.sqlite")).unwrap());
    let binding = DataBinding::new("native", "d1");
    let req = SessionRequest::new("s1", SessionState::Closed).data_binding(binding.to_proto());
    sessions.create_or_update(req.build()).await.unwrap();
    let api = rta_service::sessions::session_service_router(sessions);
    let s_srv = serve::spawn(
        loopback,
        service_router(ServiceInfo::new("s").with_auth(auth()), api),
        None,
    )
    .await
    .unwrap();
    let s_url = format!("http://{}", s_srv.http_addr);
    let mut cfg = GatewayConfig::new(&s_url, &s_url);
    cfg.data_services
        .insert("native".into(), format!("http://{}", data.http_addr));
    cfg.auth = auth();
    let gw = serve::spawn(loopback, Gateway::new(cfg).unwrap().http_router(), None)
        .await
        .unwrap();
    let gw_url = format!("http://{}", gw.http_addr);
    let data_path = "/rta/v2/sessions/s1/data/periodic/0";

    // No token: the gateway refuses before calling anything.
    assert_eq!(get_with(&gw_url, data_path, None).await.0, 401);
    // A valid token goes through, checked again by the session and data services.
    let t = token(&k1, "k1", &claims(&iss, json!({})));
    let (status, _, body) = get_with(&gw_url, data_path, Some(&t)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        get_with(&gw_url, "/rta/v2/sessions/s1", Some(&t)).await.0,
        200
    );
    // The services behind refuse callers without a token of their own.
    let direct = format!("http://{}", data.http_addr);
    assert_eq!(
        get_with(&direct, "/rta/v2/data/d1/periodic/0", None)
            .await
            .0,
        401
    );
    assert_eq!(get_with(&s_url, "/rta/v2/sessions/s1", None).await.0, 401);
    gw.stop().await.unwrap();
    s_srv.stop().await.unwrap();
    data.stop().await.unwrap();
    issuer_srv.stop().await.unwrap();
}
