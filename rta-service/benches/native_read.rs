//! REST fast-path read of a closed session from the native store, against
//! the same HTTP stack (axum on loopback, reqwest client) serving an
//! in-memory body of the same size.
//!
//! The session is read twice over: `closed`, its data log as the writer
//! left it (one append per chunk), and `compacted`, the same chunks after
//! `compact_blocking` (the log rewritten in multi-MiB appends). Both give the
//! same body; reads of the second are cheaper because the page cache holds
//! the log in larger folios (the fast path's one copy, page cache to frame,
//! is the cost that separates it from the in-memory body).
//!
//! After the criterion group, a paired run alternates short blocks of
//! requests (fast path, then in-memory body, and the other way round) and
//! prints the median of the block-by-block ratios, which moves much less
//! with load from other processes than ratios of separate criterion runs.
//!
//! `cargo bench -p rta-adapters --bench native_read`
//! (`-- zzz` skips the criterion group and runs only the paired figures;
//! `RTA_BENCH_PAIRED=0` skips the paired figures, e.g. for profiling)
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use axum::routing::get;
use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use futures::StreamExt;
use rta_adapters::native::{NativeConfig, NativeStore};
use rta_core::data::timestamped;
use rta_core::write::WriteItem;
use rta_service::data;

const CHANNELS: u32 = 64;
const SAMPLES: usize = 32_768;
/// Frame size of the `in_memory_frames` body.
const FRAME: usize = 2 * 1024 * 1024;
const T0: i64 = 1_700_000_000_000_000_000;

async fn fetch(client: &reqwest::Client, url: &str) -> usize {
    let mut s = client.get(url).send().await.unwrap().bytes_stream();
    let mut n = 0;
    while let Some(b) = s.next().await {
        n += b.unwrap().len();
    }
    n
}

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let store = NativeStore::open(NativeConfig::new(dir.path())).unwrap();
    for id in ["closed", "compacted"] {
        for ch in 0..CHANNELS {
            let items: Vec<WriteItem> = (0..SAMPLES / 128)
                .map(|r| {
                    let t: Vec<i64> = (0..128)
                        .map(|i| T0 + ((r * 128 + i) as i64) * 1_000_000)
                        .collect();
                    let v: Vec<f64> = (0..128)
                        .map(|i| {
                            (((r * 128 + i) as f64 * 0.003 + f64::from(ch)).sin() * 1e4).round()
                                / 100.0
                        })
                        .collect();
                    timestamped(ch, &t, &v).unwrap().into()
                })
                .collect();
            store.write_blocking(id, items).unwrap();
        }
        store.seal_blocking(id).unwrap();
    }
    store.compact_blocking("compacted").unwrap();
    let samples = u64::from(CHANNELS) * SAMPLES as u64;

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let client = reqwest::Client::new();
    let (data_url, mem_url, size) = rt.block_on(async {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let data_url = format!("http://{addr}/rta/v2/sessions/closed/data/timestamped/-");
        // Build the in-memory body from the real response, so both are the same size.
        let body = {
            let app = data::data_router_with(Arc::new(store.clone()), None);
            let l2 = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let a2 = l2.local_addr().unwrap();
            let h = tokio::spawn(async move { axum::serve(l2, app).await.unwrap() });
            let r = client
                .get(format!(
                    "http://{a2}/rta/v2/sessions/closed/data/timestamped/-"
                ))
                .send()
                .await
                .unwrap();
            let b = r.bytes().await.unwrap();
            h.abort();
            b
        };
        let size = body.len();
        let mem: Bytes = body;
        let mem2 = mem.clone();
        let app = data::data_router_with(Arc::new(store.clone()), None)
            .nest("/generic", data::data_router(Arc::new(store.clone())))
            .route(
                "/mem",
                get(move || {
                    let b = mem.clone();
                    async move { b }
                }),
            )
            .route(
                "/mem_frames",
                get(move || {
                    let b = mem2.clone();
                    async move {
                        let frames: Vec<std::result::Result<Bytes, std::io::Error>> = (0..b.len())
                            .step_by(FRAME)
                            .map(|i| Ok(b.slice(i..(i + FRAME).min(b.len()))))
                            .collect();
                        let len = b.len().to_string();
                        (
                            [(axum::http::header::CONTENT_LENGTH, len)],
                            axum::body::Body::from_stream(futures::stream::iter(frames)),
                        )
                    }
                }),
            );
        tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
        (data_url, format!("http://{addr}/mem"), size)
    });
    println!("closed session: {samples} samples, response body {size} bytes ({:.2} bytes/sample on the wire)", size as f64 / samples as f64);

    let mut g = c.benchmark_group("native_read");
    g.throughput(Throughput::Bytes(size as u64));
    g.sample_size(20);
    g.measurement_time(Duration::from_secs(6));
    g.warm_up_time(Duration::from_secs(1));
    g.bench_function("rest_fast_path", |b| {
        b.iter(|| rt.block_on(async { assert_eq!(fetch(&client, &data_url).await, size) }))
    });
    let compacted_url = data_url.replace("/closed/", "/compacted/");
    g.bench_function("rest_fast_path_compacted_log", |b| {
        b.iter(|| rt.block_on(async { assert_eq!(fetch(&client, &compacted_url).await, size) }))
    });
    let req = rta_core::service::DataRequest::channels(
        rta_core::data::DataKind::Timestamped,
        "closed",
        rta_core::channels::ChannelExpr::all(),
    );
    g.bench_function("store_chunk_stream", |b| {
        b.iter(|| {
            rt.block_on(async {
                use rta_core::service::DataService;
                let mut s = store.read(req.clone()).await.unwrap();
                let mut n = 0;
                while let Some(c) = s.next().await {
                    n += c.unwrap().payload.len();
                }
                n
            })
        })
    });
    let generic_url = data_url.replace("/rta/v2", "/generic/rta/v2");
    g.bench_function("rest_generic_chunk_stream", |b| {
        b.iter(|| rt.block_on(async { assert_eq!(fetch(&client, &generic_url).await, size) }))
    });
    let frames_url = mem_url.replace("/mem", "/mem_frames");
    g.bench_function("in_memory_frames", |b| {
        b.iter(|| rt.block_on(async { assert_eq!(fetch(&client, &frames_url).await, size) }))
    });
    g.bench_function("in_memory_body", |b| {
        b.iter(|| rt.block_on(async { assert_eq!(fetch(&client, &mem_url).await, size) }))
    });
    g.finish();

    paired(
        &rt,
        &client,
        &mem_url,
        &[
            ("rest_fast_path", &data_url),
            ("rest_fast_path_compacted_log", &compacted_url),
            ("rest_generic_chunk_stream", &generic_url),
        ],
        size,
    );
}

/// CPU time (user + system) of this process so far, in clock ticks
/// (1/100 s on Linux); 0 where `/proc` is not available.
fn cpu_ticks() -> u64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit(')').next().unwrap_or("");
    after
        .split_whitespace()
        .skip(11)
        .take(2)
        .filter_map(|v| v.parse::<u64>().ok())
        .sum()
}

/// Paired figures: for each target, rounds of a block of requests to it and
/// a block to `base_url` (in alternating order); prints the median and
/// quartiles of the block-by-block byte-rate ratios, the mean times per
/// request and the ratio of CPU time (the whole process: server and client).
fn paired(
    rt: &tokio::runtime::Runtime,
    client: &reqwest::Client,
    base_url: &str,
    targets: &[(&str, &str)],
    size: usize,
) {
    const ROUNDS: usize = 24;
    const PER_BLOCK: usize = 16;
    let block = |url: &str| -> (f64, u64) {
        let cpu = cpu_ticks();
        let t = std::time::Instant::now();
        rt.block_on(async {
            for _ in 0..PER_BLOCK {
                assert_eq!(fetch(client, url).await, size);
            }
        });
        (t.elapsed().as_secs_f64(), cpu_ticks() - cpu)
    };
    if std::env::var("RTA_BENCH_PAIRED").is_ok_and(|v| v == "0") {
        return;
    }
    for (name, url) in targets {
        let mut ratios = Vec::new();
        let (mut wall_b, mut wall_t, mut cpu_b, mut cpu_t) = (0.0, 0.0, 0u64, 0u64);
        for r in 0..ROUNDS {
            let ((tb, cb), (tt, ct)) = if r % 2 == 0 {
                let b = block(base_url);
                (b, block(url))
            } else {
                let t = block(url);
                (block(base_url), t)
            };
            ratios.push(tb / tt);
            (wall_b, wall_t, cpu_b, cpu_t) = (wall_b + tb, wall_t + tt, cpu_b + cb, cpu_t + ct);
        }
        ratios.sort_by(f64::total_cmp);
        let n = (ROUNDS * PER_BLOCK) as f64;
        println!(
            "paired {name} / in_memory_body: byte-rate ratio median {:.2} (quartiles {:.2}-{:.2}, \
             {ROUNDS} rounds of {PER_BLOCK} requests); per request {:.2} ms against {:.2} ms, \
             CPU {:.2} ms against {:.2} ms (ratio {:.2})",
            ratios[ROUNDS / 2],
            ratios[ROUNDS / 4],
            ratios[3 * ROUNDS / 4],
            wall_t / n * 1e3,
            wall_b / n * 1e3,
            cpu_t as f64 * 10.0 / n,
            cpu_b as f64 * 10.0 / n,
            cpu_b as f64 / cpu_t.max(1) as f64,
        );
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
