//! One monitoring layer: the stream service, the RTA Server and a store
//! service answer `/`, `/health` and `/metrics` the same way, each with its
//! own metrics; `/health` follows a real Redis going away.

#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

#[path = "../../rta-stream/tests/common/mod.rs"]
mod common;

use std::sync::Arc;
use std::time::Duration;

use rta_adapters::stores::SqliteSessionStore;
use rta_core::service::SessionStore;
use rta_core::session::SessionState;
use rta_core::session_request::SessionRequest;
use rta_service::monitor::{self, ServiceInfo, METRICS_CONTENT_TYPE};
use rta_service::serve;
use rta_service::server::RtaServer;
use rta_service::sessions;
use rta_service::stream_service::{run_stream_service, StreamServiceConfig};

async fn get(base: &str, path: &str) -> (u16, String, String) {
    let resp = reqwest::get(format!("{base}{path}")).await.unwrap();
    let status = resp.status().as_u16();
    let ct = resp
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    (status, ct, resp.text().await.unwrap())
}

/// The shape of a `/health` body: its keys, and each check's keys.
fn health_shape(body: &str) -> (Vec<String>, Vec<Vec<String>>) {
    let v: serde_json::Value = serde_json::from_str(body).unwrap();
    let obj = v.as_object().unwrap();
    let keys = obj.keys().cloned().collect();
    let checks = obj["checks"]
        .as_object()
        .unwrap()
        .values()
        .map(|c| c.as_object().unwrap().keys().cloned().collect())
        .collect();
    (keys, checks)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_service_monitoring_follows_redis() {
    let mut redis = common::RedisServer::start();
    let (tx, rx) = tokio::sync::oneshot::channel();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let cfg = StreamServiceConfig {
        redis: redis.url(),
        redis_db: None,
        listen: rta_service::options::ServiceOptions::http("127.0.0.1:0".parse().unwrap()),
        trimmer: None,
        source: Default::default(),
        service: Default::default(),
    };
    let task = tokio::spawn(run_stream_service(
        cfg,
        ServiceInfo::new("rta-streamsvc").with_version("9.9.9"),
        move |addr| {
            let _ = tx.send(addr);
        },
        async move {
            let _ = stop_rx.await;
        },
    ));
    let base = format!("http://{}", rx.await.unwrap());

    let (status, _, root) = get(&base, "/").await;
    assert_eq!(status, 200);
    assert!(
        root.contains("\"rta-streamsvc\"") && root.contains("9.9.9"),
        "{root}"
    );
    let (status, _, health) = get(&base, "/health").await;
    assert_eq!(status, 200, "{health}");
    assert!(health.contains("\"live-source\""), "{health}");
    // A client connects: the stream metrics move.
    let _ws = common::connect(base.trim_start_matches("http://").parse().unwrap(), "s").await;
    let (status, ct, metrics) = get(&base, "/metrics").await;
    assert_eq!((status, ct.as_str()), (200, METRICS_CONTENT_TYPE));
    for name in [
        "rta_stream_clients 1",
        "rta_stream_connections_total 1",
        "rta_stream_sent_bytes_total",
        "rta_stream_redis_lag_seconds",
        "rta_stream_healthy 1",
        "rta_healthy 1",
        "rta_health_status{check=\"live-source\"} 1",
        "rta_http_requests_total{method=\"GET\",route=\"/health\",status=\"200\"} 1",
        "rta_http_request_duration_seconds_count{method=\"GET\",route=\"/\",status=\"200\"} 1",
        "rta_build_info{service=\"rta-streamsvc\",version=\"9.9.9\"} 1",
    ] {
        assert!(metrics.contains(name), "{name} missing from {metrics}");
    }

    redis.kill();
    let (status, _, health) = get(&base, "/health").await;
    assert_eq!(status, 503, "{health}");
    assert!(health.contains("\"Unhealthy\""), "{health}");
    let (_, _, metrics) = get(&base, "/metrics").await;
    assert!(metrics.contains("rta_healthy 0"), "{metrics}");
    assert!(metrics.contains("rta_stream_healthy 0"), "{metrics}");
    let _ = stop_tx.send(());
    tokio::time::timeout(Duration::from_secs(10), task)
        .await
        .expect("the service stops")
        .unwrap()
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_process_answers_health_and_metrics_alike() {
    let dir = tempfile::tempdir().unwrap();
    let server = RtaServer::open(dir.path().join("server")).unwrap();
    let loopback = "127.0.0.1:0".parse().unwrap();
    let running = server.spawn(loopback, loopback).await.unwrap();
    let rta = format!("http://{}", running.http_addr);

    let store = Arc::new(SqliteSessionStore::open(dir.path().join("s.sqlite")).unwrap());
    let check = store.clone();
    let info = ServiceInfo::new("rta-sessionsvc").with_health_check("sqlite", move || {
        let store = check.clone();
        async move { store.check().await }
    });
    let svc = serve::spawn(
        loopback,
        monitor::service_router(info, sessions::session_router(store)),
        None,
    )
    .await
    .unwrap();
    let sessions_url = format!("http://{}", svc.http_addr);

    let (s1, _, h1) = get(&rta, "/health").await;
    let (s2, _, h2) = get(&sessions_url, "/health").await;
    assert_eq!((s1, s2), (200, 200));
    assert_eq!(health_shape(&h1).0, ["status", "checks"]);
    assert_eq!(health_shape(&h1), health_shape(&h2), "{h1} vs {h2}");

    // The RTA Server's /metrics has its stream service's metrics too.
    let (_, ct, m) = get(&rta, "/metrics").await;
    assert_eq!(ct, METRICS_CONTENT_TYPE);
    for name in [
        "rta_stream_clients 0",
        "rta_stream_sent_bytes_total 0",
        "rta_health_status{check=\"data-dir\"} 1",
        "rta_http_request_duration_seconds_bucket{",
    ] {
        assert!(m.contains(name), "{name} missing from {m}");
    }
    // Store metrics: what was written and read.
    let item = rta_core::data::periodic(0, 0, 1_000_000, &[1.0f64; 250]).unwrap();
    server
        .write_data("m1", vec![rta_core::write::WriteItem::Periodic(item)])
        .await
        .unwrap();
    server.flush_data("m1").await.unwrap();
    let session = SessionRequest::new("m1", SessionState::Closed).build();
    server.sessions.create_or_update(session).await.unwrap();
    let (status, _, _) = get(&rta, "/rta/v2/sessions/m1/data/periodic/0").await;
    assert_eq!(status, 200);
    let (_, _, m) = get(&rta, "/metrics").await;
    assert!(m.contains("rta_data_write_batches_total 1"), "{m}");
    assert!(m.contains("rta_data_written_samples_total 250"), "{m}");
    let read_bytes: u64 = m
        .lines()
        .find_map(|l| l.strip_prefix("rta_data_read_bytes_total "))
        .and_then(|v| v.parse().ok())
        .unwrap();
    assert!(read_bytes > 0, "{read_bytes} bytes read");
    let (_, _, m) = get(&sessions_url, "/metrics").await;
    assert!(m.contains("rta_health_status{check=\"sqlite\"} 1"), "{m}");
    assert!(
        !m.contains("rta_stream_"),
        "a session service has no stream metrics"
    );

    // A dependency gone: 503 with the same shape, naming the check.
    std::fs::remove_dir_all(dir.path().join("server")).unwrap();
    let (status, _, h) = get(&rta, "/health").await;
    assert_eq!(status, 503);
    assert_eq!(health_shape(&h).0, ["status", "checks"]);
    assert!(h.contains("data-dir") && h.contains("\"error\""), "{h}");
    running.stop().await.unwrap();
    svc.stop().await.unwrap();
}
