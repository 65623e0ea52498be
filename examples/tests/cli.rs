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
