//! The `kit_adapter` example (typed CSV files through the adapter kit)
//! served by the RTA Server over a real socket: typed channels keep their
//! width, requests are rounded out to the grid, a repeated read comes from
//! the cache, and a broken file is a 400 naming the line.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

#[allow(dead_code)]
#[path = "../examples/examples/kit_adapter.rs"]
mod kit_adapter;

use std::sync::Arc;

use kit_adapter::TypedCsv;
use rta::adapters::kit::{ChunkCache, KitService};
use rta::core::chunk::ChunkDecoder;
use rta::core::data::{read_samples, read_timestamps};
use rta::core::proto::data::TimestampedDataList;
use rta::core::service::SessionStore;
use rta::core::session::SessionState;
use rta::core::session_request::SessionRequest;
use rta::service::server::{DataBackend, RtaServer};

const T0: i64 = 1_700_000_000_000_000_000;
const MS: i64 = 1_000_000;

/// Chunks of a REST read: (start, end, times, raw buffers).
async fn read(http: &str, path: &str) -> (u16, Vec<(i64, i64)>, Vec<i64>, Vec<u8>) {
    let resp = reqwest::get(format!("{http}{path}")).await.unwrap();
    let status = resp.status().as_u16();
    let body = resp.bytes().await.unwrap();
    let (mut spans, mut times, mut raw) = (Vec::new(), Vec::new(), Vec::new());
    if status == 200 {
        for c in ChunkDecoder::decode_all(body).unwrap() {
            spans.push((c.start, c.end));
            for d in c
                .decode_list::<TimestampedDataList>()
                .unwrap()
                .timestamped_data
            {
                times.extend(read_timestamps(&d).unwrap());
                raw.extend_from_slice(&d.buffer);
            }
        }
    }
    (status, spans, times, raw)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kit_example_serves_typed_csv_on_a_stable_grid() {
    let dir = tempfile::tempdir().unwrap();
    // 100 Hz for 30 s: 10 s cells (1000 samples per cell at the file's rate).
    let mut csv = String::from("time_ns,vCar:f64,gear:u8,lat:i16\n");
    for i in 0..3000i64 {
        csv.push_str(&format!(
            "{},{},{},{}\n",
            T0 + i * 10 * MS,
            i as f64 / 4.0,
            i % 8,
            -i
        ));
    }
    std::fs::write(dir.path().join("run1.csv"), csv).unwrap();
    let cache = Arc::new(ChunkCache::new(16 << 20));
    let kit = KitService::new(TypedCsv(dir.path().to_path_buf())).with_cache(cache.clone());
    let server = RtaServer::builder(dir.path().join(".rta"))
        .data(DataBackend::read_only(Arc::new(kit)))
        .build()
        .await
        .unwrap();
    let session =
        SessionRequest::new("run1", SessionState::Closed).time_range(T0, T0 + 29_990 * MS);
    server
        .sessions
        .create_or_update(session.build())
        .await
        .unwrap();
    let running = server
        .spawn(
            "127.0.0.1:0".parse().unwrap(),
            "127.0.0.1:0".parse().unwrap(),
        )
        .await
        .unwrap();
    let http = format!("http://{}", running.http_addr);

    // Channel 1 is u8: one byte per sample on the wire, every sample back.
    let (status, _, times, raw) = read(&http, "/rta/v2/sessions/run1/data/timestamped/1").await;
    assert_eq!(status, 200);
    assert_eq!(
        times,
        (0..3000).map(|i| T0 + i * 10 * MS).collect::<Vec<_>>()
    );
    assert_eq!(raw, (0..3000).map(|i| (i % 8) as u8).collect::<Vec<_>>());

    // Channel 2 is i16. A bounded request is rounded out to whole 10 s cells.
    let grid_start = T0 - T0.rem_euclid(10_000 * MS);
    let path = format!(
        "/rta/v2/sessions/run1/data/timestamped/2?start={}&end={}",
        T0 + 12_000 * MS,
        T0 + 12_500 * MS
    );
    let (status, spans, times, raw) = read(&http, &path).await;
    assert_eq!(status, 200);
    let cell = (T0 + 12_000 * MS - grid_start) / (10_000 * MS);
    let (lo, hi) = (
        grid_start + cell * 10_000 * MS,
        grid_start + (cell + 1) * 10_000 * MS - 1,
    );
    assert!(
        spans.iter().all(|(s, e)| *s >= lo && *e <= hi),
        "{spans:?} outside [{lo}, {hi}]"
    );
    let want: Vec<i64> = (0..3000)
        .map(|i| T0 + i * 10 * MS)
        .filter(|t| *t >= lo && *t <= hi)
        .collect();
    assert_eq!(times, want);
    let values = read_samples::<i16>(&raw).unwrap();
    assert_eq!(values.len(), want.len());
    assert_eq!(values[0], -(((want[0] - T0) / (10 * MS)) as i16));

    // Asked again, the same chunks, from the cache.
    let hits = cache.hits();
    let (_, spans2, times2, _) = read(&http, &path).await;
    assert_eq!((spans2, times2), (spans, times));
    assert!(cache.hits() > hits, "served from the cache");

    // A broken file is a 400 naming the file and line.
    std::fs::write(dir.path().join("run1.csv"), "time_ns,x:u8\n1,2\n2,300\n").unwrap();
    let resp = reqwest::get(format!("{http}/rta/v2/sessions/run1/data/timestamped/0"))
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let text = resp.text().await.unwrap();
    assert!(text.contains("run1.csv:3"), "{text}");
    running.stop().await.unwrap();
}
