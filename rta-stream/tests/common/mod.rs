//! Test helpers: a real `redis-server` on a free loopback port, a stream
//! service on a free port, and a WebSocket client.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use prost::Message as _;
use rta_core::media::STREAM_SUBPROTOCOL;
use rta_core::proto::stream::{stream_request, StreamDataBurst, StreamRequest, StreamSubscription};
use rta_stream::burst::decode_frame;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message;

/// A `redis-server` child process, killed on drop.
pub struct RedisServer {
    child: Option<Child>,
    pub port: u16,
}

pub fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    l.local_addr().unwrap().port()
}

impl RedisServer {
    /// Starts `redis-server` on a free port. Fails the test, with a clear
    /// message, when `redis-server` is not installed.
    pub fn start() -> Self {
        Self::start_on(free_port())
    }

    /// Starts `redis-server` on `port` (e.g. to restart on the same port).
    pub fn start_on(port: u16) -> Self {
        Self::start_with(port, &[], true)
    }

    /// Starts `redis-server` on `port` with extra arguments; waits for a
    /// plain-text PING when `ping` (else for the port to accept connections).
    pub fn start_with(port: u16, extra: &[&str], ping: bool) -> Self {
        let child = Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--protected-mode",
                "no",
            ])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start `redis-server` ({e}): these tests need a real Redis server \
                     on PATH; install it (e.g. `apt-get install -y redis-server`)"
                )
            });
        let mut s = Self {
            child: Some(child),
            port,
        };
        s.wait_ready(ping);
        s
    }

    fn wait_ready(&mut self, ping: bool) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(mut c) = TcpStream::connect(("127.0.0.1", self.port)) {
                if !ping {
                    return;
                }
                c.set_read_timeout(Some(Duration::from_millis(500))).ok();
                if c.write_all(b"PING\r\n").is_ok() {
                    let mut buf = [0u8; 16];
                    if let Ok(n) = c.read(&mut buf) {
                        if buf[..n].starts_with(b"+PONG") {
                            return;
                        }
                    }
                }
            }
            if let Some(Ok(Some(status))) = self.child.as_mut().map(|c| c.try_wait()) {
                panic!(
                    "redis-server exited early with {status} (port {} busy?)",
                    self.port
                );
            }
            assert!(
                Instant::now() < deadline,
                "redis-server did not answer PING within 10 s"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Kills the server (SIGKILL) and waits for it to exit.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// A plain client for assertions.
    pub async fn conn(&self) -> redis::aio::MultiplexedConnection {
        redis::Client::open(self.url())
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .unwrap()
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Serves `app` on a free loopback port; returns the address.
pub async fn serve(app: axum::Router) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    addr
}

pub type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Opens the stream WebSocket of `identity` with the subprotocol.
pub async fn connect(addr: std::net::SocketAddr, identity: &str) -> Ws {
    let mut req = format!("ws://{addr}/rta/v2/sessions/{identity}/stream")
        .into_client_request()
        .unwrap();
    req.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        STREAM_SUBPROTOCOL.parse().unwrap(),
    );
    let (ws, resp) = tokio_tungstenite::connect_async(req).await.unwrap();
    assert_eq!(
        resp.headers().get("Sec-WebSocket-Protocol").unwrap(),
        STREAM_SUBPROTOCOL
    );
    ws
}

/// What the client saw next.
#[derive(Debug)]
pub enum Got {
    Burst(StreamDataBurst),
    Close(Option<u16>),
    End,
}

/// Next server message (binary bursts decoded), within `wait`.
pub async fn next(ws: &mut Ws, wait: Duration) -> Got {
    loop {
        let m = tokio::time::timeout(wait, ws.next())
            .await
            .expect("timed out waiting for a server message");
        match m {
            Some(Ok(Message::Binary(b))) => {
                return Got::Burst(decode_frame(&b, 1 << 20).expect("valid burst"))
            }
            Some(Ok(Message::Close(f))) => return Got::Close(f.map(|f| u16::from(f.code))),
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
            Some(Ok(other)) => panic!("unexpected message {other:?}"),
            Some(Err(_)) | None => return Got::End,
        }
    }
}

pub async fn next_burst(ws: &mut Ws, wait: Duration) -> StreamDataBurst {
    match next(ws, wait).await {
        Got::Burst(b) => b,
        other => panic!("expected a burst, got {other:?}"),
    }
}

pub async fn subscribe(ws: &mut Ws, all_events: bool, all_channels: bool, ids: &[u32]) {
    let req = StreamRequest {
        option: Some(stream_request::Option::Subscribe(StreamSubscription {
            all_events,
            all_data_channels: all_channels,
            data_channel_ids: ids.to_vec(),
        })),
    };
    ws.send(Message::Binary(req.encode_to_vec().into()))
        .await
        .unwrap();
}

pub fn close_code_normal() -> CloseCode {
    CloseCode::Normal
}

/// Raw HTTP GET with extra header lines; returns (status, body).
pub async fn http_get(addr: std::net::SocketAddr, path: &str, headers: &[&str]) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n");
    if !headers
        .iter()
        .any(|h| h.to_ascii_lowercase().starts_with("connection:"))
    {
        req.push_str("Connection: close\r\n");
    }
    for h in headers {
        req.push_str(h);
        req.push_str("\r\n");
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    // Until EOF, or a quiet second (a kept-alive connection).
    while let Ok(Ok(n)) = tokio::time::timeout(Duration::from_secs(1), s.read(&mut buf)).await {
        if n == 0 {
            break;
        }
        out.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&out).to_string();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text.split("\r\n\r\n").nth(1).unwrap_or("").to_string();
    (status, body)
}
