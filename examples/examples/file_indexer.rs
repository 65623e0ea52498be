//! `file_indexer`: makes a folder of Parquet, Arrow IPC and CSV files
//! browsable in ATLAS in one command (the RTA.Examples GeneratorIndexer
//! pattern). For each file it publishes a config (a parameter per column,
//! of the column's type), a schema mapping (columns to channels) and a
//! closed session with the file's time range and a data binding to the file
//! data service, which then serves the file in place through the gateway.
//! `cargo run --example file_indexer -- DIR [GRPC_URL] [DATA_SOURCE]`
//! (default `http://127.0.0.1:8082`, `rta-filedatasvc`)
use rta::adapters::files::{FileInfo, FileSource};
use rta::bindings::model::DataBinding;
use rta::core::config::{Config, ParameterSpec};
use rta::core::proto::schema_mapping_service::PutSchemaMappingRequest;
use rta_client::{RtaClient, SessionRequest, SessionState};

type Error = Box<dyn std::error::Error + Send + Sync>;

/// The session identity of a file: its path with anything but letters,
/// digits, `-`, `_` and `.` replaced by `_`.
pub fn session_identity(file: &str) -> String {
    let safe = |c: char| c.is_ascii_alphanumeric() || "-_.".contains(c);
    file.chars()
        .map(|c| if safe(c) { c } else { '_' })
        .collect()
}

async fn publish(client: &RtaClient, source: &str, f: &FileInfo) -> Result<String, Error> {
    let id = session_identity(&f.identity);
    let mut config = Config::builder(&id).first_channel(0);
    for c in &f.channels {
        let p = ParameterSpec::new(format!("{}:{id}", c.name), c.data_type);
        config = config.parameter(match f.interval {
            Some(step) => p.periodic_hz(1e9 / step as f64),
            None => p.timestamped(),
        });
    }
    client.put_config(&id, &config.build()?).await?;
    let fields = f.channels.iter().map(|c| (c.name.clone(), c.channel));
    client
        .schema_mapping_store()
        .put_schema_mapping(PutSchemaMappingRequest {
            data_source: source.into(),
            data_identity: f.identity.clone(),
            schema_mapping: Some(rta::adapters::kit::field_mapping(fields)),
        })
        .await?;
    let mut session = SessionRequest::new(&id, SessionState::Closed)
        .identifier(&f.identity)
        .config_binding(&id, 0)
        .data_binding(DataBinding::new(source, &f.identity).to_proto());
    if let Some((first, last)) = f.extent {
        session = session.time_range(first, last);
    }
    client.put_session(session).await?;
    Ok(id)
}

/// Indexes every file under `dir`; returns the session identities.
pub async fn index(dir: &str, client: &RtaClient, source: &str) -> Result<Vec<String>, Error> {
    let files = FileSource::open(dir)?;
    let mut sessions = Vec::new();
    for identity in files.identities()? {
        match files.file_info(&identity).await {
            Ok(Some(info)) => sessions.push(publish(client, source, &info).await?),
            Ok(None) => {}
            Err(e) => eprintln!("{identity}: skipped: {e}"),
        }
    }
    Ok(sessions)
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let mut args = std::env::args().skip(1);
    let dir = args
        .next()
        .ok_or("usage: file_indexer DIR [GRPC_URL] [DATA_SOURCE]")?;
    let grpc = args.next().unwrap_or("http://127.0.0.1:8082".into());
    let source = args.next().unwrap_or("rta-filedatasvc".into());
    let client = RtaClient::builder(grpc).connect().await?;
    for id in index(&dir, &client, &source).await? {
        println!("indexed {id}");
    }
    Ok(())
}
