//! Benches of the live path against a real `redis-server` on loopback.
//!
//! - `writer/*`: samples/s of the session writer (f64 timestamped channels:
//!   encoding, 64 KiB bursts, LZ4, pipelined XADD + hash update) against raw
//!   `XADD`s of the very same frames by the same Redis client (sequential and
//!   pipelined), and LZ4 framing alone.
//! - latency: write -> Redis -> reader -> WebSocket client, 10 Hz bursts,
//!   printed as p50 / p99 / max before the criterion groups run.
//! - ratio: `session_writer` against `raw_xadd_uncompressed` in alternating
//!   rounds (robust to background load), printed as median and range.
//!
//! `cargo bench -p rta-stream --bench stream`
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

#[path = "../tests/common/mod.rs"]
mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput};
use futures::StreamExt;
use rta_core::data::timestamped;
use rta_core::proto::stream::{stream_data, StreamData};
use rta_stream::burst::{BurstEncoder, EncodedBurst};
use rta_stream::metrics::Metrics;
use rta_stream::service::{router, ServiceOptions, StreamService};
use rta_stream::writer::{StreamBuffer, WriterOptions};
use rta_stream::{RedisLiveSource, RedisSourceOptions};
use tokio_tungstenite::tungstenite::Message;

use common::RedisServer;

const CHANNELS: u32 = 4;
const ITEMS: usize = 200;
const SAMPLES_PER_ITEM: usize = 500;

/// 200 items x 500 f64 samples at 100 Hz, channels 0..4.
fn items() -> Vec<StreamData> {
    (0..ITEMS)
        .map(|i| {
            let ch = i as u32 % CHANNELS;
            let t0 = (i / CHANNELS as usize) as i64 * SAMPLES_PER_ITEM as i64 * 10_000_000;
            let times: Vec<i64> = (0..SAMPLES_PER_ITEM as i64)
                .map(|k| t0 + k * 10_000_000)
                .collect();
            let values: Vec<f64> = times
                .iter()
                .map(|t| rta_stream::demo::timestamped_value(ch, *t))
                .collect();
            StreamData {
                data: Some(stream_data::Data::TimestampedData(
                    timestamped(ch, &times, &values).unwrap(),
                )),
            }
        })
        .collect()
}

/// The bursts the writer builds for `items` (64 KiB, before compression).
fn bursts(items: &[StreamData]) -> Vec<EncodedBurst> {
    let mut enc = BurstEncoder::new(64 * 1024).unwrap();
    let mut out: Vec<EncodedBurst> = items
        .iter()
        .filter_map(|it| enc.push(it).unwrap())
        .collect();
    out.extend(enc.take());
    out
}

/// The frames the writer produces for `items` (64 KiB bursts, LZ4 framed).
fn make_frames(items: &[StreamData]) -> Vec<Vec<u8>> {
    bursts(items).iter().map(EncodedBurst::compress).collect()
}

/// The same bursts before compression.
fn raw_bursts(items: &[StreamData]) -> Vec<Vec<u8>> {
    bursts(items).into_iter().map(|b| b.bytes).collect()
}

/// One `XADD` per frame to `key`, each awaited before the next.
async fn xadd_each(conn: &mut redis::aio::MultiplexedConnection, key: &str, frames: &[Vec<u8>]) {
    for f in frames {
        let _: String = redis::cmd("XADD")
            .arg(key)
            .arg("*")
            .arg("id")
            .arg(1)
            .arg("data")
            .arg(f.as_slice())
            .query_async(conn)
            .await
            .unwrap();
    }
}

/// Times `iters` runs of `run` on what `prep` (not timed) makes, deleting
/// `key` every 20 runs and at the end so the stream stays small.
fn timed<T>(
    rt: &tokio::runtime::Runtime,
    conn: &mut redis::aio::MultiplexedConnection,
    key: &str,
    iters: u64,
    mut prep: impl FnMut() -> T,
    mut run: impl FnMut(T, &mut redis::aio::MultiplexedConnection),
) -> Duration {
    let del = |conn: &mut redis::aio::MultiplexedConnection| {
        rt.block_on(async {
            let _: () = redis::cmd("DEL").arg(key).query_async(conn).await.unwrap();
        })
    };
    let mut total = Duration::ZERO;
    for i in 0..iters {
        let input = prep();
        let t = Instant::now();
        run(input, conn);
        total += t.elapsed();
        if i % 20 == 19 {
            del(conn);
        }
    }
    del(conn);
    total
}

fn writer_benches(c: &mut Criterion, redis: &RedisServer, rt: &tokio::runtime::Runtime) {
    let items = items();
    let frames = make_frames(&items);
    let raw_bursts = raw_bursts(&items);
    let raw_bytes: usize = raw_bursts.iter().map(Vec::len).sum();
    let frame_bytes: usize = frames.iter().map(Vec::len).sum();
    let samples = (ITEMS * SAMPLES_PER_ITEM) as u64;
    eprintln!(
        "writer bench: {samples} samples, {} bursts, {raw_bytes} bytes before and {frame_bytes} after LZ4 per iteration",
        frames.len()
    );
    let (buffer, w, mut conn) = rt.block_on(async {
        let buffer = StreamBuffer::connect(&redis.url(), None, WriterOptions::default())
            .await
            .unwrap();
        let w = buffer.init_session("bench", "bench").await.unwrap();
        let conn = redis::Client::open(redis.url())
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .unwrap();
        (buffer, w, conn)
    });
    let mut g = c.benchmark_group("writer");
    g.throughput(Throughput::Elements(samples));
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(4));
    g.warm_up_time(Duration::from_secs(1));
    g.bench_function("session_writer", |b| {
        b.iter_custom(|iters| {
            // A producer owns its data: building it is not timed.
            timed(
                rt,
                &mut conn,
                "stream:bench",
                iters,
                || items.clone(),
                |owned, _| {
                    rt.block_on(async {
                        w.write_all(owned).await.unwrap();
                        w.flush().await.unwrap();
                    })
                },
            )
        })
    });
    g.bench_function("raw_xadd_frames", |b| {
        b.iter_custom(|iters| {
            timed(
                rt,
                &mut conn,
                "stream:raw",
                iters,
                || (),
                |(), c| rt.block_on(xadd_each(c, "stream:raw", &frames)),
            )
        })
    });
    g.bench_function("raw_xadd_uncompressed", |b| {
        b.iter_custom(|iters| {
            timed(
                rt,
                &mut conn,
                "stream:raw",
                iters,
                || (),
                |(), c| rt.block_on(xadd_each(c, "stream:raw", &raw_bursts)),
            )
        })
    });
    g.bench_function("raw_xadd_frames_pipelined", |b| {
        b.iter_custom(|iters| {
            timed(
                rt,
                &mut conn,
                "stream:raw",
                iters,
                || (),
                |(), c| {
                    rt.block_on(async {
                        let mut p = redis::pipe();
                        for f in &frames {
                            p.cmd("XADD")
                                .arg("stream:raw")
                                .arg("*")
                                .arg("id")
                                .arg(1)
                                .arg("data")
                                .arg(f.as_slice())
                                .ignore();
                        }
                        p.query_async::<()>(c).await.unwrap();
                    })
                },
            )
        })
    });
    g.bench_function("encode_lz4_only", |b| b.iter(|| make_frames(&items)));
    g.finish();
    rt.block_on(async {
        w.close().await.unwrap();
    });
    drop(buffer);
}

/// The ratio the target is about, measured robustly on a shared
/// machine: rounds of `session_writer` iterations and `raw_xadd_uncompressed`
/// iterations alternate, so a change of background load hits both sides;
/// prints the median and range of the per-round byte-rate ratios.
fn ratio_report(
    redis: &RedisServer,
    rt: &tokio::runtime::Runtime,
    rounds: usize,
    per_round: usize,
) {
    let items = items();
    let raw_bursts = raw_bursts(&items);
    let (w, mut conn) = rt.block_on(async {
        let buffer = StreamBuffer::connect(&redis.url(), None, WriterOptions::default())
            .await
            .unwrap();
        let w = buffer.init_session("ratio", "ratio").await.unwrap();
        let conn = redis::Client::open(redis.url())
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .unwrap();
        (w, conn)
    });
    let mut ratios = Vec::new();
    let (mut tw, mut tr) = (Duration::ZERO, Duration::ZERO);
    // Round 0 warms both paths up and is not counted.
    for round in 0..=rounds {
        let mut writer = Duration::ZERO;
        for _ in 0..per_round {
            let owned = items.clone();
            let t = Instant::now();
            rt.block_on(async {
                w.write_all(owned).await.unwrap();
                w.flush().await.unwrap();
            });
            writer += t.elapsed();
        }
        let mut raw = Duration::ZERO;
        for _ in 0..per_round {
            let t = Instant::now();
            rt.block_on(xadd_each(&mut conn, "stream:raw", &raw_bursts));
            raw += t.elapsed();
        }
        rt.block_on(async {
            let _: () = redis::cmd("DEL")
                .arg("stream:raw")
                .arg("stream:ratio")
                .query_async(&mut conn)
                .await
                .unwrap();
        });
        if round > 0 {
            ratios.push(raw.as_secs_f64() / writer.as_secs_f64());
            tw += writer;
            tr += raw;
        }
    }
    rt.block_on(async { w.close().await.unwrap() });
    ratios.sort_by(f64::total_cmp);
    let n = (rounds * per_round) as f64;
    println!(
        "writer / raw_xadd_uncompressed byte rate, {rounds} alternating rounds of {per_round} iterations: \
         {:.2} ms vs {:.2} ms per iteration, ratio median {:.2} (min {:.2}, max {:.2})",
        tw.as_secs_f64() * 1e3 / n,
        tr.as_secs_f64() * 1e3 / n,
        ratios[ratios.len() / 2],
        ratios[0],
        ratios[ratios.len() - 1]
    );
}

/// Write -> WebSocket latency with 10 Hz bursts.
fn latency_report(redis: &RedisServer, rt: &tokio::runtime::Runtime, bursts: usize) {
    rt.block_on(async {
        let src = RedisLiveSource::connect(
            &redis.url(),
            None,
            RedisSourceOptions::default(),
            Arc::new(Metrics::default()),
        )
        .await
        .unwrap();
        let addr = common::serve(router(StreamService::new(src, ServiceOptions::default()))).await;
        let buffer = StreamBuffer::connect(&redis.url(), None, WriterOptions::default())
            .await
            .unwrap();
        let w = buffer.init_session("lat", "lat").await.unwrap();
        w.write_session_json("{\"identity\":\"lat\",\"state\":\"open\"}")
            .await
            .unwrap();
        w.flush().await.unwrap();
        let mut ws = common::connect(addr, "lat").await;
        common::next_burst(&mut ws, Duration::from_secs(5)).await;
        common::subscribe(&mut ws, false, false, &[9]).await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        let base = Instant::now();
        let reader = tokio::spawn(async move {
            let mut lat = Vec::new();
            while lat.len() < bursts {
                let Some(Ok(Message::Binary(b))) = ws.next().await else {
                    break;
                };
                let now = base.elapsed().as_secs_f64() * 1e6;
                let burst = rta_stream::burst::decode_frame(&b, 1 << 20).unwrap();
                for it in burst.data {
                    if let Some(stream_data::Data::TimestampedData(d)) = it.data {
                        for v in rta_core::data::read_samples::<f64>(&d.buffer).unwrap() {
                            lat.push(now - v);
                        }
                    }
                }
            }
            lat
        });
        let start = tokio::time::Instant::now();
        for step in 0..bursts as i64 {
            tokio::time::sleep_until(start + Duration::from_millis(100 * step as u64)).await;
            // A realistic burst: the demo's 100 ms of data plus one marker sample.
            rta_stream::demo::write_step(&w, 0, step).await.unwrap();
            let sent = base.elapsed().as_secs_f64() * 1e6;
            w.write_timestamped(timestamped(9, &[step], &[sent]).unwrap())
                .await
                .unwrap();
            w.end_burst().await.unwrap();
        }
        let mut lat = reader.await.unwrap();
        w.close().await.unwrap();
        lat.sort_by(f64::total_cmp);
        let pct = |p: f64| lat[((lat.len() as f64 * p) as usize).min(lat.len() - 1)] / 1000.0;
        println!(
            "latency write->WebSocket, {} bursts at 10 Hz: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
            lat.len(),
            pct(0.5),
            pct(0.99),
            lat.last().copied().unwrap_or(0.0) / 1000.0
        );
    });
}

fn main() {
    let redis = RedisServer::start();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let mut c = Criterion::default().configure_from_args();
    // `--test` (cargo test --benches) runs everything once, briefly.
    let quick = std::env::args().any(|a| a == "--test");
    latency_report(&redis, &rt, if quick { 10 } else { 100 });
    if quick {
        ratio_report(&redis, &rt, 2, 2);
    } else {
        ratio_report(&redis, &rt, 20, 50);
    }
    writer_benches(&mut c, &redis, &rt);
    c.final_summary();
}
