//! `ingest`: an ingest process feeding an RTA Server through the client SDK.
//! It publishes a config, opens a session with details, writes 100 Hz data
//! in 100 ms batches (ATLAS follows it live over the server's WebSocket),
//! marks each lap, and closes the session with its time range once the
//! server has acknowledged every sample.
//! `cargo run --example ingest -- [GRPC_URL] [SECONDS]` (default `http://127.0.0.1:8082`, 10 s)
use std::time::Duration;

use rta::core::config::{ChannelDataType::F64, Config, ParameterSpec};
use rta::core::data::{periodic, timestamped};
use rta::core::time::Timestamp;
use rta_client::{MarkerSpec, RtaClient, SessionRequest, SessionState};

type Error = Box<dyn std::error::Error + Send + Sync>;

const STEP_NS: i64 = 100_000_000; // one batch per 100 ms
const LAP_NS: i64 = 2_000_000_000;
const DEFAULT_GRPC: &str = "http://127.0.0.1:8082";

/// Runs one session of `steps` batches, sleeping `pace` between batches.
pub async fn ingest(grpc: &str, identity: &str, steps: i64, pace: Duration) -> Result<(), Error> {
    let client = RtaClient::builder(grpc).connect().await?;
    // 1. The config: two parameters on channels 0 and 1 (published once).
    let config = Config::builder("ingest-demo")
        .parameter(ParameterSpec::new("vCar", F64).unit("km/h").timestamped())
        .parameter(ParameterSpec::new("nEngine", F64).periodic_hz(100.0))
        .build()?;
    client.put_config("ingest-demo", &config).await?;
    // 2. The session, open, with details and its config.
    let start = Timestamp::now().nanos() / STEP_NS * STEP_NS;
    let open = SessionRequest::new(identity, SessionState::Open)
        .identifier(format!("Ingest {identity}"))
        .timestamp(Timestamp::from_nanos(start).as_str())
        .detail("Driver", "Test Driver")
        .detail("Rig", "Dyno 3")
        .config_binding("ingest-demo", 0);
    client.put_session(open).await?;
    // 3. The data, streamed as it is produced.
    let writer = client.writer(identity).await?;
    for step in 0..steps {
        let t0 = start + step * STEP_NS;
        let times: Vec<i64> = (0..10).map(|i| t0 + i * 10_000_000).collect();
        let speed = timestamped(0, &times, &[150.0 + step as f64; 10])?;
        writer.timestamped(speed).await?;
        writer
            .periodic(periodic(1, t0, 10_000_000, &[9000.0f64; 10])?)
            .await?;
        if (step + 1) * STEP_NS % LAP_NS == 0 {
            let lap = (step + 1) * STEP_NS / LAP_NS;
            let marker = MarkerSpec::new(format!("lap-{lap}"), "Lap", format!("Lap {lap}"))
                .range(t0 + STEP_NS - LAP_NS, t0 + STEP_NS - 1);
            let update = SessionRequest::update(identity)
                .marker("Laps", marker)
                .extend_time_range(start, t0 + STEP_NS - 1);
            client.put_session(update).await?;
        }
        tokio::time::sleep(pace).await;
    }
    writer.close().await?; // returns once every batch is stored
                           // 4. Closed, with its final time range.
    let end = start + steps * STEP_NS - 1;
    let close = SessionRequest::update(identity)
        .state(SessionState::Closed)
        .time_range(start, end);
    client.put_session(close).await?;
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let mut args = std::env::args().skip(1);
    let grpc = args.next().unwrap_or(DEFAULT_GRPC.into());
    let seconds: i64 = args.next().map_or(Ok(10), |s| s.parse())?;
    let identity = format!("ingest-{}", Timestamp::now().nanos());
    ingest(&grpc, &identity, seconds * 10, Duration::from_millis(100)).await?;
    println!("ingested {identity}: {seconds} s of data");
    Ok(())
}
