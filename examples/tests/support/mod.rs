//! Service binaries as processes for the examples' tests: started on free
//! loopback ports, ready once `GET /` answers 200, killed (SIGKILL) and
//! reaped when dropped, so a failing test leaves nothing running.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A port nobody listens on right now, and never handed out before in this
/// test process: the OS may give a just-released port again, so two calls
/// in a row (an HTTP and a gRPC port) could otherwise return the same one.
pub fn free_port() -> u16 {
    static GIVEN: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    let mut given = GIVEN.lock().unwrap_or_else(|e| e.into_inner());
    loop {
        let port = std::net::TcpListener::bind(("127.0.0.1", 0))
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("an ephemeral loopback port");
        if !given.contains(&port) {
            given.push(port);
            return port;
        }
    }
}

/// A service process, killed when dropped. Its stderr goes to `log`.
pub struct Service {
    child: Child,
    pub http: u16,
    pub grpc: u16,
    pub log: PathBuf,
}

impl Service {
    /// Starts `bin` on free ports with `args`, and waits until `GET /` answers.
    pub async fn start(bin: &str, dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Service {
        Self::start_on(bin, dir, free_port(), Some(free_port()), args, env).await
    }

    /// Starts `bin` on the given ports (no `--grpc-port` when `grpc` is `None`).
    pub async fn start_on(
        bin: &str,
        dir: &Path,
        http: u16,
        grpc: Option<u16>,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> Service {
        let name = Path::new(bin).file_name().unwrap().to_string_lossy();
        let log = dir.join(format!("{name}-{http}.log"));
        let mut cmd = Command::new(bin);
        cmd.args(["--bind", "127.0.0.1", "--http-port", &http.to_string()]);
        if let Some(port) = grpc {
            cmd.args(["--grpc-port", &port.to_string()]);
        }
        cmd.args(args)
            .envs(env.iter().copied())
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap());
        let svc = Service {
            child: cmd.spawn().unwrap(),
            http,
            grpc: grpc.unwrap_or(0),
            log,
        };
        svc.wait_ready().await;
        svc
    }

    async fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(r) = reqwest::get(self.url("/")).await {
                if r.status() == 200 {
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "service on port {} did not start: {}",
            self.http,
            std::fs::read_to_string(&self.log).unwrap_or_default()
        );
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.http)
    }

    pub fn grpc_uri(&self) -> String {
        format!("http://127.0.0.1:{}", self.grpc)
    }

    /// `kill -9`: no shutdown, no final flush; waits for the process to go.
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        self.stop();
    }
}
