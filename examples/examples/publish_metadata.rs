//! `publish_metadata`: in-house tooling publishing to an RTA Server through
//! the client SDK. It files a test campaign as a folder tree, publishes the logger's
//! config, and creates one session per run with details, markers, its
//! config binding and its folder; ATLAS then browses the campaign.
//! `cargo run --example publish_metadata -- [GRPC_URL] [CAMPAIGN]`
use rta::core::config::{ChannelDataType::F64, Config, ParameterSpec};
use rta::core::time::Timestamp;
use rta_client::{MarkerSpec, RtaClient, SessionRequest, SessionState};

type Error = Box<dyn std::error::Error + Send + Sync>;

const DEFAULT_GRPC: &str = "http://127.0.0.1:8082";
const SEC: i64 = 1_000_000_000;

/// Publishes `campaign`: two days of two runs each. Returns the session identities.
pub async fn publish(grpc: &str, campaign: &str, start: i64) -> Result<Vec<String>, Error> {
    let client = RtaClient::builder(grpc).connect().await?;
    client
        .put_folder("", campaign, &format!("Campaign {campaign}"))
        .await?;

    let config = Config::builder("logger-v1")
        .parameter(
            ParameterSpec::new("pOil", F64)
                .unit("bar")
                .periodic_hz(50.0),
        )
        .parameter(
            ParameterSpec::new("tWater", F64)
                .unit("degC")
                .periodic_hz(10.0),
        )
        .build()?;
    client.put_config("logger-v1", &config).await?; // now, or by an earlier run

    let mut published = Vec::new();
    for day in 1..=2 {
        let day_folder = format!("{campaign}-day-{day}");
        client
            .put_folder(campaign, &day_folder, &format!("Day {day}"))
            .await?;
        for run in 1..=2 {
            let identity = format!("{day_folder}-run-{run}");
            let t0 = start + (day * 86_400 + run * 3_600) * SEC;
            let outing =
                MarkerSpec::new("outing-1", "Outing", "Outing 1").range(t0, t0 + 600 * SEC);
            let request = SessionRequest::new(&identity, SessionState::Closed)
                .identifier(format!("Day {day} run {run}"))
                .timestamp(Timestamp::from_nanos(t0).as_str())
                .time_range(t0, t0 + 900 * SEC)
                .session_type("Test")
                .detail("Campaign", campaign)
                .detail("Engineer", if run == 1 { "A. Smith" } else { "B. Jones" })
                .marker("Outings", outing.description("first outing of the run"))
                .config_binding("logger-v1", 0)
                .folder(&day_folder);
            client.put_session(request).await?;
            published.push(identity);
        }
    }
    // Later tooling adds to what is there: a note on the first run.
    let note = SessionRequest::update(&published[0]).detail("Note", "oil pressure spike at 4 min");
    client.put_session(note).await?;
    Ok(published)
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let mut args = std::env::args().skip(1);
    let grpc = args.next().unwrap_or(DEFAULT_GRPC.into());
    let campaign = args.next().unwrap_or("winter-tests".into());
    let start = Timestamp::now().nanos() / SEC * SEC - 7 * 86_400 * SEC;
    for identity in publish(&grpc, &campaign, start).await? {
        println!("published {identity}");
    }
    Ok(())
}
