//! The writer's live tee: one call per item stores it through the data
//! service and streams it through Redis, where a Stream Service serves it
//! over the WebSocket (a real `redis-server` on a free loopback port).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

#[path = "../../rta-stream/tests/common/mod.rs"]
mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{connect, next, next_burst, subscribe, Got, RedisServer};
use rta_client::{RtaClient, SessionRequest, SessionState};
use rta_core::config::ChannelDataType;
use rta_core::data::{read_samples, read_timestamps, timestamped, DataKind};
use rta_core::proto::stream::stream_data::Data;
use rta_service::server::RtaServer;
use rta_stream::metrics::Metrics;
use rta_stream::service::{router, ServiceOptions, StreamService};
use rta_stream::writer::{StreamBuffer, WriterOptions};
use rta_stream::{RedisLiveSource, RedisSourceOptions};

const T0: i64 = 1_700_000_000_000_000_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_write_reaches_the_store_and_the_live_stream() {
    let redis = RedisServer::start();
    let src = RedisLiveSource::connect(
        &redis.url(),
        None,
        RedisSourceOptions::default(),
        Arc::new(Metrics::default()),
    )
    .await
    .unwrap();
    let stream_addr =
        common::serve(router(StreamService::new(src, ServiceOptions::default()))).await;

    let dir = tempfile::tempdir().unwrap();
    let server = RtaServer::open(dir.path()).unwrap();
    let loopback = "127.0.0.1:0".parse().unwrap();
    let running = server.spawn(loopback, loopback).await.unwrap();
    let client = RtaClient::builder(running.grpc_uri().unwrap())
        .rest(running.http_url())
        .connect()
        .await
        .unwrap();
    client
        .put_session(SessionRequest::new("tee-1", SessionState::Open).identifier("tee"))
        .await
        .unwrap();

    let buffer = StreamBuffer::connect(&redis.url(), None, WriterOptions::default())
        .await
        .unwrap();
    let live = buffer.init_session("tee-1", "car-1").await.unwrap();
    let writer = client.writer("tee-1").await.unwrap().with_live(live);
    writer
        .live_session_json(r#"{"identity":"tee-1","state":"open"}"#)
        .await
        .unwrap();
    writer.live().unwrap().flush().await.unwrap();

    let mut ws = connect(stream_addr, "tee-1").await;
    next_burst(&mut ws, Duration::from_secs(5)).await; // the session JSON
    subscribe(&mut ws, true, true, &[]).await;

    let times: Vec<i64> = (0..100).map(|i| T0 + i * 1_000_000).collect();
    let values: Vec<f64> = (0..100).map(|i| f64::from(i) * 1.5).collect();
    writer
        .timestamped(timestamped(0, &times, &values).unwrap())
        .await
        .unwrap();
    writer.live_time_range(T0, T0 + 99_000_000).await.unwrap();
    writer.flush().await.unwrap(); // stored
    writer.live().unwrap().flush().await.unwrap(); // in Redis

    let (mut live_t, mut live_v, mut range) = (Vec::new(), Vec::new(), None);
    while live_t.len() < 100 || range.is_none() {
        match next(&mut ws, Duration::from_secs(10)).await {
            Got::Burst(b) => {
                for it in b.data {
                    match it.data {
                        Some(Data::TimestampedData(d)) => {
                            live_t.extend(read_timestamps(&d).unwrap());
                            live_v.extend(read_samples::<f64>(&d.buffer).unwrap());
                        }
                        Some(Data::TimeRange(r)) => range = Some((r.start_time, r.end_time)),
                        _ => {}
                    }
                }
            }
            other => panic!("live stream ended: {other:?}"),
        }
    }
    assert_eq!(live_t, times);
    assert_eq!(live_v, values);
    assert_eq!(range, Some((T0, T0 + 99_000_000)));

    writer.close().await.unwrap();
    let stored = client
        .rest()
        .unwrap()
        .download("tee-1", DataKind::Timestamped, "0", None, None)
        .samples(ChannelDataType::F64)
        .await
        .unwrap();
    assert_eq!(stored[0].times, times);
    assert_eq!(stored[0].values, values);
    running.stop().await.unwrap();
}
