//! The journey examples, run against an RTA Server on loopback: `ingest`
//! (followed live over the WebSocket while it writes) and
//! `publish_metadata` and `loader`, checked through what ATLAS reads. (`custom_adapter`
//! runs in the workspace's `tests/custom_adapter.rs`.)
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

#[allow(dead_code)]
#[path = "../examples/ingest.rs"]
mod ingest;
#[allow(dead_code)]
#[path = "../examples/loader.rs"]
mod loader;
#[allow(dead_code)]
#[path = "../examples/publish_metadata.rs"]
mod publish_metadata;

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use prost::Message as _;
use rta::core::chunk::ChunkDecoder;
use rta::core::media::STREAM_SUBPROTOCOL;
use rta::core::proto::data::{PeriodicDataList, TimestampedDataList};
use rta::core::proto::session_service::{
    session_store_client::SessionStoreClient, GetSessionRequest, SessionElements,
};
use rta::core::proto::stream::{stream_data, stream_request, StreamRequest, StreamSubscription};
use rta::service::serve::RunningServer;
use rta::service::server::RtaServer;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

async fn server(dir: &std::path::Path) -> RunningServer {
    let loopback = "127.0.0.1:0".parse().unwrap();
    RtaServer::open(dir)
        .unwrap()
        .spawn(loopback, loopback)
        .await
        .unwrap()
}

async fn get_json(running: &RunningServer, path: &str) -> (u16, serde_json::Value) {
    let resp = reqwest::get(format!("http://{}{path}", running.http_addr))
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or_default())
}

/// The session JSON with the extended properties named.
async fn session_with(
    running: &RunningServer,
    identity: &str,
    props: &[&str],
) -> serde_json::Value {
    let mut client = SessionStoreClient::connect(running.grpc_uri().unwrap())
        .await
        .unwrap();
    let resp = client
        .get_session(GetSessionRequest {
            identity: identity.into(),
            elements: Some(SessionElements {
                json: true,
                json_properties: props.iter().map(|p| p.to_string()).collect(),
                folders: true,
                ..Default::default()
            }),
        })
        .await
        .unwrap()
        .into_inner();
    let session = resp;
    let mut json: serde_json::Value = serde_json::from_str(&session.json).unwrap();
    json["folders"] = serde_json::json!(session.folders);
    json
}

/// Samples in a REST data response.
async fn samples(running: &RunningServer, path: &str) -> usize {
    let resp = reqwest::get(format!("http://{}{path}", running.http_addr))
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "{path}");
    let mut n = 0;
    for chunk in ChunkDecoder::decode_all(resp.bytes().await.unwrap()).unwrap() {
        if path.contains("/timestamped/") {
            let list = chunk.decode_list::<TimestampedDataList>().unwrap();
            n += list
                .timestamped_data
                .iter()
                .map(|t| rta::core::data::read_timestamps(t).unwrap().len())
                .sum::<usize>();
        } else {
            let list = chunk.decode_list::<PeriodicDataList>().unwrap();
            n += list
                .periodic_data
                .iter()
                .map(|p| p.samples as usize)
                .sum::<usize>();
        }
    }
    n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ingest_is_followed_live_and_published() {
    let dir = tempfile::tempdir().unwrap();
    let running = server(dir.path()).await;
    let grpc = running.grpc_uri().unwrap();
    // 50 batches of 100 ms, written every 20 ms: one second of writing.
    let run = tokio::spawn(async move {
        ingest::ingest(&grpc, "ing-1", 50, Duration::from_millis(20))
            .await
            .map_err(|e| e.to_string())
    });

    // ATLAS opens the live stream as soon as the session appears.
    for _ in 0..100 {
        if get_json(&running, "/rta/v2/sessions/ing-1").await.0 == 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // The REST session can appear a moment before the live stream knows it;
    // the stream then closes at once (1000, nothing sent): connect again.
    let url = format!("ws://{}/rta/v2/sessions/ing-1/stream", running.http_addr);
    let mut attempts = 0;
    let (mut ws, first) = loop {
        let mut req = url.clone().into_client_request().unwrap();
        req.headers_mut().insert(
            "Sec-WebSocket-Protocol",
            STREAM_SUBPROTOCOL.parse().unwrap(),
        );
        let (mut ws, _) = tokio_tungstenite::connect_async(req).await.unwrap();
        match tokio::time::timeout(Duration::from_secs(5), ws.next()).await {
            Ok(Some(Ok(Message::Binary(b)))) => break (ws, b),
            _ if attempts < 100 => {
                attempts += 1;
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            other => panic!("the live stream never opened: {other:?}"),
        }
    };
    let subscribe = StreamRequest {
        option: Some(stream_request::Option::Subscribe(StreamSubscription {
            all_events: true,
            all_data_channels: true,
            data_channel_ids: Vec::new(),
        })),
    };
    ws.send(Message::Binary(subscribe.encode_to_vec().into()))
        .await
        .unwrap();
    rta::stream::burst::decode_frame(&first, 1 << 20).unwrap(); // the session JSON
    let mut live_items = 0;
    while let Ok(Some(Ok(m))) = tokio::time::timeout(Duration::from_secs(5), ws.next()).await {
        match m {
            Message::Binary(b) => {
                let burst = rta::stream::burst::decode_frame(&b, 1 << 20).unwrap();
                live_items += burst
                    .data
                    .iter()
                    .filter(|d| matches!(d.data, Some(stream_data::Data::TimestampedData(_))))
                    .count();
            }
            Message::Close(_) => break,
            _ => {}
        }
    }
    assert!(live_items > 0, "no live data reached the WebSocket client");
    run.await.unwrap().unwrap();

    // What ATLAS browses afterwards.
    let (status, session) = get_json(&running, "/rta/v2/sessions/ing-1").await;
    assert_eq!(status, 200);
    assert_eq!(session["state"], "closed", "{session}");
    assert_eq!(session["details"]["Driver"], "Test Driver", "{session}");
    assert_eq!(session["configBindings"][0]["identifier"], "ingest-demo");
    let start = session["timeRange"]["startTime"].as_i64().unwrap();
    let end = session["timeRange"]["endTime"].as_i64().unwrap();
    assert_eq!(end - start, 50 * 100_000_000 - 1);
    let (status, config) = get_json(&running, "/rta/v2/configs/ingest-demo").await;
    assert_eq!(status, 200);
    assert!(config.to_string().contains("vCar"), "{config}");
    assert_eq!(
        samples(&running, "/rta/v2/sessions/ing-1/data/timestamped/0").await,
        500
    );
    assert_eq!(
        samples(&running, "/rta/v2/sessions/ing-1/data/periodic/1").await,
        500
    );
    let with_markers = session_with(&running, "ing-1", &["markers"])
        .await
        .to_string();
    assert!(with_markers.contains("lap-2"), "{with_markers}");
    running.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publish_metadata_files_a_campaign() {
    let dir = tempfile::tempdir().unwrap();
    let running = server(dir.path()).await;
    let start = 1_700_000_000_000_000_000;
    let grpc = running.grpc_uri().unwrap();
    let published = publish_metadata::publish(&grpc, "wt", start).await.unwrap();
    assert_eq!(published.len(), 4);
    // Publishing again changes nothing and fails nothing.
    assert_eq!(
        publish_metadata::publish(&grpc, "wt", start).await.unwrap(),
        published
    );

    let (status, root) = get_json(&running, "/rta/v2/session-folders/").await;
    assert_eq!(status, 200);
    assert!(root.to_string().contains("\"wt\""), "{root}");
    let (status, days) = get_json(&running, "/rta/v2/session-folders/wt").await;
    assert_eq!(status, 200);
    let days = days.to_string();
    assert!(
        days.contains("wt-day-1") && days.contains("wt-day-2"),
        "{days}"
    );

    let (status, s) = get_json(&running, "/rta/v2/sessions/wt-day-2-run-1").await;
    assert_eq!(status, 200);
    assert_eq!(s["state"], "closed");
    assert_eq!(s["identifier"], "Day 2 run 1");
    assert_eq!(s["details"]["Engineer"], "A. Smith");
    assert_eq!(s["configBindings"][0]["identifier"], "logger-v1");
    let (_, first) = get_json(&running, "/rta/v2/sessions/wt-day-1-run-1").await;
    assert_eq!(first["details"]["Note"], "oil pressure spike at 4 min");
    assert_eq!(
        first["details"]["Campaign"], "wt",
        "the later update kept earlier details"
    );
    let full = session_with(&running, "wt-day-1-run-2", &["markers"]).await;
    assert_eq!(full["folders"][0], "wt-day-1", "{full}");
    assert!(full.to_string().contains("outing-1"), "{full}");
    let (status, _) = get_json(&running, "/rta/v2/configs/logger-v1").await;
    assert_eq!(status, 200);
    running.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loader_loads_closed_sessions_with_laps_and_data() {
    let dir = tempfile::tempdir().unwrap();
    let running = server(dir.path()).await;
    let start = 1_700_000_000_000_000_000;
    let grpc = running.grpc_uri().unwrap();
    let loaded = loader::load(&grpc, "ld", 2, start).await.unwrap();
    assert_eq!(loaded, ["ld-0", "ld-1"]);

    let (status, s) = get_json(&running, "/rta/v2/sessions/ld-1").await;
    assert_eq!(status, 200);
    assert_eq!(s["state"], "closed");
    assert_eq!(s["details"]["Run"], "1");
    assert_eq!(s["markers"].as_array().unwrap().len(), 3, "{s}");
    let t0 = start + 3_600_000_000_000;
    assert_eq!(s["timeRange"]["startTime"], t0);
    assert_eq!(s["timeRange"]["endTime"], t0 + 60_000_000_000 - 10_000_000);

    let url = format!(
        "{}/rta/v2/sessions/ld-1/data/periodic/2",
        running.http_url()
    );
    let body = reqwest::get(url).await.unwrap().bytes().await.unwrap();
    let mut values = Vec::new();
    for chunk in ChunkDecoder::decode_all(body).unwrap() {
        let list: PeriodicDataList = chunk.decode_list().unwrap();
        for d in list.periodic_data {
            values.extend(rta::core::data::read_samples::<f64>(&d.buffer).unwrap());
        }
    }
    assert_eq!(values.len(), 6_000, "a minute of 100 Hz samples");
    for (i, v) in values.iter().enumerate() {
        assert_eq!(
            v.to_bits(),
            loader_value(2, i as i64).to_bits(),
            "sample {i}"
        );
    }
}

/// The loader's values, as a reference.
fn loader_value(p: usize, i: i64) -> f64 {
    let t = i as f64 / 100.0;
    (p as f64 + 1.0) * 100.0 * (t * 0.1 * (p as f64 + 1.0)).sin()
}
