//! The Influx Data Service read path against InfluxDB's own JSON query of
//! the same fields and range, and the native store serving the same
//! samples, all over REST on loopback in one run.
//!
//! An `influxd` (InfluxDB 1.x, apt package `influxdb`) is started in a
//! temporary directory on a free port with one session of the RTA.Examples
//! Influx demo: measurement `data`, tag `session`, fields `alpha`, `beta`,
//! `gamma` at 100 Hz for 10 minutes (180,000 samples). Then:
//!
//! - `influx_adapter_rest`: `GET /rta/v2/data/session='…'/timestamped/0-2`
//!   on `InfluxDataService` (schema mapping from an in-process Schema
//!   Mapping Service over gRPC), the whole chunked body;
//! - `influxdb_json_query`: `POST /query` to InfluxDB with
//!   `SELECT "alpha","beta","gamma" FROM … WHERE (session='…')`,
//!   `epoch=ns`, the whole JSON body (not parsed: InfluxDB's cost only);
//! - `native_store_rest`: the same samples from a sealed native store,
//!   `GET /rta/v2/data/s/timestamped/0-2` on a data microservice.
//!
//! After the criterion group, a paired run alternates the three reads and
//! prints the median of the per-round ratios, which moves much less with
//! the machine's load than ratios of separate criterion figures.
//!
//! `cargo bench -p rta-service --bench influx_read`
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use futures::StreamExt;
use rta_adapters::native::{NativeConfig, NativeStore};
use rta_adapters::stores::FileSchemaMappingStore;
use rta_core::data::timestamped;
use rta_core::proto::schema_mapping_service::{FieldMapping, SchemaMapping};
use rta_core::service::SchemaMappingStore;
use rta_core::write::WriteItem;
use rta_service::data::{DataBackend, DataMicroservice, InfluxDataService};
use rta_service::options::InfluxDataServiceOptions;
use rta_service::{rpc, schema_mappings, serve};

const ROWS: i64 = 60_000;
const FIELDS: [&str; 3] = ["alpha", "beta", "gamma"];
const T0: i64 = 1_700_000_000_000_000_000;
const SESSION: &str = "6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b";

fn value(f: usize, i: i64) -> f64 {
    (((i as f64) * 0.002 + f as f64).sin() * 150_000.0).round() / 100.0
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

struct Influxd(Child);

impl Drop for Influxd {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_influxd(dir: &std::path::Path, port: u16) -> Influxd {
    let r = dir.display();
    let config = dir.join("influxdb.conf");
    std::fs::write(
        &config,
        format!(
            "reporting-enabled = false\nbind-address = \"127.0.0.1:{}\"\n\
             [meta]\n  dir = \"{r}/meta\"\n[data]\n  dir = \"{r}/data\"\n  wal-dir = \"{r}/wal\"\n  query-log-enabled = false\n\
             [monitor]\n  store-enabled = false\n[http]\n  bind-address = \"127.0.0.1:{port}\"\n  log-enabled = false\n\
             [logging]\n  level = \"warn\"\n  suppress-logo = true\n",
            free_port()
        ),
    )
    .unwrap();
    let child = Command::new("influxd")
        .args(["run", "-config"])
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("influxd (InfluxDB 1.x) is required: {e}; apt-get install influxdb")
        });
    Influxd(child)
}

async fn fetch(req: reqwest::RequestBuilder) -> usize {
    let resp = req.send().await.unwrap();
    assert!(resp.status().is_success(), "{}", resp.status());
    let mut s = resp.bytes_stream();
    let mut n = 0;
    while let Some(b) = s.next().await {
        n += b.unwrap().len();
    }
    n
}

struct Urls {
    adapter: String,
    influx: String,
    native: String,
}

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let influx_port = free_port();
    let _influxd = start_influxd(dir.path(), influx_port);
    let influx = format!("http://127.0.0.1:{influx_port}");
    let client = reqwest::Client::new();
    let identity = format!("session='{SESSION}'");
    let select = format!(
        "SELECT \"alpha\",\"beta\",\"gamma\" FROM \"rtademo\".\"autogen\".\"data\" WHERE ({identity})"
    );

    // The native store with the same samples (results of 1000, as the kit cuts them).
    let store = NativeStore::open(NativeConfig::new(dir.path().join("native"))).unwrap();
    for (f, _) in FIELDS.iter().enumerate() {
        let items: Vec<WriteItem> = (0..ROWS / 1000)
            .map(|r| {
                let idx: Vec<i64> = (r * 1000..(r + 1) * 1000).collect();
                let t: Vec<i64> = idx.iter().map(|i| T0 + i * 10_000_000).collect();
                let v: Vec<f64> = idx.iter().map(|i| value(f, *i)).collect();
                timestamped(f as u32, &t, &v).unwrap().into()
            })
            .collect();
        store.write_blocking("s", items).unwrap();
    }
    store.seal_blocking("s").unwrap();

    let (urls, _servers) = rt.block_on(async {
        let deadline = Instant::now() + Duration::from_secs(30);
        while client.get(format!("{influx}/ping")).send().await.is_err() {
            assert!(Instant::now() < deadline, "influxd did not start");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let q = [("q", "CREATE DATABASE rtademo")];
        client
            .post(format!("{influx}/query"))
            .form(&q)
            .send()
            .await
            .unwrap();
        for part in 0..ROWS / 10_000 {
            let mut lines = String::new();
            for i in part * 10_000..(part + 1) * 10_000 {
                let fields: Vec<String> = (0..3)
                    .map(|f| format!("{}={:?}", FIELDS[f], value(f, i)))
                    .collect();
                lines.push_str(&format!(
                    "data,session={SESSION} {} {}\n",
                    fields.join(","),
                    T0 + i * 10_000_000
                ));
            }
            let r = client
                .post(format!("{influx}/write?db=rtademo"))
                .body(lines)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 204);
        }

        // Schema mappings over gRPC, as the service reads them.
        let mappings = Arc::new(FileSchemaMappingStore::open(dir.path().join("m")).unwrap());
        let fields = FIELDS.iter().zip(0..).map(|(f, c)| FieldMapping {
            source_field: f.to_string(),
            target_channel: c,
            ..Default::default()
        });
        let props = [
            ("dialect", "influxql"),
            ("database", "rtademo"),
            ("measurement", "data"),
        ];
        let m = SchemaMapping {
            properties: props
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            field_mappings: fields.collect(),
            event_mappings: Vec::new(),
        };
        mappings
            .put("rta-influxdatasvc", &identity, m)
            .await
            .unwrap();
        let loopback = "127.0.0.1:0".parse().unwrap();
        let grpc = rpc::routes().add_service(schema_mappings::schema_mapping_server(mappings));
        let sm = serve::spawn(loopback, axum::Router::new(), Some((loopback, grpc)))
            .await
            .unwrap();

        let args = [
            "--DataSource".to_string(),
            "rta-influxdatasvc".into(),
            "--SchemaMappingGrpcUri".into(),
            sm.grpc_uri().unwrap(),
            "--InfluxUri".into(),
            format!("{influx}/"),
        ];
        let parsed = InfluxDataServiceOptions::parser()
            .parse_from(args, Vec::new())
            .unwrap();
        let opts = InfluxDataServiceOptions::from_parsed(parsed)
            .unwrap()
            .unwrap();
        let adapter = InfluxDataService::new(&opts)
            .unwrap()
            .spawn(loopback)
            .await
            .unwrap();
        let native = DataMicroservice::new(DataBackend::native(store.clone())).write(false);
        let native = serve::spawn(loopback, native.http_router(), None)
            .await
            .unwrap();
        let enc: String = identity.bytes().map(|b| format!("%{b:02X}")).collect();
        let urls = Urls {
            adapter: format!(
                "http://{}/rta/v2/data/{enc}/timestamped/0-2",
                adapter.http_addr
            ),
            influx: format!("{influx}/query"),
            native: format!("http://{}/rta/v2/data/s/timestamped/0-2", native.http_addr),
        };
        (urls, (sm, adapter, native))
    });
    let influx_req = |client: &reqwest::Client| {
        client.post(&urls.influx).form(&[
            ("db", "rtademo"),
            ("epoch", "ns"),
            ("q", select.as_str()),
        ])
    };
    let samples = (ROWS * 3) as u64;
    let sizes = rt.block_on(async {
        (
            fetch(client.get(&urls.adapter)).await,
            fetch(influx_req(&client)).await,
            fetch(client.get(&urls.native)).await,
        )
    });
    println!(
        "{samples} samples; bodies: adapter {} B, InfluxDB JSON {} B, native {} B",
        sizes.0, sizes.1, sizes.2
    );

    let mut g = c.benchmark_group("influx_read");
    g.throughput(Throughput::Elements(samples));
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(8));
    g.warm_up_time(Duration::from_secs(1));
    g.bench_function("influx_adapter_rest", |b| {
        b.iter(|| rt.block_on(fetch(client.get(&urls.adapter))))
    });
    g.bench_function("influxdb_json_query", |b| {
        b.iter(|| rt.block_on(fetch(influx_req(&client))))
    });
    g.bench_function("native_store_rest", |b| {
        b.iter(|| rt.block_on(fetch(client.get(&urls.native))))
    });
    g.finish();

    // Paired rounds: each round times one read of each, in rotating order.
    let rounds = 15;
    let (mut a_over_i, mut n_over_a, mut rates) =
        (Vec::new(), Vec::new(), [Vec::new(), Vec::new(), Vec::new()]);
    for r in 0..rounds {
        let mut t = [0f64; 3];
        for k in 0..3 {
            let which = (k + r) % 3;
            let start = Instant::now();
            rt.block_on(async {
                match which {
                    0 => fetch(client.get(&urls.adapter)).await,
                    1 => fetch(influx_req(&client)).await,
                    _ => fetch(client.get(&urls.native)).await,
                }
            });
            t[which] = start.elapsed().as_secs_f64();
        }
        a_over_i.push(t[1] / t[0]);
        n_over_a.push(t[0] / t[2]);
        for k in 0..3 {
            rates[k].push(samples as f64 / t[k] / 1e6);
        }
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    println!(
        "paired ({rounds} rounds, medians): adapter {:.2} M samples/s, InfluxDB JSON {:.2} M samples/s, native {:.1} M samples/s; \
         adapter / InfluxDB = {:.2}, native / adapter = {:.1}",
        median(&mut rates[0]),
        median(&mut rates[1]),
        median(&mut rates[2]),
        median(&mut a_over_i),
        median(&mut n_over_a)
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
