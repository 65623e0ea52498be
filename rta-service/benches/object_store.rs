//! The native store on an S3-compatible object store (`moto_server` on
//! loopback) against the same store on files, in one run:
//!
//! - REST fast-path read of a sealed session (the `native_read` bench's
//!   session: 64 channels of 32,768 samples), from files and from the
//!   object store with a warm segment cache; the cold read (a new instance:
//!   index and every segment fetched from the bucket) is timed separately
//!   and printed;
//! - `WriteDataStream` over loopback gRPC, 16 s of 32 channels then a flush
//!   marker per call (the `native_write` bench's `grpc_write_stream_flush`),
//!   to files and to the object store.
//!
//! After the criterion group, a paired run alternates blocks of the file
//! and object-store variants and prints the median of the block ratios.
//!
//! `cargo bench -p rta-service --bench object_store` (needs `moto_server`:
//! `python3 -m pip install 'moto[server]'`)
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

#[path = "../../rta-adapters/tests/moto/mod.rs"]
mod moto;
mod native_common;

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{BatchSize, Criterion, Throughput};
use futures::StreamExt;
use rta_adapters::native::{NativeConfig, NativeStore};
use rta_adapters::s3::{Bucket, S3Backend, S3BackendConfig};
use rta_core::proto::data_service::data_writer_client::DataWriterClient;
use rta_core::proto::data_service::{write_data_stream_message::Type as W, WriteDataStreamMessage};
use rta_core::write::WriteItem;
use rta_service::{data, serve};
use tonic::transport::Channel;

const T0: i64 = 1_700_000_000_000_000_000;
const READ_CHANNELS: u32 = 64;
const READ_SAMPLES: usize = 32_768;
const WRITE_CHANNELS: u32 = 32;
const WRITE_SAMPLES: usize = 16_384;
const INTERVAL: i64 = 1_000_000;
const SPAN: i64 = WRITE_SAMPLES as i64 * INTERVAL;

fn s3_store(bucket: &Bucket) -> NativeStore {
    let backend = S3Backend::new(bucket.clone(), S3BackendConfig::default());
    NativeStore::with_backend(Arc::new(backend), NativeConfig::new("unused"))
}

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

fn call(identity: &str, items: Vec<WriteItem>) -> Vec<WriteDataStreamMessage> {
    let mut msgs = vec![WriteDataStreamMessage {
        r#type: Some(W::DataIdentity(identity.into())),
    }];
    msgs.extend(items.into_iter().map(WriteDataStreamMessage::from));
    msgs.push(WriteDataStreamMessage {
        r#type: Some(W::FlushMarker("end".into())),
    });
    msgs
}

async fn send(mut client: DataWriterClient<Channel>, msgs: Vec<WriteDataStreamMessage>) {
    let resp = client
        .write_data_stream(futures::stream::iter(msgs))
        .await
        .unwrap();
    let acks: Vec<_> = resp.into_inner().collect().await;
    assert_eq!(acks.len(), 1);
    assert!(acks.iter().all(Result::is_ok), "{acks:?}");
}

/// Serves `store` (data route and `DataWriter`) as the binaries do;
/// returns the server, its HTTP root and its gRPC client.
async fn spawn(store: NativeStore) -> (serve::RunningServer, String, DataWriterClient<Channel>) {
    let routes = tonic::service::Routes::default()
        .add_service(data::data_writer_server(Arc::new(store.clone()), None));
    let http = data::data_router_with(Arc::new(store), None);
    let any = "127.0.0.1:0".parse().unwrap();
    let srv = serve::spawn(any, http, Some((any, routes))).await.unwrap();
    let root = format!("http://{}", srv.http_addr);
    let ch = tonic::transport::Endpoint::from_shared(srv.grpc_uri().unwrap())
        .unwrap()
        .connect()
        .await
        .unwrap();
    (srv, root, DataWriterClient::new(ch))
}

async fn fetch(client: &reqwest::Client, url: &str) -> usize {
    let r = client.get(url).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let mut s = r.bytes_stream();
    let mut n = 0;
    while let Some(b) = s.next().await {
        n += b.unwrap().len();
    }
    n
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn bench(c: &mut Criterion) {
    let moto = moto::Moto::start();
    moto.create_bucket("bench");
    let settings = moto.settings();
    let s: Vec<(&str, &str)> = settings.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let bucket = Bucket::from_env_with("bench", &s).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let files = NativeStore::open(NativeConfig::new(dir.path())).unwrap();
    let s3 = s3_store(&bucket);

    // The sealed session, written the same way to both.
    for st in [&files, &s3] {
        for ch in 0..READ_CHANNELS {
            let (items, _) = native_common::channel(ch, T0, INTERVAL, READ_SAMPLES);
            st.write_blocking("sealed", items).unwrap();
        }
        st.seal_blocking("sealed").unwrap();
    }

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let client = reqwest::Client::new();
    let (_fs, files_root, files_writer) = rt.block_on(spawn(files.clone()));
    let (_ss, s3_root, s3_writer) = rt.block_on(spawn(s3.clone()));
    let path = "/rta/v2/sessions/sealed/data/timestamped/-";
    let (files_url, s3_url) = (format!("{files_root}{path}"), format!("{s3_root}{path}"));
    let size = rt.block_on(fetch(&client, &files_url));
    assert_eq!(rt.block_on(fetch(&client, &s3_url)), size, "same body");

    // Cold reads: a new instance each time (index and segments from the bucket).
    let mut cold = Vec::new();
    for _ in 0..5 {
        let fresh = s3_store(&bucket);
        let (srv, root, _) = rt.block_on(spawn(fresh));
        let t = Instant::now();
        assert_eq!(rt.block_on(fetch(&client, &format!("{root}{path}"))), size);
        cold.push(t.elapsed().as_secs_f64());
        drop(srv);
    }

    let mut g = c.benchmark_group("object_store_read");
    g.throughput(Throughput::Bytes(size as u64));
    g.sample_size(20);
    g.measurement_time(Duration::from_secs(6));
    g.warm_up_time(Duration::from_secs(1));
    g.bench_function("rest_sealed_files", |b| {
        b.iter(|| rt.block_on(fetch(&client, &files_url)))
    });
    g.bench_function("rest_sealed_object_store_warm", |b| {
        b.iter(|| rt.block_on(fetch(&client, &s3_url)))
    });
    g.finish();

    let (items, _) = native_common::session(WRITE_CHANNELS, T0, INTERVAL, WRITE_SAMPLES);
    let total = u64::from(WRITE_CHANNELS) * WRITE_SAMPLES as u64;
    let next = AtomicI64::new(0);
    let step = || next.fetch_add(1, Ordering::Relaxed);
    let mut g = c.benchmark_group("object_store_write");
    g.throughput(Throughput::Elements(total));
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(8));
    g.warm_up_time(Duration::from_secs(1));
    g.bench_function("grpc_write_stream_flush_files", |b| {
        b.iter_batched(
            || call("w", shifted(&items, step())),
            |msgs| rt.block_on(send(files_writer.clone(), msgs)),
            BatchSize::LargeInput,
        )
    });
    g.bench_function("grpc_write_stream_flush_object_store", |b| {
        b.iter_batched(
            || call("w", shifted(&items, step())),
            |msgs| rt.block_on(send(s3_writer.clone(), msgs)),
            BatchSize::LargeInput,
        )
    });
    g.finish();

    // Paired blocks: ratio of throughputs (object store / files).
    let mut read_ratios = Vec::new();
    let mut write_ratios = Vec::new();
    let time = |f: &dyn Fn()| {
        let t = Instant::now();
        f();
        t.elapsed().as_secs_f64()
    };
    for round in 0..8 {
        let rf = || {
            for _ in 0..5 {
                rt.block_on(fetch(&client, &files_url));
            }
        };
        let rs = || {
            for _ in 0..5 {
                rt.block_on(fetch(&client, &s3_url));
            }
        };
        let wf = || {
            for _ in 0..2 {
                rt.block_on(send(
                    files_writer.clone(),
                    call("w", shifted(&items, step())),
                ));
            }
        };
        let ws = || {
            for _ in 0..2 {
                rt.block_on(send(s3_writer.clone(), call("w", shifted(&items, step()))));
            }
        };
        let (tf, ts, uf, us) = if round % 2 == 0 {
            (time(&rf), time(&rs), time(&wf), time(&ws))
        } else {
            let ts = time(&rs);
            let us = time(&ws);
            (time(&rf), ts, time(&wf), us)
        };
        read_ratios.push(tf / ts);
        write_ratios.push(uf / us);
    }
    let mb = size as f64 / 1e6;
    let cold_s = median(cold);
    println!(
        "object store: sealed session {} samples, body {size} bytes; cold read {:.1} ms ({:.0} MB/s); \
         warm read / files (paired median): {:.2}x; WriteDataStream+flush object store / files (paired median): {:.2}x",
        u64::from(READ_CHANNELS) * READ_SAMPLES as u64,
        cold_s * 1e3,
        mb / cold_s,
        median(read_ratios),
        median(write_ratios),
    );
}

criterion::criterion_group!(benches, bench);
criterion::criterion_main!(benches);
