//! `rta-server` run as a process with the toolkit's options: `--redis`
//! (`RedisConnectionString`) sends live sessions through a real
//! `redis-server`, where a separate `rta-streamsvc` serves them;
//! `FileConfigsPath` and `FileDataPath` place the stores; `EnableGrpc` and
//! `EnableDataWriter` turn the gRPC services off.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

#[allow(dead_code)]
#[path = "../examples/ingest.rs"]
mod ingest;

mod support;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use support::free_port;

use futures::{SinkExt, StreamExt};
use prost::Message as _;
use rta::core::media::STREAM_SUBPROTOCOL;
use rta::core::proto::data_service::data_writer_client::DataWriterClient;
use rta::core::proto::data_service::{
    write_data_stream_message::Type as W, WriteDataStreamMessage,
};
use rta::core::proto::stream::{stream_data, stream_request, StreamRequest, StreamSubscription};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

/// A child process, killed when dropped.
struct Proc {
    child: Child,
    log: std::path::PathBuf,
}

impl Proc {
    fn spawn(bin: &str, args: &[&str], log: std::path::PathBuf) -> Proc {
        let child = Command::new(bin)
            .args(args)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start {bin} ({e}); redis-server comes with \
                     `apt-get install -y redis-server` (scripts/test.sh installs it)"
                )
            });
        Proc { child, log }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits until `GET http://127.0.0.1:{port}/` answers 200.
    async fn wait_http(&mut self, port: u16) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(r) = reqwest::get(format!("http://127.0.0.1:{port}/")).await {
                if r.status() == 200 {
                    return;
                }
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("exited with {status}: {}", self.log());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("no answer on port {port}: {}", self.log());
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sends one command to Redis in RESP and returns the raw reply.
fn redis_cmd(port: u16, args: &[&str]) -> String {
    let mut c = TcpStream::connect(("127.0.0.1", port)).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let mut req = format!("*{}\r\n", args.len());
    for a in args {
        req.push_str(&format!("${}\r\n{a}\r\n", a.len()));
    }
    c.write_all(req.as_bytes()).unwrap();
    let mut buf = vec![0u8; 64 * 1024];
    let n = c.read(&mut buf).unwrap();
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

/// Starts `redis-server` on a free loopback port and waits for PING.
async fn redis_server(dir: &Path) -> (Proc, u16) {
    let port = free_port();
    let p = port.to_string();
    let args = [
        "--port",
        p.as_str(),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
    ];
    let proc = Proc::spawn("redis-server", &args, dir.join("redis.log"));
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "redis-server did not start");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(redis_cmd(port, &["PING"]).starts_with("+PONG"));
    (proc, port)
}

/// Opens the live WebSocket of `identity` on `base` (reconnecting while the
/// session is not known yet), subscribes to everything and counts the
/// timestamped data items received until the session ends.
async fn follow(base: &str, identity: &str) -> usize {
    let url = format!("ws://{base}/rta/v2/sessions/{identity}/stream");
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut ws = loop {
        let mut req = url.clone().into_client_request().unwrap();
        req.headers_mut().insert(
            "Sec-WebSocket-Protocol",
            STREAM_SUBPROTOCOL.parse().unwrap(),
        );
        if let Ok((mut ws, _)) = tokio_tungstenite::connect_async(req).await {
            if let Ok(Some(Ok(Message::Binary(b)))) =
                tokio::time::timeout(Duration::from_secs(5), ws.next()).await
            {
                rta::stream::burst::decode_frame(&b, 1 << 20).unwrap();
                break ws;
            }
        }
        assert!(Instant::now() < deadline, "the live stream never opened");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let subscribe = StreamRequest {
        option: Some(stream_request::Option::Subscribe(StreamSubscription {
            all_events: true,
            all_data_channels: true,
            data_channel_ids: Vec::new(),
        })),
    };
    ws.send(Message::Binary(subscribe.encode_to_vec().into()))
        .await
        .unwrap();
    // Until the server closes the stream, or data has come and then
    // no data for 3 s (pings and other items do not count), or 30 s in all.
    let (mut items, mut last) = (0, Instant::now());
    let end = Instant::now() + Duration::from_secs(30);
    while Instant::now() < end && !(items > 0 && last.elapsed() > Duration::from_secs(3)) {
        match tokio::time::timeout(Duration::from_millis(500), ws.next()).await {
            Ok(Some(Ok(Message::Binary(b)))) => {
                let burst = rta::stream::burst::decode_frame(&b, 1 << 20).unwrap();
                let n = burst
                    .data
                    .iter()
                    .filter(|d| matches!(d.data, Some(stream_data::Data::TimestampedData(_))))
                    .count();
                if n > 0 {
                    (items, last) = (items + n, Instant::now());
                }
            }
            Ok(Some(Ok(Message::Close(_)))) | Ok(None) | Ok(Some(Err(_))) => break,
            _ => {}
        }
    }
    items
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rta_server_redis_flag_sends_live_sessions_through_redis() {
    let dir = tempfile::tempdir().unwrap();
    let (_redis, redis_port) = redis_server(dir.path()).await;
    let redis_url = format!("redis://127.0.0.1:{redis_port}");
    let (http, grpc, stream_http) = (free_port(), free_port(), free_port());
    let d = |name: &str| dir.path().join(name).display().to_string();
    let (data_dir, configs, data) = (d("server"), d("configs"), d("data"));
    let (http_s, grpc_s) = (http.to_string(), grpc.to_string());
    let mut server = Proc::spawn(
        env!("CARGO_BIN_EXE_rta-server"),
        &[
            "--bind",
            "127.0.0.1",
            "--http-port",
            &http_s,
            "--grpc-port",
            &grpc_s,
            "--data-dir",
            &data_dir,
            "--redis",
            &redis_url,
            "--Store",
            "File",
            "--FileConfigsPath",
            &configs,
            "--FileDataPath",
            &data,
        ],
        dir.path().join("server.log"),
    );
    server.wait_http(http).await;
    // A Stream Service on the same Redis: it knows the server's live
    // sessions only through Redis.
    let stream_port = stream_http.to_string();
    let mut streamsvc = Proc::spawn(
        env!("CARGO_BIN_EXE_rta-streamsvc"),
        &[
            "--bind",
            "127.0.0.1",
            "--http-port",
            &stream_port,
            "--RedisConnectionString",
            &format!("127.0.0.1:{redis_port}"),
        ],
        dir.path().join("streamsvc.log"),
    );
    streamsvc.wait_http(stream_http).await;

    let grpc_uri = format!("http://127.0.0.1:{grpc}");
    let run = tokio::spawn(async move {
        ingest::ingest(&grpc_uri, "via-redis", 50, Duration::from_millis(20))
            .await
            .map_err(|e| e.to_string())
    });
    let items = follow(&format!("127.0.0.1:{stream_http}"), "via-redis").await;
    run.await.unwrap().unwrap();
    assert!(
        items > 0,
        "no live data reached the Stream Service through Redis; server log: {}",
        server.log()
    );
    // The session record and its stream are in Redis.
    let hash = redis_cmd(redis_port, &["HGET", "sessions:via-redis", "streamName"]);
    assert!(hash.contains("rta-server"), "{hash}");
    let len = redis_cmd(redis_port, &["XLEN", "stream:rta-server"]);
    let len: i64 = len.trim().trim_start_matches(':').parse().unwrap();
    assert!(len > 0, "stream:rta-server is empty");
    // The stores are where FileConfigsPath and FileDataPath say.
    let (status, _) = get(http, "/rta/v2/configs/ingest-demo").await;
    assert_eq!(status, 200);
    assert!(std::fs::read_dir(&configs).unwrap().next().is_some());
    assert!(std::fs::read_dir(&data).unwrap().next().is_some());
    assert!(!Path::new(&data_dir).join("configs").exists());
}

async fn get(port: u16, path: &str) -> (u16, String) {
    let r = reqwest::get(format!("http://127.0.0.1:{port}{path}"))
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap_or_default())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rta_server_grpc_switches() {
    let dir = tempfile::tempdir().unwrap();
    let start = |extra: &'static [&'static str], name: &str| {
        let (http, grpc) = (free_port(), free_port());
        let data_dir = dir.path().join(name).display().to_string();
        let mut args: Vec<String> = [
            "--bind",
            "127.0.0.1",
            "--http-port",
            &http.to_string(),
            "--grpc-port",
            &grpc.to_string(),
            "--data-dir",
            &data_dir,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        args.extend(extra.iter().map(|s| s.to_string()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let log = dir.path().join(format!("{name}.log"));
        (
            Proc::spawn(env!("CARGO_BIN_EXE_rta-server"), &args, log),
            http,
            grpc,
        )
    };

    // EnableDataWriter=false: the gRPC port serves, DataWriter does not.
    let (mut ro, http, grpc) = start(&["--EnableDataWriter", "false"], "ro");
    ro.wait_http(http).await;
    let mut writer = DataWriterClient::connect(format!("http://127.0.0.1:{grpc}"))
        .await
        .unwrap();
    let msgs = [W::DataIdentity("x".into()), W::FlushMarker("f".into())]
        .map(|t| WriteDataStreamMessage { r#type: Some(t) });
    let err = writer
        .write_data_stream(futures::stream::iter(msgs))
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::Unimplemented, "{err}");

    // EnableGrpc=false: REST only, nothing listens on the gRPC port.
    let (mut rest, http, grpc) = start(&["--EnableGrpc=false"], "rest");
    rest.wait_http(http).await;
    assert_eq!(get(http, "/rta/v2/sessions").await.0, 200);
    assert!(
        TcpStream::connect(("127.0.0.1", grpc)).is_err(),
        "gRPC port {grpc} answers with EnableGrpc=false"
    );

    // A Sentinel URL is refused at start-up, naming the option.
    let (mut bad, _, _) = start(&["--redis", "redis+sentinel://127.0.0.1:1/m"], "bad");
    let status = bad.child.wait().unwrap();
    assert!(!status.success());
    let log = bad.log();
    assert!(
        log.contains("RedisConnectionString") && log.contains("Sentinel"),
        "{log}"
    );
}
