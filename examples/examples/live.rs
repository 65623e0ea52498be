//! `live`: the RTA.Examples InfluxLive pattern on the client SDK: an open session, three
//! channels in 10 Hz bursts of 100 Hz samples through one `DataWriter` that stores them and
//! streams them (and the time range) through Redis, `ExtendTimeRange` every second; closed
//! after SECONDS, truncated on Ctrl-C. `cargo run --example live -- [GRPC_URL] [REDIS_URL]
//! [SECONDS]` (default `http://127.0.0.1:8082`, `redis://127.0.0.1:6379`, 60)
use rta::core::data::timestamped;
use rta::core::time::Timestamp;
use rta::stream::writer::{StreamBuffer, WriterOptions};
use rta_client::{RtaClient, SessionRequest, SessionState};
use std::time::Duration;

type Error = Box<dyn std::error::Error + Send + Sync>;

const MS: i64 = 1_000_000;
const CHANNELS: u32 = 3;

fn json(identity: &str, state: &str, t0: i64, end: i64) -> String {
    let range = serde_json::json!({ "startTime": t0, "endTime": end });
    serde_json::json!({ "identity": identity, "state": state, "timeRange": range }).to_string()
}

/// Streams `identity` for `seconds` or until `stop` (truncated); returns the end state and samples.
pub async fn run(
    grpc: &str,
    redis: &str,
    identity: &str,
    seconds: i64,
    stop: impl std::future::Future<Output = ()>,
) -> Result<(SessionState, u64), Error> {
    let client = RtaClient::builder(grpc).connect().await?;
    let t0 = Timestamp::now().nanos() / MS * MS;
    let open = SessionRequest::new(identity, SessionState::Open)
        .identifier(format!("Live {identity}"))
        .timestamp(Timestamp::from_nanos(t0).as_str())
        .time_range(t0, t0);
    client.put_session(open).await?;
    let buffer = StreamBuffer::connect(redis, None, WriterOptions::default()).await?;
    let writer = client
        .writer(identity)
        .await?
        .with_live(buffer.init_session(identity, "live").await?);
    writer
        .live_session_json(json(identity, "open", t0, t0))
        .await?;

    let mut tick = tokio::time::interval(Duration::from_millis(100));
    tokio::pin!(stop);
    let (mut state, mut samples, mut end) = (SessionState::Closed, 0u64, t0);
    for burst in 0..seconds * 10 {
        tokio::select! {
            _ = tick.tick() => {}
            () = &mut stop => { state = SessionState::Truncated; break; }
        }
        let times: Vec<i64> = (0..10).map(|i| t0 + (burst * 10 + i) * 10 * MS).collect();
        for ch in 0..CHANNELS {
            let v: Vec<f64> = times
                .iter()
                .map(|t| ((t - t0) as f64 * 1e-9 + f64::from(ch)).sin())
                .collect();
            writer.timestamped(timestamped(ch, &times, &v)?).await?;
            samples += 10;
        }
        end = times[9];
        writer.live_time_range(t0, end).await?;
        if let Some(live) = writer.live() {
            live.end_burst().await?; // one Redis burst per 100 ms
        }
        if burst % 10 == 9 {
            let extend = SessionRequest::update(identity).extend_time_range(t0, end);
            client.put_session(extend).await?;
        }
    }
    writer
        .live_session_json(json(identity, state.as_str(), t0, end))
        .await?;
    if let Some(live) = writer.live() {
        live.close().await?; // every burst in Redis
    }
    writer.close().await?; // every sample stored
    let done = SessionRequest::update(identity)
        .state(state)
        .time_range(t0, end);
    client.put_session(done).await?;
    Ok((state, samples))
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let mut args = std::env::args().skip(1);
    let grpc = args.next().unwrap_or("http://127.0.0.1:8082".into());
    let redis = args.next().unwrap_or("redis://127.0.0.1:6379".into());
    let seconds: i64 = args.next().map_or(Ok(60), |s| s.parse())?;
    let identity = format!("live-{}", Timestamp::now().nanos() / 1_000_000_000);
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let (state, samples) = run(&grpc, &redis, &identity, seconds, ctrl_c).await?;
    println!("{identity}: {samples} samples, {}", state.as_str());
    Ok(())
}
