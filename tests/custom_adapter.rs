//! Custom data adapters served by the RTA Server over real sockets:
//!
//! - the `custom_adapter` example (CSV files read in place) over REST and
//!   the `DataReader` gRPC service;
//! - an adapter of this test's own that also takes writes, followed live
//!   over the WebSocket, then read back over REST and `DataReader`.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

#[path = "../rta-stream/tests/common/mod.rs"]
mod common;

// The example itself, compiled into this test.
#[allow(dead_code)]
#[path = "../examples/examples/custom_adapter.rs"]
mod custom_adapter;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use futures::StreamExt;
use rta::core::chunk::{ChunkDecoder, ChunkGrid};
use rta::core::data::{read_samples, read_timestamps, timestamped, DataKind};
use rta::core::kit::GridChunks;
use rta::core::proto::data::{TimestampedData, TimestampedDataList};
use rta::core::proto::data_service::data_reader_client::DataReaderClient;
use rta::core::proto::data_service::ReadChannelDataStreamRequest;
use rta::core::proto::stream::stream_data;
use rta::core::service::{ChunkStream, DataRequest, DataService, SessionStore};
use rta::core::session::SessionState;
use rta::core::session_request::SessionRequest;
use rta::core::write::{DataSink, WriteItem};
use rta::core::{Error, Result};
use rta::service::serve::RunningServer;
use rta::service::server::{DataBackend, RtaServer};

use custom_adapter::CsvFiles;

const T0: i64 = 1_700_000_000_000_000_000;
const MS: i64 = 1_000_000;

fn loopback() -> std::net::SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

/// Timestamps and values of every timestamped chunk of a REST data response.
async fn rest_samples(running: &RunningServer, path: &str) -> (u16, Vec<i64>, Vec<f64>) {
    let resp = reqwest::get(format!("http://{}{path}", running.http_addr))
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let body = resp.bytes().await.unwrap();
    let (mut times, mut values) = (Vec::new(), Vec::new());
    if status == 200 {
        for chunk in ChunkDecoder::decode_all(body).unwrap() {
            for item in chunk
                .decode_list::<TimestampedDataList>()
                .unwrap()
                .timestamped_data
            {
                times.extend(read_timestamps(&item).unwrap());
                values.extend(read_samples::<f64>(&item.buffer).unwrap());
            }
        }
    }
    (status, times, values)
}

/// Timestamps and values read through the `DataReader` gRPC service.
async fn grpc_samples(running: &RunningServer, identity: &str, channels: &str) -> Vec<(i64, f64)> {
    let mut reader = DataReaderClient::connect(running.grpc_uri().unwrap())
        .await
        .unwrap();
    let lists: Vec<TimestampedDataList> = reader
        .read_timestamped_data_stream(ReadChannelDataStreamRequest {
            data_identity: identity.into(),
            channels: channels.into(),
            start_time: None,
            end_time: None,
        })
        .await
        .unwrap()
        .into_inner()
        .map(|r| r.unwrap())
        .collect()
        .await;
    let mut out = Vec::new();
    for item in lists.into_iter().flat_map(|l| l.timestamped_data) {
        let t = read_timestamps(&item).unwrap();
        let v = read_samples::<f64>(&item.buffer).unwrap();
        out.extend(t.into_iter().zip(v));
    }
    out
}

fn csv(rows: std::ops::Range<i64>) -> String {
    let mut text = String::from("time_ns,vCar,nEngine\n");
    for i in rows {
        text.push_str(&format!("{},{},{}\n", T0 + i * 100 * MS, i, 1000 + i));
    }
    text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn csv_example_is_served_in_place_over_rest_and_grpc() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("run1.csv"), csv(0..50)).unwrap();
    std::fs::write(dir.path().join("notes.txt"), "not a session").unwrap();
    let files = Arc::new(CsvFiles(dir.path().to_path_buf()));
    let server = RtaServer::builder(dir.path().join(".rta"))
        .data(DataBackend::read_only(files.clone()))
        .build()
        .await
        .unwrap();
    files.publish(&server).await.unwrap();
    let running = server.spawn(loopback(), loopback()).await.unwrap();
    let http = format!("http://{}", running.http_addr);

    // The session and its config, as ATLAS browses them.
    let sessions: serde_json::Value = reqwest::get(format!("{http}/rta/v2/sessions"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let text = sessions.to_string();
    assert!(text.contains("\"run1\""), "{text}");
    assert!(!text.contains("notes"), "{text}");
    let session: serde_json::Value = reqwest::get(format!("{http}/rta/v2/sessions/run1"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(session["state"], "closed", "{session}");
    assert_eq!(
        session["configBindings"][0]["identifier"], "run1",
        "{session}"
    );
    let config = reqwest::get(format!("{http}/rta/v2/configs/run1"))
        .await
        .unwrap();
    assert_eq!(config.status(), 200);
    let config = config.text().await.unwrap();
    assert!(
        config.contains("vCar") && config.contains("nEngine"),
        "{config}"
    );

    // Data over REST: channel 1 is the second column.
    let (status, times, values) =
        rest_samples(&running, "/rta/v2/sessions/run1/data/timestamped/1").await;
    assert_eq!(status, 200);
    assert_eq!(
        times,
        (0..50).map(|i| T0 + i * 100 * MS).collect::<Vec<_>>()
    );
    assert_eq!(
        values,
        (0..50).map(|i| 1000.0 + i as f64).collect::<Vec<_>>()
    );

    // The same data over gRPC.
    let got = grpc_samples(&running, "run1", "0").await;
    assert_eq!(got.len(), 50);
    assert_eq!(got[7], (T0 + 700 * MS, 7.0));

    // In place: the file grows, the next read sees it.
    std::fs::write(dir.path().join("run1.csv"), csv(0..80)).unwrap();
    assert_eq!(grpc_samples(&running, "run1", "0").await.len(), 80);

    // A broken file is a clear 400 naming the file and line, not a panic.
    std::fs::write(dir.path().join("run1.csv"), "time_ns,vCar\n1,2\nx,3\n").unwrap();
    let resp = reqwest::get(format!("{http}/rta/v2/sessions/run1/data/timestamped/0"))
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let body = resp.text().await.unwrap();
    assert!(body.contains("run1.csv:3"), "{body}");

    running.stop().await.unwrap();
}

/// An adapter of the test's own: items kept per identity in a `Vec`, served
/// on a 1 s grid. It takes writes, so the server also offers `DataWriter`
/// and live streaming for it.
#[derive(Default)]
struct VecAdapter(Mutex<HashMap<String, Vec<TimestampedData>>>);

#[async_trait]
impl DataService for VecAdapter {
    async fn read(&self, req: DataRequest) -> Result<ChunkStream> {
        let items = match req.kind {
            DataKind::Timestamped => {
                let map = self.0.lock().unwrap();
                map.get(&req.data_identity).cloned().unwrap_or_default()
            }
            _ => Vec::new(),
        };
        GridChunks::new(ChunkGrid::new(1_000_000_000)?).stream(&req, items)
    }
}

#[async_trait]
impl DataSink for VecAdapter {
    async fn write(&self, identity: &str, items: Vec<WriteItem>) -> Result<()> {
        let mut map = self.0.lock().unwrap();
        let series = map.entry(identity.to_string()).or_default();
        for item in items {
            match item.decoded()? {
                WriteItem::Timestamped(t) => series.push(t),
                other => {
                    return Err(Error::InvalidArgument(format!(
                        "this adapter keeps timestamped data only, not {:?}",
                        other.kind()
                    )))
                }
            }
        }
        Ok(())
    }

    async fn flush(&self, _identity: &str) -> Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn custom_service_with_a_sink_is_streamed_live_then_read_back() {
    let dir = tempfile::tempdir().unwrap();
    let adapter = Arc::new(VecAdapter::default());
    let server = RtaServer::builder(dir.path())
        .data(DataBackend::new(adapter.clone(), adapter.clone()))
        .build()
        .await
        .unwrap();
    let running = server.spawn(loopback(), loopback()).await.unwrap();
    server
        .sessions
        .create_or_update(SessionRequest::new("live1", SessionState::Open).build())
        .await
        .unwrap();

    let mut ws = common::connect(running.http_addr, "live1").await;
    let first = common::next_burst(&mut ws, Duration::from_secs(5)).await;
    assert!(matches!(
        first.data[0].data,
        Some(stream_data::Data::SessionJson(_))
    ));
    common::subscribe(&mut ws, true, true, &[]).await;
    tokio::time::sleep(Duration::from_millis(200)).await;

    let times: Vec<i64> = (0..20).map(|i| T0 + i * 10 * MS).collect();
    let values: Vec<f64> = (0..20).map(|i| i as f64 * 0.5).collect();
    let item = timestamped(3, &times, &values).unwrap();
    server
        .write_data("live1", vec![WriteItem::Timestamped(item)])
        .await
        .unwrap();

    // Live: the written samples reach the WebSocket client.
    let mut live = None;
    for _ in 0..50 {
        let burst = common::next_burst(&mut ws, Duration::from_secs(5)).await;
        live = burst.data.into_iter().find_map(|d| match d.data {
            Some(stream_data::Data::TimestampedData(t)) => Some(t),
            _ => None,
        });
        if live.is_some() {
            break;
        }
    }
    let live = live.expect("no timestamped data reached the WebSocket client");
    assert_eq!(read_timestamps(&live).unwrap(), times);
    assert_eq!(read_samples::<f64>(&live.buffer).unwrap(), values);

    // Stored by the custom sink, read back through the custom service.
    let (status, t, v) = rest_samples(&running, "/rta/v2/sessions/live1/data/timestamped/3").await;
    assert_eq!((status, t, v), (200, times.clone(), values.clone()));
    let got = grpc_samples(&running, "live1", "3").await;
    assert_eq!(got, times.into_iter().zip(values).collect::<Vec<_>>());

    // What the adapter refuses is refused with its message.
    let err = server
        .write_data(
            "live1",
            vec![WriteItem::Periodic(
                rta::core::data::periodic(1, T0, MS, &[1u16; 4]).unwrap(),
            )],
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("timestamped data only"), "{err}");

    running.stop().await.unwrap();
}
