//! `rta import` and `rta export` against the paths they sit on, on the same
//! 10 M samples, into and out of the same `rta-server` (native store, on
//! loopback, in this process), in one run:
//!
//! - `import`: `rta import` of a Parquet file (1 M rows × 10 f64 channels,
//!   1 kHz) against the client's `DataWriter` writing the same samples as
//!   ready-made items (what the import turns each batch into);
//! - `export`: `rta export` of that session to Parquet against reading the
//!   same data over REST (the native store's fast path: one GET, the body
//!   read to the end, nothing decoded).
//!
//! After the criterion groups, paired rounds alternate the export and the
//! fast path and print the median of the per-round ratios (10 rounds, or
//! `RTA_BENCH_ROUNDS`; a filter matching no criterion id, such as
//! `-- paired`, runs only these).
//!
//! `cargo bench -p rta-client --features cli --bench files`
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow_array::{ArrayRef, Float64Array, RecordBatch, TimestampNanosecondArray};
use clap::Parser;
use criterion::{BatchSize, Criterion, Throughput};
use rta_client::arrow::{to_timestamped, Columns};
use rta_client::cli::Cli;
use rta_client::{RtaClient, SessionRequest, SessionState};
use rta_service::server::RtaServer;

const ROWS: usize = 1_000_000;
const CHANNELS: usize = 10;
const SAMPLES: u64 = (ROWS * CHANNELS) as u64;
const T0: i64 = 1_700_000_000_000_000_000;
const BATCH: usize = 65_536;

fn batch(from: usize, rows: usize) -> RecordBatch {
    let t = TimestampNanosecondArray::from_iter_values(
        (from..from + rows).map(|r| T0 + r as i64 * 1_000_000),
    );
    let mut cols: Vec<(String, ArrayRef)> = vec![("time".into(), Arc::new(t))];
    for c in 0..CHANNELS {
        let v = Float64Array::from_iter_values(
            (from..from + rows).map(|r| (r as f64 * 1e-3 + c as f64).sin()),
        );
        cols.push((format!("ch{c}"), Arc::new(v)));
    }
    RecordBatch::try_from_iter(cols).unwrap()
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("in.parquet");
    {
        let schema = batch(0, 1).schema();
        let mut w = parquet::arrow::ArrowWriter::try_new(
            std::fs::File::create(&file).unwrap(),
            schema,
            None,
        )
        .unwrap();
        for from in (0..ROWS).step_by(BATCH) {
            w.write(&batch(from, BATCH.min(ROWS - from))).unwrap();
        }
        w.close().unwrap();
    }
    let (running, grpc, http) = rt.block_on(async {
        let server = RtaServer::open(dir.path().join("server")).unwrap();
        let loopback = "127.0.0.1:0".parse().unwrap();
        let running = server.spawn(loopback, loopback).await.unwrap();
        let grpc = running.grpc_uri().unwrap();
        let http = running.http_url();
        (running, grpc, http)
    });
    let client = rt
        .block_on(RtaClient::builder(&grpc).rest(&http).connect())
        .unwrap();
    let cli = |args: &[&str]| {
        let mut all = vec!["rta", "--server", &http, "--grpc", &grpc];
        all.extend_from_slice(args);
        rt.block_on(rta_client::cli::run(Cli::parse_from(all)))
            .unwrap();
    };
    let n = std::cell::Cell::new(0u64);
    let next_id = || {
        n.set(n.get() + 1);
        format!("s{}", n.get())
    };

    let mut g = c.benchmark_group("import");
    g.throughput(Throughput::Elements(SAMPLES));
    g.sample_size(10);
    g.warm_up_time(Duration::from_secs(1));
    g.measurement_time(Duration::from_secs(20));
    let columns = Columns::infer(batch(0, 1).schema().as_ref()).unwrap();
    g.bench_function("client_data_writer", |b| {
        b.iter_batched(
            || {
                let items: Vec<_> = (0..ROWS)
                    .step_by(BATCH)
                    .flat_map(|from| {
                        to_timestamped(&batch(from, BATCH.min(ROWS - from)), &columns).unwrap()
                    })
                    .collect();
                (next_id(), items)
            },
            |(id, items)| {
                rt.block_on(async {
                    client
                        .put_session(SessionRequest::new(&id, SessionState::Open))
                        .await
                        .unwrap();
                    let writer = client.writer(&id).await.unwrap();
                    for d in items {
                        writer.timestamped(d).await.unwrap();
                    }
                    writer.close().await.unwrap();
                })
            },
            BatchSize::PerIteration,
        )
    });
    g.bench_function("rta_import_parquet", |b| {
        b.iter_batched(
            &next_id,
            |id| cli(&["import", file.to_str().unwrap(), "--session", &id]),
            BatchSize::PerIteration,
        )
    });
    g.finish();

    // One imported session to export.
    cli(&[
        "import",
        file.to_str().unwrap(),
        "--session",
        "out",
        "--config-from-columns",
    ]);
    let http_client = reqwest::Client::new();
    let url = format!("{http}/rta/v2/sessions/out/data/timestamped/0-9");
    let out = dir.path().join("out.parquet");
    let mut g = c.benchmark_group("export");
    g.throughput(Throughput::Elements(SAMPLES));
    g.sample_size(10);
    g.warm_up_time(Duration::from_secs(1));
    g.measurement_time(Duration::from_secs(20));
    let rest_fast_path = || {
        rt.block_on(async {
            let body = http_client
                .get(&url)
                .header("accept", rta_core::media::PROTOBUF_CHUNKED)
                .send()
                .await
                .unwrap()
                .bytes()
                .await
                .unwrap();
            assert!(body.len() > SAMPLES as usize * 8);
        })
    };
    let export = || {
        cli(&[
            "export",
            "out",
            "--channels",
            "0-9",
            "--out",
            out.to_str().unwrap(),
        ])
    };
    g.bench_function("rest_fast_path", |b| b.iter(&rest_fast_path));
    g.bench_function("rta_export_parquet", |b| b.iter(&export));
    g.finish();

    // Paired rounds: one of each, in alternating order; the median of the
    // per-round ratios moves much less with the machine's load than a ratio
    // of separate criterion figures.
    let time = |f: &dyn Fn()| {
        let t = Instant::now();
        f();
        t.elapsed().as_secs_f64()
    };
    let rounds: usize = std::env::var("RTA_BENCH_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(10);
    let (mut ratios, mut rates_e, mut rates_r) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..rounds {
        let (tr, te) = if round % 2 == 0 {
            (time(&rest_fast_path), time(&export))
        } else {
            let te = time(&export);
            (time(&rest_fast_path), te)
        };
        ratios.push(tr / te);
        rates_e.push(SAMPLES as f64 / te / 1e6);
        rates_r.push(SAMPLES as f64 / tr / 1e6);
    }
    println!(
        "export paired ({rounds} rounds, medians): rta export {:.1} M samples/s, REST fast path {:.1} M samples/s; \
         export / fast path = {:.2} (range {:.2}-{:.2})",
        median(rates_e),
        median(rates_r),
        median(ratios.clone()),
        ratios.iter().copied().fold(f64::INFINITY, f64::min),
        ratios.iter().copied().fold(0.0, f64::max),
    );
    rt.block_on(running.stop()).unwrap();
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    bench(&mut c);
    c.final_summary();
}
