//! The RTA Server end to end over real sockets: gRPC in (config, session,
//! data of all four kinds), REST and WebSocket out, HTTPS, restart.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

// The stream crate's test helpers: WebSocket connect, next message, subscribe.
#[path = "../rta-stream/tests/common/mod.rs"]
mod common;

use std::time::Duration;

use futures::StreamExt;
use rta::core::chunk::{Chunk, ChunkDecoder};
use rta::core::data::{
    periodic, periodic_timestamps, read_samples, read_timestamps, row, timestamped,
};
use rta::core::proto::config_service::{config_store_client::ConfigStoreClient, PutConfigRequest};
use rta::core::proto::data::{
    Event, EventsList, PeriodicDataList, RowDataList, TimestampedDataList,
};
use rta::core::proto::data_service::{
    data_writer_client::DataWriterClient, write_data_stream_message::Type as W,
    write_data_stream_response_message::Type as R, WriteDataStreamMessage,
};
use rta::core::proto::session_service::{self as ss, session_store_client::SessionStoreClient};
use rta::core::proto::stream::{stream_data, StreamDataBurst};
use rta::core::session::SessionState;
use rta::core::session_request::SessionRequest;
use rta::service::server::RtaServer;

const T0: i64 = 1_700_000_000_000_000_000;
const SEC: i64 = 1_000_000_000;

fn loopback() -> std::net::SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

fn session_req(identity: &str, state: SessionState) -> SessionRequest {
    SessionRequest::new(identity, state)
        .timestamp("2023-11-14T22:13:20+01:00")
        .identifier(format!("{identity} name"))
}

async fn write_items(grpc: &str, identity: &str, items: Vec<W>) {
    let mut client = DataWriterClient::connect(grpc.to_string()).await.unwrap();
    let mut msgs = vec![WriteDataStreamMessage {
        r#type: Some(W::DataIdentity(identity.into())),
    }];
    msgs.extend(
        items
            .into_iter()
            .map(|t| WriteDataStreamMessage { r#type: Some(t) }),
    );
    msgs.push(WriteDataStreamMessage {
        r#type: Some(W::FlushMarker("f1".into())),
    });
    let mut resp = client
        .write_data_stream(futures::stream::iter(msgs))
        .await
        .unwrap()
        .into_inner();
    let first = resp.next().await.unwrap().unwrap();
    assert_eq!(first.r#type, Some(R::FlushCompleted("f1".into())));
}

async fn get_chunks(http: &str, path: &str) -> (u16, Vec<Chunk>) {
    let resp = reqwest::get(format!("{http}{path}")).await.unwrap();
    let status = resp.status().as_u16();
    if status != 200 {
        return (status, Vec::new());
    }
    assert_eq!(
        resp.headers()["content-type"],
        "application/vnd.mat.protobuf+chunked"
    );
    let body = resp.bytes().await.unwrap();
    (status, ChunkDecoder::decode_all(body).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publish_through_grpc_read_through_rest() {
    let dir = tempfile::tempdir().unwrap();
    let server = RtaServer::open(dir.path()).unwrap();
    let running = server.spawn(loopback(), loopback()).await.unwrap();
    let grpc = running.grpc_uri().unwrap();
    let http = running.http_url();

    // Config.
    let cfg = rta::service::demo::config().unwrap().to_json();
    let mut configs = ConfigStoreClient::connect(grpc.clone()).await.unwrap();
    configs
        .put_config(PutConfigRequest {
            identifier: "cfg-1".into(),
            content_type: "application/vnd.mat.config+json".into(),
            data: cfg.clone().into(),
        })
        .await
        .unwrap();
    let got = reqwest::get(format!("{http}/rta/v2/configs/cfg-1"))
        .await
        .unwrap();
    assert_eq!(got.status(), 200);
    assert_eq!(
        got.headers()["content-type"],
        "application/vnd.mat.config+json"
    );
    assert_eq!(got.text().await.unwrap(), cfg);

    // Session with details, folder, time range.
    let mut sessions = SessionStoreClient::connect(grpc.clone()).await.unwrap();
    sessions
        .put_session_folder(ss::PutSessionFolderRequest {
            parent_identity: String::new(),
            identity: "f1".into(),
            label: "Tests".into(),
            description: String::new(),
        })
        .await
        .unwrap();
    let s1 = session_req("s1", SessionState::Closed)
        .detail("Driver", "Test")
        .folder("f1")
        .time_range(T0, T0 + 10 * SEC)
        .config_binding("cfg-1", 0);
    sessions.create_or_update_session(s1.build()).await.unwrap();
    let s: serde_json::Value = reqwest::get(format!("{http}/rta/v2/sessions/s1"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(s["identity"], "s1");
    assert_eq!(s["state"], "closed");
    assert_eq!(s["details"]["Driver"], "Test");
    assert_eq!(s["timestamp"], "2023-11-14T22:13:20+01:00");
    assert_eq!(s["timeRange"]["startTime"].as_i64(), Some(T0));
    let folder: serde_json::Value = reqwest::get(format!("{http}/rta/v2/sessions?folder=f1"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(folder["sessions"][0]["identity"], "s1", "{folder}");

    // Data of all four kinds through DataWriter.
    let ts_times: Vec<i64> = (0..500)
        .map(|i| T0 + i * 7_000_000 + (i % 3) * 1000)
        .collect();
    let ts_vals: Vec<f64> = (0..500).map(|i| f64::from(i) * 0.25 - 3.0).collect();
    let p_vals: Vec<u16> = (0..5000).map(|i| (i * 13 % 65_000) as u16).collect();
    let mut items = Vec::new();
    for (t, v) in ts_times.chunks(50).zip(ts_vals.chunks(50)) {
        items.push(W::TimestampedData(timestamped(5, t, v).unwrap()));
    }
    for (i, v) in p_vals.chunks(100).enumerate() {
        items.push(W::PeriodicData(
            periodic(6, T0 + i as i64 * 100 * 1_000_000, 1_000_000, v).unwrap(),
        ));
    }
    for i in 0..20 {
        let mut b = Vec::new();
        b.extend_from_slice(&(i as f64).to_le_bytes());
        b.extend_from_slice(&(i as u16).to_le_bytes());
        items.push(W::RowData(row(vec![7, 8], T0 + i * SEC / 2, b)));
    }
    for i in 0..10 {
        items.push(W::Event(Event {
            event_definition_id: 1,
            app_name: "demo".into(),
            timestamp: T0 + i * SEC,
            status_text: format!("e{i}"),
            raw_data: vec![i as f64],
        }));
    }
    write_items(&grpc, "s1", items).await;

    // Timestamped: exact times and values.
    let (st, chunks) = get_chunks(&http, "/rta/v2/sessions/s1/data/timestamped/5").await;
    assert_eq!(st, 200);
    let (mut times, mut vals) = (Vec::new(), Vec::new());
    for c in &chunks {
        assert_eq!(c.channel_ids, vec![5]);
        for d in c
            .decode_list::<TimestampedDataList>()
            .unwrap()
            .timestamped_data
        {
            times.extend(read_timestamps(&d).unwrap());
            vals.extend(read_samples::<f64>(&d.buffer).unwrap());
        }
    }
    assert_eq!(times, ts_times);
    assert_eq!(vals, ts_vals);

    // Periodic.
    let (_, chunks) = get_chunks(&http, "/rta/v2/sessions/s1/data/periodic/6").await;
    let (mut times, mut vals) = (Vec::new(), Vec::new());
    for c in &chunks {
        for d in c.decode_list::<PeriodicDataList>().unwrap().periodic_data {
            times.extend(periodic_timestamps(&d).unwrap());
            vals.extend(read_samples::<u16>(&d.buffer).unwrap());
        }
    }
    assert_eq!(vals, p_vals);
    assert_eq!(
        times,
        (0..5000).map(|i| T0 + i * 1_000_000).collect::<Vec<_>>()
    );

    // Row (channel expression "7" selects the row group holding channel 7).
    let (_, chunks) = get_chunks(&http, "/rta/v2/sessions/s1/data/row/7-8").await;
    let rows: Vec<_> = chunks
        .iter()
        .flat_map(|c| c.decode_list::<RowDataList>().unwrap().row_data)
        .collect();
    assert_eq!(rows.len(), 20);
    assert_eq!(rows[3].channel_ids, vec![7, 8]);
    assert_eq!(rows[3].timestamp, T0 + 3 * SEC / 2);
    assert_eq!(&rows[3].buffer[..8], &3f64.to_le_bytes());

    // Events.
    let (_, chunks) = get_chunks(&http, "/rta/v2/sessions/s1/data/events").await;
    let events: Vec<_> = chunks
        .iter()
        .flat_map(|c| c.decode_list::<EventsList>().unwrap().events)
        .collect();
    assert_eq!(events.len(), 10);
    assert_eq!(events[4].status_text, "e4");
    assert_eq!(events[4].timestamp, T0 + 4 * SEC);

    // Stable boundaries: a narrower request returns the same chunks it overlaps.
    let (_, all) = get_chunks(&http, "/rta/v2/sessions/s1/data/periodic/6").await;
    let mid = all[all.len() / 2].start + 1;
    let (_, part) = get_chunks(
        &http,
        &format!("/rta/v2/sessions/s1/data/periodic/6?start={mid}&end={mid}"),
    )
    .await;
    assert!(!part.is_empty());
    for c in &part {
        assert!(
            all.contains(c),
            "chunk {}..{} not in the unbounded response",
            c.start,
            c.end
        );
    }

    // Bad input.
    assert_eq!(
        get_chunks(&http, "/rta/v2/sessions/s1/data/periodic/XYZ")
            .await
            .0,
        400
    );
    assert_eq!(
        get_chunks(&http, "/rta/v2/sessions/s1/data/periodic/6?start=10&end=5")
            .await
            .0,
        400
    );
    assert_eq!(
        get_chunks(&http, "/rta/v2/sessions/s1/data/periodic/6?start=abc")
            .await
            .0,
        400
    );
    assert_eq!(
        get_chunks(&http, "/rta/v2/sessions/nope/data/periodic/6")
            .await
            .0,
        404
    );
    assert_eq!(
        reqwest::get(format!("{http}/rta/v2/sessions/nope"))
            .await
            .unwrap()
            .status(),
        404
    );

    running.stop().await.unwrap();
    drop(server);

    // Restart on the same directory: everything is still there.
    let server = RtaServer::open(dir.path()).unwrap();
    let running = server.spawn(loopback(), loopback()).await.unwrap();
    let http = running.http_url();
    let (_, again) = get_chunks(&http, "/rta/v2/sessions/s1/data/periodic/6").await;
    assert_eq!(again, all);
    let s: serde_json::Value = reqwest::get(format!("{http}/rta/v2/sessions/s1"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(s["details"]["Driver"], "Test");
    running.stop().await.unwrap();
}

/// The next burst, or `None` once the server closed the socket.
async fn next_burst(ws: &mut common::Ws) -> Option<StreamDataBurst> {
    match common::next(ws, Duration::from_secs(5)).await {
        common::Got::Burst(b) => Some(b),
        common::Got::Close(_) | common::Got::End => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_follows_a_session_written_through_data_writer() {
    let dir = tempfile::tempdir().unwrap();
    let server = RtaServer::open(dir.path()).unwrap();
    let running = server.spawn(loopback(), loopback()).await.unwrap();
    let grpc = running.grpc_uri().unwrap();
    let mut sessions = SessionStoreClient::connect(grpc.clone()).await.unwrap();
    sessions
        .create_or_update_session(session_req("live1", SessionState::Open).build())
        .await
        .unwrap();

    // The helper checks the server agreed on the subprotocol.
    let mut ws = common::connect(running.http_addr, "live1").await;

    // First message: the session JSON only.
    let first = next_burst(&mut ws).await.unwrap();
    assert_eq!(first.data.len(), 1);
    match &first.data[0].data {
        Some(stream_data::Data::SessionJson(j)) => assert!(j.contains("\"live1\""), "{j}"),
        other => panic!("first item is not session JSON: {other:?}"),
    }
    common::subscribe(&mut ws, true, true, &[]).await;
    tokio::time::sleep(Duration::from_millis(200)).await;

    let vals: Vec<f64> = (0..10).map(|i| f64::from(i) * 1.5).collect();
    let times: Vec<i64> = (0..10).map(|i| T0 + i * 10_000_000).collect();
    write_items(
        &grpc,
        "live1",
        vec![W::TimestampedData(timestamped(2, &times, &vals).unwrap())],
    )
    .await;

    let mut got = None;
    for _ in 0..50 {
        let Some(b) = next_burst(&mut ws).await else {
            break;
        };
        if let Some(d) = b.data.iter().find_map(|d| match &d.data {
            Some(stream_data::Data::TimestampedData(t)) => Some(t.clone()),
            _ => None,
        }) {
            got = Some(d);
            break;
        }
    }
    let got = got.expect("no timestamped data reached the WebSocket client");
    assert_eq!(read_timestamps(&got).unwrap(), times);
    assert_eq!(read_samples::<f64>(&got.buffer).unwrap(), vals);

    // Closing the session sends the final JSON, then the server closes the socket.
    sessions
        .create_or_update_session(
            SessionRequest::update("live1")
                .state(SessionState::Closed)
                .build(),
        )
        .await
        .unwrap();
    let mut saw_closed = false;
    while let Some(b) = next_burst(&mut ws).await {
        for d in b.data {
            if let Some(stream_data::Data::SessionJson(j)) = d.data {
                saw_closed |= j.contains("\"closed\"");
            }
        }
    }
    assert!(
        saw_closed,
        "final session JSON with state closed not received"
    );
    running.stop().await.unwrap();
}
