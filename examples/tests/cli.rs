//! The `rta` command line through its binary, against an `rta-server` on
//! loopback: import a CSV and a Parquet file, list and show the sessions,
//! export them again (CSV, Parquet, Arrow) with the same values and types, dump samples, change the state, and the errors a user
//! meets (unreachable server, unknown session, bad expression).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::process::{Command, Output};
use std::sync::Arc;

use arrow::array::{
    ArrayRef, FixedSizeListArray, Float32Array, Float64Array, Int16Array, RecordBatch,
    TimestampNanosecondArray, UInt8Array,
};
use arrow::datatypes::{DataType, Field};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ArrowWriter;

use rta::service::serve::RunningServer;
use rta::service::server::RtaServer;

const T0: i64 = 1_700_000_000_000_000_000;

struct Cli {
    server: String,
    grpc: String,
}

impl Cli {
    /// Runs `rta` with the global URLs; the blocking wait runs off the runtime.
    async fn run(&self, args: &[&str]) -> Output {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_rta"));
        cmd.args(["--server", &self.server, "--grpc", &self.grpc])
            .args(args)
            .env_remove("RTA_TOKEN");
        tokio::task::spawn_blocking(move || cmd.output().unwrap())
            .await
            .unwrap()
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).to_string()
}

impl Cli {
    /// Runs `rta`, which must succeed; its standard error.
    async fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args).await;
        assert!(out.status.success(), "rta {args:?}: {}", text(&out.stderr));
        text(&out.stderr)
    }
}

/// An `rta-server` on loopback with its stores in `dir`, and `rta` pointed
/// at it.
async fn serve(dir: &std::path::Path) -> (RunningServer, Cli) {
    let server = RtaServer::open(dir.join("server")).unwrap();
    let loopback = "127.0.0.1:0".parse().unwrap();
    let running = server.spawn(loopback, loopback).await.unwrap();
    let cli = Cli {
        server: running.http_url(),
        grpc: running.grpc_uri().unwrap(),
    };
    (running, cli)
}

/// Writes `batch` as the Parquet file `path`.
fn write_parquet(path: &std::path::Path, batch: &RecordBatch) {
    let file = std::fs::File::create(path).unwrap();
    let mut w = ArrowWriter::try_new(file, batch.schema(), None).unwrap();
    w.write(batch).unwrap();
    w.close().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_export_and_errors_through_the_binary() {
    let dir = tempfile::tempdir().unwrap();
    let (running, cli) = serve(dir.path()).await;

    // 25,000 rows, two channels; channel b has a gap.
    let mut csv = String::from("time,a,b\n");
    for i in 0..25_000i64 {
        let b = if (100..200).contains(&i) {
            String::new()
        } else {
            format!("{}", -(i as f64) / 4.0)
        };
        csv.push_str(&format!("{},{},{b}\n", T0 + i * 1_000_000, i as f64 * 0.5));
    }
    let input = dir.path().join("in.csv");
    std::fs::write(&input, &csv).unwrap();
    let out = cli
        .run(&[
            "import",
            input.to_str().unwrap(),
            "--session",
            "csv-1",
            "--config-from-columns",
        ])
        .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("49900 samples"),
        "{}",
        text(&out.stderr)
    );

    let out = cli.run(&["sessions", "ls", "--json"]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let line = text(&out.stdout);
    let s: serde_json::Value = serde_json::from_str(line.lines().next().unwrap()).unwrap();
    assert_eq!(s["identity"], "csv-1");
    assert_eq!(s["state"], "closed");
    assert_eq!(s["timeRange"]["endTime"], T0 + 24_999 * 1_000_000);
    let out = cli.run(&["sessions", "ls"]).await;
    assert!(text(&out.stdout).contains("csv-1"), "a table for people");
    // --where: the query dialect in shell form.
    let out = cli
        .run(&[
            "sessions",
            "ls",
            "--json",
            "--where",
            "state = closed and identity ~ csv",
        ])
        .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("\"csv-1\""));
    let out = cli
        .run(&["sessions", "ls", "--json", "--where", "state = open"])
        .await;
    assert_eq!(text(&out.stdout).trim(), "", "no open session");
    let out = cli.run(&["sessions", "ls", "--where", "state open"]).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("no operator"),
        "{}",
        text(&out.stderr)
    );

    let exported = dir.path().join("out.csv");
    let out = cli
        .run(&[
            "export",
            "csv-1",
            "--channels",
            "0-1",
            "--out",
            exported.to_str().unwrap(),
        ])
        .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let back = std::fs::read_to_string(&exported).unwrap();
    // (Compared line by line: a failure shows the first line that differs.)
    let diff = back
        .lines()
        .zip(csv.lines())
        .enumerate()
        .find(|(_, (a, b))| a != b);
    assert_eq!(
        diff, None,
        "exported values equal the imported ones, columns named from the config"
    );
    assert_eq!(back.len(), csv.len());

    let out = cli.run(&["data", "csv-1", "timestamped", "1"]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let dump = text(&out.stdout);
    assert_eq!(dump.lines().count(), 1 + 24_900);
    assert!(dump.contains(&format!("1\t{}\t-0.25", T0 + 1_000_000)));

    let out = cli.run(&["sessions", "set-state", "csv-1", "open"]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = cli.run(&["sessions", "show", "csv-1"]).await;
    let s: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(s["state"], "open");

    // Errors: each names what was wrong and exits non-zero.
    let out = cli.run(&["sessions", "show", "nope"]).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("not found"),
        "{}",
        text(&out.stderr)
    );
    let out = cli.run(&["data", "csv-1", "timestamped", "1-x"]).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("channels \"1-x\""),
        "{}",
        text(&out.stderr)
    );
    let out = cli
        .run(&["sessions", "set-state", "csv-1", "sideways"])
        .await;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("sideways"),
        "{}",
        text(&out.stderr)
    );
    let gone = Cli {
        server: "http://127.0.0.1:1".into(),
        grpc: "http://127.0.0.1:1".into(),
    };
    let out = gone.run(&["sessions", "ls"]).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("cannot reach"),
        "{}",
        text(&out.stderr)
    );
    let out = cli.run(&["sessions", "frobnicate"]).await;
    assert_eq!(out.status.code(), Some(2), "usage errors exit 2 (clap)");
    running.stop().await.unwrap();
}

/// A typed table: a nanosecond timestamp column and one column per data
/// type, the f64 one with gaps.
fn typed_batch(rows: usize) -> RecordBatch {
    let f3 = FixedSizeListArray::try_new(
        Arc::new(Field::new("item", DataType::Float32, false)),
        3,
        Arc::new(Float32Array::from_iter_values(
            (0..rows * 3).map(|k| k as f32 / 8.0),
        )),
        None,
    )
    .unwrap();
    RecordBatch::try_from_iter([
        (
            "timestamp",
            Arc::new(TimestampNanosecondArray::from_iter_values(
                (0..rows as i64).map(|k| T0 + k * 2_000_000),
            )) as ArrayRef,
        ),
        (
            "gear",
            Arc::new(UInt8Array::from_iter_values(
                (0..rows).map(|k| (k % 8) as u8),
            )) as _,
        ),
        (
            "rpm",
            Arc::new(Int16Array::from_iter_values(
                (0..rows).map(|k| (k % 30_000) as i16 - 15_000),
            )) as _,
        ),
        (
            "speed",
            Arc::new(Float32Array::from_iter_values(
                (0..rows).map(|k| k as f32 * 0.25),
            )) as _,
        ),
        ("acc", Arc::new(f3) as _),
        (
            "temp",
            Arc::new(Float64Array::from_iter(
                (0..rows).map(|k| (k % 10 != 3).then_some(k as f64 / 3.0)),
            )) as _,
        ),
    ])
    .unwrap()
}

fn read_parquet(path: &std::path::Path) -> RecordBatch {
    let file = std::fs::File::open(path).unwrap();
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)
        .unwrap()
        .build()
        .unwrap();
    let batches: Vec<RecordBatch> = reader.map(Result::unwrap).collect();
    arrow::compute::concat_batches(&batches[0].schema(), &batches).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parquet_and_arrow_keep_types_and_values() {
    let dir = tempfile::tempdir().unwrap();
    let (running, cli) = serve(dir.path()).await;
    let batch = typed_batch(30_000);
    let input = dir.path().join("laps.parquet");
    write_parquet(&input, &batch);

    let input = input.to_str().unwrap();
    let log = cli
        .ok(&[
            "import",
            input,
            "--session",
            "pq-1",
            "--config-from-columns",
        ])
        .await;
    assert!(log.contains("147000 samples"), "{log}");

    // Parquet out: every column back with its name, type and values.
    let parquet_out = dir.path().join("out.parquet");
    let out = parquet_out.to_str().unwrap();
    cli.ok(&["export", "pq-1", "--channels", "0-4", "--out", out])
        .await;
    let back = read_parquet(&parquet_out);
    assert_eq!(back.num_rows(), batch.num_rows());
    for k in 1..batch.num_columns() {
        let (want, got) = (
            batch.schema().field(k).clone(),
            back.schema().field(k).clone(),
        );
        assert_eq!(
            (got.name(), got.data_type()),
            (want.name(), want.data_type())
        );
        assert_eq!(
            back.column(k).as_ref(),
            batch.column(k).as_ref(),
            "column {}",
            want.name()
        );
    }
    assert_eq!(back.column(0).as_ref(), batch.column(0).as_ref(), "times");

    // Arrow out, imported again as a second session, exported as CSV.
    let arrow_out = dir.path().join("out.arrow");
    let out = arrow_out.to_str().unwrap();
    cli.ok(&["export", "pq-1", "--channels", "1,3", "--out", out])
        .await;
    let reader =
        arrow::ipc::reader::FileReader::try_new(std::fs::File::open(&arrow_out).unwrap(), None)
            .unwrap();
    let batches: Vec<RecordBatch> = reader.map(Result::unwrap).collect();
    let arrow_back = arrow::compute::concat_batches(&batches[0].schema(), &batches).unwrap();
    assert_eq!(arrow_back.num_columns(), 3);
    assert_eq!(
        arrow_back.column(1).as_ref(),
        batch.column(2).as_ref(),
        "rpm"
    );
    assert_eq!(
        arrow_back.column(2).as_ref(),
        batch.column(4).as_ref(),
        "acc (3f32)"
    );
    let input = arrow_out.to_str().unwrap();
    cli.ok(&[
        "import",
        input,
        "--session",
        "ipc-1",
        "--config-from-columns",
    ])
    .await;
    let csv_out = dir.path().join("rpm.csv");
    let out = csv_out.to_str().unwrap();
    cli.ok(&["export", "ipc-1", "--channels", "0", "--out", out])
        .await;
    let csv = std::fs::read_to_string(&csv_out).unwrap();
    let mut lines = csv.lines();
    assert_eq!(lines.next(), Some("time,rpm"));
    assert_eq!(lines.next(), Some(format!("{T0},-15000").as_str()));
    assert_eq!(lines.count(), 29_999);

    // A file without a time column names the problem.
    let bad = dir.path().join("bad.parquet");
    let plain =
        RecordBatch::try_from_iter([("x", Arc::new(Float64Array::from(vec![1.0])) as ArrayRef)])
            .unwrap();
    write_parquet(&bad, &plain);
    let out = cli
        .run(&["import", bad.to_str().unwrap(), "--session", "bad"])
        .await;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("bad.parquet: no time column"),
        "{}",
        text(&out.stderr)
    );
    running.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tail_prints_live_values_and_exits_when_the_session_closes() {
    use rta_client::{RtaClient, SessionRequest, SessionState};
    use std::io::BufRead;

    let dir = tempfile::tempdir().unwrap();
    let server = RtaServer::open(dir.path()).unwrap();
    let running = server
        .spawn(
            "127.0.0.1:0".parse().unwrap(),
            "127.0.0.1:0".parse().unwrap(),
        )
        .await
        .unwrap();
    let client = RtaClient::builder(running.grpc_uri().unwrap())
        .rest(running.http_url())
        .connect()
        .await
        .unwrap();
    client
        .put_session(SessionRequest::new("live-1", SessionState::Open).identifier("live"))
        .await
        .unwrap();

    let mut child = Command::new(env!("CARGO_BIN_EXE_rta"))
        .args([
            "--server",
            &running.http_url(),
            "tail",
            "live-1",
            "--channels",
            "2",
            "--json",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines() {
            if tx.send(line.unwrap()).is_err() {
                break;
            }
        }
    });
    tokio::time::sleep(std::time::Duration::from_millis(500)).await; // subscribed

    let writer = client.writer("live-1").await.unwrap();
    for ch in [1u32, 2] {
        let d = rta::core::data::timestamped(ch, &[T0, T0 + 10], &[ch as f64, 0.5]).unwrap();
        writer.timestamped(d).await.unwrap();
    }
    writer.flush().await.unwrap();
    let mut got = Vec::new();
    while got.len() < 2 {
        let line = tokio::time::timeout(std::time::Duration::from_secs(10), rx.recv())
            .await
            .expect("tail printed the live samples")
            .unwrap();
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        if v.get("channel").is_some() {
            got.push(v);
        }
    }
    assert_eq!(
        got[0],
        serde_json::json!({"channel": 2, "time": T0, "value": 2.0})
    );
    assert_eq!(
        got[1],
        serde_json::json!({"channel": 2, "time": T0 + 10, "value": 0.5})
    );

    client
        .put_session(SessionRequest::update("live-1").state(SessionState::Closed))
        .await
        .unwrap();
    let status = tokio::task::spawn_blocking(move || {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
        loop {
            if let Some(s) = child.try_wait().unwrap() {
                return s;
            }
            if std::time::Instant::now() > deadline {
                let _ = child.kill();
                panic!("rta tail did not exit when the session closed");
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    })
    .await
    .unwrap();
    assert!(status.success(), "rta tail exits 0 when the session ends");
    writer.close().await.unwrap();
    running.stop().await.unwrap();
}

/// More channels than the export asks for one by one: one request in time
/// slices of the session's range (the native store sends a channel's whole
/// range before the next), written back exactly, gaps included.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_channels_export_in_time_slices_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let (running, cli) = serve(dir.path()).await;
    let rows = 60_000;
    let mut columns: Vec<(String, ArrayRef)> = vec![(
        "time".into(),
        Arc::new(TimestampNanosecondArray::from_iter_values(
            (0..rows as i64).map(|k| T0 + k * 1_000_000),
        )),
    )];
    for c in 0..12 {
        // channel 5 has gaps; the others a value at every row
        let values =
            (0..rows).map(|k| (c != 5 || k % 7 != 0).then_some(k as f64 + c as f64 / 16.0));
        columns.push((format!("ch{c}"), Arc::new(Float64Array::from_iter(values))));
    }
    let batch = RecordBatch::try_from_iter(columns).unwrap();
    let input = dir.path().join("wide.parquet");
    write_parquet(&input, &batch);
    let input = input.to_str().unwrap();
    cli.ok(&[
        "import",
        input,
        "--session",
        "wide-1",
        "--config-from-columns",
    ])
    .await;

    let exported = dir.path().join("wide-out.parquet");
    let out = exported.to_str().unwrap();
    let log = cli
        .ok(&["export", "wide-1", "--channels", "0-11", "--out", out])
        .await;
    assert!(
        !log.contains("reading the data again") && !log.contains("one table"),
        "written by windows in one pass: {log}"
    );
    let back = read_parquet(&exported);
    assert_eq!(back.num_rows(), rows);
    for k in 0..batch.num_columns() {
        assert_eq!(
            back.schema().field(k).name(),
            batch.schema().field(k).name()
        );
        assert_eq!(
            back.column(k).as_ref(),
            batch.column(k).as_ref(),
            "column {k}"
        );
    }
    running.stop().await.unwrap();
}
