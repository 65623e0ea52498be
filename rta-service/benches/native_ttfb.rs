//! Two measurements of the native store behind the real services:
//!
//! 1. Time to first byte of REST reads of a closed session of 100 channels
//!    x 1 hour x 100 Hz (36 M samples), p50/p99 per kind of request.
//! 2. Resident memory during a sustained ingest through `WriteDataStream`
//!    at 1 M samples/s with a flush every second (60 s by default), and
//!    the stored bytes per sample before and after a compaction.
//!
//! `cargo bench -p rta-adapters --bench native_ttfb` — set
//! `RTA_INGEST_SECS=600` for the 10-minute run, `RTA_INGEST_SECS=0` to skip it.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

mod native_common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use rta_adapters::native::{NativeConfig, NativeStore};
use rta_core::proto::data_service::data_writer_client::DataWriterClient;
use rta_core::proto::data_service::{write_data_stream_message::Type as W, WriteDataStreamMessage};
use rta_service::data;
use tokio_stream::wrappers::ReceiverStream;

const T0: i64 = 1_700_000_000_000_000_000;
const WINDOW: u32 = 8 * 1024 * 1024;

fn pct(v: &mut [Duration], p: f64) -> Duration {
    v.sort();
    v[((v.len() - 1) as f64 * p).round() as usize]
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|x| x.parse().ok()))
        })
        .unwrap_or(0)
}

async fn ttfb(client: &reqwest::Client, url: &str) -> (Duration, usize) {
    let t = Instant::now();
    let mut s = client.get(url).send().await.unwrap().bytes_stream();
    let first = s.next().await.map(|b| b.unwrap().len()).unwrap_or(0);
    let d = t.elapsed();
    let mut n = first;
    while let Some(b) = s.next().await {
        n += b.unwrap().len();
    }
    (d, n)
}

async fn ttfb_run(store: NativeStore) {
    // 100 channels x 1 h x 100 Hz, written a minute at a time as a live writer would.
    let started = Instant::now();
    for minute in 0..60i64 {
        let t0 = T0 + minute * 60_000_000_000;
        let mut items = Vec::new();
        for ch in 0..100u32 {
            items.extend(native_common::channel(ch, t0, 10_000_000, 6000).0);
        }
        let s = store.clone();
        tokio::task::spawn_blocking(move || s.write_blocking("hour", items))
            .await
            .unwrap()
            .unwrap();
    }
    let s = store.clone();
    tokio::task::spawn_blocking(move || s.seal_blocking("hour"))
        .await
        .unwrap()
        .unwrap();
    let stats = store.identity_stats("hour").unwrap();
    println!(
        "wrote {} samples in {:.1} s: {} chunks, {:.3} payload bytes/sample, {:.3} stored bytes/sample",
        stats.samples,
        started.elapsed().as_secs_f64(),
        stats.chunks,
        stats.bytes_per_sample(),
        stats.stored_bytes_per_sample()
    );

    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let app = data::data_router_with(Arc::new(store.clone()), None);
    tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
    let client = reqwest::Client::new();
    let base = format!("http://{addr}/rta/v2/sessions/hour/data");
    let rng = std::cell::Cell::new(0x2545F4914F6CDD1Du64);
    let next = || {
        let mut x = rng.get();
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        rng.set(x);
        x
    };
    type UrlFn<'a> = Box<dyn FnMut() -> String + 'a>;
    let cases: Vec<(&str, usize, UrlFn<'_>)> = vec![
        (
            "one channel, whole hour",
            200,
            Box::new(|| format!("{base}/timestamped/{:X}", (next() % 50) * 2)),
        ),
        (
            "10 channels, random 1-minute window",
            200,
            Box::new(|| {
                let c = (next() % 45) * 2;
                let s = T0 + (next() % 3540) as i64 * 1_000_000_000;
                format!(
                    "{base}/timestamped/{c:X}-{:X}?start={s}&end={}",
                    c + 18,
                    s + 60_000_000_000
                )
            }),
        ),
        (
            "all 100 channels, whole hour (both kinds)",
            10,
            Box::new(|| {
                format!(
                    "{base}/{}/-",
                    if next() % 2 == 0 {
                        "timestamped"
                    } else {
                        "periodic"
                    }
                )
            }),
        ),
    ];
    for (name, n, mut url) in cases {
        let mut times = Vec::with_capacity(n);
        let mut bytes = 0usize;
        let t = Instant::now();
        for _ in 0..n {
            let (d, b) = ttfb(&client, &url()).await;
            times.push(d);
            bytes += b;
        }
        let total = t.elapsed();
        println!(
            "TTFB {name}: p50 {:.2} ms, p99 {:.2} ms ({n} requests, {:.1} MB/s overall)",
            pct(&mut times, 0.5).as_secs_f64() * 1e3,
            pct(&mut times, 0.99).as_secs_f64() * 1e3,
            bytes as f64 / total.as_secs_f64() / 1e6
        );
    }
}

async fn ingest_run(store: NativeStore, secs: u64) {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let s = Arc::new(store.clone());
    tokio::spawn(async move {
        tonic::transport::Server::builder()
            .initial_stream_window_size(Some(WINDOW))
            .initial_connection_window_size(Some(WINDOW))
            .add_service(data::data_writer_server(s, None))
            .serve_with_incoming(
                tonic::transport::server::TcpIncoming::from(l).with_nodelay(Some(true)),
            )
            .await
            .unwrap()
    });
    let ch = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .initial_stream_window_size(Some(WINDOW))
        .initial_connection_window_size(Some(WINDOW))
        .connect()
        .await
        .unwrap();
    let mut client = DataWriterClient::new(ch);
    let (tx, rx) = tokio::sync::mpsc::channel(1024);
    let mut acks = client
        .write_data_stream(ReceiverStream::new(rx))
        .await
        .unwrap()
        .into_inner();
    tx.send(WriteDataStreamMessage {
        r#type: Some(W::DataIdentity("ingest".into())),
    })
    .await
    .unwrap();
    // 100 channels x 10 kHz = 1 M samples/s, one second of data per tick.
    let start = Instant::now();
    let mut rss = Vec::new();
    let mut late = 0u32;
    for sec in 0..secs {
        let t0 = T0 + sec as i64 * 1_000_000_000;
        let mut msgs = Vec::new();
        for ch in 0..100u32 {
            msgs.extend(
                native_common::channel(ch, t0, 100_000, 10_000)
                    .0
                    .into_iter()
                    .map(WriteDataStreamMessage::from),
            );
        }
        for m in msgs {
            tx.send(m).await.unwrap();
        }
        tx.send(WriteDataStreamMessage {
            r#type: Some(W::FlushMarker(sec.to_string())),
        })
        .await
        .unwrap();
        acks.next().await.unwrap().unwrap();
        let due = start + Duration::from_secs(sec + 1);
        let now = Instant::now();
        if now < due {
            tokio::time::sleep(due - now).await;
        } else {
            late += 1;
        }
        if sec % 5 == 4 {
            rss.push((sec + 1, rss_kib()));
        }
    }
    drop(tx);
    while acks.next().await.is_some() {}
    let elapsed = start.elapsed().as_secs_f64();
    let warm: Vec<u64> = rss
        .iter()
        .filter(|(s, _)| *s >= 20.min(secs))
        .map(|x| x.1)
        .collect();
    println!(
        "ingest: {} M samples in {elapsed:.1} s ({:.2} M samples/s), {late} seconds behind schedule",
        secs,
        secs as f64 / elapsed
    );
    println!(
        "RSS (MiB) every 5 s: {}",
        rss.iter()
            .map(|(s, k)| format!("{s}s:{:.0}", *k as f64 / 1024.0))
            .collect::<Vec<_>>()
            .join(" ")
    );
    if let (Some(lo), Some(hi)) = (warm.iter().min(), warm.iter().max()) {
        println!(
            "RSS after warm-up: min {:.0} MiB, max {:.0} MiB",
            *lo as f64 / 1024.0,
            *hi as f64 / 1024.0
        );
    }
    let stats = store.identity_stats("ingest").unwrap();
    println!(
        "ingest store: {:.3} payload bytes/sample, {:.3} stored bytes/sample",
        stats.bytes_per_sample(),
        stats.stored_bytes_per_sample()
    );
    let t = Instant::now();
    let s = store.clone();
    let report = tokio::task::spawn_blocking(move || s.compact_blocking("ingest"))
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let stats = store.identity_stats("ingest").unwrap();
    println!(
        "ingest store compacted in {:.2} s ({} chunks, {} -> {} bytes): {:.3} payload bytes/sample, {:.3} stored bytes/sample",
        t.elapsed().as_secs_f64(),
        report.chunks,
        report.stored_before,
        report.stored_after,
        stats.bytes_per_sample(),
        stats.stored_bytes_per_sample()
    );
}

fn main() {
    // `cargo bench` passes `--bench`; nothing else is understood.
    let secs: u64 = std::env::var("RTA_INGEST_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(60);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        // Compaction only when asked, so that the ingest figures show the
        // store with and without it.
        let config = NativeConfig::new(dir.path()).with_compaction(1.0, 0);
        let store = NativeStore::open(config).unwrap();
        ttfb_run(store.clone()).await;
        if secs > 0 {
            ingest_run(store, secs).await;
        }
    });
}
