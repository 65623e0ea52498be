//! The listener limits against slow and hostile clients, on the RTA
//! Server's router over real sockets: half-open connections (a partial
//! request head, nothing at all, a partial HTTP/2 preface) are closed by
//! the server within the header timeout while normal requests keep being
//! answered and descriptors return to where they were; the connection cap
//! turns away new connections but not open ones; an oversize body is 413.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use rta_service::options::{ListenerLimits, ServiceOptions};
use rta_service::serve::{self, RunningServer};
use rta_service::server::RtaServer;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn server(dir: &std::path::Path, limits: ListenerLimits) -> (RtaServer, RunningServer) {
    let server = RtaServer::open(dir.join("data")).unwrap();
    let opts = ServiceOptions {
        limits,
        ..ServiceOptions::http("127.0.0.1:0".parse().unwrap())
    };
    let running = serve::spawn_with(&opts, server.http_router(), None)
        .await
        .unwrap();
    (server, running)
}

fn open_descriptors() -> usize {
    std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count())
}

/// Whether the server has closed `s` (EOF or reset) within `wait`.
async fn closed_by_server(s: &mut TcpStream, wait: Duration) -> bool {
    let mut buf = [0u8; 1024];
    let deadline = Instant::now() + wait;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, s.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            // A 408 or similar before the close is fine: keep reading.
            Ok(Ok(_)) => continue,
            Err(_) => return false,
        }
    }
}

async fn timed_get(url: &str) -> (u16, Duration) {
    let t = Instant::now();
    let r = reqwest::Client::new()
        .get(url)
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), t.elapsed())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_open_connections_are_closed_and_service_continues() {
    let dir = tempfile::tempdir().unwrap();
    let limits = ListenerLimits {
        header_read_timeout: Duration::from_secs(1),
        ..ListenerLimits::default()
    };
    let (_server, running) = server(dir.path(), limits).await;
    let addr: SocketAddr = running.http_addr;
    let url = format!("{}/rta/v2/sessions", running.http_url());
    assert_eq!(timed_get(&url).await.0, 200);
    let baseline = open_descriptors();

    // 3,000 slow clients: a partial head, nothing at all, a partial preface.
    let mut crowd = Vec::new();
    for i in 0..3000 {
        let mut s = TcpStream::connect(addr).await.unwrap();
        match i % 3 {
            0 => s
                .write_all(b"GET /rta/v2/sessions HTTP/1.1\r\nHost: x\r\nX-Slow:")
                .await
                .unwrap(),
            1 => {}
            _ => s.write_all(b"PRI * HTTP/2.0\r\n").await.unwrap(),
        }
        crowd.push(s);
    }
    let (status, latency) = timed_get(&url).await;
    assert_eq!(status, 200, "a normal request during the attack");
    println!("normal request during 3,000 half-open connections: {latency:?}");

    let start = Instant::now();
    let mut open = 0;
    for s in &mut crowd {
        if !closed_by_server(s, Duration::from_secs(4).saturating_sub(start.elapsed())).await {
            open += 1;
        }
    }
    assert_eq!(
        open, 0,
        "half-open connections still open after the header timeout"
    );
    drop(crowd);
    // The server side of every connection is gone too.
    let mut now = open_descriptors();
    for _ in 0..50 {
        if now <= baseline + 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        now = open_descriptors();
    }
    assert!(
        now <= baseline + 2,
        "descriptors {now}, baseline {baseline}"
    );

    // A keep-alive connection left idle is closed the same way.
    let mut idle = TcpStream::connect(addr).await.unwrap();
    idle.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    assert!(closed_by_server(&mut idle, Duration::from_secs(4)).await);
    running.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_connection_cap_turns_away_new_connections_only() {
    let dir = tempfile::tempdir().unwrap();
    let limits = ListenerLimits {
        max_connections: 8,
        header_read_timeout: Duration::from_secs(20),
        ..ListenerLimits::default()
    };
    let (_server, running) = server(dir.path(), limits).await;
    let addr = running.http_addr;
    // Eight connections hold every slot (each has answered one request).
    let mut held = Vec::new();
    for _ in 0..8 {
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let mut buf = [0u8; 512];
        assert!(s.read(&mut buf).await.unwrap() > 0);
        held.push(s);
    }
    // A ninth is closed after its short wait for a slot.
    let mut extra = TcpStream::connect(addr).await.unwrap();
    extra
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 512];
    let n = tokio::time::timeout(Duration::from_secs(5), extra.read(&mut buf))
        .await
        .expect("turned away, not left hanging")
        .unwrap_or(0);
    assert_eq!(n, 0, "the ninth connection must be closed unanswered");
    // The open ones keep working.
    let s = &mut held[0];
    s.write_all(b"GET /rta/v2/sessions HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let n = s.read(&mut buf).await.unwrap();
    assert!(
        buf[..n].starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&buf[..n])
    );
    // A slot freed is a slot for someone new.
    drop(held.pop());
    let mut ok = false;
    for _ in 0..20 {
        let r = reqwest::Client::new()
            .get(format!("{}/", running.http_url()))
            .timeout(Duration::from_secs(3))
            .send()
            .await;
        if r.is_ok_and(|r| r.status() == 200) {
            ok = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(ok, "a new connection after one closed");
    drop(held);
    running.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversize_body_is_413() {
    let dir = tempfile::tempdir().unwrap();
    let limits = ListenerLimits {
        max_request_body: 64 * 1024,
        ..ListenerLimits::default()
    };
    let (_server, running) = server(dir.path(), limits).await;
    let url = format!("{}/rta/v2/sessions", running.http_url());
    let client = reqwest::Client::new();
    let form = |n: usize| format!("pageSize=10&query={}", "x".repeat(n));
    let small = client
        .post(&url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form(10))
        .send()
        .await
        .unwrap();
    assert_ne!(small.status(), 413);
    let big = client
        .post(&url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form(200 * 1024))
        .send()
        .await
        .unwrap();
    assert_eq!(big.status(), 413);
    running.stop().await.unwrap();
}
