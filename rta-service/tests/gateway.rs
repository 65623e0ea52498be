//! The Gateway Service in front of a Session Service, a Config Service and
//! two data services, every one a real server on loopback.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};

use axum::extract::Request;
use axum::middleware::{from_fn, Next};
use rta_adapters::memory::MemoryData;
use rta_adapters::stores::{FileConfigStore, SqliteSessionStore};
use rta_bindings::model::DataBinding;
use rta_core::chunk::ChunkDecoder;
use rta_core::data::periodic;
use rta_core::framing::Framed;
use rta_core::proto::data::PeriodicDataList;
use rta_core::service::{ConfigStore, SessionStore, StoredConfig};
use rta_core::session::SessionState;
use rta_core::session_request::SessionRequest;
use rta_core::write::DataSink;
use rta_service::gateway::{Gateway, GatewayConfig};
use rta_service::serve::{self, RunningServer};
use rta_service::{configs, data, monitor, sessions};

type Seen = Arc<Mutex<Vec<String>>>;

/// Records the `Authorization` header of every request.
fn recording(router: axum::Router, seen: &Seen) -> axum::Router {
    let seen = seen.clone();
    router.layer(from_fn(move |req: Request, next: Next| {
        let seen = seen.clone();
        async move {
            if let Some(v) = req.headers().get("authorization") {
                seen.lock().unwrap().push(v.to_str().unwrap().to_string());
            }
            next.run(req).await
        }
    }))
}

async fn spawn(router: axum::Router) -> (RunningServer, String) {
    let srv = serve::spawn("127.0.0.1:0".parse().unwrap(), router, None)
        .await
        .unwrap();
    let url = format!("http://{}", srv.http_addr);
    (srv, url)
}

#[tokio::test]
async fn the_gateway_serves_the_public_api_from_the_services_behind_it() {
    let dir = tempfile::tempdir().unwrap();
    let seen = Seen::default();

    // Session Service with one closed session bound to both data services.
    let store = Arc::new(SqliteSessionStore::open(dir.path().join("s.sqlite")).unwrap());
    let bindings = [
        DataBinding::new("alpha", "a-1").with_channels(0, 0, 0),
        DataBinding::new("beta", "b-1")
            .with_channels(0, 1, 1)
            .with_offset(300_000_000),
    ];
    store
        .create_or_update(
            SessionRequest::new("s1", SessionState::Closed)
                .identifier("Run 1")
                .timestamp("2026-12-03T10:00:00Z")
                .data_binding(bindings[0].to_proto())
                .data_binding(bindings[1].to_proto())
                .build(),
        )
        .await
        .unwrap();
    let session_api = monitor::service_router(
        monitor::ServiceInfo::new("sessions"),
        sessions::session_service_router(store),
    );
    let (session_srv, session_url) = spawn(recording(session_api, &seen)).await;

    // Config Service with one config.
    let cfgs = Arc::new(FileConfigStore::open(dir.path().join("configs")).unwrap());
    let cfg_json: &[u8] = include_bytes!("../../rta-core/tests/fixtures/api_config.json");
    cfgs.put(
        "cfg-1",
        StoredConfig {
            content_type: rta_core::media::CONFIG_JSON.into(),
            data: cfg_json.to_vec().into(),
        },
    )
    .await
    .unwrap();
    let config_api = monitor::service_router(
        monitor::ServiceInfo::new("configs"),
        configs::config_router(cfgs),
    );
    let (config_srv, config_url) = spawn(config_api).await;

    // Two data services, 1 s of 1 kHz data on channel 0 each.
    let mut cfg = GatewayConfig::new(&session_url, &config_url);
    let mut data_srvs = Vec::new();
    for (source, identity) in [("alpha", "a-1"), ("beta", "b-1")] {
        let mem = Arc::new(MemoryData::new());
        let item = periodic(0, 0, 1_000_000, &[7.0f64; 1_000]).unwrap();
        mem.write(identity, vec![item.into()]).await.unwrap();
        let api = monitor::service_router(
            monitor::ServiceInfo::new(source),
            data::data_service_router(Arc::new(Framed(mem))),
        );
        let (srv, url) = spawn(recording(api, &seen)).await;
        cfg.data_services.insert(source.into(), url);
        data_srvs.push(srv);
    }
    let gateway = Gateway::new(cfg).unwrap();
    let (gw_srv, gw) = spawn(gateway.http_router()).await;
    let client = reqwest::Client::new();
    let get = |path: &str| {
        client
            .get(format!("{gw}{path}"))
            .header("authorization", "Bearer t-9")
    };

    // Sessions, as the Session Service answers them.
    let direct: serde_json::Value = reqwest::get(format!("{session_url}/rta/v2/sessions/s1"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let resp = get("/rta/v2/sessions/s1").send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.json::<serde_json::Value>().await.unwrap(), direct);
    let page: serde_json::Value = client
        .post(format!("{gw}/rta/v2/sessions"))
        .form(&[("query", r#"{"identity":"s1"}"#)])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(page.to_string().matches("\"s1\"").count(), 1, "{page}");
    assert_eq!(
        get("/rta/v2/sessions/nobody")
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    // The private bindings route exists behind, never in front.
    let behind = reqwest::get(format!("{session_url}/rta/v2/sessions/s1/data-bindings"))
        .await
        .unwrap();
    assert_eq!(behind.status(), 200);
    let front = get("/rta/v2/sessions/s1/data-bindings")
        .send()
        .await
        .unwrap();
    assert_eq!(front.status(), 404);

    // Configs with their caching headers.
    let direct = reqwest::get(format!("{config_url}/rta/v2/configs/cfg-1"))
        .await
        .unwrap();
    let resp = get("/rta/v2/configs/cfg-1").send().await.unwrap();
    assert_eq!(resp.status(), 200);
    for h in ["content-type", "cache-control"] {
        assert_eq!(resp.headers().get(h), direct.headers().get(h), "{h}");
    }
    assert_eq!(&resp.bytes().await.unwrap()[..], cfg_json);
    assert_eq!(
        get("/rta/v2/configs/none").send().await.unwrap().status(),
        404
    );

    // Data through the bindings: channel 0 from alpha, channel 1 from beta
    // 300 ms later.
    seen.lock().unwrap().clear();
    let resp = get("/rta/v2/sessions/s1/data/periodic/0-1")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let mut got: Vec<(u32, i64, i32)> = Vec::new();
    for c in ChunkDecoder::decode_all(resp.bytes().await.unwrap()).unwrap() {
        for d in c.decode_list::<PeriodicDataList>().unwrap().periodic_data {
            got.push((d.channel_id, d.start_timestamp, d.samples));
        }
    }
    got.sort_unstable();
    assert_eq!(got.iter().map(|g| g.2).sum::<i32>(), 2_000);
    assert_eq!(got.first().map(|g| (g.0, g.1)), Some((0, 0)));
    let first_of_1 = got.iter().find(|g| g.0 == 1).map(|g| g.1);
    assert_eq!(first_of_1, Some(300_000_000));
    // The token went to the session service (session, bindings) and both
    // data services.
    let calls = seen.lock().unwrap().clone();
    assert!(calls.len() >= 4, "{calls:?}");
    assert!(calls.iter().all(|c| c == "Bearer t-9"), "{calls:?}");

    // Health: every service answers at its root; then one data service goes.
    assert_eq!(get("/health").send().await.unwrap().status(), 200);
    let beta = data_srvs.pop().unwrap();
    beta.stop().await.unwrap();
    let health = get("/health").send().await.unwrap();
    assert_eq!(health.status(), 503);
    let body = health.text().await.unwrap();
    assert!(body.contains("data-service:beta"), "{body}");
    // Its data is a 502; the other source's data still reads.
    let resp = get("/rta/v2/sessions/s1/data/periodic/1")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 502);
    let resp = get("/rta/v2/sessions/s1/data/periodic/0")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);

    // The session service going away is a 502 naming it, not a hang.
    session_srv.stop().await.unwrap();
    let resp = get("/rta/v2/sessions").send().await.unwrap();
    assert_eq!(resp.status(), 502);
    assert!(resp.text().await.unwrap().contains("session service"));

    gw_srv.stop().await.unwrap();
    config_srv.stop().await.unwrap();
    for s in data_srvs {
        s.stop().await.unwrap();
    }
}
