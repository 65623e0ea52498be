//! The REST fast path of the native store (frames laid out from the index,
//! payloads read from the data log into place) against the generic path over
//! the same store's chunk stream: byte-identical bodies for responses of many
//! frames, with the chunks of different channels interleaved in the data log
//! (runs broken), data still buffered in memory, and concurrent reads.
#![allow(clippy::unwrap_used, clippy::expect_used)]
#![allow(missing_docs)]

use std::net::SocketAddr;
use std::sync::Arc;

use rta_adapters::native::{NativeConfig, NativeStore};
use rta_core::chunk::ChunkDecoder;
use rta_core::data::{periodic, timestamped};
use rta_core::write::WriteItem;
use rta_service::data;
use tokio::net::TcpListener;

const S: i64 = 1_000_000_000;
const T0: i64 = 1_700_000_000 * S;
const CHANNELS: u32 = 12;

/// One write call: `n` samples for every channel (timestamped on even
/// channels, periodic on odd ones), so the chunks each call closes land in
/// the data log channel after channel.
fn batch(round: usize, n: usize) -> Vec<WriteItem> {
    (0..CHANNELS)
        .map(|ch| {
            let first = (round * n) as i64;
            let v: Vec<f64> = (0..n)
                .map(|i| ((first + i as i64) as f64 * 0.01 + f64::from(ch)).sin() * 100.0)
                .collect();
            if ch % 2 == 0 {
                let t: Vec<i64> = (0..n as i64)
                    .map(|i| T0 + (first + i) * 1_000_000)
                    .collect();
                timestamped(ch, &t, &v).unwrap().into()
            } else {
                periodic(ch, T0 + first * 1_000_000, 1_000_000, &v)
                    .unwrap()
                    .into()
            }
        })
        .collect()
}

async fn serve(app: axum::Router) -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let a = l.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
    a
}

/// The body and its `Content-Length` header (if any).
async fn get(client: &reqwest::Client, at: SocketAddr, path: &str) -> (Vec<u8>, Option<usize>) {
    let r = client
        .get(format!("http://{at}{path}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{path}");
    let len = r
        .headers()
        .get("content-length")
        .map(|v| v.to_str().unwrap().parse().unwrap());
    (r.bytes().await.unwrap().to_vec(), len)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fast_path_bodies_equal_generic_bodies_across_frames() {
    let dir = tempfile::tempdir().unwrap();
    let store =
        NativeStore::open(NativeConfig::new(dir.path()).with_target_list_bytes(16 * 1024)).unwrap();
    for round in 0..24 {
        store.write_blocking("closed", batch(round, 2_500)).unwrap();
        store.write_blocking("open", batch(round, 500)).unwrap();
        if round % 5 == 0 {
            store.flush_blocking("open").unwrap();
        }
    }
    store.seal_blocking("closed").unwrap();
    // "open" keeps its last rounds in memory (packed on the fly by reads).

    let fast = serve(data::data_router_with(Arc::new(store.clone()), None)).await;
    let generic = serve(data::data_router(Arc::new(store.clone()))).await;
    let client = reqwest::Client::new();
    let window = format!("start={}&end={}", T0 + 7 * S, T0 + 23 * S);
    let paths = [
        "/rta/v2/sessions/closed/data/timestamped/-".to_string(),
        "/rta/v2/sessions/closed/data/periodic/-".to_string(),
        "/rta/v2/sessions/closed/data/timestamped/2-6".to_string(),
        format!("/rta/v2/sessions/closed/data/periodic/-?{window}"),
        "/rta/v2/sessions/open/data/timestamped/-".to_string(),
        format!("/rta/v2/sessions/open/data/periodic/-?{window}"),
        "/rta/v2/sessions/none/data/periodic/-".to_string(),
    ];
    let mut largest = 0;
    for path in &paths {
        let (a, len) = get(&client, fast, path).await;
        let (b, _) = get(&client, generic, path).await;
        assert_eq!(len, Some(a.len()), "{path}: Content-Length");
        assert!(a == b, "{path}: {} bytes against {}", a.len(), b.len());
        largest = largest.max(a.len());
        // A whole number of chunks, decodable.
        ChunkDecoder::decode_all(a.into()).unwrap();
    }
    // Several 512 KiB frames in the largest response.
    assert!(largest > 2 * 1024 * 1024, "largest body {largest} bytes");

    // Concurrent reads share the store's frame buffers safely.
    let want = get(&client, generic, &paths[0]).await.0;
    let reads = (0..4).map(|_| {
        let client = client.clone();
        let path = paths[0].clone();
        tokio::spawn(async move { get(&client, fast, &path).await.0 })
    });
    for r in futures::future::join_all(reads).await {
        assert!(r.unwrap() == want);
    }
}
