//! Two RTA Servers sharing a real `redis-server`: data written through one
//! server's `DataWriter` reaches a WebSocket client of the other (the
//! multi-process deployment of `rta-server --redis URL`).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

// The stream crate's test helpers: a private redis-server, WebSocket client.
#[path = "../rta-stream/tests/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use futures::StreamExt;

use rta::core::data::{read_samples, read_timestamps, timestamped};
use rta::core::proto::data_service::{
    data_writer_client::DataWriterClient, write_data_stream_message::Type as W,
    WriteDataStreamMessage,
};
use rta::core::proto::session_service::session_store_client::SessionStoreClient;
use rta::core::proto::stream::stream_data;
use rta::core::session::SessionState;
use rta::core::session_request::SessionRequest;
use rta::service::server::RtaServer;

fn loopback() -> std::net::SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_data_crosses_processes_through_redis() {
    let redis = common::RedisServer::start();
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = RtaServer::open_with_redis(dir_a.path(), &redis.url(), None)
        .await
        .unwrap();
    let b = RtaServer::open_with_redis(dir_b.path(), &redis.url(), None)
        .await
        .unwrap();
    let ra = a.spawn(loopback(), loopback()).await.unwrap();
    let rb = b.spawn(loopback(), loopback()).await.unwrap();
    let grpc = ra.grpc_uri().unwrap();

    let mut sessions = SessionStoreClient::connect(grpc.clone()).await.unwrap();
    sessions
        .create_or_update_session(SessionRequest::new("x1", SessionState::Open).build())
        .await
        .unwrap();

    // Server B knows the session only through Redis.
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut ws = loop {
        let mut ws = common::connect(rb.http_addr, "x1").await;
        // An unknown session is closed with no data; retry until Redis has it.
        match common::next(&mut ws, Duration::from_secs(5)).await {
            common::Got::Burst(burst) => {
                assert!(matches!(
                    burst.data[0].data,
                    Some(stream_data::Data::SessionJson(_))
                ));
                break ws;
            }
            _ => {
                assert!(
                    Instant::now() < deadline,
                    "session never appeared on server B"
                );
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    };
    common::subscribe(&mut ws, true, true, &[]).await;
    tokio::time::sleep(Duration::from_millis(300)).await;

    let times: Vec<i64> = (0..20)
        .map(|i| 1_700_000_000_000_000_000 + i * 5_000_000)
        .collect();
    let vals: Vec<f64> = (0..20).map(|i| f64::from(i).sqrt()).collect();
    let mut writer = DataWriterClient::connect(grpc.clone()).await.unwrap();
    let msgs = vec![
        WriteDataStreamMessage {
            r#type: Some(W::DataIdentity("x1".into())),
        },
        WriteDataStreamMessage {
            r#type: Some(W::TimestampedData(timestamped(9, &times, &vals).unwrap())),
        },
        WriteDataStreamMessage {
            r#type: Some(W::FlushMarker("m".into())),
        },
    ];
    let mut resp = writer
        .write_data_stream(futures::stream::iter(msgs))
        .await
        .unwrap()
        .into_inner();
    resp.next().await.unwrap().unwrap();

    let mut got = None;
    while got.is_none() {
        let burst = common::next_burst(&mut ws, Duration::from_secs(5)).await;
        got = burst.data.into_iter().find_map(|d| match d.data {
            Some(stream_data::Data::TimestampedData(t)) => Some(t),
            _ => None,
        });
    }
    let got = got.unwrap();
    assert_eq!(got.channel_id, 9);
    assert_eq!(read_timestamps(&got).unwrap(), times);
    assert_eq!(read_samples::<f64>(&got.buffer).unwrap(), vals);

    sessions
        .create_or_update_session(
            SessionRequest::update("x1")
                .state(SessionState::Closed)
                .build(),
        )
        .await
        .unwrap();
    ra.stop().await.unwrap();
    rb.stop().await.unwrap();
}
