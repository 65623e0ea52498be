//! `loader`: the RTA.Examples Loader on the client SDK. It publishes a config
//! of three periodic parameters, then loads a few closed sessions: each with
//! details, a marker per lap and a minute of 100 Hz data written through the
//! `DataWriter`, its time range set once the data service has stored it.
//! `cargo run --example loader -- [GRPC_URL] [SESSIONS]` (default `http://127.0.0.1:8082`, 3)
use rta::core::config::{ChannelDataType::F64, Config, ParameterSpec};
use rta::core::data::periodic;
use rta::core::time::Timestamp;
use rta_client::{MarkerSpec, RtaClient, SessionRequest, SessionState};

type Error = Box<dyn std::error::Error + Send + Sync>;

const DEFAULT_GRPC: &str = "http://127.0.0.1:8082";
const SEC: i64 = 1_000_000_000;
const HZ: i64 = 100;
const SECONDS: i64 = 60;
const LAP_SECONDS: i64 = 20;

/// One value of parameter `p` at sample `i`: a slow sine per parameter.
fn value(p: usize, i: i64) -> f64 {
    let t = i as f64 / HZ as f64;
    (p as f64 + 1.0) * 100.0 * (t * 0.1 * (p as f64 + 1.0)).sin()
}

/// Loads `count` sessions starting at `start` (ns); returns their identities.
pub async fn load(grpc: &str, prefix: &str, count: i64, start: i64) -> Result<Vec<String>, Error> {
    let client = RtaClient::builder(grpc).connect().await?;
    let params = ["vCar", "nEngine", "pOil"];
    let mut config = Config::builder("loader-v1");
    for name in params {
        config = config.parameter(ParameterSpec::new(name, F64).periodic_hz(HZ as f64));
    }
    client.put_config("loader-v1", &config.build()?).await?;

    let mut loaded = Vec::new();
    for n in 0..count {
        let identity = format!("{prefix}-{n}");
        let t0 = start + n * 3_600 * SEC;
        let mut session = SessionRequest::new(&identity, SessionState::Open)
            .identifier(format!("Loader session {n}"))
            .timestamp(Timestamp::from_nanos(t0).as_str())
            .detail("Circuit", "Test Track")
            .detail("Run", n.to_string())
            .config_binding("loader-v1", 0);
        for lap in 0..SECONDS / LAP_SECONDS {
            let (a, b) = (
                t0 + lap * LAP_SECONDS * SEC,
                t0 + (lap + 1) * LAP_SECONDS * SEC - 1,
            );
            let label = format!("Lap {}", lap + 1);
            let marker = MarkerSpec::new(format!("lap-{}", lap + 1), "Lap", label).range(a, b);
            session = session.marker("Laps", marker);
        }
        client.put_session(session).await?;

        let writer = client.writer(&identity).await?;
        for second in 0..SECONDS {
            for (p, _) in params.iter().enumerate() {
                let first = second * HZ;
                let v: Vec<f64> = (first..first + HZ).map(|i| value(p, i)).collect();
                let ts = t0 + second * SEC;
                writer
                    .periodic(periodic(p as u32, ts, SEC / HZ, &v)?)
                    .await?;
            }
        }
        writer.close().await?; // every sample stored
        let end = t0 + SECONDS * SEC - SEC / HZ;
        let done = SessionRequest::update(&identity)
            .state(SessionState::Closed)
            .time_range(t0, end);
        client.put_session(done).await?;
        loaded.push(identity);
    }
    Ok(loaded)
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let mut args = std::env::args().skip(1);
    let grpc = args.next().unwrap_or(DEFAULT_GRPC.into());
    let count: i64 = args.next().map_or(Ok(3), |s| s.parse())?;
    let start = Timestamp::now().nanos() / SEC * SEC - count * 3_600 * SEC;
    let prefix = format!("loader-{}", start / SEC);
    for identity in load(&grpc, &prefix, count, start).await? {
        println!("loaded {identity}");
    }
    Ok(())
}
