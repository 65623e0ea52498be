//! The File Data Service read path against the `parquet` crate decoding the
//! same columns of the same file, in one run.
//!
//! The bench writes one Parquet file into a temporary directory: a
//! nanosecond timestamp column `time` at 1 kHz and 10 `f64` columns (a sine
//! plus noise, quantized to 0.01 as converted sensor values are),
//! 4,194,304 rows in row groups of 65,536, Snappy-compressed pages (the
//! writer defaults of pyarrow and Spark). Then, throughput in samples
//! (rows × 10 channels):
//!
//! - `file_adapter_rest`: `GET /rta/v2/data/run.parquet/timestamped/0-9`
//!   on `rta_service::data::FileDataService` (the `rta-filedatasvc`
//!   composition, `--ChunkCacheBytes 0`, so every read decodes the file),
//!   on loopback, the whole chunked body received;
//! - `parquet_decode` (baseline): `ParquetRecordBatchReaderBuilder` with a
//!   projection of the same 11 columns, every batch's columns touched
//!   (their lengths and null counts; values are not read).
//!
//! After the criterion group, a paired run alternates the two reads and
//! prints the median of the per-round ratios, which moves much less with
//! the machine's load than a ratio of separate criterion figures.
//!
//! `cargo bench -p rta-service --bench file_read`
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow_array::{Array, ArrayRef, Float64Array, RecordBatch, TimestampNanosecondArray};
use criterion::{Criterion, Throughput};
use futures::StreamExt;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::{ArrowWriter, ProjectionMask};
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use rta_core::chunk::ChunkDecoder;
use rta_core::proto::data::TimestampedDataList;
use rta_service::data::FileDataService;
use rta_service::options::FileDataServiceOptions;

const ROWS: usize = 4_194_304;
const CHANNELS: usize = 10;
const SAMPLES: u64 = (ROWS * CHANNELS) as u64;
const ROW_GROUP: usize = 65_536;
const T0: i64 = 1_700_000_000_000_000_000;
const STEP: i64 = 1_000_000; // 1 kHz

/// A sine plus deterministic noise, quantized to 0.01.
fn value(c: usize, r: usize) -> f64 {
    let h = (r as u64 ^ ((c as u64) << 40)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    let noise = ((h >> 40) as f64 / (1u64 << 24) as f64 - 0.5) * 2.0;
    let v = (r as f64 * 1e-3 * (1.0 + c as f64 * 0.1) + c as f64).sin() * 1_000.0 + noise;
    (v * 100.0).round() / 100.0
}

fn batch(from: usize, rows: usize) -> RecordBatch {
    let t = TimestampNanosecondArray::from_iter_values(
        (from..from + rows).map(|r| T0 + r as i64 * STEP),
    );
    let mut cols: Vec<(String, ArrayRef)> = vec![("time".into(), Arc::new(t))];
    for c in 0..CHANNELS {
        let v = Float64Array::from_iter_values((from..from + rows).map(|r| value(c, r)));
        cols.push((format!("ch{c}"), Arc::new(v)));
    }
    RecordBatch::try_from_iter(cols).unwrap()
}

fn write_file(path: &Path) {
    let props = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_max_row_group_row_count(Some(ROW_GROUP))
        .build();
    let schema = batch(0, 1).schema();
    let mut w =
        ArrowWriter::try_new(std::fs::File::create(path).unwrap(), schema, Some(props)).unwrap();
    for from in (0..ROWS).step_by(ROW_GROUP) {
        w.write(&batch(from, ROW_GROUP.min(ROWS - from))).unwrap();
    }
    w.close().unwrap();
}

/// The baseline: the `parquet` crate decoding the time column and the 10
/// channels; returns the values decoded.
fn parquet_decode(path: &Path) -> u64 {
    let file = std::fs::File::open(path).unwrap();
    let b = ParquetRecordBatchReaderBuilder::try_new(file).unwrap();
    let mask = ProjectionMask::roots(b.parquet_schema(), 0..=CHANNELS);
    let reader = b
        .with_projection(mask)
        .with_batch_size(16_384)
        .build()
        .unwrap();
    let mut values = 0u64;
    for batch in reader {
        let batch = batch.unwrap();
        for col in batch.columns().iter().skip(1) {
            values += (col.len() - col.null_count()) as u64;
        }
    }
    values
}

/// One REST read, the body received to its end; returns its size.
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

/// Samples per channel in a whole response (checked once, untimed).
async fn samples_in(client: &reqwest::Client, url: &str) -> Vec<usize> {
    let body = client.get(url).send().await.unwrap().bytes().await.unwrap();
    let mut per = vec![0; CHANNELS];
    for chunk in ChunkDecoder::decode_all(body).unwrap() {
        let list: TimestampedDataList = chunk.decode_list().unwrap();
        for d in list.timestamped_data {
            per[d.channel_id as usize] += d.buffer.len() / 8; // f64 samples
        }
    }
    per
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("run.parquet");
    let t = Instant::now();
    write_file(&path);
    let file_bytes = std::fs::metadata(&path).unwrap().len();
    println!(
        "file_read: {ROWS} rows x {CHANNELS} f64 channels, {} MB of Parquet (Snappy), written in {:.1} s",
        file_bytes as f64 / 1e6,
        t.elapsed().as_secs_f64()
    );
    assert_eq!(parquet_decode(&path), SAMPLES);

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir_arg = dir.path().to_str().unwrap();
    let parsed = FileDataServiceOptions::parser()
        .parse_from(
            ["--FilePath", dir_arg, "--ChunkCacheBytes", "0"],
            Vec::new(),
        )
        .unwrap();
    let opts = FileDataServiceOptions::from_parsed(parsed)
        .unwrap()
        .unwrap();
    let svc = FileDataService::new(&opts).unwrap();
    let running = rt
        .block_on(svc.spawn("127.0.0.1:0".parse().unwrap()))
        .unwrap();
    let url = format!(
        "http://{}/rta/v2/data/run.parquet/timestamped/0-{}",
        running.http_addr,
        CHANNELS - 1
    );
    let client = reqwest::Client::new();
    let per = rt.block_on(samples_in(&client, &url));
    assert_eq!(per, vec![ROWS; CHANNELS], "every sample of every channel");
    let body = rt.block_on(fetch(&client, &url));
    println!(
        "file_read: response body {:.1} MB ({:.2} bytes per sample)",
        body as f64 / 1e6,
        body as f64 / SAMPLES as f64
    );

    let mut g = c.benchmark_group("file_read");
    g.throughput(Throughput::Elements(SAMPLES));
    g.sample_size(10);
    g.warm_up_time(Duration::from_secs(2));
    g.measurement_time(Duration::from_secs(20));
    g.bench_function("parquet_decode", |b| b.iter(|| parquet_decode(&path)));
    g.bench_function("file_adapter_rest", |b| {
        b.iter(|| rt.block_on(fetch(&client, &url)))
    });
    g.finish();

    // Paired rounds: one read of each, in alternating order.
    let time = |f: &dyn Fn()| {
        let t = Instant::now();
        f();
        t.elapsed().as_secs_f64()
    };
    let decode = || {
        parquet_decode(&path);
    };
    let adapter = || {
        rt.block_on(fetch(&client, &url));
    };
    let (mut ratios, mut rates_a, mut rates_p) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..10 {
        let (tp, ta) = if round % 2 == 0 {
            (time(&decode), time(&adapter))
        } else {
            let ta = time(&adapter);
            (time(&decode), ta)
        };
        ratios.push(tp / ta);
        rates_a.push(SAMPLES as f64 / ta / 1e6);
        rates_p.push(SAMPLES as f64 / tp / 1e6);
    }
    println!(
        "file_read paired (10 rounds, medians): adapter {:.1} M samples/s, parquet decode {:.1} M samples/s; \
         adapter / parquet decode = {:.2} (range {:.2}-{:.2})",
        median(rates_a),
        median(rates_p),
        median(ratios.clone()),
        ratios.iter().copied().fold(f64::INFINITY, f64::min),
        ratios.iter().copied().fold(0.0, f64::max),
    );
    rt.block_on(running.stop()).unwrap();
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    bench(&mut c);
    c.final_summary();
}
