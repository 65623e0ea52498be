//! Write throughput of the native store against raw LZ4 compression of the
//! same samples: through the store API, and through `WriteDataStream` over
//! loopback gRPC, with the server set up as the binaries set it up
//! (`rta_service::serve`).
//!
//! Every iteration writes the next 16 s of one long session (so the figures
//! are for sustained writing, not for creating sessions); `grpc_write_sustained`
//! streams eight such spans in one call, a flush marker after each, without
//! waiting for the acknowledgements in between. The gRPC rows run
//! client and server in this process; after the criterion group the bench
//! also runs the server in a child process (this executable, started again)
//! and reports the server's own CPU time per sample, the figure that says
//! what one server core sustains when its clients run elsewhere. It then
//! does the same with a server that stores its chunks uncompressed
//! (compression 0, which the chunk format allows): the cost of everything
//! but LZ4, the floor under the first figure.
//!
//! `cargo bench -p rta-adapters --bench native_write`
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

mod native_common;

use std::hint::black_box;
use std::io::{BufRead, BufReader, Read};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{BatchSize, Criterion, Throughput};
use futures::StreamExt;
use rta_adapters::native::{NativeConfig, NativeStore};
use rta_core::chunk::Compression;
use rta_core::encoded::EncodedSeries;
use rta_core::proto::data_service::data_writer_client::DataWriterClient;
use rta_core::proto::data_service::{write_data_stream_message::Type as W, WriteDataStreamMessage};
use rta_core::write::WriteItem;
use rta_service::data;
use rta_service::serve;
use tonic::transport::Channel;

const CHANNELS: u32 = 32;
const SAMPLES: usize = 16_384;
const INTERVAL: i64 = 1_000_000;
const T0: i64 = 1_700_000_000_000_000_000;
/// Time covered by one iteration's items.
const SPAN: i64 = SAMPLES as i64 * INTERVAL;
/// Set in the child process that serves `WriteDataStream` for the
/// cross-process figure.
const SERVER_ENV: &str = "RTA_NATIVE_WRITE_BENCH_SERVER";
/// Calls timed for the cross-process figure.
const CROSS_CALLS: usize = 10;
/// Spans (each followed by a flush marker) in one sustained call.
const SEGMENTS: i64 = 8;

/// A sink that drops everything: the cost of the gRPC transport alone.
struct NullSink;

#[async_trait::async_trait]
impl rta_core::write::DataSink for NullSink {
    async fn write(&self, _: &str, items: Vec<WriteItem>) -> rta_core::Result<()> {
        black_box(items);
        Ok(())
    }
    async fn flush(&self, _: &str) -> rta_core::Result<()> {
        Ok(())
    }
    fn accepts_encoded(&self) -> bool {
        true
    }
}

/// The items moved `k` spans later.
fn shifted(items: &[WriteItem], k: i64) -> Vec<WriteItem> {
    let by = k * SPAN;
    items
        .iter()
        .map(|it| match it {
            WriteItem::Timestamped(d) => {
                let mut d = d.clone();
                d.start_timestamp += by;
                WriteItem::Timestamped(d)
            }
            WriteItem::Periodic(d) => {
                let mut d = d.clone();
                d.start_timestamp += by;
                WriteItem::Periodic(d)
            }
            other => other.clone(),
        })
        .collect()
}

/// The items as the `DataWriter` service hands them to the store.
fn encoded(items: Vec<WriteItem>) -> Vec<WriteItem> {
    items
        .into_iter()
        .map(|it| match it {
            WriteItem::Timestamped(d) => WriteItem::Encoded(EncodedSeries::from_item(&d).unwrap()),
            WriteItem::Periodic(d) => WriteItem::Encoded(EncodedSeries::from_item(&d).unwrap()),
            other => other,
        })
        .collect()
}

/// One `WriteDataStream` call: identity, the items, a flush marker.
fn call(identity: &str, items: Vec<WriteItem>) -> Vec<WriteDataStreamMessage> {
    let mut msgs = Vec::with_capacity(items.len() + 2);
    msgs.push(WriteDataStreamMessage {
        r#type: Some(W::DataIdentity(identity.into())),
    });
    msgs.extend(items.into_iter().map(WriteDataStreamMessage::from));
    msgs.push(WriteDataStreamMessage {
        r#type: Some(W::FlushMarker("end".into())),
    });
    msgs
}

/// One call of `segments` spans, each followed by a flush marker: a
/// writer streaming without waiting for its acknowledgements, as a live
/// logger does.
fn sustained_call(
    identity: &str,
    items: &[WriteItem],
    first: i64,
    segments: i64,
) -> Vec<WriteDataStreamMessage> {
    let mut msgs = vec![WriteDataStreamMessage {
        r#type: Some(W::DataIdentity(identity.into())),
    }];
    for k in first..first + segments {
        msgs.extend(
            shifted(items, k)
                .into_iter()
                .map(WriteDataStreamMessage::from),
        );
        msgs.push(WriteDataStreamMessage {
            r#type: Some(W::FlushMarker(k.to_string())),
        });
    }
    msgs
}

/// Sends one call and waits for every flush marker's acknowledgement.
async fn send(mut client: DataWriterClient<Channel>, msgs: Vec<WriteDataStreamMessage>) {
    let markers = msgs
        .iter()
        .filter(|m| matches!(m.r#type, Some(W::FlushMarker(_))))
        .count();
    let resp = client
        .write_data_stream(futures::stream::iter(msgs))
        .await
        .unwrap();
    let acks: Vec<_> = resp.into_inner().collect().await;
    assert_eq!(acks.len(), markers);
    assert!(acks.iter().all(Result::is_ok));
}

async fn connect(uri: String) -> DataWriterClient<Channel> {
    let ch = tonic::transport::Endpoint::from_shared(uri)
        .unwrap()
        .connect()
        .await
        .unwrap();
    DataWriterClient::new(ch)
}

/// Serves `sink` the way the binaries do; returns the gRPC URI.
async fn spawn_server(sink: Arc<dyn rta_core::write::DataSink>) -> (serve::RunningServer, String) {
    let routes =
        tonic::service::Routes::default().add_service(data::data_writer_server(sink, None));
    let any = "127.0.0.1:0".parse().unwrap();
    let srv = serve::spawn(any, axum::Router::new(), Some((any, routes)))
        .await
        .unwrap();
    let uri = srv.grpc_uri().unwrap();
    (srv, uri)
}

/// CPU time (ns) used so far by every thread of process `pid`.
fn process_cpu_ns(pid: u32) -> u64 {
    let mut total = 0;
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).unwrap() {
        let path = task.unwrap().path().join("schedstat");
        if let Ok(s) = std::fs::read_to_string(path) {
            total += s
                .split_whitespace()
                .next()
                .and_then(|x| x.parse::<u64>().ok())
                .unwrap_or(0);
        }
    }
    total
}

/// CPU time (ns) used so far by the calling thread.
fn thread_cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

fn lz4_raw(raw: &[Vec<u8>]) -> usize {
    let mut out = 0;
    for ch in raw {
        for block in ch.chunks(64 * 1024) {
            out += rta_core::lz4::compress_block(black_box(block)).len();
        }
    }
    out
}

/// The child process: a `DataWriter` over a native store in a temporary
/// directory, storing chunks with `compression`; prints its URI, serves
/// until its standard input closes.
fn run_server(compression: Compression) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let mut config = NativeConfig::new(dir.path());
        config.compression = compression;
        let store = NativeStore::open(config).unwrap();
        let (srv, uri) = spawn_server(Arc::new(store)).await;
        println!("{uri}");
        tokio::task::spawn_blocking(|| {
            let mut rest = Vec::new();
            let _ = std::io::stdin().read_to_end(&mut rest);
        })
        .await
        .unwrap();
        srv.stop().await.unwrap();
    });
}

fn bench(c: &mut Criterion) {
    let (items, raw) = native_common::session(CHANNELS, T0, INTERVAL, SAMPLES);
    // The same samples in items of 1024 samples (fewer, larger messages).
    let (items_1024, _) = native_common::session_in(CHANNELS, T0, INTERVAL, SAMPLES, 1024);
    let total = (CHANNELS as usize * SAMPLES) as u64;
    let dir = tempfile::tempdir().unwrap();
    let store = NativeStore::open(NativeConfig::new(dir.path())).unwrap();
    // The next span of each session.
    let next = AtomicI64::new(0);
    let step = || next.fetch_add(1, Ordering::Relaxed);

    let mut g = c.benchmark_group("native_write");
    g.throughput(Throughput::Elements(total));
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(8));
    g.warm_up_time(Duration::from_secs(1));

    // Baseline: LZ4 of the raw sample bytes, in 64 KiB blocks.
    g.bench_function("lz4_raw_samples", |b| b.iter(|| lz4_raw(&raw)));

    g.bench_function("store_write_no_sync", |b| {
        b.iter_batched(
            || shifted(&items, step()),
            |items| store.write_blocking("typed", items).unwrap(),
            BatchSize::LargeInput,
        )
    });
    g.bench_function("store_write_encoded_no_sync", |b| {
        b.iter_batched(
            || encoded(shifted(&items, step())),
            |items| store.write_blocking("encoded", items).unwrap(),
            BatchSize::LargeInput,
        )
    });
    g.bench_function("store_write_encoded_flush", |b| {
        b.iter_batched(
            || encoded(shifted(&items, step())),
            |items| {
                store.write_blocking("flushed", items).unwrap();
                store.flush_blocking("flushed").unwrap();
            },
            BatchSize::LargeInput,
        )
    });

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (_null_srv, null_uri) = rt.block_on(spawn_server(Arc::new(NullSink)));
    let (_srv, uri) = rt.block_on(spawn_server(Arc::new(store.clone())));
    let null_client = rt.block_on(connect(null_uri));
    let client = rt.block_on(connect(uri));

    g.bench_function("grpc_transport_null_sink", |b| {
        b.iter_batched(
            || call("null", shifted(&items, step())),
            |msgs| rt.block_on(send(null_client.clone(), msgs)),
            BatchSize::LargeInput,
        )
    });
    g.bench_function("grpc_write_stream_flush", |b| {
        b.iter_batched(
            || call("grpc", shifted(&items, step())),
            |msgs| rt.block_on(send(client.clone(), msgs)),
            BatchSize::LargeInput,
        )
    });
    g.bench_function("grpc_write_stream_flush_1024", |b| {
        b.iter_batched(
            || call("grpc1024", shifted(&items_1024, step())),
            |msgs| rt.block_on(send(client.clone(), msgs)),
            BatchSize::LargeInput,
        )
    });
    g.throughput(Throughput::Elements(total * SEGMENTS as u64));
    g.bench_function("grpc_write_sustained", |b| {
        b.iter_batched(
            || sustained_call("sustained", &items, step() * SEGMENTS, SEGMENTS),
            |msgs| rt.block_on(send(client.clone(), msgs)),
            BatchSize::LargeInput,
        )
    });
    g.finish();

    let stats = store.stats().unwrap();
    println!(
        "native store: {} samples, {:.3} payload bytes/sample, {:.3} stored bytes/sample, {} chunks",
        stats.samples,
        stats.bytes_per_sample(),
        stats.stored_bytes_per_sample(),
        stats.chunks
    );

    // Only with no filter, or one that names it.
    let filter = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    if filter.is_none_or(|f| f.contains("cross")) {
        cross_process(&rt, &items, &raw, total, Compression::Lz4);
        // The floor: the same path storing chunks uncompressed (compression
        // 0, which the chunk format allows), as if LZ4 cost nothing.
        cross_process(&rt, &items, &raw, total, Compression::None);
    }
}

/// The server in a child process: its CPU time per call against the CPU
/// time of LZ4 on the same samples, and the wall rate seen by the client.
fn cross_process(
    rt: &tokio::runtime::Runtime,
    items: &[WriteItem],
    raw: &[Vec<u8>],
    total: u64,
    compression: Compression,
) {
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .env(SERVER_ENV, compression.code().to_string())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let client = rt.block_on(connect(line.trim().to_string()));
    // Warm up, then time the calls.
    rt.block_on(send(
        client.clone(),
        sustained_call("x", items, 0, SEGMENTS),
    ));
    let (mut wall, mut server_cpu, mut client_cpu) = (Duration::ZERO, 0u64, 0u64);
    for k in 1..=CROSS_CALLS as i64 {
        let msgs = sustained_call("x", items, k * SEGMENTS, SEGMENTS);
        let c0 = process_cpu_ns(child.id());
        let own0 = process_cpu_ns(std::process::id());
        let t0 = Instant::now();
        rt.block_on(send(client.clone(), msgs));
        wall += t0.elapsed();
        server_cpu += process_cpu_ns(child.id()) - c0;
        client_cpu += process_cpu_ns(std::process::id()) - own0;
    }
    drop(child.stdin.take());
    child.wait().unwrap();

    let calls = (CROSS_CALLS as i64 * SEGMENTS) as f64;
    let c0 = thread_cpu_ns();
    for _ in 0..CROSS_CALLS as i64 * SEGMENTS {
        black_box(lz4_raw(raw));
    }
    let lz4_cpu = thread_cpu_ns() - c0;

    let per_core = |ns: u64| total as f64 * calls / (ns as f64 / 1e9) / 1e6;
    let wall_rate = total as f64 * calls / wall.as_secs_f64() / 1e6;
    println!(
        "cross-process WriteDataStream, chunks stored with {compression:?} ({CROSS_CALLS} calls \
         of {SEGMENTS} x {total} samples, a flush marker after each {total}):\n  \
         client wall rate {wall_rate:.1} M samples/s ({:.2}x lz4_raw_samples per core)\n  \
         server CPU {:.2} ms per {total} samples = {:.1} M samples per server core-second\n  \
         client CPU {:.2} ms per {total} samples (encoding, sending)\n  \
         lz4_raw_samples CPU {:.2} ms per {total} samples = {:.1} M samples per core-second\n  \
         server CPU ratio {:.2}",
        wall_rate / per_core(lz4_cpu),
        server_cpu as f64 / calls / 1e6,
        per_core(server_cpu),
        client_cpu as f64 / calls / 1e6,
        lz4_cpu as f64 / calls / 1e6,
        per_core(lz4_cpu),
        lz4_cpu as f64 / server_cpu as f64,
    );
}

fn main() {
    if let Ok(code) = std::env::var(SERVER_ENV) {
        run_server(Compression::from_code(code.parse().unwrap()).unwrap());
        return;
    }
    let mut c = Criterion::default().configure_from_args();
    bench(&mut c);
    c.final_summary();
}
