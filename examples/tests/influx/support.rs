//! A real `influxd` and the service binaries, each started on free loopback
//! ports and killed when dropped, and a reader of timestamped REST data.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rta::core::chunk::ChunkDecoder;
use rta::core::data::{read_samples, read_timestamps};
use rta::core::proto::data::{Event, EventsList, TimestampedDataList};

pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// Percent-encodes a path segment (everything but letters, digits and `-_.~`).
pub fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

async fn wait_for(url: &str, what: &str, log: &Path) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if let Ok(r) = reqwest::get(url).await {
            if r.status().is_success() {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "{what} did not start: {}",
        std::fs::read_to_string(log).unwrap_or_default()
    );
}

/// `influxd` (InfluxDB 1.x) with its own config, data under `dir`.
pub struct Influxd {
    child: Option<Child>,
    config: PathBuf,
    log: PathBuf,
    http: u16,
}

impl Influxd {
    pub async fn start(dir: &Path) -> Influxd {
        let root = dir.join("influxdb");
        std::fs::create_dir_all(&root).unwrap();
        let http = free_port();
        let config = root.join("influxdb.conf");
        let r = root.display();
        std::fs::write(
            &config,
            format!(
                "reporting-enabled = false\nbind-address = \"127.0.0.1:{}\"\n\
                 [meta]\n  dir = \"{r}/meta\"\n\
                 [data]\n  dir = \"{r}/data\"\n  wal-dir = \"{r}/wal\"\n  query-log-enabled = false\n\
                 [monitor]\n  store-enabled = false\n\
                 [http]\n  bind-address = \"127.0.0.1:{http}\"\n  log-enabled = false\n\
                 [logging]\n  level = \"warn\"\n  suppress-logo = true\n",
                free_port()
            ),
        )
        .unwrap();
        let mut influx = Influxd {
            child: None,
            config,
            log: root.join("influxd.log"),
            http,
        };
        influx.restart().await;
        influx
    }

    /// Starts it (again) with the same config, ports and data; waits for `/ping`.
    pub async fn restart(&mut self) {
        let child = Command::new("influxd")
            .args(["run", "-config"])
            .arg(&self.config)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&self.log).unwrap())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "influxd (InfluxDB 1.x) is required: {e}; install it with \
                     `apt-get install influxdb` (scripts/test.sh does)"
                )
            });
        self.child = Some(child);
        wait_for(&format!("{}ping", self.uri()), "influxd", &self.log).await;
    }

    pub fn uri(&self) -> String {
        format!("http://127.0.0.1:{}/", self.http)
    }

    pub async fn query(&self, q: &str) -> String {
        let resp = reqwest::Client::new()
            .post(format!("{}query", self.uri()))
            .form(&[("q", q)])
            .send()
            .await
            .unwrap();
        assert!(resp.status().is_success(), "{q}: {}", resp.status());
        resp.text().await.unwrap()
    }

    pub async fn write(&self, db: &str, lines: &str) {
        let resp = reqwest::Client::new()
            .post(format!("{}write?db={db}&precision=ns", self.uri()))
            .body(lines.to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 204, "{}", resp.text().await.unwrap());
    }

    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Influxd {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A service binary on free ports, killed when dropped.
pub struct Service {
    child: Child,
    http: u16,
    grpc: u16,
}

impl Service {
    /// Starts `bin` (with a gRPC port if `grpc`), waiting until `GET /` answers.
    pub async fn start(bin: &str, dir: &Path, grpc: bool, args: &[&str]) -> Service {
        Self::spawn(bin, dir, grpc, args, &[]).await
    }

    /// Starts `bin` without a gRPC port, with extra environment.
    pub async fn start_env(bin: &str, dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Service {
        Self::spawn(bin, dir, false, args, env).await
    }

    async fn spawn(
        bin: &str,
        dir: &Path,
        grpc: bool,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> Service {
        let http = free_port();
        let grpc = if grpc { free_port() } else { 0 };
        let name = Path::new(bin)
            .file_name()
            .unwrap()
            .to_string_lossy()
            .to_string();
        let log = dir.join(format!("{name}-{http}.log"));
        let mut cmd = Command::new(bin);
        cmd.args(["--bind", "127.0.0.1", "--http-port", &http.to_string()]);
        if grpc != 0 {
            cmd.args(["--grpc-port", &grpc.to_string()]);
        }
        let child = cmd
            .args(args)
            .envs(env.iter().copied())
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let svc = Service { child, http, grpc };
        wait_for(&svc.url("/"), &name, &log).await;
        svc
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.http)
    }

    pub fn grpc_uri(&self) -> String {
        format!("http://127.0.0.1:{}", self.grpc)
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Status and, per channel, the times and values of a timestamped REST read
/// (checking that each channel's chunks come in time order).
pub async fn timestamped(url: &str) -> (u16, BTreeMap<u32, (Vec<i64>, Vec<f64>)>) {
    let resp = reqwest::get(url).await.unwrap();
    let status = resp.status().as_u16();
    let mut out: BTreeMap<u32, (Vec<i64>, Vec<f64>)> = BTreeMap::new();
    if status != 200 {
        return (status, out);
    }
    for chunk in ChunkDecoder::decode_all(resp.bytes().await.unwrap()).unwrap() {
        for d in chunk
            .decode_list::<TimestampedDataList>()
            .unwrap()
            .timestamped_data
        {
            let e = out.entry(d.channel_id).or_default();
            let times = read_timestamps(&d).unwrap();
            assert!(
                e.0.last().is_none_or(|t| times[0] > *t),
                "channel {} out of order",
                d.channel_id
            );
            e.0.extend(times);
            e.1.extend(read_samples::<f64>(&d.buffer).unwrap());
        }
    }
    (status, out)
}

/// The events of a REST read (status 200 asserted).
pub async fn events(url: &str) -> Vec<Event> {
    let resp = reqwest::get(url).await.unwrap();
    assert_eq!(resp.status(), 200);
    let mut out = Vec::new();
    for chunk in ChunkDecoder::decode_all(resp.bytes().await.unwrap()).unwrap() {
        out.extend(chunk.decode_list::<EventsList>().unwrap().events);
    }
    out
}
