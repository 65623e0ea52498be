//! `custom_adapter`: serves a directory of CSV files to ATLAS, in place.
//!
//! Each `NAME.csv` in `--data-dir` is a session: a header `time_ns,vCar,...`, then
//! one line per sample time. Files are read on every request: nothing is copied.
//! `cargo run --example custom_adapter -- --data-dir DIR` (`rta-server`'s options)
use std::{path::PathBuf, sync::Arc};

use async_trait::async_trait;
use rta::core::config::{ChannelDataType::F64, Config, ParameterSpec};
use rta::core::data::{timestamped, DataKind};
use rta::core::service::{ChunkStream, DataRequest, DataService, SessionStore, StoredConfig};
use rta::core::session::SessionState;
use rta::core::session_request::SessionRequest;
use rta::core::{chunk::ChunkGrid, kit::GridChunks, Error, Result};
use rta::service::{options::RtaServerOptions, server::DataBackend, server::RtaServer};

/// A directory of CSV files.
pub struct CsvFiles(pub PathBuf);

/// Chunks are cut on a 10 s grid: the same chunks whatever range is asked for.
const GRID_NS: i64 = 10_000_000_000;

/// One file: parameter names, sample times (ns), one column per parameter.
pub struct Table(pub Vec<String>, pub Vec<i64>, pub Vec<Vec<f64>>);

impl CsvFiles {
    /// Parses `DIR/{identity}.csv`; a missing file is `NotFound`.
    pub fn table(&self, identity: &str) -> Result<Table> {
        let path = self.0.join(format!("{identity}.csv"));
        let text = std::fs::read_to_string(&path)
            .map_err(|e| Error::NotFound(format!("{}: {e}", path.display())))?;
        let mut lines = text.lines().filter(|l| !l.trim().is_empty());
        let header = lines.next().unwrap_or_default().split(',').skip(1);
        let names: Vec<String> = header.map(|n| n.trim().to_string()).collect();
        let (mut times, mut columns) = (Vec::new(), vec![Vec::new(); names.len()]);
        for (n, line) in lines.enumerate() {
            let bad = || Error::InvalidArgument(format!("{}:{}: bad row", path.display(), n + 2));
            let mut cells = line.split(',').map(str::trim);
            times.push(cells.next().and_then(|t| t.parse().ok()).ok_or_else(bad)?);
            for column in &mut columns {
                column.push(cells.next().and_then(|v| v.parse().ok()).ok_or_else(bad)?);
            }
        }
        Ok(Table(names, times, columns))
    }

    /// Publishes one closed session and its config per file.
    pub async fn publish(&self, server: &RtaServer) -> rta::service::Result<()> {
        let paths = std::fs::read_dir(&self.0)?.filter_map(|e| Some(e.ok()?.path()));
        let csv = paths.filter(|p| p.extension().is_some_and(|e| e == "csv"));
        for id in csv.filter_map(|p| Some(p.file_stem()?.to_str()?.to_string())) {
            let Table(names, times, _) = self.table(&id)?;
            let mut config = Config::builder(&id);
            for name in &names {
                config = config.parameter(ParameterSpec::new(name, F64).timestamped());
            }
            let stored = StoredConfig::json(&config.build()?);
            match server.configs.put(&id, stored).await {
                Ok(()) | Err(Error::Conflict(_)) => {} // published by an earlier run
                Err(e) => return Err(e.into()),
            }
            let mut session = SessionRequest::new(&id, SessionState::Closed).config_binding(&id, 0);
            if let (Some(&start), Some(&end)) = (times.first(), times.last()) {
                session = session.time_range(start, end);
            }
            server.sessions.create_or_update(session.build()).await?;
        }
        Ok(())
    }
}

#[async_trait]
impl DataService for CsvFiles {
    async fn read(&self, req: DataRequest) -> Result<ChunkStream> {
        let mut items = Vec::new();
        match self.table(&req.data_identity) {
            Ok(Table(_, times, columns)) if req.kind == DataKind::Timestamped => {
                for (ch, values) in columns.iter().enumerate() {
                    items.push(timestamped(ch as u32, &times, values)?);
                }
            }
            Ok(_) | Err(Error::NotFound(_)) => {} // no such data: no chunks
            Err(e) => return Err(e),
        }
        GridChunks::new(ChunkGrid::new(GRID_NS)?).stream(&req, items)
    }
}

#[tokio::main]
async fn main() -> rta::service::Result<()> {
    let opts = RtaServerOptions::from_env()?;
    let files = Arc::new(CsvFiles(opts.service.data_dir.clone()));
    let server = RtaServer::builder(opts.service.data_dir.join(".rta")) // metadata only
        .data(DataBackend::read_only(files.clone()))
        .build()
        .await?;
    files.publish(&server).await?;
    server.serve(&opts.service).await
}
