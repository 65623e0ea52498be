//! The `live` example against an RTA Server and a Stream Service on a real
//! `redis-server` (loopback, free ports): a follower gets every sample live
//! while it is written, the stored session ends closed (or truncated when
//! stopped early) with its time range and every sample.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

#[path = "../../rta-stream/tests/common/mod.rs"]
mod common;
#[allow(dead_code)]
#[path = "../examples/live.rs"]
mod live;

use std::sync::Arc;
use std::time::Duration;

use rta::core::config::ChannelDataType;
use rta::core::data::DataKind;
use rta::core::proto::stream::stream_data::Data;
use rta::service::server::RtaServer;
use rta::stream::metrics::Metrics;
use rta::stream::service::{router, ServiceOptions, StreamService};
use rta::stream::{RedisLiveSource, RedisSourceOptions};
use rta_client::{LiveUpdate, RtaClient, SessionState};

async fn setup() -> (
    common::RedisServer,
    std::net::SocketAddr,
    rta::service::serve::RunningServer,
    tempfile::TempDir,
) {
    let redis = common::RedisServer::start();
    let src = RedisLiveSource::connect(
        &redis.url(),
        None,
        RedisSourceOptions::default(),
        Arc::new(Metrics::default()),
    )
    .await
    .unwrap();
    let stream = common::serve(router(StreamService::new(src, ServiceOptions::default()))).await;
    let dir = tempfile::tempdir().unwrap();
    let loopback = "127.0.0.1:0".parse().unwrap();
    let running = RtaServer::open(dir.path())
        .unwrap()
        .spawn(loopback, loopback)
        .await
        .unwrap();
    (redis, stream, running, dir)
}

/// Follows `identity` on the stream service until it ends; returns the
/// live samples per channel.
async fn follow(stream: std::net::SocketAddr, grpc: String, identity: &str) -> [usize; 3] {
    let client = RtaClient::builder(grpc)
        .rest(format!("http://{stream}"))
        .connect()
        .await
        .unwrap();
    let rest = client.rest().unwrap().clone();
    let mut got = [0usize; 3];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    'outer: while tokio::time::Instant::now() < deadline {
        // The session may not be in Redis yet: the stream then ends at once.
        let Ok(mut f) = rest.follow(identity, None).await else {
            tokio::time::sleep(Duration::from_millis(20)).await;
            continue;
        };
        loop {
            match tokio::time::timeout(Duration::from_secs(10), f.next()).await {
                Ok(Ok(update @ LiveUpdate::Burst(_))) => {
                    let done = update.final_state().is_some();
                    let LiveUpdate::Burst(b) = update else {
                        unreachable!("matched a burst")
                    };
                    for d in b.data {
                        if let Some(Data::TimestampedData(t)) = d.data {
                            got[t.channel_id as usize] += t.timestamp_deltas.len();
                        }
                    }
                    if done {
                        break 'outer;
                    }
                }
                Ok(Ok(LiveUpdate::Ended(_))) if got.iter().sum::<usize>() > 0 => break 'outer,
                _ => break,
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    got
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_example_streams_and_stores_every_sample() {
    let (redis, stream, running, _dir) = setup().await;
    let grpc = running.grpc_uri().unwrap();
    let follower = tokio::spawn(follow(stream, grpc.clone(), "live-1"));
    let (state, samples) = live::run(&grpc, &redis.url(), "live-1", 2, std::future::pending())
        .await
        .unwrap();
    assert_eq!((state, samples), (SessionState::Closed, 600));
    assert_eq!(
        follower.await.unwrap(),
        [200, 200, 200],
        "every sample live, once"
    );

    let client = RtaClient::builder(grpc)
        .rest(running.http_url())
        .connect()
        .await
        .unwrap();
    let rest = client.rest().unwrap();
    let s = rest.session("live-1").await.unwrap();
    assert_eq!(s["state"], "closed");
    let (t0, end) = (
        s["timeRange"]["startTime"].as_i64().unwrap(),
        s["timeRange"]["endTime"].as_i64().unwrap(),
    );
    assert_eq!(
        end - t0,
        199 * 10_000_000,
        "the time range covers the 200 samples"
    );
    let stored = rest
        .download("live-1", DataKind::Timestamped, "0-2", None, None)
        .samples(ChannelDataType::F64)
        .await
        .unwrap();
    let per_channel: Vec<usize> = stored.iter().map(|s| s.times.len()).collect();
    assert_eq!(per_channel, [200, 200, 200]);
    running.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopping_early_truncates_the_session() {
    let (redis, _stream, running, _dir) = setup().await;
    let grpc = running.grpc_uri().unwrap();
    let stop = tokio::time::sleep(Duration::from_millis(450));
    let (state, samples) = live::run(&grpc, &redis.url(), "live-2", 60, stop)
        .await
        .unwrap();
    assert_eq!(state, SessionState::Truncated);
    assert!(
        (30..=180).contains(&samples),
        "{samples} samples before the stop"
    );
    let client = RtaClient::builder(grpc)
        .rest(running.http_url())
        .connect()
        .await
        .unwrap();
    let s = client.rest().unwrap().session("live-2").await.unwrap();
    assert_eq!(s["state"], "truncated");
    running.stop().await.unwrap();
}
