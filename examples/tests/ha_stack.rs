//! The microservices stack scaled out, every service its own process on
//! loopback: one PostgreSQL (schema made by `rta-sessionsvc
//! --InitStoreAndExit`), one S3 (`moto_server`) and one `redis-server`; two
//! gateways, each over its own session service on that database (replicas
//! behind a load balancer), a config service on S3, a writer
//! (`EnableRead=false`) and a reader (`EnableWrite=false`) data service on
//! one bucket, and a stream service on Redis.
//!
//! A config, a session bound to the reader's data source and acknowledged
//! data go in; then gateway A and session service A are killed (`kill -9`).
//! A client that moves to gateway B when A does not answer gets the session
//! listing and JSON as before, the config, every sample with its timestamp,
//! the live stream, and an update made through session service B.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

#[path = "../../rta-stream/tests/common/mod.rs"]
mod common;
#[path = "../../rta-adapters/tests/moto/mod.rs"]
mod moto;
mod support;

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::time::{Duration, Instant};

use rta::bindings::model::DataBinding;
use rta::core::chunk::ChunkDecoder;
use rta::core::config::{ChannelDataType, Config, ParameterSpec};
use rta::core::data::{periodic, read_samples, read_timestamps, timestamped, DataKind};
use rta::core::proto::stream::stream_data::Data;
use rta_adapters::testing::PgCluster;
use rta_client::{RtaClient, Samples, SessionRequest, SessionState};
use rta_stream::writer::{StreamBuffer, WriterOptions};
use serde_json::Value;
use support::{free_port, Service};

const MS: i64 = 1_000_000;
const T0: i64 = 1_700_000_000_000 * MS;
/// One-second batches written.
const BATCHES: i64 = 6;
const SESSION: &str = "ha-run-1";
/// The data identity in the store, bound to the session's channels 10-11.
const DATA: &str = "ha-car-7/run-1";
const SOURCE: &str = "native";
const CONFIG: &str = "ha-config-v1";

/// (time, value) samples of one channel.
type Series = Vec<(i64, f64)>;

/// Batch `k`: 1000 samples of data channel 0 at 1 kHz and 100 samples of
/// data channel 1 at uneven times, values no other batch has.
fn batch(k: i64) -> (Series, Series) {
    let t0 = T0 + k * 1000 * MS;
    let p = (0..1000)
        .map(|i| (t0 + i * MS, (k * 1000 + i) as f64 * 0.25))
        .collect();
    let t = (0..100)
        .map(|i| {
            (
                t0 + i * 10 * MS + (i % 7) * MS,
                -((k * 100 + i) as f64) - 0.5,
            )
        })
        .collect();
    (p, t)
}

/// Every (time, value) written to data channels 0 and 1.
fn expected() -> (Series, Series) {
    let (mut p, mut t) = (Vec::new(), Vec::new());
    for k in 0..BATCHES {
        let (bp, bt) = batch(k);
        p.extend(bp);
        t.extend(bt);
    }
    (p, t)
}

/// What a client behind a load balancer does: each GET goes to the first
/// gateway, and to the next when one gives no answer at all (refused,
/// reset); HTTP answers, errors included, are returned as they are.
struct Failover {
    gateways: Vec<String>,
    http: reqwest::Client,
    moved: AtomicUsize,
}

impl Failover {
    fn new(gateways: Vec<String>) -> Self {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(2))
            .timeout(Duration::from_secs(20))
            .build()
            .unwrap();
        Self {
            gateways,
            http,
            moved: AtomicUsize::new(0),
        }
    }

    async fn get(&self, path: &str) -> (u16, Vec<u8>) {
        let mut failures = Vec::new();
        for base in &self.gateways {
            match self.http.get(format!("{base}{path}")).send().await {
                Ok(r) => {
                    let status = r.status().as_u16();
                    return (status, r.bytes().await.unwrap().to_vec());
                }
                Err(e) => {
                    failures.push(format!("{base}: {e}"));
                    self.moved.fetch_add(1, Relaxed);
                }
            }
        }
        panic!("no gateway answered GET {path}: {failures:?}");
    }

    async fn json(&self, path: &str) -> Value {
        let (status, body) = self.get(path).await;
        let text = String::from_utf8_lossy(&body);
        assert_eq!(status, 200, "GET {path}: {text}");
        serde_json::from_slice(&body).unwrap()
    }

    /// Every (time, value) of session channel `channel` of `kind`, sorted,
    /// or the status of a failed request.
    async fn samples(&self, kind: DataKind, channel: u32) -> Result<Series, u16> {
        let seg = kind.path_segment();
        // Channel expressions are hexadecimal.
        let path = format!("/rta/v2/sessions/{SESSION}/data/{seg}/{channel:x}");
        let (status, body) = self.get(&path).await;
        if status != 200 {
            return Err(status);
        }
        let mut out = Vec::new();
        for c in ChunkDecoder::decode_all(body.into()).unwrap() {
            for s in Samples::from_chunk(&c, kind, ChannelDataType::F64).unwrap() {
                assert_eq!(s.channel, channel);
                out.extend(s.times.into_iter().zip(s.values));
            }
        }
        out.sort_by(|a, b| a.partial_cmp(b).unwrap());
        Ok(out)
    }

    /// Both channels once the reader serves all of them (it follows the
    /// bucket within seconds), else the test fails after 15 s.
    async fn wait_for_data(&self, want: &(Series, Series)) {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let p = self.samples(DataKind::Periodic, 10).await;
            let t = self.samples(DataKind::Timestamped, 11).await;
            if p.as_ref() == Ok(&want.0) && t.as_ref() == Ok(&want.1) {
                return;
            }
            let n = |r: &Result<Vec<_>, u16>| r.as_ref().map(Vec::len).map_err(|e| *e);
            assert!(
                Instant::now() < deadline,
                "the gateway did not serve the acknowledged data within 15 s: \
                 periodic {:?} timestamped {:?} of {} and {} samples",
                n(&p),
                n(&t),
                want.0.len(),
                want.1.len()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

/// `rta-sessionsvc --InitStoreAndExit=true` (it listens on no port), within 30 s.
fn init_session_schema(dir: &Path, conn: &str) {
    let log = dir.join("init.log");
    let mut child = Command::new(env!("CARGO_BIN_EXE_rta-sessionsvc"))
        .arg("--InitStoreAndExit=true")
        .arg("--data-dir")
        .arg(dir)
        .env("RTA_PostgresConnectionString", conn)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            assert!(
                status.success(),
                "InitStoreAndExit failed: {status}: {text}"
            );
            assert!(text.contains("session schema ready"), "{text}");
            return;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("InitStoreAndExit did not finish within 30 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The live stream of the session through `gateway`: every data sample of
/// channels 0 and 1 once `want` many arrived, within 15 s.
async fn live_samples(gateway: &Service, want: (usize, usize)) -> Vec<Series> {
    let addr = format!("127.0.0.1:{}", gateway.http).parse().unwrap();
    let mut ws = common::connect(addr, SESSION).await;
    let first = common::next_burst(&mut ws, Duration::from_secs(5)).await;
    assert!(
        matches!(&first.data[0].data, Some(Data::SessionJson(j)) if j.contains(SESSION)),
        "the live stream did not start with the session JSON: {first:?}"
    );
    common::subscribe(&mut ws, true, true, &[]).await;
    let mut got = vec![Vec::new(), Vec::new()];
    let deadline = Instant::now() + Duration::from_secs(15);
    while (got[0].len(), got[1].len()) != want {
        assert!(
            Instant::now() < deadline,
            "live: {} and {} samples",
            got[0].len(),
            got[1].len()
        );
        let common::Got::Burst(b) = common::next(&mut ws, Duration::from_secs(5)).await else {
            panic!("the live stream ended early");
        };
        for d in b.data {
            match d.data {
                Some(Data::PeriodicData(p)) => {
                    let v = read_samples::<f64>(&p.buffer).unwrap();
                    let at = |i: usize| p.start_timestamp + i as i64 * p.interval;
                    got[p.channel_id as usize]
                        .extend(v.into_iter().enumerate().map(|(i, x)| (at(i), x)));
                }
                Some(Data::TimestampedData(t)) => {
                    let times = read_timestamps(&t).unwrap();
                    let v = read_samples::<f64>(&t.buffer).unwrap();
                    got[t.channel_id as usize].extend(times.into_iter().zip(v));
                }
                _ => {}
            }
        }
    }
    for g in &mut got {
        g.sort_by(|a, b| a.partial_cmp(b).unwrap());
    }
    got
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_stack_survives_losing_a_gateway_and_a_session_service() {
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let (pg, moto, redis) = tokio::join!(
        tokio::task::spawn_blocking(PgCluster::start),
        tokio::task::spawn_blocking(moto::Moto::start),
        tokio::task::spawn_blocking(common::RedisServer::start),
    );
    let pg = pg
        .unwrap()
        .expect("PostgreSQL test cluster (install the Debian package postgresql)");
    let (moto, redis) = (moto.unwrap(), redis.unwrap());
    moto.create_bucket("ha-data");
    moto.create_bucket("ha-configs");
    let conn = pg.connection_string();
    init_session_schema(dir.path(), &conn);

    let aws = moto.env();
    let aws: Vec<(&str, &str)> = aws.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let with = |extra: &[(&'static str, &'static str)]| {
        let mut env = aws.clone();
        env.extend_from_slice(extra);
        env
    };
    let sess_env = [("RTA_PostgresConnectionString", conn.as_str())];
    let data_dir = dir.path().display().to_string();
    let sess_args = ["--data-dir", data_dir.as_str()];
    let config_env = with(&[("RTA_Store", "Aws"), ("RTA_AwsS3Bucket", "ha-configs")]);
    let data = [("RTA_Store", "Aws"), ("RTA_AwsS3Bucket", "ha-data")];
    let writer_env = with(&[data[0], data[1], ("RTA_EnableRead", "false")]);
    let reader_env = with(&[data[0], data[1], ("RTA_EnableWrite", "false")]);
    let redis_url = redis.url();
    let (sessionsvc, datasvc) = (
        env!("CARGO_BIN_EXE_rta-sessionsvc"),
        env!("CARGO_BIN_EXE_rta-datasvc"),
    );
    let d = dir.path();
    let stream_args = ["--redis", redis_url.as_str()];
    let (mut sess_a, sess_b, configs, writer, reader, stream) = tokio::join!(
        Service::start(sessionsvc, d, &sess_args, &sess_env),
        Service::start(sessionsvc, d, &sess_args, &sess_env),
        Service::start(
            env!("CARGO_BIN_EXE_rta-configsvc"),
            d,
            &sess_args,
            &config_env
        ),
        Service::start(datasvc, d, &[], &writer_env),
        Service::start(datasvc, d, &[], &reader_env),
        Service::start_on(
            env!("CARGO_BIN_EXE_rta-streamsvc"),
            d,
            free_port(),
            None,
            &stream_args,
            &[]
        ),
    );
    let gateway = |sessions: &Service| {
        let args = [
            "--SessionServiceUri".to_string(),
            sessions.url("/"),
            "--ConfigServiceUri".into(),
            configs.url("/"),
            "--StreamServiceUri".into(),
            stream.url("/"),
        ];
        let reader_url = reader.url("/");
        async move {
            let args = args.each_ref().map(String::as_str);
            let env = [("RTA_DataServiceUris__native", reader_url.as_str())];
            let bin = env!("CARGO_BIN_EXE_rta-gatewaysvc");
            Service::start_on(bin, d, free_port(), None, &args, &env).await
        }
    };
    let (mut gw_a, gw_b) = tokio::join!(gateway(&sess_a), gateway(&sess_b));
    let stack_up = started.elapsed();

    // Publish through session service A, the config service and the writer.
    let client = RtaClient::builder(writer.grpc_uri())
        .sessions(sess_a.grpc_uri())
        .configs(configs.grpc_uri())
        .timeout(Duration::from_secs(10))
        .connect()
        .await
        .unwrap();
    let config = Config::builder("ha-demo")
        .parameter(ParameterSpec::new("nEngine", ChannelDataType::F64).periodic_hz(1000.0))
        .parameter(ParameterSpec::new("vCar", ChannelDataType::F64).timestamped())
        .build()
        .unwrap();
    assert!(client.put_config(CONFIG, &config).await.unwrap());
    let binding = DataBinding::new(SOURCE, DATA).with_channels(0, 10, 11);
    client
        .put_session(
            SessionRequest::new(SESSION, SessionState::Open)
                .identifier("HA run 1")
                .detail("Driver", "A. Driver")
                .config_binding(CONFIG, 10)
                .data_binding(binding.to_proto()),
        )
        .await
        .unwrap();
    let live = StreamBuffer::connect(&redis_url, None, WriterOptions::default())
        .await
        .unwrap()
        .init_session(SESSION, "car-7")
        .await
        .unwrap();
    let data_writer = client.writer(DATA).await.unwrap().with_live(live);
    data_writer
        .live_session_json(format!(r#"{{"identity":"{SESSION}","state":"open"}}"#))
        .await
        .unwrap();
    for k in 0..BATCHES {
        let (p, t) = batch(k);
        let pv: Vec<f64> = p.iter().map(|s| s.1).collect();
        data_writer
            .periodic(periodic(0, p[0].0, MS, &pv).unwrap())
            .await
            .unwrap();
        let (times, tv): (Vec<i64>, Vec<f64>) = t.into_iter().unzip();
        data_writer
            .timestamped(timestamped(1, &times, &tv).unwrap())
            .await
            .unwrap();
        if k % 2 == 1 {
            // Returns once the writer data service acknowledged all so far.
            data_writer.flush().await.unwrap();
        }
    }
    let end = T0 + BATCHES * 1000 * MS - MS;
    data_writer.live_time_range(T0, end).await.unwrap();
    data_writer.close().await.unwrap();

    // Before the failure: everything through gateway A, first time.
    let want = expected();
    let lb = Failover::new(vec![gw_a.url(""), gw_b.url("")]);
    lb.wait_for_data(&want).await;
    let session_before = lb.json(&format!("/rta/v2/sessions/{SESSION}")).await;
    assert_eq!(session_before["identifier"], "HA run 1", "{session_before}");
    assert_eq!(lb.moved.load(Relaxed), 0, "gateway A answered everything");
    let served_by_a = started.elapsed();

    // Gateway A and session service A die.
    gw_a.stop();
    sess_a.stop();
    let killed = Instant::now();

    // The same answers through gateway B, to the last sample.
    let list = lb.json("/rta/v2/sessions").await;
    assert!(lb.moved.load(Relaxed) >= 1, "the request did not move to B");
    let listed = list["sessions"].as_array().unwrap();
    assert_eq!(listed.len(), 1, "{list}");
    assert_eq!(listed[0]["identity"], SESSION, "{list}");
    let session = lb.json(&format!("/rta/v2/sessions/{SESSION}")).await;
    assert_eq!(session, session_before);
    let cfg = lb.json(&format!("/rta/v2/configs/{CONFIG}")).await;
    let published: Value = serde_json::from_str(&config.to_json()).unwrap();
    assert_eq!(cfg, published);
    let p = lb.samples(DataKind::Periodic, 10).await.unwrap();
    let t = lb.samples(DataKind::Timestamped, 11).await.unwrap();
    assert_eq!(p.len(), (BATCHES * 1000) as usize);
    assert_eq!(t.len(), (BATCHES * 100) as usize);
    assert_eq!(p, want.0, "periodic samples through gateway B");
    assert_eq!(t, want.1, "timestamped samples through gateway B");
    let failover_reads = killed.elapsed();

    // The live stream, relayed by gateway B from the stream service.
    let live = live_samples(&gw_b, (want.0.len(), want.1.len())).await;
    assert_eq!((&live[0], &live[1]), (&want.0, &want.1));

    // Session service A is gone; an update through B shows through gateway B.
    let err = client
        .put_session(SessionRequest::update(SESSION).detail("Lost", "yes"))
        .await
        .unwrap_err();
    let refused = match &err {
        rta_client::Error::Unreachable { .. } => true,
        rta_client::Error::Service { status, .. } => status == "Unavailable",
        _ => false,
    };
    assert!(refused, "session service A still answers: {err}");
    let client_b = RtaClient::builder(writer.grpc_uri())
        .sessions(sess_b.grpc_uri())
        .timeout(Duration::from_secs(10))
        .connect()
        .await
        .unwrap();
    client_b
        .put_session(
            SessionRequest::update(SESSION)
                .state(SessionState::Closed)
                .time_range(T0, end)
                .detail("Closed by", "session service B"),
        )
        .await
        .unwrap();
    let moved_before = lb.moved.load(Relaxed);
    let after = lb.json(&format!("/rta/v2/sessions/{SESSION}")).await;
    assert_eq!(lb.moved.load(Relaxed), moved_before + 1, "A is still gone");
    assert_eq!(after["state"], "closed", "{after}");
    assert_eq!(
        after["details"]["Closed by"], "session service B",
        "{after}"
    );
    assert_eq!(after["details"]["Driver"], "A. Driver", "{after}");
    assert!(after["details"].get("Lost").is_none(), "{after}");
    assert_eq!(after["timeRange"]["startTime"], T0, "{after}");
    assert_eq!(after["timeRange"]["endTime"], end, "{after}");
    // Nothing else changed, and the data is still served exactly.
    for key in ["identifier", "configBindings", "identity"] {
        assert_eq!(after[key], session_before[key], "{key}: {after}");
    }
    lb.wait_for_data(&want).await;
    assert!(
        !dir.path().join("configs").exists(),
        "configs went to the bucket, not the local disk"
    );
    let health = reqwest::get(gw_b.url("/health")).await.unwrap();
    assert_eq!(health.status(), 200, "gateway B's services all answer");

    eprintln!(
        "ha_stack: stack up in {stack_up:?}, served by A at {served_by_a:?}, \
         failover reads in {failover_reads:?}, total {:?}",
        started.elapsed()
    );
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "the test took {:?}",
        started.elapsed()
    );
    drop((gw_b, sess_b, configs, writer, reader, stream));
}
