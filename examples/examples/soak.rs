//! Soak harness: an `rta-server --demo` child process under sustained
//! ingest through `DataWriter`, rounds of WebSocket clients following the
//! live demo session, REST readers and a crowd of slow (half-open) clients,
//! all at once, on loopback, for a fixed time. Every `--report-secs` it
//! prints the server's resident memory and open descriptors (from `/proc`),
//! the p50/p99 latency of a normal request (`GET /rta/v2/sessions`) in that
//! window, and the counts of work done and errors.
//!
//! ```text
//! cargo build --release -p rta-examples --bin rta-server --example soak
//! target/release/examples/soak --duration-secs 600           # the 10-minute soak
//! target/release/examples/soak --warmup-secs 300 --duration-secs 900 --rounds 50 --ws-clients 300 --round-secs 8 \
//!     --slowloris 0 --readers 0 --ingest false               # WebSocket churn only
//! ```
//!
//! Options (defaults): `--duration-secs 60`, `--report-secs 5`,
//! `--ws-clients 300` per round, `--round-secs 8`, `--readers 2`,
//! `--warmup-secs 0` (idle time before the load, while the live demo
//! session fills its 5-minute back-fill history), `--ingest-rate 100000`
//! samples a second (0: unpaced), `--rounds 0` (with N > 0: stop the churn after N rounds and print the
//! RSS after each), `--slowloris 500`, `--ingest true`, `--server PATH` (the `rta-server`
//! beside this program). Exits 1 if any error was counted.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use prost::Message as _;
use rta::core::data::periodic;
use rta::core::media::STREAM_SUBPROTOCOL;
use rta::core::proto::data_service::data_writer_client::DataWriterClient;
use rta::core::proto::data_service::write_data_stream_message::Type as W;
use rta::core::proto::data_service::WriteDataStreamMessage;
use rta::core::proto::stream::{stream_request, StreamRequest, StreamSubscription};
use tokio::io::AsyncWriteExt;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

#[derive(Default)]
struct Counters {
    ingested: AtomicU64,
    ingest_errors: AtomicU64,
    ws_sessions: AtomicU64,
    ws_messages: AtomicU64,
    ws_errors: AtomicU64,
    reads: AtomicU64,
    read_errors: AtomicU64,
    slow_reconnects: AtomicU64,
    probe_errors: AtomicU64,
}

/// When the load stops: after the duration, or earlier when a bounded
/// churn has run all its rounds.
struct Deadline(Mutex<Instant>);

impl Deadline {
    fn new(d: Duration) -> Self {
        Self(Mutex::new(Instant::now() + d))
    }
    fn left(&self) -> Duration {
        self.0
            .lock()
            .unwrap()
            .saturating_duration_since(Instant::now())
    }
    fn live(&self) -> bool {
        !self.left().is_zero()
    }
    fn end_now(&self) {
        *self.0.lock().unwrap() = Instant::now();
    }
}

fn arg(args: &HashMap<String, String>, name: &str, default: &str) -> String {
    args.get(name)
        .cloned()
        .unwrap_or_else(|| default.to_string())
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

fn proc_figures(pid: u32) -> (u64, usize) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let rss_kib = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0);
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count());
    (rss_kib, fds)
}

async fn live_session(base: &str) -> String {
    for _ in 0..100 {
        let page: serde_json::Value = reqwest::get(format!("{base}/rta/v2/sessions"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let live = page["sessions"].as_array().and_then(|s| {
            s.iter()
                .find(|s| s["state"] == "open")
                .and_then(|s| s["identity"].as_str().map(str::to_string))
        });
        if let Some(id) = live {
            return id;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no live demo session");
}

/// Writes 64 channels × 1,000 samples per message, a flush every 10, at
/// `rate` samples a second (0: as fast as the server takes them).
async fn ingest(grpc: String, rate: u64, c: Arc<Counters>, until: Arc<Deadline>) {
    let Ok(mut client) = DataWriterClient::connect(grpc).await else {
        c.ingest_errors.fetch_add(1, Relaxed);
        return;
    };
    let mut t = 1_700_000_000_000_000_000i64;
    let values = vec![1.5f64; 1_000];
    let started = Instant::now();
    while until.live() {
        if rate > 0 {
            let due = Duration::from_secs_f64(c.ingested.load(Relaxed) as f64 / rate as f64);
            tokio::time::sleep(due.saturating_sub(started.elapsed()).min(until.left())).await;
        }
        let mut msgs = vec![W::DataIdentity("soak-ingest".into())];
        for round in 0..10 {
            for ch in 0..64 {
                msgs.push(W::PeriodicData(
                    periodic(ch, t, 1_000_000, &values).unwrap(),
                ));
            }
            t += 1_000_000_000;
            if round == 9 {
                msgs.push(W::FlushMarker(format!("f{t}")));
            }
        }
        let msgs = msgs
            .into_iter()
            .map(|t| WriteDataStreamMessage { r#type: Some(t) });
        match client.write_data_stream(futures::stream::iter(msgs)).await {
            Ok(resp) => {
                let mut resp = resp.into_inner();
                while let Some(r) = resp.next().await {
                    if r.is_err() {
                        c.ingest_errors.fetch_add(1, Relaxed);
                    }
                }
                c.ingested.fetch_add(640_000, Relaxed);
            }
            Err(_) => {
                c.ingest_errors.fetch_add(1, Relaxed);
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// One WebSocket client: subscribe to everything, read for `secs`, leave.
async fn ws_client(addr: String, identity: String, secs: Duration, c: Arc<Counters>) {
    let mut req = format!("ws://{addr}/rta/v2/sessions/{identity}/stream")
        .into_client_request()
        .unwrap();
    req.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        STREAM_SUBPROTOCOL.parse().unwrap(),
    );
    let Ok((mut ws, _)) = tokio_tungstenite::connect_async(req).await else {
        c.ws_errors.fetch_add(1, Relaxed);
        return;
    };
    c.ws_sessions.fetch_add(1, Relaxed);
    let sub = StreamRequest {
        option: Some(stream_request::Option::Subscribe(StreamSubscription {
            all_events: true,
            all_data_channels: true,
            data_channel_ids: Vec::new(),
        })),
    };
    if ws
        .send(Message::Binary(sub.encode_to_vec().into()))
        .await
        .is_err()
    {
        c.ws_errors.fetch_add(1, Relaxed);
        return;
    }
    let end = tokio::time::sleep(secs);
    tokio::pin!(end);
    loop {
        tokio::select! {
            () = &mut end => break,
            m = ws.next() => match m {
                Some(Ok(Message::Binary(_))) => { c.ws_messages.fetch_add(1, Relaxed); }
                Some(Ok(_)) => {}
                // The demo session ended or the server closed us.
                Some(Err(_)) | None => { c.ws_errors.fetch_add(1, Relaxed); break; }
            }
        }
    }
    let _ = ws.close(None).await;
}

/// Rounds of `n` clients, each reading for `round`; with `rounds` > 0 it
/// stops after that many and prints the server's RSS after each round.
struct Churn {
    addr: String,
    id: String,
    n: usize,
    round: Duration,
    rounds: usize,
    pid: u32,
}

async fn ws_churn(ch: Churn, c: Arc<Counters>, until: Arc<Deadline>) {
    let mut k = 0;
    while until.live() && (ch.rounds == 0 || k < ch.rounds) {
        let clients: Vec<_> = (0..ch.n)
            .map(|_| {
                let (addr, id) = (ch.addr.clone(), ch.id.clone());
                tokio::spawn(ws_client(addr, id, ch.round, c.clone()))
            })
            .collect();
        for h in clients {
            let _ = h.await;
        }
        k += 1;
        if ch.rounds > 0 {
            tokio::time::sleep(Duration::from_millis(500)).await;
            let (rss, fds) = proc_figures(ch.pid);
            println!("round {k:>3}: RSS {} MiB, {fds} fds", rss / 1024);
        }
    }
    if ch.rounds > 0 {
        until.end_now();
    }
}

async fn reader(base: String, c: Arc<Counters>, until: Arc<Deadline>) {
    let client = reqwest::Client::new();
    let url = format!("{base}/rta/v2/sessions/demo-historical-1/data/periodic/-");
    while until.live() {
        match client.get(&url).send().await {
            Ok(r) if r.status().is_success() => match r.bytes().await {
                Ok(_) => c.reads.fetch_add(1, Relaxed),
                Err(_) => c.read_errors.fetch_add(1, Relaxed),
            },
            _ => c.read_errors.fetch_add(1, Relaxed),
        };
    }
}

/// Keeps `n` connections that send half a request head and stall.
async fn slowloris(addr: String, n: usize, c: Arc<Counters>, until: Arc<Deadline>) {
    let tasks: Vec<_> = (0..n)
        .map(|_| {
            let (addr, c, until) = (addr.clone(), c.clone(), until.clone());
            tokio::spawn(async move {
                while until.live() {
                    if let Ok(mut s) = tokio::net::TcpStream::connect(&addr).await {
                        let _ = s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow:").await;
                        let mut buf = [0u8; 256];
                        let left = until.left();
                        // Wait until the server drops us, then come back.
                        let _ = tokio::time::timeout(
                            left,
                            tokio::io::AsyncReadExt::read(&mut s, &mut buf),
                        )
                        .await;
                        c.slow_reconnects.fetch_add(1, Relaxed);
                    } else {
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                }
            })
        })
        .collect();
    for t in tasks {
        let _ = t.await;
    }
}

/// Times `GET /rta/v2/sessions` every 100 ms into `lat`.
async fn probe(
    base: String,
    lat: Arc<Mutex<Vec<Duration>>>,
    c: Arc<Counters>,
    until: Arc<Deadline>,
) {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    while until.live() {
        let t = Instant::now();
        match client.get(format!("{base}/rta/v2/sessions")).send().await {
            Ok(r) if r.status().is_success() => lat.lock().unwrap().push(t.elapsed()),
            _ => {
                c.probe_errors.fetch_add(1, Relaxed);
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn percentile(v: &mut [Duration], p: f64) -> Duration {
    if v.is_empty() {
        return Duration::ZERO;
    }
    v.sort();
    v[((v.len() - 1) as f64 * p).round() as usize]
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let raw: Vec<String> = std::env::args().skip(1).collect();
    let args: HashMap<String, String> = raw
        .chunks(2)
        .filter_map(|p| Some((p[0].trim_start_matches("--").to_string(), p.get(1)?.clone())))
        .collect();
    let secs: u64 = arg(&args, "duration-secs", "60").parse().unwrap();
    let report: u64 = arg(&args, "report-secs", "5").parse().unwrap();
    let ws_clients: usize = arg(&args, "ws-clients", "300").parse().unwrap();
    let round: u64 = arg(&args, "round-secs", "8").parse().unwrap();
    let rounds: usize = arg(&args, "rounds", "0").parse().unwrap();
    let readers: usize = arg(&args, "readers", "2").parse().unwrap();
    let slow: usize = arg(&args, "slowloris", "500").parse().unwrap();
    let do_ingest = arg(&args, "ingest", "true") == "true";
    let ingest_rate: u64 = arg(&args, "ingest-rate", "100000").parse().unwrap();
    let warmup: u64 = arg(&args, "warmup-secs", "0").parse().unwrap();
    let exe = std::env::current_exe().unwrap();
    let default_server = exe.parent().unwrap().parent().unwrap().join("rta-server");
    let server_bin = args.get("server").map(Into::into).unwrap_or(default_server);

    let dir = tempfile::tempdir().unwrap();
    let (http, grpc) = (free_port(), free_port());
    let mut server = std::process::Command::new(&server_bin)
        .args([
            "--demo",
            "--demo-seconds",
            &(secs + warmup + 60).to_string(),
            "--bind",
            "127.0.0.1",
        ])
        .args([
            "--http-port",
            &http.to_string(),
            "--grpc-port",
            &grpc.to_string(),
        ])
        .arg("--data-dir")
        .arg(dir.path())
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", server_bin.display()));
    let (addr, base) = (
        format!("127.0.0.1:{http}"),
        format!("http://127.0.0.1:{http}"),
    );
    for _ in 0..300 {
        if reqwest::get(format!("{base}/")).await.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let identity = live_session(&base).await;
    let (rss0, fds0) = proc_figures(server.id());
    println!(
        "server pid {} on {addr}; live session {identity}; start RSS {} MiB, {fds0} fds",
        server.id(),
        rss0 / 1024
    );

    if warmup > 0 {
        println!("warming up for {warmup} s (the live session fills its back-fill history)");
        tokio::time::sleep(Duration::from_secs(warmup)).await;
        let (rss, fds) = proc_figures(server.id());
        println!("after the warm-up: RSS {} MiB, {fds} fds", rss / 1024);
    }
    let c = Arc::new(Counters::default());
    let lat = Arc::new(Mutex::new(Vec::new()));
    let until = Arc::new(Deadline::new(Duration::from_secs(secs)));
    let mut tasks = vec![tokio::spawn(probe(
        base.clone(),
        lat.clone(),
        c.clone(),
        until.clone(),
    ))];
    if do_ingest {
        tasks.push(tokio::spawn(ingest(
            format!("http://127.0.0.1:{grpc}"),
            ingest_rate,
            c.clone(),
            until.clone(),
        )));
    }
    if ws_clients > 0 {
        let r = Duration::from_secs(round);
        let churn = Churn {
            addr: addr.clone(),
            id: identity,
            n: ws_clients,
            round: r,
            rounds,
            pid: server.id(),
        };
        tasks.push(tokio::spawn(ws_churn(churn, c.clone(), until.clone())));
    }
    for _ in 0..readers {
        tasks.push(tokio::spawn(reader(base.clone(), c.clone(), until.clone())));
    }
    if slow > 0 {
        tasks.push(tokio::spawn(slowloris(
            addr.clone(),
            slow,
            c.clone(),
            until.clone(),
        )));
    }

    println!(
        "t_s  rss_mib  fds  p50_ms  p99_ms  ingested_M  ws_conn  ws_msgs  reads  slow_rec  errors"
    );
    let start = Instant::now();
    let errors = |c: &Counters| {
        c.ingest_errors.load(Relaxed)
            + c.ws_errors.load(Relaxed)
            + c.read_errors.load(Relaxed)
            + c.probe_errors.load(Relaxed)
    };
    while until.live() {
        tokio::time::sleep(until.left().min(Duration::from_secs(report))).await;
        let (rss, fds) = proc_figures(server.id());
        let mut window = std::mem::take(&mut *lat.lock().unwrap());
        println!(
            "{:>4} {:>8} {:>4} {:>7.2} {:>7.2} {:>11.1} {:>8} {:>8} {:>6} {:>9} {:>7}",
            start.elapsed().as_secs(),
            rss / 1024,
            fds,
            percentile(&mut window, 0.5).as_secs_f64() * 1e3,
            percentile(&mut window, 0.99).as_secs_f64() * 1e3,
            c.ingested.load(Relaxed) as f64 / 1e6,
            c.ws_sessions.load(Relaxed),
            c.ws_messages.load(Relaxed),
            c.reads.load(Relaxed),
            c.slow_reconnects.load(Relaxed),
            errors(&c),
        );
    }
    for t in tasks {
        let _ = t.await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (rss, fds) = proc_figures(server.id());
    println!(
        "after the load: RSS {} MiB, {fds} fds (start {} MiB, {fds0} fds); errors: ingest {}, websocket {}, reads {}, probe {}",
        rss / 1024,
        rss0 / 1024,
        c.ingest_errors.load(Relaxed),
        c.ws_errors.load(Relaxed),
        c.read_errors.load(Relaxed),
        c.probe_errors.load(Relaxed)
    );
    let _ = server.kill();
    let _ = server.wait();
    if errors(&c) > 0 {
        std::process::ExitCode::FAILURE
    } else {
        std::process::ExitCode::SUCCESS
    }
}
