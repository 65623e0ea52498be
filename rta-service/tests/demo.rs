//! `rta-server --demo` content: published into a real server, read back
//! over REST.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use rta_service::demo::{self, DemoOptions};
use rta_service::server::RtaServer;

async fn get(http: &str, path: &str) -> (u16, serde_json::Value) {
    let resp = reqwest::get(format!("{http}{path}")).await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or_default())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_publishes_history_and_a_live_session() {
    let dir = tempfile::tempdir().unwrap();
    let server = RtaServer::open(dir.path()).unwrap();
    let loopback = "127.0.0.1:0".parse().unwrap();
    let running = server.spawn(loopback, loopback).await.unwrap();
    let http = format!("http://{}", running.http_addr);
    let opts = DemoOptions {
        historical_sessions: 2,
        historical_secs: 2,
    };
    let live = demo::publish(&server, &opts).await.unwrap();
    // Publishing twice keeps what is there.
    let again = demo::publish(&server, &opts).await.unwrap();
    assert_ne!(live, again, "each run starts a new live session");

    let (status, s) = get(&http, "/rta/v2/sessions/demo-historical-1").await;
    assert_eq!(status, 200);
    assert_eq!(s["state"], "closed", "{s}");
    assert_eq!(s["details"]["Track"], "Demo Circuit");
    assert_eq!(s["configBindings"][0]["identifier"], demo::CONFIG_ID);
    let range = &s["timeRange"];
    let span = range["endTime"].as_i64().unwrap() - range["startTime"].as_i64().unwrap();
    assert_eq!(span, 2_000_000_000 - 1_000_000);
    let (status, _) = get(&http, &format!("/rta/v2/configs/{}", demo::CONFIG_ID)).await;
    assert_eq!(status, 200);
    let (_, folders) = get(&http, "/rta/v2/session-folders/demo").await;
    assert!(folders.to_string().contains("demo-live"), "{folders}");

    let (status, s) = get(&http, &format!("/rta/v2/sessions/{live}")).await;
    assert_eq!(status, 200);
    assert_eq!(s["state"], "open", "{s}");
    demo::run_live(&server, &live, Some(Duration::from_millis(350)))
        .await
        .unwrap();
    let (_, s) = get(&http, &format!("/rta/v2/sessions/{live}")).await;
    assert_eq!(s["state"], "closed", "{s}");
    assert!(
        s["timeRange"]["endTime"].as_i64().unwrap() > s["timeRange"]["startTime"].as_i64().unwrap()
    );
    let data = reqwest::get(format!("{http}/rta/v2/sessions/{live}/data/timestamped/0"))
        .await
        .unwrap();
    assert_eq!(data.status(), 200);
    assert!(
        !data.bytes().await.unwrap().is_empty(),
        "the live session has data"
    );
    running.stop().await.unwrap();
}
