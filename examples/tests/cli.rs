//! The `rta` command line through its binary, against an `rta-server` on
//! loopback: import a CSV, list and show the session, export it again with
//! the same values, dump samples, change the state, and the errors a user
//! meets (unreachable server, unknown session, bad expression).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::process::{Command, Output};

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_export_and_errors_through_the_binary() {
    let dir = tempfile::tempdir().unwrap();
    let server = RtaServer::open(dir.path().join("server")).unwrap();
    let running = server
        .spawn(
            "127.0.0.1:0".parse().unwrap(),
            "127.0.0.1:0".parse().unwrap(),
        )
        .await
        .unwrap();
    let cli = Cli {
        server: running.http_url(),
        grpc: running.grpc_uri().unwrap(),
    };

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
    let want = csv.replacen("time,a,b", "time,0,1", 1);
    assert_eq!(back, want, "exported values equal the imported ones");

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
