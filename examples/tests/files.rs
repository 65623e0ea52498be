//! The file data service over Parquet, Arrow IPC and CSV files the test
//! writes: values and types read back exactly over its data route, channel
//! subsets and time bounds (Parquet row groups outside the bounds skipped,
//! shown by the counter), periodic data for evenly spaced files, paths that
//! leave the directory refused; then the indexer publishes every file and
//! the gateway serves the sessions from the files.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

#[allow(dead_code)]
#[path = "../examples/file_indexer.rs"]
mod file_indexer;
#[allow(dead_code)]
#[path = "influx/support.rs"]
mod support;

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::{
    ArrayRef, Float32Array, Float64Array, Int16Array, Int64Array, RecordBatch, UInt8Array,
};
use parquet::arrow::ArrowWriter;
use parquet::file::properties::WriterProperties;
use rta::core::chunk::ChunkDecoder;
use rta::core::data::{periodic_timestamps, read_samples, read_timestamps};
use rta::core::proto::data::{PeriodicDataList, TimestampedDataList};
use rta::service::data::FileDataService;
use rta::service::options::FileDataServiceOptions;
use rta_client::RtaClient;
use support::Service;

const T0: i64 = 1_700_000_000_000_000_000;
const ROWS: usize = 50_000;
const STEP: i64 = 2_000_000; // 500 Hz

fn batch() -> RecordBatch {
    RecordBatch::try_from_iter([
        (
            "time",
            Arc::new(Int64Array::from_iter_values(
                (0..ROWS as i64).map(|r| T0 + r * STEP),
            )) as ArrayRef,
        ),
        (
            "gear",
            Arc::new(UInt8Array::from_iter_values(
                (0..ROWS).map(|r| (r / 1000 % 8) as u8),
            )) as _,
        ),
        (
            "rpm",
            Arc::new(Int16Array::from_iter_values(
                (0..ROWS).map(|r| (r % 20_000) as i16),
            )) as _,
        ),
        (
            "speed",
            Arc::new(Float32Array::from_iter_values(
                (0..ROWS).map(|r| r as f32 * 0.5),
            )) as _,
        ),
        (
            "temp",
            Arc::new(Float64Array::from_iter_values(
                (0..ROWS).map(|r| r as f64 / 3.0),
            )) as _,
        ),
    ])
    .unwrap()
}

fn write_files(dir: &std::path::Path) {
    let b = batch();
    let props = WriterProperties::builder()
        .set_max_row_group_row_count(Some(5_000))
        .build();
    let mut w = ArrowWriter::try_new(
        std::fs::File::create(dir.join("run.parquet")).unwrap(),
        b.schema(),
        Some(props),
    )
    .unwrap();
    w.write(&b).unwrap();
    w.close().unwrap();
    std::fs::create_dir(dir.join("ipc")).unwrap();
    let f = std::fs::File::create(dir.join("ipc/run.arrow")).unwrap();
    let mut w = arrow::ipc::writer::FileWriter::try_new(f, &b.schema()).unwrap();
    w.write(&b.slice(0, 20_000)).unwrap();
    w.write(&b.slice(20_000, ROWS - 20_000)).unwrap();
    w.finish().unwrap();
    // CSV: uneven times (timestamped only), values with gaps.
    let mut csv = String::from("timestamp,a,b\n");
    for r in 0..1_000i64 {
        let b = if r % 7 == 3 {
            String::new()
        } else {
            format!("{}", r as f64 * -0.25)
        };
        csv.push_str(&format!("{},{},{b}\n", T0 + r * r * 1_000, r as f64 + 0.5));
    }
    std::fs::write(dir.join("laps.csv"), csv).unwrap();
}

/// Per channel: times and raw little-endian sample bytes of a REST read.
type Read = BTreeMap<u32, (Vec<i64>, Vec<u8>)>;

async fn get(url: &str) -> (u16, Read) {
    let resp = reqwest::get(url).await.unwrap();
    let status = resp.status().as_u16();
    let body = resp.bytes().await.unwrap();
    let mut out = Read::new();
    if status != 200 {
        return (status, out);
    }
    let periodic = url.contains("/periodic/");
    for chunk in ChunkDecoder::decode_all(body).unwrap() {
        if periodic {
            let list: PeriodicDataList = chunk.decode_list().unwrap();
            for d in list.periodic_data {
                let e = out.entry(d.channel_id).or_default();
                e.0.extend(periodic_timestamps(&d).unwrap());
                e.1.extend_from_slice(&d.buffer);
            }
        } else {
            let list: TimestampedDataList = chunk.decode_list().unwrap();
            for d in list.timestamped_data {
                let e = out.entry(d.channel_id).or_default();
                e.0.extend(read_timestamps(&d).unwrap());
                e.1.extend_from_slice(&d.buffer);
            }
        }
    }
    (status, out)
}

fn times(from: usize, to: usize) -> Vec<i64> {
    (from as i64..to as i64).map(|r| T0 + r * STEP).collect()
}

fn bytes_of<T: Copy>(v: impl Iterator<Item = T>, le: impl Fn(T) -> Vec<u8>) -> Vec<u8> {
    v.flat_map(le).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_are_served_in_place_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let files = dir.path().join("files");
    std::fs::create_dir(&files).unwrap();
    write_files(&files);
    let parsed = FileDataServiceOptions::parser()
        .parse_from(
            // No chunk cache: every read below goes to the files.
            [
                "--FilePath",
                files.to_str().unwrap(),
                "--ChunkCacheBytes",
                "0",
            ],
            Vec::new(),
        )
        .unwrap();
    let opts = FileDataServiceOptions::from_parsed(parsed)
        .unwrap()
        .unwrap();
    let svc = FileDataService::new(&opts).unwrap();
    let running = svc.spawn("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let url = |p: &str| format!("http://{}/rta/v2/data/{p}", running.http_addr);

    let gear = bytes_of((0..ROWS).map(|r| (r / 1000 % 8) as u8), |v| vec![v]);
    let rpm = bytes_of((0..ROWS).map(|r| (r % 20_000) as i16), |v| {
        v.to_le_bytes().to_vec()
    });
    let temp = bytes_of((0..ROWS).map(|r| r as f64 / 3.0), |v| {
        v.to_le_bytes().to_vec()
    });
    for identity in ["run.parquet", "ipc%2Frun.arrow"] {
        for kind in ["timestamped", "periodic"] {
            let (status, got) = get(&url(&format!("{identity}/{kind}/0-3"))).await;
            assert_eq!(status, 200, "{identity} {kind}");
            assert_eq!(got.len(), 4);
            assert_eq!(
                got[&0],
                (times(0, ROWS), gear.clone()),
                "{identity} {kind}: u8 gear"
            );
            assert_eq!(
                got[&1],
                (times(0, ROWS), rpm.clone()),
                "{identity} {kind}: i16 rpm"
            );
            assert_eq!(
                read_samples::<f32>(&got[&2].1).unwrap()[ROWS - 1],
                (ROWS - 1) as f32 * 0.5
            );
            assert_eq!(
                got[&3],
                (times(0, ROWS), temp.clone()),
                "{identity} {kind}: f64 temp"
            );
        }
    }

    // A subset in bounds: only that channel, only the grid cells around the
    // bounds, and most Parquet row groups (5,000 rows = 10 s each) skipped.
    let before = svc.stats().row_groups();
    let (lo, hi) = (T0 + 31 * 1_000_000_000, T0 + 32 * 1_000_000_000);
    let (_, got) = get(&url(&format!(
        "run.parquet/timestamped/3?start={lo}&end={hi}"
    )))
    .await;
    assert_eq!(got.keys().copied().collect::<Vec<_>>(), [3]);
    let t = &got[&3].0;
    assert!(
        t[0] <= lo && *t.last().unwrap() >= hi,
        "the cells around the bounds"
    );
    assert!(
        t.len() < ROWS / 5,
        "{} samples: not the whole file",
        t.len()
    );
    let first = ((t[0] - T0) / STEP) as usize;
    assert_eq!(got[&3].1, temp[first * 8..(first + t.len()) * 8]);
    let after = svc.stats().row_groups();
    let (read, skipped) = (after.0 - before.0, after.1 - before.1);
    assert!(
        read <= 2 && skipped >= 8,
        "row groups read {read}, skipped {skipped}"
    );

    // CSV: uneven times, so timestamped only; gaps are missing samples.
    let (status, got) = get(&url("laps.csv/timestamped/0-1")).await;
    assert_eq!(status, 200);
    let want_t: Vec<i64> = (0..1_000i64).map(|r| T0 + r * r * 1_000).collect();
    assert_eq!(got[&0].0, want_t);
    assert_eq!(read_samples::<f64>(&got[&0].1).unwrap()[999], 999.5);
    assert_eq!(
        got[&1].0.len(),
        1_000 - 143,
        "rows with an empty cell have no sample"
    );
    let (_, got) = get(&url("laps.csv/periodic/0-1")).await;
    assert!(got.is_empty(), "uneven times are not served as periodic");

    // Unknown files, and paths that leave the directory.
    // An unknown identity is an empty 200, as on every data service
    // (docs/wire-format.md).
    let (status, got) = get(&url("nope.parquet/timestamped/0")).await;
    assert_eq!((status, got.len()), (200, 0));
    for bad in [
        "..%2Fsecret.csv",
        "%2Fetc%2Fpasswd",
        "ipc%2F..%2F..%2Fx.csv",
    ] {
        let resp = reqwest::get(url(&format!("{bad}/timestamped/0")))
            .await
            .unwrap();
        assert_eq!(resp.status(), 400, "{bad}");
        let text = resp.text().await.unwrap();
        assert!(text.contains("file directory"), "{bad}: {text}");
    }
    running.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn indexed_files_are_browsable_through_the_gateway() {
    let dir = tempfile::tempdir().unwrap();
    let files = dir.path().join("files");
    std::fs::create_dir(&files).unwrap();
    write_files(&files);
    // The toolkit's microservices, each its own process.
    let d = |n: &str| dir.path().join(n).to_string_lossy().to_string();
    let root = dir.path();
    let svc = |bin: &'static str, data: &'static str| {
        let data = d(data);
        async move { Service::start(bin, root, true, &["--data-dir", &data]).await }
    };
    let sessions = svc(env!("CARGO_BIN_EXE_rta-sessionsvc"), "s").await;
    let configs = svc(env!("CARGO_BIN_EXE_rta-configsvc"), "c").await;
    let mappings = svc(env!("CARGO_BIN_EXE_rta-schemamappingsvc"), "m").await;
    let client = RtaClient::builder(sessions.grpc_uri())
        .configs(configs.grpc_uri())
        .schema_mappings(mappings.grpc_uri())
        .connect()
        .await
        .unwrap();
    let indexed = file_indexer::index(files.to_str().unwrap(), &client, "rta-filedatasvc")
        .await
        .unwrap();
    assert_eq!(indexed, ["ipc_run.arrow", "laps.csv", "run.parquet"]);

    let adapter = Service::start(
        env!("CARGO_BIN_EXE_rta-filedatasvc"),
        dir.path(),
        false,
        &[
            "--FilePath",
            files.to_str().unwrap(),
            "--SchemaMappingGrpcUri",
            &mappings.grpc_uri(),
        ],
    )
    .await;
    let (s_url, c_url, a_url) = (sessions.url("/"), configs.url("/"), adapter.url("/"));
    let gateway = Service::start(
        env!("CARGO_BIN_EXE_rta-gatewaysvc"),
        dir.path(),
        false,
        &[
            "--SessionServiceUri",
            &s_url,
            "--ConfigServiceUri",
            &c_url,
            "--DataServiceUris:rta-filedatasvc",
            &a_url,
        ],
    )
    .await;
    let s: serde_json::Value = reqwest::get(gateway.url("/rta/v2/sessions/run.parquet"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        s["timeRange"]["endTime"],
        T0 + (ROWS as i64 - 1) * STEP,
        "{s}"
    );
    let (status, got) = get(&gateway.url("/rta/v2/sessions/run.parquet/data/periodic/1")).await;
    assert_eq!(status, 200);
    let rpm = bytes_of((0..ROWS).map(|r| (r % 20_000) as i16), |v| {
        v.to_le_bytes().to_vec()
    });
    assert_eq!(
        got[&1],
        (times(0, ROWS), rpm),
        "through the gateway, as published"
    );
    let (status, got) = get(&gateway.url("/rta/v2/sessions/laps.csv/data/timestamped/1")).await;
    assert_eq!(status, 200);
    assert_eq!(got[&1].0.len(), 857);
    drop((gateway, adapter, sessions, configs, mappings));
}
