//! The data services over real sockets: write through the `DataWriter` gRPC
//! service, read back through the REST data API and the `DataReader` gRPC
//! service, bad input, the live-data hook, and `kill -9` after a flush ack.
#![allow(clippy::unwrap_used, clippy::expect_used)]
#![allow(missing_docs)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use rta_adapters::native::{NativeConfig, NativeStore};
use rta_core::chunk::{Chunk, ChunkDecoder};
use rta_core::data::{periodic, read_samples, read_timestamps, row, timestamped, DataList};
use rta_core::proto::data::{
    Event, EventsList, PeriodicDataList, RowDataList, TimestampedDataList,
};
use rta_core::proto::data_service::data_reader_client::DataReaderClient;
use rta_core::proto::data_service::data_writer_client::DataWriterClient;
use rta_core::proto::data_service::{
    write_data_stream_message::Type as W, write_data_stream_response_message::Type as R,
    ReadChannelDataStreamRequest, ReadDataStreamRequest, WriteDataStreamMessage,
};
use rta_core::proto::stream::stream_data;
use rta_core::service::IdentityCheck;
use rta_core::write::DataObserver;
use rta_service::data::{self, BroadcastObserver};
use tokio::net::TcpListener;
use tokio_stream::wrappers::ReceiverStream;

const S: i64 = 1_000_000_000;
const T0: i64 = 1_700_000_000 * S;

struct Servers {
    http: SocketAddr,
    grpc: SocketAddr,
}

async fn start(
    store: NativeStore,
    observer: Option<Arc<dyn DataObserver>>,
    check: Option<Arc<dyn IdentityCheck>>,
) -> Servers {
    let http_l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let grpc_l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let servers = Servers {
        http: http_l.local_addr().unwrap(),
        grpc: grpc_l.local_addr().unwrap(),
    };
    let app = data::data_router_with(Arc::new(store.clone()), check);
    tokio::spawn(async move { axum::serve(http_l, app).await.unwrap() });
    let store = Arc::new(store);
    tokio::spawn(async move {
        tonic::transport::Server::builder()
            .add_service(data::data_writer_server(store.clone(), observer))
            .add_service(data::data_reader_server(store))
            .serve_with_incoming(
                tonic::transport::server::TcpIncoming::from(grpc_l).with_nodelay(Some(true)),
            )
            .await
            .unwrap()
    });
    servers
}

fn msg(t: W) -> WriteDataStreamMessage {
    WriteDataStreamMessage { r#type: Some(t) }
}

/// Sends messages on one WriteDataStream call; returns the flush markers acknowledged.
async fn write(
    grpc: SocketAddr,
    msgs: Vec<WriteDataStreamMessage>,
) -> Result<Vec<String>, tonic::Status> {
    let mut client = DataWriterClient::connect(format!("http://{grpc}"))
        .await
        .unwrap();
    let resp = client
        .write_data_stream(futures::stream::iter(msgs))
        .await?;
    let mut acks = Vec::new();
    let mut s = resp.into_inner();
    while let Some(m) = s.next().await {
        if let Some(R::FlushCompleted(f)) = m?.r#type {
            acks.push(f);
        }
    }
    Ok(acks)
}

async fn rest(http: SocketAddr, path: &str) -> reqwest::Response {
    reqwest::get(format!("http://{http}{path}")).await.unwrap()
}

async fn rest_chunks(http: SocketAddr, path: &str) -> Vec<Chunk> {
    let r = rest(http, path).await;
    assert_eq!(r.status(), 200, "{path}");
    assert_eq!(
        r.headers()["content-type"],
        "application/vnd.mat.protobuf+chunked"
    );
    ChunkDecoder::decode_all(r.bytes().await.unwrap()).unwrap()
}

fn all_kinds(id: &str) -> (Vec<WriteDataStreamMessage>, Vec<(i64, f64)>) {
    let mut msgs = vec![msg(W::DataIdentity(id.into()))];
    let t: Vec<i64> = (0..3000)
        .map(|i| T0 + i * 20_000_000 + (i % 3) * 1_000)
        .collect();
    let v: Vec<f64> = (0..3000).map(|i| i as f64 * 0.5 - 100.0).collect();
    for (a, b) in t.chunks(100).zip(v.chunks(100)) {
        msgs.push(msg(W::TimestampedData(timestamped(0x1A, a, b).unwrap())));
    }
    for k in 0..10i64 {
        let vals: Vec<u32> = (0..500).map(|i| (k * 500 + i) as u32).collect();
        msgs.push(msg(W::PeriodicData(
            periodic(0x2B, T0 + k * 500 * 2_000_000, 2_000_000, &vals).unwrap(),
        )));
    }
    for i in 0..100i64 {
        msgs.push(msg(W::RowData(row(
            vec![0x30, 0x31],
            T0 + i * S / 10,
            vec![i as u8, 0, 0, 0, 1, 0, 0, 0],
        ))));
    }
    for i in 0..10i64 {
        msgs.push(msg(W::Event(Event {
            event_definition_id: 9,
            app_name: "a".into(),
            timestamp: T0 + i * 3 * S,
            status_text: format!("e{i}"),
            raw_data: vec![],
        })));
    }
    msgs.push(msg(W::FlushMarker("m1".into())));
    (msgs, t.into_iter().zip(v).collect())
}

fn ts_of(lists: impl IntoIterator<Item = TimestampedDataList>) -> Vec<(i64, f64)> {
    lists
        .into_iter()
        .flat_map(|l| l.timestamped_data)
        .flat_map(|d| {
            read_timestamps(&d)
                .unwrap()
                .into_iter()
                .zip(read_samples::<f64>(&d.buffer).unwrap())
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn write_grpc_read_rest_and_grpc() {
    let dir = tempfile::tempdir().unwrap();
    let store = NativeStore::open(NativeConfig::new(dir.path())).unwrap();
    let obs = BroadcastObserver::new(1024);
    let mut live = obs.subscribe();
    let sv = start(store.clone(), Some(Arc::new(obs)), None).await;
    let (msgs, expect_ts) = all_kinds("sess-1");
    assert_eq!(write(sv.grpc, msgs).await.unwrap(), vec!["m1".to_string()]);

    // REST, all four kinds.
    let chunks = rest_chunks(sv.http, "/rta/v2/sessions/sess-1/data/timestamped/1A").await;
    assert!(chunks.iter().all(|c| c.channel_ids == vec![0x1A]));
    assert!(chunks.windows(2).all(|w| w[0].end < w[1].start));
    let got = ts_of(chunks.iter().map(|c| c.decode_list().unwrap()));
    assert_eq!(got, expect_ts);

    let chunks = rest_chunks(
        sv.http,
        "/rta/v2/sessions/sess-1/data/periodic/-5,7,B-D,14-",
    )
    .await;
    let vals: Vec<u32> = chunks
        .iter()
        .flat_map(|c| c.decode_list::<PeriodicDataList>().unwrap().periodic_data)
        .flat_map(|p| read_samples::<u32>(&p.buffer).unwrap())
        .collect();
    assert_eq!(vals, (0..5000u32).collect::<Vec<_>>());

    let chunks = rest_chunks(sv.http, "/rta/v2/sessions/sess-1/data/row/31").await;
    let rows: Vec<_> = chunks
        .iter()
        .flat_map(|c| c.decode_list::<RowDataList>().unwrap().row_data)
        .collect();
    assert_eq!(rows.len(), 100);
    assert_eq!(
        (rows[42].timestamp, rows[42].buffer[0]),
        (T0 + 42 * S / 10, 42)
    );

    let chunks = rest_chunks(sv.http, "/rta/v2/sessions/sess-1/data/events").await;
    let evs: Vec<Event> = chunks
        .iter()
        .flat_map(|c| c.decode_list::<EventsList>().unwrap().events)
        .collect();
    assert_eq!(
        evs.iter().map(|e| e.timestamp).collect::<Vec<_>>(),
        (0..10).map(|i| T0 + i * 3 * S).collect::<Vec<_>>()
    );

    // Bounds are rounded outwards to whole stored chunks.
    let full = rest_chunks(sv.http, "/rta/v2/sessions/sess-1/data/timestamped/1A").await;
    for (s, e) in [
        (T0 + 7 * S + 3, T0 + 9 * S),
        (T0, T0),
        (T0 + 59 * S, T0 + 100 * S),
    ] {
        let part = rest_chunks(
            sv.http,
            &format!("/rta/v2/sessions/sess-1/data/timestamped/1A?start={s}&end={e}"),
        )
        .await;
        let i = full.iter().position(|c| c == &part[0]).unwrap();
        assert_eq!(&full[i..i + part.len()], &part[..]);
        assert!(part[0].start <= s && part.last().unwrap().end >= e.min(full.last().unwrap().end));
    }
    let only_start = rest_chunks(
        sv.http,
        &format!("/rta/v2/sessions/sess-1/data/events?start={}", T0 + 20 * S),
    )
    .await;
    let evs: Vec<Event> = only_start
        .iter()
        .flat_map(|c| c.decode_list::<EventsList>().unwrap().events)
        .collect();
    assert!(evs.iter().any(|e| e.timestamp == T0 + 27 * S));

    // gRPC reader.
    let mut reader = DataReaderClient::connect(format!("http://{}", sv.grpc))
        .await
        .unwrap();
    let lists: Vec<TimestampedDataList> = reader
        .read_timestamped_data_stream(ReadChannelDataStreamRequest {
            data_identity: "sess-1".into(),
            channels: "1A".into(),
            start_time: None,
            end_time: None,
        })
        .await
        .unwrap()
        .into_inner()
        .map(|r| r.unwrap())
        .collect()
        .await;
    assert_eq!(ts_of(lists), expect_ts);
    let n: usize = reader
        .read_periodic_data_stream(ReadChannelDataStreamRequest {
            data_identity: "sess-1".into(),
            channels: "2B".into(),
            start_time: Some(T0 + 5 * S),
            end_time: Some(T0 + 6 * S),
        })
        .await
        .unwrap()
        .into_inner()
        .map(|r| {
            r.unwrap()
                .items()
                .iter()
                .map(|p| p.samples as usize)
                .sum::<usize>()
        })
        .collect::<Vec<_>>()
        .await
        .iter()
        .sum();
    assert!(n >= 500, "{n}");
    let rows: usize = reader
        .read_row_data_stream(ReadChannelDataStreamRequest {
            data_identity: "sess-1".into(),
            channels: "30".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .map(|r| r.unwrap().row_data.len())
        .collect::<Vec<_>>()
        .await
        .iter()
        .sum();
    assert_eq!(rows, 100);
    let evs: usize = reader
        .read_events_stream(ReadDataStreamRequest {
            data_identity: "sess-1".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .map(|r| r.unwrap().events.len())
        .collect::<Vec<_>>()
        .await
        .iter()
        .sum();
    assert_eq!(evs, 10);

    // The observer saw every stored item, in order, as live-stream messages.
    let mut seen = 0;
    let mut first_ts = None;
    while let Ok((id, items)) = live.try_recv() {
        assert_eq!(&*id, "sess-1");
        for d in items.iter() {
            if let (None, Some(stream_data::Data::TimestampedData(t))) = (first_ts, &d.data) {
                first_ts = Some(t.start_timestamp);
            }
        }
        seen += items.len();
    }
    assert_eq!(seen, 30 + 10 + 100 + 10);
    assert_eq!(first_ts, Some(T0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn late_data_over_grpc_is_merged() {
    let dir = tempfile::tempdir().unwrap();
    let store =
        NativeStore::open(NativeConfig::new(dir.path()).with_target_list_bytes(2048)).unwrap();
    let sv = start(store, None, None).await;
    let t: Vec<i64> = (0..2000).map(|i| T0 + i * 10_000_000).collect();
    let v: Vec<f64> = (0..2000).map(f64::from).collect();
    let mut first = vec![msg(W::DataIdentity("L".into()))];
    let mut second = first.clone();
    for i in (0..2000).step_by(40) {
        first.push(msg(W::TimestampedData(
            timestamped(4, &t[i..i + 20], &v[i..i + 20]).unwrap(),
        )));
        second.push(msg(W::TimestampedData(
            timestamped(4, &t[i + 20..i + 40], &v[i + 20..i + 40]).unwrap(),
        )));
    }
    first.push(msg(W::FlushMarker("a".into())));
    second.push(msg(W::FlushMarker("b".into())));
    assert_eq!(write(sv.grpc, first).await.unwrap(), vec!["a"]);
    assert_eq!(write(sv.grpc, second).await.unwrap(), vec!["b"]);
    let chunks = rest_chunks(sv.http, "/rta/v2/sessions/L/data/timestamped/4").await;
    for w in chunks.windows(2) {
        assert!(w[0].end < w[1].start, "overlapping chunks");
    }
    let lists: Vec<TimestampedDataList> = chunks.iter().map(|c| c.decode_list().unwrap()).collect();
    let mut prev = i64::MIN;
    for d in lists.iter().flat_map(|l| &l.timestamped_data) {
        let ts = read_timestamps(d).unwrap();
        assert!(ts[0] > prev, "overlapping results");
        prev = *ts.last().unwrap();
    }
    assert_eq!(ts_of(lists), t.into_iter().zip(v).collect::<Vec<_>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let store = NativeStore::open(NativeConfig::new(dir.path())).unwrap();
    let sv = start(store.clone(), None, None).await;
    let (msgs, _) = all_kinds("ok");
    write(sv.grpc, msgs).await.unwrap();

    for (path, status) in [
        ("/rta/v2/sessions/ok/data/timestamped/XYZ", 400),
        ("/rta/v2/sessions/ok/data/timestamped/1,,2", 400),
        ("/rta/v2/sessions/ok/data/timestamped/1A?start=abc", 400),
        ("/rta/v2/sessions/ok/data/timestamped/1A?end=1.5", 400),
        ("/rta/v2/sessions/ok/data/periodic/1A?start=10&end=5", 400),
        ("/rta/v2/sessions/ok/data/events?start=10&end=5", 400),
        // api.yaml: `start` and `end` have `minimum: 0`.
        ("/rta/v2/sessions/ok/data/events?start=-1", 400),
        ("/rta/v2/sessions/ok/data/periodic/1A?end=-5", 400),
        ("/rta/v2/sessions/ok/data/sideways/1A", 404),
    ] {
        let r = rest(sv.http, path).await;
        assert_eq!(r.status(), status, "{path}");
        let body: serde_json::Value = r.json().await.unwrap();
        assert!(!body["error"].as_str().unwrap().is_empty(), "{path}");
    }
    // Unknown identity without a check: an empty stream.
    let r = rest(sv.http, "/rta/v2/sessions/unknown/data/timestamped/1A").await;
    assert_eq!(r.status(), 200);
    assert!(r.bytes().await.unwrap().is_empty());
    // Wrong media type.
    let r = reqwest::Client::new()
        .get(format!("http://{}/rta/v2/sessions/ok/data/events", sv.http))
        .header("accept", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 406);

    // gRPC: data before the identity, an empty identity, bad items, bad channel expressions.
    let item = timestamped(1, &[T0], &[1.0f64]).unwrap();
    let e = write(sv.grpc, vec![msg(W::TimestampedData(item.clone()))])
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::InvalidArgument);
    assert!(e.message().contains("data_identity"), "{}", e.message());
    let e = write(sv.grpc, vec![msg(W::FlushMarker("x".into()))])
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::InvalidArgument);
    let e = write(sv.grpc, vec![msg(W::DataIdentity(String::new()))])
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::InvalidArgument);
    let mut broken = item.clone();
    broken.timestamp_deltas = vec![3]; // the first delta must be 0
    let e = write(
        sv.grpc,
        vec![
            msg(W::DataIdentity("ok".into())),
            msg(W::TimestampedData(broken)),
        ],
    )
    .await
    .unwrap_err();
    assert_eq!(e.code(), tonic::Code::InvalidArgument);
    let huge = row(vec![1], T0, vec![0u8; 3 * 1024 * 1024]);
    let e = write(
        sv.grpc,
        vec![msg(W::DataIdentity("ok".into())), msg(W::RowData(huge))],
    )
    .await
    .unwrap_err();
    assert_eq!(e.code(), tonic::Code::InvalidArgument);
    assert!(e.message().contains("larger than"), "{}", e.message());
    let mut reader = DataReaderClient::connect(format!("http://{}", sv.grpc))
        .await
        .unwrap();
    let e = reader
        .read_timestamped_data_stream(ReadChannelDataStreamRequest {
            data_identity: "ok".into(),
            channels: "G".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::InvalidArgument);
    let e = reader
        .read_events_stream(ReadDataStreamRequest {
            data_identity: "ok".into(),
            start_time: Some(9),
            end_time: Some(1),
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::InvalidArgument);

    // Nothing stored was damaged by any of that.
    let chunks = rest_chunks(sv.http, "/rta/v2/sessions/ok/data/timestamped/1A").await;
    assert_eq!(
        ts_of(chunks.iter().map(|c| c.decode_list().unwrap())).len(),
        3000
    );
    let chunks = rest_chunks(sv.http, "/rta/v2/sessions/ok/data/timestamped/1").await;
    assert!(chunks.is_empty());
}

struct Known(Vec<&'static str>);

#[async_trait::async_trait]
impl IdentityCheck for Known {
    async fn exists(&self, identity: &str) -> rta_core::Result<bool> {
        Ok(self.0.contains(&identity))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identity_check_gives_404() {
    let dir = tempfile::tempdir().unwrap();
    let store = NativeStore::open(NativeConfig::new(dir.path())).unwrap();
    let sv = start(store, None, Some(Arc::new(Known(vec!["known"])))).await;
    assert_eq!(
        rest(sv.http, "/rta/v2/sessions/known/data/events")
            .await
            .status(),
        200
    );
    assert_eq!(
        rest(sv.http, "/rta/v2/sessions/other/data/events")
            .await
            .status(),
        404
    );
    assert_eq!(
        rest(sv.http, "/rta/v2/sessions/other/data/row/1")
            .await
            .status(),
        404
    );
}

/// The router over the store as a `ChunkedSource` and the generic router
/// over it as a `DataService` give byte-identical bodies, including data
/// still buffered (an open session's leading edge).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fast_path_matches_generic_chunk_path() {
    let dir = tempfile::tempdir().unwrap();
    let store =
        NativeStore::open(NativeConfig::new(dir.path()).with_target_list_bytes(4096)).unwrap();
    let sv = start(store.clone(), None, None).await;
    let (msgs, _) = all_kinds("same");
    write(sv.grpc, msgs).await.unwrap();
    // Unflushed data of an open session is served too (packed on the fly).
    store
        .write_blocking(
            "same",
            vec![timestamped(0x1A, &[T0 + 1000 * S], &[1.5f64])
                .unwrap()
                .into()],
        )
        .unwrap();
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let generic = l.local_addr().unwrap();
    let app = data::data_router(Arc::new(store.clone()));
    tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
    for path in [
        "/rta/v2/sessions/same/data/timestamped/-",
        "/rta/v2/sessions/same/data/periodic/2B",
        "/rta/v2/sessions/same/data/row/30-31",
        "/rta/v2/sessions/same/data/events",
        &format!(
            "/rta/v2/sessions/same/data/timestamped/1A?start={}&end={}",
            T0 + 10 * S,
            T0 + 20 * S
        ),
    ] {
        let fast = rest(sv.http, path).await.bytes().await.unwrap();
        let slow = rest(generic, path).await.bytes().await.unwrap();
        assert!(!fast.is_empty(), "{path}");
        assert_eq!(fast, slow, "{path}");
    }
    let last = rest_chunks(sv.http, "/rta/v2/sessions/same/data/timestamped/1A").await;
    let ts = ts_of(last.iter().map(|c| c.decode_list().unwrap()));
    assert_eq!(*ts.last().unwrap(), (T0 + 1000 * S, 1.5));
}

/// Streams a body chunk by chunk: the first bytes arrive before the whole
/// response is produced (here: many channels, read while being sent).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_response_is_streamed() {
    let dir = tempfile::tempdir().unwrap();
    let store = NativeStore::open(NativeConfig::new(dir.path())).unwrap();
    let items = (0..50u32)
        .map(|ch| {
            let v: Vec<f64> = (0..20_000)
                .map(|i| f64::from(i) * 0.1 + f64::from(ch))
                .collect();
            periodic(ch, T0, 10_000_000, &v).unwrap().into()
        })
        .collect();
    store.write_blocking("big", items).unwrap();
    store.seal_blocking("big").unwrap();
    let sv = start(store, None, None).await;
    let r = rest(sv.http, "/rta/v2/sessions/big/data/periodic/-").await;
    // The store knows the exact length before the first frame and says so
    // (`Content-Length`), yet the body still streams.
    let len: usize = r.headers()["content-length"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let mut received = 0usize;
    let mut s = r.bytes_stream();
    let mut dec = ChunkDecoder::new();
    let mut frames = 0;
    let mut last_channel = 0;
    let mut samples = 0usize;
    while let Some(b) = s.next().await {
        let b: Bytes = b.unwrap();
        frames += 1;
        received += b.len();
        dec.push_bytes(b);
        while let Some(c) = dec.next_chunk().unwrap() {
            assert!(c.channel_ids[0] >= last_channel, "channels out of order");
            last_channel = c.channel_ids[0];
            samples += c
                .decode_list::<PeriodicDataList>()
                .unwrap()
                .periodic_data
                .iter()
                .map(|p| p.samples as usize)
                .sum::<usize>();
        }
    }
    dec.finish().unwrap();
    assert_eq!(samples, 50 * 20_000);
    assert!(frames > 10, "{frames} body frames");
    assert_eq!(received, len);
}

/// The child half of `kill_9_after_flush_ack_loses_nothing`: serves the data
/// services on a store in `RTA_NATIVE_CHILD_DIR` and prints its port.
#[test]
#[ignore = "run as a child process by kill_9_after_flush_ack_loses_nothing"]
fn child_server() {
    let Ok(dir) = std::env::var("RTA_NATIVE_CHILD_DIR") else {
        return;
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async move {
        let store = NativeStore::open(NativeConfig::new(dir)).unwrap();
        let sv = start(store, None, None).await;
        println!("GRPC {}", sv.grpc);
        tokio::time::sleep(Duration::from_secs(120)).await;
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_after_flush_ack_loses_nothing() {
    use std::io::BufRead;
    let dir = tempfile::tempdir().unwrap();
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_server",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("RTA_NATIVE_CHILD_DIR", dir.path())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (line_tx, line_rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if line_tx.send(line).is_err() {
                break;
            }
        }
    });
    let grpc: SocketAddr = tokio::task::spawn_blocking(move || loop {
        let line = line_rx
            .recv_timeout(Duration::from_secs(60))
            .expect("child did not start");
        // libtest prefixes the line with the test name.
        if let Some(i) = line.find("GRPC ") {
            break line[i + 5..].trim().parse().unwrap();
        }
    })
    .await
    .unwrap();
    // One call: data, a flush acknowledged, then more data never flushed;
    // the child is killed while the call is still open.
    let mut client = DataWriterClient::connect(format!("http://{grpc}"))
        .await
        .unwrap();
    let (tx, rx) = tokio::sync::mpsc::channel(16);
    let mut acks = client
        .write_data_stream(ReceiverStream::new(rx))
        .await
        .unwrap()
        .into_inner();
    tx.send(msg(W::DataIdentity("crash".into()))).await.unwrap();
    let t: Vec<i64> = (0..10_000).map(|i| T0 + i * 1_000_000).collect();
    let v: Vec<f64> = (0..10_000).map(|i| f64::from(i) * 2.0).collect();
    for k in 0..80 {
        let r = k * 100..k * 100 + 100;
        tx.send(msg(W::TimestampedData(
            timestamped(6, &t[r.clone()], &v[r]).unwrap(),
        )))
        .await
        .unwrap();
    }
    tx.send(msg(W::Event(Event {
        timestamp: T0 + 5,
        status_text: "before".into(),
        ..Default::default()
    })))
    .await
    .unwrap();
    tx.send(msg(W::FlushMarker("durable".into())))
        .await
        .unwrap();
    let ack = tokio::time::timeout(Duration::from_secs(30), acks.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(ack.r#type, Some(R::FlushCompleted("durable".into())));
    for k in 80..100 {
        let r = k * 100..k * 100 + 100;
        tx.send(msg(W::TimestampedData(
            timestamped(6, &t[r.clone()], &v[r]).unwrap(),
        )))
        .await
        .unwrap();
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    child.kill().unwrap(); // SIGKILL on Unix
    child.wait().unwrap();
    drop(tx);

    let store = NativeStore::open(NativeConfig::new(dir.path())).unwrap();
    let sv = start(store, None, None).await;
    let chunks = rest_chunks(sv.http, "/rta/v2/sessions/crash/data/timestamped/6").await;
    let got = ts_of(chunks.iter().map(|c| c.decode_list().unwrap()));
    assert!(got.len() >= 8000, "only {} samples survived", got.len());
    let expect: Vec<(i64, f64)> = t.into_iter().zip(v).collect();
    assert_eq!(&got[..], &expect[..got.len()]);
    let evs = rest_chunks(sv.http, "/rta/v2/sessions/crash/data/events").await;
    assert_eq!(evs.len(), 1);
    // The reopened store accepts more data for the same identity.
    let (more, _) = all_kinds("crash");
    let acks = write(sv.grpc, more).await.unwrap();
    assert_eq!(acks, vec!["m1"]);
}
