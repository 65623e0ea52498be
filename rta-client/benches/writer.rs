//! The client's `DataWriter` against the raw `WriteDataStream` call it
//! wraps, on the same samples, into the same `rta-server` (native store, on
//! loopback, in this process), in one run: the ratio is what the client
//! adds (its queue, its copy of unacknowledged messages, its task).
//!
//! Each iteration writes the next 16 s of one session: 32 channels of 1 kHz
//! periodic f64 data in items of 1,024 samples (524,288 samples), then a
//! flush marker, and waits for the server to acknowledge it.
//! `cargo bench -p rta-client --bench writer`
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::sync::atomic::{AtomicI64, Ordering::SeqCst};
use std::sync::Arc;

use criterion::{Criterion, Throughput};
use futures::StreamExt;
use rta_client::RtaClient;
use rta_core::data::periodic;
use rta_core::proto::data::PeriodicData;
use rta_core::proto::data_service::data_writer_client::DataWriterClient;
use rta_core::proto::data_service::write_data_stream_message::Type as W;
use rta_core::proto::data_service::WriteDataStreamMessage;
use rta_service::server::RtaServer;

const CHANNELS: u32 = 32;
const ITEM: usize = 1_024;
const ITEMS_PER_CHANNEL: i64 = 16;
const SAMPLES: u64 = CHANNELS as u64 * ITEM as u64 * ITEMS_PER_CHANNEL as u64;
const INTERVAL: i64 = 1_000_000;
const T0: i64 = 1_700_000_000_000_000_000;

/// The items of span `k`, channels interleaved item by item.
fn span(k: i64) -> Vec<PeriodicData> {
    let values: Vec<f64> = (0..ITEM).map(|i| (i as f64 * 0.01).sin()).collect();
    let base = T0 + k * ITEMS_PER_CHANNEL * ITEM as i64 * INTERVAL;
    let mut out = Vec::new();
    for j in 0..ITEMS_PER_CHANNEL {
        for ch in 0..CHANNELS {
            let t = base + j * ITEM as i64 * INTERVAL;
            out.push(periodic(ch, t, INTERVAL, &values).unwrap());
        }
    }
    out
}

async fn raw_call(
    client: &mut DataWriterClient<tonic::transport::Channel>,
    items: Vec<PeriodicData>,
) {
    let mut msgs = vec![W::DataIdentity("raw".into())];
    msgs.extend(items.into_iter().map(W::PeriodicData));
    msgs.push(W::FlushMarker("f".into()));
    let msgs = msgs
        .into_iter()
        .map(|t| WriteDataStreamMessage { r#type: Some(t) });
    let mut replies = client
        .write_data_stream(futures::stream::iter(msgs))
        .await
        .unwrap()
        .into_inner();
    assert!(replies.next().await.unwrap().is_ok());
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (running, grpc) = rt.block_on(async {
        let server = RtaServer::open(dir.path()).unwrap();
        let loopback = "127.0.0.1:0".parse().unwrap();
        let running = server.spawn(loopback, loopback).await.unwrap();
        let grpc = running.grpc_uri().unwrap();
        (running, grpc)
    });
    let mut raw = rt
        .block_on(DataWriterClient::connect(grpc.clone()))
        .unwrap();
    let client = rt.block_on(RtaClient::builder(&grpc).connect()).unwrap();
    let writer = rt.block_on(client.writer("client")).unwrap();
    let (k_raw, k_client) = (AtomicI64::new(0), Arc::new(AtomicI64::new(0)));

    let mut g = c.benchmark_group("client_writer");
    g.throughput(Throughput::Elements(SAMPLES));
    g.sample_size(20);
    g.bench_function("raw_write_data_stream", |b| {
        b.iter_batched(
            || span(k_raw.fetch_add(1, SeqCst)),
            |items| rt.block_on(raw_call(&mut raw, items)),
            criterion::BatchSize::PerIteration,
        )
    });
    g.bench_function("client_data_writer", |b| {
        b.iter_batched(
            || span(k_client.fetch_add(1, SeqCst)),
            |items| {
                rt.block_on(async {
                    for d in items {
                        writer.periodic(d).await.unwrap();
                    }
                    writer.flush().await.unwrap();
                })
            },
            criterion::BatchSize::PerIteration,
        )
    });
    g.finish();
    rt.block_on(async {
        writer.close().await.unwrap();
        running.stop().await.unwrap();
    });
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    bench(&mut c);
    c.final_summary();
}
