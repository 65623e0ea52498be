//! Write throughput of the native store against raw LZ4 compression of the
//! same samples: through the store API, and through `WriteDataStream` over
//! loopback gRPC (client and server in this process).
//!
//! `cargo bench -p rta-adapters --bench native_write`
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

mod native_common;

use std::hint::black_box;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use futures::StreamExt;
use rta_adapters::data_api::{self, WriteItem};
use rta_adapters::native::{NativeConfig, NativeStore};
use rta_core::encoded::EncodedSeries;
use rta_core::proto::data_service::data_writer_client::DataWriterClient;
use rta_core::proto::data_service::{write_data_stream_message::Type as W, WriteDataStreamMessage};

const CHANNELS: u32 = 32;
const SAMPLES: usize = 16_384;
const T0: i64 = 1_700_000_000_000_000_000;
/// HTTP/2 flow-control window of both ends (the default 64 KiB throttles bulk writes).
const WINDOW: u32 = 8 * 1024 * 1024;

/// A sink that drops everything: the cost of the gRPC transport alone.
struct NullSink;

#[async_trait::async_trait]
impl data_api::DataSink for NullSink {
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

fn bench(c: &mut Criterion) {
    let samples: usize = std::env::var("RTA_WRITE_SAMPLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(SAMPLES);
    let (items, raw) = native_common::session(CHANNELS, T0, 1_000_000, samples);
    // The same samples in items of 1024 samples (fewer, larger messages).
    let (items_1024, _) = native_common::session_in(CHANNELS, T0, 1_000_000, samples, 1024);
    let total = (CHANNELS as usize * samples) as u64;
    let dir = tempfile::tempdir().unwrap();
    let store = NativeStore::open(NativeConfig::new(dir.path())).unwrap();
    let n = AtomicUsize::new(0);

    let mut g = c.benchmark_group("native_write");
    g.throughput(Throughput::Elements(total));
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(8));
    g.warm_up_time(Duration::from_secs(1));

    // Baseline: LZ4 of the raw sample bytes, in 64 KiB blocks.
    g.bench_function("lz4_raw_samples", |b| {
        b.iter(|| {
            let mut out = 0;
            for ch in &raw {
                for block in ch.chunks(64 * 1024) {
                    out += rta_core::lz4::compress_block(black_box(block)).len();
                }
            }
            out
        })
    });

    g.bench_function("store_write_no_sync", |b| {
        b.iter_batched(
            || items.clone(),
            |items| {
                let id = format!("n{}", n.fetch_add(1, Ordering::Relaxed));
                store.write_blocking(&id, items).unwrap();
            },
            BatchSize::LargeInput,
        )
    });

    // The same items as the gRPC service hands them to the store: still
    // encoded, as they arrived.
    let encoded: Vec<WriteItem> = items
        .iter()
        .map(|it| match it {
            WriteItem::Timestamped(d) => WriteItem::Encoded(EncodedSeries::from_item(d).unwrap()),
            WriteItem::Periodic(d) => WriteItem::Encoded(EncodedSeries::from_item(d).unwrap()),
            other => other.clone(),
        })
        .collect();
    g.bench_function("store_write_encoded_no_sync", |b| {
        b.iter_batched(
            || encoded.clone(),
            |items| {
                let id = format!("e{}", n.fetch_add(1, Ordering::Relaxed));
                store.write_blocking(&id, items).unwrap();
            },
            BatchSize::LargeInput,
        )
    });

    g.bench_function("store_write_seal", |b| {
        b.iter_batched(
            || items.clone(),
            |items| {
                let id = format!("w{}", n.fetch_add(1, Ordering::Relaxed));
                store.write_blocking(&id, items).unwrap();
                store.seal_blocking(&id).unwrap();
            },
            BatchSize::LargeInput,
        )
    });

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (grpc, null_grpc) = rt.block_on(async {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let store = Arc::new(store.clone());
        tokio::spawn(async move {
            tonic::transport::Server::builder()
                .initial_stream_window_size(Some(WINDOW))
                .initial_connection_window_size(Some(WINDOW))
                .add_service(data_api::data_writer_server(store, None))
                .serve_with_incoming(
                    tonic::transport::server::TcpIncoming::from(l).with_nodelay(Some(true)),
                )
                .await
                .unwrap()
        });
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let null_addr = l.local_addr().unwrap();
        tokio::spawn(async move {
            tonic::transport::Server::builder()
                .initial_stream_window_size(Some(WINDOW))
                .initial_connection_window_size(Some(WINDOW))
                .add_service(data_api::data_writer_server(Arc::new(NullSink), None))
                .serve_with_incoming(
                    tonic::transport::server::TcpIncoming::from(l).with_nodelay(Some(true)),
                )
                .await
                .unwrap()
        });
        (addr, null_addr)
    });
    let connect = |addr: std::net::SocketAddr| {
        rt.block_on(async {
            let ch = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
                .unwrap()
                .initial_stream_window_size(Some(WINDOW))
                .initial_connection_window_size(Some(WINDOW))
                .connect()
                .await
                .unwrap();
            DataWriterClient::new(ch)
        })
    };
    let null_client = connect(null_grpc);
    let client = rt.block_on(async {
        let ch = tonic::transport::Endpoint::from_shared(format!("http://{grpc}"))
            .unwrap()
            .initial_stream_window_size(Some(WINDOW))
            .initial_connection_window_size(Some(WINDOW))
            .connect()
            .await
            .unwrap();
        DataWriterClient::new(ch)
    });
    g.bench_function("grpc_transport_null_sink", |b| {
        b.iter_batched(
            || {
                let id = format!("g{}", n.fetch_add(1, Ordering::Relaxed));
                let mut msgs = vec![WriteDataStreamMessage {
                    r#type: Some(W::DataIdentity(id)),
                }];
                msgs.extend(items.iter().cloned().map(WriteDataStreamMessage::from));
                msgs.push(WriteDataStreamMessage {
                    r#type: Some(W::FlushMarker("end".into())),
                });
                msgs
            },
            |msgs| {
                let mut client = null_client.clone();
                rt.block_on(async move {
                    let resp = client
                        .write_data_stream(futures::stream::iter(msgs))
                        .await
                        .unwrap();
                    let acks: Vec<_> = resp.into_inner().collect().await;
                    assert_eq!(acks.len(), 1);
                })
            },
            BatchSize::LargeInput,
        )
    });
    g.bench_function("grpc_write_stream_flush", |b| {
        b.iter_batched(
            || {
                let id = format!("g{}", n.fetch_add(1, Ordering::Relaxed));
                let mut msgs = vec![WriteDataStreamMessage {
                    r#type: Some(W::DataIdentity(id)),
                }];
                msgs.extend(items.iter().cloned().map(WriteDataStreamMessage::from));
                msgs.push(WriteDataStreamMessage {
                    r#type: Some(W::FlushMarker("end".into())),
                });
                msgs
            },
            |msgs| {
                let mut client = client.clone();
                rt.block_on(async move {
                    let resp = client
                        .write_data_stream(futures::stream::iter(msgs))
                        .await
                        .unwrap();
                    let acks: Vec<_> = resp.into_inner().collect().await;
                    assert_eq!(acks.len(), 1);
                })
            },
            BatchSize::LargeInput,
        )
    });
    g.bench_function("grpc_write_stream_flush_1024", |b| {
        b.iter_batched(
            || {
                let id = format!("g{}", n.fetch_add(1, Ordering::Relaxed));
                let mut msgs = vec![WriteDataStreamMessage {
                    r#type: Some(W::DataIdentity(id)),
                }];
                msgs.extend(items_1024.iter().cloned().map(WriteDataStreamMessage::from));
                msgs.push(WriteDataStreamMessage {
                    r#type: Some(W::FlushMarker("end".into())),
                });
                msgs
            },
            |msgs| {
                let mut client = client.clone();
                rt.block_on(async move {
                    let resp = client
                        .write_data_stream(futures::stream::iter(msgs))
                        .await
                        .unwrap();
                    let acks: Vec<_> = resp.into_inner().collect().await;
                    assert_eq!(acks.len(), 1);
                })
            },
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
}

criterion_group!(benches, bench);
criterion_main!(benches);
