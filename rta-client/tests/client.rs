//! The client against a real `rta-server` (in process, on loopback ports):
//! sessions through the builder read back over REST, the data writer's
//! acknowledged flushes and reconnection, and resumed downloads.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rta_client::{Error, MarkerSpec, RestReader, RtaClient, SessionRequest, SessionState};
use rta_core::config::{ChannelDataType, Config, ParameterSpec};
use rta_core::data::{periodic, timestamped, DataKind};
use rta_core::proto::session_service::{DataBinding, DataBindingKey};
use rta_service::serve::RunningServer;
use rta_service::server::RtaServer;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const T0: i64 = 1_700_000_000_000_000_000;
const SEC: i64 = 1_000_000_000;

fn loopback() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

async fn client_of(http: &str, grpc: &str) -> RtaClient {
    RtaClient::builder(grpc)
        .rest(http)
        .timeout(Duration::from_secs(10))
        .connect()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_and_configs_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let server = RtaServer::open(dir.path()).unwrap();
    let running = server.spawn(loopback(), loopback()).await.unwrap();
    let client = client_of(&running.http_url(), &running.grpc_uri().unwrap()).await;

    let config = Config::builder("cfg-1")
        .parameter(ParameterSpec::new("vCar", ChannelDataType::F64).periodic_hz(10.0))
        .build()
        .unwrap();
    assert!(client.put_config("cfg-1", &config).await.unwrap());
    let other = Config::builder("cfg-1")
        .parameter(ParameterSpec::new("nEngine", ChannelDataType::F32).periodic_hz(10.0))
        .build()
        .unwrap();
    assert!(
        !client.put_config("cfg-1", &other).await.unwrap(),
        "configs are immutable: another config under the same identifier is refused"
    );
    let got = client.get_config("cfg-1").await.unwrap();
    assert_eq!(got.content_type, "application/vnd.mat.config+json");

    client.put_folder("", "tests", "Tests").await.unwrap();
    let open = SessionRequest::new("run-1", SessionState::Open)
        .identifier("Run 1")
        .timestamp("2023-11-14T22:13:20Z")
        .time_range(T0, T0 + SEC)
        .session_type("Test")
        .detail("Driver", "A. Smith")
        .marker(
            "Laps",
            MarkerSpec::new("lap-1", "Lap", "Lap 1").range(T0, T0 + SEC / 2),
        )
        .config_binding("cfg-1", 0)
        .folder("tests");
    client.put_session(open).await.unwrap();
    let more = SessionRequest::update("run-1")
        .extend_time_range(T0, T0 + 5 * SEC)
        .state(SessionState::Closed);
    client.put_session(more).await.unwrap();

    let rest = client.rest().unwrap();
    let s = rest.session("run-1").await.unwrap();
    assert_eq!(s["identity"], "run-1");
    assert_eq!(s["state"], "closed");
    assert_eq!(s["identifier"], "Run 1");
    assert_eq!(s["details"]["Driver"], "A. Smith");
    assert_eq!(s["timeRange"]["endTime"], T0 + 5 * SEC, "{s}");
    assert_eq!(s["configBindings"][0]["identifier"], "cfg-1", "{s}");
    assert_eq!(s["markers"][0]["label"], "Lap 1", "{s}");
    assert_eq!(s["markers"][0]["category"], "Laps", "{s}");

    // Sequence numbers: a retried or late update (a lower number) is not applied.
    let v1 = SessionRequest::update("run-1")
        .sequence(5)
        .detail("Build", "1");
    client.put_session(v1).await.unwrap();
    let stale = SessionRequest::update("run-1")
        .sequence(3)
        .detail("Build", "0");
    let _ = client.put_session(stale).await;
    let s = rest.session("run-1").await.unwrap();
    assert_eq!(
        s["details"]["Build"], "1",
        "the stale update was not applied: {s}"
    );

    // A data binding, read back through the session service.
    let binding = DataBinding {
        key: Some(DataBindingKey {
            source: "archive".into(),
            identity: "run-1-data".into(),
            time_ref: 0,
        }),
        ..Default::default()
    };
    let bind = SessionRequest::update("run-1")
        .sequence(6)
        .data_binding(binding);
    client.put_session(bind).await.unwrap();
    let got = client.get_session("run-1").await.unwrap();
    let keys: Vec<String> = got
        .data_bindings
        .iter()
        .filter_map(|b| b.key.as_ref().map(|k| k.identity.clone()))
        .collect();
    assert!(keys.contains(&"run-1-data".to_string()), "{keys:?}");

    let listed = client.list_sessions("", "tests").await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].identity, "run-1");
    assert!(matches!(
        client.get_session("nope").await,
        Err(Error::NotFound(_))
    ));
    assert!(matches!(
        rest.session("nope").await,
        Err(Error::NotFound(_))
    ));
    running.stop().await.unwrap();
}

/// A TCP forwarder to `upstream` that can drop every connection and refuse
/// new ones, as a network failure or a server restart would.
struct Switch {
    addr: SocketAddr,
    up: Arc<AtomicBool>,
    conns: Arc<Mutex<tokio::task::JoinSet<()>>>,
}

impl Switch {
    async fn start(upstream: SocketAddr) -> Self {
        let l = tokio::net::TcpListener::bind(loopback()).await.unwrap();
        let addr = l.local_addr().unwrap();
        let up = Arc::new(AtomicBool::new(true));
        let conns = Arc::new(Mutex::new(tokio::task::JoinSet::new()));
        let (up2, conns2) = (up.clone(), conns.clone());
        tokio::spawn(async move {
            while let Ok((mut down, _)) = l.accept().await {
                if !up2.load(SeqCst) {
                    continue; // dropped: the connection is refused
                }
                conns2.lock().unwrap().spawn(async move {
                    if let Ok(mut up) = tokio::net::TcpStream::connect(upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut down, &mut up).await;
                    }
                });
            }
        });
        Self { addr, up, conns }
    }

    fn cut(&self) {
        self.up.store(false, SeqCst);
        self.conns.lock().unwrap().abort_all();
    }

    fn restore(&self) {
        self.up.store(true, SeqCst);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writer_survives_a_dropped_connection_without_losing_or_repeating_data() {
    let dir = tempfile::tempdir().unwrap();
    let server = RtaServer::open(dir.path()).unwrap();
    let running = server.spawn(loopback(), loopback()).await.unwrap();
    let switch = Switch::start(running.grpc_addr.unwrap()).await;
    let client = client_of(&running.http_url(), &format!("http://{}", switch.addr)).await;
    client
        .put_session(SessionRequest::new("w-1", SessionState::Open).identifier("w"))
        .await
        .unwrap();

    let writer = client.writer("w-1").await.unwrap();
    // Ten seconds of 100 Hz data on channel 0, one second per item.
    let second = |k: i64| {
        let v: Vec<f64> = (0..100).map(|i| (k * 100 + i) as f64).collect();
        periodic(0, T0 + k * SEC, SEC / 100, &v).unwrap()
    };
    for k in 0..5 {
        writer.periodic(second(k)).await.unwrap();
    }
    writer.flush().await.unwrap();

    // The network fails; the writer keeps what it is given meanwhile.
    switch.cut();
    let w2 = tokio::spawn(async move {
        for k in 5..10 {
            writer.periodic(second(k)).await.unwrap();
        }
        writer.flush().await.unwrap();
        let reconnects = writer.reconnects();
        writer.close().await.unwrap();
        reconnects
    });
    tokio::time::sleep(Duration::from_millis(700)).await;
    switch.restore();
    let reconnects = tokio::time::timeout(Duration::from_secs(30), w2)
        .await
        .expect("the writer finished after the network came back")
        .unwrap();
    assert!(reconnects >= 1, "the writer reconnected");

    let rest = client.rest().unwrap();
    let samples = rest
        .download("w-1", DataKind::Periodic, "0", None, None)
        .samples(ChannelDataType::F64)
        .await
        .unwrap();
    assert_eq!(samples.len(), 1);
    let want: Vec<f64> = (0..1000).map(f64::from).collect();
    assert_eq!(samples[0].values, want, "every sample once, in order");
    let times: Vec<i64> = (0..1000).map(|i| T0 + i * SEC / 100).collect();
    assert_eq!(samples[0].times, times);
    running.stop().await.unwrap();
}

/// A REST reader of `running` whose first connection is cut after
/// `cut_after` bytes of the answer.
async fn cut_reader(running: &RunningServer, cut_after: usize) -> RestReader {
    let proxy = cutting_proxy(running.http_addr, cut_after).await;
    let client = RtaClient::builder(running.grpc_uri().unwrap())
        .rest(format!("http://{proxy}"))
        .connect()
        .await
        .unwrap();
    client.rest().unwrap().clone()
}

/// Forwards connections to `upstream`; the first one is cut after
/// `cut_after` bytes of the answer.
async fn cutting_proxy(upstream: SocketAddr, cut_after: usize) -> SocketAddr {
    let l = tokio::net::TcpListener::bind(loopback()).await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        let mut first = true;
        while let Ok((mut down, _)) = l.accept().await {
            let limit = if first { Some(cut_after) } else { None };
            first = false;
            tokio::spawn(async move {
                let mut up = tokio::net::TcpStream::connect(upstream).await.unwrap();
                let (mut ur, mut uw) = up.split();
                let (mut dr, mut dw) = down.split();
                let to_up = tokio::io::copy(&mut dr, &mut uw);
                let to_down = async {
                    let mut sent = 0usize;
                    let mut buf = vec![0u8; 4096];
                    loop {
                        let n = ur.read(&mut buf).await.unwrap_or(0);
                        if n == 0 {
                            break;
                        }
                        let n = limit.map_or(n, |l| n.min(l.saturating_sub(sent)));
                        if dw.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                        sent += n;
                        if limit.is_some_and(|l| sent >= l) {
                            break; // cut: the connection drops mid-body
                        }
                    }
                };
                tokio::select! {
                    _ = to_up => {}
                    () = to_down => {}
                }
            });
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_download_resumes_and_equals_a_whole_one() {
    let dir = tempfile::tempdir().unwrap();
    let server = RtaServer::open(dir.path()).unwrap();
    let running = server.spawn(loopback(), loopback()).await.unwrap();
    let client = client_of(&running.http_url(), &running.grpc_uri().unwrap()).await;
    client
        .put_session(SessionRequest::new("d-1", SessionState::Closed).identifier("d"))
        .await
        .unwrap();
    let writer = client.writer("d-1").await.unwrap();
    // Three channels, 200 s of 1 kHz timestamped data: many chunks each.
    for k in 0..200i64 {
        for ch in 0..3u32 {
            let times: Vec<i64> = (0..1000).map(|i| T0 + k * SEC + i * 1_000_000).collect();
            let v: Vec<f32> = (0..1000)
                .map(|i| (k * 1000 + i) as f32 + ch as f32 * 0.5)
                .collect();
            writer
                .timestamped(timestamped(ch, &times, &v).unwrap())
                .await
                .unwrap();
        }
    }
    writer.close().await.unwrap();

    let rest = client.rest().unwrap();
    let whole = rest
        .download("d-1", DataKind::Timestamped, "0-2", None, None)
        .samples(ChannelDataType::F32)
        .await
        .unwrap();
    assert_eq!(whole.len(), 3);
    assert_eq!(whole[2].values.len(), 200_000);

    let mut d = cut_reader(&running, 300_000).await.download(
        "d-1",
        DataKind::Timestamped,
        "0-2",
        None,
        None,
    );
    let resumed = d.samples(ChannelDataType::F32).await.unwrap();
    assert!(d.resumes() >= 1, "the download was cut and resumed");
    assert_eq!(resumed, whole, "a resumed download equals a whole one");

    // In time slices: the same chunks, channels interleaved slice by slice
    // (the native store sends one channel's whole range, then the next).
    let (from, to) = (T0, T0 + 200 * SEC);
    let chunks = |mut d: rta_client::Download| async move {
        let mut out = Vec::new();
        while let Some(c) = d.next_chunk().await.unwrap() {
            out.push((c.channel_ids.clone(), c.start, c.end));
        }
        (out, d.resumes())
    };
    let (unsliced, _) =
        chunks(rest.download("d-1", DataKind::Timestamped, "0-2", None, None)).await;
    let sliced_download = rest
        .download("d-1", DataKind::Timestamped, "0-2", None, None)
        .in_slices(from, to, 256 << 10);
    let (sliced, _) = chunks(sliced_download).await;
    let per_channel = |all: &[(Vec<u32>, i64, i64)], ch: u32| -> Vec<(i64, i64)> {
        all.iter()
            .filter(|c| c.0.contains(&ch))
            .map(|c| (c.1, c.2))
            .collect()
    };
    for ch in 0..3 {
        assert_eq!(
            per_channel(&sliced, ch),
            per_channel(&unsliced, ch),
            "channel {ch}"
        );
    }
    assert_eq!(sliced.len(), unsliced.len(), "no chunk twice");
    let first_of_2 = |all: &[(Vec<u32>, i64, i64)]| all.iter().position(|c| c.0 == [2]).unwrap();
    assert!(
        first_of_2(&unsliced) > unsliced.len() / 2,
        "unsliced: channel by channel"
    );
    assert!(
        first_of_2(&sliced) < sliced.len() / 10,
        "sliced: channels side by side"
    );
    let values = rest
        .download("d-1", DataKind::Timestamped, "0-2", None, None)
        .in_slices(from, to, 256 << 10)
        .samples(ChannelDataType::F32)
        .await
        .unwrap();
    assert_eq!(values, whole, "a sliced download equals a whole one");
    let inner = rest
        .download("d-1", DataKind::Timestamped, "0-2", None, None)
        .in_slices(from + 50 * SEC, to - 50 * SEC, 256 << 10)
        .samples(ChannelDataType::F32)
        .await
        .unwrap();
    assert_eq!(inner, whole, "slices inside the data leave nothing out");
    // Cut inside the first slice: resumed there, still the same.
    let mut d = cut_reader(&running, 20_000)
        .await
        .download("d-1", DataKind::Timestamped, "0-2", None, None)
        .in_slices(from, to, 256 << 10);
    let resumed = d.samples(ChannelDataType::F32).await.unwrap();
    assert!(d.resumes() >= 1, "the sliced download was cut and resumed");
    assert_eq!(
        resumed, whole,
        "a resumed sliced download equals a whole one"
    );
    running.stop().await.unwrap();
}
