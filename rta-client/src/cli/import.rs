//! `rta import`: a CSV, Parquet or Arrow file becomes a session: a config
//! with one parameter per column (data types kept), the session with its
//! time range, and the data written through the data writer.

use std::path::PathBuf;

use arrow_array::RecordBatch;
use clap::Args;
use rta_core::config::{Config, ParameterSpec};
use rta_core::data::DataItem;

use super::progress::Progress;
use super::tables::{self, in_file, Format};
use crate::arrow::{to_timestamped, Columns};
use crate::{Error, Result, RtaClient, SessionRequest, SessionState};

#[derive(Debug, Args)]
pub(super) struct ImportArgs {
    /// The file: a time column (named time or timestamp, or the first
    /// timestamp column; integers are ns since the epoch) and one numeric
    /// column per channel.
    file: PathBuf,
    /// Identity of the session to create.
    #[arg(long)]
    session: String,
    /// The file's format (default: from its extension).
    #[arg(long, value_enum)]
    format: Option<Format>,
    /// Publish a config with one parameter per column (named as the
    /// column, of the column's data type) and bind it to the session.
    #[arg(long)]
    config_from_columns: bool,
}

/// Batches decoded ahead of the writer (on a thread of their own).
const READ_AHEAD: usize = 2;

pub(super) async fn import(client: &RtaClient, a: ImportArgs) -> Result<()> {
    let format = match a.format {
        Some(f) => f,
        None => Format::of(&a.file)?,
    };
    let batches = tables::read(&a.file, format)?;
    let columns = Columns::infer(&batches.schema).map_err(|e| in_file(&a.file, e))?;
    let name = a
        .file
        .file_name()
        .map_or(a.session.clone(), |n| n.to_string_lossy().to_string());
    let mut session = SessionRequest::new(&a.session, SessionState::Open).identifier(name);
    if a.config_from_columns {
        // Channel k is column k: the config's channels are numbered from 0 too.
        let mut b = Config::builder(&a.session).first_channel(0);
        for c in &columns.channels {
            b = b.parameter(ParameterSpec::new(&c.name, c.data_type).timestamped());
        }
        client.put_config(&a.session, &b.build()?).await?;
        session = session.config_binding(&a.session, 0);
    }
    client.put_session(session).await?;

    // Files are read and decoded on a blocking thread while the writer sends.
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Result<RecordBatch>>(READ_AHEAD);
    let iter = batches.iter;
    let reader = tokio::task::spawn_blocking(move || {
        for batch in iter {
            if tx.blocking_send(batch).is_err() {
                break; // the writer stopped on an error
            }
        }
    });
    let writer = client.writer(&a.session).await?;
    let mut progress = Progress::new(batches.rows, "import");
    let (mut first, mut last) = (i64::MAX, i64::MIN);
    let mut rows = 0u64;
    while let Some(batch) = rx.recv().await {
        let batch = batch?;
        let mut samples = 0u64;
        for item in to_timestamped(&batch, &columns).map_err(|e| in_file(&a.file, e))? {
            if let Some((s, e)) = item.time_bounds() {
                first = first.min(s);
                last = last.max(e);
            }
            samples += item.timestamp_deltas.len() as u64;
            writer.timestamped(item).await?;
        }
        rows += batch.num_rows() as u64;
        progress.add(samples, Some(rows));
    }
    reader
        .await
        .map_err(|e| Error::InvalidArgument(format!("{}: reader failed: {e}", a.file.display())))?;
    writer.close().await?;
    let mut done = SessionRequest::update(&a.session).state(SessionState::Closed);
    if first <= last {
        done = done.time_range(first, last);
    }
    client.put_session(done).await?;
    progress.finish();
    Ok(())
}
