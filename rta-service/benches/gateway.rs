//! Reads through the Gateway against the same reads straight from the data
//! service, and the gateway's time-offset read against the binding
//! transformer alone on the same chunks. Every server is real (axum on
//! loopback) and the client is reqwest, as ATLAS would be.
//!
//! - `direct`: `GET /rta/v2/data/run/periodic/-` from the data service.
//! - `gateway_passthrough`: the same data through the gateway for a session
//!   bound to it unchanged (chunks passed through undecoded).
//! - `gateway_time_offset`: the same through a binding with a 300 ms
//!   session time offset (every chunk rewritten).
//! - `transformer_time_offset`: the binding transformer alone rewriting the
//!   chunks the data service sends (no HTTP), the baseline.
//!
//! After the criterion group, a paired run alternates short blocks of each
//! read with its baseline and prints the median of the block ratios, which
//! moves much less with machine load than separate criterion figures.
//!
//! `cargo bench -p rta-service --bench gateway`
//! (`-- zzz` runs only the paired figures)
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use futures::StreamExt;
use rta_adapters::native::{NativeConfig, NativeStore};
use rta_adapters::stores::SqliteSessionStore;
use rta_bindings::model::DataBinding;
use rta_bindings::{Transform, Transformer};
use rta_core::chunk::{Chunk, ChunkDecoder};
use rta_core::data::{periodic, DataKind};
use rta_core::service::SessionStore;
use rta_core::session::SessionState;
use rta_core::session_request::SessionRequest;
use rta_core::write::WriteItem;
use rta_service::data::{DataBackend, DataMicroservice};
use rta_service::gateway::{Gateway, GatewayConfig};
use rta_service::{monitor, serve, sessions};

const CHANNELS: u32 = 32;
const SAMPLES: usize = 65_536;
const T0: i64 = 1_700_000_000_000_000_000;

async fn fetch(client: &reqwest::Client, url: &str) -> usize {
    let resp = client.get(url).send().await.unwrap();
    assert_eq!(resp.status(), 200, "{url}");
    let mut s = resp.bytes_stream();
    let mut n = 0;
    while let Some(b) = s.next().await {
        n += b.unwrap().len();
    }
    n
}

fn transform_all(t: &Transform, chunks: Vec<Chunk>) -> usize {
    let mut tr = Transformer::new(t.clone());
    let mut out = Vec::with_capacity(4);
    let mut bytes = 0;
    for c in chunks {
        tr.push(c, &mut out).unwrap();
        for o in out.drain(..) {
            bytes += o.payload.len();
            black_box(&o);
        }
    }
    bytes
}

struct Setup {
    direct: String,
    pass: String,
    offset: String,
    chunks: Vec<Chunk>,
    samples: u64,
}

async fn setup(dir: &std::path::Path, client: &reqwest::Client) -> Setup {
    let store = NativeStore::open(NativeConfig::new(dir.join("data"))).unwrap();
    for ch in 0..CHANNELS {
        let items: Vec<WriteItem> = (0..SAMPLES / 4096)
            .map(|r| {
                let v: Vec<f64> = (0..4096)
                    .map(|i| ((r * 4096 + i) as f64 * 0.001 + f64::from(ch)).sin())
                    .collect();
                let start = T0 + (r * 4096) as i64 * 1_000_000;
                WriteItem::Periodic(periodic(ch, start, 1_000_000, &v).unwrap())
            })
            .collect();
        store.write_blocking("run", items).unwrap();
    }
    store.seal_blocking("run").unwrap();
    let loopback = "127.0.0.1:0".parse().unwrap();
    let data = DataMicroservice::new(DataBackend::native(store))
        .spawn(loopback, loopback)
        .await
        .unwrap();
    let data_url = format!("http://{}", data.http_addr);

    let sessions_store = Arc::new(SqliteSessionStore::open(dir.join("s.sqlite")).unwrap());
    for (id, binding) in [
        ("pass", DataBinding::new("native", "run")),
        (
            "offset",
            DataBinding::new("native", "run").with_offset(300_000_000),
        ),
    ] {
        let req = SessionRequest::new(id, SessionState::Closed).data_binding(binding.to_proto());
        sessions_store.create_or_update(req.build()).await.unwrap();
    }
    let api = monitor::service_router(
        monitor::ServiceInfo::new("sessions"),
        sessions::session_service_router(sessions_store),
    );
    let s = serve::spawn(loopback, api, None).await.unwrap();
    let s_url = format!("http://{}", s.http_addr);
    let mut cfg = GatewayConfig::new(&s_url, &s_url);
    cfg.data_services.insert("native".into(), data_url.clone());
    let gw = serve::spawn(loopback, Gateway::new(cfg).unwrap().http_router(), None)
        .await
        .unwrap();
    let gw_url = format!("http://{}", gw.http_addr);
    // The servers run until the process ends.
    std::mem::forget((data, s, gw));

    let direct = format!("{data_url}/rta/v2/data/run/periodic/-");
    let body = client
        .get(&direct)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let chunks = ChunkDecoder::decode_all(body).unwrap();
    Setup {
        direct,
        pass: format!("{gw_url}/rta/v2/sessions/pass/data/periodic/-"),
        offset: format!("{gw_url}/rta/v2/sessions/offset/data/periodic/-"),
        chunks,
        samples: u64::from(CHANNELS) * SAMPLES as u64,
    }
}

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let client = reqwest::Client::new();
    let s = rt.block_on(setup(dir.path(), &client));
    let offset = Transform::new(DataKind::Periodic).with_offset(300_000_000);
    eprintln!(
        "dataset: {} samples in {} chunks",
        s.samples,
        s.chunks.len()
    );

    let mut g = c.benchmark_group("gateway");
    g.throughput(Throughput::Elements(s.samples));
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(5));
    g.warm_up_time(Duration::from_secs(1));
    for (id, url) in [
        ("direct", &s.direct),
        ("gateway_passthrough", &s.pass),
        ("gateway_time_offset", &s.offset),
    ] {
        g.bench_function(id, |b| b.iter(|| rt.block_on(fetch(&client, url))));
    }
    g.bench_function("transformer_time_offset", |b| {
        b.iter_batched(
            || s.chunks.clone(),
            |chunks| transform_all(&offset, chunks),
            BatchSize::LargeInput,
        )
    });
    g.finish();

    // Paired figures: blocks of 3 reads, alternating with the baseline.
    let time = |f: &mut dyn FnMut()| {
        let t = Instant::now();
        for _ in 0..3 {
            f();
        }
        t.elapsed().as_secs_f64()
    };
    let mut pass_ratios = Vec::new();
    let mut offset_ratios = Vec::new();
    for round in 0..10 {
        let mut direct = || {
            rt.block_on(fetch(&client, &s.direct));
        };
        let mut pass = || {
            rt.block_on(fetch(&client, &s.pass));
        };
        let mut gw_offset = || {
            rt.block_on(fetch(&client, &s.offset));
        };
        let mut tr = || {
            transform_all(&offset, s.chunks.clone());
        };
        let (d, p) = if round % 2 == 0 {
            (time(&mut direct), time(&mut pass))
        } else {
            let p = time(&mut pass);
            (time(&mut direct), p)
        };
        pass_ratios.push(d / p);
        let (t, o) = if round % 2 == 0 {
            (time(&mut tr), time(&mut gw_offset))
        } else {
            let o = time(&mut gw_offset);
            (time(&mut tr), o)
        };
        offset_ratios.push(t / o);
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    println!(
        "paired: gateway passthrough / direct = {:.2}; gateway time offset / transformer alone = {:.2} (samples/s ratios, medians of 10 blocks)",
        median(&mut pass_ratios),
        median(&mut offset_ratios)
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
