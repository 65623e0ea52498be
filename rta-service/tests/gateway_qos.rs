//! Quality of service through the gateway, with every service a real
//! server on loopback and a data service that takes 600 ms per read:
//! per-user limits queue in order and time out with 503 + `Retry-After`;
//! per-source limits hold a busy source without naming it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use rta_adapters::memory::MemoryData;
use rta_adapters::stores::SqliteSessionStore;
use rta_bindings::model::DataBinding;
use rta_core::data::periodic;
use rta_core::framing::Framed;
use rta_core::service::{ChunkStream, DataRequest, DataService, SessionStore};
use rta_core::session::SessionState;
use rta_core::session_request::SessionRequest;
use rta_core::write::DataSink;
use rta_service::gateway::{Gateway, GatewayConfig};
use rta_service::qos::QosOptions;
use rta_service::serve::{self, RunningServer};
use rta_service::{data, monitor, sessions};

const READ_TIME: Duration = Duration::from_millis(600);

/// A data service that takes `READ_TIME` per read.
struct Slow(Arc<MemoryData>);

#[async_trait]
impl DataService for Slow {
    async fn read(&self, req: DataRequest) -> rta_core::Result<ChunkStream> {
        tokio::time::sleep(READ_TIME).await;
        self.0.read(req).await
    }
}

async fn spawn(router: axum::Router) -> (RunningServer, String) {
    let srv = serve::spawn("127.0.0.1:0".parse().unwrap(), router, None)
        .await
        .unwrap();
    let url = format!("http://{}", srv.http_addr);
    (srv, url)
}

/// Session, config and slow data services, and a gateway with `qos`.
async fn deployment(dir: &std::path::Path, qos: QosOptions) -> (Vec<RunningServer>, String) {
    let store = Arc::new(SqliteSessionStore::open(dir.join("s.sqlite")).unwrap());
    let binding = DataBinding::new("slow", "d-1").with_channels(0, 0, 0);
    store
        .create_or_update(
            SessionRequest::new("s1", SessionState::Closed)
                .data_binding(binding.to_proto())
                .build(),
        )
        .await
        .unwrap();
    let (s_srv, s_url) = spawn(monitor::service_router(
        monitor::ServiceInfo::new("sessions"),
        sessions::session_service_router(store),
    ))
    .await;
    let mem = Arc::new(MemoryData::new());
    let item = periodic(0, 0, 1_000_000, &[1.0f64; 100]).unwrap();
    mem.write("d-1", vec![item.into()]).await.unwrap();
    let slow: Arc<dyn DataService> = Arc::new(Slow(mem));
    let (d_srv, d_url) = spawn(monitor::service_router(
        monitor::ServiceInfo::new("slow"),
        data::data_service_router(Arc::new(Framed(slow))),
    ))
    .await;
    let mut cfg = GatewayConfig::new(&s_url, &s_url);
    cfg.data_services.insert("slow".into(), d_url);
    cfg.qos = qos;
    let (g_srv, g_url) = spawn(Gateway::new(cfg).unwrap().http_router()).await;
    (vec![g_srv, d_srv, s_srv], g_url)
}

/// Starts a data read as `token` after `delay`; yields (status,
/// Retry-After, body, when it finished).
fn read(
    gw: &str,
    token: &'static str,
    delay: Duration,
) -> tokio::task::JoinHandle<(u16, Option<String>, String, Duration)> {
    let url = format!("{gw}/rta/v2/sessions/s1/data/periodic/0");
    tokio::spawn(async move {
        tokio::time::sleep(delay).await;
        let t0 = Instant::now();
        let resp = reqwest::Client::new()
            .get(url)
            .header("authorization", token)
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        let retry = resp
            .headers()
            .get("retry-after")
            .map(|v| v.to_str().unwrap().to_string());
        let body = resp.text().await.unwrap();
        (status, retry, body, t0.elapsed())
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_user_limit_queues_in_order_and_times_out() {
    let dir = tempfile::tempdir().unwrap();
    let qos = QosOptions {
        per_user: 1,
        per_source: 0,
        queue_timeout: Duration::from_millis(1_000),
    };
    let (servers, gw) = deployment(dir.path(), qos).await;

    let first = read(&gw, "Bearer alice", Duration::ZERO);
    let second = read(&gw, "Bearer alice", Duration::from_millis(100));
    let third = read(&gw, "Bearer alice", Duration::from_millis(200));
    let other = read(&gw, "Bearer bob", Duration::from_millis(100));

    let (s1, _, _, t1) = first.await.unwrap();
    let (s2, _, _, t2) = second.await.unwrap();
    let (s3, retry3, body3, t3) = third.await.unwrap();
    let (sb, _, _, tb) = other.await.unwrap();
    assert_eq!(s1, 200);
    assert_eq!(
        s2, 200,
        "the second waited for the first, within the timeout"
    );
    assert!(
        t2 >= READ_TIME + Duration::from_millis(300),
        "{t2:?}: it did not wait"
    );
    assert_eq!(s3, 503, "the third waited past the timeout: {body3}");
    assert_eq!(retry3.as_deref(), Some("1"));
    assert!(body3.contains("too many requests"), "{body3}");
    assert!(t3 >= Duration::from_millis(900), "{t3:?}");
    assert_eq!(sb, 200);
    assert!(
        tb < READ_TIME * 2,
        "another user is not queued behind alice: {tb:?}"
    );
    assert!(t1 < READ_TIME * 2, "{t1:?}");
    for s in servers {
        s.stop().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_source_limit_answers_503_without_naming_the_source() {
    let dir = tempfile::tempdir().unwrap();
    let qos = QosOptions {
        per_user: 0,
        per_source: 1,
        queue_timeout: Duration::from_millis(200),
    };
    let (servers, gw) = deployment(dir.path(), qos).await;
    let first = read(&gw, "Bearer alice", Duration::ZERO);
    let second = read(&gw, "Bearer bob", Duration::from_millis(100));
    let (s1, _, _, _) = first.await.unwrap();
    let (s2, retry, body, _) = second.await.unwrap();
    assert_eq!(s1, 200);
    assert_eq!(s2, 503, "{body}");
    assert_eq!(retry.as_deref(), Some("1"));
    assert!(body.contains("busy"), "{body}");
    assert!(
        !body.contains("slow"),
        "the private source name leaked: {body}"
    );
    // Once the first read is done, the source takes reads again.
    let (s3, _, _, _) = read(&gw, "Bearer bob", Duration::ZERO).await.unwrap();
    assert_eq!(s3, 200);
    // Operators see each source's reads on the gateway's /metrics.
    let metrics = reqwest::get(format!("{gw}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for line in [
        "rta_gateway_source_requests_total{source=\"slow\",outcome=\"ok\"} 2",
        "rta_gateway_source_requests_total{source=\"slow\",outcome=\"busy\"} 1",
        "rta_gateway_source_read_seconds_count{source=\"slow\"} 2",
        "rta_gateway_source_queue_wait_seconds_count{source=\"slow\"} 2",
    ] {
        assert!(metrics.contains(line), "{line} missing from {metrics}");
    }
    let bytes: u64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("rta_gateway_source_bytes_total{source=\"slow\"} "))
        .and_then(|v| v.parse().ok())
        .unwrap();
    assert!(bytes > 0);
    for s in servers {
        s.stop().await.unwrap();
    }
}
