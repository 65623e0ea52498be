//! Fan-out at scale: one live session written through Redis and followed by
//! 1,000 WebSocket clients, ten bursts a second. Every client must receive every burst, in order;
//! a client that stops reading is closed with 1013 (try again later) without
//! holding the others back. Prints the delivery latency (from the writer's
//! `end_burst` to the client's receipt) over all clients and bursts.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rta_core::data::{periodic, periodic_timestamps, read_samples};
use rta_core::proto::stream::{stream_data, StreamData};
use rta_stream::metrics::Metrics;
use rta_stream::service::{router, ServiceOptions, StreamService, CLOSE_TRY_AGAIN};
use rta_stream::writer::{StreamBuffer, WriterOptions};
use rta_stream::{RedisLiveSource, RedisSourceOptions};

use common::{connect, next, next_burst, subscribe, Got, RedisServer};

const CLIENTS: usize = 1_000;
const BURSTS: usize = 100;
const EVERY: Duration = Duration::from_millis(100);
const START: i64 = 1_700_000_000_000_000_000;
const STEP: i64 = 100_000_000;
/// The heavy channel only the slow client follows: 256 KiB a burst.
const HEAVY: usize = 256 * 1024;

/// What one client saw: the sequence numbers of channel 0, with arrival times.
type Seen = Vec<(i64, Instant)>;

fn tick(k: usize) -> StreamData {
    let d = periodic(0, START + k as i64 * STEP, STEP, &[k as f64]).unwrap();
    StreamData {
        data: Some(stream_data::Data::PeriodicData(d)),
    }
}

fn heavy(k: usize, x: &mut u64) -> StreamData {
    // Incompressible, so LZ4 cannot shrink the slow client's backlog away.
    let buf: Vec<u8> = (0..HEAVY)
        .map(|_| {
            *x ^= *x << 13;
            *x ^= *x >> 7;
            *x ^= *x << 17;
            *x as u8
        })
        .collect();
    let d = periodic(1, START + k as i64 * STEP, STEP, &buf).unwrap();
    StreamData {
        data: Some(stream_data::Data::PeriodicData(d)),
    }
}

/// Channel 0 sequence numbers in `b`, with the time they arrived.
fn ticks(b: &rta_core::proto::stream::StreamDataBurst, seen: &mut Seen) {
    let now = Instant::now();
    for it in &b.data {
        if let Some(stream_data::Data::PeriodicData(d)) = &it.data {
            if d.channel_id == 0 {
                let t = periodic_timestamps(d).unwrap();
                let v = read_samples::<f64>(&d.buffer).unwrap();
                assert_eq!(t.len(), v.len());
                for (t, v) in t.into_iter().zip(v) {
                    assert_eq!(t, START + v as i64 * STEP, "value matches its time");
                    seen.push((v as i64, now));
                }
            }
        }
    }
}

fn percentile(v: &mut [Duration], p: f64) -> Duration {
    v.sort();
    v[((v.len() - 1) as f64 * p).round() as usize]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousand_clients_get_every_burst_in_order_and_a_slow_one_is_closed() {
    let redis = RedisServer::start();
    let metrics = Arc::new(Metrics::default());
    let src = RedisLiveSource::connect(
        &redis.url(),
        None,
        RedisSourceOptions::default(),
        metrics.clone(),
    )
    .await
    .unwrap();
    let svc =
        StreamService::with_metrics(Arc::new(src), ServiceOptions::default(), metrics.clone());
    let addr = common::serve(router(svc)).await;
    let buffer = StreamBuffer::connect(&redis.url(), None, WriterOptions::default())
        .await
        .unwrap();
    let w = buffer.init_session("fan-out", "fan").await.unwrap();
    w.write_session_json(r#"{"identity":"fan-out","state":"open"}"#)
        .await
        .unwrap();
    w.flush().await.unwrap();

    // The slow client follows both channels and then stops reading.
    let mut slow = connect(addr, "fan-out").await;
    next_burst(&mut slow, Duration::from_secs(5)).await;
    subscribe(&mut slow, false, false, &[0, 1]).await;

    // 1,000 readers of channel 0, connected 100 at a time.
    let connected = Instant::now();
    let mut clients = Vec::with_capacity(CLIENTS);
    for _ in 0..CLIENTS / 100 {
        let batch: Vec<_> = (0..100)
            .map(|_| {
                tokio::spawn(async move {
                    let mut ws = connect(addr, "fan-out").await;
                    next_burst(&mut ws, Duration::from_secs(10)).await;
                    subscribe(&mut ws, false, false, &[0]).await;
                    ws
                })
            })
            .collect();
        for h in batch {
            clients.push(h.await.unwrap());
        }
    }
    eprintln!(
        "{CLIENTS} clients connected and subscribed in {:?}",
        connected.elapsed()
    );
    let readers: Vec<_> = clients
        .into_iter()
        .map(|mut ws| {
            tokio::spawn(async move {
                let mut seen = Seen::with_capacity(BURSTS);
                while seen.last().is_none_or(|l| l.0 < BURSTS as i64 - 1) {
                    match next(&mut ws, Duration::from_secs(20)).await {
                        Got::Burst(b) => ticks(&b, &mut seen),
                        other => panic!("connection ended after {} ticks: {other:?}", seen.len()),
                    }
                }
                seen
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(500)).await;

    let sent = Arc::new(Mutex::new(Vec::with_capacity(BURSTS)));
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    let mut next_at = Instant::now();
    for k in 0..BURSTS {
        w.write(tick(k)).await.unwrap();
        w.write(heavy(k, &mut x)).await.unwrap();
        w.end_burst().await.unwrap();
        sent.lock().unwrap().push(Instant::now());
        next_at += EVERY;
        tokio::time::sleep_until(next_at.into()).await;
    }
    w.flush().await.unwrap();

    let sent = sent.lock().unwrap().clone();
    let mut latencies = Vec::with_capacity(CLIENTS * BURSTS);
    for (i, r) in readers.into_iter().enumerate() {
        let seen = r.await.unwrap();
        let seq: Vec<i64> = seen.iter().map(|s| s.0).collect();
        assert_eq!(
            seq,
            (0..BURSTS as i64).collect::<Vec<_>>(),
            "client {i}: every burst, once, in order"
        );
        for (k, at) in seen {
            latencies.push(at.saturating_duration_since(sent[k as usize]));
        }
    }
    let (p50, p99, max) = (
        percentile(&mut latencies, 0.5),
        percentile(&mut latencies, 0.99),
        percentile(&mut latencies, 1.0),
    );
    eprintln!(
        "{} deliveries: latency p50 {p50:?}, p99 {p99:?}, max {max:?}",
        latencies.len()
    );
    // Not a performance target: a bound that only a stalled fan-out breaks.
    assert!(
        max < Duration::from_secs(5),
        "a burst took {max:?} to arrive"
    );

    // The slow client was cut off: its queue filled with bursts it never read.
    assert!(
        metrics.slow_closes() >= 1,
        "the slow client was never closed"
    );
    let mut got = 0;
    let end = loop {
        match next(&mut slow, Duration::from_secs(10)).await {
            Got::Burst(_) => got += 1,
            Got::Close(code) => break code,
            Got::End => break None,
        }
    };
    assert!(got < BURSTS, "the slow client got all {got} bursts");
    if let Some(code) = end {
        assert_eq!(code, CLOSE_TRY_AGAIN, "documented close code");
    }
    eprintln!("slow client: {got} of {BURSTS} bursts, then close {end:?}");
    w.close().await.unwrap();
}
