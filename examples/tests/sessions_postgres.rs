//! `rta-sessionsvc` on PostgreSQL, as processes: the schema is created only
//! by `InitStoreAndExit`; two instances on one database serve the same
//! sessions (written through one, read through the other over REST and
//! gRPC) and serialise concurrent updates of one session (none lost); with
//! PostgreSQL stopped requests get 503 with a message and `/health` 503,
//! and service resumes when it is back.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use support::free_port;

use rta::core::proto::session_service::session_store_client::SessionStoreClient;
use rta::core::proto::session_service::{GetSessionRequest, SessionElements};
use rta::core::session::SessionState;
use rta::core::session_request::{MarkerSpec, SessionRequest};
use rta_adapters::testing::{PgCluster, PG_ROLE};
use serde_json::Value;
use tonic::transport::Channel;

const BIN: &str = env!("CARGO_BIN_EXE_rta-sessionsvc");

/// One `rta-sessionsvc` process, killed when dropped.
struct SessionSvc {
    child: Child,
    http: u16,
    grpc: u16,
    log: PathBuf,
}

impl SessionSvc {
    async fn start(dir: &Path, conn: &str, extra: &[&str]) -> SessionSvc {
        let (http, grpc) = (free_port(), free_port());
        let log = dir.join(format!("sessionsvc-{http}.log"));
        let child = Command::new(BIN)
            .args(["--bind", "127.0.0.1", "--http-port", &http.to_string()])
            .args(["--grpc-port", &grpc.to_string()])
            .args(extra)
            .env("RTA_PostgresConnectionString", conn)
            .env("RTA_DataDir", dir)
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let svc = SessionSvc {
            child,
            http,
            grpc,
            log,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(r) = reqwest::get(svc.url("/")).await {
                if r.status() == 200 {
                    return svc;
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "rta-sessionsvc did not start: {}",
            std::fs::read_to_string(&svc.log).unwrap_or_default()
        );
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.http)
    }

    async fn grpc(&self) -> SessionStoreClient<Channel> {
        SessionStoreClient::connect(format!("http://127.0.0.1:{}", self.grpc))
            .await
            .unwrap()
    }

    async fn get(&self, path: &str) -> (u16, String) {
        let r = reqwest::get(self.url(path)).await.unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    }

    async fn get_json(&self, path: &str) -> Value {
        let (status, body) = self.get(path).await;
        assert_eq!(status, 200, "{path}: {body}");
        serde_json::from_str(&body).unwrap()
    }
}

impl Drop for SessionSvc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `rta-sessionsvc` to completion with `args`.
fn run_once(dir: &Path, conn: &str, args: &[&str]) -> std::process::Output {
    Command::new(BIN)
        .args([
            "--bind",
            "127.0.0.1",
            "--http-port",
            &free_port().to_string(),
        ])
        .args(["--grpc-port", &free_port().to_string()])
        .args(args)
        .env("RTA_PostgresConnectionString", conn)
        .env("RTA_DataDir", dir)
        .env("RUST_LOG", "info")
        .output()
        .unwrap()
}

async fn cluster() -> PgCluster {
    tokio::task::spawn_blocking(PgCluster::start)
        .await
        .unwrap()
        .expect("PostgreSQL test cluster (install the Debian package postgresql)")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_instances_share_sessions_and_serialise_updates() {
    let pg = cluster().await;
    let dir = tempfile::tempdir().unwrap();
    let conn = pg.connection_string();

    // Never migrates by itself: a clear message, nothing created.
    let out = run_once(dir.path(), &conn, &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "started on an empty database: {stderr}"
    );
    assert!(stderr.contains("InitStoreAndExit"), "{stderr}");
    // InitStoreAndExit creates the schema and exits 0, twice (idempotent).
    for _ in 0..2 {
        let out = run_once(dir.path(), &conn, &["--InitStoreAndExit=true"]);
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "{text}");
        assert!(text.contains("session schema ready"), "{text}");
        assert!(!text.contains(PG_ROLE.1), "password logged: {text}");
    }

    let a = SessionSvc::start(dir.path(), &conn, &[]).await;
    let b = SessionSvc::start(dir.path(), &conn, &[]).await;
    let health = b.get_json("/health").await;
    assert_eq!(
        health["checks"]["postgres"]["status"], "Healthy",
        "{health}"
    );

    // Written through A, read through B (REST and gRPC), and back.
    let mut ga = a.grpc().await;
    let mut gb = b.grpc().await;
    ga.create_or_update_session(
        SessionRequest::new("shared", SessionState::Open)
            .identifier("Shared session")
            .detail("Driver", "A")
            .build(),
    )
    .await
    .unwrap();
    let s = b.get_json("/rta/v2/sessions/shared").await;
    assert_eq!(s["identifier"], "Shared session");
    assert_eq!(s["details"]["Driver"], "A");
    let got = gb
        .get_session(GetSessionRequest {
            identity: "shared".into(),
            elements: Some(SessionElements {
                json: true,
                ..Default::default()
            }),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(got.json.contains("\"state\":\"open\""), "{}", got.json);
    gb.create_or_update_session(
        SessionRequest::update("shared")
            .detail("Track", "B")
            .build(),
    )
    .await
    .unwrap();
    let s = a.get_json("/rta/v2/sessions/shared").await;
    assert_eq!(s["details"]["Track"], "B");

    // 2 × 50 concurrent updates of one session, each adding a marker and a
    // detail: all 100 of each are there, read through either instance.
    let mut tasks = Vec::new();
    for (name, client) in [("a", ga.clone()), ("b", gb.clone())] {
        for i in 0..50 {
            let mut c = client.clone();
            tasks.push(tokio::spawn(async move {
                let id = format!("{name}{i:02}");
                c.create_or_update_session(
                    SessionRequest::update("shared")
                        .marker(
                            "Laps",
                            MarkerSpec::new(&id, "Lap", format!("Lap {id}")).at(i),
                        )
                        .detail(format!("k_{id}"), id.clone())
                        .build(),
                )
                .await
                .unwrap();
            }));
        }
    }
    for t in tasks {
        t.await.unwrap();
    }
    for svc in [&a, &b] {
        let s = svc.get_json("/rta/v2/sessions/shared").await;
        let markers = s["markers"].as_array().unwrap();
        assert_eq!(markers.len(), 100, "{s}");
        let details = s["details"].as_object().unwrap();
        assert_eq!(details.len(), 102, "{s}");
    }

    // Sequence numbers across instances: a stale update through the other
    // instance is skipped.
    ga.create_or_update_session(
        SessionRequest::update("shared")
            .sequence(10)
            .detail("Seq", "10")
            .build(),
    )
    .await
    .unwrap();
    gb.create_or_update_session(
        SessionRequest::update("shared")
            .sequence(5)
            .detail("Seq", "5")
            .build(),
    )
    .await
    .unwrap();
    assert_eq!(
        b.get_json("/rta/v2/sessions/shared").await["details"]["Seq"],
        "10"
    );

    // Concurrent creates of one new session from both: one session.
    let (r1, r2) = tokio::join!(
        ga.create_or_update_session(
            SessionRequest::new("race", SessionState::Open)
                .detail("x", "1")
                .build()
        ),
        gb.create_or_update_session(
            SessionRequest::new("race", SessionState::Open)
                .detail("y", "2")
                .build()
        ),
    );
    r1.unwrap();
    r2.unwrap();
    let race = a.get_json("/rta/v2/sessions/race").await;
    assert_eq!(race["details"]["x"], "1");
    assert_eq!(race["details"]["y"], "2");
    let list = b.get_json("/rta/v2/sessions?pageSize=10").await;
    assert_eq!(list["sessions"].as_array().unwrap().len(), 2, "{list}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_outage_gives_503_and_service_recovers() {
    let mut pg = cluster().await;
    let dir = tempfile::tempdir().unwrap();
    let conn = pg.connection_string();
    let out = run_once(dir.path(), &conn, &["--InitStoreAndExit=true"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let svc = SessionSvc::start(dir.path(), &conn, &["--PostgresConnectionTimeout", "3000"]).await;
    let mut grpc = svc.grpc().await;
    grpc.create_or_update_session(SessionRequest::new("s1", SessionState::Closed).build())
        .await
        .unwrap();
    assert_eq!(svc.get("/rta/v2/sessions/s1").await.0, 200);

    // (blocking, but short: the other worker thread keeps the service up)
    pg.stop().unwrap();
    let started = Instant::now();
    let (status, body) = svc.get("/rta/v2/sessions/s1").await;
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("PostgreSQL"), "{body}");
    let (status, body) = svc.get("/rta/v2/sessions").await;
    assert_eq!(status, 503, "{body}");
    let (status, health) = svc.get("/health").await;
    assert_eq!(status, 503, "{health}");
    assert!(health.contains("postgres"), "{health}");
    let err = grpc
        .create_or_update_session(SessionRequest::update("s1").detail("k", "v").build())
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::Unavailable, "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "outage answers were slow"
    );

    pg.restart().unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, body) = svc.get("/rta/v2/sessions/s1").await;
        if status == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "no recovery: {status} {body}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(svc.get("/health").await.0, 200);
    grpc.create_or_update_session(SessionRequest::update("s1").detail("k", "v").build())
        .await
        .unwrap();
    assert_eq!(
        svc.get_json("/rta/v2/sessions/s1").await["details"]["k"],
        "v"
    );
}
