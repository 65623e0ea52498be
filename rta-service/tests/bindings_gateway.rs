//! Sessions served through their data bindings from data services on real
//! sockets: the Gateway's read path (`BindingDataService` over
//! `RemoteDataService`s) behind the public data route.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::sync::Arc;

use rta_adapters::memory::MemoryData;
use rta_adapters::remote::RemoteDataService;
use rta_adapters::stores::SqliteSessionStore;
use rta_bindings::model::DataBinding;
use rta_bindings::service::{BindingDataService, SessionStoreBindings};
use rta_core::chunk::ChunkDecoder;
use rta_core::data::{periodic, DataItem};
use rta_core::framing::Framed;
use rta_core::proto::data::PeriodicDataList;
use rta_core::service::{DataService, SessionStore};
use rta_core::session::SessionState;
use rta_core::session_request::SessionRequest;
use rta_core::write::DataSink;
use rta_service::{data, serve};

fn any() -> std::net::SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

async fn session(store: &SqliteSessionStore, identity: &str, bindings: Vec<DataBinding>) {
    store
        .create_or_update(
            bindings
                .iter()
                .fold(
                    SessionRequest::new(identity, SessionState::Closed)
                        .timestamp("2026-12-03T10:00:00Z"),
                    |r, b| r.data_binding(b.to_proto()),
                )
                .build(),
        )
        .await
        .unwrap();
}

/// (start, samples, first value) of each periodic result of a response.
async fn read(url: String) -> (u16, Vec<(u32, i64, i32)>) {
    let resp = reqwest::get(url).await.unwrap();
    let status = resp.status().as_u16();
    let body = resp.bytes().await.unwrap();
    if status != 200 {
        return (status, Vec::new());
    }
    let mut out = Vec::new();
    for c in ChunkDecoder::decode_all(body).unwrap() {
        for d in c.decode_list::<PeriodicDataList>().unwrap().periodic_data {
            out.push((d.channel_id, d.time_bounds().unwrap().0, d.samples));
        }
    }
    out.sort_unstable();
    (status, out)
}

#[tokio::test]
async fn sessions_read_through_their_bindings_from_remote_data_services() {
    // Two data services, each with 2 s of 1 kHz data on channels 0 and 1.
    let mut services: HashMap<String, Arc<dyn DataService>> = HashMap::new();
    let mut running = Vec::new();
    // The Authorization headers the data services saw.
    let seen: Arc<std::sync::Mutex<Vec<String>>> = Arc::default();
    for name in ["alpha", "beta"] {
        let mem = Arc::new(MemoryData::new());
        for ch in [0, 1] {
            let item = periodic(ch, 0, 1_000_000, &[f64::from(ch); 2_000]).unwrap();
            mem.write("d1", vec![item.into()]).await.unwrap();
        }
        let log = seen.clone();
        let router =
            data::data_service_router(Arc::new(Framed(mem))).layer(axum::middleware::from_fn(
                move |req: axum::extract::Request, next: axum::middleware::Next| {
                    let log = log.clone();
                    async move {
                        if let Some(v) = req.headers().get("authorization") {
                            log.lock().unwrap().push(v.to_str().unwrap().to_string());
                        }
                        next.run(req).await
                    }
                },
            ));
        let srv = serve::spawn(any(), router, None).await.unwrap();
        let url = format!("http://{}", srv.http_addr);
        services.insert(name.into(), Arc::new(RemoteDataService::new(&url).unwrap()));
        running.push(srv);
    }
    // A source whose data service is down.
    let down = serve::spawn(any(), axum::Router::new(), None)
        .await
        .unwrap();
    let down_addr = down.http_addr;
    down.stop().await.unwrap();
    services.insert(
        "gone".into(),
        Arc::new(RemoteDataService::new(&format!("http://{down_addr}")).unwrap()),
    );

    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteSessionStore::open(dir.path().join("s.sqlite")).unwrap());
    // Plain; 300 ms offset; a composite of alpha's 0-1 and beta's 0-1 as 10-11.
    session(&store, "plain", vec![DataBinding::new("alpha", "d1")]).await;
    session(
        &store,
        "offset",
        vec![DataBinding::new("alpha", "d1").with_offset(300_000_000)],
    )
    .await;
    session(
        &store,
        "composite",
        vec![
            DataBinding::new("alpha", "d1").with_channels(0, 0, 1),
            DataBinding::new("beta", "d1").with_channels(0, 10, 11),
        ],
    )
    .await;
    session(
        &store,
        "unconfigured",
        vec![DataBinding::new("secret-src", "d1")],
    )
    .await;
    session(&store, "broken", vec![DataBinding::new("gone", "d1")]).await;
    session(&store, "unbound", vec![]).await;

    let gateway = BindingDataService::new(Arc::new(SessionStoreBindings(store.clone())), services);
    let srv = serve::spawn(any(), data::data_router(Arc::new(gateway)), None)
        .await
        .unwrap();
    let url = |s: &str, ch: &str| {
        format!(
            "http://{}/rta/v2/sessions/{s}/data/periodic/{ch}",
            srv.http_addr
        )
    };

    let (status, got) = read(url("plain", "0-1")).await;
    assert_eq!(status, 200);
    let total: i32 = got.iter().map(|r| r.2).sum();
    assert_eq!(total, 4_000);
    assert_eq!(got.first().map(|r| (r.0, r.1)), Some((0, 0)));

    let (_, got) = read(url("offset", "1")).await;
    assert!(got.iter().all(|r| r.0 == 1));
    assert_eq!(got.first().map(|r| r.1), Some(300_000_000));

    let (_, got) = read(url("composite", "0-F")).await;
    let channels: std::collections::BTreeSet<u32> = got.iter().map(|r| r.0).collect();
    assert_eq!(channels.into_iter().collect::<Vec<_>>(), [0, 1, 10, 11]);

    // The client's credentials reach every data service a read fans out to.
    assert!(seen.lock().unwrap().is_empty());
    let resp = reqwest::Client::new()
        .get(url("composite", "0-F"))
        .header("authorization", "Bearer t-123")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(*seen.lock().unwrap(), ["Bearer t-123", "Bearer t-123"]);

    // Errors: clear statuses, and the other sessions are unaffected.
    let resp = reqwest::get(url("unconfigured", "0")).await.unwrap();
    assert_eq!(resp.status(), 502);
    let text = resp.text().await.unwrap();
    assert!(
        !text.contains("secret-src"),
        "the source is private: {text}"
    );
    assert_eq!(read(url("broken", "0")).await.0, 502);
    assert_eq!(read(url("unbound", "0")).await.0, 404);
    assert_eq!(read(url("nobody", "0")).await.0, 404);
    assert_eq!(read(url("plain", "0")).await.0, 200);

    srv.stop().await.unwrap();
    for s in running {
        s.stop().await.unwrap();
    }
}
