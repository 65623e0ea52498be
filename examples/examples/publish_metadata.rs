//! `publish_metadata`: in-house tooling publishing to an RTA Server over
//! gRPC. It files a test campaign as a folder tree, publishes the logger's
//! config, and creates one session per run with details, markers, its
//! config binding and its folder; ATLAS then browses the campaign.
//! `cargo run --example publish_metadata -- [GRPC_URL] [CAMPAIGN]`
use rta::core::config::{ChannelDataType::F64, Config, ParameterSpec};
use rta::core::proto::config_service::config_store_client::ConfigStoreClient;
use rta::core::proto::session_service::session_store_client::SessionStoreClient;
use rta::core::proto::session_service::PutSessionFolderRequest;
use rta::core::service::StoredConfig;
use rta::core::session::SessionState;
use rta::core::session_request::{MarkerSpec, SessionRequest};
use rta::core::time::Timestamp;

type Error = Box<dyn std::error::Error + Send + Sync>;

const DEFAULT_GRPC: &str = "http://127.0.0.1:8082";
const SEC: i64 = 1_000_000_000;

/// A folder request: `identity` under `parent` ("" for the root).
fn folder(parent: &str, identity: &str, label: &str) -> PutSessionFolderRequest {
    let description = format!("{label}, published by publish_metadata");
    let (parent_identity, identity) = (parent.to_string(), identity.to_string());
    PutSessionFolderRequest {
        parent_identity,
        identity,
        label: label.into(),
        description,
    }
}

/// Publishes `campaign`: two days of two runs each. Returns the session identities.
pub async fn publish(grpc: &str, campaign: &str, start: i64) -> Result<Vec<String>, Error> {
    let mut sessions = SessionStoreClient::connect(grpc.to_string()).await?;
    sessions
        .put_session_folder(folder("", campaign, &format!("Campaign {campaign}")))
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
    let put = StoredConfig::json(&config).put_request("logger-v1");
    match ConfigStoreClient::connect(grpc.to_string())
        .await?
        .put_config(put)
        .await
    {
        Err(s) if s.code() != tonic::Code::AlreadyExists => return Err(s.into()),
        _ => {} // published now, or by an earlier run
    }

    let mut published = Vec::new();
    for day in 1..=2 {
        let day_folder = format!("{campaign}-day-{day}");
        sessions
            .put_session_folder(folder(campaign, &day_folder, &format!("Day {day}")))
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
            sessions.create_or_update_session(request.build()).await?;
            published.push(identity);
        }
    }
    // Later tooling adds to what is there: a note on the first run.
    let note = SessionRequest::update(&published[0]).detail("Note", "oil pressure spike at 4 min");
    sessions.create_or_update_session(note.build()).await?;
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
